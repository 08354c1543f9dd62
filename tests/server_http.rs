//! The HTTP surface of the service, in process: answer codes and shapes of the webhook
//! endpoints (401/404/405/400/413/202), health, readiness, metrics and status.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use imagebump::engine::Engine;
use imagebump::metrics::Metrics;
use imagebump::server::{serve, AppState};
use imagebump_core::secret::Secret;
use imagebump_registry::{ClientOptions, RegistryClient};
use imagebump_webhook::{Provider, Receiver};

async fn start(ready: bool) -> (String, tokio::sync::watch::Sender<bool>) {
    let registry = RegistryClient::new(ClientOptions::default()).unwrap();
    let engine = Arc::new(Engine::new(
        imagebump_core::policy::PolicySet::default(),
        registry,
        Arc::new(Metrics::new()),
        Duration::from_secs(300),
    ));
    let receivers = vec![
        Receiver {
            name: "reg".into(),
            provider: Provider::Distribution,
            secret: Secret::new("hook-secret"),
            registry: None,
            header: None,
        },
        Receiver {
            name: "hub".into(),
            provider: Provider::DockerHub,
            secret: Secret::new("path-secret"),
            registry: None,
            header: None,
        },
    ];
    let state = AppState::new(engine, receivers, Arc::new(AtomicBool::new(ready)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(listener, state, rx));
    (url, tx)
}

const PUSH: &str = r#"{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/app","tag":"1.2.3","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"request":{"host":"registry.example.com"}},{"action":"pull","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/app","tag":"1.2.3"},"request":{"host":"registry.example.com"}}]}"#;

#[tokio::test]
async fn webhook_answers() {
    let (url, _stop) = start(true).await;
    let c = reqwest::Client::new();
    let post = |path: &str| c.post(format!("{url}{path}"));

    let r = post("/hooks/reg")
        .header("authorization", "Bearer hook-secret")
        .body(PUSH)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["events"][0]["registry"], "registry.example.com");
    assert_eq!(v["events"][0]["repository"], "team/app");
    assert_eq!(v["events"][0]["tag"], "1.2.3");
    assert_eq!(v["events"][0]["action"], "push");
    assert_eq!(v["events"][1]["action"], "ignored");
    // Nobody watches team/app here, so nothing is scheduled.
    assert_eq!(v["scheduled"], 0);

    let r = post("/hooks/reg")
        .header("authorization", "Bearer wrong")
        .body(PUSH)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = post("/hooks/reg").body(PUSH).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post("/hooks/nope").body(PUSH).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(format!("{url}/hooks/reg")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = post("/hooks/reg")
        .header("authorization", "Bearer hook-secret")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        !text.trim().contains('\n') && text.contains("error"),
        "{text}"
    );
    // README: "413 over 1 MiB": a delivery of exactly 1 MiB is still read.
    let mut exactly = PUSH.as_bytes().to_vec();
    exactly.resize(1024 * 1024, b' ');
    let r = post("/hooks/reg")
        .header("authorization", "Bearer hook-secret")
        .body(exactly)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    for size in [1024 * 1024 + 1, 3 * 1024 * 1024] {
        let r = post("/hooks/reg")
            .header("authorization", "Bearer hook-secret")
            .body(vec![b' '; size])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{size} bytes");
    }
    // A secret path for senders that cannot sign.
    let hub = r#"{"push_data":{"tag":"1.0.0"},"repository":{"repo_name":"acme/app"}}"#;
    let r = post("/hooks/hub/path-secret")
        .body(hub)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = post("/hooks/hub/wrong").body(hub).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let m = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"imagebump_webhooks_total{receiver="reg",result="unauthorized"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"imagebump_webhooks_total{receiver="reg",result="too_large"} 2"#),
        "{m}"
    );
    assert!(m.trim_end().ends_with("# EOF"), "{m}");
}

#[tokio::test]
async fn health_and_readiness() {
    let (url, _stop) = start(false).await;
    let get = |p: &str| reqwest::get(format!("{url}{p}"));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 503);
    let s = get("/api/v1/status").await.unwrap().text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["ready"], false);
    assert!(v["images"].as_array().unwrap().is_empty());
}
