//! Amazon ECR image events, forwarded by an EventBridge rule to an API destination.
//!
//! Body (the EventBridge event, untransformed): `{"detail-type": "ECR Image Action",
//! "source": "aws.ecr", "account": "123456789012", "region": "eu-west-1", "detail":
//! {"action-type": "PUSH", "result": "SUCCESS", "repository-name", "image-digest",
//! "image-tag"}}`. One image per event; a successful `PUSH` with a tag leads to a scan;
//! failed pushes, `DELETE` and pushes without a tag are ignored; other detail types
//! (scans, pull-through cache, replication) yield no events.
//!
//! Also the CloudEvents-shaped body an EventBridge input transformer makes, as Argo CD
//! Image Updater's docs configure it: `{"specversion": "1.0", "id", "type":
//! "com.amazon.ecr.image.push", "source": "urn:aws:ecr:<region>:<account>:repository/<repo>"
//! (or the repository ARN, `arn:aws:ecr:…`), "data": {"repositoryName", "imageDigest",
//! "imageTag", "registryId"}}`. A type ending in `.push` (or `.pushed`) with a tag leads
//! to a scan; other types are ignored.
//!
//! Registry host: `<account>.dkr.ecr.<region>.amazonaws.com` (`.amazonaws.com.cn` in
//! China regions; account and region from the event or the CloudEvent `source`, the
//! account also from `data.registryId`), else the receiver's `registry:`. Auth: the API
//! destination connection's header (API key, `Basic` or `Bearer`), named by `header:`.

use serde::Deserialize;

use super::common::{add_event, cloud_event, data_as, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    account: Option<String>,
    region: Option<String>,
    detail: Option<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "action-type")]
    action_type: Option<String>,
    result: Option<String>,
    #[serde(rename = "repository-name")]
    repository_name: Option<String>,
    #[serde(rename = "image-digest")]
    image_digest: Option<String>,
    #[serde(rename = "image-tag")]
    image_tag: Option<String>,
}

fn ecr_host(account: &str, region: &str) -> Option<String> {
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ok(account) || !ok(region) {
        return None;
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Some(format!("{account}.dkr.ecr.{region}.{suffix}"))
}

/// `data` of the transformed CloudEvent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CloudData {
    repository_name: Option<String>,
    image_digest: Option<String>,
    image_tag: Option<String>,
    registry_id: Option<String>,
}

/// (region, account, repository) from `urn:aws:ecr:<region>:<account>:repository/<repo>`
/// or `arn:aws[-cn]:ecr:<region>:<account>:repository/<repo>`.
fn parse_source(source: &str) -> Option<(&str, &str, &str)> {
    let mut parts = source.trim().splitn(6, ':');
    let scheme = parts.next()?;
    let partition = parts.next()?;
    let service = parts.next()?;
    let region = parts.next()?;
    let account = parts.next()?;
    let resource = parts.next()?;
    let ok = matches!(scheme, "urn" | "arn") && partition.starts_with("aws") && service == "ecr";
    let repo = resource.strip_prefix("repository/")?;
    ok.then_some((region, account, repo))
}

fn parse_cloud_event(
    cx: &Context,
    kind: &str,
    source: Option<&str>,
    data: serde_json::Value,
) -> Result<Vec<ImageEvent>, WebhookError> {
    let push = kind.ends_with(".push") || kind.ends_with(".pushed");
    let d: CloudData = if data.is_null() && !push {
        return Ok(Vec::new());
    } else {
        data_as(data)?
    };
    let from_source = source.and_then(parse_source);
    let Some(repository) = d
        .repository_name
        .as_deref()
        .or(from_source.map(|(_, _, repo)| repo))
    else {
        return if push {
            Err(WebhookError::malformed(
                "no data.repositoryName and no repository in the CloudEvent source",
            ))
        } else {
            Ok(Vec::new())
        };
    };
    let account = d
        .registry_id
        .as_deref()
        .or(from_source.map(|(_, account, _)| account));
    let derived = match (account, from_source.map(|(region, _, _)| region)) {
        (Some(a), Some(r)) => ecr_host(a.trim(), r.trim()),
        _ => None,
    };
    let host = derived.as_deref().or(cx.registry());
    let mut out = Vec::new();
    add_event(
        &mut out,
        host,
        repository,
        d.image_tag.as_deref(),
        d.image_digest.as_deref(),
        push,
    )?;
    Ok(out)
}

