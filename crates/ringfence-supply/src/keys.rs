//! Trusted public keys: ECDSA P-256 and Ed25519 in SPKI PEM (`-----BEGIN PUBLIC KEY-----`, what
//! `cosign generate-key-pair` writes as `cosign.pub`), each with the id evidence reports it under.
//! Signature checking over raw message bytes lives here so cosign and DSSE verify the same way.

use std::path::{Path, PathBuf};

use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::SupplyError;
use crate::error::read_file;

/// A signature algorithm this crate verifies and signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// ECDSA on NIST P-256 over SHA-256 of the message; signatures ASN.1 DER (fixed 64-byte r‖s accepted).
    EcdsaP256,
    /// Ed25519 over the message itself; 64-byte signatures.
    Ed25519,
}

/// A public key of either supported algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    EcdsaP256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Reads an SPKI PEM public key; `path` only names the source in errors.
    pub fn from_pem(pem: &str, path: &Path) -> Result<PublicKey, SupplyError> {
        if !pem.contains("-----BEGIN PUBLIC KEY-----") {
            let message = if pem.contains("PRIVATE KEY") {
                "holds a private key; configure the public key (SPKI PEM, -----BEGIN PUBLIC KEY-----) instead"
            } else {
                "is not a PEM public key: expected -----BEGIN PUBLIC KEY----- (SPKI)"
            };
            return Err(SupplyError::Key { path: path.to_owned(), message: message.into() });
        }
        // The SPKI algorithm identifier decides which parse succeeds; each rejects the other's OID.
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim()) {
            return Ok(PublicKey::EcdsaP256(key));
        }
        match ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim()) {
            Ok(key) => Ok(PublicKey::Ed25519(key)),
            Err(e) => Err(SupplyError::Key {
                path: path.to_owned(),
                message: format!("is neither an ECDSA P-256 nor an Ed25519 SPKI public key ({e})"),
            }),
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::EcdsaP256(_) => Algorithm::EcdsaP256,
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The SPKI DER encoding (what fingerprints are computed over).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let doc = match self {
            PublicKey::EcdsaP256(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
        };
        // Encoding a valid in-memory key into SPKI cannot fail for these two fixed-size algorithms.
        doc.expect("SPKI encoding of a valid key").as_bytes().to_vec()
    }

    /// The SPKI PEM encoding, `-----BEGIN PUBLIC KEY-----` with `\n` line endings.
    pub fn to_pem(&self) -> String {
        let pem = match self {
            PublicKey::EcdsaP256(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        };
        pem.expect("SPKI PEM encoding of a valid key")
    }

    /// `sha256:<hex>` of the SPKI DER: a stable name for the key whatever file it came from.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex(&Sha256::digest(self.to_spki_der())))
    }

    /// True if `signature` is this key's signature over `message`. Malformed signature bytes are
    /// simply not a valid signature: a forger controls them, so they are evidence, not an input error.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::EcdsaP256(key) => {
                let parsed = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature));
                // `verify` hashes the message with SHA-256 itself, as cosign and DSSE signers did.
                parsed.is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
            PublicKey::Ed25519(key) => {
                let Ok(bytes) = <[u8; 64]>::try_from(signature) else { return false };
                let sig = ed25519_dalek::Signature::from_bytes(&bytes);
                // Strict verification rejects small-order keys and non-canonical signatures, which an
                // honest signer never produces.
                key.verify_strict(message, &sig).is_ok()
            }
        }
    }
}

/// A public key trusted to sign releases, and the id evidence names it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    id: String,
    key: PublicKey,
}

impl TrustedKey {
    /// A trusted key under the given id.
    pub fn new(id: impl Into<String>, key: PublicKey) -> TrustedKey {
        TrustedKey { id: id.into(), key }
    }

    /// Reads an SPKI PEM key under the given id; `path` names the source in errors.
    pub fn from_pem(id: impl Into<String>, pem: &str, path: &Path) -> Result<TrustedKey, SupplyError> {
        Ok(TrustedKey::new(id, PublicKey::from_pem(pem, path)?))
    }

    /// Reads a PEM key file; its id is the file name without extension (`release.pub` → `release`).
    pub fn load(path: &Path) -> Result<TrustedKey, SupplyError> {
        let bytes = read_file(path)?;
        let pem = String::from_utf8(bytes)
            .map_err(|_| SupplyError::Key { path: path.to_owned(), message: "is not UTF-8 text, so not PEM".into() })?;
        let id = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
        TrustedKey::from_pem(id, &pem, path)
    }

    /// The id evidence reports this key under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }
}

/// The set of keys a check accepts signatures from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<TrustedKey>,
}

impl Keyring {
    /// A keyring of the given keys.
    pub fn new(keys: Vec<TrustedKey>) -> Keyring {
        Keyring { keys }
    }

    /// Loads key files; a directory contributes its `*.pub` and `*.pem` files, in name order.
    pub fn load(paths: &[PathBuf]) -> Result<Keyring, SupplyError> {
        let mut keys = Vec::new();
        for path in paths {
            if path.is_dir() {
                let entries =
                    std::fs::read_dir(path).map_err(|source| SupplyError::Read { path: path.clone(), source })?;
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|ext| ext == "pub" || ext == "pem"))
                    .collect();
                files.sort();
                for file in files {
                    keys.push(TrustedKey::load(&file)?);
                }
            } else {
                keys.push(TrustedKey::load(path)?);
            }
        }
        Ok(Keyring { keys })
    }

    /// The keys, in load order.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// True when no key is trusted (every verification then fails, saying so).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The first trusted key under which `signature` verifies `message`.
    pub fn verifying_key(&self, message: &[u8], signature: &[u8]) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key.verifies(message, signature))
    }

    /// "any of the 2 trusted keys (a, b)", or why there is none, to follow "does not verify under".
    pub(crate) fn describe(&self) -> String {
        if self.keys.is_empty() {
            return "any trusted key: the keyring is empty, configure the release signing public keys".into();
        }
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        format!("any of the {} trusted keys ({})", ids.len(), ids.join(", "))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
