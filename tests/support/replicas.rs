//! Helpers for tests that run several `imagebump run` replicas on one registry and one
//! GitOps repository: the fleet's files and policies, each replica's config, the
//! registry's webhook, and reading what happened from logs, `/metrics` and git history.

use std::path::Path;
use std::time::{Duration, Instant};

use imagebump_testbed::gitserver::{git, BareRepo};

use super::service::SECRET;

pub const IMAGES: [&str; 3] = ["api", "web", "worker"];

/// `apps/APP/deployment.yaml`: one container per image of the application.
pub fn deployment(host: &str, app: &str, tags: &[&str; 3]) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  template:\n    spec:\n      containers:\n"
    );
    for (img, tag) in IMAGES.iter().zip(tags) {
        s += &format!("        - name: {img}\n          image: {host}/team/{app}-{img}:{tag}\n");
    }
    s
}

/// One policy file per application, every image `semver: '>=1.0.0'` into its file.
pub fn write_policies(dir: &Path, host: &str, apps: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    for app in apps {
        let mut p = format!("application: {app}\nimages:\n");
        for img in IMAGES {
            p += &format!(
                "  - name: {img}\n    repository: {host}/team/{app}-{img}\n    semver: '>=1.0.0'\n    targets:\n      - manifest: apps/{app}/deployment.yaml\n"
            );
        }
        std::fs::write(dir.join(format!("{app}.yaml")), p).unwrap();
    }
}

/// A replica's directory `DIR`: its own config, stateDir (working copy) and log; the
/// policies directory and everything else the same for all replicas.
pub fn write_replica(
    dir: &Path,
    port: u16,
    policies: &Path,
    git_url: &str,
    creds: bool,
    host: &str,
    extra: &str,
) {
    std::fs::create_dir_all(dir).unwrap();
    let creds = if creds {
        "\n  credentials: {username: {env: E2E_GIT_USER}, password: {env: E2E_GIT_PASSWORD}}"
    } else {
        ""
    };
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {p}\ngit:\n  url: {git_url}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}{creds}\nregistries:\n  - host: {host}\n    insecure: true\nreceivers:\n  - name: registry\n    provider: distribution\n    secret: {{env: E2E_WEBHOOK_SECRET}}\npoll: {{interval: 1h}}\n{extra}",
            d = dir.display(),
            p = policies.display(),
        ),
    )
    .unwrap();
}

/// The registry's notification for one push, as CNCF Distribution sends it.
pub fn push_event(host: &str, repo: &str, tag: &str) -> String {
    format!(
        r#"{{"events":[{{"action":"push","target":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"{repo}","tag":"{tag}"}},"request":{{"host":"{host}"}}}}]}}"#
    )
}

pub async fn deliver(client: &reqwest::Client, port: u16, body: String) -> u16 {
    client
        .post(format!("http://127.0.0.1:{port}/hooks/registry"))
        .header("authorization", format!("Bearer {SECRET}"))
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A counter's value summed over its series in a `/metrics` text (0 when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// The commits a replica says it pushed (its JSON log's `pushed a commit` lines).
pub fn pushed_commits(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "pushed a commit")
        .filter_map(|v| v["fields"]["commit"].as_str().map(str::to_string))
        .collect()
}

/// `repo`'s commits after `base` on main, oldest first.
pub fn history(repo: &BareRepo, base: &str) -> Vec<String> {
    let gd = repo.path().to_str().unwrap();
    git(
        None,
        &[
            "--git-dir",
            gd,
            "rev-list",
            "--reverse",
            &format!("{base}..main"),
        ],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// The `+` lines of one commit's patch (what it changed to), and its parent count.
pub fn commit_changes(repo: &BareRepo, commit: &str) -> (Vec<String>, usize) {
    let gd = repo.path().to_str().unwrap();
    let parents = git(
        None,
        &["--git-dir", gd, "rev-list", "--parents", "-n1", commit],
    )
    .split_whitespace()
    .count()
        - 1;
    let patch = git(None, &["--git-dir", gd, "show", "--format=", "-U0", commit]);
    let added = patch
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(str::to_string)
        .collect();
    (added, parents)
}

/// The apps' files at the tags given by `tag_of(registry repository)`.
pub fn fleet_at(
    host: &str,
    apps: &[String],
    tag_of: impl Fn(&str) -> String,
) -> Vec<(String, String)> {
    apps.iter()
        .map(|a| {
            let tags = IMAGES.map(|i| tag_of(&format!("team/{a}-{i}")));
            (
                format!("apps/{a}/deployment.yaml"),
                deployment(host, a, &[&tags[0], &tags[1], &tags[2]]),
            )
        })
        .collect()
}
