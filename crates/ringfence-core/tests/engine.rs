//! Scenario tests of the rollout state machine: each drives the engine with events as adapters would
//! and checks the actions it decides.

use jiff::Timestamp;
use ringfence_core::Duration;
use ringfence_core::engine::{
    Action, Command, Engine, EngineOptions, Event, Outcome, RolloutStatus, StepId, StepKind, TenantPhase, Verdict,
};
use ringfence_core::fixtures::simple_plan;
use ringfence_core::model::TenantId;

fn t0() -> Timestamp {
    "2026-11-27T09:00:00Z".parse().unwrap()
}

fn at(minutes: i64) -> Timestamp {
    t0() + jiff::SignedDuration::from_mins(minutes)
}

fn steps(actions: &[Action]) -> Vec<StepId> {
    actions.iter().filter_map(|a| a.step().cloned()).collect()
}

fn audit_names(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Audit(r) => Some(r.action.clone()),
            _ => None,
        })
        .collect()
}

fn ok(step: &StepId) -> Event {
    Event::StepSucceeded { step: step.clone(), detail: serde_json::json!({}) }
}

fn fail(step: &StepId) -> Event {
    Event::StepFailed { step: step.clone(), reason: "boom".into() }
}

fn start(engine: &mut Engine) -> Vec<Action> {
    engine.handle(t0(), Event::Start { actor: "alice".into() })
}

/// Completes every step of `tenant` up to observation, returning the last actions.
fn run_to_observation(engine: &mut Engine, tenant: &str, now: Timestamp) -> Vec<Action> {
    let mut step = StepId { tenant: tenant.into(), kind: StepKind::RestorePoint, attempt: 1 };
    loop {
        let actions = engine.handle(now, ok(&step));
        match steps(&actions).into_iter().find(|s| s.tenant.as_str() == tenant) {
            Some(next) => step = next,
            None => return actions,
        }
    }
}

fn phase(engine: &Engine, id: &str) -> TenantPhase {
    engine.tenants()[&TenantId::from(id)].phase
}

fn rollback_of(actions: &[Action], id: &str) -> Option<(bool, bool)> {
    actions.iter().find_map(|a| match a {
        Action::RollBack { step, restore_database, switch_code, version } if step.tenant.as_str() == id => {
            assert_eq!(version, "v1");
            Some((*restore_database, *switch_code))
        }
        _ => None,
    })
}

#[test]
fn happy_path_releases_every_ring_in_order_and_completes() {
    let plan = simple_plan(
        2,
        &[("canary", &["a"], 1), ("rest", &["b", "c"], 2)],
        Duration::from_mins(10),
        Duration::from_mins(30),
    );
    let mut e = Engine::new(plan, EngineOptions::default());
    let first = start(&mut e);
    assert_eq!(steps(&first), vec![StepId { tenant: "a".into(), kind: StepKind::RestorePoint, attempt: 1 }]);
    assert!(audit_names(&first).contains(&"release.started".to_string()));

    // Steps go restore point → migrate → switch → health check → observation.
    let mut kinds = vec![];
    let mut step = steps(&first)[0].clone();
    let observed = loop {
        let actions = e.handle(t0(), ok(&step));
        if let Some(next) = steps(&actions).first() {
            kinds.push(next.kind);
            step = next.clone();
        } else {
            break actions;
        }
    };
    assert_eq!(kinds, [StepKind::Migrate, StepKind::Switch, StepKind::HealthCheck]);
    assert!(observed.contains(&Action::StartObservation { tenant: "a".into(), until: at(10) }));
    assert_eq!(e.next_wake(), Some(at(10)));

    // Observation ends without harm at its deadline; the ring soaks before the next one starts.
    assert!(steps(&e.handle(at(9), Event::Tick)).is_empty());
    let soaking = e.handle(at(10), Event::Tick);
    assert_eq!(phase(&e, "a"), TenantPhase::Done);
    assert!(audit_names(&soaking).contains(&"ring.soaking".to_string()));
    assert!(soaking.contains(&Action::WakeAt { at: at(40) }));
    assert!(steps(&e.handle(at(39), Event::Tick)).is_empty());
    let next_ring = e.handle(at(40), Event::Tick);
    let started: Vec<String> = steps(&next_ring).iter().map(|s| s.tenant.to_string()).collect();
    assert_eq!(started, ["b", "c"]);

    run_to_observation(&mut e, "b", at(41));
    run_to_observation(&mut e, "c", at(41));
    e.handle(at(45), Event::Observation { tenant: "b".into(), verdict: Verdict::Pass });
    assert_eq!(e.status(), RolloutStatus::Running);
    let last = e.handle(at(46), Event::Observation { tenant: "c".into(), verdict: Verdict::Pass });
    assert!(last.contains(&Action::Finish { outcome: Outcome::Completed }));
    assert_eq!(e.status(), RolloutStatus::Finished(Outcome::Completed));
    assert_eq!(e.exposed_tenants().count(), 3);
}

