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

    /// Opens the log like [`AuditLog::open`], but first recovers from the one thing a crash in the middle
    /// of an append can leave: a last line with no newline. Its bytes are moved to `<file>.torn-<offset>`
    /// (kept as evidence, synced) and cut from the log, so the chain continues from the last complete
    /// entry. A complete last line that fails its checks is not a crash artefact and is still refused.
    ///
    /// Returns what was recovered, if anything, so the caller can record it in the trail.
    pub fn open_recovering(path: impl AsRef<Path>) -> Result<(AuditLog, Option<TornTail>)> {
        let path = path.as_ref();
        let torn = match AuditLog::open(path) {
            Ok(log) => return Ok((log, None)),
            Err(AuditError::TailBroken { problem, .. }) if matches!(*problem, AuditError::Truncated { .. }) => {
                cut_torn_tail(path, problem.line().unwrap_or(0))?
            }
            Err(other) => return Err(other),
        };
        Ok((AuditLog::open(path)?, Some(torn)))
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

/// An incomplete last line cut from a log by [`AuditLog::open_recovering`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based line number it occupied.
    pub line: u64,
    /// How many bytes it had.
    pub bytes: u64,
    /// Where its bytes were saved.
    pub saved_to: PathBuf,
}

fn cut_torn_tail(path: &Path, line: u64) -> Result<TornTail> {
    let io = |source| AuditError::Io { path: path.to_owned(), source };
    let file = OpenOptions::new().read(true).write(true).open(path).map_err(io)?;
    // Another controller may have opened the log since `open` let go of it: never cut under a writer.
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(AuditError::Locked { path: path.to_owned() }),
        Err(TryLockError::Error(source)) => return Err(io(source)),
    }
    let len = file.metadata().map_err(io)?.len();
    let LastLine::Unterminated { start } = read_last_line(&file, len).map_err(io)? else {
        // Someone completed the line since we looked; let `open` judge it.
        return Ok(TornTail { line, bytes: 0, saved_to: PathBuf::new() });
    };
    let mut torn = Vec::new();
    (&file).seek(SeekFrom::Start(start)).map_err(io)?;
    (&file).read_to_end(&mut torn).map_err(io)?;
    let mut saved_to = path.as_os_str().to_owned();
    saved_to.push(format!(".torn-{start}"));
    let saved_to = PathBuf::from(saved_to);
    // Save the evidence durably before cutting it from the log.
    let mut evidence = File::create(&saved_to).map_err(|source| AuditError::Io { path: saved_to.clone(), source })?;
    evidence
        .write_all(&torn)
        .and_then(|()| evidence.sync_all())
        .map_err(|source| AuditError::Io { path: saved_to.clone(), source })?;
    file.set_len(start).and_then(|()| file.sync_all()).map_err(io)?;
    Ok(TornTail { line, bytes: torn.len() as u64, saved_to })
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
