//! Ringfence's tamper-evident audit trail: an append-only file of JSON lines, each entry chained to the one
//! before it by a SHA-256 hash, and a verifier that names the first line that was altered, removed,
//! reordered or cut off.
//!
//! This crate decides nothing about *what* is audited (the runtime and the CLI choose actors, actions and
//! details) and never reads the clock: every entry's timestamp is given by the caller. It detects changes;
//! it cannot prevent someone who can write the file from rewriting the whole chain, nor notice that whole
//! entries were cut off the end. For that, record [`VerifyReport::head_hash`] somewhere else (a release
//! record, a ticket) and compare it later.
//!
//! On disk, one entry is one line:
//!
//! ```text
//! {"seq":1,"ts":"2025-03-01T10:00:00Z","actor":"ringfence","action":"release.started","subject":{"release":"17.0.3","tenant":null},"details":{},"prev":"000…000","hash":"…"}
//! ```
//!
//! `hash` is the lowercase hex SHA-256 of the exact bytes of the line that come before `,"hash":"`, so it
//! covers every field, and the verifier recomputes it from the raw bytes rather than from re-serialised
//! JSON.

mod entry;
mod error;
mod log;
mod verify;

pub use entry::{Entry, GENESIS_PREV, NewEntry, Subject};
pub use error::AuditError;
pub use log::{AuditLog, TornTail};
pub use verify::{Cursor, VerifyReport, read_entries, read_new_entries, verify, verify_reader};

/// Result type of this crate.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;
