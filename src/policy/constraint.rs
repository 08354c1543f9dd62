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
            .collect::<Result<Vec<_>, _>>()
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
mod tests {
    use super::*;

    /// Test versions are written the way Masterminds' own examples write them (`1.4`).
    fn ver(s: &str) -> Version {
        parse_tag(s, true).unwrap_or_else(|| panic!("test version {s:?} does not parse"))
    }

    fn check_table(table: &[(&str, &str, bool)], include_prerelease: bool) {
        let mut failures = Vec::new();
        for &(constraint, version, expected) in table {
            let c = match Constraints::parse(constraint) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{constraint:?}: unexpected error {e}"));
                    continue;
                }
            };
            let got = c.matches_with(&ver(version), include_prerelease);
            if got != expected {
                failures.push(format!(
                    "{constraint:?} vs {version:?} (include_prerelease={include_prerelease}): got {got}, want {expected}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    // (constraint, version, matches) under Masterminds' default Check.
    const EXACT_AND_WILDCARDS: &[(&str, &str, bool)] = &[
        ("1.2.3", "1.2.3", true),
        ("1.2.3", "1.2.4", false),
        ("1.2.3", "1.2.2", false),
        ("1.2.3", "1.3.3", false),
        ("=1.2.3", "1.2.3", true),
        ("= 1.2.3", "1.2.3", true),
        ("=  1.2.3", "1.2.4", false),
        ("v1.2.3", "1.2.3", true),
        ("=v1.2.3", "1.2.3", true),
        ("01.02.03", "1.2.3", true),
        ("1.2.3", "1.2.3-rc.1", false),
        ("1.2.3-rc.1", "1.2.3-rc.1", true),
        ("1.2.3-rc.1", "1.2.3-rc.2", false),
        ("1.2.3-rc.1", "1.2.3", false),
        ("0.0.0", "0.0.0", true),
        ("0.0.0", "0.0.1", false),
        ("0.0.0", "1.2.3", false),
        ("2.1", "2.1.0", true),
        ("2.1", "2.1.9", true),
        ("2.1", "2.2.0", false),
        ("2.1", "2.0.9", false),
        ("=2.1", "2.1.5", true),
        ("= 2.0", "2.0.0", true),
        ("= 2.0", "1.2.3", false),
        ("2.1.x", "2.1.5", true),
        ("2.1.X", "2.1.5", true),
        ("2.1.*", "2.1.5", true),
        ("2.1.*", "2.2.0", false),
        ("2.1.x", "2.0.0", false),
        ("2", "2.0.0", true),
        ("2", "2.9.9", true),
        ("2", "3.0.0", false),
        ("2", "1.9.9", false),
        ("2.x", "2.5.1", true),
        ("2.x.x", "2.5.1", true),
        ("2.*", "2.1.1", true),
        ("2.*", "3.4.5", false),
        ("2.*.*", "3.0.0", false),
        ("2.X", "1.0.0", false),
        ("1.x", "1.4", true),
        ("4.1", "4.1.0", true),
        ("4.1.x", "4.1.3", true),
        ("*", "0.0.0", true),
        ("*", "1.2.3", true),
        ("*", "999.0.0", true),
        ("*", "1.2.3-alpha", false),
        ("*", "1.2.3+build", true),
        ("x", "4.5.6", true),
        ("X", "4.5.6", true),
        ("*.*.*", "4.5.6", true),
        ("x.x", "0.1.0", true),
        ("vx", "1.0.0", true),
        ("v*", "0.0.0", true),
        ("0", "0.9.9", true),
        ("0", "1.0.0", false),
        ("=0", "0.0.0", true),
        ("=0", "1.0.0", false),
        ("0.0", "0.0.9", true),
        ("0.0", "0.1.0", false),
        ("0.x.x", "1.2.3", false),
        ("0.0.x", "1.2.3", false),
        // Once a part is a wildcard the parts after it are ignored, as upstream.
        ("x.5.6", "1.0.0", true),
        ("1.x.5", "1.9.0", true),
        ("1.x.5", "2.0.0", false),
        // A prerelease on a wildcard bound opens the gate and sets the floor.
        ("2.1.x-beta", "2.1.0", true),
        ("2.1.x-beta", "2.1.0-alpha", false),
        ("2.1.x-beta", "2.1.3-alpha", true),
        ("*-0", "1.2.3-alpha.1", true),
        ("*-0", "1.2.3", true),
        ("*-0", "0.0.0-0", true),
        ("x-0", "0.0.0-alpha", true),
        ("1.x-0", "1.5.0-beta", true),
        ("1.x-0", "2.0.0-beta", false),
        // `1.1-3` is one version with prerelease `3`, not a range.
        ("1.1-3", "1.1.0-3", true),
        ("1.1-3", "1.1.5", true),
        ("1.1-3", "1.2.0", false),
        ("1.1-3", "4.3.2", false),
        ("1.1-3", "1.1.0-2", false),
    ];

    const NOT_EQUAL: &[(&str, &str, bool)] = &[
        ("!=4.1.0", "4.1.0", false),
        ("!=4.1.0", "4.1.1", true),
        ("!=4.1.0", "4.1.0+b", false),
        ("!= 4.1.0", "4.0.0", true),
        ("!=4.1", "4.1.0", false),
        ("!=4.1", "4.1.9", false),
        ("!=4.1", "4.2.0", true),
        ("!=4.1", "4.0.9", true),
        ("!=4.1", "5.1.0", true),
        ("!=4.1", "5.1.0-alpha.1", false),
        ("!=4", "4.9.9", false),
        ("!=4", "5.0.0", true),
        ("!=4.x", "4.1.0", false),
        ("!=4.x", "3.9.0", true),
        ("!=4.x", "5.1.0", true),
        ("!=4.1.x", "4.1.7", false),
        ("!=4.1.x", "4.2.0", true),
        ("!=4.2.x", "4.2.3", false),
        ("!=4.1-alpha", "4.1.0", true),
        ("!=4.1-alpha", "4.1.0-alpha", false),
        ("!=4.1-alpha", "4.1.1-alpha", false),
        ("!=4.1-alpha", "4.1.1-beta", true),
        ("!=1.2.3-beta", "1.2.3-beta", false),
        ("!=1.2.3-beta", "1.2.3-rc", true),
        ("!=1.2.3-beta", "1.2.3", true),
        // `!=*` only excludes 0.0.0 upstream.
        ("!=*", "0.0.0", false),
        ("!=*", "0.0.1", true),
        ("!=*", "1.0.0", true),
        (">=1.0.0, !=1.2.3", "1.2.3", false),
        (">=1.0.0, !=1.2.3", "1.2.4", true),
        (">=1.0.0 !=1.2.x", "1.2.9", false),
        (">=1.0.0 !=1.2.x", "1.3.0", true),
        (">=1.0.0 !=1.2.x", "0.9.0", false),
    ];

    const GREATER_LESS: &[(&str, &str, bool)] = &[
        (">1.2.3", "1.2.4", true),
        (">1.2.3", "1.2.3", false),
        (">1.2.3", "1.2.3+b", false),
        (">1.2.3", "1.3.0-rc.1", false),
        ("> 1.2.3", "1.2.4", true),
        (">  v1.2.3", "1.2.4", true),
        (">1.1", "1.1.9", false),
        (">1.1", "1.1.0", false),
        (">1.1", "1.2.0", true),
        (">1.1", "2.0.0", true),
        (">1.1", "4.1.0", true),
        (">1.1", "1.0.0", false),
        (">11.1", "11.1.1", false),
        (">11.1", "11.2.1", true),
        (">1", "1.9.9", false),
        (">1", "2.0.0", true),
        (">11", "11.1.0", false),
        (">1.x", "2.0.0", true),
        (">1.x", "1.5.0", false),
        (">1.2.x", "1.2.9", false),
        (">1.2.x", "1.3.0", true),
        (">0", "0.5.0", false),
        (">0", "1.0.0", true),
        (">0", "0.0.1-alpha", false),
        (">0.0", "0.0.9", false),
        (">0.0", "0.1.0", true),
        (">*", "0.0.0", false),
        (">*", "0.0.1", true),
        (">*", "1.0.0", true),
        (">0-0", "0.0.1-alpha", false),
        (">0.0-0", "0.0.1-alpha", false),
        (">0.0.0-0", "0.0.0-alpha", true),
        (">1.2.3-alpha.1", "1.2.3-alpha.2", true),
        (">1.2.3-alpha.1", "1.2.3-alpha.1", false),
        (">1.2.3-alpha.1", "1.2.3-alpha", false),
        (">1.2.3-alpha.1", "1.2.3", true),
        (">1.2.3-alpha.1", "1.3.3-alpha.2", true),
        (">1.2.3-alpha", "1.2.3-beta", true),
        (">1.2.3-alpha.9", "1.2.3-alpha.10", true),
        (">1.2.3-alpha.10", "1.2.3-alpha.9", false),
        (">1.2.3-1", "1.2.3-alpha", true),
        (">1.2.3-alpha", "1.2.3-1", false),
        (">1.2-beta", "1.3.0-alpha", true),
        ("<1.2.3", "1.2.2", true),
        ("<1.2.3", "1.2.3", false),
        ("<1.2.3", "1.2.3-rc.1", false),
        ("< 1.4.1", "1.4.0", true),
        ("<1.1", "1.0.9", true),
        ("<1.1", "0.1.0", true),
        ("<1.1", "1.1.0", false),
        ("<1.1", "1.1.1", false),
        ("<1", "0.9.9", true),
        ("<1", "1.0.0", false),
        ("<11", "0.1.0", true),
        ("<11", "11.1.0", false),
        ("<1.x", "0.1.1", true),
        ("<1.x", "1.1.1", false),
        ("<1.x", "2.0.0", false),
        ("<2.x", "1.1.1", true),
        ("<1.2.x", "1.1.9", true),
        ("<1.2.x", "1.2.0", false),
        ("<1.1.x", "1.1.500", false),
        ("<1.1.x", "1.0.500", true),
        ("<0", "0.0.0", false),
        ("<0", "0.0.0-alpha", false),
        ("<*", "0.0.0", false),
        ("<0-z", "0.0.0-alpha", true),
        ("<1.2.3-beta", "1.2.3-alpha", true),
        ("<1.2.3-beta", "1.2.3-beta", false),
        ("<1.2.3-beta", "1.2.2", true),
        ("<1.2.3-beta", "1.0.0-rc.1", true),
        ("<2.0.0", "2.0.0-rc.1", false),
        ("<2.0.0-0", "2.0.0-rc.1", false),
        ("<2.0.0-0", "1.9.9", true),
        ("<2.0.0-0", "1.9.9-beta", true),
    ];

    const GREATER_LESS_EQUAL: &[(&str, &str, bool)] = &[
        (">=1.2.3", "1.2.3", true),
        (">=1.2.3", "1.2.2", false),
        (">=1.2.3", "1.2.3+b", true),
        (">=1.2.3", "2.0.0-rc.1", false),
        (">=1.1", "1.1.0", true),
        (">=1.1", "4.1.0", true),
        (">=1.1", "4.1.0-beta", false),
        (">=1.1", "1.0.9", false),
        (">=1.1", "0.0.9", false),
        (">=11", "11.1.2", true),
        (">=11.1", "11.0.2", false),
        (">=1", "1.0.0", true),
        (">=1", "0.9.9", false),
        (">=1.x", "1.0.0", true),
        (">=1.x", "0.9.0", false),
        (">=*", "0.0.0", true),
        (">=*", "1.0.0", true),
        ("=>1.2", "1.2.0", true),
        ("=> 1.2", "1.1.9", false),
        (">= 1.2", "1.2.0", true),
        (">=v1.2.3", "1.2.3", true),
        (">= v1.2.3", "1.2.2", false),
        (">=0", "0", true),
        (">=0", "0.0.1-alpha", false),
        (">=0", "0.0.0-alpha", false),
        (">=0.0", "0.0.1-alpha", false),
        (">=0-0", "0.0.1-alpha", true),
        (">=0-0", "0.0.0-alpha", true),
        (">=0.0-0", "0.0.1-alpha", true),
        (">=0.0.0-0", "0.0.0-alpha", true),
        (">=0.0.0-0", "3.4.5-beta.1", true),
        (">=0.0.0-0", "1.2.3", true),
        (">=1.2.3-alpha", "1.2.3-alpha", true),
        (">=1.2.3-alpha", "1.2.3-0", false),
        ("<=1.2.3", "1.2.3", true),
        ("<=1.2.3", "1.2.4", false),
        ("<=1.2.3", "1.2.3+zzz", true),
        ("<=1.2.3", "1.2.3-rc.1", false),
        ("<=1.1", "1.1.0", true),
        ("<=1.1", "1.1.9", true),
        ("<=1.1", "1.2.0", false),
        ("<=1.1", "1.2.3", false),
        ("<=1.1", "0.9.0", true),
        ("<=1.1", "0.1.0-alpha", false),
        ("<=1.1-a", "0.1.0-alpha", true),
        ("=<1.1", "1.1.5", true),
        ("=< 1.2", "1.2.0", true),
        ("=< 1.1", "1.2.0", false),
        ("<=1", "1.99.99", true),
        ("<=1", "2.0.0", false),
        ("<=11", "1.2.3", true),
        ("<=11", "11.2.3", true),
        ("<=11", "12.2.3", false),
        ("<=1.x", "1.9.0", true),
        ("<=2.x", "3.0.0", false),
        ("<=1.1.x", "1.1.500", true),
        ("<=1.1.x", "1.2.500", false),
        ("<=4.5", "3.4.0", true),
        ("<=4.5", "3.7.0", true),
        ("<=4.5", "4.5.99", true),
        ("<=4.5", "4.6.0", false),
        ("<=4.5", "4.6.3", false),
        // Upstream's wildcard branch makes `<=*` stop below 0.1.0.
        ("<=*", "0.0.5", true),
        ("<=*", "0.1.0", false),
        ("<=*", "1.0.0", false),
    ];

    const TILDE: &[(&str, &str, bool)] = &[
        ("~1.2.3", "1.2.3", true),
        ("~1.2.3", "1.2.4", true),
        ("~1.2.3", "1.2.9", true),
        ("~1.2.3", "1.2.2", false),
        ("~1.2.3", "1.3.0", false),
        ("~1.2.3", "1.3.4", false),
        ("~1.2.3", "2.0.0", false),
        ("~1.2.3", "1.2.4-rc.1", false),
        ("~>1.2.3", "1.2.9", true),
        ("~>1.2.3", "1.3.0", false),
        ("~ 1.2.3", "1.2.4", true),
        ("~> 1.2.3", "1.2.4", true),
        ("~v1.2.3", "1.2.4", true),
        ("~1.2", "1.2.0", true),
        ("~1.2", "1.2.99", true),
        ("~1.2", "1.3.0", false),
        ("~1.2", "1.1.9", false),
        ("~1.2.x", "1.2.4", true),
        ("~1.2.x", "1.3.0", false),
        ("~1", "1.0.0", true),
        ("~1", "1.4", true),
        ("~1", "1.9.9", true),
        ("~1", "2.0.0", false),
        ("~1", "0.9.9", false),
        ("~1", "1.3.5-beta", false),
        ("~>1", "1.7.0", true),
        ("~1.x", "1.3.5", true),
        ("~1.x", "2.1.1", false),
        ("~2.x.x", "2.9.0", true),
        ("~2.0", "2.0.5", true),
        ("~2.0", "2.1.0", false),
        ("~0.2.3", "0.2.5", true),
        ("~0.2.3", "0.3.0", false),
        ("~0", "0.5.0", true),
        ("~0", "1.0.0", false),
        ("~0.0", "0.0.5", true),
        ("~0.0", "0.1.0", false),
        ("~0.0.1", "0.0.5", true),
        ("~0.0.1", "0.1.0", false),
        ("~0.0.0", "0.0.0", true),
        ("~0.0.0", "1.2.3", true),
        ("~0.0.0", "0.0.0-alpha", false),
        ("~*", "0.0.0", true),
        ("~*", "2.1.1", true),
        ("~>*", "5.0.0", true),
        ("~x", "5.0.0", true),
        ("~1.2.3-beta.2", "1.2.3-beta.4", true),
        ("~1.2.3-beta.2", "1.2.3-beta.1", false),
        // Prereleases of later patches count too (SemVer precedence, unlike npm).
        ("~1.2.3-beta.2", "1.2.4-beta.2", true),
        ("~1.2.3-beta.2", "1.3.4-beta.2", false),
        ("~1.1", "1.1.1-alpha", false),
        ("~1.1-alpha", "1.1.1-beta", true),
        ("~1.1.1-beta", "1.1.1-alpha", false),
        ("~1.1.1-beta", "1.1.1", true),
        ("~1.3.6-alpha", "1.3.5-beta", false),
        ("~1.3.5-alpha", "1.3.5-beta", true),
        ("~0.0.0-beta", "0.0.0-alpha", false),
        ("~0.0.0-beta", "3.0.0-alpha", true),
    ];

    const CARET: &[(&str, &str, bool)] = &[
        ("^1.2.3", "1.2.3", true),
        ("^1.2.3", "1.8.9", true),
        ("^1.2.3", "1.9.9", true),
        ("^1.2.3", "2.0.0", false),
        ("^1.2.3", "2.8.9", false),
        ("^1.2.3", "1.2.2", false),
        ("^1.2.3", "1.2.1", false),
        ("^1.2.3", "2.0.0-rc.1", false),
        ("^1.2.3", "1.3.0-rc.1", false),
        ("^v1.2.3", "1.5.0", true),
        ("^ 1.2.3", "1.5.0", true),
        ("^1.1.0", "2.1.0", false),
        ("^1.2", "1.2.0", true),
        ("^1.2", "1.8.9", true),
        ("^1.2", "1.1.9", false),
        ("^1.2", "2.0.0", false),
        ("^1", "1.0.0", true),
        ("^1", "1.99.0", true),
        ("^1", "2.0.0", false),
        ("^1", "0.9.0", false),
        ("^1.x", "1.1.1", true),
        ("^1.x", "2.1.1", false),
        ("^2.x", "1.1.1", false),
        ("^1.x", "1.1.1-beta1", false),
        ("^1.1.2-alpha", "1.2.1-beta1", true),
        ("^1.2.x-alpha", "1.1.1-beta1", false),
        ("^1.2.0", "1.2.1-alpha.1", false),
        ("^1.2.0-alpha.0", "1.2.1-alpha.1", true),
        ("^1.2.0-alpha.0", "1.2.1-alpha.0", true),
        ("^1.2.0-alpha.2", "1.2.0-alpha.1", false),
        ("^1.2.0-alpha.0", "1.9.0", true),
        ("^1.2.0-alpha.0", "2.0.0-alpha.0", false),
        ("^1.1.1-alpha", "1.1.1-beta", true),
        ("^1.1.1-beta", "1.1.1-alpha", false),
        ("^0.2.3", "0.2.3", true),
        ("^0.2.3", "0.2.5", true),
        ("^0.2.3", "0.2.9", true),
        ("^0.2.3", "0.3.0", false),
        ("^0.2.3", "0.5.6", false),
        ("^0.2.3", "0.2.2", false),
        ("^0.2.3", "1.0.0", false),
        ("^0.2", "0.2.0", true),
        ("^0.2", "0.2.9", true),
        ("^0.2", "0.3.0", false),
        ("^0.2", "0.1.9", false),
        ("^0.0.3", "0.0.3", true),
        ("^0.0.3", "0.0.4", false),
        ("^0.0.3", "0.0.2", false),
        ("^0.0.3", "0.1.3", false),
        ("^0.0.3", "1.0.3", false),
        ("^0.0.1", "0.0.1", true),
        ("^0.0.1", "0.3.1", false),
        ("^0.0", "0.0.0", true),
        ("^0.0", "0.0.9", true),
        ("^0.0", "0.1.0", false),
        ("^0.0", "1.0.0", false),
        ("^0", "0.0.0", true),
        ("^0", "0.9.9", true),
        ("^0", "1.0.0", false),
        ("^0.x", "0.5.0", true),
        ("^0.0.x", "0.0.7", true),
        ("^0.0.x", "0.1.0", false),
        ("^0.0.0", "0.0.0", true),
        ("^0.0.0", "0.0.1", false),
        ("^0.0.0", "1.2.3", false),
        // Upstream's branches make `^*` the same as `^0.0.0`.
        ("^*", "0.0.0", true),
        ("^*", "0.0.1", false),
        ("^*", "1.2.3", false),
        ("^0.2.3-beta.2", "0.2.3-beta.4", true),
        ("^0.2.3-beta.2", "0.2.4-beta.2", true),
        ("^0.2.3-beta.2", "0.3.4-beta.2", false),
        ("^0.2.3-beta.2", "0.2.3-beta.2", true),
        ("^0.0.3-beta", "0.0.3", true),
        ("^0.0.3-beta", "0.0.3-alpha", false),
        ("^0.0.3-beta", "0.0.3-rc", true),
        ("^0.0.3-beta", "0.0.4-rc", false),
    ];

    const HYPHEN_RANGES: &[(&str, &str, bool)] = &[
        ("1.2 - 1.4.5", "1.2.0", true),
        ("1.2 - 1.4.5", "1.1.9", false),
        ("1.2 - 1.4.5", "1.4.5", true),
        ("1.2 - 1.4.5", "1.4.6", false),
        ("2.3.4 - 4.5", "2.3.4", true),
        ("2.3.4 - 4.5", "2.3.3", false),
        ("2.3.4 - 4.5", "4.5.99", true),
        ("2.3.4 - 4.5", "4.6.0", false),
        ("1.1 - 2", "1.1.1", true),
        ("1.1 - 2", "2.9.9", true),
        ("1.1 - 2", "3.0.0", false),
        ("1.1 - 2", "1.0.9", false),
        ("1.1 - 3", "4.3.2", false),
        ("1.5.0 - 4.5", "3.7.0", true),
        ("1 - 2", "2.5.0", true),
        ("1.0.0 - 2.0.0", "2.0.0", true),
        ("1.0.0 - 2.0.0", "2.0.1", false),
        ("1.0.0 - 2.0.0", "2.0.0-rc.1", false),
        ("1.0.0 - 2.0.0", "1.5.0+b", true),
        ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", true),
        ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", true),
        ("1.0.0 - 2.0.0, !=1.5.0", "1.5.0", false),
        ("1.0.0-alpha - 1.0.0", "1.0.0-beta", true),
        ("1.0.0-alpha - 1.0.0", "1.0.0", true),
        ("1.0.0-alpha - 1.0.0", "0.9.0", false),
        ("v1.0.0 - v2.0.0", "1.5.0", true),
        ("1.x - 2.x", "2.9.0", true),
        ("1.x - 2.x", "3.0.0", false),
        ("* - 2", "0.0.1", true),
        ("1.2 -  1.4", "1.4.9", true),
        ("1.2\t-\t1.4", "1.3.0", true),
        ("1 - 2 || 4 - 5", "3.0.0", false),
        ("1 - 2 || 4 - 5", "4.5.0", true),
        ("1 - 2 || 4 - 5", "1.5.0", true),
        ("3 - 4 || => 3.0, < 4", "4.5.0", true),
        ("1 - 2, 2 - 3", "2.5.0", true),
        ("1 - 2, 2 - 3", "1.5.0", false),
        ("1 || 2 - 3", "2.5.0", true),
        ("1 || 2 - 3", "7.0.0", false),
        // Upstream quirk: without spaces the range's lower bound swallows `||`, giving
        // `>= 1||2, <= 3`, i.e. `>=1 || (2.x and <=3)`.
        ("1||2 - 3", "7.0.0", true),
        ("1||2 - 3", "0.5.0", false),
    ];

    const GROUPS_AND_SEPARATORS: &[(&str, &str, bool)] = &[
        (">1.1, <2", "1.1.1", false),
        (">1.1, <2", "1.2.1", true),
        (">1.1, <3", "4.3.2", false),
        (">1.1 <2", "1.2.1", true),
        (">1.1    <3", "4.3.2", false),
        ("> 1.1, <     2", "1.1.1", false),
        (">   1.1, <2", "1.2.1", true),
        (">=1.1, <2, !=1.2.3", "1.2.3", false),
        (">=1.1    <2    !=1.2.3", "1.2.3", false),
        (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
        (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false),
        (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
        (">=1.1, <2, !=1.2.3 || > 3", "3.0.0", false),
        (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
        (">=1.1 <2 !=1.2.3 || > 3", "1.2.4", true),
        (">= 1.1 <2 != 1.2.3 || >= 3", "3.0.0", true),
        (">=1.1 < 2 !=1.2.3 || > 3", "1.2.3", false),
        ("  >=1.0.0  ", "1.0.0", true),
        (">=1.0.0,<2.0.0", "1.5.0", true),
        (">=1.0.0 , <2.0.0", "2.0.0", false),
        (">=1.0.0,   <2.0.0", "1.9.9", true),
        (">=1.0.0\t<2.0.0", "1.5.0", true),
        (">=1.0.0\n<2.0.0", "1.5.0", true),
        (">= 1.0.0 <= 2.0.0", "2.0.0", true),
        (">40.50.60, < 50.70", "45.0.0", true),
        (">40.50.60, < 50.70", "50.70.0", false),
        ("12.3.34 ~1.2.3", "12.3.34", false),
        ("^1.2 || ^2.0", "2.5.0", true),
        ("^1.2 || ^2.0", "3.0.0", false),
        ("^1.2 || ^2.0", "1.1.0", false),
        ("1.2.3 || 1.2.5", "1.2.4", false),
        ("1.2.3 || 1.2.5", "1.2.5", true),
        ("1.2.3||1.2.5", "1.2.3", true),
        ("<1.0.0 || >=2.0.0", "1.5.0", false),
        ("<1.0.0 || >=2.0.0", "0.5.0", true),
        ("<1.0.0 || >=2.0.0", "2.0.0", true),
        ("~1.2 || ~1.4", "1.3.0", false),
        ("~1.2 || ~1.4", "1.4.7", true),
        (">1||<0.5", "0.1.0", true),
        (">1||<0.5", "2.0.0", true),
        (">1||<0.5", "1.5.0", false),
        ("2.x, >=1.2.3 || >4.5.6, < 5.7", "2.0.0", true),
        ("2.x, >=1.2.3 || >4.5.6, < 5.7", "4.5.0", false),
        ("2.x, >=1.2.3 || >4.5.6, < 5.7", "4.6.0", true),
        ("2.x, >=1.2.3 || >4.5.6, < 5.7", "5.0.0", true),
    ];

    // The gate is per AND group: only a group naming a prerelease considers prereleases.
    const PRERELEASE_GROUPS: &[(&str, &str, bool)] = &[
        (">=1.2.3-0 <1.3.0", "1.2.5-beta", true),
        ("<1.3.0 >=1.2.3-0", "1.2.5-beta", true),
        (">=1.2.3-0, <1.3.0", "1.3.0-alpha", true),
        (">=1.2.3-0, <1.3.0", "1.3.0", false),
        (">=1.0.0-0 <2.0.0 || >=3.0.0", "1.5.0-beta", true),
        (">=1.0.0-0 <2.0.0 || >=3.0.0", "3.5.0-beta", false),
        (">=1.0.0 <2.0.0 || >=3.0.0-0", "1.5.0-beta", false),
        (">=1.0.0 <2.0.0 || >=3.0.0-0", "3.1.0-beta", true),
        ("^1.0.0 || >=2.0.0-rc.1 <2.0.0", "2.0.0-rc.2", true),
        ("^1.0.0 || >=2.0.0-rc.1 <2.0.0", "2.0.0", false),
        ("^1.0.0 || >=2.0.0-rc.1 <2.0.0", "1.5.0-rc.1", false),
        ("^1.0.0 || >=2.0.0-rc.1 <2.0.0", "1.5.0", true),
        ("> 1.2.3", "1.2.3-beta.1", false),
        ("> 1.2.3", "1.2.4-beta.1", false),
    ];

    // Build metadata never takes part in matching.
    const BUILD_METADATA: &[(&str, &str, bool)] = &[
        (">=1.2.3+build", "1.2.3", true),
        ("<=1.2.3", "1.2.3+build.99", true),
        ("1.2.3+x", "1.2.3+y", true),
        ("1.2.3+meta", "1.2.3", true),
        ("1.2.3", "1.2.3+build.7", true),
        ("!=1.2.3+x", "1.2.3+y", false),
        (">1.2.3+a", "1.2.3+b", false),
        ("<1.2.3+b", "1.2.3+a", false),
        ("~1.2.3+build", "1.2.9", true),
        ("^1.2.3+build", "1.2.3+other", true),
        ("1.x+build", "1.5.0", true),
        (
            "v2.3.5-20161202202307-sha.e8fc5e5",
            "2.3.5-20161202202307-sha.e8fc5e5",
            true,
        ),
    ];

    // Oddities of upstream's grammar that still parse there, so they parse here.
    const GRAMMAR_QUIRKS: &[(&str, &str, bool)] = &[
        // `|` is in upstream's character class for numeric parts; harmless after a wildcard.
        ("*.|", "1.0.0", true),
        ("1.x.|", "1.3.0", true),
        ("1.x.|", "2.0.0", false),
    ];

    // With include_prerelease=true (policy `prerelease: true`).
    const INCLUDE_PRERELEASE: &[(&str, &str, bool)] = &[
        (">=1.0.0", "1.5.0-beta", true),
        (">=1.0.0", "1.0.0-beta", false),
        ("<2.0.0", "2.0.0-rc.1", true),
        ("<2.0.0", "2.0.1-rc.1", false),
        ("^1.2.3", "1.3.0-alpha", true),
        ("^1.2.3", "2.0.0-alpha", false),
        ("^1.2.3", "1.2.3-alpha", false),
        ("~1.2", "1.2.5-rc.1", true),
        ("~1.2", "1.2.0-rc.1", false),
        ("*", "1.0.0-alpha", true),
        ("*", "0.0.0-alpha", false),
        ("1.2.3", "1.2.3-rc.1", false),
        ("!=1.2.3", "1.2.3-rc.1", true),
        (">1.2", "1.3.0-beta", true),
        (">1.2", "1.2.9-beta", false),
        ("<=1.2", "1.2.9-beta", true),
        ("1.2.x", "1.2.0-beta", false),
        ("1.2.x", "1.2.1-beta", true),
        ("^0.0.3", "0.0.3-beta", false),
        ("^0.0.3", "0.0.4-beta", false),
        (">=1.0.0 <2.0.0", "1.9.9-rc.1", true),
        (">=1.0.0 <2.0.0 || >=3.0.0-0", "1.5.0-beta", true),
        ("1.0.0 - 2.0.0", "2.0.0-rc.1", true),
        ("1.0.0 - 2.0.0", "1.0.0-rc.1", false),
    ];

    #[test]
    fn exact_and_wildcards() {
        check_table(EXACT_AND_WILDCARDS, false);
    }

    #[test]
    fn not_equal() {
        check_table(NOT_EQUAL, false);
    }

    #[test]
    fn greater_and_less() {
        check_table(GREATER_LESS, false);
        check_table(GREATER_LESS_EQUAL, false);
    }

    #[test]
    fn tilde() {
        check_table(TILDE, false);
    }

    #[test]
    fn caret() {
        check_table(CARET, false);
    }

    #[test]
    fn hyphen_ranges() {
        check_table(HYPHEN_RANGES, false);
    }

    #[test]
    fn groups_and_separators() {
        check_table(GROUPS_AND_SEPARATORS, false);
    }

    #[test]
    fn prerelease_gate_is_per_group() {
        check_table(PRERELEASE_GROUPS, false);
    }

    #[test]
    fn build_metadata_is_ignored() {
        check_table(BUILD_METADATA, false);
    }

    #[test]
    fn grammar_quirks() {
        check_table(GRAMMAR_QUIRKS, false);
    }

    #[test]
    fn include_prerelease() {
        check_table(INCLUDE_PRERELEASE, true);
    }

    fn all_default_tables() -> impl Iterator<Item = &'static (&'static str, &'static str, bool)> {
        [
            EXACT_AND_WILDCARDS,
            NOT_EQUAL,
            GREATER_LESS,
            GREATER_LESS_EQUAL,
            TILDE,
            CARET,
            HYPHEN_RANGES,
            GROUPS_AND_SEPARATORS,
            PRERELEASE_GROUPS,
            BUILD_METADATA,
            GRAMMAR_QUIRKS,
        ]
        .into_iter()
        .flatten()
    }

    #[test]
    fn include_prerelease_changes_nothing_for_releases() {
        for &(constraint, version, expected) in all_default_tables() {
            let v = ver(version);
            if v.pre.is_empty() {
                let c = Constraints::parse(constraint).unwrap();
                assert_eq!(
                    c.matches_with(&v, true),
                    expected,
                    "{constraint:?} vs {version:?}"
                );
                assert_eq!(c.matches(&v), expected, "{constraint:?} vs {version:?}");
            }
        }
    }

    #[test]
    fn include_prerelease_only_widens() {
        for &(constraint, version, expected) in all_default_tables() {
            if expected {
                let c = Constraints::parse(constraint).unwrap();
                assert!(
                    c.matches_with(&ver(version), true),
                    "{constraint:?} vs {version:?}"
                );
            }
        }
    }

    #[test]
    fn parse_errors_name_the_offending_piece() {
        use ConstraintErrorReason as R;
        let not_version = |s: &str| R::NotAVersion(s.to_owned());
        let cases: &[(&str, ConstraintErrorReason)] = &[
            ("", R::Empty),
            ("   ", R::Empty),
            ("\t\n", R::Empty),
            (">=1.a", not_version("1.a")),
            ("foo", not_version("foo")),
            ("latest", not_version("latest")),
            (">= bar", not_version("bar")),
            ("BAR >= 1.2.3", not_version("BAR")),
            ("1.2.3 1.2.4 latest", not_version("latest")),
            ("1.2.3.4", not_version("1.2.3.4")),
            ("12.3.4.1234", not_version("12.3.4.1234")),
            ("1.2.3.4 || 1", not_version("1.2.3.4")),
            ("12.3.34~ 1.2.3", not_version("12.3.34~")),
            (">1.2.3<2", not_version("1.2.3<2")),
            ("==1.2.3", not_version("=1.2.3")),
            ("!1.2.3", not_version("!1.2.3")),
            ("V1.2.3", not_version("V1.2.3")),
            ("vv1", not_version("vv1")),
            ("1..2", not_version("1..2")),
            ("1.2.", not_version("1.2.")),
            (">=1.2.3-", not_version("1.2.3-")),
            ("1.2.3+", not_version("1.2.3+")),
            ("1.2.3-beta.", not_version("1.2.3-beta.")),
            ("1.2.3-be_ta", not_version("1.2.3-be_ta")),
            ("1.2.3-01", not_version("1.2.3-01")),
            ("1.x-01", not_version("1.x-01")),
            ("1.2x", not_version("1.2x")),
            ("1|2", not_version("1|2")),
            ("18446744073709551616", not_version("18446744073709551616")),
            ("1.2.3 -beta", not_version("-beta")),
            ("1 - 2 - 3", not_version("-")),
            // Rewritten to `>=>= 1.0.0, <= 2.0.0 ` upstream as well.
            (">=1.0.0 - 2.0.0", not_version(">=")),
            // The range's lower bound is `0||2.0.0` (see the HYPHEN_RANGES quirk),
            // leaving `1.0.>=` in front of it.
            ("1.0.0||2.0.0 - 3.0.0", not_version("1.0.>=")),
            ("~>", R::MissingVersion("~>".to_owned())),
            (">=", R::MissingVersion(">=".to_owned())),
            (">= ,1", R::MissingVersion(">=".to_owned())),
            ("1.2.3 <", R::MissingVersion("<".to_owned())),
            ("1.2.3,", R::Unexpected(",".to_owned())),
            (",1.2.3", R::Unexpected(",".to_owned())),
            ("1.2.3,,2", R::Unexpected(",".to_owned())),
            ("1.2.3, ,2", R::Unexpected(",".to_owned())),
            ("1.2.3 ||", R::EmptyAlternative),
            ("|| 1.2.3", R::EmptyAlternative),
            ("1 |||| 2", R::EmptyAlternative),
            ("||", R::EmptyAlternative),
        ];
        let mut failures = Vec::new();
        for (input, want) in cases {
            match Constraints::parse(input) {
                Ok(c) => failures.push(format!("{input:?}: parsed as {c:?}")),
                Err(e) => {
                    if e.reason() != want || e.input() != *input {
                        failures.push(format!("{input:?}: got {e:?}, want {want:?}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn error_message_format() {
        let e = Constraints::parse(">=1.a").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid semver constraint ">=1.a": "1.a" is not a version"#
        );
        let e = Constraints::parse("  ").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid semver constraint "  ": the constraint is empty"#
        );
        let e = Constraints::parse(">=").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid semver constraint ">=": operator ">=" is not followed by a version"#
        );
    }

    #[test]
    fn display_and_from_str_keep_the_original_text() {
        for text in [
            ">= 1.2, < 2",
            "2.x,   >=1.2.3 || >4.5.6, < 5.7",
            "1.0.0 - 2.0.0",
            "  ^1.2  ",
        ] {
            let c: Constraints = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
            assert_eq!(c, Constraints::parse(text).unwrap());
        }
    }

    #[test]
    fn hyphen_rewrite_matches_upstream_text() {
        let cases = [
            ("2 - 3", ">= 2, <= 3 "),
            ("2 - 3, 2 - 3", ">= 2, <= 3 ,>= 2, <= 3 "),
            ("2 - 3, 4.0.0 - 5.1", ">= 2, <= 3 ,>= 4.0.0, <= 5.1 "),
            ("2 - 3 4.0.0 - 5.1", ">= 2, <= 3 >= 4.0.0, <= 5.1 "),
            ("1.0.0 - 2.0.0 <=2.0.0", ">= 1.0.0, <= 2.0.0 <=2.0.0"),
            ("1.1-3", "1.1-3"),
            ("1||2 - 3", ">= 1||2, <= 3 "),
        ];
        for (input, want) in cases {
            assert_eq!(rewrite_hyphen_ranges(input), want, "{input:?}");
        }
    }

    #[test]
    fn group_structure() {
        // (input, OR groups, comparators in first group)
        let cases = [
            (">= 1.1", 1, 1),
            (">40.50.60, < 50.70", 1, 2),
            ("2.0", 1, 1),
            (">= 1.2.3 < 2.0", 1, 2),
            (">= 1.2.3 < 2.0 || => 3.0 < 4", 2, 2),
            (">= 1.2.3, < 2.0 || => 3.0, < 4", 2, 2),
            ("3 - 4 || => 3.0, < 4", 2, 2),
            ("12.3.34 ~1.2.3", 1, 2),
            ("1.0.0 - 2.0.0, <=2.0.0", 1, 3),
        ];
        for (input, groups, first) in cases {
            let c = Constraints::parse(input).unwrap();
            assert_eq!(c.groups.len(), groups, "{input:?}");
            assert_eq!(c.groups[0].comparators.len(), first, "{input:?}");
        }
    }

    #[test]
    fn bounds_and_wildcards() {
        let cases = [
            (">= 1.2", Op::GreaterEqual, Wildcard::Patch, "1.2.0"),
            ("1.0", Op::Equal, Wildcard::Patch, "1.0.0"),
            ("<= 1.2", Op::LessEqual, Wildcard::Patch, "1.2.0"),
            ("=< 1.2", Op::LessEqual, Wildcard::Patch, "1.2.0"),
            ("=> 1.2", Op::GreaterEqual, Wildcard::Patch, "1.2.0"),
            ("v1.2", Op::Equal, Wildcard::Patch, "1.2.0"),
            ("=1.5", Op::Equal, Wildcard::Patch, "1.5.0"),
            ("> 1.3", Op::Greater, Wildcard::Patch, "1.3.0"),
            ("< 1.4.1", Op::Less, Wildcard::None, "1.4.1"),
            ("~> 1", Op::Tilde, Wildcard::Minor, "1.0.0"),
            ("^2.x.x", Op::Caret, Wildcard::Minor, "2.0.0"),
            ("!=*", Op::NotEqual, Wildcard::Major, "0.0.0"),
            ("*-rc.1", Op::Equal, Wildcard::Major, "0.0.0-rc.1"),
            ("1.2-beta+b", Op::Equal, Wildcard::Patch, "1.2.0-beta"),
            ("1.2.3+b", Op::Equal, Wildcard::None, "1.2.3"),
            ("01.002.0003", Op::Equal, Wildcard::None, "1.2.3"),
        ];
        for (input, op, wildcard, bound) in cases {
            let c = Constraints::parse(input).unwrap();
            let comparator = &c.groups[0].comparators[0];
            assert_eq!(comparator.op, op, "{input:?}");
            assert_eq!(comparator.wildcard, wildcard, "{input:?}");
            assert_eq!(
                comparator.bound,
                Version::parse(bound).unwrap(),
                "{input:?}"
            );
        }
    }

    #[test]
    fn prerelease_flag_is_per_group() {
        let c = Constraints::parse(">=1.0.0 <2.0.0 || >=3.0.0-0").unwrap();
        let flags: Vec<bool> = c.groups.iter().map(|g| g.names_prerelease).collect();
        assert_eq!(flags, [false, true]);
    }

    #[test]
    fn tags_strict_and_loose() {
        // (tag, strict result, loose result)
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("1.2.3", Some("1.2.3"), Some("1.2.3")),
            ("v1.2.3", Some("1.2.3"), Some("1.2.3")),
            ("0.0.0", Some("0.0.0"), Some("0.0.0")),
            ("1.2.3-rc.1", Some("1.2.3-rc.1"), Some("1.2.3-rc.1")),
            (
                "v1.2.3-rc.1+build.5",
                Some("1.2.3-rc.1+build.5"),
                Some("1.2.3-rc.1+build.5"),
            ),
            ("1.2.3+build", Some("1.2.3+build"), Some("1.2.3+build")),
            ("1.2.3-beta-1", Some("1.2.3-beta-1"), Some("1.2.3-beta-1")),
            ("1.2.3-alpine", Some("1.2.3-alpine"), Some("1.2.3-alpine")),
            (
                "1.25.3-alpine3.20",
                Some("1.25.3-alpine3.20"),
                Some("1.25.3-alpine3.20"),
            ),
            ("1.2.3-0", Some("1.2.3-0"), Some("1.2.3-0")),
            ("1.2.3-0a", Some("1.2.3-0a"), Some("1.2.3-0a")),
            ("1.2.3+001", Some("1.2.3+001"), Some("1.2.3+001")),
            ("1.2", None, Some("1.2.0")),
            ("v1.2", None, Some("1.2.0")),
            ("1", None, Some("1.0.0")),
            ("v1", None, Some("1.0.0")),
            ("1.2-5", None, Some("1.2.0-5")),
            ("1-beta", None, Some("1.0.0-beta")),
            ("1.2+b", None, Some("1.2.0+b")),
            ("01.2.3", None, Some("1.2.3")),
            ("01.02.03", None, Some("1.2.3")),
            ("1.02.3", None, Some("1.2.3")),
            ("v01.2.3", None, Some("1.2.3")),
            ("2024.01.15", None, Some("2024.1.15")),
            ("20240115", None, Some("20240115.0.0")),
            ("latest", None, None),
            ("", None, None),
            ("v", None, None),
            ("vv1.2.3", None, None),
            ("V1.2.3", None, None),
            ("=1.2.3", None, None),
            (" 1.2.3", None, None),
            ("1.2.3 ", None, None),
            ("1.2.3.4", None, None),
            ("1.2.3.4-rc", None, None),
            ("1.2.x", None, None),
            ("1.2.3-01", None, None),
            ("1.2.3-rc.01", None, None),
            ("1.2.3-", None, None),
            ("v1.2.3-", None, None),
            ("1.2.3+", None, None),
            ("1.2.3-rc..1", None, None),
            ("1.2.3-rc.1.", None, None),
            ("1.2.3-rc_1", None, None),
            ("1..3", None, None),
            ("1.2.", None, None),
            (".1.2", None, None),
            ("sha-1234567", None, None),
            ("18446744073709551616.0.0", None, None),
            (
                "18446744073709551615.0.0",
                Some("18446744073709551615.0.0"),
                Some("18446744073709551615.0.0"),
            ),
        ];
        let mut failures = Vec::new();
        for &(tag, strict, loose) in cases {
            for (is_loose, want) in [(false, strict), (true, loose)] {
                let got = parse_tag(tag, is_loose).map(|v| v.to_string());
                if got.as_deref() != want {
                    failures.push(format!(
                        "{tag:?} loose={is_loose}: got {got:?}, want {want:?}"
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn strict_tags_are_also_loose_tags() {
        for tag in ["1.2.3", "v0.1.0-alpha.1+sha.5", "10.20.30-rc-1"] {
            assert_eq!(parse_tag(tag, false), parse_tag(tag, true), "{tag:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in "[0-9vxX*|.,<>=!~^ \t-]{0,24}") {
            let _ = Constraints::parse(&s).map(|c| c.matches(&Version::new(1, 2, 3)));
            let _ = parse_tag(&s, true);
            let _ = parse_tag(&s, false);
        }

        #[test]
        fn full_versions_match_themselves(
            major in 0u64..30, minor in 0u64..30, patch in 0u64..30,
        ) {
            // A full version written as a constraint is an exact match for itself.
            let text = format!("{major}.{minor}.{patch}");
            let v = parse_tag(&text, false).unwrap();
            for constraint in [text.clone(), format!("^{text}"), format!("~{text}")] {
                let matched = Constraints::parse(&constraint).unwrap().matches(&v);
                proptest::prop_assert!(matched, "{} does not match {}", constraint, v);
            }
        }
    }
}
