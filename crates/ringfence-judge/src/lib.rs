//! Release judges: turn per-tenant SLI observations of treated tenants (on the new release) and control
//! tenants (still on the previous one) into a verdict — fail, pass or continue — at every look.
//!
//! The engine calls [`Judge::look`] every interval with each tenant's *cumulative* observations: its
//! pre-release baseline and what it counted since the switch. Every judge compares each tenant with its
//! own baseline (so a quiet tenant and a busy one can be compared), and the treated tenants with the
//! concurrent controls (so what happens to everyone — a traffic peak, a slow database — is not blamed on
//! the release): a difference-in-differences.
//!
//! Three judges sit behind the trait:
//! - [`sequential`] (the default): anytime-valid tests whose false-alarm rate stays at α however often
//!   one looks, with α split across the SLIs of a release;
//! - [`threshold`]: Flagger/Argo style absolute limits on the treated tenants, N consecutive failures;
//! - [`mann_whitney`]: Kayenta style rank test, at a fixed horizon or (to show why not) at every look.
//!
//! Pure: no I/O, no clock, no randomness. Time arrives as [`Look::elapsed`]. Judges keep state between
//! looks (previous cumulative counts), so the engine must feed one judge instance the looks of one
//! release in order; replaying the same looks rebuilds the same judge.

pub mod mann_whitney;
pub mod sample;
pub mod sequential;
pub mod stats;
pub mod threshold;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use mann_whitney::MannWhitneyJudge;
pub use sequential::SequentialJudge;
pub use threshold::ThresholdJudge;

/// Which side of the comparison a tenant is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// Switched to the new release.
    Treated,
    /// Still on the previous release, observed over the same time.
    Control,
}

/// A histogram as Prometheus exposes it: cumulative counts of observations at or below each upper bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Upper bounds, increasing; the last one should be `+Inf`. Shared between tenants.
    pub bounds: Arc<[f64]>,
    /// Cumulative count per bound (same length as `bounds`); the last is the total.
    pub cumulative: Vec<f64>,
}

/// What one tenant counted for one SLI over a window (a counter increase, or histogram bucket increases).
#[derive(Clone, Debug, PartialEq)]
pub enum Sample {
    /// Two counters: `hits` (errors, completed checkouts…) among `trials` (requests, started checkouts…).
    Ratio {
        /// Events of interest.
        hits: f64,
        /// All events.
        trials: f64,
    },
    /// A latency (or other) distribution.
    Histogram(Histogram),
}

/// One tenant's observations of one SLI.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantObservation {
    /// Tenant id: judges keep per-tenant state under it.
    pub tenant: String,
    /// Treated or control.
    pub arm: Arm,
    /// The pre-release reference window (e.g. the 24 hours before the release started).
    pub baseline: Sample,
    /// Cumulative since the switch (for control tenants: since the same moment).
    pub post: Sample,
}

/// All tenants' observations of one SLI at one look.
#[derive(Clone, Debug, PartialEq)]
pub struct SliObservations {
    /// The SLI's name, as in its [`SliSpec`].
    pub sli: String,
    /// Treated and control tenants, in any order.
    pub tenants: Vec<TenantObservation>,
}

/// What the engine hands the judge at each interval.
#[derive(Clone, Debug, PartialEq)]
pub struct Look {
    /// Time since the switch of the first treated tenant.
    pub elapsed: Duration,
    /// One entry per SLI; SLIs the judge was not configured with are ignored.
    pub slis: Vec<SliObservations>,
}

/// Which change of an SLI hurts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Harm {
    /// Higher is worse (error rates, latency).
    Increase,
    /// Lower is worse (checkout completion, integration success).
    Decrease,
}

/// How an SLI is measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Measure {
    /// `hits / trials` from [`Sample::Ratio`].
    Ratio,
    /// The `q` quantile of [`Sample::Histogram`].
    Quantile {
        /// Between 0 and 1 exclusive, e.g. 0.95.
        q: f64,
    },
}

/// An SLI as the judges see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliSpec {
    /// Name, e.g. `http-error-rate`.
    pub name: String,
    /// Ratio or quantile.
    pub measure: Measure,
    /// Which direction hurts.
    pub harm: Harm,
    /// The practically significant relative change, e.g. 0.2 for "+20%" (or "−20%" when lower is
    /// worse). For quantiles the sequential judge reads it on the exceedance scale: the treated share of
    /// requests slower than the tenant's own baseline quantile, relative to the controls' share.
    pub effect: f64,
    /// Absolute limit on the treated tenants' value (the `threshold` judge's limit; the others ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}

/// An estimated effect and, when the judge has one, its interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Point estimate (a ratio: 1.0 is no change).
    pub estimate: f64,
    /// Lower end of the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// Upper end of the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
}

/// The judge's decision at one look.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// Keep observing.
    Continue,
    /// Enough evidence of no harmful effect, or the observation time is over without harm.
    Pass {
        /// Why, in words.
        why: String,
    },
    /// Harm detected: halt.
    Fail {
        /// The SLI that failed (the first, in configuration order, when several did).
        sli: String,
        /// Its estimated effect.
        effect: Effect,
        /// Why, in words, with the numbers.
        why: String,
    },
}

/// Where one SLI stands at a look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// Harm shown.
    Harm,
    /// No harm of practical size (or nothing to judge).
    NoHarm,
    /// Not enough evidence either way yet.
    Open,
}

