//! The loop that joins the layers: event → route → scan → select → plan → write.
//!
//! Architecture invariant: only this module orchestrates; nothing below it imports it.
//! Memory is bounded by the number of watched repositories and images: a hint for a
//! repository that is being scanned only marks it for one follow-up scan, and the write
//! queue keeps one wish per image.

pub mod notify;
pub mod setup;
pub mod status;
pub mod writer;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::metrics::Metrics;
use imagebump_core::image::ImageRef;
use imagebump_core::plan::{Desired, WatchId};
use imagebump_core::policy::select::Strategy;
use imagebump_core::policy::LoadedPolicy;
use imagebump_registry::RegistryClient;
use status::StatusBoard;
use writer::WriteQueue;

/// One watched repository: who watches it and how often to poll it.
#[derive(Debug, Clone)]
pub struct RepoWatch {
    /// The repository (no tag).
    pub image: ImageRef,
    /// The images of applications that follow it.
    pub watchers: Vec<WatchId>,
    /// Poll interval: the shortest any watcher asks for, else the default.
    pub interval: Duration,
}

/// Groups the policies' images by normalised repository name.
pub fn routes(
    policies: &[LoadedPolicy],
    default_interval: Duration,
) -> BTreeMap<String, RepoWatch> {
    let mut out: BTreeMap<String, RepoWatch> = BTreeMap::new();
    for (a, lp) in policies.iter().enumerate() {
        for (i, img) in lp.policy.images.iter().enumerate() {
            let w = out
                .entry(img.repository.name())
                .or_insert_with(|| RepoWatch {
                    image: img.repository.without_version(),
                    watchers: Vec::new(),
                    interval: default_interval,
                });
            w.watchers.push(WatchId { app: a, image: i });
            if let Some(iv) = img.interval {
                w.interval = w.interval.min(iv);
            }
        }
    }
    out
}

#[derive(Debug, Default)]
struct RepoState {
    scanning: bool,
    pending: bool,
    pending_fresh: bool,
    cause: Option<Instant>,
    /// Tags webhooks announced for the next scan (bounded by [`MAX_EXPECTED`]).
    expect: Vec<String>,
}

/// At most this many announced tags are remembered per repository.
const MAX_EXPECTED: usize = 16;

/// Re-listing delays when a fresh listing lacks a tag a webhook announced. Distribution
/// sends its push event before it links the tag, so the first listing can miss it by a
/// few milliseconds; a tag that never appears costs these waits once, then is dropped.
const RELIST_DELAYS_MS: [u64; 4] = [20, 80, 300, 1200];

/// The running engine: routes, scans, and hands wishes to the writer.
pub struct Engine {
    /// Loaded policies; [`WatchId`]s index into them.
    pub policies: Arc<Vec<LoadedPolicy>>,
    /// Watched repositories by normalised name.
    pub routes: BTreeMap<String, RepoWatch>,
    /// Per-image status.
    pub status: Arc<StatusBoard>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The writer's queue.
    pub queue: Arc<WriteQueue>,
    /// Failed scans and writes, for `once`'s exit code.
    pub failures: Arc<AtomicU64>,
    registry: RegistryClient,
    sched: Mutex<HashMap<String, RepoState>>,
}

impl Engine {
    /// An engine over these policies and this registry client.
    pub fn new(
        policies: Vec<LoadedPolicy>,
        registry: RegistryClient,
        metrics: Arc<Metrics>,
        default_interval: Duration,
    ) -> Engine {
        let status = Arc::new(StatusBoard::default());
        for (a, lp) in policies.iter().enumerate() {
            for (i, img) in lp.policy.images.iter().enumerate() {
                status.register(
                    WatchId { app: a, image: i },
                    &lp.policy.application,
                    &img.name,
                    &img.repository.name(),
                );
            }
        }
        Engine {
            routes: routes(&policies, default_interval),
            policies: Arc::new(policies),
            status,
            metrics,
            queue: Arc::new(WriteQueue::default()),
            failures: Arc::new(AtomicU64::new(0)),
            registry,
            sched: Mutex::new(HashMap::new()),
        }
    }

    /// The registry client (shared caches and metrics).
    pub fn registry(&self) -> &RegistryClient {
        &self.registry
    }

