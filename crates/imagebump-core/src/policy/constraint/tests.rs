//! The constraint engine against Masterminds/semver v3.4, case by case.
//!
//! Long: one table of ~650 cases read from Masterminds' own tests and docs; split, it
//! would be harder to compare with the source it follows.

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

#[test]
fn impossible_ranges_are_recognised() {
    for s in [
        ">1.0 <0.5",
        ">=2 <1",
        "=1.2.3 =1.2.4",
        "^1 >2",
        "~1.2 >=1.3",
    ] {
        assert!(!Constraints::parse(s).unwrap().can_match(), "{s}");
    }
    for s in [
        "*",
        "^1",
        ">1.2.3 <1.2.4",
        "!=1.2.3",
        "~1.2",
        ">=1.0 <1.0.1",
        "1.2.3",
        ">1.0 <0.5 || ^2",
        "<=*",
        "^*",
        ">1.x <3",
    ] {
        assert!(Constraints::parse(s).unwrap().can_match(), "{s}");
    }
}

/// `can_match() == false` must mean that nothing matches: checked against every version
/// of a small grid for every two-comparator range over small bounds.
#[test]
fn can_match_false_means_nothing_matches() {
    let ops = ["", "=", "!=", ">", "<", ">=", "<=", "~", "^"];
    let bounds = [
        "0", "1", "0.1", "1.1", "1.x", "0.0.1", "1.1.1", "2.0.0", "1.1.1-0", "*",
    ];
    let mut grid = Vec::new();
    for a in 0..4u64 {
        for b in 0..4u64 {
            for c in 0..4u64 {
                grid.push(Version::new(a, b, c));
                let mut p = Version::new(a, b, c);
                p.pre = semver::Prerelease::new("0").unwrap();
                grid.push(p);
            }
        }
    }
    for o1 in ops {
        for b1 in bounds {
            for o2 in ops {
                for b2 in bounds {
                    let s = format!("{o1}{b1} {o2}{b2}");
                    let c = Constraints::parse(&s).unwrap();
                    if !c.can_match() {
                        let hit = grid.iter().find(|v| c.matches_with(v, true));
                        assert!(hit.is_none(), "{s} matches {hit:?}");
                    }
                }
            }
        }
    }
}
