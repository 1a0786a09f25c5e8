//! Appending to an audit log: opening (or creating) the file, checking its last entry so the chain is
//! only ever extended from an intact tail, and writing each entry durably. Checking the whole file is
//! `verify`'s job, not this module's.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::entry::{self, Entry, Fault, GENESIS_PREV, NewEntry};
use crate::{AuditError, Result};

/// An audit log open for appending. Holds an exclusive advisory lock on the file while it lives, so two
/// controllers cannot interleave their chains.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    next_seq: u64,
    head: String,
    poisoned: bool,
}

impl AuditLog {
    /// Opens the log at `path` for appending, creating it and its parent directories if missing.
    ///
    /// An existing log's last entry must be intact (complete line, correct own hash, valid JSON); the rest
    /// of the file is not read, so run [`crate::verify`] for a full check.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog> {
        let path = path.as_ref().to_owned();
        let io = |source| AuditError::Io { path: path.clone(), source };
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = parent {
            fs::create_dir_all(dir).map_err(|source| AuditError::Io { path: dir.to_owned(), source })?;
        }
        // `append` sets O_APPEND: every write lands at the end, whatever the read position is.
        let file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(AuditError::Locked { path }),
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            // The file may have just been created: make its directory entry durable too, or a crash
            // could lose the whole log along with the entries about to be synced into it.
            sync_dir(parent.unwrap_or(Path::new(".")))?;
            return Ok(AuditLog { path, file, next_seq: 1, head: GENESIS_PREV.to_owned(), poisoned: false });
        }
        let tail = match read_last_line(&file, len).map_err(io)? {
            LastLine::Complete { start, bytes } => entry::decode(&bytes).map_err(|fault| (start, fault)),
            LastLine::Unterminated { start } => Err((start, Fault::Truncated)),
        };
        match tail {
            Ok(last) => Ok(AuditLog { path, file, next_seq: last.seq + 1, head: last.hash, poisoned: false }),
            Err((start, fault)) => {
                // Only now is the line number worth counting the whole prefix for.
                let line = count_newlines(&file, start).map_err(io)? + 1;
                Err(AuditError::TailBroken { problem: Box::new(fault.at(&path, line)), path })
            }
        }
    }

    /// Appends one entry, chained to the last, and syncs it to disk before returning it.
    pub fn append(&mut self, entry: NewEntry) -> Result<Entry> {
        if self.poisoned {
            return Err(AuditError::Poisoned { path: self.path.clone() });
        }
        let (line, entry) = entry::encode(self.next_seq, &self.head, entry)?;
        // One write of the whole line: with O_APPEND a reader never sees two entries interleaved, and a
        // crash leaves at worst one incomplete last line, which `open` and `verify` report.
        let written = self.file.write_all(&line).and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            // The file may now end in a partial line; appending after it would bury the damage.
            self.poisoned = true;
            return Err(AuditError::Io { path: self.path.clone(), source });
        }
        self.next_seq += 1;
        self.head.clone_from(&entry.hash);
        Ok(entry)
    }

    /// The hash of the last entry ([`GENESIS_PREV`] for an empty log): the value to anchor elsewhere.
    pub fn head_hash(&self) -> &str {
        &self.head
    }

    /// How many entries the log holds.
    pub fn len(&self) -> u64 {
        self.next_seq - 1
    }

    /// Whether the log holds no entry yet.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 1
    }

    /// The file this log appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

enum LastLine {
    /// The bytes of the last line without its newline, and the offset where it starts.
    Complete { start: u64, bytes: Vec<u8> },
    /// The file does not end in a newline; the unterminated line starts at `start`.
    Unterminated { start: u64 },
}

/// Reads the file backwards in blocks until the newline before the last line, so opening a long log
/// costs one line, not the whole file.
fn read_last_line(mut file: &File, len: u64) -> std::io::Result<LastLine> {
    const BLOCK: u64 = 8192;
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    let mut terminated = None;
    loop {
        let from = pos.saturating_sub(BLOCK);
        let mut block = vec![0; usize::try_from(pos - from).expect("block fits in memory")];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
        pos = from;
        let terminated = *terminated.get_or_insert(tail.last() == Some(&b'\n'));
        // Skip the final newline itself when looking for the start of the last line.
        let search = if terminated { &tail[..tail.len() - 1] } else { &tail[..] };
        if let Some(i) = search.iter().rposition(|&b| b == b'\n') {
            let start = pos + i as u64 + 1;
            return Ok(finish(terminated, start, tail.split_off(i + 1)));
        }
        if pos == 0 {
            return Ok(finish(terminated, 0, tail));
        }
    }
}

fn finish(terminated: bool, start: u64, mut bytes: Vec<u8>) -> LastLine {
    if terminated {
        bytes.pop();
        LastLine::Complete { start, bytes }
    } else {
        LastLine::Unterminated { start }
    }
}

fn count_newlines(mut file: &File, upto: u64) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0; 64 * 1024];
    let mut left = upto;
    let mut count = 0;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).expect("bounded by the buffer length");
        file.read_exact(&mut buf[..want])?;
        count += buf[..want].iter().filter(|&&b| b == b'\n').count() as u64;
        left -= want as u64;
    }
    Ok(count)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| AuditError::Io { path: dir.to_owned(), source })
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    // Directories cannot be opened and synced this way outside Unix.
    Ok(())
}
