//! Durations in config and policy files (`30s`, `5m`, `1h30m`, `250ms`) and their bounds.
//!
//! Parsing is humantime's (maintained, overflow-checked); on top of it every duration is
//! capped at [`MAX_DURATION`] so no later `Instant + Duration` can overflow, and
//! intervals (how often something repeats) must be at least [`MIN_INTERVAL`]: a `0s`
//! poll interval would busy-loop a core.

use std::time::Duration;

/// The longest duration any setting accepts (365 days).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// The shortest interval between repeated work (polls, scans).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A duration such as `30s`, `5m`, `1h30m`, `250ms`; `0s` allowed, at most [`MAX_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationStr(pub Duration);

impl TryFrom<String> for DurationStr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        parse_duration(&s).map(DurationStr)
    }
}

/// An interval between repeated work: a duration of at least [`MIN_INTERVAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

impl TryFrom<String> for Interval {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let d = parse_duration(&s)?;
        if d < MIN_INTERVAL {
            return Err(format!(
                "interval {s:?} is too short: it must be at least 1s"
            ));
        }
        Ok(Interval(d))
    }
}

/// Parses a duration with humantime's syntax (`250ms`, `30s`, `5m`, `1h30m`, `1h 30m`,
/// `2d`); a bare number is seconds. Rejects anything over [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = match t.parse::<u64>() {
        Ok(n) => Duration::from_secs(n),
        Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(too_long(s));
        }
        Err(_) => humantime::parse_duration(t).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(s),
            _ => format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h30m or 250ms"),
        })?,
    };
    if d > MAX_DURATION {
        return Err(too_long(s));
    }
    Ok(d)
}

fn too_long(s: &str) -> String {
    format!("duration {s:?} is too long: at most 365d")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn huge_durations_are_errors_not_panics() {
        for s in [
            "99999999999999999999h",
            "99999999999999999999",
            "18446744073709551615s",
            "9999999999h",
            "366d",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("too long"), "{s}: {e}");
        }
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
    }

    #[test]
    fn intervals_are_at_least_a_second() {
        let e = Interval::try_from("0s".to_string()).unwrap_err();
        assert!(e.contains("at least 1s"), "{e}");
        assert!(Interval::try_from("999ms".to_string()).is_err());
        assert_eq!(
            Interval::try_from("1s".to_string()),
            Ok(Interval(Duration::from_secs(1)))
        );
    }
}

crate::parsed::from_str_scalar!(DurationStr, "a duration such as 5m");

crate::parsed::from_str_scalar!(Interval, "an interval such as 5m (at least 1s)");
