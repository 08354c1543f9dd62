//! A cloud token that expires while `imagebump run` polls is renewed without a restart
//! and without a failed scan: the real binary, a real Distribution registry (htpasswd
//! `oauth2accesstoken` + the token), a bare git repository over file://, and the
//! testbed's stand-in for Google's metadata server handing out 2-second tokens.

mod support;

use std::process::{Command, Stdio};
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

#[test]
fn an_expiring_gcp_token_is_renewed_during_run_without_a_failed_scan() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("oauth2accesstoken", TOKEN));
    rt.block_on(reg.push_image("team/web", "1.0.0"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gcp = GcpStandIn::start(dir, TOKEN, 2);
    let image = format!("{}/team/web", reg.host());
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
            "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {host}\n    insecure: true\n    provider: gcp\npoll: {{interval: 1s}}\n",
            d = dir.display(),
            host = reg.host()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["run", "--config"])
        .arg(dir.join("imagebump.yaml"))
        .env("GCE_METADATA_HOST", gcp.host())
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("IMAGEBUMP_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("imagebump.log")).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(dir.join("imagebump.log")).unwrap_or_default();
    let status = || -> Option<serde_json::Value> {
        serde_json::from_str(&get(&format!("http://127.0.0.1:{port}/api/v1/status"))?).ok()
    };
    // Scans every second for long enough that the 2 s token (reused 1.8 s) is renewed
    // at least twice; every state seen on the way is recorded.
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut pushed = false;
    loop {
        if let Some(s) = status() {
            if let Some(st) = s["images"][0]["state"].as_str() {
                states.push(st.to_string());
            }
        }
        if !pushed && gcp.issued() >= 3 {
            // Tokens were renewed; a new tag must still become a commit.
            rt.block_on(reg.push_image("team/web", "1.1.0"));
            pushed = true;
        }
        if pushed
            && repo
                .read("main", "apps/web/pod.yaml")
                .is_some_and(|t| t.contains(":1.1.0"))
        {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "no commit (tokens issued {}, states {states:?}):\n{}",
                gcp.issued(),
                log()
            );
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
    let last = status().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(gcp.issued() >= 3, "tokens issued: {}", gcp.issued());
    assert!(
        !states.iter().any(|s| s == "failed"),
        "a scan failed: {states:?}\n{}",
        log()
    );
    assert!(last["images"][0]["lastError"].is_null(), "{last}");
    assert!(!log().contains(TOKEN), "the token was logged");
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
