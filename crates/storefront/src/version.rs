//! Code versions of the storefront and which schema versions each can run on.
//!
//! This is the table the release controller's scenarios are built on: v1 (baseline), v2 (a good
//! release with a compatible schema change), v3 (a bad, code-only release), v4 (a release whose
//! migration fails halfway). What each version does differently at run time lives next to the code it
//! changes (`crate::app`); how the schema gets there lives in `crate::migrate`.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::StorefrontError;

/// A release of the storefront's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CodeVersion {
    /// The baseline.
    V1,
    /// A good release: writes `orders.channel`, searches `products.search_name`.
    V2,
    /// A bad, code-only release: fails ~30% of checkouts and adds ~250 ms to order creation.
    V3,
    /// A release whose migration always fails halfway; its code never gets to run in practice.
    V4,
}

impl CodeVersion {
    /// All versions, oldest first.
    pub const ALL: [CodeVersion; 4] = [CodeVersion::V1, CodeVersion::V2, CodeVersion::V3, CodeVersion::V4];

    /// The version as a number (1..=4).
    pub fn number(self) -> i32 {
        match self {
            CodeVersion::V1 => 1,
            CodeVersion::V2 => 2,
            CodeVersion::V3 => 3,
            CodeVersion::V4 => 4,
        }
    }

    /// The schema version `storefront migrate --to <self>` brings a database to.
    ///
    /// v3 is code-only, so it stays on schema 2.
    pub fn target_schema(self) -> i32 {
        match self {
            CodeVersion::V1 => 1,
            CodeVersion::V2 | CodeVersion::V3 => 2,
            CodeVersion::V4 => 4,
        }
    }

    /// The schema versions this code can run on.
    pub fn supported_schemas(self) -> std::ops::RangeInclusive<i32> {
        match self {
            // Schema 2 only adds a defaulted column, an index and a nullable column: v1 never notices.
            CodeVersion::V1 => 1..=2,
            CodeVersion::V2 | CodeVersion::V3 => 2..=2,
            CodeVersion::V4 => 4..=4,
        }
    }

    /// Whether this code can run on `schema`.
    pub fn runs_on(self, schema: i32) -> bool {
        self.supported_schemas().contains(&schema)
    }

    /// Checks that this code can run on `schema`, with an error that says what to do otherwise.
    pub fn check_schema(self, schema: i32) -> Result<(), StorefrontError> {
        if self.runs_on(schema) {
            return Ok(());
        }
        let range = self.supported_schemas();
        let needs = if range.start() == range.end() {
            range.start().to_string()
        } else {
            format!("{} to {}", range.start(), range.end())
        };
        Err(StorefrontError::IncompatibleSchema { code: self, schema, needs })
    }
}

impl fmt::Display for CodeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

impl FromStr for CodeVersion {
    type Err = StorefrontError;

    /// Accepts `v1`..`v4` (or `V1`, or the bare number).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix(['v', 'V']).unwrap_or(s);
        match digits {
            "1" => Ok(CodeVersion::V1),
            "2" => Ok(CodeVersion::V2),
            "3" => Ok(CodeVersion::V3),
            "4" => Ok(CodeVersion::V4),
            _ => Err(StorefrontError::UnknownVersion(s.to_string())),
        }
    }
}

impl Serialize for CodeVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_table() {
        let table: Vec<(CodeVersion, Vec<i32>)> =
            CodeVersion::ALL.iter().map(|&v| (v, (0..=5).filter(|&s| v.runs_on(s)).collect())).collect();
        assert_eq!(
            table,
            vec![
                (CodeVersion::V1, vec![1, 2]),
                (CodeVersion::V2, vec![2]),
                (CodeVersion::V3, vec![2]),
                (CodeVersion::V4, vec![4]),
            ]
        );
    }

    #[test]
    fn parses_and_prints() {
        for v in CodeVersion::ALL {
            assert_eq!(v.to_string().parse::<CodeVersion>().unwrap(), v);
        }
        assert_eq!("3".parse::<CodeVersion>().unwrap(), CodeVersion::V3);
        assert!("v5".parse::<CodeVersion>().is_err());
    }

    #[test]
    fn incompatible_schema_says_what_to_do() {
        let err = CodeVersion::V2.check_schema(1).unwrap_err().to_string();
        assert!(err.contains("code v2 cannot run on schema 1"), "{err}");
        assert!(err.contains("migrate --to v2"), "{err}");
    }
}
