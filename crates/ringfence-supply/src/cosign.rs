//! cosign-compatible image signatures, verified offline against configured keys.
//!
//! A signature is a "simple signing" payload (JSON naming the image repository and manifest digest)
//! and a signature over its exact bytes: ECDSA P-256 (DER, over SHA-256 of the payload) or Ed25519
//! (over the payload). On disk it is either
//! - a directory holding `payload.json` (the payload bytes, as `cosign sign --output-payload` writes
//!   them) and `signature` (base64, as `--output-signature` writes it), or
//! - a JSON bundle file `{"payload": "<base64 of the payload bytes>", "signature": "<base64>"}`.
//!
//! Not here: fetching signatures from an OCI registry (`sha256-<hex>.sig` tags), Fulcio certificates,
//! Rekor transparency-log proofs. The release pipeline exports the files; this module only checks them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{decode_base64, encode_base64, read_file};
use crate::image::canonical_repository;
use crate::{ImageRef, Keyring, SignatureEvidence, SupplyError};

/// The `critical.type` of a cosign container image signature payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

/// File names inside a signature directory.
pub const PAYLOAD_FILE: &str = "payload.json";
/// See [`PAYLOAD_FILE`].
pub const SIGNATURE_FILE: &str = "signature";

/// A payload and the raw signature bytes over it, as exported from cosign: a directory with
/// [`PAYLOAD_FILE`] and [`SIGNATURE_FILE`] (base64), or a JSON bundle `{"payload", "signature"}` (both base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignSignature {
    /// The exact signed bytes: any re-serialisation would break the signature.
    pub payload: Vec<u8>,
    /// The decoded signature (DER for ECDSA, 64 bytes for Ed25519).
    pub signature: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle {
    payload: String,
    signature: String,
}

impl CosignSignature {
    /// Reads a signature directory (`payload.json` + `signature`) or a JSON bundle file.
    pub fn load(path: &Path) -> Result<CosignSignature, SupplyError> {
        if path.is_dir() {
            CosignSignature::from_files(&path.join(PAYLOAD_FILE), &path.join(SIGNATURE_FILE))
        } else {
            CosignSignature::from_bundle_json(&read_file(path)?, path)
        }
    }

    /// Reads the payload file and the base64 signature file `cosign sign --output-*` produce.
    pub fn from_files(payload: &Path, signature: &Path) -> Result<CosignSignature, SupplyError> {
        let payload_bytes = read_file(payload)?;
        let signature_text = String::from_utf8(read_file(signature)?)
            .map_err(|_| SupplyError::format(signature, "is not text; expected the base64 signature cosign writes"))?;
        Ok(CosignSignature {
            payload: payload_bytes,
            signature: decode_base64(&signature_text, signature, "signature")?,
        })
    }

    /// Parses a JSON bundle `{"payload": base64, "signature": base64}`; `path` names it in errors.
    pub fn from_bundle_json(bytes: &[u8], path: &Path) -> Result<CosignSignature, SupplyError> {
        let bundle: Bundle = serde_json::from_slice(bytes).map_err(|e| SupplyError::json(path, &e))?;
        Ok(CosignSignature {
            payload: decode_base64(&bundle.payload, path, "payload")?,
            signature: decode_base64(&bundle.signature, path, "signature")?,
        })
    }

    /// The JSON bundle form of this signature.
    pub fn to_bundle_json(&self) -> String {
        let bundle = Bundle { payload: encode_base64(&self.payload), signature: encode_base64(&self.signature) };
        serde_json::to_string_pretty(&bundle).expect("two strings serialise")
    }

    /// Writes the directory form (`payload.json`, `signature`), creating the directory.
    pub fn write_dir(&self, dir: &Path) -> Result<(), SupplyError> {
        let write = |path: &Path, bytes: &[u8]| {
            std::fs::write(path, bytes).map_err(|source| SupplyError::Write { path: path.to_owned(), source })
        };
        std::fs::create_dir_all(dir).map_err(|source| SupplyError::Write { path: dir.to_owned(), source })?;
        write(&dir.join(PAYLOAD_FILE), &self.payload)?;
        write(&dir.join(SIGNATURE_FILE), format!("{}\n", encode_base64(&self.signature)).as_bytes())
    }
}

