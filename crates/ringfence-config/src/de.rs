//! A serde `Deserializer` over [`Node`] trees, so any subtree (one tenant, one ring) can be turned
//! into its model type on its own, and every error knows the position and field path it belongs to.
//!
//! Scalars are resolved the YAML 1.2 core-schema way (`5` is a number, `"5"` a string, `~` null),
//! except that a field asking for a string takes the text as written, so `version: 2026.11` reads as
//! `"2026.11"`. What the fields mean is the model's business; this module only walks nodes.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use crate::diagnostic::closest;
use crate::tree::{Node, Pos, Value, is_null_text};

/// A deserialization error with the position and field path of the innermost node that failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub message: String,
    pub pos: Option<Pos>,
    pub path: Option<String>,
    pub hint: Option<String>,
}

impl DeError {
    /// Attaches a place unless an inner node already did: the innermost place is the precise one.
    fn at(mut self, pos: Pos, path: &str) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos);
            self.path = Some(path.to_owned());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

/// `a`, `b`, `c` — how serde lists names, kept so messages read the same as elsewhere.
fn backticked(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn did_you_mean(wrong: &str, expected: &'static [&'static str]) -> Option<String> {
    closest(wrong, expected.iter().copied()).map(|best| format!("did you mean `{best}`?"))
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { message: msg.to_string(), pos: None, path: None, hint: None }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let message = if expected.is_empty() {
            format!("unknown field `{field}`, there are no fields")
        } else {
            format!("unknown field `{field}`, expected one of {}", backticked(expected))
        };
        DeError { message, pos: None, path: None, hint: did_you_mean(field, expected) }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let message = format!("unknown variant `{variant}`, expected one of {}", backticked(expected));
        DeError { message, pos: None, path: None, hint: did_you_mean(variant, expected) }
    }

    fn missing_field(field: &'static str) -> Self {
        let message = format!("missing field `{field}`");
        DeError { message, pos: None, path: None, hint: Some(format!("add `{field}:` to this mapping")) }
    }
}

/// Deserializes `node`, whose field path is `path` (e.g. `spec.tenants[3]`).
pub(crate) fn from_node<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, path: path.to_owned() }).map_err(|e| e.at(node.pos, path))
}

/// The path of `key` under `parent`, quoting keys that would make the path ambiguous.
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    let simple = !key.is_empty() && !key.contains(['.', '[', ']', '"', ' ']);
    match (parent.is_empty(), simple) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// A plain scalar as YAML's core schema reads it.
enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

fn resolve(text: &str) -> Resolved<'_> {
    if is_null_text(text) {
        return Resolved::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let radix = |prefix: &str, radix: u32| text.strip_prefix(prefix).and_then(|d| i128::from_str_radix(d, radix).ok());
    if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Resolved::Int(n);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = text.parse::<i128>()
    {
        return Resolved::Int(n);
    }
    // Rust would also accept `inf` or `nan`, which YAML reads as strings: insist on a digit.
    let float_chars = digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if float_chars
        && digits.bytes().any(|b| b.is_ascii_digit())
        && let Ok(x) = text.parse::<f64>()
    {
        return Resolved::Float(x);
    }
    Resolved::Str(text)
}

/// How a node is described in "invalid type" messages.
fn unexpected(node: &Node) -> de::Unexpected<'_> {
    match &node.value {
        Value::Scalar { text, plain: true } => match resolve(text) {
            Resolved::Null => de::Unexpected::Unit,
            Resolved::Bool(b) => de::Unexpected::Bool(b),
            Resolved::Int(n) => match i64::try_from(n) {
                Ok(n) => de::Unexpected::Signed(n),
                Err(_) => de::Unexpected::Other("a very large integer"),
            },
            Resolved::Float(x) => de::Unexpected::Float(x),
            Resolved::Str(s) => de::Unexpected::Str(s),
        },
        Value::Scalar { text, plain: false } => de::Unexpected::Str(text),
        Value::Seq(_) => de::Unexpected::Seq,
        Value::Map(_) => de::Unexpected::Map,
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    fn any<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar { text, plain: true } => match resolve(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(n) => match (u64::try_from(n), i64::try_from(n)) {
                    (Ok(n), _) => visitor.visit_u64(n),
                    (_, Ok(n)) => visitor.visit_i64(n),
                    _ => visitor.visit_i128(n),
                },
                Resolved::Float(x) => visitor.visit_f64(x),
                Resolved::Str(s) => visitor.visit_str(s),
            },
            Value::Scalar { text, plain: false } => visitor.visit_str(text),
            Value::Seq(items) => visitor.visit_seq(SeqAcc { items: items.iter().enumerate(), path: &self.path }),
            Value::Map(entries) => visitor.visit_map(MapAcc { entries: entries.iter(), path: &self.path, value: None }),
        }
    }

    fn string<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar { text, .. } if !self.node.is_null() => visitor.visit_str(text),
            _ => Err(de::Error::invalid_type(unexpected(self.node), &visitor)),
        }
    }

    fn enumeration<'de, V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar { text, .. } if !self.node.is_null() => {
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(text.as_str()))
            }
            _ => Err(de::Error::invalid_type(unexpected(self.node), &visitor)),
        }
    }
}

