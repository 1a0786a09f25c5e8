//! The rollout state machine for one release over the fleet, in the sans-IO shape.
//!
//! The engine is given the [`Plan`], `now` and [`Event`]s (step results, observation verdicts, clock
//! ticks, operator commands) and returns [`Action`]s (take a restore point, run a migration, switch a
//! tenant's version, check health, observe, roll back, halt, write an audit record). It never performs
//! them: adapters do, and report back with events. Feeding the same events with the same `now`s to a
//! new engine rebuilds the same state, which is how the runtime recovers after a crash.
//!
//! Within a batch a tenant starts only when its [`Governance`] allows: in a slot that fits one of its
//! maintenance windows and no freeze that stops the release's tier (or under an approved break-glass
//! exception), while the cluster, pool, capacity-buffer and release-wide limits have room. Waiting
//! tenants are audited with the reason and woken at their slot.
//!
//! Per tenant the steps are: restore point → migrate → switch → health check → observe → done.
//! A failure anywhere rolls that tenant back and halts the release: no tenant is started after a halt,
//! tenants still in flight are rolled back once their running step reports, and tenants already done
//! stay on the new release (the operator decides about them; the report says who they are).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::calendar::Reason;
use crate::governance::Governance;
use crate::model::TenantId;
use crate::plan::Plan;

/// A kind of tenant step that an adapter carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Maintenance mode on, then a verified restore point of the tenant database.
    RestorePoint,
    /// The release's migration command on the tenant database.
    Migrate,
    /// Point the tenant's traffic at the new version.
    Switch,
    /// Check the tenant answers on the new version.
    HealthCheck,
    /// Return the tenant to the previous release.
    Rollback,
}

impl StepKind {
    /// The kebab-case name used in audit records and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::RestorePoint => "restore-point",
            StepKind::Migrate => "migrate",
            StepKind::Switch => "switch",
            StepKind::HealthCheck => "health-check",
            StepKind::Rollback => "rollback",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one execution of one step on one tenant; adapters must make each idempotent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StepId {
    /// The tenant.
    pub tenant: TenantId,
    /// The step.
    pub kind: StepKind,
    /// 1 for the first execution; retries (not yet used) count up.
    pub attempt: u32,
}

impl StepId {
    fn first(tenant: &TenantId, kind: StepKind) -> Self {
        StepId { tenant: tenant.clone(), kind, attempt: 1 }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}#{}", self.tenant, self.kind, self.attempt)
    }
}

/// An operator's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Start nothing new; tenants in flight carry on to done.
    Pause,
    /// Undo a pause.
    Resume,
    /// Halt now and roll back every tenant not yet done.
    Abort,
    /// End current observations and soak early, as if they had passed.
    Promote,
}

/// What an observation of a tenant concluded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Enough evidence of no harm: the tenant is done.
    Pass,
    /// Harm detected: roll back and halt.
    Fail {
        /// What was judged and with which numbers.
        reason: String,
    },
    /// Keep observing.
    Continue,
}

/// Something that happened, fed to [`Engine::handle`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Begin the rollout.
    Start {
        /// Who started it.
        actor: String,
    },
    /// A step finished successfully.
    StepSucceeded {
        /// Which step.
        step: StepId,
        /// What the adapter wants recorded (restore point path, migration log, …).
        #[serde(default)]
        detail: Value,
    },
    /// A step failed.
    StepFailed {
        /// Which step.
        step: StepId,
        /// Why, for people.
        reason: String,
    },
    /// A judge's verdict on an observed tenant.
    Observation {
        /// The tenant.
        tenant: TenantId,
        /// What the judge concluded.
        verdict: Verdict,
    },
    /// The numbers behind a judge's look at an observed tenant (its verdict and, per SLI, the effect,
    /// its interval, the statistic against its bar and the events counted), as JSON the engine records
    /// but never reads: verdicts act only through [`Event::Observation`]. Drivers send one when the
    /// judge's verdict or an SLI's standing changed, one just before a verdict that ends the
    /// observation and one at its last look — not one per scrape.
    Look {
        /// The tenant.
        tenant: TenantId,
        /// The verdict or a standing changed since the tenant's previous look: audited as
        /// `tenant.observation.look`. Unchanged numbers are only kept for the record that ends the
        /// observation.
        changed: bool,
        /// The judge's numbers.
        numbers: Value,
    },
    /// Time passed; lets observation and soak periods end.
    Tick,
    /// An operator command.
    Operator {
        /// The command.
        command: Command,
        /// Who gave it.
        actor: String,
    },
}

