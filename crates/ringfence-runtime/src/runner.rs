//! The runner: one release's rollout, driven to its end, durable at every step.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use ringfence_audit::{AuditLog, NewEntry, Subject};
use ringfence_core::engine::{Action, Engine, EngineOptions, Event, Outcome, RolloutStatus, StepId, TenantPhase};
use ringfence_core::governance::{Governance, GovernanceError, GovernanceSpec};
use ringfence_core::plan::Plan;
use ringfence_store::{NewRun, RunId, StepKey, StepOutcome, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::driver::{Driver, DriverError, Reconciled};

/// Why the runtime could not go on. The store and the audit trail still hold everything done so far.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] ringfence_store::StoreError),
    /// The audit trail could not be written or read.
    #[error("audit trail {path}: {source}")]
    Audit {
        /// The audit file.
        path: PathBuf,
        /// What failed.
        source: ringfence_audit::AuditError,
    },
    /// The driver failed to talk to the world.
    #[error("driver: {0}")]
    Driver(#[from] DriverError),
    /// Stored state could not be decoded (written by an incompatible version, or damaged).
    #[error("run {run}: stored {what} cannot be decoded: {source}")]
    Decode {
        /// The run.
        run: RunId,
        /// What was being decoded.
        what: &'static str,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The engine believes a step is running that the store has no intent for.
    #[error(
        "run {run}: step {step} is running according to the events, but the store has no intent for it; the state store was changed outside Ringfence"
    )]
    MissingIntent {
        /// The run.
        run: RunId,
        /// The step.
        step: String,
    },
    /// The run's windows, freezes or limits do not compile (an unknown time zone, a refused
    /// break-glass exception).
    #[error("{0}")]
    Governance(#[from] GovernanceError),
    /// The engine waits for nothing and has nothing in flight: paused for an operator (a tenant with
    /// no slot, said in the audit trail), or a bug, reported rather than hung on.
    #[error(
        "run {run}: the rollout is {status} with nothing in flight and nothing to wait for; the audit trail says why"
    )]
    Stalled {
        /// The run.
        run: RunId,
        /// Its status.
        status: String,
    },
}

/// What the store keeps about a run besides its events, so that `resume` can rebuild the engine.
#[derive(Serialize, Deserialize)]
struct RunSpec {
    plan: Plan,
    options: EngineOptions,
    /// Who started the run, so a run that died before its start event was stored can still be started.
    started_by: String,
    /// The windows, freezes and pacing limits the run obeys, as configured when it started, so a
    /// resumed controller applies the same rules (runs recorded before governance have none).
    #[serde(default)]
    governance: Option<GovernanceSpec>,
    /// What the driver was set up with when the run started (for the local driver: its absolute
    /// work directory and secret files), recorded by whoever starts the run so that a resumed run
    /// uses the same whatever the directory or configuration it is resumed from. Opaque here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    driver: Option<Value>,
}

/// The driver settings recorded with a run when it started ([`Runner::start_recorded`]); `None`
/// for a run started without (or before they were recorded).
pub fn recorded_driver_settings(run: &ringfence_store::RunSummary) -> Option<&Value> {
    run.plan.get("driver").filter(|v| !v.is_null())
}

/// The compiled rules, reading time zones from the tz database; none means no windows, freezes or
/// limits beyond the plan's batches.
fn compile(spec: Option<&GovernanceSpec>) -> Result<Governance, RuntimeError> {
    match spec {
        Some(spec) => spec.compile(jiff::tz::TimeZone::get).map_err(RuntimeError::from),
        None => Ok(Governance::default()),
    }
}

/// What resuming found and did.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ResumeReport {
    /// Events replayed into the engine.
    pub events_replayed: usize,
    /// Actions of the last event that had not all been carried out, carried out now.
    pub actions_completed: usize,
    /// Interrupted steps and what reconciling them found, e.g. `acme/migrate#1: finished`.
    pub reconciled: Vec<String>,
}

/// Asked before each tenant's first step (its restore point) whether the tenant may start now:
/// `Err(why)` makes that step fail with the reason, so the tenant goes through the engine's failure
/// path (nothing of it was changed yet) and the release halts in a recorded state. The policy gates
/// of the binary are one (approvals and evidence judged again at each tenant's start).
pub type Gatekeeper = Box<dyn FnMut(Timestamp, &StepId) -> Result<(), String>>;

