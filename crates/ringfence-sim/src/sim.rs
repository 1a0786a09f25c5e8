//! One simulated run: the real planner and engine against a simulated fleet and clock.
//!
//! The loop plays the runtime's part the way `ringfence-runtime` does — record the event, hand it to
//! the engine, carry out the actions — but with a world in memory: steps complete after seeded
//! durations, succeed or fail by the scenario's fault rates, observed tenants get a verdict every
//! minute (sometimes late), and the controller crashes (mid-event, with some actions done) and
//! restarts after a downtime, rebuilding its engine by replaying the recorded events, as `resume`
//! does. Checkers watch every action as it is carried out, and the end state when the run is over;
//! they read the world and the configuration, not the engine's own bookkeeping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use ringfence_core::engine::{
    Action, Engine, EngineOptions, Event, Outcome, RolloutStatus, StepId, StepKind, TenantPhase, Verdict,
};
use ringfence_core::governance::{Governance, GovernanceSpec, WindowCache};
use ringfence_core::model::TenantId;
use ringfence_core::plan::{Plan, plan};
use serde::Serialize;

use crate::check::{self, Violation};
use crate::scenario::Scenario;

/// A defect planted between the engine and the world, to show the checkers catch it. Tests only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The engine is given no windows and no freezes (as if it forgot to consult the calendar).
    IgnoreCalendar,
    /// The engine is given no pacing limits.
    IgnoreLimits,
    /// The driver re-runs a migration after a crash under a new step id, as a runtime that forgot
    /// its reconcile would.
    RerunMigrationAfterCrash,
}

/// What a run did and what the checkers found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario's seed.
    pub seed: u64,
    /// How the release ended, if it did.
    pub outcome: Option<Outcome>,
    /// Tenants in the plan.
    pub tenants: usize,
    /// Steps carried out (restore points, migrations, switches, health checks, rollbacks).
    pub tenant_steps: u64,
    /// Events handed to the engine (including replays after crashes).
    pub events: u64,
    /// Controller crashes.
    pub crashes: u32,
    /// Tenants that entered a freeze under break-glass.
    pub break_glass: usize,
    /// Simulated time from start to end.
    pub elapsed: String,
    /// What the checkers found; empty when the run is correct.
    pub violations: Vec<Violation>,
}

/// Why a scenario cannot be run at all (its configuration does not plan or compile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrunnable(pub String);

impl std::fmt::Display for Unrunnable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A step as the world carries it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schema {
    Old,
    Partial,
    New,
}

/// One tenant as the world sees it.
#[derive(Clone, Debug)]
pub(crate) struct WorldTenant {
    pub cluster: String,
    pub pool: String,
    pub serving_new: bool,
    schema: Schema,
    pub restore_point: bool,
    /// Migration steps started, by id: more than one means a migration ran twice.
    pub migrations: BTreeSet<StepId>,
    /// The step being carried out, if any.
    pub running: Option<StepId>,
    pub observing: bool,
    look_epoch: u32,
    /// The release is bad for this tenant: it fails at this look.
    bad_at_look: Option<u32>,
    looks: u32,
    pub started: bool,
    pub rollback_failed: bool,
    pub migration_succeeded: bool,
}

impl WorldTenant {
    pub fn schema_is_old(&self) -> bool {
        self.schema == Schema::Old
    }

    pub fn schema_is_new(&self) -> bool {
        self.schema == Schema::New
    }
}

#[derive(Clone, Debug)]
enum Item {
    StepDone { step: StepId, ok: bool, reason: String, restore: bool, switch: bool },
    Look { tenant: TenantId, epoch: u32 },
    Wake,
    Crash { downtime: SignedDuration },
}

/// A run in progress.
pub struct Simulation {
    seed: u64,
    rng: SmallRng,
    plan: Plan,
    options: EngineOptions,
    engine_governance: Arc<Governance>,
    /// The rules as configured, which the checkers apply (the engine's copy may carry a planted bug).
    pub(crate) governance: Governance,
    engine: Engine,
    log: Vec<(Timestamp, Event)>,
    queue: BTreeMap<(Timestamp, u64), Item>,
    next_seq: u64,
    now: Timestamp,
    down_until: Option<Timestamp>,
    pub(crate) world: BTreeMap<TenantId, WorldTenant>,
    faults: crate::scenario::Faults,
    bug: Option<Bug>,
    pub(crate) halted: bool,
    finished: Option<Outcome>,
    pub(crate) violations: Vec<Violation>,
    steps: u64,
    events: u64,
    crashes: u32,
    break_glass: BTreeSet<TenantId>,
    start: Timestamp,
    started_since_check: bool,
}

