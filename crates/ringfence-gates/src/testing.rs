//! Rego unit tests, the way `opa test` runs them: every complete rule whose name starts with `test_`, in
//! any package of the directory's `*.rego` files (policy and tests loaded together), passes when it
//! evaluates to `true`; anything else (undefined, false, another value) fails, and an evaluation error is
//! reported as an error. `ringfence policy test DIR` prints the summary and exits 1 when any fails.
//!
//! Test rules are found in the source text: a line that starts, at column 1, with `test_<name>`
//! followed by `if`, `{`, `:=` or `=` (how `opa fmt` writes rule heads). That gives each test its
//! file:line without depending on regorus's internal syntax tree.

use std::path::{Path, PathBuf};

use regorus::{Engine, Value};
use serde::Serialize;

use crate::error::{GateError, from_rego};
use crate::policy::{policy_dir, read, rego_files};

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum TestOutcome {
    /// Evaluated to `true`.
    Pass,
    /// Undefined, `false` or another value.
    Fail,
    /// Evaluation failed.
    Error {
        /// The interpreter's message.
        message: String,
    },
}

/// One test rule and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    /// `data.<package>.<rule>`.
    pub name: String,
    /// The file that defines it.
    pub file: String,
    /// Its 1-based line.
    pub line: u32,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: TestOutcome,
}

/// Every test of a directory and the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestSummary {
    /// The directory the files came from.
    pub dir: PathBuf,
    /// Every test, in file and line order.
    pub results: Vec<TestResult>,
}

impl TestSummary {
    /// Tests that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.outcome == TestOutcome::Pass).count()
    }

    /// Tests that failed or errored.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Whether every test passed (and there was at least one).
    pub fn ok(&self) -> bool {
        !self.results.is_empty() && self.failed() == 0
    }
}

impl std::fmt::Display for TestSummary {
    /// One line per failure or error (`FAIL file:line data.pkg.test_x`), then `N passed, M failed`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for r in &self.results {
            match &r.outcome {
                TestOutcome::Pass => {}
                TestOutcome::Fail => writeln!(f, "FAIL {}:{} {}", r.file, r.line, r.name)?,
                TestOutcome::Error { message } => writeln!(f, "ERROR {}:{} {}: {message}", r.file, r.line, r.name)?,
            }
        }
        if self.results.is_empty() {
            writeln!(f, "no test_ rules found in {}", self.dir.display())?;
        }
        write!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Runs the Rego unit tests of `dir` (see [`policy_dir`]: `dir/gates/` when it exists). A file that does
/// not parse is an error naming its file:line; a test that errors is counted as failed.
pub fn run_tests(dir: &Path) -> Result<TestSummary, GateError> {
    let dir = policy_dir(dir);
    let mut sources = Vec::new();
    for path in rego_files(&dir)? {
        sources.push((path.display().to_string(), read(&path)?));
    }
    let mut summary = run_test_sources(sources)?;
    summary.dir = dir;
    Ok(summary)
}

/// Runs the `test_` rules of `(file name, Rego)` pairs loaded together.
pub fn run_test_sources(sources: impl IntoIterator<Item = (String, String)>) -> Result<TestSummary, GateError> {
    let mut engine = Engine::new();
    let mut tests = Vec::new();
    for (file, rego) in sources {
        let package = engine.add_policy(file.clone(), rego.clone()).map_err(|e| from_rego(&e))?;
        for (line, rule) in test_rules(&rego) {
            tests.push((format!("{package}.{rule}"), file.clone(), line));
        }
    }
    let mut results = Vec::with_capacity(tests.len());
    for (name, file, line) in tests {
        // A fresh clone per test: no state leaks from one test's evaluation into the next.
        let mut e = engine.clone();
        e.set_input(Value::Undefined);
        let outcome = match e.eval_rule(name.clone()) {
            Ok(v) if v == Value::from(true) => TestOutcome::Pass,
            Ok(_) => TestOutcome::Fail,
            Err(err) => TestOutcome::Error { message: from_rego(&err).to_string() },
        };
        results.push(TestResult { name, file, line, outcome });
    }
    Ok(TestSummary { dir: PathBuf::new(), results })
}

/// The `test_` rule heads of a file and their lines; a rule defined twice (several bodies) is one test.
fn test_rules(rego: &str) -> Vec<(u32, String)> {
    let mut found: Vec<(u32, String)> = Vec::new();
    for (i, text) in rego.lines().enumerate() {
        let Some(rest) = text.strip_prefix("test_") else { continue };
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let after = rest[len..].trim_start();
        let is_head =
            after.starts_with("if") || after.starts_with('{') || after.starts_with(":=") || after.starts_with('=');
        let name = format!("test_{}", &rest[..len]);
        if is_head && !found.iter().any(|(_, n)| *n == name) {
            found.push((u32::try_from(i + 1).unwrap_or(u32::MAX), name));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_heads_are_found_with_their_lines() {
        let rego = "package p\n\ntest_a if true\n  test_indented if true\ntest_b := true\ntest_a if false\nnot_test_c if true\n";
        assert_eq!(test_rules(rego), vec![(3, "test_a".to_owned()), (5, "test_b".to_owned())]);
    }

    #[test]
    fn passing_failing_and_erroring_tests_are_counted() {
        let rego = "package t\n\ntest_ok if 1 == 1\n\ntest_no if 1 == 2\n\ntest_boom if {\n  x := 1 / 0\n  x > 0\n}\n";
        let summary = run_test_sources([("t.rego".to_owned(), rego.to_owned())]).expect("parses");
        assert_eq!((summary.passed(), summary.failed()), (1, 2), "{summary}");
        let no = summary.results.iter().find(|r| r.name == "data.t.test_no").expect("test_no found");
        assert_eq!((no.line, &no.outcome), (5, &TestOutcome::Fail));
    }
}