pub(super) fn parse(cx: &Context) -> Result<Vec<ImageEvent>, WebhookError> {
    if let Some(ce) = cloud_event(cx)? {
        return parse_cloud_event(cx, &ce.kind, ce.source.as_deref(), ce.data);
    }
    let e: Event = cx.json()?;
    if e.detail_type
        .as_deref()
        .is_some_and(|t| t != "ECR Image Action")
    {
        return Ok(Vec::new());
    }
    let d = e
        .detail
        .ok_or_else(|| WebhookError::malformed("no detail object"))?;
    let push = d.action_type.as_deref() == Some("PUSH") && d.result.as_deref() == Some("SUCCESS");
    let Some(repository) = d.repository_name else {
        return if push {
            Err(WebhookError::malformed("no detail.repository-name"))
        } else {
            Ok(Vec::new())
        };
    };
    let derived = match (e.account.as_deref(), e.region.as_deref()) {
        (Some(a), Some(r)) => ecr_host(a.trim(), r.trim()),
        _ => None,
    };
    let host = derived.as_deref().or(cx.registry());
    let mut out = Vec::new();
    add_event(
        &mut out,
        host,
        &repository,
        d.image_tag.as_deref(),
        d.image_digest.as_deref(),
        push,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::common::testutil::*;
    use super::super::Provider;

    const PUSH: &str = include_str!("../tests/data/webhook/ecr-push.json");

    #[test]
    fn successful_push() {
        let r = receiver(Provider::Ecr);
        let ev = run(&r, &bearer(), PUSH).unwrap();
        assert_eq!(
            summary(&ev),
            [push(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders",
                "1.8.0"
            )]
        );
        assert!(ev[0].digest.is_some());
    }

    #[test]
    fn failures_deletes_untagged_and_other_types() {
        let r = receiver(Provider::Ecr);
        let n = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders";
        let failed = PUSH.replace("\"SUCCESS\"", "\"FAILURE\"");
        assert_eq!(
            summary(&run(&r, &bearer(), &failed).unwrap()),
            [ignored(n, Some("1.8.0"))]
        );
        let deleted = PUSH.replace("\"PUSH\"", "\"DELETE\"");
        assert_eq!(
            summary(&run(&r, &bearer(), &deleted).unwrap()),
            [ignored(n, Some("1.8.0"))]
        );
        let untagged = PUSH.replace("\"image-tag\": \"1.8.0\",", "");
        assert_eq!(
            summary(&run(&r, &bearer(), &untagged).unwrap()),
            [ignored(n, None)]
        );
        let scan = PUSH.replace("ECR Image Action", "ECR Image Scan");
        assert_eq!(run(&r, &bearer(), &scan).unwrap(), []);
    }

    #[test]
    fn china_region_and_receiver_fallback() {
        let r = receiver(Provider::Ecr);
        let cn = PUSH.replace("eu-west-1", "cn-north-1");
        assert_eq!(
            run(&r, &bearer(), &cn).unwrap()[0].registry,
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
        );
        let body = r#"{"detail":{"action-type":"PUSH","result":"SUCCESS","repository-name":"app","image-tag":"2"}}"#;
        malformed(run(&r, &bearer(), body));
        let r = with_registry(r, "123.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(
            summary(&run(&r, &bearer(), body).unwrap()),
            [push("123.dkr.ecr.us-east-1.amazonaws.com/app", "2")]
        );
    }

    #[test]
    fn auth_api_destination_header() {
        let mut r = receiver(Provider::Ecr);
        r.header = Some("x-api-key".into());
        assert!(run(&r, &headers(&[("x-api-key", SECRET)]), PUSH).is_ok());
        unauthorized(run(&r, &bearer(), PUSH));
        unauthorized(run_path(&r, PUSH));
        let r = receiver(Provider::Ecr);
        // Basic auth: the secret is "user:password".
        let mut basic = receiver(Provider::Ecr);
        basic.secret = imagebump_core::secret::Secret::new("imagebump:pa55");
        assert!(run(
            &basic,
            &headers(&[("Authorization", "Basic aW1hZ2VidW1wOnBhNTU=")]),
            PUSH
        )
        .is_ok());
        unauthorized(run(
            &r,
            &headers(&[("Authorization", "Basic aW1hZ2VidW1wOnBhNTU=")]),
            PUSH,
        ));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Ecr);
        malformed(run(&r, &bearer(), "{\"detail\":"));
        malformed(run(&r, &bearer(), r#"{"detail-type":"ECR Image Action"}"#));
        malformed(run(
            &r,
            &bearer(),
            r#"{"detail":{"action-type":"PUSH","result":"SUCCESS"}}"#,
        ));
    }
}