/// A decision for the runtime to carry out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Put the tenant in maintenance mode and take a verified restore point.
    TakeRestorePoint {
        /// The step.
        step: StepId,
    },
    /// Run the release's migration on the tenant database.
    RunMigration {
        /// The step.
        step: StepId,
    },
    /// Switch the tenant to `version` (and end maintenance mode).
    SwitchVersion {
        /// The step.
        step: StepId,
        /// The version to serve.
        version: String,
    },
    /// Check the tenant is healthy on the new version.
    CheckHealth {
        /// The step.
        step: StepId,
    },
    /// Start judging the tenant's SLIs until `until`.
    StartObservation {
        /// The tenant.
        tenant: TenantId,
        /// When the observation window ends.
        until: Timestamp,
    },
    /// Stop judging the tenant.
    StopObservation {
        /// The tenant.
        tenant: TenantId,
    },
    /// Return the tenant to `version`.
    RollBack {
        /// The step.
        step: StepId,
        /// Restore the database from the restore point taken before the migration.
        restore_database: bool,
        /// Switch code back (false when the tenant never left the previous version).
        switch_code: bool,
        /// The version to return to.
        version: String,
    },
    /// Send a [`Event::Tick`] at this time (or earlier) so timed periods can end.
    WakeAt {
        /// When.
        at: Timestamp,
    },
    /// The release is halted; no further tenant will be started.
    Halt {
        /// Why.
        reason: String,
    },
    /// The rollout has nothing left to do.
    Finish {
        /// How it ended.
        outcome: Outcome,
    },
    /// Write this to the audit trail.
    Audit(AuditRecord),
}

/// An audit record decided by the engine; the runtime adds the timestamp and the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Who: `ringfence` for the engine's own decisions, the operator for commands.
    pub actor: String,
    /// What, as a dotted name (`tenant.failed`, `release.halted`, …).
    pub action: String,
    /// The tenant concerned, if any.
    pub tenant: Option<TenantId>,
    /// The facts behind the decision.
    pub details: Value,
}

/// How a rollout ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every tenant is on the new release.
    Completed,
    /// Halted, and every tenant that was touched is back on the previous release.
    RolledBack,
    /// Halted with some tenants left on the new release, or a rollback that failed.
    Halted,
}

impl Outcome {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::RolledBack => "rolled-back",
            Outcome::Halted => "halted",
        }
    }
}

/// Where the release as a whole stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutStatus {
    /// Not started yet.
    Pending,
    /// Moving forward.
    Running,
    /// Paused by an operator: tenants in flight finish, nothing new starts.
    Paused,
    /// Halted by a failure or an abort; tenants in flight are being rolled back.
    Halted,
    /// Nothing left to do.
    Finished(Outcome),
}

/// Where one tenant stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", content = "step", rename_all = "kebab-case")]
pub enum TenantPhase {
    /// Not started.
    Pending,
    /// A step is running.
    Running(StepKind),
    /// On the new release, SLIs being judged.
    Observing,
    /// On the new release, observation passed.
    Done,
    /// Back on the previous release.
    RolledBack,
    /// Its rollback failed: it needs an operator. Its state is recorded, not guessed.
    RollbackFailed,
    /// It failed after serving the new version, whose schema the previous version cannot use: going
    /// back means restoring its database and discarding what was written since the restore point, so
    /// the engine does not do it on its own. Left on the new version for an operator to decide.
    AwaitingDecision,
}

impl TenantPhase {
    /// Whether the tenant will not change any more in this rollout.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TenantPhase::Done | TenantPhase::RolledBack | TenantPhase::RollbackFailed | TenantPhase::AwaitingDecision
        )
    }
}

/// Per-tenant progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantProgress {
    /// Index of its ring in the plan.
    pub ring: usize,
    /// Index of its batch in the ring.
    pub batch: usize,
    /// Its phase.
    pub phase: TenantPhase,
    /// The migration step was started (so the database may have changed).
    pub migration_started: bool,
    /// The migration step finished successfully.
    pub migration_succeeded: bool,
    /// The switch step was started (so the tenant may be serving the new code).
    pub switch_started: bool,
    /// When the switch finished: from then on the tenant served the new version and took writes.
    #[serde(default)]
    pub switched_at: Option<Timestamp>,
    /// When its restore point was taken, as its driver reported it.
    #[serde(default)]
    pub restore_point_taken_at: Option<String>,
    /// When its observation ends, while observing.
    pub observe_until: Option<Timestamp>,
    /// The judge's numbers at its latest look (see [`Event::Look`]): what the record that ends the
    /// observation, pass or fail, carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_look: Option<Value>,
    /// The failure that ended its rollout, if any.
    pub failure: Option<String>,
    /// When its steps were expected to be over when it started (the end of its slot).
    #[serde(default)]
    pub slot_end: Option<Timestamp>,
    /// While pending in the current batch: the earliest time it may start (its next slot).
    #[serde(default)]
    pub not_before: Option<Timestamp>,
}

