//! Stand-in for GitHub's REST API v3, laid out as GitHub Enterprise Server (`/api/v3`,
//! GraphQL at `/api/graphql`), following <https://docs.github.com/en/rest/pulls/pulls>,
//! <https://docs.github.com/en/rest/issues/labels>,
//! <https://docs.github.com/en/rest/pulls/review-requests>,
//! <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api> and
//! the GraphQL mutation `enablePullRequestAutoMerge`. Auto-merge is accepted on any open
//! pull request (as on a repository whose branch protection has pending checks).

use serde_json::{json, Value};

use super::RATE_LIMIT_WAIT_SECS;
use super::{
    last_page, now_epoch, page_of, take_rate_limit, PrState, Reply, Request, Shared, StandInPr,
};

const DOCS: &str = "https://docs.github.com/rest";

fn error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

fn validation(errors: Value) -> Reply {
    Reply::json(
        422,
        json!({"message": "Validation Failed", "errors": errors, "documentation_url": DOCS, "status": "422"}),
    )
}

fn render(s: &Shared, p: &StandInPr) -> Value {
    let owner = s.full_name.split('/').next().unwrap_or_default();
    json!({
        "id": 1000 + p.number,
        "node_id": format!("PR_kwDO{}", p.number),
        "number": p.number,
        "html_url": format!("{}/{}/pull/{}", s.origin, s.full_name, p.number),
        "url": format!("{}/api/v3/repos/{}/pulls/{}", s.origin, s.full_name, p.number),
        "state": if p.state == PrState::Open { "open" } else { "closed" },
        "title": p.title,
        "body": if p.body.is_empty() { Value::Null } else { json!(p.body) },
        "draft": false,
        "merged_at": if p.state == PrState::Merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "head": {"ref": p.head, "label": format!("{owner}:{}", p.head)},
        "base": {"ref": p.base, "label": format!("{owner}:{}", p.base)},
        "labels": p.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        "requested_reviewers": p.reviewers.iter().map(|r| json!({"login": r})).collect::<Vec<_>>(),
        "auto_merge": if p.auto_merge { json!({"merge_method": "merge"}) } else { Value::Null },
    })
}

