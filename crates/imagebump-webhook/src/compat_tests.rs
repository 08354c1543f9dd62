//! Compatibility with what senders really send (issue 10, items 1–8): secrets stored as
//! whole header values, Flux-style generic receivers, unwrapped Pub/Sub pushes,
//! transformed EventBridge events, GitHub's older package events, JFrog's access
//! methods, delivery ids, and 2xx for every authentic delivery that is ignored.
//! Fixture sources: `tests/data/webhook/README.md`.

use std::collections::BTreeMap;

use http::HeaderMap;
use sha1::Sha1;
use sha2::Sha256;

use super::auth::hmac_hex;
use super::common::testutil::*;
use super::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/webhook/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn with_secret(mut r: Receiver, secret: &str) -> Receiver {
    r.secret = imagebump_core::secret::Secret::new(secret);
    r
}

fn github_signed(event: &str, body: &str) -> HeaderMap {
    let sig = format!(
        "sha256={}",
        hmac_hex::<Sha256>(SECRET.as_bytes(), body.as_bytes())
    );
    headers(&[
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-Hub-Signature-256", &sig),
    ])
}

// ---- 1. static-header secrets -------------------------------------------------------

/// One authentic push body per static-header provider.
fn static_header_cases() -> Vec<(Receiver, String)> {
    let mut jfrog = receiver(Provider::Jfrog);
    jfrog.header = Some("Authorization".into());
    vec![
        (
            receiver(Provider::Distribution),
            fixture("distribution-push-tag.json"),
        ),
        (
            with_registry(receiver(Provider::Harbor), "harbor.example.com"),
            fixture("harbor-push.json"),
        ),
        (
            with_registry(receiver(Provider::Zot), "zot.example.com"),
            fixture("zot-structured.json"),
        ),
        (receiver(Provider::Ecr), fixture("ecr-push.json")),
        (receiver(Provider::Acr), fixture("acr-push.json")),
        (jfrog, fixture("jfrog-pushed.json")),
    ]
}

#[test]
fn secret_stored_as_the_whole_bearer_value_matches() {
    for (r, body) in static_header_cases() {
        let r = with_secret(r, "Bearer X-9f3a");
        let ok = run(&r, &headers(&[("Authorization", "Bearer X-9f3a")]), &body);
        assert!(ok.is_ok(), "{}: {ok:?}", r.provider);
        unauthorized(run(&r, &headers(&[("Authorization", "X-9f3a")]), &body));
        unauthorized(run(
            &r,
            &headers(&[("Authorization", "Bearer X-9f3b")]),
            &body,
        ));
    }
}

#[test]
fn bearer_basic_and_harbor_1x_secret_forms() {
    for (r, body) in static_header_cases() {
        for value in [
            SECRET.to_string(),
            format!("Bearer {SECRET}"),
            format!("Secret {SECRET}"), // Harbor 1.x "Auth Header"
            format!(
                "Basic {}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SECRET)
            ),
        ] {
            let got = run(&r, &headers(&[("Authorization", &value)]), &body);
            assert!(got.is_ok(), "{} with {value:?}: {got:?}", r.provider);
        }
        unauthorized(run(
            &r,
            &headers(&[("Authorization", "Secret nope")]),
            &body,
        ));
    }
    // JFrog with signing off sends the secret itself in X-JFrog-Event-Auth.
    let r = with_secret(receiver(Provider::Jfrog), "Bearer X-9f3a");
    let body = fixture("jfrog-pushed.json");
    assert!(run(
        &r,
        &headers(&[("X-JFrog-Event-Auth", "Bearer X-9f3a")]),
        &body
    )
    .is_ok());
}

// ---- 2. generic is Flux-compatible ----------------------------------------------------

fn deliver(r: &Receiver, h: &HeaderMap, body: &[u8]) -> Delivery {
    receive(r, h, Some(SECRET), body).unwrap()
}

#[test]
fn generic_any_authentic_body_rescans_the_receiver_scope() {
    let r = receiver(Provider::Generic);
    for body in [
        &b""[..],
        b"   \n",
        b"deploy please",
        b"{",
        b"42",
        br#"{"tag":"1"}"#,
        br#"{"object_kind":"pipeline","project":{"path_with_namespace":"a/b"}}"#,
        br#"[{"foo":1}]"#,
        br#"{"repository":null,"image":null}"#,
        br#"{"specversion":"1.0","id":"1","source":"ci","type":"build.done"}"#,
        &[0xff, 0xfe, 0x00],
    ] {
        let d = deliver(&r, &HeaderMap::new(), body);
        assert_eq!(
            (d.events.as_slice(), d.scope),
            (&[][..], Scope::Receiver),
            "{body:?}"
        );
    }
}

