//! `imagebump validate`'s checks beyond parsing, from the user's side (the real binary):
//! durations out of bounds, images without targets, targets inside `.git`, branch names
//! git refuses, secret files that are missing, and `--repo DIR` checking every target
//! against a checkout of the GitOps repository without a registry.

mod support;

use std::path::Path;

use support::cli::Run;

fn validate(cwd: &Path, args: &[&str]) -> Run {
    let mut all = vec!["validate"];
    all.extend_from_slice(args);
    support::cli::run(cwd, &all, &[])
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, c).unwrap();
    }
}

const GOOD: &str = "application: shop\nimages:\n  - repository: ghcr.io/acme/web\n    semver: '*'\n    targets:\n      - manifest: apps/web.yaml\n";

#[test]
fn huge_and_zero_durations_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        &[
            ("imagebump.yaml", "poll:\n  interval: 99999999999999999999h\n"),
            ("zero.yaml", "poll: {interval: 0s}\n"),
            ("batch.yaml", "batchWindow: 99999999999999999999h\n"),
            (
                "policies/p.yaml",
                "application: a\nimages:\n  - repository: x\n    semver: '*'\n    interval: 99999999999999999999h\n    targets: [{manifest: a.yaml}]\n",
            ),
        ],
    );
    let r = validate(root, &["--config", "imagebump.yaml", "policies"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("imagebump.yaml:2:") && r.stdout.contains("too long"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("p.yaml:5:") && r.stdout.contains("too long"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    let r = validate(root, &["--config", "zero.yaml", "policies"]);
    assert!(
        r.code == 2 && r.stdout.contains("zero.yaml:1:") && r.stdout.contains("at least 1s"),
        "{r:?}"
    );
    let r = validate(root, &["--config", "batch.yaml", "policies"]);
    assert!(
        r.code == 2 && r.stdout.contains("batch.yaml:1:") && !r.stderr.contains("panicked"),
        "{r:?}"
    );
}

#[test]
fn an_image_without_targets_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        &[(
            "policies/p.yaml",
            "application: shop\nimages:\n  - repository: ghcr.io/acme/web\n    semver: '*'\n    targets: [{manifest: a.yaml}]\n  - repository: ghcr.io/acme/api\n    semver: '*'\n",
        )],
    );
    let r = validate(root, &["policies"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stdout,
        "policies/p.yaml:6: image ghcr.io/acme/api (shop/api) has no targets: list the files it is written to under targets:\n",
        "{r:?}"
    );
}

#[test]
fn a_target_inside_dot_git_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        &[(
            "policies/p.yaml",
            "application: shop\nimages:\n  - repository: ghcr.io/acme/web\n    semver: '*'\n    targets:\n      - manifest: .git/config\n",
        )],
    );
    let r = validate(root, &["policies"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("p.yaml:6:") && r.stdout.contains("inside .git"),
        "{r:?}"
    );
}

#[test]
fn a_branch_git_refuses_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        &[
            (
                "imagebump.yaml",
                "git:\n  url: file:///srv/fleet.git\n  branch: \"a..b\"\n",
            ),
            ("policies/p.yaml", GOOD),
        ],
    );
    let r = validate(root, &["--config", "imagebump.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("imagebump.yaml:3:") && r.stdout.contains("not a valid git branch name"),
        "{r:?}"
    );
}

#[test]
fn missing_secret_files_are_errors_and_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let present = root.join("token");
    std::fs::write(&present, "s3cret-value\n").unwrap();
    let cfg = format!(
        "git:\n  url: https://git.example.com/fleet.git\n  credentials:\n    username: {{env: GIT_USER}}\n    password: {{file: {}}}\nregistries:\n  - host: ghcr.io\n    credentials:\n      username: {{file: {}}}\n      password: {{file: {}}}\n",
        root.join("missing").display(),
        present.display(),
        root.display(),
    );
    write(root, &[("imagebump.yaml", &cfg), ("policies/p.yaml", GOOD)]);
    let r = validate(root, &["--config", "imagebump.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    let lines: Vec<_> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(
        lines[0].contains("imagebump.yaml:5:")
            && lines[0].contains("git.credentials.password: secret file")
            && lines[0].contains("missing cannot be read"),
        "{r:?}"
    );
    assert!(
        lines[1].contains("imagebump.yaml:10:")
            && lines[1].contains("registries[0].credentials.password")
            && lines[1].contains("not a regular file"),
        "{r:?}"
    );
    assert!(
        !r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"),
        "{r:?}"
    );
}

