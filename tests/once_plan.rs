//! `imagebump once` and `imagebump plan` from the user's side: the real binary, a real
//! CNCF Distribution registry and a real bare git repository (file://). Plus a push race
//! on the engine's write path (plan → write → commit → push, re-planned on the fresh
//! checkout), driven through the library because a race cannot be timed from outside.

mod support;

use std::path::{Path, PathBuf};

use support::cli::Run;
use support::gitserver::{git, BareRepo, CliClone};
use support::registry::{TestRegistry, TestRegistryOptions};

const D0: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Runs `imagebump CMD --config CONFIG` beside the config, with warnings-only logs (so
/// stderr holds what the command itself reports).
fn imagebump(cmd: &str, config: &Path) -> Run {
    let config_arg = config.to_string_lossy();
    support::cli::run(
        config.parent().unwrap(),
        &[cmd, "--config", &config_arg],
        &[("IMAGEBUMP_LOG", "warn")],
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

fn deployment(containers: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app   # comment kept\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n",
    );
    for (name, image) in containers {
        s.push_str(&format!(
            "        - name: {name}\n          image: \"{image}\"   # set by imagebump\n"
        ));
    }
    s
}

/// A registry, policies, a config and a GitOps repository wired together.
struct Fleet {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    registry: TestRegistry,
    repo: BareRepo,
    /// Path → initial content of every file in the repository.
    files: Vec<(String, String)>,
    /// Digest of `team/front:main` in the registry.
    main_digest: String,
}

impl Fleet {
    fn config(&self) -> PathBuf {
        self.dir.join("imagebump.yaml")
    }

    fn initial(&self, path: &str) -> &str {
        &self.files.iter().find(|(p, _)| p == path).unwrap().1
    }

    fn host(&self) -> String {
        self.registry.host()
    }
}

/// Two applications, seven images, every strategy and target kind:
/// - shop/api (semver, manifest), shop/worker (numerical, kustomize),
///   shop/billing (pattern + extract, helm with explicit paths), shop/front (digest of
///   `main`, Flux markers in a directory);
/// - legacy/old (semver `<2`, git already has 2.0.0: downgrade refused), legacy/cache
///   (suspended), legacy/pinned (pinned to 1.1.0) — all three in one file.
///
/// `extra_policy` adds a policy file (name, text with `HOST` for the registry host), and
/// `extra_files` more repository files.
fn fleet(extra_policy: Option<(&str, &str)>, extra_files: &[(&str, &str)]) -> Fleet {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    let rt = rt();
    let main_digest = rt.block_on(async {
        registry
            .push_tags(
                "team/api",
                &tags(&["1.0.0", "1.2.0", "1.10.1", "1.11.0-rc.1", "2.0.0", "latest"]),
            )
            .await;
        registry
            .push_tags("team/worker", &tags(&["9", "10", "100", "99", "latest"]))
            .await;
        registry
            .push_tags(
                "team/billing",
                &tags(&[
                    "main-abc123-1700000000",
                    "main-def456-1700000100",
                    "main-0aa-900",
                    "feature-x-1800000000",
                ]),
            )
            .await;
        registry
            .push_tags("team/front", &tags(&["main", "v1"]))
            .await;
        registry
            .push_tags("team/old", &tags(&["1.5.0", "2.0.0"]))
            .await;
        registry
            .push_tags("team/cache", &tags(&["1.0.0", "1.1.0"]))
            .await;
        registry
            .push_tags("team/pinned", &tags(&["1.0.0", "1.1.0", "1.2.0"]))
            .await;
        registry.push_image("team/front", "main").await
    });

    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!(
            r#"application: shop
images:
  - repository: {h}/team/api
    semver: ">=1.0.0 <2.0.0"
    targets:
      - manifest: apps/shop/deployment.yaml
  - repository: {h}/team/worker
    numerical: asc
    targets:
      - kustomize: apps/shop/kustomization.yaml
  - repository: {h}/team/billing
    tags:
      pattern: '^main-[0-9a-f]+-(?P<ts>[0-9]+)$'
      extract: '$ts'
      order: numerical
    targets:
      - helm: {{ file: apps/shop/values.yaml, repository: billing.image.repository, tag: billing.image.tag }}
  - repository: {h}/team/front
    digest: main
    targets:
      - markers: clusters/prod/
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("policies/legacy.yaml"),
        format!(
            r#"application: legacy
images:
  - repository: {h}/team/old
    semver: "<2"
    targets:
      - manifest: apps/legacy/deployment.yaml
  - repository: {h}/team/cache
    semver: "*"
    suspended: true
    targets:
      - manifest: apps/legacy/deployment.yaml
  - repository: {h}/team/pinned
    semver: "*"
    pinned: "1.1.0"
    targets:
      - manifest: apps/legacy/deployment.yaml
"#
        ),
    )
    .unwrap();
    if let Some((name, text)) = extra_policy {
        std::fs::write(
            dir.join(format!("policies/{name}.yaml")),
            text.replace("HOST", &h),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {h}\n    insecure: true\n",
            d = dir.display()
        ),
    )
    .unwrap();

    let mut files: Vec<(String, String)> = vec![
        (
            "apps/shop/deployment.yaml".into(),
            deployment(&[("api", &format!("{h}/team/api:1.0.0"))]),
        ),
        (
            "apps/shop/kustomization.yaml".into(),
            format!(
                "resources: [deployment.yaml]\nimages:\n  - name: {h}/team/worker\n    newTag: \"9\"\n  - name: {h}/team/api   # not this one: api's target is the manifest\n    newTag: 1.0.0\n"
            ),
        ),
        (
            "apps/shop/values.yaml".into(),
            format!(
                "billing:\n  image:\n    repository: {h}/team/billing\n    tag: main-abc123-1700000000   # CI build\n  replicas: 1\nother:\n  image:\n    repository: {h}/team/billing\n    tag: main-abc123-1700000000\n"
            ),
        ),
        (
            "clusters/prod/front.yaml".into(),
            format!(
                "spec:\n  template:\n    spec:\n      containers:\n        - name: front\n          image: {h}/team/front:main@{D0} # {{\"$imagepolicy\": \"shop:front\"}}\n        - name: unmarked\n          image: {h}/team/front:main@{D0}\n"
            ),
        ),
        ("clusters/prod/notes.yaml".into(), "- [not: valid\n".into()),
        (
            "apps/legacy/deployment.yaml".into(),
            deployment(&[
                ("old", &format!("{h}/team/old:2.0.0")),
                ("cache", &format!("{h}/team/cache:1.0.0")),
                ("pinned", &format!("{h}/team/pinned:1.0.0")),
            ]),
        ),
        ("README.md".into(), format!("{h}/team/api:1.0.0\n")),
    ];
    files.extend(
        extra_files
            .iter()
            .map(|(p, c)| (p.to_string(), c.replace("HOST", &h))),
    );
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = BareRepo::create_at(&dir.join("fleet.git"), &refs);
    Fleet {
        _tmp: tmp,
        dir,
        registry,
        repo,
        files,
        main_digest,
    }
}

/// The files a full sync of [`fleet`] should produce (path → new content).
fn expected(f: &Fleet) -> Vec<(String, String)> {
    let h = f.host();
    let dg = &f.main_digest;
    vec![
        (
            "apps/legacy/deployment.yaml".into(),
            f.initial("apps/legacy/deployment.yaml")
                .replace("team/pinned:1.0.0", "team/pinned:1.1.0"),
        ),
        (
            "apps/shop/deployment.yaml".into(),
            f.initial("apps/shop/deployment.yaml")
                .replace("team/api:1.0.0", "team/api:1.10.1"),
        ),
        (
            "apps/shop/kustomization.yaml".into(),
            f.initial("apps/shop/kustomization.yaml")
                .replace("newTag: \"9\"", "newTag: \"100\""),
        ),
        (
            "apps/shop/values.yaml".into(),
            f.initial("apps/shop/values.yaml").replacen(
                "tag: main-abc123-1700000000",
                "tag: main-def456-1700000100",
                1,
            ),
        ),
        (
            "clusters/prod/front.yaml".into(),
            f.initial("clusters/prod/front.yaml").replacen(
                &format!("{h}/team/front:main@{D0}"),
                &format!("{h}/team/front:main@{dg}"),
                1,
            ),
        ),
    ]
}

fn assert_repo_is(f: &Fleet, want: &[(String, String)]) {
    for (p, initial) in &f.files {
        let now = f.repo.read("main", p).unwrap();
        let want = want
            .iter()
            .find(|(wp, _)| wp == p)
            .map_or(initial.as_str(), |(_, c)| c.as_str());
        assert_eq!(now, want, "{p}");
    }
}

fn tip_message(repo: &BareRepo) -> String {
    git(
        None,
        &[
            "--git-dir",
            repo.path().to_str().unwrap(),
            "log",
            "-1",
            "--format=%B",
            "main",
        ],
    )
}

/// `git.commitMessage` is a real template: batch variables and the per-image `changes`
/// reach git rendered, and the digest update names its digests.
#[test]
fn once_renders_the_commit_message_template() {
    let f = fleet(None, &[]);
    let cfg = std::fs::read_to_string(f.config()).unwrap();
    let template = "[{{ application }}] {{ count }} images\n{% for c in changes %}{{ c.id }} ({{ c.repository }}): {{ c.from }} -> {{ c.to }}\n{% endfor %}";
    let cfg = cfg.replacen(
        "  branch: main\n",
        &format!("  branch: main\n  commitMessage: {template:?}\n"),
        1,
    );
    std::fs::write(f.config(), cfg).unwrap();
    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 0, "{r:?}");
    let msg = tip_message(&f.repo);
    let h = f.host();
    let short = &f.main_digest["sha256:".len().."sha256:".len() + 12];
    for needle in [
        "[legacy, shop] 5 images\n".to_string(),
        format!("shop/worker ({h}/team/worker): 9 -> 100\n"),
        format!("shop/front ({h}/team/front): main@sha256:000000000000 -> main@sha256:{short}\n"),
        "\n- shop/worker: apps/shop/kustomization.yaml:4 9 → 100\n".to_string(),
        "Imagebump-Version: ".to_string(),
    ] {
        assert!(msg.contains(&needle), "{needle:?} not in\n{msg}");
    }
    assert!(!msg.contains("{{"), "{msg}");
}

#[test]
fn once_syncs_everything_in_one_commit_then_does_nothing() {
    let f = fleet(None, &[]);
    let base = f.repo.head("main").unwrap();

    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.repo.commit_count("main"), 2, "one commit: {r:?}");
    assert!(f.repo.is_ancestor(&base, "main"));
    assert_eq!(f.repo.tip_author("main"), "imagebump <bot@example.com>");
    let want = expected(&f);
    assert_repo_is(&f, &want);
    let mut changed = f.repo.tip_changed_files("main");
    changed.sort();
    assert_eq!(
        changed,
        want.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
    );
    let msg = tip_message(&f.repo);
    assert!(msg.starts_with("chore(images): update 5 images\n"), "{msg}");
    for needle in [
        "- shop/api: apps/shop/deployment.yaml:11 ",
        "team/api:1.0.0 → ",
        "- shop/worker: apps/shop/kustomization.yaml:4 9 → 100\n",
        "- shop/billing: apps/shop/values.yaml:4 main-abc123-1700000000 → main-def456-1700000100\n",
        "- legacy/pinned: apps/legacy/deployment.yaml:15 ",
        "Imagebump-Version: ",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in\n{msg}");
    }
    assert!(
        !msg.contains("legacy/old") && !msg.contains("legacy/cache"),
        "{msg}"
    );

    // One line per image on stdout: what it runs now, or why it was not updated.
    let head = f.repo.head("main").unwrap();
    let short = &head[..12];
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort();
    let want_lines = [
        "legacy/cache: not updated: suspended by policy (suspended: true)".to_string(),
        "legacy/old: not updated: downgrade refused: git has 2.0.0, the policy chose 1.5.0 (allowDowngrade: true permits it)".to_string(),
        format!("legacy/pinned: 1.1.0 (commit {short})"),
        format!("shop/api: 1.10.1 (commit {short})"),
        format!("shop/billing: main-def456-1700000100 (commit {short})"),
        format!("shop/front: main@{} (commit {short})", f.main_digest),
        format!("shop/worker: 100 (commit {short})"),
    ];
    assert_eq!(lines, want_lines, "{r:?}");

    // Again: the same answers, no commit.
    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.repo.head("main").unwrap(), head, "no second commit");
    assert!(
        r.stdout.contains("shop/api: 1.10.1 (up to date)\n"),
        "{r:?}"
    );
    assert!(r
        .stdout
        .contains("legacy/old: not updated: downgrade refused"));
    assert_repo_is(&f, &want);

    // Someone else commits (to another file and to a file imagebump edits), then a new
    // release: imagebump's commit goes on top of theirs, which stays.
    let clone = CliClone::new(&f.repo.file_url());
    let edited = want[1].1.replace("replicas: 2", "replicas: 5");
    clone.commit_and_push(
        &[
            ("apps/shop/deployment.yaml", &edited),
            ("docs/runbook.md", "call someone\n"),
        ],
        "scale the shop up",
    );
    let theirs = f.repo.head("main").unwrap();
    rt().block_on(f.registry.push_image("team/api", "1.12.0"));
    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(f.repo.is_ancestor(&theirs, "main"), "their commit stays");
    assert_eq!(f.repo.commit_count("main"), 4);
    assert_eq!(
        f.repo.read("main", "apps/shop/deployment.yaml").unwrap(),
        edited.replace("team/api:1.10.1", "team/api:1.12.0")
    );
    assert_eq!(
        f.repo.read("main", "docs/runbook.md").unwrap(),
        "call someone\n"
    );
    assert_eq!(
        f.repo.tip_changed_files("main"),
        ["apps/shop/deployment.yaml"]
    );
}