#[test]
fn generic_body_naming_an_image_still_narrows() {
    let r = receiver(Provider::Generic);
    let d = deliver(&r, &HeaderMap::new(), fixture("generic.json").as_bytes());
    assert_eq!(d.scope, Scope::Events);
    assert_eq!(summary(&d.events), [push("ghcr.io/org/app", "1.2.3")]);
    // Other keys next to the name are allowed.
    let body = br#"{"image":"ghcr.io/org/app:2","source":"ci","run":7}"#;
    let d = deliver(&r, &HeaderMap::new(), body);
    assert_eq!(
        (summary(&d.events), d.scope),
        (vec![push("ghcr.io/org/app", "2")], Scope::Events)
    );
}

#[test]
fn generic_hmac_signature_is_the_only_check() {
    let r = receiver(Provider::GenericHmac);
    for body in ["", "rebuild", r#"{"anything":true}"#] {
        let sig = format!(
            "sha256={}",
            hmac_hex::<Sha256>(SECRET.as_bytes(), body.as_bytes())
        );
        let d = receive(
            &r,
            &headers(&[("X-Signature", &sig)]),
            None,
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!((d.events.len(), d.scope), (0, Scope::Receiver), "{body:?}");
        let sig1 = format!("sha1={}", hmac_hex::<Sha1>(b"wrong", body.as_bytes()));
        unauthorized(run(&r, &headers(&[("X-Signature", &sig1)]), body));
        unauthorized(run(&r, &HeaderMap::new(), body));
    }
}

#[test]
fn repositories_key_only_on_generic_receivers() {
    let mut r = receiver(Provider::Generic);
    r.repositories = vec!["ghcr.io/org/app".into()];
    assert!(r.problems().is_empty(), "{:?}", r.problems());
    r.provider = Provider::Harbor;
    assert!(r.problems().iter().any(|p| p.contains("repositories")));
}

// ---- 3. GAR/GCR Pub/Sub push, wrapped or unwrapped -------------------------------------

#[test]
fn gar_unwrapped_push_with_metadata_headers() {
    let r = receiver(Provider::Gar);
    let body = fixture("gar-push-unwrapped.json");
    let h = headers(&[
        ("x-goog-pubsub-message-id", "9876543210123456"),
        (
            "x-goog-pubsub-subscription-name",
            "projects/acme-prod/subscriptions/imagebump-gcr",
        ),
    ]);
    let d = receive(&r, &h, Some(SECRET), body.as_bytes()).unwrap();
    assert_eq!(
        summary(&d.events),
        [push("us-docker.pkg.dev/acme-prod/images/frontend", "3.0.0")]
    );
    assert!(d.events[0]
        .digest
        .as_deref()
        .unwrap()
        .starts_with("sha256:6ec1"));
    assert_eq!(d.id, Some(DeliveryId("pubsub:9876543210123456".into())));
    // The wrapped form of the same message gives the same answer and the same id.
    let wrapped = deliver(&r, &HeaderMap::new(), fixture("gar-push.json").as_bytes());
    assert_eq!(wrapped.events, d.events);
    assert_eq!(wrapped.id, d.id);
    // Unwrapped delete and digest-only upload: ignored.
    let del = r#"{"action":"DELETE","tag":"gcr.io/acme/app:1.0"}"#;
    assert_eq!(
        summary(&run_path(&r, del).unwrap()),
        [ignored("gcr.io/acme/app", Some("1.0"))]
    );
}

// ---- 4. ECR through EventBridge with an input transformer ------------------------------

#[test]
fn ecr_cloudevents_from_an_input_transformer() {
    let r = receiver(Provider::Ecr);
    let body = fixture("ecr-cloudevents-push.json");
    let d = receive(&r, &bearer(), None, body.as_bytes()).unwrap();
    let name = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders";
    assert_eq!(summary(&d.events), [push(name, "1.8.0")]);
    assert!(d.events[0].digest.is_some());
    assert_eq!(
        d.id,
        Some(DeliveryId(
            "cloudevents:urn:aws:ecr:eu-west-1:123456789012:repository/team/orders 13cde686-328b-6117-af20-0e5566167482".into()
        ))
    );
    // An ARN source and no registryId / repositoryName: all from the source.
    let arn = r#"{"specversion":"1.0","id":"2","type":"com.amazon.ecr.image.push","source":"arn:aws-cn:ecr:cn-north-1:210987654321:repository/web","data":{"imageTag":"3.1"}}"#;
    assert_eq!(
        summary(&run(&r, &bearer(), arn).unwrap()),
        [push(
            "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/web",
            "3.1"
        )]
    );
    // Other types are ignored; the native event still works.
    let del = body.replace("image.push", "image.delete");
    assert_eq!(
        summary(&run(&r, &bearer(), &del).unwrap()),
        [ignored(name, Some("1.8.0"))]
    );
    let native = fixture("ecr-push.json");
    assert_eq!(
        summary(&run(&r, &bearer(), &native).unwrap()),
        [push(name, "1.8.0")]
    );
    // A push that names nothing is refused, with the reason.
    let bare = r#"{"specversion":"1.0","id":"3","type":"com.amazon.ecr.image.push","source":"somewhere","data":{"imageTag":"1"}}"#;
    let m = malformed(run(&r, &bearer(), bare));
    assert!(m.contains("repositoryName"), "{m}");
}

// ---- 5. GitHub's older package events --------------------------------------------------

#[test]
fn github_package_v2_create() {
    let r = receiver(Provider::Github);
    let body = fixture("github-package-v2-create.json");
    let ev = run(&r, &github_signed("package_v2", &body), &body).unwrap();
    assert_eq!(
        summary(&ev),
        [push("ghcr.io/stefanprodan/podinfo", "6.7.1")]
    );
}

#[test]
fn github_legacy_registry_package_with_version_and_string_body() {
    let r = receiver(Provider::Github);
    let body = fixture("github-registry-package-legacy.json");
    let ev = run(&r, &github_signed("registry_package", &body), &body).unwrap();
    assert_eq!(
        summary(&ev),
        [push(
            "docker.pkg.github.com/octo-org/hello-world-npm/hello-world",
            "1.0.0"
        )]
    );
    // Odd shapes of the fields not read never fail the delivery.
    let odd = body
        .replace(r#""body": "Hello world image""#, r#""body": {"x": 1}"#)
        .replace(r#""metadata": []"#, r#""metadata": "none""#);
    assert!(run(&r, &github_signed("registry_package", &odd), &odd).is_ok());
}

// ---- 6. JFrog's Docker access methods --------------------------------------------------

#[test]
fn jfrog_access_methods() {
    let body = fixture("jfrog-pushed.json");
    let auth = headers(&[("X-JFrog-Event-Auth", SECRET)]);
    let name = |access: JfrogAccess, registry: &str| {
        let mut r = with_registry(receiver(Provider::Jfrog), registry);
        r.jfrog_access = access;
        assert!(r.problems().is_empty(), "{:?}", r.problems());
        run(&r, &auth, &body)
    };
    assert_eq!(
        summary(&name(JfrogAccess::RepositoryPath, "acme.jfrog.io").unwrap()),
        [push("acme.jfrog.io/docker-local/team/web", "1.0.4")]
    );
    assert_eq!(
        summary(&name(JfrogAccess::Subdomain, "art.example.com").unwrap()),
        [push("docker-local.art.example.com/team/web", "1.0.4")]
    );
    let ports = BTreeMap::from([("docker-local".to_string(), 5001)]);
    assert_eq!(
        summary(&name(JfrogAccess::Port(ports), "art.example.com:8082").unwrap()),
        [push("art.example.com:5001/team/web", "1.0.4")]
    );
    let other = BTreeMap::from([("docker-prod".to_string(), 5002)]);
    let m = malformed(name(JfrogAccess::Port(other), "art.example.com"));
    assert!(
        m.contains("docker-local") && m.contains("jfrogPorts"),
        "{m}"
    );
}

#[test]
fn jfrog_access_needs_a_registry_and_a_jfrog_receiver() {
    let mut r = receiver(Provider::Jfrog);
    r.jfrog_access = JfrogAccess::Subdomain;
    assert!(r.problems().iter().any(|p| p.contains("registry:")));
    r.jfrog_access = JfrogAccess::Port(BTreeMap::new());
    r.registry = Some("art.example.com".into());
    assert!(r.problems().iter().any(|p| p.contains("jfrogPorts")));
    let mut h = with_registry(receiver(Provider::Harbor), "h.example.com");
    h.jfrog_access = JfrogAccess::Subdomain;
    assert!(h.problems().iter().any(|p| p.contains("jfrogAccess")));
}

// ---- 7. delivery ids for replays --------------------------------------------------------

#[test]
fn delivery_ids_per_sender() {
    let gh = fixture("github-package-published.json");
    let d = receive(
        &receiver(Provider::Github),
        &github_signed("package", &gh),
        None,
        gh.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        d.id,
        Some(DeliveryId(
            "github:72d3162e-cc78-11e3-81ab-4c9367dc0958".into()
        ))
    );
    let dist = fixture("distribution-push-tag.json");
    let d = deliver(
        &receiver(Provider::Distribution),
        &bearer(),
        dist.as_bytes(),
    );
    assert_eq!(
        d.id,
        Some(DeliveryId(
            "distribution:81cf8287-7864-448d-83ff-95ec551d645c".into()
        ))
    );
    let harbor = fixture("harbor-cloudevents-push.json");
    let d = deliver(
        &with_registry(receiver(Provider::Harbor), "harbor.example.com"),
        &bearer(),
        harbor.as_bytes(),
    );
    assert!(
        d.id.as_ref()
            .is_some_and(|i| i.0.starts_with("cloudevents:")),
        "{:?}",
        d.id
    );
    let ecr = fixture("ecr-push.json");
    let d = deliver(&receiver(Provider::Ecr), &bearer(), ecr.as_bytes());
    assert!(d
        .id
        .as_ref()
        .is_some_and(|i| i.0.starts_with("eventbridge:")));
    // Docker Hub gives no id: never a replay.
    let hub = fixture("dockerhub-push.json");
    assert_eq!(
        deliver(
            &receiver(Provider::DockerHub),
            &HeaderMap::new(),
            hub.as_bytes()
        )
        .id,
        None
    );
}

// ---- 8. 2xx for every authentic, well-formed delivery that is ignored -------------------

#[test]
fn ignored_deliveries_are_accepted_by_every_provider() {
    let gh_ping = fixture("github-ping.json");
    let gitea_sig = |b: &str| hmac_hex::<Sha256>(SECRET.as_bytes(), b.as_bytes());
    let nexus_sig = |b: &str| hmac_hex::<Sha1>(SECRET.as_bytes(), b.as_bytes());
    let jfrog_deleted = fixture("jfrog-deleted.json");
    let harbor_scan = r#"{"type":"SCANNING_COMPLETED","occur_at":1732891800,"operator":"auto","event_data":{"resources":[{"digest":"sha256:76525f02955aec223342400a080c73024c995c9db1ba2eabf7505cf3bdf3f1f0","resource_url":"harbor.example.com/platform/api@sha256:76525f02955aec223342400a080c73024c995c9db1ba2eabf7505cf3bdf3f1f0","scan_overview":{}}],"repository":{"name":"api","namespace":"platform","repo_full_name":"platform/api"}}}"#;
    let harbor_quota = r#"{"type":"QUOTA_WARNING","occur_at":1732891800,"operator":"","event_data":{"custom_attributes":{"Details":"quota usage reach 85%"}}}"#;
    let dist_pull = r#"{"events":[{"id":"p1","action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/app","digest":"sha256:6319efa321bbacd6f7e31f179c5413bc82252195e5fc6019164cf51370176e80","tag":"1.2.3"},"request":{"host":"127.0.0.1:45123","method":"GET"}}]}"#;
    let zot_repo = r#"{"specversion":"1.0","id":"z1","type":"zotregistry.repository.created","source":"zotregistry.dev","data":{"name":"team/app"}}"#;
    let zot_lint = r#"{"specversion":"1.0","id":"z2","type":"zotregistry.image.lint_failed","source":"zotregistry.dev","data":null}"#;
    let nexus_other = r#"{"timestamp":"2026-11-29T14:02:11.482+00:00","nodeId":"n","initiator":"admin","repositoryName":"docker-hosted","action":"DELETED","component":{"id":"c","format":"docker","group":null}}"#;
    let gitea_push = r#"{"ref":"refs/heads/main","commits":[]}"#;
    let ecr_scan = fixture("ecr-push.json").replace("ECR Image Action", "ECR Image Scan");
    let ecr_ce_scan = r#"{"specversion":"1.0","id":"s","type":"com.amazon.ecr.image.scan","source":"urn:aws:ecr:eu-west-1:123456789012:repository/team/orders","data":null}"#;
    let gar_delete = r#"{"action":"DELETE","digest":"us-docker.pkg.dev/p/r/img@sha256:6ec128e26cd5a4e0cf2b8d7a3f1a1c2b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"}"#;
    let quay_test = r#"{"repository":"acme/web","namespace":"acme","name":"web","docker_url":"quay.io/acme/web","homepage":"https://quay.io/repository/acme/web","updated_tags":[]}"#;

    let reg = |p, host: &str| with_registry(receiver(p), host);
    let cases: Vec<(Receiver, HeaderMap, Option<&str>, String)> = vec![
        (
            receiver(Provider::Distribution),
            bearer(),
            None,
            dist_pull.into(),
        ),
        (
            receiver(Provider::Distribution),
            bearer(),
            None,
            r#"{"events":[]}"#.into(),
        ),
        (
            reg(Provider::Harbor, "harbor.example.com"),
            bearer(),
            None,
            fixture("harbor-pull.json"),
        ),
        (
            reg(Provider::Harbor, "harbor.example.com"),
            bearer(),
            None,
            harbor_scan.into(),
        ),
        (
            reg(Provider::Harbor, "harbor.example.com"),
            bearer(),
            None,
            harbor_quota.into(),
        ),
        (
            receiver(Provider::Quay),
            HeaderMap::new(),
            Some(SECRET),
            quay_test.into(),
        ),
        (
            receiver(Provider::Github),
            github_signed("ping", &gh_ping),
            None,
            gh_ping.clone(),
        ),
        (
            receiver(Provider::Gitea),
            headers(&[
                ("X-Gitea-Event", "push"),
                ("X-Gitea-Signature", &gitea_sig(gitea_push)),
            ]),
            None,
            gitea_push.into(),
        ),
        (
            receiver(Provider::Acr),
            bearer(),
            None,
            fixture("acr-ping.json"),
        ),
        (
            receiver(Provider::Acr),
            bearer(),
            None,
            fixture("acr-delete.json"),
        ),
        (
            receiver(Provider::Gar),
            HeaderMap::new(),
            Some(SECRET),
            gar_delete.into(),
        ),
        (receiver(Provider::Ecr), bearer(), None, ecr_scan),
        (receiver(Provider::Ecr), bearer(), None, ecr_ce_scan.into()),
        (
            receiver(Provider::Jfrog),
            headers(&[(
                "X-JFrog-Event-Auth",
                &hmac_hex::<Sha256>(SECRET.as_bytes(), jfrog_deleted.as_bytes()),
            )]),
            None,
            jfrog_deleted.clone(),
        ),
        (
            reg(Provider::Nexus, "nexus.example.com:8443"),
            headers(&[
                ("X-Nexus-Webhook-Id", "rm:repository:component"),
                ("X-Nexus-Webhook-Signature", &nexus_sig(nexus_other)),
            ]),
            None,
            nexus_other.into(),
        ),
        (
            reg(Provider::Zot, "zot.example.com"),
            bearer(),
            None,
            zot_repo.into(),
        ),
        (
            reg(Provider::Zot, "zot.example.com"),
            bearer(),
            None,
            zot_lint.into(),
        ),
    ];
    let mut covered = std::collections::BTreeSet::new();
    for (r, h, path, body) in &cases {
        let got = handle(r, h, *path, body.as_bytes());
        match got {
            Ok(ev) => assert!(
                ev.iter().all(|e| e.action == Action::Ignored),
                "{}: {body}: {ev:?}",
                r.provider
            ),
            Err(e) => panic!("{}: {body}: {e}", r.provider),
        }
        covered.insert(r.provider.as_str());
    }
    // Docker Hub and Aliyun only ever send pushes; generic's ignorable bodies are item 2.
    for p in Provider::ALL {
        let pushes_only = matches!(
            p,
            Provider::DockerHub | Provider::Aliyun | Provider::Generic | Provider::GenericHmac
        );
        assert!(
            pushes_only || covered.contains(p.as_str()),
            "{p} has no ignored case"
        );
    }
}