const LOOK: SignedDuration = SignedDuration::from_mins(1);
const EVENT_BUDGET: u64 = 200_000;

impl Simulation {
    /// Prepares a run of `scenario`, with `bug` planted if given.
    pub fn new(scenario: &Scenario, bug: Option<Bug>) -> Result<Self, Unrunnable> {
        Self::with_cache(scenario, bug, &mut WindowCache::default())
    }

    /// [`Self::new`], reusing windows parsed for earlier scenarios.
    pub fn with_cache(scenario: &Scenario, bug: Option<Bug>, cache: &mut WindowCache) -> Result<Self, Unrunnable> {
        let config = &scenario.config;
        let release = config.release.as_ref().ok_or_else(|| Unrunnable("the configuration holds no Release".into()))?;
        let plan = plan(&config.fleet, &config.policy, &release.version, &release.replaces)
            .map_err(|e| Unrunnable(format!("plan: {e}")))?;
        let spec = GovernanceSpec::from_config(config, None);
        let governance = spec.compile_with(jiff::tz::TimeZone::get, cache).map_err(|e| Unrunnable(e.to_string()))?;
        let mut engine_governance = governance.clone();
        match bug {
            Some(Bug::IgnoreCalendar) => {
                engine_governance.windows.clear();
                engine_governance.calendar.freezes.clear();
            }
            Some(Bug::IgnoreLimits) => engine_governance.limits = Default::default(),
            Some(Bug::RerunMigrationAfterCrash) | None => {}
        }
        let options = EngineOptions { schema_backward_compatible: release.schema_backward_compatible };
        let mut rng = SmallRng::seed_from_u64(scenario.seed ^ 0x05ee_d0ff_1ee7);
        let mut world = BTreeMap::new();
        for t in plan.tenants() {
            let bad_at_look = rng.random_bool(scenario.faults.bad_tenant).then(|| rng.random_range(1..30));
            world.insert(
                t.id.clone(),
                WorldTenant {
                    cluster: t.cluster.clone(),
                    pool: t.pool.clone(),
                    serving_new: false,
                    schema: Schema::Old,
                    restore_point: false,
                    migrations: BTreeSet::new(),
                    running: None,
                    observing: false,
                    look_epoch: 0,
                    bad_at_look,
                    looks: 0,
                    started: false,
                    rollback_failed: false,
                    migration_succeeded: false,
                },
            );
        }
        let engine_governance = Arc::new(engine_governance);
        let engine = Engine::governed(plan.clone(), options.clone(), engine_governance.clone());
        let mut sim = Simulation {
            seed: scenario.seed,
            rng,
            plan,
            options,
            engine_governance,
            governance,
            engine,
            log: Vec::new(),
            queue: BTreeMap::new(),
            next_seq: 0,
            now: scenario.start,
            down_until: None,
            world,
            faults: scenario.faults.clone(),
            bug,
            halted: false,
            finished: None,
            violations: Vec::new(),
            steps: 0,
            events: 0,
            crashes: 0,
            break_glass: BTreeSet::new(),
            start: scenario.start,
            started_since_check: false,
        };
        for _ in 0..scenario.faults.idle_crashes {
            let at = scenario.start + SignedDuration::from_mins(sim.rng.random_range(0..7 * 24 * 60));
            let downtime = SignedDuration::from_mins(sim.rng.random_range(1..6 * 60));
            sim.push(at, Item::Crash { downtime });
        }
        Ok(sim)
    }

