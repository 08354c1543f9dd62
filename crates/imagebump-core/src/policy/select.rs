//! Tag selection: a policy's strategy applied to the tags a registry lists. Pure.
//!
//! The pipeline for every strategy is the same, so the guard rails hold everywhere:
//! built-in artefact filter → `exclude` → `tags.pattern` (+ `extract`) → the strategy's
//! parse (semver, number, string) → the strategy's order → downgrade guard. Ties keep the
//! first tag in registry order, which makes the choice independent of unrelated tags.

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;
use semver::Version;

use super::constraint::{parse_tag, Constraints};

/// Sort direction, in Flux's sense: `asc` picks the greatest, `desc` the smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Pick the greatest value.
    Asc,
    /// Pick the smallest value.
    Desc,
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err(format!("expected asc or desc, found {s:?}")),
        }
    }
}

/// How a candidate value is ordered.
#[derive(Debug, Clone)]
pub enum Strategy {
    /// Masterminds semver range; the highest matching version wins.
    Semver(Constraints),
    /// Plain byte order of the (extracted) value.
    Alphabetical(Order),
    /// Numeric order of the (extracted) value; values that are not numbers are skipped.
    Numerical(Order),
    /// Follow one moving tag by its digest; selection only checks the tag exists.
    Digest(String),
}

/// A compiled `tags: {pattern, extract}` filter.
#[derive(Debug, Clone)]
pub struct TagFilter {
    /// Unanchored pattern a tag must match.
    pub pattern: Regex,
    /// Template (`$1`, `$name`, `${name}`) giving the value to order by; the tag itself when absent.
    pub extract: Option<String>,
}

/// Everything selection needs, already validated.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The ordering strategy.
    pub strategy: Strategy,
    /// Optional pattern filter and value extraction.
    pub filter: Option<TagFilter>,
    /// User exclusion patterns, applied before anything else.
    pub exclude: Vec<Regex>,
    /// Accept Masterminds' loose version forms (`1.2`, `v1`).
    pub loose: bool,
    /// Let prereleases through any semver range.
    pub prerelease: bool,
    /// Allow choosing a value lower than the current one.
    pub allow_downgrade: bool,
}

/// Cosign signatures, attestations and SBOMs live beside images as tags; never deploy them.
const ARTEFACT_SUFFIXES: [&str; 3] = [".sig", ".att", ".sbom"];

fn is_artefact(tag: &str) -> bool {
    ARTEFACT_SUFFIXES.iter().any(|s| tag.ends_with(s))
}

/// Why a tag is not a candidate; worded by `Selector::word` for `--explain` only, so
/// selection over many tags allocates no messages.
#[derive(Debug, Clone, Copy)]
enum Dropped {
    Artefact,
    Excluded(usize),
    NoMatch,
    NotVersion,
    NotNumber,
    NotFollowed,
    Prerelease,
    Outside,
}

/// What happened to one tag, for `--explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagNote {
    /// The tag as listed.
    pub tag: String,
    /// Whether it stayed a candidate.
    pub kept: bool,
    /// Why, in words.
    pub reason: String,
}

/// The outcome of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Move to this tag.
    Update(String),
    /// The current tag is already the best candidate (or as good).
    UpToDate(String),
    /// The best candidate is lower than the current tag and downgrades are off.
    DowngradeRefused {
        /// The best candidate found.
        candidate: String,
        /// The value currently deployed.
        current: String,
    },
    /// No tag qualifies.
    NoCandidate,
}

impl Verdict {
    /// The tag that should be deployed after this selection, if any.
    pub fn chosen(&self) -> Option<&str> {
        match self {
            Verdict::Update(t) | Verdict::UpToDate(t) => Some(t),
            Verdict::DowngradeRefused { current, .. } => Some(current),
            Verdict::NoCandidate => None,
        }
    }
}

/// A value tags are ordered by.
#[derive(Debug, Clone)]
enum Key {
    Version(Version),
    Number(Number),
    Text(String),
    Present,
}

