//! A YAML text turned into trees of nodes that remember where they were written.
//!
//! The events come from `granit-parser` (the YAML parser under serde-saphyr, re-exported by it); this
//! module only assembles them into [`Node`]s with 1-based line/column positions, resolves aliases and
//! splits a stream into documents. It knows nothing about Ringfence's documents: turning nodes into
//! model types is `de`'s job, and checking them is `document`'s and `validate`'s.

use std::collections::HashMap;
use std::fmt;

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

/// How deep collections may nest, aliases expanded: Ringfence's documents need fewer than ten levels,
/// and the deserializer, the index and dropping a tree all recurse once per level.
pub(crate) const MAX_DEPTH: usize = 64;

/// How many nodes aliases may copy in one file, on top of as many as the file writes itself. An alias
/// copies the node its anchor names, so aliases of aliases multiply: nine levels of nine make 387
/// million nodes out of a few hundred bytes (an "alias bomb"). A real fleet that names its standard
/// maintenance window once and aliases it for 10,000 tenants copies 60,000 nodes.
pub(crate) const ALIAS_NODES: usize = 100_000;

/// The scalar text aliases may copy in one file, on top of the file's own size (an alias of a long
/// string copies the string).
pub(crate) const ALIAS_BYTES: usize = 8 << 20;

/// A YAML error: where reading stopped, why, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
    pub hint: String,
}

impl SyntaxError {
    fn syntax(pos: Pos, info: impl fmt::Display) -> Self {
        SyntaxError {
            pos,
            message: format!("YAML syntax error: {info}"),
            hint: "check the indentation and quoting around this place".into(),
        }
    }
}

/// What a node holds: itself and everything below it.
#[derive(Clone, Copy, Debug, Default)]
struct Size {
    /// Nodes, this one included.
    nodes: usize,
    /// Bytes of scalar text (keys included).
    bytes: usize,
    /// Collections nested in it, itself included: 0 for a scalar, 1 for `[x]`.
    height: usize,
}

impl Size {
    fn add_child(&mut self, child: Size) {
        self.nodes += child.nodes;
        self.bytes += child.bytes;
        self.height = self.height.max(child.height + 1);
    }
}

/// A collection being assembled while its children arrive.
enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node>, size: Size },
    Map { pos: Pos, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node>, size: Size },
}

/// An empty collection.
const EMPTY_COLLECTION: Size = Size { nodes: 1, bytes: 0, height: 1 };

