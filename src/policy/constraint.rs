//! TEMPORARY stand-in until the Masterminds constraint engine lands (branch `semver`).
#![allow(missing_docs)]
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone)]
pub struct Constraints(semver::VersionReq, String);

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("invalid semver constraint {0:?}")]
pub struct ConstraintError(String);

impl Constraints {
    pub fn parse(s: &str) -> Result<Constraints, ConstraintError> {
        if s.trim().is_empty() {
            return Err(ConstraintError(s.into()));
        }
        let norm = s.split_whitespace().collect::<Vec<_>>().join(",").replace(",,", ",");
        semver::VersionReq::parse(&norm).map(|r| Constraints(r, s.into())).map_err(|_| ConstraintError(s.into()))
    }
    pub fn matches(&self, v: &semver::Version) -> bool {
        self.0.matches(v)
    }
    pub fn matches_with(&self, v: &semver::Version, include_prerelease: bool) -> bool {
        let mut c = v.clone();
        if include_prerelease {
            c.pre = semver::Prerelease::EMPTY;
        }
        self.0.matches(&c)
    }
}
impl FromStr for Constraints {
    type Err = ConstraintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraints::parse(s)
    }
}
impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.1)
    }
}
pub fn parse_tag(tag: &str, _loose: bool) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}