#[test]
fn repo_checks_every_target_against_the_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        &[
            (
                "policies/p.yaml",
                "application: shop\nimages:\n  - repository: localhost:5000/web\n    semver: '*'\n    targets:\n      - manifest: apps/web.yaml\n      - kustomize: apps/values.yaml\n      - manifest: apps/gone.yaml\n      - markers: apps/\n  - repository: localhost:5000/api\n    semver: '*'\n    targets:\n      - manifest: apps/web.yaml\n",
            ),
            (
                "fleet/apps/web.yaml",
                "kind: Pod\nspec:\n  containers:\n    - image: 127.0.0.1:5000/web:1.0.0\n    - image: localhost:5000/api:1.0.0\n",
            ),
            ("fleet/apps/values.yaml", "image:\n  repository: localhost:5000/web\n  tag: 1.0.0\n"),
        ],
    );
    let r = validate(root, &["--repo", "fleet", "policies"]);
    assert_eq!(r.code, 2, "{r:?}");
    let p = "policies/p.yaml";
    let lines: Vec<_> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{r:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{p}:6: shop/web: apps/web.yaml does not mention localhost:5000/web"
        )),
        "{r:?}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{p}:7: shop/web: apps/values.yaml does not mention localhost:5000/web"
        )),
        "{r:?}"
    );
    assert!(
        lines[2].starts_with(&format!("{p}:8: shop/web: apps/gone.yaml: file not found")),
        "{r:?}"
    );
    assert!(
        lines[3].starts_with(&format!(
            "{p}:9: shop/web: apps does not mention localhost:5000/web"
        )),
        "{r:?}"
    );
    // Fixed, the same checkout passes.
    write(
        root,
        &[(
            "policies/p.yaml",
            "application: shop\nimages:\n  - repository: localhost:5000/api\n    semver: '*'\n    targets:\n      - manifest: apps/web.yaml\n",
        )],
    );
    let r = validate(root, &["--repo", "fleet", "policies"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "ok: 1 policy files, 1 images\n"),
        "{r:?}"
    );
}

#[test]
fn an_unknown_template_variable_is_an_error_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        &[
            (
                "imagebump.yaml",
                "git:\n  url: file:///srv/fleet.git\n  commitMessage: \"[{{ applicaton }}] bump {{ summary }}\"\n",
            ),
            ("policies/p.yaml", GOOD),
        ],
    );
    let r = validate(root, &["--config", "imagebump.yaml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("imagebump.yaml:3:")
            && r.stdout.contains("unknown variable `applicaton`"),
        "{r:?}"
    );
}

/// `registries:`: a proxy that is not a URL, a client certificate pair that is missing,
/// not PEM or does not belong together are errors at their key's line; a cloud provider
/// without what it needs in the environment is a warning naming the variables (or an
/// error where the provider itself would fail). No key material is printed.
#[test]
fn registry_proxies_client_certificates_and_provider_needs_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(root)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-subj", "/CN=a", "-keyout", "a.key", "-out", "a.crt"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-subj", "/CN=b", "-keyout", "b.key", "-out", "b.crt"],
        ]
        .concat(),
    );
    std::fs::write(root.join("gcp.json"), "not json").unwrap();
    let cfg = "registries:\n  - host: r0.example\n    proxy: proxy.corp:3128\n  - host: r1.example\n    clientCert: {file: a.crt}\n    clientKey: {file: b.key}\n  - host: r2.example\n    clientCert: {file: missing.crt}\n    clientKey: {file: a.key}\n  - host: r3.example\n    clientCert: {file: a.crt}\n    clientKey: {file: a.key}\n    proxy: http://proxy.corp:3128\n  - host: myacr.azurecr.io\n    provider: azure\n  - host: europe-docker.pkg.dev\n    provider: gcp\n";
    write(root, &[("imagebump.yaml", cfg), ("policies/p.yaml", GOOD)]);
    let r = support::cli::run(
        root,
        &["validate", "--config", "imagebump.yaml"],
        &[
            ("AZURE_FEDERATED_TOKEN_FILE", ""),
            ("IDENTITY_ENDPOINT", ""),
            ("GOOGLE_APPLICATION_CREDENTIALS", "gcp.json"),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    let line = |needle: &str| {
        r.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}: {r:?}"))
            .to_string()
    };
    assert!(
        line("registries[0].proxy").starts_with("imagebump.yaml:3:"),
        "{r:?}"
    );
    assert!(line("registries[0].proxy").contains("not a proxy URL like http://"));
    let l = line("registries[1].clientKey");
    assert!(
        l.starts_with("imagebump.yaml:6:") && l.contains("does not belong to the certificate"),
        "{l}"
    );
    let l = line("registries[2].clientCert");
    assert!(
        l.starts_with("imagebump.yaml:8:") && l.contains("missing.crt"),
        "{l}"
    );
    assert!(
        !r.stdout.contains("registries[3]"),
        "a good pair and proxy: {r:?}"
    );
    let l = line("registries[4].provider");
    assert!(
        l.starts_with("imagebump.yaml:15:")
            && l.contains("warning:")
            && l.contains("AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID")
            && l.contains("IDENTITY_ENDPOINT, IDENTITY_HEADER"),
        "{l}"
    );
    let l = line("registries[5].provider");
    assert!(
        l.starts_with("imagebump.yaml:17:")
            && !l.contains("warning:")
            && l.contains("gcp.json is not JSON"),
        "{l}"
    );
    assert!(
        !r.stdout.contains("PRIVATE KEY") && !r.stdout.contains("BEGIN"),
        "{r:?}"
    );
}
