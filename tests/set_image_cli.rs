//! `imagebump set-image` from the user's side: the real binary, real files, a real bare
//! git repository (file://) and a smart-HTTP git server (nginx + git-http-backend).
//! Every check compares whole files, exit codes and what the user reads.
//!
//! Long: one scenario per way of calling set-image (local, --git over file:// and HTTP,
//! dry runs, refusals); they share helpers that splitting the file would duplicate.

mod support;

use std::path::{Path, PathBuf};

use support::cli::Run;
use support::gitserver::{git, BareRepo, CliClone, HttpGitServer};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Runs `imagebump ARGS` in `cwd` with a clean `IMAGEBUMP_*` environment plus `env`.
fn imagebump(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    support::cli::run(cwd, args, env)
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap()
}

/// Every file under `root` (relative path → bytes), to prove nothing else changed.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {text}"))
        + 1
}

fn deployment(images: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web   # the web tier\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n",
    );
    for (name, image) in images {
        s.push_str(&format!(
            "        - name: {name}\n          image: {image}   # keep me\n          ports: [{{containerPort: 80}}]\n"
        ));
    }
    s
}

const KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\nimages:\n  - name: nginx\n    newTag: \"1.25.0\"   # pinned by CI\n  - name: redis\n    newTag: 7.0.0\n";

const VALUES: &str = "# Helm values\nreplicaCount: 1\nimage:\n  repository: nginx\n  tag: 1.25.0\n  pullPolicy: IfNotPresent\nsidecar:\n  image:\n    repository: ghcr.io/acme/nginx\n    tag: 1.25.0\n";

const JSON: &str = "{\n  \"name\": \"web\",\n  \"image\": \"docker.io/library/nginx:1.25.0\",\n  \"cache\": {\"image\": \"redis:7.0.0\"}\n}\n";

/// A tree with every kind of file set-image handles, plus things it must not touch.
fn tree(root: &Path) -> String {
    let dep = deployment(&[
        ("web", "nginx:1.25.0"),
        ("cache", "redis:7.0.0"),
        ("look-alike", "ghcr.io/acme/nginx:1.25.0"),
    ]);
    write(
        root,
        &[
            ("apps/web/deployment.yaml", &dep),
            ("apps/web/kustomization.yaml", KUSTOMIZATION),
            ("charts/web/values.yml", VALUES),
            ("apps/web/config.json", JSON),
            ("apps/web/README.md", "image: nginx:1.25.0\n"),
            ("apps/web/notes.txt", "nginx:1.25.0\n"),
            ("apps/broken/half.yaml", "key: [unclosed\n"),
        ],
    );
    dep
}

#[test]
fn edits_every_reference_in_a_tree_and_only_those_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dep = tree(root);
    let before = snapshot(root);

    // The long form matches `nginx` written short, and the other way round below.
    let r = imagebump(
        root,
        &[
            "set-image",
            "docker.io/library/nginx:1.27.0",
            "apps",
            "charts",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");

    let want_dep = dep.replace("image: nginx:1.25.0", "image: nginx:1.27.0");
    assert_eq!(read(root, "apps/web/deployment.yaml"), want_dep);
    assert_eq!(
        read(root, "apps/web/kustomization.yaml"),
        KUSTOMIZATION.replace("newTag: \"1.25.0\"", "newTag: \"1.27.0\"")
    );
    assert_eq!(
        read(root, "charts/web/values.yml"),
        VALUES.replacen("tag: 1.25.0", "tag: 1.27.0", 1)
    );
    assert_eq!(
        read(root, "apps/web/config.json"),
        JSON.replace("nginx:1.25.0", "nginx:1.27.0")
    );
    // Nothing else: not the look-alike, not redis, not non-YAML files, not a broken file.
    let after = snapshot(root);
    let changed: Vec<&Path> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| {
            assert_eq!(b.0, a.0, "no file appears or disappears");
            b.1 != a.1
        })
        .map(|(b, _)| b.0.as_path())
        .collect();
    assert_eq!(
        changed,
        [
            Path::new("apps/web/config.json"),
            Path::new("apps/web/deployment.yaml"),
            Path::new("apps/web/kustomization.yaml"),
            Path::new("charts/web/values.yml"),
        ]
    );

    // One line per change: `file:line old → new`.
    let mut want = vec![
        format!(
            "apps/web/config.json:{} docker.io/library/nginx:1.25.0 → docker.io/library/nginx:1.27.0",
            line_of(JSON, "nginx")
        ),
        format!(
            "apps/web/deployment.yaml:{} nginx:1.25.0 → nginx:1.27.0",
            line_of(&dep, "image: nginx")
        ),
        format!(
            "apps/web/kustomization.yaml:{} 1.25.0 → 1.27.0",
            line_of(KUSTOMIZATION, "1.25.0")
        ),
        format!(
            "charts/web/values.yml:{} 1.25.0 → 1.27.0",
            line_of(VALUES, "tag: 1.25.0")
        ),
    ];
    want.sort();
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    assert_eq!(got, want, "{r:?}");

    // The short form matches `docker.io/library/nginx` written long.
    let r = imagebump(
        root,
        &["set-image", "nginx:1.28.0", "apps/web/config.json"],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        read(root, "apps/web/config.json"),
        JSON.replace("nginx:1.25.0", "nginx:1.28.0")
    );
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
}

