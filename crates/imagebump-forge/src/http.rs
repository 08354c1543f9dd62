//! One request to a forge's API: the token in that forge's auth header (asked per
//! request), error answers turned into [`ForgeError`] with the forge's own message,
//! rate-limit answers into [`ForgeError::RateLimited`], and lists followed page by page.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ForgeError, Provider, TokenSource, MAX_PAGES};

/// The longest wait a forge's rate limit is believed for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// The wait when a forge says "too many requests" without saying for how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30);
/// Error bodies are cut to this many characters in messages.
const MAX_MESSAGE: usize = 300;

/// How a list endpoint says where its next page is.
#[derive(Debug, Clone, Copy)]
pub enum Paging {
    /// A JSON array per page, `Link: <…>; rel="next"` (GitHub, Gitea; GitLab also sends
    /// `X-Next-Page`, read when `Link` is missing).
    Headers,
    /// `{"values": […], "next": URL}` (Bitbucket).
    BodyNext,
}

/// An API client for one forge base URL.
pub struct Api {
    pub provider: Provider,
    base: Url,
    client: reqwest::Client,
    token: Arc<dyn TokenSource>,
}

impl Api {
    /// A client for `base` (no trailing slash needed).
    pub fn new(
        provider: Provider,
        base: &str,
        token: Arc<dyn TokenSource>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Api, ForgeError> {
        let trimmed = base.trim_end_matches('/');
        let base = Url::parse(trimmed)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                ForgeError::Config(format!(
                    "{provider:?} apiUrl {:?} is not an http(s) URL; set it to the \
                     forge's API base, e.g. https://HOST/api/v4",
                    crate::url::redact(trimmed)
                ))
            })?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(ForgeError::Config(format!(
                "{provider:?} apiUrl must not hold credentials; the token goes in `token`"
            )));
        }
        if base.scheme() == "http" && !is_loopback(&base) {
            return Err(ForgeError::Config(format!(
                "{provider:?} apiUrl {trimmed} is plain http: the token would cross the \
                 network in clear; use https (plain http is for 127.0.0.1/localhost only)"
            )));
        }
        let mut b = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("imagebump/", env!("CARGO_PKG_VERSION")))
            // A redirect could carry the auth header elsewhere; APIs answer directly.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                ForgeError::Config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ForgeError::Config(format!("CA file {} is not PEM: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(ForgeError::Config(format!(
                    "CA file {} holds no certificate",
                    path.display()
                )));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b
            .build()
            .map_err(|e| ForgeError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Api {
            provider,
            base,
            client,
            token,
        })
    }

    /// `host[:port]` of the API, for messages.
    pub fn host(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        match self.base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// `base` + `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> Result<Url, ForgeError> {
        let s = format!(
            "{}{path_and_query}",
            self.base.as_str().trim_end_matches('/')
        );
        Url::parse(&s).map_err(|e| self.transport(format!("bad URL {s}: {e}")))
    }

    /// The same origin as the base URL, with another path (GitHub's GraphQL endpoint).
    pub fn origin_url(&self, path: &str) -> Result<Url, ForgeError> {
        let mut u = self.base.clone();
        u.set_path(path);
        u.set_query(None);
        Ok(u)
    }

    /// The base URL's path (`/api/v3`, or empty).
    pub fn base_path(&self) -> &str {
        self.base.path().trim_end_matches('/')
    }

    fn transport(&self, msg: String) -> ForgeError {
        ForgeError::Transport(msg, self.provider)
    }

    /// Sends one request; a 2xx answer's headers and body, else the error.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(HeaderMap, Vec<u8>), ForgeError> {
        let token = self.token.token();
        let mut auth = HeaderValue::from_str(&match self.provider {
            Provider::Gitea => format!("token {}", token.expose()),
            _ => format!("Bearer {}", token.expose()),
        })
        .map_err(|_| {
            ForgeError::Config(format!(
                "{:?} API token holds characters an HTTP header cannot carry",
                self.provider
            ))
        })?;
        auth.set_sensitive(true);
        let mut req = self
            .client
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, auth);
        req = match self.provider {
            Provider::Github => req
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            _ => req.header("Accept", "application/json"),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let path = url.path().to_string();
        let resp = req.send().await.map_err(|e| {
            // reqwest's message names the URL (never with the token: it is a header).
            self.transport(format!("{method} {path}: {}", without_url(e)))
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| {
                self.transport(format!(
                    "{method} {path}: reading the answer: {}",
                    without_url(e)
                ))
            })?
            .to_vec();
        if status.is_success() {
            return Ok((headers, bytes));
        }
        if let Some(retry_after) = rate_limited(self.provider, status, &headers) {
            return Err(ForgeError::RateLimited {
                provider: self.provider,
                retry_after,
            });
        }
        let mut message = error_message(self.provider, status, &bytes);
        if !token.expose().is_empty() {
            message = message.replace(token.expose(), "***");
        }
        if let Some(h) = hint(status) {
            message = format!("{message} ({h} at {})", self.host());
        }
        Err(ForgeError::Http {
            provider: self.provider,
            method: method.to_string(),
            path,
            status: status.as_u16(),
            message,
        })
    }

    /// Sends one request and reads its JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, ForgeError> {
        let path = url.path().to_string();
        let (_, bytes) = self.send(method.clone(), url, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            self.transport(format!(
                "{method} {path}: the answer is not the documented JSON: {e}"
            ))
        })
    }

    /// Every item of a list, page after page (at most [`MAX_PAGES`]). A next page on
    /// another host is refused: the token would go there.
    pub async fn pages<T: DeserializeOwned>(
        &self,
        first: Url,
        paging: Paging,
    ) -> Result<Vec<T>, ForgeError> {
        let mut items = Vec::new();
        let mut url = first;
        for _ in 0..MAX_PAGES {
            let path = url.path().to_string();
            let (headers, bytes) = self.send(Method::GET, url.clone(), None).await?;
            let bad = |e: serde_json::Error| {
                self.transport(format!(
                    "GET {path}: the answer is not the documented JSON: {e}"
                ))
            };
            let next = match paging {
                Paging::Headers => {
                    let page: Vec<T> = serde_json::from_slice(&bytes).map_err(bad)?;
                    items.extend(page);
                    next_from_headers(&url, &headers)
                }
                Paging::BodyNext => {
                    #[derive(serde::Deserialize)]
                    struct Page<T> {
                        values: Vec<T>,
                        next: Option<String>,
                    }
                    let page: Page<T> = serde_json::from_slice(&bytes).map_err(bad)?;
                    items.extend(page.values);
                    page.next.and_then(|n| Url::parse(&n).ok())
                }
            };
            match next {
                None => return Ok(items),
                Some(n) if n.origin() != self.base.origin() => {
                    return Err(self.transport(format!(
                        "GET {path}: the next page is on another host ({}); not followed",
                        n.origin().ascii_serialization()
                    )))
                }
                Some(n) => url = n,
            }
        }
        Err(self.transport(format!(
            "GET {}: more than {MAX_PAGES} pages; not read to the end",
            url.path()
        )))
    }
}

