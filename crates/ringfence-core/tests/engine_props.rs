//! Property tests: for random fleets, random step failures and random completion orders, the engine
//! never starts a tenant after a halt, never runs more migrations on a cluster than it allows, and
//! leaves every started tenant done or rolled back.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use proptest::prelude::*;
use ringfence_core::Duration;
use ringfence_core::engine::{
    Action, Engine, EngineOptions, Event, Outcome, RolloutStatus, StepId, StepKind, TenantPhase, Verdict,
};
use ringfence_core::fixtures::{cluster, tenant};
use ringfence_core::model::{BatchSize, Fleet, Policy, Ring, Selector, TenantId};
use ringfence_core::plan::plan;

/// Where a tenant fails: one of the four step kinds, or its observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum FailAt {
    Step(StepKind),
    Observation,
}

#[derive(Debug, Clone)]
struct Scenario {
    cluster_limits: Vec<u32>,
    /// Per tenant: (cluster index, ring index).
    tenants: Vec<(usize, usize)>,
    rings: Vec<(u32, u64, u64)>, // (batch size, observation minutes, soak minutes)
    failures: Vec<(usize, FailAt)>,
    compatible: bool,
    /// Drives the order in which in-flight steps report (a seeded simulator, replayable).
    seed: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..4, 1usize..5).prop_flat_map(|(clusters, rings)| {
        let fail_at = prop_oneof![
            Just(FailAt::Step(StepKind::RestorePoint)),
            Just(FailAt::Step(StepKind::Migrate)),
            Just(FailAt::Step(StepKind::Switch)),
            Just(FailAt::Step(StepKind::HealthCheck)),
            Just(FailAt::Observation),
        ];
        (
            prop::collection::vec(1u32..4, clusters),
            prop::collection::vec((0..clusters, 0..rings), 1..40),
            prop::collection::vec((1u32..6, 0u64..20, 0u64..30), rings),
            prop::collection::vec((0usize..40, fail_at), 0..4),
            any::<bool>(),
            any::<u64>(),
        )
            .prop_map(|(cluster_limits, tenants, rings, failures, compatible, seed)| Scenario {
                cluster_limits,
                tenants,
                rings,
                failures,
                compatible,
                seed,
            })
    })
}

fn build(s: &Scenario) -> ringfence_core::plan::Plan {
    let clusters = s.cluster_limits.iter().enumerate().map(|(i, &m)| cluster(&format!("pg-{i}"), m)).collect();
    let tenants =
        s.tenants.iter().enumerate().map(|(i, (c, _))| tenant(&format!("t{i}"), &format!("pg-{c}"))).collect();
    let rings = s
        .rings
        .iter()
        .enumerate()
        .map(|(r, &(batch, obs, soak))| Ring {
            name: format!("ring-{r}"),
            selector: Selector {
                tenants: s
                    .tenants
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, ring))| *ring == r)
                    .map(|(i, _)| TenantId(format!("t{i}")))
                    .collect(),
                ..Default::default()
            },
            batch_size: BatchSize::Count(batch),
            observation: Duration::from_mins(obs),
            soak: Duration::from_mins(soak),
        })
        .collect();
    plan(&Fleet { clusters, pools: vec![], tenants }, &Policy { rings, ..Default::default() }, "v2", "v1").unwrap()
}

