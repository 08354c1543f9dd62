//! zot registry events (the `events` extension with an `http` sink).
//!
//! zot sends CloudEvents in binary mode: `ce-type: zotregistry.image.updated` (the
//! `zotregistry` prefix is configurable as `typePrefix`), `ce-source`, and the data as
//! the body: `{"name": "team/app", "reference": "1.2.3", "digest", "mediaType",
//! "manifest"}`. Structured mode (`{"specversion", "type", "source", "data"}`) is read
//! too. `*.image.updated` with a tag reference leads to a scan; a digest reference,
//! `*.image.deleted`, `*.image.lint_failed` and `*.repository.created` are ignored.
//!
//! Registry host: the receiver's `registry:`, else the host of the event `source` when
//! it is an `http(s)://` URL (zot's default source, `zotregistry.dev`, is not).
//! Auth: zot's sink credentials arrive as `Authorization: Bearer <token>` or basic auth.

use serde::Deserialize;

use super::common::{add_event, cloud_event, data_as, host_of, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Data {
    name: Option<String>,
    reference: Option<String>,
    digest: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let ce = cloud_event(cx)?.ok_or_else(|| {
        WebhookError::malformed("not a CloudEvent (no ce-type header, no specversion)")
    })?;
    let push = ce.kind.ends_with(".image.updated");
    let d: Data = match data_as(ce.data) {
        Ok(d) => d,
        Err(e) if push => return Err(e),
        Err(_) => return Ok(Vec::new()), // other event types carry other data
    };
    let Some(name) = d.name else {
        return if push {
            Err(WebhookError::malformed("event data has no name"))
        } else {
            Ok(Vec::new())
        };
    };
    let source_host = ce
        .source
        .as_deref()
        .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
        .and_then(host_of);
    let host = cx.registry().or(source_host);
    let mut out = Vec::new();
    add_event(
        &mut out,
        host,
        &name,
        d.reference.as_deref(),
        d.digest.as_deref(),
        push,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const UPDATED: &str = include_str!("../tests/data/webhook/zot-image-updated.json");
    const STRUCTURED: &str = include_str!("../tests/data/webhook/zot-structured.json");

    fn binary(kind: &str) -> http::HeaderMap {
        headers(&[
            ("Authorization", &format!("Bearer {SECRET}")),
            ("ce-specversion", "1.0"),
            ("ce-type", kind),
            ("ce-source", "zotregistry.dev"),
            ("ce-id", "6a5f0f8e-1d4c-4e0a-9f7e-3c1b2a4d5e6f"),
        ])
    }

    #[test]
    fn binary_mode_image_updated() {
        let r = with_registry(receiver(Provider::Zot), "zot.example.com");
        let ev = run(&r, &binary("zotregistry.image.updated"), UPDATED).unwrap();
        assert_eq!(summary(&ev), [push("zot.example.com/team/search", "2.3.0")]);
        assert!(ev[0].digest.is_some());
        // zot's default source is no registry host: without `registry:` it is Malformed.
        malformed(run(
            &receiver(Provider::Zot),
            &binary("zotregistry.image.updated"),
            UPDATED,
        ));
    }

    #[test]
    fn structured_mode_with_type_prefix_and_url_source() {
        let r = receiver(Provider::Zot);
        let ev = run(&r, &bearer(), STRUCTURED).unwrap();
        assert_eq!(summary(&ev), [push("zot.example.com/team/search", "2.3.1")]);
    }

    #[test]
    fn ignored_kinds() {
        let r = with_registry(receiver(Provider::Zot), "zot.example.com");
        let n = "zot.example.com/team/search";
        let del = run(&r, &binary("zotregistry.image.deleted"), UPDATED).unwrap();
        assert_eq!(summary(&del), [ignored(n, Some("2.3.0"))]);
        let lint = run(&r, &binary("zotregistry.image.lint_failed"), UPDATED).unwrap();
        assert_eq!(summary(&lint), [ignored(n, Some("2.3.0"))]);
        let created = run(
            &r,
            &binary("zotregistry.repository.created"),
            r#"{"name":"team/search"}"#,
        )
        .unwrap();
        assert_eq!(summary(&created), [ignored(n, None)]);
        let d = format!("sha256:{}", "c".repeat(64));
        let by_digest = format!(r#"{{"name":"team/search","reference":"{d}","digest":"{d}"}}"#);
        let ev = run(&r, &binary("zotregistry.image.updated"), &by_digest).unwrap();
        assert_eq!(summary(&ev), [ignored(n, None)]);
    }

    #[test]
    fn auth_header() {
        let r = with_registry(receiver(Provider::Zot), "zot.example.com");
        let mut basic = r.clone();
        basic.secret = imagebump_core::secret::Secret::new("webhook-user:webhook-password");
        let h = headers(&[
            (
                "Authorization",
                "Basic d2ViaG9vay11c2VyOndlYmhvb2stcGFzc3dvcmQ=",
            ),
            ("ce-type", "zotregistry.image.updated"),
        ]);
        assert!(run(&basic, &h, UPDATED).is_ok());
        unauthorized(run(&r, &h, UPDATED));
        unauthorized(run(
            &r,
            &headers(&[("ce-type", "zotregistry.image.updated")]),
            UPDATED,
        ));
        unauthorized(run_path(&r, UPDATED));
    }

    #[test]
    fn malformed_bodies() {
        let r = with_registry(receiver(Provider::Zot), "zot.example.com");
        malformed(run(&r, &bearer(), UPDATED)); // no ce-type, no specversion
        malformed(run(&r, &binary("zotregistry.image.updated"), "{"));
        malformed(run(
            &r,
            &binary("zotregistry.image.updated"),
            r#"{"reference":"1"}"#,
        ));
        malformed(run(&r, &bearer(), r#"{"specversion":"1.0","data":{}}"#));
    }
}
