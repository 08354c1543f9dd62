//! `provider: gcp` end to end: the testbed's stand-in for Google's token services
//! (metadata server, OAuth JWT bearer grant, STS) feeding a real Distribution registry
//! whose htpasswd holds `oauth2accesstoken` and the token the stand-in issues.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imagebump_registry::gcp::GcpProvider;
use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions, RequestKind};
use imagebump_testbed::cloud::gcp::GcpStandIn;
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

const TOKEN: &str = "ya29.stand-in-access-token";

fn client(reg: &TestRegistry, env: &[(&str, String)]) -> RegistryClient {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let provider = GcpProvider::discover(reqwest_client(), &|k| env.get(k).cloned()).unwrap();
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    r.provider = Some(Arc::new(provider));
    RegistryClient::new(ClientOptions {
        registries: vec![r],
        max_retries: 0,
        ..Default::default()
    })
    .unwrap()
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn registry() -> TestRegistry {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("oauth2accesstoken", TOKEN));
    reg.push_image("proj/repo/app", "1.0").await;
    reg
}

fn stand_in(dir: &Path, expires_in: u64) -> GcpStandIn {
    GcpStandIn::start(dir, TOKEN, expires_in)
}

#[tokio::test]
async fn metadata_server_token_is_cached_and_refreshed_before_expiry() {
    let reg = registry().await;
    let dir = tempfile::tempdir().unwrap();
    let gcp = stand_in(dir.path(), 3600);
    let c = client(&reg, &[("GCE_METADATA_HOST", gcp.host())]);
    let img = reg.image("proj/repo/app");
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(gcp.issued(), 1, "one token serves both listings");

    // A token that lives 1 s is replaced before it runs out (0.9 s): the listing after
    // it has expired asks for a new one and succeeds, with no failed request between.
    let gcp = stand_in(dir.path(), 1);
    let c = client(&reg, &[("GCE_METADATA_HOST", gcp.host())]);
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(gcp.issued(), 1);
    // Waiting out the token's lifetime is what is tested, not a synchronisation.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(gcp.issued(), 2, "the expired token was refreshed");
    assert_eq!(
        c.metrics()
            .requests_with_status(&reg.host(), RequestKind::Tags, "401"),
        1,
        "only the first challenge was answered 401"
    );
}

#[tokio::test]
async fn a_service_account_key_signs_a_jwt_bearer_grant() {
    let reg = registry().await;
    let dir = tempfile::tempdir().unwrap();
    let gcp = stand_in(dir.path(), 3600);
    let key = gcp.service_account_file().display().to_string();
    let c = client(&reg, &[("GOOGLE_APPLICATION_CREDENTIALS", key)]);
    assert_eq!(
        *c.list_tags(&reg.image("proj/repo/app")).await.unwrap(),
        vec!["1.0"]
    );
    assert_eq!(gcp.issued(), 1);

    // A key the token service does not know: its own message, in the error.
    let other = tempfile::tempdir().unwrap();
    let stranger = stand_in(other.path(), 3600);
    let mut key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stranger.service_account_file()).unwrap())
            .unwrap();
    key["token_uri"] = format!("http://{}/token", gcp.host()).into();
    let wrong = other.path().join("wrong-key.json");
    std::fs::write(&wrong, key.to_string()).unwrap();
    let c = client(
        &reg,
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS",
            wrong.display().to_string(),
        )],
    );
    let e = c
        .list_tags(&reg.image("proj/repo/app"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("credentials from gcp failed"), "{e}");
    assert!(e.contains("invalid_grant: Invalid JWT Signature."), "{e}");
    assert!(!e.contains("PRIVATE KEY"), "{e}");
}

#[tokio::test]
async fn workload_identity_federation_exchanges_the_subject_token() {
    let reg = registry().await;
    let dir = tempfile::tempdir().unwrap();
    let gcp = stand_in(dir.path(), 3600);
    let file = gcp.external_account_file().display().to_string();
    let c = client(&reg, &[("GOOGLE_APPLICATION_CREDENTIALS", file.clone())]);
    let img = reg.image("proj/repo/app");
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["1.0"]);

    // A subject token STS refuses: the failure names STS and quotes it.
    std::fs::write(gcp.subject_token_file(), "not-the-token").unwrap();
    let c = client(&reg, &[("GOOGLE_APPLICATION_CREDENTIALS", file)]);
    let e = c.list_tags(&img).await.unwrap_err().to_string();
    assert!(e.contains("Google STS"), "{e}");
    assert!(e.contains("The provided subject token is invalid"), "{e}");
    assert!(!e.contains("not-the-token"), "{e}");
}

#[tokio::test]
async fn an_external_account_with_a_url_source_fetches_the_subject_token() {
    let reg = registry().await;
    let dir = tempfile::tempdir().unwrap();
    let gcp = stand_in(dir.path(), 3600);
    let file = gcp.external_account_url_file();
    let env = [("GOOGLE_APPLICATION_CREDENTIALS", file.display().to_string())];
    let img = reg.image("proj/repo/app");
    assert_eq!(
        *client(&reg, &env).list_tags(&img).await.unwrap(),
        vec!["1.0"]
    );
    assert_eq!(gcp.subject_token_requests(), 1);
    assert_eq!(gcp.issued(), 1, "the subject token was exchanged at STS");

    // Without the documented header the endpoint refuses: its message, in the error.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    v["credential_source"]["headers"] = serde_json::json!({});
    std::fs::write(&file, v.to_string()).unwrap();
    let e = client(&reg, &env)
        .list_tags(&img)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("credential_source.url"), "{e}");
    assert!(e.contains("Required metadata header not specified"), "{e}");

    // A JSON format naming a field the answer lacks is an error naming the field.
    v["credential_source"]["headers"] = serde_json::json!({"Metadata": "True"});
    v["credential_source"]["format"]["subject_token_field_name"] = "id_token".into();
    std::fs::write(&file, v.to_string()).unwrap();
    let e = client(&reg, &env)
        .list_tags(&img)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no string field \"id_token\""), "{e}");

    // Bad files fail discovery, naming the key.
    for (source, want) in [
        (serde_json::json!({"url": "not a url"}), "is not a URL"),
        (
            serde_json::json!({"url": "http://x/", "format": {"type": "json"}}),
            "no subject_token_field_name",
        ),
        (
            serde_json::json!({"executable": {"command": "x"}}),
            "not supported",
        ),
    ] {
        v["credential_source"] = source;
        std::fs::write(&file, v.to_string()).unwrap();
        let e = GcpProvider::discover(reqwest_client(), &|k| {
            (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| file.display().to_string())
        })
        .err()
        .unwrap();
        assert!(e.detail.contains(want), "{e}");
    }
}
