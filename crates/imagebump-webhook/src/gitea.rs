//! Gitea and Forgejo `package` webhooks.
//!
//! Headers `X-Gitea-Event: package` (Forgejo also sends `X-Forgejo-Event`) and
//! `X-Gitea-Signature` / `X-Forgejo-Signature`: hex HMAC-SHA256 of the body. Body:
//! `{"action": "created", "package": {"owner": {"login"}, "type": "container", "name",
//! "version", "html_url"}, "sender"}`. `version` is the tag, or a digest for a manifest
//! pushed by digest (ignored); `deleted` is ignored; other package types and other
//! events yield no events.
//!
//! Registry host: the host of `package.html_url` (Gitea serves its container registry on
//! its own host), else the receiver's `registry:`. Gitea's image names are lowercase.

use serde::Deserialize;

use super::common::{add_event, host_of, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Payload {
    action: Option<String>,
    package: Option<Package>,
}

#[derive(Deserialize)]
struct Package {
    owner: Option<Owner>,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    version: Option<String>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Owner {
    login: Option<String>,
    username: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let event = cx
        .header("X-Forgejo-Event")
        .or_else(|| cx.header("X-Gitea-Event"))
        .or_else(|| cx.header("X-Gogs-Event"));
    if event.is_some_and(|e| e != "package") {
        return Ok(Vec::new());
    }
    let p: Payload = cx.json()?;
    let Some(pkg) = p.package else {
        return Ok(Vec::new());
    };
    if !pkg
        .kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("container"))
    {
        return Ok(Vec::new());
    }
    let push = p.action.as_deref() == Some("created");
    let owner = pkg.owner.and_then(|o| o.login.or(o.username));
    let (Some(owner), Some(name)) = (owner, pkg.name) else {
        return if push {
            Err(WebhookError::malformed(
                "package has no owner.login or no name",
            ))
        } else {
            Ok(Vec::new())
        };
    };
    let path = format!("{owner}/{name}").to_lowercase();
    let host = pkg.html_url.as_deref().and_then(host_of).or(cx.registry());
    let mut out = Vec::new();
    add_event(&mut out, host, &path, pkg.version.as_deref(), None, push)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::auth::hmac_hex;
    use super::super::common::testutil::*;
    use super::super::Provider;
    use sha2::Sha256;

    const CREATED: &str = include_str!("../tests/data/webhook/gitea-package-created.json");

    fn sig(body: &str) -> String {
        hmac_hex::<Sha256>(SECRET.as_bytes(), body.as_bytes())
    }

    fn gitea(body: &str) -> http::HeaderMap {
        headers(&[
            ("X-Gitea-Event", "package"),
            ("X-Gitea-Signature", &sig(body)),
        ])
    }

    #[test]
    fn created_container_package() {
        let r = receiver(Provider::Gitea);
        let ev = run(&r, &gitea(CREATED), CREATED).unwrap();
        assert_eq!(
            summary(&ev),
            [push("git.example.com/platform/checkout", "v2.0.3")]
        );
    }

    #[test]
    fn forgejo_headers() {
        let r = receiver(Provider::Gitea);
        let h = headers(&[
            ("X-Forgejo-Event", "package"),
            ("X-Forgejo-Signature", &sig(CREATED)),
        ]);
        assert_eq!(run(&r, &h, CREATED).unwrap().len(), 1);
    }

    #[test]
    fn deleted_digest_and_other_events() {
        let r = receiver(Provider::Gitea);
        let deleted = CREATED.replace("\"created\"", "\"deleted\"");
        assert_eq!(
            summary(&run(&r, &gitea(&deleted), &deleted).unwrap()),
            [ignored("git.example.com/platform/checkout", Some("v2.0.3"))]
        );
        let d = format!("sha256:{}", "b".repeat(64));
        let by_digest =
            CREATED.replace("\"version\": \"v2.0.3\"", &format!("\"version\": \"{d}\""));
        let ev = run(&r, &gitea(&by_digest), &by_digest).unwrap();
        assert_eq!(
            summary(&ev),
            [ignored("git.example.com/platform/checkout", None)]
        );
        assert_eq!(ev[0].digest.as_deref(), Some(d.as_str()));
        let npm = CREATED.replace("\"container\"", "\"npm\"");
        assert_eq!(run(&r, &gitea(&npm), &npm).unwrap(), []);
        let h = headers(&[
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Signature", &sig(CREATED)),
        ]);
        assert_eq!(run(&r, &h, CREATED).unwrap(), []);
    }

    #[test]
    fn auth_signature() {
        let r = receiver(Provider::Gitea);
        unauthorized(run(&r, &gitea("{}"), CREATED));
        unauthorized(run(&r, &headers(&[("X-Gitea-Event", "package")]), CREATED));
        unauthorized(run(&r, &bearer(), CREATED));
        unauthorized(run_path(&r, CREATED));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Gitea);
        for body in [
            "{]",
            r#"{"action":"created","package":{"type":"container","name":"x"}}"#,
        ] {
            malformed(run(&r, &gitea(body), body));
        }
    }
}
