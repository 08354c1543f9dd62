//! Docker Hub repository webhooks.
//!
//! Body: `{"push_data": {"tag", "pusher", "pushed_at"}, "repository": {"repo_name",
//! "namespace", "name", ...}, "callback_url"}`. Docker Hub only sends pushes, one per tag,
//! and cannot sign or add headers, so the secret comes in the URL path. The registry is
//! always `docker.io`.

use serde::Deserialize;

use super::common::{add_event, repo_path, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Payload {
    push_data: Option<PushData>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct PushData {
    tag: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    repo_name: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let p: Payload = cx.json()?;
    let repo = p
        .repository
        .ok_or_else(|| WebhookError::malformed("no repository object"))?;
    let name = repo_path(
        repo.repo_name,
        repo.namespace,
        repo.name,
        "repository.repo_name",
    )?;
    let tag = p.push_data.and_then(|d| d.tag);
    let mut out = Vec::new();
    add_event(
        &mut out,
        Some(imagebump_core::image::DOCKER_HUB),
        &name,
        tag.as_deref(),
        None,
        true,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const PUSH: &str = include_str!("../tests/data/webhook/dockerhub-push.json");

    #[test]
    fn push_with_tag() {
        let r = receiver(Provider::DockerHub);
        let ev = run_path(&r, PUSH).unwrap();
        assert_eq!(summary(&ev), [push("docker.io/acme/webapp", "2.4.1")]);
        // The receiver's registry never overrides Docker Hub.
        let r = with_registry(r, "other.example.com");
        assert_eq!(
            summary(&run_path(&r, PUSH).unwrap()),
            [push("docker.io/acme/webapp", "2.4.1")]
        );
    }

    #[test]
    fn official_image_and_missing_tag() {
        let r = receiver(Provider::DockerHub);
        let body = r#"{"push_data":{"tag":"1.27"},"repository":{"repo_name":"nginx"}}"#;
        assert_eq!(
            summary(&run_path(&r, body).unwrap()),
            [push("docker.io/library/nginx", "1.27")]
        );
        let body = r#"{"push_data":{},"repository":{"namespace":"acme","name":"webapp"}}"#;
        assert_eq!(
            summary(&run_path(&r, body).unwrap()),
            [ignored("docker.io/acme/webapp", None)]
        );
    }

    #[test]
    fn auth_path_only() {
        let r = receiver(Provider::DockerHub);
        unauthorized(super::super::handle(&r, &bearer(), None, PUSH.as_bytes()));
        unauthorized(super::super::handle(
            &r,
            &headers(&[]),
            Some("wrong"),
            PUSH.as_bytes(),
        ));
        unauthorized(super::super::handle(
            &r,
            &headers(&[]),
            None,
            PUSH.as_bytes(),
        ));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::DockerHub);
        malformed(run_path(&r, "[1,2"));
        malformed(run_path(&r, r#"{"push_data":{"tag":"x"}}"#));
        malformed(run_path(
            &r,
            r#"{"push_data":{"tag":"x"},"repository":{"repo_name":"Bad/Name"}}"#,
        ));
        malformed(run_path(
            &r,
            r#"{"push_data":{"tag":7},"repository":{"repo_name":"a/b"}}"#,
        ));
    }
}
