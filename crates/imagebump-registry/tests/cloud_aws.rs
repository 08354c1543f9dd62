//! `provider: aws` end to end: the AWS SDK's credential chain (static keys from the
//! environment here) signing `GetAuthorizationToken` to the testbed's ECR stand-in
//! (`AWS_ENDPOINT_URL_ECR`), whose `AWS:<password>` a real Distribution registry
//! (htpasswd) accepts. One test in its own binary: the SDK reads the process
//! environment.
#![cfg(feature = "ecr")]

use std::sync::Arc;
use std::time::Duration;

use imagebump_registry::ecr::EcrProvider;
use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions};
use imagebump_testbed::cloud::aws::{self, EcrStandIn};
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

const PASSWORD: &str = "ecr-password-from-the-stand-in";

fn client(reg: &TestRegistry) -> RegistryClient {
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    r.provider = Some(Arc::new(EcrProvider::new(&reg.host())));
    RegistryClient::new(ClientOptions {
        registries: vec![r],
        max_retries: 0,
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn ecr_token_from_the_sdk_chain_is_used_and_renewed() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("AWS", PASSWORD));
    reg.push_image("team/svc", "7.0").await;
    let ecr = EcrStandIn::start(PASSWORD, 12 * 3600);
    let dir = tempfile::tempdir().unwrap();
    // Only the variables set here: no profile files, no IMDS.
    for (k, v) in [
        ("AWS_ENDPOINT_URL_ECR", ecr.endpoint()),
        ("AWS_REGION", "eu-west-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN000000000".to_string()),
        ("AWS_SECRET_ACCESS_KEY", aws::SECRET_ACCESS_KEY.to_string()),
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
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_SESSION_TOKEN");
    let img = reg.image("team/svc");

    // A key ECR does not know: the error carries ECR's own code and message.
    let e = client(&reg).list_tags(&img).await.unwrap_err().to_string();
    assert!(e.contains("credentials from aws failed"), "{e}");
    assert!(
        e.contains(
            "UnrecognizedClientException: The security token included in the request is invalid."
        ),
        "{e}"
    );
    assert!(!e.contains(aws::SECRET_ACCESS_KEY), "{e}");

    std::env::set_var("AWS_ACCESS_KEY_ID", aws::ACCESS_KEY_ID);
    let c = client(&reg);
    let before = ecr.calls();
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["7.0"]);
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["7.0"]);
    assert_eq!(ecr.calls(), before + 1, "one token serves both listings");

    // A token expiring in 1 s is renewed once it nears its expiresAt.
    ecr.set_expires_in(1);
    let c = client(&reg);
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["7.0"]);
    let before = ecr.calls();
    // Waiting out the token's lifetime is what is tested, not a synchronisation.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["7.0"]);
    assert_eq!(ecr.calls(), before + 1, "renewed after expiry");
}
