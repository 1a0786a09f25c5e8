//! Supply-chain evidence for a release, read offline: what the release's image reference pins, whether
//! its image signature and SLSA provenance verify under the configured keys, what its vulnerability scan
//! found and how its tests went. The results are facts for the release gates ([`SignatureEvidence`],
//! [`ProvenanceEvidence`], [`VulnerabilityEvidence`], [`TestEvidence`], serde camelCase); the Rego gate
//! engine decides whether they are good enough.
//!
//! - `image`: [`ImageRef`] — `registry/repo[:tag][@sha256:<hex>]`, [`ImageRef::is_pinned`].
//! - `keys`: [`TrustedKey`], [`Keyring`] — ECDSA P-256 and Ed25519 public keys in SPKI PEM.
//! - `cosign`: [`CosignSignature`], [`verify_image_signature`] (or [`verify_image_signatures`] for several)
//!   — cosign simple signing; the on-disk layout is documented on [`CosignSignature`].
//! - `dsse` and `provenance`: [`Envelope`], [`pae`], [`verify_provenance`] — in-toto Statement v1 with an
//!   SLSA provenance v1 predicate in a DSSE envelope.
//! - `vuln`: [`VulnerabilityReport`] — Trivy or Grype JSON, detected, de-duplicated, counted.
//! - `junit`: [`parse_junit`], [`load_junit`] — JUnit XML counted from test cases.
//! - `sign`: [`SigningKey`] and the signing side of the above, for tests and `ringfence sign`.
//!
//! **Errors vs evidence.** A check that runs and fails — wrong key, tampered payload, a digest or
//! repository that is not the release image's, a builder not allowed — is evidence with
//! `verified: false` and a `problem` saying exactly what; only input that cannot be read (missing file,
//! bad base64, PEM or JSON, an unknown report format) is a [`SupplyError`], naming the file.
//!
//! ```
//! use ringfence_supply::{Algorithm, ImageRef, Keyring, SigningKey, sign, verify_image_signature};
//!
//! let image = ImageRef::parse(
//!     "ghcr.io/acme/odoo:17.0@sha256:4f6a1d2c9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29",
//! )?;
//! let key = SigningKey::generate(Algorithm::EcdsaP256)?;
//! let signature = sign::sign_image(&key, &image)?; // what the release pipeline exports
//! let keys = Keyring::new(vec![key.trusted_key("release")]); // `Keyring::load` reads PEM files
//! let evidence = verify_image_signature(&signature, &image, &keys);
//! assert!(evidence.verified);
//! assert_eq!(serde_json::to_string(&evidence)?, r#"{"verified":true,"keyId":"release","problem":null}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not here: network access of any kind (no OCI registry fetching of `.sig`/`.att` tags, no Rekor or
//! Fulcio, no keyless verification: the pipeline exports signatures and attestations as files), policy
//! decisions (thresholds, which keys or builders a tenant tier requires), the clock and the audit trail.

mod cosign;
mod dsse;
mod error;
mod evidence;
mod image;
pub mod junit;
mod keys;
mod provenance;
pub mod sign;
mod vuln;

pub use cosign::{
    CosignSignature, PAYLOAD_FILE, SIGNATURE_FILE, SIMPLE_SIGNING_TYPE, verify_image_signature, verify_image_signatures,
};
pub use dsse::{Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE, pae};
pub use error::{MAX_EVIDENCE_BYTES, MAX_TEST_REPORT_BYTES, SupplyError};
pub use evidence::{ProvenanceEvidence, SignatureEvidence, TestEvidence, VulnerabilityEvidence};
pub use image::ImageRef;
pub use junit::{MAX_FAILING_NAMES, load_junit, parse_junit};
pub use keys::{Algorithm, Keyring, PublicKey, TrustedKey};
pub use provenance::{SLSA_PROVENANCE_V1, STATEMENT_V0_1, STATEMENT_V1, Statement, Subject, verify_provenance};
pub use sign::SigningKey;
pub use vuln::{Finding, Scanner, Severity, VulnerabilityReport, load_vulnerability_evidence};
