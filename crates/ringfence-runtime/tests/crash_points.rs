//! Exhaustive crash points: the controller "dies" at the N-th write to its state store, for every N
//! of a whole rollout, and a fresh runner resumes from what is on disk. Each time, every step must have
//! run exactly once and the rollout must end exactly as an uninterrupted one (same tenant phases, same
//! audit records, an intact audit chain).
//!
//! The crash is a store that refuses its N-th write, after which the runner, its store and driver are
//! dropped: only the SQLite file, the audit file and the simulated world file survive, as after SIGKILL.
//! (The random-SIGKILL test of the real binary lives in the `ringfence` crate.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use ringfence_core::Duration;
use ringfence_core::engine::{EngineOptions, Outcome, TenantPhase};
use ringfence_core::fixtures::{cluster, ring, tenant};
use ringfence_core::model::{Fleet, Policy};
use ringfence_core::plan::{Plan, plan};
use ringfence_runtime::simulate::{FailPoint, SimulatedDriver, SimulationOptions};
use ringfence_runtime::{Runner, RuntimeError};
use ringfence_store::{
    Change, NewRun, RunId, RunSummary, Snapshot, SqliteStore, StepKey, StepRecord, Store, StoreError, StoredEvent,
};

/// A store that fails its `limit`-th write and every one after: the controller's death.
struct Crashing {
    inner: SqliteStore,
    writes_left: usize,
}

impl Store for Crashing {
    fn create_run(&mut self, run: &NewRun) -> ringfence_store::Result<RunId> {
        self.inner.create_run(run)
    }
    fn runs(&self) -> ringfence_store::Result<Vec<RunSummary>> {
        self.inner.runs()
    }
    fn run(&self, id: RunId) -> ringfence_store::Result<RunSummary> {
        self.inner.run(id)
    }
    fn latest_run(&self) -> ringfence_store::Result<Option<RunSummary>> {
        self.inner.latest_run()
    }
    fn commit(&mut self, run: RunId, changes: &[Change<'_>]) -> ringfence_store::Result<Vec<u64>> {
        if self.writes_left == 0 {
            return Err(StoreError::UnknownRun(run)); // any error will do: the process is "dead"
        }
        self.writes_left -= 1;
        self.inner.commit(run, changes)
    }
    fn events(&self, run: RunId) -> ringfence_store::Result<Vec<StoredEvent>> {
        self.inner.events(run)
    }
    fn step(&self, run: RunId, step: &StepKey) -> ringfence_store::Result<Option<StepRecord>> {
        self.inner.step(run, step)
    }
    fn steps(&self, run: RunId) -> ringfence_store::Result<Vec<StepRecord>> {
        self.inner.steps(run)
    }
    fn snapshot(&self, run: RunId) -> ringfence_store::Result<Option<Snapshot>> {
        self.inner.snapshot(run)
    }
}

fn small_plan() -> Plan {
    let fleet = Fleet {
        clusters: vec![cluster("pg-1", 2), cluster("pg-2", 1)],
        pools: vec![],
        tenants: vec![
            tenant("canary", "pg-1"),
            tenant("shop-a", "pg-1"),
            tenant("shop-b", "pg-2"),
            tenant("shop-c", "pg-1"),
        ],
    };
    let (obs, soak) = (Duration::from_mins(10), Duration::from_mins(30));
    let policy = Policy {
        rings: vec![
            ring("canary", &["canary"], 1, obs, soak),
            ring("rest", &["shop-a", "shop-b", "shop-c"], 3, obs, soak),
        ],
        ..Default::default()
    };
    plan(&fleet, &policy, "v2", "v1").unwrap()
}

struct Files {
    state: PathBuf,
    audit: PathBuf,
    world: PathBuf,
}

impl Files {
    fn in_dir(dir: &Path) -> Self {
        Files { state: dir.join("state.sqlite"), audit: dir.join("audit.jsonl"), world: dir.join("world.json") }
    }
}

fn simulation(files: &Files, failures: &[&str]) -> SimulationOptions {
    let start: Timestamp = "2026-11-27T09:00:00Z".parse().unwrap();
    let mut sim = SimulationOptions::new(start, files.world.clone());
    sim.failures = failures.iter().map(|f| f.parse::<FailPoint>().unwrap()).collect();
    sim
}

/// What a finished rollout left behind, to compare runs.
#[derive(Debug, PartialEq)]
struct Finished {
    outcome: Outcome,
    phases: BTreeMap<String, TenantPhase>,
    audit: BTreeMap<(String, String), usize>,
}

fn audit_multiset(path: &Path) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for entry in ringfence_audit::read_entries(path).expect("the audit chain verifies") {
        *counts.entry((entry.action, entry.subject.tenant.unwrap_or_default())).or_default() += 1;
    }
    counts
}

