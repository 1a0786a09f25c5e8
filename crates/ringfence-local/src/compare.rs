//! The comparative judge as the local driver runs it: the observed tenant and its control tenants,
//! each measured against its own pre-release baseline, handed to a `ringfence-judge` judge (the
//! policy's `judge.method`, `sequential` by default) at every scrape.
//!
//! Baselines: the observed tenant's counters scraped just before its restore point (what its
//! previous-version process counted since it started), and each control's counters when the
//! observation starts. After the switch the observed tenant's new process counts from zero; a
//! control's counts are taken since the observation started.
//!
//! Each look's numbers go to the engine as an `Event::Look` — the driver sends one when the verdict or
//! an SLI's standing changed (see [`Comparison::numbers`]), before a verdict that ends the observation
//! and at its last look — so the audit trail has the evidence at every turn without a record per
//! scrape.
//!
//! Not here: scraping (`metrics`), the absolute limits (`ringfence_core::judge`), and what a verdict
//! does to the rollout (the engine).

use std::sync::Arc;
use std::time::Duration;

use ringfence_core::judge::{Counted, Scrape, Window, counted};
use ringfence_core::model::{Harm, JudgeSpec, Sli, TenantId};
use ringfence_judge::{Arm, Histogram, Judge, JudgeConfig, Judgement, Look, Measure, Sample, SliObservations, SliSpec};
use ringfence_judge::{Standing, TenantObservation, by_name};
use serde_json::json;

/// One observed tenant's judge and the SLIs it judges.
pub(crate) struct Comparison {
    judge: Box<dyn Judge>,
    slis: Vec<Sli>,
    /// The verdict and standings of the latest look whose numbers were reported as changed.
    reported: Option<(String, Vec<Standing>)>,
}

/// One tenant's scrapes for a look: its baseline (cumulative counters before the release reached
/// it) and the window since the comparison started.
pub(crate) struct TenantScrapes<'a> {
    pub id: &'a TenantId,
    pub arm: Arm,
    pub baseline: &'a Scrape,
    pub post: Window<'a>,
}

impl Comparison {
    /// The policy's comparative judge for an observation of `horizon`, or `None` when the policy
    /// judges by its limits only or has no SLI to compare.
    pub fn new(spec: &JudgeSpec, slis: &[Sli], horizon: Duration) -> Result<Option<Self>, String> {
        let Some(name) = spec.method.judge_name() else { return Ok(None) };
        let judged: Vec<Sli> = slis.iter().filter(|s| s.ratio.is_some() || s.quantile.is_some()).cloned().collect();
        if judged.is_empty() {
            return Ok(None);
        }
        let specs = judged.iter().map(spec_of).collect();
        let judge = by_name(name, specs, JudgeConfig { alpha: spec.alpha, horizon }).map_err(|e| e.to_string())?;
        Ok(Some(Comparison { judge, slis: judged, reported: None }))
    }

    /// Judges one look taken `elapsed` after the observation started.
    pub fn look(&mut self, elapsed: Duration, tenants: &[TenantScrapes<'_>]) -> ringfence_judge::Judgement {
        let empty = Scrape::default();
        let slis = self
            .slis
            .iter()
            .map(|sli| SliObservations {
                sli: sli.name.clone(),
                tenants: tenants
                    .iter()
                    .filter_map(|t| {
                        let baseline = counted(sli, Window { start: &empty, end: t.baseline })?;
                        let post = counted(sli, t.post)?;
                        Some(TenantObservation {
                            tenant: t.id.to_string(),
                            arm: t.arm,
                            baseline: sample(baseline),
                            post: sample(post),
                        })
                    })
                    .collect(),
            })
            .collect();
        self.judge.look(&Look { elapsed, slis })
    }

    /// A look's numbers as the engine records them (`Event::Look`): the judge, the time since the
    /// observation started, the verdict and the findings. Also says whether the verdict or an SLI's
    /// standing differs from the last look it said so of (the first look always does): the statistics
    /// move at every scrape, and a record each time would bury the turns that matter.
    pub fn numbers(&mut self, judged: &Judgement, elapsed: Duration) -> (bool, serde_json::Value) {
        let verdict = match &judged.verdict {
            ringfence_judge::Verdict::Continue => "continue",
            ringfence_judge::Verdict::Pass { .. } => "pass",
            ringfence_judge::Verdict::Fail { .. } => "fail",
        };
        let now = (verdict.to_owned(), judged.findings.iter().map(|f| f.standing).collect::<Vec<_>>());
        let changed = self.reported.as_ref() != Some(&now);
        if changed {
            self.reported = Some(now);
        }
        let numbers = json!({
            "judge": self.judge.name(),
            "elapsedSeconds": elapsed.as_secs_f64(),
            "verdict": judged.verdict,
            "findings": judged.findings,
        });
        (changed, numbers)
    }
}

fn spec_of(sli: &Sli) -> SliSpec {
    SliSpec {
        name: sli.name.clone(),
        measure: match &sli.quantile {
            Some(q) => Measure::Quantile { q: q.q },
            None => Measure::Ratio,
        },
        harm: match sli.harm {
            Harm::Increase => ringfence_judge::Harm::Increase,
            Harm::Decrease => ringfence_judge::Harm::Decrease,
        },
        effect: sli.effect,
        limit: sli.max,
    }
}

fn sample(counted: Counted) -> Sample {
    match counted {
        Counted::Ratio { errors, total } => Sample::Ratio { hits: errors, trials: total },
        Counted::Histogram { bounds, cumulative } => {
            Sample::Histogram(Histogram { bounds: Arc::from(bounds.into_boxed_slice()), cumulative })
        }
    }
}
