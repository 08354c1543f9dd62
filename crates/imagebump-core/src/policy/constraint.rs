//! Version constraints in the dialect of Masterminds/semver v3.4, and tag → version parsing.
//!
//! Flux and Argo CD Image Updater users write ranges for the Go library Masterminds/semver.
//! `semver::VersionReq` speaks Cargo's dialect, which reads the same text differently (a bare
//! `1.2.3` is `^1.2.3` to Cargo but exact to Masterminds; `>1.1` is above all of 1.1.x to
//! Masterminds), so the grammar and the per-operator rules live here. A policy migrated from
//! those tools must select the same tag it selected there, so the rules are reproduced rule for
//! rule, quirks included; only precedence (`Version::cmp_precedence`) comes from `semver`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use semver::{BuildMetadata, Prerelease, Version};

/// A parsed Masterminds constraint string.
///
/// Kept as a list of OR groups of AND-ed comparators rather than lowered to `VersionReq`,
/// because several Masterminds rules (wildcard-aware `>`/`<=`/`!=`, the group-wide prerelease
/// gate) have no Cargo equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    source: String,
    groups: Vec<Group>,
}

/// Why a constraint string was rejected. Carries the whole input so the message stands on its
/// own in logs and in policy validation reports, and the reason names the offending piece.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("invalid semver constraint {input:?}: {reason}")]
pub struct ConstraintError {
    input: String,
    reason: ConstraintErrorReason,
}

/// The specific defect, separate from the input so callers can react to a class of mistake
/// without parsing the message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstraintErrorReason {
    /// Nothing but whitespace: Masterminds rejects it too, and an empty range matching
    /// everything would silently turn a typo into "always take the newest tag".
    #[error("the constraint is empty")]
    Empty,
    /// One side of a `||` holds no comparator.
    #[error("an alternative around \"||\" is empty")]
    EmptyAlternative,
    /// An operator with nothing after it, e.g. `>=`.
    #[error("operator {0:?} is not followed by a version")]
    MissingVersion(String),
    /// A piece that the version grammar does not accept, e.g. `1.a`, `latest`, `1.2.3.4`.
    #[error("{0:?} is not a version")]
    NotAVersion(String),
    /// A separator where a comparator was expected, e.g. a stray comma.
    #[error("unexpected {0:?}")]
    Unexpected(String),
}

impl ConstraintError {
    /// The constraint text exactly as the user wrote it, for pointing back at the policy.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was wrong with it.
    pub fn reason(&self) -> &ConstraintErrorReason {
        &self.reason
    }
}

/// One alternative of a `||` list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    comparators: Vec<Comparator>,
    /// Masterminds (since v3.4) lets prereleases through for a whole AND group as soon as any
    /// comparator in it names a prerelease, so `>=1.2.3-0 <1.3.0` admits `1.2.5-beta`.
    names_prerelease: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// No operator or `=`: exact for full versions, a tilde range when a part is a wildcard.
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// The first part of the comparator's version that is a wildcard (`x`, `X`, `*`) or missing.
/// Parts after it are ignored, as Masterminds does (`1.x.5` is `1.x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wildcard {
    None,
    Major,
    Minor,
    Patch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    wildcard: Wildcard,
    /// Wildcard parts are zero; build metadata is dropped since it never affects matching.
    bound: Version,
}

/// Operators longest first, so `>=` is not read as `>` followed by a version starting with
/// `=` (which could never be a version, so longest-first is also what Masterminds' regex picks).
const OPERATORS: [(&str, Op); 11] = [
    ("!=", Op::NotEqual),
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("~>", Op::Tilde),
    ("=", Op::Equal),
    (">", Op::Greater),
    ("<", Op::Less),
    ("~", Op::Tilde),
    ("^", Op::Caret),
];