fn finish<S: Store>(mut runner: Runner<S, SimulatedDriver>, files: &Files) -> Finished {
    let outcome = runner.run_to_end(|_, _| {}).expect("the resumed rollout runs to its end");
    let phases = runner.engine().tenants().iter().map(|(id, t)| (id.to_string(), t.phase)).collect();
    Finished { outcome, phases, audit: audit_multiset(&files.audit) }
}

fn check_all_crash_points(failures: &[&str], expected: Outcome) {
    let options = EngineOptions::default();
    let reference_dir = tempfile::tempdir().unwrap();
    let files = Files::in_dir(reference_dir.path());
    let driver = SimulatedDriver::create(simulation(&files, failures)).unwrap();
    let store = SqliteStore::open(&files.state).unwrap();
    let runner = Runner::start(store, &files.audit, driver, small_plan(), options.clone(), "test").unwrap();
    let reference = finish(runner, &files);
    assert_eq!(reference.outcome, expected);

    let mut crashes = 0;
    for limit in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::in_dir(dir.path());
        let driver = SimulatedDriver::create(simulation(&files, failures)).unwrap();
        let store = Crashing { inner: SqliteStore::open(&files.state).unwrap(), writes_left: limit };
        let crashed = match Runner::start(store, &files.audit, driver, small_plan(), options.clone(), "test") {
            Err(RuntimeError::Store(_)) => true,
            Err(other) => panic!("crash point {limit}: unexpected {other}"),
            Ok(mut runner) => match runner.run_to_end(|_, _| {}) {
                Err(RuntimeError::Store(_)) => true,
                Err(other) => panic!("crash point {limit}: unexpected {other}"),
                Ok(outcome) => {
                    assert_eq!(outcome, reference.outcome);
                    false
                }
            },
        };
        if !crashed {
            break; // `limit` exceeds the writes of a whole rollout: every point has been tried.
        }
        crashes += 1;
        // Everything in memory is gone; resume from the files.
        let store = SqliteStore::open(&files.state).unwrap();
        let run = store.latest_run().unwrap().expect("the run was created before any write").id;
        let driver = SimulatedDriver::open(&files.world, std::time::Duration::ZERO).unwrap();
        let (runner, _report) = Runner::resume(store, &files.audit, driver, run)
            .unwrap_or_else(|e| panic!("crash point {limit}: resume failed: {e}"));
        let result = finish(runner, &files);
        for (step, n) in SimulatedDriver::executions(&files.world).unwrap() {
            assert_eq!(n, 1, "crash point {limit}: step {step} ran {n} times");
        }
        assert_eq!(result, reference, "crash point {limit}: the rollout ends as the uninterrupted one");
    }
    eprintln!("{crashes} crash points tried");
    assert!(crashes > 30, "only {crashes} crash points: the rollout should write far more often");
}

#[test]
fn a_crash_at_any_store_write_of_a_completed_rollout_loses_and_repeats_nothing() {
    check_all_crash_points(&[], Outcome::Completed);
}

#[test]
fn a_crash_at_any_store_write_of_a_halted_rollout_loses_and_repeats_nothing() {
    // The canary stays on v2, so the release ends halted rather than rolled back.
    check_all_crash_points(&["shop-b:migrate"], Outcome::Halted);
}

