//! Talking to OCI registries: tag lists, digests, auth, caching and rate limits.
//!
//! [`RegistryClient`] answers four questions for the rest of imagebump: which tags
//! a repository has ([`RegistryClient::list_tags`]), which digest a tag points at
//! ([`RegistryClient::resolve_digest`]), whether a tag offers the platforms a policy
//! needs ([`RegistryClient::check_platforms`]) and when its image was built
//! ([`RegistryClient::created`], for `minAge` and `newestBuild`).
//!
//! **Architecture invariant:** a listing is complete or an error, never partial; error
//! messages and logs never hold credentials; a failure (even a panic) in one listing
//! never wedges the cache for later lookups.
//!
//! # One fetch serves everyone
//! Tag lists are cached per (registry, repository, credential identity) for
//! [`ClientOptions::cache_ttl`]; concurrent lookups of one repository share one
//! listing (single flight), so 100 policies watching one image cost one listing. A
//! webhook hint uses [`RegistryClient::list_tags_fresh`], which never answers from a
//! listing that started before the call (details in the `cache` module), or
//! [`RegistryClient::invalidate`].
//!
//! # Pagination
//! The client asks for `n = page_size` tags (default 100) and follows a
//! `Link: <…>; rel="next"` header wherever one is sent (and once a listing has seen a
//! `Link`, a page without one is the last). Without `Link`, a page of
//! exactly `n` tags is followed by `?n=…&last=<last tag>`; a page shorter or longer
//! than `n` (longer: the registry ignored `n`, as Distribution 2.8 does, so that was
//! everything), an empty page, or a page with no new tags ends it. The default of 100
//! is the smallest cap known (Quay): a registry that caps *below* the page size and
//! sends no `Link` would look finished after one short page, so keep `page_size` at or
//! below such a registry's cap. Loops are errors, and any failed page fails the whole
//! listing: callers never see a partial list.
//!
//! # Auth
//! Anonymous first; a `401` challenge switches to Basic (when credentials exist) or to
//! the bearer-token flow (`WWW-Authenticate: Bearer realm,service` → token request with
//! Basic credentials if any → token cached per scope until `expires_in`, default 60 s,
//! less a margin). Once a registry has asked for a token, tokens for new repositories
//! are fetched before the request, saving a 401 round trip. Credentials come from the
//! service config ([`RegistryOptions`]) and else from a Docker `config.json`
//! ([`DockerConfig`]). Docker Hub names (`docker.io`, `index.docker.io`, …) normalise to
//! `docker.io`, served by `registry-1.docker.io`.
//!
//! Fetched credentials — a Docker credential helper ([`helper`]), a cloud identity
//! ([`gcp`], [`azure`], `ecr` with the `ecr` feature) — are [`CredentialProvider`]s
//! behind a cache ([`provider::Cached`]): one fetch at a time, kept until a tenth of
//! their lifetime (at most 5 minutes) before expiry, forgotten and fetched again once
//! when the registry answers 401. A provider's failure is
//! [`RegistryError::Credentials`], quoting the provider.
//!
//! # Rate awareness
//! Each registry has a token bucket: [`RegistryOptions::burst`] requests may go at once
//! (default [`DEFAULT_BURST`], 300: a fleet's start-up, one listing per repository, goes
//! out without queueing), then [`RegistryOptions::rate_limit`] requests/s are sustained
//! (default [`DEFAULT_RATE_LIMIT`], 20), with at most [`RegistryOptions::max_concurrency`]
//! requests in flight (default [`DEFAULT_MAX_CONCURRENCY`], 16). The defaults sit under
//! what public registries document: ECR's token buckets refill at 20/s with bursts of
//! 200 for its busiest per-account actions, Quay allows "a few" to "tens of" requests
//! per second per IP with bursting, Docker Hub limits *pulls* (manifest requests) per
//! 6 h and announces the budget in its answers; GHCR publishes no number.
//! The client adapts to what a registry says: a `429` pauses that registry for its
//! `Retry-After` (seconds or an HTTP date) and is retried; a stated budget
//! (`RateLimit-Limit`/`-Remaining`/`-Reset`, or the later draft's `RateLimit: r=;t=`)
//! is obeyed per kind of request — free while plenty remains, spread evenly once a
//! tenth or less is left, and waited out at zero — counting requests still in flight,
//! so the client never sends more than the registry said it would take. 5xx answers,
//! timeouts and connection errors are retried with exponential backoff and jitter, at
//! most [`ClientOptions::max_retries`] times. Every wait is bounded by
//! [`ClientOptions::max_retry_after`]: a longer one fails the request at once. After a
//! failed listing the *repository* backs off (cached lookups get the last error at once,
//! without a request), so a broken repository does not use up the registry's budget
//! or delay the others. [`RegistryClient::metrics`] counts requests by registry, kind
//! and status, rate-limit waits, retries and cache use.
//!
//! # Why reqwest, and where oci-client
//! The HTTP protocol is spoken with reqwest directly. `oci_client::Client` hides the
//! responses this module must see: its `list_tags` returns only the body (no `Link`
//! header), a `429` comes back as an error without `Retry-After`, its token cache and
//! its `/v2/` probe cannot be counted or rate-limited, and one request per attempt
//! cannot be observed for metrics. Wrapping it would mean re-doing its work around it.
//! oci-client is used where it fits without those costs: its manifest types parse image
//! indexes ([`oci_client::manifest::OciImageIndex`]) and its media-type constants define
//! what is accepted.
//!
//! # Transport
//! TLS is verified against the system roots plus an optional per-registry PEM bundle
//! ([`RegistryOptions::ca_file`]); `insecure: true` means plain HTTP for that registry.
//! Every request has a connect timeout and a total timeout (body included). A client
//! certificate given as a source ([`RegistryOptions::client_identity_source`]) is
//! followed: a rotated one builds a new HTTP client for that registry (the `identity`
//! module).

