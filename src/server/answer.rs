//! The JSON answers of `POST /hooks/...`: their shape is the server's contract with
//! senders, so it lives here and not in the webhook crate, which only parses.

use axum::http::StatusCode;
use imagebump_webhook::{ImageEvent, WebhookError};
use serde::Serialize;

/// The JSON body of a 202 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// Every event of the delivery, pushes and ignored ones, in payload order.
    pub events: Vec<ImageEvent>,
    /// How many distinct repositories get a rescan (several tags of one repository
    /// count once).
    pub scheduled: usize,
    /// True when the delivery id was already handled in the last hour: nothing was
    /// scheduled. Left out of the JSON otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// The JSON body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// What went wrong, on one line.
    pub error: String,
}

/// The HTTP status a refused delivery is answered with.
pub fn status(e: &WebhookError) -> StatusCode {
    match e {
        WebhookError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        WebhookError::Malformed(_) => StatusCode::BAD_REQUEST,
        WebhookError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
    }
}

/// `{"error": "<one line>"}`, the body a refused delivery is answered with.
pub fn error_body(e: &WebhookError) -> ErrorBody {
    ErrorBody {
        error: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagebump_webhook::Action;
    use serde_json::json;

    #[test]
    fn answer_shape() {
        let ev = |repo: &str, tag: Option<&str>, action| ImageEvent {
            registry: "ghcr.io".into(),
            repository: repo.into(),
            tag: tag.map(str::to_string),
            digest: None,
            action,
        };
        let a = Answer {
            events: vec![
                ev("org/a", Some("1"), Action::Push),
                ev("org/b", None, Action::Ignored),
            ],
            scheduled: 1,
            replayed: false,
        };
        let v = serde_json::to_value(&a).unwrap();
        assert!(v.get("replayed").is_none(), "only replays carry the flag");
        assert_eq!(
            v["events"][0],
            json!({"registry": "ghcr.io", "repository": "org/a", "tag": "1", "digest": null, "action": "push"})
        );
        assert_eq!(v["events"][1]["action"], json!("ignored"));
        assert_eq!(v["scheduled"], json!(1));
        let replay = Answer {
            events: vec![],
            scheduled: 0,
            replayed: true,
        };
        assert_eq!(
            serde_json::to_value(&replay).unwrap(),
            json!({"events": [], "scheduled": 0, "replayed": true})
        );
    }

    #[test]
    fn errors_map_to_statuses_and_bodies() {
        let unauthorized = WebhookError::Unauthorized("x".into());
        assert_eq!(status(&unauthorized), StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(&WebhookError::Malformed("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(&WebhookError::TooLarge(5)),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let body =
            serde_json::to_value(error_body(&WebhookError::Malformed("a b c".into()))).unwrap();
        assert_eq!(body, json!({"error": "malformed payload: a b c"}));
    }
}