#[test]
fn tag_and_digest_together() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dep = deployment(&[("web", "nginx:1.25.0"), ("cache", "redis:7.0.0")]);
    write(root, &[("deployment.yaml", &dep)]);
    let r = imagebump(
        root,
        &[
            "set-image",
            &format!("nginx:1.27.0@{D1}"),
            "deployment.yaml",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        read(root, "deployment.yaml"),
        dep.replace("nginx:1.25.0", &format!("nginx:1.27.0@{D1}"))
    );
    assert_eq!(
        r.stdout,
        format!(
            "deployment.yaml:{} nginx:1.25.0 → nginx:1.27.0@{D1}\n",
            line_of(&dep, "nginx")
        )
    );

    // A tag-only update afterwards drops the stale digest; a digest-only one keeps the tag.
    let r = imagebump(root, &["set-image", "nginx:1.28.0", "."], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        read(root, "deployment.yaml"),
        dep.replace("nginx:1.25.0", "nginx:1.28.0")
    );
    let r = imagebump(root, &["set-image", &format!("nginx@{D1}"), "."], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        read(root, "deployment.yaml"),
        dep.replace("nginx:1.25.0", &format!("nginx:1.28.0@{D1}"))
    );
}

#[test]
fn dry_run_prints_a_unified_diff_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dep = tree(root);
    let before = snapshot(root);
    let r = imagebump(
        root,
        &["set-image", "--dry-run", "nginx:1.27.0", "apps/web"],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(snapshot(root), before, "--dry-run writes nothing");
    let n = line_of(&dep, "image: nginx");
    for want in [
        "--- a/apps/web/deployment.yaml\n+++ b/apps/web/deployment.yaml\n".to_string(),
        "-          image: nginx:1.25.0   # keep me\n+          image: nginx:1.27.0   # keep me\n"
            .to_string(),
        "--- a/apps/web/kustomization.yaml\n".to_string(),
        "-    newTag: \"1.25.0\"   # pinned by CI\n+    newTag: \"1.27.0\"   # pinned by CI\n"
            .to_string(),
        format!("apps/web/deployment.yaml:{n} nginx:1.25.0 → nginx:1.27.0\n"),
    ] {
        assert!(r.stdout.contains(&want), "missing {want:?}\n{r:?}");
    }
    // Only changed lines are marked: the look-alike and redis appear only as context.
    assert!(!r.stdout.contains("-          image: ghcr.io"), "{r:?}");
    assert!(!r.stdout.contains("+          image: redis"), "{r:?}");
    // What the diff describes is exactly what a real run writes.
    let r2 = imagebump(root, &["set-image", "nginx:1.27.0", "apps/web"], &[]);
    assert_eq!(r2.code, 0, "{r2:?}");
    assert_eq!(
        read(root, "apps/web/deployment.yaml"),
        dep.replace("image: nginx:1.25.0", "image: nginx:1.27.0")
    );
}