/// The simple signing payload; unknown fields are allowed because cosign adds to `optional`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SimpleSigning {
    pub critical: Critical,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// Checks a signature for the release image: it verifies under a trusted key, its payload is a
/// cosign container image signature, names the image's manifest digest and the image's repository.
/// The first check that fails is the evidence's `problem`.
pub fn verify_image_signature(signature: &CosignSignature, image: &ImageRef, keys: &Keyring) -> SignatureEvidence {
    let refuse = |key_id: Option<&str>, problem: String| SignatureEvidence {
        verified: false,
        key_id: key_id.map(str::to_owned),
        problem: Some(problem),
    };
    let Some(image_digest) = image.digest.as_deref() else {
        return refuse(None, format!("image {image} is not pinned by digest; a signature binds a digest, not a tag"));
    };
    let Some(key) = keys.verifying_key(&signature.payload, &signature.signature) else {
        return refuse(None, format!("the signature does not verify under {}", keys.describe()));
    };
    let key_id = Some(key.id());
    // The payload is only read after the signature verified: before that its content means nothing.
    let payload: SimpleSigning = match serde_json::from_slice(&signature.payload) {
        Ok(p) => p,
        Err(e) => return refuse(key_id, format!("the signed payload is not a cosign simple signing payload: {e}")),
    };
    let critical = payload.critical;
    if critical.kind != SIMPLE_SIGNING_TYPE {
        return refuse(key_id, format!("the payload type is {:?}, expected {SIMPLE_SIGNING_TYPE:?}", critical.kind));
    }
    if !critical.image.docker_manifest_digest.eq_ignore_ascii_case(image_digest) {
        return refuse(
            key_id,
            format!(
                "the signature is for digest {}, not the release image's {image_digest}",
                critical.image.docker_manifest_digest
            ),
        );
    }
    // cosign writes the repository; tolerate a tag or digest after it, which some signers include.
    let signed = match ImageRef::parse(&critical.identity.docker_reference) {
        Ok(r) => r.canonical_repository(),
        Err(_) => canonical_repository(&critical.identity.docker_reference),
    };
    if signed != image.canonical_repository() {
        return refuse(
            key_id,
            format!(
                "the signature is for repository {:?}, not the release image's {:?}",
                critical.identity.docker_reference, image.repository
            ),
        );
    }
    SignatureEvidence { verified: true, key_id: key_id.map(str::to_owned), problem: None }
}

/// Checks several signatures of the same image (an image may carry one per signer or per pipeline
/// run): the first that verifies wins. Otherwise the evidence of a signature that verified under a
/// trusted key but names something else is the more useful explanation, so it is preferred.
pub fn verify_image_signatures(signatures: &[CosignSignature], image: &ImageRef, keys: &Keyring) -> SignatureEvidence {
    let mut refusals = Vec::with_capacity(signatures.len());
    for signature in signatures {
        let evidence = verify_image_signature(signature, image, keys);
        if evidence.verified {
            return evidence;
        }
        refusals.push(evidence);
    }
    let count = refusals.len();
    let best = refusals.iter().position(|e| e.key_id.is_some()).unwrap_or(0);
    match refusals.into_iter().nth(best) {
        None => SignatureEvidence {
            verified: false,
            key_id: None,
            problem: Some(format!("image {image} has no signature to check")),
        },
        Some(only) if count == 1 => only,
        Some(mut evidence) => {
            let problem = evidence.problem.take().unwrap_or_default();
            evidence.problem = Some(format!("none of the {count} signatures is valid for the image; e.g. {problem}"));
            evidence
        }
    }
}
