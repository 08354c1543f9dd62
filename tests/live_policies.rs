//! Live policies, end to end with real parts: the `imagebump run` binary, a Distribution
//! registry and a bare git repository over file://. A policy changed in the GitOps
//! repository (or in a local directory, or followed by SIGHUP) takes effect without a
//! restart; a broken one keeps the last good set and says so in the status and metrics.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::gitserver::{BareRepo, CliClone};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

/// A running `imagebump run`, killed on drop.
struct Service {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Service {
    fn start(dir: &Path, port: u16) -> Service {
        let log = dir.join("imagebump.log");
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Service { child, port, log };
        wait_for(&s, "ready", Duration::from_secs(30), || {
            (get(&s.url("/readyz"))?.0 == 200).then_some(())
        });
        s
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&get(&self.url("/api/v1/status")).unwrap().1).unwrap()
    }

    fn metrics(&self) -> String {
        get(&self.url("/metrics")).unwrap().1
    }

    fn hangup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::get(url).await.ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().await.ok()?))
    })
}

fn wait_for<T>(s: &Service, what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            std::fs::read_to_string(&s.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    )
}

fn policy(host: &str, range: &str) -> String {
    format!(
        "application: web\nimages:\n  - repository: {host}/team/web\n    semver: \"{range}\"\n    targets:\n      - manifest: apps/web/deployment.yaml\n"
    )
}

/// A broken policy: `semver` must be a string, and the range would not parse anyway.
const BROKEN: &str = "application: web\nimages:\n  - repository: nowhere/team/web\n    semver: [not, a, range]\n    targets:\n      - manifest: apps/web/deployment.yaml\n";

fn config(dir: &Path, port: u16, repo: &Path, host: &str, policies: &str) -> String {
    format!(
        "listen: 127.0.0.1:{port}\nstateDir: {}/state\npolicies: {policies}\ngit:\n  url: file://{}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {host}\n    insecure: true\npoll: {{interval: 1s}}\n",
        dir.display(),
        repo.display()
    )
}

fn generation(s: &Service) -> u64 {
    s.status()["policies"]["generation"].as_u64().unwrap()
}

fn deployed(repo: &BareRepo) -> String {
    repo.read("main", "apps/web/deployment.yaml").unwrap()
}

async fn push_tags(registry: &TestRegistry, tags: &[&str]) {
    for t in tags {
        registry.push_image("team/web", t).await;
    }
}

#[test]
fn a_policy_changed_in_the_gitops_repository_takes_effect_and_a_broken_one_keeps_the_last_good_set()
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    rt.block_on(push_tags(&registry, &["1.0.0", "1.4.0", "2.0.0"]));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo_path = dir.join("fleet.git");
    let image = format!("{host}/team/web");
    let repo = BareRepo::create_at(
        &repo_path,
        &[
            (
                "apps/web/deployment.yaml",
                &deployment(&format!("{image}:1.0.0")),
            ),
            ("platform/imagebump/web.yaml", &policy(&host, "~1.0")),
        ],
    );
    let port = free_port();
    std::fs::write(
        dir.join("imagebump.yaml"),
        config(
            dir,
            port,
            &repo_path,
            &host,
            "{repoPath: platform/imagebump}",
        ),
    )
    .unwrap();
    let svc = Service::start(dir, port);
    wait_for(&svc, "up to date at 1.0.0", Duration::from_secs(20), || {
        (svc.status()["images"][0]["state"] == "up_to_date").then_some(())
    });
    assert_eq!(generation(&svc), 1);
    assert!(deployed(&repo).contains(":1.0.0"));

    // A team widens the range with a commit next to its manifests: no restart.
    let clone = CliClone::new(&format!("file://{}", repo_path.display()));
    clone.commit_and_push(
        &[(
            "platform/imagebump/web.yaml",
            &policy(&host, ">=1.0.0 <2.0.0"),
        )],
        "web: follow 1.x",
    );
    wait_for(&svc, "the commit to 1.4.0", Duration::from_secs(20), || {
        deployed(&repo).contains(":1.4.0").then_some(())
    });
    assert_eq!(generation(&svc), 2);

    // A broken policy is merged: the last good set stays in effect, the status says why.
    clone.commit_and_push(&[("platform/imagebump/web.yaml", BROKEN)], "oops");
    let problems = wait_for(&svc, "the rejected reload", Duration::from_secs(20), || {
        let st = svc.status();
        (st["policies"]["lastResult"] == "invalid").then(|| st["policies"].clone())
    });
    assert_eq!(problems["generation"], 2, "{problems}");
    let listed = problems["problems"].to_string();
    assert!(listed.contains("platform/imagebump/web.yaml"), "{listed}");
    assert!(
        svc.metrics()
            .contains(r#"imagebump_policy_reloads_total{result="invalid"} 1"#),
        "{}",
        svc.metrics()
    );
    // Still the good set: a new 1.x tag is picked up by the next poll.
    rt.block_on(push_tags(&registry, &["1.5.0"]));
    wait_for(&svc, "the commit to 1.5.0", Duration::from_secs(20), || {
        deployed(&repo).contains(":1.5.0").then_some(())
    });
    assert_eq!(svc.status()["images"][0]["application"], "web");

    // A target naming a GitOps repository the service does not have is rejected too.
    let elsewhere = policy(&host, "*").replace(
        "manifest: apps/web/deployment.yaml",
        "{manifest: apps/web/deployment.yaml, git: elsewhere}",
    );
    clone.pull();
    clone.commit_and_push(&[("platform/imagebump/web.yaml", &elsewhere)], "move web");
    let problems = wait_for(
        &svc,
        "the rejected git name",
        Duration::from_secs(20),
        || {
            let st = svc.status();
            let p = st["policies"]["problems"].to_string();
            p.contains("elsewhere").then_some(p)
        },
    );
    assert!(
        problems.contains("platform/imagebump/web.yaml:6: web/web: git: \\\"elsewhere\\\" is not a GitOps repository"),
        "{problems}"
    );
    assert_eq!(generation(&svc), 2);
    assert!(deployed(&repo).contains(":1.5.0"));
}

