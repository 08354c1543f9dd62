//! `HTTPS_PROXY` from the environment is honoured (and `NO_PROXY` skips it): a binary of
//! its own, since the variables are process-wide.

use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions};
use imagebump_testbed::proxy::ConnectProxy;
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

#[tokio::test]
async fn https_proxy_and_no_proxy_from_the_environment() {
    let reg = TestRegistry::start(TestRegistryOptions::default().with_tls());
    reg.push_image("app", "1.0").await;
    let proxy = ConnectProxy::start();
    let make = || {
        let mut r = RegistryOptions::new(reg.host());
        r.ca_file = Some(reg.ca_file());
        RegistryClient::new(ClientOptions {
            registries: vec![r],
            max_retries: 0,
            ..Default::default()
        })
        .unwrap()
    };
    // The only test in this binary: no other thread reads the environment.
    std::env::set_var("HTTPS_PROXY", proxy.url());
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    assert_eq!(
        *make().list_tags(&reg.image("app")).await.unwrap(),
        vec!["1.0"]
    );
    assert!(
        proxy.tunnels().contains(&reg.host()),
        "{:?}",
        proxy.tunnels()
    );

    let before = proxy.tunnels().len();
    std::env::set_var("NO_PROXY", "127.0.0.1");
    assert_eq!(
        *make().list_tags(&reg.image("app")).await.unwrap(),
        vec!["1.0"]
    );
    assert_eq!(proxy.tunnels().len(), before, "NO_PROXY skipped the proxy");
    std::env::remove_var("HTTPS_PROXY");
    std::env::remove_var("NO_PROXY");
}
