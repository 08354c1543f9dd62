//! `RegistryClient::created` against a real CNCF Distribution registry: where the
//! creation time comes from (annotation, config, an index's first platform) and that it
//! is cached by digest.

use std::time::{Duration, SystemTime};

use imagebump_registry::{
    ClientOptions, RegistryClient, RegistryError, RegistryOptions, RequestKind,
};
use imagebump_testbed::registry::{Built, TestRegistry, TestRegistryOptions};

fn client(reg: &TestRegistry) -> RegistryClient {
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    r.rate_limit = 1000.0;
    RegistryClient::new(ClientOptions {
        registries: vec![r],
        ..Default::default()
    })
    .unwrap()
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[tokio::test]
async fn created_from_annotation_config_or_first_platform_cached_by_digest() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    let repo = "team/app";
    let both = Built {
        config_created: Some("2020-01-01T00:00:00Z"),
        annotation: Some("2021-01-01T02:00:00+02:00"),
    };
    reg.push_image_built(repo, "annotated", both).await;
    let config = Built {
        config_created: Some("2020-01-01T00:00:00.5Z"),
        annotation: None,
    };
    reg.push_image_built(repo, "config", config).await;
    reg.push_index_built(repo, "index", &["linux/amd64", "linux/arm64"], config)
        .await;
    let index_annotated = Built {
        config_created: None,
        annotation: Some("2022-06-01T00:00:00Z"),
    };
    reg.push_index_built(repo, "index-annotated", &["linux/amd64"], index_annotated)
        .await;
    reg.push_image(repo, "undated").await;
    let bad = Built {
        config_created: Some("last tuesday"),
        annotation: None,
    };
    reg.push_image_built(repo, "bad", bad).await;

    let c = client(&reg);
    let image = reg.image(repo);
    let requests = || c.metrics().requests_for(&reg.host(), RequestKind::Manifest);
    // The annotation wins over the config, and costs no config request.
    assert_eq!(
        c.created(&image, "annotated").await.unwrap(),
        Some(at(1_609_459_200))
    );
    assert_eq!(requests(), 1);
    let half = at(1_577_836_800) + Duration::from_millis(500);
    assert_eq!(c.created(&image, "config").await.unwrap(), Some(half));
    assert_eq!(requests(), 3, "manifest + config blob");
    // An index without the annotation: its first platform manifest's config.
    assert_eq!(c.created(&image, "index").await.unwrap(), Some(half));
    assert_eq!(requests(), 6, "index + platform manifest + config blob");
    assert_eq!(
        c.created(&image, "index-annotated").await.unwrap(),
        Some(at(1_654_041_600))
    );
    assert_eq!(requests(), 7);
    // Cached by digest: a tag that did not move costs only its manifest request.
    assert_eq!(c.created(&image, "index").await.unwrap(), Some(half));
    assert_eq!(c.created(&image, "config").await.unwrap(), Some(half));
    assert_eq!(requests(), 9);

    assert_eq!(c.created(&image, "undated").await.unwrap(), None);
    let e = c.created(&image, "bad").await.unwrap_err();
    assert!(matches!(e, RegistryError::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("not an RFC 3339 time"), "{e}");
    let e = c.created(&image, "missing").await.unwrap_err();
    assert!(!matches!(e, RegistryError::Protocol { .. }), "{e:?}");
}
