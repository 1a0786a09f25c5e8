//! Addon content hashes, computed exactly as click-odoo-update and OCA's `module_auto_update` compute
//! them, so that Ringfence predicts the modules their checksum mode upgrades and can compare with the
//! `module_auto_update.installed_checksums` parameter a tenant database already holds. Also a
//! fingerprint of every file (length and CRC-32), which change facts use to tell an assets-only change
//! from a code change.
//!
//! The checksum of an addon is one SHA-1 over, for each file kept, its path relative to the addon
//! (`/`-separated, UTF-8) followed by its bytes — the path goes in so that an empty file, or a renamed
//! one, still changes the hash. Files come in the order of Python's `os.walk` with sorted names: a
//! directory's files first, then each subdirectory in turn; symlinked directories are not entered. A
//! file is left out when its relative path matches one of the exclude patterns (Python `fnmatch`: `*`
//! crosses `/`; default [`DEFAULT_EXCLUDE_PATTERNS`]), and, when the tenant has active languages, a
//! `.po` file directly in `i18n/` or `i18n_extra/` whose language part (before the first `_`) is not
//! the language part of an active language. A wheel hashes like the directory pip installs from it:
//! the zip entries under `odoo/addons/<name>/`.
//!
//! Not here: which modules that makes upgrade ([`crate::upgrade`]), reading the stored checksums from
//! a database ([`crate::database`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use sha1::{Digest, Sha1};

use crate::error::OdooError;
use crate::tree::{Addon, AddonSet, AddonSource};

/// click-odoo-update's default exclude patterns (its `module_auto_update.exclude_patterns` parameter
/// overrides them per database).
pub const DEFAULT_EXCLUDE_PATTERNS: &str = "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*";

/// The `ir_config_parameter` key holding a tenant's stored checksums: a JSON object, module → hash.
pub const INSTALLED_CHECKSUMS_KEY: &str = "module_auto_update.installed_checksums";

/// The `ir_config_parameter` key that overrides [`DEFAULT_EXCLUDE_PATTERNS`].
pub const EXCLUDE_PATTERNS_KEY: &str = "module_auto_update.exclude_patterns";

/// One file's fingerprint: its length and the CRC-32 of its bytes. It tells which files of an addon
/// changed between two releases; it is not a content address (the SHA-1 checksum is what decides an
/// upgrade). CRC-32 because zip entries carry it: a wheel's assets, which the checksum leaves out, are
/// fingerprinted from the archive's directory without inflating them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileFingerprint {
    /// Length in bytes.
    pub len: u64,
    /// CRC-32 (IEEE, as in zip) of the bytes.
    pub crc32: u32,
}

impl FileFingerprint {
    fn of(bytes: &[u8]) -> FileFingerprint {
        FileFingerprint { len: bytes.len() as u64, crc32: crc32fast::hash(bytes) }
    }
}

/// Which files count towards an addon's checksum, for one tenant database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashRules {
    exclude: Vec<String>,
    languages: BTreeSet<String>,
}

impl Default for HashRules {
    fn default() -> HashRules {
        HashRules::new(DEFAULT_EXCLUDE_PATTERNS, &[] as &[&str])
    }
}

impl HashRules {
    /// Rules from the comma-separated exclude patterns (as stored in the parameter; blanks around
    /// each pattern are ignored) and the tenant's active language codes (`res_lang.code`, e.g. `fr_BE`).
    /// No active languages means every `.po` file counts, as in click-odoo-update.
    pub fn new(exclude_patterns: &str, active_languages: &[impl AsRef<str>]) -> HashRules {
        HashRules {
            exclude: exclude_patterns.split(',').map(|p| p.trim().to_owned()).collect(),
            languages: active_languages
                .iter()
                .map(|l| l.as_ref().split('_').next().unwrap_or_default().to_owned())
                .collect(),
        }
    }

