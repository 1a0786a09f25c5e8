//! The `sequential` judge (the default): an anytime-valid test per SLI on a difference-in-differences
//! rate ratio, with α split across the SLIs of a release. It may be looked at every interval without
//! inflating false alarms, fails as soon as the evidence of harm is strong, and passes early when a
//! confidence sequence rules out harm of practical size.
//!
//! **Comparison.** Every SLI is reduced per tenant to *hits among trials* since the switch, with the
//! tenant's own pre-release rate of hits `rᵢ` ([`crate::sample::reduce`]; the baseline is read at a
//! tenant's first look and again only if its event count changes): errors among requests,
//! completed among started checkouts, or — for a latency quantile q — requests slower than the tenant's
//! own baseline q-quantile, whose baseline rate is 1 − q. (Testing a quantile through the exceedance
//! probability of a reference value is the construction of Howard & Ramdas, "Sequential estimation of
//! quantiles with applications to A/B-testing and best-arm identification", Bernoulli, 2022.) A tenant
//! with nᵢ trials is *expected* to show eᵢ = rᵢ·nᵢ hits if nothing changed; per arm, observed O = Σ hits
//! and expected E = Σ eᵢ (indirect standardisation, so a busy tenant and a quiet one each count against
//! their own baseline). The effect is the ratio of standardised ratios, treated over control:
//!
//! ρ̂ = (O_T / E_T) / (O_C / E_C),   θ̂ = ln ρ̂,
//!
//! which cancels each tenant's usual level (the baseline) and what changed for everyone at once (the
//! controls): a difference-in-differences on the log scale. Conditional on the total of hits, the
//! treated share is binomial with a success probability that moves with ρ — the conditioning argument of
//! Lindon & Malek, "Anytime-valid inference for multinomial count data" (NeurIPS, 2022), used for
//! canaries by Lindon, Sanden & Shirikian, "Rapid regression detection in software deployments through
//! sequential testing" (KDD, 2022); here the split is tested through the normal approximation of θ̂ so
//! that over-dispersion and baseline noise can enter the variance.
//!
//! **Baselines.** A tenant's own baseline rate is only as good as its hits: its relative variance is
//! about 1/(hᵢ + ½), so a tenant that failed no checkout before the release (hᵢ = 0) has a rate known
//! to within a factor of about four — however long its baseline, since more trials without a hit only
//! lower the rate, not its relative uncertainty. That term does not shrink as the release is watched,
//! and it held the e-value of a 30% checkout failure rate near 3 for good (the demo's v3). For ratio
//! SLIs each tenant's rate is therefore shrunk towards the rate pooled over all tenants' baselines, with
//! the weight of [`SequentialOptions::baseline_prior_hits`] (one hit): a gamma-Poisson (Beta-binomial)
//! random effect per tenant, as in the empirical-Bayes relative risks of Clayton & Kaldor, "Empirical
//! Bayes estimates of age-standardized relative risks for use in disease mapping" (Biometrics, 1987),
//! with the prior's mean estimated (the pooled rate) and its weight fixed. The
//! pooled rate scales both arms' expected counts alike and cancels from θ̂; what remains is each
//! tenant's deviation from it, with a variance of about 1/(hᵢ + 1) — so a baseline with hundreds of
//! hits keeps its own rate, and a clean one counts as a typical tenant's, give or take a factor of e.
//! Quantile SLIs are not pooled: their baseline rate is 1 − q by construction.
//!
//! **Variance.** Var θ̂ is the sum over both arms of (Var O)/Ô² + Σ nᵢ²Var(rᵢ)/E², Ô the count expected
//! under H₀ (the arm's E times the lift both arms share): the post-switch count
//! noise plus the noise of each tenant's baseline rate. Real error counts are burstier than Poisson, and
//! the more so the busier the tenant, so a count's variance is modelled as negative-binomial (NB2,
//! Cameron & Trivedi, "Regression Analysis of Count Data", 2013, §3.2): per look, μ(1 − p) + κμ², with
//! the burstiness κ common to the tenants of an SLI. Var O sums that over the looks and tenants of an
//! arm, at the rates both arms share under H₀ (a score-test variance, which does not shrink when a
//! count happens to run high). κ is estimated by moments from the per-look increments of every arm
//! with two tenants or more, around the arm's own fit (with the leverage correction of that fit), and
//! starts from a cautious prior (twice the binomial variance at the SLI's typical count, worth three
//! looks) so the first looks do not trust a Poisson model blindly. A single treated tenant thus borrows
//! the burstiness measured on the controls.
//!
//! **Test.** H₀: ρ ≤ 1 (no harm) against ρ > 1 in the harmful direction, by the one-sided normal-mixture
//! e-value [`stats::log_mixture_e_value`] with mixing scale τ = 2 · |ln(1 ± effect)|, failing when it
//! reaches k/α for k SLIs — once both arms together counted [`SequentialOptions::min_hits`] hits since
//! the switch (10; a gate on hits *expected* at the baseline rates would never open for an SLI whose
//! baseline is near zero). E-values of different SLIs may be dependent; the union bound still holds, so
//! the family-wise false-alarm rate is at most α (Vovk & Wang, "E-values: calibration, combination and
//! applications", Annals of Statistics, 2021). **Pass** early when the α/k confidence sequence
//! [`stats::mixture_cs_radius`] puts the whole harmful side beyond reach: its upper end below
//! 1 + effect (or its lower end above 1 − effect for SLIs where lower is worse).

