//! Tests across providers: names, the answer model, limits, and never panicking.

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{json, Value};
use sha2::Sha256;

use super::auth::hmac_hex;
use super::common::testutil::*;
use super::*;

#[test]
fn provider_names_round_trip() {
    for p in Provider::ALL {
        assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
        assert_eq!(p.to_string(), p.as_str());
        let yaml: Provider = serde_norway::from_str(p.as_str()).unwrap();
        assert_eq!(yaml, p);
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    assert_eq!("Forgejo".parse(), Ok(Provider::Gitea));
    assert_eq!("gitlab".parse(), Ok(Provider::Distribution));
    assert_eq!("docker-hub".parse(), Ok(Provider::DockerHub));
    let e = "quay.io".parse::<Provider>().unwrap_err().to_string();
    assert!(
        e.contains("unknown webhook provider") && e.contains("generic-hmac"),
        "{e}"
    );
    assert!(serde_norway::from_str::<Provider>("nope").is_err());
}

#[test]
fn too_large_before_anything_else() {
    let r = receiver(Provider::Generic);
    let body = vec![b' '; MAX_BODY + 1];
    assert_eq!(
        handle(&r, &HeaderMap::new(), None, &body),
        Err(WebhookError::TooLarge(MAX_BODY + 1))
    );
    let ok = format!(r#"{{"image":"a.io/b:1"}}{}"#, " ".repeat(MAX_BODY - 30));
    assert!(run_path(&r, &ok).is_ok());
}

#[test]
fn empty_secret_accepts_nothing() {
    for p in Provider::ALL {
        let mut r = receiver(p);
        r.secret = imagebump_core::secret::Secret::new("");
        let body = br#"{"image":"a.io/b:1"}"#;
        let h = headers(&[("Authorization", ""), ("X-Signature", "sha256=")]);
        unauthorized(handle(&r, &h, Some(""), body));
        unauthorized(handle(&r, &HeaderMap::new(), None, body));
        assert!(!r.problems().is_empty());
    }
}

#[test]
fn documented_auth_modes_match_behaviour() {
    let body = b"{}";
    for p in Provider::ALL {
        let mut r = receiver(p);
        let by_path = handle(&r, &HeaderMap::new(), Some(SECRET), body);
        assert_eq!(
            !matches!(by_path, Err(WebhookError::Unauthorized(_))),
            p.accepts_path_secret(),
            "{p}: path secret"
        );
        r.header = Some("Authorization".into());
        let by_header = handle(&r, &bearer(), None, body);
        assert_eq!(
            !matches!(by_header, Err(WebhookError::Unauthorized(_))),
            p.uses_header(),
            "{p}: static header"
        );
    }
}

#[test]
fn receiver_problems() {
    let mut r = receiver(Provider::Github);
    assert!(r.problems().is_empty());
    r.header = Some("X-Token".into());
    assert_eq!(r.problems().len(), 1);
    let mut r = receiver(Provider::Harbor);
    r.header = Some("bad header".into());
    assert_eq!(r.problems().len(), 1);
    let r = with_registry(receiver(Provider::Nexus), "nexus.example.com");
    assert!(r.problems().is_empty());
    let rs = [receiver(Provider::Quay)];
    assert!(find_receiver(&rs, "test").is_some());
    assert!(find_receiver(&rs, "other").is_none());
}

/// Headers (and path secret) that authenticate `body` for `p`.
fn authentic(p: Provider, body: &[u8]) -> (HeaderMap, Option<&'static str>) {
    let sig256 = hmac_hex::<Sha256>(SECRET.as_bytes(), body);
    let h = match p {
        Provider::Github => headers(&[
            ("X-GitHub-Event", "package"),
            ("X-Hub-Signature-256", &format!("sha256={sig256}")),
        ]),
        Provider::Gitea => headers(&[("X-Gitea-Event", "package"), ("X-Gitea-Signature", &sig256)]),
        Provider::Nexus => headers(&[(
            "X-Nexus-Webhook-Signature",
            &hmac_hex::<sha1::Sha1>(SECRET.as_bytes(), body),
        )]),
        Provider::GenericHmac => headers(&[("X-Signature", &format!("sha256={sig256}"))]),
        Provider::Jfrog => headers(&[("X-JFrog-Event-Auth", &sig256)]),
        _ => bearer(),
    };
    (h, Some(SECRET))
}

fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "events",
        "target",
        "request",
        "host",
        "mediaType",
        "repository",
        "digest",
        "tag",
        "url",
        "action",
        "type",
        "event_data",
        "resources",
        "resource_url",
        "repo_full_name",
        "namespace",
        "name",
        "specversion",
        "data",
        "docker_url",
        "updated_tags",
        "package",
        "registry_package",
        "package_type",
        "package_version",
        "container_metadata",
        "version",
        "owner",
        "login",
        "html_url",
        "message",
        "detail",
        "detail-type",
        "account",
        "region",
        "repository-name",
        "image-tag",
        "image-digest",
        "action-type",
        "result",
        "domain",
        "event_type",
        "repo_key",
        "image_name",
        "sha256",
        "jpd_origin",
        "component",
        "format",
        "reference",
        "push_data",
        "repo_name",
        "image",
        "source",
        "package_url",
        "registry",
    ]);
    let words = prop::sample::select(vec![
        "push",
        "pull",
        "delete",
        "PUSH_ARTIFACT",
        "harbor.artifact.pushed",
        "container",
        "CONTAINER",
        "docker",
        "INSERT",
        "PUSH",
        "SUCCESS",
        "pushed",
        "created",
        "CREATED",
        "zotregistry.image.updated",
        "ghcr.io/org/app:1",
        "localhost:5000",
        "é/ü:ß",
        "",
        "a/b",
        "1.0",
        "application/vnd.oci.image.manifest.v1+json",
        "123456789012",
        "eu-west-1",
        "https://h.example.com/x",
        "sha256:",
        "@",
        ":",
        "/",
        "1.0",
        "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        words.prop_map(|w| json!(w)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn provider() -> impl Strategy<Value = Provider> {
    prop::sample::select(Provider::ALL.to_vec())
}

fn header_pairs() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let names = prop::sample::select(vec![
        "authorization",
        "x-hub-signature-256",
        "x-gitea-signature",
        "x-forgejo-signature",
        "x-nexus-webhook-signature",
        "x-signature",
        "x-jfrog-event-auth",
        "x-github-event",
        "x-gitea-event",
        "x-nexus-webhook-id",
        "ce-type",
        "ce-source",
        "content-type",
    ]);
    prop::collection::vec(
        (
            names.prop_map(str::to_string),
            prop::collection::vec(any::<u8>(), 0..80),
        ),
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes and headers: never a panic, and nothing gets through unauthenticated
    /// except with the right credentials.
    #[test]
    fn never_panics_on_arbitrary_requests(
        p in provider(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
        pairs in header_pairs(),
        path in proptest::option::of(".{0,20}"),
        registry in proptest::option::of(prop::sample::select(vec!["r.example.com", "bad host", "", "localhost:5000"])),
    ) {
        let mut r = receiver(p);
        r.registry = registry.map(str::to_string);
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_bytes(&v)) {
                h.append(k, v);
            }
        }
        let _ = handle(&r, &h, path.as_deref(), &body);
    }

    /// Authentic requests with arbitrary JSON reach every parser: never a panic, never
    /// Unauthorized, and every error message is one line.
    #[test]
    fn parsers_never_panic_on_authentic_json(
        p in provider(),
        value in json_value(),
        registry in proptest::option::of(prop::sample::select(vec!["r.example.com", "bad host", "localhost:5000"])),
        cloud in any::<bool>(),
    ) {
        let mut r = receiver(p);
        r.registry = registry.map(str::to_string);
        let body = if p == Provider::Gar {
            let data = base64::engine::general_purpose::STANDARD.encode(value.to_string());
            json!({"message": {"data": data}}).to_string()
        } else {
            value.to_string()
        };
        let (mut h, path) = authentic(p, body.as_bytes());
        if cloud {
            h.insert("ce-type", HeaderValue::from_static("zotregistry.image.updated"));
        }
        match handle(&r, &h, path, body.as_bytes()) {
            Ok(events) => {
                for e in events {
                    prop_assert!(!e.registry.is_empty() && !e.repository.is_empty());
                    if e.action == Action::Push {
                        prop_assert!(e.tag.is_some());
                    }
                }
            }
            Err(WebhookError::Malformed(m)) => prop_assert!(!m.contains('\n') && !m.is_empty()),
            Err(other) => prop_assert!(false, "{p}: unexpected {other:?}"),
        }
    }
}

#[test]
fn error_messages_are_one_short_line() {
    assert_eq!(
        WebhookError::malformed("a\nb\r\n  c").to_string(),
        "malformed payload: a b c"
    );
    let long = WebhookError::malformed("x".repeat(5000)).to_string();
    assert!(long.chars().count() < 330, "{}", long.len());
}
