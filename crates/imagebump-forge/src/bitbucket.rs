//! Bitbucket Cloud, REST 2.0
//! (<https://developer.atlassian.com/cloud/bitbucket/rest/api-group-pullrequests/>).
//! Reviewers are account ids or `{uuid}`s (Bitbucket no longer accepts user names); its
//! API has neither labels nor auto-merge, so those are warnings, not errors.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{Api, Paging};
use crate::url::{pct, query, RepoPath};
use crate::{note, ForgeError, PrState, PullRequest, PullRequestSpec};

#[derive(Deserialize)]
struct Pull {
    id: u64,
    title: String,
    state: String,
    #[serde(default)]
    summary: Option<Summary>,
    #[serde(default)]
    description: Option<String>,
    source: Endpoint,
    links: Links,
    #[serde(default)]
    reviewers: Vec<Value>,
}

#[derive(Deserialize)]
struct Summary {
    raw: Option<String>,
}

#[derive(Deserialize)]
struct Endpoint {
    branch: BranchName,
}

#[derive(Deserialize)]
struct BranchName {
    name: String,
}

#[derive(Deserialize)]
struct Links {
    html: Href,
}

#[derive(Deserialize)]
struct Href {
    href: String,
}

impl Pull {
    fn into_pr(self) -> PullRequest {
        let state = match self.state.as_str() {
            "OPEN" => PrState::Open,
            "MERGED" => PrState::Merged,
            // DECLINED, SUPERSEDED
            _ => PrState::Closed,
        };
        let body = self
            .summary
            .and_then(|s| s.raw)
            .or(self.description)
            .unwrap_or_default();
        PullRequest {
            number: self.id,
            url: self.links.html.href,
            state,
            head: self.source.branch.name,
            title: self.title,
            body,
            warnings: Vec::new(),
        }
    }
}

fn repo_path(repo: &RepoPath) -> String {
    format!("/repositories/{}/{}", pct(&repo.owner()), pct(repo.name()))
}

/// A reviewer as Bitbucket names one: `{uuid}` or an account id.
fn reviewer(r: &str) -> Value {
    if r.starts_with('{') {
        json!({"uuid": r})
    } else {
        json!({"account_id": r})
    }
}

/// BBQL string literal.
fn bbql_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Pull requests whose source branch is `head`, in every state (the default is OPEN only).
pub async fn list(api: &Api, repo: &RepoPath, head: &str) -> Result<Vec<PullRequest>, ForgeError> {
    let q = format!("source.branch.name = {}", bbql_string(head));
    let url = api.url(&format!(
        "{}/pullrequests{}",
        repo_path(repo),
        query(&[
            ("q", &q),
            ("state", "OPEN"),
            ("state", "MERGED"),
            ("state", "DECLINED"),
            ("state", "SUPERSEDED"),
            ("pagelen", "50"),
        ])
    ))?;
    let pulls: Vec<Pull> = api.pages(url, Paging::BodyNext).await?;
    Ok(pulls
        .into_iter()
        .filter(|p| p.source.branch.name == head)
        .map(Pull::into_pr)
        .collect())
}

/// `POST /pullrequests` with reviewers; labels and auto-merge are warned about.
pub async fn open(
    api: &Api,
    repo: &RepoPath,
    spec: &PullRequestSpec,
) -> Result<PullRequest, ForgeError> {
    let body = json!({
        "title": spec.title,
        "description": spec.body,
        "source": {"branch": {"name": spec.head}},
        "destination": {"branch": {"name": spec.base}},
        "reviewers": spec.reviewers.iter().map(|r| reviewer(r)).collect::<Vec<_>>(),
    });
    let url = api.url(&format!("{}/pullrequests", repo_path(repo)))?;
    let pull: Pull = api.json(Method::POST, url, Some(&body)).await?;
    let mut pr = pull.into_pr();
    unsupported(&mut pr, spec);
    Ok(pr)
}

/// `PUT /pullrequests/{id}`: title and description. Bitbucket's PUT replaces the reviewer
/// list, so the current one is read first and sent back.
pub async fn update(
    api: &Api,
    repo: &RepoPath,
    number: u64,
    spec: &PullRequestSpec,
) -> Result<PullRequest, ForgeError> {
    let url = api.url(&format!("{}/pullrequests/{number}", repo_path(repo)))?;
    let current: Pull = api.json(Method::GET, url.clone(), None).await?;
    let reviewers: Vec<Value> = current
        .reviewers
        .iter()
        .filter_map(|r| {
            r.get("uuid")
                .or_else(|| r.get("account_id"))
                .and_then(Value::as_str)
                .map(reviewer)
        })
        .collect();
    let body = json!({"title": spec.title, "description": spec.body, "reviewers": reviewers});
    let pull: Pull = api.json(Method::PUT, url, Some(&body)).await?;
    let mut pr = pull.into_pr();
    if !spec.labels.is_empty() {
        note(
            &mut pr,
            "labels ignored: Bitbucket pull requests have no labels".into(),
        );
    }
    Ok(pr)
}

fn unsupported(pr: &mut PullRequest, spec: &PullRequestSpec) {
    if !spec.labels.is_empty() {
        note(
            pr,
            "labels ignored: Bitbucket pull requests have no labels".into(),
        );
    }
    if spec.auto_merge {
        note(
            pr,
            "autoMerge ignored: Bitbucket's API has no auto-merge".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declined_and_superseded_are_closed_and_the_body_is_the_raw_summary() {
        for (state, want) in [
            ("OPEN", PrState::Open),
            ("MERGED", PrState::Merged),
            ("DECLINED", PrState::Closed),
            ("SUPERSEDED", PrState::Closed),
        ] {
            let p: Pull = serde_json::from_value(json!({
                "id": 9, "title": "t", "state": state,
                "summary": {"raw": "body", "markup": "markdown"},
                "source": {"branch": {"name": "b"}},
                "links": {"html": {"href": "https://bitbucket.org/a/f/pull-requests/9"}}
            }))
            .unwrap();
            let pr = p.into_pr();
            assert_eq!((pr.state, pr.body.as_str()), (want, "body"), "{state}");
        }
    }

    #[test]
    fn reviewers_and_branch_literals_are_what_bitbucket_reads() {
        assert_eq!(reviewer("{abc}"), json!({"uuid": "{abc}"}));
        assert_eq!(
            reviewer("557058:1234"),
            json!({"account_id": "557058:1234"})
        );
        assert_eq!(bbql_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
