//! The documented input of the gate policy: what the controller knows when a gate is asked — the release,
//! its risk tier and the facts behind it, supply-chain and data-safety evidence, approvals and the users
//! who may give them, calendar and capacity state, and the tenants of a step. Plain values only: the
//! verification of signatures, the parsing of scanner and JUnit reports and the calendar arithmetic are
//! done elsewhere and arrive here as their results.
//!
//! Every piece of evidence is an `Option`: `None` means "not provided yet", and the policy decides whether
//! that makes a gate wait or fail. The input serialises to camelCase JSON, which is exactly what Rego sees
//! as `input` (plus the derived facts listed on [`GateInput`]).
//!
//! Not here: deciding anything (the policy), reading files (the config and evidence crates).

use jiff::Timestamp;
use ringfence_core::calendar::RiskTier;
use ringfence_risk::{Adjustment, TierDecision};
use serde::{Deserialize, Serialize};

/// Where in a rollout the gates are asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Scope {
    /// Before the release starts.
    Release,
    /// Before a ring starts.
    Ring {
        /// The ring's name.
        name: String,
    },
    /// Before a tenant's step.
    Tenant {
        /// The tenant's id.
        id: String,
    },
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Release => write!(f, "release"),
            Scope::Ring { name } => write!(f, "ring {name}"),
            Scope::Tenant { id } => write!(f, "tenant {id}"),
        }
    }
}

/// Everything the gate policy reads, as Rego's `input`.
///
/// Derived facts: before evaluation, [`GateInput::now`] is used to add `ageSeconds` to every tenant's
/// `restorePoint`, so that the policy compares ages without time builtins and evaluation depends on
/// nothing but this value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateInput {
    /// Where in the rollout the gates are asked.
    pub scope: Scope,
    /// The instant of the question; the only clock the policy sees.
    pub now: Timestamp,
    /// The release.
    pub release: ReleaseInput,
    /// The release's tier and the facts that decide it.
    pub risk: RiskDecisionInput,
    /// Supply-chain and rehearsal evidence.
    #[serde(default)]
    pub evidence: Evidence,
    /// Approvals given so far (for any revision; the policy discards stale ones).
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The users who may approve, with their roles.
    #[serde(default)]
    pub users: Vec<User>,
    /// Release-wide calendar state (a fleet-wide freeze); tenants carry their own.
    #[serde(default)]
    pub calendar: CalendarState,
    /// Capacity of what the ring (or release) runs on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityState>,
    /// The tenants the tenant-level gates are asked about (a batch, a ring, or one); not sent to the
    /// policy at the release and ring scopes.
    #[serde(default)]
    pub tenants: Vec<TenantInput>,
}

/// The release as the gates see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseInput {
    /// The release's id (name and version).
    pub id: String,
    /// The release's revision: any change to it makes a new revision and expires older approvals.
    pub revision: u32,
    /// Who authored the release.
    pub author: String,
    /// Who starts (or started) the rollout, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The image reference as written in the release (`registry/repo@sha256:…` when pinned).
    pub image: String,
}

/// The tier decision, flattened for the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskDecisionInput {
    /// The tier the risk rules computed.
    pub computed: RiskTier,
    /// The tier the gates apply.
    pub effective: RiskTier,
    /// The facts at the computed tier, in words, with the rule that matched them.
    pub deciding: Vec<DecidingFact>,
    /// The author's raise or lowering, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<Adjustment>,
}

/// One fact that decides the tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecidingFact {
    /// The risk rule that matched (its camelCase name).
    pub rule: String,
    /// The fact in words.
    pub fact: String,
    /// The tenant it concerns, for tenant facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl From<&TierDecision> for RiskDecisionInput {
    fn from(d: &TierDecision) -> RiskDecisionInput {
        let deciding = d
            .reasons
            .iter()
            .filter(|r| r.tier == d.computed)
            .map(|r| DecidingFact {
                // The rule's serde name is the name users see in the risk rules' `tiers`.
                rule: serde_json::to_value(r.rule).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                fact: r.fact.to_string(),
                tenant: r.tenant.clone(),
            })
            .collect();
        RiskDecisionInput { computed: d.computed, effective: d.effective, deciding, adjustment: d.adjustment.clone() }
    }
}

