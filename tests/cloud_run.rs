//! Cloud credentials while `imagebump run` polls, with the real binary, a real
//! Distribution registry (htpasswd for the user and password the provider's token
//! becomes), a bare git repository over file:// and the testbed's stand-ins for the
//! token services: a token that expires (GCP metadata server, Entra ID + ACR exchange,
//! ECR GetAuthorizationToken, each handing out 2-second tokens) is renewed without a
//! restart and without a failed scan; a client certificate rotated on disk is used
//! without a restart; a token service's refusal shows in `/api/v1/status` and
//! `/metrics` in the service's own words.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imagebump_testbed::cloud::gcp::GcpStandIn;
use support::gitserver::BareRepo;
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

const TOKEN: &str = "ya29.run-token";

fn get(url: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { reqwest::get(url).await.ok()?.text().await.ok() })
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: app\n      image: {image}\n"
    )
}

/// Cloud variables of the test process that would change what the service finds.
const CLOUD_VARS: &[&str] = &[
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCE_METADATA_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "HTTPS_PROXY",
    "HTTP_PROXY",
];

/// `imagebump run` over one image (`image`, at 1.0.0 in git) polled every second;
/// killed on drop.
struct Service {
    child: Child,
    port: u16,
    dir: PathBuf,
    repo: BareRepo,
}

impl Service {
    /// `registry` is the `registries:` entry (YAML lines under the list); `env` the
    /// service's cloud environment.
    fn start(dir: &Path, image: &str, registry: &str, env: &[(&str, String)]) -> Service {
        let repo = BareRepo::create_at(
            &dir.join("fleet.git"),
            &[("apps/web/pod.yaml", &deployment(&format!("{image}:1.0.0")))],
        );
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        std::fs::write(
            dir.join("policies/web.yaml"),
            format!("application: web\nimages:\n  - repository: {image}\n    semver: \"^1.0.0\"\n    targets:\n      - manifest: apps/web/pod.yaml\n"),
        )
        .unwrap();
        let port = free_port();
        std::fs::write(
            dir.join("imagebump.yaml"),
            format!(
                "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n{registry}poll: {{interval: 1s}}\n",
                d = dir.display(),
            ),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imagebump"));
        cmd.args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"));
        for k in CLOUD_VARS {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let child = cmd
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("imagebump.log")).unwrap())
            .spawn()
            .unwrap();
        Service {
            child,
            port,
            dir: dir.to_path_buf(),
            repo,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("imagebump.log")).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Option<String> {
        get(&format!("http://127.0.0.1:{}{path}", self.port))
    }

    fn status(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.get("/api/v1/status")?).ok()
    }