/// Go's `\s` (ASCII only, no vertical tab); Unicode spaces are not separators to Masterminds.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0C' | '\r')
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// Hyphen ranges (`A - B`, spaces required) are rewritten textually to `>= A, <= B ` before
/// anything else, exactly as Masterminds does. This step is a regex because Masterminds' is:
/// its version pattern admits `|` inside numeric parts, so in `1||2 - 3` the left bound
/// swallows the `||`. Reproducing that leftmost-first backtracking by hand would be fragile;
/// the `regex` crate has the same leftmost-first semantics as Go's `regexp`.
static HYPHEN_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    let space = r"[\t\n\x0C\r ]";
    let part = r"[0-9xX*|]+";
    let ident = r"[0-9A-Za-z-]+";
    let version = format!(
        r"v?{part}(?:\.{part})?(?:\.{part})?(?:-{ident}(?:\.{ident})*)?(?:\+{ident}(?:\.{ident})*)?"
    );
    Regex::new(&format!(
        r"{space}*(?P<lo>{version}){space}+-{space}+(?P<hi>{version}){space}*"
    ))
    .expect("hyphen range pattern is valid")
});

fn rewrite_hyphen_ranges(s: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(s);
    for caps in HYPHEN_RANGE.captures_iter(s) {
        let replacement = format!(">= {}, <= {} ", &caps["lo"], &caps["hi"]);
        // First occurrence, not the match position: that is Masterminds' (strings.Replace) rule.
        out = Cow::Owned(out.replacen(&caps[0], &replacement, 1));
    }
    out
}

impl Constraints {
    /// Parses Masterminds syntax. Rejects what Masterminds rejects, so a policy that loads here
    /// also meant something to the tool it was written for.
    pub fn parse(s: &str) -> Result<Constraints, ConstraintError> {
        let fail = |reason| ConstraintError {
            input: s.to_owned(),
            reason,
        };
        if s.chars().all(is_space) {
            return Err(fail(ConstraintErrorReason::Empty));
        }
        let rewritten = rewrite_hyphen_ranges(s);
        let groups = rewritten
            .split("||")
            .map(parse_group)
            .collect::<Result<Vec<Group>, _>>()
            .map_err(fail)?;
        Ok(Constraints {
            source: s.to_owned(),
            groups,
        })
    }

    /// Masterminds' `Check`: a prerelease version is only considered by an AND group that
    /// itself names a prerelease, so `^1.2` never jumps to `1.3.0-rc.1`.
    pub fn matches(&self, v: &Version) -> bool {
        self.matches_with(v, false)
    }

    /// Same, but `include_prerelease` (policy `prerelease: true`, Masterminds'
    /// `IncludePrerelease`) lets a prerelease through whenever it satisfies the ranges by
    /// plain precedence; `<2.0.0` then admits `2.0.0-rc.1`.
    pub fn matches_with(&self, v: &Version, include_prerelease: bool) -> bool {
        self.groups.iter().any(|group| {
            let allow_prerelease = include_prerelease || group.names_prerelease;
            group
                .comparators
                .iter()
                .all(|c| c.admits(v, allow_prerelease))
        })
    }
}

impl Constraints {
    /// False when no version at all, prereleases included, can satisfy the range
    /// (`>1.0 <0.5`): a policy that can never pick a tag. Every comparator admits an
    /// interval (or all but one) whose ends lie at its bound, the bound's next minor or
    /// major, or 0.0.0, so trying those points, their neighbours and their lowest
    /// prereleases decides it; when in doubt this says `true` (a false alarm would be
    /// worse than a missed one).
    pub fn can_match(&self) -> bool {
        let mut points: Vec<Version> = vec![Version::new(0, 0, 0)];
        for c in self.groups.iter().flat_map(|g| &g.comparators) {
            let b = &c.bound;
            let (maj, min, pat) = (b.major, b.minor, b.patch);
            let mut near = vec![
                (maj, min, pat),
                (maj, min, pat.saturating_add(1)),
                (maj, min.saturating_add(1), 0),
                (maj.saturating_add(1), 0, 0),
                (maj, min, 0),
                (maj, 0, 0),
            ];
            if pat > 0 {
                near.push((maj, min, pat - 1));
            }
            if min > 0 {
                near.push((maj, min - 1, u64::MAX));
            }
            if maj > 0 {
                near.push((maj - 1, u64::MAX, u64::MAX));
            }
            for (a, b2, c2) in near {
                points.push(Version::new(a, b2, c2));
                let mut pre = Version::new(a, b2, c2);
                pre.pre = Prerelease::new("0").expect("0 is a prerelease");
                points.push(pre);
            }
            if !b.pre.is_empty() {
                points.push(b.clone());
            }
        }
        points.iter().any(|v| self.matches_with(v, true))
    }
}

