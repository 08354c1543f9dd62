//! Delivery ids: what a sender resends unchanged when it retries, so the server can
//! answer a replay without scanning again.
//!
//! | sender                         | id                                                    |
//! |--------------------------------|-------------------------------------------------------|
//! | GitHub, Gitea, Forgejo         | `X-GitHub-Delivery`, `X-Gitea-Delivery`, `X-Forgejo-Delivery` header |
//! | Distribution (and GitLab)      | the `id` of every event of the envelope, in order     |
//! | Pub/Sub push (GAR/GCR)         | `message.messageId` (`message_id`), or the `x-goog-pubsub-message-id` header of an unwrapped push |
//! | CloudEvents (Harbor, zot, ECR via an input transformer, …) | `source` and `id` (`ce-source`/`ce-id` in binary mode) |
//! | EventBridge (ECR, untransformed) | the event's `id`                                    |
//!
//! Others give no id and are never treated as replays. Ids are capped at
//! [`MAX_ID`] bytes (longer ones are not ids a sender would mint; they are dropped).

use serde_json::Value;

use super::common::Context;
use super::{DeliveryId, Provider};

/// The longest id kept (Distribution envelopes carry many event ids).
pub(super) const MAX_ID: usize = 64 * 1024;

/// The delivery id of an authentic delivery, if its sender gives one.
pub(super) fn id(cx: &Context) -> Option<DeliveryId> {
    let raw = from_headers(cx).or_else(|| from_body(cx))?;
    (raw.len() <= MAX_ID).then_some(DeliveryId(raw))
}

fn from_headers(cx: &Context) -> Option<String> {
    let p = cx.receiver.provider;
    if matches!(p, Provider::Github | Provider::Gitea) {
        for h in [
            "X-GitHub-Delivery",
            "X-Forgejo-Delivery",
            "X-Gitea-Delivery",
        ] {
            if let Some(v) = cx.header(h) {
                return Some(format!("github:{v}"));
            }
        }
    }
    if let Some(v) = cx.header("x-goog-pubsub-message-id") {
        return Some(format!("pubsub:{v}"));
    }
    if let (Some(id), Some(_)) = (cx.header("ce-id"), cx.header("ce-type")) {
        let source = cx.header("ce-source").unwrap_or("");
        return Some(format!("cloudevents:{source} {id}"));
    }
    None
}

fn from_body(cx: &Context) -> Option<String> {
    let v: Value = serde_json::from_slice(cx.body).ok()?;
    let obj = v.as_object()?;
    let text = |v: Option<&Value>| -> Option<String> {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if obj.contains_key("specversion") {
        let id = text(obj.get("id"))?;
        let source = text(obj.get("source")).unwrap_or_default();
        return Some(format!("cloudevents:{source} {id}"));
    }
    if let Some(msg) = obj.get("message").and_then(Value::as_object) {
        let id = text(msg.get("messageId")).or_else(|| text(msg.get("message_id")))?;
        return Some(format!("pubsub:{id}"));
    }
    if cx.receiver.provider == Provider::Distribution {
        let events = obj.get("events")?.as_array()?;
        let ids: Option<Vec<String>> = events.iter().map(|e| text(e.get("id"))).collect();
        let ids = ids.filter(|ids| !ids.is_empty())?;
        return Some(format!("distribution:{}", ids.join(",")));
    }
    if obj.contains_key("detail-type") {
        return Some(format!("eventbridge:{}", text(obj.get("id"))?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::{receive, Provider};
    use http::HeaderMap;

    fn id_of(p: Provider, h: &HeaderMap, body: &str) -> Option<String> {
        receive(&receiver(p), h, Some(SECRET), body.as_bytes())
            .unwrap()
            .id
            .map(|d| d.0)
    }

    #[test]
    fn distribution_ids_need_every_event_id() {
        let body = r#"{"events":[{"id":"a","action":"pull","target":{"repository":"x"}},{"id":"b","action":"pull","target":{"repository":"x"}}]}"#;
        assert_eq!(
            id_of(Provider::Distribution, &bearer(), body).as_deref(),
            Some("distribution:a,b")
        );
        let partial = body.replace(r#""id":"b","#, "");
        assert_eq!(id_of(Provider::Distribution, &bearer(), &partial), None);
        assert_eq!(
            id_of(Provider::Distribution, &bearer(), r#"{"events":[]}"#),
            None
        );
    }

    #[test]
    fn cloudevents_binary_and_structured() {
        let h = headers(&[
            ("Authorization", &format!("Bearer {SECRET}")),
            ("ce-type", "zotregistry.image.updated"),
            ("ce-source", "https://zot.example.com"),
            ("ce-id", "42"),
        ]);
        assert_eq!(
            id_of(Provider::Zot, &h, r#"{"name":"a","reference":"1"}"#).as_deref(),
            Some("cloudevents:https://zot.example.com 42")
        );
        let body = r#"{"specversion":"1.0","id":"7","source":"s","type":"t"}"#;
        assert_eq!(
            id_of(Provider::Generic, &HeaderMap::new(), body).as_deref(),
            Some("cloudevents:s 7")
        );
    }

    #[test]
    fn oversized_ids_are_dropped() {
        let long = "x".repeat(super::MAX_ID + 1);
        let body = format!(r#"{{"specversion":"1.0","id":"{long}","source":"s","type":"t"}}"#);
        assert_eq!(id_of(Provider::Generic, &HeaderMap::new(), &body), None);
    }
}
