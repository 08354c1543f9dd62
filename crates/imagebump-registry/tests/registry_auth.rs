//! Registry auth against a real Distribution registry: htpasswd Basic, bearer tokens
//! from a token issuer the registry trusts, and Docker config.json credentials.

use std::time::Duration;

use base64::Engine;
use imagebump_core::secret::Secret;
use imagebump_registry::{
    ClientOptions, DockerConfig, RegistryClient, RegistryError, RegistryOptions, RequestKind,
};
use imagebump_testbed::registry::{TestAuth, TestRegistry, TestRegistryOptions};

fn client(
    reg: &TestRegistry,
    creds: Option<(&str, &str)>,
    docker_config: Option<DockerConfig>,
) -> RegistryClient {
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    r.rate_limit = 1000.0;
    if let Some((u, p)) = creds {
        r.username = Some(Secret::new(u));
        r.password = Some(Secret::new(p));
    }
    RegistryClient::new(ClientOptions {
        registries: vec![r],
        docker_config,
        retry_base: Duration::from_millis(20),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn htpasswd_basic_auth_good_credentials() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("alice", "s3cret-pass"));
    let d = reg.push_image("private/app", "1.0").await;
    reg.push_image("private/other", "2.0").await;
    let c = client(&reg, Some(("alice", "s3cret-pass")), None);
    assert_eq!(
        *c.list_tags(&reg.image("private/app")).await.unwrap(),
        vec!["1.0"]
    );
    assert_eq!(
        c.resolve_digest(&reg.image("private/app"), "1.0")
            .await
            .unwrap(),
        d
    );
    assert_eq!(
        *c.list_tags(&reg.image("private/other")).await.unwrap(),
        vec!["2.0"]
    );
    let m = c.metrics();
    let h = reg.host();
    // One 401 challenge in all; Basic is sent up front from then on.
    let unauthorized: u64 = [RequestKind::Tags, RequestKind::Manifest]
        .iter()
        .map(|k| m.requests_with_status(&h, *k, "401"))
        .sum();
    assert_eq!(unauthorized, 1, "{m:?}");
    assert_eq!(m.requests_with_status(&h, RequestKind::Tags, "200"), 2);
}

#[tokio::test]
async fn htpasswd_basic_auth_bad_or_missing_credentials() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("alice", "s3cret-pass"));
    reg.push_image("private/app", "1.0").await;
    let c = client(&reg, Some(("alice", "wrong-password")), None);
    let e = c.list_tags(&reg.image("private/app")).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("credentials rejected"), "{msg}");
    assert!(!msg.contains("wrong-password") && !format!("{e:?}").contains("wrong-password"));
    let anon = client(&reg, None, None);
    let e = anon.list_tags(&reg.image("private/app")).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
}

#[tokio::test]
async fn bearer_token_auth() {
    let reg = TestRegistry::start(TestRegistryOptions::token("bob", "tok-pass"));
    let d = reg.push_image("secure/app", "3.1").await;
    reg.push_image("secure/b", "1").await;
    let issuer = reg.token_issuer.as_ref().unwrap();
    let before = issuer.requests();
    let c = client(&reg, Some(("bob", "tok-pass")), None);
    let image = reg.image("secure/app");
    assert_eq!(*c.list_tags(&image).await.unwrap(), vec!["3.1"]);
    assert_eq!(c.resolve_digest(&image, "3.1").await.unwrap(), d);
    assert!(c
        .check_platforms(&image, "3.1", &["linux/amd64".into()])
        .await
        .unwrap());
    // One token for the repository's scope, reused while valid.
    assert_eq!(issuer.requests() - before, 1);
    // Another repository: another scope, another token, but no second 401.
    assert_eq!(
        *c.list_tags(&reg.image("secure/b")).await.unwrap(),
        vec!["1"]
    );
    assert_eq!(issuer.requests() - before, 2);
    let m = c.metrics();
    let h = reg.host();
    assert_eq!(m.requests_for(&h, RequestKind::Token), 2);
    assert_eq!(
        m.requests_with_status(&h, RequestKind::Tags, "401"),
        1,
        "{m:?}"
    );

    let bad = client(&reg, Some(("bob", "nope")), None);
    let e = bad.list_tags(&image).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
    assert!(!e.to_string().contains("nope"));
    let anon = client(&reg, None, None);
    let e = anon.list_tags(&image).await.unwrap_err();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e:?}");
}

