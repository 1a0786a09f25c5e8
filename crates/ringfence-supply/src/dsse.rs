//! DSSE envelopes (Dead Simple Signing Envelope, v1): a typed payload and signatures over its
//! pre-authentication encoding, so the payload type is signed along with the body.
//!
//! On disk an envelope is one JSON object
//! `{"payloadType": "...", "payload": "<base64>", "signatures": [{"keyid": "...", "sig": "<base64>"}]}`;
//! an `.intoto.jsonl` file holding a single envelope reads the same. What the payload means is
//! [`crate::provenance`]'s business.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{decode_base64, encode_base64, read_file};
use crate::{Keyring, SupplyError, TrustedKey};

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A decoded DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signer's hint for which key to use; unauthenticated, so verification never trusts it.
    pub keyid: String,
    /// The decoded signature bytes.
    pub sig: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload_type: String,
    payload: String,
    signatures: Vec<RawSignature>,
}

#[derive(Serialize, Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// The pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in
/// ASCII decimal bytes. Signing this instead of the body alone stops a payload being replayed under
/// another type.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Reads an envelope file.
    pub fn load(path: &Path) -> Result<Envelope, SupplyError> {
        Envelope::parse(&read_file(path)?, path)
    }

    /// Parses envelope JSON; `path` names the source in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Envelope, SupplyError> {
        let raw: RawEnvelope = serde_json::from_slice(bytes).map_err(|e| SupplyError::json(path, &e))?;
        let signatures = raw
            .signatures
            .into_iter()
            .map(|s| Ok(EnvelopeSignature { keyid: s.keyid, sig: decode_base64(&s.sig, path, "signatures[].sig")? }))
            .collect::<Result<Vec<_>, SupplyError>>()?;
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload: decode_base64(&raw.payload, path, "payload")?,
            signatures,
        })
    }

    /// The envelope as JSON, base64 with padding.
    pub fn to_json(&self) -> String {
        let raw = RawEnvelope {
            payload_type: self.payload_type.clone(),
            payload: encode_base64(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| RawSignature { keyid: s.keyid.clone(), sig: encode_base64(&s.sig) })
                .collect(),
        };
        serde_json::to_string_pretty(&raw).expect("strings serialise")
    }

    /// The first trusted key that verifies any of the envelope's signatures over the PAE. Key ids in
    /// the envelope are ignored: they are not signed, and a wrong hint must not hide a good signature.
    pub fn verifying_key<'k>(&self, keys: &'k Keyring) -> Option<&'k TrustedKey> {
        let message = pae(&self.payload_type, &self.payload);
        self.signatures.iter().find_map(|s| keys.verifying_key(&message, &s.sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // The DSSE protocol document's worked example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        // Lengths count bytes, not characters.
        assert_eq!(pae("t", "é".as_bytes()), "DSSEv1 1 t 2 é".as_bytes());
    }
}