/// A failure at each step kind rolls the tenant back with exactly what that step may have changed —
/// except when going back would mean restoring a database that took writes on the new version: then
/// the tenant is held for an operator, with what a restore would discard in the audit trail.
#[test]
fn a_failure_in_each_step_rolls_back_what_it_changed_and_halts() {
    // (failing step, schema backward compatible, expected (restore_database, switch_code) or None: held)
    let cases = [
        (Some(StepKind::RestorePoint), false, Some((false, false))),
        (Some(StepKind::Migrate), false, Some((true, false))),
        (Some(StepKind::Migrate), true, Some((true, false))),
        (Some(StepKind::Switch), false, Some((true, true))),
        (Some(StepKind::Switch), true, Some((false, true))),
        (Some(StepKind::HealthCheck), false, None),
        (Some(StepKind::HealthCheck), true, Some((false, true))),
        (None, false, None), // observation failure
        (None, true, Some((false, true))),
    ];
    for (failing, compatible, expected) in cases {
        let plan =
            simple_plan(1, &[("canary", &["a"], 1), ("rest", &["b"], 1)], Duration::from_mins(10), Duration::ZERO);
        let mut e = Engine::new(plan, EngineOptions { schema_backward_compatible: compatible });
        let mut step = steps(&start(&mut e))[0].clone();
        let actions = loop {
            if Some(step.kind) == failing {
                break e.handle(at(1), fail(&step));
            }
            let detail = serde_json::json!({ "taken_at": "2026-11-27T09:01:00Z" });
            let actions = e.handle(at(1), Event::StepSucceeded { step: step.clone(), detail });
            match steps(&actions).first() {
                Some(next) => step = next.clone(),
                None => {
                    assert!(failing.is_none(), "{failing:?} was never reached");
                    break e.handle(
                        at(2),
                        Event::Observation {
                            tenant: "a".into(),
                            verdict: Verdict::Fail { reason: "checkout errors 9%".into() },
                        },
                    );
                }
            }
        };
        assert_eq!(rollback_of(&actions, "a"), expected, "case {failing:?} compatible={compatible}");
        assert!(actions.iter().any(|a| matches!(a, Action::Halt { .. })), "case {failing:?} halts");
        assert_eq!(phase(&e, "b"), TenantPhase::Pending, "no tenant starts after a halt");
        if expected.is_none() {
            let held = actions.iter().find_map(|a| match a {
                Action::Audit(r) if r.action == "tenant.rollback.held" => Some(r.details.clone()),
                _ => None,
            });
            let held = held.expect("the hold is audited");
            let discards = held["a_restore_would_discard"].as_str().unwrap();
            assert!(discards.contains("2026-11-27T09:01:00Z") && discards.contains("v2"), "{discards}");
            assert_eq!(phase(&e, "a"), TenantPhase::AwaitingDecision);
            assert!(actions.contains(&Action::Finish { outcome: Outcome::Halted }), "case {failing:?}: {actions:?}");
            continue;
        }
        assert_eq!(e.status(), RolloutStatus::Halted);
        let done = e.handle(at(3), ok(&StepId { tenant: "a".into(), kind: StepKind::Rollback, attempt: 1 }));
        assert!(done.contains(&Action::Finish { outcome: Outcome::RolledBack }), "case {failing:?}: {done:?}");
        assert_eq!(phase(&e, "a"), TenantPhase::RolledBack);
    }
}