/// Drives one release's engine to its end through a driver, persisting as it goes.
pub struct Runner<S: Store, D: Driver> {
    store: S,
    audit: AuditLog,
    audit_path: PathBuf,
    driver: D,
    engine: Engine,
    run: RunId,
    gatekeeper: Option<Gatekeeper>,
}

impl<S: Store, D: Driver> Runner<S, D> {
    /// Records a new run of `plan` and starts it.
    pub fn start(
        store: S,
        audit_path: &Path,
        driver: D,
        plan: Plan,
        options: EngineOptions,
        actor: &str,
    ) -> Result<Self, RuntimeError> {
        Self::start_governed(store, audit_path, driver, plan, options, None, actor)
    }

    /// Records a new run of `plan` that starts each tenant only when `governance` allows (its
    /// windows, the freezes, the pacing limits), and starts it.
    pub fn start_governed(
        store: S,
        audit_path: &Path,
        driver: D,
        plan: Plan,
        options: EngineOptions,
        governance: Option<GovernanceSpec>,
        actor: &str,
    ) -> Result<Self, RuntimeError> {
        Self::start_gated(store, audit_path, driver, (plan, options, governance), actor, None)
    }

    /// [`Runner::start_governed`], asking `gatekeeper` before each tenant's first step — from the
    /// very first, which the start itself may take.
    pub fn start_gated(
        store: S,
        audit_path: &Path,
        driver: D,
        run: (Plan, EngineOptions, Option<GovernanceSpec>),
        actor: &str,
        gatekeeper: Option<Gatekeeper>,
    ) -> Result<Self, RuntimeError> {
        Self::start_recorded(store, audit_path, driver, run, actor, gatekeeper, None)
    }

    /// [`Runner::start_gated`], recording `settings` (what `driver` was set up with) with the run;
    /// [`recorded_driver_settings`] reads them back before a resume.
    pub fn start_recorded(
        mut store: S,
        audit_path: &Path,
        driver: D,
        (plan, options, governance): (Plan, EngineOptions, Option<GovernanceSpec>),
        actor: &str,
        gatekeeper: Option<Gatekeeper>,
        settings: Option<Value>,
    ) -> Result<Self, RuntimeError> {
        let compiled = compile(governance.as_ref())?;
        let audit = open_audit(audit_path)?;
        let now = driver.now();
        let spec = RunSpec {
            plan: plan.clone(),
            options: options.clone(),
            started_by: actor.to_owned(),
            governance,
            driver: settings,
        };
        let run = store.create_run(&NewRun {
            release_version: plan.release.clone(),
            replaces: plan.replaces.clone(),
            plan: serde_json::to_value(&spec).expect("plans serialise"),
            created_at: now,
        })?;
        let engine = Engine::governed(plan, options, compiled);
        let mut runner = Runner { store, audit, audit_path: audit_path.to_owned(), driver, engine, run, gatekeeper };
        runner.feed(now, Event::Start { actor: actor.to_owned() })?;
        Ok(runner)
    }

    /// Rebuilds run `run` from the store after a crash or a stop, finishes what was interrupted, and
    /// returns a runner ready to go on.
    pub fn resume(store: S, audit_path: &Path, driver: D, run: RunId) -> Result<(Self, ResumeReport), RuntimeError> {
        Self::resume_gated(store, audit_path, driver, run, None)
    }

