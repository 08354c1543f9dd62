//! Faults and pagination a real Distribution registry cannot produce on cue, against
//! the scripted stand-in server (`imagebump_testbed::registry::standin`, not a registry).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imagebump_registry::{
    ClientOptions, RegistryClient, RegistryError, RegistryOptions, RequestKind,
};
use imagebump_testbed::registry::standin::{paginated_tags, tag_names, Resp, StandInServer};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn client(host: &str, tweak: impl FnOnce(&mut ClientOptions)) -> RegistryClient {
    let mut r = RegistryOptions::new(host);
    r.insecure = true;
    r.rate_limit = 1000.0;
    let mut o = ClientOptions {
        registries: vec![r],
        retry_base: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        repo_backoff_base: Duration::from_secs(30),
        ..Default::default()
    };
    tweak(&mut o);
    RegistryClient::new(o).unwrap()
}

#[tokio::test]
async fn follows_link_headers_across_25_pages() {
    let s = paginated_tags("big", 2500, 100, true, None);
    let c = client(&s.host(), |_| {});
    let tags = c.list_tags(&s.image("big")).await.unwrap();
    assert_eq!(*tags, tag_names(2500), "all tags, registry order");
    assert_eq!(s.count("/v2/big/tags/list"), 25);
    // A page size above the registry's cap still works: the Link says where to go.
    let c = client(&s.host(), |o| o.page_size = 1000);
    assert_eq!(
        *c.list_tags(&s.image("big")).await.unwrap(),
        tag_names(2500)
    );
    assert_eq!(c.metrics().requests_for(&s.host(), RequestKind::Tags), 25);
}

#[tokio::test]
async fn quay_like_cap_without_link_uses_last() {
    let s = paginated_tags("capped", 2500, 100, false, None);
    let c = client(&s.host(), |_| {});
    assert_eq!(
        *c.list_tags(&s.image("capped")).await.unwrap(),
        tag_names(2500)
    );
    // 25 full pages, then one empty page that ends it.
    assert_eq!(s.count("/v2/capped/tags/list"), 26);
    let reqs = s.requests();
    assert_eq!(reqs[0].query("n").as_deref(), Some("100"));
    assert_eq!(reqs[0].query("last"), None);
    assert_eq!(reqs[1].query("last").as_deref(), Some("t0099"));
    // Not a multiple of the page size: the short last page ends it.
    let s = paginated_tags("odd", 250, 100, false, None);
    let c = client(&s.host(), |_| {});
    assert_eq!(*c.list_tags(&s.image("odd")).await.unwrap(), tag_names(250));
    assert_eq!(s.count("/v2/odd/tags/list"), 3);
}

#[tokio::test]
async fn registry_ignoring_n_is_listed_in_one_request() {
    // Like Distribution 2.8: every answer is the full list, no Link.
    let all = tag_names(250);
    let body = serde_json::json!({"name": "all", "tags": all}).to_string();
    let s = StandInServer::start(move |_| Resp::json(200, body.clone()));
    let c = client(&s.host(), |_| {});
    assert_eq!(*c.list_tags(&s.image("all")).await.unwrap(), tag_names(250));
    assert_eq!(s.count("/v2/all/tags/list"), 1);
    // Exactly page_size tags: one more request, which brings nothing new, ends it.
    let hundred = serde_json::json!({"name": "h", "tags": tag_names(100)}).to_string();
    let s = StandInServer::start(move |_| Resp::json(200, hundred.clone()));
    let c = client(&s.host(), |_| {});
    assert_eq!(c.list_tags(&s.image("h")).await.unwrap().len(), 100);
    assert_eq!(s.count("/v2/h/tags/list"), 2);
}

