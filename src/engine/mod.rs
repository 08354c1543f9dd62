//! The loop that joins the layers: event → route → scan → select → plan → write.
//!
//! Architecture invariant: only this module orchestrates; nothing below it imports it.
//! Memory is bounded by the number of watched repositories and images: a hint for a
//! repository that is being scanned only marks it for one follow-up scan, and the write
//! queue keeps one wish per image.

pub mod age;
pub mod digests;
pub mod files;
pub mod gits;
pub mod live;
pub(crate) mod manual;
pub(crate) mod notify;
pub mod platforms;
pub mod pulls;
pub mod queue;
pub mod reload;
pub mod service;
pub(crate) mod setup;
pub mod signing;
pub mod status;
pub mod triggers;
mod watch;
pub mod write;
pub mod writer;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};

use crate::metrics::Metrics;
use imagebump_core::decision::{choose, Decision, ImageId, Stage, Wish};
use imagebump_core::image::ImageRef;
use imagebump_core::policy::select::Strategy;
use imagebump_core::policy::PolicySet;
use imagebump_registry::RegistryClient;
use queue::{Queued, Queues};
use status::StatusBoard;

/// One watched repository: who watches it and how often to poll it.
#[derive(Debug, Clone)]
pub struct RepoWatch {
    /// The repository (no tag).
    pub image: ImageRef,
    /// The images of applications that follow it.
    pub watchers: Vec<ImageId>,
    /// Poll interval: the shortest any watcher asks for, else the default.
    pub interval: Duration,
}

/// Groups the policies' images by normalised repository name.
pub fn routes(policies: &PolicySet, default_interval: Duration) -> BTreeMap<String, RepoWatch> {
    let mut out: BTreeMap<String, RepoWatch> = BTreeMap::new();
    for (id, img) in policies.images() {
        let w = out
            .entry(img.repository.name())
            .or_insert_with(|| RepoWatch {
                image: img.repository.without_version(),
                watchers: Vec::new(),
                interval: default_interval,
            });
        w.watchers.push(id.clone());
        if let Some(iv) = img.interval {
            w.interval = w.interval.min(iv);
        }
    }
    out
}

/// The decision for a failed listing: a registry's rate-limit wait is its own kind, so
/// status shows the wait rather than a generic failure.
fn listing_failed(e: &imagebump_registry::RegistryError) -> Decision {
    match e {
        imagebump_registry::RegistryError::RateLimited { retry_after, .. } => {
            Decision::RateLimited {
                error: e.to_string(),
                wait_secs: retry_after.map(|d| d.as_secs_f64().ceil() as u64),
            }
        }
        _ => Decision::Failed {
            stage: Stage::Registry,
            error: e.to_string(),
        },
    }
}

/// Adds `from`'s registry counters to `into`.
fn add_counts(
    into: &mut imagebump_registry::MetricsSnapshot,
    from: &imagebump_registry::MetricsSnapshot,
) {
    for (k, n) in &from.requests {
        *into.requests.entry(k.clone()).or_default() += n;
    }
    into.rate_limit_waits += from.rate_limit_waits;
    into.rate_limit_wait += from.rate_limit_wait;
    into.retries += from.retries;
    into.cache_hits += from.cache_hits;
    into.shared_fetches += from.shared_fetches;
    into.listings += from.listings;
    into.backoff_rejections += from.backoff_rejections;
    for (k, n) in &from.client_cert_refusals {
        *into.client_cert_refusals.entry(k.clone()).or_default() += n;
    }
}

