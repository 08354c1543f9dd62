//! The HTTP face of the service (axum): webhook receivers, health, metrics, status and
//! the status page. With `adminListen` the routes split in two ([`hooks_router`] on
//! `listen`, [`admin_router`] on `adminListen`), so the public port serves webhooks and
//! health only; without it [`router`] serves everything on `listen`.
//!
//! A webhook handler authenticates and parses with `webhook::receive` (pure), drops
//! replays (`replay.rs`), then only hints the engine; it never waits for a scan, so a burst of deliveries is answered at
//! once and coalesced behind the scenes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;

use crate::config::Config;
use crate::engine::Engine;
use crate::secret::LiveSecret;
use imagebump_webhook::{self as webhook, Action, Receiver, Scope, WebhookError, MAX_BODY};

mod answer;
mod limits;
pub mod page;
mod replay;
#[cfg(test)]
mod rotation_tests;
use answer::Answer;
pub use limits::{ServerLimits, MAX_CONNECTIONS};
use replay::Replays;

/// A configured receiver whose secret may follow its file: the webhook crate stays pure,
/// so the handler resolves the current secret and hands it a [`Receiver`] per request.
pub struct LiveReceiver {
    receiver: Receiver,
    /// `None`: the secret in `receiver` is fixed.
    secret: Option<LiveSecret>,
}

impl LiveReceiver {
    /// A receiver whose secret is read again when its file changes.
    pub fn following(receiver: Receiver, secret: LiveSecret) -> LiveReceiver {
        LiveReceiver {
            receiver,
            secret: Some(secret),
        }
    }

    /// The receiver with its secret as of now.
    fn now(&self) -> std::borrow::Cow<'_, Receiver> {
        match &self.secret {
            None => std::borrow::Cow::Borrowed(&self.receiver),
            Some(s) => {
                let mut r = self.receiver.clone();
                r.secret = s.current();
                std::borrow::Cow::Owned(r)
            }
        }
    }
}

impl From<Receiver> for LiveReceiver {
    fn from(receiver: Receiver) -> LiveReceiver {
        LiveReceiver {
            receiver,
            secret: None,
        }
    }
}

/// The receivers in effect, swapped as one set by a config reload. A delivery takes the
/// set once at its start, so it finishes on the set it started with.
pub type SharedReceivers = Arc<RwLock<Arc<Vec<LiveReceiver>>>>;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<Engine>,
    receivers: SharedReceivers,
    ready: Arc<AtomicBool>,
    replays: Arc<Replays>,
}

impl AppState {
    /// State over an engine and its receivers; `ready` turns true once git is reachable.
    pub fn new(
        engine: Arc<Engine>,
        receivers: Vec<impl Into<LiveReceiver>>,
        ready: Arc<AtomicBool>,
    ) -> AppState {
        AppState {
            engine,
            receivers: Arc::new(RwLock::new(Arc::new(
                receivers.into_iter().map(Into::into).collect(),
            ))),
            ready,
            replays: Arc::new(Replays::default()),
        }
    }

    /// The handle a config reload swaps the receivers through.
    pub fn receivers(&self) -> SharedReceivers {
        self.receivers.clone()
    }
}

/// The config's receivers with their secrets resolved and checked, then followed: after
/// a rotation, the next delivery is checked against the new secret.
pub fn receivers(cfg: &Config) -> anyhow::Result<Vec<LiveReceiver>> {
    let mut out = Vec::new();
    for r in &cfg.receivers {
        let provider = r.provider;
        let live = LiveSecret::new(&r.secret)
            .with_context(|| format!("receivers: {}: secret ({})", r.name, r.secret.describe()))?;
        let rec = Receiver {
            name: r.name.clone(),
            provider,
            secret: live.current(),
            registry: r.registry.clone(),
            header: r.header.clone(),
            repositories: r.repositories.iter().map(|n| n.0.clone()).collect(),
            jfrog_access: r.jfrog_access(),
        };
        if let Some(p) = rec.problems().into_iter().next() {
            anyhow::bail!("receivers: {p}");
        }
        out.push(LiveReceiver::following(rec, live));
    }
    Ok(out)
}

/// Every route on one listener (no `adminListen`): `/hooks/{name}[/{secret}]`,
/// `/healthz`, `/readyz`, `/metrics`, `/api/v1/status`, `/` and `/ui`.
pub fn router(state: AppState) -> Router {
    hooks_routes()
        .merge(admin_routes())
        // One byte over the limit is enough to answer 413 ourselves with a JSON reason.
        .layer(DefaultBodyLimit::max(MAX_BODY + 1))
        .with_state(state)
}

