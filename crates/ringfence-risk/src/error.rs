//! What can go wrong when an author adjusts a computed tier.

use ringfence_core::calendar::RiskTier;

/// Why a tier request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    /// The release has no author, so separation of duties cannot be checked.
    #[error("the release has no author; name who authored it so that approvals can be checked against them")]
    MissingAuthor,
    /// A raise that does not go above the computed tier.
    #[error(
        "cannot raise the tier to {requested:?}: the computed tier is already {computed:?}; a raise must go higher, \
         and going lower needs an override with a reason and an approver"
    )]
    NotARaise {
        /// The tier the rules computed.
        computed: RiskTier,
        /// The tier asked for.
        requested: RiskTier,
    },
    /// An override that does not go below the computed tier.
    #[error(
        "an override must lower the tier, but {requested:?} is not below the computed {computed:?}; \
         to raise the tier, ask for a raise (no approver needed)"
    )]
    NotALowering {
        /// The tier the rules computed.
        computed: RiskTier,
        /// The tier asked for.
        requested: RiskTier,
    },
    /// A raise or lowering without a reason.
    #[error("changing the tier to {to:?} needs a reason; say why the computed tier is wrong")]
    MissingReason {
        /// The tier asked for.
        to: RiskTier,
    },
    /// A lowering without an approver.
    #[error("lowering the tier to {to:?} needs an approver; name someone other than the author who approves it")]
    MissingApprover {
        /// The tier asked for.
        to: RiskTier,
    },
    /// The author approving their own lowering.
    #[error("{author} authored the release and cannot approve lowering its tier; ask someone else to approve")]
    SelfApproval {
        /// The author, who was also named as the approver.
        author: String,
    },
}
