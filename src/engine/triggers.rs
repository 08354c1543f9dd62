//! Deploy triggers: after each pushed commit, tell Argo CD, Flux or any URL, so the
//! deploy starts now instead of at the next git poll.
//!
//! Never in the commit's way: the writer hands the pushed commit over and goes on; each
//! trigger's requests run on the tokio runtime, retried briefly (5xx, 429 and connection
//! errors, `Retry-After` honoured up to a cap), then counted
//! (`imagebump_deploy_triggers_total{trigger,result}`, `imagebump_deploy_trigger_seconds`)
//! and shown (`deployTriggers` in `/api/v1/status`). Payloads are the core's
//! (`imagebump_core::trigger`); secrets are resolved per request from their
//! [`LiveSecret`] and only ever put in headers or HMACs, never in a URL or a message.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde::Serialize;

use crate::config::{Config, TriggerKind};
use crate::metrics::Metrics;
use crate::secret::LiveSecret;
use imagebump_core::trigger::{self as payload, Pushed};

/// Attempts per request: the first and three retries.
const ATTEMPTS: u32 = 4;
/// The first retry's wait; each next one doubles (0.5, 1, 2 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest `Retry-After` obeyed; a receiver asking for more is retried after this.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(10);
/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One trigger's line in `/api/v1/status`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    /// Its name (the metric's `trigger` label).
    pub name: String,
    /// `argocd`, `argocd-api`, `flux` or `webhook`.
    pub kind: &'static str,
    /// Where it sends, without query or credentials.
    pub url: String,
    /// The GitOps repositories it fires for (empty: all).
    pub git: Vec<String>,
    /// When a delivery last succeeded (RFC 3339).
    pub last_delivered: Option<String>,
    /// The commit of that delivery.
    pub last_commit: Option<String>,
    /// The last delivery's error, cleared by the next success.
    pub last_error: Option<String>,
    /// When that error happened.
    pub last_error_at: Option<String>,
    /// Requests delivered, failed for good, and retries, since start.
    pub delivered: u64,
    /// Requests that failed after every attempt.
    pub failed: u64,
    /// Retries made.
    pub retried: u64,
}

/// Every trigger's status, kept across config reloads (by name).
#[derive(Debug, Default)]
pub struct TriggerBoard(Mutex<BTreeMap<String, TriggerStatus>>);

impl TriggerBoard {
    /// What `/api/v1/status` shows, by name.
    pub fn snapshot(&self) -> Vec<TriggerStatus> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut TriggerStatus)) {
        if let Some(s) = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(name)
        {
            f(s);
        }
    }

    /// Makes `list` the triggers shown: new ones added, changed ones' settings updated
    /// (their counts kept), removed ones dropped.
    fn register(&self, list: &[Trigger]) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|name, _| list.iter().any(|t| &t.name == name));
        for t in list {
            let s = m.entry(t.name.clone()).or_default();
            s.name.clone_from(&t.name);
            s.kind = t.kind.as_str();
            s.url.clone_from(&t.display_url);
            s.git.clone_from(&t.gits);
        }
    }
}

/// How one trigger sends.
enum Kind {
    /// A GitHub push event to `/api/webhook`, signed with the secret when given.
    ArgoWebhook(Option<LiveSecret>),
    /// `GET /api/v1/applications/{name}?refresh=normal` per Application.
    ArgoApi {
        token: LiveSecret,
        applications: Vec<String>,
    },
    /// The variables as JSON, `X-Signature: sha256=…` with the secret (generic-hmac).
    Flux(Option<LiveSecret>),
    /// The rendered body (or the variables as JSON) and the extra headers.
    Webhook {
        body: Option<String>,
        headers: Vec<(String, LiveSecret)>,
    },
}

impl Kind {
    fn as_str(&self) -> &'static str {
        match self {
            Kind::ArgoWebhook(_) => "argocd",
            Kind::ArgoApi { .. } => "argocd-api",
            Kind::Flux(_) => "flux",
            Kind::Webhook { .. } => "webhook",
        }
    }
}

struct Trigger {
    name: String,
    kind: Kind,
    url: String,
    display_url: String,
    gits: Vec<String>,
}

