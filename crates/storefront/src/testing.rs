//! For other crates' tests: the storefront binary, built by cargo if needed. (A package's own tests get
//! its binaries from cargo; other packages' tests do not.) Behind the `testing` feature.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The `storefront` binary, built by cargo for this test if needed (it belongs to another package).
pub fn binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "-p", "storefront", "--message-format=json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building storefront failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "storefront" && m["executable"].is_string())
        .map(|m| PathBuf::from(m["executable"].as_str().unwrap()))
        .next_back()
        .expect("cargo reports the storefront executable")
}

/// Prepares a shop's database the way the local-rollout tests start from: schema v1 and `products`
/// products, through the `storefront` binary at `storefront` (from [`binary`]).
pub fn prepare_v1_shop(storefront: &std::path::Path, database_url: &str, products: u32) {
    let products = products.to_string();
    for args in [["migrate", "--to", "v1"], ["seed", "--products", &products]] {
        let out = Command::new(storefront)
            .arg(args[0])
            .args(["--database-url", database_url])
            .args(&args[1..])
            .output()
            .expect("storefront runs");
        assert!(out.status.success(), "storefront {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
    }
}

/// The Prometheus server tests scrape shops with: `RINGFENCE_PROMETHEUS`, or `prometheus` on PATH
/// (Debian's package, installed by scripts/ensure-deps). Panics, never skips, when it is missing.
pub fn prometheus_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("RINGFENCE_PROMETHEUS") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "prometheus is not installed: run scripts/ensure-deps (Debian package `prometheus`), \
                 or set RINGFENCE_PROMETHEUS=/path/to/prometheus"
            )
        })
}

/// Process ids whose command line contains `needle` (arguments joined by spaces), read from /proc so
/// tests need no procps.
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    let me = std::process::id();
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
            let line: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            line.join(" ").contains(needle)
        })
        .collect()
}
