//! JFrog Artifactory predefined webhooks, `docker` domain.
//!
//! Body: `{"domain": "docker", "event_type": "pushed", "data": {"repo_key", "path",
//! "name", "sha256", "image_name", "tag", "platforms"}, "jpd_origin":
//! "https://acme.jfrog.io", "subscription_key"}` (older versions put the `data` fields
//! at the top level; both are read). `pushed` leads to a scan; `deleted`, `promoted` and
//! other domains are ignored or yield no events.
//!
//! Image name: by the receiver's Docker access method ([`JfrogAccess`], key
//! `jfrogAccess`): "repository path" (default) `<host>/<repo_key>/<image_name>`;
//! "subdomain" `<repo_key>.<host>/<image_name>`; "port" `<host>:<port>/<image_name>`
//! with the port of that `repo_key` from `jfrogPorts` (a push to a key without a port
//! is Malformed, naming the key). Registry host: the receiver's `registry:` (the Docker
//! host may differ from the platform URL; subdomain and port need it, without a port
//! for `port`), else the host of `jpd_origin`.
//!
//! Auth: `X-JFrog-Event-Auth` carries the HMAC-SHA256 of the body when "use secret for
//! payload signing" is on, and the secret itself when it is off; both are accepted. A
//! custom header named by `header:` is accepted too.

use serde::Deserialize;

use super::common::{add_event, host_of, Context};
use super::{ImageEvent, JfrogAccess, WebhookError};

#[derive(Deserialize)]
struct Payload {
    domain: Option<String>,
    event_type: Option<String>,
    data: Option<Data>,
    jpd_origin: Option<String>,
    #[serde(flatten)]
    top: Data,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Data {
    repo_key: Option<String>,
    event_type: Option<String>,
    image_name: Option<String>,
    tag: Option<String>,
    sha256: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let p: Payload = cx.json()?;
    if p.domain.as_deref().is_some_and(|d| d != "docker") {
        return Ok(Vec::new());
    }
    let data = p.data.unwrap_or(p.top);
    let event = p.event_type.or(data.event_type);
    let push = event.as_deref() == Some("pushed");
    let (Some(repo_key), Some(image)) = (data.repo_key, data.image_name) else {
        return if push {
            Err(WebhookError::malformed(
                "no data.repo_key or data.image_name",
            ))
        } else {
            Ok(Vec::new())
        };
    };
    let repo_key = repo_key.trim_matches('/');
    let image = image.trim_matches('/');
    let base = cx
        .registry()
        .or_else(|| p.jpd_origin.as_deref().and_then(host_of));
    let (host, path) = match &cx.receiver.jfrog_access {
        JfrogAccess::RepositoryPath => (base.map(str::to_string), format!("{repo_key}/{image}")),
        JfrogAccess::Subdomain => (base.map(|h| format!("{repo_key}.{h}")), image.to_string()),
        JfrogAccess::Port(ports) => match ports.get(repo_key) {
            Some(port) => (
                base.map(|h| format!("{}:{port}", strip_port(h))),
                image.to_string(),
            ),
            None if push => {
                return Err(WebhookError::malformed(format!(
                    "repository key {repo_key:?} has no port in the receiver's jfrogPorts"
                )))
            }
            None => return Ok(Vec::new()),
        },
    };
    let digest = data.sha256.map(|h| format!("sha256:{h}"));
    let mut out = Vec::new();
    add_event(
        &mut out,
        host.as_deref(),
        &path,
        data.tag.as_deref(),
        digest.as_deref(),
        push,
    )?;
    Ok(out)
}

/// `host:port` → `host` (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::super::auth::hmac_hex;
    use super::super::common::testutil::*;
    use super::super::Provider;
    use sha2::Sha256;

    const PUSHED: &str = include_str!("../tests/data/webhook/jfrog-pushed.json");
    const DELETED: &str = include_str!("../tests/data/webhook/jfrog-deleted.json");

    fn signed(body: &str) -> http::HeaderMap {
        headers(&[(
            "X-JFrog-Event-Auth",
            &hmac_hex::<Sha256>(SECRET.as_bytes(), body.as_bytes()),
        )])
    }

    #[test]
    fn pushed_and_deleted() {
        let r = receiver(Provider::Jfrog);
        let ev = run(&r, &signed(PUSHED), PUSHED).unwrap();
        assert_eq!(
            summary(&ev),
            [push("acme.jfrog.io/docker-local/team/web", "1.0.4")]
        );
        assert_eq!(
            ev[0].digest.as_deref(),
            Some("sha256:35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce")
        );
        assert_eq!(
            summary(&run(&r, &signed(DELETED), DELETED).unwrap()),
            [ignored(
                "acme.jfrog.io/docker-local/team/web",
                Some("1.0.3")
            )]
        );
    }

    #[test]
    fn receiver_registry_wins_and_flat_payload() {
        let r = with_registry(receiver(Provider::Jfrog), "docker.acme.example.com");
        let flat = r#"{"repo_key":"docker-remote-cache","event_type":"pushed","path":"library/ubuntu/latest/list.manifest.json","name":"list.manifest.json","sha256":"35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce","size":1206,"image_name":"library/ubuntu","tag":"latest"}"#;
        assert_eq!(
            summary(&run(&r, &signed(flat), flat).unwrap()),
            [push(
                "docker.acme.example.com/docker-remote-cache/library/ubuntu",
                "latest"
            )]
        );
        let artifact = r#"{"domain":"artifact","event_type":"deployed","data":{"repo_key":"libs","path":"a/b.jar"}}"#;
        assert_eq!(run(&r, &signed(artifact), artifact).unwrap(), []);
    }

    #[test]
    fn auth_modes() {
        let r = receiver(Provider::Jfrog);
        // Plain mode: the secret itself.
        assert!(run(&r, &headers(&[("X-JFrog-Event-Auth", SECRET)]), PUSHED).is_ok());
        unauthorized(run(&r, &signed(DELETED), PUSHED));
        unauthorized(run(&r, &headers(&[("X-JFrog-Event-Auth", "nope")]), PUSHED));
        unauthorized(run(&r, &bearer(), PUSHED));
        unauthorized(run_path(&r, PUSHED));
        let mut r = r;
        r.header = Some("X-Imagebump-Token".into());
        assert!(run(&r, &headers(&[("X-Imagebump-Token", SECRET)]), PUSHED).is_ok());
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Jfrog);
        for body in [
            "[",
            r#"{"domain":"docker","event_type":"pushed","data":{"tag":"1"}}"#,
            r#"{"domain":"docker","event_type":"pushed","data":{"repo_key":"r","tag":"1"}}"#,
        ] {
            malformed(run(&r, &signed(body), body));
        }
        // Not a push: nothing to name, nothing to refuse.
        let other = r#"{"domain":"docker","data":{"repo_key":"r","tag":"1"}}"#;
        assert_eq!(run(&r, &signed(other), other).unwrap(), []);
    }
}
