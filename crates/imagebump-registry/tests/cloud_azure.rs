//! `provider: azure` end to end: the testbed's stand-in for Entra ID, managed identity
//! (IMDS, App Service) and ACR's `/oauth2/exchange`, feeding a real Distribution
//! registry whose htpasswd holds the ACR refresh-token user and the refresh token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use imagebump_registry::azure::{AzureProvider, ACR_USER};
use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions};
use imagebump_testbed::cloud::azure::{self, AzureStandIn};
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

const REFRESH: &str = "acr-refresh-token-from-the-stand-in";

fn client(reg: &TestRegistry, az: &AzureStandIn, env: &[(&str, String)]) -> RegistryClient {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let provider = AzureProvider::discover(
        reqwest::Client::new(),
        &|k| env.get(k).cloned(),
        &reg.host(),
        format!("{}/oauth2/exchange", az.base_url()),
    )
    .unwrap();
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

async fn registry() -> TestRegistry {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd(ACR_USER, REFRESH));
    reg.push_image("team/app", "4.2").await;
    reg
}

fn workload_env(az: &AzureStandIn) -> Vec<(&'static str, String)> {
    vec![
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            az.federated_token_file().display().to_string(),
        ),
        ("AZURE_CLIENT_ID", azure::CLIENT_ID.to_string()),
        ("AZURE_TENANT_ID", azure::TENANT.to_string()),
        ("AZURE_AUTHORITY_HOST", az.base_url()),
    ]
}

#[tokio::test]
async fn workload_identity_is_exchanged_and_refreshed_before_expiry() {
    let reg = registry().await;
    let dir = tempfile::tempdir().unwrap();
    let az = AzureStandIn::start(dir.path(), REFRESH, 3600);
    let c = client(&reg, &az, &workload_env(&az));
    let img = reg.image("team/app");
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["4.2"]);
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["4.2"]);
    assert_eq!(az.exchanges(), 1, "one exchange serves both listings");
    assert_eq!(az.last_service(), Some(reg.host()));

    // An Entra ID token living 1 s bounds the (opaque) refresh token's reuse.
    az.set_expires_in(1);
    let c = client(&reg, &az, &workload_env(&az));
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["4.2"]);
    let before = az.exchanges();
    // Waiting out the token's lifetime is what is tested, not a synchronisation.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["4.2"]);
    assert_eq!(az.exchanges(), before + 1, "renewed after expiry");
}

#[tokio::test]
async fn managed_identity_from_imds_and_app_service() {
    let reg = registry().await;
    let dir = tempfile::tempdir().unwrap();
    let az = AzureStandIn::start(dir.path(), REFRESH, 3600);
    let img = reg.image("team/app");
    let c = client(
        &reg,
        &az,
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", az.base_url())],
    );
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["4.2"]);
    let c = client(
        &reg,
        &az,
        &[
            ("IDENTITY_ENDPOINT", format!("{}/msi/token", az.base_url())),
            ("IDENTITY_HEADER", azure::IDENTITY_HEADER.to_string()),
        ],
    );
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["4.2"]);
    assert_eq!(az.exchanges(), 2);
}

#[tokio::test]
async fn entra_id_refusals_show_its_own_message() {
    let reg = registry().await;
    let dir = tempfile::tempdir().unwrap();
    let az = AzureStandIn::start(dir.path(), REFRESH, 3600);
    std::fs::write(az.federated_token_file(), "a-token-entra-does-not-trust").unwrap();
    let c = client(&reg, &az, &workload_env(&az));
    let e = c
        .list_tags(&reg.image("team/app"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("credentials from azure failed"), "{e}");
    assert!(e.contains("AADSTS700211"), "{e}");
    assert!(!e.contains("a-token-entra-does-not-trust"), "{e}");
}