/// Numbers compare exactly when both are integers (timestamps exceed f64's precision).
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn parse(s: &str) -> Option<Number> {
        if let Ok(i) = s.parse::<i128>() {
            return Some(Number::Int(i));
        }
        // Rust accepts "inf"/"NaN"; those are not numbers a tag means.
        let f: f64 = s.parse().ok()?;
        f.is_finite().then_some(Number::Float(f))
    }

    fn cmp(&self, other: &Number) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(b),
            (a, b) => a.as_f64().total_cmp(&b.as_f64()),
        }
    }

    fn as_f64(&self) -> f64 {
        match *self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl Selector {
    /// Picks the best tag among `tags` (registry order), then applies the downgrade guard
    /// against `current`, the tag deployed now (if known).
    pub fn select<S: AsRef<str>>(&self, tags: &[S], current: Option<&str>) -> Verdict {
        let mut best: Option<(&str, Key)> = None;
        for tag in tags {
            let tag = tag.as_ref();
            let Ok(key) = self.key(tag) else { continue };
            let better = match &best {
                None => true,
                Some((_, b)) => self.compare(&key, b) == Ordering::Greater,
            };
            if better {
                best = Some((tag, key));
            }
        }
        let Some((candidate, key)) = best else {
            return Verdict::NoCandidate;
        };
        let Some(current) = current else {
            return Verdict::Update(candidate.to_string());
        };
        if current == candidate {
            return Verdict::UpToDate(current.to_string());
        }
        // The current tag is ranked even when it is outside the range or excluded: a
        // version above the range is still "higher" and must not be silently replaced.
        match self.rank(current) {
            // The current tag is not something this policy understands: move off it.
            Err(_) => Verdict::Update(candidate.to_string()),
            Ok(cur) => match self.compare(&key, &cur) {
                Ordering::Greater => Verdict::Update(candidate.to_string()),
                Ordering::Equal => Verdict::UpToDate(current.to_string()),
                Ordering::Less if self.allow_downgrade => Verdict::Update(candidate.to_string()),
                Ordering::Less => Verdict::DowngradeRefused {
                    candidate: candidate.to_string(),
                    current: current.to_string(),
                },
            },
        }
    }

    /// True when `tag` ranks strictly above `floor` in this selector's order (semver
    /// precedence for semver, the strategy's order otherwise), ranges and exclusions
    /// aside: `onManualChange: skipVersion` proposes only tags above the version a person
    /// moved away from. A tag the strategy cannot order is not above anything; a floor it
    /// cannot order is below everything it can.
    pub fn is_above(&self, tag: &str, floor: &str) -> bool {
        let Ok(t) = self.rank(tag) else {
            return false;
        };
        match self.rank(floor) {
            Ok(f) => self.compare(&t, &f) == Ordering::Greater,
            Err(_) => true,
        }
    }

    /// The candidates among `tags`, best first (what [`select`](Self::select) would
    /// pick comes first; equal tags keep registry order). For a caller that must check
    /// candidates one by one (platforms), newest first.
    pub fn ranked<'t, S: AsRef<str>>(&self, tags: &'t [S]) -> Vec<&'t str> {
        let mut keyed: Vec<(&str, Key)> = tags
            .iter()
            .filter_map(|t| self.key(t.as_ref()).ok().map(|k| (t.as_ref(), k)))
            .collect();
        keyed.sort_by(|(_, a), (_, b)| self.compare(b, a));
        keyed.into_iter().map(|(t, _)| t).collect()
    }

    /// Says for every tag whether it stays a candidate and why.
    pub fn explain<S: AsRef<str>>(&self, tags: &[S]) -> Vec<TagNote> {
        tags.iter()
            .map(|t| {
                let tag = t.as_ref();
                match self.key(tag) {
                    Ok(k) => TagNote {
                        reason: match k {
                            Key::Version(v) => format!("candidate: version {v}"),
                            Key::Number(n) => format!("candidate: number {}", n.as_f64()),
                            Key::Text(s) => format!("candidate: value {s:?}"),
                            Key::Present => "candidate: the followed tag".to_string(),
                        },
                        tag: tag.to_string(),
                        kept: true,
                    },
                    Err(d) => TagNote {
                        reason: self.word(tag, d),
                        tag: tag.to_string(),
                        kept: false,
                    },
                }
            })
            .collect()
    }

    /// Why a tag was dropped, in words (only `explain` pays for the formatting).
    fn word(&self, tag: &str, d: Dropped) -> String {
        let via = match self.extract(tag) {
            Some(v) if v != tag => format!(" (extracted {v:?})"),
            _ => String::new(),
        };
        match d {
            Dropped::Artefact => {
                "dropped: signature/attestation/SBOM artefact (.sig/.att/.sbom)".into()
            }
            Dropped::Excluded(i) => format!("dropped: excluded by {:?}", self.exclude[i].as_str()),
            Dropped::NoMatch => match &self.filter {
                Some(f) => format!("dropped: does not match pattern {:?}", f.pattern.as_str()),
                None => "dropped: does not match the pattern".into(),
            },
            Dropped::NotVersion if self.loose => format!("dropped: not a version{via}"),
            // Suggest `loose` only where it would help (`1.2`, not `latest`).
            Dropped::NotVersion => {
                let value = self.extract(tag).unwrap_or(Cow::Borrowed(tag));
                if parse_tag(&value, true).is_some() {
                    format!("dropped: not a version of three parts{via} (loose: true accepts 1.2)")
                } else {
                    format!("dropped: not a version{via}")
                }
            }
            Dropped::NotNumber => format!("dropped: not a number{via}"),
            Dropped::NotFollowed => match &self.strategy {
                Strategy::Digest(f) => format!("dropped: not the followed tag {f:?}"),
                _ => "dropped: not the followed tag".into(),
            },
            Dropped::Prerelease => format!(
                "dropped: prerelease{via}, and the range names none (prerelease: true allows it)"
            ),
            Dropped::Outside => match (&self.strategy, self.parse_value(tag)) {
                (Strategy::Semver(c), Ok(Key::Version(v))) => {
                    format!("dropped: {v}{via} is outside {c}")
                }
                _ => "dropped: outside the range".into(),
            },
        }
    }

    /// The ordering key of a tag, or why it is not a candidate.
    fn key(&self, tag: &str) -> Result<Key, Dropped> {
        if is_artefact(tag) {
            return Err(Dropped::Artefact);
        }
        if let Some(i) = self.exclude.iter().position(|re| re.is_match(tag)) {
            return Err(Dropped::Excluded(i));
        }
        let key = self.parse_value(tag)?;
        match (&self.strategy, &key) {
            (Strategy::Semver(c), Key::Version(v)) => {
                if c.matches_with(v, self.prerelease) {
                    Ok(key)
                } else if !v.pre.is_empty() && !self.prerelease && c.matches_with(v, true) {
                    Err(Dropped::Prerelease)
                } else {
                    Err(Dropped::Outside)
                }
            }
            _ => Ok(key),
        }
    }

    /// The key of the deployed tag, for the downgrade guard: no range or exclusion applies.
    fn rank(&self, tag: &str) -> Result<Key, Dropped> {
        self.parse_value(tag)
    }

    /// The value a tag is ordered by: the tag itself, or what the pattern extracts.
    /// `None` when a pattern is set and does not match.
    fn extract<'t>(&self, tag: &'t str) -> Option<Cow<'t, str>> {
        let Some(f) = &self.filter else {
            return Some(Cow::Borrowed(tag));
        };
        let caps = f.pattern.captures(tag)?;
        Some(match &f.extract {
            None => Cow::Borrowed(tag),
            Some(tpl) => {
                let mut out = String::new();
                caps.expand(tpl, &mut out);
                Cow::Owned(out)
            }
        })
    }

    /// Pattern, extraction and the strategy's parse.
    fn parse_value(&self, tag: &str) -> Result<Key, Dropped> {
        let value = self.extract(tag).ok_or(Dropped::NoMatch)?;
        Ok(match &self.strategy {
            Strategy::Semver(_) => {
                Key::Version(parse_tag(&value, self.loose).ok_or(Dropped::NotVersion)?)
            }
            Strategy::Numerical(_) => Key::Number(Number::parse(&value).ok_or(Dropped::NotNumber)?),
            Strategy::Alphabetical(_) => Key::Text(value.into_owned()),
            Strategy::Digest(follow) if tag == follow => Key::Present,
            Strategy::Digest(_) => return Err(Dropped::NotFollowed),
        })
    }

    /// Orders two keys so that `Greater` means "preferred".
    fn compare(&self, a: &Key, b: &Key) -> Ordering {
        let raw = match (a, b) {
            (Key::Version(x), Key::Version(y)) => x.cmp_precedence(y),
            (Key::Number(x), Key::Number(y)) => x.cmp(y),
            (Key::Text(x), Key::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
            _ => Ordering::Equal,
        };
        match self.strategy {
            Strategy::Alphabetical(Order::Desc) | Strategy::Numerical(Order::Desc) => raw.reverse(),
            _ => raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(strategy: Strategy) -> Selector {
        Selector {
            strategy,
            filter: None,
            exclude: vec![],
            loose: false,
            prerelease: false,
            allow_downgrade: false,
        }
    }

    fn semver(range: &str) -> Selector {
        sel(Strategy::Semver(Constraints::parse(range).unwrap()))
    }

    fn pick(s: &Selector, tags: &[&str]) -> Option<String> {
        s.select(tags, None).chosen().map(str::to_string)
    }

    #[test]
    fn semver_picks_highest_in_range_as_written() {
        let s = semver(">=1.0.0 <2.0.0");
        assert_eq!(
            pick(
                &s,
                &["1.0.0", "v1.9.3", "2.0.0", "1.10.0-rc.1", "latest", "1.2"]
            ),
            Some("v1.9.3".into())
        );
        assert_eq!(pick(&s, &["2.0.0", "latest"]), None);
    }

    #[test]
    fn is_above_uses_the_strategys_order_not_the_range() {
        let s = semver(">=1.0.0 <1.2.0");
        assert!(s.is_above("1.10.0", "1.2.0")); // semver, not text order
        assert!(s.is_above("1.2.1", "1.2.0")); // outside the range: still ordered
        assert!(!s.is_above("1.2.0", "1.2.0"));
        assert!(!s.is_above("1.1.9", "1.2.0"));
        assert!(!s.is_above("latest", "1.2.0"));
        assert!(!sel(Strategy::Numerical(Order::Desc)).is_above("10", "9"));
    }

    #[test]
    fn ranked_puts_the_pick_first() {
        let s = semver("*");
        let tags = ["1.0.0", "latest", "1.10.0", "v1.10.0", "1.2.0"];
        assert_eq!(s.ranked(&tags), vec!["1.10.0", "v1.10.0", "1.2.0", "1.0.0"]);
        assert_eq!(Some(s.ranked(&tags)[0].to_string()), pick(&s, &tags));
    }

    #[test]
    fn semver_ties_keep_registry_order() {
        let s = semver("*");
        assert_eq!(
            pick(&s, &["v1.2.3", "1.2.3", "1.2.3+b"]),
            Some("v1.2.3".into())
        );
        assert_eq!(pick(&s, &["1.2.3+b", "v1.2.3"]), Some("1.2.3+b".into()));
    }

    #[test]
    fn strict_tags_need_three_parts_loose_does_not() {
        let mut s = semver("*");
        assert_eq!(pick(&s, &["1.2", "1", "latest"]), None);
        s.loose = true;
        assert_eq!(pick(&s, &["1.2", "1", "latest"]), Some("1.2".into()));
    }

    #[test]
    fn alphabetical_and_numerical() {
        let tags = ["b", "a", "c10", "c9"];
        assert_eq!(
            pick(&sel(Strategy::Alphabetical(Order::Asc)), &tags),
            Some("c9".into())
        );
        assert_eq!(
            pick(&sel(Strategy::Alphabetical(Order::Desc)), &tags),
            Some("a".into())
        );
        let tags = ["10", "9", "x", "100.5", "-3", "1e2", "NaN", "inf"];
        assert_eq!(
            pick(&sel(Strategy::Numerical(Order::Asc)), &tags),
            Some("100.5".into())
        );
        assert_eq!(
            pick(&sel(Strategy::Numerical(Order::Desc)), &tags),
            Some("-3".into())
        );
        // Integers beyond f64 precision still order exactly.
        let big = ["9007199254740993", "9007199254740992"];
        assert_eq!(
            pick(&sel(Strategy::Numerical(Order::Asc)), &big),
            Some("9007199254740993".into())
        );
    }

    #[test]
    fn pattern_extract_orders_by_extracted_value() {
        let mut s = sel(Strategy::Numerical(Order::Asc));
        s.filter = Some(TagFilter {
            pattern: Regex::new(r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$").unwrap(),
            extract: Some("$ts".into()),
        });
        let tags = [
            "main-abc123-1700000009",
            "main-fff000-1700000010",
            "dev-1-1800000000",
            "main-aaa-99",
        ];
        assert_eq!(pick(&s, &tags), Some("main-fff000-1700000010".into()));
        s.filter = Some(TagFilter {
            pattern: Regex::new(r"-(\d+)$").unwrap(),
            extract: Some("${1}".into()),
        });
        assert_eq!(pick(&s, &tags), Some("dev-1-1800000000".into()));
    }

    #[test]
    fn default_artefact_filter_and_excludes() {
        let mut s = sel(Strategy::Alphabetical(Order::Asc));
        let tags = [
            "sha256-abc.sig",
            "sha256-abc.att",
            "sha256-abc.sbom",
            "1.0-debug",
            "1.0",
        ];
        assert_eq!(pick(&s, &tags), Some("1.0-debug".into()));
        s.exclude = vec![Regex::new("-debug$").unwrap()];
        assert_eq!(pick(&s, &tags), Some("1.0".into()));
    }

    #[test]
    fn downgrade_guard() {
        let mut s = semver("<2.0.0");
        let tags = ["1.5.0", "1.4.0"];
        assert_eq!(
            s.select(&tags, Some("2.1.0")),
            Verdict::DowngradeRefused {
                candidate: "1.5.0".into(),
                current: "2.1.0".into()
            }
        );
        assert_eq!(
            s.select(&tags, Some("1.5.0")),
            Verdict::UpToDate("1.5.0".into())
        );
        assert_eq!(
            s.select(&tags, Some("v1.5.0")),
            Verdict::UpToDate("v1.5.0".into())
        );
        assert_eq!(
            s.select(&tags, Some("1.0.0")),
            Verdict::Update("1.5.0".into())
        );
        assert_eq!(
            s.select(&tags, Some("latest")),
            Verdict::Update("1.5.0".into())
        );
        s.allow_downgrade = true;
        assert_eq!(
            s.select(&tags, Some("2.1.0")),
            Verdict::Update("1.5.0".into())
        );
        let n = sel(Strategy::Numerical(Order::Asc));
        assert!(matches!(
            n.select(&["5"], Some("7")),
            Verdict::DowngradeRefused { .. }
        ));
    }

    #[test]
    fn digest_follows_one_tag() {
        let s = sel(Strategy::Digest("main".into()));
        assert_eq!(pick(&s, &["1.0.0", "main", "dev"]), Some("main".into()));
        assert_eq!(pick(&s, &["1.0.0"]), None);
    }

    #[test]
    fn explain_says_why() {
        let s = semver("^1.0.0");
        let notes = s.explain(&["1.2.3", "2.0.0", "latest", "x.sig"]);
        assert!(notes[0].kept);
        assert!(notes[1].reason.contains("outside"), "{:?}", notes[1]);
        assert!(notes[2].reason.contains("not a version"));
        assert!(notes[3].reason.contains("artefact"));
    }
}
