//! Live reload of the config file, end to end with real parts: the `imagebump run`
//! binary, a Distribution registry and bare git repositories over file://. An edited
//! `imagebump.yaml` (or a ConfigMap's `..data` swap, or SIGHUP) takes effect without a
//! restart; a broken one keeps the last good config and says so; keys a running service
//! cannot take are reported as `restartNeeded` and not applied.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imagebump_testbed::standin::{Resp, StandInServer};
use support::gitserver::BareRepo;
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

/// A running `imagebump run`, killed on drop.
struct Service {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Service {
    fn start(config: &Path, port: u16) -> Service {
        let log = config.with_extension("log");
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["run", "--config"])
            .arg(config)
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Service { child, port, log };
        s.wait_for("ready", || (get(&s.url("/readyz"))?.0 == 200).then_some(()));
        s
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&get(&self.url("/api/v1/status")).unwrap().1).unwrap()
    }

    fn config_generation(&self) -> u64 {
        self.status()["config"]["generation"].as_u64().unwrap()
    }

    fn metrics(&self) -> String {
        get(&self.url("/metrics")).unwrap().1
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POSTs an empty body to `/hooks/{name}/{secret}`; the status code.
    fn hook(&self, name: &str, secret: &str) -> u16 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            reqwest::Client::new()
                .post(self.url(&format!("/hooks/{name}/{secret}")))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    }

    fn hangup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    }

    /// Polls `f` until it answers, for at most 30 s.
    fn wait_for<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    )
}

fn policy(host: &str) -> String {
    format!(
        "application: web\nimages:\n  - repository: {host}/team/web\n    semver: \">=1.0.0 <2.0.0\"\n    targets:\n      - manifest: apps/web/deployment.yaml\n"
    )
}

/// A fleet repository at 1.0.0, a policy following 1.x in `dir/policies`.
struct Fleet {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    repo: BareRepo,
    registry: TestRegistry,
    port: u16,
}

impl Fleet {
    fn new(opts: TestRegistryOptions, tags: &[&str]) -> Fleet {
        let registry = TestRegistry::start(opts);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            for t in tags {
                registry.push_image("team/web", t).await;
            }
        });
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let image = format!("{}/team/web:1.0.0", registry.host());
        let repo = BareRepo::create_at(
            &dir.join("fleet.git"),
            &[("apps/web/deployment.yaml", &deployment(&image))],
        );
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        std::fs::write(dir.join("policies/web.yaml"), policy(&registry.host())).unwrap();
        Fleet {
            _tmp: tmp,
            dir,
            repo,
            registry,
            port: free_port(),
        }
    }

    /// The config, writing to `git_url`, with `extra` appended.
    fn config(&self, git_url: &str, extra: &str) -> String {
        format!(
            "listen: 127.0.0.1:{}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: {git_url}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\npoll: {{interval: 1s}}\n{extra}",
            self.port,
            d = self.dir.display()
        )
    }

    fn registries(&self, password_file: &Path) -> String {
        format!(
            "registries:\n  - host: {}\n    insecure: true\n    credentials: {{username: {{file: {d}/user}}, password: {{file: {}}}}}\n",
            self.registry.host(),
            password_file.display(),
            d = self.dir.display()
        )
    }

    fn insecure(&self) -> String {
        format!(
            "registries:\n  - host: {}\n    insecure: true\n",
            self.registry.host()
        )
    }

    fn deployed(&self) -> String {
        self.repo.read("main", "apps/web/deployment.yaml").unwrap()
    }

    async fn push(&self, tag: &str) {
        self.registry.push_image("team/web", tag).await;
    }
}

