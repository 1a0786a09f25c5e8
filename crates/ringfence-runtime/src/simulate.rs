//! A simulated fleet: a [`Driver`] whose tenants exist only in a world file, with a virtual clock.
//!
//! It lets an operator rehearse a rollout's control flow (`ringfence rollout --driver simulate`) and lets
//! tests kill a real controller process and resume it. Steps take configured virtual durations, chosen
//! tenants fail at chosen steps, and the world (virtual clock, every step started and how often) is
//! written to a file after each change, so a resumed controller finds the world as the dead one left
//! it, and a test can prove no step ran twice. Nothing here touches a database or a process.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use jiff::Timestamp;
use ringfence_core::Duration;
use ringfence_core::engine::{Action, Event, StepKind, Verdict};
use ringfence_core::model::TenantId;
use serde::{Deserialize, Serialize};

use crate::driver::{Driver, DriverError, Reconciled};

/// Where a simulated tenant fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailAt {
    /// At this step.
    Step(StepKind),
    /// Its observation finds harm.
    Observation,
}

/// A failure to inject: `TENANT:STEP`, where STEP is `restore-point`, `migrate`, `switch`,
/// `health-check`, `rollback` or `observation`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FailPoint {
    /// The tenant.
    pub tenant: TenantId,
    /// Where it fails.
    pub at: FailAt,
}

impl FromStr for FailPoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tenant, at) =
            s.rsplit_once(':').ok_or_else(|| format!("{s:?}: write TENANT:STEP, e.g. corner-bakery:migrate"))?;
        let at = match at {
            "restore-point" => FailAt::Step(StepKind::RestorePoint),
            "migrate" => FailAt::Step(StepKind::Migrate),
            "switch" => FailAt::Step(StepKind::Switch),
            "health-check" => FailAt::Step(StepKind::HealthCheck),
            "rollback" => FailAt::Step(StepKind::Rollback),
            "observation" => FailAt::Observation,
            other => {
                return Err(format!(
                    "{other:?} is not a step: use restore-point, migrate, switch, health-check, rollback or observation"
                ));
            }
        };
        Ok(FailPoint { tenant: TenantId(tenant.to_owned()), at })
    }
}

/// How the simulated fleet behaves.
#[derive(Clone, Debug)]
pub struct SimulationOptions {
    /// Virtual time at which the simulation starts.
    pub start: Timestamp,
    /// Virtual duration of each step kind.
    pub durations: BTreeMap<StepKind, Duration>,
    /// Injected failures.
    pub failures: BTreeSet<FailPoint>,
    /// Real time to pause after each reported event, so a person (or a test) can watch or interrupt.
    pub pace: std::time::Duration,
    /// Where the world is kept.
    pub world: PathBuf,
}

impl SimulationOptions {
    /// Plausible step durations for a mid-sized Odoo tenant, starting at `start`, world kept at `world`.
    pub fn new(start: Timestamp, world: PathBuf) -> Self {
        let durations = BTreeMap::from([
            (StepKind::RestorePoint, Duration::from_secs(90)),
            (StepKind::Migrate, Duration::from_mins(6)),
            (StepKind::Switch, Duration::from_secs(20)),
            (StepKind::HealthCheck, Duration::from_secs(10)),
            (StepKind::Rollback, Duration::from_mins(4)),
        ]);
        SimulationOptions { start, durations, failures: BTreeSet::new(), pace: std::time::Duration::ZERO, world }
    }
}

/// One step as the simulated world saw it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SimStep {
    finishes: Timestamp,
    result: Event,
    executions: u32,
    reported: bool,
}

/// One observation in progress.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SimObservation {
    fails_at: Option<Timestamp>,
}

/// Everything the simulated fleet remembers, persisted after each change.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct World {
    now: Timestamp,
    failures: BTreeSet<FailPoint>,
    durations: BTreeMap<StepKind, Duration>,
    steps: BTreeMap<String, SimStep>,
    observations: BTreeMap<TenantId, SimObservation>,
}

/// The simulated driver.
pub struct SimulatedDriver {
    world: World,
    path: PathBuf,
    pace: std::time::Duration,
}

impl SimulatedDriver {
    /// A new simulated world, replacing any world file at `options.world`.
    pub fn create(options: SimulationOptions) -> Result<Self, DriverError> {
        let world = World {
            now: options.start,
            failures: options.failures,
            durations: options.durations,
            steps: BTreeMap::new(),
            observations: BTreeMap::new(),
        };
        let driver = SimulatedDriver { world, path: options.world, pace: options.pace };
        driver.save()?;
        Ok(driver)
    }

    /// The world a previous (possibly killed) controller left at `path`.
    pub fn open(path: &Path, pace: std::time::Duration) -> Result<Self, DriverError> {
        let world = load(path)?;
        Ok(SimulatedDriver { world, path: path.to_owned(), pace })
    }

    /// How many times each step was executed in the world at `path` (each must be 1).
    pub fn executions(path: &Path) -> Result<BTreeMap<String, u32>, DriverError> {
        Ok(load(path)?.steps.into_iter().map(|(id, s)| (id, s.executions)).collect())
    }

