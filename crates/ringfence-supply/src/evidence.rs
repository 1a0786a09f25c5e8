//! The summaries the release gates consume: facts about one release's supply chain, serialised in
//! camelCase for the Rego gate engine. They state what was found, never whether it is good enough:
//! thresholds are policy and belong to the gates.

use serde::{Deserialize, Serialize};

/// Whether the release image carries a valid signature from a trusted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureEvidence {
    /// True only if the signature verifies under a trusted key and its payload names this image.
    pub verified: bool,
    /// The trusted key the signature verified under (set even when a later payload check failed).
    pub key_id: Option<String>,
    /// Why `verified` is false, precisely enough to act on; `None` when verified.
    pub problem: Option<String>,
}

/// Whether the release image carries signed SLSA provenance, and from which builder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceEvidence {
    /// True only if the envelope verifies, its statement names the image digest and the builder is allowed.
    pub verified: bool,
    /// The trusted key the envelope verified under.
    pub key_id: Option<String>,
    /// `predicate.runDetails.builder.id`, when the statement could be read.
    pub builder_id: Option<String>,
    /// `predicate.buildDefinition.buildType`, when present.
    pub build_type: Option<String>,
    /// Why `verified` is false; `None` when verified.
    pub problem: Option<String>,
}

/// Vulnerability counts of one scan of the release image, after de-duplication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerabilityEvidence {
    /// `trivy` or `grype`.
    pub scanner: String,
    /// Distinct (vulnerability id, package) findings of every severity.
    pub total: usize,
    pub critical: usize,
    pub critical_fixable: usize,
    pub high: usize,
    pub high_fixable: usize,
    pub medium: usize,
    pub medium_fixable: usize,
    /// Low, and Grype's `Negligible` (the gates reason in Trivy's five levels).
    pub low: usize,
    pub low_fixable: usize,
    pub unknown: usize,
    pub unknown_fixable: usize,
    /// Ids of fixable critical findings, sorted and distinct, for explanations.
    pub fixable_critical_ids: Vec<String>,
    /// Ids of fixable high findings, sorted and distinct, for explanations.
    pub fixable_high_ids: Vec<String>,
}

/// Test results of one or more JUnit XML reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestEvidence {
    pub total: usize,
    pub passed: usize,
    /// Test cases with a `<failure>` (an assertion failed).
    pub failed: usize,
    /// Test cases with an `<error>` (the test could not run to an assertion).
    pub errors: usize,
    pub skipped: usize,
    /// Names (`classname.name`) of the first failing or erroring test cases, at most
    /// [`crate::junit::MAX_FAILING_NAMES`]; empty when counts came from suite attributes only.
    pub failing: Vec<String>,
}

impl TestEvidence {
    /// Adds another report's results, as when a Maven build writes one report per test class.
    pub fn absorb(&mut self, other: TestEvidence) {
        self.total += other.total;
        self.passed += other.passed;
        self.failed += other.failed;
        self.errors += other.errors;
        self.skipped += other.skipped;
        let room = crate::junit::MAX_FAILING_NAMES.saturating_sub(self.failing.len());
        self.failing.extend(other.failing.into_iter().take(room));
    }
}
