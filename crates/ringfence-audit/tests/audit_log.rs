//! Behaviour of the audit log as a file: appending, reopening, verifying, and detecting tampering.

use std::fs;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use ringfence_audit::{AuditError, AuditLog, Entry, GENESIS_PREV, NewEntry, Subject, read_entries, verify};
use serde_json::json;

fn entry(n: u32, tenant: Option<&str>) -> NewEntry {
    NewEntry {
        ts: Timestamp::from_second(1_740_823_200 + i64::from(n) * 61).unwrap(),
        actor: if n.is_multiple_of(2) { "ringfence".into() } else { "alice@example.com".into() },
        action: ["release.started", "tenant.restore_point.taken", "tenant.migrated", "gate.passed"][n as usize % 4]
            .into(),
        subject: Subject { release: "17.0.3".into(), tenant: tenant.map(str::to_owned) },
        details: json!({ "n": n, "note": "quotes \" and\nnewlines, ünïcode", "nested": { "ok": true } }),
    }
}

/// A log of five entries written by the library, and what `append` returned for them.
fn small_log(dir: &Path) -> (PathBuf, Vec<Entry>) {
    let path = dir.join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    let tenants = [None, Some("acme"), Some("bakery-42"), None, Some("acme")];
    let written = (0..5).map(|n| log.append(entry(n, tenants[n as usize])).unwrap()).collect();
    (path, written)
}

#[test]
fn appended_entries_verify_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = small_log(dir.path());

    let report = verify(&path).unwrap();
    assert_eq!(report.entries, 5);
    assert_eq!(report.head_hash, written[4].hash);
    assert_eq!(read_entries(&path).unwrap(), written);

    assert_eq!(written[0].prev, GENESIS_PREV);
    for (n, pair) in written.windows(2).enumerate() {
        assert_eq!(pair[1].prev, pair[0].hash);
        assert_eq!(pair[1].seq, n as u64 + 2);
    }
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 5, "one entry per line even with newlines in details");
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let first = {
        let mut log = AuditLog::open(&path).unwrap();
        log.append(entry(0, None)).unwrap();
        log.append(entry(1, Some("acme"))).unwrap()
    };

    let mut log = AuditLog::open(&path).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log.head_hash(), first.hash);
    let third = log.append(entry(2, Some("acme"))).unwrap();
    assert_eq!(third.seq, 3);
    assert_eq!(third.prev, first.hash);
    drop(log);

    assert_eq!(verify(&path).unwrap().entries, 3);
}

#[test]
fn open_creates_parent_directories_and_an_empty_log_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    assert!(log.is_empty());
    drop(log);
    let report = verify(&path).unwrap();
    assert_eq!(report.entries, 0);
    assert_eq!(report.head_hash, GENESIS_PREV);
    assert!(read_entries(&path).unwrap().is_empty());
}

#[test]
fn a_second_writer_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let _first = AuditLog::open(&path).unwrap();
    assert!(matches!(AuditLog::open(&path), Err(AuditError::Locked { .. })));
}

#[test]
fn details_that_are_not_an_object_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = AuditLog::open(dir.path().join("audit.jsonl")).unwrap();
    let mut bad = entry(0, None);
    bad.details = json!("just a string");
    assert!(matches!(log.append(bad), Err(AuditError::InvalidNewEntry { .. })));
    // A refused entry consumes no seq.
    assert_eq!(log.append(entry(1, None)).unwrap().seq, 1);
}

/// Every single-byte change anywhere in the file — flipped low or high bit, replacement by `x` or by a
/// newline, deletion — must be caught, and on the line holding that byte. A newline belongs to the line
/// it ends, so a changed or deleted newline is reported on that line (never the next one).
#[test]
fn every_single_byte_change_is_detected_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_log(dir.path());
    let original = fs::read(&path).unwrap();
    let line_of = |pos: usize| 1 + original[..pos].iter().filter(|&&b| b == b'\n').count() as u64;

    let mut checked = 0;
    for pos in 0..original.len() {
        let byte = original[pos];
        let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
        for replacement in [byte ^ 0x01, byte ^ 0x80, b'x', b'\n'] {
            if replacement != byte {
                let mut tampered = original.clone();
                tampered[pos] = replacement;
                variants.push((format!("byte {pos} {byte:#04x} -> {replacement:#04x}"), tampered));
            }
        }
        let mut deleted = original.clone();
        deleted.remove(pos);
        variants.push((format!("byte {pos} {byte:#04x} deleted"), deleted));

        for (what, tampered) in variants {
            let error = ringfence_audit::verify_reader(&tampered[..], Path::new("audit.jsonl"))
                .expect_err(&format!("{what} went unnoticed"));
            assert_eq!(error.line(), Some(line_of(pos)), "{what}: {error}");
            checked += 1;
        }
    }
    assert!(checked >= 4 * original.len(), "checked only {checked} variants");
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap().lines().map(|l| format!("{l}\n")).collect()
}

