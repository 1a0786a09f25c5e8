//! Signing: the producer side of what [`crate::verify_image_signature`] and
//! [`crate::verify_provenance`] check, for tests and for a `ringfence sign` command. Keys are PKCS#8
//! PEM private keys (`-----BEGIN PRIVATE KEY-----`); cosign's own encrypted key format is not read.
//!
//! Signatures come out exactly as the verifiers expect them: ECDSA P-256 as ASN.1 DER over SHA-256 of
//! the message (RFC 6979 deterministic nonces), Ed25519 over the message.

use std::path::Path;

use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};

use crate::cosign::{Critical, Identity, Image, SIMPLE_SIGNING_TYPE, SimpleSigning};
use crate::dsse::{Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE, pae};
use crate::error::read_file;
use crate::provenance::{SLSA_PROVENANCE_V1, STATEMENT_V1};
use crate::{Algorithm, CosignSignature, ImageRef, PublicKey, SupplyError, TrustedKey};

/// A private key of either supported algorithm.
pub enum SigningKey {
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, even in a test failure.
        write!(f, "SigningKey({:?}, {})", self.algorithm(), self.public_key().fingerprint())
    }
}

impl SigningKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate(algorithm: Algorithm) -> Result<SigningKey, SupplyError> {
        match algorithm {
            Algorithm::EcdsaP256 => p256::ecdsa::SigningKey::try_generate()
                .map(SigningKey::EcdsaP256)
                .map_err(|e| SupplyError::Random(e.to_string())),
            Algorithm::Ed25519 => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| SupplyError::Random(e.to_string()))?;
                Ok(SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
        }
    }

    /// Reads a PKCS#8 PEM private key; `path` names the source in errors.
    pub fn from_pkcs8_pem(pem: &str, path: &Path) -> Result<SigningKey, SupplyError> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem.trim()) {
            return Ok(SigningKey::EcdsaP256(key));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim()).map(SigningKey::Ed25519).map_err(|e| SupplyError::Key {
            path: path.to_owned(),
            message: format!(
                "is not an unencrypted PKCS#8 ECDSA P-256 or Ed25519 private key (-----BEGIN PRIVATE KEY-----): {e}"
            ),
        })
    }

    /// Reads a PKCS#8 PEM private key file.
    pub fn load(path: &Path) -> Result<SigningKey, SupplyError> {
        let text = String::from_utf8(read_file(path)?)
            .map_err(|_| SupplyError::Key { path: path.to_owned(), message: "is not UTF-8 text, so not PEM".into() })?;
        SigningKey::from_pkcs8_pem(&text, path)
    }

    /// The private key as unencrypted PKCS#8 PEM; whoever writes it to disk must protect the file.
    pub fn to_pkcs8_pem(&self) -> String {
        let pem = match self {
            SigningKey::EcdsaP256(k) => k.to_pkcs8_pem(LineEnding::LF),
            SigningKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        pem.expect("PKCS#8 encoding of a valid key").to_string()
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::EcdsaP256(_) => Algorithm::EcdsaP256,
            SigningKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The public key as a [`TrustedKey`] under `id`, as a verifier would configure it.
    pub fn trusted_key(&self, id: impl Into<String>) -> TrustedKey {
        TrustedKey::new(id, self.public_key())
    }

    /// Signs `message`: DER ECDSA over its SHA-256, or Ed25519 over the bytes.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::EcdsaP256(k) => {
                let sig: p256::ecdsa::DerSignature = k.sign(message);
                sig.as_bytes().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }
}

/// The cosign simple signing payload for a pinned image (compact JSON, as cosign writes it).
pub fn simple_signing_payload(image: &ImageRef) -> Result<Vec<u8>, SupplyError> {
    let digest = pinned_digest(image)?;
    let payload = SimpleSigning {
        critical: Critical {
            identity: Identity { docker_reference: image.repository.clone() },
            image: Image { docker_manifest_digest: digest.to_owned() },
            kind: SIMPLE_SIGNING_TYPE.to_owned(),
        },
        optional: None,
    };
    Ok(serde_json::to_vec(&payload).expect("the payload serialises"))
}

/// Signs arbitrary payload bytes into a cosign signature (tests use this to sign bad payloads).
pub fn sign_payload(key: &SigningKey, payload: Vec<u8>) -> CosignSignature {
    let signature = key.sign(&payload);
    CosignSignature { payload, signature }
}

/// Signs the simple signing payload of a pinned image, as `cosign sign --key` would.
pub fn sign_image(key: &SigningKey, image: &ImageRef) -> Result<CosignSignature, SupplyError> {
    Ok(sign_payload(key, simple_signing_payload(image)?))
}

/// Wraps `payload` in a DSSE envelope signed over its pre-authentication encoding.
pub fn sign_envelope(key: &SigningKey, keyid: &str, payload_type: &str, payload: Vec<u8>) -> Envelope {
    let sig = key.sign(&pae(payload_type, &payload));
    Envelope {
        payload_type: payload_type.to_owned(),
        payload,
        signatures: vec![EnvelopeSignature { keyid: keyid.to_owned(), sig }],
    }
}

/// A minimal in-toto Statement v1 with an SLSA provenance v1 predicate for a pinned image.
pub fn provenance_statement(image: &ImageRef, builder_id: &str, build_type: &str) -> Result<Vec<u8>, SupplyError> {
    pinned_digest(image)?;
    let statement = serde_json::json!({
        "_type": STATEMENT_V1,
        "subject": [{ "name": image.repository, "digest": { "sha256": image.digest_hex() } }],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": { "buildType": build_type, "externalParameters": {} },
            "runDetails": { "builder": { "id": builder_id } },
        },
    });
    Ok(serde_json::to_vec(&statement).expect("the statement serialises"))
}

/// Signs SLSA provenance for a pinned image into an in-toto DSSE envelope.
pub fn sign_provenance(
    key: &SigningKey,
    keyid: &str,
    image: &ImageRef,
    builder_id: &str,
    build_type: &str,
) -> Result<Envelope, SupplyError> {
    Ok(sign_envelope(key, keyid, IN_TOTO_PAYLOAD_TYPE, provenance_statement(image, builder_id, build_type)?))
}

fn pinned_digest(image: &ImageRef) -> Result<&str, SupplyError> {
    image.digest.as_deref().ok_or_else(|| SupplyError::ImageRef {
        reference: image.to_string(),
        reason: "it is not pinned by digest; sign the image by @sha256:<digest>, never by tag".into(),
    })
}