    /// Runs to the end and checks the end state.
    pub fn run(mut self) -> Report {
        self.feed(Event::Start { actor: "sim".into() });
        while self.finished.is_none() {
            if self.events > EVENT_BUDGET {
                self.violate("liveness", format!("no end after {EVENT_BUDGET} events"));
                break;
            }
            let Some(((at, _), item)) = self.queue.pop_first() else {
                self.violate("liveness", "nothing left to happen, yet the release never finished".into());
                break;
            };
            self.now = self.now.max(at);
            if let Some(up) = self.down_until {
                if self.now < up {
                    // The controller is down: what completes now is reported when it is back.
                    match item {
                        Item::Look { .. } | Item::Crash { .. } => {}
                        other => self.push(up, other),
                    }
                    continue;
                }
                self.down_until = None;
            }
            self.deliver(item);
            if self.engine.status() == RolloutStatus::Paused
                && self.world.values().all(|w| w.running.is_none() && !w.observing)
            {
                // Paused by the engine (a tenant with no slot): it waits for an operator, who is not
                // simulated; the run ends here and the end state is checked as it stands.
                break;
            }
        }
        check::end_state(&mut self);
        Report {
            seed: self.seed,
            outcome: self.finished,
            tenants: self.world.len(),
            tenant_steps: self.steps,
            events: self.events,
            crashes: self.crashes,
            break_glass: self.break_glass.len(),
            elapsed: format!("{:#}", self.now.duration_since(self.start)),
            violations: self.violations,
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn options(&self) -> &EngineOptions {
        &self.options
    }

    pub(crate) fn violate(&mut self, checker: &'static str, detail: String) {
        self.violations.push(Violation { checker, at: self.now, detail });
    }

    fn push(&mut self, at: Timestamp, item: Item) {
        self.next_seq += 1;
        self.queue.insert((at, self.next_seq), item);
    }

    fn deliver(&mut self, item: Item) {
        match item {
            Item::StepDone { step, ok, reason, restore, switch } => {
                let w = self.world.get_mut(&step.tenant).expect("planned tenant");
                if w.running.as_ref() != Some(&step) {
                    return; // Already reported before a crash and carried out again: idempotent.
                }
                w.running = None;
                if ok {
                    match step.kind {
                        StepKind::RestorePoint => w.restore_point = true,
                        StepKind::Migrate => {
                            w.schema = Schema::New;
                            w.migration_succeeded = true;
                        }
                        StepKind::Switch => w.serving_new = true,
                        StepKind::HealthCheck => {}
                        StepKind::Rollback => {
                            if restore {
                                w.schema = Schema::Old;
                            }
                            if switch {
                                w.serving_new = false;
                            }
                        }
                    }
                    self.feed(Event::StepSucceeded { step, detail: serde_json::Value::Null });
                } else {
                    match step.kind {
                        StepKind::Migrate => w.schema = Schema::Partial,
                        StepKind::Rollback => w.rollback_failed = true,
                        _ => {}
                    }
                    self.feed(Event::StepFailed { step, reason });
                }
            }
            Item::Look { tenant, epoch } => {
                let w = self.world.get_mut(&tenant).expect("planned tenant");
                if !w.observing || w.look_epoch != epoch {
                    return;
                }
                w.looks += 1;
                let verdict = if w.bad_at_look == Some(w.looks) {
                    Verdict::Fail { reason: format!("error rate of {tenant} doubled against control (simulated)") }
                } else if w.looks > 20 && self.rng.random_bool(0.05) {
                    Verdict::Pass
                } else {
                    Verdict::Continue
                };
                let late = if self.rng.random_bool(self.faults.late_look) {
                    SignedDuration::from_secs(self.rng.random_range(1..300))
                } else {
                    SignedDuration::ZERO
                };
                self.push(self.now + LOOK + late, Item::Look { tenant: tenant.clone(), epoch });
                self.feed(Event::Observation { tenant, verdict });
            }
            Item::Wake => self.feed(Event::Tick),
            Item::Crash { downtime } => {
                self.crash_and_restart();
                if self.bug == Some(Bug::RerunMigrationAfterCrash) {
                    self.rerun_migrations();
                }
                self.down_until = Some(self.now + downtime);
                // The restarted controller's first act is a tick, as `resume` reconciles and goes on.
                self.push(self.now + downtime, Item::Wake);
            }
        }
    }

    /// Records `event`, hands it to the engine and carries out its actions — or crashes half-way and
    /// carries them out again after the restart, as the runtime does for an event not yet applied.
    fn feed(&mut self, event: Event) {
        self.log.push((self.now, event.clone()));
        self.events += 1;
        let actions = self.engine.handle(self.now, event);
        if self.rng.random_bool(self.faults.crash_mid_event) {
            let done = self.rng.random_range(0..=actions.len());
            self.execute(&actions[..done]);
            let replayed = self.crash_and_restart();
            if replayed != actions {
                self.violate("replay", format!("the replayed event decided {replayed:?}, not {actions:?}"));
            }
            if self.bug == Some(Bug::RerunMigrationAfterCrash) {
                self.rerun_migrations();
            }
            self.execute(&replayed);
        } else {
            self.execute(&actions);
        }
        // Loads only grow when a step starts, so that is when they can break a limit.
        if self.started_since_check {
            self.started_since_check = false;
            check::limits(self);
        }
    }

    /// Rebuilds the engine from the log, as `resume` does, checks it reached the same state, and
    /// returns the actions of the last event (the one whose actions may not all have been carried out).
    fn crash_and_restart(&mut self) -> Vec<Action> {
        self.crashes += 1;
        let mut engine = Engine::governed(self.plan.clone(), self.options.clone(), self.engine_governance.clone());
        let mut last = Vec::new();
        for (at, event) in &self.log {
            last = engine.handle(*at, event.clone());
        }
        self.events += self.log.len() as u64;
        if engine != self.engine {
            self.violate(
                "replay",
                "the engine rebuilt from the recorded events differs from the one that crashed".into(),
            );
        }
        self.engine = engine;
        last
    }

    /// The planted bug: migrations in flight are started again under a new step id.
    fn rerun_migrations(&mut self) {
        let running: Vec<StepId> =
            self.world.values().filter_map(|w| w.running.clone()).filter(|s| s.kind == StepKind::Migrate).collect();
        for step in running {
            let again = StepId { attempt: step.attempt + 1, ..step };
            check::migration_start(self, &again);
        }
    }

    fn execute(&mut self, actions: &[Action]) {
        let break_glass: BTreeSet<TenantId> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Audit(r) if r.action == "tenant.break-glass" => r.tenant.clone(),
                _ => None,
            })
            .collect();
        self.break_glass.extend(break_glass.iter().cloned());
        for action in actions {
            match action {
                Action::TakeRestorePoint { step } => {
                    if self.begin(step) {
                        check::tenant_start(self, &step.tenant, break_glass.contains(&step.tenant));
                        self.world.get_mut(&step.tenant).expect("planned tenant").started = true;
                        let fail = self.faults.restore_point;
                        self.complete(step, 60..240, fail, false, false);
                    }
                }
                Action::RunMigration { step } => {
                    if self.begin(step) {
                        check::migration_start(self, step);
                        let slow = self.rng.random_bool(self.faults.slow);
                        let secs = if slow { 600..9000 } else { 120..900 };
                        let fail = self.faults.migrate;
                        self.complete(step, secs, fail, false, false);
                    }
                }
                Action::SwitchVersion { step, .. } => {
                    if self.begin(step) {
                        let fail = self.faults.switch;
                        self.complete(step, 5..30, fail, false, false);
                    }
                }
                Action::CheckHealth { step } => {
                    if self.begin(step) {
                        let fail = self.faults.health;
                        self.complete(step, 5..60, fail, false, false);
                    }
                }
                Action::RollBack { step, restore_database, switch_code, .. } => {
                    if self.begin(step) {
                        let fail = self.faults.rollback;
                        self.complete(step, 60..600, fail, *restore_database, *switch_code);
                    }
                }
                Action::StartObservation { tenant, .. } => {
                    let w = self.world.get_mut(tenant).expect("planned tenant");
                    if !w.observing {
                        w.observing = true;
                        w.look_epoch += 1;
                        let epoch = w.look_epoch;
                        self.push(self.now + LOOK, Item::Look { tenant: tenant.clone(), epoch });
                    }
                }
                Action::StopObservation { tenant } => {
                    self.world.get_mut(tenant).expect("planned tenant").observing = false;
                }
                Action::WakeAt { at } => {
                    let at = (*at).max(self.now);
                    let already = self.queue.range((at, 0)..=(at, u64::MAX)).any(|(_, i)| matches!(i, Item::Wake));
                    if !already {
                        self.push(at, Item::Wake);
                    }
                }
                Action::Halt { .. } => self.halted = true,
                Action::Finish { outcome } => self.finished = Some(*outcome),
                Action::Audit(_) => {}
            }
        }
    }