#[tokio::test]
async fn bearer_tokens_are_renewed_after_expiry() {
    let reg = TestRegistry::start(TestRegistryOptions {
        auth: TestAuth::Token {
            username: "bob".into(),
            password: "p".into(),
            expires_in: 1,
            anonymous_pull: false,
        },
        ..Default::default()
    });
    reg.push_image("short", "1").await;
    let issuer = reg.token_issuer.as_ref().unwrap();
    let before = issuer.requests();
    let c = client(&reg, Some(("bob", "p")), None);
    let image = reg.image("short");
    c.resolve_digest(&image, "1").await.unwrap();
    c.resolve_digest(&image, "1").await.unwrap();
    assert_eq!(issuer.requests() - before, 1, "cached while valid");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.resolve_digest(&image, "1").await.unwrap();
    assert_eq!(issuer.requests() - before, 2, "renewed after expires_in");
}

#[tokio::test]
async fn anonymous_token_pull() {
    let reg = TestRegistry::start(TestRegistryOptions {
        auth: TestAuth::Token {
            username: "bob".into(),
            password: "p".into(),
            expires_in: 300,
            anonymous_pull: true,
        },
        ..Default::default()
    });
    reg.push_image("public", "1").await;
    let c = client(&reg, None, None);
    assert_eq!(*c.list_tags(&reg.image("public")).await.unwrap(), vec!["1"]);
}

#[tokio::test]
async fn docker_config_json_credentials() {
    let basic = TestRegistry::start(TestRegistryOptions::htpasswd("carol", "c-pass"));
    basic.push_image("dc/app", "1").await;
    let token = TestRegistry::start(TestRegistryOptions::token("dave", "d-pass"));
    token.push_image("dc/app", "2").await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // One key as a URL with scheme and path, one as a bare host with username/password,
    // as `docker login` and a Kubernetes .dockerconfigjson Secret write them.
    let json = format!(
        r#"{{"auths": {{
            "http://{}/v2/": {{"auth": "{}"}},
            "{}": {{"username": "dave", "password": "d-pass"}},
            "https://index.docker.io/v1/": {{"auth": "{}"}}
        }}}}"#,
        basic.host(),
        b64("carol:c-pass"),
        token.host(),
        b64("hub:hub")
    );
    let dc = DockerConfig::parse(&json).unwrap();
    let mut regs = Vec::new();
    for r in [&basic, &token] {
        let mut o = RegistryOptions::new(r.host());
        o.insecure = true;
        regs.push(o);
    }
    let c = RegistryClient::new(ClientOptions {
        registries: regs,
        docker_config: Some(dc),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        *c.list_tags(&basic.image("dc/app")).await.unwrap(),
        vec!["1"]
    );
    assert_eq!(
        *c.list_tags(&token.image("dc/app")).await.unwrap(),
        vec!["2"]
    );
    // Service-config credentials win over config.json ones.
    let mut o = RegistryOptions::new(basic.host());
    o.insecure = true;
    o.username = Some(Secret::new("carol"));
    o.password = Some(Secret::new("wrong"));
    let c = RegistryClient::new(ClientOptions {
        registries: vec![o],
        docker_config: Some(DockerConfig::parse(&json).unwrap()),
        ..Default::default()
    })
    .unwrap();
    assert!(matches!(
        c.list_tags(&basic.image("dc/app")).await,
        Err(RegistryError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn htpasswd_many_repositories_at_once() {
    // The first requests all meet the Basic challenge at once; every one must retry
    // with credentials, not only the first to learn that the registry wants them.
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("alice", "s3cret-pass"));
    let repos: Vec<String> = (0..12).map(|i| format!("private/app{i}")).collect();
    for r in &repos {
        reg.push_image(r, "1.0").await;
    }
    let c = client(&reg, Some(("alice", "s3cret-pass")), None);
    let all = futures::future::join_all(repos.iter().map(|r| {
        let c = c.clone();
        let img = reg.image(r);
        async move { c.list_tags(&img).await }
    }))
    .await;
    for (r, res) in repos.iter().zip(all) {
        assert_eq!(*res.unwrap_or_else(|e| panic!("{r}: {e}")), vec!["1.0"]);
    }
}