#[test]
fn a_local_policies_directory_is_reloaded_on_change_and_on_sighup() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    rt.block_on(push_tags(&registry, &["1.0.0", "1.4.0"]));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo_path = dir.join("fleet.git");
    let image = format!("{host}/team/web");
    let repo = BareRepo::create_at(
        &repo_path,
        &[(
            "apps/web/deployment.yaml",
            &deployment(&format!("{image}:1.0.0")),
        )],
    );
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let file = dir.join("policies/web.yaml");
    std::fs::write(&file, policy(&host, "~1.0")).unwrap();
    let port = free_port();
    let policies = format!("{}/policies", dir.display());
    std::fs::write(
        dir.join("imagebump.yaml"),
        config(dir, port, &repo_path, &host, &policies),
    )
    .unwrap();
    let svc = Service::start(dir, port);
    wait_for(&svc, "up to date at 1.0.0", Duration::from_secs(20), || {
        (svc.status()["images"][0]["state"] == "up_to_date").then_some(())
    });

    // Changed on disk: reloaded without a signal.
    std::fs::write(&file, policy(&host, ">=1.0.0 <2.0.0")).unwrap();
    wait_for(&svc, "the commit to 1.4.0", Duration::from_secs(20), || {
        deployed(&repo).contains(":1.4.0").then_some(())
    });
    assert_eq!(generation(&svc), 2);

    // Broken on disk: kept, with the problem named.
    std::fs::write(&file, BROKEN).unwrap();
    let st = wait_for(&svc, "the rejected reload", Duration::from_secs(20), || {
        let st = svc.status();
        (st["policies"]["lastResult"] == "invalid").then_some(st)
    });
    assert_eq!(st["policies"]["generation"], 2);
    assert!(
        st["policies"]["problems"].to_string().contains("web.yaml"),
        "{st}"
    );
    assert_eq!(
        st["images"][0]["application"], "web",
        "the last good set still shows"
    );

    // Fixed, then SIGHUP with nothing changed since: SIGHUP always reloads.
    std::fs::write(&file, policy(&host, ">=1.0.0 <2.0.0")).unwrap();
    wait_for(&svc, "generation 3", Duration::from_secs(20), || {
        (generation(&svc) == 3).then_some(())
    });
    svc.hangup();
    wait_for(
        &svc,
        "generation 4 after SIGHUP",
        Duration::from_secs(20),
        || (generation(&svc) == 4).then_some(()),
    );
}

/// `validate` accepts `policies: {repoPath}`: with `--repo` it checks the policies in that
/// checkout (a broken one is exit 2 naming it); without, it says it cannot.
#[test]
fn validate_checks_in_repo_policies_in_the_checkout_repo_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let write = |p: &str, text: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "imagebump.yaml",
        "policies: {repoPath: platform/imagebump}\n",
    );
    write(
        "fleet/apps/web/deployment.yaml",
        &deployment("r.example/team/web:1.0.0"),
    );
    write("fleet/platform/imagebump/web.yaml", BROKEN);
    let r = support::cli::run(
        root,
        &["validate", "--config", "imagebump.yaml", "--repo", "fleet"],
        &[],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("platform/imagebump/web.yaml"), "{r:?}");
    write(
        "fleet/platform/imagebump/web.yaml",
        &policy("r.example", "~1.0"),
    );
    let r = support::cli::run(
        root,
        &["validate", "--config", "imagebump.yaml", "--repo", "fleet"],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = support::cli::run(root, &["validate", "--config", "imagebump.yaml"], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("--repo"), "{r:?}");
    write("bad.yaml", "policies: {repoPath: ../outside}\n");
    let r = support::cli::run(root, &["validate", "--config", "bad.yaml"], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("inside the GitOps repository"), "{r:?}");
}