#[test]
fn plan_prints_the_diff_and_writes_nothing() {
    let f = fleet(None, &[]);
    let base = f.repo.head("main").unwrap();
    let r = imagebump("plan", &f.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(f.repo.head("main").unwrap(), base, "plan pushes nothing");
    assert_eq!(f.repo.commit_count("main"), 1);
    let h = f.host();
    for want in [
        "--- a/apps/shop/deployment.yaml\n+++ b/apps/shop/deployment.yaml\n".to_string(),
        format!("-          image: \"{h}/team/api:1.0.0\"   # set by imagebump\n+          image: \"{h}/team/api:1.10.1\"   # set by imagebump\n"),
        "--- a/apps/shop/kustomization.yaml\n".to_string(),
        "-    newTag: \"9\"\n+    newTag: \"100\"\n".to_string(),
        "-    tag: main-abc123-1700000000   # CI build\n+    tag: main-def456-1700000100   # CI build\n".to_string(),
        format!("+          image: {h}/team/front:main@{} # {{\"$imagepolicy\": \"shop:front\"}}\n", f.main_digest),
        format!("-          image: \"{h}/team/pinned:1.0.0\"   # set by imagebump\n+          image: \"{h}/team/pinned:1.1.0\"   # set by imagebump\n"),
    ] {
        assert!(r.stdout.contains(&want), "missing {want:?}\n{r:?}");
    }
    // Exactly five files, and nothing but the changed lines is marked.
    assert_eq!(r.stdout.matches("\n+++ b/").count(), 5, "{r:?}");
    let marked: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| {
            (l.starts_with('-') && !l.starts_with("---"))
                || (l.starts_with('+') && !l.starts_with("+++"))
        })
        .collect();
    assert_eq!(marked.len(), 10, "{marked:#?}");
    // What plan shows is what once writes: apply the expected contents and compare.
    for (p, new) in expected(&f) {
        let old = f.initial(&p);
        let diff = imagebump_core::edit::unified_diff(&p, old, &new);
        assert!(r.stdout.contains(&diff), "{p}: want\n{diff}\n{r:?}");
    }
    // Images left alone are reported on stderr.
    assert!(
        r.stderr
            .contains("legacy/old: not updated: downgrade refused: git has 2.0.0, the policy chose 1.5.0 (allowDowngrade: true permits it)\n"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("legacy/cache: not updated: suspended by policy"),
        "{r:?}"
    );
    // The unparsable file in front's markers directory is skipped, and said so.
    assert!(
        r.stderr
            .contains("skipped 1 file(s) in markers directories: not YAML or not UTF-8 text\n"),
        "{r:?}"
    );

    // After a sync, plan has nothing to show.
    assert_eq!(imagebump("once", &f.config()).code, 0);
    let head = f.repo.head("main").unwrap();
    let r = imagebump("plan", &f.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
    assert!(r.stderr.contains("nothing to change"), "{r:?}");
    assert_eq!(f.repo.head("main").unwrap(), head);
}

#[test]
fn a_repository_missing_from_the_registry_fails_once_but_not_the_others() {
    let f = fleet(
        Some((
            "ghost",
            "application: ghost\nimages:\n  - repository: HOST/team/ghost\n    semver: \"*\"\n    targets:\n      - manifest: apps/ghost/deployment.yaml\n",
        )),
        &[(
            "apps/ghost/deployment.yaml",
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: HOST/team/ghost:1.0.0\n",
        )],
    );
    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 2, "{r:?}");
    let ghost = r
        .stdout
        .lines()
        .find(|l| l.starts_with("ghost/ghost: "))
        .unwrap_or_else(|| panic!("no line for ghost: {r:?}"));
    assert!(ghost.starts_with("ghost/ghost: error: "), "{ghost}");
    assert!(ghost.contains("team/ghost"), "{ghost}");
    // Every other image still got its commit.
    assert_eq!(f.repo.commit_count("main"), 2, "{r:?}");
    assert_repo_is(&f, &expected(&f));

    // plan reports it, and fails like once.
    let r = imagebump("plan", &f.config());
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("ghost/ghost: not updated: "), "{r:?}");
}