/// A crash in the middle of an audit append (power loss: part of a line written) does not stop the
/// resume: the torn line is cut and kept aside, its record is written again, and the cut is audited.
#[test]
fn a_torn_audit_line_is_recovered_on_resume_and_the_record_written_again() {
    let reference_dir = tempfile::tempdir().unwrap();
    let files = Files::in_dir(reference_dir.path());
    let driver = SimulatedDriver::create(simulation(&files, &[])).unwrap();
    let store = SqliteStore::open(&files.state).unwrap();
    let runner = Runner::start(store, &files.audit, driver, small_plan(), EngineOptions::default(), "test").unwrap();
    let reference = finish(runner, &files);

    // Find a crash point where the last audit record belongs to an event not yet marked applied: a
    // power cut while writing that record is what leaves a torn line (records are synced before the
    // snapshot that marks their event applied, so an applied event's records are never torn).
    let mut torn_setup = None;
    for limit in 5..80 {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::in_dir(dir.path());
        let driver = SimulatedDriver::create(simulation(&files, &[])).unwrap();
        let store = Crashing { inner: SqliteStore::open(&files.state).unwrap(), writes_left: limit };
        let Ok(mut runner) = Runner::start(store, &files.audit, driver, small_plan(), EngineOptions::default(), "test")
        else {
            continue;
        };
        assert!(runner.run_to_end(|_, _| {}).is_err(), "the store crashes mid-rollout");
        drop(runner);
        let store = SqliteStore::open(&files.state).unwrap();
        let run = store.latest_run().unwrap().unwrap().id;
        let applied = store.snapshot(run).unwrap().map_or(0, |s| s.state["applied_seq"].as_u64().unwrap());
        let last = ringfence_audit::read_entries(&files.audit).unwrap().pop().unwrap();
        let event: u64 =
            last.details["ref"].as_str().unwrap().split('/').nth(1).unwrap()["event-".len()..].parse().unwrap();
        if event > applied {
            torn_setup = Some((dir, files));
            break;
        }
    }
    let (dir, files) = torn_setup.expect("some crash point leaves an unapplied event's record last");
    // Chop that last record in half, as a power cut during its write would.
    let bytes = std::fs::read(&files.audit).unwrap();
    let last_start = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let cut = last_start + (bytes.len() - last_start) / 2;
    std::fs::write(&files.audit, &bytes[..cut]).unwrap();

    let store = SqliteStore::open(&files.state).unwrap();
    let run = store.latest_run().unwrap().unwrap().id;
    let driver = SimulatedDriver::open(&files.world, std::time::Duration::ZERO).unwrap();
    let (runner, report) = Runner::resume(store, &files.audit, driver, run).unwrap();
    assert!(report.reconciled.iter().any(|r| r.contains("incomplete last line")), "{report:?}");
    let mut result = finish(runner, &files);
    let recovered = result.audit.remove(&("audit.torn_line_recovered".to_string(), String::new()));
    assert_eq!(recovered, Some(1));
    assert_eq!(result, reference, "every record, including the torn one, is in the trail once");
    let saved = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("audit.jsonl.torn-"));
    assert!(saved, "the torn bytes are kept beside the trail");
}

/// A gatekeeper that refuses a tenant of the second ring fails that tenant's first step before
/// anything of it is touched (it is asked about every tenant that starts): the release
/// halts, the refused tenant is rolled back without a restore (it was never migrated), the reason is
/// in the audit trail, and tenants of the first ring keep the release.
#[test]
fn a_gatekeeper_refusing_a_tenant_halts_the_release_before_the_tenant_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::in_dir(dir.path());
    let driver = SimulatedDriver::create(simulation(&files, &[])).unwrap();
    let store = SqliteStore::open(&files.state).unwrap();
    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = std::rc::Rc::clone(&asked);
    let gatekeeper: ringfence_runtime::Gatekeeper = Box::new(move |_, step| {
        seen.borrow_mut().push(step.tenant.to_string());
        if step.tenant.as_str() == "shop-b" {
            Err("approvals gate waiting: the release changed since it was approved".into())
        } else {
            Ok(())
        }
    });
    let mut runner = Runner::start_gated(
        store,
        &files.audit,
        driver,
        (small_plan(), EngineOptions::default(), None),
        "test",
        Some(gatekeeper),
    )
    .unwrap();
    let outcome = runner.run_to_end(|_, _| {}).unwrap();
    assert_ne!(outcome, Outcome::Completed);
    let tenants = runner.engine().tenants();
    assert_eq!(tenants[&"canary".into()].phase, TenantPhase::Done);
    assert_eq!(tenants[&"shop-b".into()].phase, TenantPhase::RolledBack);
    assert!(asked.borrow().contains(&"canary".to_owned()) && asked.borrow().contains(&"shop-b".to_owned()));
    let entries = ringfence_audit::read_entries(&files.audit).unwrap();
    let refused = entries
        .iter()
        .find(|e| e.subject.tenant.as_deref() == Some("shop-b") && e.action.ends_with(".failed"))
        .expect("shop-b's refused step is in the trail");
    assert!(refused.details["reason"].as_str().unwrap().contains("not started, gates: approvals gate"), "{refused:?}");
    let restored = entries.iter().any(|e| {
        e.subject.tenant.as_deref() == Some("shop-b")
            && e.action.contains("roll")
            && e.details.get("restore_database").is_some_and(|v| v == true)
    });
    assert!(!restored, "shop-b was never migrated: its rollback restores nothing");
}

