//! Crash safety: the controller process is killed with SIGKILL at several points of a rollout and
//! resumed each time. Every step must have run exactly once, every tenant must end done or rolled
//! back, the audit trail must verify and hold the same records as an uninterrupted run.
//!
//! The tenants are the simulated fleet (`--driver simulate`), whose world file records how often each
//! step was executed; the controller, its SQLite store and its audit trail are the real ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringfence_runtime::simulate::SimulatedDriver;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet")
}

struct Paths {
    state: PathBuf,
    audit: PathBuf,
}

impl Paths {
    fn new(dir: &Path) -> Self {
        Paths { state: dir.join("state.sqlite"), audit: dir.join("audit.jsonl") }
    }
    fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.arg("--state").arg(&self.state).arg("--audit").arg(&self.audit)
    }
}

fn rollout_args(cmd: &mut Command, failures: &[&str]) {
    cmd.args(["rollout", "--from", "2026-11-27T09:00:00Z", "--as", "crash-test"]).arg(example());
    for f in failures {
        cmd.args(["--fail", f]);
    }
}

/// (action, tenant) of every audit record, counted: what happened, regardless of timing.
fn audit_multiset(audit: &Path) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(audit).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let key = (v["action"].as_str().unwrap().to_owned(), v["subject"]["tenant"].as_str().unwrap_or("").to_owned());
        *counts.entry(key).or_default() += 1;
    }
    counts
}

fn status_json(paths: &Paths) -> Value {
    let out = bin().args(["status", "--json"]).arg("--state").arg(&paths.state).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the rollout, killing the controller after each of `kill_after` and resuming; returns the
/// final exit code and how many kills actually interrupted a running controller.
fn run_with_kills(paths: &Paths, failures: &[&str], pace: u64, kill_after: &[u64]) -> (i32, usize) {
    let mut kills = 0;
    let mut first = true;
    for &ms in kill_after {
        let mut cmd = bin();
        if first {
            rollout_args(&mut cmd, failures);
        } else {
            cmd.arg("resume");
        }
        paths.apply(&mut cmd).args(["--pace", &pace.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, nothing graceful.
            child.wait().unwrap();
            kills += 1;
        } else if first {
            panic!("the rollout finished before the first kill; raise --pace");
        }
        first = false;
    }
    let mut last = paths.apply(bin().arg("resume").arg("--json")).stdout(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = last.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            last.kill().unwrap();
            panic!("the final resume did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code().unwrap(), kills)
}

/// `pace` (real ms per event) stretches the run so that the kills land at different points of it.
fn check(failures: &[&str], pace: u64, expected_exit: i32) {
    // The reference: the same rollout, uninterrupted.
    let reference = tempfile::tempdir().unwrap();
    let reference_paths = Paths::new(reference.path());
    let mut cmd = bin();
    rollout_args(&mut cmd, failures);
    let out = reference_paths.apply(&mut cmd).output().unwrap();
    assert_eq!(out.status.code(), Some(expected_exit), "{}", String::from_utf8_lossy(&out.stderr));

    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path());
    let kill_after = [120, 90, 200, 60, 150, 110, 250, 80, 130, 170];
    let (code, kills) = run_with_kills(&paths, failures, pace, &kill_after);
    assert!(kills >= 5, "only {kills} kills interrupted the controller");
    assert_eq!(code, expected_exit, "the resumed rollout ends as the uninterrupted one");

    let executions = SimulatedDriver::executions(&dir.path().join("simulated-world.json")).unwrap();
    assert!(!executions.is_empty());
    for (step, n) in &executions {
        assert_eq!(*n, 1, "step {step} ran {n} times");
    }
    let reference_executions = SimulatedDriver::executions(&reference.path().join("simulated-world.json")).unwrap();
    assert_eq!(
        executions.keys().collect::<Vec<_>>(),
        reference_executions.keys().collect::<Vec<_>>(),
        "the same steps ran"
    );

    let status = status_json(&paths);
    for t in status["tenants"].as_array().unwrap() {
        let phase = t["phase"]["phase"].as_str().unwrap();
        assert!(matches!(phase, "done" | "rolled-back" | "pending"), "{} ended {phase}", t["id"]);
        if phase != "pending" {
            assert_eq!(t["last_step"]["succeeded"], true, "{}: last step finished", t["id"]);
        }
    }
    let phases = |status: &Value| -> BTreeMap<String, String> {
        status["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_owned(), t["phase"]["phase"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(
        phases(&status),
        phases(&status_json(&reference_paths)),
        "every tenant ends as in the uninterrupted run"
    );

    let verify = bin().args(["audit", "verify"]).arg(&paths.audit).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert_eq!(audit_multiset(&paths.audit), audit_multiset(&reference_paths.audit), "same audit records");
}

#[test]
fn sigkill_at_several_points_then_resume_completes_without_repeating_a_step() {
    check(&[], 8, 0);
}

#[test]
fn sigkill_during_a_halt_and_rollback_then_resume_rolls_back_exactly_once() {
    check(&["velo-werk-berlin:switch"], 90, 1);
}
