//! Counters the registry client keeps, for the service's `/metrics` to export.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    /// A page of `GET /v2/<repo>/tags/list`.
    Tags,
    /// A `HEAD`/`GET` of a manifest, or a config blob for a platform check.
    Manifest,
    /// A bearer-token request to the registry's token realm.
    Token,
}

impl RequestKind {
    /// The label value: `tags`, `manifest` or `token`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Tags => "tags",
            RequestKind::Manifest => "manifest",
            RequestKind::Token => "token",
        }
    }
}

/// Labels of one request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    /// Registry host as configured (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// What the request was for.
    pub kind: RequestKind,
    /// HTTP status (`200`, `429`) or `timeout` / `error` when no answer came.
    pub status: String,
}

/// Live counters. Cheap to update from many tasks at once.
#[derive(Debug, Default)]
pub struct RegistryMetrics {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    rate_limit_waits: AtomicU64,
    rate_limit_wait_micros: AtomicU64,
    retries: AtomicU64,
    cache_hits: AtomicU64,
    shared_fetches: AtomicU64,
    listings: AtomicU64,
    backoff_rejections: AtomicU64,
    client_cert_refusals: Mutex<BTreeMap<String, u64>>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// HTTP requests sent, by registry, kind and status (one per attempt).
    pub requests: BTreeMap<RequestKey, u64>,
    /// Requests that had to wait for the rate limiter (token bucket or a 429 pause).
    pub rate_limit_waits: u64,
    /// Total time spent waiting for the rate limiter.
    pub rate_limit_wait: Duration,
    /// Attempts repeated after a 429, 5xx, timeout or connection error.
    pub retries: u64,
    /// Tag lookups answered from the cache without a request.
    pub cache_hits: u64,
    /// Tag lookups that joined a listing already in flight.
    pub shared_fetches: u64,
    /// Complete tag listings started (each may take several page requests).
    pub listings: u64,
    /// Tag lookups refused at once because the repository is backing off after errors.
    pub backoff_rejections: u64,
    /// Rotated client certificates that could not be used (each version once), by
    /// registry; the previous certificate stays in use.
    pub client_cert_refusals: BTreeMap<String, u64>,
}

impl MetricsSnapshot {
    /// Requests of one kind to one registry, any status.
    pub fn requests_for(&self, registry: &str, kind: RequestKind) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.registry == registry && k.kind == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests of one kind to one registry with one status (`"200"`, `"timeout"`).
    pub fn requests_with_status(&self, registry: &str, kind: RequestKind, status: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.registry == registry && k.kind == kind && k.status == status)
            .map(|(_, n)| n)
            .sum()
    }
}

impl RegistryMetrics {
    pub(crate) fn request(&self, registry: &str, kind: RequestKind, status: &str) {
        let key = RequestKey {
            registry: registry.to_string(),
            kind,
            status: status.to_string(),
        };
        *self.requests.lock().unwrap().entry(key).or_default() += 1;
    }

    pub(crate) fn rate_limit_wait(&self, d: Duration) {
        self.rate_limit_waits.fetch_add(1, Ordering::Relaxed);
        self.rate_limit_wait_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn shared_fetch(&self) {
        self.shared_fetches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn listing(&self) {
        self.listings.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn client_cert_refused(&self, registry: &str) {
        *self
            .client_cert_refusals
            .lock()
            .unwrap()
            .entry(registry.to_string())
            .or_default() += 1;
    }

    pub(crate) fn backoff_rejection(&self) {
        self.backoff_rejections.fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.lock().unwrap().clone(),
            rate_limit_waits: self.rate_limit_waits.load(Ordering::Relaxed),
            rate_limit_wait: Duration::from_micros(
                self.rate_limit_wait_micros.load(Ordering::Relaxed),
            ),
            retries: self.retries.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            shared_fetches: self.shared_fetches.load(Ordering::Relaxed),
            listings: self.listings.load(Ordering::Relaxed),
            backoff_rejections: self.backoff_rejections.load(Ordering::Relaxed),
            client_cert_refusals: self.client_cert_refusals.lock().unwrap().clone(),
        }
    }
}
