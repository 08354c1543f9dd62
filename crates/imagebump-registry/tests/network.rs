//! Proxies and client certificates against a real Distribution registry over TLS: a
//! per-registry `proxy` (through the testbed's stand-in `CONNECT` proxy, which records
//! each tunnel) and mutual TLS with `http.tls.clientcas`, including a client certificate
//! rotated while the client runs.

use std::path::PathBuf;
use std::sync::Arc;

use imagebump_core::secret::Secret;
use imagebump_registry::{
    ClientIdentity, ClientOptions, IdentitySource, RegistryClient, RegistryOptions,
};
use imagebump_testbed::proxy::ConnectProxy;
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

fn client(r: RegistryOptions) -> Result<RegistryClient, imagebump_registry::RegistryError> {
    RegistryClient::new(ClientOptions {
        registries: vec![r],
        max_retries: 0,
        ..Default::default()
    })
}

fn tls_options(reg: &TestRegistry) -> RegistryOptions {
    let mut r = RegistryOptions::new(reg.host());
    r.ca_file = Some(reg.ca_file());
    r
}

fn identity(paths: (std::path::PathBuf, std::path::PathBuf)) -> ClientIdentity {
    ClientIdentity {
        cert_pem: Secret::new(std::fs::read_to_string(paths.0).unwrap()),
        key_pem: Secret::new(std::fs::read_to_string(paths.1).unwrap()),
    }
}

#[tokio::test]
async fn a_registry_proxy_carries_the_requests() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("u", "p").with_tls());
    reg.push_image("app", "1.0").await;
    let proxy = ConnectProxy::start();
    let mut r = tls_options(&reg);
    r.username = Some(Secret::new("u"));
    r.password = Some(Secret::new("p"));
    r.proxy = Some(proxy.url());
    let c = client(r).unwrap();
    assert_eq!(*c.list_tags(&reg.image("app")).await.unwrap(), vec!["1.0"]);
    let tunnels = proxy.tunnels();
    assert!(!tunnels.is_empty(), "no request went through the proxy");
    assert!(tunnels.iter().all(|t| *t == reg.host()), "{tunnels:?}");

    // A proxy that is down fails the request (it is not bypassed).
    let dead = format!(
        "http://127.0.0.1:{}",
        imagebump_testbed::registry::free_port()
    );
    let mut r = tls_options(&reg);
    r.proxy = Some(dead);
    let e = client(r)
        .unwrap()
        .list_tags(&reg.image("app"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unreachable"), "{e}");

    let mut r = tls_options(&reg);
    r.proxy = Some("not a url".into());
    let e = client(r).unwrap_err();
    assert!(e.to_string().contains("proxy is not a URL"), "{e}");
}

#[tokio::test]
async fn client_certificates_for_mutual_tls() {
    let reg = TestRegistry::start(TestRegistryOptions::default().with_client_certs());
    reg.push_image("secure/app", "2.0").await;
    let img = reg.image("secure/app");

    let mut r = tls_options(&reg);
    r.client_identity = Some(identity(reg.client_cert()));
    assert_eq!(
        *client(r).unwrap().list_tags(&img).await.unwrap(),
        vec!["2.0"]
    );

    // Without a certificate, or with one from another CA, the handshake is refused.
    let e = client(tls_options(&reg))
        .unwrap()
        .list_tags(&img)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unreachable"), "{e}");
    let mut r = tls_options(&reg);
    r.client_identity = Some(identity(reg.foreign_client_cert()));
    let e = client(r).unwrap().list_tags(&img).await.unwrap_err();
    assert!(e.to_string().contains("unreachable"), "{e}");

    // A key that is not PEM: a configuration error naming the fix, not the key.
    let mut r = tls_options(&reg);
    r.client_identity = Some(ClientIdentity {
        cert_pem: Secret::new(std::fs::read_to_string(reg.client_cert().0).unwrap()),
        key_pem: Secret::new("hunter2"),
    });
    let e = client(r).unwrap_err().to_string();
    assert!(e.contains("PKCS#8"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

/// The certificate and key files as they are now (what the service's secret files do,
/// without their change detection).
struct Files(PathBuf, PathBuf);

impl IdentitySource for Files {
    fn current(&self) -> ClientIdentity {
        identity((self.0.clone(), self.1.clone()))
    }
}

fn replace(from: &std::path::Path, to: &std::path::Path) {
    // As a Kubernetes Secret update does: a new file renamed over the old one.
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[tokio::test]
async fn a_rotated_client_certificate_is_used_without_a_new_client() {
    let mut reg = TestRegistry::start(TestRegistryOptions::default().with_client_certs());
    reg.push_image("secure/app", "1.0").await;
    let img = reg.image("secure/app");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (c0, k0) = reg.client_cert();
    replace(&c0, &cert);
    replace(&k0, &key);
    let mut r = tls_options(&reg);
    r.client_identity_source = Some(Arc::new(Files(cert.clone(), key.clone())));
    let c = client(r).unwrap();
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["1.0"]);

    // The registry now trusts only a new CA: the old certificate is refused.
    reg.rotate_client_ca();
    reg.push_image("secure/app", "1.1").await;
    let e = c.list_tags_fresh(&img).await.unwrap_err();
    assert!(e.to_string().contains("unreachable"), "{e}");

    // Half a rotation (the new certificate, the old key) is not used, and says so.
    let (c1, k1) = reg.client_cert();
    replace(&c1, &cert);
    let e = c.list_tags_fresh(&img).await.unwrap_err().to_string();
    assert!(
        e.contains("the rotated client certificate is not in use (registry client configuration: clientCert/clientKey: the key does not belong to the certificate)"),
        "{e}"
    );
    assert!(!e.contains("PRIVATE KEY"), "{e}");
    assert_eq!(c.metrics().client_cert_refusals.get(&reg.host()), Some(&1));

    // The whole new pair: the same client lists again.
    replace(&k1, &key);
    let mut tags = (*c.list_tags_fresh(&img).await.unwrap()).clone();
    tags.sort();
    assert_eq!(tags, vec!["1.0", "1.1"]);
}
