//! GitLab merge requests, REST v4 (<https://docs.gitlab.com/api/merge_requests/>). The
//! project is named by its URL-encoded path (`group%2Fsub%2Fname`); a merge request by
//! its project-level `iid`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::http::{Api, Paging};
use crate::url::{pct, query, RepoPath};
use crate::{note, ForgeError, PrState, PullRequest, PullRequestSpec};

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    web_url: String,
    state: String,
    source_branch: String,
    title: String,
    description: Option<String>,
}

impl MergeRequest {
    fn into_pr(self) -> PullRequest {
        let state = match self.state.as_str() {
            "merged" => PrState::Merged,
            "closed" => PrState::Closed,
            // `locked` is a merge under way: still open until it lands.
            _ => PrState::Open,
        };
        PullRequest {
            number: self.iid,
            url: self.web_url,
            state,
            head: self.source_branch,
            title: self.title,
            body: self.description.unwrap_or_default(),
            warnings: Vec::new(),
        }
    }
}

fn project(repo: &RepoPath) -> String {
    format!("/projects/{}", pct(&repo.full()))
}

/// Merge requests whose source branch is `head`, any state.
pub async fn list(api: &Api, repo: &RepoPath, head: &str) -> Result<Vec<PullRequest>, ForgeError> {
    let url = api.url(&format!(
        "{}/merge_requests{}",
        project(repo),
        query(&[
            ("source_branch", head),
            ("state", "all"),
            ("per_page", "100")
        ])
    ))?;
    let mrs: Vec<MergeRequest> = api.pages(url, Paging::Headers).await?;
    Ok(mrs
        .into_iter()
        .filter(|m| m.source_branch == head)
        .map(MergeRequest::into_pr)
        .collect())
}

/// `POST /merge_requests` with labels and reviewers (by user id), then auto-merge.
pub async fn open(
    api: &Api,
    repo: &RepoPath,
    spec: &PullRequestSpec,
) -> Result<PullRequest, ForgeError> {
    let mut warnings = Vec::new();
    let mut reviewer_ids = Vec::new();
    for name in &spec.reviewers {
        match user_id(api, name).await {
            Ok(Some(id)) => reviewer_ids.push(id),
            Ok(None) => warnings.push(format!("reviewer {name:?}: no such GitLab user")),
            Err(e) => warnings.push(format!("reviewer {name:?} not looked up: {e}")),
        }
    }
    let body = json!({
        "source_branch": spec.head,
        "target_branch": spec.base,
        "title": spec.title,
        "description": spec.body,
        "labels": spec.labels.join(","),
        "reviewer_ids": reviewer_ids,
    });
    let url = api.url(&format!("{}/merge_requests", project(repo)))?;
    let mr: MergeRequest = api.json(Method::POST, url, Some(&body)).await?;
    let mut pr = mr.into_pr();
    for w in warnings {
        note(&mut pr, w);
    }
    if spec.auto_merge {
        // `merge_when_pipeline_succeeds` until GitLab 17.11, `auto_merge` after; each
        // version ignores the other's.
        let body = json!({"merge_when_pipeline_succeeds": true, "auto_merge": true});
        let url = api.url(&format!(
            "{}/merge_requests/{}/merge",
            project(repo),
            pr.number
        ))?;
        if let Err(e) = api.send(Method::PUT, url, Some(&body)).await {
            note(&mut pr, format!("auto-merge not enabled: {e}"));
        }
    }
    Ok(pr)
}

/// `PUT /merge_requests/{iid}`: title, description, and the labels added
/// (`add_labels`: labels people added stay).
pub async fn update(
    api: &Api,
    repo: &RepoPath,
    number: u64,
    spec: &PullRequestSpec,
) -> Result<PullRequest, ForgeError> {
    let mut body = json!({"title": spec.title, "description": spec.body});
    if !spec.labels.is_empty() {
        body["add_labels"] = json!(spec.labels.join(","));
    }
    let url = api.url(&format!("{}/merge_requests/{number}", project(repo)))?;
    let mr: MergeRequest = api.json(Method::PUT, url, Some(&body)).await?;
    Ok(mr.into_pr())
}

/// `GET /users?username=…`: the id reviewers are named by.
async fn user_id(api: &Api, name: &str) -> Result<Option<u64>, ForgeError> {
    #[derive(Deserialize)]
    struct User {
        id: u64,
    }
    let url = api.url(&format!("/users{}", query(&[("username", name)])))?;
    let users: Vec<User> = api.json(Method::GET, url, None).await?;
    Ok(users.first().map(|u| u.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_and_locked_is_still_open() {
        for (state, want) in [
            ("opened", PrState::Open),
            ("locked", PrState::Open),
            ("merged", PrState::Merged),
            ("closed", PrState::Closed),
        ] {
            let mr: MergeRequest = serde_json::from_value(json!({
                "iid": 4, "web_url": "u", "state": state, "source_branch": "b",
                "title": "t", "description": null
            }))
            .unwrap();
            assert_eq!(mr.into_pr().state, want, "{state}");
        }
    }
}
