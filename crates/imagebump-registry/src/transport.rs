//! One registry's HTTP side: its client, rate limiter and auth state, and the request
//! loop every call goes through (rate limit → auth → send → retry → map status).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};

use super::auth::{parse_challenge, Challenge, TokenResponse};
use super::creds::Creds;
use super::error::{one_line, RegistryError};
use super::identity::HttpClient;
use super::metrics::{RegistryMetrics, RequestKind};
use super::quota;
use super::ratelimit::{backoff, later, parse_retry_after, Budget, TokenBucket, MAX_SLEEP};
use super::ClientOptions;
use imagebump_core::secret::Secret;

/// Everything the client knows about one registry host.
pub(crate) struct Registry {
    /// Normalised registry name (`docker.io`, `127.0.0.1:5000`): the metrics label
    /// and cache key.
    pub key: String,
    /// Host that serves the API (`registry-1.docker.io` for Docker Hub).
    pub api_host: String,
    /// `https`, or `http` for a registry configured `insecure: true`.
    pub scheme: &'static str,
    /// Rebuilt when a followed client certificate rotates.
    http: HttpClient,
    pub limiter: TokenBucket,
    /// Bounds the requests in flight to this registry (a fleet's start-up is hundreds
    /// of listings at once; a registry sees at most this many connections' worth).
    inflight: tokio::sync::Semaphore,
    max_inflight: usize,
    creds: Creds,
    /// The host has an entry in `registries` (else the defaults apply, which errors say).
    pub configured: bool,
    auth: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    /// The registry asked for Basic and we have credentials: send them up front.
    basic: bool,
    /// The registry asked for Bearer: (realm, service). Tokens are fetched up front
    /// for new scopes from then on, saving a 401 round trip per repository.
    bearer: Option<(String, Option<String>)>,
    /// Bearer tokens by scope, with the instant they stop being used.
    tokens: HashMap<String, (Secret, Instant)>,
}

/// A complete HTTP answer (status, headers, whole body).
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The final URL, after redirects (relative `Link`s resolve against it).
    pub url: Url,
}

/// One registry API request, as [`Registry::api`] takes it.
pub(crate) struct Call<'a> {
    /// The metrics label.
    pub kind: RequestKind,
    /// The repository (for the token scope and errors).
    pub repository: &'a str,
    pub method: Method,
    pub url: &'a Url,
    /// The `Accept` header.
    pub accept: &'a str,
    /// The object a 404 means is missing (`repository`, `tag 1.2`).
    pub what: &'a str,
}

/// Retry and timeout settings the request loop needs.
pub(crate) struct Policy<'a> {
    pub opts: &'a ClientOptions,
    pub metrics: &'a RegistryMetrics,
}

/// How politely to talk to one registry: the bucket and the concurrency bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Sustained requests per second.
    pub rate: f64,
    /// Requests that may go at once before the rate applies.
    pub burst: f64,
    /// Requests in flight at most (clamped to 1 ..= [`MAX_CONCURRENCY`]).
    pub max_concurrency: usize,
}

/// The most requests in flight to one registry, whatever is configured.
pub(crate) const MAX_CONCURRENCY: usize = 1024;

impl Registry {
    pub fn new(
        key: String,
        api_host: String,
        insecure: bool,
        http: HttpClient,
        limits: Limits,
        creds: Creds,
        configured: bool,
    ) -> Registry {
        let max_inflight = limits.max_concurrency.clamp(1, MAX_CONCURRENCY);
        Registry {
            key,
            api_host,
            scheme: if insecure { "http" } else { "https" },
            http,
            limiter: TokenBucket::new(limits.rate, limits.burst),
            inflight: tokio::sync::Semaphore::new(max_inflight),
            max_inflight,
            creds,
            configured,
            auth: Mutex::new(AuthState::default()),
        }
    }