pub(crate) fn handle(s: &mut Shared, req: &Request) -> Reply {
    if req.auth_token() != Some(s.token.as_str()) {
        return error(401, "Bad credentials");
    }
    if take_rate_limit(s) {
        let reset = now_epoch() + RATE_LIMIT_WAIT_SECS;
        return error(
            403,
            "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
        )
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-used", "5000")
        .header("x-ratelimit-reset", reset.to_string())
        .header("x-ratelimit-resource", "core");
    }
    if req.path == "/api/graphql" && req.method == "POST" {
        return graphql(s, req);
    }
    let Some(rest) = req.path.strip_prefix("/api/v3/repos/") else {
        return error(404, "Not Found");
    };
    let Some(rest) = rest.strip_prefix(&format!("{}/", s.full_name)) else {
        return error(404, "Not Found");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let number = |i: usize| parts.get(i).and_then(|n| n.parse::<u64>().ok());
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["pulls"]) => list(s, req),
        ("POST", ["pulls"]) => create(s, req),
        ("PATCH", ["pulls", _]) => match number(1) {
            Some(n) => edit(s, n, &req.json()),
            None => error(404, "Not Found"),
        },
        ("POST", ["issues", _, "labels"]) => {
            let Some(p) = number(1).and_then(|n| s.pr_mut(n)) else {
                return error(404, "Not Found");
            };
            let Some(labels) = req.json().get("labels").and_then(Value::as_array).cloned() else {
                return validation(
                    json!([{"resource": "Label", "field": "labels", "code": "missing_field"}]),
                );
            };
            for l in labels.iter().filter_map(Value::as_str) {
                if !p.labels.iter().any(|x| x == l) {
                    p.labels.push(l.to_string());
                }
            }
            let out: Vec<Value> = p.labels.iter().map(|l| json!({"name": l})).collect();
            Reply::json(200, json!(out))
        }
        ("POST", ["pulls", _, "requested_reviewers"]) => {
            let Some(n) = number(1) else {
                return error(404, "Not Found");
            };
            let body = req.json();
            let names: Vec<String> = ["reviewers", "team_reviewers"]
                .iter()
                .flat_map(|k| {
                    body.get(*k)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let known: Vec<String> = s.users.iter().map(|(_, n)| n.clone()).collect();
            if let Some(bad) = names.iter().find(|n| !known.contains(n)) {
                return validation(
                    json!([{"message": format!("Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {} repository.", s.full_name), "resource": "PullRequest", "field": "reviewers", "code": "custom", "value": bad}]),
                );
            }
            let Some(p) = s.pr_mut(n) else {
                return error(404, "Not Found");
            };
            for name in names {
                if !p.reviewers.contains(&name) {
                    p.reviewers.push(name);
                }
            }
            let p = p.clone();
            Reply::json(201, render(s, &p))
        }
        _ => error(404, "Not Found"),
    }
}

/// `GET /pulls?state=&head=owner:branch&per_page=&page=`, newest first, `Link` headers.
fn list(s: &Shared, req: &Request) -> Reply {
    let owner = s.full_name.split('/').next().unwrap_or_default();
    let state = req.query("state").unwrap_or("open");
    let head = req.query("head");
    let mut items: Vec<&StandInPr> = s
        .prs
        .iter()
        .filter(|p| match state {
            "all" => true,
            "closed" => p.state != PrState::Open,
            _ => p.state == PrState::Open,
        })
        .filter(|p| head.is_none_or(|h| h == format!("{owner}:{}", p.head)))
        .collect();
    items.reverse();
    let total = items.len();
    let page = req.page();
    let (items, more) = page_of(&items, page);
    let body: Vec<Value> = items.iter().map(|p| render(s, p)).collect();
    let mut reply = Reply::json(200, json!(body));
    let link = |n: usize, rel: &str| {
        format!(
            "<{}{}?{}>; rel=\"{rel}\"",
            s.origin,
            req.path,
            req.query_with_page(n)
        )
    };
    if more {
        reply = reply.header(
            "Link",
            format!(
                "{}, {}",
                link(page + 1, "next"),
                link(last_page(total), "last")
            ),
        );
    }
    reply
}

/// `POST /pulls`: 201, or 422 for a missing head, no commits, or an open duplicate.
fn create(s: &mut Shared, req: &Request) -> Reply {
    let b = req.json();
    let get = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(title), Some(head), Some(base)) = (get("title"), get("head"), get("base")) else {
        return validation(
            json!([{"resource": "PullRequest", "field": "head", "code": "missing_field"}]),
        );
    };
    let owner = s
        .full_name
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    // `head` may be `owner:branch`.
    let head = head
        .strip_prefix(&format!("{owner}:"))
        .map(str::to_string)
        .unwrap_or(head);
    if !s.branch_exists(&head) {
        return validation(
            json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}]),
        );
    }
    if !s.branch_exists(&base) {
        return validation(
            json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
        );
    }
    if s.open_duplicate(&head, &base).is_some() {
        return validation(
            json!([{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {owner}:{head}.")}]),
        );
    }
    if s.commits_between(&base, &head) == 0 {
        return validation(
            json!([{"resource": "PullRequest", "code": "custom", "message": format!("No commits between {base} and {head}")}]),
        );
    }
    let p = StandInPr {
        number: s.next_number(),
        title,
        body: get("body").unwrap_or_default(),
        head,
        base,
        state: PrState::Open,
        labels: Vec::new(),
        reviewers: Vec::new(),
        auto_merge: false,
    };
    s.prs.push(p.clone());
    Reply::json(201, render(s, &p))
}

/// `PATCH /pulls/{n}`: title, body, state.
fn edit(s: &mut Shared, n: u64, b: &Value) -> Reply {
    let Some(p) = s.pr_mut(n) else {
        return error(404, "Not Found");
    };
    if let Some(t) = b.get("title").and_then(Value::as_str) {
        p.title = t.into();
    }
    if let Some(t) = b.get("body").and_then(Value::as_str) {
        p.body = t.into();
    }
    if b.get("state").and_then(Value::as_str) == Some("closed") && p.state == PrState::Open {
        p.state = PrState::Closed;
    }
    let p = p.clone();
    Reply::json(200, render(s, &p))
}

/// `enablePullRequestAutoMerge(input: {pullRequestId})`; errors in a 200 answer, as
/// GraphQL does.
fn graphql(s: &mut Shared, req: &Request) -> Reply {
    let b = req.json();
    let query = b.get("query").and_then(Value::as_str).unwrap_or_default();
    if !query.contains("enablePullRequestAutoMerge") {
        return Reply::json(
            200,
            json!({"errors": [{"message": "the stand-in knows enablePullRequestAutoMerge only"}]}),
        );
    }
    let id = b
        .pointer("/variables/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let n = id
        .strip_prefix("PR_kwDO")
        .and_then(|n| n.parse::<u64>().ok());
    match n.and_then(|n| s.pr_mut(n)) {
        Some(p) if p.state == PrState::Open => {
            p.auto_merge = true;
            Reply::json(
                200,
                json!({"data": {"enablePullRequestAutoMerge": {"clientMutationId": null}}}),
            )
        }
        Some(_) => Reply::json(
            200,
            json!({"data": {"enablePullRequestAutoMerge": null}, "errors": [{"type": "UNPROCESSABLE", "path": ["enablePullRequestAutoMerge"], "message": "Pull request is not in the correct state to enable auto-merge"}]}),
        ),
        None => Reply::json(
            200,
            json!({"data": null, "errors": [{"type": "NOT_FOUND", "path": ["enablePullRequestAutoMerge"], "message": format!("Could not resolve to a node with the global id of '{id}'")}]}),
        ),
    }
}
