//! Pull (merge) requests on the forges GitOps repositories live on: GitHub (REST v3,
//! also GitHub Enterprise Server), GitLab (REST v4 merge requests), Gitea/Forgejo
//! (REST v1) and Bitbucket Cloud (REST 2.0).
//!
//! The engine owns the branch (it pushes it through the git crate); this crate only finds,
//! opens and updates the one pull request whose head is that branch. It is found again by
//! its head branch on every call, so there is never a duplicate, also after a restart.
//!
//! # Architecture invariant
//! - Talks to a forge's REST API only: knows nothing of git, policies or plans.
//! - Every list is paginated to its end (bounded by [`MAX_PAGES`]); a rate limit is an
//!   error that says how long to wait ([`ForgeError::RateLimited`]), never a silent retry
//!   loop (the wait is clamped to [`MAX_RETRY_AFTER`]); error messages carry the forge's
//!   own message and never the token.
//! - The token goes only in a header (never a URL), only to the API's own origin: a
//!   redirect is not followed, a next page on another host is refused, and a plain-http
//!   API URL is refused unless it is loopback.
//!
//! # Public surface
//! - [`Forge`]: `new`, `pull_requests(head)`, `open(spec)`, `update(number, spec)`,
//!   `repository()`.
//! - Values: [`ForgeConfig`], [`Provider`], [`PullRequestSpec`], [`PullRequest`] (with
//!   its `warnings`), [`PrState`]; [`TokenSource`] (the token is asked per request, so a
//!   rotated one is used at once; a [`Secret`] is a fixed one).
//! - Errors: [`ForgeError`].
//!
//! # Modules
//! `url` (owner/name from the git URL, default API URLs, percent-encoding), `http` (one
//! request: auth header, the forge's error text, rate limits, pagination), and one module
//! per provider: `github`, `gitlab`, `gitea`, `bitbucket`.
//!
//! What happens around an opened pull request (labels, reviewers, auto-merge) is best
//! effort: the pull request exists once `POST` succeeded, so a refusal there is a
//! warning on it ([`PullRequest::warnings`], also logged), not an error that would make
//! the caller open it again.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use imagebump_core::secret::Secret;

mod bitbucket;
mod gitea;
mod github;
mod gitlab;
mod http;
mod url;

pub use http::{DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER};

/// At most this many pages are read from one list endpoint.
pub const MAX_PAGES: usize = 50;

/// Which forge's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// GitHub / GitHub Enterprise Server.
    Github,
    /// GitLab.
    Gitlab,
    /// Gitea / Forgejo.
    Gitea,
    /// Bitbucket Cloud.
    Bitbucket,
}

/// Gives the API token for each request.
pub trait TokenSource: Send + Sync {
    /// The current token.
    fn token(&self) -> Secret;
}

/// A fixed token.
impl TokenSource for Secret {
    fn token(&self) -> Secret {
        self.clone()
    }
}

/// Where the repository is and how to reach its forge's API.
#[derive(Clone)]
pub struct ForgeConfig {
    /// Which API.
    pub provider: Provider,
    /// The API base URL; `None`: derived from `repo_url` (api.github.com for github.com,
    /// `https://HOST/api/v3` for GitHub Enterprise, `https://HOST/api/v4` for GitLab,
    /// `https://HOST/api/v1` for Gitea, api.bitbucket.org/2.0 for Bitbucket).
    pub api_url: Option<String>,
    /// The repository's git URL (`https://host/owner/name.git`, `ssh://git@host/owner/name.git`,
    /// `git@host:owner/name.git`): the owner and name (GitLab: the project path, with
    /// subgroups; Bitbucket: workspace and slug) are read from it. A `file://` URL
    /// (tests) names its last two path segments and needs `api_url`.
    pub repo_url: String,
    /// The API token.
    pub token: Arc<dyn TokenSource>,
    /// Extra CA bundle (PEM) for a self-hosted forge, and plain-HTTP allowed (tests).
    pub ca_file: Option<std::path::PathBuf>,
}

/// What the pull request should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestSpec {
    /// Head branch (imagebump's).
    pub head: String,
    /// Base branch (the GitOps branch).
    pub base: String,
    /// Title.
    pub title: String,
    /// Body (Markdown).
    pub body: String,
    /// Labels to set (created on forges that need them to exist, where the API allows).
    pub labels: Vec<String>,
    /// User names asked to review (GitHub: `org/team` names a team; Bitbucket: account
    /// ids or `{uuid}`s, since it no longer accepts user names).
    pub reviewers: Vec<String>,
    /// Ask the forge to merge it once its checks pass, where it can.
    pub auto_merge: bool,
}

/// A pull request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    /// Open (GitLab: opened; Bitbucket: OPEN).
    Open,
    /// Merged.
    Merged,
    /// Closed without merging (Bitbucket: DECLINED or SUPERSEDED).
    Closed,
}

