//! Alibaba Cloud Container Registry (ACR) triggers.
//!
//! Body: `{"push_data": {"digest", "pushed_at", "tag"}, "repository": {"name",
//! "namespace", "region", "repo_full_name", "repo_type", ...}}`. Triggers only fire for
//! pushed tags. They cannot sign or add headers, so the secret comes in the URL path.
//!
//! Registry host: the receiver's `registry:` (required for Enterprise Edition instances,
//! `<instance>-registry.<region>.cr.aliyuncs.com`), else the Personal Edition host
//! `registry.<region>.aliyuncs.com` derived from `repository.region`.

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
    digest: Option<String>,
    tag: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    name: Option<String>,
    namespace: Option<String>,
    region: Option<String>,
    repo_full_name: Option<String>,
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    let p: Payload = cx.json()?;
    let repo = p
        .repository
        .ok_or_else(|| WebhookError::malformed("no repository object"))?;
    let path = repo_path(
        repo.repo_full_name,
        repo.namespace,
        repo.name,
        "repository.repo_full_name",
    )?;
    let derived = repo
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(|r| format!("registry.{r}.aliyuncs.com"));
    let host = cx.registry().or(derived.as_deref());
    let (tag, digest) = match p.push_data {
        Some(d) => (d.tag, d.digest),
        None => (None, None),
    };
    let mut out = Vec::new();
    add_event(
        &mut out,
        host,
        &path,
        tag.as_deref(),
        digest.as_deref(),
        true,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const PUSH: &str = include_str!("../tests/data/webhook/aliyun-push.json");

    #[test]
    fn push_personal_and_enterprise() {
        let r = receiver(Provider::Aliyun);
        let ev = run_path(&r, PUSH).unwrap();
        assert_eq!(
            summary(&ev),
            [push(
                "registry.cn-hangzhou.aliyuncs.com/acme/storefront",
                "release-v1.9.2"
            )]
        );
        assert!(ev[0].digest.is_some());
        let r = with_registry(r, "acme-registry.cn-hangzhou.cr.aliyuncs.com");
        assert_eq!(
            summary(&run_path(&r, PUSH).unwrap()),
            [push(
                "acme-registry.cn-hangzhou.cr.aliyuncs.com/acme/storefront",
                "release-v1.9.2"
            )]
        );
    }

    #[test]
    fn auth_path_only() {
        let r = receiver(Provider::Aliyun);
        unauthorized(run(&r, &bearer(), PUSH));
        unauthorized(super::super::handle(
            &r,
            &headers(&[]),
            Some("bad"),
            PUSH.as_bytes(),
        ));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Aliyun);
        malformed(run_path(&r, "push"));
        malformed(run_path(&r, r#"{"push_data":{"tag":"1"}}"#));
        malformed(run_path(
            &r,
            r#"{"push_data":{"tag":"1"},"repository":{"repo_full_name":"a/b"}}"#,
        ));
    }
}
