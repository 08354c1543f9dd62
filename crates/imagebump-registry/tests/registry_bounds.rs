//! Bounds on what a registry can make the client do: huge `Retry-After`s, token
//! lifetimes and rate-limit waits never panic or stall other repositories; bodies and
//! tag lists are capped; the cache never hides a newer error nor outlives a caller's
//! interval; credentials are asked for anew on each request. Against the scripted
//! stand-in (`imagebump_testbed::standin`, not a registry): a real one cannot send
//! these headers on cue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imagebump_core::secret::Secret;
use imagebump_registry::{
    ClientOptions, CredentialSource, RegistryClient, RegistryError, RegistryOptions,
};
use imagebump_testbed::registry::standin::{paginated_tags, Resp, StandInServer};

fn client(host: &str, tweak: impl FnOnce(&mut ClientOptions)) -> RegistryClient {
    let mut r = RegistryOptions::new(host);
    r.insecure = true;
    r.rate_limit = 1000.0;
    let mut o = ClientOptions {
        registries: vec![r],
        retry_base: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    tweak(&mut o);
    RegistryClient::new(o).unwrap()
}

/// Repository `limited` always answers 429 with `Retry-After: <value>`; every other
/// repository lists `["1"]`.
fn limited(value: &'static str) -> StandInServer {
    StandInServer::start(move |r| {
        if r.path().starts_with("/v2/limited/") {
            Resp::json(429, "{}").header("Retry-After", value)
        } else {
            Resp::json(200, r#"{"name":"x","tags":["1"]}"#)
        }
    })
}

#[tokio::test]
async fn huge_retry_after_is_clamped_and_stalls_nothing_else() {
    for value in [
        "1e30",
        "18446744073709551615",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "3600",
    ] {
        let s = limited(value);
        let c = client(&s.host(), |_| {});
        let t = Instant::now();
        // Not cached: a panic here would fail the test itself.
        let e = c
            .resolve_digest(&s.image("limited"), "1")
            .await
            .unwrap_err();
        assert!(
            matches!(e, RegistryError::RateLimited { retry_after: Some(d), .. } if d >= Duration::from_secs(3600) && d <= Duration::from_secs(86400)),
            "{value}: {e:?}"
        );
        let e = c.list_tags(&s.image("limited")).await.unwrap_err();
        assert!(
            matches!(e, RegistryError::RateLimited { .. }),
            "{value}: {e:?}"
        );
        assert!(e.to_string().contains("retry after"), "{e}");
        // The repository backs off for the registry's wait: no new request.
        let before = s.count("/v2/limited/");
        let again = c.list_tags(&s.image("limited")).await.unwrap_err();
        assert_eq!(again, e);
        assert_eq!(s.count("/v2/limited/"), before, "{value}");
        // The rest of the registry is not paused for the hour.
        let other = tokio::time::timeout(Duration::from_secs(5), c.list_tags(&s.image("other")))
            .await
            .unwrap_or_else(|_| panic!("{value}: another repository waited"));
        assert_eq!(*other.unwrap(), vec!["1"]);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{value}: {:?}",
            t.elapsed()
        );
    }
}

#[tokio::test]
async fn huge_token_lifetime_does_not_panic() {
    let port = Arc::new(Mutex::new(0u16));
    let p2 = port.clone();
    let s = StandInServer::start(move |r| {
        let port = *p2.lock().unwrap();
        if r.path() == "/token" {
            Resp::json(200, r#"{"token":"tok","expires_in":18446744073709551615}"#)
        } else if r.header("authorization") == Some("Bearer tok") {
            Resp::json(200, r#"{"name":"a","tags":["1"]}"#)
        } else {
            Resp::json(401, "{}").header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="s""#),
            )
        }
    });
    *port.lock().unwrap() = s.port;
    let c = client(&s.host(), |_| {});
    assert_eq!(*c.list_tags(&s.image("a")).await.unwrap(), vec!["1"]);
    // The token is reused (not expired, not overflowed).
    c.resolve_digest(&s.image("a"), "1").await.ok();
    assert_eq!(s.count("/token"), 1);
}

#[tokio::test]
async fn a_rate_limit_wait_longer_than_the_bound_fails_at_once() {
    let s = StandInServer::start(|_| Resp::json(200, r#"{"name":"a","tags":["1"]}"#));
    let mut r = RegistryOptions::new(s.host());
    r.insecure = true;
    // One request per 1000 s (raised to one per 100 s): the second would wait 100 s,
    // longer than the 10 s this client may wait.
    r.rate_limit = 0.001;
    r.burst = 1.0;
    let c = RegistryClient::new(ClientOptions {
        registries: vec![r],
        max_retry_after: Duration::from_secs(10),
        ..Default::default()
    })
    .unwrap();
    c.list_tags(&s.image("a")).await.unwrap();
    let t = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(5), c.list_tags(&s.image("b")))
        .await
        .expect("waited for the rate limit instead of failing")
        .unwrap_err();
    assert!(matches!(e, RegistryError::RateLimited { .. }), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(s.count("/v2/b/"), 0);
}

#[tokio::test]
async fn bodies_and_tag_lists_are_capped() {
    let big = format!(r#"{{"name":"a","tags":["{}"]}}"#, "x".repeat(200_000));
    let s = StandInServer::start(move |_| Resp::json(200, big.clone()));
    let c = client(&s.host(), |o| o.max_body = 64 << 10);
    let e = c.list_tags(&s.image("a")).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("larger than the limit of 65536 bytes"),
        "{e}"
    );

    let s = paginated_tags("many", 2500, 100, true, None);
    let c = client(&s.host(), |o| o.max_tags = 1000);
    let e = c.list_tags(&s.image("many")).await.unwrap_err();
    assert!(e.to_string().contains("more than 1000 tags"), "{e}");
    // It stopped reading at the limit.
    assert!(s.count("/v2/many/tags/list") <= 11);
}

#[tokio::test]
async fn a_cached_list_never_hides_a_newer_error() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let s = StandInServer::start(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst) == 0 {
            Resp::json(200, r#"{"name":"a","tags":["1.13.0"]}"#)
        } else {
            Resp::json(500, "down")
        }
    });
    let c = client(&s.host(), |o| {
        o.max_retries = 0;
        o.repo_backoff_base = Duration::from_secs(30);
    });
    let img = s.image("a");
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["1.13.0"]);
    // A webhook's fresh listing fails…
    assert!(c.list_tags_fresh(&img).await.is_err());
    // …and the next cached lookup says so instead of the old list.
    let e = c.list_tags(&img).await.unwrap_err();
    assert!(
        matches!(e, RegistryError::Server { status: 500, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn max_age_bounds_the_cache_and_the_backoff() {
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = fail.clone();
    let s = StandInServer::start(move |_| {
        if f2.load(Ordering::SeqCst) {
            Resp::json(500, "down")
        } else {
            Resp::json(200, r#"{"name":"a","tags":["1"]}"#)
        }
    });
    let c = client(&s.host(), |o| {
        o.max_retries = 0;
        o.repo_backoff_base = Duration::from_secs(30);
    });
    let img = s.image("a");
    let hour = Duration::from_secs(3600);
    c.list_tags_within(&img, hour).await.unwrap();
    c.list_tags_within(&img, hour).await.unwrap();
    assert_eq!(s.count("/v2/a/"), 1, "served from the 60 s cache");
    c.list_tags_within(&img, Duration::ZERO).await.unwrap();
    assert_eq!(
        s.count("/v2/a/"),
        2,
        "an interval below the TTL lists again"
    );
    fail.store(true, Ordering::SeqCst);
    assert!(c.list_tags_within(&img, Duration::ZERO).await.is_err());
    assert!(c.list_tags_within(&img, hour).await.is_err());
    assert_eq!(s.count("/v2/a/"), 3, "within the 30 s backoff: no request");
    fail.store(false, Ordering::SeqCst);
    // A 0 s poll interval is not held back by a 30 s backoff either.
    assert_eq!(
        *c.list_tags_within(&img, Duration::ZERO).await.unwrap(),
        vec!["1"]
    );
}

/// A password that a test rotates.
struct Rotating(Mutex<String>);

impl CredentialSource for Rotating {
    fn current(&self) -> Option<(String, Secret)> {
        Some(("alice".into(), Secret::new(self.0.lock().unwrap().clone())))
    }
}

#[tokio::test]
async fn credentials_are_read_for_each_request() {
    let s = StandInServer::start(|r| match r.basic_auth() {
        Some((u, p)) if u == "alice" && p == "new" => {
            Resp::json(200, r#"{"name":"a","tags":["1"]}"#)
        }
        _ => Resp::json(401, "{}").header("WWW-Authenticate", r#"Basic realm="r""#),
    });
    let src = Arc::new(Rotating(Mutex::new("old".into())));
    let mut r = RegistryOptions::new(s.host());
    r.insecure = true;
    r.credentials = Some(src.clone());
    let c = RegistryClient::new(ClientOptions {
        registries: vec![r],
        ..Default::default()
    })
    .unwrap();
    let img = s.image("a");
    let e = c.list_tags(&img).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    *src.0.lock().unwrap() = "new".into();
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["1"]);
}