    /// The image's status once `done` holds for it, polled until `within` runs out.
    fn wait_for(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(img) = self.status().map(|s| s["images"][0].clone()) {
                if done(&img) {
                    return img;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen ({:?}):\n{}",
                self.status(),
                self.log()
            );
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }

    fn committed(&self, tag: &str) -> bool {
        self.repo
            .read("main", "apps/web/pod.yaml")
            .is_some_and(|t| t.contains(&format!(":{tag}")))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Scans every second for long enough that the 2 s token (reused 1.8 s) is renewed at
/// least twice (`issued` counts the tokens the stand-in gave), then pushes 1.1.0 and
/// waits for its commit; no scan on the way may fail, and `secret` never shows in the
/// log.
fn renewed_without_a_failed_scan(
    svc: &Service,
    reg: &TestRegistry,
    issued: &dyn Fn() -> usize,
    secret: &str,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut pushed = false;
    loop {
        if let Some(s) = svc.status() {
            if let Some(st) = s["images"][0]["state"].as_str() {
                states.push(st.to_string());
            }
        }
        if !pushed && issued() >= 3 {
            // Tokens were renewed; a new tag must still become a commit.
            rt.block_on(reg.push_image("team/web", "1.1.0"));
            pushed = true;
        }
        if pushed && svc.committed("1.1.0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no commit (tokens issued {}, states {states:?}):\n{}",
            issued(),
            svc.log()
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
    let last = svc.status().unwrap();
    assert!(issued() >= 3, "tokens issued: {}", issued());
    assert!(
        !states.iter().any(|s| s == "failed"),
        "a scan failed: {states:?}\n{}",
        svc.log()
    );
    assert!(last["images"][0]["lastError"].is_null(), "{last}");
    assert!(!svc.log().contains(secret), "a token was logged");
}

#[test]
fn an_expiring_gcp_token_is_renewed_during_run_without_a_failed_scan() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("oauth2accesstoken", TOKEN));
    rt.block_on(reg.push_image("team/web", "1.0.0"));
    let tmp = tempfile::tempdir().unwrap();
    let gcp = GcpStandIn::start(tmp.path(), TOKEN, 2);
    let svc = Service::start(
        tmp.path(),
        &format!("{}/team/web", reg.host()),
        &format!(
            "  - host: {}\n    insecure: true\n    provider: gcp\n",
            reg.host()
        ),
        &[("GCE_METADATA_HOST", gcp.host())],
    );
    renewed_without_a_failed_scan(&svc, &reg, &|| gcp.issued(), TOKEN);
}

/// ACR: the Entra ID token lives 2 s, and so does the (opaque) refresh token exchanged
/// for it; the login server is the Azure stand-in in front of the real registry.
#[test]
fn an_expiring_azure_token_is_renewed_during_run_without_a_failed_scan() {
    use imagebump_testbed::cloud::azure::{self, AzureStandIn};
    const REFRESH: &str = "acr-refresh-token-for-run";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd(
        "00000000-0000-0000-0000-000000000000",
        REFRESH,
    ));
    rt.block_on(reg.push_image("team/web", "1.0.0"));
    let tmp = tempfile::tempdir().unwrap();
    let az = AzureStandIn::login_server(tmp.path(), REFRESH, 2, &reg.host());
    let svc = Service::start(
        tmp.path(),
        &format!("{}/team/web", az.host()),
        &format!(
            "  - host: {}\n    insecure: true\n    provider: azure\n",
            az.host()
        ),
        &[
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                az.federated_token_file().display().to_string(),
            ),
            ("AZURE_CLIENT_ID", azure::CLIENT_ID.to_string()),
            ("AZURE_TENANT_ID", azure::TENANT.to_string()),
            ("AZURE_AUTHORITY_HOST", az.base_url()),
        ],
    );
    renewed_without_a_failed_scan(&svc, &reg, &|| az.exchanges(), REFRESH);
    assert!(
        az.entra_tokens() >= 3,
        "Entra ID tokens: {}",
        az.entra_tokens()
    );
    assert_eq!(az.last_service().as_deref(), Some(az.host().as_str()));
    assert!(!svc.log().contains(azure::FEDERATED_TOKEN));
}

/// ECR: GetAuthorizationToken answers an `expiresAt` 2 s ahead.
#[cfg(feature = "ecr")]
#[test]
fn an_expiring_ecr_token_is_renewed_during_run_without_a_failed_scan() {
    use imagebump_testbed::cloud::aws::{self, EcrStandIn};
    const PASSWORD: &str = "ecr-password-for-run";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("AWS", PASSWORD));
    rt.block_on(reg.push_image("team/web", "1.0.0"));
    let ecr = EcrStandIn::start(PASSWORD, 2);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display().to_string();
    let svc = Service::start(
        tmp.path(),
        &format!("{}/team/web", reg.host()),
        &format!(
            "  - host: {}\n    insecure: true\n    provider: aws\n",
            reg.host()
        ),
        &[
            ("AWS_ENDPOINT_URL_ECR", ecr.endpoint()),
            ("AWS_REGION", "eu-west-1".to_string()),
            ("AWS_ACCESS_KEY_ID", aws::ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", aws::SECRET_ACCESS_KEY.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_CONFIG_FILE", format!("{d}/aws-config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                format!("{d}/aws-credentials"),
            ),
        ],
    );
    renewed_without_a_failed_scan(&svc, &reg, &|| ecr.calls(), PASSWORD);
    assert!(!svc.log().contains(aws::SECRET_ACCESS_KEY));
}

/// mTLS: the registry's client CA is replaced (the old certificate is refused from then
/// on), then the certificate files are replaced with one the new CA signed, as
/// cert-manager renews a Secret; the same process scans successfully again.
#[test]
fn a_rotated_client_certificate_is_used_during_run_without_a_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut reg = TestRegistry::start(TestRegistryOptions::default().with_client_certs());
    rt.block_on(reg.push_image("team/web", "1.0.0"));
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("tls.crt"), tmp.path().join("tls.key"));
    let replace = |from: &Path, to: &Path| {
        // As the kubelet updates a Secret volume: a new file renamed over the old one.
        let new = to.with_extension("new");
        std::fs::copy(from, &new).unwrap();
        std::fs::rename(&new, to).unwrap();
    };
    let (c0, k0) = reg.client_cert();
    replace(&c0, &cert);
    replace(&k0, &key);
    let svc = Service::start(
        tmp.path(),
        &format!("{}/team/web", reg.host()),
        &format!(
            "  - host: {}\n    caFile: {}\n    clientCert: {{file: {}}}\n    clientKey: {{file: {}}}\n",
            reg.host(),
            reg.ca_file().display(),
            cert.display(),
            key.display()
        ),
        &[],
    );
    svc.wait_for("a first scan", Duration::from_secs(20), |i| {
        i["state"] == "up_to_date"
    });

    reg.rotate_client_ca();
    let refused = svc.wait_for(
        "the old certificate refused",
        Duration::from_secs(20),
        |i| i["state"] == "failed",
    );
    assert!(
        refused["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable")),
        "{refused}"
    );

    // Half a rotation (the new certificate, the old key) is not used, and says so in
    // the status and the metrics.
    let (c1, k1) = reg.client_cert();
    replace(&c1, &cert);
    let half = svc.wait_for(
        "the unusable pair explained",
        Duration::from_secs(30),
        |i| {
            i["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("the rotated client certificate is not in use"))
        },
    );
    assert!(
        half["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("the key does not belong to the certificate")),
        "{half}"
    );
    let metrics = svc.get("/metrics").unwrap_or_default();
    assert!(
        metrics.contains(&format!(
            "imagebump_registry_client_cert_refused_total{{registry=\"{}\"}} 1",
            reg.host()
        )),
        "{metrics}"
    );

    replace(&k1, &key);
    rt.block_on(reg.push_image("team/web", "1.1.0"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !svc.committed("1.1.0") {
        assert!(
            Instant::now() < deadline,
            "no commit after the rotation ({:?}):\n{}",
            svc.status(),
            svc.log()
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
    let img = svc.wait_for("a clean status", Duration::from_secs(10), |i| {
        i["lastError"].is_null()
    });
    assert_ne!(img["state"], "failed", "{img}");
    assert!(
        svc.log().contains("client certificate rotated"),
        "{}",
        svc.log()
    );
    assert!(!svc.log().contains("PRIVATE KEY"));
}

/// Entra ID answers 400 with its documented error body (an application id it does not
/// know): the image's `lastError` in `/api/v1/status` quotes it, the scan counts as an
/// error in `/metrics`, and no secret shows.
#[test]
fn a_token_services_refusal_shows_in_the_status_in_its_own_words() {
    use imagebump_testbed::cloud::azure::{self, AzureStandIn};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd(
        "00000000-0000-0000-0000-000000000000",
        "refresh",
    ));
    rt.block_on(reg.push_image("team/web", "1.0.0"));
    let tmp = tempfile::tempdir().unwrap();
    let az = AzureStandIn::login_server(tmp.path(), "refresh", 3600, &reg.host());
    let svc = Service::start(
        tmp.path(),
        &format!("{}/team/web", az.host()),
        &format!(
            "  - host: {}\n    insecure: true\n    provider: azure\n",
            az.host()
        ),
        &[
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                az.federated_token_file().display().to_string(),
            ),
            (
                "AZURE_CLIENT_ID",
                "99999999-0000-0000-0000-000000000000".to_string(),
            ),
            ("AZURE_TENANT_ID", azure::TENANT.to_string()),
            ("AZURE_AUTHORITY_HOST", az.base_url()),
        ],
    );
    let img = svc.wait_for("the refusal", Duration::from_secs(20), |i| {
        i["state"] == "failed"
    });
    let e = img["lastError"].as_str().unwrap_or_default();
    assert!(e.contains("credentials from azure failed"), "{img}");
    assert!(e.contains("Entra ID (workload identity)"), "{img}");
    assert!(
        e.contains("answered 400: unauthorized_client: AADSTS700016: Application with identifier was not found in the directory."),
        "{img}"
    );
    assert!(!e.contains(azure::FEDERATED_TOKEN), "{img}");
    let metrics = svc.get("/metrics").unwrap_or_default();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("imagebump_scans_total{result=\"error\"}") && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(!svc.log().contains(azure::FEDERATED_TOKEN), "{}", svc.log());
}

/// A refused identity shows the provider's own message where users look
/// (`imagebump test`), and exits 2.
#[test]
fn a_refused_cloud_identity_is_reported_with_the_providers_message() {
    use imagebump_testbed::cloud::azure::{self, AzureStandIn};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd(
        "00000000-0000-0000-0000-000000000000",
        "refresh",
    ));
    rt.block_on(reg.push_image("team/web", "1.0.0"));
    let tmp = tempfile::tempdir().unwrap();
    let az = AzureStandIn::start(tmp.path(), "refresh", 3600);
    std::fs::write(az.federated_token_file(), "untrusted-token").unwrap();
    let cfg = tmp.path().join("imagebump.yaml");
    std::fs::write(
        &cfg,
        format!(
            "registries:\n  - host: {}\n    insecure: true\n    provider: azure\n",
            reg.host()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["test", "--config"])
        .arg(&cfg)
        .args(["--image", &format!("{}/team/web", reg.host())])
        .env("AZURE_FEDERATED_TOKEN_FILE", az.federated_token_file())
        .env("AZURE_CLIENT_ID", azure::CLIENT_ID)
        .env("AZURE_TENANT_ID", azure::TENANT)
        .env("AZURE_AUTHORITY_HOST", az.base_url())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("credentials from azure failed"), "{err}");
    assert!(err.contains("AADSTS700211"), "{err}");
    assert!(!err.contains("untrusted-token"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