    /// The credentials as of now (a helper or cloud identity is asked when its cached
    /// answer is stale); a provider's failure is a [`RegistryError::Credentials`].
    pub async fn creds(&self) -> Result<Option<(String, Secret)>, RegistryError> {
        self.creds
            .get()
            .await
            .map_err(|(source, e)| RegistryError::Credentials {
                registry: self.key.clone(),
                source_name: source,
                detail: e.detail,
                transient: e.transient,
            })
    }

    /// Who the client is at this registry: the username, the provider, or `anonymous`.
    pub fn identity(&self) -> String {
        self.creds.identity()
    }

    /// `scheme://api_host` + `path`.
    pub fn url(&self, path: &str) -> Result<Url, RegistryError> {
        let s = format!("{}://{}{}", self.scheme, self.api_host, path);
        Url::parse(&s).map_err(|e| self.protocol(format!("bad URL {s:?}: {e}")))
    }

    pub fn protocol(&self, detail: impl Into<String>) -> RegistryError {
        RegistryError::Protocol {
            registry: self.key.clone(),
            detail: detail.into(),
        }
    }

    async fn basic_header(&self) -> Result<Option<HeaderValue>, RegistryError> {
        let Some((user, pass)) = self.creds().await? else {
            return Ok(None);
        };
        let raw = format!("{user}:{}", pass.expose());
        let enc = base64::engine::general_purpose::STANDARD.encode(raw);
        let Ok(mut v) = HeaderValue::from_str(&format!("Basic {enc}")) else {
            return Ok(None);
        };
        v.set_sensitive(true);
        Ok(Some(v))
    }

