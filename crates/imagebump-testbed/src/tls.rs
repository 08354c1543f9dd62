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

/// The harness's own client (it pushes images): trusts the server certificate and, with
/// mutual TLS, presents the test client certificate.
pub(crate) fn harness_http(base: &Path, opts: &TestRegistryOptions) -> reqwest::Client {
    let mut http = reqwest::Client::builder();
    if opts.tls {
        let pem = std::fs::read(base.join("tls.crt")).unwrap();
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    if opts.mtls {
        http = http.identity(identity(base));
    }
    http.build().unwrap()
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

    /// With mutual TLS: a new client CA replaces the old one, and the registry is
    /// restarted with it on the same port and storage, so the client certificate
    /// handed out so far is refused from now on. [`client_cert`](Self::client_cert)
    /// then holds a new certificate signed by the new CA (the harness uses it too).
    pub fn rotate_client_ca(&mut self) {
        assert!(self.opts.mtls, "start the registry with_client_certs()");
        let _ = self.child.kill();
        let _ = self.child.wait();
        make_client_certs(self.dir());
        let config = self.dir().join("config.yml");
        self.child = crate::registry::spawn(&config, self.port, &self.log);
        self.http = harness_http(self.dir(), &self.opts);
    }
}
