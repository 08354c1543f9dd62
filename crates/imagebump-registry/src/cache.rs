//! The tag cache: one listing serves every caller.
//!
//! Per (registry, repository, credential identity) the cache holds the last tag list
//! and at most two listings: the one in flight (`current`) and one queued behind it
//! (`next`). A cached lookup joins whichever exists. A *fresh* lookup must see tags
//! pushed before it was made, so it cannot join a listing that started earlier: it
//! joins (or creates) the queued one, which starts when the current one ends. A burst
//! of N fresh lookups therefore costs at most two listings, never N.
//!
//! Listings run in their own task, so a caller that gives up does not cancel the
//! listing for the others. After a failed listing the repository backs off
//! (exponentially, with jitter): cached lookups get the last error at once without a
//! request, so a broken repository does not spend the registry's request budget.
//! Fresh lookups (a webhook hint) bypass both the TTL and the backoff.
//!
//! A caller may pass a `max_age` shorter than the TTL (a poller passes its interval):
//! neither a cached list nor a backoff older than that answers it, so a 60 s TTL
//! cannot floor a 3 s poll. The exception is a registry's own `429` wait, which is
//! honoured (up to `repo_backoff_max`) whatever the caller's interval. And a cached list
//! never answers after a newer listing failed: the caller gets that error (during the
//! backoff) or a new listing, so an outage cannot read as "up to date".

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::{BoxFuture, FutureExt, Shared};

use super::error::RegistryError;
use super::ratelimit::{backoff, later};
use super::transport::Registry;
use super::Inner;

/// The answer every caller of one listing shares.
pub(crate) type TagsResult = Result<Arc<Vec<String>>, RegistryError>;
type SharedListing = Shared<BoxFuture<'static, TagsResult>>;

/// (registry, repository, identity).
pub(crate) type CacheKey = (String, String, String);

struct Flight {
    id: u64,
    fut: SharedListing,
}

#[derive(Default)]
pub(crate) struct RepoEntry {
    /// The last good list and the instant its listing started.
    cached: Option<(Arc<Vec<String>>, Instant)>,
    current: Option<Flight>,
    next: Option<Flight>,
    failures: u32,
    backoff_until: Option<Instant>,
    /// When the last listing failed (with `last_error`).
    failed_at: Option<Instant>,
    last_error: Option<RegistryError>,
}

/// The cache proper; owned by [`Inner`].
#[derive(Default)]
pub(crate) struct TagCache {
    entries: Mutex<HashMap<CacheKey, RepoEntry>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl TagCache {
    /// Drops the cached list and any backoff for every identity of a repository.
    pub fn invalidate(&self, registry: &str, repository: &str) {
        let mut m = self.entries.lock().unwrap();
        for ((r, repo, _), e) in m.iter_mut() {
            if r == registry && repo == repository {
                e.cached = None;
                e.backoff_until = None;
                e.failed_at = None;
                e.last_error = None;
                e.failures = 0;
            }
        }
    }
}

impl Inner {
    /// Tags of `repository`, from the cache or a (shared) listing.
    pub(crate) async fn tags(
        self: &Arc<Self>,
        reg: Arc<Registry>,
        repository: &str,
        fresh: bool,
    ) -> TagsResult {
        let ttl = self.opts.cache_ttl;
        self.tags_within(reg, repository, fresh, ttl).await
    }