#[test]
fn nothing_to_change_exits_0_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    tree(root);
    let before = snapshot(root);
    // Images already at the requested tag.
    for image in ["redis:7.0.0", "nginx:1.25.0"] {
        for dry in [false, true] {
            let mut args = vec!["set-image"];
            if dry {
                args.push("--dry-run");
            }
            args.extend([image, "apps", "charts"]);
            let r = imagebump(root, &args, &[]);
            assert_eq!(r.code, 0, "{image}: {r:?}");
            assert_eq!(r.stdout, "nothing to change\n", "{image}: {r:?}");
            assert_eq!(snapshot(root), before, "{image}");
        }
    }
}

#[test]
fn no_reference_to_the_image_exits_1_and_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    tree(root);
    let before = snapshot(root);
    for dry in [false, true] {
        let mut args = vec!["set-image"];
        if dry {
            args.push("--dry-run");
        }
        args.extend(["quay.io/acme/absent:1.0.0", "apps", "charts"]);
        let r = imagebump(root, &args, &[]);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (
                1,
                "",
                "imagebump: no reference to quay.io/acme/absent under apps, charts\n"
            ),
            "{r:?}"
        );
        assert_eq!(snapshot(root), before);
    }
}

#[test]
fn bad_input_exits_2_with_one_line_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    tree(root);
    let before = snapshot(root);
    for (args, needle) in [
        (vec!["set-image", "nginx", "apps"], "no tag and no digest"),
        (vec!["set-image", "NGINX:1.0", "apps"], ""),
        (vec!["set-image", "nginx:bad tag", "apps"], ""),
        (vec!["set-image", "nginx@sha256:abc", "apps"], ""),
        (vec!["set-image", "nginx:1.27.0"], "no PATH given"),
        (
            vec!["set-image", "nginx:1.27.0", "apps", "missing"],
            "missing: no such file or directory",
        ),
        // A file named on the command line must parse.
        (
            vec!["set-image", "nginx:1.27.0", "apps/broken/half.yaml"],
            "apps/broken/half.yaml:",
        ),
    ] {
        let r = imagebump(root, &args, &[]);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("imagebump: "), "{args:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {r:?}");
        assert!(r.stderr.contains(needle), "{args:?}: {r:?}");
        assert_eq!(snapshot(root), before, "{args:?}");
    }
}

#[test]
fn a_refused_edit_exits_2_and_no_file_is_modified() {
    let good = deployment(&[("web", "nginx:1.25.0")]);
    let alias = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: &img nginx:1.25.0\n  - name: b\n    image: *img\n";
    let block = "image:\n  repository: nginx\n  tag: |-\n    1.25.0\n";
    for (bad, line, why) in [(alias, 8, "alias"), (block, 3, "block scalar")] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // The good files sort before and after the bad one: none may be written.
        write(
            root,
            &[
                ("apps/a-good.yaml", &good),
                ("apps/b-bad.yaml", bad),
                ("apps/c-good.yaml", &good),
            ],
        );
        let before = snapshot(root);
        for dry in [false, true] {
            let mut args = vec!["set-image"];
            if dry {
                args.push("--dry-run");
            }
            args.extend(["nginx:1.27.0", "apps"]);
            let r = imagebump(root, &args, &[]);
            assert_eq!(r.code, 2, "{why}: {r:?}");
            assert!(
                r.stderr.starts_with(&format!(
                    "imagebump: apps/b-bad.yaml:{line}: refusing to edit: "
                )),
                "{why}: {r:?}"
            );
            assert_eq!(r.stderr.lines().count(), 1, "{why}: {r:?}");
            assert!(r.stderr.contains(why), "{why}: {r:?}");
            assert!(r.stdout.is_empty(), "nothing is reported as changed: {r:?}");
            assert_eq!(snapshot(root), before, "{why}: no file modified");
        }
    }
}