#[test]
fn halt_rolls_back_tenants_in_flight_and_starts_no_new_tenant() {
    let plan = simple_plan(2, &[("all", &["a", "b", "c"], 2)], Duration::from_mins(10), Duration::ZERO);
    let mut e = Engine::new(plan, EngineOptions::default());
    let first = steps(&start(&mut e));
    assert_eq!(first.len(), 2);
    let b_migrate = steps(&e.handle(at(1), ok(&first[1])))[0].clone();
    assert_eq!(b_migrate.kind, StepKind::Migrate);
    // a fails its restore point while b is migrating.
    e.handle(at(2), fail(&first[0]));
    // b's migration then succeeds: instead of switching, b is rolled back with a restore.
    let after = e.handle(at(3), ok(&b_migrate));
    assert_eq!(rollback_of(&after, "b"), Some((true, false)));
    assert!(!after.iter().any(|a| matches!(a, Action::SwitchVersion { .. })));
    for id in ["a", "b"] {
        e.handle(at(4), ok(&StepId { tenant: id.into(), kind: StepKind::Rollback, attempt: 1 }));
    }
    assert_eq!(phase(&e, "c"), TenantPhase::Pending);
    assert_eq!(e.status(), RolloutStatus::Finished(Outcome::RolledBack));
    // Late or duplicate reports change nothing.
    assert!(e.handle(at(5), ok(&first[0])).is_empty());
}

#[test]
fn pause_lets_tenants_in_flight_finish_and_resume_starts_the_next_batch() {
    let plan = simple_plan(1, &[("all", &["a", "b"], 1)], Duration::ZERO, Duration::ZERO);
    let mut e = Engine::new(plan, EngineOptions::default());
    start(&mut e);
    let paused = e.handle(at(1), Event::Operator { command: Command::Pause, actor: "bob".into() });
    assert!(audit_names(&paused).contains(&"release.paused".to_string()));
    assert_eq!(e.status(), RolloutStatus::Paused);
    // a carries on to done (zero observation), but b does not start while paused.
    let actions = run_to_observation(&mut e, "a", at(2));
    assert_eq!(phase(&e, "a"), TenantPhase::Done);
    assert!(steps(&actions).is_empty());
    assert_eq!(phase(&e, "b"), TenantPhase::Pending);
    let resumed = e.handle(at(3), Event::Operator { command: Command::Resume, actor: "bob".into() });
    assert_eq!(steps(&resumed), vec![StepId { tenant: "b".into(), kind: StepKind::RestorePoint, attempt: 1 }]);
    run_to_observation(&mut e, "b", at(4));
    assert_eq!(e.status(), RolloutStatus::Finished(Outcome::Completed));
}

#[test]
fn abort_rolls_back_observing_tenants_and_leaves_done_ones_reported() {
    let plan = simple_plan(1, &[("one", &["a"], 1), ("two", &["b"], 1)], Duration::from_mins(5), Duration::ZERO);
    let mut e = Engine::new(plan, EngineOptions::default());
    start(&mut e);
    run_to_observation(&mut e, "a", at(1));
    e.handle(at(6), Event::Tick); // a done, b starts
    assert_eq!(phase(&e, "a"), TenantPhase::Done);
    run_to_observation(&mut e, "b", at(7));
    let aborted = e.handle(at(8), Event::Operator { command: Command::Abort, actor: "carol".into() });
    // b took writes on v2 and v1 cannot run on v2's schema: it is held, not restored behind anyone's back.
    assert_eq!(rollback_of(&aborted, "b"), None);
    assert_eq!(phase(&e, "b"), TenantPhase::AwaitingDecision);
    assert!(aborted.iter().any(|a| matches!(a, Action::Halt { reason } if reason.contains("carol"))));
    // a stays on the new release and b awaits a decision, so the outcome is "halted", not "rolled back".
    assert!(aborted.contains(&Action::Finish { outcome: Outcome::Halted }));
}

