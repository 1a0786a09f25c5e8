//! The Python literal parser: one test per feature, one per error kind (with line:col), and a property
//! test that no input makes it panic.

use std::path::Path;

use proptest::prelude::*;
use ringfence_odoo::{OdooError, Value, ValueKind, parse_literal};

fn parse(src: &str) -> ValueKind {
    parse_literal(src, Path::new("m.py")).unwrap_or_else(|e| panic!("{src:?}: {e}")).kind
}

fn s(v: &str) -> ValueKind {
    ValueKind::Str(v.to_string())
}

fn kinds(v: ValueKind) -> Vec<ValueKind> {
    match v {
        ValueKind::List(items) | ValueKind::Tuple(items) | ValueKind::Set(items) => {
            items.into_iter().map(|i| i.kind).collect()
        }
        other => panic!("not a sequence: {other:?}"),
    }
}

/// Parses, expects a syntax error, returns (line, col, message) and checks the never-executed wording.
fn error(src: &str) -> (u32, u32, String) {
    match parse_literal(src, Path::new("m.py")) {
        Err(e @ OdooError::Syntax { .. }) => {
            let text = e.to_string();
            assert!(text.contains("never executes"), "{text}");
            assert!(text.starts_with("m.py:"), "{text}");
            let OdooError::Syntax { line, col, message, .. } = e else { unreachable!() };
            (line, col, message)
        }
        Err(e) => panic!("{src:?}: not a syntax error: {e}"),
        Ok(v) => panic!("{src:?}: accepted as {v:?}"),
    }
}

#[test]
fn strings_in_every_quote_style() {
    assert_eq!(parse("'a'"), s("a"));
    assert_eq!(parse("\"a\""), s("a"));
    assert_eq!(parse("'''a\n'b'\n'''"), s("a\n'b'\n"));
    assert_eq!(parse("\"\"\"x \"\" y\"\"\""), s("x \"\" y"));
    assert_eq!(parse("u'é'"), s("é"));
    assert_eq!(parse("''"), s(""));
}