/// Supply-chain and data-safety evidence of the release; `None` is "not provided".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Evidence {
    /// The image signature check.
    #[serde(default)]
    pub signature: Option<SignatureEvidence>,
    /// The build provenance check.
    #[serde(default)]
    pub provenance: Option<ProvenanceEvidence>,
    /// The vulnerability scan summary.
    #[serde(default)]
    pub vulnerabilities: Option<VulnerabilityEvidence>,
    /// The test report summary.
    #[serde(default)]
    pub tests: Option<TestEvidence>,
    /// The migration rehearsal's result.
    #[serde(default)]
    pub rehearsal: Option<RehearsalEvidence>,
}

/// Whether the image signature verified against the configured keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureEvidence {
    /// The signature verified against one of the configured keys.
    pub verified: bool,
    /// The key that verified it.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Why it did not verify.
    #[serde(default)]
    pub problem: Option<String>,
}

/// Whether the build provenance (SLSA attestation) verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvenanceEvidence {
    /// The attestation verified and matches the image digest.
    pub verified: bool,
    /// The builder the attestation names.
    #[serde(default)]
    pub builder_id: Option<String>,
    /// Why it did not verify.
    #[serde(default)]
    pub problem: Option<String>,
}

/// A vulnerability scan's counts by severity (Trivy or Grype summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VulnerabilityEvidence {
    /// The scanner (`trivy`, `grype`).
    pub scanner: String,
    /// Critical findings.
    pub critical: u32,
    /// Critical findings with a fixed version available.
    pub critical_fixable: u32,
    /// High findings.
    pub high: u32,
    /// High findings with a fixed version available.
    pub high_fixable: u32,
    /// Medium findings.
    pub medium: u32,
    /// Low findings.
    pub low: u32,
}

/// A test report's counts (JUnit summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestEvidence {
    /// Test cases run.
    pub total: u32,
    /// Passed.
    pub passed: u32,
    /// Failed assertions.
    pub failed: u32,
    /// Errored.
    pub errors: u32,
    /// Skipped.
    pub skipped: u32,
}

/// What a rehearsal of the migration on a clone measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RehearsalEvidence {
    /// The rehearsal ran to the end without errors.
    pub done: bool,
    /// Longest time another session waited on the migration's locks, in milliseconds.
    pub max_blocking_ms: u64,
    /// How long the migration took, in milliseconds.
    pub duration_ms: u64,
}

/// A user who may approve, with their roles: the configuration's `Users` document's type, so the
/// policy sees users exactly as they are configured.
pub use ringfence_core::model::User;

/// The users file's content: everyone who may approve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Users {
    /// The users.
    pub users: Vec<User>,
}

impl Users {
    /// The user `who` names (name or e-mail), if exactly one does; an ambiguous name finds nobody, so
    /// that a login shadowing someone's e-mail cannot borrow their roles.
    pub fn find(&self, who: &str) -> Option<&User> {
        let mut found = self.users.iter().filter(|u| u.is(who));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

/// What an approval is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalSubject {
    /// The release itself (the approvals gate counts these).
    #[default]
    Release,
    /// The author's lowering of the computed tier (the risk-tier gate looks for this one).
    TierOverride,
    /// A break-glass exception to a freeze.
    BreakGlass,
}

/// One approval, of one revision of the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Approval {
    /// Who approved (name or e-mail).
    pub user: String,
    /// The role they approve in; the policy checks they hold it.
    pub role: String,
    /// Why, in their words.
    #[serde(default)]
    pub reason: String,
    /// When.
    pub at: Timestamp,
    /// The release revision approved; a later revision expires it.
    pub revision: u32,
    /// What is approved.
    #[serde(default)]
    pub subject: ApprovalSubject,
}

