//! Helpers shared by the providers: reading the body, naming images, CloudEvents.

use http::HeaderMap;
use serde::de::DeserializeOwned;

use super::{auth, Action, ImageEvent, Receiver, WebhookError};
use imagebump_core::image::{split_raw, validate_digest, validate_tag, ImageRef};

/// One authenticated delivery, as the providers see it.
pub(super) struct Context<'a> {
    /// The receiver it was sent to.
    pub receiver: &'a Receiver,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
}

impl Context<'_> {
    /// A header's trimmed text value, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        auth::header(self.headers, name)
    }

    /// The body as JSON of type `T`; a decoding error is a one-line Malformed.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, WebhookError> {
        from_json(self.body)
    }

    /// The receiver's configured `registry:`, if any.
    pub fn registry(&self) -> Option<&str> {
        self.receiver.registry.as_deref()
    }
}

/// Decodes JSON; errors become one-line Malformed messages.
pub(super) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WebhookError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(WebhookError::malformed("the body is empty"));
    }
    serde_json::from_slice(bytes).map_err(|e| WebhookError::malformed(format!("invalid JSON: {e}")))
}

/// Docker's rule: a first path component is a registry host when it has a dot or a
/// port, or is `localhost` (or an IPv6 literal).
pub(super) fn names_host(component: &str) -> bool {
    component.contains('.')
        || component.contains(':')
        || component == "localhost"
        || component.starts_with('[')
}

/// The `host[:port]` of a URL or bare host (`https://ghcr.io/org` → `ghcr.io`).
pub(super) fn host_of(raw: &str) -> Option<&str> {
    let s = raw.trim();
    let s = match s.find("://") {
        Some(i) => &s[i + 3..],
        None => s,
    };
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    let s = &s[..end];
    // Drop user info, never part of an image name.
    let s = match s.rfind('@') {
        Some(i) => &s[i + 1..],
        None => s,
    };
    (!s.is_empty()).then_some(s)
}

/// The repository path from a payload that gives it whole (`full`) or as namespace +
/// name; `field` names the whole-path field for the error.
pub(super) fn repo_path(
    full: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    field: &str,
) -> Result<String, WebhookError> {
    match (full, namespace, name) {
        (Some(full), _, _) if !full.trim().is_empty() => Ok(full),
        (_, Some(ns), Some(n)) => Ok(format!("{ns}/{n}")),
        _ => Err(WebhookError::malformed(format!("no {field}"))),
    }
}

/// Adds one event to `out`, normalising its name.
///
/// `push` says the sender reports a push; the event becomes [`Action::Push`] only when a
/// tag comes with it. A tag that is really a digest (Harbor sends `tag: sha256:…` for a
/// push by digest) counts as the digest. An invalid digest is dropped, it is only a hint.
///
/// Errors only for events that would be scanned (a push with a tag): a missing registry,
/// an invalid name or an invalid tag. Other events that cannot be named are left out.
pub(super) fn add_event(
    out: &mut Vec<ImageEvent>,
    host: Option<&str>,
    path: &str,
    tag: Option<&str>,
    digest: Option<&str>,
    push: bool,
) -> Result<(), WebhookError> {
    let mut tag = tag.map(str::trim).filter(|t| !t.is_empty());
    let mut digest = digest.map(str::trim).filter(|d| !d.is_empty());
    if let Some(t) = tag {
        if t.starts_with("sha256:") || t.starts_with("sha512:") {
            digest = digest.or(Some(t));
            tag = None;
        }
    }
    let digest = digest.filter(|d| validate_digest(d).is_ok());
    let scan = push && tag.is_some();
    match build(host, path, tag) {
        Ok((registry, repository)) => {
            out.push(ImageEvent {
                registry,
                repository,
                tag: tag.map(str::to_string),
                digest: digest.map(str::to_string),
                action: if scan { Action::Push } else { Action::Ignored },
            });
            Ok(())
        }
        Err(e) if scan => Err(e),
        Err(_) => Ok(()),
    }
}

/// Adds the event for a full reference (`ghcr.io/org/app:1.2`, `nginx`, `org/app@sha256:…`).
///
/// A reference whose first component is no host gets `fallback_host`; without one it is
/// a Docker Hub name. A tag or digest in the reference wins over the ones given.
pub(super) fn add_reference(
    out: &mut Vec<ImageEvent>,
    reference: &str,
    fallback_host: Option<&str>,
    tag: Option<&str>,
    digest: Option<&str>,
    push: bool,
) -> Result<(), WebhookError> {
    let reference = reference.trim();
    let raw = split_raw(reference);
    let (host, path) = match raw.name.split_once('/') {
        Some((first, rest)) if names_host(first) => (Some(first), rest),
        _ => (
            Some(fallback_host.unwrap_or(imagebump_core::image::DOCKER_HUB)),
            raw.name,
        ),
    };
    add_event(
        out,
        host,
        path,
        raw.tag.or(tag),
        raw.digest.or(digest),
        push,
    )
}