impl TenantProgress {
    /// Whether the tenant ran this release's code or schema (or may have).
    pub fn exposed(&self) -> bool {
        self.migration_started || self.switch_started
    }
}

/// Options that change how the engine rolls back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineOptions {
    /// The previous version's code runs on the new schema: a tenant whose migration succeeded can be
    /// rolled back by switching code alone, keeping what was written since.
    pub schema_backward_compatible: bool,
}

/// The rollout state machine. Serialisable, so the runtime can snapshot it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    plan: Plan,
    options: EngineOptions,
    status: RolloutStatus,
    paused: bool,
    ring: usize,
    batch: usize,
    /// Set while the current ring is done and soaking before the next one.
    soak_until: Option<Timestamp>,
    halt_reason: Option<String>,
    tenants: BTreeMap<TenantId, TenantProgress>,
    /// Windows, freezes and pacing limits; rebuilt from the run's stored spec, not serialised.
    #[serde(skip)]
    governance: Arc<Governance>,
    /// The pacing limit each waiting tenant of the current batch was last reported waiting for, so
    /// the audit trail says it once, not at every event.
    #[serde(skip)]
    held_by: BTreeMap<TenantId, String>,
    /// Tenants of the current batch not started yet: once none are left, events need no dispatch.
    batch_pending: usize,
}

const ENGINE: &str = "ringfence";

impl Engine {
    /// A new engine for `plan` with no windows, freezes or pacing limits, not yet started.
    pub fn new(plan: Plan, options: EngineOptions) -> Self {
        Self::governed(plan, options, Governance::default())
    }

    /// A new engine for `plan` that starts each tenant only in a slot `governance` allows.
    pub fn governed(plan: Plan, options: EngineOptions, governance: impl Into<Arc<Governance>>) -> Self {
        let governance = governance.into();
        let mut tenants = BTreeMap::new();
        for (r, ring) in plan.rings.iter().enumerate() {
            for (b, batch) in ring.batches.iter().enumerate() {
                for t in &batch.tenants {
                    tenants.insert(
                        t.id.clone(),
                        TenantProgress {
                            ring: r,
                            batch: b,
                            phase: TenantPhase::Pending,
                            migration_started: false,
                            migration_succeeded: false,
                            switch_started: false,
                            switched_at: None,
                            restore_point_taken_at: None,
                            observe_until: None,
                            last_look: None,
                            failure: None,
                            slot_end: None,
                            not_before: None,
                        },
                    );
                }
            }
        }
        Engine {
            plan,
            options,
            status: RolloutStatus::Pending,
            paused: false,
            ring: 0,
            batch: 0,
            soak_until: None,
            halt_reason: None,
            tenants,
            governance,
            held_by: BTreeMap::new(),
            batch_pending: 0,
        }
    }

    /// The windows, freezes and limits the engine applies.
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// The plan being carried out.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Where the release stands.
    pub fn status(&self) -> RolloutStatus {
        self.status
    }

    /// Why the release halted, if it did.
    pub fn halt_reason(&self) -> Option<&str> {
        self.halt_reason.as_deref()
    }

    /// Every tenant's progress, by id.
    pub fn tenants(&self) -> &BTreeMap<TenantId, TenantProgress> {
        &self.tenants
    }

    /// The ring currently being rolled out (or soaked), by index.
    pub fn current_ring(&self) -> usize {
        self.ring
    }

    /// The earliest time a [`Event::Tick`] could change something, if any.
    pub fn next_wake(&self) -> Option<Timestamp> {
        let observing = self.tenants.values().filter_map(|t| t.observe_until);
        let waiting = self.tenants.values().filter(|t| t.phase == TenantPhase::Pending).filter_map(|t| t.not_before);
        observing.chain(waiting).chain(self.soak_until).min()
    }

    /// Handles one event at time `now` and returns what to do next, in order.
    pub fn handle(&mut self, now: Timestamp, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        if matches!(self.status, RolloutStatus::Finished(_)) {
            return out;
        }
        match event {
            Event::Start { actor } => self.on_start(actor, &mut out),
            Event::StepSucceeded { step, detail } => self.on_step_succeeded(now, step, detail, &mut out),
            Event::StepFailed { step, reason } => self.on_step_failed(step, reason, &mut out),
            Event::Observation { tenant, verdict } => self.on_observation(now, tenant, verdict, &mut out),
            Event::Look { tenant, changed, numbers } => self.on_look(tenant, changed, numbers, &mut out),
            Event::Tick => self.on_tick(now, &mut out),
            Event::Operator { command, actor } => self.on_command(now, command, actor, &mut out),
        }
        self.dispatch(now, &mut out);
        self.finish_if_idle(&mut out);
        out
    }