#![warn(missing_docs)]

mod auth;
pub mod azure;
mod cache;
mod created;
mod creds;
#[cfg(feature = "ecr")]
pub mod ecr;
mod error;
pub mod gcp;
pub mod helper;
mod identity;
mod manifest;
mod metrics;
mod oauth;
pub mod provider;
mod quota;
mod ratelimit;
mod tags;
mod transport;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use auth::{normalise_host, DockerConfig, DockerConfigError};
pub use error::RegistryError;
pub use identity::{check_identity, IdentitySource};
pub use manifest::MANIFEST_ACCEPT;
pub use metrics::{MetricsSnapshot, RegistryMetrics, RequestKey, RequestKind};
pub use provider::{Credential, CredentialError, CredentialFuture, CredentialProvider};

use cache::TagCache;
use created::CreatedCache;
use creds::Creds;
use identity::HttpClient;
use imagebump_core::image::{ImageRef, DOCKER_HUB, DOCKER_HUB_API};
use imagebump_core::secret::Secret;
use transport::{Limits, Policy, Registry};

/// Registry credentials that may change while the client runs (a rotated secret file,
/// a Kubernetes Secret update). Asked before every request that needs credentials, so
/// it must be cheap (e.g. re-read a file only when its metadata changed).
pub trait CredentialSource: Send + Sync {
    /// The current (username, password), or `None` for none.
    fn current(&self) -> Option<(String, Secret)>;
}

/// Credentials by registry host that may change while the client runs (a Docker config
/// file that is rotated). Asked before every request that needs credentials.
pub trait CredentialLookup: Send + Sync {
    /// The current (username, password) for a normalised host, if any.
    fn credentials_for(&self, host: &str) -> Option<(String, Secret)>;

    /// The credential helper named for a normalised host now (see
    /// [`DockerConfig::helper_for`]), if any; it wins over `credentials_for`.
    fn helper_for(&self, _host: &str) -> Option<String> {
        None
    }
}

impl std::fmt::Debug for dyn CredentialLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialLookup")
    }
}

impl std::fmt::Debug for dyn CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialSource")
    }
}

/// Default sustained requests per second per registry.
pub const DEFAULT_RATE_LIMIT: f64 = 20.0;

/// A client certificate for mutual TLS: certificate (chain) and PKCS#8 key, PEM. The
/// key never prints.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate, then any intermediates.
    pub cert_pem: Secret,
    /// The private key (`BEGIN PRIVATE KEY`; convert others with `openssl pkcs8 -topk8`).
    pub key_pem: Secret,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity")
    }
}

