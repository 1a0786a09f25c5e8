//! Trivy and Grype reports to exact counts; malformed reports to errors naming the file.

use std::path::{Path, PathBuf};

use ringfence_supply::{
    Scanner, Severity, SupplyError, VulnerabilityEvidence, VulnerabilityReport, load_vulnerability_evidence,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn trivy_report_counts() {
    let evidence = load_vulnerability_evidence(&fixture("trivy-odoo.json")).unwrap();
    assert_eq!(
        evidence,
        VulnerabilityEvidence {
            scanner: "trivy".into(),
            // 10 reported; libexpat1's CVE-2024-45491 twice; libc6 and libc-bin are two packages.
            total: 9,
            critical: 2,
            critical_fixable: 1,
            high: 3,
            high_fixable: 3,
            medium: 2,
            medium_fixable: 1,
            low: 1,
            low_fixable: 0,
            unknown: 1,
            unknown_fixable: 0,
            fixable_critical_ids: ids(&["CVE-2024-45491"]),
            fixable_high_ids: ids(&["CVE-2024-1135", "CVE-2024-2961"]),
        }
    );
}

#[test]
fn grype_report_counts() {
    let evidence = load_vulnerability_evidence(&fixture("grype-odoo.json")).unwrap();
    assert_eq!(
        evidence,
        VulnerabilityEvidence {
            scanner: "grype".into(),
            // 9 matches; gunicorn's CVE-2024-1135 matched twice; Negligible counts as low.
            total: 8,
            critical: 2,
            critical_fixable: 1,
            high: 2,
            high_fixable: 1,
            medium: 1,
            medium_fixable: 0,
            low: 2,
            low_fixable: 1,
            unknown: 1,
            unknown_fixable: 0,
            fixable_critical_ids: ids(&["CVE-2024-45491"]),
            fixable_high_ids: ids(&["CVE-2024-1135"]),
        }
    );
    let json = serde_json::to_value(&evidence).unwrap();
    assert_eq!(json["criticalFixable"], 1);
    assert_eq!(json["fixableCriticalIds"], serde_json::json!(["CVE-2024-45491"]));
}

#[test]
fn findings_keep_the_fix_and_the_scanner() {
    let report = VulnerabilityReport::load(&fixture("trivy-odoo.json")).unwrap();
    assert_eq!(report.scanner, Scanner::Trivy);
    let zlib = report.findings.iter().find(|f| f.package == "zlib1g").unwrap();
    assert_eq!((zlib.severity, zlib.fixable()), (Severity::Critical, false));
    let expat = report.findings.iter().find(|f| f.package == "libexpat1").unwrap();
    assert_eq!(expat.fixed_version.as_deref(), Some("2.5.0-1+deb12u1"));
}

#[test]
fn duplicates_keep_the_highest_severity_and_any_fix() {
    let trivy = br#"{"SchemaVersion": 2, "Results": [
        {"Target": "a", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "p", "InstalledVersion": "1", "Severity": "MEDIUM"}]},
        {"Target": "b", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "p", "InstalledVersion": "1", "FixedVersion": "2", "Severity": "HIGH"}]},
        {"Target": "c", "Vulnerabilities": null}
    ]}"#;
    let e = VulnerabilityReport::parse(trivy, Path::new("dups.json")).unwrap().evidence();
    assert_eq!((e.total, e.high, e.high_fixable, e.medium), (1, 1, 1, 0));
    assert_eq!(e.fixable_high_ids, ids(&["CVE-1"]));
}

#[test]
fn clean_reports_count_zero() {
    let trivy =
        VulnerabilityReport::parse(br#"{"SchemaVersion": 2, "ArtifactName": "x"}"#, Path::new("t.json")).unwrap();
    assert_eq!(trivy.evidence(), VulnerabilityEvidence { scanner: "trivy".into(), ..Default::default() });
    let grype = VulnerabilityReport::parse(br#"{"matches": []}"#, Path::new("g.json")).unwrap();
    assert_eq!(grype.evidence().total, 0);
}

fn error(bytes: &[u8]) -> SupplyError {
    VulnerabilityReport::parse(bytes, Path::new("scans/image.json")).unwrap_err()
}

#[test]
fn malformed_reports_are_errors_naming_the_file() {
    let truncated = error(b"{\"SchemaVersion\": 2,\n \"Results\": [");
    assert!(matches!(truncated, SupplyError::Json { line: 2, .. }), "{truncated}");

    let unknown = error(br#"{"vulnerabilities": []}"#).to_string();
    assert!(unknown.starts_with("scans/image.json: is neither a Trivy report"), "{unknown}");

    let not_object = error(b"[]").to_string();
    assert!(not_object.starts_with("scans/image.json: is not a vulnerability report"), "{not_object}");

    let missing =
        error(b"{\"Results\": [{\"Vulnerabilities\": [\n{\"VulnerabilityID\": \"CVE-1\", \"Severity\": \"HIGH\"}]}]}")
            .to_string();
    assert!(missing.starts_with("scans/image.json: 2:"), "{missing}");
    assert!(missing.contains("not a valid Trivy report: missing field `PkgName`"), "{missing}");

    let severity = error(
        br#"{"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-9", "PkgName": "p", "Severity": "SEVERE"}]}]}"#,
    )
    .to_string();
    assert_eq!(
        severity,
        "scans/image.json: CVE-9: unknown severity \"SEVERE\"; expected critical, high, medium, low, negligible or unknown"
    );

    let fix_state = error(br#"{"matches": [{"vulnerability": {"id": "CVE-9", "severity": "High", "fix": {"state": "maybe"}}, "artifact": {"name": "p"}}]}"#)
        .to_string();
    assert!(fix_state.contains("CVE-9: unknown fix state \"maybe\""), "{fix_state}");

    let missing_file = VulnerabilityReport::load(&fixture("no-such-scan.json")).unwrap_err().to_string();
    assert!(missing_file.starts_with("cannot read ") && missing_file.contains("no-such-scan.json"), "{missing_file}");
}

#[test]
fn an_oversized_report_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(ringfence_supply::MAX_EVIDENCE_BYTES + 1).unwrap();
    let err = load_vulnerability_evidence(&path).unwrap_err();
    assert!(matches!(&err, SupplyError::TooLarge { path: p, .. } if *p == path), "{err}");
    assert!(err.to_string().contains("is larger than 32 MiB"), "{err}");
    assert!(err.to_string().contains("--scanners vuln"), "{err}");
}

#[test]
fn a_deeply_nested_report_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let text = format!("{{\"Results\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert!(error(text.as_bytes()).to_string().starts_with("scans/image.json: 1:16: not a valid Trivy report"));
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(error(text.as_bytes()).to_string().starts_with("scans/image.json: is not a vulnerability report"));
}