    fn on_start(&mut self, actor: String, out: &mut Vec<Action>) {
        if self.status != RolloutStatus::Pending {
            return;
        }
        self.status = RolloutStatus::Running;
        out.push(audit(
            &actor,
            "release.started",
            None,
            json!({
                "release": self.plan.release,
                "replaces": self.plan.replaces,
                "rings": self.plan.rings.len(),
                "tenants": self.plan.tenant_count(),
            }),
        ));
        self.start_batch(out);
    }

    fn on_step_succeeded(&mut self, now: Timestamp, step: StepId, detail: Value, out: &mut Vec<Action>) {
        let halted = self.status == RolloutStatus::Halted;
        let Some(t) = self.running(&step) else { return };
        let id = step.tenant.clone();
        match step.kind {
            StepKind::RestorePoint => {
                t.restore_point_taken_at = detail.get("taken_at").and_then(Value::as_str).map(str::to_owned);
            }
            StepKind::Migrate => t.migration_succeeded = true,
            StepKind::Switch => {
                t.switched_at = Some(now);
                if let Some(end) = t.slot_end.filter(|end| now > *end) {
                    // Its steps ran past the slot they were started in (a slow migration): the
                    // tenant is not stopped half-way, which would leave it in maintenance, but the
                    // overrun is on record for the window's owner.
                    out.push(audit(
                        ENGINE,
                        "tenant.window.overrun",
                        Some(&id),
                        json!({ "expected_end": end.to_string(), "switched_at": now.to_string() }),
                    ));
                }
            }
            StepKind::HealthCheck | StepKind::Rollback => {}
        }
        out.push(audit(ENGINE, &format!("tenant.{}.succeeded", step.kind), Some(&id), detail));
        if step.kind == StepKind::Rollback {
            let t = self.tenants.get_mut(&id).expect("tenant was found running");
            t.phase = TenantPhase::RolledBack;
            return;
        }
        if halted {
            self.roll_back(&id, out);
            return;
        }
        let t = self.tenants.get_mut(&id).expect("tenant was found running");
        let next = match step.kind {
            StepKind::RestorePoint => {
                t.migration_started = true;
                Action::RunMigration { step: StepId::first(&id, StepKind::Migrate) }
            }
            StepKind::Migrate => {
                t.switch_started = true;
                Action::SwitchVersion { step: StepId::first(&id, StepKind::Switch), version: self.plan.release.clone() }
            }
            StepKind::Switch => Action::CheckHealth { step: StepId::first(&id, StepKind::HealthCheck) },
            StepKind::HealthCheck => {
                // Saturates: a duration too long for the calendar observes until the end of time, no panic.
                let until = self.plan.rings[t.ring].observation.after(now);
                t.phase = TenantPhase::Observing;
                t.observe_until = Some(until);
                out.push(Action::StartObservation { tenant: id.clone(), until });
                out.push(Action::WakeAt { at: until });
                // A zero-length observation ends at once.
                self.end_observations(now, out);
                return;
            }
            StepKind::Rollback => unreachable!("handled above"),
        };
        t.phase = TenantPhase::Running(step_of(&next));
        out.push(next);
    }

    fn on_step_failed(&mut self, step: StepId, reason: String, out: &mut Vec<Action>) {
        let Some(t) = self.running(&step) else { return };
        let id = step.tenant.clone();
        if step.kind == StepKind::Rollback {
            t.phase = TenantPhase::RollbackFailed;
            t.failure.get_or_insert_with(|| reason.clone());
            out.push(audit(
                ENGINE,
                "tenant.rollback.failed",
                Some(&id),
                json!({ "reason": reason, "needs": "an operator: the tenant's state is recorded, nothing is retried" }),
            ));
            self.halt(format!("rollback of tenant {id} failed: {reason}"), out);
            return;
        }
        t.failure.get_or_insert_with(|| format!("{} failed: {reason}", step.kind));
        out.push(audit(ENGINE, &format!("tenant.{}.failed", step.kind), Some(&id), json!({ "reason": reason })));
        self.roll_back(&id, out);
        self.halt(format!("tenant {id}: {} failed: {reason}", step.kind), out);
    }