fn is_loopback(u: &Url) -> bool {
    let host = u.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// What to check, for the statuses that mean the configuration is wrong.
fn hint(status: StatusCode) -> Option<&'static str> {
    match status.as_u16() {
        401 => Some("check the token"),
        403 => Some("check the token's scopes, see README \"Pull requests\""),
        404 => Some("check apiUrl, the repository path and that the token can see it"),
        _ => None,
    }
}

/// reqwest's error and its causes on one line, without the URL (the caller names the path).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        s = format!("{s}: {c}");
        src = c.source();
    }
    s
}

/// The next page: `Link: <…>; rel="next"` when it is on the API's origin, else GitLab's
/// `X-Next-Page` (the page number, empty on the last page) applied to the current URL
/// (GitLab behind a proxy links to its own external URL), else a foreign link, which the
/// caller refuses.
fn next_from_headers(current: &Url, headers: &HeaderMap) -> Option<Url> {
    let link = link_next(current, headers);
    match link {
        Some(l) if l.origin() == current.origin() => Some(l),
        other => x_next_page(current, headers).or(other),
    }
}

fn link_next(current: &Url, headers: &HeaderMap) -> Option<Url> {
    for v in headers.get_all("link") {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(',') {
            let mut bits = part.split(';');
            let target = bits.next().unwrap_or_default().trim();
            let is_next = bits.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                let t = target.trim_start_matches('<').trim_end_matches('>');
                return current.join(t).ok();
            }
        }
    }
    None
}

fn x_next_page(current: &Url, headers: &HeaderMap) -> Option<Url> {
    let page = headers.get("x-next-page")?.to_str().ok()?.trim();
    let page: u64 = page.parse().ok()?;
    let mut next = current.clone();
    let pairs: Vec<(String, String)> = current
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("page", &page.to_string());
    Some(next)
}