/// Parses a YAML stream into its documents. On a syntax error, the documents completed before it are
/// still returned, so their own problems can be reported too.
///
/// Aliases are expanded, within [`ALIAS_NODES`] and [`ALIAS_BYTES`], and no collection may nest
/// deeper than [`MAX_DEPTH`]: past either limit, reading stops with an error at the alias or
/// collection that crossed it, before anything is copied.
pub(crate) fn parse(text: &str) -> (Vec<Node>, Option<SyntaxError>) {
    let mut options = Options::default();
    options.emit_comments = false;
    // Anchor names, for messages about the aliases that use them.
    options.emit_anchor_events = true;
    let parser = Parser::new_from_str_with_options(text, options);
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    // Aliases are expanded by copying the anchored node; anchor ids are unique within a stream.
    let mut anchors: HashMap<usize, (Node, Size)> = HashMap::new();
    let mut anchor_names: HashMap<usize, String> = HashMap::new();
    // Nodes and scalar bytes written in the file, and those copied by aliases so far.
    let mut written = Size::default();
    let mut copied = Size::default();

    for item in parser {
        let (event, span) = match item {
            Ok(pair) => pair,
            Err(e) => {
                let pos = Pos { line: e.marker().line(), col: e.marker().col() + 1 };
                return (documents, Some(SyntaxError::syntax(pos, e.info())));
            }
        };
        let pos = Pos { line: span.start.line(), col: span.start.col() + 1 };
        let (node, anchor, size) = match event {
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
            Event::Anchor(id, name) => {
                anchor_names.insert(id, name.into_owned());
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.is_none();
                let size = Size { nodes: 1, bytes: text.len(), height: 0 };
                written.nodes += 1;
                written.bytes += text.len();
                (Node { pos, value: Value::Scalar { text: text.into_owned(), plain } }, anchor, size)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => {
                    let what = format!("`*{}`", anchor_names.get(&id).map_or("", String::as_str));
                    if stack.len() + size.height > MAX_DEPTH {
                        return (documents, Some(too_deep(pos, &format!("the alias {what}"))));
                    }
                    if let Some(err) = charge(pos, &what, *size, &mut copied, written, text.len()) {
                        return (documents, Some(err));
                    }
                    (node.clone(), 0, *size)
                }
                None => {
                    return (documents, Some(SyntaxError::syntax(pos, "alias refers to an unknown anchor")));
                }
            },
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return (documents, Some(too_deep(pos, "this collection")));
                }
                written.nodes += 1;
                let size = EMPTY_COLLECTION;
                stack.push(match event {
                    Event::SequenceStart(..) => Frame::Seq { pos, anchor, items: Vec::new(), size },
                    _ => Frame::Map { pos, anchor, entries: Vec::new(), key: None, size },
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { pos, anchor, items, size }) => (Node { pos, value: Value::Seq(items) }, anchor, size),
                Some(Frame::Map { pos, anchor, entries, size, .. }) => {
                    (Node { pos, value: Value::Map(entries) }, anchor, size)
                }
                None => continue,
            },
            // Stream boundaries and comments carry no data.
            _ => continue,
        };
        if anchor != 0 {
            // Keeping a collection for later aliases copies it too, and anchors nested in anchors copy
            // their content once per level. (A scalar's anchor name arrives after it; its copy is
            // bounded by the file's own text anyway.)
            if size.height > 0 {
                let what = format!("`&{}`", anchor_names.get(&anchor).map_or("", String::as_str));
                if let Some(err) = charge(node.pos, &what, size, &mut copied, written, text.len()) {
                    return (documents, Some(err));
                }
            }
            anchors.insert(anchor, (node.clone(), size));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, size: parent, .. }) => {
                parent.add_child(size);
                items.push(node);
            }
            Some(Frame::Map { entries, key, size: parent, .. }) => {
                parent.add_child(size);
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
            }
        }
    }
    (documents, None)
}

/// Counts a copy of a node of `size` made for `what` at `pos` (an alias, or an anchor keeping its
/// node for later aliases) and refuses it when it takes the copies past the budget.
fn charge(pos: Pos, what: &str, size: Size, copied: &mut Size, written: Size, text_len: usize) -> Option<SyntaxError> {
    copied.nodes = copied.nodes.saturating_add(size.nodes);
    copied.bytes = copied.bytes.saturating_add(size.bytes);
    let (unit, count, allowance, own) = if copied.nodes > ALIAS_NODES + written.nodes {
        ("nodes", copied.nodes, ALIAS_NODES, written.nodes)
    } else if copied.bytes > ALIAS_BYTES + text_len {
        ("bytes of text", copied.bytes, ALIAS_BYTES, text_len)
    } else {
        return None;
    };
    Some(SyntaxError {
        pos,
        message: format!(
            "aliases expand too much: with {what} here, anchors and aliases copy {count} {unit}, more than the \
             {allowance} (plus the {own} the file writes itself) that Ringfence expands in one file; this looks like \
             an alias bomb"
        ),
        hint: "alias plain values or small mappings, not aliases of aliases nor anchors inside anchors; if there \
               really are this many, write them out"
            .into(),
    })
}

