//! The corpus: one `.sql` file per case under `tests/corpus/`, named `<rule-id>--good-…` or
//! `<rule-id>--bad-…`. A bad case must raise its rule, a good case must raise nothing, and every
//! case's full report is an insta snapshot (review them after `INSTA_UPDATE=always`).
//! A first-line comment `-- ringfence-lint: pg-version=N` sets the target version (default 16).

use std::path::Path;

use ringfence_lint::{Options, Rule, lint_sql, report};

fn cases() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    cases.sort();
    cases
}

fn options_for(sql: &str) -> Options {
    let version = sql
        .lines()
        .find_map(|l| l.strip_prefix("-- ringfence-lint: pg-version="))
        .map(|v| v.trim().parse().expect("pg-version is a number"));
    Options { pg_version: version.unwrap_or(16) }
}

#[test]
fn corpus_cases_raise_exactly_what_their_names_say() {
    let cases = cases();
    assert!(cases.len() >= 60, "the corpus needs at least 60 cases, has {}", cases.len());
    for (name, sql) in &cases {
        let (rule, variant) = name.split_once("--").expect("case names are <rule>--good|bad-…");
        let findings = lint_sql(&format!("{name}.sql"), sql, &options_for(sql)).unwrap();
        if variant.starts_with("good") {
            assert!(
                findings.is_empty(),
                "{name}: a good case raised {:?}",
                findings.iter().map(|f| f.rule).collect::<Vec<_>>()
            );
        } else {
            assert!(variant.starts_with("bad"), "{name}: variant must be good or bad");
            if rule != "mixed" {
                assert!(
                    findings.iter().any(|f| f.rule.id() == rule),
                    "{name}: expected a {rule} finding, got {:?}",
                    findings.iter().map(|f| f.rule).collect::<Vec<_>>()
                );
            } else {
                assert!(!findings.is_empty(), "{name}: a bad case raised nothing");
            }
        }
        insta::assert_snapshot!(name.as_str(), report::text(&findings, &[]));
    }
}

#[test]
fn every_rule_has_good_and_bad_cases() {
    let cases = cases();
    for rule in Rule::ALL {
        for variant in ["good", "bad"] {
            let prefix = format!("{}--{variant}", rule.id());
            let has = cases.iter().any(|(n, _)| n.starts_with(&prefix));
            // CLUSTER has no concurrent form: its good variant is not to run it (nothing to write).
            if !(rule == Rule::Cluster && variant == "good") {
                assert!(has, "no {variant} case for {}", rule.id());
            }
        }
    }
}