/// Runs one deserialize method and stamps the node's place on an error that has none yet.
macro_rules! located {
    ($self:ident, $body:expr) => {{
        let pos = $self.node.pos;
        let path = $self.path.clone();
        $body.map_err(|e: DeError| e.at(pos, &path))
    }};
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        located!(self, self.any(visitor))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        located!(self, self.string(visitor))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        located!(self, self.string(visitor))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        located!(self, self.string(visitor))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        located!(self, self.enumeration(visitor))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct
    }
}

struct SeqAcc<'a, I> {
    items: I,
    path: &'a str,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> de::SeqAccess<'de> for SeqAcc<'a, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let path = format!("{}[{i}]", self.path);
                // Types that check a value after reading it (a duration) fail after the node's own
                // deserializer returned: place their errors here.
                seed.deserialize(NodeDe { node, path: path.clone() }).map(Some).map_err(|e| e.at(node.pos, &path))
            }
        }
    }
}

struct MapAcc<'a, I> {
    entries: I,
    path: &'a str,
    /// The value of the key just handed out, with its path.
    value: Option<(&'a Node, String)>,
}

impl<'de, 'a, I: Iterator<Item = &'a (Node, Node)>> de::MapAccess<'de> for MapAcc<'a, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        let path = child_path(self.path, key.as_str().unwrap_or("?"));
        let k = seed.deserialize(NodeDe { node: key, path: path.clone() })?;
        self.value = Some((value, path));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (node, path) = self.value.take().ok_or_else(|| de::Error::custom("value requested before its key"))?;
        // As for sequence items: place errors raised after the value's deserializer returned.
        seed.deserialize(NodeDe { node, path: path.clone() }).map_err(|e| e.at(node.pos, &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;
    use ringfence_core::{Cluster, TenantTier};

    fn doc(text: &str) -> Node {
        parse(text).0.remove(0)
    }

    #[test]
    fn reads_model_types_with_yaml_scalars() {
        let node = doc("name: pg\nconnection: {host: db, user: odoo}\nmaxConcurrentMigrations: 0x2\n");
        let cluster: Cluster = from_node(&node, "spec.clusters[0]").unwrap();
        assert_eq!(cluster.max_concurrent_migrations, 2);
        assert_eq!(cluster.connection.port, 5432);
    }

    #[test]
    fn errors_point_at_the_innermost_node() {
        let node = doc("name: pg\nconnection:\n  host: db\n  user: odoo\n  prot: 1\nmaxConcurrentMigrations: 1\n");
        let err = from_node::<Cluster>(&node, "spec.clusters[0]").unwrap_err();
        assert_eq!(err.pos, Some(Pos { line: 5, col: 3 }));
        assert_eq!(err.path.as_deref(), Some("spec.clusters[0].connection.prot"));
        assert_eq!(err.hint.as_deref(), Some("did you mean `port`?"));

        let node = doc("name: pg\nconnection: {host: db, user: odoo}\nmaxConcurrentMigrations: two\n");
        let err = from_node::<Cluster>(&node, "c").unwrap_err();
        assert_eq!(err.pos, Some(Pos { line: 3, col: 26 }));
        assert!(err.message.contains("invalid type: string \"two\""), "{}", err.message);
    }

    #[test]
    fn enums_suggest_the_closest_variant() {
        let err = from_node::<TenantTier>(&doc("premum"), "tier").unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `premium`?"));
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        assert!(from_node::<u32>(&doc("\"5\""), "n").is_err());
        assert_eq!(from_node::<String>(&doc("2026.11"), "v").unwrap(), "2026.11");
    }
}
