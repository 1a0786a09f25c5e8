//! The author's say over a computed tier: a raise is free but needs a reason; a lowering needs an
//! [`Override`] with a reason and an approver other than the author. The [`TierDecision`] keeps both
//! the computed and the effective tier, the reasons and the adjustment, as the audit trail records it.
//!
//! Not here: whether the approver may approve (roles, counts, expiry: the gates), the audit write.

use ringfence_core::calendar::RiskTier;
use serde::{Deserialize, Serialize};

use crate::classify::{Classification, Reason};
use crate::error::RiskError;

/// A lowering of the computed tier, and who approves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Override {
    /// The tier to use instead.
    pub to: RiskTier,
    /// Why the computed tier is too high.
    pub reason: String,
    /// Who approves it; never the author.
    pub approver: String,
}

/// What the author asks of the computed tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TierRequest {
    /// Use a higher tier (stricter gates); needs a reason only.
    Raise {
        /// The tier to use.
        to: RiskTier,
        /// Why.
        reason: String,
    },
    /// Use a lower tier; needs an approver.
    Lower(Override),
}

/// How the effective tier came to differ from the computed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Adjustment {
    /// The author raised it.
    Raised {
        /// The computed tier.
        from: RiskTier,
        /// The effective tier.
        to: RiskTier,
        /// Why.
        reason: String,
        /// The author.
        by: String,
    },
    /// The author lowered it, with an approver.
    Lowered {
        /// The computed tier.
        from: RiskTier,
        /// The effective tier.
        to: RiskTier,
        /// Why.
        reason: String,
        /// The author.
        by: String,
        /// Who approved.
        approver: String,
    },
}

/// The tier a release (or tenant) runs under, and why: what the audit trail records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierDecision {
    /// The tenant; `None` for the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Who authored the release.
    pub author: String,
    /// The tier the rules computed.
    pub computed: RiskTier,
    /// The tier the gates use.
    pub effective: RiskTier,
    /// The facts behind the computed tier, highest tier first.
    pub reasons: Vec<Reason>,
    /// The author's raise or approved lowering, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<Adjustment>,
}

/// Applies the author's request to a classification. Identities are compared trimmed and without
/// regard to ASCII case, so `Ana@Shop.example` cannot approve what `ana@shop.example` authored.
pub fn decide(
    classification: &Classification,
    author: &str,
    request: Option<&TierRequest>,
) -> Result<TierDecision, RiskError> {
    let author = author.trim();
    if author.is_empty() {
        return Err(RiskError::MissingAuthor);
    }
    let computed = classification.tier;
    let adjustment = match request {
        None => None,
        Some(TierRequest::Raise { to, reason }) => {
            if *to <= computed {
                return Err(RiskError::NotARaise { computed, requested: *to });
            }
            if reason.trim().is_empty() {
                return Err(RiskError::MissingReason { to: *to });
            }
            Some(Adjustment::Raised {
                from: computed,
                to: *to,
                reason: reason.trim().to_owned(),
                by: author.to_owned(),
            })
        }
        Some(TierRequest::Lower(o)) => {
            if o.to >= computed {
                return Err(RiskError::NotALowering { computed, requested: o.to });
            }
            if o.reason.trim().is_empty() {
                return Err(RiskError::MissingReason { to: o.to });
            }
            let approver = o.approver.trim();
            if approver.is_empty() {
                return Err(RiskError::MissingApprover { to: o.to });
            }
            if approver.eq_ignore_ascii_case(author) {
                return Err(RiskError::SelfApproval { author: author.to_owned() });
            }
            Some(Adjustment::Lowered {
                from: computed,
                to: o.to,
                reason: o.reason.trim().to_owned(),
                by: author.to_owned(),
                approver: approver.to_owned(),
            })
        }
    };
    let effective = match &adjustment {
        Some(Adjustment::Raised { to, .. } | Adjustment::Lowered { to, .. }) => *to,
        None => computed,
    };
    Ok(TierDecision {
        tenant: classification.tenant.clone(),
        author: author.to_owned(),
        computed,
        effective,
        reasons: classification.reasons.clone(),
        adjustment,
    })
}
