//! The SQLite store against real database files: runs, events, step intents and outcomes, snapshots,
//! crashes (dropping the store mid-step) and schema versions.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use ringfence_store::{Change, NewRun, RunId, SCHEMA_VERSION, SqliteStore, StepKey, StepOutcome, Store, StoreError};
use serde_json::{Value, json};

fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(1_740_823_200 + minute * 60).unwrap()
}

fn new_run(version: &str, minute: i64) -> NewRun {
    NewRun {
        release_version: version.into(),
        replaces: "17.0.2".into(),
        plan: json!({ "rings": [{ "name": "canary", "tenants": ["acme", "bakery"] }] }),
        created_at: at(minute),
    }
}

fn key(tenant: &str, step: &str, attempt: u32) -> StepKey {
    StepKey { tenant: tenant.into(), step: step.into(), attempt }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("state/ringfence.db")
}

#[test]
fn runs_are_created_and_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(db_path(dir.path())).unwrap();
    assert_eq!(store.latest_run().unwrap(), None);
    assert!(store.runs().unwrap().is_empty());

    let first = store.create_run(&new_run("17.0.3", 0)).unwrap();
    let second = store.create_run(&NewRun { replaces: "17.0.3".into(), ..new_run("17.0.4", 5) }).unwrap();
    assert_ne!(first, second);

    let runs = store.runs().unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [second, first]);
    let summary = store.run(first).unwrap();
    assert_eq!(summary.release_version, "17.0.3");
    assert_eq!(summary.replaces, "17.0.2");
    assert_eq!(summary.plan, new_run("17.0.3", 0).plan);
    assert_eq!(summary.status, "created");
    assert_eq!((summary.created_at, summary.updated_at), (at(0), at(0)));
    assert_eq!(store.latest_run().unwrap().unwrap().id, second);
    assert_eq!(store.run(second).unwrap().replaces, "17.0.3");

    assert!(matches!(store.run(RunId(999)), Err(StoreError::UnknownRun(RunId(999)))));
}