/// One HTTP request a trigger makes.
struct Request {
    /// What it is about, for messages (`web-prod` for an Application refresh).
    what: Option<String>,
    get: bool,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn hmac_hex<M: Mac + KeyInit>(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn sha256_hex(key: &[u8], body: &[u8]) -> String {
    hmac_hex::<hmac::Hmac<sha2::Sha256>>(key, body)
}

impl Trigger {
    fn fires_for(&self, git: &str) -> bool {
        self.gits.is_empty() || self.gits.iter().any(|g| g == git)
    }

    /// The requests for one pushed commit, secrets resolved now (a rotated file is used
    /// from the next commit on).
    fn requests(&self, p: &Pushed) -> Result<Vec<Request>, String> {
        let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
        let post = |body: Vec<u8>, headers: Vec<(String, String)>| Request {
            what: None,
            get: false,
            url: self.url.clone(),
            headers,
            body,
        };
        let ct = ("content-type".to_string(), "application/json".to_string());
        Ok(match &self.kind {
            Kind::ArgoWebhook(secret) => {
                let body = json(payload::github_push(p));
                let mut h = vec![
                    ct,
                    ("x-github-event".into(), "push".into()),
                    (
                        "x-github-delivery".into(),
                        format!("{:032x}", rand::random::<u128>()),
                    ),
                    ("user-agent".into(), "GitHub-Hookshot/imagebump".into()),
                ];
                if let Some(s) = secret {
                    let key = s.current();
                    let key = key.expose().as_bytes();
                    h.push((
                        "x-hub-signature-256".into(),
                        format!("sha256={}", sha256_hex(key, &body)),
                    ));
                    // Argo CD releases before go-playground/webhooks 6.3 read only the
                    // SHA-1 header.
                    h.push((
                        "x-hub-signature".into(),
                        format!("sha1={}", hmac_hex::<hmac::Hmac<sha1::Sha1>>(key, &body)),
                    ));
                }
                vec![post(body, h)]
            }
            Kind::ArgoApi {
                token,
                applications,
            } => {
                let auth = format!("Bearer {}", token.current().expose());
                let base = self.url.trim_end_matches('/');
                applications
                    .iter()
                    .map(|app| Request {
                        what: Some(app.clone()),
                        get: true,
                        url: format!("{base}{}", payload::argocd_refresh_path(app)),
                        headers: vec![("authorization".into(), auth.clone())],
                        body: Vec::new(),
                    })
                    .collect()
            }
            Kind::Flux(secret) => {
                let body = json(payload::default_body(p));
                let mut h = vec![ct];
                if let Some(s) = secret {
                    h.push((
                        "x-signature".into(),
                        format!(
                            "sha256={}",
                            sha256_hex(s.current().expose().as_bytes(), &body)
                        ),
                    ));
                }
                vec![post(body, h)]
            }
            Kind::Webhook { body, headers } => {
                let body = match body {
                    Some(t) => payload::render_template(t, p)?.into_bytes(),
                    None => json(payload::default_body(p)),
                };
                let mut h = vec![ct];
                for (k, v) in headers {
                    h.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
                    h.push((k.clone(), v.current().expose().to_string()));
                }
                vec![post(body, h)]
            }
        })
    }
}

/// The configured triggers, ready to fire; cheap to clone.
#[derive(Clone)]
pub struct Triggers {
    list: Arc<Vec<Trigger>>,
    client: reqwest::Client,
    rt: tokio::runtime::Handle,
    metrics: Arc<Metrics>,
    board: Arc<TriggerBoard>,
}

fn live(r: &crate::secret::SecretRef, what: String) -> anyhow::Result<LiveSecret> {
    use anyhow::Context;
    LiveSecret::new(r).with_context(|| format!("{what}: {}", r.describe()))
}

impl Triggers {
    /// The config's triggers, their secrets resolved now (a missing one is an error
    /// naming the entry). Shown on `board` once [`Triggers::show`] is called.
    pub fn build(
        cfg: &Config,
        rt: &tokio::runtime::Handle,
        metrics: Arc<Metrics>,
        board: Arc<TriggerBoard>,
    ) -> anyhow::Result<Triggers> {
        let mut list = Vec::new();
        for (i, t) in cfg.deploy_triggers.iter().enumerate() {
            let Some(kind) = t.kind() else {
                anyhow::bail!("deployTriggers[{i}]: give exactly one of argocd, flux or webhook");
            };
            let who = |key: &str| format!("deployTriggers[{i}].{}.{key}", kind.as_str());
            let (kind, url) = match kind {
                TriggerKind::ArgoCd(a) => match &a.token {
                    Some(token) => (
                        Kind::ArgoApi {
                            token: live(token, who("token"))?,
                            applications: a.applications.clone(),
                        },
                        &a.url,
                    ),
                    None => (
                        Kind::ArgoWebhook(
                            a.secret
                                .as_ref()
                                .map(|s| live(s, who("secret")))
                                .transpose()?,
                        ),
                        &a.url,
                    ),
                },
                TriggerKind::Flux(f) => (
                    Kind::Flux(
                        f.secret
                            .as_ref()
                            .map(|s| live(s, who("secret")))
                            .transpose()?,
                    ),
                    &f.url,
                ),
                TriggerKind::Webhook(w) => (
                    Kind::Webhook {
                        body: w.body.clone(),
                        headers: w
                            .headers
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), live(v, who(&format!("headers.{k}")))?)))
                            .collect::<anyhow::Result<_>>()?,
                    },
                    &w.url,
                ),
            };
            list.push(Trigger {
                name: t.name(i),
                kind,
                url: url.0.clone(),
                display_url: url.display(),
                gits: t.gits(),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A redirect could carry a signed request elsewhere; receivers answer directly.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("deployTriggers: HTTP client: {e}"))?;
        Ok(Triggers {
            list: Arc::new(list),
            client,
            rt: rt.clone(),
            metrics,
            board,
        })
    }

