//! Azure Container Registry webhooks.
//!
//! Body: `{"id", "timestamp", "action": "push", "target": {"mediaType", "size",
//! "digest", "length", "repository", "tag"}, "request": {"id", "host", "method",
//! "useragent"}}`, one event per delivery. `push` with a tag leads to a scan; `delete`,
//! `chart_push`, `chart_delete`, `quarantine` and pushes without a tag are ignored;
//! `ping` yields no events.
//!
//! Registry host: `request.host` (`myregistry.azurecr.io`), else the receiver's
//! `registry:`. Auth: an ACR custom header (`--headers "Authorization=Bearer <secret>"`),
//! or the secret in the URL path.

use serde::Deserialize;

use super::common::{add_event, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Payload {
    action: Option<String>,
    target: Option<Target>,
    request: Option<Request>,
}

#[derive(Deserialize)]
struct Target {
    repository: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    host: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let p: Payload = cx.json()?;
    let action = p
        .action
        .ok_or_else(|| WebhookError::malformed("no action"))?;
    let push = action == "push";
    let Some(target) = p.target else {
        return if push {
            Err(WebhookError::malformed("push without a target"))
        } else {
            Ok(Vec::new())
        };
    };
    let Some(repository) = target.repository else {
        return if push {
            Err(WebhookError::malformed("no target.repository"))
        } else {
            Ok(Vec::new()) // ping and other actions may name nothing
        };
    };
    let host = p
        .request
        .as_ref()
        .and_then(|r| r.host.as_deref())
        .filter(|h| !h.trim().is_empty())
        .or(cx.registry());
    let mut out = Vec::new();
    add_event(
        &mut out,
        host,
        &repository,
        target.tag.as_deref(),
        target.digest.as_deref(),
        push,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const PUSH: &str = include_str!("../tests/data/webhook/acr-push.json");
    const DELETE: &str = include_str!("../tests/data/webhook/acr-delete.json");

    #[test]
    fn push_delete_ping() {
        let r = receiver(Provider::Acr);
        let ev = run(&r, &bearer(), PUSH).unwrap();
        assert_eq!(
            summary(&ev),
            [push("myregistry.azurecr.io/hello-world", "v1")]
        );
        assert!(ev[0].digest.is_some());
        assert_eq!(
            summary(&run(&r, &bearer(), DELETE).unwrap()),
            [ignored("myregistry.azurecr.io/hello-world", None)]
        );
        let chart = PUSH.replace("\"push\"", "\"chart_push\"");
        assert_eq!(
            summary(&run(&r, &bearer(), &chart).unwrap()),
            [ignored("myregistry.azurecr.io/hello-world", Some("v1"))]
        );
        let ping = r#"{"id":"1","timestamp":"2024-11-29T16:52:01Z","action":"ping"}"#;
        assert_eq!(run(&r, &bearer(), ping).unwrap(), []);
    }

    #[test]
    fn auth_custom_header_or_path() {
        let r = receiver(Provider::Acr);
        assert!(run_path(&r, PUSH).is_ok());
        assert!(run(&r, &headers(&[("Authorization", SECRET)]), PUSH).is_ok());
        unauthorized(run(&r, &headers(&[("Authorization", "Bearer x")]), PUSH));
        unauthorized(super::super::handle(
            &r,
            &headers(&[]),
            Some("x"),
            PUSH.as_bytes(),
        ));
        let mut r = r;
        r.header = Some("X-Acr-Token".into());
        assert!(run(&r, &headers(&[("X-Acr-Token", SECRET)]), PUSH).is_ok());
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Acr);
        malformed(run_path(&r, "{{"));
        malformed(run_path(&r, r#"{"target":{"repository":"a","tag":"1"}}"#));
        malformed(run_path(&r, r#"{"action":"push"}"#));
        malformed(run_path(
            &r,
            r#"{"action":"push","target":{"tag":"1"},"request":{"host":"a.io"}}"#,
        ));
        malformed(run_path(
            &r,
            r#"{"action":"push","target":{"repository":"a","tag":"1"}}"#,
        ));
    }
}