/// Default burst per registry: requests that may go at once before the rate applies.
pub const DEFAULT_BURST: f64 = 300.0;

/// Default bound of requests in flight per registry.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;

/// Settings for one registry host.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registry host, with port if any (`ghcr.io`, `localhost:5000`, `docker.io`).
    /// A scheme or path is tolerated and dropped.
    pub host: String,
    /// Speak plain HTTP to this registry (never for anything but a local registry).
    pub insecure: bool,
    /// Extra CA certificates (PEM bundle) trusted for this registry, on top of the
    /// system roots.
    pub ca_file: Option<PathBuf>,
    /// An HTTP(S) proxy for this registry (`http://proxy:3128`); `HTTPS_PROXY`,
    /// `HTTP_PROXY` and `NO_PROXY` apply to registries without one.
    pub proxy: Option<String>,
    /// A client certificate and its PKCS#8 private key (both PEM) for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// Like `client_identity`, but asked before each request (wins over it): a rotated
    /// certificate builds a new HTTP client, used from the next request on.
    pub client_identity_source: Option<Arc<dyn IdentitySource>>,
    /// Username; used only together with `password`.
    pub username: Option<Secret>,
    /// Password or token; used only together with `username`.
    pub password: Option<Secret>,
    /// Credentials read anew for each request; wins over `username`/`password`.
    pub credentials: Option<Arc<dyn CredentialSource>>,
    /// Credentials fetched and cached until they near expiry or are refused (a cloud
    /// identity); wins over everything else.
    pub provider: Option<Arc<dyn CredentialProvider>>,
    /// Sustained requests per second to this registry (token bucket refill).
    pub rate_limit: f64,
    /// Requests that may go at once before `rate_limit` applies (clamped to
    /// 1 ..= 100 000).
    pub burst: f64,
    /// Requests in flight at most (clamped to 1 ..= 1024).
    pub max_concurrency: usize,
}

impl RegistryOptions {
    /// Options for `host` with the defaults: TLS, no credentials, 20 requests/s after a
    /// burst of 300, 16 in flight.
    pub fn new(host: impl Into<String>) -> RegistryOptions {
        RegistryOptions {
            host: host.into(),
            insecure: false,
            ca_file: None,
            proxy: None,
            client_identity: None,
            client_identity_source: None,
            username: None,
            password: None,
            credentials: None,
            provider: None,
            rate_limit: DEFAULT_RATE_LIMIT,
            burst: DEFAULT_BURST,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
        }
    }
}

/// Settings for a [`RegistryClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-host settings. Hosts not listed get the defaults (TLS, Docker config
    /// credentials if any, [`ClientOptions::default_rate_limit`]).
    pub registries: Vec<RegistryOptions>,
    /// Credentials from a Docker `config.json`, used where `registries` gives none.
    pub docker_config: Option<DockerConfig>,
    /// Like `docker_config`, but asked anew for each request (wins over it).
    pub docker_config_source: Option<Arc<dyn CredentialLookup>>,
    /// How long a Docker credential helper may run. Default 10 s.
    pub helper_timeout: Duration,
    /// How long a tag list is served from the cache. Default 60 s.
    pub cache_ttl: Duration,
    /// Total time allowed for one request, body included. Default 30 s.
    pub timeout: Duration,
    /// Time allowed to connect. Default 10 s.
    pub connect_timeout: Duration,
    /// Retries per request after 429, 5xx, timeouts and connection errors. Default 3.
    pub max_retries: u32,
    /// Tags asked for per page (`n`). Default 100; 0 sends no `n` at all.
    pub page_size: usize,
    /// First retry delay; doubles per retry, with jitter. Default 500 ms.
    pub retry_base: Duration,
    /// Longest retry delay. Default 30 s.
    pub retry_max: Duration,
    /// The longest `Retry-After` (or rate-limit queue) the client sleeps through; a
    /// longer one fails the request with [`RegistryError::RateLimited`] at once, and
    /// only waits up to this pause the whole registry. Default 120 s; never more than
    /// 10 min whatever is set.
    pub max_retry_after: Duration,
    /// First per-repository backoff after a failed listing. Default 5 s.
    pub repo_backoff_base: Duration,
    /// Longest per-repository backoff. Default 10 min.
    pub repo_backoff_max: Duration,
    /// Rate limit for hosts not in `registries`. Default 20 requests/s.
    pub default_rate_limit: f64,
    /// Burst for hosts not in `registries`. Default 300.
    pub default_burst: f64,
    /// Requests in flight for hosts not in `registries`. Default 16.
    pub default_max_concurrency: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The largest response body read (tag pages, manifests, tokens); a larger one is
    /// a [`RegistryError::Protocol`] error. Default 16 MiB.
    pub max_body: usize,
    /// The most tags one repository may list; more is an error, never a partial list.
    /// Default 100 000.
    pub max_tags: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            registries: Vec::new(),
            docker_config: None,
            docker_config_source: None,
            helper_timeout: helper::DEFAULT_HELPER_TIMEOUT,
            cache_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            page_size: 100,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            repo_backoff_base: Duration::from_secs(5),
            repo_backoff_max: Duration::from_secs(600),
            default_rate_limit: DEFAULT_RATE_LIMIT,
            default_burst: DEFAULT_BURST,
            default_max_concurrency: DEFAULT_MAX_CONCURRENCY,
            user_agent: concat!("imagebump/", env!("CARGO_PKG_VERSION")).to_string(),
            max_body: 16 << 20,
            max_tags: 100_000,
        }
    }
}

