//! Renders findings (and inputs that could not be judged) for people (text), for programs (JSON), and
//! for CI code-scanning views (SARIF 2.1.0). Pure: strings in, strings out.

use serde_json::{Value, json};

use crate::{Finding, LintError, Rule, Severity};

/// One finding per paragraph: `file:line:col: severity[rule]: message`, then lock, work and fix.
pub fn text(findings: &[Finding], errors: &[LintError]) -> String {
    let mut out = String::new();
    for f in findings {
        let severity = match f.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        out.push_str(&format!("{}:{}:{}: {severity}[{}]: {}\n", f.source, f.line, f.col, f.rule, f.message));
        let lock = f.lock.map_or("none worth naming", |l| l.name());
        let work = match f.work {
            crate::TableWork::None => "no rewrite, no scan",
            crate::TableWork::Scan => "scans the table",
            crate::TableWork::IndexBuild => "reads the table to build an index",
            crate::TableWork::Rewrite => "rewrites the table",
        };
        out.push_str(&format!("  lock: {lock}; {work}\n  fix:  {}\n  sql:  {}\n", f.advice, f.statement));
    }
    for e in errors {
        out.push_str(&format!("error: {e}\n"));
    }
    let dangers = findings.len();
    out.push_str(&match (dangers, errors.len()) {
        (0, 0) => "lint: no dangerous statements found\n".to_string(),
        (n, 0) => format!("lint: {n} finding(s)\n"),
        (n, e) => format!("lint: {n} finding(s); {e} input(s) could not be linted\n"),
    });
    out
}

/// `{"findings": [...], "errors": [...]}`, each error with its message (and position for parse errors).
pub fn json(findings: &[Finding], errors: &[LintError]) -> Value {
    json!({
        "findings": findings,
        "errors": errors.iter().map(error_json).collect::<Vec<_>>(),
    })
}

fn error_json(e: &LintError) -> Value {
    match e {
        LintError::Parse { source_name, line, col, message } => {
            json!({"kind": "parse", "source": source_name, "line": line, "col": col, "message": message})
        }
        LintError::Read { path, .. } => json!({"kind": "read", "source": path, "message": e.to_string()}),
        LintError::Version(_) => json!({"kind": "version", "message": e.to_string()}),
    }
}

/// A SARIF 2.1.0 log with one run; inputs that could not be linted are tool execution notifications.
pub fn sarif(findings: &[Finding], errors: &[LintError]) -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "shortDescription": {"text": r.summary()},
                "defaultConfiguration": {"level": if *r == Rule::ConcurrentlyInTransaction { "error" } else { "warning" }},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0);
            let lock = f.lock.map(|l| format!(" Lock: {}.", l.name())).unwrap_or_default();
            json!({
                "ruleId": f.rule.id(),
                "ruleIndex": index,
                "level": match f.severity { Severity::Warning => "warning", Severity::Error => "error" },
                "message": {"text": format!("{}.{lock} Fix: {}.", f.message, f.advice)},
                "locations": [location(&f.source, f.line, f.col)],
                "properties": {"lock": f.lock, "work": f.work, "object": f.object},
            })
        })
        .collect();
    let notifications: Vec<Value> = errors
        .iter()
        .map(|e| {
            let mut n = json!({"level": "error", "message": {"text": e.to_string()}});
            match e {
                LintError::Parse { source_name, line, col, .. } => {
                    n["locations"] = json!([location(source_name, *line, *col)]);
                }
                LintError::Read { path, .. } => n["locations"] = json!([location(path, 1, 1)]),
                LintError::Version(_) => {}
            }
            n
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ringfence-lint",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

fn location(source: &str, line: u32, col: u32) -> Value {
    json!({"physicalLocation": {
        "artifactLocation": {"uri": source},
        "region": {"startLine": line, "startColumn": col},
    }})
}
