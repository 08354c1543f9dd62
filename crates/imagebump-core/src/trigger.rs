//! Deploy triggers' payloads: what is sent to Argo CD, Flux or any URL after a pushed
//! commit, built from values the caller passes in (no I/O, no clock, no signing).
//!
//! Argo CD matches the Applications to refresh by the repository's *web* URL of a GitHub
//! push event (`repository.html_url`), compared with each Application's `repoURL`
//! through a pattern that ignores the scheme, the user, the port and a trailing `.git`.
//! So [`web_repo`] derives that URL from the git URL the way a forge shows it:
//! `https://host/owner/name` from `https://user:pw@host/owner/name.git`,
//! `ssh://git@host:22/owner/name.git` or `git@host:owner/name.git`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{json, Value};

use crate::plan::PlannedChange;

/// A repository as a forge's web pages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRepo {
    /// `https://host/owner/name` (no credentials, no `.git`).
    pub html_url: String,
    /// `html_url` + `.git`.
    pub clone_url: String,
    /// `owner/name`: the path.
    pub full_name: String,
    /// `name`: the last path segment.
    pub name: String,
}

/// The web form of a git URL: `https`, `http` and `file` keep their scheme and
/// (for http) port; `ssh://`, `git://` and scp-like `user@host:path` become
/// `https://host/path` (an SSH port is not the web server's). Credentials and a
/// trailing `.git` or `/` are dropped. `None` when no host or path can be read.
pub fn web_repo(git_url: &str) -> Option<WebRepo> {
    let url = git_url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        // scp-like `[user@]host:path` (a ':' before any '/').
        None => {
            let colon = url.find(':')?;
            if url[..colon].contains('/') {
                return None;
            }
            let (host, path) = (&url[..colon], &url[colon + 1..]);
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            return build("https", host, path);
        }
    };
    if scheme == "file" {
        let path = rest.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        if name.is_empty() {
            return None;
        }
        return Some(WebRepo {
            html_url: format!("file://{path}"),
            clone_url: format!("file://{path}.git"),
            full_name: path.trim_start_matches('/').to_string(),
            name,
        });
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match scheme.as_str() {
        "http" | "https" => build(&scheme, host_port, path),
        "ssh" | "git" | "git+ssh" | "ssh+git" => {
            // Drop the port (an IPv6 literal keeps its brackets and colons).
            let host = match host_port.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
                _ => host_port,
            };
            build("https", host, path)
        }
        _ => None,
    }
}

fn build(scheme: &str, host: &str, path: &str) -> Option<WebRepo> {
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if host.is_empty() || path.is_empty() {
        return None;
    }
    let html_url = format!("{scheme}://{host}/{path}");
    Some(WebRepo {
        clone_url: format!("{html_url}.git"),
        html_url,
        full_name: path.to_string(),
        name: path.rsplit('/').next().unwrap_or(path).to_string(),
    })
}

/// A pushed commit, as every trigger sees it.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The GitOps repository's name in `git:`.
    pub repository: String,
    /// Its git URL, without credentials.
    pub url: String,
    /// The branch pushed to.
    pub branch: String,
    /// The repository's base branch (`git[].branch`): Argo CD's `default_branch`, so
    /// Applications tracking `HEAD` refresh on a push to it.
    pub default_branch: String,
    /// The commit pushed.
    pub commit: String,
    /// What the branch pointed at before (`None`: the push created it).
    pub before: Option<String>,
    /// The commit's message.
    pub message: String,
    /// What changed.
    pub changes: Vec<PlannedChange>,
}

/// The all-zero id a push event gives for a branch that did not exist.
pub const ZERO_ID: &str = "0000000000000000000000000000000000000000";

impl Pushed {
    /// The files the commit changed, sorted, each once.
    pub fn files(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .changes
            .iter()
            .map(|c| c.file.to_string_lossy().replace('\\', "/"))
            .collect();
        set.into_iter().collect()
    }

    fn before_id(&self) -> &str {
        self.before.as_deref().unwrap_or(ZERO_ID)
    }
}

