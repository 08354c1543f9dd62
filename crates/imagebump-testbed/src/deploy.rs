//! Stand-ins for the deploy tools imagebump triggers (neither runs here): Argo CD's
//! `/api/webhook` and Application refresh API, and a Flux notification-controller
//! Receiver. Each follows the tool's published behaviour closely enough to fail a wrong
//! request the way the tool would, and records what it would have refreshed.
//!
//! The HMACs are computed here by hand on `sha2` (RFC 2104), independently of the
//! `hmac` crate imagebump signs with.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::standin::{Req, Resp, StandInServer};

/// HMAC-SHA256 (RFC 2104), hex.
pub fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    let mut k = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

/// An Argo CD Application as the webhook handler sees it.
#[derive(Debug, Clone)]
pub struct Application {
    /// `metadata.name`.
    pub name: String,
    /// `spec.source.repoURL`.
    pub repo_url: String,
    /// `spec.source.targetRevision` (`HEAD` or a branch).
    pub target_revision: String,
}

/// Argo CD's `GetWebURLRegex` match, by hand: `repo_url` names the repository of
/// `web_url` whatever its scheme, user, port or `.git` suffix (case-insensitive).
pub fn argo_repo_matches(web_url: &str, repo_url: &str) -> bool {
    let web = web_url.to_ascii_lowercase();
    let Some(rest) = web
        .strip_prefix("https://")
        .or_else(|| web.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.split(':').next().unwrap_or_default();
    let repo = repo_url.to_ascii_lowercase();
    let user = |s: &str| -> Option<usize> {
        let at = s.find('@')?;
        s[..at]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            .then_some(at + 1)
    };
    let after_scheme = if let Some(r) = repo
        .strip_prefix("https://")
        .or_else(|| repo.strip_prefix("http://"))
    {
        r.to_string()
    } else if let Some(r) = repo.strip_prefix("ssh://") {
        user(r).map_or(r, |at| &r[at..]).to_string()
    } else if let Some(at) = user(&repo) {
        repo[at..].to_string()
    } else {
        return false;
    };
    let Some(r) = after_scheme.strip_prefix(host) else {
        return false;
    };
    let r = match r.strip_prefix(':') {
        Some(p) if p.starts_with(|c: char| c.is_ascii_digit()) => {
            p.trim_start_matches(|c: char| c.is_ascii_digit())
        }
        _ => r,
    };
    let Some(r) = r.strip_prefix(['/', ':']) else {
        return false;
    };
    r == path || r.strip_suffix(".git") == Some(path)
}

/// What one webhook delivery did.
#[derive(Debug, Clone)]
pub struct ArgoDelivery {
    /// The push event.
    pub payload: Value,
    /// The Applications it refreshed.
    pub refreshed: Vec<String>,
}

/// A stand-in for Argo CD's API server: `POST /api/webhook` (GitHub push events, the
/// `X-Hub-Signature-256` HMAC checked when a secret is set, 400 otherwise, as Argo CD's
/// handler answers a payload it cannot verify) and `GET /api/v1/applications/{name}`
/// with `refresh=normal` and a bearer token.
pub struct ArgoCdStandIn {
    /// The server (its requests are recorded).
    pub server: StandInServer,
    deliveries: Arc<Mutex<Vec<ArgoDelivery>>>,
    refreshes: Arc<Mutex<Vec<String>>>,
}

impl ArgoCdStandIn {
    /// Serves these Applications with webhook secret `secret` and API token `token`.
    pub fn start(secret: Option<&str>, token: &str, apps: Vec<Application>) -> ArgoCdStandIn {
        let deliveries: Arc<Mutex<Vec<ArgoDelivery>>> = Arc::default();
        let refreshes: Arc<Mutex<Vec<String>>> = Arc::default();
        let (d, r) = (deliveries.clone(), refreshes.clone());
        let secret = secret.map(str::to_string);
        let token = token.to_string();
        let server = StandInServer::start(move |req: &Req| {
            if req.method == "POST" && req.path() == "/api/webhook" {
                return webhook(req, secret.as_deref(), &apps, &d);
            }
            if let Some(name) = req.path().strip_prefix("/api/v1/applications/") {
                if req.header("authorization") != Some(&format!("Bearer {token}")) {
                    return Resp::json(401, r#"{"error":"invalid session","code":16}"#);
                }
                if req.method != "GET" || req.query("refresh").as_deref() != Some("normal") {
                    return Resp::json(400, r#"{"error":"expected GET ?refresh=normal"}"#);
                }
                if !apps.iter().any(|a| a.name == name) {
                    return Resp::json(404, r#"{"error":"not found","code":5}"#);
                }
                r.lock().unwrap().push(name.to_string());
                return Resp::json(200, format!(r#"{{"metadata":{{"name":"{name}"}}}}"#));
            }
            Resp::status(404)
        });
        ArgoCdStandIn {
            server,
            deliveries,
            refreshes,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.host())
    }

    /// Webhook deliveries accepted so far.
    pub fn deliveries(&self) -> Vec<ArgoDelivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Applications refreshed through the API so far.
    pub fn refreshes(&self) -> Vec<String> {
        self.refreshes.lock().unwrap().clone()
    }
}

fn webhook(
    req: &Req,
    secret: Option<&str>,
    apps: &[Application],
    out: &Mutex<Vec<ArgoDelivery>>,
) -> Resp {
    if req.header("x-github-event") != Some("push") {
        return Resp::status(400);
    }
    if let Some(s) = secret {
        let want = format!("sha256={}", hmac_sha256_hex(s.as_bytes(), &req.body));
        if req.header("x-hub-signature-256") != Some(want.as_str()) {
            return Resp::json(400, r#"{"error":"HMAC verification failed"}"#);
        }
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&req.body) else {
        return Resp::status(400);
    };
    let revision = payload["ref"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("refs/heads/")
        .to_string();
    let touched_head = payload["repository"]["default_branch"].as_str() == Some(&revision);
    let web_url = payload["repository"]["html_url"]
        .as_str()
        .unwrap_or_default();
    let refreshed = apps
        .iter()
        .filter(|a| argo_repo_matches(web_url, &a.repo_url))
        .filter(|a| {
            a.target_revision == revision
                || ((a.target_revision == "HEAD" || a.target_revision.is_empty()) && touched_head)
        })
        .map(|a| a.name.clone())
        .collect();
    out.lock()
        .unwrap()
        .push(ArgoDelivery { payload, refreshed });
    Resp::status(200)
}

/// A stand-in for a Flux notification-controller Receiver at `/hook/<digest>`:
/// `generic` accepts any POST; `generic-hmac` (a token given) checks `X-Signature`
/// (`sha256=<hex HMAC of the body>`) and answers 400 when it does not verify, as the
/// controller does. Records each reconcile it would request.
pub struct FluxReceiverStandIn {
    /// The server.
    pub server: StandInServer,
    reconciles: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl FluxReceiverStandIn {
    /// A Receiver with `token` (`generic-hmac`) or none (`generic`).
    pub fn start(token: Option<&str>) -> FluxReceiverStandIn {
        let reconciles: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let r = reconciles.clone();
        let token = token.map(str::to_string);
        let server = StandInServer::start(move |req: &Req| {
            if req.method != "POST" || !req.path().starts_with("/hook/") {
                return Resp::status(404);
            }
            if let Some(t) = &token {
                let want = format!("sha256={}", hmac_sha256_hex(t.as_bytes(), &req.body));
                if req.header("x-signature") != Some(want.as_str()) {
                    return Resp::status(400);
                }
            }
            r.lock().unwrap().push(req.body.clone());
            Resp::status(200)
        });
        FluxReceiverStandIn { server, reconciles }
    }

    /// The Receiver's URL.
    pub fn url(&self) -> String {
        format!("http://{}/hook/0123abcd", self.server.host())
    }

    /// The bodies of the deliveries that verified.
    pub fn reconciles(&self) -> Vec<Vec<u8>> {
        self.reconciles.lock().unwrap().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn repo_urls_match_like_argo_cd() {
        let w = "https://git.example.com/platform/fleet";
        for r in [
            "https://git.example.com/platform/fleet.git",
            "https://git.example.com/platform/fleet",
            "git@git.example.com:platform/fleet.git",
            "ssh://git@git.example.com/platform/fleet.git",
            "ssh://git@git.example.com:2222/platform/fleet.git",
            "HTTPS://GIT.example.com/Platform/Fleet.git",
        ] {
            assert!(argo_repo_matches(w, r), "{r}");
        }
        for r in [
            "https://git.example.com/platform/fleet-dev.git",
            "https://other.example.com/platform/fleet.git",
            "https://git.example.com/platform/fleet.gitx",
        ] {
            assert!(!argo_repo_matches(w, r), "{r}");
        }
        assert!(argo_repo_matches(
            "http://127.0.0.1:8080/fleet",
            "http://127.0.0.1:8080/fleet.git"
        ));
    }
}