#[test]
fn escapes() {
    assert_eq!(parse(r#""a\tb\n\\ \" \' \x41\101\u00e9\U0001F600 \d""#), s("a\tb\n\\ \" ' AAé😀 \\d"));
    assert_eq!(parse("'one \\\ntwo'"), s("one two"), "backslash-newline");
}

#[test]
fn raw_and_byte_prefixes() {
    assert_eq!(parse(r"r'\d+\''"), s(r"\d+\'"));
    assert_eq!(parse(r"R'\n'"), s(r"\n"));
    assert_eq!(parse(r"b'a\x00\xff'"), ValueKind::Bytes(vec![b'a', 0, 0xff]));
    assert_eq!(parse(r"rb'\x'"), ValueKind::Bytes(br"\x".to_vec()));
}

#[test]
fn implicit_concatenation_across_lines_in_brackets() {
    assert_eq!(parse("'a' \"b\""), s("ab"));
    assert_eq!(parse("('a'\n  'b'  # c\n  r'\\c')"), s("ab\\c"));
    assert_eq!(parse("b'a' b'b'"), ValueKind::Bytes(b"ab".to_vec()));
}

#[test]
fn numbers() {
    assert_eq!(parse("42"), ValueKind::Int(42));
    assert_eq!(parse("-7"), ValueKind::Int(-7));
    assert_eq!(parse("+7"), ValueKind::Int(7));
    assert_eq!(parse("1_000"), ValueKind::Int(1000));
    assert_eq!(parse("0x1F"), ValueKind::Int(31));
    assert_eq!(parse("0o17"), ValueKind::Int(15));
    assert_eq!(parse("0b101"), ValueKind::Int(5));
    assert_eq!(parse("0"), ValueKind::Int(0));
    assert_eq!(parse("00"), ValueKind::Int(0));
    assert_eq!(parse("1.5"), ValueKind::Float(1.5));
    assert_eq!(parse("-.5"), ValueKind::Float(-0.5));
    assert_eq!(parse("2."), ValueKind::Float(2.0));
    assert_eq!(parse("1e3"), ValueKind::Float(1000.0));
    assert_eq!(parse("1.5E-2"), ValueKind::Float(0.015));
}

#[test]
fn constants() {
    assert_eq!(parse("True"), ValueKind::Bool(true));
    assert_eq!(parse("False"), ValueKind::Bool(false));
    assert_eq!(parse("None"), ValueKind::None);
}

#[test]
fn containers_with_trailing_commas() {
    assert_eq!(kinds(parse("[1, 'a', None,]")), vec![ValueKind::Int(1), s("a"), ValueKind::None]);
    assert_eq!(parse("[]"), ValueKind::List(vec![]));
    assert_eq!(parse("()"), ValueKind::Tuple(vec![]));
    assert_eq!(kinds(parse("(1,)")), vec![ValueKind::Int(1)]);
    assert_eq!(parse("(1)"), ValueKind::Int(1), "parentheses alone make no tuple");
    assert_eq!(kinds(parse("1, 2")), vec![ValueKind::Int(1), ValueKind::Int(2)], "a bare top-level tuple");
    assert_eq!(kinds(parse("{'a', 'b',}")), vec![s("a"), s("b")]);
    assert_eq!(parse("{}"), ValueKind::Dict(vec![]));
    assert_eq!(kinds(parse("[(1, 2), [3]]")).len(), 2, "nested containers");
}

#[test]
fn dicts_keep_order_and_last_duplicate_wins() {
    let v = parse_literal("{'a': 1, 'b': [2], 'a': 3,}", Path::new("m.py")).unwrap();
    let ValueKind::Dict(items) = &v.kind else { panic!("{v:?}") };
    assert_eq!(items.len(), 3);
    assert_eq!(v.get("a").map(|x| &x.kind), Some(&ValueKind::Int(3)));
    assert_eq!(v.get("missing"), None);
    let key = parse_literal("{(1, 'x'): 2}", Path::new("m.py")).unwrap();
    assert!(matches!(key.kind, ValueKind::Dict(_)), "tuples are hashable keys");
}

#[test]
fn comments_continuations_and_blank_lines() {
    let src = "# head\n\n{  # open\n 'a':\n 1,  # one\n}\n# tail\n\n";
    let v = parse_literal(src, Path::new("m.py")).unwrap();
    assert_eq!(v.get("a").map(|x| &x.kind), Some(&ValueKind::Int(1)));
    assert_eq!((v.pos.line, v.pos.col), (3, 1));
    assert_eq!(kinds(parse("1, \\\n 2")).len(), 2, "backslash continuation");
    assert_eq!(parse("'a'\r\n"), s("a"), "CRLF line ends");
    assert_eq!(parse("  # c\n'a'"), s("a"), "blanks before a comment on line 1");
    assert_eq!(parse("\t'a'"), s("a"), "blanks before the literal on line 1");
    assert_eq!(parse("'a'\n  # c"), s("a"), "an indented comment after it");
    assert_eq!(parse("'a'\n  \n"), s("a"), "a blank line with blanks");
}

#[test]
fn positions_are_one_based_lines_and_columns() {
    let v = parse_literal("{\n  'k': [1,\n    'é', x]}", Path::new("m.py"));
    let Err(OdooError::Syntax { line, col, .. }) = v else { panic!("{v:?}") };
    assert_eq!((line, col), (3, 10), "columns count characters, not bytes");
    let v: Value = parse_literal("{\n  'k': [1, 2]}", Path::new("m.py")).unwrap();
    let list = v.get("k").unwrap();
    assert_eq!((list.pos.line, list.pos.col), (2, 8));
}

#[test]
fn rejects_names_and_calls() {
    let (l, c, m) = error("{'a': foo}");
    assert_eq!((l, c), (1, 7));
    assert!(m.contains("name `foo`"), "{m}");
    let (l, c, m) = error("{\n 'a': dict (x=1)}");
    assert_eq!((l, c), (2, 7));
    assert!(m.contains("function call `dict(...)`"), "{m}");
    let (_, _, m) = error("lambda: 1");
    assert!(m.contains("lambda"), "{m}");
    let (_, _, m) = error("[1](0)");
    assert!(m.contains("call"), "{m}");
    let (_, _, m) = error("[1][0]");
    assert!(m.contains("subscript"), "{m}");
}

#[test]
fn rejects_f_strings() {
    for src in ["f'x'", "F\"x\"", "rf'x'", "fR'''x'''"] {
        let (l, c, m) = error(src);
        assert_eq!((l, c), (1, 1), "{src}");
        assert!(m.contains("f-string"), "{m}");
    }
}

#[test]
fn rejects_operators() {
    let (l, c, m) = error("1 + 2");
    assert_eq!((l, c), (1, 3));
    assert!(m.contains("operator `+`"), "{m}");
    for (src, op) in
        [("2 * 3", "*"), ("'a' % 1", "%"), ("{**x}", "**"), ("a.b", "name"), ("1 == 1", "=="), ("[1]; 2", ";")]
    {
        let (_, _, m) = error(src);
        assert!(m.contains(op), "{src}: {m}");
    }
    let (_, _, m) = error("--1");
    assert!(m.contains("other than a number"), "{m}");
    let (_, _, m) = error("-'a'");
    assert!(m.contains("other than a number"), "{m}");
}

#[test]
fn rejects_malformed_strings() {
    let (l, c, m) = error("{'a': 'open\n}");
    assert_eq!((l, c), (1, 7));
    assert!(m.contains("never closed"), "{m}");
    let (_, _, m) = error("'''never");
    assert!(m.contains("never closed"), "{m}");
    let (_, _, m) = error("b'é'");
    assert!(m.contains("non-ASCII"), "{m}");
    let (_, _, m) = error("b'a' 'b'");
    assert!(m.contains("bytes and str"), "{m}");
    let (_, _, m) = error(r"'\x4'");
    assert!(m.contains("hex digits"), "{m}");
    let (_, _, m) = error(r"'\N{BULLET}'");
    assert!(m.contains("\\N{"), "{m}");
    let (_, _, m) = error(r"'\ud800'");
    assert!(m.contains("not a Unicode scalar"), "{m}");
}

#[test]
fn rejects_malformed_numbers() {
    for (src, words) in [
        ("0123", "leading zeros"),
        ("1__0", "invalid number"),
        ("1_", "invalid number"),
        ("0x", "invalid number"),
        ("12abc", "followed directly"),
        ("1j", "complex"),
        ("1e", "followed directly"),
        ("999999999999999999999999999999999999999999", "too large"),
    ] {
        let (_, _, m) = error(src);
        assert!(m.contains(words), "{src}: {m}");
    }
}

#[test]
fn rejects_structure_errors() {
    for (src, words) in [
        ("", "no value"),
        ("[1, 2", "ends before the closing `]`"),
        ("[1 2]", "missing comma"),
        ("{'a' 1}", "missing comma"),
        ("{'a': 1, 'b'}", "expected `:`"),
        ("]", "unmatched"),
        ("[,]", "separator"),
        ("{[1]: 2}", "unhashable"),
        ("{{1}}", "unhashable"),
        ("\"\"\"doc\"\"\"\n{}", "second statement"),
        ("{}\n{}", "second statement"),
        ("{} $", "unexpected character"),
        ("\u{feff}{}", "byte order mark"),
        ("1 \\ 2", "backslash"),
        ("[1, 2)", "expected `,` or `]`"),
        ("# c\n  {}", "unexpected indent"),
        ("\n\t{}", "unexpected indent"),
        ("{}\n   ", "unexpected indent"),
        ("[...]", "Ellipsis"),
    ] {
        let (_, _, m) = error(src);
        assert!(m.contains(words), "{src:?}: {m}");
    }
}

#[test]
fn rejects_nesting_deeper_than_python() {
    let deep = "[".repeat(500) + &"]".repeat(500);
    let (_, _, m) = error(&deep);
    assert!(m.contains("nested more than"), "{m}");
    let ok = "[".repeat(100) + &"]".repeat(100);
    parse(&ok);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(src in "\\PC{0,200}") {
        let _ = parse_literal(&src, Path::new("m.py"));
    }

    #[test]
    fn never_panics_on_literal_shaped_text(
        src in proptest::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just("("), Just(")"), Just(","), Just(":"),
                Just("'a'"), Just("\"\"\""), Just("r'"), Just("b'"), Just("f'"), Just("\\"), Just("\n"),
                Just("#c"), Just("-"), Just("1"), Just("0x"), Just("_"), Just("."), Just("e"), Just("True"),
                Just("x"), Just(" "), Just("'"), Just("\\x"), Just("\r"), Just("é"),
            ],
            0..60,
        ).prop_map(|parts| parts.concat())
    ) {
        let _ = parse_literal(&src, Path::new("m.py"));
    }
}
