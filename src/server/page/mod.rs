//! The status page (`GET /`, `GET /ui`): one server-rendered HTML page, no JavaScript.
//!
//! [`render`] is pure: a [`Snapshot`] of plain values in, the page out. The template
//! (`page.html`) is rendered by minijinja with HTML auto-escaping, so every value —
//! image names, tags and errors come from registries, git and users — is escaped
//! wherever it lands; links come only from `commitUrl` templates checked to render
//! `http(s)://` URLs, and from the forges' pull-request URLs. [`gather`] takes the
//! snapshot from the running engine.

use serde::Serialize;

pub mod gather;
pub mod latency;

use crate::engine::live::PolicyStatus;
use crate::engine::reload::ConfigStatus;
pub use latency::Latency;

const TEMPLATE: &str = include_str!("page.html");

/// Everything the page shows, as plain values.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// imagebump's version.
    pub version: String,
    /// When the snapshot was taken (RFC 3339).
    pub taken: String,
    /// Git reachable and writers started (`/readyz`).
    pub ready: bool,
    /// Images by state, in state order.
    pub counts: Vec<StateCount>,
    /// Every image, in identity order.
    pub images: Vec<ImageRow>,
    /// Every GitOps repository, in name order.
    pub gits: Vec<GitRow>,
    /// The config file's reload status.
    pub config: ConfigStatus,
    /// The policies' reload status.
    pub policies: PolicyStatus,
    /// The webhook→commit latency histogram.
    pub latency: Latency,
}

/// How many images are in one state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StateCount {
    /// The state (`updated`, `no_match`, …; `not_scanned`).
    pub state: String,
    /// How many images.
    pub count: usize,
}

/// A commit, with a link when the repository has a `commitUrl`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CommitRef {
    /// The full id.
    pub id: String,
    /// Its first 12 characters, for display.
    pub short: String,
    /// Its web page.
    pub url: Option<String>,
}

impl CommitRef {
    /// `id` with its link.
    pub fn new(id: &str, url: Option<String>) -> CommitRef {
        CommitRef {
            id: id.to_string(),
            short: id.chars().take(12).collect(),
            url,
        }
    }
}

/// One image's row.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImageRow {
    /// Application name.
    pub application: String,
    /// Image name within the application.
    pub image: String,
    /// Normalised registry repository.
    pub repository: String,
    /// The tag in git.
    pub current: Option<String>,
    /// The best tag in the registry.
    pub candidate: Option<String>,
    /// The tag the service wants deployed.
    pub chosen: Option<String>,
    /// The decision's kind (`not_scanned` before the first scan).
    pub state: String,
    /// Why git does not hold the candidate.
    pub why: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// A hold in effect (marker, manual change, declined pull request).
    pub hold: Option<String>,
    /// When its repository was last scanned.
    pub last_scan: Option<String>,
    /// The last commit that changed it.
    pub commit: Option<CommitRef>,
}

/// One GitOps repository's row.
#[derive(Debug, Clone, Serialize, Default)]
pub struct GitRow {
    /// Its name from `git:`.
    pub name: String,
    /// Its URL, without credentials.
    pub url: String,
    /// The base branch.
    pub branch: String,
    /// `push`, `branch` or `pullRequest`.
    pub write: String,
    /// Where imagebump pushes.
    pub push_branch: String,
    /// The last successful sync with the remote tip.
    pub last_sync: Option<String>,
    /// The last push.
    pub last_push: Option<String>,
    /// The last commit pushed.
    pub last_commit: Option<CommitRef>,
    /// The last write's error.
    pub last_error: Option<String>,
    /// Open pull requests: head branch and web URL.
    pub pull_requests: Vec<PullRef>,
}

/// An open pull request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PullRef {
    /// Its head branch.
    pub head: String,
    /// Its web page (only an `http(s)://` one is linked).
    pub url: Option<String>,
}

/// The states that are trouble (shown as such, in words and colour).
const TROUBLE: &[&str] = &[
    "failed",
    "refused",
    "not_referenced",
    "rate_limited",
    "pin_missing",
    "missing_platform",
    "downgrade_refused",
    "no_match",
];

/// The states where git holds what the policy wants, or a commit just landed.
const GOOD: &[&str] = &["updated", "up_to_date", "pinned"];

/// The page for `snap`.
pub fn render(snap: &Snapshot) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    // A misspelt field is an error the unit tests catch, not a blank cell.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("tone", |state: &str| -> &'static str {
        if TROUBLE.contains(&state) {
            "bad"
        } else if GOOD.contains(&state) {
            "good"
        } else {
            "wait"
        }
    });
    env.add_filter("words", |state: &str| state.replace('_', " "));
    // The name ends in .html: minijinja escapes every `{{ }}` for HTML.
    let t = env.template_from_named_str("page.html", TEMPLATE)?;
    let problems = snap
        .images
        .iter()
        .filter(|i| TROUBLE.contains(&i.state.as_str()))
        .count();
    t.render(minijinja::context! { s => snap, problems => problems })
}

#[cfg(test)]
mod tests;
