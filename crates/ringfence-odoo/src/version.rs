//! Odoo series (`17.0`) and module versions (`17.0.1.2.3`): normalisation of a manifest version against
//! the series the way Odoo does on loading, and numeric comparison.
//!
//! Not here: which migration folders a version change selects (that needs installed versions per tenant).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::OdooError;

/// An Odoo series such as `17.0` (the image's major version; every module version is prefixed with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    /// `17` in `17.0`.
    pub major: u32,
    /// `0` in `17.0`.
    pub minor: u32,
}

impl FromStr for Series {
    type Err = OdooError;

    fn from_str(s: &str) -> Result<Self, OdooError> {
        let bad = || OdooError::InvalidSeries(s.to_string());
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        let parse = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse::<u32>().map_err(|_| bad())
        };
        Ok(Series { major: parse(major)?, minor: parse(minor)? })
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A dotted numeric module version, e.g. `17.0.1.2.3`.
///
/// Ordered part by part numerically; trailing zero parts do not count, so `17.0.1.2` equals `17.0.1.2.0`
/// (Odoo compares versions with `parse_version`, which drops them too). The text is kept as written.
#[derive(Debug, Clone)]
pub struct ModuleVersion {
    raw: String,
    parts: Vec<u64>,
}

impl ModuleVersion {
    /// Parses a dotted numeric version (as stored in `ir_module_module.latest_version` or a wheel name).
    pub fn parse(s: &str) -> Option<ModuleVersion> {
        let parts = s
            .split('.')
            .map(|p| if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) { None } else { p.parse::<u64>().ok() })
            .collect::<Option<Vec<_>>>()?;
        Some(ModuleVersion { raw: s.to_string(), parts })
    }

    /// Normalises a manifest version against `series` as Odoo does when it loads a module: `1.2` and
    /// `1.2.3` get the series prefix, `17.0.1.2` is kept; what remains after the prefix must be `x.y` or
    /// `x.y.z`. `Err` says why, for [`OdooError::Version`].
    pub fn normalise(raw: &str, series: Series) -> Result<ModuleVersion, String> {
        let prefix = series.to_string();
        // Odoo prefixes a bare series too: version "17.0" on 17.0 becomes 17.0.17.0.
        let (full, module_part) = match raw.strip_prefix(&format!("{prefix}.")) {
            Some(rest) if raw != prefix => (raw.to_string(), rest),
            _ => (format!("{prefix}.{raw}"), raw),
        };
        let parts: Vec<&str> = module_part.split('.').collect();
        let numeric = parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !numeric || !(2..=3).contains(&parts.len()) {
            let reason = if (4..=5).contains(&parts.len()) && numeric {
                format!("it looks like a version of another series than {prefix}")
            } else {
                "the module part must be two or three numbers".to_string()
            };
            return Err(reason);
        }
        ModuleVersion::parse(&full).ok_or_else(|| "a part is too large".to_string())
    }

    /// The version as written (after normalisation, the full series-prefixed form).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The numeric parts.
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }

    fn significant(&self) -> &[u64] {
        let end = self.parts.iter().rposition(|&p| p != 0).map_or(0, |i| i + 1);
        &self.parts[..end]
    }
}

impl PartialEq for ModuleVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ModuleVersion {}

impl PartialOrd for ModuleVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ModuleVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.significant().cmp(other.significant())
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s17() -> Series {
        "17.0".parse().unwrap()
    }

    fn v(s: &str) -> ModuleVersion {
        ModuleVersion::parse(s).unwrap()
    }

    #[test]
    fn series_parses_and_rejects() {
        assert_eq!(s17(), Series { major: 17, minor: 0 });
        for bad in ["17", "17.", "saas~17.1", "17.0.1", "a.b", ""] {
            assert!(bad.parse::<Series>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn normalise_prefixes_short_versions() {
        assert_eq!(ModuleVersion::normalise("1.2", s17()).unwrap().as_str(), "17.0.1.2");
        assert_eq!(ModuleVersion::normalise("1.2.3", s17()).unwrap().as_str(), "17.0.1.2.3");
        assert_eq!(ModuleVersion::normalise("17.0.1.2.3", s17()).unwrap().as_str(), "17.0.1.2.3");
        assert_eq!(ModuleVersion::normalise("17.0", s17()).unwrap().as_str(), "17.0.17.0");
    }

    #[test]
    fn normalise_rejects_other_series_and_junk() {
        let err = ModuleVersion::normalise("16.0.1.0.0", s17()).unwrap_err();
        assert!(err.contains("another series"), "{err}");
        for bad in ["1", "1.2.3.4.5.6", "1.x", "", "1..2", "17.0.1.2.3.4"] {
            assert!(ModuleVersion::normalise(bad, s17()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn versions_compare_numerically_ignoring_trailing_zeros() {
        assert!(v("17.0.1.10.0") > v("17.0.1.9.9"));
        assert!(v("17.0.1.5.4") > v("17.0.1.3.0"));
        assert_eq!(v("17.0.1.2"), v("17.0.1.2.0"));
        assert!(v("17.0.1.2.0.1") > v("17.0.1.2"));
        assert!(v("16.0.9.9.9") < v("17.0.0.0.1"));
        assert_eq!(v("17.0.1.2").as_str(), "17.0.1.2");
    }

    #[test]
    fn parse_rejects_non_numeric() {
        for bad in ["", "1.", ".1", "1.a", "1.-2"] {
            assert!(ModuleVersion::parse(bad).is_none(), "{bad} accepted");
        }
    }
}
