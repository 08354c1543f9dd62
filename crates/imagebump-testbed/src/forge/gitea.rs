//! Stand-in for Gitea's REST API v1 (Forgejo's is the same for these endpoints),
//! following its swagger (<https://gitea.com/api/swagger>): `repoListPullRequests`,
//! `repoCreatePullRequest`, `repoEditPullRequest` (201, as Gitea answers an edit),
//! `issueListLabels`/`issueCreateLabel`, `issueAddLabel`, `repoCreatePullReviewRequests`,
//! `repoMergePullRequest` with `merge_when_checks_succeed` (scheduled: 201, as on a
//! repository whose checks are pending), `Link` pagination with `page`/`limit`, and the
//! `{"message", "url"}` error body. Gitea has no API rate limit of its own; the 429 with
//! `Retry-After` is what a proxy in front of it answers.

use serde_json::{json, Value};

use super::RATE_LIMIT_WAIT_SECS;
use super::{last_page, page_of, take_rate_limit, PrState, Reply, Request, Shared, StandInPr};

fn error(s: &Shared, status: u16, m: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": m, "url": format!("{}/api/swagger", s.origin)}),
    )
}

fn render(s: &Shared, p: &StandInPr) -> Value {
    let labels: Vec<Value> = p
        .labels
        .iter()
        .map(|name| {
            let id = s.labels.iter().find(|(_, n)| n == name).map(|(i, _)| *i);
            json!({"id": id, "name": name, "color": "ededed"})
        })
        .collect();
    json!({
        "id": 1000 + p.number,
        "number": p.number,
        "html_url": format!("{}/{}/pulls/{}", s.origin, s.full_name, p.number),
        "state": if p.state == PrState::Open { "open" } else { "closed" },
        "merged": p.state == PrState::Merged,
        "merged_at": if p.state == PrState::Merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "title": p.title,
        "body": p.body,
        "head": {"ref": p.head, "label": p.head, "repo_id": 1},
        "base": {"ref": p.base, "label": p.base, "repo_id": 1},
        "labels": labels,
        "requested_reviewers": p.reviewers.iter().map(|r| json!({"login": r})).collect::<Vec<_>>(),
    })
}

