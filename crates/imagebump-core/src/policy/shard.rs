//! `policySelector:` — which applications one replica watches, scans and writes, so
//! several replicas can split a fleet between them (sharding) instead of all doing all
//! of it. Globs over application names: `*` matches any run of characters (also none),
//! `?` exactly one; everything else matches itself.

use serde::{Deserialize, Serialize};

/// One glob over application names (`team-a-*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppGlob(String);

impl TryFrom<String> for AppGlob {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err(
                "an application glob must not be empty (use \"*\" for every application)".into(),
            );
        }
        Ok(AppGlob(s))
    }
}

impl From<AppGlob> for String {
    fn from(g: AppGlob) -> String {
        g.0
    }
}

impl std::fmt::Display for AppGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AppGlob {
    /// Whether `name` matches the whole glob.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.0.as_bytes(), name.as_bytes())
    }
}

/// Iterative wildcard match with one backtrack point: linear in practice, and never
/// exponential on patterns like `*a*a*a*b` (no recursion).
fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
            }
            Some(c) if *c == b'?' || *c == s[i] => {
                p += 1;
                i += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again.
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|c| *c == b'*')
}

/// `policySelector: {applications: [GLOB, …], exclude: [GLOB, …]}`: an application is
/// selected when it matches one of `applications` (all when the key is absent) and none
/// of `exclude`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySelector {
    /// Globs of the applications selected; absent: every application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<Vec<AppGlob>>,
    /// Globs of applications left out even when `applications` matches them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<AppGlob>,
}

impl PolicySelector {
    /// Whether this replica takes `application`.
    pub fn selects(&self, application: &str) -> bool {
        let included = self
            .applications
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|g| g.matches(application)));
        included && !self.exclude.iter().any(|g| g.matches(application))
    }

    /// The problem with the selector itself, if any (checked at config load).
    pub fn problem(&self) -> Option<String> {
        match &self.applications {
            Some(a) if a.is_empty() => Some(
                "policySelector.applications is empty, so it selects nothing; list globs, or leave the key out to select every application".into(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> AppGlob {
        AppGlob::try_from(s.to_string()).unwrap()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(g("team-a-*").matches("team-a-web"));
        assert!(g("team-a-*").matches("team-a-"));
        assert!(!g("team-a-*").matches("team-b-web"));
        assert!(
            !g("team-a").matches("team-a-web"),
            "no implicit prefix match"
        );
        assert!(g("*-web").matches("team-a-web"));
        assert!(g("app?").matches("app1"));
        assert!(!g("app?").matches("app10"));
        assert!(g("*a*b").matches("xaaab"));
        assert!(!g("*a*a*a*b").matches(&"a".repeat(200)), "no blow-up");
        assert!(g("*").matches(""));
    }

    #[test]
    fn exclude_wins_and_absent_applications_select_all() {
        let sel: PolicySelector =
            serde_norway::from_str("applications: [team-a-*, shared]\nexclude: [team-a-legacy]\n")
                .unwrap();
        assert!(sel.selects("team-a-web"));
        assert!(sel.selects("shared"));
        assert!(!sel.selects("team-a-legacy"));
        assert!(!sel.selects("team-b-web"));
        let all: PolicySelector = serde_norway::from_str("exclude: [team-b-*]\n").unwrap();
        assert!(all.selects("anything"));
        assert!(!all.selects("team-b-x"));
        assert!(PolicySelector::default().selects("x"));
    }

    #[test]
    fn bad_selectors_are_refused() {
        assert!(serde_norway::from_str::<PolicySelector>("applications: ['']\n").is_err());
        assert!(serde_norway::from_str::<PolicySelector>("application: [a]\n").is_err());
        let empty: PolicySelector = serde_norway::from_str("applications: []\n").unwrap();
        assert!(empty.problem().unwrap().contains("selects nothing"));
    }
}
