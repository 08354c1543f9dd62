//! Certificates for the test registry, made with the `openssl` CLI: its server
//! certificate for 127.0.0.1, and for mutual TLS a client CA with a client certificate
//! it signed (and a foreign one it did not).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::registry::{run, TestRegistry, TestRegistryOptions};

/// The certificates `opts` asks for, in `base`.
pub(crate) fn make_certs(base: &Path, opts: &TestRegistryOptions) {
    if opts.tls {
        make_server_cert(base);
    }
    if opts.mtls {
        make_client_certs(base);
    }
}

/// A self-signed server certificate for 127.0.0.1: `tls.crt`, `tls.key` in `base`.
pub(crate) fn make_server_cert(base: &Path) {
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(base.join("tls.key"))
        .arg("-out")
        .arg(base.join("tls.crt")));
}

/// The harness's own client identity (it pushes images to an mTLS registry too).
pub(crate) fn identity(base: &Path) -> reqwest::Identity {
    let (cert, key) = (base.join("client.crt"), base.join("client.key"));
    reqwest::Identity::from_pkcs8_pem(&std::fs::read(cert).unwrap(), &std::fs::read(key).unwrap())
        .unwrap()
}

/// A client CA (`client-ca.crt`) and a client certificate it signed (`client.crt`,
/// PKCS#8 `client.key`) in `dir`, made with the `openssl` CLI.
pub(crate) fn make_client_certs(dir: &Path) {
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=imagebump-test-client-ca"])
        .arg("-keyout")
        .arg(p("client-ca.key"))
        .arg("-out")
        .arg(p("client-ca.crt")));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=imagebump",
        ])
        .arg("-keyout")
        .arg(p("client.key"))
        .arg("-out")
        .arg(p("client.csr")));
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("client.csr"))
        .arg("-CA")
        .arg(p("client-ca.crt"))
        .arg("-CAkey")
        .arg(p("client-ca.key"))
        .arg("-out")
        .arg(p("client.crt")));
}

impl TestRegistry {
    /// With mutual TLS: the client certificate and its PKCS#8 key (PEM) the registry
    /// accepts, signed by the test client CA.
    pub fn client_cert(&self) -> (PathBuf, PathBuf) {
        (self.dir().join("client.crt"), self.dir().join("client.key"))
    }

    /// With mutual TLS: a client certificate and key from *another* CA, which the
    /// registry refuses.
    pub fn foreign_client_cert(&self) -> (PathBuf, PathBuf) {
        let d = self.dir().join("foreign");
        if !d.join("client.crt").exists() {
            std::fs::create_dir_all(&d).unwrap();
            make_client_certs(&d);
        }
        (d.join("client.crt"), d.join("client.key"))
    }
}
