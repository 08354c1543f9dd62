//! Google Artifact Registry (and Container Registry) notifications, delivered by a
//! Pub/Sub push subscription on the `gcr` topic.
//!
//! Body: `{"message": {"data": "<base64>", "attributes", "messageId", "publishTime"},
//! "subscription"}` where `data` decodes to `{"action": "INSERT", "digest":
//! "us-docker.pkg.dev/p/r/img@sha256:…", "tag": "us-docker.pkg.dev/p/r/img:1.0"}`.
//! `INSERT` with a `tag` leads to a scan; an upload without a tag (only `digest`) and
//! `DELETE` are ignored. The registry host comes from the references themselves.
//! A subscription with payload unwrapping ("no wrapper") posts the decoded
//! notification itself as the body (`{"action", "digest", "tag"}`, attributes as
//! `x-goog-pubsub-*` headers when "write metadata" is on); both forms are read.
//!
//! Auth: the secret in the push endpoint's URL path. (Pub/Sub can attach an OIDC token
//! instead, but checking it needs Google's keys, which is I/O this module does not do.)

use base64::Engine;
use serde::Deserialize;

use super::common::{add_reference, from_json, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Push {
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    data: Option<String>,
}

#[derive(Deserialize)]
struct Notification {
    action: Option<String>,
    digest: Option<String>,
    tag: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let value: serde_json::Value = cx.json()?;
    let unwrapped = value
        .as_object()
        .is_some_and(|o| !o.contains_key("message") && o.contains_key("action"));
    let n: Notification = if unwrapped {
        serde_json::from_value(value)
            .map_err(|e| WebhookError::malformed(format!("unwrapped notification: {e}")))?
    } else {
        let p: Push = serde_json::from_value(value)
            .map_err(|e| WebhookError::malformed(format!("Pub/Sub push request: {e}")))?;
        let data = p.message.and_then(|m| m.data).ok_or_else(|| {
            WebhookError::malformed(
                "no message.data and no action (neither a Pub/Sub push request nor an unwrapped notification)",
            )
        })?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data.trim()))
            .map_err(|e| WebhookError::malformed(format!("message.data is not base64: {e}")))?;
        from_json(&raw).map_err(|e| WebhookError::malformed(format!("message.data: {e}")))?
    };
    let push = n.action.as_deref() == Some("INSERT");
    let mut out = Vec::new();
    // The digest reference names the image too; only its digest part is kept.
    let digest = n
        .digest
        .as_deref()
        .and_then(|d| d.split_once('@'))
        .map(|(_, d)| d);
    match (n.tag.as_deref(), n.digest.as_deref()) {
        (Some(tag_ref), _) => add_reference(&mut out, tag_ref, cx.registry(), None, digest, push)?,
        (None, Some(digest_ref)) => {
            add_reference(&mut out, digest_ref, cx.registry(), None, None, push)?
        }
        (None, None) if push => {
            return Err(WebhookError::malformed(
                "the notification has neither tag nor digest",
            ))
        }
        (None, None) => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;
    use base64::Engine;

    const PUSH: &str = include_str!("../tests/data/webhook/gar-push.json");
    const PUSH_DIGEST: &str = include_str!("../tests/data/webhook/gar-push-digest.json");

    fn envelope(inner: &str) -> String {
        let data = base64::engine::general_purpose::STANDARD.encode(inner);
        format!(
            r#"{{"message":{{"data":"{data}","messageId":"1"}},"subscription":"projects/p/subscriptions/s"}}"#
        )
    }

    #[test]
    fn insert_with_tag() {
        let r = receiver(Provider::Gar);
        let ev = run_path(&r, PUSH).unwrap();
        assert_eq!(
            summary(&ev),
            [push("us-docker.pkg.dev/acme-prod/images/frontend", "3.0.0")]
        );
        assert!(ev[0].digest.as_deref().unwrap().starts_with("sha256:6ec1"));
    }

    #[test]
    fn digest_only_and_delete_are_ignored() {
        let r = receiver(Provider::Gar);
        let ev = run_path(&r, PUSH_DIGEST).unwrap();
        assert_eq!(
            summary(&ev),
            [ignored("us-docker.pkg.dev/acme-prod/images/frontend", None)]
        );
        assert!(ev[0].digest.is_some());
        let del = envelope(r#"{"action":"DELETE","tag":"gcr.io/acme/app:1.0"}"#);
        assert_eq!(
            summary(&run_path(&r, &del).unwrap()),
            [ignored("gcr.io/acme/app", Some("1.0"))]
        );
    }

    #[test]
    fn auth_path_only() {
        let r = receiver(Provider::Gar);
        unauthorized(run(&r, &bearer(), PUSH));
        unauthorized(super::super::handle(
            &r,
            &headers(&[]),
            Some("nope"),
            PUSH.as_bytes(),
        ));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Gar);
        malformed(run_path(&r, "x"));
        malformed(run_path(&r, r#"{"message":{}}"#));
        malformed(run_path(&r, r#"{"message":{"data":"%%%"}}"#));
        malformed(run_path(&r, &envelope("not json")));
        malformed(run_path(&r, &envelope(r#"{"action":"INSERT"}"#)));
        malformed(run_path(
            &r,
            &envelope(r#"{"action":"INSERT","tag":"gcr.io/Acme/app:1"}"#),
        ));
    }
}