impl FromStr for Constraints {
    type Err = ConstraintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraints::parse(s)
    }
}

impl fmt::Display for Constraints {
    /// The text as written, not a normalised form: it is what the user will search their
    /// policy files for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Comparators are separated by whitespace and/or one comma, as Masterminds' group pattern
/// `^(\s*OP\s*VER\s*)((?:\s+|,\s*)OP\s*VER\s*)*$` allows.
fn parse_group(text: &str) -> Result<Group, ConstraintErrorReason> {
    let mut rest = skip_space(text);
    if rest.is_empty() {
        return Err(ConstraintErrorReason::EmptyAlternative);
    }
    let mut comparators = Vec::new();
    loop {
        let (comparator, after) = parse_comparator(rest)?;
        comparators.push(comparator);
        // `after` is empty or starts with whitespace or a comma.
        let next = skip_space(after);
        if next.is_empty() {
            break;
        }
        rest = match next.strip_prefix(',') {
            Some(after_comma) => {
                let r = skip_space(after_comma);
                if r.is_empty() || r.starts_with(',') {
                    return Err(ConstraintErrorReason::Unexpected(",".to_owned()));
                }
                r
            }
            None => next,
        };
    }
    let names_prerelease = comparators.iter().any(|c| !c.bound.pre.is_empty());
    // Kept as long as the policy: pushes left room for 4 comparators where most groups
    // have one or two.
    comparators.shrink_to_fit();
    Ok(Group {
        comparators,
        names_prerelease,
    })
}

/// Reads one `OP \s* VERSION` starting at a non-space character and returns the rest.
fn parse_comparator(s: &str) -> Result<(Comparator, &str), ConstraintErrorReason> {
    let (op_text, op) = OPERATORS
        .iter()
        .copied()
        .find(|(text, _)| s.starts_with(text))
        .unwrap_or(("", Op::Equal));
    let after_op = skip_space(&s[op_text.len()..]);
    // A version never contains whitespace or commas, so the piece ends at the first of them;
    // anything in it the grammar rejects makes the whole piece the offender.
    let end = after_op
        .find(|c| is_space(c) || c == ',')
        .unwrap_or(after_op.len());
    let piece = &after_op[..end];
    if piece.is_empty() {
        return Err(if op_text.is_empty() {
            ConstraintErrorReason::Unexpected(after_op.chars().take(1).collect())
        } else {
            ConstraintErrorReason::MissingVersion(op_text.to_owned())
        });
    }
    let (wildcard, bound) =
        parse_bound(piece).ok_or_else(|| ConstraintErrorReason::NotAVersion(piece.to_owned()))?;
    Ok((
        Comparator {
            op,
            wildcard,
            bound,
        },
        &after_op[end..],
    ))
}

/// The textual parts of a version, before numbers are checked.
struct Parts<'a> {
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    pre: Option<&'a str>,
    build: Option<&'a str>,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// Constraint versions may hold wildcards, and Masterminds' character class for their numeric
/// parts (`[0-9|x|X|\*]`) accidentally admits `|`; kept so the same strings parse.
fn is_constraint_part_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'x' | b'X' | b'*' | b'|')
}

/// End of the run of `pred` bytes starting at `from`.
fn run_end(b: &[u8], from: usize, pred: fn(u8) -> bool) -> usize {
    b[from..]
        .iter()
        .position(|&c| !pred(c))
        .map_or(b.len(), |n| from + n)
}

/// End of `IDENT(.IDENT)*` starting at `from`, or `None` if the first identifier is empty. A
/// trailing dot is left unconsumed (and then fails the caller's end-of-input check).
fn identifiers_end(b: &[u8], from: usize) -> Option<usize> {
    let mut end = run_end(b, from, is_ident_byte);
    if end == from {
        return None;
    }
    while b.get(end) == Some(&b'.') && b.get(end + 1).copied().is_some_and(is_ident_byte) {
        end = run_end(b, end + 1, is_ident_byte);
    }
    Some(end)
}