    fn fails(&self, tenant: &TenantId, at: FailAt) -> bool {
        self.world.failures.contains(&FailPoint { tenant: tenant.clone(), at })
    }

    fn save(&self) -> Result<(), DriverError> {
        let text = serde_json::to_vec_pretty(&self.world).expect("the world serialises");
        // Write then rename, so a kill mid-write never leaves half a world behind.
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| DriverError(format!("cannot write simulated world {}: {e}", self.path.display())))
    }
}

fn load(path: &Path) -> Result<World, DriverError> {
    let text =
        std::fs::read(path).map_err(|e| DriverError(format!("cannot read simulated world {}: {e}", path.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| DriverError(format!("simulated world {} is damaged: {e}", path.display())))
}

impl Driver for SimulatedDriver {
    fn now(&self) -> Timestamp {
        self.world.now
    }

    fn start_step(&mut self, action: &Action) -> Result<(), DriverError> {
        let step = action.step().ok_or_else(|| DriverError(format!("{action:?} is not a step")))?.clone();
        let duration = self.world.durations.get(&step.kind).copied().unwrap_or_default();
        let result = if self.fails(&step.tenant, FailAt::Step(step.kind)) {
            Event::StepFailed { step: step.clone(), reason: format!("simulated failure of {}", step.kind) }
        } else {
            Event::StepSucceeded { step: step.clone(), detail: serde_json::json!({ "simulated": true }) }
        };
        let entry = self.world.steps.entry(step.to_string()).or_insert(SimStep {
            finishes: duration.after(self.world.now),
            result,
            executions: 0,
            reported: false,
        });
        entry.executions += 1;
        self.save()
    }

    fn start_observation(&mut self, tenant: &TenantId, until: Timestamp) -> Result<(), DriverError> {
        // A failing tenant shows harm a third of the way into its window.
        let fails_at = self.fails(tenant, FailAt::Observation).then(|| self.world.now + (until - self.world.now) / 3);
        self.world.observations.insert(tenant.clone(), SimObservation { fails_at });
        self.save()
    }

    fn stop_observation(&mut self, tenant: &TenantId) -> Result<(), DriverError> {
        self.world.observations.remove(tenant);
        self.save()
    }

    fn wait(&mut self, wake: Option<Timestamp>) -> Result<Vec<Event>, DriverError> {
        let next_step = self
            .world
            .steps
            .iter()
            .filter(|(_, s)| !s.reported)
            .min_by_key(|(_, s)| s.finishes)
            .map(|(id, s)| (id.clone(), s.finishes));
        let next_fail = self
            .world
            .observations
            .iter()
            .filter_map(|(t, o)| o.fails_at.map(|at| (t.clone(), at)))
            .min_by_key(|(_, at)| *at);
        let step_due = next_step.as_ref().map(|(_, at)| *at);
        let fail_due = next_fail.as_ref().map(|(_, at)| *at);
        let earliest_event = match (step_due, fail_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let events = match (earliest_event, wake) {
            (None, None) => {
                // The runtime only waits when it believes something is in flight or due; a world with
                // nothing pending disagrees with the engine, and waiting would never end.
                return Err(DriverError(
                    "the simulated world has no step in flight and nothing due, but the rollout waits for one".into(),
                ));
            }
            (Some(at), Some(w)) if w < at => {
                self.world.now = self.world.now.max(w);
                vec![]
            }
            (None, Some(w)) => {
                self.world.now = self.world.now.max(w);
                vec![]
            }
            (Some(at), _) => {
                self.world.now = self.world.now.max(at);
                if step_due == Some(at) {
                    let (id, _) = next_step.expect("a step is due");
                    let step = self.world.steps.get_mut(&id).expect("known step");
                    step.reported = true;
                    vec![step.result.clone()]
                } else {
                    let (tenant, _) = next_fail.expect("a failure is due");
                    self.world.observations.remove(&tenant);
                    vec![Event::Observation {
                        tenant,
                        verdict: Verdict::Fail { reason: "simulated: checkout error rate 9.5% > limit 2%".into() },
                    }]
                }
            }
        };
        self.save()?;
        if !self.pace.is_zero() {
            std::thread::sleep(self.pace);
        }
        Ok(events)
    }

    fn reconcile(&mut self, action: &Action) -> Result<Reconciled, DriverError> {
        let step = action.step().ok_or_else(|| DriverError(format!("{action:?} is not a step")))?;
        let Some(sim) = self.world.steps.get_mut(&step.to_string()) else {
            return Ok(Reconciled::NotStarted);
        };
        if sim.finishes <= self.world.now {
            sim.reported = true;
            let result = sim.result.clone();
            self.save()?;
            Ok(Reconciled::Finished(result))
        } else {
            // Not reported yet, so wait() hands it out when it is due.
            sim.reported = false;
            self.save()?;
            Ok(Reconciled::Running)
        }
    }
}