/// A cheap-to-clone handle on the registry client; clones share caches, limiters,
/// tokens and metrics.
#[derive(Clone)]
pub struct RegistryClient(Arc<Inner>);

pub(crate) struct Inner {
    opts: ClientOptions,
    registries: Mutex<HashMap<String, Arc<Registry>>>,
    default_http: reqwest::Client,
    metrics: RegistryMetrics,
    cache: TagCache,
    created: CreatedCache,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<String> = self.0.registries.lock().unwrap().keys().cloned().collect();
        f.debug_struct("RegistryClient")
            .field("registries", &hosts)
            .finish()
    }
}

/// The HTTP client for one registry (or the default one, `r` = `None`). Nothing here
/// disables the environment's proxies: reqwest reads `HTTPS_PROXY`/`HTTP_PROXY`/
/// `NO_PROXY` by default, and only an explicit `proxy:` replaces them.
fn build_http(
    opts: &ClientOptions,
    r: Option<&RegistryOptions>,
    identity: Option<&ClientIdentity>,
) -> Result<reqwest::Client, RegistryError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.timeout)
        .user_agent(opts.user_agent.clone());
    let host = r.map(|r| normalise_host(&r.host)).unwrap_or_default();
    if let Some(p) = r.and_then(|r| r.proxy.as_deref()) {
        let proxy = reqwest::Proxy::all(p).map_err(|_| {
            RegistryError::Config(format!(
                "registry {host}: proxy is not a URL like http://proxy:3128"
            ))
        })?;
        b = b.proxy(proxy);
    }
    if let Some(id) = identity {
        let identity = reqwest::Identity::from_pkcs8_pem(
            id.cert_pem.expose().as_bytes(),
            id.key_pem.expose().as_bytes(),
        )
        .map_err(|e| {
            RegistryError::Config(format!(
                "registry {host}: clientCert/clientKey unusable ({}); the key must be PKCS#8 PEM (BEGIN PRIVATE KEY): convert with openssl pkcs8 -topk8 -nocrypt",
                error::one_line(&e.to_string(), 120)
            ))
        })?;
        b = b.identity(identity);
    }
    let ca_file = r.and_then(|r| r.ca_file.as_deref());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            RegistryError::Config(format!("cannot read CA file {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            RegistryError::Config(format!("CA file {} is not PEM: {e}", path.display()))
        })?;
        if certs.is_empty() {
            return Err(RegistryError::Config(format!(
                "CA file {} holds no certificate",
                path.display()
            )));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| RegistryError::Config(format!("cannot build HTTP client: {e}")))
}

