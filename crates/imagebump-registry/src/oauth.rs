//! The HTTP side every cloud identity shares: one bounded request to a token service,
//! its JSON answer, and its error in the service's own words (OAuth 2.0's
//! `error`/`error_description`, RFC 6749 §5.2, which Google, Entra ID and IMDS use).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};

use crate::error::one_line;
use crate::provider::CredentialError;

/// The largest token-service answer read.
const MAX_ANSWER: usize = 256 * 1024;

/// A token service request's time budget: a metadata server that hangs (a pod without
/// the identity webhook) must not stall a scan.
pub(crate) const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);

/// The HTTP client of a token service: bounded, and never following a redirect to
/// another host with a token in hand (reqwest drops `Authorization` across hosts).
pub(crate) fn http_client() -> Result<reqwest::Client, CredentialError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(TOKEN_TIMEOUT)
        .user_agent(concat!("imagebump/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CredentialError::fatal(format!("cannot build the token service client: {e}")))
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// What to send.
pub(crate) enum Body {
    None,
    Form(String),
    Json(String),
}

/// Sends one request to a token service (`who` names it in errors: "GCP metadata
/// server", "Entra ID") and returns its JSON answer. Non-2xx answers become errors
/// quoting the service's message; 5xx, 429 and transport errors are transient.
pub(crate) async fn call(
    http: &reqwest::Client,
    who: &str,
    method: reqwest::Method,
    url: &str,
    headers: HeaderMap,
    body: Body,
) -> Result<serde_json::Value, CredentialError> {
    let (origin, buf) = call_raw(http, who, method, url, headers, body).await?;
    serde_json::from_slice(&buf)
        .map_err(|_| CredentialError::fatal(format!("{who} ({origin}): answer is not JSON")))
}

/// Like [`call`], but the successful answer's bytes as they came (a subject token
/// served as text), with the service's origin for messages.
pub(crate) async fn call_raw(
    http: &reqwest::Client,
    who: &str,
    method: reqwest::Method,
    url: &str,
    headers: HeaderMap,
    body: Body,
) -> Result<(String, Vec<u8>), CredentialError> {
    let mut req = http
        .request(method, url)
        .headers(headers)
        .timeout(TOKEN_TIMEOUT);
    req = match body {
        Body::None => req,
        Body::Form(f) => req
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(f),
        Body::Json(j) => req
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(j),
    };
    let origin = reqwest::Url::parse(url)
        .map(|u| format!("{}://{}", u.scheme(), u.authority()))
        .unwrap_or_else(|_| "its URL".to_string());
    let resp = req.send().await.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        CredentialError::transient(format!("{who} ({origin}): {what}"))
    })?;
    let status = resp.status();
    let mut resp = resp;
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| {
        CredentialError::transient(format!("{who} ({origin}): reading the answer failed"))
    })? {
        if buf.len() + chunk.len() > MAX_ANSWER {
            return Err(CredentialError::fatal(format!(
                "{who} ({origin}): answer larger than {MAX_ANSWER} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let detail = service_message(&buf);
        let msg = format!("{who} ({origin}) answered {}: {detail}", status.as_u16());
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            CredentialError::transient(msg)
        } else {
            CredentialError::fatal(msg)
        });
    }
    Ok((origin, buf))
}

/// The service's own error text: OAuth's `error_description`/`error`, Google's
/// `error.message`, or the start of the body.
fn service_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_string);
        let text = match (s("/error"), s("/error_description")) {
            (Some(e), Some(d)) => Some(format!("{e}: {d}")),
            (e, d) => d
                .or(e)
                .or_else(|| s("/error/message"))
                .or_else(|| s("/errors/0/message"))
                .or_else(|| s("/message")),
        };
        if let Some(t) = text {
            return one_line(&t, 300);
        }
    }
    one_line(&String::from_utf8_lossy(body), 200)
}

/// A string field of a token answer, or an error naming it.
pub(crate) fn field<'a>(
    v: &'a serde_json::Value,
    name: &str,
    who: &str,
) -> Result<&'a str, CredentialError> {
    v.get(name)
        .and_then(|x| x.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CredentialError::fatal(format!("{who}: answer has no {name}")))
}

/// `expires_in` as seconds: a number or (IMDS, App Service) a numeric string.
pub(crate) fn expires_in(v: &serde_json::Value) -> Option<Duration> {
    let e = v.get("expires_in")?;
    let secs = e
        .as_u64()
        .or_else(|| e.as_str().and_then(|s| s.trim().parse().ok()))?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            form(&[("grant_type", "urn:a:b"), ("x", "a b&c=d/é")]),
            "grant_type=urn%3Aa%3Ab&x=a+b%26c%3Dd%2F%C3%A9"
        );
    }

    #[test]
    fn service_messages() {
        assert_eq!(
            service_message(br#"{"error":"invalid_grant","error_description":"Invalid JWT"}"#),
            "invalid_grant: Invalid JWT"
        );
        assert_eq!(
            service_message(br#"{"error":{"code":403,"message":"denied"}}"#),
            "denied"
        );
        assert_eq!(service_message(b"plain\ntext"), "plain text");
        assert_eq!(
            expires_in(&serde_json::json!({"expires_in": "3599"})),
            Some(Duration::from_secs(3599))
        );
    }
}