/// A test's way to make a scan misbehave (see [`Engine::set_scan_fault`]).
type ScanFault = Arc<dyn Fn(&str) + Send + Sync>;

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
    /// The policies and routes in effect, swapped as one by [`Engine::reload`].
    pub live: Arc<live::LiveSet>,
    /// Per-image status.
    pub status: Arc<StatusBoard>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The writers' queues, one per GitOps repository.
    pub queues: Arc<Queues>,
    /// The GitOps repositories' names, in config order.
    pub(crate) gits: Vec<String>,
    /// Each GitOps repository's status.
    pub git_status: Arc<gits::GitBoard>,
    /// Failed scans and writes, for `once`'s exit code.
    pub failures: Arc<AtomicU64>,
    /// Swapped by a config reload (`registries`, `dockerConfig`); a scan takes it once
    /// at its start, so it runs on one client.
    registry: RwLock<RegistryClient>,
    /// What clients swapped out had counted, so `/metrics` counters never go back.
    retired_registry: Mutex<imagebump_registry::MetricsSnapshot>,
    sched: Mutex<HashMap<String, RepoState>>,
    /// Scans under way per registry host ([`SCAN_SLOTS_PER_REGISTRY`]).
    scan_slots: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    fault: Mutex<Option<ScanFault>>,
    /// `poll.interval`: a config reload changes it and re-routes.
    default_interval: Mutex<Duration>,
    /// The config file's reload status (`config` in `/api/v1/status`).
    pub config: reload::ConfigState,
    /// Where pollers run once started; a reload starts the next generation's there.
    poll_rt: Mutex<Option<tokio::runtime::Handle>>,
    /// Pollers of older generations see a newer value and stop.
    poll_epoch: AtomicU64,
    /// Where a rejected policy reload is announced (the service sets it).
    pub(crate) notifier: Mutex<Option<notify::Notifier>>,
    /// `policySelector:`: applied to every policy set this engine loads or reloads.
    pub(crate) selector: imagebump_core::policy::PolicySelector,
    /// The deploy triggers' status (`deployTriggers` in `/api/v1/status`).
    pub trigger_status: Arc<triggers::TriggerBoard>,
}

/// Scans of one registry host that run at once; the others wait for a slot before their
/// scan exists. A start-up sync of 2,000 repositories made 2,000 scans, each a 4 KB
/// future waiting on the registry's rate limiter with its listing task beside it
/// (13 MB at 10,000 images). 4× the registry's default `maxConcurrency`, so its
/// requests in flight never run dry; per host, so one slow registry never holds back a
/// scan of another.
const SCAN_SLOTS_PER_REGISTRY: usize = 64;

impl Engine {
    /// An engine over these policies and this registry client.
    pub fn new(
        policies: PolicySet,
        registry: RegistryClient,
        metrics: Arc<Metrics>,
        default_interval: Duration,
    ) -> Engine {
        let one = vec![crate::config::DEFAULT_GIT_NAME.to_string()];
        Engine::with_repositories(policies, registry, metrics, default_interval, one)
    }

    /// An engine writing to the GitOps repositories `gits` (names, config order).
    pub fn with_repositories(
        policies: PolicySet,
        registry: RegistryClient,
        metrics: Arc<Metrics>,
        default_interval: Duration,
        gits: Vec<String>,
    ) -> Engine {
        let status = Arc::new(StatusBoard::default());
        for (id, img) in policies.images() {
            status.register(id, &img.repository.name());
        }
        Engine {
            queues: Arc::new(Queues::new(&gits)),
            live: Arc::new(live::LiveSet::new(live::Generation::new(
                policies,
                default_interval,
                &gits,
            ))),
            gits,
            git_status: Arc::new(gits::GitBoard::default()),
            status,
            metrics,
            failures: Arc::new(AtomicU64::new(0)),
            registry: RwLock::new(registry),
            retired_registry: Mutex::new(Default::default()),
            sched: Mutex::new(HashMap::new()),
            scan_slots: Mutex::new(HashMap::new()),
            fault: Mutex::new(None),
            default_interval: Mutex::new(default_interval),
            config: reload::ConfigState::default(),
            poll_rt: Mutex::new(None),
            poll_epoch: AtomicU64::new(0),
            notifier: Mutex::new(None),
            selector: Default::default(),
            trigger_status: Arc::default(),
        }
    }

    /// The engine with `policySelector:` applied: to the policies it was made with
    /// (their routes and status entries re-made) and to every reload.
    pub fn with_selector(mut self, selector: imagebump_core::policy::PolicySelector) -> Engine {
        if selector != Default::default() {
            let policies = (*self.live.policies()).clone().select(&selector);
            let status = StatusBoard::default();
            for (id, img) in policies.images() {
                status.register(id, &img.repository.name());
            }
            self.status = Arc::new(status);
            self.live = Arc::new(live::LiveSet::new(live::Generation::new(
                policies,
                self.default_interval(),
                &self.gits,
            )));
        }
        self.selector = selector;
        self
    }

