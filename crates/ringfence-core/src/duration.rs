//! Human durations as written in policy files (`30m`, `2h`, `1h30m`, `500ms`, `1d`).
//!
//! A duration is a whole number of milliseconds. Parsing is strict: every number needs a unit, units go
//! from largest to smallest and appear once, so `90` or `30m2h` are errors rather than guesses, and
//! none may be longer than [`Duration::LONGEST`] (366 days).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of time with millisecond precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: u64,
}

/// Why a duration string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} ({advice})")]
pub struct ParseDurationError {
    input: String,
    reason: &'static str,
    advice: &'static str,
}

const SPELLING: &str = "write it like `30s`, `10m`, `2h`, `1h30m` or `1d`";

const UNITS: [(&str, u64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

impl Duration {
    /// Zero length.
    pub const ZERO: Duration = Duration { millis: 0 };

    /// The longest duration a configuration may write: 366 days (`366d`). Nothing Ringfence times
    /// needs more — the longest is a freeze, and a year-long one is 366 days in a leap year — so a
    /// longer one is a slip of the keyboard (`9999999999h`), and it would carry timestamps computed
    /// from it towards the end of the calendar that time arithmetic can represent (year 9999).
    /// Values built in code may be longer; the engine saturates the times it computes from them.
    pub const LONGEST: Duration = Duration { millis: 366 * 86_400_000 };

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration { millis: secs * 1000 }
    }

    /// A duration of `mins` minutes.
    pub const fn from_mins(mins: u64) -> Self {
        Duration { millis: mins * 60_000 }
    }

    /// Length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Whether this is zero length.
    pub const fn is_zero(self) -> bool {
        self.millis == 0
    }

    /// The same span as a jiff signed duration, for timestamp arithmetic.
    pub fn to_signed(self) -> jiff::SignedDuration {
        // Policy durations are far below i64::MAX milliseconds; saturate rather than wrap just in case.
        jiff::SignedDuration::from_millis(i64::try_from(self.millis).unwrap_or(i64::MAX))
    }

    /// The instant this long after `t`, or [`jiff::Timestamp::MAX`] when that is past the end of the
    /// representable calendar: time computed from a duration never panics, however long it is.
    pub fn after(self, t: jiff::Timestamp) -> jiff::Timestamp {
        t.checked_add(self.to_signed()).unwrap_or(jiff::Timestamp::MAX)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration { millis: u64::try_from(d.as_millis()).unwrap_or(u64::MAX) }
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        std::time::Duration::from_millis(d.millis)
    }
}

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseDurationError { input: input.to_owned(), reason, advice: SPELLING };
        let too_long = || ParseDurationError {
            input: input.to_owned(),
            reason: "it is longer than 366d, the longest duration Ringfence accepts",
            advice: "observations, soaks, windows, freezes and timeouts all fit in a year",
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        let bytes = s.as_bytes();
        let mut pos = 0;
        let mut total: u64 = 0;
        // Index into UNITS of the last unit used, so units must strictly decrease.
        let mut last_unit: Option<usize> = None;
        while pos < bytes.len() {
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if start == pos {
                return Err(err("expected a number"));
            }
            let number: u64 = s[start..pos].parse().map_err(|_| too_long())?;
            let unit_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
                pos += 1;
            }
            let unit = &s[unit_start..pos];
            if unit.is_empty() {
                return Err(err("a number has no unit"));
            }
            let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(err("unknown unit (use d, h, m, s or ms)"));
            };
            if last_unit.is_some_and(|last| index <= last) {
                return Err(err("units must go from largest to smallest, each once"));
            }
            last_unit = Some(index);
            let part = number.checked_mul(UNITS[index].1).ok_or_else(too_long)?;
            total = total.checked_add(part).ok_or_else(too_long)?;
        }
        if total > Duration::LONGEST.millis {
            return Err(too_long());
        }
        Ok(Duration { millis: total })
    }
}

impl fmt::Display for Duration {
    /// The canonical spelling, which parses back to the same value: `1h30m`, `45s`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        for (name, size) in UNITS {
            let n = rest / size;
            if n > 0 {
                write!(f, "{n}{name}")?;
                rest -= n * size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!("1h30m".parse::<Duration>().unwrap(), Duration::from_mins(90));
        assert_eq!("2h".parse::<Duration>().unwrap(), Duration::from_mins(120));
        assert_eq!("500ms".parse::<Duration>().unwrap(), Duration::from_millis(500));
        assert_eq!("1d".parse::<Duration>().unwrap(), Duration::from_mins(1440));
        assert_eq!("0s".parse::<Duration>().unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_ambiguous_or_malformed_durations() {
        for bad in ["", "90", "m", "30x", "30m2h", "1h1h", "-5m", "1.5h", "30 m"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rejects_durations_longer_than_366_days() {
        assert_eq!("366d".parse::<Duration>().unwrap(), Duration::LONGEST);
        assert_eq!("8784h".parse::<Duration>().unwrap(), Duration::LONGEST);
        for long in ["366d1ms", "367d", "9999999999h", "99999999999999999999d", "18446744073709551615ms"] {
            let err = long.parse::<Duration>().unwrap_err().to_string();
            assert!(err.contains("longer than 366d"), "{long}: {err}");
        }
    }

    #[test]
    fn times_after_a_huge_duration_saturate() {
        let t: jiff::Timestamp = "2026-11-27T09:00:00Z".parse().unwrap();
        assert_eq!(Duration::from_mins(90).after(t), t + jiff::SignedDuration::from_mins(90));
        assert_eq!(Duration::from_millis(u64::MAX).after(t), jiff::Timestamp::MAX);
        assert_eq!(Duration::from_millis(1).after(jiff::Timestamp::MAX), jiff::Timestamp::MAX);
    }

    #[test]
    fn display_round_trips() {
        for text in ["1h30m", "45s", "0s", "1d2h3m4s5ms", "250ms"] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
    }
}