/// The wait a rate-limit answer asks for, or None when the answer is no rate limit.
pub fn rate_limited(
    provider: Provider,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<Duration> {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = header("retry-after").and_then(parse_retry_after);
    let wait = match provider {
        // Primary limit: 403 or 429 with no requests remaining, until the reset epoch;
        // secondary limits: Retry-After. A 403 without either is a permission error.
        Provider::Github => {
            if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
                return None;
            }
            if let Some(w) = retry_after {
                w
            } else if header("x-ratelimit-remaining") == Some("0") {
                header("x-ratelimit-reset")
                    .and_then(until_epoch)
                    .unwrap_or(DEFAULT_RETRY_AFTER)
            } else if status == StatusCode::TOO_MANY_REQUESTS {
                DEFAULT_RETRY_AFTER
            } else {
                return None;
            }
        }
        Provider::Gitlab => {
            if status != StatusCode::TOO_MANY_REQUESTS {
                return None;
            }
            retry_after
                .or_else(|| header("ratelimit-reset").and_then(until_epoch))
                .unwrap_or(DEFAULT_RETRY_AFTER)
        }
        Provider::Gitea | Provider::Bitbucket => {
            if status != StatusCode::TOO_MANY_REQUESTS {
                return None;
            }
            retry_after.unwrap_or(DEFAULT_RETRY_AFTER)
        }
    };
    Some(wait.clamp(Duration::from_secs(1), MAX_RETRY_AFTER))
}

/// `Retry-After`: seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(MAX_RETRY_AFTER.as_secs())));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// How long until the Unix time `v` (seconds); zero when it has passed.
fn until_epoch(v: &str) -> Option<Duration> {
    let at: u64 = v.parse().ok()?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(
        at.saturating_sub(now).min(MAX_RETRY_AFTER.as_secs()),
    ))
}

/// The forge's own error text from its documented error body, else the body's start,
/// else the status.
pub fn error_message(provider: Provider, status: StatusCode, body: &[u8]) -> String {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| from_json(provider, &v));
    let text = text.unwrap_or_else(|| {
        let s = String::from_utf8_lossy(body);
        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            s
        }
    });
    let one_line = text.replace(['\n', '\r'], " ");
    match one_line.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

fn from_json(provider: Provider, v: &Value) -> Option<String> {
    match provider {
        // {"message": "Validation Failed", "errors": [{"message": …} | {"field", "code"}]}
        Provider::Github => {
            let mut parts = vec![v.get("message")?.as_str()?.to_string()];
            for e in v
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(m) = e.get("message").and_then(Value::as_str) {
                    parts.push(m.to_string());
                } else if let (Some(f), Some(c)) = (e.get("field"), e.get("code")) {
                    parts.push(format!(
                        "{} {}",
                        f.as_str().unwrap_or_default(),
                        c.as_str().unwrap_or_default()
                    ));
                }
            }
            Some(parts.join(": "))
        }
        // {"message": "…" | ["…"] | {"field": ["…"]}} or {"error": "…", "error_description": "…"}
        Provider::Gitlab => {
            if let Some(m) = v.get("message") {
                return Some(flatten(m));
            }
            let e = v.get("error")?.as_str()?;
            Some(match v.get("error_description").and_then(Value::as_str) {
                Some(d) => format!("{e}: {d}"),
                None => e.to_string(),
            })
        }
        // {"message": "…", "url": "…/api/swagger"}
        Provider::Gitea => Some(v.get("message")?.as_str()?.to_string()),
        // {"type": "error", "error": {"message": "…", "detail": "…"}}
        Provider::Bitbucket => {
            let e = v.get("error")?;
            let m = e.get("message")?.as_str()?;
            Some(match e.get("detail").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{m}: {d}"),
                _ => m.to_string(),
            })
        }
    }
}

