//! What the service knows about each GitOps repository, for the `gits` list of
//! `GET /api/v1/status`: where it writes, the last push, the last error, the open pull
//! request. A view, like the image status board: a restart loses it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// One GitOps repository's status, as served (camelCase JSON).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitStatus {
    /// Its name from `git:` (`default` for a single unnamed one).
    pub name: String,
    /// Its URL, without credentials.
    pub url: String,
    /// The base branch.
    pub branch: String,
    /// `push`, `branch` or `pullRequest`.
    pub write: &'static str,
    /// The branch imagebump pushes to.
    pub push_branch: String,
    /// The last commit pushed.
    pub last_commit: Option<String>,
    /// The web page of the last commit (from `commitUrl`, or derived for a public
    /// forge); absent without one.
    pub last_commit_url: Option<String>,
    /// When the last write synced with the remote tip and succeeded (RFC 3339).
    pub last_sync: Option<String>,
    /// When (RFC 3339).
    pub last_push: Option<String>,
    /// The last write's error, cleared by the next good write.
    pub last_error: Option<String>,
    /// Open pull requests imagebump keeps, by head branch: their web URLs.
    pub pull_requests: BTreeMap<String, String>,
    /// The `commitUrl` template in effect (not served; links are rendered from it).
    #[serde(skip)]
    pub commit_url: Option<String>,
}

impl GitStatus {
    /// The web page of `commit` in this repository, when a `commitUrl` is in effect
    /// and renders (it was checked at load, so a failure here is only logged).
    pub fn link(&self, commit: &str) -> Option<String> {
        let template = self.commit_url.as_deref()?;
        let repository = imagebump_core::link::repository_path(&self.url);
        let vars = imagebump_core::link::CommitVars {
            commit,
            branch: &self.branch,
            repository: &repository,
        };
        imagebump_core::link::render(template, &vars)
            .inspect_err(|e| tracing::warn!(git = %self.name, error = %e, "no commit link"))
            .ok()
    }
}

/// Every GitOps repository's status, by name.
#[derive(Debug, Default)]
pub struct GitBoard {
    repos: Mutex<BTreeMap<String, GitStatus>>,
}

impl GitBoard {
    /// Registers a repository so it shows before its first write.
    pub fn register(&self, s: GitStatus) {
        self.lock().insert(s.name.clone(), s);
    }

    /// Changes one repository's status (a no-op for an unknown name).
    pub fn update(&self, name: &str, f: impl FnOnce(&mut GitStatus)) {
        if let Some(s) = self.lock().get_mut(name) {
            f(s);
        }
    }

    /// A copy of everything, in name order.
    pub fn snapshot(&self) -> Vec<GitStatus> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, GitStatus>> {
        self.repos.lock().unwrap_or_else(|e| e.into_inner())
    }
}