/// The public listener's routes with `adminListen`: webhooks and health only.
pub fn hooks_router(state: AppState) -> Router {
    hooks_routes()
        .merge(health_routes())
        .layer(DefaultBodyLimit::max(MAX_BODY + 1))
        .with_state(state)
}

/// The admin listener's routes: status page, metrics, status API and health.
pub fn admin_router(state: AppState) -> Router {
    admin_routes().with_state(state)
}

fn hooks_routes() -> Router<AppState> {
    Router::new()
        .route("/hooks/{name}", any(hook))
        .route("/hooks/{name}/{secret}", any(hook_with_secret))
}

fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
}

fn admin_routes() -> Router<AppState> {
    health_routes()
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/", get(status_page))
        .route("/ui", get(status_page))
}

/// Serves until `stop` turns true, then finishes in-flight requests, within the
/// default [`ServerLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    serve_with(listener, state, stop, ServerLimits::default()).await
}

/// [`serve`] within the given limits.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: tokio::sync::watch::Receiver<bool>,
    limits: ServerLimits,
) -> anyhow::Result<()> {
    limits::serve_limited(listener, router(state), stop, limits)
        .await
        .context("http server")
}

/// Serves webhooks and health on `hooks`, the rest on `admin` (`adminListen`), until
/// `stop` turns true. The connection budget of the default [`ServerLimits`] is shared,
/// not doubled: the admin listener gets a quarter (Prometheus and people), the
/// webhook listener the rest.
pub async fn serve_split(
    hooks: tokio::net::TcpListener,
    admin: tokio::net::TcpListener,
    state: AppState,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (hook_limits, admin_limits) = ServerLimits::default().split();
    let (a, b) = tokio::join!(
        limits::serve_limited(
            hooks,
            hooks_router(state.clone()),
            stop.clone(),
            hook_limits
        ),
        limits::serve_limited(admin, admin_router(state), stop, admin_limits),
    );
    a.context("http server (listen)")?;
    b.context("http server (adminListen)")
}