#[tokio::test]
async fn pagination_loops_and_foreign_links_are_errors() {
    let s = StandInServer::start(|_| {
        Resp::json(200, r#"{"name":"loop","tags":["a","b"]}"#)
            .header("Link", "</v2/loop/tags/list?n=100>; rel=\"next\"")
    });
    let c = client(&s.host(), |_| {});
    let e = c.list_tags(&s.image("loop")).await.unwrap_err();
    assert!(matches!(e, RegistryError::Protocol { .. }), "{e:?}");
    let s = StandInServer::start(|_| {
        Resp::json(200, r#"{"name":"x","tags":["a"]}"#).header(
            "Link",
            "<http://evil.example/v2/x/tags/list?last=a>; rel=\"next\"",
        )
    });
    let c = client(&s.host(), |_| {});
    let e = c.list_tags(&s.image("x")).await.unwrap_err();
    assert!(e.to_string().contains("another host"), "{e}");
}

#[tokio::test]
async fn page_failing_midway_fails_the_listing_and_backs_off_that_repo_only() {
    let s = paginated_tags("flaky", 1000, 100, true, Some(3));
    let c = client(&s.host(), |o| o.max_retries = 2);
    let image = s.image("flaky");
    let e = c.list_tags(&image).await.unwrap_err();
    assert!(
        matches!(e, RegistryError::Server { status: 500, .. }),
        "{e:?}"
    );
    // Pages 0..2 fine, page 3 tried 1 + 2 times: no partial list comes back.
    assert_eq!(s.count("/v2/flaky/tags/list"), 6);
    // During the repository's backoff the error comes back without a request…
    let e2 = c.list_tags(&image).await.unwrap_err();
    assert_eq!(e, e2);
    assert_eq!(s.count("/v2/flaky/tags/list"), 6);
    assert_eq!(c.metrics().backoff_rejections, 1);
    // …while other repositories of the same registry are not held up.
    let other = paginated_tags("fine", 10, 100, true, None);
    let c2 = client(&other.host(), |_| {});
    assert_eq!(c2.list_tags(&other.image("fine")).await.unwrap().len(), 10);
    // A fresh lookup (webhook hint) tries again despite the backoff.
    let before = s.count("/v2/flaky/tags/list");
    assert!(c.list_tags_fresh(&image).await.is_err());
    assert!(s.count("/v2/flaky/tags/list") > before);
}

#[tokio::test]
async fn backoff_of_one_repo_does_not_block_another_on_the_same_registry() {
    let good = serde_json::json!({"name": "good", "tags": ["1"]}).to_string();
    let s = StandInServer::start(move |req| {
        if req.path().starts_with("/v2/bad/") {
            Resp::json(500, "{}")
        } else {
            Resp::json(200, good.clone())
        }
    });
    let c = client(&s.host(), |o| {
        o.max_retries = 1;
        o.registries[0].rate_limit = 5.0;
    });
    assert!(c.list_tags(&s.image("bad")).await.is_err());
    for _ in 0..20 {
        assert!(c.list_tags(&s.image("bad")).await.is_err());
    }
    let t = Instant::now();
    assert_eq!(*c.list_tags(&s.image("good")).await.unwrap(), vec!["1"]);
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(s.count("/v2/bad/"), 2, "backoff spent no budget");
}

#[tokio::test]
async fn cut_off_page_is_an_error_not_a_partial_list() {
    let body = serde_json::json!({"name": "cut", "tags": tag_names(50)}).to_string();
    let s = StandInServer::start(move |_| Resp::json(200, body.clone()).truncated(100));
    let c = client(&s.host(), |o| o.max_retries = 1);
    let e = c.list_tags(&s.image("cut")).await.unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::Unreachable { .. } | RegistryError::Protocol { .. }
        ),
        "{e:?}"
    );
    assert_eq!(s.count("/v2/cut/"), 2, "retried once");
}

#[tokio::test]
async fn retry_after_429_is_honoured() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let s = StandInServer::start(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            Resp::json(429, r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#).header("Retry-After", "1")
        } else {
            Resp::json(200, r#"{"name":"limited","tags":["1"]}"#)
        }
    });
    let c = client(&s.host(), |_| {});
    let t = Instant::now();
    assert_eq!(*c.list_tags(&s.image("limited")).await.unwrap(), vec!["1"]);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    let m = c.metrics();
    assert_eq!(
        m.requests_with_status(&s.host(), RequestKind::Tags, "429"),
        1
    );
    assert_eq!(
        m.requests_with_status(&s.host(), RequestKind::Tags, "200"),
        1
    );
    assert_eq!(m.rate_limit_waits, 1);
    assert!(m.rate_limit_wait >= Duration::from_millis(900));

    // An HTTP-date Retry-After works too, and a wait beyond max_retry_after is an error
    // at once rather than a long sleep.
    let s = StandInServer::start(|_| {
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        Resp::json(429, "{}").header("Retry-After", &httpdate::fmt_http_date(later))
    });
    let c = client(&s.host(), |_| {});
    let t = Instant::now();
    let e = c.resolve_digest(&s.image("x"), "1").await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(1));
    match e {
        RegistryError::RateLimited {
            retry_after: Some(d),
            ..
        } => {
            assert!(d > Duration::from_secs(3500), "{d:?}")
        }
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let s = StandInServer::start(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) < 2 {
            Resp::json(503, "overloaded")
        } else {
            Resp::status(200).header("Docker-Content-Digest", DIGEST)
        }
    });
    let c = client(&s.host(), |_| {});
    assert_eq!(c.resolve_digest(&s.image("x"), "1").await.unwrap(), DIGEST);
    let m = c.metrics();
    assert_eq!(
        m.requests_with_status(&s.host(), RequestKind::Manifest, "503"),
        2
    );
    assert_eq!(m.retries, 2);
    // Always 500: bounded retries, then an error.
    let s = StandInServer::start(|_| Resp::json(500, "boom\nsecond line"));
    let c = client(&s.host(), |o| o.max_retries = 3);
    let e = c.list_tags(&s.image("x")).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: server error 500: boom second line", s.host())
    );
    assert_eq!(s.count("/v2/x/tags/list"), 4);
}