    /// `policySelector:` in effect (`None`: every application), for the status API.
    pub fn selector(&self) -> Option<&imagebump_core::policy::PolicySelector> {
        (self.selector != Default::default()).then_some(&self.selector)
    }

    /// Test hook: `f(repository)` runs at the start of every scan (a panic in it stands
    /// for a bug anywhere in a scan). Not for production use.
    #[doc(hidden)]
    pub fn set_scan_fault(&self, f: Option<ScanFault>) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = f;
    }

    /// The registry client in effect (shared caches and metrics); take it once per
    /// unit of work, since a config reload may swap it.
    pub fn registry(&self) -> RegistryClient {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes `client` the registry client of every scan that starts from now on.
    pub(crate) fn set_registry(&self, client: RegistryClient) {
        let old = std::mem::replace(
            &mut *self.registry.write().unwrap_or_else(|e| e.into_inner()),
            client,
        );
        add_counts(
            &mut self
                .retired_registry
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
            &old.metrics(),
        );
    }

    /// The registry counters of every client this engine ran on (a config reload swaps
    /// the client; the counters carry on).
    pub fn registry_metrics(&self) -> imagebump_registry::MetricsSnapshot {
        let mut m = self.registry().metrics();
        add_counts(
            &mut m,
            &self
                .retired_registry
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        m
    }

    /// The default poll interval in effect.
    pub(crate) fn default_interval(&self) -> Duration {
        *self
            .default_interval
            .lock()
            .unwrap_or_else(|e| e.into_inner())
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
        self.schedule(repository, cause, tag, cause.is_some())
    }

    /// Schedules a scan of `repository` on a fresh listing, with no cause to time (the
    /// writer's check when git holds a newer tag than its wish: a cached listing would
    /// only repeat the stale one).
    pub fn rescan_fresh(self: &Arc<Self>, repository: &str) -> bool {
        self.schedule(repository, None, None, true)
    }

    fn schedule(
        self: &Arc<Self>,
        repository: &str,
        cause: Option<Instant>,
        tag: Option<&str>,
        fresh: bool,
    ) -> bool {
        if !self.live.current().routes.contains_key(repository) {
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
            st.pending_fresh |= fresh;
            return true;
        }
        st.scanning = true;
        let cause = st.cause.take();
        let expect = std::mem::take(&mut st.expect);
        drop(sched);
        self.metrics.queued_events.inc();
        // Marked running now, not when the task starts: a writer must not see "no scan
        // running" between this hint and its scan (the start-up batch waits for them).
        let guard = self.queues.scan_guard();
        let me = self.clone();
        let repo = repository.to_string();
        tokio::spawn(async move { me.scan_loop(repo, cause, fresh, expect, guard).await });
        true
    }

    async fn scan_loop(
        self: Arc<Self>,
        repo: String,
        mut cause: Option<Instant>,
        mut fresh: bool,
        mut expect: Vec<String>,
        first_guard: Vec<queue::ScanGuard>,
    ) {
        let mut first_guard = Some(first_guard);
        let slots = self.scan_slots(&repo);
        loop {
            // Never closed; a scan without a slot is still correct, only less frugal.
            let _slot = slots.clone().acquire_owned().await.ok();
            self.metrics.queued_events.dec();
            let guard = first_guard
                .take()
                .unwrap_or_else(|| self.queues.scan_guard());
            // A panic anywhere in the scan is caught here: counted, shown in the status of
            // the repository's images, and the repository stays schedulable, so its next
            // hint or poll scans it again.
            // Boxed: the scan's state (most of a task's size) exists only once it runs.
            let scan =
                AssertUnwindSafe(Box::pin(self.scan(&repo, fresh, cause, &expect))).catch_unwind();
            match scan.await {
                Ok(wishes) => {
                    let gen = self.live.current();
                    for q in wishes {
                        self.queues.push(q, &gen);
                    }
                }
                Err(panic) => self.scan_panicked(&repo, &writer::panic_message(&*panic)),
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

    /// The scan slots of `repo`'s registry host.
    fn scan_slots(&self, repo: &str) -> Arc<tokio::sync::Semaphore> {
        let host = repo.split('/').next().unwrap_or_default();
        self.scan_slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(SCAN_SLOTS_PER_REGISTRY)))
            .clone()
    }

    fn scan_panicked(&self, repo: &str, msg: &str) {
        self.metrics.panic("scan");
        self.failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(repository = repo, panic = msg, "scan panicked");
        if let Some(route) = self.live.current().routes.get(repo) {
            for w in &route.watchers {
                self.status.decide(
                    w,
                    Decision::Failed {
                        stage: Stage::Registry,
                        error: format!("scan of {repo} panicked: {msg}"),
                    },
                );
            }
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
    ) -> Vec<Queued> {
        // One generation for the whole scan, even if a reload swaps it meanwhile.
        let gen = self.live.current();
        let Some(route) = gen.routes.get(repo) else {
            return Vec::new();
        };
        let fault = self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(f) = fault {
            f(repo);
        }
        // One registry client for the whole scan, even if a config reload swaps it.
        let registry = self.registry();
        let mut delays = RELIST_DELAYS_MS.iter();
        let listing = loop {
            // A poll never takes a cached list (or backoff) older than its interval:
            // the registry's cache TTL must not floor a shorter poll.
            let l = if fresh {
                registry.list_tags_fresh(&route.image).await
            } else {
                registry
                    .list_tags_within(&route.image, route.interval)
                    .await
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
                self.metrics.scan_succeeded(repo);
                for w in &route.watchers {
                    self.status
                        .update(w, |s| s.last_successful_scan = Some(now.clone()));
                }
                t
            }
            Err(e) => {
                self.metrics.scan("error");
                self.failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(repository = repo, error = %e, "scan failed");
                for w in &route.watchers {
                    self.status.update(w, |s| s.last_scan = Some(now.clone()));
                    self.status.decide(w, listing_failed(&e));
                }
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for w in &route.watchers {
            let (candidate, decided) = self
                .decide(&registry, &gen.policies, &route.image, w, &tags)
                .await;
            self.status.update(w, |s| {
                s.last_scan = Some(now.clone());
                s.latest_candidate = candidate;
            });
            match decided {
                Ok(wish) => {
                    let chosen = wish.reference();
                    self.status.update(w, |s| s.chosen = Some(chosen.clone()));
                    // Keep an earlier verdict on git (up to date, refused…) until the
                    // writer has a new one; only a first sighting says "pending".
                    let settled = matches!(
                        self.status.decision(w),
                        Some(
                            Decision::UpToDate { .. }
                                | Decision::TooYoung { .. }
                                | Decision::Pinned { .. }
                                | Decision::Updated { .. }
                                | Decision::DowngradeRefused { .. }
                        )
                    );
                    if !settled {
                        self.status.decide(w, Decision::Pending { chosen });
                    }
                    out.push(Queued { wish, cause });
                }
                Err(d) => {
                    // A failed digest or platform lookup is a failure like a failed
                    // listing: `once` must not exit 0 on it.
                    if d.is_failure() {
                        self.failures
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    self.status.update(w, |s| s.chosen = None);
                    self.status.decide(w, d);
                }
            }
        }
        out
    }

    /// The wish for one image given its repository's tags, or the decision that says why
    /// there is none; with the best candidate the strategy found either way.
    async fn decide(
        &self,
        registry: &RegistryClient,
        policies: &PolicySet,
        image: &ImageRef,
        id: &ImageId,
        tags: &[String],
    ) -> (Option<String>, Result<Wish, Decision>) {
        let Some(policy) = policies.get(id) else {
            return (None, Err(Decision::Suspended));
        };
        let (candidate, chosen) = choose(policy, tags);
        let tag = match chosen {
            Ok(t) => t,
            Err(d) => return (candidate, Err(d)),
        };
        // `minAge` / `newestBuild` (see `age`): then `platforms:` only checks their pick.
        let timed = age::applies(policy);
        let tag = if timed {
            let now = std::time::SystemTime::now();
            let ranked = policy.selector().ranked(tags);
            let picked = age::pick(registry, image, &ranked, policy, now).await;
            let waiting = picked.as_ref().ok().and_then(|p| p.waiting.clone());
            self.status.update(id, |s| s.waiting = waiting);
            match picked {
                Ok(p) => p.tag,
                Err(d) => return (candidate, Err(d)),
            }
        } else {
            tag
        };
        // `platforms:` filters: a candidate without them is skipped for the next best
        // (a pin is only checked, never replaced).
        let tag = if policy.platforms.is_empty() {
            tag
        } else {
            let ranked = if policy.pinned.is_some() || timed {
                vec![tag.as_str()]
            } else {
                policy.selector().ranked(tags)
            };
            match platforms::first_with_platforms(registry, image, &ranked, &policy.platforms).await
            {
                Ok(t) => t,
                Err(d) => return (candidate, Err(d)),
            }
        };
        // `digest:` and `pinDigest` policies pin every reference, so the digest is
        // required. Other policies only keep the pins references already have, and most
        // references are not pinned: the writer resolves the digest when the plan finds
        // a pin (`Plan::needs_digest`), so a scan costs one listing per repository.
        let digest = if matches!(policy.strategy, Strategy::Digest(_)) || policy.pin_digest {
            match registry.resolve_digest(image, &tag).await {
                Ok(d) => Some(d),
                Err(e) => {
                    return (
                        candidate,
                        Err(Decision::Failed {
                            stage: Stage::Registry,
                            error: format!("cannot resolve the digest of {tag}: {e}"),
                        }),
                    )
                }
            }
        } else {
            None
        };
        (
            candidate,
            Ok(Wish {
                id: id.clone(),
                tag,
                digest,
                index_digest: None,
            }),
        )
    }

    /// Scans every watched repository (16 at a time) and returns all wishes: the start-up
    /// sync, `once` and `plan`.
    pub async fn sync_all(&self) -> Vec<Queued> {
        let repos: Vec<String> = self.live.current().routes.keys().cloned().collect();
        futures::stream::iter(repos)
            .map(|r| async move {
                match AssertUnwindSafe(self.scan(&r, false, None, &[]))
                    .catch_unwind()
                    .await
                {
                    Ok(w) => w,
                    Err(panic) => {
                        self.scan_panicked(&r, &writer::panic_message(&*panic));
                        Vec::new()
                    }
                }
            })
            .buffer_unordered(16)
            .flat_map(futures::stream::iter)
            .collect()
            .await
    }

    /// Starts one poller per repository: each hints its repository every interval, with
    /// ±10% jitter so pollers spread out. (Failing repositories back off inside the
    /// registry client, which answers from its last error without a request.)
    /// Must be called inside the runtime; a reload starts the next generation's pollers
    /// on the same runtime and the older ones stop at their next tick.
    pub fn spawn_pollers(self: &Arc<Self>) {
        let rt = tokio::runtime::Handle::current();
        *self.poll_rt.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt.clone());
        self.start_pollers(&rt);
    }

    fn start_pollers(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let epoch = self.poll_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        for (name, route) in &self.live.current().routes {
            let me = self.clone();
            let name = name.clone();
            let interval = route.interval;
            rt.spawn(async move {
                loop {
                    let jitter = rand::random_range(0.9..1.1);
                    tokio::time::sleep(interval.mul_f64(jitter)).await;
                    if me.poll_epoch.load(Ordering::SeqCst) != epoch {
                        return;
                    }
                    me.hint(&name, None, None);
                }
            });
        }
    }

    /// Hints every watched repository, as for a `generic` delivery that names no image
    /// and a receiver without `repositories:`; returns the repositories scheduled.
    pub fn hint_all(self: &Arc<Self>, cause: Option<Instant>) -> Vec<String> {
        let names: Vec<String> = self.live.current().routes.keys().cloned().collect();
        self.hint_each(&names, cause)
    }

    /// Hints each listed repository (`registry/repository`) that a policy watches;
    /// returns those scheduled, each once. Unwatched names are skipped.
    pub fn hint_each(
        self: &Arc<Self>,
        repositories: &[String],
        cause: Option<Instant>,
    ) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in repositories {
            if seen.insert(r.as_str()) && self.hint(r, cause, None) {
                out.push(r.clone());
            }
        }
        out
    }
}