    fn on_observation(&mut self, now: Timestamp, tenant: TenantId, verdict: Verdict, out: &mut Vec<Action>) {
        let Some(t) = self.tenants.get_mut(&tenant) else { return };
        if t.phase != TenantPhase::Observing {
            return;
        }
        match verdict {
            // Its own observation goes on; others end at their own wake-up ticks.
            Verdict::Continue if t.observe_until.is_some_and(|until| now < until) => {}
            Verdict::Continue => self.end_observations(now, out),
            Verdict::Pass => {
                let details = with_look(json!({}), t);
                out.push(audit(ENGINE, "tenant.observation.passed", Some(&tenant), details));
                self.complete_tenant(&tenant, out);
                self.advance(now, out);
            }
            Verdict::Fail { reason } => {
                t.failure = Some(format!("observation failed: {reason}"));
                let details = with_look(json!({ "reason": reason }), t);
                out.push(audit(ENGINE, "tenant.observation.failed", Some(&tenant), details));
                self.roll_back(&tenant, out);
                self.halt(format!("tenant {tenant}: observation failed: {reason}"), out);
            }
        }
    }

    fn on_look(&mut self, tenant: TenantId, changed: bool, numbers: Value, out: &mut Vec<Action>) {
        let Some(t) = self.tenants.get_mut(&tenant) else { return };
        if t.phase != TenantPhase::Observing {
            return;
        }
        if changed {
            out.push(audit(ENGINE, "tenant.observation.look", Some(&tenant), json!({ "look": numbers })));
        }
        t.last_look = Some(numbers);
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        self.end_observations(now, out);
        self.advance(now, out);
    }

    fn on_command(&mut self, now: Timestamp, command: Command, actor: String, out: &mut Vec<Action>) {
        let name = match command {
            Command::Pause => "release.paused",
            Command::Resume => "release.resumed",
            Command::Abort => "release.aborted",
            Command::Promote => "release.promoted",
        };
        out.push(audit(&actor, name, None, json!({ "status": self.status })));
        match command {
            Command::Pause => {
                if self.status == RolloutStatus::Running {
                    self.paused = true;
                    self.status = RolloutStatus::Paused;
                }
            }
            Command::Resume => {
                if self.status == RolloutStatus::Paused {
                    self.paused = false;
                    self.status = RolloutStatus::Running;
                    self.advance(now, out);
                }
            }
            Command::Abort => self.halt(format!("aborted by {actor}"), out),
            Command::Promote => {
                if self.status == RolloutStatus::Halted {
                    return;
                }
                let observing: Vec<TenantId> = self
                    .tenants
                    .iter()
                    .filter(|(_, t)| t.phase == TenantPhase::Observing)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in observing {
                    self.complete_tenant(&id, out);
                }
                self.soak_until = self.soak_until.map(|_| now);
                self.advance(now, out);
            }
        }
    }

    /// The tenant's progress if `step` is the step it is running; stale or duplicate reports are ignored
    /// (after a crash the runtime may report a step twice).
    fn running(&mut self, step: &StepId) -> Option<&mut TenantProgress> {
        self.tenants.get_mut(&step.tenant).filter(|t| t.phase == TenantPhase::Running(step.kind))
    }

    /// Ends observations whose time is over without harm.
    fn end_observations(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        let over: Vec<TenantId> = self
            .tenants
            .iter()
            .filter(|(_, t)| t.phase == TenantPhase::Observing && t.observe_until.is_some_and(|u| u <= now))
            .map(|(id, _)| id.clone())
            .collect();
        if over.is_empty() {
            return;
        }
        for id in over {
            let details = with_look(json!({ "why": "observation time over without harm" }), &self.tenants[&id]);
            out.push(audit(ENGINE, "tenant.observation.passed", Some(&id), details));
            self.complete_tenant(&id, out);
        }
        self.advance(now, out);
    }

    fn complete_tenant(&mut self, id: &TenantId, out: &mut Vec<Action>) {
        let t = self.tenants.get_mut(id).expect("tenant exists");
        t.phase = TenantPhase::Done;
        t.observe_until = None;
        out.push(Action::StopObservation { tenant: id.clone() });
        out.push(audit(ENGINE, "tenant.done", Some(id), json!({ "version": self.plan.release })));
    }

    /// Starts the next batch or ring when the current one is done and nothing holds the release back.
    fn advance(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.status != RolloutStatus::Running {
            return;
        }
        if let Some(until) = self.soak_until {
            if now < until {
                return;
            }
            self.soak_until = None;
            self.ring += 1;
            self.batch = 0;
            self.start_batch(out);
            return;
        }
        let (ring, batch) = (self.ring, self.batch);
        if ring >= self.plan.rings.len() {
            return; // Only empty rings were left: nothing to start.
        }
        let batch_done =
            self.plan.rings[ring].batches[batch].tenants.iter().all(|t| self.tenants[&t.id].phase == TenantPhase::Done);
        if !batch_done {
            return;
        }
        if batch + 1 < self.plan.rings[ring].batches.len() {
            self.batch += 1;
            self.start_batch(out);
            return;
        }
        out.push(audit(ENGINE, "ring.done", None, json!({ "ring": self.plan.rings[ring].name })));
        if ring + 1 >= self.plan.rings.len() {
            return; // finish_if_idle completes the release.
        }
        let soak = self.plan.rings[ring].soak;
        if soak.is_zero() {
            self.ring += 1;
            self.batch = 0;
            self.start_batch(out);
        } else {
            let until = soak.after(now);
            self.soak_until = Some(until);
            out.push(audit(
                ENGINE,
                "ring.soaking",
                None,
                json!({ "ring": self.plan.rings[ring].name, "until": until.to_string() }),
            ));
            out.push(Action::WakeAt { at: until });
        }
    }

