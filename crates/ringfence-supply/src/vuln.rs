//! Vulnerability reports of the release image, from Trivy (`trivy image --format json`) or Grype
//! (`grype -o json`), detected from the document's shape and reduced to counts per severity and
//! fixability. A vulnerability is *fixable* when the scanner names a fixed version.
//!
//! The same vulnerability in the same package is counted once even when reported several times (Trivy
//! repeats it per target, Grype per matcher); the duplicates keep the highest severity and are fixable
//! if any report has a fix. Not here: deciding which counts block a release (the gates' policy).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::read_file;
use crate::{SupplyError, VulnerabilityEvidence};

/// Which scanner wrote a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scanner {
    Trivy,
    Grype,
}

impl Scanner {
    /// The scanner's lowercase name, as in the evidence.
    pub fn name(self) -> &'static str {
        match self {
            Scanner::Trivy => "trivy",
            Scanner::Grype => "grype",
        }
    }
}

/// Severity levels, lowest first so the derived order ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Reads Trivy's `CRITICAL` or Grype's `Critical`; Grype's `Negligible` counts as low.
    fn parse(text: &str) -> Option<Severity> {
        Some(match text.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" | "negligible" => Severity::Low,
            "unknown" => Severity::Unknown,
            _ => return None,
        })
    }
}

/// One distinct vulnerability in one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// `CVE-…`, `GHSA-…`, distribution advisory ids.
    pub id: String,
    pub package: String,
    pub installed_version: String,
    pub severity: Severity,
    /// The version that fixes it, when the scanner knows one.
    pub fixed_version: Option<String>,
}

impl Finding {
    /// True when the scanner names a fixed version.
    pub fn fixable(&self) -> bool {
        self.fixed_version.is_some()
    }
}

/// A parsed, de-duplicated report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnerabilityReport {
    pub scanner: Scanner,
    /// Distinct findings, ordered by id then package.
    pub findings: Vec<Finding>,
}

#[derive(Deserialize)]
struct TrivyReport {
    #[serde(rename = "Results", default)]
    results: Option<Vec<TrivyResult>>,
}

#[derive(Deserialize)]
struct TrivyResult {
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<TrivyVulnerability>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    #[serde(default)]
    installed_version: String,
    #[serde(default)]
    fixed_version: Option<String>,
    severity: String,
}

#[derive(Deserialize)]
struct GrypeReport {
    matches: Vec<GrypeMatch>,
}

#[derive(Deserialize)]
struct GrypeMatch {
    vulnerability: GrypeVulnerability,
    artifact: GrypeArtifact,
}

#[derive(Deserialize)]
struct GrypeVulnerability {
    id: String,
    severity: String,
    #[serde(default)]
    fix: Option<GrypeFix>,
}

#[derive(Deserialize)]
struct GrypeFix {
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
struct GrypeArtifact {
    name: String,
    #[serde(default)]
    version: String,
}

impl VulnerabilityReport {
    /// Reads a Trivy or Grype JSON report file.
    pub fn load(path: &Path) -> Result<VulnerabilityReport, SupplyError> {
        VulnerabilityReport::parse(&read_file(path)?, path)
    }

