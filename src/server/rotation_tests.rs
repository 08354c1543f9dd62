//! Receiver secrets given as `{file: …}` follow their file: after a rotation the next
//! delivery is checked against the new secret, without a restart.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::{receivers, serve, AppState};
use crate::config::Config;
use crate::engine::Engine;
use crate::metrics::Metrics;
use imagebump_registry::{ClientOptions, RegistryClient};

const PING: &str = r#"{"events":[]}"#;

async fn start(cfg: &Config) -> (String, tokio::sync::watch::Sender<bool>) {
    let registry = RegistryClient::new(ClientOptions::default()).unwrap();
    let engine = Arc::new(Engine::new(
        imagebump_core::policy::PolicySet::default(),
        registry,
        Arc::new(Metrics::new()),
        Duration::from_secs(300),
    ));
    let state = AppState::new(
        engine,
        receivers(cfg).unwrap(),
        Arc::new(AtomicBool::new(true)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(listener, state, rx));
    (url, tx)
}

/// Like kubelet: a new file renamed over the old one.
fn rotate(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn a_rotated_receiver_secret_is_used_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hook-secret");
    std::fs::write(&secret, "old-secret\n").unwrap();
    let text = format!(
        "receivers:\n  - name: reg\n    provider: distribution\n    secret: {{file: {}}}\n",
        secret.display()
    );
    let cfg = Config::parse(&dir.path().join("imagebump.yaml"), &text).unwrap();
    let (url, _stop) = start(&cfg).await;
    let c = reqwest::Client::new();
    let post = |token: &str| {
        c.post(format!("{url}/hooks/reg"))
            .header("authorization", format!("Bearer {token}"))
            .body(PING)
            .send()
    };
    assert_eq!(post("old-secret").await.unwrap().status(), 202);

    rotate(&secret, "new-secret\n");
    assert_eq!(post("new-secret").await.unwrap().status(), 202);
    assert_eq!(
        post("old-secret").await.unwrap().status(),
        401,
        "the old secret is refused after the rotation"
    );

    // A rotation that leaves something unreadable keeps the last good secret, and
    // shows in /metrics under the reference's description, never the value.
    std::fs::remove_file(&secret).unwrap();
    std::fs::create_dir(&secret).unwrap();
    assert_eq!(post("new-secret").await.unwrap().status(), 202);
    assert_eq!(post("new-secret").await.unwrap().status(), 202);
    let metrics = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!(
        "imagebump_secret_read_errors_total{{secret=\"file {}\"}} 1\n",
        secret.display()
    );
    assert!(metrics.contains(&line), "{metrics}");
    assert!(!metrics.contains("new-secret"), "{metrics}");
    assert!(metrics.ends_with("# EOF\n"));
}