#[tokio::test]
async fn slow_responses_time_out() {
    let s = StandInServer::start(|_| {
        Resp::json(200, r#"{"name":"slow","tags":["1"]}"#).delayed(Duration::from_secs(2))
    });
    let c = client(&s.host(), |o| {
        o.timeout = Duration::from_millis(300);
        o.max_retries = 1;
    });
    let t = Instant::now();
    let e = c.list_tags(&s.image("slow")).await.unwrap_err();
    assert!(matches!(e, RegistryError::Timeout { .. }), "{e:?}");
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        c.metrics()
            .requests_with_status(&s.host(), RequestKind::Tags, "timeout"),
        2
    );
}

#[tokio::test]
async fn unreachable_registry_is_a_clear_error() {
    let port = imagebump_testbed::registry::free_port();
    let c = client(&format!("127.0.0.1:{port}"), |o| o.max_retries = 1);
    let image = imagebump_core::image::ImageRef::parse(&format!("127.0.0.1:{port}/x")).unwrap();
    let e = c.list_tags(&image).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(!e.to_string().contains('\n'));
}

#[tokio::test]
async fn digest_falls_back_to_get_and_hashes_the_body() {
    let body = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let s = StandInServer::start(move |req| {
        if req.method == "HEAD" {
            Resp::status(405)
        } else {
            let mut r = Resp::json(200, body);
            r.headers[0].1 = "application/vnd.oci.image.index.v1+json".into();
            r
        }
    });
    let c = client(&s.host(), |_| {});
    let want = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body))
    );
    assert_eq!(c.resolve_digest(&s.image("x"), "1").await.unwrap(), want);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1]
        .header("accept")
        .unwrap()
        .starts_with("application/vnd.oci.image.index.v1+json"));
}

#[tokio::test]
async fn rate_limit_spaces_requests() {
    let s = StandInServer::start(|_| Resp::status(200).header("Docker-Content-Digest", DIGEST));
    let c = client(&s.host(), |o| {
        o.registries[0].rate_limit = 20.0;
        o.registries[0].burst = 20.0;
    });
    let image = s.image("x");
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (c, image) = (c.clone(), image.clone());
        tasks.push(tokio::spawn(async move {
            c.resolve_digest(&image, &i.to_string()).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // A burst of 20, then 10 more at 20/s: about half a second.
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(c.metrics().rate_limit_waits >= 10);
}

/// A listing that panics (here: a `Retry-After` too large for the clock, which 0.1
/// turned into an arithmetic overflow) must not wedge the repository's single-flight
/// slot: the lookup gets an error, and the next lookup lists again and succeeds.
#[tokio::test]
async fn a_panicking_listing_frees_its_slot() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let s = StandInServer::start(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Resp::json(429, "{}").header("Retry-After", "18446744073709551615")
        } else {
            Resp::json(200, r#"{"name":"wedge","tags":["1.0.0"]}"#)
        }
    });
    let c = client(&s.host(), |o| {
        o.max_retry_after = Duration::MAX;
        o.repo_backoff_base = Duration::ZERO;
        o.repo_backoff_max = Duration::ZERO;
    });
    let image = s.image("wedge");
    // Whatever the first lookup says (an error, or a wait that a fixed clock allows), it
    // must answer, and the next lookup — a plain one, which joins a listing in flight —
    // must reach the registry again.
    let first = tokio::time::timeout(Duration::from_secs(10), c.list_tags(&image)).await;
    assert!(first.is_ok(), "the first lookup hung");
    let tags = tokio::time::timeout(Duration::from_secs(10), c.list_tags(&image))
        .await
        .expect("the second lookup hung")
        .expect("the second lookup lists again");
    assert_eq!(*tags, vec!["1.0.0".to_string()]);
    assert!(calls.load(Ordering::SeqCst) >= 2);
}
