//! Checking a whole audit log: every line's own hash, then the chain (consecutive `seq`, `prev` equal
//! to the hash of the line before), stopping at the first broken line. Also the reader for export and
//! status, which refuses to return entries from a damaged log. Writing is `log`'s job.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::entry::{self, Entry, Fault, GENESIS_PREV};
use crate::{AuditError, Result};

/// The outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many entries the log holds.
    pub entries: u64,
    /// The hash of the last entry, or [`GENESIS_PREV`] for an empty log; record it elsewhere to detect
    /// later truncation or rewriting.
    pub head_hash: String,
}

/// Verifies the log at `path`. An empty file is a valid log with no entries.
///
/// On failure the error names the first broken line. A changed byte is reported on the line that
/// contains it; a changed or deleted newline is reported on the line it ended.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| AuditError::Io { path: path.to_owned(), source })?;
    verify_reader(file, path)
}

/// Verifies a log read from `reader`; `path` is only used to name the log in errors.
pub fn verify_reader(reader: impl Read, path: &Path) -> Result<VerifyReport> {
    scan(reader, path, |_| {})
}

/// Reads every entry of the log at `path`, verifying the whole chain first-to-last on the way; a damaged
/// log yields the same error as [`verify`] and no entries.
pub fn read_entries(path: impl AsRef<Path>) -> Result<Vec<Entry>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| AuditError::Io { path: path.to_owned(), source })?;
    let mut entries = Vec::new();
    scan(file, path, |entry| entries.push(entry))?;
    Ok(entries)
}

/// Where a reader of a growing log has got to: the byte after the last complete line read, that
/// line's `seq` and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Bytes of the log read so far (always at a line boundary).
    pub offset: u64,
    /// Entries read so far (the last one's `seq`).
    pub entries: u64,
    /// The last entry's hash, or [`GENESIS_PREV`].
    pub head_hash: String,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor { offset: 0, entries: 0, head_hash: GENESIS_PREV.to_owned() }
    }
}

/// Reads the entries appended to the log at `path` since `cursor`, verifying that they continue
/// its chain, and moves the cursor past them. A last line still being written (no newline yet) is
/// left for the next call; any other damage is an error naming the line. A process that follows
/// a log as it grows reads each line once, instead of the whole log at every look.
pub fn read_new_entries(path: impl AsRef<Path>, cursor: &mut Cursor) -> Result<Vec<Entry>> {
    use std::io::{Seek, SeekFrom};
    let path = path.as_ref();
    let io = |source| AuditError::Io { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(cursor.offset)).map_err(io)?;
    let mut reader = BufReader::new(file);
    let mut raw = Vec::new();
    let mut entries = Vec::new();
    loop {
        raw.clear();
        let read = reader.read_until(b'\n', &mut raw).map_err(io)?;
        if read == 0 || !raw.ends_with(b"\n") {
            return Ok(entries);
        }
        let line = cursor.entries + 1;
        let entry = check(&raw, line, &cursor.head_hash).map_err(|fault| fault.at(path, line))?;
        cursor.offset += read as u64;
        cursor.entries = line;
        cursor.head_hash.clone_from(&entry.hash);
        entries.push(entry);
    }
}

fn scan(reader: impl Read, path: &Path, mut on_entry: impl FnMut(Entry)) -> Result<VerifyReport> {
    let mut reader = BufReader::new(reader);
    let mut raw = Vec::new();
    let mut line = 0;
    let mut head = GENESIS_PREV.to_owned();
    loop {
        raw.clear();
        let read =
            reader.read_until(b'\n', &mut raw).map_err(|source| AuditError::Io { path: path.to_owned(), source })?;
        if read == 0 {
            return Ok(VerifyReport { entries: line, head_hash: head });
        }
        line += 1;
        let entry = check(&raw, line, &head).map_err(|fault| fault.at(path, line))?;
        head.clone_from(&entry.hash);
        on_entry(entry);
    }
}

/// Checks line number `line` (raw, newline included) against the hash of the line before it.
fn check(raw: &[u8], line: u64, prev: &str) -> Result<Entry, Fault> {
    let Some(body) = raw.strip_suffix(b"\n") else {
        return Err(Fault::Truncated);
    };
    let entry = entry::decode(body)?;
    // Seq first: for a removed or duplicated entry "seq 4 where 3 was expected" says more than a hash.
    if entry.seq != line {
        return Err(Fault::SeqGap { expected: line, found: entry.seq });
    }
    if entry.prev != prev {
        return Err(Fault::PrevMismatch { expected: prev.to_owned(), found: entry.prev });
    }
    Ok(entry)
}
