//! `imagebump test` and `imagebump validate` as a user runs them: the real binary,
//! real files, exit codes and output streams checked.

use std::io::Write;
use std::process::{Command, Stdio};

fn imagebump(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(args)
        .output()
        .expect("run imagebump");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn test_prints_chosen_tag_alone() {
    let (code, out, _) = imagebump(&[
        "test",
        "--semver",
        ">=1.0.0 <2.0.0",
        "1.0.0",
        "v1.9.0",
        "2.0.0",
        "latest",
    ]);
    assert_eq!((code, out.as_str()), (0, "v1.9.0\n"));
}

#[test]
fn test_no_match_exits_1() {
    let (code, out, err) = imagebump(&["test", "--semver", "^3", "1.0.0", "2.0.0"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("no tag matches"), "{err}");
}

#[test]
fn test_bad_range_exits_2() {
    let (code, out, err) = imagebump(&["test", "--semver", ">=1.0 <", "1.0.0"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("constraint"), "{err}");
    let (code, _, err) = imagebump(&["test", "--pattern", "(", "1"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = imagebump(&["test", "--semver", "*", "--numerical", "asc", "1"]);
    assert_eq!(code, 2);
}

#[test]
fn test_strategies_from_flags() {
    let (_, out, _) = imagebump(&["test", "--alphabetical", "desc", "b", "a", "c"]);
    assert_eq!(out, "a\n");
    let (_, out, _) = imagebump(&["test", "--numerical", "asc", "9", "10", "x"]);
    assert_eq!(out, "10\n");
    let (_, out, _) = imagebump(&[
        "test",
        "--numerical",
        "asc",
        "--pattern",
        r"^main-[0-9a-f]+-(?P<ts>\d+)$",
        "--extract",
        "$ts",
        "main-aa-20",
        "main-bb-100",
        "dev-cc-999",
    ]);
    assert_eq!(out, "main-bb-100\n");
    let (_, out, _) = imagebump(&["test", "--exclude", "^2", "1.0.0", "2.0.0"]);
    assert_eq!(out, "1.0.0\n");
    let (_, out, _) = imagebump(&["test", "--loose", "1.2", "1.10"]);
    assert_eq!(out, "1.10\n");
    let (code, out, _) = imagebump(&["test", "--current", "3.0.0", "1.0.0", "2.0.0"]);
    assert_eq!((code, out.as_str()), (0, "3.0.0\n"));
    let (_, out, _) = imagebump(&[
        "test",
        "--current",
        "3.0.0",
        "--allow-downgrade",
        "1.0.0",
        "2.0.0",
    ]);
    assert_eq!(out, "2.0.0\n");
}

#[test]
fn test_reads_tags_file_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tags.txt");
    std::fs::write(&f, "1.0.0\n\n  1.2.0  \n1.1.0\n").unwrap();
    let (_, out, _) = imagebump(&["test", "--tags-file", f.to_str().unwrap()]);
    assert_eq!(out, "1.2.0\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["test", "--semver", "~1.1", "--tags-file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"1.1.0\n1.1.7\n1.2.0\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.1.7\n");
}

#[test]
fn test_explain_says_why_per_tag() {
    let (code, out, _) = imagebump(&[
        "test",
        "--semver",
        "^1",
        "--explain",
        "1.2.3",
        "2.0.0",
        "latest",
        "x.sig",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("1.2.3: kept"), "{out}");
    assert!(
        lines[1].starts_with("2.0.0: dropped") && lines[1].contains("outside"),
        "{out}"
    );
    assert!(lines[2].starts_with("latest: dropped"), "{out}");
    assert!(
        lines[3].starts_with("x.sig: dropped") && lines[3].contains("artefact"),
        "{out}"
    );
    assert_eq!(lines[4], "1.2.3");
}

#[test]
fn validate_ships_valid_examples() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let (code, out, _) = imagebump(&["validate", dir]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: 3 policy files"), "{out}");
}

#[test]
fn validate_reports_one_line_per_problem_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("a.yaml"),
        "application: a\nimages:\n  - repository: nginx\n    semver: '>=1.x.y'\n",
    )
    .unwrap();
    std::fs::write(p.join("b.yaml"), "application: b\nimages:\n  - repository: nginx\n    semver: '*'\n    targets:\n      - manifest: ../../etc/x.yaml\n").unwrap();
    std::fs::write(
        p.join("c.yaml"),
        "application: c\nimages:\n  - repository: nginx\n    semver: '*'\n    tagz: 1\n",
    )
    .unwrap();
    std::fs::write(
        p.join("ok.yaml"),
        "application: ok\nimages:\n  - repository: nginx\n    semver: '*'\n    targets: [{manifest: a.yaml}]\n",
    )
    .unwrap();
    std::fs::write(
        p.join("dup.yml"),
        "application: ok\nimages:\n  - repository: nginx\n    semver: '*'\n    targets: [{manifest: a.yaml}]\n",
    )
    .unwrap();
    let cfgdir = tempfile::tempdir().unwrap();
    let cfg = cfgdir.path().join("imagebump.yaml");
    std::fs::write(
        &cfg,
        "listen: 0.0.0.0:8080\nregistries:\n  - host: ghcr.io\n    insecur: true\n",
    )
    .unwrap();
    let (code, out, _) = imagebump(&[
        "validate",
        "--config",
        cfg.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        out.contains("imagebump.yaml:4:") && out.contains("unknown field `insecur`"),
        "{out}"
    );
    assert!(out.contains("a.yaml:4:"), "{out}");
    assert!(
        out.contains("b.yaml:6:") && out.contains("inside the repository"),
        "{out}"
    );
    assert!(
        out.contains("c.yaml:5:") && out.contains("unknown field `tagz`"),
        "{out}"
    );
    assert!(out.contains("already defined"), "{out}");
}

#[test]
fn test_takes_regex_values_that_start_with_a_dash() {
    let (code, out, err) = imagebump(&["test", "--exclude", "-debug$", "1.0.0", "1.0.1-debug"]);
    assert_eq!((code, out.as_str()), (0, "1.0.0\n"), "{err}");
    let (code, out, err) = imagebump(&[
        "test",
        "--numerical",
        "asc",
        "--pattern",
        "-(\\d+)$",
        "--extract",
        "$1",
        "build-7",
        "build-12",
        "x",
    ]);
    assert_eq!((code, out.as_str()), (0, "build-12\n"), "{err}");
}

#[test]
fn test_picks_one_of_two_images_of_a_repository_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("app.yaml");
    std::fs::write(
        &policy,
        "application: app\nimages:\n  - repository: nginx\n    name: stable\n    semver: '^1'\n  - repository: nginx\n    name: next\n    semver: '^2.0.0-0'\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let tags = ["1.4.0", "2.0.0-rc.1", "1.5.0"];
    let run = |extra: &[&str]| {
        let mut args = vec!["test", "--policy", p];
        args.extend_from_slice(extra);
        args.extend_from_slice(&tags);
        imagebump(&args)
    };
    let (code, out, err) = run(&["--name", "stable"]);
    assert_eq!((code, out.as_str()), (0, "1.5.0\n"), "{err}");
    let (code, out, err) = run(&["--name", "next"]);
    assert_eq!((code, out.as_str()), (0, "2.0.0-rc.1\n"), "{err}");
    let (code, out, err) = run(&[]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("--name (stable, next)"), "{err}");
    let (code, _, err) = run(&["--name", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("named stable, next"), "{err}");
}

#[test]
fn test_explain_suggests_loose_only_where_it_helps() {
    let (code, out, _) = imagebump(&["test", "--explain", "1.2", "latest", "1.0.0"]);
    assert_eq!(code, 0, "{out}");
    let line = |t: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{t}: ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("1.2").contains("loose: true"), "{out}");
    assert!(line("latest").contains("not a version"), "{out}");
    assert!(!line("latest").contains("loose"), "{out}");
}

#[test]
fn validate_reports_every_problem_of_a_file_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("a.yaml"),
        "application: a\nimages:\n  - repository: x\n    semver: '>=1.x.y'\n    targets:\n      - manifest: ../out.yaml\n      - kustomize: ok.yaml\n  - nginx\n  - repository: y\n    tags: {pattern: '^v(\\d+)$', extract: '$2'}\n    numerical: asc\n",
    )
    .unwrap();
    let (code, out, _) = imagebump(&["validate", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].contains("a.yaml:4:") && lines[0].contains("semver"),
        "{out}"
    );
    assert!(
        lines[1].contains("a.yaml:6:") && lines[1].contains("inside the repository"),
        "{out}"
    );
    assert!(
        lines[2].contains("a.yaml:8:")
            && lines[2].contains("expected an image, a mapping such as {repository:"),
        "{out}"
    );
    assert!(
        lines[3].contains("a.yaml:9:")
            && lines[3].contains(r#"names group "2", which the pattern"#),
        "{out}"
    );
    assert!(!out.contains("struct "), "{out}");

    // The same check for `test --extract`.
    let (code, _, err) = imagebump(&["test", "--pattern", "^v(\\d+)$", "--extract", "$name", "v1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--extract \"$name\" names group \"name\""),
        "{err}"
    );
}

#[test]
fn validate_config_reports_every_section_and_no_spurious_policies_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imagebump.yaml");
    std::fs::write(
        &cfg,
        "git: https://git.example.com/fleet.git\nregistries:\n  - host: a\n    rateLimit: fast\n  - host: b\n    insecur: true\npoll: 5m\n",
    )
    .unwrap();
    // Run where no ./policies exists: the config's errors are the only problems.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].contains("imagebump.yaml:1:")
            && lines[0].contains("expected a mapping such as {url: https://"),
        "{text}"
    );
    assert!(
        lines[1].contains(":4:")
            && lines[1].contains("registries[0].rateLimit")
            && lines[1].contains("expected a number"),
        "{text}"
    );
    assert!(
        lines[2].contains(":6:") && lines[2].contains("registries[1]: unknown field `insecur`"),
        "{text}"
    );
    assert!(
        lines[3].contains(":7:") && lines[3].contains("{interval: 5m}"),
        "{text}"
    );
    assert!(!text.contains("struct ") && !text.contains("f64"), "{text}");
    assert!(!text.contains("no such file"), "{text}");
}

#[test]
fn validate_warns_about_a_range_no_version_satisfies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "application: a\nimages:\n  - repository: x\n    semver: '>1.0 <0.5'\n    targets:\n      - manifest: apps/x.yaml\n",
    )
    .unwrap();
    let (code, out, _) = imagebump(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("a.yaml:4: warning:") && lines[0].contains("can match no version"),
        "{out}"
    );
    assert_eq!(lines[1], "ok: 1 policy files, 1 images, 1 warning");
}

/// `imagebump version` and `--version` name the version, the commit the binary was
/// built from (this checkout's HEAD) and a build date.
#[test]
fn version_names_the_commit_and_build_date() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git rev-parse failed");
    let head = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (code, line, err) = imagebump(&["version"]);
    assert_eq!(code, 0, "{err}");
    let prefix = format!(
        "imagebump {} (commit {head}, built ",
        env!("CARGO_PKG_VERSION")
    );
    let date = line
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{line:?} is not {prefix:?}DATE)"));
    let parts: Vec<&str> = date.split('-').collect();
    assert!(
        parts.len() == 3
            && [4, 2, 2]
                .iter()
                .zip(&parts)
                .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit())),
        "build date {date:?} is not YYYY-MM-DD"
    );
    let (code, flag, _) = imagebump(&["--version"]);
    assert_eq!((code, flag), (0, line));
}
