//! SQL extraction from migration script text: a hand-written script with one case per behaviour.

use ringfence_odoo::{Sql, SqlStatement, extract_sql};

fn cases() -> Vec<SqlStatement> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sql/cases.py");
    extract_sql(&std::fs::read_to_string(path).unwrap(), "cases.py")
}

fn lit(text: &str, formatted: bool) -> Sql {
    Sql::Literal { text: text.to_string(), formatted }
}

fn dynamic(found: &str) -> Sql {
    Sql::Dynamic { found: found.to_string() }
}

#[test]
fn every_call_with_its_line_and_what_was_passed() {
    let got: Vec<(u32, Sql)> = cases().into_iter().map(|s| (s.line, s.sql)).collect();
    let expected = vec![
        (6, lit("UPDATE res_partner SET active = TRUE", false)),
        (7, lit("\n        ALTER TABLE sale_order\n        ADD COLUMN IF NOT EXISTS note TEXT\n        ", false)),
        (13, lit("UPDATE a SET b = 1 WHERE c", false)),
        (16, lit("DELETE FROM ir_cron WHERE id = %s", false)),
        (17, lit("SELECT '\\d' FROM x", false)),
        (18, lit("UPDATE %s SET x = 1", true)),
        (20, dynamic("the expression `query`")),
        (21, dynamic("an f-string")),
        (22, dynamic("the call `sql.SQL(...)`")),
        (23, dynamic("a string literal combined with the expression `column`")),
        (24, lit("UPDATE y SET z = '{}'", true)),
        (27, lit("UPDATE stock_move SET state = 'done'", false)),
    ];
    assert_eq!(got, expected);
}

#[test]
fn positions_and_display() {
    let all = cases();
    let env_call = &all[3];
    assert_eq!((env_call.line, env_call.col), (16, 5), "the call starts at `env`");
    assert_eq!(all[4].col, 5, "self.env.cr.execute starts at `self`");
    assert_eq!(env_call.to_string(), "cases.py:16: SQL: DELETE FROM ir_cron WHERE id = %s");
    assert_eq!(all[6].to_string(), "dynamic SQL at cases.py:20: the expression `query`");
}

#[test]
fn unrelated_execute_calls_are_not_sql() {
    let src = "pool.execute('x')\ncursor.execute('y')\nexecute('z')\ncr.execute\n";
    assert_eq!(extract_sql(src, "m.py"), []);
}

#[test]
fn a_script_the_literal_parser_would_refuse_is_still_scanned() {
    // A bad escape, a bytes literal with non-ASCII text and a stray `$` do not derail the scan.
    let src = "x = '\\N{BULLET}'\ny = b'caf\u{e9}'\n$\ncr.execute('SELECT 2')\n";
    let got = extract_sql(src, "m.py");
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].line, &got[0].sql), (4, &lit("SELECT 2", false)));
}
