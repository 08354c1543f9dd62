//! Time-aware selection: `minAge` (a tag is eligible once its image is that old) and
//! `newestBuild` (candidates ordered by when their image was built). Pure: the
//! creation times and `now` come from the caller (the engine reads them from the
//! registry and the clock).

use std::time::{Duration, SystemTime};

use super::select::Strategy;
use crate::decision::Decision;

/// The shortest `minAge` accepted: below a second the registry's and our clocks'
/// skew is larger than the wait.
pub const MIN_MIN_AGE: Duration = Duration::from_secs(1);

/// The longest `minAge` accepted: the cap every duration obeys (365 days); longer is
/// almost surely a typo, and would hold every update back for good.
pub const MAX_MIN_AGE: Duration = super::duration::MAX_DURATION;

/// A `minAge:` value: a humantime duration (`30m`, `2h`, `7d`, `1h 30m`) within
/// [`MIN_MIN_AGE`]..=[`MAX_MIN_AGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinAge(pub Duration);

impl TryFrom<String> for MinAge {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("minAge {s:?} is not a duration ({e}): expected e.g. 30m, 2h or 7d")
        })?;
        if d < MIN_MIN_AGE || d > MAX_MIN_AGE {
            return Err(format!(
                "minAge {s:?} is out of range: between 1s and 365d (omit minAge for no wait)"
            ));
        }
        Ok(MinAge(d))
    }
}

crate::parsed::from_str_scalar!(MinAge, "a duration such as 30m");

/// `minAge` and `newestBuild` order or filter the candidates of a semver, alphabetical
/// or numerical policy; a `digest:` policy follows one tag and a `pinned:` one stays at
/// one, so there is nothing to wait for or reorder: both are refused at load rather
/// than silently ignored.
pub fn check_combination(
    strategy: &Strategy,
    pinned: bool,
    min_age: bool,
    newest_build: bool,
) -> Result<(), String> {
    let key = match (min_age, newest_build) {
        (false, false) => return Ok(()),
        (true, _) => "minAge",
        (false, true) => "newestBuild",
    };
    if matches!(strategy, Strategy::Digest(_)) {
        return Err(format!(
            "{key}: a digest: policy follows one tag, so there is no candidate to wait for or reorder; remove {key}"
        ));
    }
    if pinned {
        return Err(format!(
            "{key}: a pinned: image stays at its tag, so there is no candidate to wait for or reorder; remove {key} or pinned"
        ));
    }
    Ok(())
}

/// How old an image built at `created` is at `now`; a creation time in the future
/// (clock skew) counts as age zero, so it waits rather than passes.
pub fn age(created: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(created).unwrap_or(Duration::ZERO)
}

/// True when an image built at `created` has waited `min_age` (or there is no minimum).
pub fn old_enough(created: SystemTime, now: SystemTime, min_age: Option<Duration>) -> bool {
    min_age.is_none_or(|m| age(created, now) >= m)
}

/// A duration for people, to the second: `5m`, `1h 2m 3s`.
pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// What time-aware selection chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    /// The tag to deploy.
    pub tag: String,
    /// When a better candidate was passed over for being too young: its `TooYoung`,
    /// so a status that would say "up to date" says what it waits for instead.
    pub waiting: Option<Decision>,
}

