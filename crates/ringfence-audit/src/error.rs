//! The one error type of the audit crate. Every variant about the file names the file and, where it is
//! about a line, the 1-based line number, so `ringfence audit verify` can point at the first broken line.

use std::path::PathBuf;

/// What went wrong while writing, opening or verifying an audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file or its directory could not be created, read, written or synced.
    #[error("cannot access audit log {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },

    /// Another process (or another handle in this one) is appending to the same file.
    #[error(
        "audit log {path} is already open for appending by another ringfence process; only one writer may \
         append at a time, so wait for it to finish or stop it"
    )]
    Locked {
        /// The audit file.
        path: PathBuf,
    },

    /// The last line has no newline: an append was cut off (a crash) or the file was truncated.
    #[error(
        "audit log {path} line {line} has no trailing newline: the entry is incomplete, cut off by a crash \
         or by truncation"
    )]
    Truncated {
        /// The audit file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },

    /// A line does not end in a well-formed `,"hash":"<64 lowercase hex digits>"}`.
    #[error("audit log {path} line {line} is malformed: {reason}")]
    MalformedLine {
        /// The audit file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with its shape.
        reason: String,
    },

    /// The line's bytes do not hash to the hash recorded on it: its content was changed.
    #[error(
        "audit log {path} line {line} was altered: it records hash {recorded}, but its content hashes to \
         {computed}"
    )]
    HashMismatch {
        /// The audit file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The hash written on the line.
        recorded: String,
        /// The hash of the line's bytes as they are now.
        computed: String,
    },

    /// The line hashes correctly but is not a valid entry (bad JSON, a missing or unknown field, a bad
    /// timestamp).
    #[error("audit log {path} line {line} is not a valid audit entry: {reason}")]
    InvalidEntry {
        /// The audit file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What the JSON parser or the field checks reported.
        reason: String,
    },

    /// `seq` is not one more than the line before: entries were removed, duplicated or reordered.
    #[error(
        "audit log {path} line {line} has seq {found} where {expected} was expected: an entry was removed, \
         duplicated or reordered"
    )]
    SeqGap {
        /// The audit file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The seq that would continue the chain.
        expected: u64,
        /// The seq on the line.
        found: u64,
    },

    /// `prev` is not the hash of the line before: the chain was cut or spliced here.
    #[error(
        "audit log {path} line {line} does not chain onto the line before it: prev is {found}, expected \
         {expected}; an earlier entry was removed, replaced or reordered"
    )]
    PrevMismatch {
        /// The audit file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The hash of the previous line (or 64 zeros for the first).
        expected: String,
        /// The prev on the line.
        found: String,
    },

    /// `AuditLog::open` found the last entry damaged and will not extend a broken chain.
    #[error(
        "refusing to append to audit log {path}: its last entry is damaged ({problem}). Keep the file as \
         evidence, run `ringfence audit verify` on it to find the first broken line, and start a new log \
         elsewhere"
    )]
    TailBroken {
        /// The audit file.
        path: PathBuf,
        /// What is wrong with the last line.
        problem: Box<AuditError>,
    },

    /// The caller's entry cannot be recorded as given.
    #[error("cannot record audit entry `{action}`: {reason}")]
    InvalidNewEntry {
        /// The entry's action.
        action: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An earlier append failed half-way, so this handle no longer knows what the file ends with.
    #[error(
        "audit log {path}: an earlier append failed, so this handle stopped writing; reopen the log, which \
         checks its last entry before appending again"
    )]
    Poisoned {
        /// The audit file.
        path: PathBuf,
    },
}

impl AuditError {
    /// The 1-based line number this error is about, if it is about one line of the file.
    pub fn line(&self) -> Option<u64> {
        match self {
            AuditError::Truncated { line, .. }
            | AuditError::MalformedLine { line, .. }
            | AuditError::HashMismatch { line, .. }
            | AuditError::InvalidEntry { line, .. }
            | AuditError::SeqGap { line, .. }
            | AuditError::PrevMismatch { line, .. } => Some(*line),
            AuditError::TailBroken { problem, .. } => problem.line(),
            AuditError::Io { .. }
            | AuditError::Locked { .. }
            | AuditError::InvalidNewEntry { .. }
            | AuditError::Poisoned { .. } => None,
        }
    }
}