#[test]
fn events_get_consecutive_seqs_per_run_and_come_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(db_path(dir.path())).unwrap();
    let a = store.create_run(&new_run("17.0.3", 0)).unwrap();
    let b = store.create_run(&new_run("17.0.4", 0)).unwrap();

    for n in 1..=4 {
        assert_eq!(store.append_event(a, at(n), &json!({ "kind": "tick", "n": n })).unwrap(), n as u64);
        if n % 2 == 0 {
            assert_eq!(store.append_event(b, at(n), &json!({ "kind": "other" })).unwrap(), n as u64 / 2);
        }
    }
    let events = store.events(a).unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(events.iter().map(|e| e.event["n"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(events[2].at, at(3));
    assert_eq!(store.events(b).unwrap().len(), 2);
    assert_eq!(store.run(a).unwrap().updated_at, at(4));

    assert!(matches!(store.append_event(RunId(77), at(9), &json!({})), Err(StoreError::UnknownRun(RunId(77)))));
    assert!(matches!(store.events(RunId(77)), Err(StoreError::UnknownRun(_))));
}

#[test]
fn a_step_intent_is_recorded_once_and_an_outcome_needs_an_open_intent() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let run = store.create_run(&new_run("17.0.3", 0)).unwrap();
    let migrate = key("acme", "migrate", 1);

    let unknown = store.record_outcome(run, &migrate, at(1), &StepOutcome { succeeded: true, detail: json!({}) });
    assert!(matches!(unknown, Err(StoreError::NoSuchStep { .. })), "{unknown:?}");

    store.record_intent(run, &migrate, at(1), &json!({ "action": "migrate" })).unwrap();
    let twice = store.record_intent(run, &migrate, at(2), &json!({})).unwrap_err();
    assert!(matches!(&twice, StoreError::StepAlreadyStarted { key, .. } if *key == migrate), "{twice:?}");
    assert!(twice.to_string().contains("acme/migrate#1"), "{twice}");

    let done = StepOutcome { succeeded: false, detail: json!({ "reason": "lock timeout" }) };
    store.record_outcome(run, &migrate, at(3), &done).unwrap();
    let again = store.record_outcome(run, &migrate, at(4), &done);
    assert!(matches!(again, Err(StoreError::OutcomeAlreadyRecorded { .. })), "{again:?}");
    // Even after the outcome, the same attempt cannot be started again.
    assert!(matches!(
        store.record_intent(run, &migrate, at(5), &json!({})),
        Err(StoreError::StepAlreadyStarted { .. })
    ));

    let record = store.step(run, &migrate).unwrap().unwrap();
    assert_eq!(record.detail, json!({ "action": "migrate" }));
    assert_eq!((record.started_at, record.finished_at), (at(1), Some(at(3))));
    assert_eq!(record.outcome, Some(done));

    // A retry is a new attempt; a third attempt must wait until the second has an outcome.
    store.record_intent(run, &key("acme", "migrate", 2), at(6), &json!({})).unwrap();
    let early = store.record_intent(run, &key("acme", "migrate", 3), at(7), &json!({}));
    assert!(matches!(early, Err(StoreError::PreviousAttemptUnfinished { unfinished: 2, .. })), "{early:?}");
    // Other tenants and other steps are independent.
    store.record_intent(run, &key("bakery", "migrate", 1), at(7), &json!({})).unwrap();
    store.record_intent(run, &key("acme", "switch", 1), at(8), &json!({})).unwrap();

    let order: Vec<String> = store.steps(run).unwrap().iter().map(|s| s.key.to_string()).collect();
    assert_eq!(order, ["acme/migrate#1", "acme/migrate#2", "bakery/migrate#1", "acme/switch#1"]);
    let open: Vec<String> = store.unfinished_steps(run).unwrap().iter().map(|s| s.key.to_string()).collect();
    assert_eq!(open, ["acme/migrate#2", "bakery/migrate#1", "acme/switch#1"]);
    assert_eq!(store.step(run, &key("zed", "migrate", 1)).unwrap(), None);
}

#[test]
fn a_crash_between_intent_and_outcome_leaves_the_step_unfinished_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let restore_point = key("acme", "restore-point", 1);
    let migrate = key("acme", "migrate", 1);
    let run = {
        let mut store = SqliteStore::open(&path).unwrap();
        let run = store.create_run(&new_run("17.0.3", 0)).unwrap();
        store.record_intent(run, &restore_point, at(1), &json!({ "db": "acme" })).unwrap();
        let ok = StepOutcome { succeeded: true, detail: json!({ "restore_point": "rp-1" }) };
        store.record_outcome(run, &restore_point, at(2), &ok).unwrap();
        store.record_intent(run, &migrate, at(3), &json!({ "modules": ["stock"] })).unwrap();
        run
        // Dropped here without an outcome for the migration: the controller "crashed".
    };

    let mut store = SqliteStore::open(&path).unwrap();
    let unfinished = store.unfinished_steps(run).unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].key, migrate);
    assert_eq!(unfinished[0].detail, json!({ "modules": ["stock"] }));
    assert_eq!(unfinished[0].outcome, None);
    assert_eq!(store.steps(run).unwrap().len(), 2);
    // After the restart the interrupted migration still cannot be started a second time.
    assert!(matches!(
        store.record_intent(run, &migrate, at(4), &json!({})),
        Err(StoreError::StepAlreadyStarted { .. })
    ));
    store.record_outcome(run, &migrate, at(5), &StepOutcome { succeeded: true, detail: json!({}) }).unwrap();
    assert!(store.unfinished_steps(run).unwrap().is_empty());
}

#[test]
fn snapshots_round_trip_replace_each_other_and_set_the_status() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let run = store.create_run(&new_run("17.0.3", 0)).unwrap();
    assert_eq!(store.snapshot(run).unwrap(), None);

    store.append_event(run, at(1), &json!("start")).unwrap();
    let state = json!({ "phase": "ring", "ring": "canary", "done": ["acme"], "ratio": 0.25 });
    store.save_snapshot(run, at(2), "rolling out ring canary", &state).unwrap();
    let snapshot = store.snapshot(run).unwrap().unwrap();
    assert_eq!((snapshot.at, snapshot.status.as_str(), &snapshot.state), (at(2), "rolling out ring canary", &state));
    assert_eq!(snapshot.last_event_seq, 1);
    assert_eq!(store.run(run).unwrap().status, "rolling out ring canary");
    assert_eq!(store.run(run).unwrap().updated_at, at(2));

    store.append_event(run, at(3), &json!("halt")).unwrap();
    store.save_snapshot(run, at(4), "halted", &json!({ "phase": "halted" })).unwrap();
    let snapshot = store.snapshot(run).unwrap().unwrap();
    assert_eq!((snapshot.status.as_str(), snapshot.last_event_seq), ("halted", 2));
    assert!(matches!(store.snapshot(RunId(5)), Err(StoreError::UnknownRun(_))));
}