    /// Schedules a scan of `repository` (a normalised name). A webhook passes the time it
    /// arrived as `cause` and the tag it announced, and gets a fresh listing that waits
    /// briefly for that tag to show; a poll passes `None` and may be served from the
    /// cache. Returns false when no policy watches the repository.
    pub fn hint(
        self: &Arc<Self>,
        repository: &str,
        cause: Option<Instant>,
        tag: Option<&str>,
    ) -> bool {
        if !self.routes.contains_key(repository) {
            return false;
        }
        let mut sched = self.sched.lock().unwrap_or_else(|e| e.into_inner());
        let st = sched.entry(repository.to_string()).or_default();
        st.cause = match (st.cause, cause) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(t) = tag {
            if st.expect.len() < MAX_EXPECTED && !st.expect.iter().any(|e| e == t) {
                st.expect.push(t.to_string());
            }
        }
        if st.scanning {
            // Coalesce: one follow-up scan covers every hint that arrives meanwhile.
            st.pending = true;
            st.pending_fresh |= cause.is_some();
            return true;
        }
        st.scanning = true;
        let cause = st.cause.take();
        let expect = std::mem::take(&mut st.expect);
        drop(sched);
        self.metrics.queued_events.inc();
        let me = self.clone();
        let repo = repository.to_string();
        tokio::spawn(async move { me.scan_loop(repo, cause, cause.is_some(), expect).await });
        true
    }

    async fn scan_loop(
        self: Arc<Self>,
        repo: String,
        mut cause: Option<Instant>,
        mut fresh: bool,
        mut expect: Vec<String>,
    ) {
        loop {
            self.metrics.queued_events.dec();
            let guard = self.queue.scan_guard();
            for d in self.scan(&repo, fresh, cause, &expect).await {
                self.queue.push(d);
            }
            drop(guard);
            let mut sched = self.sched.lock().unwrap_or_else(|e| e.into_inner());
            let st = sched.entry(repo.clone()).or_default();
            if !st.pending {
                st.scanning = false;
                return;
            }
            st.pending = false;
            fresh = std::mem::take(&mut st.pending_fresh);
            cause = st.cause.take();
            expect = std::mem::take(&mut st.expect);
            self.metrics.queued_events.inc();
        }
    }

