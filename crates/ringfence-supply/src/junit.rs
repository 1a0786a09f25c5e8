//! JUnit XML test reports (pytest `--junitxml`, Maven Surefire `TEST-*.xml`, and most CI tools):
//! counted from the `<testcase>` elements, which are authoritative. A report without test cases but
//! with suite attributes (`tests`, `failures`, `errors`, `skipped`) is counted from those instead.
//!
//! A test case with `<failure>` failed, with `<error>` errored, with `<skipped>` was skipped, otherwise
//! it passed; Surefire's `<flakyFailure>`/`<rerunFailure>` mark a test that passed on a rerun, so they
//! do not count against it. Not here: deciding how many failures a release tolerates.

use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use crate::error::{MAX_TEST_REPORT_BYTES, read_capped};
use crate::{SupplyError, TestEvidence};

/// What to do with a JUnit file over [`MAX_TEST_REPORT_BYTES`].
const SPLIT: &str = "split the suite's report into several files (list them, or give their directory)";

/// How many failing test names evidence carries; enough to explain, small enough to audit.
pub const MAX_FAILING_NAMES: usize = 20;

/// Parses one JUnit XML report; `path` names the source in errors.
pub fn parse_junit(bytes: &[u8], path: &Path) -> Result<TestEvidence, SupplyError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        SupplyError::format(
            path,
            format!("is not UTF-8 (invalid byte at offset {}); JUnit XML is UTF-8", e.valid_up_to()),
        )
    })?;
    let doc = Document::parse(text).map_err(|e| SupplyError::Xml {
        path: path.to_owned(),
        line: e.pos().row,
        column: e.pos().col,
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    if !matches!(root.tag_name().name(), "testsuites" | "testsuite") {
        let pos = doc.text_pos_at(root.range().start);
        return Err(SupplyError::format(
            path,
            format!(
                "{}:{}: root element is <{}>; a JUnit report starts with <testsuites> or <testsuite>",
                pos.row,
                pos.col,
                root.tag_name().name()
            ),
        ));
    }

    let cases: Vec<Node> = root.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    if cases.is_empty() {
        return from_attributes(root, path);
    }
    let mut evidence = TestEvidence::default();
    for case in cases {
        evidence.total += 1;
        let has = |tag: &str| case.children().any(|c| c.has_tag_name(tag));
        // A case with both a failure and an error is counted once, as failed: it did reach an assertion.
        if has("failure") {
            evidence.failed += 1;
        } else if has("error") {
            evidence.errors += 1;
        } else if has("skipped") {
            evidence.skipped += 1;
            continue;
        } else {
            evidence.passed += 1;
            continue;
        }
        if evidence.failing.len() < MAX_FAILING_NAMES {
            evidence.failing.push(case_name(case));
        }
    }
    Ok(evidence)
}

/// Reads one or more reports; a directory contributes its `*.xml` files in name order (Surefire
/// writes one report per test class). The results add up.
pub fn load_junit(paths: &[PathBuf]) -> Result<TestEvidence, SupplyError> {
    let mut total = TestEvidence::default();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| SupplyError::Read { path: path.clone(), source })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                .collect();
            files.sort();
            for file in files {
                total.absorb(parse_junit(&read_capped(&file, MAX_TEST_REPORT_BYTES, SPLIT)?, &file)?);
            }
        } else {
            total.absorb(parse_junit(&read_capped(path, MAX_TEST_REPORT_BYTES, SPLIT)?, path)?);
        }
    }
    Ok(total)
}

fn case_name(case: Node) -> String {
    let name = case.attribute("name").unwrap_or("<unnamed>");
    match case.attribute("classname").filter(|c| !c.is_empty()) {
        Some(class) => format!("{class}.{name}"),
        None => name.to_owned(),
    }
}

/// Counts from suite attributes: the innermost suites when there are any (a `<testsuites>` total
/// would count them twice), else the root's own.
fn from_attributes(root: Node, path: &Path) -> Result<TestEvidence, SupplyError> {
    let leaves: Vec<Node> = root
        .descendants()
        .filter(|n| n.has_tag_name("testsuite") && !n.descendants().skip(1).any(|d| d.has_tag_name("testsuite")))
        .collect();
    let suites = if leaves.is_empty() { vec![root] } else { leaves };
    let mut evidence = TestEvidence::default();
    for suite in suites {
        let count = |attr: &str| -> Result<usize, SupplyError> {
            match suite.attribute(attr) {
                None => Ok(0),
                Some(v) => v.trim().parse().map_err(|_| {
                    let pos = suite.document().text_pos_at(suite.range().start);
                    SupplyError::format(
                        path,
                        format!(
                            "{}:{}: <{}> attribute {attr}={v:?} is not a count",
                            pos.row,
                            pos.col,
                            suite.tag_name().name()
                        ),
                    )
                }),
            }
        };
        let (tests, failures, errors) = (count("tests")?, count("failures")?, count("errors")?);
        // Some writers say `skipped`, older ones `skips` or `disabled`.
        let skipped = count("skipped")?.max(count("skips")?).max(count("disabled")?);
        evidence.total += tests;
        evidence.failed += failures;
        evidence.errors += errors;
        evidence.skipped += skipped;
        evidence.passed += tests.saturating_sub(failures + errors + skipped);
    }
    Ok(evidence)
}
