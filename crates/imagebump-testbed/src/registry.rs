//! A real CNCF Distribution registry for tests, plus a clearly named stand-in server
//! for faults a real registry cannot produce on cue.
//!
//! [`TestRegistry::start`] runs `/usr/bin/docker-registry serve CONFIG` on a free
//! 127.0.0.1 port with its own config and a temporary storage directory (never the
//! package's `/etc` config), waits for `/v2/` to answer, and kills it on drop. It can
//! require htpasswd Basic auth or bearer tokens (from [`TokenIssuer`], a small
//! RS256 JWT issuer whose self-signed certificate the registry trusts), and can post
//! notifications to a URL. Images are pushed with the HTTP API ([`TestRegistry::push_image`],
//! [`TestRegistry::push_tags`], [`TestRegistry::push_index`]) or with skopeo
//! ([`TestRegistry::skopeo_push`]); [`TestRegistry::write_tag_links`] creates many tags
//! at once by writing the registry's storage directly.
//!
//! [`standin::StandInServer`] is *not* a registry: a tiny scripted HTTP server for 429s,
//! 5xx, cut-off pages, slow answers and paginating registries (Distribution 2.8 ignores
//! `n`/`last` on `tags/list`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use imagebump_core::image::ImageRef;

pub use crate::ports::free_port;

fn sha256_digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

pub(crate) fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// How the test registry authenticates clients.
#[derive(Debug, Clone, Default)]
pub enum TestAuth {
    /// No auth at all.
    #[default]
    None,
    /// htpasswd (bcrypt) Basic auth with one user.
    Htpasswd { username: String, password: String },
    /// Bearer tokens from a [`TokenIssuer`] that knows one user.
    Token {
        username: String,
        password: String,
        /// `expires_in` of issued tokens, seconds.
        expires_in: u64,
        /// Whether the issuer grants `pull` without credentials.
        anonymous_pull: bool,
    },
}

/// Where the registry posts its notifications (real webhooks).
#[derive(Debug, Clone)]
pub struct NotificationsOptions {
    /// The endpoint URL, e.g. `http://127.0.0.1:PORT/hooks/registry`.
    pub url: String,
    /// Value of the `Authorization` header sent with each delivery, if any.
    pub authorization: Option<String>,
}

/// Options for [`TestRegistry::start`].
#[derive(Debug, Clone, Default)]
pub struct TestRegistryOptions {
    pub auth: TestAuth,
    pub notifications: Option<NotificationsOptions>,
    /// Enables the access log (one line per request, captured; see
    /// [`TestRegistry::count_tag_list_requests`]).
    pub access_log: bool,
    /// Serve HTTPS with a self-signed certificate for 127.0.0.1 (see
    /// [`TestRegistry::ca_file`]).
    pub tls: bool,
    /// With `tls`: require client certificates signed by a test CA
    /// (`http.tls.clientcas`); see [`TestRegistry::client_cert`].
    pub mtls: bool,
}

impl TestRegistryOptions {
    pub fn htpasswd(user: &str, pass: &str) -> Self {
        TestRegistryOptions {
            auth: TestAuth::Htpasswd {
                username: user.into(),
                password: pass.into(),
            },
            ..Default::default()
        }
    }

    pub fn token(user: &str, pass: &str) -> Self {
        TestRegistryOptions {
            auth: TestAuth::Token {
                username: user.into(),
                password: pass.into(),
                expires_in: 300,
                anonymous_pull: false,
            },
            ..Default::default()
        }
    }

    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// HTTPS that requires a client certificate (mutual TLS).
    pub fn with_client_certs(mut self) -> Self {
        self.tls = true;
        self.mtls = true;
        self
    }

    pub fn with_access_log(mut self) -> Self {
        self.access_log = true;
        self
    }

    pub fn with_notifications(mut self, url: &str, authorization: Option<&str>) -> Self {
        self.notifications = Some(NotificationsOptions {
            url: url.into(),
            authorization: authorization.map(str::to_string),
        });
        self
    }
}

