//! `imagebump test --image` against a real Distribution registry: tags from the live
//! registry, credentials and `insecure` from the config, exit codes on failures.

mod support;

use std::process::Command;

use support::registry::{TestRegistry, TestRegistryOptions};

fn imagebump(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run imagebump");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config(dir: &std::path::Path, reg: &TestRegistry, creds: bool) -> String {
    let path = dir.join("imagebump.yaml");
    let creds = if creds {
        "\n    credentials: {username: {env: REG_USER}, password: {file: ./reg-pass}}"
    } else {
        ""
    };
    std::fs::write(
        &path,
        format!(
            "registries:\n  - host: {}\n    insecure: true{creds}\n",
            reg.host()
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn live_registry_plain_http_with_digest_and_policy() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for t in ["1.0.0", "1.2.0", "2.0.0", "latest"] {
        rt.block_on(reg.push_image("team/app", t));
    }
    let d12 = rt.block_on(reg.push_image("team/app", "1.2.0"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &reg, false);
    let image = format!("{}/team/app", reg.host());

    let (code, out, err) = imagebump(
        &[
            "test", "--config", &cfg, "--image", &image, "--semver", "^1",
        ],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, "1.2.0\n"), "{err}");
    let (code, out, _) = imagebump(
        &[
            "test", "--config", &cfg, "--image", &image, "--semver", "^1", "--digest",
        ],
        &[],
    );
    assert_eq!((code, out), (0, format!("1.2.0@{d12}\n")));
    let (code, out, err) = imagebump(
        &[
            "test", "--config", &cfg, "--image", &image, "--semver", "^3",
        ],
        &[],
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("no tag matches"));

    // The strategy from a policy file; the repository too when --image is left out.
    let policy = dir.path().join("app.yaml");
    std::fs::write(
        &policy,
        format!("application: app\nimages:\n  - repository: {image}\n    semver: '>=1.0.0 <2'\n"),
    )
    .unwrap();
    let (code, out, err) = imagebump(
        &[
            "test",
            "--config",
            &cfg,
            "--policy",
            policy.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, "1.2.0\n"), "{err}");

    // Registry failures: exit 2, one line on stderr, nothing on stdout.
    let missing = format!("{}/team/nothing", reg.host());
    let (code, out, err) = imagebump(&["test", "--config", &cfg, "--image", &missing], &[]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not found"), "{err}");
    // Without the config, the registry is spoken to over TLS, which it does not offer.
    let (code, out, err) = imagebump(&["test", "--image", &image], &[]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    let (code, out, err) = imagebump(
        &["test", "--image", "127.0.0.1:9/none/here", "--config", &cfg],
        &[],
    );
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
}

#[test]
fn live_registry_with_basic_auth_from_config_secrets() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("alice", "s3cret-pw"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(reg.push_image("team/app", "0.3.1"));
    rt.block_on(reg.push_image("team/app", "0.4.0"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &reg, true);
    std::fs::write(dir.path().join("reg-pass"), "s3cret-pw\n").unwrap();
    let image = format!("{}/team/app", reg.host());
    // The password file path is relative to the working directory here.
    let run = |env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .current_dir(dir.path())
            .args([
                "test", "--config", &cfg, "--image", &image, "--semver", "~0.3",
            ])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&[("REG_USER", "alice")]);
    assert_eq!((code, out.as_str()), (0, "0.3.1\n"), "{err}");
    let (code, out, err) = run(&[("REG_USER", "mallory")]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(!err.contains("s3cret-pw"), "{err}");
    let (code, _, err) = run(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("REG_USER"), "{err}");
}

#[test]
fn plain_http_registry_without_insecure_says_what_to_set() {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(reg.push_image("team/app", "1.0.0"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imagebump.yaml");
    std::fs::write(&cfg, format!("registries:\n  - host: {}\n", reg.host())).unwrap();
    let image = format!("{}/team/app", reg.host());
    let (code, out, err) = imagebump(
        &["test", "--config", cfg.to_str().unwrap(), "--image", &image],
        &[],
    );
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        format!(
            "imagebump: {} answered plain HTTP; set `insecure: true` for it in `registries`\n",
            reg.host()
        )
    );
}
