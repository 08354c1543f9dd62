//! The service end to end, with real parts only: the `imagebump run` binary, a CNCF
//! Distribution registry whose notifications point at it, and bare git repositories
//! (file:// and smart HTTP via nginx + git-http-backend).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::gitserver::{BareRepo, HttpGitServer};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};
use support::service::{Service, SECRET};

/// The runtime for reqwest's async client (the crate has no blocking feature).
mod reqwest {
    pub use super::support::service::rt;
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app   # keep this comment\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{image}\"   # bumped by imagebump\n          ports: [{{containerPort: 80}}]\n"
    )
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    registry: TestRegistry,
    port: u16,
}

/// A registry notifying a service port, and a config for that service writing to `git_url`.
fn setup(git_url: &str, git_credentials: bool, images: &[(&str, &str)]) -> Setup {
    setup_with(git_url, git_credentials, images, true)
}

/// Like [`setup`]; `notify: false` gives a registry that sends no notifications, so a
/// test can deliver webhooks itself.
fn setup_with(
    git_url: &str,
    git_credentials: bool,
    images: &[(&str, &str)],
    notify: bool,
) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let port = free_port();
    let mut opts = TestRegistryOptions::default();
    if notify {
        opts = opts.with_notifications(
            &format!("http://127.0.0.1:{port}/hooks/registry"),
            Some(&format!("Bearer {SECRET}")),
        );
    }
    let registry = TestRegistry::start(opts);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    for (app, range) in images {
        std::fs::write(
            dir.join(format!("policies/{app}.yaml")),
            format!(
                "application: {app}\nimages:\n  - repository: {}/team/{app}\n    semver: \"{range}\"\n    targets:\n      - manifest: apps/{app}/deployment.yaml\n",
                registry.host()
            ),
        )
        .unwrap();
    }
    let creds = if git_credentials {
        "\n  credentials: {username: {env: E2E_GIT_USER}, password: {env: E2E_GIT_PASSWORD}}"
    } else {
        ""
    };
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\nstateDir: {}/state\npolicies: {}/policies\ngit:\n  url: {git_url}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}{creds}\nregistries:\n  - host: {}\n    insecure: true\nreceivers:\n  - name: registry\n    provider: distribution\n    secret: {{env: E2E_WEBHOOK_SECRET}}\npoll: {{interval: 1h}}\n",
            dir.display(),
            dir.display(),
            registry.host()
        ),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        dir,
        registry,
        port,
    }
}

