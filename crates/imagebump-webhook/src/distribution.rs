//! CNCF Distribution registry notifications (also GitLab self-managed and registries built
//! on Distribution).
//!
//! Body: `{"events": [{action, target: {mediaType, repository, digest, tag, url},
//! request: {host, method}}]}` with Content-Type
//! `application/vnd.docker.distribution.events.v1+json` (v2 in Distribution 3; the
//! content type is not checked). One delivery may carry many events. A manifest push
//! carries `target.tag` unless it was pushed by digest; blob pushes carry a layer or
//! `application/octet-stream` media type; pulls, mounts and deletes are reported too.
//! Only manifest pushes with a tag lead to a scan.
//!
//! Registry host: `request.host`, else the host of `target.url`, else the receiver's
//! `registry:`.

use serde::Deserialize;

use super::common::{add_event, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Envelope {
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    action: Option<String>,
    #[serde(default)]
    target: Target,
    request: Option<Request>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Target {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    repository: Option<String>,
    digest: Option<String>,
    tag: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    host: Option<String>,
}

/// True for manifest media types (image manifests, indexes, manifest lists).
pub(super) fn is_manifest(media_type: Option<&str>) -> bool {
    media_type.is_some_and(|m| m.contains("manifest") || m.contains("image.index"))
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let envelope: Envelope = cx.json()?;
    let mut out = Vec::new();
    for (i, e) in envelope.events.iter().enumerate() {
        let Some(repository) = e.target.repository.as_deref() else {
            return Err(WebhookError::malformed(format!(
                "event {i} has no target.repository"
            )));
        };
        let push =
            e.action.as_deref() == Some("push") && is_manifest(e.target.media_type.as_deref());
        let host = e
            .request
            .as_ref()
            .and_then(|r| r.host.as_deref())
            .filter(|h| !h.trim().is_empty())
            .or_else(|| e.target.url.as_deref().and_then(super::common::host_of))
            .or(cx.registry());
        add_event(
            &mut out,
            host,
            repository,
            e.target.tag.as_deref(),
            e.target.digest.as_deref(),
            push,
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const PUSH_TAG: &str = include_str!("../tests/data/webhook/distribution-push-tag.json");
    const BATCH: &str = include_str!("../tests/data/webhook/distribution-batch.json");

    #[test]
    fn manifest_push_with_tag() {
        let r = receiver(Provider::Distribution);
        let ev = run(&r, &bearer(), PUSH_TAG).unwrap();
        assert_eq!(summary(&ev), [push("127.0.0.1:45123/team/app", "1.2.3")]);
        assert_eq!(
            ev[0].digest.as_deref(),
            Some("sha256:6319efa321bbacd6f7e31f179c5413bc82252195e5fc6019164cf51370176e80")
        );
    }

    #[test]
    fn batch_of_blobs_pushes_pull_and_delete() {
        let r = receiver(Provider::Distribution);
        let ev = run(&r, &bearer(), BATCH).unwrap();
        let n = "127.0.0.1:45123/team/app";
        assert_eq!(
            summary(&ev),
            [
                ignored(n, None),          // layer blob
                ignored(n, None),          // config blob
                push(n, "1.2.3"),          // manifest by tag
                ignored(n, None),          // manifest by digest
                ignored(n, Some("1.2.3")), // pull
                ignored(n, None),          // delete
            ]
        );
        assert!(ev.iter().all(|e| e.digest.is_some()));
    }

    #[test]
    fn host_falls_back_to_url_then_receiver() {
        let body = r#"{"events":[{"action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"app","tag":"v1","url":"https://reg.example.com/v2/app/manifests/sha256:x"}}]}"#;
        let r = receiver(Provider::Distribution);
        assert_eq!(
            summary(&run(&r, &bearer(), body).unwrap()),
            [push("reg.example.com/app", "v1")]
        );
        let body = r#"{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.index.v1+json","repository":"app","tag":"v1"}}]}"#;
        let m = malformed(run(&r, &bearer(), body));
        assert!(m.contains("registry"), "{m}");
        let r = with_registry(r, "gitlab.example.com:5050");
        assert_eq!(
            summary(&run(&r, &bearer(), body).unwrap()),
            [push("gitlab.example.com:5050/app", "v1")]
        );
    }

    #[test]
    fn auth_static_header() {
        let r = receiver(Provider::Distribution);
        assert!(run(&r, &headers(&[("Authorization", SECRET)]), PUSH_TAG).is_ok());
        unauthorized(run(
            &r,
            &headers(&[("Authorization", "Bearer nope")]),
            PUSH_TAG,
        ));
        unauthorized(run(&r, &headers(&[]), PUSH_TAG));
        // A path secret is not enough: this sender can always add a header.
        unauthorized(run_path(&r, PUSH_TAG));
        let mut r = r;
        r.header = Some("X-Registry-Token".into());
        assert!(run(&r, &headers(&[("x-registry-token", SECRET)]), PUSH_TAG).is_ok());
        unauthorized(run(&r, &bearer(), PUSH_TAG));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Distribution);
        malformed(run(&r, &bearer(), "{not json"));
        malformed(run(&r, &bearer(), ""));
        malformed(run(&r, &bearer(), r#"{"events": 5}"#));
        malformed(run(
            &r,
            &bearer(),
            r#"{"events":[{"action":"push","target":{}}]}"#,
        ));
        assert_eq!(run(&r, &bearer(), r#"{"events":[]}"#).unwrap(), []);
        let m = malformed(run(&r, &bearer(), "{\n\"events\": [\n1]}"));
        assert!(m.starts_with("invalid JSON"), "{m}");
    }
}