/// Freeze and maintenance-window state, computed by the calendar for `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalendarState {
    /// Some freeze covers `now`.
    #[serde(default)]
    pub in_freeze: bool,
    /// The freezes that cover `now`.
    #[serde(default)]
    pub freezes: Vec<String>,
    /// Every freeze that covers `now` lets the release's tier through.
    #[serde(default)]
    pub freeze_allows_tier: bool,
    /// A break-glass exception to the freeze is approved.
    #[serde(default)]
    pub break_glass_approved: bool,
    /// Who approved the break-glass exception.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_by: Option<String>,
    /// Whether `now` is inside one of the maintenance windows; `None` where windows do not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_window: Option<bool>,
    /// When the next window opens, if not in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_window: Option<Timestamp>,
}

/// Headroom of the pool or cluster a step runs on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityState {
    /// Tenants migrating now (on this pool or cluster, or release-wide).
    pub in_flight: u32,
    /// The most allowed at once, when limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Share of the pool's tenants unavailable now (migrating or down), in percent.
    #[serde(default)]
    pub pool_unavailable_percent: f64,
    /// The configured limit; the policy's default applies when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pool_unavailable_percent: Option<f64>,
}

/// One tenant a tenant-level gate is asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantInput {
    /// The tenant's id.
    pub id: String,
    /// The tenant's effective tier when it differs from the release's (its own change facts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<RiskTier>,
    /// The step migrates the database (so a restore point is needed).
    #[serde(default)]
    pub migrates: bool,
    /// The newest restore point or backup of the tenant's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point: Option<RestorePoint>,
    /// The tenant's calendar state.
    #[serde(default)]
    pub calendar: CalendarState,
    /// The headroom of the tenant's pool or cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityState>,
}

/// A restore point (or backup) of a tenant's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestorePoint {
    /// Its id (snapshot name, backup label).
    pub id: String,
    /// When it was taken.
    pub taken_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        serde_json::from_str(
            r#"{"users": [
                {"name": "ana", "email": "Ana@Shop.example", "roles": ["approver"]},
                {"name": "bruno", "roles": ["release-manager"]},
                {"name": "ana@shop.example", "roles": ["release-manager"]}
            ]}"#,
        )
        .expect("a users file in camelCase")
    }

    #[test]
    fn users_are_found_by_name_or_e_mail_and_an_ambiguous_name_finds_nobody() {
        let users = users();
        assert_eq!(users.find(" Bruno ").map(|u| u.name.as_str()), Some("bruno"));
        assert_eq!(users.find("ana").map(|u| u.name.as_str()), Some("ana"));
        // Both ana's e-mail and another user's login: nobody, so no one borrows the other's roles.
        assert_eq!(users.find("ana@shop.example"), None);
        assert_eq!(users.find("mallory"), None);
        assert!(users.users[1].has_role("release-manager") && !users.users[0].has_role("release-manager"));
    }

    #[test]
    fn unknown_fields_in_a_users_file_are_refused() {
        let err = serde_json::from_str::<Users>(r#"{"users": [{"name": "ana", "role": ["approver"]}]}"#)
            .expect_err("`role` is not a field");
        assert!(err.to_string().contains("unknown field `role`"), "{err}");
    }

    #[test]
    fn an_approval_is_for_the_release_unless_it_says_otherwise() {
        let a: Approval =
            serde_json::from_str(r#"{"user": "ana", "role": "approver", "at": "2026-11-27T09:00:00Z", "revision": 3}"#)
                .expect("an approval without reason or subject");
        assert_eq!(a.subject, ApprovalSubject::Release);
        let o: Approval = serde_json::from_str(
            r#"{"user": "rita", "role": "release-manager", "at": "2026-11-27T09:00:00Z", "revision": 3, "subject": "tier-override"}"#,
        )
        .expect("an override approval");
        assert_eq!(o.subject, ApprovalSubject::TierOverride);
    }
}
