//! `ringfence plan --html`: the timeline page opened in a real browser (headless Chromium), the way a
//! release manager opens it. Chromium is a test dependency like PostgreSQL: `scripts/ensure-deps`
//! installs it, and these tests fail — they never skip — when it is missing.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const FROM: &str = "2026-11-27T09:00:00Z";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet")
}

/// The Chromium to drive: `RINGFENCE_CHROMIUM` when set, else the first of the usual names on PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("RINGFENCE_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!(
        "Chromium is missing, and the HTML timeline test needs it: run scripts/ensure-deps \
         (on Debian: apt-get install chromium), or set RINGFENCE_CHROMIUM=/path/to/chromium"
    );
}

/// Runs headless Chromium on `page` with a throw-away profile; gives up after 30 s rather than hang CI.
fn run_chromium(work: &Path, page: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir_in(work).unwrap();
    let mut child = Command::new(chromium())
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions"])
        // Containers often give /dev/shm only 64 MB, too little for a renderer.
        .arg("--disable-dev-shm-usage")
        .arg("--hide-scrollbars")
        .arg("--window-size=1600,1200")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium().display()));
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("Chromium did not finish within 30 s: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "Chromium failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// Writes the example fleet's timeline and returns its path, with the tenants and rings of the plan.
fn write_timeline(work: &Path) -> (PathBuf, Vec<String>, Vec<String>) {
    let page = work.join("timeline.html");
    let out = bin().arg("plan").arg(example()).args(["--from", FROM, "--json", "--html"]).arg(&page).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("--json stays one JSON document with --html");
    let rings = plan["rings"].as_array().unwrap();
    let ring_names = rings.iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    let tenants = rings
        .iter()
        .flat_map(|r| r["batches"].as_array().unwrap())
        .flat_map(|b| b["tenants"].as_array().unwrap())
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    (page, ring_names, tenants)
}

#[test]
fn the_rendered_page_shows_rings_tenants_windows_and_freezes() {
    let work = tempfile::tempdir().unwrap();
    let (page, rings, tenants) = write_timeline(work.path());
    assert_eq!(tenants.len(), 12);

    let dom = String::from_utf8(run_chromium(work.path(), &page, &["--dump-dom"]).stdout).unwrap();
    assert!(dom.contains("Release <span class=\"release\">2026.11.2</span>"), "the header names the release");
    for ring in &rings {
        assert!(dom.contains(&format!("<g class=\"ring\" data-ring=\"{ring}\">")), "ring {ring} in the chart");
    }
    for tenant in &tenants {
        assert_eq!(
            dom.matches(&format!("<g class=\"lane\" data-tenant=\"{tenant}\"")).count(),
            1,
            "one lane for tenant {tenant}"
        );
    }
    assert!(dom.contains("<g class=\"freeze-row\" data-freeze=\"black-friday\">"), "the freeze's named row");
    assert!(dom.contains("class=\"freeze-band\" data-freeze=\"black-friday\""), "the freeze's band over the lanes");
    // The enterprise tenants' own windows (Monday to Thursday nights) are shaded in their lanes.
    let modahaus = &dom[dom.find("data-tenant=\"modahaus\"").unwrap()..];
    let modahaus = &modahaus[..modahaus.find("</g>\n").unwrap()];
    assert!(modahaus.contains("<rect class=\"window\""), "modahaus's windows: {modahaus}");
    assert!(dom.contains("frozen by \"black-friday\" until 2026-12-01T05:00:00Z"), "why demo-shop waits");
}

#[test]
fn the_screenshot_shows_a_chart() {
    let work = tempfile::tempdir().unwrap();
    let (page, _, _) = write_timeline(work.path());
    let shot = work.path().join("timeline.png");
    let started = Instant::now();
    run_chromium(work.path(), &page, &[&format!("--screenshot={}", shot.display())]);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "the screenshot took {elapsed:?}");
    // Kept for people: RINGFENCE_TIMELINE_PNG=/tmp/timeline.png saves what the test saw.
    if let Some(keep) = std::env::var_os("RINGFENCE_TIMELINE_PNG") {
        std::fs::copy(&shot, keep).unwrap();
    }

    let bytes = std::fs::read(&shot).expect("Chromium wrote the screenshot");
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1600, 1200), "the window size asked for");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "a colour screenshot, got {:?}", info.color_type);
    let pixels: Vec<(i32, i32, i32)> =
        buf[..info.buffer_size()].chunks_exact(channels).map(|p| (p[0].into(), p[1].into(), p[2].into())).collect();

    let white = pixels.iter().filter(|p| **p == (255, 255, 255)).count();
    assert!(white < pixels.len() * 95 / 100, "the page is (nearly) blank: {white} of {} pixels white", pixels.len());
    // Each thing the chart draws has its own colour; each must be on screen.
    let red = |(r, g, b): (i32, i32, i32)| r > 200 && g < 140 && b < 140; // freeze hatching
    let blue = |(r, _g, b): (i32, i32, i32)| b > 150 && r < 60; // the tenants' steps
    let green = |(r, g, b): (i32, i32, i32)| g > 225 && g > r + 20 && g > b + 10; // maintenance windows
    let amber = |(r, g, b): (i32, i32, i32)| r > 220 && (160..200).contains(&g) && b < 110; // ring soak
    for (what, test) in [("freeze", red as fn(_) -> bool), ("steps", blue), ("window", green), ("soak", amber)] {
        let n = pixels.iter().filter(|p| test(**p)).count();
        assert!(n >= 200, "too few {what} pixels on the screenshot: {n}");
    }
}