    /// Whether the file at `rel` (relative to the addon, `/`-separated) counts towards the checksum.
    pub fn counts(&self, rel: &str) -> bool {
        if self.exclude.iter().any(|p| fnmatch(rel, p)) {
            return false;
        }
        let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
        if !self.languages.is_empty() && (dir == "i18n" || dir == "i18n_extra") {
            let (stem, ext) = split_ext(file);
            if ext == ".po" && !self.languages.contains(stem.split('_').next().unwrap_or_default()) {
                return false;
            }
        }
        true
    }
}

/// An addon's content, hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonDigest {
    /// The click-odoo-update checksum (40 lowercase hex digits) under the rules it was computed with.
    pub checksum: String,
    /// The fingerprint of every file but compiled Python (`*.pyc`, `*.pyo`, `__pycache__/`), by
    /// relative path: what changed between two releases of the addon, whatever the rules exclude.
    pub files: BTreeMap<String, FileFingerprint>,
}

impl AddonDigest {
    /// The paths added, removed or modified from `old` to `self`, sorted.
    pub fn changed_files(&self, old: &AddonDigest) -> Vec<String> {
        let mut changed: BTreeSet<&String> =
            self.files.iter().filter(|(p, d)| old.files.get(*p) != Some(d)).map(|(p, _)| p).collect();
        changed.extend(old.files.keys().filter(|p| !self.files.contains_key(*p)));
        changed.into_iter().cloned().collect()
    }
}

/// Hashes one addon, reading each of its files once (a wheel's files that the checksum leaves out are
/// not even inflated).
pub fn digest_addon(addon: &Addon, rules: &HashRules) -> Result<AddonDigest, OdooError> {
    digest_with(addon, rules, &mut Vec::new())
}

/// [`digest_addon`] reading files through `buf`, which a worker reuses across files and addons rather
/// than allocating (and faulting in) fresh memory for each of the tens of thousands of files.
fn digest_with(addon: &Addon, rules: &HashRules, buf: &mut Vec<u8>) -> Result<AddonDigest, OdooError> {
    let mut checksum = Sha1::new();
    let mut files = BTreeMap::new();
    match &addon.source {
        AddonSource::Dir(dir) => walk(dir, "", rules, buf, &mut checksum, &mut files)?,
        AddonSource::Wheel { path, prefix } => {
            let mut counted = Vec::new();
            wheel_files(path, prefix, rules, &mut counted, &mut files)?;
            // Zip entries come in archive order; the checksum needs the order of the installed tree.
            counted.sort_by(|a, b| walk_order(&a.0, &b.0));
            for (rel, bytes) in &counted {
                checksum.update(rel.as_bytes());
                checksum.update(bytes);
            }
        }
    }
    Ok(AddonDigest { checksum: hex(&checksum.finalize()), files })
}

/// Hashes every addon of a set, on all cores; by name.
pub fn digest_set(set: &AddonSet, rules: &HashRules) -> Result<BTreeMap<String, AddonDigest>, OdooError> {
    let addons: Vec<&Addon> = set.iter().collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<AddonDigest, OdooError>)>> = Mutex::new(Vec::with_capacity(addons.len()));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(addons.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = Vec::new();
                loop {
                    let i = next.fetch_add(1, AtomicOrdering::Relaxed);
                    let Some(addon) = addons.get(i) else { break };
                    let digest = digest_with(addon, rules, &mut buf);
                    results.lock().unwrap_or_else(|e| e.into_inner()).push((i, digest));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    // The first error in name order, so the same broken tree always reports the same file.
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(i, digest)| Ok((addons[i].name.clone(), digest?))).collect()
}