    /// Marks `step` as carried out by the world; false when it already is (a repeat after a crash).
    fn begin(&mut self, step: &StepId) -> bool {
        let w = self.world.get_mut(&step.tenant).expect("planned tenant");
        if w.running.as_ref() == Some(step) {
            return false;
        }
        self.started_since_check = true;
        let overlapping = w.running.replace(step.clone());
        if let Some(other) = overlapping {
            self.violate("one-step-at-a-time", format!("{step} started while {other} is still running"));
        }
        self.steps += 1;
        true
    }

    fn complete(&mut self, step: &StepId, secs: std::ops::Range<i64>, fail: f64, restore: bool, switch: bool) {
        let ok = !self.rng.random_bool(fail);
        let at = self.now + SignedDuration::from_secs(self.rng.random_range(secs));
        let reason = if ok { String::new() } else { format!("simulated {} failure", step.kind) };
        self.push(at, Item::StepDone { step: step.clone(), ok, reason, restore, switch });
    }

    pub(crate) fn status(&self) -> RolloutStatus {
        self.engine.status()
    }

    pub(crate) fn phase(&self, tenant: &TenantId) -> TenantPhase {
        self.engine.tenants()[tenant].phase
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.now
    }
}

/// Runs `scenario` (with `bug` planted, in tests) and returns its report.
pub fn run(scenario: &Scenario, bug: Option<Bug>) -> Result<Report, Unrunnable> {
    Ok(Simulation::new(scenario, bug)?.run())
}
