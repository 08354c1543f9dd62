//! Stand-in for GitLab's REST API v4 merge requests, following
//! <https://docs.gitlab.com/api/merge_requests/>, <https://docs.gitlab.com/api/users/>,
//! <https://docs.gitlab.com/api/rest/#pagination> (`X-Next-Page` and `Link`),
//! <https://docs.gitlab.com/api/rest/troubleshooting/#status-codes> and the rate-limit
//! answer of <https://docs.gitlab.com/security/rate_limits/> (429, `Retry-After`,
//! `RateLimit-Reset`, body `Retry later`). The project is named by its URL-encoded path.

use serde_json::{json, Value};

use super::RATE_LIMIT_WAIT_SECS;
use super::{
    last_page, now_epoch, page_of, pct, take_rate_limit, PrState, Reply, Request, Shared, StandInPr,
};

fn message(status: u16, m: impl Into<Value>) -> Reply {
    Reply::json(status, json!({"message": m.into()}))
}

fn render(s: &Shared, p: &StandInPr) -> Value {
    let reviewers: Vec<Value> = p
        .reviewers
        .iter()
        .map(|name| {
            let id = s.users.iter().find(|(_, n)| n == name).map(|(i, _)| *i);
            json!({"id": id, "username": name})
        })
        .collect();
    json!({
        "id": 1000 + p.number,
        "iid": p.number,
        "project_id": 1,
        "title": p.title,
        "description": if p.body.is_empty() { Value::Null } else { json!(p.body) },
        "state": match p.state { PrState::Open => "opened", PrState::Merged => "merged", PrState::Closed => "closed" },
        "source_branch": p.head,
        "target_branch": p.base,
        "web_url": format!("{}/{}/-/merge_requests/{}", s.origin, s.full_name, p.number),
        "labels": p.labels,
        "reviewers": reviewers,
        "merge_when_pipeline_succeeds": p.auto_merge,
        "merged_at": if p.state == PrState::Merged { json!("2026-01-01T00:00:00.000Z") } else { Value::Null },
    })
}