use std::collections::HashMap;

use crate::sample::{BaselineRate, Reduced, baseline_rate, since_switch};
use crate::stats;
use crate::{
    Arm, Effect, Error, Finding, Harm, Judge, JudgeConfig, Judgement, Look, Measure, Sample, SliObservations, SliSpec,
    Standing, decide, validate,
};

/// Tuning of the sequential judge; the defaults are what the benchmark measured.
#[derive(Clone, Debug, PartialEq)]
pub struct SequentialOptions {
    /// Mixing scale τ as a multiple of |ln(1 ± effect)|: larger detects large effects sooner and
    /// effects near the practical size later.
    pub mixing: f64,
    /// Hits counted since the switch, both arms together, before the judge may fail an SLI: the test
    /// is of how those hits split between the arms, and a split of fewer is too coarse to trust its
    /// normal approximation. (Not the hits *expected* at the baseline rates: a tenant that had no
    /// failed checkout before the release expects none however long it is watched, so a gate on
    /// expected hits would never let an SLI with a near-zero baseline fail.)
    pub min_hits: f64,
    /// Prior dispersion φ₀ (variance as a multiple of the binomial's, at the SLI's typical count per
    /// tenant and look) and its weight in looks: how κ starts before the data says otherwise.
    pub dispersion_prior: (f64, f64),
    /// Weight, in hits, of the prior that a tenant's baseline rate of a ratio SLI is the rate pooled
    /// over every tenant's baseline: it decides a tenant's rate only while its own baseline has about
    /// as few hits (see the module docs, **Baselines**). 0 turns pooling off.
    pub baseline_prior_hits: f64,
}

impl Default for SequentialOptions {
    fn default() -> Self {
        SequentialOptions { mixing: 2.0, min_hits: 10.0, dispersion_prior: (2.0, 3.0), baseline_prior_hits: 1.0 }
    }
}

/// What the judge remembers of one tenant for one SLI.
#[derive(Clone, Copy, Debug, Default)]
struct TenantState {
    hits: f64,
    trials: f64,
    /// Σ over looks of the squared expected increment under H₀: the κ term of the tenant's variance.
    squared_means: f64,
    /// The baseline as read, under its event count.
    baseline: Option<(f64, BaselineRate)>,
}

/// Per-SLI state: per-tenant memory and the running moment sums for κ.
#[derive(Debug, Default)]
struct SliState {
    index: HashMap<String, usize>,
    tenants: Vec<TenantState>,
    /// Σ (residual² − what Poisson/binomial noise explains).
    excess: f64,
    /// Σ of what one unit of κ would explain.
    per_kappa: f64,
    /// Σ of what binomial noise explains.
    binomial: f64,
    looks: f64,
}

