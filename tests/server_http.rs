//! The HTTP surface of the service, in process: answer codes and shapes of the webhook
//! endpoints (401/404/405/400/413/202), health, readiness, metrics, status and the
//! status page.

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
            repositories: Vec::new(),
            jfrog_access: Default::default(),
        },
        Receiver {
            name: "hub".into(),
            provider: Provider::DockerHub,
            secret: Secret::new("path-secret"),
            registry: None,
            header: None,
            repositories: Vec::new(),
            jfrog_access: Default::default(),
        },
        Receiver {
            name: "gar".into(),
            provider: Provider::Gar,
            secret: Secret::new("gar-secret"),
            registry: None,
            header: None,
            repositories: Vec::new(),
            jfrog_access: Default::default(),
        },
        Receiver {
            name: "acr".into(),
            provider: Provider::Acr,
            secret: Secret::new("Bearer acr-token"),
            registry: Some("acme.azurecr.io".into()),
            header: None,
            repositories: Vec::new(),
            jfrog_access: Default::default(),
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

/// Issue 10 items 7 and 8 over HTTP: a Pub/Sub message delivered twice (wrapped, then
/// unwrapped with the same `x-goog-pubsub-message-id`) is handled once; an ACR ping to a
/// receiver whose secret is the whole `Bearer …` value is answered 202.
#[tokio::test]
async fn replays_and_ignored_deliveries_answer_202() {
    let (url, _stop) = start(true).await;
    let c = reqwest::Client::new();
    let unwrapped = r#"{"action":"INSERT","digest":"us-docker.pkg.dev/p/r/img@sha256:6ec128e26cd5a4e0cf2b8d7a3f1a1c2b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b","tag":"us-docker.pkg.dev/p/r/img:1.0"}"#;
    let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, unwrapped);
    let wrapped = format!(
        r#"{{"message":{{"data":"{data}","messageId":"777","publishTime":"2026-11-29T14:02:11Z"}},"subscription":"projects/p/subscriptions/s"}}"#
    );
    let send = |body: String, headers: Vec<(&'static str, &'static str)>| {
        let mut req = c.post(format!("{url}/hooks/gar/gar-secret"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let r = req.body(body).send().await.unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (status, v)
        }
    };
    let (st, first) = send(wrapped.clone(), vec![]).await;
    assert_eq!(st, 202, "{first}");
    assert_eq!(first["events"][0]["action"], "push", "{first}");
    assert!(first.get("replayed").is_none(), "{first}");
    let (st, again) = send(
        unwrapped.to_string(),
        vec![("x-goog-pubsub-message-id", "777")],
    )
    .await;
    assert_eq!(
        (st, &again["replayed"]),
        (202, &serde_json::json!(true)),
        "{again}"
    );
    assert_eq!(again["scheduled"], 0);
    // Another message id is another delivery.
    let (st, other) = send(
        unwrapped.to_string(),
        vec![("x-goog-pubsub-message-id", "778")],
    )
    .await;
    assert_eq!(st, 202);
    assert!(other.get("replayed").is_none(), "{other}");

    let ping = r#"{"id":"a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b","timestamp":"2026-11-29T14:02:11.4821Z","action":"ping"}"#;
    let r = c
        .post(format!("{url}/hooks/acr"))
        .header("authorization", "Bearer acr-token")
        .body(ping)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v, serde_json::json!({"events": [], "scheduled": 0}));
}

/// Without `adminListen` everything stays on `listen`: the status page next to the
/// webhooks, metrics and status API.
#[tokio::test]
async fn one_listener_serves_the_status_page_too() {
    let (url, _stop) = start(true).await;
    for path in ["/", "/ui"] {
        let r = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("<h1>imagebump status</h1>"), "{body}");
        assert!(body.contains("0 images watched"), "{body}");
    }
    for path in ["/metrics", "/api/v1/status", "/healthz"] {
        let r = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}