    /// Starts every tenant of the current batch, skipping empty rings.
    fn start_batch(&mut self, out: &mut Vec<Action>) {
        // A ring that selected nobody (possible with percentage rings over an empty selection) is skipped.
        while self.ring < self.plan.rings.len() && self.plan.rings[self.ring].batches.is_empty() {
            self.ring += 1;
            self.batch = 0;
        }
        if self.ring >= self.plan.rings.len() {
            return;
        }
        let ring = &self.plan.rings[self.ring];
        let batch = &ring.batches[self.batch];
        out.push(audit(
            ENGINE,
            "batch.started",
            None,
            json!({
                "ring": ring.name,
                "batch": self.batch + 1,
                "of": ring.batches.len(),
                "tenants": batch.tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            }),
        ));
        // Its tenants start in `dispatch`, each when its slot and the pacing limits allow.
        self.batch_pending = batch.tenants.len();
    }

    /// Starts the pending tenants of the current batch whose slot is now, in plan order, as far as the
    /// pacing limits allow; tells the runtime when to wake for the others.
    fn dispatch(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.batch_pending == 0
            || self.status != RolloutStatus::Running
            || self.soak_until.is_some()
            || self.ring >= self.plan.rings.len()
        {
            return;
        }
        let Some(batch) = self.plan.rings[self.ring].batches.get(self.batch) else { return };
        // Most events change nothing for the tenants still waiting: leave before counting loads.
        let ready = |t: &TenantProgress| t.phase == TenantPhase::Pending && t.not_before.is_none_or(|nb| nb <= now);
        if !batch.tenants.iter().any(|t| ready(&self.tenants[&t.id])) {
            return;
        }
        let pending: Vec<(TenantId, String, String)> = batch
            .tenants
            .iter()
            .filter(|t| ready(&self.tenants[&t.id]))
            .map(|t| (t.id.clone(), t.cluster.clone(), t.pool.clone()))
            .collect();
        let mut load = Load::of(&self.plan, &self.tenants);
        for (id, cluster, pool) in pending {
            // Limits first: a tenant they hold back needs no calendar search yet, and the event that
            // frees room (a step reporting) runs this again.
            if let Some(limit) = load.refuses(&self.governance, &cluster, &pool) {
                if self.held_by.get(&id) != Some(&limit) {
                    out.push(audit(ENGINE, "tenant.waiting", Some(&id), json!({ "reasons": [limit.clone()] })));
                    self.held_by.insert(id.clone(), limit);
                }
                continue;
            }
            let t = self.tenants.get_mut(&id).expect("planned tenant");
            let Some(slot) = self.governance.first_slot(&id, &pool, now) else {
                // No slot within the horizon: its windows never fit the step outside the freezes
                // (`ringfence plan` reports this before a release starts). Waiting on would hold the
                // release forever without saying so; pause it for an operator, who can change the
                // calendar and resume. Tenants in flight carry on.
                let why = self.governance.no_slot_reason(&id);
                out.push(audit(ENGINE, "tenant.no-slot", Some(&id), json!({ "why": why })));
                out.push(audit(ENGINE, "release.paused", None, json!({ "why": why })));
                self.paused = true;
                self.status = RolloutStatus::Paused;
                return;
            };
            if slot.start > now {
                t.not_before = Some(slot.start);
                out.push(audit(
                    ENGINE,
                    "tenant.waiting",
                    Some(&id),
                    json!({ "until": slot.start.to_string(), "reasons": slot.waits.iter().map(describe).collect::<Vec<_>>() }),
                ));
                out.push(Action::WakeAt { at: slot.start });
                continue;
            }
            self.held_by.remove(&id);
            load.admit(&cluster, &pool);
            self.batch_pending -= 1;
            t.not_before = None;
            t.slot_end = Some(slot.end);
            t.phase = TenantPhase::Running(StepKind::RestorePoint);
            if let Some(used) = slot.break_glass {
                out.push(audit(
                    ENGINE,
                    "tenant.break-glass",
                    Some(&id),
                    json!({ "reason": used.reason, "approvers": used.approvers, "freezes": used.freezes }),
                ));
            }
            out.push(audit(
                ENGINE,
                "tenant.started",
                Some(&id),
                json!({ "slot_end": slot.end.to_string(), "expected_step": self.governance.step_duration(&id).to_string() }),
            ));
            out.push(Action::TakeRestorePoint { step: StepId::first(&id, StepKind::RestorePoint) });
        }
    }

