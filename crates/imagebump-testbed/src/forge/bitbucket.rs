//! Stand-in for Bitbucket Cloud's REST API 2.0 pull requests, following
//! <https://developer.atlassian.com/cloud/bitbucket/rest/api-group-pullrequests/>, its
//! pagination (<https://developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination>:
//! `values` and a `next` URL in the body), BBQL filtering (`q`, only
//! `source.branch.name = "…"` here) and the `{"type": "error", "error": {"message"}}`
//! error body. A PUT without `reviewers` clears them, as Bitbucket's does. The wording of
//! the duplicate-pull-request 400 is the stand-in's own (Bitbucket does not document it).

use serde_json::{json, Value};

use super::{page_of, take_rate_limit, PrState, Reply, Request, Shared, StandInPr};

fn error(status: u16, m: &str) -> Reply {
    Reply::json(status, json!({"type": "error", "error": {"message": m}}))
}

fn render(s: &Shared, p: &StandInPr) -> Value {
    let state = match p.state {
        PrState::Open => "OPEN",
        PrState::Merged => "MERGED",
        PrState::Closed => "DECLINED",
    };
    let reviewers: Vec<Value> = p
        .reviewers
        .iter()
        .map(|r| {
            if r.starts_with('{') {
                json!({"type": "user", "uuid": r})
            } else {
                json!({"type": "user", "account_id": r})
            }
        })
        .collect();
    json!({
        "type": "pullrequest",
        "id": p.number,
        "title": p.title,
        "description": p.body,
        "summary": {"type": "rendered", "raw": p.body, "markup": "markdown", "html": ""},
        "state": state,
        "source": {"branch": {"name": p.head}, "repository": {"full_name": s.full_name}},
        "destination": {"branch": {"name": p.base}, "repository": {"full_name": s.full_name}},
        "reviewers": reviewers,
        "links": {"html": {"href": format!("{}/{}/pull-requests/{}", s.origin, s.full_name, p.number)}},
    })
}

fn reviewers_of(b: &Value) -> Vec<String> {
    b.get("reviewers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            r.get("uuid")
                .or_else(|| r.get("account_id"))
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .collect()
}

pub(crate) fn handle(s: &mut Shared, req: &Request) -> Reply {
    if req.auth_token() != Some(s.token.as_str()) {
        return error(
            401,
            "Token is invalid, expired, or not supported for this endpoint.",
        );
    }
    if take_rate_limit(s) {
        // Bitbucket documents the 429 but no header saying how long to wait.
        return error(429, "Rate limit for this resource has been exceeded");
    }
    let prefix = format!("/2.0/repositories/{}/", s.full_name);
    let Some(rest) = req.path.strip_prefix(&prefix) else {
        return error(404, "Repository not found");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let id = parts.get(1).and_then(|n| n.parse::<u64>().ok());
    match (req.method.as_str(), parts.as_slice(), id) {
        ("GET", ["pullrequests"], _) => list(s, req),
        ("POST", ["pullrequests"], _) => create(s, req),
        ("GET", ["pullrequests", _], Some(n)) => match s.prs.iter().find(|p| p.number == n) {
            Some(p) => Reply::json(200, render(s, p)),
            None => error(404, &format!("Pull request {n} not found")),
        },
        ("PUT", ["pullrequests", _], Some(n)) => {
            let b = req.json();
            let Some(p) = s.pr_mut(n) else {
                return error(404, &format!("Pull request {n} not found"));
            };
            if let Some(t) = b.get("title").and_then(Value::as_str) {
                p.title = t.into();
            }
            if let Some(t) = b.get("description").and_then(Value::as_str) {
                p.body = t.into();
            }
            p.reviewers = reviewers_of(&b);
            let p = p.clone();
            Reply::json(200, render(s, &p))
        }
        _ => error(404, "Resource not found"),
    }
}

/// `source.branch.name = "…"` (the only BBQL the stand-in reads).
fn branch_filter(q: &str) -> Option<String> {
    let rest = q.trim().strip_prefix("source.branch.name")?.trim_start();
    let lit = rest.strip_prefix('=')?.trim();
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// `GET /pullrequests?q=&state=…&pagelen=&page=`: default state OPEN, `next` in the body.
fn list(s: &Shared, req: &Request) -> Reply {
    let branch = match req.query("q") {
        Some(q) => match branch_filter(q) {
            Some(b) => Some(b),
            None => return error(400, &format!("Invalid query: {q}")),
        },
        None => None,
    };
    let mut states = req.query_all("state");
    if states.is_empty() {
        states.push("OPEN");
    }
    let wanted = |p: &StandInPr| {
        let st = match p.state {
            PrState::Open => "OPEN",
            PrState::Merged => "MERGED",
            PrState::Closed => "DECLINED",
        };
        states.contains(&st)
    };
    let all: Vec<&StandInPr> = s
        .prs
        .iter()
        .rev()
        .filter(|p| wanted(p) && branch.as_ref().is_none_or(|b| *b == p.head))
        .collect();
    let page = req.page();
    let (items, more) = page_of(&all, page);
    let mut body = json!({
        "size": all.len(),
        "page": page,
        "pagelen": super::PAGE_SIZE,
        "values": items.iter().map(|p| render(s, p)).collect::<Vec<_>>(),
    });
    if more {
        body["next"] = json!(format!(
            "{}{}?{}",
            s.origin,
            req.path,
            req.query_with_page(page + 1)
        ));
    }
    Reply::json(200, body)
}

/// `POST /pullrequests`: 201; 400 for a missing branch or an open one with the same
/// source and destination.
fn create(s: &mut Shared, req: &Request) -> Reply {
    let b = req.json();
    let title = b.get("title").and_then(Value::as_str).map(str::to_string);
    let head = b
        .pointer("/source/branch/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(title) = title else {
        return error(400, "title: This field is required.");
    };
    let Some(head) = head else {
        return error(400, "source: This field is required.");
    };
    let base = b
        .pointer("/destination/branch/name")
        .and_then(Value::as_str)
        .unwrap_or("main")
        .to_string();
    if !s.branch_exists(&head) {
        return error(400, &format!("source: Branch not found: {head}"));
    }
    if !s.branch_exists(&base) {
        return error(400, &format!("destination: Branch not found: {base}"));
    }
    if let Some(n) = s.open_duplicate(&head, &base) {
        return error(
            400,
            &format!("There is already an open pull request from {head} to {base}: #{n}"),
        );
    }
    let p = StandInPr {
        number: s.next_number(),
        title,
        body: b
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        head,
        base,
        state: PrState::Open,
        labels: Vec::new(),
        reviewers: reviewers_of(&b),
        auto_merge: false,
    };
    s.prs.push(p.clone());
    Reply::json(201, render(s, &p))
}
