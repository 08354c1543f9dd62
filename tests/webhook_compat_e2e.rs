//! Webhook compatibility end to end (issue 10): the `imagebump run` binary, a real CNCF
//! Distribution registry, and a bare git repository over file://.
//!
//! - A registry whose notification header is `Authorization: Bearer <s>` talks to a
//!   receiver whose secret was stored as the whole value `Bearer <s>`.
//! - A delivery whose id was already handled is answered 202 `replayed` and schedules
//!   nothing.
//! - A `generic` delivery with no body rescans every watched repository; a
//!   `generic-hmac` one to a receiver with `repositories:` rescans only those.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use support::gitserver::BareRepo;
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

const HOOK_TOKEN: &str = "e2e-compat-token";
const CI_SECRET: &str = "e2e-ci-secret";

/// A running `imagebump run`, killed on drop.
struct Service {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Service {
    fn start(dir: &Path, port: u16) -> Service {
        let log = std::fs::File::create(dir.join("imagebump.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            // The whole header value, as many users store it.
            .env("E2E_HOOK_SECRET", format!("Bearer {HOOK_TOKEN}"))
            .env("E2E_CI_SECRET", CI_SECRET)
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Service {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        wait_for("readiness", Duration::from_secs(30), || {
            let st = rt().block_on(async { reqwest::get(s.url("/readyz")).await.ok() })?;
            (st.status() == 200).then_some(())
        });
        s
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn post(&self, path: &str, headers: &[(&str, String)], body: &str) -> (u16, serde_json::Value) {
        rt().block_on(async {
            let mut req = reqwest::Client::new().post(self.url(path));
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            let r = req.body(body.to_string()).send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            (status, v)
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("imagebump.log")).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    registry: TestRegistry,
    port: u16,
    repo: BareRepo,
}

/// A registry (notifying the service when `notify`), policies for `apps` at 1.0.0 and
/// a config with a distribution receiver and two generic ones.
fn setup(apps: &[&str], notify: bool) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let port = free_port();
    let mut opts = TestRegistryOptions::default();
    if notify {
        opts = opts.with_notifications(
            &format!("http://127.0.0.1:{port}/hooks/registry"),
            Some(&format!("Bearer {HOOK_TOKEN}")),
        );
    }
    let registry = TestRegistry::start(opts);
    let host = registry.host();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let mut files = Vec::new();
    for app in apps {
        std::fs::write(
            dir.join(format!("policies/{app}.yaml")),
            format!(
                "application: {app}\nimages:\n  - repository: {host}/team/{app}\n    semver: \"^1.0.0\"\n    targets:\n      - manifest: apps/{app}/deployment.yaml\n"
            ),
        )
        .unwrap();
        files.push((
            format!("apps/{app}/deployment.yaml"),
            deployment(&format!("{host}/team/{app}:1.0.0")),
        ));
        rt().block_on(registry.push_image(&format!("team/{app}"), "1.0.0"));
    }
    let repo_path = dir.join("fleet.git");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repo = BareRepo::create_at(&repo_path, &refs);
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{r}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {host}\n    insecure: true\nreceivers:\n  - name: registry\n    provider: distribution\n    secret: {{env: E2E_HOOK_SECRET}}\n  - name: ci\n    provider: generic\n    secret: {{env: E2E_CI_SECRET}}\n  - name: ci-web\n    provider: generic-hmac\n    secret: {{env: E2E_CI_SECRET}}\n    repositories: [{host}/team/web]\npoll: {{interval: 1h}}\n",
            d = dir.display(),
            r = repo_path.display(),
        ),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        dir,
        registry,
        port,
        repo,
    }
}

fn tag_in(repo: &BareRepo, app: &str) -> Option<String> {
    let text = repo.read("main", &format!("apps/{app}/deployment.yaml"))?;
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("image:"))?;
    line.rsplit_once(':').map(|(_, t)| t.trim().to_string())
}

#[test]
fn registry_delivers_to_a_secret_stored_as_the_whole_header_and_replays_do_nothing() {
    let s = setup(&["web"], true);
    let svc = Service::start(&s.dir, s.port);
    // The real registry's notification authenticates: its push becomes a commit.
    rt().block_on(s.registry.push_image("team/web", "1.4.0"));
    wait_for(
        "the commit from the registry's delivery",
        Duration::from_secs(20),
        || (tag_in(&s.repo, "web")? == "1.4.0").then_some(()),
    );
    assert!(!svc.log().contains("webhook refused"), "{}", svc.log());

    // The same delivery twice: the second is a replay.
    let body = format!(
        r#"{{"events":[{{"id":"0b4c6c2e-e2e0-4f7e-9d3f-000000000001","action":"push","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/web","tag":"1.4.0","digest":"sha256:{}"}},"request":{{"host":"{}"}}}}]}}"#,
        "a".repeat(64),
        s.registry.host()
    );
    let auth = [("authorization", format!("Bearer {HOOK_TOKEN}"))];
    let (st, first) = svc.post("/hooks/registry", &auth, &body);
    assert_eq!(
        (st, &first["scheduled"]),
        (202, &serde_json::json!(1)),
        "{first}"
    );
    assert!(first.get("replayed").is_none(), "{first}");
    let (st, again) = svc.post("/hooks/registry", &auth, &body);
    assert_eq!(st, 202, "{again}");
    assert_eq!(again["scheduled"], 0, "{again}");
    assert_eq!(again["replayed"], true, "{again}");
    // A forged copy is refused, not taken for a replay.
    let (st, _) = svc.post(
        "/hooks/registry",
        &[("authorization", "Bearer forged".to_string())],
        &body,
    );
    assert_eq!(st, 401);
    let metrics = rt().block_on(async {
        reqwest::get(svc.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains(r#"imagebump_webhooks_total{receiver="registry",result="replayed"} 1"#),
        "{metrics}"
    );
}

#[test]
fn generic_delivery_without_a_body_rescans_every_watched_repository() {
    let s = setup(&["web", "api"], false);
    let svc = Service::start(&s.dir, s.port);
    rt().block_on(s.registry.push_image("team/web", "1.1.0"));
    rt().block_on(s.registry.push_image("team/api", "1.1.0"));
    // Flux-style: an empty POST to the secret URL.
    let (st, v) = svc.post(&format!("/hooks/ci/{CI_SECRET}"), &[], "");
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["scheduled"], 2, "{v}");
    assert_eq!(v["events"], serde_json::json!([]), "{v}");
    wait_for("both images bumped", Duration::from_secs(20), || {
        (tag_in(&s.repo, "web")? == "1.1.0" && tag_in(&s.repo, "api")? == "1.1.0").then_some(())
    });

    // generic-hmac with `repositories:`: any signed body rescans only those.
    rt().block_on(s.registry.push_image("team/web", "1.2.0"));
    rt().block_on(s.registry.push_image("team/api", "1.2.0"));
    let body = "rebuild requested by CI";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(CI_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (st, v) = svc.post("/hooks/ci-web", &[("x-signature", sig)], body);
    assert_eq!((st, &v["scheduled"]), (202, &serde_json::json!(1)), "{v}");
    wait_for("web bumped", Duration::from_secs(20), || {
        (tag_in(&s.repo, "web")? == "1.2.0").then_some(())
    });
    let (st, _) = svc.post(
        "/hooks/ci-web",
        &[("x-signature", "sha256=00".into())],
        body,
    );
    assert_eq!(st, 401);
}