/// A run resumed with a gatekeeper is guarded from there on: the controller dies early in the
/// canary ring (at its 10th store write), the resumed runner is given a gatekeeper that refuses
/// shop-b, and shop-b's first step fails before it is touched while the canary keeps the release.
#[test]
fn a_resumed_run_asks_its_gatekeeper_before_the_tenants_still_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::in_dir(dir.path());
    let driver = SimulatedDriver::create(simulation(&files, &[])).unwrap();
    let store = Crashing { inner: SqliteStore::open(&files.state).unwrap(), writes_left: 10 };
    let crashed = match Runner::start(store, &files.audit, driver, small_plan(), EngineOptions::default(), "test") {
        Err(RuntimeError::Store(_)) => true,
        Err(other) => panic!("unexpected {other}"),
        Ok(mut runner) => matches!(runner.run_to_end(|_, _| {}), Err(RuntimeError::Store(_))),
    };
    assert!(crashed, "the controller died before the rollout ended");
    let store = SqliteStore::open(&files.state).unwrap();
    let run = store.latest_run().unwrap().unwrap().id;
    let driver = SimulatedDriver::open(&files.world, std::time::Duration::ZERO).unwrap();
    let gatekeeper: ringfence_runtime::Gatekeeper = Box::new(|_, step| {
        if step.tenant.as_str() == "shop-b" {
            Err("signature gate fail: a new key signed the image".into())
        } else {
            Ok(())
        }
    });
    let (mut runner, _) = Runner::resume_gated(store, &files.audit, driver, run, Some(gatekeeper)).unwrap();
    let outcome = runner.run_to_end(|_, _| {}).unwrap();
    assert_ne!(outcome, Outcome::Completed);
    assert_eq!(runner.engine().tenants()[&"canary".into()].phase, TenantPhase::Done);
    assert_eq!(runner.engine().tenants()[&"shop-b".into()].phase, TenantPhase::RolledBack);
    let entries = ringfence_audit::read_entries(&files.audit).unwrap();
    assert!(entries.iter().any(|e| e.subject.tenant.as_deref() == Some("shop-b")
        && e.details.get("reason").and_then(|r| r.as_str()).is_some_and(|r| r.contains("signature gate fail"))));
}

/// The driver settings a run is started with are kept with it, for a resume to read before it sets
/// up its driver; a run started without has none.
#[test]
fn the_driver_settings_a_run_started_with_are_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::in_dir(dir.path());
    let settings = serde_json::json!({ "local": { "workDir": "/srv/ringfence/work" } });
    let driver = SimulatedDriver::create(simulation(&files, &[])).unwrap();
    let store = SqliteStore::open(&files.state).unwrap();
    let run = (small_plan(), EngineOptions::default(), None);
    let runner =
        Runner::start_recorded(store, &files.audit, driver, run, "test", None, Some(settings.clone())).unwrap();
    let first = runner.run_id();
    drop(runner);
    let other_dir = tempfile::tempdir().unwrap();
    let other = Files::in_dir(other_dir.path());
    let driver = SimulatedDriver::create(simulation(&other, &[])).unwrap();
    let store = SqliteStore::open(&other.state).unwrap();
    let unrecorded =
        Runner::start(store, &other.audit, driver, small_plan(), EngineOptions::default(), "test").unwrap();
    let unrecorded = unrecorded.run_id();
    let store = SqliteStore::open(&other.state).unwrap();
    assert_eq!(ringfence_runtime::recorded_driver_settings(&store.run(unrecorded).unwrap()), None);

    let store = SqliteStore::open(&files.state).unwrap();
    assert_eq!(ringfence_runtime::recorded_driver_settings(&store.run(first).unwrap()), Some(&settings));
    // A resumed run is rebuilt as before: the settings are the caller's, not the engine's.
    let driver = SimulatedDriver::open(&files.world, std::time::Duration::ZERO).unwrap();
    let (runner, _) = Runner::resume(store, &files.audit, driver, first).unwrap();
    assert_eq!(runner.run_id(), first);
}