/// Python's `fnmatch.fnmatchcase` (which `fnmatch` is on POSIX): `*` any run of characters including
/// `/`, `?` one character, `[seq]` / `[!seq]` a set with `a-z` ranges; a `[` without a closing `]` is
/// literal.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let tokens = tokenize(pattern);
    let name: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`: every other token eats exactly one char.
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(token) if token.matches(name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((st, sn)) => {
                    star = Some((st, sn + 1));
                    t = st + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| matches!(token, Token::Star))
}

enum Token {
    Star,
    Any,
    Char(char),
    Set { negated: bool, ranges: Vec<(char, char)> },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Char(x) => *x == c,
            Token::Set { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
        }
    }
}

fn tokenize(pattern: &str) -> Vec<Token> {
    let p: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        match c {
            '*' => {
                // Consecutive stars mean the same as one; keeping one keeps backtracking linear.
                if !matches!(tokens.last(), Some(Token::Star)) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::Any),
            '[' => {
                // As Python: a `!` then a `]` right after the bracket belong to the set.
                let mut j = i;
                if p.get(j) == Some(&'!') {
                    j += 1;
                }
                if p.get(j) == Some(&']') {
                    j += 1;
                }
                while j < p.len() && p[j] != ']' {
                    j += 1;
                }
                if j >= p.len() {
                    tokens.push(Token::Char('['));
                    continue;
                }
                let mut body = &p[i..j];
                i = j + 1;
                let negated = body.first() == Some(&'!');
                if negated {
                    body = &body[1..];
                }
                let mut ranges = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        // A reversed range matches nothing, as in Python (which drops it).
                        ranges.push((body[k], body[k + 2]));
                        k += 3;
                    } else {
                        ranges.push((body[k], body[k]));
                        k += 1;
                    }
                }
                tokens.push(Token::Set { negated, ranges });
            }
            c => tokens.push(Token::Char(c)),
        }
    }
    tokens
}

/// Python's `os.path.splitext` on a file name: the extension starts at the last dot that is not part
/// of the name's leading dots.
fn split_ext(file: &str) -> (&str, &str) {
    let leading = file.len() - file.trim_start_matches('.').len();
    match file[leading..].rfind('.') {
        Some(dot) => file.split_at(leading + dot),
        None => (file, ""),
    }
}

fn compiled(rel: &str) -> bool {
    rel.ends_with(".pyc") || rel.ends_with(".pyo") || rel.split('/').any(|p| p == "__pycache__")
}

/// `os.walk` order on relative paths: within a directory its files (by name) come before its
/// subdirectories (by name, each walked entirely).
fn walk_order(a: &str, b: &str) -> Ordering {
    let mut x = a.split('/').peekable();
    let mut y = b.split('/').peekable();
    loop {
        match (x.next(), y.next()) {
            (Some(p), Some(q)) => {
                // A component followed by more components is a directory; files sort first.
                let key_p = (x.peek().is_some(), p.as_bytes());
                let key_q = (y.peek().is_some(), q.as_bytes());
                match key_p.cmp(&key_q) {
                    Ordering::Equal => continue,
                    other => return other,
                }
            }
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> OdooError {
    OdooError::Io { path: path.to_path_buf(), source }
}

/// A wheel's files that the checksum counts, with their bytes.
type Counted = Vec<(String, Vec<u8>)>;

/// Hashes an addon directory in `os.walk` order as it goes (a directory's files by name, then its
/// subdirectories by name), so no file is kept after it is hashed. Symlinked directories are left out
/// as `os.walk` leaves them (not entered); symlinked files are read through the link, as Python opens
/// them.
fn walk(
    dir: &Path,
    rel: &str,
    rules: &HashRules,
    buf: &mut Vec<u8>,
    checksum: &mut Sha1,
    files: &mut BTreeMap<String, FileFingerprint>,
) -> Result<(), OdooError> {
    let mut plain = Vec::new();
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|source| io(dir, source))? {
        let entry = entry.map_err(|source| io(dir, source))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| io(&path, source))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            dirs.push((name, path));
        } else if !(kind.is_symlink() && path.is_dir()) {
            plain.push((name, path));
        }
    }
    plain.sort();
    dirs.sort();
    for (name, path) in plain {
        let name = format!("{rel}{name}");
        let (counts, content) = (rules.counts(&name), !compiled(&name));
        if !counts && !content {
            continue;
        }
        buf.clear();
        fs::File::open(&path).and_then(|mut f| f.read_to_end(buf)).map_err(|source| io(&path, source))?;
        if content {
            files.insert(name.clone(), FileFingerprint::of(buf));
        }
        if counts {
            checksum.update(name.as_bytes());
            checksum.update(&buf[..]);
        }
    }
    for (name, path) in dirs {
        walk(&path, &format!("{rel}{name}/"), rules, buf, checksum, files)?;
    }
    Ok(())
}

/// Reads the files under `prefix` in a wheel, relative to `prefix`, like [`walk`].
fn wheel_files(
    path: &Path,
    prefix: &str,
    rules: &HashRules,
    counted: &mut Counted,
    files: &mut BTreeMap<String, FileFingerprint>,
) -> Result<(), OdooError> {
    let zip_err = |source| OdooError::Zip { path: path.to_path_buf(), source };
    let file = fs::File::open(path).map_err(|source| io(path, source))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err)?;
        let name = entry.name().map_err(zip_err)?;
        let Some(rel) = name.strip_prefix(prefix).filter(|r| !r.is_empty()).map(str::to_owned) else {
            continue;
        };
        if entry.is_dir() {
            continue;
        }
        let (counts, content) = (rules.counts(&rel), !compiled(&rel));
        if !counts {
            if content {
                files.insert(rel, FileFingerprint { len: entry.size(), crc32: entry.crc32() });
            }
            continue;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        let display = PathBuf::from(format!("{}!{prefix}{rel}", path.display()));
        // Reading to the end also checks the entry's CRC-32, so the fingerprint below is verified.
        entry.read_to_end(&mut bytes).map_err(|source| io(&display, source))?;
        if content {
            files.insert(rel.clone(), FileFingerprint { len: entry.size(), crc32: entry.crc32() });
        }
        counted.push((rel, bytes));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_follows_python() {
        // Expected values are what Python 3.11's fnmatch.fnmatchcase answers.
        let cases = [
            ("models/x.pyc", "*.pyc", true),
            ("static/src/js/a.js", "static/*", true),
            ("a/static/x", "static/*", false),
            ("tests/test_a.py", "tests/*", true),
            ("i18n/fr.pot", "i18n/*.pot", true),
            ("i18n/sub/fr.pot", "i18n/*.pot", true),
            ("i18n_extra/fr.pot", "i18n/*.pot", false),
            ("readme", "read?e", true),
            ("readme", "read[!m]e", false),
            ("readme", "read[a-z]e", true),
            ("read-e", "read[z-a]e", false),
            ("a[b", "a[b", true),
            ("a]", "a[]]", true),
            ("", "", true),
            ("x", "", false),
            ("abc", "***c", true),
        ];
        for (name, pattern, expected) in cases {
            assert_eq!(fnmatch(name, pattern), expected, "{name} ~ {pattern}");
        }
    }

    #[test]
    fn walk_order_puts_a_directorys_files_before_its_subdirectories() {
        let mut paths = vec!["a/x.py", "b.py", "a/b/c.py", "a/z.py", "__init__.py", "A.txt"];
        paths.sort_by(|a, b| walk_order(a, b));
        assert_eq!(paths, ["A.txt", "__init__.py", "b.py", "a/x.py", "a/z.py", "a/b/c.py"]);
    }

    #[test]
    fn languages_filter_po_files_in_i18n_only() {
        let rules = HashRules::new(DEFAULT_EXCLUDE_PATTERNS, &["fr_FR", "nl"]);
        for (rel, kept) in [
            ("i18n/fr.po", true),
            ("i18n/fr_BE.po", true),
            ("i18n/en_US.po", false),
            ("i18n_extra/nl_NL.po", true),
            ("i18n/de.pot", false),
            ("other/de.po", true),
            ("i18n/sub/de.po", true),
            ("static/description/icon.png", false),
            ("tests/__init__.py", false),
            ("models/__init__.py", true),
        ] {
            assert_eq!(rules.counts(rel), kept, "{rel}");
        }
        assert!(HashRules::default().counts("i18n/en_US.po"));
        assert_eq!(split_ext(".po"), (".po", ""));
        assert_eq!(split_ext("fr.po"), ("fr", ".po"));
    }
}
