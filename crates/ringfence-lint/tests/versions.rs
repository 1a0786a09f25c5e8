//! The rules that depend on the target PostgreSQL version, and the Odoo-snippet input.

use ringfence_lint::{LintError, Options, Rule, SqlSnippet, TableWork, lint_snippets, lint_sql};

fn rules(sql: &str, pg_version: u32) -> Vec<Rule> {
    lint_sql("m.sql", sql, &Options { pg_version }).unwrap().into_iter().map(|f| f.rule).collect()
}

const CONSTANT_DEFAULT: &str =
    "SET lock_timeout = '2s';\nALTER TABLE sale_order ADD COLUMN is_priority boolean DEFAULT false;";

#[test]
fn constant_default_rewrites_before_pg11_only() {
    let pg10 = lint_sql("m.sql", CONSTANT_DEFAULT, &Options { pg_version: 10 }).unwrap();
    assert_eq!(pg10.len(), 1);
    assert_eq!(pg10[0].rule, Rule::AddColumnRewrite);
    assert_eq!(pg10[0].work, TableWork::Rewrite);
    assert!(rules(CONSTANT_DEFAULT, 11).is_empty());
}

#[test]
fn volatile_default_rewrites_on_every_version() {
    let sql = "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();";
    for v in [10, 11, 16, 18] {
        assert_eq!(rules(sql, v), vec![Rule::AddColumnRewrite], "pg {v}");
    }
}

const NOT_NULL_VIA_CHECK: &str = "SET lock_timeout = '2s';
ALTER TABLE sale_order ADD CONSTRAINT partner_nn CHECK (partner_id IS NOT NULL) NOT VALID;
ALTER TABLE sale_order VALIDATE CONSTRAINT partner_nn;
ALTER TABLE sale_order ALTER COLUMN partner_id SET NOT NULL;";

#[test]
fn set_not_null_skips_scan_with_a_valid_check_from_pg12() {
    assert_eq!(rules(NOT_NULL_VIA_CHECK, 11), vec![Rule::SetNotNullScan]);
    assert!(rules(NOT_NULL_VIA_CHECK, 12).is_empty());
}

#[test]
fn a_check_on_another_column_does_not_help_set_not_null() {
    let sql = NOT_NULL_VIA_CHECK.replace("COLUMN partner_id", "COLUMN user_id");
    assert_eq!(rules(&sql, 16), vec![Rule::SetNotNullScan]);
}

#[test]
fn transaction_timeout_is_advised_from_pg17() {
    let sql = "ALTER TABLE t ADD COLUMN c text;";
    let advice = |v| lint_sql("m.sql", sql, &Options { pg_version: v }).unwrap()[0].advice.clone();
    assert!(!advice(16).contains("transaction_timeout"));
    assert!(advice(17).contains("transaction_timeout"));
}

#[test]
fn unsupported_version_is_refused() {
    assert!(matches!(lint_sql("m.sql", "SELECT 1", &Options { pg_version: 9 }), Err(LintError::Version(9))));
}

#[test]
fn snippets_of_one_script_share_a_transaction_and_keep_their_lines() {
    let script = "sale/migrations/17.0.1.1/pre-migrate.py";
    let snippets = vec![
        SqlSnippet { source: script.into(), line: 10, sql: "ALTER TABLE sale_order ADD COLUMN x text".into() },
        SqlSnippet { source: script.into(), line: 14, sql: "\n  UPDATE sale_order SET x = name".into() },
        SqlSnippet {
            source: "other/migrations/1.0/post-migrate.py".into(),
            line: 3,
            sql: "CREATE INDEX CONCURRENTLY i ON t (c)".into(),
        },
    ];
    let found: Vec<(Rule, String, u32, u32)> = lint_snippets(&snippets, &Options::default())
        .unwrap()
        .into_iter()
        .map(|f| (f.rule, f.source, f.line, f.col))
        .collect();
    assert_eq!(
        found,
        vec![
            (Rule::MissingLockTimeout, script.to_string(), 10, 1),
            (Rule::LockHeldInTransaction, script.to_string(), 15, 3),
            (Rule::ConcurrentlyInTransaction, "other/migrations/1.0/post-migrate.py".to_string(), 3, 1),
        ]
    );
}

#[test]
fn parse_error_names_the_position() {
    let err = lint_sql("bad.sql", "SELECT 1;\nALTER TABLE t ADD COLUMN x integer DEFAULT;\n", &Options::default())
        .unwrap_err();
    assert_eq!(err.to_string(), "bad.sql:2:43: PostgreSQL cannot parse this SQL: syntax error at or near \";\"");
}