/// The GitHub `push` event Argo CD's `/api/webhook` reads (`X-GitHub-Event: push`):
/// `ref`, `before`/`after`, one commit whose `modified` lists the changed files (Argo CD
/// refreshes only Applications whose path they touch, with manifest-generate-paths),
/// and the repository's `html_url`, `clone_url`, `full_name` and `default_branch`.
pub fn github_push(p: &Pushed) -> Value {
    let repo = web_repo(&p.url).unwrap_or_else(|| WebRepo {
        html_url: p.url.clone(),
        clone_url: p.url.clone(),
        full_name: p.repository.clone(),
        name: p.repository.clone(),
    });
    let author = json!({"name": "imagebump", "email": "", "username": "imagebump"});
    let commit = json!({
        "id": p.commit,
        "tree_id": "",
        "distinct": true,
        "message": p.message,
        "url": format!("{}/commit/{}", repo.html_url, p.commit),
        "author": author,
        "committer": author,
        "added": [],
        "removed": [],
        "modified": p.files(),
    });
    json!({
        "ref": format!("refs/heads/{}", p.branch),
        "before": p.before_id(),
        "after": p.commit,
        "created": p.before.is_none(),
        "deleted": false,
        "forced": false,
        "compare": format!("{}/compare/{}...{}", repo.html_url, p.before_id(), p.commit),
        "commits": [commit.clone()],
        "head_commit": commit,
        "repository": {
            "name": repo.name,
            "full_name": repo.full_name,
            "html_url": repo.html_url,
            "url": repo.html_url,
            "clone_url": repo.clone_url,
            "default_branch": p.default_branch,
            "private": true,
            "owner": {"name": repo.full_name.split('/').next().unwrap_or_default(),
                      "login": repo.full_name.split('/').next().unwrap_or_default()},
        },
        "pusher": {"name": "imagebump", "email": ""},
        "sender": {"login": "imagebump"},
    })
}

/// The variables a webhook trigger's `body` template may use.
pub const WEBHOOK_VARIABLES: &[&str] = &[
    "repository",
    "url",
    "branch",
    "commit",
    "before",
    "files",
    "changes",
];

/// One change as templates see it (`changes[i]`).
#[derive(Debug, Clone, Serialize)]
struct ChangeVars {
    application: String,
    image: String,
    from: String,
    to: String,
    file: String,
}

/// The variables of a pushed commit (also the default body of webhook and Flux
/// triggers, as JSON).
#[derive(Debug, Clone, Serialize)]
struct Vars {
    repository: String,
    url: String,
    branch: String,
    commit: String,
    before: String,
    files: Vec<String>,
    changes: Vec<ChangeVars>,
}

fn vars(p: &Pushed) -> Vars {
    Vars {
        repository: p.repository.clone(),
        url: p.url.clone(),
        branch: p.branch.clone(),
        commit: p.commit.clone(),
        before: p.before_id().to_string(),
        files: p.files(),
        changes: p
            .changes
            .iter()
            .map(|c| ChangeVars {
                application: c
                    .owner
                    .as_ref()
                    .map(|o| o.application.clone())
                    .unwrap_or_default(),
                image: c.owner.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
                from: c.old.clone(),
                to: c.new.clone(),
                file: c.file.to_string_lossy().into_owned(),
            })
            .collect(),
    }
}

/// The JSON a webhook trigger without `body` and a Flux trigger send: the variables.
pub fn default_body(p: &Pushed) -> Value {
    serde_json::to_value(vars(p)).unwrap_or(Value::Null)
}

fn environment() -> minijinja::Environment<'static> {
    // An unknown attribute is an error, not an empty field in a deploy request.
    crate::template::environment()
}

/// Checks a webhook `body` template: it parses, names only [`WEBHOOK_VARIABLES`], and
/// renders a sample commit of two changes (attribute typos in loops are caught).
pub fn check_template(template: &str) -> Result<(), String> {
    crate::template::check(template, WEBHOOK_VARIABLES).map_err(|p| match p {
        crate::template::Problem::Syntax { message, .. } => {
            format!("body does not parse: {message}")
        }
        crate::template::Problem::Unknown { name } => format!(
            "body uses unknown variable `{name}`; known: {}",
            WEBHOOK_VARIABLES.join(", ")
        ),
    })?;
    render_template(template, &sample()).map(|_| ())
}

/// Renders a webhook `body` template for a pushed commit.
pub fn render_template(template: &str, p: &Pushed) -> Result<String, String> {
    environment()
        .render_str(template, vars(p))
        .map_err(|e| format!("body fails to render: {e}"))
}

fn sample() -> Pushed {
    let change = |app: &str| PlannedChange {
        owner: Some(crate::decision::ImageId::new(app, "web")),
        file: format!("apps/{app}.yaml").into(),
        line: 4,
        old: "ghcr.io/acme/web:1.0.0".into(),
        new: "ghcr.io/acme/web:1.1.0".into(),
    };
    Pushed {
        repository: "fleet".into(),
        url: "https://git.example.com/platform/fleet.git".into(),
        branch: "main".into(),
        default_branch: "main".into(),
        commit: "1".repeat(40),
        before: Some("0".repeat(40)),
        message: "chore(images): sample".into(),
        changes: vec![change("shop"), change("blog")],
    }
}

