//! Generic receivers, for CI jobs and anything else: `generic` and `generic-hmac`.
//!
//! Flux-compatible: any authentic body — empty, text, JSON of any shape — means
//! "rescan now": the receiver's `repositories:`, or every watched repository
//! ([`Scope::Receiver`](super::Scope::Receiver), `parse` answers `None`). A body that
//! names images narrows that: `{"repository": "ghcr.io/org/app", "tag": "1.2.3",
//! "digest": "sha256:…"}` or `{"image": "ghcr.io/org/app:1.2.3"}`, or a JSON array of
//! such objects (items naming neither are skipped; other keys are allowed). A tag leads
//! to a scan; a bare digest is ignored. A name without a host gets the receiver's
//! `registry:`, else it is a Docker Hub name (`nginx` → `docker.io/library/nginx`). A
//! named image that is not a valid name is Malformed: the sender meant something.
//!
//! Auth: `generic` takes the secret in the URL path or a static header;
//! `generic-hmac` needs `X-Signature: sha256=<hex HMAC of the body>` (or `sha1=`,
//! `sha512=`), as Flux's `generic-hmac` receiver does; the signature is the only check.

use serde::Deserialize;
use serde_json::Value;

use super::common::{add_reference, Context};
use super::{ImageEvent, WebhookError};

#[derive(Deserialize)]
struct Item {
    repository: Option<String>,
    image: Option<String>,
    tag: Option<String>,
    digest: Option<String>,
}

/// The events a body names, or `None` when it names no image (rescan the receiver's scope).
pub(super) fn parse(cx: &Context) -> Result<Option<Vec<ImageEvent>>, WebhookError> {
    let Ok(value) = serde_json::from_slice::<Value>(cx.body) else {
        return Ok(None); // empty or text
    };
    let values = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut out = Vec::new();
    let mut named = false;
    for (i, v) in values.into_iter().enumerate() {
        let names = v
            .as_object()
            .is_some_and(|o| o.contains_key("repository") || o.contains_key("image"));
        if !names {
            continue;
        }
        let item: Item = serde_json::from_value(v).map_err(|_| {
            WebhookError::malformed(format!(
                "item {i}: repository, image, tag and digest must be strings"
            ))
        })?;
        let reference = match (&item.repository, &item.image) {
            (Some(r), None) | (None, Some(r)) => r,
            (Some(_), Some(_)) => {
                return Err(WebhookError::malformed(format!(
                    "item {i} has both repository and image"
                )))
            }
            (None, None) => continue, // both null: names nothing
        };
        named = true;
        let before = out.len();
        add_reference(
            &mut out,
            reference,
            cx.registry(),
            item.tag.as_deref(),
            item.digest.as_deref(),
            true,
        )?;
        if out.len() == before {
            return Err(WebhookError::malformed(format!(
                "item {i}: {reference:?} is not a valid image name"
            )));
        }
    }
    Ok(named.then_some(out))
}

#[cfg(test)]
mod tests {
    use super::super::auth::hmac_hex;
    use super::super::common::testutil::*;
    use super::super::Provider;
    use sha2::{Sha256, Sha512};

    const GENERIC: &str = include_str!("../tests/data/webhook/generic.json");
    const IMAGE: &str = include_str!("../tests/data/webhook/generic-image.json");

    #[test]
    fn repository_and_tag() {
        let r = receiver(Provider::Generic);
        assert_eq!(
            summary(&run_path(&r, GENERIC).unwrap()),
            [push("ghcr.io/org/app", "1.2.3")]
        );
    }

    #[test]
    fn image_string_with_port_tag_and_digest() {
        let r = receiver(Provider::Generic);
        let ev = run_path(&r, IMAGE).unwrap();
        assert_eq!(
            summary(&ev),
            [push("registry.example.com:5000/team/worker", "2024.11.29")]
        );
        assert!(ev[0].digest.is_some());
    }

    #[test]
    fn short_names_and_lists() {
        let r = receiver(Provider::Generic);
        let body = r#"[{"image":"nginx:1.27"},{"repository":"org/app","tag":"2"},{"repository":"org/app","digest":"sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"}]"#;
        assert_eq!(
            summary(&run_path(&r, body).unwrap()),
            [
                push("docker.io/library/nginx", "1.27"),
                push("docker.io/org/app", "2"),
                ignored("docker.io/org/app", None),
            ]
        );
        let r = with_registry(r, "registry.internal:5000");
        assert_eq!(
            summary(&run_path(&r, r#"{"repository":"org/app","tag":"2"}"#).unwrap()),
            [push("registry.internal:5000/org/app", "2")]
        );
    }

    #[test]
    fn auth_generic_path_or_header() {
        let r = receiver(Provider::Generic);
        assert!(run(&r, &bearer(), GENERIC).is_ok());
        unauthorized(run(&r, &headers(&[]), GENERIC));
        unauthorized(super::super::handle(
            &r,
            &headers(&[]),
            Some("no"),
            GENERIC.as_bytes(),
        ));
    }

    #[test]
    fn auth_generic_hmac() {
        let r = receiver(Provider::GenericHmac);
        let s256 = format!(
            "sha256={}",
            hmac_hex::<Sha256>(SECRET.as_bytes(), GENERIC.as_bytes())
        );
        let s512 = format!(
            "sha512={}",
            hmac_hex::<Sha512>(SECRET.as_bytes(), GENERIC.as_bytes())
        );
        let s1 = format!(
            "sha1={}",
            hmac_hex::<sha1::Sha1>(SECRET.as_bytes(), GENERIC.as_bytes())
        );
        for sig in [&s256, &s512, &s1] {
            let ev = run(&r, &headers(&[("X-Signature", sig)]), GENERIC).unwrap();
            assert_eq!(summary(&ev), [push("ghcr.io/org/app", "1.2.3")]);
        }
        unauthorized(run(&r, &headers(&[("X-Signature", &s256)]), IMAGE));
        unauthorized(run(
            &r,
            &headers(&[("X-Signature", &s256.replace("sha256", "md5"))]),
            GENERIC,
        ));
        unauthorized(run(
            &r,
            &headers(&[("X-Signature", s256.trim_start_matches("sha256="))]),
            GENERIC,
        ));
        unauthorized(run_path(&r, GENERIC));
        unauthorized(run(&r, &bearer(), GENERIC));
    }

    #[test]
    fn malformed_bodies() {
        let r = receiver(Provider::Generic);
        for body in [
            r#"{"repository":"a","image":"b"}"#,
            r#"{"repository":"ghcr.io/Org/App","tag":"1"}"#,
            r#"{"repository":"ghcr.io/org/app","tag":"bad tag"}"#,
            r#"{"repository":5}"#,
            r#"[{"image":"ghcr.io/org/app:1"},{"image":"x y"}]"#,
        ] {
            let m = malformed(run_path(&r, body));
            assert!(m.len() < 300, "{m}");
        }
    }
}