#[test]
fn a_target_that_cannot_be_edited_fails_once_but_not_the_others() {
    // An alias to the image cannot be edited in place; a target file that does not exist
    // cannot be edited at all. Both are write failures: exit 2, the rest is committed.
    let f = fleet(
        Some((
            "broken",
            "application: broken\nimages:\n  - repository: HOST/team/api\n    name: aliased\n    semver: \"*\"\n    targets:\n      - manifest: apps/broken/pod.yaml\n  - repository: HOST/team/worker\n    name: nofile\n    numerical: asc\n    targets:\n      - manifest: apps/broken/missing.yaml\n",
        )),
        &[(
            "apps/broken/pod.yaml",
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: &img HOST/team/api:1.0.0\n  - name: b\n    image: *img\n",
        )],
    );
    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("broken/aliased: error: ") && l.contains("alias")),
        "{r:?}"
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("broken/nofile: error: ") && l.contains("missing.yaml")),
        "{r:?}"
    );
    assert_eq!(f.repo.commit_count("main"), 2, "{r:?}");
    assert_repo_is(&f, &expected(&f));

    // plan names both, worded as once words them.
    let r = imagebump("plan", &f.config());
    assert!(
        r.stderr.contains(
            "broken/aliased: not updated: cannot edit: apps/broken/pod.yaml:7: refusing to edit: "
        ),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(
            "broken/nofile: not updated: cannot edit: apps/broken/missing.yaml: file not found\n"
        ),
        "{r:?}"
    );
}