/// A pull request as the forge reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Number (GitLab: the project-level `iid`; Bitbucket: `id`).
    pub number: u64,
    /// Its web page.
    pub url: String,
    /// State.
    pub state: PrState,
    /// Head branch.
    pub head: String,
    /// Title.
    pub title: String,
    /// Body as stored.
    pub body: String,
    /// What `open`/`update` could not do around it (labels, reviewers, auto-merge the
    /// forge refused or does not have); the pull request itself is there. Empty from
    /// [`Forge::pull_requests`].
    pub warnings: Vec<String>,
}

/// Records a warning on `pr` and logs it.
fn note(pr: &mut PullRequest, warning: String) {
    tracing::warn!(pull_request = pr.number, url = %pr.url, "{warning}");
    pr.warnings.push(warning);
}

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge answered with an error status; `message` is its own error text.
    #[error("{provider:?} API: {method} {path}: HTTP {status}: {message}")]
    Http {
        /// Which forge.
        provider: Provider,
        /// HTTP method.
        method: String,
        /// Path (never with a token).
        path: String,
        /// Status code.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// Rate limited: try again after this long.
    #[error("{provider:?} API rate limit: retry in {}s", retry_after.as_secs())]
    RateLimited {
        /// Which forge.
        provider: Provider,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The configuration cannot work (a URL the owner/name cannot be read from…).
    #[error("{0}")]
    Config(String),
    /// Network, TLS, or an answer that is not the documented JSON.
    #[error("{provider:?} API: {0}", provider = .1)]
    Transport(String, Provider),
}

/// A client for one repository's pull requests on one forge.
pub struct Forge {
    provider: Provider,
    repo: url::RepoPath,
    api: http::Api,
}

impl Forge {
    /// A client; fails when the repository's owner/name cannot be read from its URL.
    pub fn new(cfg: ForgeConfig) -> Result<Forge, ForgeError> {
        let repo = url::RepoPath::parse(&cfg.repo_url, cfg.provider)?;
        let base = match &cfg.api_url {
            Some(u) => u.clone(),
            None if !repo.has_host() => {
                return Err(ForgeError::Config(format!(
                    "{:?}: repository {} is a local path with no forge; set apiUrl",
                    cfg.provider, cfg.repo_url
                )))
            }
            None => repo.default_api_url(cfg.provider),
        };
        let api = http::Api::new(
            cfg.provider,
            &base,
            cfg.token.clone(),
            cfg.ca_file.as_deref(),
        )?;
        Ok(Forge {
            provider: cfg.provider,
            repo,
            api,
        })
    }

    /// The repository as the forge names it (`owner/name`; GitLab: the project path).
    pub fn repository(&self) -> String {
        self.repo.full()
    }

    /// Every pull request (any state) whose head is `head` in this repository, newest
    /// first.
    pub async fn pull_requests(&self, head: &str) -> Result<Vec<PullRequest>, ForgeError> {
        let mut prs = match self.provider {
            Provider::Github => github::list(&self.api, &self.repo, head).await?,
            Provider::Gitlab => gitlab::list(&self.api, &self.repo, head).await?,
            Provider::Gitea => gitea::list(&self.api, &self.repo, head).await?,
            Provider::Bitbucket => bitbucket::list(&self.api, &self.repo, head).await?,
        };
        // Numbers grow with creation on every forge; the APIs' own orders differ.
        prs.sort_by_key(|p| std::cmp::Reverse(p.number));
        prs.dedup_by_key(|p| p.number);
        Ok(prs)
    }

    /// Opens a pull request, then sets its labels and reviewers and, when asked,
    /// auto-merge (what fails of those is in [`PullRequest::warnings`]).
    pub async fn open(&self, spec: &PullRequestSpec) -> Result<PullRequest, ForgeError> {
        match self.provider {
            Provider::Github => github::open(&self.api, &self.repo, spec).await,
            Provider::Gitlab => gitlab::open(&self.api, &self.repo, spec).await,
            Provider::Gitea => gitea::open(&self.api, &self.repo, spec).await,
            Provider::Bitbucket => bitbucket::open(&self.api, &self.repo, spec).await,
        }
    }

    /// Updates an open pull request's title, body and labels to `spec`. Labels are
    /// added, never removed (people may have added their own); reviewers and auto-merge
    /// are set by `open` only, so nobody is asked twice.
    pub async fn update(
        &self,
        number: u64,
        spec: &PullRequestSpec,
    ) -> Result<PullRequest, ForgeError> {
        match self.provider {
            Provider::Github => github::update(&self.api, &self.repo, number, spec).await,
            Provider::Gitlab => gitlab::update(&self.api, &self.repo, number, spec).await,
            Provider::Gitea => gitea::update(&self.api, &self.repo, number, spec).await,
            Provider::Bitbucket => bitbucket::update(&self.api, &self.repo, number, spec).await,
        }
    }
}