#[test]
fn a_commit_lands_entirely_or_not_at_all() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let run = store.create_run(&new_run("17.0.3", 0)).unwrap();
    let migrate = key("acme", "migrate", 1);
    let (e1, e2, intent, state) = (json!("e1"), json!("e2"), json!({ "do": "migrate" }), json!({ "s": 1 }));

    let seqs = store
        .commit(
            run,
            &[
                Change::Event { at: at(1), event: &e1 },
                Change::Event { at: at(1), event: &e2 },
                Change::Intent { step: &migrate, at: at(1), detail: &intent },
                Change::Snapshot { at: at(1), status: "migrating acme", state: &state },
            ],
        )
        .unwrap();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(store.snapshot(run).unwrap().unwrap().last_event_seq, 2);

    // The repeated intent fails, so neither the event before it nor the snapshot after it is kept.
    let failed = store.commit(
        run,
        &[
            Change::Event { at: at(2), event: &e1 },
            Change::Intent { step: &migrate, at: at(2), detail: &intent },
            Change::Snapshot { at: at(2), status: "should not be seen", state: &json!({}) },
        ],
    );
    assert!(matches!(failed, Err(StoreError::StepAlreadyStarted { .. })), "{failed:?}");
    assert_eq!(store.events(run).unwrap().len(), 2);
    let summary = store.run(run).unwrap();
    assert_eq!((summary.status.as_str(), summary.updated_at), ("migrating acme", at(1)));
    assert_eq!(store.append_event(run, at(3), &e2).unwrap(), 3, "no seq was consumed by the failed commit");
}

#[test]
fn reopening_the_database_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let before = {
        let mut store = SqliteStore::open(&path).unwrap();
        let run = store.create_run(&new_run("17.0.3", 0)).unwrap();
        store.append_event(run, at(1), &json!({ "kind": "start", "actor": "alice" })).unwrap();
        store.record_intent(run, &key("acme", "switch", 1), at(2), &json!({ "to": "17.0.3" })).unwrap();
        store
            .record_outcome(
                run,
                &key("acme", "switch", 1),
                at(3),
                &StepOutcome { succeeded: true, detail: json!(null) },
            )
            .unwrap();
        store.save_snapshot(run, at(4), "observing acme", &json!({ "x": [1, 2, 3] })).unwrap();
        (
            store.runs().unwrap(),
            store.events(run).unwrap(),
            store.steps(run).unwrap(),
            store.snapshot(run).unwrap(),
            run,
        )
    };

    let store = SqliteStore::open(&path).unwrap();
    let run = before.4;
    assert_eq!(store.runs().unwrap(), before.0);
    assert_eq!(store.events(run).unwrap(), before.1);
    assert_eq!(store.steps(run).unwrap(), before.2);
    assert_eq!(store.snapshot(run).unwrap(), before.3);
    drop(store);

    // The settings that make it durable stick to the file.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw.pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
    let version: u32 = raw.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
    assert_eq!((mode.as_str(), version), ("wal", SCHEMA_VERSION));
}

#[test]
fn a_second_handle_sees_what_the_first_wrote() {
    // `ringfence status` opens the database while the runtime holds it open.
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let mut writer = SqliteStore::open(&path).unwrap();
    let reader = SqliteStore::open(&path).unwrap();
    let run = writer.create_run(&new_run("17.0.3", 0)).unwrap();
    writer.save_snapshot(run, at(1), "planning", &json!({})).unwrap();
    assert_eq!(reader.latest_run().unwrap().unwrap().status, "planning");
}

#[test]
fn a_database_from_a_newer_ringfence_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(raw);

    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(&error, StoreError::NewerSchema { found, supported, .. } if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION),
        "{error:?}"
    );
    assert!(error.to_string().contains("newer ringfence"), "{error}");
}

#[test]
fn a_value_changed_outside_ringfence_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    let mut store = SqliteStore::open(&path).unwrap();
    let run = store.create_run(&new_run("17.0.3", 0)).unwrap();
    store.append_event(run, at(1), &Value::Null).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE events SET at = 'last tuesday'", []).unwrap();
    let error = store.events(run).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
}
