//! `write: {pullRequest: …}`: the head branch plus one open pull request kept in sync
//! with it, on the forge the repository lives on (`imagebump-forge`).
//!
//! Everything is found again from the forge and from git at every write, so there is
//! never a duplicate pull request, also after a restart: the pull requests whose head is
//! the branch say whether one is open (update it), merged (the next change opens a new
//! one on the rebuilt branch) or closed without merging (its proposed versions, read from
//! its body, are skipped, and the branch starts again on the base branch's tip).

use std::collections::BTreeMap;
use std::sync::Arc;

use imagebump_core::decision::ImageId;
use imagebump_core::pull;
use imagebump_forge::{Forge, ForgeConfig, ForgeError, PrState, PullRequest, PullRequestSpec};

use crate::config::{ForgeProvider, GitSection, GroupBy, PullRequestSection};
use crate::secret::{LiveSecret, Secret};

/// The API token, read again when its file changes.
struct Token(LiveSecret);

impl imagebump_forge::TokenSource for Token {
    fn token(&self) -> Secret {
        self.0.current()
    }
}

/// A repository's pull requests.
pub struct PullRequests {
    forge: Forge,
    cfg: PullRequestSection,
    base: String,
    rt: tokio::runtime::Handle,
}

/// What the forge says about one head branch before a write.
#[derive(Debug, Default)]
pub struct HeadState {
    /// The open pull request, if any.
    pub open: Option<PullRequest>,
    /// The newest pull request was closed without merging: start the branch again.
    pub fresh: bool,
    /// Versions declined (proposed by a pull request closed without merging), with
    /// that pull request's URL.
    pub declined: BTreeMap<ImageId, Vec<(String, String)>>,
}

impl PullRequests {
    /// The client of repository `g`'s forge; its token is resolved now (a missing one
    /// fails start-up) and followed. `label` is how messages name `g`'s keys
    /// ([`GitRepos::label`](crate::config::GitRepos::label): `git` or `git[NAME]`).
    pub fn new(
        g: &GitSection,
        label: &str,
        cfg: &PullRequestSection,
        rt: tokio::runtime::Handle,
    ) -> anyhow::Result<PullRequests> {
        use anyhow::Context;
        let token = LiveSecret::new(&cfg.token).with_context(|| {
            format!("{label}.write.pullRequest.token: {}", cfg.token.describe())
        })?;
        let forge = Forge::new(ForgeConfig {
            provider: match cfg.provider {
                ForgeProvider::Github => imagebump_forge::Provider::Github,
                ForgeProvider::Gitlab => imagebump_forge::Provider::Gitlab,
                ForgeProvider::Gitea => imagebump_forge::Provider::Gitea,
                ForgeProvider::Bitbucket => imagebump_forge::Provider::Bitbucket,
            },
            api_url: cfg.api_url.clone(),
            repo_url: g.url.0.clone(),
            token: Arc::new(Token(token)),
            ca_file: None,
        })
        .with_context(|| format!("{label}.write.pullRequest"))?;
        Ok(PullRequests {
            forge,
            cfg: cfg.clone(),
            base: g.branch.clone(),
            rt,
        })
    }

    /// The head branch an image's changes go to (`groupBy`).
    pub fn head(&self, id: &ImageId) -> String {
        match self.cfg.group_by {
            GroupBy::Repository => self.cfg.branch.clone(),
            GroupBy::Application => format!("{}/{}", self.cfg.branch, id.application),
            GroupBy::Image => format!("{}/{}/{}", self.cfg.branch, id.application, id.name),
        }
    }

    /// What the forge holds for `head`.
    pub fn state(&self, head: &str) -> Result<HeadState, ForgeError> {
        let mut prs = self.rt.block_on(self.forge.pull_requests(head))?;
        prs.sort_by_key(|p| std::cmp::Reverse(p.number));
        let mut st = HeadState {
            open: prs.iter().find(|p| p.state == PrState::Open).cloned(),
            ..HeadState::default()
        };
        st.fresh = st.open.is_none() && prs.first().is_some_and(|p| p.state == PrState::Closed);
        for p in prs.iter().filter(|p| p.state == PrState::Closed) {
            for (id, tag) in pull::proposed(&p.body) {
                st.declined
                    .entry(id)
                    .or_default()
                    .push((tag, p.url.clone()));
            }
        }
        Ok(st)
    }

    /// After a write to `head`: opens the pull request over the commits `messages`
    /// (oldest first), or updates the open one when its title or body changed. `None`
    /// when the branch proposes nothing.
    pub fn publish(
        &self,
        head: &str,
        state: &HeadState,
        messages: &[String],
    ) -> Result<Option<PullRequest>, ForgeError> {
        let changes = pull::branch_changes(messages);
        if changes.is_empty() {
            return Ok(state.open.clone());
        }
        let spec = PullRequestSpec {
            head: head.to_string(),
            base: self.base.clone(),
            title: pull::title(self.cfg.title.as_deref(), &changes),
            body: pull::body(self.cfg.body.as_deref(), &changes),
            labels: self.cfg.labels.clone(),
            reviewers: self.cfg.reviewers.clone(),
            auto_merge: self.cfg.auto_merge,
        };
        let pr = match &state.open {
            Some(open) if open.title == spec.title && open.body == spec.body => open.clone(),
            Some(open) => self.rt.block_on(self.forge.update(open.number, &spec))?,
            None => self.rt.block_on(self.forge.open(&spec))?,
        };
        Ok(Some(pr))
    }
}