    /// [`Runner::resume`], asking `gatekeeper` before each tenant's first step from now on (the
    /// interrupted event's remaining actions included).
    pub fn resume_gated(
        store: S,
        audit_path: &Path,
        driver: D,
        run: RunId,
        gatekeeper: Option<Gatekeeper>,
    ) -> Result<(Self, ResumeReport), RuntimeError> {
        // A crash in the middle of an audit append leaves an unterminated last line; cut it (kept aside
        // as evidence) so the chain continues. The record it held is written again below, since its
        // `ref` is then missing from the trail.
        let (audit, torn) = AuditLog::open_recovering(audit_path)
            .map_err(|source| RuntimeError::Audit { path: audit_path.to_owned(), source })?;
        let summary = store.run(run)?;
        let spec: RunSpec = serde_json::from_value(summary.plan.clone()).map_err(|source| RuntimeError::Decode {
            run,
            what: "plan",
            source,
        })?;
        let applied =
            store.snapshot(run)?.and_then(|s| s.state.get("applied_seq").and_then(Value::as_u64)).unwrap_or(0);
        let mut runner = Runner {
            store,
            audit,
            audit_path: audit_path.to_owned(),
            driver,
            engine: Engine::governed(spec.plan, spec.options, compile(spec.governance.as_ref())?),
            run,
            gatekeeper,
        };
        let mut report = ResumeReport::default();
        if let Some(torn) = torn {
            report.reconciled.push(format!(
                "audit trail: an incomplete last line ({} bytes, line {}) was cut and kept in {}",
                torn.bytes,
                torn.line,
                torn.saved_to.display()
            ));
            let entry = NewEntry {
                ts: runner.driver.now(),
                actor: "ringfence".into(),
                action: "audit.torn_line_recovered".into(),
                subject: Subject { release: runner.engine.plan().release.clone(), tenant: None },
                details: json!({ "line": torn.line, "bytes": torn.bytes, "saved_to": torn.saved_to.display().to_string() }),
            };
            runner.audit.append(entry).map_err(|source| RuntimeError::Audit { path: audit_path.to_owned(), source })?;
        }
        let events = runner.store.events(run)?;
        if events.is_empty() {
            // The controller died between recording the run and recording its start: start it now.
            report.reconciled.push(format!("run {run}: recorded but never started, starting"));
            let now = runner.driver.now();
            runner.feed(now, Event::Start { actor: spec.started_by })?;
            return Ok((runner, report));
        }
        for stored in events {
            let event: Event = serde_json::from_value(stored.event).map_err(|source| RuntimeError::Decode {
                run,
                what: "event",
                source,
            })?;
            let actions = runner.engine.handle(stored.at, event);
            report.events_replayed += 1;
            if stored.seq > applied {
                report.actions_completed += runner.execute(stored.seq, stored.at, actions, true)?;
                runner.save_snapshot(stored.seq, stored.at)?;
            }
        }
        runner.reconcile(&mut report)?;
        Ok((runner, report))
    }

    /// The run's id in the store.
    pub fn run_id(&self) -> RunId {
        self.run
    }

    /// The engine, for reporting.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The driver, for reporting.
    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// Ends the runner and hands back its store and driver, e.g. to carry out the next release with the
    /// same running tenants.
    pub fn into_parts(self) -> (S, D) {
        (self.store, self.driver)
    }

    /// Gives an operator command to the engine.
    pub fn command(&mut self, event: Event) -> Result<(), RuntimeError> {
        let now = self.driver.now();
        self.feed(now, event)
    }

    /// Drives the rollout until it finishes, calling `progress` after each event.
    pub fn run_to_end(&mut self, mut progress: impl FnMut(&Engine, &Event)) -> Result<Outcome, RuntimeError> {
        loop {
            if let RolloutStatus::Finished(outcome) = self.engine.status() {
                return Ok(outcome);
            }
            let wake = self.engine.next_wake();
            let in_flight = self
                .engine
                .tenants()
                .values()
                .any(|t| matches!(t.phase, TenantPhase::Running(_) | TenantPhase::Observing));
            if wake.is_none() && !in_flight {
                return Err(RuntimeError::Stalled { run: self.run, status: status_of(&self.engine) });
            }
            let events = self.driver.wait(wake)?;
            let now = self.driver.now();
            if events.is_empty() {
                if wake.is_some_and(|w| w <= now) {
                    self.feed(now, Event::Tick)?;
                    progress(&self.engine, &Event::Tick);
                }
                continue;
            }
            for event in events {
                if self.record_outcome(now, &event)? {
                    self.feed(now, event.clone())?;
                    progress(&self.engine, &event);
                }
            }
        }
    }

