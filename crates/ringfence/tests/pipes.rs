//! Closed pipes: every command ends quietly when whoever reads its output goes away
//! (`ringfence plan --json | head`) — exit status 141 as a Unix tool killed by SIGPIPE reports, or 0
//! when everything was written before, never a panic — and a rollout whose standard output and
//! error are closed runs to its end, its exit status saying how the rollout ended.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet")
}

/// Which of the command's output streams are closed before it writes anything.
#[derive(Clone, Copy)]
enum Closed {
    Stdout,
    Stderr,
    Both,
}

/// Runs `cmd` with the read end of its stdout and/or stderr pipe closed before it starts writing;
/// returns its exit code and what it wrote to stderr (when that stays open).
fn run_closed(cmd: &mut Command, closed: Closed) -> (i32, String) {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let mut kept = None;
    match closed {
        Closed::Stdout => {
            drop(stdout);
            kept = Some(stderr);
        }
        Closed::Stderr => {
            drop(stderr);
            // Drained so the command does not block on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut { stdout }, &mut std::io::sink()));
        }
        Closed::Both => {
            drop(stdout);
            drop(stderr);
        }
    }
    let mut err = String::new();
    if let Some(mut stderr) = kept {
        stderr.read_to_string(&mut err).unwrap();
    }
    let status = child.wait().unwrap();
    (exit_code(status), err)
}

fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| panic!("killed by a signal: {status:?}"))
}

fn cmd<const N: usize>(args: [&OsStr; N]) -> Command {
    let mut cmd = bin();
    cmd.args(args);
    cmd
}

fn rollout(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(["rollout", "--driver", "simulate", "--as", "ci", "--from", "2026-11-27T09:00:00Z"])
        .arg(example())
        .arg("--state")
        .arg(dir.join("state.sqlite"))
        .arg("--audit")
        .arg(dir.join("audit.jsonl"))
        .args(extra);
    cmd
}

fn status(dir: &Path) -> Value {
    let out = bin().args(["status", "--json", "--state"]).arg(dir.join("state.sqlite")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each command class — reports as text and JSON, simulations, state, audit, lint, policy tests, the
/// Odoo diff, help — on a standard output closed before it writes: 141 (0 when it wrote nothing
/// first, as clap's help does), no panic, no backtrace.
#[test]
fn every_command_ends_quietly_when_its_standard_output_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(exit_code(rollout(d, &[]).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap()), 0);
    let bad = d.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    for file in ["fleet.yaml", "policy.yaml"] {
        std::fs::copy(example().join(file), bad.join(file)).unwrap();
    }
    std::fs::write(bad.join("broken.yaml"), "apiVersion: ringfence.dev/v1alpha1\nkind: Fleet\nspec: [\n").unwrap();
    let sql = d.join("m.sql");
    std::fs::write(&sql, "CREATE INDEX i ON t (c);\nALTER TABLE t ADD COLUMN c text NOT NULL;\n").unwrap();
    let odoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ringfence-odoo/tests/fixtures/upgrade");
    let (state, audit) = (d.join("state.sqlite"), d.join("audit.jsonl"));

    let (ex, addons, installed) = (example(), odoo.join("addons"), odoo.join("installed.json"));
    let s = OsStr::new;
    let commands: Vec<(&str, Command)> = vec![
        ("validate", cmd([s("validate"), ex.as_ref()])),
        ("validate --json, invalid", cmd([s("validate"), s("--json"), bad.as_ref()])),
        ("plan --from", cmd([s("plan"), ex.as_ref(), s("--from"), s("2026-11-27T09:00:00Z")])),
        ("plan --json", cmd([s("plan"), s("--json"), ex.as_ref()])),
        ("simulate", cmd([s("simulate"), ex.as_ref(), s("--runs"), s("3")])),
        ("simulate --json", cmd([s("simulate"), s("--generated"), s("--runs"), s("3"), s("--json")])),
        ("status", cmd([s("status"), s("--state"), state.as_ref()])),
        ("status --json", cmd([s("status"), s("--json"), s("--state"), state.as_ref()])),
        ("audit verify", cmd([s("audit"), s("verify"), audit.as_ref()])),
        ("lint", cmd([s("lint"), sql.as_ref(), s("--format"), s("sarif")])),
        ("policy test", cmd([s("policy"), s("test"), ex.as_ref()])),
        ("odoo diff", cmd([s("odoo"), s("diff"), s("--to"), addons.as_ref(), s("--tenant-state"), installed.as_ref()])),
    ];
    for (name, mut cmd) in commands {
        let (code, err) = run_closed(&mut cmd, Closed::Stdout);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{name}: {err}");
        assert_eq!(code, 141, "{name} on a closed stdout exits 141: {err}");
        assert!(err.lines().all(|l| !l.starts_with("error:")), "{name}: a closed pipe is not an error: {err}");
    }
    // clap prints help and ignores the closed pipe.
    let (code, err) = run_closed(bin().arg("--help"), Closed::Stdout);
    assert!(code == 0 || code == 141, "--help: {code} {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `ringfence plan --json | head -c1`: the reader takes a byte and goes; the command ends with 0 (it
/// had written everything) or 141, and no panic.
#[test]
fn a_reader_that_leaves_after_one_byte_ends_the_command_quietly() {
    for args in [&["plan", "--json"][..], &["simulate", "--runs", "5", "--from", "2026-11-27T09:00:00Z"][..]] {
        let mut child = bin().args(args).arg(example()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        stdout.read_exact(&mut byte).unwrap();
        drop(stdout);
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let code = exit_code(child.wait().unwrap());
        assert!(code == 0 || code == 141, "{args:?}: exit {code}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A closed standard error loses the diagnostics and nothing else: the exit status still says what
/// happened (a panic would exit 101).
#[test]
fn a_closed_standard_error_changes_no_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: ringfence.dev/v1alpha1\nkind: Fleet\nspec: [\n").unwrap();
    let (code, _) = run_closed(bin().arg("validate").arg(&bad), Closed::Stderr);
    assert_eq!(code, 2, "an invalid configuration exits 2 whoever reads the diagnostics");
    let (code, _) = run_closed(bin().args(["status", "--state"]).arg(dir.path().join("none.sqlite")), Closed::Stderr);
    assert_eq!(code, 2);
    let (code, _) = run_closed(bin().args(["simulate", "--generated", "--runs", "3"]), Closed::Stderr);
    assert_eq!(code, 0);
}

/// A rollout with nobody reading its output — stdout and stderr closed — runs to its end: every
/// tenant done and exit 0; and a halted one exits 1, as it would with a terminal.
#[test]
fn a_rollout_with_closed_output_runs_to_its_end() {
    for closed in [Closed::Both, Closed::Stdout, Closed::Stderr] {
        let dir = tempfile::tempdir().unwrap();
        let (code, err) = run_closed(&mut rollout(dir.path(), &["--json"]), closed);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let status = status(dir.path());
        assert_eq!(status["status"], "completed", "{status}");
        let tenants = status["tenants"].as_array().unwrap();
        assert_eq!(tenants.len(), 12);
        assert!(tenants.iter().all(|t| t["phase"]["phase"] == "done"), "{status}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, _) = run_closed(&mut rollout(dir.path(), &["--fail", "velo-werk-berlin:observation"]), Closed::Both);
    assert_eq!(code, 1, "a halted rollout exits 1 with or without readers");
    assert_eq!(status(dir.path())["status"], "halted");
}