impl SliState {
    /// κ by moments, shrunk towards the prior: `weight` looks whose excess variance is φ₀ − 1 times the
    /// binomial's, which makes the prior free of the SLI's scale (κ₀ = (φ₀ − 1)/typical count).
    fn kappa(&self, (phi0, weight): (f64, f64)) -> f64 {
        if self.looks <= 0.0 || self.per_kappa <= 0.0 {
            return 0.0;
        }
        let prior_excess = weight * (phi0 - 1.0) * self.binomial / self.looks;
        let prior_per_kappa = weight * self.per_kappa / self.looks;
        ((self.excess + prior_excess) / (self.per_kappa + prior_per_kappa)).max(0.0)
    }
}

/// The `sequential` judge. See the module docs.
#[derive(Debug)]
pub struct SequentialJudge {
    slis: Vec<SliSpec>,
    config: JudgeConfig,
    options: SequentialOptions,
    state: Vec<SliState>,
}

impl SequentialJudge {
    /// A judge with the default options.
    pub fn new(slis: Vec<SliSpec>, config: JudgeConfig) -> Result<Self, Error> {
        Self::with_options(slis, config, SequentialOptions::default())
    }

    /// A judge with explicit options.
    pub fn with_options(slis: Vec<SliSpec>, config: JudgeConfig, options: SequentialOptions) -> Result<Self, Error> {
        validate(&slis, &config)?;
        let state = slis.iter().map(|_| SliState::default()).collect();
        Ok(SequentialJudge { slis, config, options, state })
    }

    fn judge_sli(&mut self, index: usize, observations: Option<&SliObservations>) -> Finding {
        let spec = &self.slis[index];
        let k = self.slis.len() as f64;
        let alpha = self.config.alpha / k;
        let scale = match spec.measure {
            Measure::Ratio => "rate ratio (DiD)",
            Measure::Quantile { .. } => "exceedance ratio (DiD)",
        };
        let mut finding = Finding {
            sli: spec.name.clone(),
            standing: Standing::Open,
            effect: None,
            scale,
            statistic: 1.0,
            bar: 1.0 / alpha,
            treated_events: 0.0,
            control_events: 0.0,
        };
        let Some(observations) = observations else { return finding };

        let state = &mut self.state[index];
        let mut reduced: Vec<(usize, Arm, Reduced)> = Vec::with_capacity(observations.tenants.len());
        // Each ratio tenant's own baseline counts (hits, trials), in `reduced`'s order, for pooling.
        let mut own: Vec<(f64, f64)> = Vec::with_capacity(observations.tenants.len());
        if state.tenants.is_empty() {
            state.index.reserve(observations.tenants.len());
            state.tenants.reserve(observations.tenants.len());
        }
        for t in &observations.tenants {
            let slot = match state.index.get(t.tenant.as_str()) {
                Some(&slot) => slot,
                None => {
                    state.tenants.push(TenantState::default());
                    state.index.insert(t.tenant.clone(), state.tenants.len() - 1);
                    state.tenants.len() - 1
                }
            };
            let memory = &mut state.tenants[slot];
            let events = t.baseline.events();
            let base = match memory.baseline {
                Some((seen, base)) if seen == events => base,
                _ => {
                    let Some(base) = baseline_rate(spec.measure, &t.baseline) else { continue };
                    memory.baseline = Some((events, base));
                    base
                }
            };
            let Some((hits, trials)) = since_switch(spec.measure, &t.post, &base) else { continue };
            let r = Reduced { hits, trials, rate: base.rate, rate_var: base.rate_var, reference: base.reference };
            reduced.push((slot, t.arm, r));
            if let Sample::Ratio { hits, trials } = t.baseline {
                own.push((hits, trials));
            }
        }
        if spec.measure == Measure::Ratio && own.len() == reduced.len() {
            pool_baselines(&mut reduced, &own, self.options.baseline_prior_hits);
        }
        let squared_means = update(state, &reduced);
        let kappa = state.kappa(self.options.dispersion_prior);

        let mut treated = ArmSums::default();
        let mut control = ArmSums::default();
        for ((_, arm, r), _) in reduced.iter().zip(&squared_means) {
            let sums = if *arm == Arm::Treated { &mut treated } else { &mut control };
            sums.hits += r.hits;
            sums.trials += r.trials;
            sums.expected += r.rate * r.trials;
            sums.base_var += r.trials * r.trials * r.rate_var;
        }
        finding.treated_events = treated.trials;
        finding.control_events = control.trials;
        if treated.expected <= 0.0 || control.expected <= 0.0 {
            return finding;
        }
        // Under H₀ both arms share one lift over their baselines.
        let lift = (treated.hits + control.hits + 0.5) / (treated.expected + control.expected);
        for ((_, arm, r), m2) in reduced.iter().zip(&squared_means) {
            let sums = if *arm == Arm::Treated { &mut treated } else { &mut control };
            let p = (r.rate * lift).min(1.0);
            sums.post_var += r.trials * p * (1.0 - p);
            sums.burst_var += kappa * m2;
        }
        treated.fitted = treated.expected * lift;
        control.fitted = control.expected * lift;

        let theta = treated.log_ratio() - control.log_ratio();
        let var = treated.variance() + control.variance();
        let (sign, harmful) = match spec.harm {
            Harm::Increase => (1.0, (1.0 + spec.effect).ln()),
            Harm::Decrease => (-1.0, -(1.0 - spec.effect).ln()),
        };
        let tau = self.options.mixing * harmful;
        let tau2 = tau * tau;
        let log_e = stats::log_mixture_e_value(sign * theta, var, tau2);
        let radius = stats::mixture_cs_radius(var, tau2, alpha);
        finding.statistic = log_e.min(700.0).exp();
        finding.effect = Some(Effect {
            estimate: theta.exp(),
            lower: Some((theta - radius).exp()),
            upper: Some((theta + radius).exp()),
        });
        let enough = treated.hits + control.hits >= self.options.min_hits;
        finding.standing = if enough && log_e >= (1.0 / alpha).ln() {
            Standing::Harm
        } else if sign * theta + radius < harmful {
            Standing::NoHarm
        } else {
            Standing::Open
        };
        finding
    }
}

