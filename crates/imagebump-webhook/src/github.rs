//! GitHub `package` (and legacy `registry_package`) events for the GitHub Container
//! Registry.
//!
//! Header `X-GitHub-Event: package`; body `{"action": "published", "package": {"name",
//! "namespace", "package_type": "CONTAINER", "package_version": {"name": "sha256:…",
//! "container_metadata": {"tag": {"name", "digest"}}, "package_url"}, "registry": {"url"}}}`
//! (`registry_package` instead of `package` for the legacy event). GitHub sends one
//! event per pushed tag; untagged versions (platform manifests of a multi-arch push)
//! have an empty tag name and are ignored. `ping` and other events yield no events, as
//! do packages of other ecosystems. `published` and `updated` count as pushes.
//!
//! Older shapes: `package_v2` events (action `create`, also a push), and
//! `registry_package` events whose version has no `container_metadata` but carries the
//! tag in `package_version.version` (with string `body` / `manifest`, which are not read).
//!
//! Registry host: the host of `package_url`, else of `registry.url`, else `ghcr.io`.
//! GHCR names are lowercase, so owner and package name are lowercased.

use serde::Deserialize;

use super::common::{add_event, host_of, names_host, Context};
use super::{ImageEvent, WebhookError};

/// GHCR's host, used when the payload names none.
const GHCR: &str = "ghcr.io";

#[derive(Deserialize)]
struct Payload {
    action: Option<String>,
    package: Option<Package>,
    registry_package: Option<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: Option<String>,
    namespace: Option<String>,
    owner: Option<Owner>,
    package_type: Option<String>,
    ecosystem: Option<String>,
    package_version: Option<Version>,
    registry: Option<Registry>,
}

#[derive(Deserialize)]
struct Owner {
    login: Option<String>,
}

#[derive(Deserialize)]
struct Version {
    name: Option<String>,
    version: Option<String>,
    container_metadata: Option<ContainerMetadata>,
    package_url: Option<String>,
}

#[derive(Deserialize)]
struct ContainerMetadata {
    tag: Option<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    name: Option<String>,
    digest: Option<String>,
}