/// A target that does not mention its image (here a typo in the path: `teams/api`) is not
/// "up to date": git holds no such value. `once` and `plan` name the image and the file
/// and exit 2; the other images are still committed.
#[test]
fn a_target_that_does_not_mention_its_image_is_an_error() {
    let f = fleet(
        Some((
            "typo",
            "application: typo\nimages:\n  - repository: HOST/team/api\n    semver: \"*\"\n    targets:\n      - manifest: apps/typo/pod.yaml\n",
        )),
        &[(
            "apps/typo/pod.yaml",
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: HOST/teams/api:1.0.0\n",
        )],
    );
    let r = imagebump("plan", &f.config());
    assert_eq!(r.code, 2, "{r:?}");
    let h = f.host();
    assert!(
        r.stderr.contains(&format!(
            "typo/api: not updated: not in git: apps/typo/pod.yaml does not mention {h}/team/api"
        )),
        "{r:?}"
    );
    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.lines().any(|l| l.starts_with(&format!(
            "typo/api: error: apps/typo/pod.yaml does not mention {h}/team/api"
        ))),
        "{r:?}"
    );
    assert_eq!(f.repo.commit_count("main"), 2, "{r:?}");
}

/// The write path under a real push race: the engine plans and writes on a working copy,
/// someone pushes in between, the compare-and-swap push finds the branch moved, and the
/// edit is planned again on the fresh checkout. `once` cannot be paused between its sync
/// and its push from outside, so this drives the one write path the writer thread and
/// `set-image --git` use (`engine::write::write` with `plan` and `commit_message`) and
/// makes the competing push from inside the first attempt's planning.
#[test]
fn a_push_race_replans_on_the_fresh_checkout_and_keeps_the_other_commit() {
    use imagebump::engine::write::write;
    use imagebump_core::decision::{ImageId, Wish};
    use imagebump_core::message::commit_message;
    use imagebump_core::plan::{plan, Outcome};
    use imagebump_core::policy::PolicySet;
    use imagebump_git::{GitAuth, GitConfig, RetryPolicy, WorkingCopy};

    let tmp = tempfile::tempdir().unwrap();
    let pdir = tmp.path().join("policies");
    std::fs::create_dir(&pdir).unwrap();
    std::fs::write(
        pdir.join("race.yaml"),
        "application: race\nimages:\n  - repository: registry.example.com/team/web\n    semver: \">=1.0.0\"\n    targets:\n      - manifest: apps/web/deployment.yaml\n  - repository: registry.example.com/team/canary\n    semver: \">=1.0.0\"\n    targets:\n      - manifest: apps/canary/deployment.yaml\n",
    )
    .unwrap();
    let (policies, problems) = imagebump::policy_files::load_all(&[pdir]);
    assert!(problems.is_empty(), "{problems:?}");
    let policies = PolicySet::new(policies);

    let web = deployment(&[("web", "registry.example.com/team/web:1.0.0")]);
    let canary = deployment(&[("canary", "registry.example.com/team/canary:1.0.0")]);
    let repo = BareRepo::with_files(&[
        ("apps/web/deployment.yaml", &web),
        ("apps/canary/deployment.yaml", &canary),
    ]);
    let mut wc = WorkingCopy::open(
        &tmp.path().join("state"),
        GitConfig {
            url: repo.file_url(),
            branch: "main".into(),
            push_branch: None,
            author_name: "imagebump".into(),
            author_email: "bot@example.com".into(),
            auth: GitAuth::None,
            signer: None,
        },
    )
    .unwrap();
    let wish = |name: &str| Wish {
        id: ImageId::new("race", name),
        tag: "1.5.0".into(),
        digest: None,
        index_digest: None,
    };
    let wishes = [wish("web"), wish("canary")];

    // The other writer: scales web up in the same file and hand-bumps canary past 1.5.0.
    let other = CliClone::new(&repo.file_url());
    let their_web = web.replace("replicas: 2", "replicas: 5");
    let their_canary = canary.replace("canary:1.0.0", "canary:1.9.0");
    let mut plans = Vec::new();
    let written = write(
        &mut wc,
        &RetryPolicy::default(),
        &|_| true,
        &mut |files, _| {
            let p = plan(&policies, &wishes, files);
            if plans.is_empty() {
                // After this attempt's sync, before its push.
                other.commit_and_push(
                    &[
                        ("apps/web/deployment.yaml", &their_web),
                        ("apps/canary/deployment.yaml", &their_canary),
                        ("docs/notes.md", "scaled for the sale\n"),
                    ],
                    "scale web, hotfix canary",
                );
            }
            plans.push(p.clone());
            Ok(p)
        },
        &|p| commit_message(None, p, "test"),
    )
    .unwrap();
    let commit = written.commit.clone().expect("a commit");
    assert_eq!(written.attempts, 2, "the first push lost the race");
    assert_eq!(plans.len(), 2);
    // First attempt (stale files): both images change. Second (fresh): canary is already
    // past 1.5.0 in git, so it is a refused downgrade; web lands on top of their edit.
    assert_eq!(plans[0].files.len(), 2);
    assert_eq!(
        plans[1].outcomes[&ImageId::new("race", "canary")],
        Outcome::DowngradeRefused {
            current: "1.9.0".into()
        }
    );
    let theirs = other_head(&other);
    assert!(repo.is_ancestor(&theirs, "main"), "their commit stays");
    assert_eq!(repo.head("main").unwrap(), commit);
    assert_eq!(repo.commit_count("main"), 3);
    assert_eq!(
        repo.read("main", "apps/web/deployment.yaml").unwrap(),
        their_web.replace("web:1.0.0", "web:1.5.0")
    );
    assert_eq!(
        repo.read("main", "apps/canary/deployment.yaml").unwrap(),
        their_canary
    );
    assert_eq!(
        repo.read("main", "docs/notes.md").unwrap(),
        "scaled for the sale\n"
    );
    assert_eq!(repo.tip_changed_files("main"), ["apps/web/deployment.yaml"]);
    // The message describes the commit that was pushed, not the stale attempt.
    let msg = tip_message(&repo);
    assert!(
        msg.starts_with("chore(images): race/web: 1.0.0 → 1.5.0\n"),
        "{msg}"
    );
    assert!(!msg.contains("canary"), "{msg}");
}

fn other_head(c: &CliClone) -> String {
    git(Some(c.path()), &["rev-parse", "HEAD"])
        .trim()
        .to_string()
}

#[test]
fn a_failed_digest_lookup_fails_once() {
    // team/broken lists `main`, but its manifest is gone: the digest cannot be resolved.
    let f = fleet(
        Some((
            "broken",
            "application: broken\nimages:\n  - repository: HOST/team/broken\n    digest: main\n    targets:\n      - manifest: apps/broken/deployment.yaml\n",
        )),
        &[(
            "apps/broken/deployment.yaml",
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: HOST/team/broken:main\n",
        )],
    );
    rt().block_on(f.registry.push_image("team/broken", "v1"));
    let gone = format!("sha256:{}", "e".repeat(64));
    f.registry
        .write_tag_links("team/broken", &gone, &tags(&["main"]));
    let r = imagebump("once", &f.config());
    assert_eq!(r.code, 2, "{r:?}");
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("broken/broken: "))
        .unwrap_or_else(|| panic!("no line for broken: {r:?}"));
    assert!(
        line.contains("error: cannot resolve the digest of main"),
        "{line}"
    );
}
