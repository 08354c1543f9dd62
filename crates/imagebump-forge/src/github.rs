//! GitHub and GitHub Enterprise Server, REST v3
//! (<https://docs.github.com/en/rest/pulls/pulls>); auto-merge through the GraphQL
//! mutation `enablePullRequestAutoMerge`, the only API GitHub offers for it.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{Api, Paging};
use crate::url::{pct, query, RepoPath};
use crate::{note, ForgeError, PrState, PullRequest, PullRequestSpec};

#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    state: String,
    merged_at: Option<String>,
    title: String,
    body: Option<String>,
    head: Head,
    node_id: Option<String>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "ref")]
    name: String,
}

impl Pull {
    fn into_pr(self) -> PullRequest {
        let state = match (self.state.as_str(), &self.merged_at) {
            (_, Some(_)) => PrState::Merged,
            ("open", None) => PrState::Open,
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

fn repo_path(repo: &RepoPath) -> String {
    format!("/repos/{}/{}", pct(&repo.owner()), pct(repo.name()))
}

/// Pull requests from `owner:head` into this repository, any state.
pub async fn list(api: &Api, repo: &RepoPath, head: &str) -> Result<Vec<PullRequest>, ForgeError> {
    let filter = format!("{}:{head}", repo.owner());
    let url = api.url(&format!(
        "{}/pulls{}",
        repo_path(repo),
        query(&[("head", &filter), ("state", "all"), ("per_page", "100")])
    ))?;
    let pulls: Vec<Pull> = api.pages(url, Paging::Headers).await?;
    Ok(pulls
        .into_iter()
        .filter(|p| p.head.name == head)
        .map(Pull::into_pr)
        .collect())
}

/// `POST /pulls`, then labels, reviewers and auto-merge; what fails after the pull
/// request exists is a warning on it.
pub async fn open(
    api: &Api,
    repo: &RepoPath,
    spec: &PullRequestSpec,
) -> Result<PullRequest, ForgeError> {
    let body =
        json!({"title": spec.title, "head": spec.head, "base": spec.base, "body": spec.body});
    let url = api.url(&format!("{}/pulls", repo_path(repo)))?;
    let pull: Pull = api.json(Method::POST, url, Some(&body)).await?;
    let node_id = pull.node_id.clone();
    let mut pr = pull.into_pr();
    if let Err(e) = add_labels(api, repo, pr.number, &spec.labels).await {
        note(&mut pr, format!("labels not set: {e}"));
    }
    if !spec.reviewers.is_empty() {
        // `org/team` names a team (its slug after the slash), anything else a user.
        let (teams, users): (Vec<&String>, Vec<&String>) =
            spec.reviewers.iter().partition(|r| r.contains('/'));
        let teams: Vec<&str> = teams
            .iter()
            .filter_map(|t| t.rsplit_once('/').map(|(_, slug)| slug))
            .collect();
        let body = json!({"reviewers": users, "team_reviewers": teams});
        let url = api.url(&format!(
            "{}/pulls/{}/requested_reviewers",
            repo_path(repo),
            pr.number
        ))?;
        if let Err(e) = api.send(Method::POST, url, Some(&body)).await {
            note(&mut pr, format!("reviewers not requested: {e}"));
        }
    }
    if spec.auto_merge {
        if let Err(e) = auto_merge(api, node_id.as_deref()).await {
            note(&mut pr, format!("auto-merge not enabled: {e}"));
        }
    }
    Ok(pr)
}

/// `PATCH /pulls/{n}` (title, body), then the labels added.
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
    if let Err(e) = add_labels(api, repo, number, &spec.labels).await {
        note(&mut pr, format!("labels not set: {e}"));
    }
    Ok(pr)
}

/// `POST /issues/{n}/labels` adds (and creates missing labels); labels people added stay.
async fn add_labels(
    api: &Api,
    repo: &RepoPath,
    number: u64,
    labels: &[String],
) -> Result<(), ForgeError> {
    if labels.is_empty() {
        return Ok(());
    }
    let url = api.url(&format!("{}/issues/{number}/labels", repo_path(repo)))?;
    api.send(Method::POST, url, Some(&json!({"labels": labels})))
        .await
        .map(drop)
}

/// GraphQL lives beside REST: `api.github.com/graphql`, on GHES `HOST/api/graphql`.
fn graphql_path(api: &Api) -> String {
    match api.base_path().strip_suffix("/v3") {
        Some(prefix) => format!("{prefix}/graphql"),
        None => format!("{}/graphql", api.base_path()),
    }
}

async fn auto_merge(api: &Api, node_id: Option<&str>) -> Result<(), ForgeError> {
    let Some(id) = node_id else {
        return Err(ForgeError::Transport(
            "the pull request's answer has no node_id for GraphQL".into(),
            api.provider,
        ));
    };
    let body = json!({
        "query": "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) { clientMutationId } }",
        "variables": {"id": id},
    });
    let url = api.origin_url(&graphql_path(api))?;
    let path = url.path().to_string();
    let answer: Value = api.json(Method::POST, url, Some(&body)).await?;
    // GraphQL reports errors in a 200 answer.
    if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
        let msgs: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect();
        return Err(ForgeError::Http {
            provider: api.provider,
            method: "POST".into(),
            path,
            status: 200,
            message: msgs.join("; "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Provider, TokenSource};
    use imagebump_core::secret::Secret;

    fn api(base: &str) -> Api {
        let token: Arc<dyn TokenSource> = Arc::new(Secret::new("t"));
        Api::new(Provider::Github, base, token, None).unwrap()
    }

    #[test]
    fn graphql_sits_beside_rest_on_github_and_enterprise_server() {
        assert_eq!(graphql_path(&api("https://api.github.com")), "/graphql");
        assert_eq!(
            graphql_path(&api("https://ghe.example.com/api/v3/")),
            "/api/graphql"
        );
    }

    #[test]
    fn merged_is_merged_at_not_the_state() {
        let pull = |state: &str, merged_at: Value| -> PullRequest {
            serde_json::from_value::<Pull>(json!({
                "number": 3, "html_url": "u", "state": state, "merged_at": merged_at,
                "title": "t", "body": null, "head": {"ref": "b"}
            }))
            .unwrap()
            .into_pr()
        };
        assert_eq!(
            pull("closed", json!("2026-01-01T00:00:00Z")).state,
            PrState::Merged
        );
        assert_eq!(pull("closed", Value::Null).state, PrState::Closed);
        assert_eq!(pull("open", Value::Null).state, PrState::Open);
        assert_eq!(pull("open", Value::Null).body, "");
    }
}
