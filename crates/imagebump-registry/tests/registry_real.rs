//! The registry client against a real CNCF Distribution registry over plain HTTP.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use imagebump_registry::{
    ClientOptions, RegistryClient, RegistryError, RegistryOptions, RequestKind,
};
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

fn client(reg: &TestRegistry, tweak: impl FnOnce(&mut ClientOptions)) -> RegistryClient {
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    r.rate_limit = 1000.0;
    let mut o = ClientOptions {
        registries: vec![r],
        retry_base: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    tweak(&mut o);
    RegistryClient::new(o).unwrap()
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn plain_http_lists_tags_and_resolves_digests() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    let digests = reg
        .push_tags("team/app", &tags(&["1.0.0", "1.1.0", "2.0.0"]))
        .await;
    let c = client(&reg, |_| {});
    let image = reg.image("team/app");
    let listed = c.list_tags(&image).await.unwrap();
    assert_eq!(set(&listed), set(&tags(&["1.0.0", "1.1.0", "2.0.0"])));
    for (t, d) in ["1.0.0", "1.1.0", "2.0.0"].iter().zip(&digests) {
        assert_eq!(&c.resolve_digest(&image, t).await.unwrap(), d);
    }
    assert_ne!(digests[0], digests[1], "annotations make digests distinct");
    // A digest resolves to itself.
    assert_eq!(
        c.resolve_digest(&image, &digests[2]).await.unwrap(),
        digests[2]
    );
    let m = c.metrics();
    assert_eq!(
        m.requests_with_status(&reg.host(), RequestKind::Tags, "200"),
        1
    );
    assert_eq!(m.requests_for(&reg.host(), RequestKind::Manifest), 4);
}

#[tokio::test]
async fn missing_repository_and_tag_are_not_found() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    reg.push_image("present", "1").await;
    let c = client(&reg, |_| {});
    let e = c.list_tags(&reg.image("absent/repo")).await.unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("{}/absent/repo: repository not found", reg.host())
    );
    let e = c
        .resolve_digest(&reg.image("present"), "9.9.9")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RegistryError::NotFound { what, .. } if what == "tag 9.9.9"),
        "{e:?}"
    );
    let e = c
        .resolve_digest(&reg.image("absent"), "1")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn multi_arch_index_digest_and_platform_check() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    let (index, platform_digests) = reg
        .push_index("multi", "1.0", &["linux/amd64", "linux/arm64/v8"])
        .await;
    let single = reg.push_image("multi", "single").await;
    let c = client(&reg, |_| {});
    let image = reg.image("multi");
    let d = c.resolve_digest(&image, "1.0").await.unwrap();
    assert_eq!(d, index, "a multi-arch tag resolves to its index digest");
    assert!(!platform_digests.contains(&d));
    let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(c
        .check_platforms(&image, "1.0", &p(&["linux/amd64", "linux/arm64/v8"]))
        .await
        .unwrap());
    assert!(c
        .check_platforms(&image, "1.0", &p(&["linux/arm64"]))
        .await
        .unwrap());
    assert!(!c
        .check_platforms(&image, "1.0", &p(&["linux/amd64", "linux/arm/v7"]))
        .await
        .unwrap());
    // A single-platform image: the platform comes from its config blob.
    assert_eq!(c.resolve_digest(&image, "single").await.unwrap(), single);
    assert!(c
        .check_platforms(&image, "single", &p(&["linux/amd64"]))
        .await
        .unwrap());
    assert!(!c
        .check_platforms(&image, "single", &p(&["linux/arm64"]))
        .await
        .unwrap());
    assert!(c.check_platforms(&image, "single", &[]).await.unwrap());
    let e = c
        .check_platforms(&image, "1.0", &p(&["linux"]))
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn hundred_concurrent_lookups_cause_one_listing() {
    let reg = TestRegistry::start(TestRegistryOptions::default().with_access_log());
    reg.push_tags("busy", &tags(&["a", "b", "c"])).await;
    let c = client(&reg, |_| {});
    let image = reg.image("busy");
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (c, image) = (c.clone(), image.clone());
        tasks.push(tokio::spawn(async move { c.list_tags(&image).await }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(
        results.iter().all(|r| Arc::ptr_eq(r, &results[0])),
        "all share one list"
    );
    assert_eq!(set(&results[0]), set(&tags(&["a", "b", "c"])));
    assert_eq!(
        reg.count_tag_list_requests("busy"),
        1,
        "registry access log"
    );
    let m = c.metrics();
    assert_eq!(m.requests_for(&reg.host(), RequestKind::Tags), 1);
    assert_eq!(m.listings, 1);
    assert_eq!(m.shared_fetches + m.cache_hits, 99);
}

#[tokio::test]
async fn cache_ttl_fresh_listing_and_invalidate() {
    let reg = TestRegistry::start(TestRegistryOptions::default().with_access_log());
    reg.push_image("cached", "1").await;
    let c = client(&reg, |o| o.cache_ttl = Duration::from_millis(600));
    let image = reg.image("cached");
    assert_eq!(*c.list_tags(&image).await.unwrap(), tags(&["1"]));
    reg.push_image("cached", "2").await;
    // Within the TTL: the cached list, no request.
    assert_eq!(*c.list_tags(&image).await.unwrap(), tags(&["1"]));
    assert_eq!(reg.count_tag_list_requests("cached"), 1);
    // A webhook hint: fresh.
    assert_eq!(
        set(&c.list_tags_fresh(&image).await.unwrap()),
        set(&tags(&["1", "2"]))
    );
    assert_eq!(reg.count_tag_list_requests("cached"), 2);
    // The fresh result refreshed the cache.
    reg.push_image("cached", "3").await;
    assert_eq!(c.list_tags(&image).await.unwrap().len(), 2);
    // After the TTL the next lookup lists again.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(c.list_tags(&image).await.unwrap().len(), 3);
    assert_eq!(reg.count_tag_list_requests("cached"), 3);
    reg.push_image("cached", "4").await;
    c.invalidate(&image);
    assert_eq!(c.list_tags(&image).await.unwrap().len(), 4);
    assert_eq!(reg.count_tag_list_requests("cached"), 4);
    assert_eq!(c.metrics().cache_hits, 2);
}

#[tokio::test]
async fn concurrent_fresh_lookups_cost_at_most_two_listings() {
    let reg = TestRegistry::start(TestRegistryOptions::default().with_access_log());
    reg.push_image("hooked", "1").await;
    let c = client(&reg, |_| {});
    let image = reg.image("hooked");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (c, image) = (c.clone(), image.clone());
        tasks.push(tokio::spawn(async move { c.list_tags_fresh(&image).await }));
    }
    for t in tasks {
        assert_eq!(*t.await.unwrap().unwrap(), tags(&["1"]));
    }
    let n = reg.count_tag_list_requests("hooked");
    assert!((1..=2).contains(&n), "{n} listings for 50 fresh lookups");
    assert_eq!(c.metrics().listings as usize, n);
}

#[tokio::test]
async fn deleted_tags_disappear_and_empty_repository_lists_nothing() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    reg.push_tags("gone", &tags(&["a", "b"])).await;
    let c = client(&reg, |_| {});
    let image = reg.image("gone");
    assert_eq!(c.list_tags(&image).await.unwrap().len(), 2);
    reg.delete_tag("gone", "a").await;
    assert_eq!(*c.list_tags_fresh(&image).await.unwrap(), tags(&["b"]));
    reg.delete_tag("gone", "b").await;
    // Distribution answers `"tags": null` here.
    assert!(c.list_tags_fresh(&image).await.unwrap().is_empty());
}