    /// Scans one repository and returns what each watching image should run. Problems are
    /// recorded in the status board (and counted), never returned: one bad repository
    /// must not stop the others.
    ///
    /// `expect` holds tags a webhook announced: while a fresh listing lacks one, the
    /// listing is repeated after [`RELIST_DELAYS_MS`].
    pub async fn scan(
        &self,
        repo: &str,
        fresh: bool,
        cause: Option<Instant>,
        expect: &[String],
    ) -> Vec<Desired> {
        let Some(route) = self.routes.get(repo) else {
            return Vec::new();
        };
        let mut delays = RELIST_DELAYS_MS.iter();
        let listing = loop {
            let l = if fresh {
                self.registry.list_tags_fresh(&route.image).await
            } else {
                self.registry.list_tags(&route.image).await
            };
            match (&l, delays.next()) {
                (Ok(tags), Some(ms)) if !expect.iter().all(|e| tags.contains(e)) => {
                    tracing::debug!(
                        repository = repo,
                        wait_ms = ms,
                        "announced tag not listed yet; listing again"
                    );
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                }
                _ => break l,
            }
        };
        let now = status::now_rfc3339();
        let tags = match listing {
            Ok(t) => {
                self.metrics.scan("ok");
                t
            }
            Err(e) => {
                self.metrics.scan("error");
                self.failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(repository = repo, error = %e, "scan failed");
                for w in &route.watchers {
                    self.status.update(*w, |s| {
                        s.last_scan = Some(now.clone());
                        s.last_error = Some(e.to_string());
                    });
                }
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for w in &route.watchers {
            match self.decide(&route.image, *w, &tags).await {
                Ok(Some((tag, digest, candidate))) => {
                    let chosen = match &digest {
                        Some(d) => format!("{tag}@{d}"),
                        None => tag.clone(),
                    };
                    self.status.update(*w, |s| {
                        s.last_scan = Some(now.clone());
                        s.last_error = None;
                        s.latest_candidate = candidate;
                        s.chosen = Some(chosen);
                    });
                    out.push(Desired {
                        watch: *w,
                        tag,
                        digest,
                        cause,
                    });
                }
                Ok(None) => self.status.update(*w, |s| s.last_scan = Some(now.clone())),
                Err((why, candidate)) => self.status.update(*w, |s| {
                    s.last_scan = Some(now.clone());
                    s.latest_candidate = candidate;
                    s.chosen = None;
                    s.why_not_updated = Some(why);
                }),
            }
        }
        out
    }

    /// The tag (and digest) one image should run, given its repository's tags.
    /// `Ok(None)`: nothing to do and nothing wrong; `Err((why, candidate))`: not updated.
    #[allow(clippy::type_complexity)]
    async fn decide(
        &self,
        image: &ImageRef,
        w: WatchId,
        tags: &[String],
    ) -> Result<Option<(String, Option<String>, Option<String>)>, (String, Option<String>)> {
        let policy = &self.policies[w.app].policy.images[w.image];
        let selector = policy.selector();
        let candidate = selector.select(tags, None).chosen().map(str::to_string);
        if policy.suspended {
            return Err(("suspended by policy (suspended: true)".into(), candidate));
        }
        let tag = if let Some(p) = &policy.pinned {
            if !tags.iter().any(|t| t == p) {
                return Err((
                    format!("pinned to {p}, which the registry does not list"),
                    candidate,
                ));
            }
            p.clone()
        } else {
            match &candidate {
                Some(t) => t.clone(),
                None => return Err((no_candidate_reason(&selector, tags), None)),
            }
        };
        if !policy.platforms.is_empty() {
            match self
                .registry
                .check_platforms(image, &tag, &policy.platforms)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return Err((
                        format!(
                            "{tag} lacks a required platform ({})",
                            policy.platforms.join(", ")
                        ),
                        candidate,
                    ))
                }
                Err(e) => return Err((format!("cannot read platforms of {tag}: {e}"), candidate)),
            }
        }
        let digest = if matches!(policy.strategy, Strategy::Digest(_)) {
            match self.registry.resolve_digest(image, &tag).await {
                Ok(d) => Some(d),
                Err(e) => {
                    return Err((
                        format!("cannot resolve the digest of {tag}: {e}"),
                        candidate,
                    ))
                }
            }
        } else {
            None
        };
        Ok(Some((tag, digest, candidate)))
    }

    /// Scans every watched repository (16 at a time) and returns all wishes: the start-up
    /// sync, `once` and `plan`.
    pub async fn sync_all(&self) -> Vec<Desired> {
        let repos: Vec<String> = self.routes.keys().cloned().collect();
        futures::stream::iter(repos)
            .map(|r| async move { self.scan(&r, false, None, &[]).await })
            .buffer_unordered(16)
            .flat_map(futures::stream::iter)
            .collect()
            .await
    }

    /// Starts one poller per repository: each hints its repository every interval, with
    /// ±10% jitter so pollers spread out. (Failing repositories back off inside the
    /// registry client, which answers from its last error without a request.)
    pub fn spawn_pollers(self: &Arc<Self>) {
        for (name, route) in &self.routes {
            let me = self.clone();
            let name = name.clone();
            let interval = route.interval;
            tokio::spawn(async move {
                loop {
                    let jitter = rand::random_range(0.9..1.1);
                    tokio::time::sleep(interval.mul_f64(jitter)).await;
                    me.hint(&name, None, None);
                }
            });
        }
    }
}

fn no_candidate_reason(
    selector: &imagebump_core::policy::select::Selector,
    tags: &[String],
) -> String {
    if tags.is_empty() {
        return "no tag matches: the registry lists no tags".into();
    }
    let notes = selector.explain(tags);
    let examples: Vec<String> = notes
        .iter()
        .filter(|n| !n.kept)
        .take(3)
        .map(|n| format!("{}: {}", n.tag, n.reason.trim_start_matches("dropped: ")))
        .collect();
    format!(
        "no tag matches: {} listed, all filtered out (e.g. {})",
        tags.len(),
        examples.join("; ")
    )
}