    /// Sends one request, repeating it after 429 (waiting `Retry-After`, which also
    /// pauses the whole registry), 5xx and transport errors, with exponential backoff
    /// and jitter, at most `max_retries` times. Other statuses are returned as they are.
    /// Each attempt first waits for the bucket, then for a free slot of the registry's
    /// concurrency bound; a stated budget (`RateLimit-*`) on any answer is obeyed from
    /// the next request on.
    pub async fn send(
        &self,
        p: &Policy<'_>,
        kind: RequestKind,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
    ) -> Result<Fetched, RegistryError> {
        let opts = p.opts;
        let max_wait = opts.max_retry_after.min(MAX_SLEEP);
        let mut attempt = 0u32;
        loop {
            // The registry's stated budget first: a spent one is slept off and asked
            // again (a later answer may have restated it meanwhile).
            let paced = loop {
                match self.limiter.budget(kind) {
                    Budget::Go(d) => break d,
                    Budget::Spent(d) if d > max_wait => {
                        return Err(RegistryError::RateLimited {
                            registry: self.key.clone(),
                            retry_after: Some(d),
                        })
                    }
                    Budget::Spent(d) => {
                        p.metrics.rate_limit_wait(d);
                        tokio::time::sleep(d).await;
                    }
                }
            };
            let wait = self.limiter.reserve().max(paced);
            // Every wait is bounded: rather than queue for longer than a registry may
            // ask with Retry-After, fail now (the repository backs off for that long).
            if wait > max_wait {
                self.limiter.release(kind);
                return Err(RegistryError::RateLimited {
                    registry: self.key.clone(),
                    retry_after: Some(wait),
                });
            }
            if !wait.is_zero() {
                p.metrics.rate_limit_wait(wait);
                tokio::time::sleep(wait).await;
            }
            // Never closed, so this only waits; held until the body is read.
            let Ok(permit) = self.inflight.acquire().await else {
                return Err(self.protocol("the request limiter was closed"));
            };
            let outcome = match self
                .http
                .current(&self.key, p.metrics)
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status();
                    let headers = r.headers().clone();
                    let final_url = r.url().clone();
                    match read_capped(r, opts.max_body).await {
                        Ok(Some(body)) => Ok(Fetched {
                            status,
                            headers,
                            body,
                            url: final_url,
                        }),
                        Ok(None) => {
                            p.metrics.request(&self.key, kind, "too_large");
                            return Err(self.protocol(format!(
                                "the answer to {method} {} is larger than the limit of {} bytes",
                                url.path(),
                                opts.max_body
                            )));
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            if let Ok(f) = &outcome {
                if let Some(q) = quota::parse(&f.headers) {
                    // Requests sent before this answer came back may not be counted in
                    // the stated remainder yet: count them against it.
                    let others = self
                        .max_inflight
                        .saturating_sub(self.inflight.available_permits() + 1);
                    self.limiter.observe(kind, q, others as u64);
                }
            }
            drop(permit);
            let retry_in = match outcome {
                Ok(f) => {
                    p.metrics.request(&self.key, kind, f.status.as_str());
                    if f.status == StatusCode::TOO_MANY_REQUESTS {
                        let ra = f
                            .headers
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(parse_retry_after);
                        let too_long = ra.is_some_and(|r| r > max_wait);
                        // Only a wait the client will sleep through pauses the whole
                        // registry; a longer one fails this request at once (and its
                        // repository backs off), so one 429 cannot stall every other
                        // repository of the registry for an hour.
                        if let (Some(ra), false) = (ra, too_long) {
                            self.limiter.pause_until(later(ra));
                        }
                        if attempt >= opts.max_retries || too_long {
                            return Err(RegistryError::RateLimited {
                                registry: self.key.clone(),
                                retry_after: ra,
                            });
                        }
                        tracing::debug!(registry = %self.key, ?ra, "429, waiting");
                        // With Retry-After the limiter's pause does the waiting.
                        if ra.is_some() {
                            Duration::ZERO
                        } else {
                            backoff(opts.retry_base, attempt, opts.retry_max)
                        }
                    } else if matches!(f.status.as_u16(), 500 | 502 | 503 | 504) {
                        if attempt >= opts.max_retries {
                            return Err(RegistryError::Server {
                                registry: self.key.clone(),
                                status: f.status.as_u16(),
                                detail: one_line(&String::from_utf8_lossy(&f.body), 160),
                            });
                        }
                        backoff(opts.retry_base, attempt, opts.retry_max)
                    } else {
                        return Ok(f);
                    }
                }
                Err(e) => {
                    let timeout = e.is_timeout();
                    p.metrics
                        .request(&self.key, kind, if timeout { "timeout" } else { "error" });
                    // A TLS handshake against a plain-HTTP registry fails the same way
                    // every time: say what to change instead of retrying.
                    if !timeout && self.scheme == "https" && looks_like_tls(&e) {
                        if let Some(host) = plain_http_host(url).await {
                            return Err(RegistryError::PlainHttp { registry: host });
                        }
                    }
                    if attempt >= opts.max_retries {
                        return Err(if timeout {
                            RegistryError::Timeout {
                                registry: self.key.clone(),
                                after: opts.timeout,
                            }
                        } else {
                            RegistryError::Unreachable {
                                registry: self.key.clone(),
                                detail: self.unreachable_detail(&e, url),
                            }
                        });
                    }
                    tracing::debug!(registry = %self.key, error = %error_chain(&e), "retrying");
                    backoff(opts.retry_base, attempt, opts.retry_max)
                }
            };
            attempt += 1;
            p.metrics.retry();
            if !retry_in.is_zero() {
                tokio::time::sleep(retry_in).await;
            }
        }
    }

    /// A registry API request for `repository` with auth: sends what is known to work
    /// (a cached bearer token, or Basic), answers a 401 challenge once (fetching a
    /// token, or switching to Basic), and maps failure statuses to errors.
    pub async fn api(&self, p: &Policy<'_>, call: Call<'_>) -> Result<Fetched, RegistryError> {
        let Call {
            kind,
            repository,
            method,
            url,
            accept,
            what,
        } = call;
        let scope = format!("repository:{repository}:pull");
        let mut challenged = false;
        // Fetched credentials (a helper's, a cloud token) the registry refused are
        // asked for again, once: they may have been rotated or revoked early.
        let mut reasked = false;
        loop {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(accept) {
                headers.insert(ACCEPT, v);
            }
            // Whether *this* request carried Basic credentials: concurrent first requests
            // all get a 401, and each must retry with credentials, not just the first
            // one to record that the registry wants them.
            let mut sent_basic = false;
            let header = match self.auth_header(p, repository, &scope).await {
                Err(RegistryError::Unauthorized { .. })
                    if !reasked && self.creds.invalidate().await =>
                {
                    reasked = true;
                    continue;
                }
                other => other?,
            };
            if let Some(v) = header {
                sent_basic = v.as_bytes().starts_with(b"Basic ");
                headers.insert(AUTHORIZATION, v);
            }
            let f = self.send(p, kind, &method, url, &headers).await?;
            let status = f.status.as_u16();
            match status {
                _ if f.status.is_success() => return Ok(f),
                401 if !challenged => {
                    challenged = true;
                    let challenge = f
                        .headers
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_challenge);
                    let mut st = self.auth.lock().unwrap();
                    match challenge {
                        Some(Challenge::Basic) if !sent_basic && self.creds.configured() => {
                            st.basic = true;
                        }
                        Some(Challenge::Bearer { realm, service, .. }) => {
                            st.tokens.remove(&scope);
                            st.bearer = Some((realm, service));
                        }
                        _ => return Err(self.unauthorized(repository, self.refusal())),
                    }
                }
                401 if !reasked && self.creds.invalidate().await => {
                    reasked = true;
                    self.auth.lock().unwrap().tokens.remove(&scope);
                }
                401 => return Err(self.unauthorized(repository, self.refusal())),
                403 => return Err(self.unauthorized(repository, "forbidden (403)")),
                404 => {
                    return Err(RegistryError::NotFound {
                        registry: self.key.clone(),
                        repository: repository.to_string(),
                        what: what.to_string(),
                    })
                }
                _ => {
                    return Err(self.protocol(format!(
                        "unexpected status {status} for {method} {}: {}",
                        url.path(),
                        one_line(&String::from_utf8_lossy(&f.body), 160)
                    )))
                }
            }
        }
    }

    /// The transport error (it names the URL) and, for a host without a `registries`
    /// entry, that the defaults were assumed, so a typo or a missing entry shows.
    fn unreachable_detail(&self, e: &reqwest::Error, url: &Url) -> String {
        let mut chain = error_chain(e);
        if let Some(why) = self.http.refused() {
            chain.push_str(&format!(
                "; the rotated client certificate is not in use ({why}), the previous one was sent"
            ));
        }
        if self.configured {
            chain
        } else {
            format!(
                "{chain}; {} has no `registries` entry, so {}://{} was tried with the defaults",
                self.key,
                url.scheme(),
                url.authority()
            )
        }
    }

    /// Why a 401 stands: wrong credentials, or none.
    fn refusal(&self) -> &'static str {
        if self.creds.configured() {
            "credentials rejected (401)"
        } else {
            "authentication required and no credentials configured (401)"
        }
    }

