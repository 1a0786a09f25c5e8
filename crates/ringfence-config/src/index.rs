//! Where each value of the loaded configuration was written: a map from (document kind, field path)
//! to file:line:col, so that checks made after deserialization — here and in later crates, such as the
//! planner refusing a tenant — can still point at the line to fix.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;

use crate::DocumentKind;
use crate::de::child_path;
use crate::tree::{Node, Pos, Value};

/// A place in a configuration file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Positions of every node of the Fleet, Policy and Release documents, by field path such as
/// `spec.tenants[3].timezone` (list indices are those written in the file).
#[derive(Clone, Debug, Default)]
pub struct SourceIndex {
    files: BTreeMap<DocumentKind, PathBuf>,
    /// Value position and, for mapping values, the key's position.
    entries: HashMap<(DocumentKind, String), (Pos, Option<Pos>)>,
}

impl SourceIndex {
    /// Records every node of a document of `kind` read from `file`.
    pub(crate) fn add_document(&mut self, kind: DocumentKind, file: PathBuf, root: &Node) {
        self.files.insert(kind, file);
        self.walk(kind, root, String::new(), None);
    }

    fn walk(&mut self, kind: DocumentKind, node: &Node, path: String, key: Option<Pos>) {
        match &node.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(kind, item, format!("{path}[{i}]"), None);
                }
            }
            Value::Map(entries) => {
                for (k, v) in entries {
                    let child = child_path(&path, k.as_str().unwrap_or("?"));
                    self.walk(kind, v, child, Some(k.pos));
                }
            }
        }
        self.entries.insert((kind, path), (node.pos, key));
    }

    fn location(&self, kind: DocumentKind, pos: Pos) -> Option<Location> {
        let file = self.files.get(&kind)?.clone();
        Some(Location { file, line: pos.line, col: pos.col })
    }

    /// Where the value at `path` in the `kind` document starts.
    pub fn value(&self, kind: DocumentKind, path: &str) -> Option<Location> {
        let (pos, _) = self.entries.get(&(kind, path.to_owned()))?;
        self.location(kind, *pos)
    }

    /// Where the key of the value at `path` is written (for list items, where the item starts).
    pub fn key(&self, kind: DocumentKind, path: &str) -> Option<Location> {
        let (value, key) = self.entries.get(&(kind, path.to_owned()))?;
        self.location(kind, key.unwrap_or(*value))
    }

    /// The value at `path`, or failing that its closest ancestor that was written (an optional field
    /// left out is pointed at through the mapping that lacks it). Returns the path actually found.
    pub fn nearest(&self, kind: DocumentKind, path: &str) -> Option<(Location, String)> {
        let mut path = path.to_owned();
        loop {
            if let Some(location) = self.value(kind, &path) {
                return Some((location, path));
            }
            let cut = path.rfind(['.', '['])?;
            path.truncate(cut);
        }
    }
}