#[test]
fn promote_ends_observation_and_soak_early() {
    let plan =
        simple_plan(1, &[("one", &["a"], 1), ("two", &["b"], 1)], Duration::from_mins(30), Duration::from_mins(60));
    let mut e = Engine::new(plan, EngineOptions::default());
    start(&mut e);
    run_to_observation(&mut e, "a", at(1));
    let promoted = e.handle(at(2), Event::Operator { command: Command::Promote, actor: "dave".into() });
    assert_eq!(phase(&e, "a"), TenantPhase::Done);
    assert!(steps(&promoted).is_empty(), "the ring soaks after a promoted observation");
    let promoted = e.handle(at(3), Event::Operator { command: Command::Promote, actor: "dave".into() });
    assert_eq!(steps(&promoted), vec![StepId { tenant: "b".into(), kind: StepKind::RestorePoint, attempt: 1 }]);
}

#[test]
fn a_failed_rollback_leaves_a_recorded_state_and_halts() {
    let plan = simple_plan(1, &[("one", &["a"], 1)], Duration::from_mins(5), Duration::ZERO);
    let mut e = Engine::new(plan, EngineOptions::default());
    let step = steps(&start(&mut e))[0].clone();
    let migrate = steps(&e.handle(at(1), ok(&step)))[0].clone();
    e.handle(at(2), fail(&migrate));
    let end = e.handle(at(3), fail(&StepId { tenant: "a".into(), kind: StepKind::Rollback, attempt: 1 }));
    assert!(audit_names(&end).contains(&"tenant.rollback.failed".to_string()));
    assert_eq!(phase(&e, "a"), TenantPhase::RollbackFailed);
    assert!(end.contains(&Action::Finish { outcome: Outcome::Halted }));
}

#[test]
fn replaying_the_same_events_rebuilds_the_same_state() {
    let plan =
        simple_plan(2, &[("one", &["a", "b"], 2), ("two", &["c"], 1)], Duration::from_mins(5), Duration::from_mins(5));
    let mut e = Engine::new(plan.clone(), EngineOptions::default());
    let mut log: Vec<(Timestamp, Event)> = vec![(t0(), Event::Start { actor: "alice".into() })];
    let mut queue = steps(&e.handle(t0(), log[0].1.clone()));
    let mut minute = 0;
    while let Some(step) = queue.pop() {
        minute += 1;
        let event = if step.tenant.as_str() == "b" && step.kind == StepKind::Switch { fail(&step) } else { ok(&step) };
        log.push((at(minute), event.clone()));
        queue.extend(steps(&e.handle(at(minute), event)));
    }
    let mut replayed = Engine::new(plan, EngineOptions::default());
    for (now, event) in log {
        replayed.handle(now, event);
    }
    assert_eq!(replayed, e);
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(serde_json::from_str::<Engine>(&json).unwrap(), e, "state survives a snapshot");
}