    /// [`tags`](Self::tags), answering from the cache or a backoff only when it is
    /// younger than `max_age` (and the TTL).
    pub(crate) async fn tags_within(
        self: &Arc<Self>,
        reg: Arc<Registry>,
        repository: &str,
        fresh: bool,
        max_age: std::time::Duration,
    ) -> TagsResult {
        let key: CacheKey = (reg.key.clone(), repository.to_string(), reg.identity());
        let max_age = max_age.min(self.opts.cache_ttl);
        let fut = {
            let mut m = self.cache.entries.lock().unwrap();
            let e = m.entry(key.clone()).or_default();
            let now = Instant::now();
            if !fresh {
                if let (Some((tags, at)), None) = (&e.cached, &e.last_error) {
                    if now.duration_since(*at) < max_age {
                        self.metrics.cache_hit();
                        return Ok(tags.clone());
                    }
                }
                if let (Some(until), Some(err), Some(failed)) =
                    (e.backoff_until, &e.last_error, e.failed_at)
                {
                    let registry_asked = matches!(err, RegistryError::RateLimited { .. });
                    if now < until && (registry_asked || now.duration_since(failed) < max_age) {
                        self.metrics.backoff_rejection();
                        return Err(err.clone());
                    }
                }
                if let Some(f) = e.current.as_ref().or(e.next.as_ref()) {
                    self.metrics.shared_fetch();
                    f.fut.clone()
                } else {
                    let f = self.start_listing(key, reg, None);
                    let fut = f.fut.clone();
                    e.current = Some(f);
                    fut
                }
            } else if let Some(f) = &e.next {
                self.metrics.shared_fetch();
                f.fut.clone()
            } else if let Some(cur) = &e.current {
                let f = self.start_listing(key, reg, Some(cur.fut.clone()));
                let fut = f.fut.clone();
                e.next = Some(f);
                fut
            } else {
                let f = self.start_listing(key, reg, None);
                let fut = f.fut.clone();
                e.current = Some(f);
                fut
            }
        };
        fut.await
    }

    /// Spawns a listing; with `after`, it starts once that listing has ended.
    /// Called with the cache lock held; the task takes the lock only after it.
    fn start_listing(
        self: &Arc<Self>,
        key: CacheKey,
        reg: Arc<Registry>,
        after: Option<SharedListing>,
    ) -> Flight {
        let id = self
            .cache
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inner = Arc::clone(self);
        let handle = tokio::spawn(async move {
            if let Some(prev) = after {
                let _ = prev.await;
                let mut m = inner.cache.entries.lock().unwrap();
                let e = m.entry(key.clone()).or_default();
                if e.next.as_ref().is_some_and(|f| f.id == id) {
                    e.current = e.next.take();
                }
            }
            let started = Instant::now();
            inner.metrics.listing();
            // A panic inside the listing must not kill this task before the slot below is
            // cleared: every later lookup would join the dead listing forever. It becomes
            // an error like any other (and the repository backs off).
            let res = match AssertUnwindSafe(inner.fetch_tags(&reg, &key.1))
                .catch_unwind()
                .await
            {
                Ok(r) => r.map(Arc::new),
                Err(panic) => Err(RegistryError::Protocol {
                    registry: reg.key.clone(),
                    detail: format!("the tag listing panicked: {}", panic_message(&*panic)),
                }),
            };
            let repository = key.1.clone();
            let mut m = inner.cache.entries.lock().unwrap();
            let e = m.entry(key).or_default();
            if e.current.as_ref().is_some_and(|f| f.id == id) {
                e.current = None;
            }
            match &res {
                Ok(tags) => {
                    if e.cached.as_ref().is_none_or(|(_, at)| *at <= started) {
                        e.cached = Some((tags.clone(), started));
                    }
                    e.failures = 0;
                    e.backoff_until = None;
                    e.failed_at = None;
                    e.last_error = None;
                }
                Err(err) => {
                    e.failures = e.failures.saturating_add(1);
                    let mut wait = backoff(
                        inner.opts.repo_backoff_base,
                        e.failures - 1,
                        inner.opts.repo_backoff_max,
                    );
                    // A registry that said how long to wait is not asked sooner.
                    if let RegistryError::RateLimited {
                        retry_after: Some(ra),
                        ..
                    } = err
                    {
                        wait = wait.max((*ra).min(inner.opts.repo_backoff_max));
                    }
                    e.backoff_until = Some(later(wait));
                    e.failed_at = Some(Instant::now());
                    e.last_error = Some(err.clone());
                    tracing::warn!(
                        registry = %reg.key,
                        %repository,
                        error = %err,
                        backoff_ms = wait.as_millis() as u64,
                        "tag listing failed"
                    );
                }
            }
            res
        });
        let fut = async move {
            handle.await.unwrap_or_else(|e| {
                Err(RegistryError::Protocol {
                    registry: String::new(),
                    detail: format!("tag listing task failed: {e}"),
                })
            })
        }
        .boxed()
        .shared();
        Flight { id, fut }
    }
}

/// The message of a caught panic.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
