//! What the loader reports: [`Diagnostic`] (one problem, with file:line:col, field path and a hint)
//! and [`Diagnostics`] (the non-empty list returned when a configuration is invalid).
//!
//! This module only formats problems and suggests names; it does not find them. Parsing lives in
//! `tree` and `de`, the document rules in `document`, the cross-document rules in `validate`.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in the configuration, pointing at the place to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in (or the directory given, when the problem is a missing document).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the file or directory as a whole.
    pub line: usize,
    /// 1-based column; 0 when the problem concerns the file or directory as a whole.
    pub col: usize,
    /// Field path inside the document, like `spec.tenants[3].timezone`; empty for the whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it, when there is something useful to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem with a whole file or directory (unreadable, missing document), without a position.
    pub fn whole(file: &Path, message: impl Into<String>, hint: Option<String>) -> Self {
        Diagnostic { file: file.to_path_buf(), line: 0, col: 0, path: String::new(), message: message.into(), hint }
    }

    /// `file:line:col`, or just the file when there is no position.
    pub fn place(&self) -> String {
        if self.line == 0 {
            self.file.display().to_string()
        } else {
            format!("{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.place())?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration; never empty when returned by [`crate::load`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The problems, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never the case for a value returned by [`crate::load`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    /// One problem per paragraph, then a count, so a long list still ends with a summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{} in the configuration", if n == 1 { "" } else { "s" })
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Edit distance between two short names (field names, tenant ids), counted in chars, where swapping
/// two neighbouring letters counts as one edit: `prot` is one typo away from `port`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i chars of a and the first j chars of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate that is an obvious typo of `wrong` (few edits relative to its length), if any.
pub(crate) fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wrong.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wrong.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// A hint listing the known names, the closest to `wrong` first, so a typo is fixed at a glance.
pub(crate) fn known_names_hint(what: &str, wrong: &str, known: &[&str]) -> String {
    if known.is_empty() {
        return format!("no {what} is defined");
    }
    let mut sorted: Vec<&str> = known.to_vec();
    sorted.sort_by_key(|k| (edit_distance(wrong, k), *k));
    sorted.dedup();
    let list = sorted.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    match closest(wrong, known.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? known {what}s: {list}"),
        None => format!("known {what}s: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("timezone", "timezone"), 0);
        assert_eq!(edit_distance("timzone", "timezone"), 1);
        assert_eq!(edit_distance("pg-eu-3", "pg-eu-1"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("prot", "port"), 1);
    }

    #[test]
    fn closest_ignores_unrelated_names() {
        assert_eq!(closest("timzone", ["tier", "timezone", "labels"]), Some("timezone"));
        assert_eq!(closest("colour", ["tier", "timezone", "labels"]), None);
    }
}
