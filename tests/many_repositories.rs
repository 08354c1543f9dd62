//! Issue 12, "many repositories" and the `branch` write mode, from the user's side: the
//! real binary, a real CNCF Distribution registry, one GitOps repository over `file://`
//! and one over smart HTTP (nginx + git-http-backend). One service writes to both; a
//! repository that cannot be reached does not stop the other; `plan` shows each; `validate`
//! refuses a target naming an unknown repository or none; `write: {branch}` keeps its
//! branch on the base branch's tip after a person commits there.

mod support;

use std::path::Path;

use support::cli::Run;
use support::gitserver::{git, BareRepo, CliClone, HttpGitServer};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

fn imagebump(cwd: &Path, args: &[&str]) -> Run {
    support::cli::run(
        cwd,
        args,
        &[("IMAGEBUMP_LOG", "warn"), ("GIT_PASS", "s3cret-Token")],
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn pod(host: &str, repo: &str, tag: &str) -> String {
    format!("kind: Pod\nspec:\n  containers:\n    - image: {host}/{repo}:{tag}\n")
}

struct Fleet {
    _tmp: tempfile::TempDir,
    _registry: TestRegistry,
    _http: HttpGitServer,
    host: String,
    dir: std::path::PathBuf,
    prod: BareRepo,
    dev: BareRepo,
}

impl Fleet {
    fn config(&self) -> String {
        self.dir.join("imagebump.yaml").display().to_string()
    }
}

/// `web` goes to both repositories, `api` only to dev; 1.1.0 deployed, 1.2.0 pushed.
fn fleet(prod_write: &str) -> Fleet {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    rt().block_on(async {
        for r in ["team/web", "team/api"] {
            registry.push_image(r, "1.1.0").await;
            registry.push_image(r, "1.2.0").await;
        }
    });
    let prod = BareRepo::create_at(
        &dir.join("prod.git"),
        &[("apps/web.yaml", &pod(&h, "team/web", "1.1.0"))],
    );
    let http = HttpGitServer::start("robot", "s3cret-Token");
    let dev = http.create_repo(
        "dev",
        &[
            ("web.yaml", &pod(&h, "team/web", "1.1.0")),
            ("api.yaml", &pod(&h, "team/api", "1.1.0")),
        ],
    );
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!(
            "application: shop\nimages:\n  - name: web\n    repository: {h}/team/web\n    semver: '*'\n    targets:\n      - {{manifest: apps/web.yaml, git: prod}}\n      - {{manifest: web.yaml, git: dev}}\n  - name: api\n    repository: {h}/team/api\n    semver: '*'\n    targets:\n      - {{manifest: api.yaml, git: dev}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  - name: prod\n    url: file://{d}/prod.git\n    author: {{name: imagebump, email: bot@example.com}}\n{prod_write}  - name: dev\n    url: {dev}\n    credentials: {{username: {{env: GIT_USER_UNSET_DEFAULTS}}, password: {{env: GIT_PASS}}}}\n    author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {h}\n    insecure: true\n",
            d = dir.display(),
            dev = http.url("dev"),
        )
        .replace("{env: GIT_USER_UNSET_DEFAULTS}", "{env: GIT_USER}"),
    )
    .unwrap();
    Fleet {
        _tmp: tmp,
        _registry: registry,
        _http: http,
        host: h,
        dir,
        prod,
        dev,
    }
}

fn with_user(f: &Fleet, args: &[&str]) -> Run {
    support::cli::run(
        &f.dir,
        args,
        &[
            ("IMAGEBUMP_LOG", "warn"),
            ("GIT_USER", "robot"),
            ("GIT_PASS", "s3cret-Token"),
        ],
    )
}

#[test]
fn one_service_commits_to_each_repository_and_plan_shows_each() {
    let f = fleet("");
    let cfg = f.config();
    let r = with_user(&f, &["validate", "--config", &cfg]);
    assert_eq!(r.code, 0, "{r:?}");

    let r = with_user(&f, &["plan", "--config", &cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    let prod_at = r.stdout.find("# git: prod").expect("a prod section");
    let dev_at = r.stdout.find("# git: dev").expect("a dev section");
    assert!(prod_at < dev_at, "config order: {r:?}");
    assert!(r.stdout[prod_at..dev_at].contains("apps/web.yaml"), "{r:?}");
    assert!(r.stdout[dev_at..].contains("api.yaml"), "{r:?}");
    assert_eq!(f.prod.commit_count("main"), 1, "plan writes nothing");

    let r = with_user(&f, &["once", "--config", &cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        f.prod.read("main", "apps/web.yaml").unwrap(),
        pod(&f.host, "team/web", "1.2.0")
    );
    assert_eq!(f.prod.commit_count("main"), 2);
    // dev: both images in one commit.
    assert_eq!(
        f.dev.read("main", "web.yaml").unwrap(),
        pod(&f.host, "team/web", "1.2.0")
    );
    assert_eq!(
        f.dev.read("main", "api.yaml").unwrap(),
        pod(&f.host, "team/api", "1.2.0")
    );
    assert_eq!(f.dev.commit_count("main"), 2);
    let mut changed = f.dev.tip_changed_files("main");
    changed.sort();
    assert_eq!(changed, ["api.yaml", "web.yaml"]);
    // Nothing left to do in either.
    let r = with_user(&f, &["once", "--config", &cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        (f.prod.commit_count("main"), f.dev.commit_count("main")),
        (2, 2)
    );
}

#[test]
fn an_unreachable_repository_does_not_stop_the_other() {
    let f = fleet("");
    // prod's server is gone (a file:// push skips server hooks, so a refusing hook is
    // not how to fail it here; an unreachable repository is).
    let cfg = std::fs::read_to_string(f.config()).unwrap();
    std::fs::write(f.config(), cfg.replace("/prod.git", "/gone.git")).unwrap();
    let r = with_user(&f, &["once", "--config", &f.config()]);
    assert_eq!(r.code, 2, "a failed write is a failure: {r:?}");
    // web's dev commit does not hide its failure in prod.
    let web = r
        .stdout
        .lines()
        .find(|l| l.starts_with("shop/web: "))
        .unwrap();
    assert!(web.contains("failed") && web.contains("gone.git"), "{r:?}");
    assert_eq!(f.prod.commit_count("main"), 1);
    assert_eq!(f.dev.commit_count("main"), 2, "dev was written: {r:?}");
    assert_eq!(
        f.dev.read("main", "api.yaml").unwrap(),
        pod(&f.host, "team/api", "1.2.0")
    );
}

#[test]
fn validate_refuses_unknown_and_missing_repository_names() {
    let f = fleet("");
    let policy = f.dir.join("policies/shop.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replace("git: prod}", "git: staging}")
            .replace("{manifest: api.yaml, git: dev}", "{manifest: api.yaml}"),
    )
    .unwrap();
    let r = imagebump(&f.dir, &["validate", "--config", &f.config()]);
    assert_eq!(r.code, 2, "{r:?}");
    let p = policy.display().to_string();
    assert!(
        r.stdout.contains(&format!("{p}:7: shop/web: git: \"staging\" is not a GitOps repository of the service config (it has: prod, dev)")),
        "{r:?}"
    );
    assert!(
        r.stdout.contains(&format!("{p}:13: shop/api: this target must name its GitOps repository with git: (one of prod, dev)")),
        "{r:?}"
    );
    // The service refuses to start on it too.
    let r = with_user(&f, &["once", "--config", &f.config()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("\"staging\" is not a GitOps repository"),
        "{r:?}"
    );
}

#[test]
fn a_write_branch_is_rebuilt_on_the_base_after_a_person_commits_there() {
    let f = fleet("    write: {branch: imagebump/updates}\n");
    let cfg = f.config();
    let r = with_user(&f, &["once", "--config", &cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.prod.commit_count("main"), 1, "main is not written");
    assert_eq!(
        f.prod.read("imagebump/updates", "apps/web.yaml").unwrap(),
        pod(&f.host, "team/web", "1.2.0")
    );
    // A person commits on main; a new tag follows.
    let person = CliClone::new(&f.prod.file_url());
    person.commit_and_push(&[("README.md", "# prod\n")], "docs");
    rt().block_on(f._registry.push_image("team/web", "1.3.0"));
    let r = with_user(&f, &["once", "--config", &cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    let main = f.prod.head("main").unwrap();
    assert!(
        f.prod.is_ancestor(&main, "imagebump/updates"),
        "the branch is main's tip plus imagebump's changes"
    );
    assert_eq!(
        f.prod.read("imagebump/updates", "apps/web.yaml").unwrap(),
        pod(&f.host, "team/web", "1.3.0")
    );
    assert_eq!(
        f.prod.read("imagebump/updates", "README.md").unwrap(),
        "# prod\n"
    );
    let subjects = git(
        Some(f.prod.path()),
        &["log", "--format=%s", "main..imagebump/updates"],
    );
    assert_eq!(
        subjects.lines().count(),
        2,
        "imagebump's two commits: {subjects}"
    );
}

fn get(url: &str) -> Option<String> {
    let rt = rt();
    rt.block_on(async { reqwest::get(url).await.ok()?.text().await.ok() })
}

/// `run` with two repositories: the start-up sync commits to each, and the status lists
/// both with their last push; the metrics carry each repository's name.
#[test]
fn the_service_writes_to_each_repository_and_reports_each() {
    let f = fleet("");
    let port = free_port();
    let cfg = std::fs::read_to_string(f.config()).unwrap();
    std::fs::write(f.config(), format!("listen: 127.0.0.1:{port}\n{cfg}")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["run", "--config", &f.config()])
        .env("IMAGEBUMP_LOG", "warn")
        .env("GIT_USER", "robot")
        .env("GIT_PASS", "s3cret-Token")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        let s: Option<serde_json::Value> =
            get(&url("/api/v1/status")).and_then(|t| serde_json::from_str(&t).ok());
        let pushed = |s: &serde_json::Value| {
            s["gits"]
                .as_array()
                .is_some_and(|g| g.len() == 2 && g.iter().all(|g| g["lastPush"].is_string()))
        };
        let written = f.dev.read("main", "api.yaml") == Some(pod(&f.host, "team/api", "1.2.0"))
            && f.dev.read("main", "web.yaml") == Some(pod(&f.host, "team/web", "1.2.0"));
        match s {
            Some(s) if pushed(&s) && written => break s,
            _ if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                panic!("both repositories were not written: {s:?}");
            }
            _ => std::thread::park_timeout(std::time::Duration::from_millis(100)),
        }
    };
    let metrics = get(&url("/metrics")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let gits = status["gits"].as_array().unwrap();
    assert_eq!(gits[0]["name"], "dev");
    assert_eq!(gits[1]["name"], "prod");
    assert_eq!(gits[1]["write"], "push");
    assert_eq!(
        gits[1]["lastCommit"].as_str(),
        f.prod.head("main").as_deref()
    );
    assert_eq!(
        f.dev.read("main", "api.yaml").unwrap(),
        pod(&f.host, "team/api", "1.2.0")
    );
    assert_eq!(
        f.prod.read("main", "apps/web.yaml").unwrap(),
        pod(&f.host, "team/web", "1.2.0")
    );
    for g in ["dev", "prod"] {
        assert!(
            metrics.contains(&format!("imagebump_commits_total{{git=\"{g}\"}} ")),
            "{metrics}"
        );
    }
}

/// `set-image --git NAME --config F` writes to that repository with its settings (URL,
/// credentials, author); an unknown name lists the known ones.
#[test]
fn set_image_writes_to_a_named_repository_of_the_config() {
    let f = fleet("");
    let cfg = f.config();
    let image = format!("{}/team/web:1.1.5", f.host);
    let r = with_user(&f, &["set-image", &image, "--git", "dev", "--config", &cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("pushed "), "{r:?}");
    assert_eq!(
        f.dev.read("main", "web.yaml").unwrap(),
        pod(&f.host, "team/web", "1.1.5")
    );
    assert_eq!(f.dev.tip_author("main"), "imagebump <bot@example.com>");
    assert_eq!(f.prod.commit_count("main"), 1, "prod untouched");
    let r = with_user(
        &f,
        &["set-image", &image, "--git", "nope", "--config", &cfg],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("no git repository named \"nope\" (it has: prod, dev)"),
        "{r:?}"
    );
}