/// Configuration refuses durations over 366 days, but a plan built in code or decoded from a store
/// may carry any. Adding one to a timestamp used to overflow and panic after the tenant had switched,
/// and again on every replay, so the run could never be resumed; now the times saturate.
#[test]
fn durations_too_long_for_the_calendar_saturate_on_handle_and_replay() {
    let huge = Duration::from_millis(u64::MAX);
    let plan = simple_plan(1, &[("canary", &["a"], 1), ("rest", &["b"], 1)], huge, huge);
    let mut e = Engine::new(plan.clone(), EngineOptions::default());
    let mut log: Vec<(Timestamp, Event)> = Vec::new();
    let mut send = |e: &mut Engine, now: Timestamp, event: Event| {
        log.push((now, event.clone()));
        e.handle(now, event)
    };
    let mut queue = steps(&send(&mut e, t0(), Event::Start { actor: "alice".into() }));
    let mut observed = Vec::new();
    while let Some(step) = queue.pop() {
        let actions = send(&mut e, at(1), ok(&step));
        queue.extend(steps(&actions));
        observed.extend(actions);
    }
    assert!(observed.contains(&Action::StartObservation { tenant: "a".into(), until: Timestamp::MAX }));
    assert_eq!(e.next_wake(), Some(Timestamp::MAX));
    assert_eq!(phase(&e, "a"), TenantPhase::Observing);

    // The verdict ends the observation; the soak that follows lasts until the end of time too.
    let soaking = send(&mut e, at(2), Event::Observation { tenant: "a".into(), verdict: Verdict::Pass });
    assert!(soaking.contains(&Action::WakeAt { at: Timestamp::MAX }), "{soaking:?}");
    // At the very last instant it ends, and the next tenant's observation, starting then, as well.
    let mut queue = steps(&send(&mut e, Timestamp::MAX, Event::Tick));
    assert_eq!(queue.len(), 1, "b starts");
    while let Some(step) = queue.pop() {
        queue.extend(steps(&send(&mut e, Timestamp::MAX, ok(&step))));
    }
    send(&mut e, Timestamp::MAX, Event::Tick);
    assert_eq!(e.status(), RolloutStatus::Finished(Outcome::Completed));

    let mut replayed = Engine::new(plan, EngineOptions::default());
    for (now, event) in log {
        replayed.handle(now, event);
    }
    assert_eq!(replayed, e);
}

/// Found by the property test: rings that select nobody (first, middle or last) are skipped.
#[test]
fn rings_selecting_nobody_are_skipped_wherever_they_are() {
    let plan = simple_plan(
        1,
        &[("none-1", &[], 1), ("one", &["a"], 1), ("none-2", &[], 1), ("none-3", &[], 1)],
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut e = Engine::new(plan, EngineOptions::default());
    assert_eq!(steps(&start(&mut e)), vec![StepId { tenant: "a".into(), kind: StepKind::RestorePoint, attempt: 1 }]);
    run_to_observation(&mut e, "a", at(1));
    assert_eq!(e.status(), RolloutStatus::Finished(Outcome::Completed));
}

/// Governance with `a` allowed only from 22:00 UTC for two hours, and room for one migration at a
/// time on cluster pg-1.
fn governed() -> ringfence_core::governance::Governance {
    use ringfence_core::calendar::MaintenanceWindow;
    let mut g = ringfence_core::governance::Governance::default();
    g.windows.insert(
        "a".into(),
        vec![MaintenanceWindow::new("0 22 * * *", Duration::from_mins(120), jiff::tz::TimeZone::UTC).unwrap()],
    );
    g.limits.per_cluster.insert("pg-1".into(), 1);
    g
}

#[test]
fn a_tenant_waits_for_its_window_and_the_engine_asks_to_be_woken_then() {
    let plan = simple_plan(2, &[("all", &["a", "b"], 2)], Duration::ZERO, Duration::ZERO);
    let mut e = Engine::governed(plan, EngineOptions::default(), governed());
    let actions = start(&mut e);
    // b has no window and starts at once; a waits for 22:00.
    assert_eq!(steps(&actions), vec![StepId { tenant: "b".into(), kind: StepKind::RestorePoint, attempt: 1 }]);
    let wake: Timestamp = "2026-11-27T22:00:00Z".parse().unwrap();
    assert!(actions.contains(&Action::WakeAt { at: wake }), "{actions:?}");
    assert_eq!(e.next_wake(), Some(wake));
    // b finishes; at a tick before 22:00 nothing starts.
    run_to_observation(&mut e, "b", at(5));
    assert!(steps(&e.handle(at(60), Event::Tick)).is_empty());
    // At 22:00 a starts; its slot ends when its expected 30-minute step would.
    let actions = e.handle(wake, Event::Tick);
    assert_eq!(steps(&actions), vec![StepId { tenant: "a".into(), kind: StepKind::RestorePoint, attempt: 1 }]);
    assert_eq!(e.tenants()[&TenantId::from("a")].slot_end, Some("2026-11-27T22:30:00Z".parse().unwrap()));
}

#[test]
fn the_cluster_limit_holds_a_tenant_until_a_migration_ends() {
    let plan = simple_plan(2, &[("all", &["b", "c"], 2)], Duration::ZERO, Duration::ZERO);
    let mut e = Engine::governed(plan, EngineOptions::default(), governed());
    let actions = start(&mut e);
    assert_eq!(steps(&actions).len(), 1, "one migration at a time on pg-1: {actions:?}");
    assert!(audit_names(&actions).contains(&"tenant.waiting".to_owned()));
    let rp = StepId { tenant: "b".into(), kind: StepKind::RestorePoint, attempt: 1 };
    let migrate = steps(&e.handle(at(1), ok(&rp)))[0].clone();
    assert_eq!(migrate.kind, StepKind::Migrate);
    // Only when b's migration reports does c start.
    let actions = e.handle(at(2), ok(&migrate));
    let started: Vec<_> = steps(&actions).into_iter().filter(|s| s.tenant.as_str() == "c").collect();
    assert_eq!(started.len(), 1, "{actions:?}");
}

fn audits(actions: &[Action], name: &str) -> Vec<serde_json::Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Audit(r) if r.action == name => Some(r.details.clone()),
            _ => None,
        })
        .collect()
}

