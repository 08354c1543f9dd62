//! Issue 12, the pull-request write mode end to end on each forge: the real binary, a real
//! CNCF Distribution registry, a real GitOps repository over smart HTTP (nginx +
//! git-http-backend), and the testbed's stand-in of each forge's pull-request API (no
//! forge runs here; each stand-in follows its provider's published REST API, and merges
//! for real in the bare repository). One pull request is opened; the next change updates
//! the same one on a branch rebuilt on the moved base; after a merge a new one opens; a
//! pull request closed without merging makes its version skipped.

mod support;

use imagebump_testbed::forge::{ForgeStandIn, Kind, PrState};
use support::cli::Run;
use support::gitserver::{git, BareRepo, CliClone, HttpGitServer};
use support::registry::{TestRegistry, TestRegistryOptions};

const TOKEN: &str = "forge-Token-123";
const HEAD: &str = "imagebump/updates";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn pod(host: &str, tag: &str) -> String {
    format!("kind: Pod\nspec:\n  containers:\n    - image: {host}/team/web:{tag}\n")
}

struct Fleet {
    _tmp: tempfile::TempDir,
    registry: TestRegistry,
    http: HttpGitServer,
    repo: BareRepo,
    forge: ForgeStandIn,
    dir: std::path::PathBuf,
}

impl Fleet {
    fn new(kind: Kind) -> Fleet {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let registry = TestRegistry::start(TestRegistryOptions::default());
        let h = registry.host();
        rt().block_on(async {
            registry.push_image("team/web", "1.1.0").await;
            registry.push_image("team/web", "1.2.0").await;
        });
        let http = HttpGitServer::start("robot", "git-Pass-1");
        let repo = http.create_repo("acme/fleet", &[("apps/web.yaml", &pod(&h, "1.1.0"))]);
        let forge = ForgeStandIn::start(kind, &repo, "acme/fleet", TOKEN);
        let provider = match kind {
            Kind::Github => "github",
            Kind::Gitlab => "gitlab",
            Kind::Gitea => "gitea",
            Kind::Bitbucket => "bitbucket",
        };
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        std::fs::write(
            dir.join("policies/shop.yaml"),
            format!("application: shop\nimages:\n  - name: web\n    repository: {h}/team/web\n    semver: '*'\n    targets:\n      - manifest: apps/web.yaml\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("imagebump.yaml"),
            format!(
                "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: {url}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\n  credentials: {{username: {{env: GIT_USER}}, password: {{env: GIT_PASS}}}}\n  write:\n    pullRequest:\n      provider: {provider}\n      apiUrl: {api}\n      token: {{env: FORGE_TOKEN}}\n      branch: {HEAD}\n      labels: [dependencies]\n      reviewers: [alice]\nregistries:\n  - host: {h}\n    insecure: true\n",
                d = dir.display(),
                url = http.url("acme/fleet"),
                api = forge.api_url(),
            ),
        )
        .unwrap();
        Fleet {
            _tmp: tmp,
            registry,
            http,
            repo,
            forge,
            dir,
        }
    }

    fn once(&self) -> Run {
        let cfg = self.dir.join("imagebump.yaml");
        support::cli::run(
            &self.dir,
            &["once", "--config", cfg.to_str().unwrap()],
            &[
                ("IMAGEBUMP_LOG", "warn"),
                ("GIT_USER", "robot"),
                ("GIT_PASS", "git-Pass-1"),
                ("FORGE_TOKEN", TOKEN),
            ],
        )
    }

    fn push_tag(&self, tag: &str) {
        rt().block_on(self.registry.push_image("team/web", tag));
    }

    fn head_file(&self) -> String {
        self.repo.read(HEAD, "apps/web.yaml").unwrap()
    }

    fn open(&self) -> Vec<u64> {
        self.forge
            .prs()
            .iter()
            .filter(|p| p.state == PrState::Open && p.head == HEAD)
            .map(|p| p.number)
            .collect()
    }
}

fn pull_request_lifecycle(kind: Kind) {
    let f = Fleet::new(kind);
    let h = f.registry.host();

    // One pull request, from imagebump's branch; main is not written.
    let r = f.once();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.repo.commit_count("main"), 1, "{r:?}");
    assert_eq!(f.head_file(), pod(&h, "1.2.0"));
    let open = f.open();
    assert_eq!(open.len(), 1, "{:?}", f.forge.prs());
    let first = f.forge.pr(open[0]);
    assert_eq!(first.base, "main");
    assert!(
        first.title.contains("shop/web") && first.title.contains("1.2.0"),
        "{first:?}"
    );
    assert!(first.body.contains("1.2.0"), "{first:?}");
    if kind != Kind::Bitbucket {
        // Bitbucket's API has no labels, and names reviewers by account id.
        assert_eq!(first.labels, ["dependencies"], "{first:?}");
        assert_eq!(first.reviewers, ["alice"], "{first:?}");
    }

    // Proposed, not deployed: never "updated" or "up to date" while the PR is open.
    let proposed = r.stdout.clone();
    assert!(
        proposed.starts_with("shop/web: 1.2.0 (proposed in http://127.0.0.1:")
            && proposed.trim_end().ends_with(&format!("{})", open[0])),
        "{r:?}"
    );