/// The error for a collection nested deeper than [`MAX_DEPTH`].
fn too_deep(pos: Pos, what: &str) -> SyntaxError {
    SyntaxError {
        pos,
        message: format!("{what} nests collections more than {MAX_DEPTH} levels deep, the most Ringfence reads"),
        hint: "Ringfence's documents nest a few levels: check the indentation and brackets here, and aliases \
               placed inside what they name"
            .into(),
    }
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

    /// Nine levels of nine aliases each: 387 million nodes from a few hundred bytes.
    fn alias_bomb() -> String {
        let mut text = format!("a0: &a0 [{}]\n", ["x"; 9].join(","));
        for level in 1..9 {
            let previous = format!("*a{}", level - 1);
            text += &format!("a{level}: &a{level} [{}]\n", [previous.as_str(); 9].join(","));
        }
        text
    }

    #[test]
    fn an_alias_bomb_stops_where_the_copies_cross_the_budget() {
        let started = std::time::Instant::now();
        let (docs, err) = parse(&alias_bomb());
        let err = err.expect("the bomb is refused");
        assert!(docs.is_empty());
        // Lines 1 to 5 copy 83,020 nodes (aliases, and anchors keeping what they name); keeping `&a4`
        // on line 5 for later aliases copies its 66,430 more.
        assert_eq!(err.pos, Pos { line: 5, col: 9 });
        assert!(err.message.contains("with `&a4` here") && err.message.contains("alias bomb"), "{}", err.message);
        assert!(err.hint.contains("aliases of aliases"), "{}", err.hint);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());

        // Many aliases of one mapping cross it at the alias that takes the copies past it.
        let text = format!("a: &a [{}]\nb: [{}]\n", ["x"; 999].join(","), ["*a"; 150].join(","));
        let err = parse(&text).1.expect("refused");
        // 1,004 nodes written, 1,000 copied for the anchor, then 1,000 per alias: the 101st crosses.
        assert_eq!(err.pos, Pos { line: 2, col: 5 + 3 * 100 });
        assert!(err.message.contains("with `*a` here"), "{}", err.message);
    }

    #[test]
    fn anchors_nested_in_anchors_count_their_copies() {
        // Each of the 60 anchors keeps its own copy of the 5,000 scalars inside it.
        let mut text = format!("[{}]", ["x"; 5000].join(","));
        for level in 0..60 {
            text = format!("&a{level} [{text}]");
        }
        let err = parse(&text).1.expect("300,000 copies are refused");
        assert!(err.message.contains("with `&a"), "{}", err.message);
        // A few levels are fine.
        let text = format!("&a [&b [&c [{}]]]", ["x"; 5000].join(","));
        assert!(parse(&text).1.is_none());
    }

    #[test]
    fn aliases_of_long_strings_count_their_bytes() {
        let long = "x".repeat(1 << 20);
        let text = format!("a: &s {long}\nb: [{}]\n", ["*s"; 20].join(", "));
        let err = parse(&text).1.expect("20 MiB of copies is refused");
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("bytes of text"), "{}", err.message);
        // Within the budget, copies are fine.
        let text = format!("a: &s {long}\nb: [{}]\n", ["*s"; 5].join(", "));
        assert!(parse(&text).1.is_none());
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_aliases_included() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&nested(MAX_DEPTH)).1.is_none());
        let err = parse(&nested(MAX_DEPTH + 1)).1.expect("too deep");
        assert_eq!(err.pos, Pos { line: 1, col: MAX_DEPTH + 1 });
        assert!(err.message.contains("64 levels"), "{}", err.message);

        // Each alias fits on its own, but nested in a copy of itself it goes deeper than allowed.
        let text = format!("a: &a {}\nb: {}*a{}\n", nested(40), "[".repeat(30), "]".repeat(30));
        let err = parse(&text).1.expect("too deep through the alias");
        assert_eq!(err.pos, Pos { line: 2, col: 34 });
        assert!(err.message.contains("`*a`"), "{}", err.message);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let (docs, _) = parse("a: &x {k: v}\nb: *x\n");
        assert_eq!(docs[0].get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
    }
}