/// Shrinks each tenant's baseline rate towards the rate pooled over all tenants' baselines r̄ (half a
/// hit and one trial added), with the weight of `prior_hits` hits: a Beta prior of mean r̄ worth
/// `prior_hits / r̄` trials, so rᵢ = (hᵢ + m) / (Nᵢ + m/r̄), with the Beta posterior's variance. A
/// baseline with many hits keeps its own rate; one with none gets the fleet's rate with a relative
/// variance of about 1/m, where its own rate smoothed by half a hit had 2 — whatever its length.
fn pool_baselines(reduced: &mut [(usize, Arm, Reduced)], own: &[(f64, f64)], prior_hits: f64) {
    let (hits, trials) = own.iter().fold((0.0, 0.0), |(h, n), o| (h + o.0, n + o.1));
    if prior_hits <= 0.0 || trials <= 0.0 {
        return;
    }
    let pooled = ((hits + 0.5) / (trials + 1.0)).min(1.0);
    let prior_trials = prior_hits / pooled;
    for ((_, _, r), &(hits, trials)) in reduced.iter_mut().zip(own) {
        let trials = trials + prior_trials;
        r.rate = ((hits + prior_hits) / trials).min(1.0);
        r.rate_var = r.rate * (1.0 - r.rate) / (trials + 1.0);
    }
}

/// Per-arm sums behind θ̂ and its variance.
#[derive(Debug, Default)]
struct ArmSums {
    hits: f64,
    trials: f64,
    expected: f64,
    /// Binomial variance of the arm's hits under H₀: Σ nᵢpᵢ(1 − pᵢ).
    post_var: f64,
    /// Burst variance of the arm's hits: κ Σ (squared per-look means).
    burst_var: f64,
    /// Σ nᵢ² Var(rᵢ).
    base_var: f64,
    /// Hits expected under H₀: `expected` times the pooled lift.
    fitted: f64,
}

impl ArmSums {
    fn log_ratio(&self) -> f64 {
        ((self.hits + 0.5) / self.expected).ln()
    }