/// `labels` as GitLab takes it: a comma-separated string or an array.
fn label_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn handle(s: &mut Shared, req: &Request) -> Reply {
    let token = req.auth_token().or_else(|| req.header("private-token"));
    if token != Some(s.token.as_str()) {
        return message(401, "401 Unauthorized");
    }
    if take_rate_limit(s) {
        let reset = now_epoch() + RATE_LIMIT_WAIT_SECS;
        return Reply::text(429, "Retry later\n")
            .header("Retry-After", RATE_LIMIT_WAIT_SECS.to_string())
            .header("RateLimit-Limit", "600")
            .header("RateLimit-Observed", "601")
            .header("RateLimit-Remaining", "0")
            .header("RateLimit-Reset", reset.to_string());
    }
    if req.method == "GET" && req.path == "/api/v4/users" {
        let name = req.query("username").unwrap_or_default();
        let users: Vec<Value> = s
            .users
            .iter()
            .filter(|(_, n)| n == name)
            .map(|(id, n)| json!({"id": id, "username": n, "name": n, "state": "active"}))
            .collect();
        return Reply::json(200, json!(users));
    }
    let project = format!("/api/v4/projects/{}/", pct(&s.full_name));
    let Some(rest) = req.path.strip_prefix(&project) else {
        return message(404, "404 Project Not Found");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let iid = parts.get(1).and_then(|n| n.parse::<u64>().ok());
    match (req.method.as_str(), parts.as_slice(), iid) {
        ("GET", ["merge_requests"], _) => list(s, req),
        ("POST", ["merge_requests"], _) => create(s, req),
        ("PUT", ["merge_requests", _], Some(n)) => edit(s, n, &req.json()),
        ("PUT", ["merge_requests", _, "merge"], Some(n)) => {
            let b = req.json();
            let Some(p) = s.pr_mut(n) else {
                return message(404, "404 Not found");
            };
            if p.state != PrState::Open {
                return message(405, "405 Method Not Allowed");
            }
            let when = |k: &str| b.get(k).and_then(Value::as_bool) == Some(true);
            if !(when("merge_when_pipeline_succeeds") || when("auto_merge")) {
                // The stand-in has no immediate merge; tests merge through `merge(n)`.
                return message(422, "Branch cannot be merged");
            }
            p.auto_merge = true;
            let p = p.clone();
            Reply::json(200, render(s, &p))
        }
        _ => message(404, "404 Not found"),
    }
}

/// `GET /merge_requests?source_branch=&state=&per_page=&page=`, newest first.
fn list(s: &Shared, req: &Request) -> Reply {
    let state = req.query("state").unwrap_or("all");
    let branch = req.query("source_branch");
    let mut items: Vec<&StandInPr> = s
        .prs
        .iter()
        .filter(|p| match state {
            "opened" => p.state == PrState::Open,
            "merged" => p.state == PrState::Merged,
            "closed" => p.state == PrState::Closed,
            _ => true,
        })
        .filter(|p| branch.is_none_or(|b| b == p.head))
        .collect();
    items.reverse();
    let total = items.len();
    let page = req.page();
    let (items, more) = page_of(&items, page);
    let body: Vec<Value> = items.iter().map(|p| render(s, p)).collect();
    let link = |n: usize, rel: &str| {
        format!(
            "<{}{}?{}>; rel=\"{rel}\"",
            s.origin,
            req.path,
            req.query_with_page(n)
        )
    };
    let mut links = vec![link(1, "first"), link(last_page(total), "last")];
    if more {
        links.insert(0, link(page + 1, "next"));
    }
    Reply::json(200, json!(body))
        .header("X-Page", page.to_string())
        .header("X-Per-Page", super::PAGE_SIZE.to_string())
        .header(
            "X-Next-Page",
            if more {
                (page + 1).to_string()
            } else {
                String::new()
            },
        )
        .header(
            "X-Prev-Page",
            if page > 1 {
                (page - 1).to_string()
            } else {
                String::new()
            },
        )
        .header("X-Total", total.to_string())
        .header("X-Total-Pages", last_page(total).to_string())
        .header("Link", links.join(", "))
}

/// `POST /merge_requests`: 201, 409 for an open one from the same source branch.
fn create(s: &mut Shared, req: &Request) -> Reply {
    let b = req.json();
    let get = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(head), Some(base), Some(title)) =
        (get("source_branch"), get("target_branch"), get("title"))
    else {
        return message(
            400,
            "400 Bad request - source_branch, target_branch, title are missing",
        );
    };
    if !s.branch_exists(&head) {
        return message(
            422,
            json!([format!("Source branch \"{head}\" does not exist")]),
        );
    }
    if !s.branch_exists(&base) {
        return message(
            422,
            json!([format!("Target branch \"{base}\" does not exist")]),
        );
    }
    if let Some(n) = s
        .prs
        .iter()
        .find(|p| p.state == PrState::Open && p.head == head)
        .map(|p| p.number)
    {
        return message(
            409,
            json!([format!(
                "Another open merge request already exists for this source branch: !{n}"
            )]),
        );
    }
    let reviewers: Vec<String> = b
        .get("reviewer_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .filter_map(|id| s.user_name(id))
        .collect();
    let p = StandInPr {
        number: s.next_number(),
        title,
        body: get("description").unwrap_or_default(),
        head,
        base,
        state: PrState::Open,
        labels: label_list(b.get("labels")),
        reviewers,
        auto_merge: false,
    };
    s.prs.push(p.clone());
    Reply::json(201, render(s, &p))
}

/// `PUT /merge_requests/{iid}`: title, description, labels / add_labels / remove_labels,
/// state_event.
fn edit(s: &mut Shared, n: u64, b: &Value) -> Reply {
    let Some(p) = s.pr_mut(n) else {
        return message(404, "404 Not found");
    };
    if let Some(t) = b.get("title").and_then(Value::as_str) {
        p.title = t.into();
    }
    if let Some(t) = b.get("description").and_then(Value::as_str) {
        p.body = t.into();
    }
    if b.get("labels").is_some() {
        p.labels = label_list(b.get("labels"));
    }
    for l in label_list(b.get("add_labels")) {
        if !p.labels.contains(&l) {
            p.labels.push(l);
        }
    }
    let remove = label_list(b.get("remove_labels"));
    p.labels.retain(|l| !remove.contains(l));
    if b.get("state_event").and_then(Value::as_str) == Some("close") && p.state == PrState::Open {
        p.state = PrState::Closed;
    }
    let p = p.clone();
    Reply::json(200, render(s, &p))
}