/// `GET /` and `GET /ui`: the status page.
async fn status_page(State(st): State<AppState>) -> Response {
    let snap = page::gather::snapshot(&st.engine, st.ready.load(Ordering::SeqCst));
    match page::render(&snap) {
        Ok(html) => (
            [
                (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // Never cached: it is a view of now.
                (axum::http::header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "status page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the status page failed to render: {e}\n"),
            )
                .into_response()
        }
    }
}

async fn hook(
    State(st): State<AppState>,
    Path(name): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    deliver(st, name, None, method, headers, body)
}

async fn hook_with_secret(
    State(st): State<AppState>,
    Path((name, secret)): Path<(String, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    deliver(st, name, Some(secret), method, headers, body)
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

fn deliver(
    st: AppState,
    name: String,
    path_secret: Option<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let arrived = Instant::now();
    let m = &st.engine.metrics;
    let set = st
        .receivers
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(live) = set.iter().find(|r| r.receiver.name == name) else {
        m.webhook("unknown", "not_found");
        return error(StatusCode::NOT_FOUND, format!("no receiver named {name:?}"));
    };
    if method != axum::http::Method::POST {
        m.webhook(&name, "method_not_allowed");
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        r.headers_mut()
            .insert("allow", axum::http::HeaderValue::from_static("POST"));
        return r;
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            m.webhook(&name, "too_large");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("payload is larger than the limit of {MAX_BODY} bytes"),
            );
        }
        Err(e) => {
            m.webhook(&name, "malformed");
            return error(StatusCode::BAD_REQUEST, e.body_text());
        }
    };
    let receiver = live.now();
    let receiver = receiver.as_ref();
    let delivery = match webhook::receive(receiver, &headers, path_secret.as_deref(), &body) {
        Ok(d) => d,
        Err(e) => {
            let result = match e {
                WebhookError::Unauthorized(_) => "unauthorized",
                WebhookError::Malformed(_) => "malformed",
                WebhookError::TooLarge(_) => "too_large",
            };
            m.webhook(&name, result);
            // Never echo why a signature failed in detail to the sender beyond one line.
            tracing::info!(receiver = %name, result, error = %e, "webhook refused");
            return (answer::status(&e), Json(answer::error_body(&e))).into_response();
        }
    };
    let events = delivery.events;
    if let Some(id) = &delivery.id {
        // Only authentic, well-formed deliveries are remembered, so a forged or broken
        // request can never make a real one look like a replay.
        if !st.replays.first_time(&name, id, arrived) {
            m.webhook(&name, "replayed");
            tracing::info!(receiver = %name, delivery = %id.0, "webhook replay ignored");
            return (
                StatusCode::ACCEPTED,
                Json(Answer {
                    events,
                    scheduled: 0,
                    replayed: true,
                }),
            )
                .into_response();
        }
    }
    let mut scheduled = BTreeSet::new();
    match delivery.scope {
        Scope::Events => {
            for e in events.iter().filter(|e| e.action == Action::Push) {
                let repo = e.name();
                if st.engine.hint(&repo, Some(arrived), e.tag.as_deref()) {
                    scheduled.insert(repo);
                }
            }
        }
        Scope::Receiver if receiver.repositories.is_empty() => {
            scheduled.extend(st.engine.hint_all(Some(arrived)));
        }
        Scope::Receiver => {
            scheduled.extend(st.engine.hint_each(&receiver.repositories, Some(arrived)));
        }
    }
    m.webhook(&name, "accepted");
    tracing::debug!(receiver = %name, events = events.len(), scheduled = scheduled.len(), "webhook accepted");
    (
        StatusCode::ACCEPTED,
        Json(Answer {
            events,
            scheduled: scheduled.len(),
            replayed: false,
        }),
    )
        .into_response()
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "git repository not reachable yet\n",
        )
            .into_response()
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    let mut text = st.engine.metrics.encode();
    text.push_str(&registry_metrics(&st.engine.registry_metrics()));
    text.push_str(&crate::secret::read_errors_metrics());
    text.push_str(&image_states_metrics(&st.engine.status.state_counts()));
    crate::image_metrics::render_into(&mut text, &st.engine.status.series());
    text.push_str(&crate::image_metrics::build_info());
    text.push_str("# EOF\n");
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// How many images are in each state, in OpenMetrics text.
fn image_states_metrics(counts: &std::collections::BTreeMap<&'static str, usize>) -> String {
    let mut out = String::from(
        "# HELP imagebump_images Watched images by the state of their last decision.\n# TYPE imagebump_images gauge\n",
    );
    for (state, n) in counts {
        out.push_str(&format!("imagebump_images{{state=\"{state}\"}} {n}\n"));
    }
    out
}

/// The registry client's counters in OpenMetrics text.
fn registry_metrics(s: &imagebump_registry::MetricsSnapshot) -> String {
    let mut out = String::from(
        "# HELP imagebump_registry_requests Registry requests by registry, kind and status.\n# TYPE imagebump_registry_requests counter\n",
    );
    for (k, n) in &s.requests {
        out.push_str(&format!(
            "imagebump_registry_requests_total{{registry=\"{}\",kind=\"{}\",status=\"{}\"}} {n}\n",
            crate::image_metrics::escape_label(&k.registry),
            k.kind.as_str(),
            k.status
        ));
    }
    out.push_str("# HELP imagebump_registry_rate_limit_waits Requests that waited for the rate limit.\n# TYPE imagebump_registry_rate_limit_waits counter\n");
    out.push_str(&format!(
        "imagebump_registry_rate_limit_waits_total {}\n",
        s.rate_limit_waits
    ));
    out.push_str("# HELP imagebump_registry_client_cert_refused Rotated client certificates that could not be used (the previous one is kept), by registry.\n# TYPE imagebump_registry_client_cert_refused counter\n");
    for (registry, n) in &s.client_cert_refusals {
        out.push_str(&format!(
            "imagebump_registry_client_cert_refused_total{{registry=\"{registry}\"}} {n}\n"
        ));
    }
    out
}

async fn status(State(st): State<AppState>) -> Response {
    let images = st.engine.status.snapshot();
    Json(json!({
        "ready": st.ready.load(Ordering::SeqCst),
        "config": st.engine.config.status(),
        "policies": st.engine.live.status(),
        "policySelector": st.engine.selector(),
        "gits": st.engine.git_status.snapshot(),
        "deployTriggers": st.engine.trigger_status.snapshot(),
        "images": images,
    }))
    .into_response()
}

#[cfg(test)]
mod state_metrics_tests {
    #[test]
    fn renders_one_gauge_line_per_state() {
        let counts = [("no_match", 2), ("updated", 1)].into_iter().collect();
        let text = super::image_states_metrics(&counts);
        assert!(text.contains("# TYPE imagebump_images gauge\n"), "{text}");
        assert!(
            text.contains("imagebump_images{state=\"no_match\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("imagebump_images{state=\"updated\"} 1\n"),
            "{text}"
        );
    }
}