#[test]
fn marker_edits_only_the_values_marked_for_that_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dep = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n        - name: canary\n          image: ghcr.io/acme/app:1.0.0 # {\"$imagepolicy\": \"flux-system:canary\"}\n        - name: unmarked\n          image: ghcr.io/acme/app:1.0.0\n";
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nspec:\n  values:\n    image:\n      repository: ghcr.io/acme/app # {\"$imagepolicy\": \"flux-system:app:name\"}\n      tag: 1.0.0 # {\"$imagepolicy\": \"flux-system:app:tag\"}\n    other:\n      tag: 1.0.0\n";
    write(
        root,
        &[
            ("clusters/prod/app.yaml", dep),
            ("clusters/prod/release.yaml", release),
        ],
    );
    let r = imagebump(
        root,
        &[
            "set-image",
            "--marker",
            "flux-system:app",
            "ghcr.io/acme/app:1.1.0",
            "clusters",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        read(root, "clusters/prod/app.yaml"),
        dep.replacen("app:1.0.0", "app:1.1.0", 1)
    );
    assert_eq!(
        read(root, "clusters/prod/release.yaml"),
        release.replacen("tag: 1.0.0", "tag: 1.1.0", 1)
    );
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    assert_eq!(
        got,
        [
            "clusters/prod/app.yaml:8 ghcr.io/acme/app:1.0.0 → ghcr.io/acme/app:1.1.0",
            "clusters/prod/release.yaml:7 1.0.0 → 1.1.0",
        ],
        "{r:?}"
    );
    // A policy no marker names: no reference, exit 1.
    let r = imagebump(
        root,
        &[
            "set-image",
            "--marker",
            "flux-system:nobody",
            "ghcr.io/acme/app:1.2.0",
            "clusters",
        ],
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        "imagebump: no reference to ghcr.io/acme/app (marker flux-system:nobody) under clusters\n"
    );
}

/// The full commit message of the tip of `branch`.
fn tip_message(repo: &BareRepo, branch: &str) -> String {
    git(
        None,
        &[
            "--git-dir",
            repo.path().to_str().unwrap(),
            "log",
            "-1",
            "--format=%B",
            branch,
        ],
    )
}