/// The choice among `built` — candidates best first by the strategy's tag order, each
/// with its image's creation time: with `newest_build`, the most recently built first
/// (ties keep tag order); then the first that is at least `min_age` old. When none is,
/// `TooYoung` names the one that would win first; `None` when `built` is empty.
pub fn pick(
    built: &[(&str, SystemTime)],
    now: SystemTime,
    min_age: Option<Duration>,
    newest_build: bool,
) -> Option<Result<Picked, Decision>> {
    let mut order: Vec<&(&str, SystemTime)> = built.iter().collect();
    if newest_build {
        // A stable sort: equal creation times keep the strategy's order.
        order.sort_by_key(|b| std::cmp::Reverse(b.1));
    }
    let first = order.first()?;
    let too_young = Decision::TooYoung {
        tag: first.0.to_string(),
        age: age(first.1, now),
        min_age: min_age.unwrap_or_default(),
    };
    match order.iter().position(|(_, c)| old_enough(*c, now, min_age)) {
        Some(i) => Some(Ok(Picked {
            tag: order[i].0.to_string(),
            waiting: (i > 0).then_some(too_young),
        })),
        None => Some(Err(too_young)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(p: Option<Result<Picked, Decision>>) -> Option<Result<String, Decision>> {
        p.map(|r| r.map(|p| p.tag))
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn min_age_keeps_tag_order_and_skips_young_tags() {
        let now = at(10_000);
        let built = [
            ("1.3.0", at(9_700)),
            ("1.2.0", at(1_000)),
            ("1.1.0", at(500)),
        ];
        let thirty_min = Some(Duration::from_secs(1800));
        // 1.2.0 is chosen, and 1.3.0 is what it waits for.
        let p = pick(&built, now, thirty_min, false).unwrap().unwrap();
        assert_eq!(p.tag, "1.2.0");
        assert!(matches!(p.waiting, Some(Decision::TooYoung { ref tag, .. }) if tag == "1.3.0"));
        assert_eq!(
            tag(pick(&built, now, Some(Duration::from_secs(300)), false)),
            Some(Ok("1.3.0".to_string()))
        );
        let young = [("1.3.0", at(9_700)), ("1.2.0", at(9_900))];
        let d = pick(&young, now, thirty_min, false).unwrap().unwrap_err();
        assert_eq!(
            d,
            Decision::TooYoung {
                tag: "1.3.0".into(),
                age: Duration::from_secs(300),
                min_age: Duration::from_secs(1800)
            }
        );
        assert_eq!(
            d.why_not_updated().unwrap(),
            "1.3.0 is 5m old; minAge 30m: waiting"
        );
        assert!(!d.is_failure());
        assert_eq!(pick(&[], now, thirty_min, false), None);
    }

    #[test]
    fn newest_build_orders_by_creation_ties_by_tag_order() {
        let now = at(10_000);
        let built = [
            ("b", at(100)),
            ("a", at(300)),
            ("c", at(300)),
            ("d", at(200)),
        ];
        assert_eq!(
            pick(&built, now, None, true),
            Some(Ok(Picked {
                tag: "a".into(),
                waiting: None
            }))
        );
        // minAge then applies in build order: "a" and "c" are too young, "d" is next.
        assert_eq!(
            tag(pick(&built, at(400), Some(Duration::from_secs(150)), true)),
            Some(Ok("d".to_string()))
        );
        // A creation time in the future is age zero: it waits.
        let d = pick(&[("x", at(20_000))], now, Some(MIN_MIN_AGE), true)
            .unwrap()
            .unwrap_err();
        assert!(matches!(d, Decision::TooYoung { age, .. } if age == Duration::ZERO));
    }

    #[test]
    fn min_age_values() {
        assert_eq!(
            MinAge::try_from("30m".to_string()),
            Ok(MinAge(Duration::from_secs(1800)))
        );
        assert_eq!(
            MinAge::try_from("7d".to_string()),
            Ok(MinAge(Duration::from_secs(7 * 86400)))
        );
        assert!(MinAge::try_from("0s".to_string())
            .unwrap_err()
            .contains("out of range"));
        assert!(MinAge::try_from("400d".to_string())
            .unwrap_err()
            .contains("out of range"));
        assert!(MinAge::try_from("soon".to_string())
            .unwrap_err()
            .contains("not a duration"));
    }
}

#[cfg(test)]
mod load_tests {
    use std::path::Path;
    use std::time::Duration;

    fn parse(extra: &str) -> Result<crate::policy::PolicyFile, String> {
        let text = format!("application: a\nimages:\n  - repository: x\n{extra}");
        crate::policy::parse_policy(Path::new("p.yaml"), &text).map_err(|p| p.to_string())
    }

    #[test]
    fn keys_load_and_combine_with_ordering_strategies() {
        let p = parse("    semver: '*'\n    minAge: 1h 30m\n    newestBuild: true\n").unwrap();
        assert_eq!(p.images[0].min_age, Some(Duration::from_secs(5400)));
        assert!(p.images[0].newest_build);
        // The build time is the order: the tag-order downgrade guard is off.
        assert!(p.images[0].selector().allow_downgrade);
        let p = parse("    alphabetical: asc\n").unwrap();
        assert_eq!(
            (p.images[0].min_age, p.images[0].newest_build),
            (None, false)
        );
        assert!(!p.images[0].selector().allow_downgrade);
    }

    #[test]
    fn bad_values_and_combinations_name_the_line() {
        let e = parse("    semver: '*'\n    minAge: soon\n").unwrap_err();
        assert!(
            e.starts_with("p.yaml:5:") && e.contains("not a duration"),
            "{e}"
        );
        let e = parse("    semver: '*'\n    minAge: 500d\n").unwrap_err();
        assert!(
            e.starts_with("p.yaml:5:") && e.contains("between 1s and 365d"),
            "{e}"
        );
        let e = parse("    semver: '*'\n    newestBuild: yes please\n").unwrap_err();
        assert!(e.starts_with("p.yaml:"), "{e}");
        let e = parse("    digest: latest\n    minAge: 30m\n").unwrap_err();
        assert!(e.contains("minAge: a digest: policy"), "{e}");
        let e = parse("    digest: latest\n    newestBuild: true\n").unwrap_err();
        assert!(e.contains("remove newestBuild"), "{e}");
        let e = parse("    semver: '*'\n    pinned: 1.0.0\n    minAge: 30m\n").unwrap_err();
        assert!(e.contains("pinned: image stays at its tag"), "{e}");
    }
}