/// A tiny deterministic generator so the completion order is a function of the seed.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_tenant_starts_after_a_halt_and_every_started_tenant_ends_done_or_rolled_back(s in scenario()) {
        let plan = build(&s);
        let cluster_of: HashMap<TenantId, String> = plan.tenants().map(|t| (t.id.clone(), t.cluster.clone())).collect();
        let limits: HashMap<String, usize> =
            s.cluster_limits.iter().enumerate().map(|(i, &m)| (format!("pg-{i}"), m as usize)).collect();
        let failures: BTreeSet<(String, String)> =
            s.failures.iter().map(|(t, f)| (format!("t{t}"), format!("{f:?}"))).collect();
        let fails = |id: &TenantId, at: FailAt| failures.contains(&(id.to_string(), format!("{at:?}")));

        let mut engine = Engine::new(plan, EngineOptions { schema_backward_compatible: s.compatible });
        let mut rng = Lcg(s.seed);
        let mut now: Timestamp = "2026-11-27T09:00:00Z".parse().unwrap();
        let mut in_flight: Vec<StepId> = Vec::new();
        let mut halted = false;
        let mut finished = None;
        let mut any_failure = false;
        let mut started: BTreeSet<TenantId> = BTreeSet::new();

        let mut actions = engine.handle(now, Event::Start { actor: "prop".into() });
        for _round in 0..20_000 {
            for action in &actions {
                match action {
                    Action::TakeRestorePoint { step } => {
                        prop_assert!(!halted, "tenant {} started after a halt", step.tenant);
                        prop_assert!(started.insert(step.tenant.clone()), "tenant {} started twice", step.tenant);
                    }
                    Action::Halt { .. } => halted = true,
                    Action::Finish { outcome } => finished = Some(*outcome),
                    _ => {}
                }
                if let Some(step) = action.step() {
                    prop_assert!(!in_flight.contains(step), "step {step} issued twice");
                    in_flight.push(step.clone());
                }
            }
            // Never more tenants between restore point and switch on a cluster than it allows.
            let mut migrating: HashMap<&str, usize> = HashMap::new();
            for (id, t) in engine.tenants() {
                if matches!(t.phase, TenantPhase::Running(StepKind::RestorePoint | StepKind::Migrate)) {
                    *migrating.entry(cluster_of[id].as_str()).or_default() += 1;
                }
            }
            for (cluster, n) in migrating {
                prop_assert!(n <= limits[cluster], "{n} migrations on {cluster}");
            }
            if finished.is_some() {
                break;
            }
            actions = if !in_flight.is_empty() {
                let step = in_flight.swap_remove(rng.below(in_flight.len()));
                now += jiff::SignedDuration::from_secs(30);
                if step.kind != StepKind::Rollback && fails(&step.tenant, FailAt::Step(step.kind)) {
                    any_failure = true;
                    engine.handle(now, Event::StepFailed { step, reason: "injected".into() })
                } else {
                    engine.handle(now, Event::StepSucceeded { step, detail: serde_json::Value::Null })
                }
            } else if let Some((id, _)) = engine
                .tenants()
                .iter()
                .find(|(id, t)| t.phase == TenantPhase::Observing && fails(id, FailAt::Observation))
            {
                any_failure = true;
                let tenant = id.clone();
                engine.handle(now, Event::Observation { tenant, verdict: Verdict::Fail { reason: "injected".into() } })
            } else {
                let wake = engine.next_wake();
                prop_assert!(wake.is_some(), "engine stalled in {:?} with nothing to wait for", engine.status());
                now = now.max(wake.unwrap());
                engine.handle(now, Event::Tick)
            };
        }

        let outcome = finished.expect("the rollout finishes");
        prop_assert_eq!(engine.status(), RolloutStatus::Finished(outcome));
        for (id, t) in engine.tenants() {
            if started.contains(id) {
                // Held only when a restore would discard writes taken on the new version.
                let held_rightly = t.phase == TenantPhase::AwaitingDecision && !s.compatible && t.switched_at.is_some();
                prop_assert!(
                    matches!(t.phase, TenantPhase::Done | TenantPhase::RolledBack) || held_rightly,
                    "{id} ended {:?}", t.phase
                );
            } else {
                prop_assert_eq!(t.phase, TenantPhase::Pending);
            }
        }
        prop_assert_eq!(outcome == Outcome::Completed, !any_failure);
        if outcome == Outcome::Completed {
            prop_assert!(engine.tenants().values().all(|t| t.phase == TenantPhase::Done));
        }
    }
}