/// The numbers behind one SLI's standing.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The SLI.
    pub sli: String,
    /// Harm, no harm, or open.
    pub standing: Standing,
    /// The effect (what it is a ratio of depends on the judge; see `scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// What `effect` measures, e.g. `rate ratio (DiD)`.
    pub scale: &'static str,
    /// The test statistic (an e-value, a p-value, or the SLI's value).
    pub statistic: f64,
    /// Where `statistic` fails the SLI (e-value ≥ bar, p-value ≤ bar, value past the limit).
    pub bar: f64,
    /// Events behind it on treated tenants (trials since the switch).
    pub treated_events: f64,
    /// Events behind it on control tenants.
    pub control_events: f64,
}

/// A verdict and the numbers behind it: what the engine records at every look.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Judgement {
    /// The decision.
    pub verdict: Verdict,
    /// Per SLI, in configuration order.
    pub findings: Vec<Finding>,
}

/// The interface the engine calls every interval.
pub trait Judge: Send {
    /// The judge's name, as written in policy (`sequential`, `threshold`, `mann-whitney`…).
    fn name(&self) -> &'static str;
    /// Judges one look. Looks of one release must arrive in order. The engine acts on the first `Fail`
    /// or `Pass`; a judge fed further looks judges them afresh (a verdict is not sticky).
    fn look(&mut self, look: &Look) -> Judgement;
}

/// Settings shared by all judges.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeConfig {
    /// Family-wise false-alarm rate over all SLIs of a release, e.g. 0.05.
    pub alpha: f64,
    /// Observation time: a judge still undecided at this elapsed time passes.
    pub horizon: Duration,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig { alpha: 0.05, horizon: Duration::from_secs(3 * 3600) }
    }
}

/// What can be wrong with a judge's configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// Unknown judge name.
    #[error("unknown judge {0:?}: use sequential, threshold, mann-whitney or mann-whitney-peeked")]
    UnknownJudge(String),
    /// α outside (0, 1).
    #[error("alpha {0} must be between 0 and 1 exclusive, e.g. 0.05")]
    Alpha(f64),
    /// An SLI that cannot be judged as written.
    #[error("SLI {sli:?}: {problem}")]
    Sli {
        /// The SLI.
        sli: String,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// Checks what every judge relies on.
pub(crate) fn validate(slis: &[SliSpec], config: &JudgeConfig) -> Result<(), Error> {
    if !(config.alpha > 0.0 && config.alpha < 1.0) {
        return Err(Error::Alpha(config.alpha));
    }
    for sli in slis {
        let problem = |p: &str| Err(Error::Sli { sli: sli.name.clone(), problem: p.to_owned() });
        if !(sli.effect > 0.0 && sli.effect.is_finite()) {
            return problem("effect must be a positive fraction, e.g. 0.2 for 20%");
        }
        if sli.harm == Harm::Decrease && sli.effect >= 1.0 {
            return problem("a harmful decrease must be below 100%, e.g. 0.05 for −5%");
        }
        if let Measure::Quantile { q } = sli.measure
            && !(q > 0.0 && q < 1.0)
        {
            return problem("the quantile must be between 0 and 1 exclusive, e.g. 0.95");
        }
    }
    Ok(())
}

/// Builds the judge named in policy: `sequential` (default), `threshold`, `mann-whitney` (fixed horizon)
/// or `mann-whitney-peeked` (tested at every look; for comparison only).
pub fn by_name(name: &str, slis: Vec<SliSpec>, config: JudgeConfig) -> Result<Box<dyn Judge>, Error> {
    Ok(match name {
        "sequential" => Box::new(SequentialJudge::new(slis, config)?),
        "threshold" => Box::new(ThresholdJudge::new(slis, config)?),
        "mann-whitney" => Box::new(MannWhitneyJudge::new(slis, config, mann_whitney::Schedule::fixed_default())?),
        "mann-whitney-peeked" => Box::new(MannWhitneyJudge::new(slis, config, mann_whitney::Schedule::Peeked)?),
        other => return Err(Error::UnknownJudge(other.to_owned())),
    })
}

/// The verdict from findings: the first harmed SLI fails; all SLIs without harm pass; the horizon passes.
pub(crate) fn decide(findings: &[Finding], elapsed: Duration, config: &JudgeConfig, early_pass: bool) -> Verdict {
    if let Some(f) = findings.iter().find(|f| f.standing == Standing::Harm) {
        let effect = f.effect.unwrap_or(Effect { estimate: f64::NAN, lower: None, upper: None });
        let interval = match (effect.lower, effect.upper) {
            (Some(l), Some(u)) => format!(" [{l:.3}, {u:.3}]"),
            _ => String::new(),
        };
        let why = format!(
            "{}: {} {:.3}{} (statistic {:.4} past {:.4}; {} treated vs {} control events)",
            f.sli, f.scale, effect.estimate, interval, f.statistic, f.bar, f.treated_events, f.control_events
        );
        return Verdict::Fail { sli: f.sli.clone(), effect, why };
    }
    if early_pass && !findings.is_empty() && findings.iter().all(|f| f.standing == Standing::NoHarm) {
        return Verdict::Pass { why: "every SLI is shown free of harm of practical size".into() };
    }
    if elapsed >= config.horizon {
        return Verdict::Pass {
            why: format!("observation time {} min is over without harm", config.horizon.as_secs() / 60),
        };
    }
    Verdict::Continue
}