fn verify_text(text: &str) -> Result<ringfence_audit::VerifyReport, AuditError> {
    ringfence_audit::verify_reader(text.as_bytes(), Path::new("audit.jsonl"))
}

#[test]
fn removed_reordered_and_duplicated_entries_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_log(dir.path());
    let l = lines(&path);

    let removed = [&l[0], &l[1], &l[3], &l[4]].map(String::as_str).concat();
    let error = verify_text(&removed).unwrap_err();
    assert!(matches!(error, AuditError::SeqGap { line: 3, expected: 3, found: 4, .. }), "{error}");

    let swapped = [&l[0], &l[2], &l[1], &l[3], &l[4]].map(String::as_str).concat();
    assert!(matches!(verify_text(&swapped).unwrap_err(), AuditError::SeqGap { line: 2, .. }));

    let duplicated = [&l[0], &l[1], &l[1], &l[2]].map(String::as_str).concat();
    assert!(matches!(verify_text(&duplicated).unwrap_err(), AuditError::SeqGap { line: 3, .. }));

    let first_removed = [&l[1], &l[2]].map(String::as_str).concat();
    assert!(matches!(verify_text(&first_removed).unwrap_err(), AuditError::SeqGap { line: 1, .. }));
}

#[test]
fn cutting_whole_entries_off_the_end_changes_only_the_head_hash() {
    // Truncation at a line boundary leaves a valid shorter chain: the documented limit, which an
    // anchored head hash catches.
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = small_log(dir.path());
    let l = lines(&path);
    let report = verify_text(&l[..3].concat()).unwrap();
    assert_eq!(report.entries, 3);
    assert_ne!(report.head_hash, written[4].hash);
}

#[test]
fn a_crash_mid_append_is_reported_and_blocks_further_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_log(dir.path());
    let complete = fs::read(&path).unwrap();
    // What a crash during the sixth append could leave behind: part of a line, no newline.
    let mut cut = complete.clone();
    cut.extend_from_slice(b"{\"seq\":6,\"ts\":\"2025-03-0");
    fs::write(&path, &cut).unwrap();

    let error = verify(&path).unwrap_err();
    assert!(matches!(error, AuditError::Truncated { line: 6, .. }), "{error}");
    let error = AuditLog::open(&path).unwrap_err();
    assert!(
        matches!(&error, AuditError::TailBroken { problem, .. } if matches!(**problem, AuditError::Truncated { line: 6, .. })),
        "{error}"
    );
    assert!(error.to_string().contains("refusing to append"), "{error}");

    // Losing only the final newline is just as incomplete.
    fs::write(&path, &complete[..complete.len() - 1]).unwrap();
    assert!(matches!(verify(&path).unwrap_err(), AuditError::Truncated { line: 5, .. }));
    assert_eq!(AuditLog::open(&path).unwrap_err().line(), Some(5));
}

#[test]
fn open_refuses_a_log_whose_last_entry_was_altered() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_log(dir.path());
    let text = fs::read_to_string(&path).unwrap();
    let at = text.rfind("bakery").map(|_| text.rfind("\"ok\":true").unwrap()).unwrap();
    let tampered = format!("{}\"ok\":fals{}", &text[..at], &text[at + "\"ok\":tru".len()..]);
    fs::write(&path, tampered).unwrap();

    let error = AuditLog::open(&path).unwrap_err();
    assert!(
        matches!(&error, AuditError::TailBroken { problem, .. } if matches!(**problem, AuditError::HashMismatch { line: 5, .. })),
        "{error}"
    );
    assert!(matches!(verify(&path).unwrap_err(), AuditError::HashMismatch { line: 5, .. }));
    assert!(read_entries(&path).is_err());
}