    /// Rolls back a tenant that is not running a step (its step just reported, or it is observing).
    fn roll_back(&mut self, id: &TenantId, out: &mut Vec<Action>) {
        let compatible = self.options.schema_backward_compatible;
        let t = self.tenants.get_mut(id).expect("tenant exists");
        if t.phase == TenantPhase::Observing {
            out.push(Action::StopObservation { tenant: id.clone() });
        }
        // Restore the database when the migration may have changed it, unless it completed and the
        // previous code can run on the new schema: then a code switch keeps the orders taken since.
        let restore_database = t.migration_started && !(t.migration_succeeded && compatible);
        let switch_code = t.switch_started;
        t.observe_until = None;
        if restore_database && let Some(switched_at) = t.switched_at {
            // The tenant took writes on the new version since `switched_at`; a restore would throw them
            // away. Never do that silently: hold the tenant where it is and say what is at stake.
            t.phase = TenantPhase::AwaitingDecision;
            let taken = t.restore_point_taken_at.clone();
            let discards = format!(
                "every write to tenant {id} since its restore point{} — all it took while serving {} from {switched_at} on",
                taken.as_deref().map(|at| format!(" (taken {at})")).unwrap_or_default(),
                self.plan.release,
            );
            out.push(audit(
                ENGINE,
                "tenant.rollback.held",
                Some(id),
                json!({
                    "why": format!("{} cannot run on {}'s schema, so going back means restoring the database", self.plan.replaces, self.plan.release),
                    "a_restore_would_discard": discards,
                    "switched_at": switched_at.to_string(),
                    "restore_point_taken_at": taken,
                    "options": ["restore the restore point and switch back, discarding those writes", "keep the tenant on the new release and fix forward"],
                }),
            ));
            return;
        }
        t.phase = TenantPhase::Running(StepKind::Rollback);
        out.push(audit(
            ENGINE,
            "tenant.rollback.started",
            Some(id),
            json!({ "restore_database": restore_database, "switch_code": switch_code, "to": self.plan.replaces }),
        ));
        out.push(Action::RollBack {
            step: StepId::first(id, StepKind::Rollback),
            restore_database,
            switch_code,
            version: self.plan.replaces.clone(),
        });
    }

    /// Halts the release: nothing new starts; observing tenants roll back now, running ones when their
    /// step reports.
    fn halt(&mut self, reason: String, out: &mut Vec<Action>) {
        if self.status == RolloutStatus::Halted {
            return;
        }
        self.status = RolloutStatus::Halted;
        self.paused = false;
        self.soak_until = None;
        self.halt_reason = Some(reason.clone());
        out.push(audit(ENGINE, "release.halted", None, json!({ "reason": reason })));
        out.push(Action::Halt { reason });
        let observing: Vec<TenantId> =
            self.tenants.iter().filter(|(_, t)| t.phase == TenantPhase::Observing).map(|(id, _)| id.clone()).collect();
        for id in observing {
            self.roll_back(&id, out);
        }
    }

    fn finish_if_idle(&mut self, out: &mut Vec<Action>) {
        let in_flight =
            self.tenants.values().any(|t| matches!(t.phase, TenantPhase::Running(_) | TenantPhase::Observing));
        if in_flight {
            return;
        }
        let outcome = match self.status {
            RolloutStatus::Running | RolloutStatus::Paused => {
                if self.soak_until.is_some() || self.tenants.values().any(|t| t.phase != TenantPhase::Done) {
                    return;
                }
                Outcome::Completed
            }
            RolloutStatus::Halted => {
                let clean =
                    self.tenants.values().all(|t| matches!(t.phase, TenantPhase::Pending | TenantPhase::RolledBack));
                if clean { Outcome::RolledBack } else { Outcome::Halted }
            }
            RolloutStatus::Pending | RolloutStatus::Finished(_) => return,
        };
        self.status = RolloutStatus::Finished(outcome);
        out.push(audit(
            ENGINE,
            "release.finished",
            None,
            json!({ "outcome": outcome, "exposed_tenants": self.exposed_tenants().count() }),
        ));
        out.push(Action::Finish { outcome });
    }

    /// Tenants that ran (or may have run) this release's code or schema.
    pub fn exposed_tenants(&self) -> impl Iterator<Item = &TenantId> {
        self.tenants.iter().filter(|(_, t)| t.exposed()).map(|(id, _)| id)
    }
}