    /// Makes these the triggers `/api/v1/status` shows (counts kept by name); `None`
    /// when there are none, else the triggers to fire.
    pub fn show(self) -> Option<Triggers> {
        self.board.register(&self.list);
        (!self.list.is_empty()).then_some(self)
    }

    /// Sends `pushed` to every trigger of its repository in the background; returns at
    /// once. `at` is when the push landed (the latency histogram starts there).
    pub fn fire(&self, pushed: &Pushed, at: Instant) {
        for (i, t) in self.list.iter().enumerate() {
            if !t.fires_for(&pushed.repository) {
                continue;
            }
            let name = t.name.clone();
            let requests = match t.requests(pushed) {
                Ok(r) => r,
                Err(e) => {
                    self.failed(&name, &pushed.commit, e);
                    continue;
                }
            };
            let me = self.clone();
            let commit = pushed.commit.clone();
            self.rt.spawn(async move {
                for r in requests {
                    match me.deliver(&me.list[i], &r).await {
                        Ok(()) => me.delivered(&name, &commit, at),
                        Err(e) => me.failed(
                            &name,
                            &commit,
                            match &r.what {
                                Some(w) => format!("{w}: {e}"),
                                None => e,
                            },
                        ),
                    }
                }
            });
        }
    }

    fn count(&self, name: &str, result: &str) {
        self.metrics
            .deploy_triggers
            .get_or_create(&crate::metrics::TriggerLabels {
                trigger: name.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    fn delivered(&self, name: &str, commit: &str, at: Instant) {
        self.count(name, "delivered");
        self.metrics
            .deploy_trigger_seconds
            .observe(at.elapsed().as_secs_f64());
        self.board.update(name, |s| {
            s.delivered += 1;
            s.last_delivered = Some(super::status::now_rfc3339());
            s.last_commit = Some(commit.to_string());
            s.last_error = None;
        });
    }

    fn failed(&self, name: &str, commit: &str, error: String) {
        self.count(name, "failed");
        tracing::warn!(trigger = %name, %commit, %error, "deploy trigger failed");
        self.board.update(name, |s| {
            s.failed += 1;
            s.last_error = Some(format!("{}: {error}", &commit[..commit.len().min(12)]));
            s.last_error_at = Some(super::status::now_rfc3339());
        });
    }

    /// One request with its retries; the error in words, without secrets.
    async fn deliver(&self, t: &Trigger, r: &Request) -> Result<(), String> {
        let mut wait = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let mut req = if r.get {
                self.client.get(&r.url)
            } else {
                self.client.post(&r.url).body(r.body.clone())
            };
            for (k, v) in &r.headers {
                req = req.header(k, v);
            }
            let (error, retry_after) = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let after = retry_after(resp.headers());
                    let retry = status.is_server_error() || status.as_u16() == 429;
                    let e = format!("{} answered HTTP {}", t.display_url, status.as_u16());
                    if !retry {
                        return Err(e);
                    }
                    (e, after)
                }
                // reqwest's message can quote the URL with its query; keep the kind.
                Err(e) => (
                    format!(
                        "{}: {}",
                        t.display_url,
                        if e.is_timeout() {
                            "timed out"
                        } else if e.is_connect() {
                            "cannot connect"
                        } else {
                            "request failed"
                        }
                    ),
                    None,
                ),
            };
            if attempt >= ATTEMPTS {
                return Err(format!("{error} (after {attempt} attempts)"));
            }
            self.count(&t.name, "retried");
            self.board.update(&t.name, |s| s.retried += 1);
            tokio::time::sleep(retry_after.map_or(wait, |a| a.min(RETRY_AFTER_CAP))).await;
            wait *= 2;
            attempt += 1;
        }
    }
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
