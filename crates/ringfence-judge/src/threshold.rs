//! The `threshold` judge, as Flagger and Argo Rollouts analyse a canary: at each look, the treated
//! tenants' SLI over the last interval is compared with an absolute limit ([`SliSpec::limit`]), and the
//! SLI fails after `consecutive` looks in a row past it. No control group and no baseline: what it gains
//! in simplicity it pays in false alarms on noisy intervals, or in slow detection once its limit is set
//! high enough to avoid them. SLIs without a limit are not judged.

use crate::{
    Arm, Effect, Error, Finding, Harm, Histogram, Judge, JudgeConfig, Judgement, Look, Sample, SliObservations,
    SliSpec, Standing, decide, validate,
};

/// Tuning of the threshold judge.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdOptions {
    /// Looks in a row past the limit before an SLI fails (Flagger's `threshold`, Argo's `failureLimit`+1).
    pub consecutive: u32,
    /// Events an interval must hold to be judged; emptier intervals neither fail nor reset the count.
    pub min_events: f64,
}

impl Default for ThresholdOptions {
    fn default() -> Self {
        ThresholdOptions { consecutive: 3, min_events: 20.0 }
    }
}

#[derive(Debug, Default)]
struct SliState {
    previous: Option<Sample>,
    streak: u32,
    last_value: Option<f64>,
}

/// The `threshold` judge. See the module docs.
#[derive(Debug)]
pub struct ThresholdJudge {
    slis: Vec<SliSpec>,
    config: JudgeConfig,
    options: ThresholdOptions,
    state: Vec<SliState>,
}

impl ThresholdJudge {
    /// A judge with the default options.
    pub fn new(slis: Vec<SliSpec>, config: JudgeConfig) -> Result<Self, Error> {
        Self::with_options(slis, config, ThresholdOptions::default())
    }

    /// A judge with explicit options.
    pub fn with_options(slis: Vec<SliSpec>, config: JudgeConfig, options: ThresholdOptions) -> Result<Self, Error> {
        validate(&slis, &config)?;
        let state = slis.iter().map(|_| SliState::default()).collect();
        Ok(ThresholdJudge { slis, config, options, state })
    }

    /// Each SLI's treated value over the last interval, as of the latest look (`None` when the interval
    /// held too few events). The benchmark tunes limits from these.
    pub fn last_values(&self) -> Vec<Option<f64>> {
        self.state.iter().map(|s| s.last_value).collect()
    }

    fn judge_sli(&mut self, index: usize, observations: Option<&SliObservations>) -> Finding {
        let spec = &self.slis[index];
        let state = &mut self.state[index];
        let mut finding = Finding {
            sli: spec.name.clone(),
            standing: Standing::Open,
            effect: None,
            scale: "treated value over the last interval",
            statistic: f64::NAN,
            bar: spec.limit.unwrap_or(f64::NAN),
            treated_events: 0.0,
            control_events: 0.0,
        };
        state.last_value = None;
        let Some(observations) = observations else { return finding };
        let (Some(post), baseline) = (pool(observations, |t| &t.post), pool(observations, |t| &t.baseline)) else {
            return finding;
        };
        finding.treated_events = post.events();
        finding.control_events =
            observations.tenants.iter().filter(|t| t.arm == Arm::Control).map(|t| t.post.events()).sum();
        let interval = match &state.previous {
            Some(previous) => post.minus(previous),
            None => post.clone(),
        };
        state.previous = Some(post);
        if interval.events() < self.options.min_events {
            return finding;
        }
        let Some(value) = interval.value(spec.measure) else { return finding };
        state.last_value = Some(value);
        finding.statistic = value;
        let reference = baseline.and_then(|b| b.value(spec.measure)).filter(|v| *v > 0.0);
        finding.effect = reference.map(|r| Effect { estimate: value / r, lower: None, upper: None });
        let Some(limit) = spec.limit else {
            finding.standing = Standing::NoHarm;
            return finding;
        };
        let past = match spec.harm {
            Harm::Increase => value > limit,
            Harm::Decrease => value < limit,
        };
        state.streak = if past { state.streak + 1 } else { 0 };
        if state.streak >= self.options.consecutive {
            finding.standing = Standing::Harm;
        }
        finding
    }
}

/// The treated tenants' samples summed (histograms bucket-wise; those with other bounds are skipped).
fn pool(observations: &SliObservations, pick: impl Fn(&crate::TenantObservation) -> &Sample) -> Option<Sample> {
    let mut pooled: Option<Sample> = None;
    for t in observations.tenants.iter().filter(|t| t.arm == Arm::Treated) {
        let sample = pick(t);
        pooled = Some(match (pooled, sample) {
            (None, s) => s.clone(),
            (Some(Sample::Ratio { hits, trials }), Sample::Ratio { hits: h, trials: n }) => {
                Sample::Ratio { hits: hits + h, trials: trials + n }
            }
            (Some(Sample::Histogram(mut acc)), Sample::Histogram(h)) if acc.bounds == h.bounds => {
                acc.cumulative.iter_mut().zip(&h.cumulative).for_each(|(a, b)| *a += b);
                Sample::Histogram(Histogram { bounds: acc.bounds, cumulative: acc.cumulative })
            }
            (Some(other), _) => other,
        });
    }
    pooled
}

impl Judge for ThresholdJudge {
    fn name(&self) -> &'static str {
        "threshold"
    }

    fn look(&mut self, look: &Look) -> Judgement {
        let findings: Vec<Finding> = (0..self.slis.len())
            .map(|i| {
                let observations = look.slis.iter().find(|o| o.sli == self.slis[i].name);
                self.judge_sli(i, observations)
            })
            .collect();
        let verdict = decide(&findings, look.elapsed, &self.config, false);
        Judgement { verdict, findings }
    }
}