/// The OCI annotation for an image's creation time.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// When a pushed test image says it was built (RFC 3339 texts); neither by default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Built<'a> {
    /// The image config's `created`.
    pub config_created: Option<&'a str>,
    /// The manifest's (for an index: the index's) `org.opencontainers.image.created`.
    pub annotation: Option<&'a str>,
}

/// A running Distribution registry; killed on drop.
pub struct TestRegistry {
    pub(crate) child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    pub(crate) log: Arc<Mutex<String>>,
    pub token_issuer: Option<TokenIssuer>,
    pub(crate) opts: TestRegistryOptions,
    pub(crate) http: reqwest::Client,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Renders the registry config file.
pub fn registry_config(
    base: &Path,
    port: u16,
    opts: &TestRegistryOptions,
    token_realm: Option<&str>,
) -> String {
    let mut y = format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: {}\n\
         storage:\n  filesystem:\n    rootdirectory: {}/data\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: test-only\n",
        !opts.access_log,
        base.display()
    );
    if opts.tls {
        y += &format!(
            "  tls:\n    certificate: {0}/tls.crt\n    key: {0}/tls.key\n",
            base.display()
        );
        if opts.mtls {
            y += &format!("    clientcas:\n      - {}/client-ca.crt\n", base.display());
        }
    }
    match &opts.auth {
        TestAuth::None => {}
        TestAuth::Htpasswd { .. } => {
            y += &format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}/htpasswd\n",
                base.display()
            );
        }
        TestAuth::Token { .. } => {
            y += &format!(
                "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}/token.crt\n",
                token_realm.expect("token auth needs a realm"),
                base.display()
            );
        }
    }
    if let Some(n) = &opts.notifications {
        y += &format!(
            "notifications:\n  endpoints:\n    - name: imagebump\n      url: {}\n",
            n.url
        );
        if let Some(a) = &n.authorization {
            y += &format!(
                "      headers:\n        Authorization: [{}]\n",
                serde_json::to_string(a).unwrap()
            );
        }
        y += "      timeout: 2s\n      threshold: 1\n      backoff: 200ms\n      \
              ignoredmediatypes: [application/octet-stream]\n      \
              ignore:\n        actions: [pull]\n";
    }
    y
}

impl TestRegistry {
    /// Starts a registry and waits until `/v2/` answers (at most 10 s).
    pub fn start(opts: TestRegistryOptions) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        std::fs::create_dir_all(base.join("data")).unwrap();
        let port = free_port();
        let mut token_issuer = None;
        match &opts.auth {
            TestAuth::None => {}
            TestAuth::Htpasswd { username, password } => {
                let line = run(Command::new("htpasswd").args(["-Bbn", username, password]));
                std::fs::write(base.join("htpasswd"), line).unwrap();
            }
            TestAuth::Token {
                username,
                password,
                expires_in,
                anonymous_pull,
            } => {
                let issuer = TokenIssuer::start(
                    &base,
                    vec![(username.clone(), password.clone())],
                    *expires_in,
                    *anonymous_pull,
                );
                std::fs::copy(issuer.cert_path(), base.join("token.crt")).unwrap();
                token_issuer = Some(issuer);
            }
        }
        crate::tls::make_certs(&base, &opts);
        let realm = token_issuer.as_ref().map(|t| t.realm());
        let config = registry_config(&base, port, &opts, realm.as_deref());
        let config_path = base.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let child = spawn(&config_path, port, &log);
        let http = crate::tls::harness_http(&base, &opts);
        TestRegistry {
            child,
            port,
            dir,
            log,
            token_issuer,
            opts,
            http,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn base_url(&self) -> String {
        let scheme = if self.opts.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The self-signed certificate of a TLS registry (PEM), to trust as a CA.
    pub fn ca_file(&self) -> PathBuf {
        assert!(self.opts.tls, "start the registry with_tls()");
        self.dir.path().join("tls.crt")
    }

    /// The image reference `127.0.0.1:PORT/<repo>`.
    pub fn image(&self, repo: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{repo}", self.host())).unwrap()
    }

    /// The temporary directory (config, data, keys).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry's storage root.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Everything the registry printed so far (logs and, if enabled, the access log).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `GET /v2/<repo>/tags/list` lines in the access log (needs `access_log`).
    /// Waits briefly for the log to settle, since lines are written after responses.
    pub fn count_tag_list_requests(&self, repo: &str) -> usize {
        self.count_requests(&[format!("\"GET /v2/{repo}/tags/list")], b" ?")
    }

    /// `HEAD` and `GET /v2/<repo>/manifests/<reference>` lines in the access log (needs
    /// `access_log`), for any reference. Waits briefly for the log to settle.
    pub fn count_manifest_requests(&self, repo: &str) -> usize {
        let needles = ["HEAD", "GET"].map(|m| format!("\"{m} /v2/{repo}/manifests/"));
        // The reference follows the needle: any first byte but a space ends the path.
        let any: Vec<u8> = (0x21..0x7f).collect();
        self.count_requests(&needles, &any)
    }

    /// Access-log lines holding one of `needles` followed by one of the bytes `next`.
    fn count_requests(&self, needles: &[String], next: &[u8]) -> usize {
        assert!(self.opts.access_log, "start the registry with_access_log()");
        let count = || {
            self.log()
                .lines()
                .filter(|l| {
                    needles.iter().any(|needle| {
                        l.find(needle.as_str()).is_some_and(|i| {
                            l.as_bytes()
                                .get(i + needle.len())
                                .is_some_and(|b| next.contains(b))
                        })
                    })
                })
                .count()
        };
        let mut last = count();
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(30));
            let now = count();
            if now == last {
                break;
            }
            last = now;
        }
        last
    }