/// Splits `v? P (.P)? (.P)? (-IDS)? (+IDS)?` where P is a run of `is_part` bytes and IDS are
/// dot-separated non-empty `[0-9A-Za-z-]` identifiers; `None` unless the whole input fits.
fn split_version(s: &str, is_part: fn(u8) -> bool) -> Option<Parts<'_>> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'v'));
    let end = run_end(b, i, is_part);
    if end == i {
        return None;
    }
    let major = &s[i..end];
    i = end;
    let mut numeric = [None, None];
    for slot in &mut numeric {
        if b.get(i) != Some(&b'.') {
            break;
        }
        let end = run_end(b, i + 1, is_part);
        if end == i + 1 {
            return None;
        }
        *slot = Some(&s[i + 1..end]);
        i = end;
    }
    let mut labelled = [None, None];
    for (slot, marker) in labelled.iter_mut().zip([b'-', b'+']) {
        if b.get(i) == Some(&marker) {
            let end = identifiers_end(b, i + 1)?;
            *slot = Some(&s[i + 1..end]);
            i = end;
        }
    }
    let [pre, build] = labelled;
    (i == b.len()).then_some(Parts {
        major,
        minor: numeric[0],
        patch: numeric[1],
        pre,
        build,
    })
}

/// Masterminds' `NewVersion` reads numeric parts with `ParseUint`: leading zeros are fine,
/// anything beyond u64 is an error.
fn number(part: &str) -> Option<u64> {
    if part.bytes().all(is_digit) {
        part.parse().ok()
    } else {
        None
    }
}

fn prerelease(pre: Option<&str>) -> Option<Prerelease> {
    // `Prerelease::new` enforces what Masterminds' validatePrerelease does: no leading zeros
    // in numeric identifiers.
    pre.map_or(Some(Prerelease::EMPTY), |p| Prerelease::new(p).ok())
}

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

/// Turns a constraint's version text into its bound. Missing parts count as wildcards; the
/// prerelease survives wildcards (`1.x-0` is `>=1.0.0-0` within 1.x) but build metadata does not.
fn parse_bound(piece: &str) -> Option<(Wildcard, Version)> {
    let parts = split_version(piece, is_constraint_part_byte)?;
    let pre = prerelease(parts.pre)?;
    let minor_wild = parts.minor.is_none_or(is_wildcard);
    let patch_wild = parts.patch.is_none_or(is_wildcard);
    let (wildcard, [major, minor, patch]) = if is_wildcard(parts.major) {
        (Wildcard::Major, [0, 0, 0])
    } else if minor_wild {
        (Wildcard::Minor, [number(parts.major)?, 0, 0])
    } else if patch_wild {
        (
            Wildcard::Patch,
            [number(parts.major)?, number(parts.minor?)?, 0],
        )
    } else {
        (
            Wildcard::None,
            [
                number(parts.major)?,
                number(parts.minor?)?,
                number(parts.patch?)?,
            ],
        )
    };
    Some((
        wildcard,
        Version {
            major,
            minor,
            patch,
            pre,
            build: BuildMetadata::EMPTY,
        },
    ))
}

impl Comparator {
    /// One operator's rule, following Masterminds' predicate for it branch for branch; the
    /// comments record the resulting ranges because several are not what the operator suggests.
    fn admits(&self, v: &Version, allow_prerelease: bool) -> bool {
        if !v.pre.is_empty() && !allow_prerelease {
            return false;
        }
        let ord = v.cmp_precedence(&self.bound);
        match self.op {
            Op::Equal if self.wildcard == Wildcard::None => ord == Ordering::Equal,
            // `=1.2`, `1`, `*`: a wildcard turns equality into the tilde range.
            Op::Equal | Op::Tilde => self.tilde(v, ord),
            Op::NotEqual => self.not_equal(v, ord),
            Op::Greater => self.greater(v, ord),
            // No wildcard handling: `<1.2` is `<1.2.0`, `<1.x` is `<1.0.0`.
            Op::Less => ord == Ordering::Less,
            // Likewise `>=1.2` is `>=1.2.0`.
            Op::GreaterEqual => ord != Ordering::Less,
            Op::LessEqual => self.less_equal(v, ord),
            Op::Caret => self.caret(v, ord),
        }
    }