    // A restart with nothing new: the same pull request, untouched, no duplicate.
    let r = f.once();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, proposed, "{r:?}");
    assert_eq!(f.open(), open);
    assert_eq!(f.forge.prs().len(), 1);

    // A person moves main on; a newer tag: the same pull request, on a rebuilt branch.
    let person = CliClone::new(&f.http.url_with_credentials("acme/fleet"));
    person.commit_and_push(&[("README.md", "# fleet\n")], "docs");
    f.push_tag("1.3.0");
    let r = f.once();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.open(), open, "{:?}", f.forge.prs());
    let main = f.repo.head("main").unwrap();
    assert!(f.repo.is_ancestor(&main, HEAD), "rebuilt on the moved base");
    assert_eq!(f.head_file(), pod(&h, "1.3.0"));
    let updated = f.forge.pr(open[0]);
    assert!(updated.title.contains("1.3.0"), "{updated:?}");
    assert!(
        updated.body.contains("1.3.0") && !updated.body.contains("`1.2.0`"),
        "{updated:?}"
    );

    // Merged: the next change opens a new one.
    f.forge.merge(open[0]);
    assert_eq!(
        f.repo.read("main", "apps/web.yaml").unwrap(),
        pod(&h, "1.3.0")
    );
    f.push_tag("1.4.0");
    let r = f.once();
    assert_eq!(r.code, 0, "{r:?}");
    let second = f.open();
    assert_eq!(second.len(), 1, "{:?}", f.forge.prs());
    assert_ne!(second, open);
    assert!(f.forge.pr(second[0]).body.contains("1.4.0"));
    let ours = git(
        Some(f.repo.path()),
        &["rev-list", "--count", &format!("main..{HEAD}")],
    );
    assert_eq!(ours.trim(), "1", "only the new change is on the branch");

    // Closed without merging: 1.4.0 is skipped, no new pull request for it.
    f.forge.close(second[0]);
    let r = f.once();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("proposing 1.4.0 was closed without merging; waiting for a newer tag"),
        "{r:?}"
    );
    assert!(f.open().is_empty(), "{:?}", f.forge.prs());
    // A newer tag opens a new one, on a branch started again without 1.4.0.
    f.push_tag("1.5.0");
    let r = f.once();
    assert_eq!(r.code, 0, "{r:?}");
    let third = f.open();
    assert_eq!(third.len(), 1, "{:?}", f.forge.prs());
    assert_eq!(f.head_file(), pod(&h, "1.5.0"));
    let ours = git(
        Some(f.repo.path()),
        &["rev-list", "--count", &format!("main..{HEAD}")],
    );
    assert_eq!(
        ours.trim(),
        "1",
        "the declined change is gone from the branch"
    );
    assert_eq!(f.forge.prs().len(), 3);
}

#[test]
fn github_pull_requests() {
    pull_request_lifecycle(Kind::Github);
}

#[test]
fn gitlab_merge_requests() {
    pull_request_lifecycle(Kind::Gitlab);
}

#[test]
fn gitea_pull_requests() {
    pull_request_lifecycle(Kind::Gitea);
}

#[test]
fn bitbucket_pull_requests() {
    pull_request_lifecycle(Kind::Bitbucket);
}

/// `set-image --git NAME --config F` on a pull-request repository pushes its head branch
/// and opens (or updates) the one pull request, like the service.
#[test]
fn set_image_opens_the_pull_request_of_a_named_repository() {
    let f = Fleet::new(Kind::Gitea);
    let cfg = f.dir.join("imagebump.yaml");
    let image = format!("{}/team/web:1.1.5", f.registry.host());
    let r = support::cli::run(
        &f.dir,
        &[
            "set-image",
            &image,
            "--git",
            "default",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[
            ("GIT_USER", "robot"),
            ("GIT_PASS", "git-Pass-1"),
            ("FORGE_TOKEN", TOKEN),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.repo.commit_count("main"), 1, "main is not written: {r:?}");
    assert_eq!(f.head_file(), pod(&f.registry.host(), "1.1.5"));
    let open = f.open();
    assert_eq!(open.len(), 1, "{:?}", f.forge.prs());
    assert!(r.stdout.contains("pull request http://"), "{r:?}");
    assert!(f.forge.pr(open[0]).body.contains("1.1.5"));
}

/// With one repository (the `git:` map), a missing forge token is reported at the key the
/// file has — `git.write.pullRequest.token`, not the `git[default]…` of a list entry.
#[test]
fn a_missing_token_names_the_key_of_a_single_repository() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    let config = dir.path().join("imagebump.yaml");
    std::fs::write(
        &config,
        format!(
            "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  write:\n    pullRequest: {{provider: github, token: {{env: IMAGEBUMP_TEST_NO_SUCH_TOKEN}}}}\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["once", "--config"])
        .arg(&config)
        .env_remove("IMAGEBUMP_TEST_NO_SUCH_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("git.write.pullRequest.token: env IMAGEBUMP_TEST_NO_SUCH_TOKEN"),
        "{stderr}"
    );
}