pub(crate) fn handle(s: &mut Shared, req: &Request) -> Reply {
    if req.auth_token() != Some(s.token.as_str()) {
        return error(s, 401, "user does not exist [uid: 0, name: ]");
    }
    if take_rate_limit(s) {
        return error(s, 429, "Too Many Requests")
            .header("Retry-After", RATE_LIMIT_WAIT_SECS.to_string());
    }
    let prefix = format!("/api/v1/repos/{}/", s.full_name);
    let Some(rest) = req.path.strip_prefix(&prefix) else {
        return error(s, 404, "The target couldn't be found.");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let index = parts.get(1).and_then(|n| n.parse::<u64>().ok());
    match (req.method.as_str(), parts.as_slice(), index) {
        ("GET", ["pulls"], _) => list(s, req),
        ("POST", ["pulls"], _) => create(s, req),
        ("PATCH", ["pulls", _], Some(n)) => edit(s, n, &req.json()),
        ("GET", ["labels"], _) => {
            let all: Vec<Value> = s
                .labels
                .iter()
                .map(|(id, n)| json!({"id": id, "name": n, "color": "ededed", "description": ""}))
                .collect();
            paged(s, req, all)
        }
        ("POST", ["labels"], _) => {
            let b = req.json();
            let Some(name) = b.get("name").and_then(Value::as_str) else {
                return error(s, 422, "[Name]: Required");
            };
            let color = b.get("color").and_then(Value::as_str).unwrap_or_default();
            let hex = color.trim_start_matches('#');
            if hex.len() != 6 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return error(s, 422, "invalid color format");
            }
            if s.labels.iter().any(|(_, n)| n == name) {
                return error(s, 409, "label already exists");
            }
            let id = s.label_id(name);
            Reply::json(
                201,
                json!({"id": id, "name": name, "color": hex, "description": ""}),
            )
        }
        ("POST", ["issues", _, "labels"], Some(n)) => {
            let ids: Vec<u64> = req
                .json()
                .get("labels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect();
            let names: Vec<String> = ids
                .iter()
                .filter_map(|id| {
                    s.labels
                        .iter()
                        .find(|(i, _)| i == id)
                        .map(|(_, n)| n.clone())
                })
                .collect();
            let Some(p) = s.pr_mut(n) else {
                return error(s, 404, "The target couldn't be found.");
            };
            for name in names {
                if !p.labels.contains(&name) {
                    p.labels.push(name);
                }
            }
            let out: Vec<Value> = p.labels.iter().map(|l| json!({"name": l})).collect();
            Reply::json(200, json!(out))
        }
        ("POST", ["pulls", _, "requested_reviewers"], Some(n)) => {
            let names: Vec<String> = req
                .json()
                .get("reviewers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if let Some(bad) = names.iter().find(|n| !s.users.iter().any(|(_, u)| u == *n)) {
                return error(
                    s,
                    422,
                    &format!("user does not exist [uid: 0, name: {bad}]"),
                );
            }
            let Some(p) = s.pr_mut(n) else {
                return error(s, 404, "The target couldn't be found.");
            };
            for name in names {
                if !p.reviewers.contains(&name) {
                    p.reviewers.push(name);
                }
            }
            Reply::json(201, json!([]))
        }
        ("POST", ["pulls", _, "merge"], Some(n)) => {
            let b = req.json();
            if b.get("Do").and_then(Value::as_str).is_none() {
                return error(s, 422, "[Do]: Required");
            }
            let Some(p) = s.pr_mut(n) else {
                return error(s, 404, "The target couldn't be found.");
            };
            if p.state != PrState::Open {
                return error(s, 405, "The PR is already merged or closed");
            }
            if b.get("merge_when_checks_succeed").and_then(Value::as_bool) != Some(true) {
                return error(s, 405, "Please try again later");
            }
            p.auto_merge = true;
            Reply::empty(201)
        }
        _ => error(s, 404, "The target couldn't be found."),
    }
}

/// One page of `all` with `Link` and `X-Total-Count`.
fn paged(s: &Shared, req: &Request, all: Vec<Value>) -> Reply {
    let total = all.len();
    let page = req.page();
    let (items, more) = page_of(&all, page);
    let link = |n: usize, rel: &str| {
        format!(
            "<{}{}?{}>; rel=\"{rel}\"",
            s.origin,
            req.path,
            req.query_with_page(n)
        )
    };
    let mut reply = Reply::json(200, json!(items)).header("X-Total-Count", total.to_string());
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

/// `GET /pulls?state=&page=&limit=`: no head filter (the client filters), newest first.
fn list(s: &Shared, req: &Request) -> Reply {
    let state = req.query("state").unwrap_or("open");
    let all: Vec<Value> = s
        .prs
        .iter()
        .rev()
        .filter(|p| match state {
            "all" => true,
            "closed" => p.state != PrState::Open,
            _ => p.state == PrState::Open,
        })
        .map(|p| render(s, p))
        .collect();
    paged(s, req, all)
}

/// `POST /pulls`: 201; 404 for a missing branch, 409 for an open one with the same head
/// and base.
fn create(s: &mut Shared, req: &Request) -> Reply {
    let b = req.json();
    let get = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(head), Some(base), Some(title)) = (get("head"), get("base"), get("title")) else {
        return error(s, 422, "[Head]: Required");
    };
    if !s.branch_exists(&head) || !s.branch_exists(&base) {
        return error(s, 404, "The target couldn't be found.");
    }
    if let Some(n) = s.open_duplicate(&head, &base) {
        return error(
            s,
            409,
            &format!("pull request already exists for these targets [id: {}, issue_id: {n}, head_repo_id: 1, base_repo_id: 1, head_branch: {head}, base_branch: {base}]", 1000 + n),
        );
    }
    let ids: Vec<u64> = b
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    let labels: Vec<String> = ids
        .iter()
        .filter_map(|id| {
            s.labels
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, n)| n.clone())
        })
        .collect();
    let p = StandInPr {
        number: s.next_number(),
        title,
        body: get("body").unwrap_or_default(),
        head,
        base,
        state: PrState::Open,
        labels,
        reviewers: Vec::new(),
        auto_merge: false,
    };
    s.prs.push(p.clone());
    Reply::json(201, render(s, &p))
}

/// `PATCH /pulls/{index}`: title, body, labels (ids, replacing), state. Gitea answers 201.
fn edit(s: &mut Shared, n: u64, b: &Value) -> Reply {
    let label_names: Option<Vec<String>> = b.get("labels").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_u64)
            .filter_map(|id| {
                s.labels
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, n)| n.clone())
            })
            .collect()
    });
    let Some(p) = s.pr_mut(n) else {
        return error(s, 404, "The target couldn't be found.");
    };
    if let Some(t) = b.get("title").and_then(Value::as_str) {
        p.title = t.into();
    }
    if let Some(t) = b.get("body").and_then(Value::as_str) {
        p.body = t.into();
    }
    if let Some(l) = label_names {
        p.labels = l;
    }
    if b.get("state").and_then(Value::as_str) == Some("closed") && p.state == PrState::Open {
        p.state = PrState::Closed;
    }
    let p = p.clone();
    Reply::json(201, render(s, &p))
}
