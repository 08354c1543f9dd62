//! Polling through outages: a poll never takes a cached list older than its interval,
//! an answer from the cache never clears a newer error, a rate-limit wait shows as
//! such, and each repository's last successful scan is in the status and the metrics.
//! Against the scripted stand-in (`imagebump_testbed::standin`, not a registry), which
//! can fail and recover on cue.

mod support;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imagebump::engine::Engine;
use imagebump::metrics::Metrics;
use imagebump_core::decision::{Decision, ImageId};
use imagebump_core::policy::{parse_policy, LoadedPolicy, PolicySet};
use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions};
use support::registry::standin::{Resp, StandInServer};

/// What the stand-in answers for `team/web`.
const UP: u8 = 0;
const DOWN: u8 = 1;
const LIMITED: u8 = 2;

struct Setup {
    engine: Arc<Engine>,
    server: StandInServer,
    mode: Arc<AtomicU8>,
    tags: Arc<Mutex<Vec<String>>>,
    id: ImageId,
}

fn setup(interval: &str) -> Setup {
    let mode = Arc::new(AtomicU8::new(UP));
    let tags = Arc::new(Mutex::new(vec!["1.13.0".to_string()]));
    let (m2, t2) = (mode.clone(), tags.clone());
    let server = StandInServer::start(move |_| match m2.load(Ordering::SeqCst) {
        UP => Resp::json(
            200,
            serde_json::json!({"name": "team/web", "tags": *t2.lock().unwrap()}).to_string(),
        ),
        DOWN => Resp::json(500, "down"),
        _ => Resp::json(429, "{}").header("Retry-After", "3600"),
    });
    let text = format!(
        "application: shop\nimages:\n  - repository: {h}/team/web\n    semver: '*'\n    interval: {interval}\n    targets:\n      - manifest: a.yaml\n",
        h = server.host()
    );
    let policy = parse_policy("p.yaml".as_ref(), &text).unwrap();
    let mut r = RegistryOptions::new(server.host());
    r.insecure = true;
    let client = RegistryClient::new(ClientOptions {
        registries: vec![r],
        max_retries: 0,
        ..Default::default()
    })
    .unwrap();
    let engine = Arc::new(Engine::new(
        PolicySet::new(vec![LoadedPolicy {
            path: "p.yaml".into(),
            policy,
        }]),
        client,
        Arc::new(Metrics::new()),
        Duration::from_secs(3600),
    ));
    Setup {
        engine,
        server,
        mode,
        tags,
        id: ImageId::new("shop", "web"),
    }
}

impl Setup {
    fn repo(&self) -> String {
        format!("{}/team/web", self.server.host())
    }

    /// A poll's scan (may be served from the cache).
    async fn poll(&self) {
        self.engine.scan(&self.repo(), false, None, &[]).await;
    }

    fn status(&self) -> imagebump::engine::status::ImageStatus {
        self.engine
            .status
            .snapshot()
            .into_iter()
            .find(|s| s.id() == self.id)
            .unwrap()
    }
}

#[tokio::test]
async fn a_poll_is_not_answered_from_a_cache_older_than_its_interval() {
    // A 1 s interval (the shortest allowed) against the 60 s cache: once the interval has
    // passed, the next poll must list again. (The wait is the behaviour under test — the
    // cache's age — not a stand-in for synchronisation.)
    let s = setup("1s");
    s.poll().await;
    assert_eq!(s.status().latest_candidate.as_deref(), Some("1.13.0"));
    s.tags.lock().unwrap().push("1.14.0".into());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.poll().await;
    assert_eq!(s.status().latest_candidate.as_deref(), Some("1.14.0"));
    assert_eq!(s.server.count("/v2/team/web/tags/list"), 2);
}

#[tokio::test]
async fn an_outage_is_never_reported_as_up_to_date() {
    let s = setup("1h");
    s.poll().await;
    let ok = s.status();
    assert!(ok.last_successful_scan.is_some());
    s.mode.store(DOWN, Ordering::SeqCst);
    s.tags.lock().unwrap().push("1.14.0".into());
    // A webhook's fresh listing meets the outage…
    s.engine.scan(&s.repo(), true, None, &[]).await;
    // …and the next poll, within the cache TTL, must not clear the error with the old list.
    s.poll().await;
    let st = s.status();
    assert!(
        matches!(st.decision, Some(Decision::Failed { .. })),
        "{st:?}"
    );
    assert!(st.last_error.as_deref().unwrap().contains("500"), "{st:?}");
    assert_eq!(st.last_successful_scan, ok.last_successful_scan);
    let metrics = s.engine.metrics.encode();
    assert!(
        metrics.contains(&format!(
            "imagebump_repository_last_success_timestamp_seconds{{repository=\"{}\"}}",
            s.repo()
        )),
        "{metrics}"
    );
    // Recovery: the next fresh scan lists again.
    s.mode.store(UP, Ordering::SeqCst);
    s.engine.scan(&s.repo(), true, None, &[]).await;
    assert_eq!(s.status().latest_candidate.as_deref(), Some("1.14.0"));
    assert_eq!(s.status().last_error, None);
}

#[tokio::test]
async fn a_rate_limit_wait_shows_in_the_status() {
    let s = setup("1h");
    s.mode.store(LIMITED, Ordering::SeqCst);
    s.poll().await;
    let st = s.status();
    assert_eq!(st.state, Some("rate_limited"), "{st:?}");
    assert!(
        st.why_not_updated
            .as_deref()
            .unwrap()
            .contains("waiting 3600s"),
        "{st:?}"
    );
    assert!(st.last_error.as_deref().unwrap().contains("429"), "{st:?}");
    assert_eq!(st.last_successful_scan, None);
}
