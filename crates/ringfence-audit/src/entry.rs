//! One audit entry and its exact byte encoding: the on-disk field order, which bytes the hash covers, and
//! the checks one raw line must pass on its own. Reading files and checking the chain across lines live
//! in `verify`; appending lives in `log`.

use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::AuditError;

/// The `prev` of the first entry: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry is about: always a release, sometimes one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The release version.
    pub release: String,
    /// The tenant, when the entry concerns one.
    pub tenant: Option<String>,
}

/// An entry as the caller hands it to [`crate::AuditLog::append`]; seq and hashes are added there.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// When it happened, from the caller's clock.
    pub ts: Timestamp,
    /// Who did it: `ringfence` for the controller itself, or a person.
    pub actor: String,
    /// What happened, dotted, e.g. `tenant.restore_point.taken`.
    pub action: String,
    /// The release and tenant concerned.
    pub subject: Subject,
    /// Anything else worth keeping; must be a JSON object.
    pub details: Value,
}

/// An entry as recorded in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1-based position in the chain.
    pub seq: u64,
    /// When it happened (RFC 3339, UTC).
    pub ts: Timestamp,
    /// Who did it.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// The release and tenant concerned.
    pub subject: Subject,
    /// Free-form details.
    pub details: Map<String, Value>,
    /// Hash of the previous entry, or [`GENESIS_PREV`].
    pub prev: String,
    /// Hash of this entry's line up to `,"hash":"`.
    pub hash: String,
}

/// The hashed part of a line. Field order here *is* the on-disk order, and `hash` is deliberately absent:
/// it is appended by hand so that it is always the last field.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    ts: Timestamp,
    actor: &'a str,
    action: &'a str,
    subject: &'a Subject,
    details: &'a Map<String, Value>,
    prev: &'a str,
}

const HASH_OPEN: &[u8] = b",\"hash\":\"";
const HASH_CLOSE: &[u8] = b"\"}";
const HASH_HEX_LEN: usize = 64;
/// `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = HASH_OPEN.len() + HASH_HEX_LEN + HASH_CLOSE.len();

/// Builds the complete line for an entry, trailing newline included, and the entry as recorded.
pub(crate) fn encode(seq: u64, prev: &str, new: NewEntry) -> Result<(Vec<u8>, Entry), AuditError> {
    let details = match new.details {
        Value::Object(map) => map,
        other => {
            return Err(AuditError::InvalidNewEntry {
                action: new.action,
                reason: format!("details must be a JSON object, not {other}"),
            });
        }
    };
    for (field, value) in [("actor", &new.actor), ("action", &new.action)] {
        if value.trim().is_empty() {
            let reason = format!("{field} is empty; say who did it and what happened");
            return Err(AuditError::InvalidNewEntry { action: new.action.clone(), reason });
        }
    }
    let body = Body {
        seq,
        ts: new.ts,
        actor: &new.actor,
        action: &new.action,
        subject: &new.subject,
        details: &details,
        prev,
    };
    // Serialising these types cannot fail: every map key is a string and nothing has a custom serialiser.
    let mut line = serde_json::to_vec(&body).expect("audit entry bodies always serialise");
    // serde_json escapes control characters inside strings, so the only newline will be the one added
    // below; that is what makes "one entry per line" hold for any actor, action or details.
    debug_assert_eq!(line.last(), Some(&b'}'));
    line.pop();
    let hash = sha256_hex(&line);
    line.extend_from_slice(HASH_OPEN);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(HASH_CLOSE);
    line.push(b'\n');
    let entry = Entry {
        seq,
        ts: new.ts,
        actor: new.actor,
        action: new.action,
        subject: new.subject,
        details,
        prev: prev.to_owned(),
        hash,
    };
    Ok((line, entry))
}

