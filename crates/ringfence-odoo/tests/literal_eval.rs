//! Agreement with Python's `ast.literal_eval` on recorded cases: `fixtures/literal_eval_cases.jsonl`
//! holds random literal-shaped snippets and what Python made of them (regenerate with
//! `fixtures/literal_eval_cases.py`). Every case must be accepted or rejected exactly as Python does,
//! and accepted ones must give the same value.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use ringfence_odoo::{Value, ValueKind, parse_literal};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn join(items: &[Value]) -> String {
    items.iter().map(canon).collect::<Vec<_>>().join(",")
}

/// The same canonical rendering the generator script writes for Python values.
fn canon(v: &Value) -> String {
    match &v.kind {
        ValueKind::Bool(b) => format!("B{}", u8::from(*b)),
        ValueKind::None => "N".into(),
        ValueKind::Int(i) => format!("I{i}"),
        ValueKind::Float(f) => format!("F{:016x}", f.to_bits()),
        ValueKind::Str(s) => format!("S{}", hex(s.as_bytes())),
        ValueKind::Bytes(b) => format!("Y{}", hex(b)),
        ValueKind::List(items) => format!("L[{}]", join(items)),
        ValueKind::Tuple(items) => format!("T[{}]", join(items)),
        ValueKind::Set(items) => {
            let unique: BTreeSet<String> = items.iter().map(canon).collect();
            format!("SET[{}]", unique.into_iter().collect::<Vec<_>>().join(","))
        }
        ValueKind::Dict(pairs) => {
            // A Python dict keeps the first position of a repeated key and its last value.
            let mut keys: Vec<String> = Vec::new();
            for (k, _) in pairs {
                let k = canon(k);
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            let rendered: Vec<String> = keys
                .iter()
                .map(|k| {
                    let value = pairs.iter().rev().find(|(pk, _)| &canon(pk) == k);
                    format!("{k}={}", canon(&value.expect("key from pairs").1))
                })
                .collect();
            format!("D{{{}}}", rendered.join(","))
        }
    }
}

#[test]
fn agrees_with_python_literal_eval() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/literal_eval_cases.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut checked = 0;
    let mut accepted = 0;
    for (n, line) in text.lines().enumerate() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let src = case["src"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let got = match parse_literal(src, Path::new("case.py")) {
            Ok(v) => format!("ok {}", canon(&v)),
            Err(_) => "err".to_string(),
        };
        assert_eq!(got, expect, "case {} ({}:{}): {src:?}", n + 1, path.display(), n + 1);
        checked += 1;
        accepted += usize::from(expect != "err");
    }
    assert!(checked > 400 && accepted > 150, "{checked} cases, {accepted} accepted");
}