/// What holds tenants back right now: counts of tenants migrating per cluster and pool, in
/// maintenance per pool, and in flight across the release.
struct Load {
    migrating_cluster: BTreeMap<String, u32>,
    migrating_pool: BTreeMap<String, u32>,
    unavailable_pool: BTreeMap<String, u32>,
    in_flight: u32,
}

impl Load {
    fn of(plan: &Plan, tenants: &BTreeMap<TenantId, TenantProgress>) -> Self {
        let mut load = Load {
            migrating_cluster: BTreeMap::new(),
            migrating_pool: BTreeMap::new(),
            unavailable_pool: BTreeMap::new(),
            in_flight: 0,
        };
        for planned in plan.tenants() {
            let phase = tenants[&planned.id].phase;
            let (migrating, unavailable, in_flight) = match phase {
                TenantPhase::Running(StepKind::RestorePoint | StepKind::Migrate | StepKind::Rollback) => {
                    (true, true, true)
                }
                TenantPhase::Running(StepKind::Switch | StepKind::HealthCheck) => (false, true, true),
                TenantPhase::Observing => (false, false, true),
                _ => (false, false, false),
            };
            if migrating {
                *load.migrating_cluster.entry(planned.cluster.clone()).or_default() += 1;
                *load.migrating_pool.entry(planned.pool.clone()).or_default() += 1;
            }
            if unavailable {
                *load.unavailable_pool.entry(planned.pool.clone()).or_default() += 1;
            }
            load.in_flight += u32::from(in_flight);
        }
        load
    }

    /// The limit that refuses one more tenant on `cluster` and `pool`, described, if any.
    fn refuses(&self, g: &Governance, cluster: &str, pool: &str) -> Option<String> {
        let count = |m: &BTreeMap<String, u32>, k: &str| m.get(k).copied().unwrap_or(0);
        if let Some(&max) = g.limits.per_cluster.get(cluster)
            && count(&self.migrating_cluster, cluster) >= max
        {
            return Some(format!("cluster {cluster} busy: at most {max} migrating at once"));
        }
        if let Some(&max) = g.limits.per_pool.get(pool)
            && count(&self.migrating_pool, pool) >= max
        {
            return Some(format!("pool {pool} busy: at most {max} migrating at once"));
        }
        if let Some(&max) = g.limits.unavailable_per_pool.get(pool)
            && count(&self.unavailable_pool, pool) >= max
        {
            return Some(format!("pool {pool} capacity buffer full: at most {max} in maintenance at once"));
        }
        if let Some(max) = g.limits.in_flight
            && self.in_flight >= max
        {
            return Some(format!("release-wide cap reached: at most {max} in flight at once"));
        }
        None
    }

    fn admit(&mut self, cluster: &str, pool: &str) {
        *self.migrating_cluster.entry(cluster.to_owned()).or_default() += 1;
        *self.migrating_pool.entry(pool.to_owned()).or_default() += 1;
        *self.unavailable_pool.entry(pool.to_owned()).or_default() += 1;
        self.in_flight += 1;
    }
}

/// A calendar reason worded as the schedule words it.
fn describe(reason: &Reason) -> String {
    crate::schedule::Wait::from(reason.clone()).to_string()
}

fn step_of(action: &Action) -> StepKind {
    match action {
        Action::TakeRestorePoint { .. } => StepKind::RestorePoint,
        Action::RunMigration { .. } => StepKind::Migrate,
        Action::SwitchVersion { .. } => StepKind::Switch,
        Action::CheckHealth { .. } => StepKind::HealthCheck,
        Action::RollBack { .. } => StepKind::Rollback,
        other => unreachable!("{other:?} is not a step"),
    }
}

/// `details` with the judge's numbers at the tenant's latest look, if a driver sent any.
fn with_look(mut details: Value, tenant: &TenantProgress) -> Value {
    if let (Some(look), Some(map)) = (&tenant.last_look, details.as_object_mut()) {
        map.insert("look".into(), look.clone());
    }
    details
}

fn audit(actor: &str, action: &str, tenant: Option<&TenantId>, details: Value) -> Action {
    Action::Audit(AuditRecord { actor: actor.to_owned(), action: action.to_owned(), tenant: tenant.cloned(), details })
}

impl Action {
    /// The step this action starts, if it starts one.
    pub fn step(&self) -> Option<&StepId> {
        match self {
            Action::TakeRestorePoint { step }
            | Action::RunMigration { step }
            | Action::SwitchVersion { step, .. }
            | Action::CheckHealth { step }
            | Action::RollBack { step, .. } => Some(step),
            _ => None,
        }
    }
}