/// The HTTP client of a configured registry: the shared default one unless it has its
/// own CA, proxy or client certificate; a followed certificate rebuilds it on rotation.
fn registry_http(
    opts: &ClientOptions,
    r: &RegistryOptions,
    default_http: &reqwest::Client,
) -> Result<HttpClient, RegistryError> {
    if let Some(src) = &r.client_identity_source {
        // What building needs, without the other registries' options.
        let base = ClientOptions {
            connect_timeout: opts.connect_timeout,
            timeout: opts.timeout,
            user_agent: opts.user_agent.clone(),
            ..ClientOptions::default()
        };
        let mut own = r.clone();
        own.credentials = None;
        own.provider = None;
        let build: identity::Build = Box::new(move |id| build_http(&base, Some(&own), id));
        return HttpClient::following(src.clone(), build);
    }
    let own = r.ca_file.is_some() || r.proxy.is_some() || r.client_identity.is_some();
    Ok(HttpClient::fixed(if own {
        build_http(opts, Some(r), r.client_identity.as_ref())?
    } else {
        default_http.clone()
    }))
}

/// The Docker config's credentials for `host`: followed when they come from a source;
/// a credential helper the config names is run when they are needed.
fn docker_creds(opts: &ClientOptions, host: &str) -> Creds {
    if let Some(src) = &opts.docker_config_source {
        return Creds::Docker {
            lookup: src.clone(),
            host: host.to_string(),
            helper_timeout: opts.helper_timeout,
            helper: Mutex::new(None),
        };
    }
    let Some(d) = opts.docker_config.as_ref() else {
        return Creds::None;
    };
    if let Some(name) = d.helper_for(host) {
        return Creds::Provider(Creds::helper(name, host, opts.helper_timeout));
    }
    d.credentials_for(host)
        .map_or(Creds::None, |(u, p)| Creds::Fixed(u, p))
}

fn api_host_for(key: &str) -> String {
    if key == DOCKER_HUB {
        DOCKER_HUB_API.to_string()
    } else {
        key.to_string()
    }
}

impl RegistryClient {
    /// Builds a client. Fails on unusable options (an unreadable CA file, an empty
    /// host, a host listed twice).
    pub fn new(opts: ClientOptions) -> Result<RegistryClient, RegistryError> {
        let default_http = build_http(&opts, None, None)?;
        let mut registries = HashMap::new();
        for r in &opts.registries {
            let key = normalise_host(&r.host);
            if key.is_empty() {
                return Err(RegistryError::Config("a registry has an empty host".into()));
            }
            let http = registry_http(&opts, r, &default_http)?;
            let creds = match (&r.provider, &r.credentials, &r.username, &r.password) {
                (Some(p), _, _, _) => Creds::Provider(Arc::new(provider::Cached::new(p.clone()))),
                (None, Some(src), _, _) => Creds::Source(src.clone()),
                (None, None, Some(u), Some(p)) => Creds::Fixed(u.expose().to_string(), p.clone()),
                _ => docker_creds(&opts, &key),
            };
            let reg = Registry::new(
                key.clone(),
                api_host_for(&key),
                r.insecure,
                http,
                Limits {
                    rate: r.rate_limit,
                    burst: r.burst,
                    max_concurrency: r.max_concurrency,
                },
                creds,
                true,
            );
            if registries.insert(key.clone(), Arc::new(reg)).is_some() {
                return Err(RegistryError::Config(format!(
                    "registry {key} is configured twice"
                )));
            }
        }
        Ok(RegistryClient(Arc::new(Inner {
            opts,
            registries: Mutex::new(registries),
            default_http,
            metrics: RegistryMetrics::default(),
            cache: TagCache::default(),
            created: CreatedCache::default(),
        })))
    }

    /// All tags of the image's repository, in registry order, from the cache when it
    /// is fresh enough; concurrent calls share one listing. During a repository's
    /// backoff after a failed listing, the last error comes back without a request.
    pub async fn list_tags(&self, image: &ImageRef) -> Result<Arc<Vec<String>>, RegistryError> {
        let reg = self.0.registry_for(image);
        self.0.tags(reg, &image.repository, false).await
    }

