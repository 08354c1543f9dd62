//! Harbor project webhooks, in either payload format.
//!
//! Default format: `{"type": "PUSH_ARTIFACT", "occur_at", "operator", "event_data":
//! {"resources": [{"digest", "tag", "resource_url"}], "repository": {"name", "namespace",
//! "repo_full_name", "repo_type"}}}`. CloudEvents format (Harbor 2.10+): a structured
//! CloudEvent with `type: harbor.artifact.pushed` and the same object as `data`
//! (binary mode, with `ce-type` headers, is read too). One delivery may list several
//! resources (one per tag). A push by digest carries the digest in `tag` and
//! `resource_url` ends in `@sha256:…`; it is ignored, as are pulls, deletes, scans,
//! quota, replication and retention events.
//!
//! Registry host: the first component of `resource_url` (Harbor's external URL host),
//! else the receiver's `registry:`. Auth: Harbor's "Auth Header" field is sent verbatim
//! as `Authorization`, so it is a static header.

use serde::Deserialize;

use super::common::{add_event, cloud_event, data_as, names_host, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Classic {
    #[serde(rename = "type")]
    kind: Option<String>,
    event_data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    resources: Vec<Resource>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Resource {
    digest: Option<String>,
    tag: Option<String>,
    resource_url: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    name: Option<String>,
    namespace: Option<String>,
    repo_full_name: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    if let Some(ce) = cloud_event(cx)? {
        let push = ce.kind == "harbor.artifact.pushed";
        if ce.data.is_null() {
            return if push {
                Err(WebhookError::malformed(
                    "harbor.artifact.pushed without data",
                ))
            } else {
                Ok(Vec::new())
            };
        }
        return events(cx, data_as(ce.data)?, push);
    }
    let p: Classic = cx.json()?;
    let kind = p
        .kind
        .ok_or_else(|| WebhookError::malformed("no event type (expected e.g. PUSH_ARTIFACT)"))?;
    let push = kind == "PUSH_ARTIFACT";
    match p.event_data {
        Some(data) => events(cx, data, push),
        None if push => Err(WebhookError::malformed("PUSH_ARTIFACT without event_data")),
        None => Ok(Vec::new()),
    }
}

fn events(cx: &Context, data: Data, push: bool) -> Result<Vec<ImageEvent>, WebhookError> {
    let Some(repo) = data.repository else {
        return if push {
            Err(WebhookError::malformed("push event without a repository"))
        } else {
            Ok(Vec::new())
        };
    };
    let path = match (repo.repo_full_name, repo.namespace, repo.name) {
        (Some(full), _, _) if !full.trim().is_empty() => full,
        (_, Some(ns), Some(n)) => format!("{ns}/{n}"),
        _ => {
            return if push {
                Err(WebhookError::malformed("no repository.repo_full_name"))
            } else {
                Ok(Vec::new())
            }
        }
    };
    let mut out = Vec::new();
    for r in &data.resources {
        let host = r
            .resource_url
            .as_deref()
            .and_then(|u| u.trim().split_once('/'))
            .map(|(first, _)| first)
            .filter(|first| names_host(first))
            .or(cx.registry());
        add_event(
            &mut out,
            host,
            &path,
            r.tag.as_deref(),
            r.digest.as_deref(),
            push,
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const PUSH: &str = include_str!("../tests/data/webhook/harbor-push.json");
    const PUSH_DIGEST: &str = include_str!("../tests/data/webhook/harbor-push-digest.json");
    const CLOUD: &str = include_str!("../tests/data/webhook/harbor-cloudevents-push.json");
    const PULL: &str = include_str!("../tests/data/webhook/harbor-pull.json");

    fn auth() -> http::HeaderMap {
        // Harbor sends the configured "Auth Header" value as is.
        headers(&[("Authorization", SECRET)])
    }

    #[test]
    fn push_with_two_tags() {
        let r = receiver(Provider::Harbor);
        let ev = run(&r, &auth(), PUSH).unwrap();
        let n = "harbor.example.com/platform/api";
        assert_eq!(summary(&ev), [push(n, "v1.4.0"), push(n, "latest")]);
        assert!(ev.iter().all(|e| e.digest.is_some()));
    }

    #[test]
    fn push_by_digest_is_ignored() {
        let r = receiver(Provider::Harbor);
        let ev = run(&r, &auth(), PUSH_DIGEST).unwrap();
        assert_eq!(
            summary(&ev),
            [ignored("harbor.example.com:8443/harbor/alpine", None)]
        );
        assert!(ev[0].digest.as_deref().unwrap().starts_with("sha256:954b"));
    }

    #[test]
    fn cloudevents_format() {
        let r = receiver(Provider::Harbor);
        let ev = run(&r, &auth(), CLOUD).unwrap();
        assert_eq!(
            summary(&ev),
            [push("harbor.example.com/library/alpine", "3.19.1")]
        );
        // Binary mode: attributes in headers, data as the body.
        let data = serde_json::from_str::<serde_json::Value>(CLOUD).unwrap()["data"].to_string();
        let h = headers(&[
            ("Authorization", SECRET),
            ("ce-type", "harbor.artifact.pushed"),
            ("ce-specversion", "1.0"),
        ]);
        assert_eq!(summary(&run(&r, &h, &data).unwrap()), summary(&ev));
        let deleted = CLOUD.replace("harbor.artifact.pushed", "harbor.artifact.deleted");
        assert_eq!(
            summary(&run(&r, &auth(), &deleted).unwrap()),
            [ignored("harbor.example.com/library/alpine", Some("3.19.1"))]
        );
    }

    #[test]
    fn pull_and_other_types_are_ignored() {
        let r = receiver(Provider::Harbor);
        let ev = run(&r, &auth(), PULL).unwrap();
        assert_eq!(
            summary(&ev),
            [ignored("harbor.example.com/platform/api", Some("v1.4.0"))]
        );
        let quota = r#"{"type":"QUOTA_EXCEED","occur_at":1,"operator":"x","event_data":{"custom_attributes":{}}}"#;
        assert_eq!(run(&r, &auth(), quota).unwrap(), []);
    }

    #[test]
    fn host_from_receiver_when_no_resource_url() {
        let body = r#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"v2","digest":"sha256:abc"}],"repository":{"name":"web","namespace":"shop"}}}"#;
        let r = receiver(Provider::Harbor);
        malformed(run(&r, &auth(), body));
        let r = with_registry(r, "harbor.example.com");
        assert_eq!(
            summary(&run(&r, &auth(), body).unwrap()),
            [push("harbor.example.com/shop/web", "v2")]
        );
    }

    #[test]
    fn auth_header() {
        let r = receiver(Provider::Harbor);
        assert!(run(&r, &bearer(), PUSH).is_ok());
        unauthorized(run(&r, &headers(&[("Authorization", "wrong")]), PUSH));
        unauthorized(run(&r, &headers(&[]), PUSH));
        unauthorized(run_path(&r, PUSH));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Harbor);
        malformed(run(&r, &auth(), "{"));
        malformed(run(&r, &auth(), "[]"));
        malformed(run(&r, &auth(), r#"{"event_data":{}}"#));
        malformed(run(&r, &auth(), r#"{"type":"PUSH_ARTIFACT"}"#));
        malformed(run(
            &r,
            &auth(),
            r#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}"#,
        ));
        malformed(run(
            &r,
            &auth(),
            r#"{"specversion":"1.0","type":"harbor.artifact.pushed"}"#,
        ));
        malformed(run(
            &r,
            &auth(),
            r#"{"specversion":"1.0","type":"harbor.artifact.pushed","data":[1]}"#,
        ));
    }
}