    /// Parses a report, detecting the scanner from its shape; `path` names the source in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<VulnerabilityReport, SupplyError> {
        // The top-level keys tell the scanner. Their values are skipped, not built: a whole report as a
        // `serde_json::Value` took several times its size in memory.
        let object: BTreeMap<String, serde::de::IgnoredAny> = match serde_json::from_slice(bytes) {
            Ok(object) => object,
            Err(e) if e.is_data() => {
                return Err(SupplyError::format(path, "is not a vulnerability report: expected a JSON object"));
            }
            Err(e) => return Err(SupplyError::json(path, &e)),
        };
        // Parsing the bytes again (not the Value) keeps line numbers in the errors below.
        let typed = |scanner: &str, e: serde_json::Error| {
            SupplyError::format(path, format!("{}:{}: not a valid {scanner} report: {e}", e.line(), e.column()))
        };
        let mut findings = Vec::new();
        if object.contains_key("matches") {
            let report: GrypeReport = serde_json::from_slice(bytes).map_err(|e| typed("Grype", e))?;
            for m in report.matches {
                let fix = m.vulnerability.fix.unwrap_or(GrypeFix { versions: Vec::new(), state: String::new() });
                let fixed_version = match fix.state.as_str() {
                    "fixed" => Some(fix.versions.join(", ")),
                    "not-fixed" | "wont-fix" | "unknown" | "" => None,
                    other => {
                        return Err(SupplyError::format(
                            path,
                            format!(
                                "{}: unknown fix state {other:?}; expected fixed, not-fixed, wont-fix or unknown",
                                m.vulnerability.id
                            ),
                        ));
                    }
                };
                let severity = severity(&m.vulnerability.severity, &m.vulnerability.id, path)?;
                findings.push(Finding {
                    id: m.vulnerability.id,
                    package: m.artifact.name,
                    installed_version: m.artifact.version,
                    severity,
                    fixed_version,
                });
            }
            Ok(VulnerabilityReport { scanner: Scanner::Grype, findings: dedupe(findings) })
        } else if object.contains_key("Results") || object.contains_key("SchemaVersion") {
            let report: TrivyReport = serde_json::from_slice(bytes).map_err(|e| typed("Trivy", e))?;
            let vulnerabilities =
                report.results.into_iter().flatten().flat_map(|r| r.vulnerabilities.into_iter().flatten());
            for v in vulnerabilities {
                let severity = severity(&v.severity, &v.vulnerability_id, path)?;
                findings.push(Finding {
                    id: v.vulnerability_id,
                    package: v.pkg_name,
                    installed_version: v.installed_version,
                    severity,
                    fixed_version: v.fixed_version.filter(|f| !f.trim().is_empty()),
                });
            }
            Ok(VulnerabilityReport { scanner: Scanner::Trivy, findings: dedupe(findings) })
        } else {
            Err(SupplyError::format(
                path,
                "is neither a Trivy report (top-level \"Results\"/\"SchemaVersion\") \
                 nor a Grype report (top-level \"matches\"); scan with `trivy image --format json` or `grype -o json`",
            ))
        }
    }

    /// Counts per severity and fixability, with the fixable critical and high ids.
    pub fn evidence(&self) -> VulnerabilityEvidence {
        let mut e = VulnerabilityEvidence { scanner: self.scanner.name().to_owned(), ..Default::default() };
        for f in &self.findings {
            let fixable = usize::from(f.fixable());
            e.total += 1;
            let (count, fixable_count) = match f.severity {
                Severity::Critical => (&mut e.critical, &mut e.critical_fixable),
                Severity::High => (&mut e.high, &mut e.high_fixable),
                Severity::Medium => (&mut e.medium, &mut e.medium_fixable),
                Severity::Low => (&mut e.low, &mut e.low_fixable),
                Severity::Unknown => (&mut e.unknown, &mut e.unknown_fixable),
            };
            *count += 1;
            *fixable_count += fixable;
            if f.fixable() {
                match f.severity {
                    Severity::Critical => e.fixable_critical_ids.push(f.id.clone()),
                    Severity::High => e.fixable_high_ids.push(f.id.clone()),
                    _ => {}
                }
            }
        }
        // One id may affect several packages; an explanation lists it once.
        for ids in [&mut e.fixable_critical_ids, &mut e.fixable_high_ids] {
            ids.sort();
            ids.dedup();
        }
        e
    }
}

/// Reads a report file and summarises it.
pub fn load_vulnerability_evidence(path: &Path) -> Result<VulnerabilityEvidence, SupplyError> {
    Ok(VulnerabilityReport::load(path)?.evidence())
}

fn severity(text: &str, id: &str, path: &Path) -> Result<Severity, SupplyError> {
    Severity::parse(text).ok_or_else(|| {
        SupplyError::format(
            path,
            format!("{id}: unknown severity {text:?}; expected critical, high, medium, low, negligible or unknown"),
        )
    })
}

fn dedupe(findings: Vec<Finding>) -> Vec<Finding> {
    let mut distinct: BTreeMap<(String, String), Finding> = BTreeMap::new();
    for f in findings {
        match distinct.get_mut(&(f.id.clone(), f.package.clone())) {
            Some(seen) => {
                seen.severity = seen.severity.max(f.severity);
                if seen.fixed_version.is_none() {
                    seen.fixed_version = f.fixed_version;
                }
            }
            None => {
                distinct.insert((f.id.clone(), f.package.clone()), f);
            }
        }
    }
    distinct.into_values().collect()
}
