//! Failure isolation: a panic while scanning one repository is caught, counted and shown,
//! the other repositories are unaffected, and the repository is scanned again on its next
//! hint. Against a real Distribution registry; the panic is injected through the engine's
//! scan hook (it stands for a bug anywhere in a scan).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imagebump::engine::Engine;
use imagebump::metrics::Metrics;
use imagebump_core::decision::{Decision, ImageId};
use imagebump_core::policy::{parse_policy, LoadedPolicy, PolicySet};
use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions};
use support::registry::{TestRegistry, TestRegistryOptions};

fn engine(reg: &TestRegistry) -> Arc<Engine> {
    let text = format!(
        "application: shop\nimages:\n  - repository: {h}/team/web\n    semver: '*'\n    targets:\n      - manifest: a.yaml\n  - repository: {h}/team/api\n    semver: '*'\n    targets:\n      - manifest: a.yaml\n",
        h = reg.host()
    );
    let policy = parse_policy("p.yaml".as_ref(), &text).unwrap();
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    let client = RegistryClient::new(ClientOptions {
        registries: vec![r],
        ..Default::default()
    })
    .unwrap();
    Arc::new(Engine::new(
        PolicySet::new(vec![LoadedPolicy {
            path: "p.yaml".into(),
            policy,
        }]),
        client,
        Arc::new(Metrics::new()),
        Duration::from_secs(3600),
    ))
}

/// Arms a fault that panics the next scan of `repo` (once); every scan of `repo` that
/// starts is announced on the returned channel.
fn panic_once(engine: &Engine, repo: String) -> tokio::sync::mpsc::UnboundedReceiver<bool> {
    let armed = Arc::new(AtomicBool::new(true));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    engine.set_scan_fault(Some(Arc::new(move |r: &str| {
        if r == repo {
            let panics = armed.swap(false, Ordering::SeqCst);
            let _ = tx.send(panics);
            if panics {
                panic!("injected fault in the scan of {r}");
            }
        }
    })));
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_scan_is_isolated_counted_shown_and_retried() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    reg.push_image("team/web", "1.0.0").await;
    reg.push_image("team/api", "2.0.0").await;
    let engine = engine(&reg);
    let web_repo = reg.image("team/web").name();
    let api_repo = reg.image("team/api").name();
    let web = ImageId::new("shop", "web");
    let api = ImageId::new("shop", "api");

    // A full sync with web's scan panicking: api is scanned as usual.
    panic_once(&engine, web_repo.clone());
    let wishes = engine.sync_all().await;
    let tags: Vec<_> = wishes
        .iter()
        .map(|q| (q.wish.id.clone(), q.wish.tag.clone()))
        .collect();
    assert_eq!(tags, vec![(api.clone(), "2.0.0".to_string())]);
    let status = |id: &ImageId| engine.status.decision(id);
    match status(&web) {
        Some(Decision::Failed { error, .. }) => {
            assert!(
                error.contains("panicked") && error.contains("injected fault"),
                "{error}"
            )
        }
        other => panic!("web's status should show the panic, got {other:?}"),
    }
    assert!(
        matches!(status(&api), Some(Decision::Pending { .. })),
        "{:?}",
        status(&api)
    );
    let metrics = engine.metrics.encode();
    assert!(
        metrics.contains("imagebump_panics_total{stage=\"scan\"} 1"),
        "{metrics}"
    );

    // Through the scheduler (a webhook hint): the panicking scan leaves the repository
    // schedulable, so the next hint scans it and its wish reaches the write queue.
    let mut scans = panic_once(&engine, web_repo.clone());
    assert!(engine.hint(&web_repo, None, None));
    let within = Duration::from_secs(20);
    let first = tokio::time::timeout(within, scans.recv()).await.unwrap();
    assert_eq!(first, Some(true), "the first scan is the one that panics");
    // Whether this hint starts a scan or marks a follow-up of the dying one, a scan must run.
    assert!(engine.hint(&web_repo, None, None));
    let second = tokio::time::timeout(within, scans.recv())
        .await
        .expect("web was never scanned again after the panic");
    assert_eq!(second, Some(false));
    let queue = engine.queues.get("default").unwrap().clone();
    let wish = tokio::time::timeout(
        within,
        tokio::task::spawn_blocking(move || queue.take(Duration::ZERO)),
    )
    .await
    .expect("the second scan queued no wish")
    .unwrap()
    .unwrap();
    assert_eq!(wish.len(), 1);
    assert_eq!(wish[0].wish.id, web);
    assert_eq!(wish[0].wish.tag, "1.0.0");
    assert!(engine
        .metrics
        .encode()
        .contains("imagebump_panics_total{stage=\"scan\"} 2"));
    // api was never touched by web's trouble.
    assert!(!matches!(status(&api), Some(Decision::Failed { .. })));
    let _ = api_repo;
}