    /// The credentials clients should use, if the registry wants any.
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.opts.auth {
            TestAuth::None => None,
            TestAuth::Htpasswd { username, password }
            | TestAuth::Token {
                username, password, ..
            } => Some((username.clone(), password.clone())),
        }
    }

    /// The Authorization header the harness pushes with.
    fn auth_header(&self, repo: &str) -> Option<String> {
        match &self.opts.auth {
            TestAuth::None => None,
            TestAuth::Htpasswd { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            TestAuth::Token { .. } => {
                let issuer = self.token_issuer.as_ref().unwrap();
                Some(format!(
                    "Bearer {}",
                    issuer.mint(
                        "harness",
                        &[(repo.to_string(), vec!["pull", "push", "delete"])],
                        600
                    )
                ))
            }
        }
    }

    fn req(&self, method: reqwest::Method, repo: &str, url: &str) -> reqwest::RequestBuilder {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base_url())
        };
        let mut r = self.http.request(method, url);
        if let Some(a) = self.auth_header(repo) {
            r = r.header("Authorization", a);
        }
        r
    }

    /// Uploads a blob (monolithic: POST, then PUT with the digest); returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let res = self
            .req(
                reqwest::Method::POST,
                repo,
                &format!("/v2/{repo}/blobs/uploads/"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status().as_u16(),
            202,
            "start upload: {:?}",
            res.text().await
        );
        let loc = res.headers()["location"].to_str().unwrap().to_string();
        let loc = if loc.starts_with('/') {
            format!("{}{loc}", self.base_url())
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let res = self
            .req(
                reqwest::Method::PUT,
                repo,
                &format!("{loc}{sep}digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status().as_u16(),
            201,
            "finish upload: {:?}",
            res.text().await
        );
        digest
    }

    /// PUTs a manifest under `reference` (tag or digest); returns the digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let res = self
            .req(
                reqwest::Method::PUT,
                repo,
                &format!("/v2/{repo}/manifests/{reference}"),
            )
            .header("Content-Type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status().as_u16(),
            201,
            "put manifest: {:?}",
            res.text().await
        );
        let d = sha256_digest(body);
        if let Some(h) = res.headers().get("docker-content-digest") {
            assert_eq!(h.to_str().unwrap(), d);
        }
        d
    }

    /// Pushes config + layer blobs for a platform; returns the OCI image manifest
    /// bytes (with `annotation` as a distinct value), not yet PUT.
    async fn image_manifest(
        &self,
        repo: &str,
        os: &str,
        arch: &str,
        variant: Option<&str>,
        annotation: &str,
    ) -> Vec<u8> {
        self.image_manifest_built(repo, os, arch, variant, annotation, Built::default())
            .await
    }

    /// [`image_manifest`](Self::image_manifest) with the creation times of `built`.
    async fn image_manifest_built(
        &self,
        repo: &str,
        os: &str,
        arch: &str,
        variant: Option<&str>,
        annotation: &str,
        built: Built<'_>,
    ) -> Vec<u8> {
        let layer = format!("layer of {repo} for {os}/{arch}").into_bytes();
        let mut config = serde_json::json!({
            "architecture": arch, "os": os,
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]},
            "config": {}
        });
        if let Some(v) = variant {
            config["variant"] = v.into();
        }
        if let Some(c) = built.config_created {
            config["created"] = c.into();
        }
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = self.push_blob(repo, &config).await;
        let layer_digest = self.push_blob(repo, &layer).await;
        let mut m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer.len()}],
            "annotations": {"org.imagebump.test": annotation}
        });
        if let Some(a) = built.annotation {
            m["annotations"][CREATED_ANNOTATION] = a.into();
        }
        serde_json::to_vec(&m).unwrap()
    }

    /// Pushes a linux/amd64 image under `tag` that says it was built as `built` says
    /// (config `created`, annotation); returns the digest.
    pub async fn push_image_built(&self, repo: &str, tag: &str, built: Built<'_>) -> String {
        let m = self
            .image_manifest_built(repo, "linux", "amd64", None, tag, built)
            .await;
        self.put_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &m)
            .await
    }

    /// Pushes a linux/amd64 image under `tag` (distinct digest per tag); returns the digest.
    pub async fn push_image(&self, repo: &str, tag: &str) -> String {
        let m = self.image_manifest(repo, "linux", "amd64", None, tag).await;
        self.put_manifest(repo, tag, "application/vnd.oci.image.manifest.v1+json", &m)
            .await
    }

    /// Pushes many tags, 8 at a time: blobs once, then one manifest PUT per tag (each
    /// with its own annotation, so each its own digest). Returns the digests in order.
    pub async fn push_tags(&self, repo: &str, tags: &[String]) -> Vec<String> {
        use futures::StreamExt;
        let base = self
            .image_manifest(repo, "linux", "amd64", None, "base")
            .await;
        let base: serde_json::Value = serde_json::from_slice(&base).unwrap();
        futures::stream::iter(tags.iter().map(|t| {
            let mut m = base.clone();
            m["annotations"]["org.imagebump.test"] = t.clone().into();
            async move {
                let body = serde_json::to_vec(&m).unwrap();
                self.put_manifest(repo, t, "application/vnd.oci.image.manifest.v1+json", &body)
                    .await
            }
        }))
        .buffered(8)
        .collect()
        .await
    }

    /// Pushes a multi-arch OCI index under `tag` referencing one image per platform
    /// (`os/arch[/variant]`); returns (index digest, platform manifest digests).
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        platforms: &[&str],
    ) -> (String, Vec<String>) {
        self.push_index_built(repo, tag, platforms, Built::default())
            .await
    }

    /// [`push_index`](Self::push_index) where every platform's config says it was
    /// created at `built.config_created`, and the index (not its manifests) carries
    /// `built.annotation`.
    pub async fn push_index_built(
        &self,
        repo: &str,
        tag: &str,
        platforms: &[&str],
        built: Built<'_>,
    ) -> (String, Vec<String>) {
        let platform_built = Built {
            annotation: None,
            ..built
        };
        let mut entries = Vec::new();
        let mut digests = Vec::new();
        for p in platforms {
            let parts: Vec<&str> = p.split('/').collect();
            let (os, arch, variant) = (parts[0], parts[1], parts.get(2).copied());
            let m = self
                .image_manifest_built(
                    repo,
                    os,
                    arch,
                    variant,
                    &format!("{tag} {p}"),
                    platform_built,
                )
                .await;
            let d = sha256_digest(&m);
            self.put_manifest(repo, &d, "application/vnd.oci.image.manifest.v1+json", &m)
                .await;
            let mut platform = serde_json::json!({"os": os, "architecture": arch});
            if let Some(v) = variant {
                platform["variant"] = v.into();
            }
            entries.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d, "size": m.len(), "platform": platform
            }));
            digests.push(d);
        }
        let mut index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries
        });
        if let Some(a) = built.annotation {
            index["annotations"] = serde_json::json!({ CREATED_ANNOTATION: a });
        }
        let index = serde_json::to_vec(&index).unwrap();
        let d = self
            .put_manifest(repo, tag, "application/vnd.oci.image.index.v1+json", &index)
            .await;
        (d, digests)
    }

    /// Deletes a manifest by digest (every tag pointing at it goes too).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) {
        let res = self
            .req(
                reqwest::Method::DELETE,
                repo,
                &format!("/v2/{repo}/manifests/{digest}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 202, "delete: {:?}", res.text().await);
    }

    /// Deletes the manifest a tag points at (Distribution deletes by digest).
    pub async fn delete_tag(&self, repo: &str, tag: &str) {
        let res = self
            .req(reqwest::Method::HEAD, repo, &format!("/v2/{repo}/manifests/{tag}"))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            )
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "head {tag}: {}", res.status());
        let d = res.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_string();
        self.delete_manifest(repo, &d).await;
    }

    /// Pushes an image with real tools: `umoci init/new` an OCI layout, then
    /// `skopeo copy` it to `repo:tag` (with `--dest-creds` when the registry has auth).
    pub fn skopeo_push(&self, repo: &str, tag: &str) {
        let layout = self
            .dir
            .path()
            .join(format!("layout-{}", repo.replace('/', "_")));
        if !layout.exists() {
            run(Command::new("umoci")
                .args(["init", "--layout"])
                .arg(&layout));
            run(Command::new("umoci")
                .args(["new", "--image"])
                .arg(format!("{}:base", layout.display())));
        }
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some((u, p)) = self.credentials() {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        cmd.arg(format!("oci:{}:base", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", self.host()));
        run(&mut cmd);
    }

    /// Creates tags straight in the storage directory, each pointing at `digest`
    /// (which must already be a manifest of `repo`, e.g. from [`push_image`]). Several
    /// times faster than PUTs (0.5–1 ms vs 5–8 ms per tag with 8 PUTs in parallel,
    /// on a busy 2-core machine); the registry reads tags from the
    /// directory listing, so they are visible at once. Layout:
    /// `docker/registry/v2/repositories/<repo>/_manifests/tags/<tag>/current/link`.
    ///
    /// [`push_image`]: TestRegistry::push_image
    pub fn write_tag_links(&self, repo: &str, digest: &str, tags: &[String]) {
        let tags_dir = self
            .storage_dir()
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags");
        let hex = digest.strip_prefix("sha256:").unwrap();
        for t in tags {
            let cur = tags_dir.join(t).join("current");
            std::fs::create_dir_all(&cur).unwrap();
            std::fs::write(cur.join("link"), digest).unwrap();
            let idx = tags_dir.join(t).join("index/sha256").join(hex);
            std::fs::create_dir_all(&idx).unwrap();
            std::fs::write(idx.join("link"), digest).unwrap();
        }
    }
}

/// Minimal blocking `GET path` on 127.0.0.1:port; the status if anything answered.
/// Runs the registry with `config` and waits until `/v2/` answers on `port` (at most
/// 10 s); its output goes to `log`.
pub(crate) fn spawn(config: &Path, port: u16, log: &Arc<Mutex<String>>) -> Child {
    let mut child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start /usr/bin/docker-registry (apt-get install docker-registry)");
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if http_status(port, "/v2/").is_some() {
            return child;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("registry exited ({st}): {}", log.lock().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "registry did not start: {}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub use crate::standin;
pub use crate::token::{TokenIssuer, TOKEN_ISSUER, TOKEN_SERVICE};
