//! JUnit XML from pytest and Maven Surefire to test counts and failing names.

use std::path::{Path, PathBuf};

use ringfence_supply::{SupplyError, TestEvidence, load_junit, parse_junit};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn pytest_report() {
    let evidence = load_junit(&[fixture("pytest-junit.xml")]).unwrap();
    assert_eq!(
        evidence,
        TestEvidence {
            total: 7,
            passed: 3,
            failed: 2,
            errors: 1,
            skipped: 1,
            failing: vec![
                "tests.test_checkout.test_pay_by_voucher".into(),
                "tests.test_checkout.test_refund[full]".into(),
                "tests.test_stock.test_reserve_on_confirm".into(),
            ],
        }
    );
}

#[test]
fn surefire_reports_directory_adds_up() {
    let evidence = load_junit(&[fixture("surefire-reports")]).unwrap();
    // A flakyFailure passed on rerun: it is not a failure.
    assert_eq!(
        evidence,
        TestEvidence {
            total: 7,
            passed: 4,
            failed: 1,
            errors: 1,
            skipped: 1,
            failing: vec![
                "com.acme.odoo.connector.OrderSyncTest.retriesOnTimeout".into(),
                "com.acme.odoo.connector.StockSyncTest.readsWarehouses".into(),
            ],
        }
    );
    let json = serde_json::to_value(&evidence).unwrap();
    assert_eq!(json["failed"], 1);
    assert_eq!(json["failing"][1], "com.acme.odoo.connector.StockSyncTest.readsWarehouses");
}

#[test]
fn testcases_win_over_suite_attributes() {
    let xml = br#"<testsuite tests="100" failures="0"><testcase classname="c" name="a"/><testcase name="b"><failure/></testcase></testsuite>"#;
    let e = parse_junit(xml, Path::new("r.xml")).unwrap();
    assert_eq!((e.total, e.passed, e.failed), (2, 1, 1));
    assert_eq!(e.failing, ["b"]);
}

#[test]
fn attributes_only_report_counts_the_innermost_suites() {
    let e = load_junit(&[fixture("junit-attributes-only.xml")]).unwrap();
    assert_eq!(e, TestEvidence { total: 12, passed: 9, failed: 1, errors: 0, skipped: 2, failing: vec![] });
}

#[test]
fn failing_names_are_capped() {
    let cases: String = (0..30).map(|i| format!("<testcase name=\"t{i}\"><failure/></testcase>")).collect();
    let e =
        parse_junit(format!("<testsuites><testsuite>{cases}</testsuite></testsuites>").as_bytes(), Path::new("r.xml"))
            .unwrap();
    assert_eq!(e.failed, 30);
    assert_eq!(e.failing.len(), ringfence_supply::MAX_FAILING_NAMES);
    assert_eq!(e.failing[0], "t0");
}

#[test]
fn malformed_xml_is_an_error_with_its_line() {
    let path = fixture("junit-malformed.xml");
    let err = load_junit(std::slice::from_ref(&path)).unwrap_err();
    // The unclosed <failure> on line 5 is found at the mismatched </testcase> on line 6.
    assert!(matches!(err, SupplyError::Xml { line: 6, .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("{}:6:", path.display())), "{err}");

    let wrong_root = parse_junit(b"<html>\n<body/></html>", Path::new("index.html")).unwrap_err().to_string();
    assert_eq!(
        wrong_root,
        "index.html: 1:1: root element is <html>; a JUnit report starts with <testsuites> or <testsuite>"
    );

    let bad_count = parse_junit(br#"<testsuite tests="many"/>"#, Path::new("r.xml")).unwrap_err().to_string();
    assert!(bad_count.contains("attribute tests=\"many\" is not a count"), "{bad_count}");
}

#[test]
fn an_oversized_report_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.xml");
    std::fs::File::create(&path).unwrap().set_len(ringfence_supply::MAX_TEST_REPORT_BYTES + 1).unwrap();
    let err = load_junit(std::slice::from_ref(&path)).unwrap_err();
    assert!(matches!(&err, SupplyError::TooLarge { path: p, .. } if *p == path), "{err}");
    assert!(err.to_string().contains("is larger than 16 MiB"), "{err}");
    assert!(err.to_string().contains("split the suite's report into several files"), "{err}");
}