/// The Argo CD API path that refreshes Application `name` (its documented
/// `GET /api/v1/applications/{name}?refresh=normal`), the name percent-encoded.
pub fn argocd_refresh_path(name: &str) -> String {
    let mut enc = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("/api/v1/applications/{enc}?refresh=normal")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(u: &str) -> Option<String> {
        web_repo(u).map(|r| r.html_url)
    }

    #[test]
    fn web_urls_come_from_every_git_url_form() {
        let want = Some("https://git.example.com/platform/fleet".to_string());
        for u in [
            "https://git.example.com/platform/fleet.git",
            "https://user:token@git.example.com/platform/fleet.git",
            "https://git.example.com/platform/fleet/",
            "ssh://git@git.example.com/platform/fleet.git",
            "ssh://git@git.example.com:2222/platform/fleet.git",
            "git@git.example.com:platform/fleet.git",
            "git.example.com:platform/fleet",
        ] {
            assert_eq!(web(u), want, "{u}");
        }
        assert_eq!(
            web("http://127.0.0.1:8080/git/fleet.git").as_deref(),
            Some("http://127.0.0.1:8080/git/fleet")
        );
        let r = web_repo("git@github.com:acme/deploy.git").unwrap();
        assert_eq!(
            (r.full_name.as_str(), r.name.as_str(), r.clone_url.as_str()),
            (
                "acme/deploy",
                "deploy",
                "https://github.com/acme/deploy.git"
            )
        );
        assert_eq!(
            web("file:///srv/git/fleet.git").as_deref(),
            Some("file:///srv/git/fleet")
        );
        assert_eq!(web("https://host"), None);
        assert_eq!(web("nonsense"), None);
        assert_eq!(web("ftp://h/x.git"), None);
    }

    #[test]
    fn the_push_event_has_what_argo_cd_reads() {
        let mut p = sample();
        p.url = "https://git.example.com/platform/fleet.git".into();
        let v = github_push(&p);
        assert_eq!(v["ref"], "refs/heads/main");
        assert_eq!(v["before"], "0".repeat(40));
        assert_eq!(v["after"], "1".repeat(40));
        assert_eq!(
            v["repository"]["html_url"],
            "https://git.example.com/platform/fleet"
        );
        assert_eq!(
            v["repository"]["clone_url"],
            "https://git.example.com/platform/fleet.git"
        );
        assert_eq!(v["repository"]["full_name"], "platform/fleet");
        assert_eq!(v["repository"]["default_branch"], "main");
        assert_eq!(
            v["commits"][0]["modified"],
            json!(["apps/blog.yaml", "apps/shop.yaml"])
        );
        assert_eq!(v["created"], false);
        p.before = None;
        let v = github_push(&p);
        assert_eq!(
            (v["before"].as_str(), v["created"].as_bool()),
            (Some(ZERO_ID), Some(true))
        );
    }

    #[test]
    fn templates_are_checked_and_rendered() {
        assert!(check_template(r#"{"repo": "{{ repository }}"}"#).is_ok());
        let e = check_template("{{ repo }}").unwrap_err();
        assert!(e.contains("unknown variable `repo`"), "{e}");
        let e = check_template("{% for c in changes %}{{ c.imgae }}{% endfor %}").unwrap_err();
        assert!(e.contains("fails to render"), "{e}");
        assert!(check_template("{{ repository ")
            .unwrap_err()
            .contains("does not parse"));
        let out = render_template(
            r#"{"repo": "{{ repository }}", "n": {{ changes | length }}, "first": "{{ changes[0].to }}", "files": {{ files | tojson }}}"#,
            &sample(),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["repo"], "fleet");
        assert_eq!(v["n"], 2);
        assert_eq!(v["first"], "ghcr.io/acme/web:1.1.0");
        assert_eq!(v["files"], json!(["apps/blog.yaml", "apps/shop.yaml"]));
        let d = default_body(&sample());
        assert_eq!(d["changes"][1]["application"], "blog");
        assert_eq!(d["before"], "0".repeat(40));
    }

    #[test]
    fn refresh_paths_encode_the_name() {
        assert_eq!(
            argocd_refresh_path("web-prod"),
            "/api/v1/applications/web-prod?refresh=normal"
        );
        assert_eq!(
            argocd_refresh_path("a b/c"),
            "/api/v1/applications/a%20b%2Fc?refresh=normal"
        );
    }
}