/// A judge's numbers reach the audit trail at the looks where they turned and with the verdict that
/// ends the observation, pass or fail — not at every look; they never decide anything themselves.
#[test]
fn judge_numbers_are_audited_when_they_turn_and_with_the_final_verdict() {
    let plan = simple_plan(1, &[("canary", &["a"], 1), ("rest", &["b"], 1)], Duration::from_mins(10), Duration::ZERO);
    let mut e = Engine::new(plan, EngineOptions::default());
    start(&mut e);
    run_to_observation(&mut e, "a", t0());
    let look = |tenant: &str, changed, e_value: f64| Event::Look {
        tenant: tenant.into(),
        changed,
        numbers: serde_json::json!({ "verdict": { "verdict": "continue" }, "statistic": e_value }),
    };
    let turned = e.handle(at(1), look("a", true, 1.5));
    assert_eq!(
        audits(&turned, "tenant.observation.look"),
        [serde_json::json!({ "look": { "verdict": { "verdict": "continue" }, "statistic": 1.5 } })]
    );
    assert!(audits(&e.handle(at(2), look("a", false, 2.5)), "tenant.observation.look").is_empty());
    assert_eq!(phase(&e, "a"), TenantPhase::Observing, "numbers alone decide nothing");

    // The observation ends at its deadline: the pass carries the numbers last sent.
    let passed = e.handle(at(10), Event::Tick);
    let passed = audits(&passed, "tenant.observation.passed");
    assert_eq!(passed[0]["look"]["statistic"], 2.5, "{passed:?}");

    run_to_observation(&mut e, "b", at(11));
    e.handle(at(12), look("b", false, 90.0));
    let failed =
        e.handle(at(12), Event::Observation { tenant: "b".into(), verdict: Verdict::Fail { reason: "harm".into() } });
    let failed = audits(&failed, "tenant.observation.failed");
    assert_eq!(failed[0]["reason"], "harm");
    assert_eq!(failed[0]["look"]["statistic"], 90.0, "{failed:?}");
    // After the observation, numbers are not news.
    assert!(e.handle(at(13), look("b", true, 95.0)).is_empty());
}
