//! Gitea and Forgejo, REST v1 (<https://gitea.com/api/swagger>, Forgejo's is the same for
//! these endpoints). The list endpoint has no head filter, so it is read to its end and
//! filtered here; labels are set by id, created when missing.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::http::{Api, Paging};
use crate::url::{pct, query, RepoPath};
use crate::{note, ForgeError, PrState, PullRequest, PullRequestSpec};

/// Gitea's default `MAX_RESPONSE_ITEMS`; a server set lower pages sooner.
const PAGE: &str = "50";
/// The colour of a label imagebump creates.
const LABEL_COLOR: &str = "#ededed";

#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    state: String,
    #[serde(default)]
    merged: bool,
    title: String,
    body: Option<String>,
    head: Branch,
    base: Branch,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    repo_id: Option<u64>,
}

impl Pull {
    fn into_pr(self) -> PullRequest {
        let state = match (self.state.as_str(), self.merged) {
            (_, true) => PrState::Merged,
            ("open", false) => PrState::Open,
            _ => PrState::Closed,
        };
        PullRequest {
            number: self.number,
            url: self.html_url,
            state,
            head: self.head.name,
            title: self.title,
            body: self.body.unwrap_or_default(),
            warnings: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct Label {
    id: u64,
    name: String,
}

fn repo_path(repo: &RepoPath) -> String {
    format!("/repos/{}/{}", pct(&repo.owner()), pct(repo.name()))
}

/// Pull requests of this repository whose head is its own branch `head`, any state.
pub async fn list(api: &Api, repo: &RepoPath, head: &str) -> Result<Vec<PullRequest>, ForgeError> {
    let url = api.url(&format!(
        "{}/pulls{}",
        repo_path(repo),
        query(&[("state", "all"), ("limit", PAGE), ("page", "1")])
    ))?;
    let pulls: Vec<Pull> = api.pages(url, Paging::Headers).await?;
    Ok(pulls
        .into_iter()
        // A fork's pull request from a branch of the same name is not ours.
        .filter(|p| {
            p.head.name == head && (p.head.repo_id.is_none() || p.head.repo_id == p.base.repo_id)
        })
        .map(Pull::into_pr)
        .collect())
}

/// `POST /pulls` with label ids, then reviewers and auto-merge.
pub async fn open(
    api: &Api,
    repo: &RepoPath,
    spec: &PullRequestSpec,
) -> Result<PullRequest, ForgeError> {
    let mut warnings = Vec::new();
    let ids = match label_ids(api, repo, &spec.labels).await {
        Ok(ids) => ids,
        Err(e) => {
            warnings.push(format!("labels not set: {e}"));
            Vec::new()
        }
    };
    let body = json!({
        "head": spec.head, "base": spec.base, "title": spec.title, "body": spec.body,
        "labels": ids,
    });
    let url = api.url(&format!("{}/pulls", repo_path(repo)))?;
    let pull: Pull = api.json(Method::POST, url, Some(&body)).await?;
    let mut pr = pull.into_pr();
    for w in warnings {
        note(&mut pr, w);
    }
    if !spec.reviewers.is_empty() {
        let url = api.url(&format!(
            "{}/pulls/{}/requested_reviewers",
            repo_path(repo),
            pr.number
        ))?;
        let body = json!({"reviewers": spec.reviewers});
        if let Err(e) = api.send(Method::POST, url, Some(&body)).await {
            note(&mut pr, format!("reviewers not requested: {e}"));
        }
    }
    if spec.auto_merge {
        let url = api.url(&format!("{}/pulls/{}/merge", repo_path(repo), pr.number))?;
        let body = json!({"Do": "merge", "merge_when_checks_succeed": true});
        if let Err(e) = api.send(Method::POST, url, Some(&body)).await {
            note(&mut pr, format!("auto-merge not enabled: {e}"));
        }
    }
    Ok(pr)
}

/// `PATCH /pulls/{index}` (title, body), then the labels added through the issue.
pub async fn update(
    api: &Api,
    repo: &RepoPath,
    number: u64,
    spec: &PullRequestSpec,
) -> Result<PullRequest, ForgeError> {
    let body = json!({"title": spec.title, "body": spec.body});
    let url = api.url(&format!("{}/pulls/{number}", repo_path(repo)))?;
    let pull: Pull = api.json(Method::PATCH, url, Some(&body)).await?;
    let mut pr = pull.into_pr();
    if !spec.labels.is_empty() {
        let added = async {
            let ids = label_ids(api, repo, &spec.labels).await?;
            let url = api.url(&format!("{}/issues/{number}/labels", repo_path(repo)))?;
            api.send(Method::POST, url, Some(&json!({"labels": ids})))
                .await
        };
        if let Err(e) = added.await {
            note(&mut pr, format!("labels not set: {e}"));
        }
    }
    Ok(pr)
}

/// The ids of `names`, creating the labels the repository lacks.
async fn label_ids(api: &Api, repo: &RepoPath, names: &[String]) -> Result<Vec<u64>, ForgeError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let url = api.url(&format!(
        "{}/labels{}",
        repo_path(repo),
        query(&[("limit", PAGE), ("page", "1")])
    ))?;
    let existing: Vec<Label> = api.pages(url, Paging::Headers).await?;
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        match existing.iter().find(|l| &l.name == name) {
            Some(l) => ids.push(l.id),
            None => {
                let url = api.url(&format!("{}/labels", repo_path(repo)))?;
                let body = json!({"name": name, "color": LABEL_COLOR});
                let l: Label = api.json(Method::POST, url, Some(&body)).await?;
                ids.push(l.id);
            }
        }
    }
    Ok(ids)
}