#[derive(Deserialize)]
struct Registry {
    url: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    if let Some(kind) = cx.header("X-GitHub-Event") {
        if !matches!(kind, "package" | "registry_package" | "package_v2") {
            return Ok(Vec::new()); // ping and anything else
        }
    }
    let p: Payload = cx.json()?;
    let Some(pkg) = p.package.or(p.registry_package) else {
        return Ok(Vec::new());
    };
    let kind = pkg
        .package_type
        .as_deref()
        .or(pkg.ecosystem.as_deref())
        .unwrap_or("");
    if !matches!(kind.to_ascii_lowercase().as_str(), "container" | "docker") {
        return Ok(Vec::new());
    }
    let push = matches!(
        p.action.as_deref(),
        Some("published" | "updated" | "create")
    );
    let owner = pkg.namespace.or(pkg.owner.and_then(|o| o.login));
    let (Some(name), Some(owner)) = (pkg.name, owner) else {
        return if push {
            Err(WebhookError::malformed("package has no name or namespace"))
        } else {
            Ok(Vec::new())
        };
    };
    // docker.pkg.github.com (the old registry) names images owner/repository/name; its
    // registry URL carries owner/repository.
    let url_path = pkg
        .registry
        .as_ref()
        .and_then(|r| r.url.as_deref())
        .and_then(|u| u.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, path)| path.trim_matches('/'))
        .filter(|path| path.split('/').count() >= 2);
    let path = match url_path {
        Some(prefix) => format!("{prefix}/{name}"),
        None => format!("{owner}/{name}"),
    }
    .to_lowercase();
    let version = pkg.package_version;
    let container_tag = version
        .as_ref()
        .and_then(|v| v.container_metadata.as_ref())
        .and_then(|m| m.tag.as_ref());
    let tag_name = match container_tag {
        Some(t) => t.name.clone(),
        // Legacy registry_package: the version is the tag (a digest counts as one).
        None => version.as_ref().and_then(|v| v.version.clone()),
    };
    let digest = container_tag
        .and_then(|t| t.digest.clone())
        .or_else(|| version.as_ref().and_then(|v| v.name.clone()))
        .or_else(|| version.as_ref().and_then(|v| v.version.clone()));
    let host = version
        .as_ref()
        .and_then(|v| v.package_url.as_deref())
        .and_then(|u| u.trim().split_once('/'))
        .map(|(first, _)| first)
        .filter(|first| names_host(first))
        .or_else(|| {
            pkg.registry
                .as_ref()
                .and_then(|r| r.url.as_deref())
                .and_then(host_of)
        })
        .unwrap_or(GHCR);
    let mut out = Vec::new();
    add_event(
        &mut out,
        Some(host),
        &path,
        tag_name.as_deref(),
        digest.as_deref(),
        push,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::auth::hmac_hex;
    use super::super::common::testutil::*;
    use super::super::Provider;
    use sha2::Sha256;

    const PUBLISHED: &str = include_str!("../tests/data/webhook/github-package-published.json");
    const PING: &str = include_str!("../tests/data/webhook/github-ping.json");

    fn signed(event: &str, body: &str) -> http::HeaderMap {
        let sig = format!(
            "sha256={}",
            hmac_hex::<Sha256>(SECRET.as_bytes(), body.as_bytes())
        );
        headers(&[("X-GitHub-Event", event), ("X-Hub-Signature-256", &sig)])
    }

    #[test]
    fn published_container_version() {
        let r = receiver(Provider::Github);
        let ev = run(&r, &signed("package", PUBLISHED), PUBLISHED).unwrap();
        assert_eq!(
            summary(&ev),
            [push("ghcr.io/stefanprodan/podinfo", "6.7.1")]
        );
        assert!(ev[0].digest.as_deref().unwrap().starts_with("sha256:c0f4"));
    }

    #[test]
    fn untagged_version_is_ignored() {
        let body = PUBLISHED.replace("\"name\": \"6.7.1\"", "\"name\": \"\"");
        let r = receiver(Provider::Github);
        let ev = run(&r, &signed("package", &body), &body).unwrap();
        assert_eq!(
            summary(&ev),
            [ignored("ghcr.io/stefanprodan/podinfo", None)]
        );
        assert!(ev[0].digest.is_some());
    }

    #[test]
    fn legacy_registry_package_event() {
        let body = PUBLISHED.replacen("\"package\":", "\"registry_package\":", 1);
        let r = receiver(Provider::Github);
        let ev = run(&r, &signed("registry_package", &body), &body).unwrap();
        assert_eq!(
            summary(&ev),
            [push("ghcr.io/stefanprodan/podinfo", "6.7.1")]
        );
    }

    #[test]
    fn ping_and_other_packages_yield_nothing() {
        let r = receiver(Provider::Github);
        assert_eq!(run(&r, &signed("ping", PING), PING).unwrap(), []);
        let npm = PUBLISHED.replace("\"CONTAINER\"", "\"npm\"");
        assert_eq!(run(&r, &signed("package", &npm), &npm).unwrap(), []);
    }

    #[test]
    fn auth_signature() {
        let r = receiver(Provider::Github);
        let tampered = PUBLISHED.replace("6.7.1", "6.7.2");
        unauthorized(run(&r, &signed("package", PUBLISHED), &tampered));
        unauthorized(run(
            &r,
            &headers(&[("X-GitHub-Event", "package")]),
            PUBLISHED,
        ));
        let bare = hmac_hex::<Sha256>(SECRET.as_bytes(), PUBLISHED.as_bytes());
        unauthorized(run(
            &r,
            &headers(&[("X-Hub-Signature-256", &bare)]),
            PUBLISHED,
        ));
        unauthorized(run(
            &r,
            &headers(&[("X-Hub-Signature-256", "sha256=zz")]),
            PUBLISHED,
        ));
        unauthorized(run_path(&r, PUBLISHED));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Github);
        for body in [
            "{",
            r#"{"action":"published","package":{"package_type":"CONTAINER"}}"#,
            r#"{"package":{"name":1}}"#,
        ] {
            malformed(run(&r, &signed("package", body), body));
        }
    }
}