    fn not_equal(&self, v: &Version, ord: Ordering) -> bool {
        let b = &self.bound;
        match self.wildcard {
            // `!=*` falls through every wildcard branch upstream: it only excludes 0.0.0.
            Wildcard::None | Wildcard::Major => ord != Ordering::Equal,
            // `!=4.x` / `!=4` excludes all of 4.x.x.
            Wildcard::Minor => v.major != b.major,
            // `!=4.1` excludes 4.1.x, but only versions whose prerelease equals the bound's:
            // `!=4.1-alpha` excludes 4.1.7-alpha yet admits 4.1.7.
            Wildcard::Patch => v.major != b.major || v.minor != b.minor || v.pre != b.pre,
        }
    }

    fn greater(&self, v: &Version, ord: Ordering) -> bool {
        let b = &self.bound;
        match self.wildcard {
            // `>*` is `>0.0.0`.
            Wildcard::None | Wildcard::Major => ord == Ordering::Greater,
            // `>1` / `>1.x` is `>=2.0.0`.
            Wildcard::Minor => v.major > b.major,
            // `>1.1` is `>=1.2.0`.
            Wildcard::Patch => v.major > b.major || (v.major == b.major && v.minor > b.minor),
        }
    }

    fn less_equal(&self, v: &Version, ord: Ordering) -> bool {
        let b = &self.bound;
        match self.wildcard {
            Wildcard::None => ord != Ordering::Greater,
            // `<=1` is `<2.0.0`.
            Wildcard::Minor => v.major <= b.major,
            // `<=1.1` is `<1.2.0`; `<=*` (bound 0.0.0) ends up as `<0.1.0`.
            Wildcard::Patch | Wildcard::Major => {
                v.major < b.major || (v.major == b.major && v.minor <= b.minor)
            }
        }
    }

    /// `~1.2.3` is `>=1.2.3 <1.3.0`, `~1` is `>=1.0.0 <2.0.0`; `~0.0.0` and `~*` accept all.
    fn tilde(&self, v: &Version, ord: Ordering) -> bool {
        let b = &self.bound;
        if ord == Ordering::Less {
            return false;
        }
        let zero_bound = b.major == 0 && b.minor == 0 && b.patch == 0;
        if zero_bound && matches!(self.wildcard, Wildcard::None | Wildcard::Major) {
            return true;
        }
        v.major == b.major && (self.wildcard == Wildcard::Minor || v.minor == b.minor)
    }

    /// Cargo-like caret with 0.x specials: `^0.2.3` is `<0.3.0`, `^0.0.3` is only 0.0.3,
    /// `^0.0` is `<0.1.0`, `^0` is `<1.0.0`. Masterminds' branches also make `^*` behave as
    /// `^0.0.0` (only 0.0.0), not "any", despite its comment; reproduced.
    fn caret(&self, v: &Version, ord: Ordering) -> bool {
        let b = &self.bound;
        if ord == Ordering::Less {
            return false;
        }
        if b.major > 0 || self.wildcard == Wildcard::Minor {
            return v.major == b.major;
        }
        if v.major > 0 {
            return false;
        }
        if b.minor > 0 || self.wildcard == Wildcard::Patch {
            return v.minor == b.minor;
        }
        v.minor == 0 && v.patch == b.patch
    }
}

/// Reads an image tag as a version, or `None` when the tag is not one (`latest`, `sha-…`).
///
/// Strict (the default, Flux's `ParseVersion`): an optional single `v`, then a full SemVer 2.0
/// `major.minor.patch[-pre][+build]` without leading zeros, so `1.2` or `2024.01.15` are not
/// versions. Loose (Argo CD Image Updater, Masterminds' `NewVersion`): minor and patch may be
/// missing (`1`, `v1.2`, `1.2-5` with prerelease `5`) and numeric parts may have leading zeros
/// (`01.02.03` is 1.2.3); still at most three parts, and prerelease identifiers still may not
/// have leading zeros.
pub fn parse_tag(tag: &str, loose: bool) -> Option<Version> {
    if !loose {
        return Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok();
    }
    let parts = split_version(tag, is_digit)?;
    Some(Version {
        major: number(parts.major)?,
        minor: parts.minor.map_or(Some(0), number)?,
        patch: parts.patch.map_or(Some(0), number)?,
        pre: prerelease(parts.pre)?,
        build: parts
            .build
            .map_or(Some(BuildMetadata::EMPTY), |b| BuildMetadata::new(b).ok())?,
    })
}

#[cfg(test)]
mod tests;