    /// Like [`list_tags`](Self::list_tags), but never from a cached list (or a backoff)
    /// older than `max_age`: a poller passes its interval, so the cache TTL cannot
    /// floor a shorter poll interval.
    pub async fn list_tags_within(
        &self,
        image: &ImageRef,
        max_age: Duration,
    ) -> Result<Arc<Vec<String>>, RegistryError> {
        let reg = self.0.registry_for(image);
        self.0
            .tags_within(reg, &image.repository, false, max_age)
            .await
    }

    /// Like [`list_tags`](Self::list_tags), but from a listing that started after this
    /// call (for a webhook hint): bypasses the TTL and the backoff, and still shares
    /// one listing among concurrent fresh calls. The result refreshes the cache.
    pub async fn list_tags_fresh(
        &self,
        image: &ImageRef,
    ) -> Result<Arc<Vec<String>>, RegistryError> {
        let reg = self.0.registry_for(image);
        self.0.tags(reg, &image.repository, true).await
    }

    /// Forgets the cached tag list (and any backoff) of the image's repository.
    pub fn invalidate(&self, image: &ImageRef) {
        self.0
            .cache
            .invalidate(&normalise_host(&image.registry), &image.repository);
    }

    /// The digest `tag` points at. For a multi-arch image this is the index (or
    /// manifest list) digest. `tag` may also be a digest, which is then checked to exist.
    pub async fn resolve_digest(
        &self,
        image: &ImageRef,
        tag: &str,
    ) -> Result<String, RegistryError> {
        let reg = self.0.registry_for(image);
        manifest::resolve_digest(&reg, &self.0.policy(), &image.repository, tag).await
    }

    /// True when `tag` offers every platform in `platforms` (`os/arch[/variant]`, e.g.
    /// `linux/amd64`, `linux/arm64/v8`): read from the index of a multi-arch image, or
    /// from the config of a single-platform one. An empty list is trivially true and
    /// costs no request.
    pub async fn check_platforms(
        &self,
        image: &ImageRef,
        tag: &str,
        platforms: &[String],
    ) -> Result<bool, RegistryError> {
        if platforms.is_empty() {
            return Ok(true);
        }
        let required = platforms
            .iter()
            .map(|p| {
                manifest::PlatformSpec::parse(p).ok_or_else(|| {
                    RegistryError::Config(format!("platform {p:?} is not os/arch[/variant]"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let reg = self.0.registry_for(image);
        let have = manifest::platforms_of(&reg, &self.0.policy(), &image.repository, tag).await?;
        Ok(manifest::all_satisfied(&required, &have))
    }

    /// When the image `tag` names was built: the manifest's (or index's) annotation
    /// `org.opencontainers.image.created`, else the image config's `created` (for an
    /// index, of its first platform manifest). `None` when the image states neither.
    /// One manifest request per call; the rest is cached by digest.
    pub async fn created(
        &self,
        image: &ImageRef,
        tag: &str,
    ) -> Result<Option<std::time::SystemTime>, RegistryError> {
        let reg = self.0.registry_for(image);
        created::created_of(
            &reg,
            &self.0.policy(),
            &self.0.created,
            &image.repository,
            tag,
        )
        .await
    }

    /// A copy of the request counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.0.metrics.snapshot()
    }
}

impl Inner {
    fn policy(&self) -> Policy<'_> {
        Policy {
            opts: &self.opts,
            metrics: &self.metrics,
        }
    }

    /// The registry serving `image`, created with defaults on first use if it is not
    /// configured.
    fn registry_for(&self, image: &ImageRef) -> Arc<Registry> {
        let key = normalise_host(&image.registry);
        let mut m = self.registries.lock().unwrap();
        m.entry(key.clone())
            .or_insert_with(|| {
                let creds = docker_creds(&self.opts, &key);
                Arc::new(Registry::new(
                    key.clone(),
                    api_host_for(&key),
                    false,
                    HttpClient::fixed(self.default_http.clone()),
                    Limits {
                        rate: self.opts.default_rate_limit,
                        burst: self.opts.default_burst,
                        max_concurrency: self.opts.default_max_concurrency,
                    },
                    creds,
                    false,
                ))
            })
            .clone()
    }

    /// One complete listing (no cache).
    async fn fetch_tags(
        &self,
        reg: &Registry,
        repository: &str,
    ) -> Result<Vec<String>, RegistryError> {
        tags::list_all(reg, &self.policy(), repository).await
    }
}
