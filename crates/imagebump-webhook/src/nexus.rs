//! Sonatype Nexus Repository `component` webhooks (capability "Webhook: Repository").
//!
//! Headers `X-Nexus-Webhook-Id: rm:repository:component` and
//! `X-Nexus-Webhook-Signature`: hex HMAC-SHA1 of the body. Body: `{"timestamp", "nodeId",
//! "initiator", "repositoryName", "action": "CREATED", "component": {"format": "docker",
//! "name", "version", "group"}}`. `CREATED` and `UPDATED` of a docker component with a
//! tag version lead to a scan; `DELETED` and digest versions are ignored; other formats
//! and asset webhooks yield no events.
//!
//! Registry host: the payload names none, so the receiver's `registry:` is required (the
//! host and port of the repository's Docker connector); the image is
//! `<registry>/<component.name>`.

use serde::Deserialize;

use super::common::{add_event, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Payload {
    action: Option<String>,
    component: Option<Component>,
}

#[derive(Deserialize)]
struct Component {
    format: Option<String>,
    name: Option<String>,
    version: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    if cx
        .header("X-Nexus-Webhook-Id")
        .is_some_and(|id| id != "rm:repository:component")
    {
        return Ok(Vec::new());
    }
    let p: Payload = cx.json()?;
    let Some(c) = p.component else {
        return Ok(Vec::new());
    };
    if c.format.as_deref() != Some("docker") {
        return Ok(Vec::new());
    }
    let push = matches!(p.action.as_deref(), Some("CREATED" | "UPDATED"));
    let Some(name) = c.name else {
        return if push {
            Err(WebhookError::malformed("no component.name"))
        } else {
            Ok(Vec::new())
        };
    };
    let mut out = Vec::new();
    add_event(
        &mut out,
        cx.registry(),
        &name,
        c.version.as_deref(),
        None,
        push,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::auth::hmac_hex;
    use super::super::common::testutil::*;
    use super::super::Provider;
    use sha1::Sha1;

    const CREATED: &str = include_str!("../tests/data/webhook/nexus-component-created.json");

    fn signed(body: &str) -> http::HeaderMap {
        headers(&[
            ("X-Nexus-Webhook-Id", "rm:repository:component"),
            (
                "X-Nexus-Webhook-Signature",
                &hmac_hex::<Sha1>(SECRET.as_bytes(), body.as_bytes()),
            ),
        ])
    }

    #[test]
    fn created_docker_component() {
        let r = with_registry(receiver(Provider::Nexus), "nexus.example.com:8443");
        let ev = run(&r, &signed(CREATED), CREATED).unwrap();
        assert_eq!(
            summary(&ev),
            [push("nexus.example.com:8443/payments/gateway", "5.1.0")]
        );
    }

    #[test]
    fn needs_registry() {
        let r = receiver(Provider::Nexus);
        let m = malformed(run(&r, &signed(CREATED), CREATED));
        assert!(m.contains("registry"), "{m}");
        assert!(!r.problems().is_empty());
    }

    #[test]
    fn deleted_other_formats_and_assets() {
        let r = with_registry(receiver(Provider::Nexus), "nexus.example.com:8443");
        let del = CREATED.replace("\"CREATED\"", "\"DELETED\"");
        assert_eq!(
            summary(&run(&r, &signed(&del), &del).unwrap()),
            [ignored(
                "nexus.example.com:8443/payments/gateway",
                Some("5.1.0")
            )]
        );
        let maven = CREATED.replace("\"docker\"", "\"maven2\"");
        assert_eq!(run(&r, &signed(&maven), &maven).unwrap(), []);
        let mut h = signed(CREATED);
        h.insert("X-Nexus-Webhook-Id", "rm:repository:asset".parse().unwrap());
        assert_eq!(run(&r, &h, CREATED).unwrap(), []);
    }

    #[test]
    fn auth_signature() {
        let r = with_registry(receiver(Provider::Nexus), "nexus.example.com");
        unauthorized(run(&r, &signed("{}"), CREATED));
        let sha256 = hmac_hex::<sha2::Sha256>(SECRET.as_bytes(), CREATED.as_bytes());
        unauthorized(run(
            &r,
            &headers(&[("X-Nexus-Webhook-Signature", &sha256)]),
            CREATED,
        ));
        unauthorized(run(&r, &bearer(), CREATED));
    }

    #[test]
    fn malformed_bodies() {
        let r = with_registry(receiver(Provider::Nexus), "nexus.example.com");
        for body in [
            "{x}",
            r#"{"action":"CREATED","component":{"format":"docker","version":"1"}}"#,
        ] {
            malformed(run(&r, &signed(body), body));
        }
    }
}
