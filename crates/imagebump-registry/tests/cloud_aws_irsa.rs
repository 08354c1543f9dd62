//! `provider: aws` with IRSA: the SDK's web identity provider (`AWS_ROLE_ARN`,
//! `AWS_WEB_IDENTITY_TOKEN_FILE`) exchanges the projected token at the testbed's STS
//! stand-in (`AWS_ENDPOINT_URL_STS`), and signs `GetAuthorizationToken` with the
//! session credentials; a real Distribution registry accepts the ECR password, and a
//! token STS refuses is reported in STS's words. Its own binary: the SDK reads the
//! process environment.
#![cfg(feature = "ecr")]

use std::sync::Arc;

use imagebump_registry::ecr::EcrProvider;
use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions};
use imagebump_testbed::cloud::aws::{self, EcrStandIn};
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

const PASSWORD: &str = "ecr-password-for-irsa";

#[tokio::test]
async fn irsa_web_identity_feeds_get_authorization_token() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("AWS", PASSWORD));
    reg.push_image("team/svc", "8.0").await;
    let aws_ = EcrStandIn::start(PASSWORD, 12 * 3600);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, aws::WEB_IDENTITY_TOKEN).unwrap();
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        std::env::remove_var(k);
    }
    for (k, v) in [
        ("AWS_ENDPOINT_URL", aws_.endpoint()),
        ("AWS_REGION", "eu-west-1".to_string()),
        ("AWS_ROLE_ARN", aws::ROLE_ARN.to_string()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        (
            "AWS_CONFIG_FILE",
            dir.path().join("config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("credentials").display().to_string(),
        ),
    ] {
        std::env::set_var(k, v);
    }
    let client = || {
        let mut r = RegistryOptions::new(reg.host());
        r.insecure = true;
        r.provider = Some(Arc::new(EcrProvider::new(&reg.host())));
        RegistryClient::new(ClientOptions {
            registries: vec![r],
            max_retries: 0,
            ..Default::default()
        })
        .unwrap()
    };

    // A projected token STS refuses: STS's own code and message, never the token.
    std::fs::write(&token, "eyJ-a-token-sts-refuses").unwrap();
    let e = client()
        .list_tags(&reg.image("team/svc"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("credentials from aws failed"), "{e}");
    assert!(
        e.contains("InvalidIdentityToken") && e.contains("Couldn't retrieve verification key"),
        "{e}"
    );
    assert!(!e.contains("eyJ-a-token-sts-refuses"), "{e}");
    assert_eq!(
        aws_.calls(),
        0,
        "no GetAuthorizationToken without credentials"
    );

    std::fs::write(&token, aws::WEB_IDENTITY_TOKEN).unwrap();
    let c = client();
    assert_eq!(
        *c.list_tags(&reg.image("team/svc")).await.unwrap(),
        vec!["8.0"]
    );
    assert_eq!(aws_.assume_role_calls(), 2);
    assert_eq!(aws_.calls(), 1);
}