/// GitLab's `message` as one line, whatever its shape.
fn flatten(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(flatten).collect::<Vec<_>>().join("; "),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k} {}", flatten(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn github_403_is_a_rate_limit_only_with_its_headers() {
        let h = headers(&[("x-ratelimit-remaining", "12")]);
        assert_eq!(
            rate_limited(Provider::Github, StatusCode::FORBIDDEN, &h),
            None
        );
        let h = headers(&[("retry-after", "30")]);
        assert_eq!(
            rate_limited(Provider::Github, StatusCode::FORBIDDEN, &h),
            Some(Duration::from_secs(30))
        );
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "99999999999"),
        ]);
        assert_eq!(
            rate_limited(Provider::Github, StatusCode::FORBIDDEN, &h),
            Some(MAX_RETRY_AFTER)
        );
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")]);
        assert_eq!(
            rate_limited(Provider::Github, StatusCode::TOO_MANY_REQUESTS, &h),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_429_without_a_wait_gets_the_default_and_an_http_date_is_read() {
        let h = headers(&[]);
        assert_eq!(
            rate_limited(Provider::Bitbucket, StatusCode::TOO_MANY_REQUESTS, &h),
            Some(DEFAULT_RETRY_AFTER)
        );
        assert_eq!(
            rate_limited(Provider::Gitea, StatusCode::FORBIDDEN, &h),
            None
        );
        let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(600));
        let w = rate_limited(
            Provider::Gitlab,
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", &at)]),
        )
        .unwrap();
        assert!(
            w > Duration::from_secs(590) && w <= Duration::from_secs(600),
            "{w:?}"
        );
    }

    #[test]
    fn error_messages_are_the_forges_own_on_one_line() {
        let gh = br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:x."}]}"#;
        assert_eq!(
            error_message(Provider::Github, StatusCode::UNPROCESSABLE_ENTITY, gh),
            "Validation Failed: A pull request already exists for acme:x."
        );
        let gl = br#"{"message":["Another open merge request already exists for this source branch: !1"]}"#;
        assert_eq!(
            error_message(Provider::Gitlab, StatusCode::CONFLICT, gl),
            "Another open merge request already exists for this source branch: !1"
        );
        let gl = br#"{"message":{"title":["is too long"]}}"#;
        assert_eq!(
            error_message(Provider::Gitlab, StatusCode::BAD_REQUEST, gl),
            "title is too long"
        );
        let bb = br#"{"type":"error","error":{"message":"Bad request","detail":"no\nbranch"}}"#;
        assert_eq!(
            error_message(Provider::Bitbucket, StatusCode::BAD_REQUEST, bb),
            "Bad request: no branch"
        );
        assert_eq!(
            error_message(Provider::Gitea, StatusCode::BAD_GATEWAY, b""),
            "Bad Gateway"
        );
    }

    #[test]
    fn next_pages_come_from_link_or_gitlab_headers() {
        let cur = Url::parse("http://h/api/v4/x?state=all&page=1").unwrap();
        let h = headers(&[(
            "link",
            "<http://h/api/v4/x?page=1>; rel=\"prev\", <http://h/api/v4/x?page=2>; rel=\"next\"",
        )]);
        assert_eq!(
            next_from_headers(&cur, &h).unwrap().as_str(),
            "http://h/api/v4/x?page=2"
        );
        let h = headers(&[("x-next-page", "3")]);
        assert_eq!(
            next_from_headers(&cur, &h).unwrap().as_str(),
            "http://h/api/v4/x?state=all&page=3"
        );
        assert_eq!(
            next_from_headers(&cur, &headers(&[("x-next-page", "")])),
            None
        );
        // GitLab behind a proxy links to its external URL: its page number is used.
        let h = headers(&[
            (
                "link",
                "<https://gitlab.example.com/api/v4/x?page=2>; rel=\"next\"",
            ),
            ("x-next-page", "2"),
        ]);
        assert_eq!(
            next_from_headers(&cur, &h).unwrap().as_str(),
            "http://h/api/v4/x?state=all&page=2"
        );
        let h = headers(&[("link", "<https://elsewhere/x?page=2>; rel=\"next\"")]);
        assert_eq!(
            next_from_headers(&cur, &h).unwrap().host_str(),
            Some("elsewhere")
        );
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        let token: Arc<dyn TokenSource> = Arc::new(imagebump_core::secret::Secret::new("t"));
        for ok in [
            "http://127.0.0.1:3000/api/v1",
            "http://localhost/api/v1",
            "http://[::1]:80",
            "https://gitea.example.com/api/v1",
        ] {
            assert!(
                Api::new(Provider::Gitea, ok, token.clone(), None).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://gitea.example.com/api/v1",
            "https://user:pw@gitea.example.com",
            "gitea.example.com",
            "file:///x",
            "htp://u:pw@x/",
            "u:pw@x",
        ] {
            let e = Api::new(Provider::Gitea, bad, token.clone(), None)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("apiUrl") && !e.contains("pw@"), "{bad}: {e}");
        }
    }
}