/// Writes `text` to `path` as an editor does: a new file renamed over the old one.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn an_added_receiver_answers_and_a_broken_config_keeps_the_last_good_one() {
    let f = Fleet::new(TestRegistryOptions::default(), &["1.0.0"]);
    // A chat webhook stand-in: only the notification target is not a real part.
    let hooks = StandInServer::start(|_| Resp::status(200));
    let notify = format!(
        "notifications:\n  - url: {{file: {}/notify-url}}\n",
        f.dir.display()
    );
    std::fs::write(
        f.dir.join("notify-url"),
        format!("http://{}/chat", hooks.host()),
    )
    .unwrap();
    std::fs::write(f.dir.join("hook-secret"), "s3cret\n").unwrap();
    let path = f.dir.join("imagebump.yaml");
    let base = f.config(&f.repo.file_url(), &format!("{}{notify}", f.insecure()));
    std::fs::write(&path, &base).unwrap();
    let svc = Service::start(&path, f.port);
    assert_eq!(svc.hook("ci", "s3cret"), 404, "no receiver ci yet");
    assert_eq!(svc.config_generation(), 1);

    let receiver = |name: &str, secret: &str| {
        format!(
            "  - {{name: {name}, provider: generic, secret: {{file: {}/{secret}}}}}\n",
            f.dir.display()
        )
    };
    save(
        &path,
        &format!("{base}receivers:\n{}", receiver("ci", "hook-secret")),
    );
    svc.wait_for("config generation 2", || {
        (svc.config_generation() == 2).then_some(())
    });
    assert_eq!(svc.hook("ci", "s3cret"), 202);
    assert_eq!(svc.hook("ci", "wrong"), 401);
    assert_eq!(svc.status()["config"]["lastResult"], "ok");

    // Not a config: kept, and reported in the status, the metric, the log and a notice.
    save(
        &path,
        &format!("{base}receivers:\n  - {{name: ci, provider: nope}}\n"),
    );
    let st = svc.wait_for("the rejected reload", || {
        let st = svc.status();
        (st["config"]["lastResult"] == "invalid").then_some(st)
    });
    assert_eq!(st["config"]["generation"], 2, "{st}");
    let problems = st["config"]["problems"].to_string();
    assert!(problems.contains("imagebump.yaml"), "{problems}");
    assert!(
        svc.metrics()
            .contains(r#"imagebump_config_reloads_total{result="invalid"} 1"#),
        "{}",
        svc.metrics()
    );
    assert!(
        svc.metrics()
            .contains(r#"imagebump_config_reloads_total{result="ok"} 1"#),
        "{}",
        svc.metrics()
    );
    svc.wait_for("the notification", || {
        (hooks.count("/chat") >= 1).then_some(())
    });
    assert!(
        svc.log().contains("config reload rejected"),
        "{}",
        svc.log()
    );
    assert_eq!(
        svc.hook("ci", "s3cret"),
        202,
        "the last good receivers answer"
    );

    // Valid YAML, but a secret that cannot be read: nothing of it is applied, not even
    // the removal of `ci` that came with it.
    save(
        &path,
        &format!("{base}receivers:\n{}", receiver("ci2", "missing")),
    );
    let st = svc.wait_for("the second rejected reload", || {
        let st = svc.status();
        st["config"]["problems"]
            .to_string()
            .contains("ci2")
            .then_some(st)
    });
    assert_eq!(st["config"]["generation"], 2, "{st}");
    assert_eq!(svc.hook("ci", "s3cret"), 202);
    assert_eq!(svc.hook("ci2", "s3cret"), 404);
}

#[test]
fn a_configmap_data_swap_is_seen_and_sighup_reloads() {
    let f = Fleet::new(TestRegistryOptions::default(), &["1.0.0"]);
    std::fs::write(f.dir.join("hook-secret"), "s3cret\n").unwrap();
    // A ConfigMap volume: imagebump.yaml -> ..data/imagebump.yaml, ..data -> ..v1.
    let cm = f.dir.join("configmap");
    let version = |name: &str, text: &str| {
        std::fs::create_dir_all(cm.join(name)).unwrap();
        std::fs::write(cm.join(name).join("imagebump.yaml"), text).unwrap();
    };
    let base = f.config(&f.repo.file_url(), &f.insecure());
    version("..v1", &base);
    std::os::unix::fs::symlink("..v1", cm.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/imagebump.yaml", cm.join("imagebump.yaml")).unwrap();
    let svc = Service::start(&cm.join("imagebump.yaml"), f.port);
    assert_eq!(svc.hook("ci", "s3cret"), 404);

    // kubelet's update: a new version directory, then `..data` renamed onto it.
    version(
        "..v2",
        &format!(
            "{base}receivers:\n  - {{name: ci, provider: generic, secret: {{file: {}/hook-secret}}}}\n",
            f.dir.display()
        ),
    );
    std::os::unix::fs::symlink("..v2", cm.join("..data_tmp")).unwrap();
    std::fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    svc.wait_for("config generation 2", || {
        (svc.config_generation() == 2).then_some(())
    });
    assert_eq!(svc.hook("ci", "s3cret"), 202);

    // SIGHUP with nothing changed reloads the config and the policies.
    let policies = svc.status()["policies"]["generation"].as_u64().unwrap();
    svc.hangup();
    svc.wait_for("config generation 3 after SIGHUP", || {
        (svc.config_generation() == 3).then_some(())
    });
    svc.wait_for("a policy reload after SIGHUP", || {
        (svc.status()["policies"]["generation"].as_u64() == Some(policies + 1)).then_some(())
    });
    assert_eq!(svc.hook("ci", "s3cret"), 202);
}

#[test]
fn a_changed_git_url_needs_a_restart_and_the_old_repository_is_still_written() {
    let f = Fleet::new(TestRegistryOptions::default(), &["1.0.0"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let other = BareRepo::create_at(
        &f.dir.join("other.git"),
        &[("apps/web/deployment.yaml", &deployment("x/team/web:0.1.0"))],
    );
    let path = f.dir.join("imagebump.yaml");
    std::fs::write(&path, f.config(&f.repo.file_url(), &f.insecure())).unwrap();
    let svc = Service::start(&path, f.port);
    svc.wait_for("up to date at 1.0.0", || {
        (svc.status()["images"][0]["state"] == "up_to_date").then_some(())
    });

    // The URL changes and, with it, the batch window (which applies live).
    save(
        &path,
        &format!(
            "{}batchWindow: 1s\n",
            f.config(&other.file_url(), &f.insecure())
        ),
    );
    let st = svc.wait_for("config generation 2", || {
        let st = svc.status();
        (st["config"]["generation"] == 2).then_some(st)
    });
    assert_eq!(
        st["config"]["restartNeeded"],
        serde_json::json!(["git"]),
        "{st}"
    );
    assert!(
        svc.log().contains("take effect only after a restart"),
        "{}",
        svc.log()
    );
    rt.block_on(f.push("1.4.0"));
    svc.wait_for("the commit to 1.4.0 in the old repository", || {
        f.deployed().contains(":1.4.0").then_some(())
    });
    assert!(
        other
            .read("main", "apps/web/deployment.yaml")
            .unwrap()
            .contains(":0.1.0"),
        "the new URL is not written before a restart"
    );
}

#[test]
fn a_rotated_registry_password_in_a_changed_registries_entry_takes_effect() {
    let f = Fleet::new(
        TestRegistryOptions::htpasswd("alice", "new-pass"),
        &["1.0.0", "1.4.0"],
    );
    std::fs::write(f.dir.join("user"), "alice\n").unwrap();
    let (old, new) = (f.dir.join("old-password"), f.dir.join("new-password"));
    std::fs::write(&old, "old-pass\n").unwrap();
    std::fs::write(&new, "new-pass\n").unwrap();
    let path = f.dir.join("imagebump.yaml");
    std::fs::write(&path, f.config(&f.repo.file_url(), &f.registries(&old))).unwrap();
    let svc = Service::start(&path, f.port);
    svc.wait_for("the refused listing", || {
        let st = svc.status();
        (st["images"][0]["state"] == "failed").then_some(())
    });
    assert!(f.deployed().contains(":1.0.0"));

    // The entry now names the new password's file: the next scan lists with it.
    save(&path, &f.config(&f.repo.file_url(), &f.registries(&new)));
    svc.wait_for("the commit to 1.4.0", || {
        f.deployed().contains(":1.4.0").then_some(())
    });
    let st = svc.status();
    assert_eq!(st["config"]["generation"], 2, "{st}");
    assert_eq!(st["config"]["restartNeeded"], serde_json::json!([]), "{st}");
}

#[test]
fn policies_pointed_at_another_directory_are_read_and_followed_from_there() {
    let f = Fleet::new(TestRegistryOptions::default(), &["1.0.0", "1.4.0", "2.0.0"]);
    let narrow = policy(&f.registry.host()).replace(">=1.0.0 <2.0.0", "~1.0");
    std::fs::write(f.dir.join("policies/web.yaml"), &narrow).unwrap();
    let path = f.dir.join("imagebump.yaml");
    let base = f.config(&f.repo.file_url(), &f.insecure());
    std::fs::write(&path, &base).unwrap();
    let svc = Service::start(&path, f.port);
    svc.wait_for("up to date at 1.0.0", || {
        (svc.status()["images"][0]["state"] == "up_to_date").then_some(())
    });

    // A second directory follows 1.x: pointing `policies:` there commits 1.4.0.
    let second = f.dir.join("policies-2");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(second.join("web.yaml"), policy(&f.registry.host())).unwrap();
    let old = format!("policies: {}/policies\n", f.dir.display());
    let moved = base.replace(&old, &format!("policies: {}\n", second.display()));
    assert_ne!(moved, base);
    save(&path, &moved);
    svc.wait_for("the commit to 1.4.0", || {
        f.deployed().contains(":1.4.0").then_some(())
    });
    let st = svc.status();
    assert_eq!(st["config"]["restartNeeded"], serde_json::json!([]), "{st}");
    let generation = st["policies"]["generation"].as_u64().unwrap();

    // The old directory is no longer followed; the new one is.
    std::fs::write(f.dir.join("policies/web.yaml"), "not: a policy\n").unwrap();
    std::fs::write(
        second.join("web.yaml"),
        policy(&f.registry.host()).replace(">=1.0.0 <2.0.0", ">=1.0.0"),
    )
    .unwrap();
    svc.wait_for("the commit to 2.0.0", || {
        f.deployed().contains(":2.0.0").then_some(())
    });
    let st = svc.status();
    assert_eq!(st["policies"]["lastResult"], "ok", "{st}");
    assert_eq!(st["policies"]["generation"], generation + 1, "{st}");

    // A directory with problems is refused with the whole config.
    let third = f.dir.join("policies-3");
    std::fs::create_dir_all(&third).unwrap();
    std::fs::write(third.join("web.yaml"), "not: a policy\n").unwrap();
    save(
        &path,
        &base.replace(&old, &format!("policies: {}\n", third.display())),
    );
    let st = svc.wait_for("the rejected reload", || {
        let st = svc.status();
        (st["config"]["lastResult"] == "invalid").then_some(st)
    });
    assert!(
        st["config"]["problems"].to_string().contains("policies-3"),
        "{st}"
    );
    assert_eq!(st["policies"]["generation"], generation + 1, "{st}");
}