#[tokio::test]
async fn skopeo_pushed_image_is_visible() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    reg.skopeo_push("tools/skopeoed", "1.2.3");
    let c = client(&reg, |_| {});
    let image = reg.image("tools/skopeoed");
    assert_eq!(*c.list_tags(&image).await.unwrap(), tags(&["1.2.3"]));
    let d = c.resolve_digest(&image, "1.2.3").await.unwrap();
    assert!(d.starts_with("sha256:") && d.len() == 71, "{d}");
}

#[tokio::test]
async fn registry_config_carries_notifications() {
    // The service's end-to-end tests use this; here only that the registry accepts it.
    let hook = imagebump_testbed::registry::standin::StandInServer::start(|_| {
        imagebump_testbed::registry::standin::Resp::status(200)
    });
    let reg = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://{}/hooks/registry", hook.host()),
        Some("Bearer hook-secret"),
    ));
    reg.push_image("notified", "1").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while hook.count("/hooks/registry") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no notification arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let req = &hook.requests()[0];
    assert_eq!(req.header("authorization"), Some("Bearer hook-secret"));
}

#[tokio::test]
async fn tls_is_verified_and_an_extra_ca_file_is_trusted() {
    let reg = TestRegistry::start(TestRegistryOptions::default().with_tls());
    reg.push_image("secure", "1").await;
    let image = reg.image("secure");
    let tls_client = |ca: Option<std::path::PathBuf>| {
        let mut r = RegistryOptions::new(reg.host());
        r.ca_file = ca;
        RegistryClient::new(ClientOptions {
            registries: vec![r],
            max_retries: 0,
            ..Default::default()
        })
        .unwrap()
    };
    // Verified by default: a self-signed certificate is refused…
    let e = tls_client(None).list_tags(&image).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e:?}");
    // A TLS server is not mistaken for plain HTTP, and OpenSSL's words appear once.
    let s = e.to_string();
    assert!(!s.contains("plain HTTP"), "{s}");
    let verify = "certificate verify failed";
    assert_eq!(s.matches(verify).count(), 1, "{s}");
    // …and accepted once its CA file is configured.
    let c = tls_client(Some(reg.ca_file()));
    assert_eq!(*c.list_tags(&image).await.unwrap(), tags(&["1"]));
    // A CA file that is not PEM is a configuration error at construction.
    let mut r = RegistryOptions::new(reg.host());
    r.ca_file = Some(reg.dir().join("config.yml"));
    let e = RegistryClient::new(ClientOptions {
        registries: vec![r],
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, RegistryError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn tls_to_a_plain_http_registry_says_to_set_insecure() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    reg.push_image("team/app", "1").await;
    let mut r = RegistryOptions::new(reg.host());
    r.rate_limit = 1000.0;
    let c = RegistryClient::new(ClientOptions {
        registries: vec![r],
        retry_base: Duration::from_millis(20),
        ..Default::default()
    })
    .unwrap();
    let e = c.list_tags(&reg.image("team/app")).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} answered plain HTTP; set `insecure: true` for it in `registries`",
            reg.host()
        )
    );
    // Not retried: the answer will not change.
    assert!(!e.is_transient(), "{e:?}");
    assert_eq!(c.metrics().retries, 0, "{e:?}");
}

#[tokio::test]
async fn an_unconfigured_host_that_is_unreachable_says_what_was_tried() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = RegistryClient::new(ClientOptions {
        max_retries: 0,
        ..Default::default()
    })
    .unwrap();
    let image =
        imagebump_core::image::ImageRef::parse(&format!("127.0.0.1:{port}/team/app")).unwrap();
    let e = c.list_tags(&image).await.unwrap_err();
    let s = e.to_string();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(
        s.contains(&format!(
            "127.0.0.1:{port} has no `registries` entry, so https://127.0.0.1:{port} was tried"
        )),
        "{s}"
    );
}
