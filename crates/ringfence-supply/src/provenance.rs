//! SLSA provenance: an in-toto Statement v1 with predicate type `https://slsa.dev/provenance/v1`,
//! signed in a DSSE envelope. Verification answers: did a trusted key sign a statement about this
//! exact image digest, and which builder does it say built it?
//!
//! Not here: following `resolvedDependencies`, checking the source repository or build parameters
//! (facts the gates may ask for later), or reading the legacy SLSA v0.2 predicate.

use serde::{Deserialize, Serialize};

use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::{ImageRef, Keyring, ProvenanceEvidence};

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The `_type` older in-toto producers still write; the statement layout is the same.
pub const STATEMENT_V0_1: &str = "https://in-toto.io/Statement/v0.1";
/// The SLSA provenance v1 predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// An in-toto statement; `predicate` stays JSON because only a few of its fields are facts here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// An artifact the statement is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub name: String,
    /// Algorithm → lowercase hex, e.g. `{"sha256": "…"}`.
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Statement {
    /// `predicate.runDetails.builder.id`.
    pub fn builder_id(&self) -> Option<&str> {
        self.predicate.pointer("/runDetails/builder/id").and_then(serde_json::Value::as_str)
    }

    /// `predicate.buildDefinition.buildType`.
    pub fn build_type(&self) -> Option<&str> {
        self.predicate.pointer("/buildDefinition/buildType").and_then(serde_json::Value::as_str)
    }
}

/// Checks a provenance envelope for the release image: a trusted key signed it, it carries an in-toto
/// SLSA v1 statement, a subject's sha256 is the image digest, and — when `allowed_builders` is not
/// empty — the builder id is one of them. The first failing check is the evidence's `problem`.
pub fn verify_provenance(
    envelope: &Envelope,
    image: &ImageRef,
    keys: &Keyring,
    allowed_builders: &[String],
) -> ProvenanceEvidence {
    let mut evidence =
        ProvenanceEvidence { verified: false, key_id: None, builder_id: None, build_type: None, problem: None };
    let refuse = |mut evidence: ProvenanceEvidence, problem: String| {
        evidence.problem = Some(problem);
        evidence
    };
    let Some(image_hex) = image.digest_hex() else {
        return refuse(evidence, format!("image {image} is not pinned by digest; provenance names digests, not tags"));
    };
    if envelope.signatures.is_empty() {
        return refuse(evidence, "the envelope has no signatures".into());
    }
    let Some(key) = envelope.verifying_key(keys) else {
        return refuse(evidence, format!("no envelope signature verifies under {}", keys.describe()));
    };
    evidence.key_id = Some(key.id().to_owned());
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        let problem = format!("the payload type is {:?}, expected {IN_TOTO_PAYLOAD_TYPE:?}", envelope.payload_type);
        return refuse(evidence, problem);
    }
    let statement: Statement = match serde_json::from_slice(&envelope.payload) {
        Ok(s) => s,
        Err(e) => return refuse(evidence, format!("the signed payload is not an in-toto statement: {e}")),
    };
    evidence.builder_id = statement.builder_id().map(str::to_owned);
    evidence.build_type = statement.build_type().map(str::to_owned);
    if statement.statement_type != STATEMENT_V1 && statement.statement_type != STATEMENT_V0_1 {
        let problem = format!("the statement type is {:?}, expected {STATEMENT_V1:?}", statement.statement_type);
        return refuse(evidence, problem);
    }
    if statement.predicate_type != SLSA_PROVENANCE_V1 {
        let problem = format!("the predicate type is {:?}, expected {SLSA_PROVENANCE_V1:?}", statement.predicate_type);
        return refuse(evidence, problem);
    }
    let names_image =
        statement.subject.iter().any(|s| s.digest.get("sha256").is_some_and(|d| d.eq_ignore_ascii_case(image_hex)));
    if !names_image {
        let subjects: Vec<String> = statement
            .subject
            .iter()
            .map(|s| format!("{} (sha256:{})", s.name, s.digest.get("sha256").map_or("none", String::as_str)))
            .collect();
        let problem = format!(
            "no subject has the release image's digest sha256:{image_hex}; subjects: {}",
            if subjects.is_empty() { "none".to_owned() } else { subjects.join(", ") }
        );
        return refuse(evidence, problem);
    }
    let Some(builder) = evidence.builder_id.clone() else {
        return refuse(evidence, "the provenance names no builder (predicate.runDetails.builder.id)".into());
    };
    if !allowed_builders.is_empty() && !allowed_builders.contains(&builder) {
        let problem =
            format!("builder {builder:?} is not among the allowed builders ({})", allowed_builders.join(", "));
        return refuse(evidence, problem);
    }
    evidence.verified = true;
    evidence
}