    fn variance(&self) -> f64 {
        // Half a hit, as in the estimate, keeps an empty count or a certain ratio (completion at 100%)
        // from claiming zero variance, and keeps the variance falling as the fitted count grows.
        let smoothed = self.fitted + 0.5;
        (self.post_var + 0.5) / (smoothed * smoothed)
            + self.burst_var / (self.fitted * self.fitted)
            + self.base_var / (self.expected * self.expected)
    }
}

/// Takes this look's increments: adds each tenant's squared expected increment under H₀ to its memory
/// (returned per tenant, in `reduced`'s order), and the moment sums for κ from each arm with at least
/// two tenants, around that arm's own fit of this look.
fn update(state: &mut SliState, reduced: &[(usize, Arm, Reduced)]) -> Vec<f64> {
    // (arm, Δhits, expected Δhits at the baseline rate, baseline rate)
    let increments: Vec<(Arm, f64, f64, f64)> = reduced
        .iter()
        .map(|(slot, arm, r)| {
            let previous = state.tenants[*slot];
            let dn = (r.trials - previous.trials).max(0.0);
            (*arm, (r.hits - previous.hits).max(0.0), r.rate * dn, r.rate)
        })
        .collect();
    let (all_hits, all_expected) = increments.iter().fold((0.0, 0.0), |(h, e), i| (h + i.1, e + i.2));
    let pooled_lift = if all_expected > 0.0 { (all_hits + 0.5) / all_expected } else { 1.0 };

    let mut counted = false;
    for arm in [Arm::Treated, Arm::Control] {
        let members: Vec<&(Arm, f64, f64, f64)> = increments.iter().filter(|i| i.0 == arm && i.2 > 0.0).collect();
        let arm_expected: f64 = members.iter().map(|i| i.2).sum();
        let arm_hits: f64 = members.iter().map(|i| i.1).sum();
        if members.len() < 2 || arm_expected <= 0.0 {
            continue;
        }
        let lift = arm_hits / arm_expected;
        // For Yᵢ independent with variance aᵢ + κbᵢ and the arm fit Ŷᵢ = hᵢ ΣY (leverage hᵢ = eᵢ/Σe):
        // E Σ (Yᵢ − Ŷᵢ)² = Σ (1 − 2hᵢ)(aᵢ + κbᵢ) + Σhᵢ² · Σ(aⱼ + κbⱼ), linear in κ.
        let (mut a_sum, mut b_sum, mut h2_sum, mut a_lev, mut b_lev, mut residuals) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for &&(_, dh, e, rate) in &members {
            let h = e / arm_expected;
            let mu = e * lift;
            let a = mu * (1.0 - (rate * lift).min(1.0));
            let b = mu * mu;
            a_sum += a;
            b_sum += b;
            h2_sum += h * h;
            a_lev += (1.0 - 2.0 * h) * a;
            b_lev += (1.0 - 2.0 * h) * b;
            let fit = h * arm_hits;
            residuals += (dh - fit) * (dh - fit);
        }
        state.excess += residuals - (a_lev + h2_sum * a_sum);
        state.per_kappa += b_lev + h2_sum * b_sum;
        state.binomial += a_lev + h2_sum * a_sum;
        counted = true;
    }
    if counted {
        state.looks += 1.0;
    }

    reduced
        .iter()
        .zip(&increments)
        .map(|((slot, _, r), (_, _, e, _))| {
            let mean = e * pooled_lift;
            let memory = &mut state.tenants[*slot];
            memory.hits = r.hits;
            memory.trials = r.trials;
            memory.squared_means += mean * mean;
            memory.squared_means
        })
        .collect()
}

impl Judge for SequentialJudge {
    fn name(&self) -> &'static str {
        "sequential"
    }

    fn look(&mut self, look: &Look) -> Judgement {
        let findings: Vec<Finding> = (0..self.slis.len())
            .map(|i| {
                let observations = look.slis.iter().find(|o| o.sli == self.slis[i].name);
                self.judge_sli(i, observations)
            })
            .collect();
        let verdict = decide(&findings, look.elapsed, &self.config, true);
        Judgement { verdict, findings }
    }
}
