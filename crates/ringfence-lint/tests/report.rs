//! The machine-readable reports: JSON and SARIF 2.1.0 for one finding and one parse error.

use ringfence_lint::{Options, lint_sql, report};

#[test]
fn json_and_sarif_reports_carry_findings_and_parse_errors() {
    let options = Options::default();
    let findings = lint_sql("migrations/001.sql", "\n  CREATE INDEX i ON sale_order (name);\n", &options).unwrap();
    let error = lint_sql("migrations/002.sql", "SELECT 1;\nALTER TABLE t ADD COLUMN;\n", &options).unwrap_err();
    let errors = [error];
    let sarif = report::sarif(&findings, &errors);
    let run = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(run["results"][0]["ruleId"], "create-index-not-concurrent");
    let rule_index = run["results"][0]["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(run["tool"]["driver"]["rules"][rule_index]["id"], "create-index-not-concurrent");
    assert_eq!(run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
    assert_eq!(run["results"][0]["locations"][0]["physicalLocation"]["region"]["startColumn"], 3);
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let mut stable = sarif.clone();
    stable["runs"][0]["tool"]["driver"]["version"] = "[version]".into();
    insta::assert_json_snapshot!("sarif", stable);
    insta::assert_json_snapshot!("json", report::json(&findings, &errors));
}