/// Normalises (host, path) into (registry, repository).
fn build(
    host: Option<&str>,
    path: &str,
    tag: Option<&str>,
) -> Result<(String, String), WebhookError> {
    let Some(host) = host.and_then(host_of) else {
        return Err(WebhookError::malformed(
            "the payload names no registry host; set `registry:` on the receiver",
        ));
    };
    if !names_host(host) {
        return Err(WebhookError::malformed(format!(
            "{host:?} is not a registry host (it needs a dot or a port, or must be localhost)"
        )));
    }
    let path = path.trim().trim_matches('/');
    if path.is_empty() {
        return Err(WebhookError::malformed("the event names no repository"));
    }
    if path.contains([':', '@']) {
        return Err(WebhookError::malformed(format!(
            "repository {path:?} may not hold ':' or '@'"
        )));
    }
    if let Some(t) = tag {
        validate_tag(t).map_err(WebhookError::malformed)?;
    }
    let r = ImageRef::parse(&format!("{host}/{path}"))
        .map_err(|e| WebhookError::malformed(e.to_string()))?;
    Ok((r.registry, r.repository))
}

/// A CloudEvent, from either content mode.
pub(super) struct CloudEvent {
    /// `type` (`ce-type` in binary mode).
    pub kind: String,
    /// `source` (`ce-source`), if given.
    pub source: Option<String>,
    /// `data`: the body in binary mode.
    pub data: serde_json::Value,
}

/// Reads a CloudEvent: binary mode when a `ce-type` header is present (the body is the
/// data), structured mode when the JSON body has `specversion`. `None` otherwise.
pub(super) fn cloud_event(cx: &Context) -> Result<Option<CloudEvent>, WebhookError> {
    if let Some(kind) = cx.header("ce-type") {
        let data = from_json(cx.body)?;
        return Ok(Some(CloudEvent {
            kind: kind.to_string(),
            source: cx.header("ce-source").map(str::to_string),
            data,
        }));
    }
    let value: serde_json::Value = cx.json()?;
    let Some(obj) = value.as_object() else {
        return Err(WebhookError::malformed("the body is not a JSON object"));
    };
    if !obj.contains_key("specversion") {
        return Ok(None);
    }
    let kind = obj
        .get("type")
        .and_then(|v| v.as_str())
        .ok_or_else(|| WebhookError::malformed("the CloudEvent has no type"))?
        .to_string();
    let source = obj
        .get("source")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let data = obj.get("data").cloned().unwrap_or(serde_json::Value::Null);
    Ok(Some(CloudEvent { kind, source, data }))
}

/// Decodes a CloudEvent's data as `T`.
pub(super) fn data_as<T: DeserializeOwned>(data: serde_json::Value) -> Result<T, WebhookError> {
    serde_json::from_value(data)
        .map_err(|e| WebhookError::malformed(format!("invalid CloudEvent data: {e}")))
}

#[cfg(test)]
pub(super) mod testutil {
    //! Building receivers and requests in tests.

    use http::{HeaderMap, HeaderName, HeaderValue};

    use crate::{handle, Action, ImageEvent, Provider, Receiver, WebhookError};
    use imagebump_core::secret::Secret;

    pub const SECRET: &str = "s3cret-token";

    pub fn receiver(provider: Provider) -> Receiver {
        Receiver {
            name: "test".into(),
            provider,
            secret: Secret::new(SECRET),
            registry: None,
            header: None,
            repositories: Vec::new(),
            jfrog_access: Default::default(),
        }
    }

    pub fn with_registry(mut r: Receiver, registry: &str) -> Receiver {
        r.registry = Some(registry.into());
        r
    }

    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    pub fn bearer() -> HeaderMap {
        headers(&[("Authorization", &format!("Bearer {SECRET}"))])
    }

    /// `(registry/repository, tag, action)` of each event, for compact assertions.
    pub fn summary(events: &[ImageEvent]) -> Vec<(String, Option<String>, Action)> {
        events
            .iter()
            .map(|e| (e.name(), e.tag.clone(), e.action))
            .collect()
    }

