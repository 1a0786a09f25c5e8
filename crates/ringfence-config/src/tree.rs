//! A YAML text turned into trees of nodes that remember where they were written.
//!
//! The events come from `granit-parser` (the YAML parser under serde-saphyr, re-exported by it); this
//! module only assembles them into [`Node`]s with 1-based line/column positions, resolves aliases and
//! splits a stream into documents. It knows nothing about Ringfence's documents: turning nodes into
//! model types is `de`'s job, and checking them is `document`'s and `validate`'s.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Options, Parser, ScalarStyle};

/// A 1-based position in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
}

/// A YAML node with the position where its content starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// The three kinds of YAML node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// A scalar's text after escapes; `plain` when unquoted and untagged, so that `5`, `true` and `~`
    /// keep their YAML meaning while `"5"` stays a string.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in source order; duplicate keys are kept so serde can report them.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value under `key`, when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key and value nodes under `key`, when this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is YAML null (`~`, `null` or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null_text(text))
    }
}

/// The plain spellings YAML reads as null.
pub(crate) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A YAML syntax error: where the parser gave up and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// A collection being assembled while its children arrive.
enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// Parses a YAML stream into its documents. On a syntax error, the documents completed before it are
/// still returned, so their own problems can be reported too.
pub(crate) fn parse(text: &str) -> (Vec<Node>, Option<SyntaxError>) {
    let mut options = Options::default();
    options.emit_comments = false;
    let parser = Parser::new_from_str_with_options(text, options);
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    // Aliases are expanded by copying the anchored node; anchor ids are unique within a stream.
    let mut anchors: HashMap<usize, Node> = HashMap::new();

    for item in parser {
        let (event, span) = match item {
            Ok(pair) => pair,
            Err(e) => {
                let pos = Pos { line: e.marker().line(), col: e.marker().col() + 1 };
                return (documents, Some(SyntaxError { pos, message: e.info() }));
            }
        };
        let pos = Pos { line: span.start.line(), col: span.start.col() + 1 };
        let (node, anchor) = match event {
            Event::DocumentStart(..) => {
                root = None;
                stack.clear();
                continue;
            }
            Event::DocumentEnd => {
                if let Some(node) = root.take() {
                    documents.push(node);
                }
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.is_none();
                (Node { pos, value: Value::Scalar { text: text.into_owned(), plain } }, anchor)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => (node.clone(), 0),
                None => {
                    let message = "alias refers to an unknown anchor".to_owned();
                    return (documents, Some(SyntaxError { pos, message }));
                }
            },
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq { pos, anchor, items: Vec::new() });
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map { pos, anchor, entries: Vec::new(), key: None });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => (Node { pos, value: Value::Seq(items) }, anchor),
                Some(Frame::Map { pos, anchor, entries, .. }) => (Node { pos, value: Value::Map(entries) }, anchor),
                None => continue,
            },
            // Stream boundaries, comments and anchor metadata carry no data.
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    (documents, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_documents_split() {
        let (docs, err) = parse("a: 1\nb:\n  - x\n---\nc: \"2\"\n");
        assert!(err.is_none());
        assert_eq!(docs.len(), 2);
        let (key, value) = docs[0].entry("b").unwrap();
        assert_eq!(key.pos, Pos { line: 2, col: 1 });
        let Value::Seq(items) = &value.value else { panic!("b is a sequence") };
        assert_eq!(items[0].pos, Pos { line: 3, col: 5 });
        assert_eq!(docs[1].get("c").unwrap().value, Value::Scalar { text: "2".into(), plain: false });
    }

    #[test]
    fn syntax_errors_keep_earlier_documents() {
        let (docs, err) = parse("a: 1\n---\nb: [1, 2\n");
        assert_eq!(docs.len(), 1);
        assert!(err.unwrap().pos.line >= 3);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let (docs, _) = parse("a: &x {k: v}\nb: *x\n");
        assert_eq!(docs[0].get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
    }
}