    fn unauthorized(&self, repository: &str, detail: &str) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.key.clone(),
            repository: repository.to_string(),
            detail: detail.to_string(),
        }
    }

    /// The Authorization header for `scope`, fetching a bearer token if needed.
    async fn auth_header(
        &self,
        p: &Policy<'_>,
        repository: &str,
        scope: &str,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let bearer = {
            let st = self.auth.lock().unwrap();
            match &st.bearer {
                Some(b) => {
                    if let Some((tok, until)) = st.tokens.get(scope) {
                        if *until > Instant::now() {
                            return Ok(bearer_header(tok));
                        }
                    }
                    Some(b.clone())
                }
                None if st.basic => None,
                None => return Ok(None),
            }
        };
        // Basic: asked after the lock is released (a helper or token fetch awaits).
        let Some(bearer) = bearer else {
            return self.basic_header().await;
        };
        let (realm, service) = bearer;
        let (token, life) = self
            .fetch_token(p, repository, &realm, service.as_deref(), scope)
            .await?;
        let header = bearer_header(&token);
        self.auth
            .lock()
            .unwrap()
            .tokens
            .insert(scope.to_string(), (token, later(life)));
        Ok(header)
    }

    /// Asks the token realm for a token for `scope` (with Basic credentials if any).
    async fn fetch_token(
        &self,
        p: &Policy<'_>,
        repository: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(Secret, Duration), RegistryError> {
        let mut url = Url::parse(realm)
            .map_err(|e| self.protocol(format!("token realm {realm:?} is not a URL: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut headers = HeaderMap::new();
        if let Some(v) = self.basic_header().await? {
            headers.insert(AUTHORIZATION, v);
        }
        let f = self
            .send(p, RequestKind::Token, &Method::GET, &url, &headers)
            .await?;
        match f.status.as_u16() {
            200 => {
                let parsed: TokenResponse = serde_json::from_slice(&f.body)
                    .map_err(|_| self.protocol("token response is not JSON"))?;
                let (tok, life) = parsed
                    .into_parts()
                    .ok_or_else(|| self.protocol("token response holds no token"))?;
                Ok((Secret::new(tok), life))
            }
            401 | 403 => Err(self.unauthorized(
                repository,
                if self.creds.configured() {
                    "token request refused: credentials rejected"
                } else {
                    "token request refused and no credentials configured"
                },
            )),
            s => Err(self.protocol(format!("token request answered {s}"))),
        }
    }
}

/// The whole body, or `None` once it passes `max` bytes (checked against the declared
/// length first, then while reading, so a lying or endless body costs at most `max`).
async fn read_capped(
    mut r: reqwest::Response,
    max: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    if r.content_length().is_some_and(|n| n > max as u64) {
        return Ok(None);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = r.chunk().await? {
        if buf.len() + chunk.len() > max {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

fn bearer_header(tok: &Secret) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", tok.expose())).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// A transport error with its causes, on one line. Causes often repeat the text of the
/// one they wrap (OpenSSL's does): a cause already said is left out.
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.without_url_ref();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let text = c.to_string();
        if !s.contains(text.trim()) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = c.source();
    }
    one_line(&s, 300)
}

/// The error chain mentions TLS/SSL but no certificate: the connection was made and the
/// handshake failed before any certificate was checked.
fn looks_like_tls(e: &reqwest::Error) -> bool {
    let mut tls = false;
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = src {
        let t = c.to_string().to_ascii_lowercase();
        if t.contains("certificate") {
            return false;
        }
        tls |= t.contains("ssl") || t.contains("tls") || t.contains("handshake");
        src = c.source();
    }
    tls
}

/// After a failed TLS handshake: asks `url`'s host one plain-HTTP question and returns
/// `host:port` when an HTTP answer comes back that is not a TLS server's complaint
/// about plain HTTP (Go's servers answer one). Bounded: one connection, 3 s, 512 bytes.
async fn plain_http_host(url: &Url) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let authority = url.authority().to_string();
    let probe = async {
        let mut conn = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let req = format!("GET /v2/ HTTP/1.0\r\nHost: {authority}\r\n\r\n");
        conn.write_all(req.as_bytes()).await.ok()?;
        let mut head = Vec::with_capacity(512);
        (&mut conn).take(512).read_to_end(&mut head).await.ok()?;
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        (text.starts_with("http/") && !text.contains("https server")).then_some(())
    };
    tokio::time::timeout(Duration::from_secs(3), probe)
        .await
        .ok()
        .flatten()
        .map(|()| authority)
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        match self.url() {
            Some(u) => format!("{} ({}://{})", kind_of(self), u.scheme(), u.authority()),
            None => kind_of(self).to_string(),
        }
    }
}

fn kind_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    }
}