    /// Records a step's outcome before the engine hears of it. Returns false for a duplicate report.
    fn record_outcome(&mut self, now: Timestamp, event: &Event) -> Result<bool, RuntimeError> {
        let (step, outcome) = match event {
            Event::StepSucceeded { step, detail } => (step, StepOutcome { succeeded: true, detail: detail.clone() }),
            Event::StepFailed { step, reason } => {
                (step, StepOutcome { succeeded: false, detail: json!({ "reason": reason }) })
            }
            _ => return Ok(true),
        };
        match self.store.record_outcome(self.run, &key(step), now, &outcome) {
            Ok(()) => Ok(true),
            Err(ringfence_store::StoreError::OutcomeAlreadyRecorded { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends `event`, lets the engine decide, carries out its actions and marks the event applied.
    fn feed(&mut self, now: Timestamp, event: Event) -> Result<(), RuntimeError> {
        let seq = self.store.append_event(self.run, now, &serde_json::to_value(&event).expect("events serialise"))?;
        let actions = self.engine.handle(now, event);
        self.execute(seq, now, actions, false)?;
        self.save_snapshot(seq, now)
    }

    fn save_snapshot(&mut self, seq: u64, now: Timestamp) -> Result<(), RuntimeError> {
        let state = json!({ "applied_seq": seq, "engine": self.engine });
        self.store.save_snapshot(self.run, now, &status_of(&self.engine), &state)?;
        Ok(())
    }

    /// Carries out `actions` of event `seq`. When `resuming`, skips what was already done before a
    /// crash. Returns how many actions it carried out.
    fn execute(
        &mut self,
        seq: u64,
        now: Timestamp,
        actions: Vec<Action>,
        resuming: bool,
    ) -> Result<usize, RuntimeError> {
        let done_refs: HashSet<String> = if resuming { self.audit_refs()? } else { HashSet::new() };
        let started: HashSet<StepKey> =
            if resuming { self.store.steps(self.run)?.into_iter().map(|s| s.key).collect() } else { HashSet::new() };
        let mut carried_out = 0;
        for (index, action) in actions.into_iter().enumerate() {
            match &action {
                Action::Audit(record) => {
                    let reference = format!("run-{}/event-{seq}/action-{index}", self.run);
                    if done_refs.contains(&reference) {
                        continue;
                    }
                    let mut details = record.details.clone();
                    if let Value::Object(map) = &mut details {
                        map.insert("ref".into(), Value::String(reference));
                    } else {
                        details = json!({ "value": details, "ref": reference });
                    }
                    let entry = NewEntry {
                        ts: now,
                        actor: record.actor.clone(),
                        action: record.action.clone(),
                        subject: Subject {
                            release: self.engine.plan().release.clone(),
                            tenant: record.tenant.as_ref().map(|t| t.to_string()),
                        },
                        details,
                    };
                    self.audit
                        .append(entry)
                        .map_err(|source| RuntimeError::Audit { path: self.audit_path.clone(), source })?;
                }
                Action::StartObservation { tenant, until } => self.driver.start_observation(tenant, *until)?,
                Action::StopObservation { tenant } => self.driver.stop_observation(tenant)?,
                Action::WakeAt { .. } | Action::Halt { .. } | Action::Finish { .. } => {}
                Action::TakeRestorePoint { step }
                | Action::RunMigration { step }
                | Action::SwitchVersion { step, .. }
                | Action::CheckHealth { step }
                | Action::RollBack { step, .. } => {
                    if started.contains(&key(step)) {
                        continue; // Its intent exists: reconciling decides what became of it.
                    }
                    let detail = serde_json::to_value(&action).expect("actions serialise");
                    self.store.record_intent(self.run, &key(step), now, &detail)?;
                    self.start_step(now, &action)?;
                }
            }
            carried_out += 1;
        }
        Ok(carried_out)
    }

    /// Starts a step whose intent is recorded. A driver that cannot even start it makes the step fail,
    /// so the tenant goes through the engine's failure path and ends in a recorded state.
    fn start_step(&mut self, now: Timestamp, action: &Action) -> Result<(), RuntimeError> {
        if let (Action::TakeRestorePoint { step }, Some(gate)) = (action, self.gatekeeper.as_mut())
            && let Err(why) = gate(now, step)
        {
            let failed = Event::StepFailed { step: step.clone(), reason: format!("not started, gates: {why}") };
            self.record_outcome(now, &failed)?;
            return self.feed(now, failed);
        }
        if let Err(error) = self.driver.start_step(action) {
            let step = action.step().expect("step actions have a step").clone();
            let failed = Event::StepFailed { step, reason: format!("could not start: {error}") };
            self.record_outcome(now, &failed)?;
            self.feed(now, failed)?;
        }
        Ok(())
    }

    /// After replay, settles every tenant the engine believes is mid-step, and restarts observations.
    fn reconcile(&mut self, report: &mut ResumeReport) -> Result<(), RuntimeError> {
        let records = self.store.steps(self.run)?;
        let mut running = Vec::new();
        let mut observing = Vec::new();
        for (id, t) in self.engine.tenants() {
            match t.phase {
                TenantPhase::Running(kind) => running.push(StepId { tenant: id.clone(), kind, attempt: 1 }),
                TenantPhase::Observing => observing.push((id.clone(), t.observe_until)),
                _ => {}
            }
        }
        for (tenant, until) in observing {
            // The observation lived in the dead process; start it again for the time that is left.
            if let Some(until) = until {
                self.driver.start_observation(&tenant, until)?;
                report.reconciled.push(format!("{tenant}: observation restarted"));
            }
        }
        for step in running {
            let now = self.driver.now();
            let Some(record) = records.iter().find(|r| r.key == key(&step)) else {
                return Err(RuntimeError::MissingIntent { run: self.run, step: step.to_string() });
            };
            let action: Action = serde_json::from_value(record.detail.clone())
                .map_err(|source| RuntimeError::Decode { run: self.run, what: "step intent", source })?;
            if let Some(outcome) = &record.outcome {
                // The outcome was stored but the engine never heard of it.
                report.reconciled.push(format!("{step}: outcome already recorded, delivered"));
                self.feed(now, outcome_event(&step, outcome))?;
                continue;
            }
            match self.driver.reconcile(&action)? {
                Reconciled::Finished(event) => {
                    report.reconciled.push(format!("{step}: finished while the controller was down"));
                    if self.record_outcome(now, &event)? {
                        self.feed(now, event)?;
                    }
                }
                Reconciled::Running => report.reconciled.push(format!("{step}: still running")),
                Reconciled::NotStarted => {
                    report.reconciled.push(format!("{step}: had not started, starting"));
                    self.start_step(now, &action)?;
                }
            }
        }
        Ok(())
    }

    /// The `ref`s of audit records already written, so a resumed event does not write them twice.
    fn audit_refs(&self) -> Result<HashSet<String>, RuntimeError> {
        let entries = ringfence_audit::read_entries(&self.audit_path)
            .map_err(|source| RuntimeError::Audit { path: self.audit_path.clone(), source })?;
        Ok(entries
            .into_iter()
            .filter_map(|e| e.details.get("ref").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }
}

fn open_audit(path: &Path) -> Result<AuditLog, RuntimeError> {
    AuditLog::open(path).map_err(|source| RuntimeError::Audit { path: path.to_owned(), source })
}

fn key(step: &StepId) -> StepKey {
    StepKey { tenant: step.tenant.to_string(), step: step.kind.as_str().to_owned(), attempt: step.attempt }
}

fn outcome_event(step: &StepId, outcome: &StepOutcome) -> Event {
    if outcome.succeeded {
        Event::StepSucceeded { step: step.clone(), detail: outcome.detail.clone() }
    } else {
        let reason = outcome.detail.get("reason").and_then(Value::as_str).unwrap_or("failed").to_owned();
        Event::StepFailed { step: step.clone(), reason }
    }
}

/// A one-word status for the store and `ringfence status`: `running`, `paused`, `halted`, or the outcome.
pub fn status_of(engine: &Engine) -> String {
    match engine.status() {
        RolloutStatus::Pending => "pending".into(),
        RolloutStatus::Running => "running".into(),
        RolloutStatus::Paused => "paused".into(),
        RolloutStatus::Halted => "halted".into(),
        RolloutStatus::Finished(outcome) => outcome.as_str().into(),
    }
}