#[test]
fn a_single_line_log_is_read_from_the_start_of_the_file() {
    // The backwards tail reader must also handle a file with no newline before its last line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let first = AuditLog::open(&path).unwrap().append(entry(0, None)).unwrap();
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.head_hash(), first.hash);
    assert_eq!(log.len(), 1);
}

#[test]
fn long_entries_spanning_several_read_blocks_are_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    let mut big = entry(1, Some("acme"));
    big.details = json!({ "blob": "y".repeat(20_000) });
    log.append(entry(0, None)).unwrap();
    let last = log.append(big).unwrap();
    drop(log);
    let log = AuditLog::open(&path).unwrap();
    assert_eq!((log.len(), log.head_hash()), (2, last.hash.as_str()));
}

#[test]
fn open_recovering_cuts_a_torn_last_line_keeps_it_as_evidence_and_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = small_log(dir.path());
    let intact_len = fs::metadata(&path).unwrap().len();
    // What a crash in the middle of the sixth append leaves: part of a line, no newline.
    let torn = br#"{"seq":6,"ts":"2025-03-01T10:06:06Z","actor":"ringf"#;
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(torn);
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(AuditLog::open(&path), Err(AuditError::TailBroken { .. })));

    let (mut log, recovered) = AuditLog::open_recovering(&path).unwrap();
    let recovered = recovered.expect("the torn line was recovered");
    assert_eq!(recovered.line, 6);
    assert_eq!(recovered.bytes, torn.len() as u64);
    assert_eq!(fs::read(&recovered.saved_to).unwrap(), torn, "the torn bytes are kept");
    assert_eq!(fs::metadata(&path).unwrap().len(), intact_len);
    assert_eq!(log.head_hash(), written[4].hash);
    let next = log.append(entry(5, None)).unwrap();
    assert_eq!(next.seq, 6);
    assert_eq!(verify(&path).unwrap().entries, 6);
}

#[test]
fn open_recovering_leaves_an_intact_log_alone_and_still_refuses_an_altered_last_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = small_log(dir.path());
    let (log, recovered) = AuditLog::open_recovering(&path).unwrap();
    assert_eq!(recovered, None);
    assert_eq!(log.len(), 5);
    drop(log);
    // A complete last line with a changed byte is tampering or corruption, not a crash artefact.
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 1;
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(AuditLog::open_recovering(&path), Err(AuditError::TailBroken { .. })));
    assert_eq!(fs::read(&path).unwrap(), bytes, "nothing was cut");
}

/// A follower reads each appended line once, verified against the chain it has seen: a line still
/// being written waits for the next call, and a line that does not continue the chain is an error.
#[test]
fn a_follower_reads_only_new_entries_and_checks_they_continue_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = small_log(dir.path());
    let mut cursor = ringfence_audit::Cursor::default();
    assert_eq!(ringfence_audit::read_new_entries(&path, &mut cursor).unwrap(), written);
    assert!(ringfence_audit::read_new_entries(&path, &mut cursor).unwrap().is_empty(), "nothing new");
    assert_eq!(cursor.entries, 5);

    let mut log = AuditLog::open(&path).unwrap();
    let sixth = log.append(entry(5, None)).unwrap();
    drop(log);
    // Half a line, as a writer mid-append leaves it: not read yet.
    let whole = fs::read(&path).unwrap();
    fs::write(dir.path().join("partial.jsonl"), &whole[..whole.len() - 10]).unwrap();
    let mut partial_cursor = cursor.clone();
    assert!(
        ringfence_audit::read_new_entries(dir.path().join("partial.jsonl"), &mut partial_cursor).unwrap().is_empty()
    );
    assert_eq!(partial_cursor, cursor);
    assert_eq!(ringfence_audit::read_new_entries(&path, &mut cursor).unwrap(), vec![sixth]);

    // Another log's lines do not continue this chain.
    let other = tempfile::tempdir().unwrap();
    let (other_path, _) = small_log(other.path());
    let mut foreign = cursor.clone();
    foreign.offset = 0;
    assert!(ringfence_audit::read_new_entries(&other_path, &mut foreign).is_err());
}
