//! Risk classification: from what a release changes to a risk tier (low / medium / high / critical),
//! per tenant and for the release, with the facts behind every tier.
//!
//! Facts arrive as a [`RiskInput`] (`input`): built from the Odoo change analysis
//! (`ringfence_odoo::facts::{ReleaseFacts, TenantFacts}`), SQL lint findings (`ringfence_lint::Finding`)
//! and rehearsal results, or by hand for config-only changes. [`classify`] (`classify`) maps each fact to
//! a tier through the [`RiskRules`] (`rules`, serde, every tier configurable) and takes the highest;
//! [`classify_release`] adds the tenants up. [`decide`] (`decision`) applies what the author asks: a
//! raise is free (with a reason), a lowering needs an [`Override`] with a reason and an approver who is
//! not the author; the resulting [`TierDecision`] records the computed and the effective tier for the
//! audit trail.
//!
//! Not here: reading files, running SQL or rehearsals, checking an approver's role or the number of
//! approvals (the gates decide that), writing the audit trail. The crate is pure: no I/O, no clock.

mod classify;
mod decision;
mod error;
mod input;
mod rules;

pub use classify::{Classification, Fact, Reason, ReleaseClassification, classify, classify_release};
pub use decision::{Adjustment, Override, TierDecision, TierRequest, decide};
pub use error::RiskError;
pub use input::{
    ChangeKind, Dependency, LintInput, ModuleInput, RehearsalResult, RiskInput, ScriptInput, SqlInput, TableWork,
};
pub use ringfence_core::calendar::RiskTier;
pub use rules::{DEFAULT_CRITICAL_TABLES, RehearsalLimits, RiskRules, Rule, Tiers};