fn fleet() -> (String, Vec<(&'static str, String)>) {
    let web = deployment(&[("web", "nginx:1.25.0"), ("cache", "redis:7.0.0")]);
    let files = vec![
        ("apps/web/deployment.yaml", web.clone()),
        (
            "apps/api/deployment.yaml",
            deployment(&[("api", "ghcr.io/acme/api:2.0.0")]),
        ),
        ("infra/proxy.yaml", deployment(&[("proxy", "nginx:1.25.0")])),
        ("README.md", "fleet: nginx:1.25.0\n".to_string()),
    ];
    (web, files)
}

fn bare(files: &[(&str, String)]) -> BareRepo {
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    BareRepo::with_files(&refs)
}

#[test]
fn git_file_url_commits_and_pushes_only_the_edited_files() {
    let (web, files) = fleet();
    let repo = bare(&files);
    let base = repo.head("main").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let url = repo.file_url();

    // --dry-run first: a diff with repository-relative names, and no commit.
    let r = imagebump(
        &cwd,
        &[
            "set-image",
            "--git",
            &url,
            "--path",
            "apps",
            "--state-dir",
            state.to_str().unwrap(),
            "--dry-run",
            "nginx:1.27.0",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("--- a/apps/web/deployment.yaml\n+++ b/apps/web/deployment.yaml\n"),
        "{r:?}"
    );
    assert!(!r.stdout.contains(state.to_str().unwrap()), "{r:?}");
    assert_eq!(repo.head("main").unwrap(), base, "--dry-run pushes nothing");

    let r = imagebump(
        &cwd,
        &[
            "set-image",
            "--git",
            &url,
            "--path",
            "apps",
            "--state-dir",
            state.to_str().unwrap(),
            "nginx:1.27.0",
        ],
        &[
            ("IMAGEBUMP_GIT_AUTHOR_NAME", "Release Bot"),
            ("IMAGEBUMP_GIT_AUTHOR_EMAIL", "bot@example.com"),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let line = format!(
        "apps/web/deployment.yaml:{} nginx:1.25.0 → nginx:1.27.0",
        line_of(&web, "nginx")
    );
    let head = repo.head("main").unwrap();
    assert_eq!(
        r.stdout,
        format!("{line}\npushed {head} to main\n"),
        "{r:?}"
    );
    assert_eq!(repo.commit_count("main"), 2);
    assert!(repo.is_ancestor(&base, "main"));
    assert_eq!(repo.tip_author("main"), "Release Bot <bot@example.com>");
    assert_eq!(repo.tip_changed_files("main"), ["apps/web/deployment.yaml"]);
    assert_eq!(
        repo.read("main", "apps/web/deployment.yaml").unwrap(),
        web.replace("nginx:1.25.0", "nginx:1.27.0")
    );
    for (p, c) in &files[1..] {
        assert_eq!(&repo.read("main", p).unwrap(), c, "{p} untouched");
    }
    let msg = tip_message(&repo, "main");
    assert!(
        msg.starts_with("chore(images): set nginx:1.27.0\n"),
        "{msg}"
    );
    assert!(msg.contains(&format!("- {line}\n")), "{msg}");
    // The working copy lives in --state-dir; nothing lands in the current directory.
    assert!(state.join("git").is_dir());
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);

    // Again: nothing to change, no commit.
    let r = imagebump(
        &cwd,
        &[
            "set-image",
            "--git",
            &url,
            "--state-dir",
            state.to_str().unwrap(),
            "nginx:1.27.0",
            "apps",
        ],
        &[],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "nothing to change\n"),
        "{r:?}"
    );
    assert_eq!(repo.commit_count("main"), 2);

    // An image no file names: exit 1, no commit.
    let r = imagebump(
        &cwd,
        &[
            "set-image",
            "--git",
            &url,
            "--state-dir",
            state.to_str().unwrap(),
            "quay.io/acme/absent:1.0.0",
            "apps",
        ],
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("no reference to quay.io/acme/absent under apps"),
        "{r:?}"
    );
    assert_eq!(repo.commit_count("main"), 2);

    // Named paths and a custom message; the whole repository when no path is given.
    let r = imagebump(
        &cwd,
        &[
            "set-image",
            "--git",
            &url,
            "--state-dir",
            state.to_str().unwrap(),
            "--message",
            "bump the proxy",
            "nginx:1.28.0",
            "infra/proxy.yaml",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    // The user's text is the subject; the change lines and the trailer still follow, so
    // the commit stays recognisable as imagebump's.
    let msg = tip_message(&repo, "main");
    assert!(
        msg.starts_with("bump the proxy\n\n- infra/proxy.yaml:"),
        "{msg}"
    );
    assert!(
        msg.trim_end().ends_with("Imagebump-Version: 0.1.0"),
        "{msg}"
    );
    assert_eq!(repo.tip_changed_files("main"), ["infra/proxy.yaml"]);
    let r = imagebump(
        &cwd,
        &[
            "set-image",
            "--git",
            &url,
            "--state-dir",
            state.to_str().unwrap(),
            "nginx:1.29.0",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        repo.tip_changed_files("main"),
        ["apps/web/deployment.yaml", "infra/proxy.yaml"]
    );
    assert_eq!(
        repo.read("main", "README.md").unwrap(),
        "fleet: nginx:1.25.0\n"
    );
    assert_eq!(repo.commit_count("main"), 4);
}

#[test]
fn git_refused_edit_or_bad_path_pushes_nothing() {
    let (_, mut files) = fleet();
    files.push((
        "apps/zz/pod.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: &img nginx:1.25.0\n  - name: b\n    image: *img\n"
            .to_string(),
    ));
    let repo = bare(&files);
    let base = repo.head("main").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    for extra in [&["apps"][..], &["../outside"], &["apps/none.yaml"]] {
        let url = repo.file_url();
        let mut args = vec![
            "set-image",
            "--git",
            &url,
            "--state-dir",
            state.to_str().unwrap(),
            "nginx:1.27.0",
        ];
        args.extend(extra);
        let r = imagebump(tmp.path(), &args, &[]);
        assert_eq!(r.code, 2, "{extra:?}: {r:?}");
        assert!(r.stderr.starts_with("imagebump: "), "{r:?}");
        assert_eq!(
            repo.head("main").unwrap(),
            base,
            "{extra:?}: nothing pushed"
        );
    }
    // The working copy recovers: a valid run afterwards commits only its own change.
    let r = imagebump(
        tmp.path(),
        &[
            "set-image",
            "--git",
            &repo.file_url(),
            "--state-dir",
            state.to_str().unwrap(),
            "nginx:1.27.0",
            "apps/web",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(repo.tip_changed_files("main"), ["apps/web/deployment.yaml"]);
}

#[test]
fn git_url_with_branch() {
    let (web, files) = fleet();
    let repo = bare(&files);
    let clone = CliClone::new(&repo.file_url());
    git(Some(clone.path()), &["checkout", "-q", "-b", "release"]);
    clone.commit(&[("RELEASE", "1\n")], "start release");
    git(Some(clone.path()), &["push", "-q", "origin", "release"]);
    let main = repo.head("main").unwrap();
    let release = repo.head("release").unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let r = imagebump(
        tmp.path(),
        &[
            "set-image",
            "--git",
            &format!("{}#release", repo.file_url()),
            "--state-dir",
            tmp.path().join("s").to_str().unwrap(),
            "nginx:1.27.0",
            "apps",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.ends_with(" to release\n"), "{r:?}");
    assert_eq!(repo.head("main").unwrap(), main, "main does not move");
    assert!(repo.is_ancestor(&release, "release"));
    assert_eq!(repo.commit_count("release"), 3);
    assert_eq!(
        repo.read("release", "apps/web/deployment.yaml").unwrap(),
        web.replace("nginx:1.25.0", "nginx:1.27.0")
    );
    assert_eq!(repo.read("release", "RELEASE").unwrap(), "1\n");

    // A branch that does not exist: exit 2, one line.
    let r = imagebump(
        tmp.path(),
        &[
            "set-image",
            "--git",
            &format!("{}#nope", repo.file_url()),
            "--state-dir",
            tmp.path().join("s").to_str().unwrap(),
            "nginx:1.27.0",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
}

#[test]
fn git_smart_http_with_credentials_from_the_environment() {
    let server = HttpGitServer::start("gituser", "s3cret-pass");
    let (web, files) = fleet();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let repo = server.create_repo("fleet.git", &refs);
    let base = repo.head("main").unwrap();
    let url = server.url("fleet.git");
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let args = [
        "set-image",
        "--git",
        &url,
        "--state-dir",
        state.to_str().unwrap(),
        "nginx:1.27.0",
        "apps",
    ];

    // No or wrong credentials: exit 2, and the password never shows.
    for env in [
        &[][..],
        &[
            ("IMAGEBUMP_GIT_USERNAME", "gituser"),
            ("IMAGEBUMP_GIT_PASSWORD", "wrong-pass"),
        ],
    ] {
        let r = imagebump(tmp.path(), &args, env);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.starts_with("imagebump: "), "{r:?}");
        assert!(!r.stderr.contains("wrong-pass"), "{r:?}");
        assert_eq!(repo.head("main").unwrap(), base);
    }

    let r = imagebump(
        tmp.path(),
        &args,
        &[
            ("IMAGEBUMP_GIT_USERNAME", "gituser"),
            ("IMAGEBUMP_GIT_PASSWORD", "s3cret-pass"),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"));
    assert_eq!(repo.commit_count("main"), 2);
    assert_eq!(repo.tip_changed_files("main"), ["apps/web/deployment.yaml"]);
    assert_eq!(
        repo.read("main", "apps/web/deployment.yaml").unwrap(),
        web.replace("nginx:1.25.0", "nginx:1.27.0")
    );
    // The password is not stored in the working copy's config.
    let cfg = snapshot(&state)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".git/config"))
        .map(|(_, b)| String::from_utf8(b).unwrap())
        .collect::<String>();
    assert!(!cfg.is_empty() && !cfg.contains("s3cret"), "{cfg}");

    // A password file works too; one that cannot be read is named, not ignored.
    let r = imagebump(
        tmp.path(),
        &args,
        &[
            ("IMAGEBUMP_GIT_USERNAME", "gituser"),
            ("IMAGEBUMP_GIT_PASSWORD_FILE", "/nonexistent/pw"),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("imagebump: IMAGEBUMP_GIT_PASSWORD_FILE /nonexistent/pw: "),
        "{r:?}"
    );
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "s3cret-pass\n").unwrap();
    let args2 = [
        "set-image",
        "--git",
        &url,
        "--state-dir",
        state.to_str().unwrap(),
        "nginx:1.28.0",
        "apps",
    ];
    let r = imagebump(
        tmp.path(),
        &args2,
        &[
            ("IMAGEBUMP_GIT_USERNAME", "gituser"),
            ("IMAGEBUMP_GIT_PASSWORD_FILE", pw.to_str().unwrap()),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(repo.commit_count("main"), 3);
}