/// Checks one line (without its newline) on its own: shape of the hash field, the hash itself, then the
/// JSON. Chain checks (seq, prev) need the line before and are done by the caller.
pub(crate) fn decode(raw: &[u8]) -> Result<Entry, Fault> {
    if raw.len() <= SUFFIX_LEN {
        return Err(Fault::Malformed("the line is too short to hold an entry and its hash".into()));
    }
    let (body, suffix) = raw.split_at(raw.len() - SUFFIX_LEN);
    let recorded = &suffix[HASH_OPEN.len()..HASH_OPEN.len() + HASH_HEX_LEN];
    // Only lowercase hex is accepted so that no byte of the hash can change without being noticed.
    let well_formed = suffix.starts_with(HASH_OPEN)
        && suffix.ends_with(HASH_CLOSE)
        && recorded.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    if !well_formed {
        return Err(Fault::Malformed("it does not end with `,\"hash\":\"<64 lowercase hex digits>\"}`".into()));
    }
    let recorded = String::from_utf8_lossy(recorded).into_owned();
    let computed = sha256_hex(body);
    if computed != recorded {
        return Err(Fault::HashMismatch { recorded, computed });
    }
    let entry: Entry = serde_json::from_slice(raw).map_err(|e| Fault::Invalid(e.to_string()))?;
    if entry.hash != recorded {
        // Defensive: whatever the JSON says, it must agree with the bytes the hash was checked against.
        return Err(Fault::Invalid("the parsed hash differs from the hash at the end of the line".into()));
    }
    Ok(entry)
}

/// A problem with one line, before it is tied to a file and line number.
#[derive(Debug)]
pub(crate) enum Fault {
    Truncated,
    Malformed(String),
    HashMismatch { recorded: String, computed: String },
    Invalid(String),
    SeqGap { expected: u64, found: u64 },
    PrevMismatch { expected: String, found: String },
}

impl Fault {
    /// Ties the problem to where it was found.
    pub(crate) fn at(self, path: &Path, line: u64) -> AuditError {
        let path = path.to_owned();
        match self {
            Fault::Truncated => AuditError::Truncated { path, line },
            Fault::Malformed(reason) => AuditError::MalformedLine { path, line, reason },
            Fault::HashMismatch { recorded, computed } => AuditError::HashMismatch { path, line, recorded, computed },
            Fault::Invalid(reason) => AuditError::InvalidEntry { path, line, reason },
            Fault::SeqGap { expected, found } => AuditError::SeqGap { path, line, expected, found },
            Fault::PrevMismatch { expected, found } => AuditError::PrevMismatch { path, line, expected, found },
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(HASH_HEX_LEN);
    for byte in digest {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> NewEntry {
        NewEntry {
            ts: "2025-03-01T10:00:00Z".parse().unwrap(),
            actor: "alice@example.com".into(),
            action: "release.approved".into(),
            subject: Subject { release: "17.0.3".into(), tenant: Some("acme\nnewline".into()) },
            details: json!({ "note": "multi\nline", "b": 1, "a": [true, null] }),
        }
    }

    #[test]
    fn encoded_line_is_one_line_ending_in_the_hash_field_and_decodes_back() {
        let (line, entry) = encode(1, GENESIS_PREV, sample()).unwrap();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "exactly the trailing newline");
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with("{\"seq\":1,\"ts\":\"2025-03-01T10:00:00Z\",\"actor\":"), "{text}");
        assert!(text.ends_with(&format!(",\"hash\":\"{}\"}}\n", entry.hash)), "{text}");
        assert_eq!(decode(&line[..line.len() - 1]).unwrap(), entry);
    }

    #[test]
    fn details_must_be_an_object_and_actor_must_not_be_blank() {
        let mut new = sample();
        new.details = json!([1, 2]);
        assert!(matches!(encode(1, GENESIS_PREV, new), Err(AuditError::InvalidNewEntry { .. })));
        let mut new = sample();
        new.actor = " ".into();
        assert!(matches!(encode(1, GENESIS_PREV, new), Err(AuditError::InvalidNewEntry { .. })));
    }

    #[test]
    fn uppercase_hash_is_malformed() {
        let (line, entry) = encode(1, GENESIS_PREV, sample()).unwrap();
        let text = String::from_utf8(line).unwrap().replace(&entry.hash, &entry.hash.to_uppercase());
        let text = text.trim_end_matches('\n');
        if entry.hash != entry.hash.to_uppercase() {
            assert!(matches!(decode(text.as_bytes()), Err(Fault::Malformed(_))));
        }
    }
}
