//! A registry's stated budget (`RateLimit-*` headers) and its 429s, against the scripted
//! stand-in server (`imagebump_testbed::registry::standin`, not a registry): a real
//! Distribution registry sends no such headers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions, RequestKind};
use imagebump_testbed::registry::standin::{Resp, StandInServer};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn client(host: &str) -> RegistryClient {
    let mut r = RegistryOptions::new(host);
    r.insecure = true;
    RegistryClient::new(ClientOptions {
        registries: vec![r],
        retry_base: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .unwrap()
}

/// A registry allowing `limit` manifest requests per fixed 1 s window, as Docker Hub
/// states its pull budget (`ratelimit-limit: N;w=1`, `ratelimit-remaining: M;w=1`,
/// `ratelimit-reset` in whole seconds, rounded up); one more is a 429 without
/// `Retry-After`. Tag lists are free and state nothing.
struct Windowed {
    server: StandInServer,
    refused: Arc<Mutex<usize>>,
}

fn windowed(limit: usize) -> Windowed {
    let state = Arc::new(Mutex::new((Instant::now(), 0usize)));
    let refused = Arc::new(Mutex::new(0usize));
    let r2 = refused.clone();
    let server = StandInServer::start(move |r| {
        if r.path().contains("/tags/list") {
            return Resp::json(200, r#"{"name":"x","tags":["1"]}"#);
        }
        let mut s = state.lock().unwrap();
        if s.0.elapsed() >= Duration::from_secs(1) {
            *s = (Instant::now(), 0);
        }
        let remaining = limit.saturating_sub(s.1);
        let headers = |resp: Resp, left: usize| {
            resp.header("ratelimit-limit", &format!("{limit};w=1"))
                .header("ratelimit-remaining", &format!("{left};w=1"))
                .header("ratelimit-reset", "1")
        };
        if remaining == 0 {
            *r2.lock().unwrap() += 1;
            return headers(
                Resp::json(429, r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#),
                0,
            );
        }
        s.1 += 1;
        headers(
            Resp::status(200).header("Docker-Content-Digest", DIGEST),
            remaining - 1,
        )
    });
    Windowed { server, refused }
}

#[tokio::test]
async fn a_stated_budget_is_never_exceeded() {
    let w = windowed(3);
    let c = client(&w.server.host());
    let image = w.server.image("x");
    // The first answer states the budget: 2 left in this window.
    c.resolve_digest(&image, "0").await.unwrap();
    let t = Instant::now();
    let tasks: Vec<_> = (1..=6)
        .map(|i| {
            let (c, image) = (c.clone(), image.clone());
            tokio::spawn(async move { c.resolve_digest(&image, &i.to_string()).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let took = t.elapsed();
    assert_eq!(
        *w.refused.lock().unwrap(),
        0,
        "the client sent past the budget"
    );
    // 2 went in the first window, the other 4 had to wait for later windows.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    // Tag lists were not part of the stated budget: they go at once.
    let t = Instant::now();
    for _ in 0..5 {
        c.list_tags_fresh(&image).await.unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn a_429_stating_a_reset_is_waited_out_then_retried() {
    let w = windowed(1);
    let c = client(&w.server.host());
    let image = w.server.image("x");
    let t = Instant::now();
    // Two at once, before any budget is known: one is refused, then waits for the reset.
    let (a, b) = tokio::join!(c.resolve_digest(&image, "1"), c.resolve_digest(&image, "2"));
    a.unwrap();
    b.unwrap();
    let m = c.metrics();
    let refused = m.requests_with_status(&w.server.host(), RequestKind::Manifest, "429");
    assert_eq!(refused, *w.refused.lock().unwrap() as u64);
    assert!(
        refused >= 1,
        "both went into one window of 1 but none was refused"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn default_burst_sends_a_start_up_without_queueing() {
    let s = StandInServer::start(|_| Resp::json(200, r#"{"name":"x","tags":["1"]}"#));
    let c = client(&s.host());
    let t = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (c, image) = (c.clone(), s.image(&format!("r{i}")));
            tokio::spawn(async move { c.list_tags(&image).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // At the old default (20/s, burst 20) this took 9 s; now no request waits.
    assert_eq!(c.metrics().rate_limit_waits, 0);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
