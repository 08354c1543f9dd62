//! Quay (quay.io and Red Hat Quay) "repository push" notifications.
//!
//! Body: `{"name", "repository": "ns/repo", "namespace", "docker_url": "quay.io/ns/repo",
//! "homepage", "updated_tags": ["v1", "latest"]}`. Older Quay versions sent
//! `updated_tags` as a map from tag to image id; both are read. One delivery may name
//! several tags. Other notification kinds (builds, vulnerabilities) carry no
//! `updated_tags` and yield no events. Quay cannot sign or add headers, so the secret
//! comes in the URL path.
//!
//! Registry host: the first component of `docker_url`, else the receiver's `registry:`.

use serde::Deserialize;
use serde_json::Value;

use super::common::{add_event, names_host, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Payload {
    repository: Option<String>,
    docker_url: Option<String>,
    updated_tags: Option<Value>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let p: Payload = cx.json()?;
    let tags: Vec<String> = match p.updated_tags {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|t| match t {
                Value::String(s) => Ok(s),
                other => Err(WebhookError::malformed(format!(
                    "updated_tags holds a non-string: {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
        Some(_) => {
            return Err(WebhookError::malformed(
                "updated_tags must be a list of tags",
            ))
        }
    };
    let (host, path) = match p.docker_url.as_deref().map(str::trim) {
        Some(url) => match url.split_once('/') {
            Some((first, rest)) if names_host(first) => (Some(first), rest.to_string()),
            _ => (cx.registry(), url.to_string()),
        },
        None => (
            cx.registry(),
            p.repository
                .ok_or_else(|| WebhookError::malformed("no docker_url or repository"))?,
        ),
    };
    let mut out = Vec::new();
    for tag in &tags {
        add_event(&mut out, host, &path, Some(tag), None, true)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const PUSH: &str = include_str!("../tests/data/webhook/quay-push.json");
    const LEGACY: &str = include_str!("../tests/data/webhook/quay-push-legacy.json");

    #[test]
    fn push_with_several_tags() {
        let r = receiver(Provider::Quay);
        let ev = run_path(&r, PUSH).unwrap();
        let n = "quay.io/acme/billing";
        assert_eq!(summary(&ev), [push(n, "v3.2.0"), push(n, "latest")]);
    }

    #[test]
    fn legacy_map_and_self_hosted_port() {
        let r = receiver(Provider::Quay);
        let ev = run_path(&r, LEGACY).unwrap();
        assert_eq!(
            summary(&ev),
            [push("quay.example.com:8443/devtable/ubuntu", "latest")]
        );
    }

    #[test]
    fn other_notifications_yield_nothing() {
        let r = receiver(Provider::Quay);
        let build = r#"{"build_id":"296ec063","repository":"acme/billing","docker_url":"quay.io/acme/billing","docker_tags":["latest"]}"#;
        assert_eq!(run_path(&r, build).unwrap(), []);
    }

    #[test]
    fn repository_without_docker_url_needs_registry() {
        let body = r#"{"repository":"acme/billing","updated_tags":["1.0"]}"#;
        let r = receiver(Provider::Quay);
        malformed(run_path(&r, body));
        let r = with_registry(r, "quay.internal.example.com");
        assert_eq!(
            summary(&run_path(&r, body).unwrap()),
            [push("quay.internal.example.com/acme/billing", "1.0")]
        );
    }

    #[test]
    fn auth_path_only() {
        let r = receiver(Provider::Quay);
        unauthorized(run(&r, &bearer(), PUSH));
        unauthorized(super::super::handle(
            &r,
            &headers(&[]),
            Some("s3cret"),
            PUSH.as_bytes(),
        ));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Quay);
        malformed(run_path(&r, "nope"));
        malformed(run_path(
            &r,
            r#"{"docker_url":"quay.io/a/b","updated_tags":[1]}"#,
        ));
        malformed(run_path(
            &r,
            r#"{"docker_url":"quay.io/a/b","updated_tags":"latest"}"#,
        ));
        malformed(run_path(&r, r#"{"updated_tags":["latest"]}"#));
    }
}