    pub fn push(name: &str, tag: &str) -> (String, Option<String>, Action) {
        (name.to_string(), Some(tag.to_string()), Action::Push)
    }

    pub fn ignored(name: &str, tag: Option<&str>) -> (String, Option<String>, Action) {
        (name.to_string(), tag.map(str::to_string), Action::Ignored)
    }

    /// Asserts a Malformed error with a one-line message and returns the message.
    pub fn malformed(r: Result<Vec<ImageEvent>, WebhookError>) -> String {
        match r {
            Err(WebhookError::Malformed(m)) => {
                assert!(!m.contains('\n') && !m.is_empty(), "{m:?}");
                m
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    pub fn unauthorized(r: Result<Vec<ImageEvent>, WebhookError>) {
        match r {
            Err(WebhookError::Unauthorized(m)) => {
                assert!(!m.contains('\n') && !m.contains(SECRET), "{m:?}")
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    /// Runs `handle` with no path secret.
    pub fn run(r: &Receiver, h: &HeaderMap, body: &str) -> Result<Vec<ImageEvent>, WebhookError> {
        handle(r, h, None, body.as_bytes())
    }

    /// Runs `handle` with the right path secret and no headers.
    pub fn run_path(r: &Receiver, body: &str) -> Result<Vec<ImageEvent>, WebhookError> {
        handle(r, &HeaderMap::new(), Some(SECRET), body.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://ghcr.io/stefanprodan"), Some("ghcr.io"));
        assert_eq!(
            host_of("http://127.0.0.1:5000/v2/x"),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            host_of("registry.example.com"),
            Some("registry.example.com")
        );
        assert_eq!(
            host_of("https://user@host.example.com/"),
            Some("host.example.com")
        );
        assert_eq!(host_of("  "), None);
        assert_eq!(host_of("https://"), None);
        assert!(names_host("localhost"));
        assert!(names_host("a.b"));
        assert!(names_host("reg:5000"));
        assert!(!names_host("library"));
    }

    #[test]
    fn events_are_normalised_and_classified() {
        let mut out = Vec::new();
        add_event(
            &mut out,
            Some("docker.io"),
            "nginx",
            Some("1.25"),
            None,
            true,
        )
        .unwrap();
        add_event(
            &mut out,
            Some("https://r.example.com/"),
            "/a/b/",
            None,
            Some("sha256:x"),
            true,
        )
        .unwrap();
        let d = format!("sha256:{}", "a".repeat(64));
        add_event(&mut out, Some("r.example.com"), "a", Some(&d), None, true).unwrap();
        assert_eq!(out[0].name(), "docker.io/library/nginx");
        assert_eq!(out[0].action, Action::Push);
        assert_eq!(
            (out[1].name().as_str(), out[1].action),
            ("r.example.com/a/b", Action::Ignored)
        );
        assert_eq!(out[1].digest, None, "invalid digests are dropped");
        assert_eq!((out[2].tag.clone(), out[2].digest.clone()), (None, Some(d)));
        assert_eq!(out[2].action, Action::Ignored);
    }

    #[test]
    fn scanning_events_must_be_valid_others_are_dropped() {
        let mut out = Vec::new();
        assert!(add_event(&mut out, None, "a", Some("1"), None, true).is_err());
        assert!(add_event(&mut out, Some("noport"), "a", Some("1"), None, true).is_err());
        assert!(add_event(&mut out, Some("r.io"), "Bad", Some("1"), None, true).is_err());
        assert!(add_event(&mut out, Some("r.io"), "a", Some("-bad"), None, true).is_err());
        assert!(add_event(&mut out, Some("r.io"), "a:b", Some("1"), None, true).is_err());
        add_event(&mut out, None, "a", Some("1"), None, false).unwrap();
        add_event(&mut out, Some("r.io"), "Bad", None, None, true).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn references() {
        let mut out = Vec::new();
        add_reference(
            &mut out,
            "ghcr.io/org/app:1.2.3",
            Some("x.io"),
            None,
            None,
            true,
        )
        .unwrap();
        add_reference(&mut out, "org/app", Some("x.io"), Some("2"), None, true).unwrap();
        add_reference(&mut out, "nginx:1", None, None, None, true).unwrap();
        let names: Vec<_> = out
            .iter()
            .map(|e| (e.name(), e.tag.clone().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("ghcr.io/org/app".to_string(), "1.2.3".to_string()),
                ("x.io/org/app".to_string(), "2".to_string()),
                ("docker.io/library/nginx".to_string(), "1".to_string()),
            ]
        );
    }
}