/// [`setup_with`] writing to a bare repository at `<temp>/fleet.git` over file://; the
/// repository itself is created by the test, once the registry host is known.
fn setup_file(images: &[(&str, &str)], notify: bool) -> (tempfile::TempDir, PathBuf, Setup) {
    let tmp = tempfile::tempdir().unwrap();
    let repo_path = tmp.path().join("fleet.git");
    let s = setup_with(
        &format!("file://{}", repo_path.display()),
        false,
        images,
        notify,
    );
    (tmp, repo_path, s)
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

#[test]
fn registry_push_becomes_a_commit_with_only_the_image_bytes_changed_file() {
    let rt = reqwest::rt();
    // The repository is seeded after the registry is up, since file content names its host.
    let (_tmp_repo, repo_path, s) = setup_file(&[("web", ">=1.0.0 <2.0.0")], true);
    let image = format!("{}/team/web", s.registry.host());
    let before = deployment(&format!("{image}:1.0.0"));
    let repo = BareRepo::create_at(
        &repo_path,
        &[
            ("apps/web/deployment.yaml", &before),
            ("README.md", "fleet\n"),
        ],
    );
    rt.block_on(s.registry.push_image("team/web", "1.0.0"));
    let mut svc = Service::start(&s.dir, s.port);
    let base = repo.head("main").unwrap();

    rt.block_on(s.registry.push_image("team/web", "2.0.0")); // outside the range
    rt.block_on(s.registry.push_image("team/web", "1.4.0"));
    let after = wait_for("the commit", Duration::from_secs(20), || {
        let text = repo.read("main", "apps/web/deployment.yaml")?;
        text.contains(":1.4.0").then_some(text)
    });
    assert_eq!(
        after,
        before.replace(":1.0.0\"", ":1.4.0\""),
        "only the tag bytes change"
    );
    assert!(repo.is_ancestor(&base, "main"));
    assert_eq!(repo.tip_author("main"), "imagebump <bot@example.com>");
    assert_eq!(
        repo.tip_changed_files("main"),
        vec!["apps/web/deployment.yaml".to_string()]
    );

    // A forged delivery: 401 and nothing changes.
    let commits = repo.commit_count("main");
    let body = format!(
        r#"{{"events":[{{"action":"push","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/web","tag":"1.9.0","digest":"sha256:{}"}},"request":{{"host":"{}"}}}}]}}"#,
        "a".repeat(64),
        s.registry.host()
    );
    let status = rt.block_on(async {
        ::reqwest::Client::new()
            .post(svc.url("/hooks/registry"))
            .header("authorization", "Bearer forged")
            .header(
                "content-type",
                "application/vnd.docker.distribution.events.v1+json",
            )
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 401);
    // An authentic delivery for a tag the registry does not have: 202, but no commit.
    let (status, answer) = rt.block_on(async {
        let r = ::reqwest::Client::new()
            .post(svc.url("/hooks/registry"))
            .header("authorization", format!("Bearer {SECRET}"))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains(r#""scheduled":1"#), "{answer}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        repo.commit_count("main"),
        commits,
        "a tag the registry lacks changes nothing"
    );
    assert!(repo
        .read("main", "apps/web/deployment.yaml")
        .unwrap()
        .contains(":1.4.0"));

    // Status API and metrics show what happened.
    let status_json = rt.block_on(async {
        ::reqwest::get(svc.url("/api/v1/status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        status_json.contains(r#""current":"1.4.0""#),
        "{status_json}"
    );
    // Once the rescan the unknown tag caused is done, the status says why nothing moved.
    wait_for(
        "'no newer tag' in the status",
        Duration::from_secs(10),
        || {
            let body = rt.block_on(async {
                ::reqwest::get(svc.url("/api/v1/status"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()
            })?;
            body.contains("no newer tag than 1.4.0").then_some(())
        },
    );
    let metrics = rt.block_on(async {
        ::reqwest::get(svc.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics
            .contains(r#"imagebump_webhooks_total{receiver="registry",result="unauthorized"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("imagebump_webhook_to_commit_seconds_count"),
        "{metrics}"
    );
    svc.stop();
}

#[test]
fn startup_sync_catches_a_push_made_while_the_service_was_down() {
    let rt = reqwest::rt();
    let (_tmp_repo, repo_path, s) = setup_file(&[("api", "^3.0.0")], true);
    let image = format!("{}/team/api", s.registry.host());
    let repo = BareRepo::create_at(
        &repo_path,
        &[(
            "apps/api/deployment.yaml",
            &deployment(&format!("{image}:3.0.0")),
        )],
    );
    rt.block_on(s.registry.push_image("team/api", "3.0.0"));
    let mut svc = Service::start(&s.dir, s.port);
    svc.stop();
    // Pushed while down: the registry's notification goes nowhere.
    rt.block_on(s.registry.push_image("team/api", "3.2.1"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(repo
        .read("main", "apps/api/deployment.yaml")
        .unwrap()
        .contains(":3.0.0"));
    // Notifications go to a small collecting HTTP endpoint; logs are JSON this time.
    let notified = Collector::start();
    let mut cfg = std::fs::read_to_string(s.dir.join("imagebump.yaml")).unwrap();
    let url_file = s.dir.join("notify-url");
    std::fs::write(&url_file, notified.url()).unwrap();
    cfg.push_str(&format!(
        "notifications:\n  - url: {{file: {0}}}\n  - url: {{file: {0}}}\n    format: slack\n",
        url_file.display()
    ));
    std::fs::write(s.dir.join("imagebump.yaml"), cfg).unwrap();
    let svc = Service::start_with(&s.dir, s.port, &["--log-format", "json"]);
    wait_for("the start-up sync commit", Duration::from_secs(20), || {
        repo.read("main", "apps/api/deployment.yaml")?
            .contains(":3.2.1")
            .then_some(())
    });
    let bodies = wait_for("two notifications", Duration::from_secs(10), || {
        let b = notified.bodies();
        (b.len() >= 2).then_some(b)
    });
    let generic = bodies
        .iter()
        .find(|b| b.contains(r#""event":"commit""#))
        .expect("generic notice");
    let v: serde_json::Value = serde_json::from_str(generic).unwrap();
    assert_eq!(v["changes"][0]["application"], "api");
    assert_eq!(v["changes"][0]["file"], "apps/api/deployment.yaml");
    assert_eq!(v["commit"].as_str().unwrap(), repo.head("main").unwrap());
    let slack = bodies
        .iter()
        .find(|b| b.contains(r#""text""#))
        .expect("slack notice");
    assert!(slack.contains("api/api"), "{slack}");
    // Every log line is one JSON object.
    let log = svc.log();
    assert!(log.lines().count() >= 2, "{log}");
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

/// Collects HTTP request bodies (the notification receiver; not a registry).
struct Collector {
    port: u16,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Collector {
    fn start() -> Collector {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_ok() {
                    out.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Collector { port, bodies }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/notify", self.port)
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

#[test]
fn smart_http_with_basic_auth() {
    let rt = reqwest::rt();
    let server = HttpGitServer::start("gituser", "gitpass");
    let port_repo_name = "fleet.git";
    // Seeded after the registry exists, since the file names its host.
    let s = setup(&server.url(port_repo_name), true, &[("svc", "~1.2")]);
    let image = format!("{}/team/svc", s.registry.host());
    let notified = Collector::start();
    let url_file = s.dir.join("notify-url");
    std::fs::write(&url_file, notified.url()).unwrap();
    let mut cfg = std::fs::read_to_string(s.dir.join("imagebump.yaml")).unwrap();
    cfg.push_str(&format!(
        "notifications:\n  - url: {{file: {}}}\n",
        url_file.display()
    ));
    std::fs::write(s.dir.join("imagebump.yaml"), cfg).unwrap();
    let repo = server.create_repo(
        port_repo_name,
        &[(
            "apps/svc/deployment.yaml",
            &deployment(&format!("{image}:1.2.0")),
        )],
    );
    rt.block_on(s.registry.push_image("team/svc", "1.2.0"));
    let svc = Service::start(&s.dir, s.port);
    rt.block_on(s.registry.push_image("team/svc", "1.2.7"));
    wait_for(
        "the commit over smart HTTP",
        Duration::from_secs(20),
        || {
            repo.read("main", "apps/svc/deployment.yaml")?
                .contains(":1.2.7")
                .then_some(())
        },
    );

    // The server starts refusing pushes: the wish is kept, the status says why, and once
    // pushes are accepted again the commit lands without another registry event.
    repo.reject_pushes("branch is frozen");
    rt.block_on(s.registry.push_image("team/svc", "1.2.9"));
    let status = wait_for(
        "push failing in the status",
        Duration::from_secs(20),
        || {
            let body = rt.block_on(async {
                ::reqwest::get(svc.url("/api/v1/status"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()
            })?;
            body.contains("push failing").then_some(body)
        },
    );
    // The server's own words (the pre-receive hook's output), not only "declined".
    assert!(status.contains("branch is frozen"), "{status}");
    assert!(repo
        .read("main", "apps/svc/deployment.yaml")
        .unwrap()
        .contains(":1.2.7"));
    // Failing on: after three failed writes in a row, a failure notice goes out.
    let failure = wait_for("a failure notification", Duration::from_secs(30), || {
        notified
            .bodies()
            .into_iter()
            .find(|b| b.contains(r#""event":"failure""#))
    });
    assert!(failure.contains("branch is frozen"), "{failure}");
    assert!(!failure.contains("gitpass"), "{failure}");
    assert!(
        svc.log()
            .lines()
            .any(|l| l.contains("rejected") && l.contains("branch is frozen")),
        "{}",
        svc.log()
    );
    repo.accept_pushes();
    wait_for("the retried commit", Duration::from_secs(30), || {
        repo.read("main", "apps/svc/deployment.yaml")?
            .contains(":1.2.9")
            .then_some(())
    });
}

#[test]
fn burst_of_1000_webhooks_for_100_images_coalesces() {
    let rt = reqwest::rt();
    let apps: Vec<String> = (0..100).map(|i| format!("app{i:03}")).collect();
    let specs: Vec<(&str, &str)> = apps.iter().map(|a| (a.as_str(), ">=1.0.0")).collect();
    // The test delivers the burst itself; registry notifications during the pushes
    // would be real releases trickling in over seconds, not a burst.
    let (_tmp_repo, repo_path, s) = setup_file(&specs, false);
    let files: Vec<(String, String)> = apps
        .iter()
        .map(|a| {
            (
                format!("apps/{a}/deployment.yaml"),
                deployment(&format!("{}/team/{a}:1.0.0", s.registry.host())),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = BareRepo::create_at(&repo_path, &refs);
    for a in &apps {
        rt.block_on(s.registry.push_image(&format!("team/{a}"), "1.0.0"));
    }
    let svc = Service::start(&s.dir, s.port);
    // Let the start-up sync settle (nothing to change), then count commits from here.
    std::thread::sleep(Duration::from_millis(500));
    let commits_before = repo.commit_count("main");
    // Ten new tags per image in the registry, then 1,000 deliveries in about a second.
    for a in &apps {
        let tags: Vec<String> = (1..=10).map(|p| format!("1.0.{p}")).collect();
        rt.block_on(s.registry.push_tags(&format!("team/{a}"), &tags));
    }
    let host = s.registry.host();
    let url = svc.url("/hooks/registry");
    let statuses: Vec<u16> = rt.block_on(async {
        use futures::StreamExt;
        let client = ::reqwest::Client::new();
        let started = Instant::now();
        let out = futures::stream::iter((0..1000).map(|i| {
            let body = format!(
                r#"{{"events":[{{"action":"push","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"team/{}","tag":"1.0.{}"}},"request":{{"host":"{host}"}}}}]}}"#,
                apps[i % 100],
                i / 100 + 1
            );
            let client = client.clone();
            let url = url.clone();
            async move {
                client
                    .post(url)
                    .header("authorization", format!("Bearer {SECRET}"))
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        }))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
        eprintln!("1000 webhooks sent in {:?}", started.elapsed());
        out
    });
    assert!(
        statuses.iter().all(|s| *s == 202),
        "not all 202: {:?}",
        statuses
            .iter()
            .filter(|s| **s != 202)
            .take(5)
            .collect::<Vec<_>>()
    );
    wait_for("every image at 1.0.10", Duration::from_secs(60), || {
        apps.iter()
            .all(|a| {
                repo.read("main", &format!("apps/{a}/deployment.yaml"))
                    .is_some_and(|t| t.contains(":1.0.10\""))
            })
            .then_some(())
    });
    let commits = repo.commit_count("main") - commits_before;
    eprintln!("burst produced {commits} commits");
    assert!(
        commits <= 10,
        "{commits} commits for one burst; expected a handful\n{}",
        svc.log()
    );
    // Every file changed only in its tag.
    for (path, content) in &files {
        assert_eq!(
            repo.read("main", path).unwrap(),
            content.replace(":1.0.0\"", ":1.0.10\"")
        );
    }
}
