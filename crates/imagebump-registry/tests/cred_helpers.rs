//! Docker credential helpers against a real Distribution registry (htpasswd and token
//! auth): scripted helpers on PATH, and Debian's real `docker-credential-pass` over
//! `pass` and GnuPG in temporary homes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use imagebump_registry::{ClientOptions, DockerConfig, RegistryClient, RegistryOptions};
use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

/// One directory of scripted helpers, put first on PATH once for the whole binary
/// (every test sees the same PATH; each helper reads its state from files named in
/// its own script).
fn helper_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![d.path().to_path_buf()];
        paths.extend(std::env::split_paths(&path));
        std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
        d
    })
    .path()
}

/// A helper `docker-credential-<name>` that logs each call's stdin to `<state>/calls`
/// and answers the password in `<state>/password` for user `<state>/user`.
fn scripted_helper(name: &str, state: &Path, body: &str) {
    let script = helper_dir().join(format!("docker-credential-{name}"));
    let text = format!(
        "#!/bin/sh\nset -e\nS={}\n[ \"$1\" = get ] || exit 3\nread -r url\necho \"$url\" >> \"$S/calls\"\n{body}\n",
        state.display()
    );
    let tmp = script.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &script).unwrap();
}

const ANSWER: &str = r#"printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$url" "$(cat "$S/user")" "$(cat "$S/password")""#;

fn calls(state: &Path) -> Vec<String> {
    std::fs::read_to_string(state.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn client(
    reg: &TestRegistry,
    docker: &str,
    tweak: impl FnOnce(&mut ClientOptions),
) -> RegistryClient {
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    let mut opts = ClientOptions {
        registries: vec![r],
        docker_config: Some(DockerConfig::parse(docker).unwrap()),
        max_retries: 0,
        ..Default::default()
    };
    tweak(&mut opts);
    RegistryClient::new(opts).unwrap()
}

fn state(user: &str, pass: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("user"), user).unwrap();
    std::fs::write(d.path().join("password"), pass).unwrap();
    d
}

#[tokio::test]
async fn a_cred_helper_answers_once_and_is_asked_again_after_a_401() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("alice", "pw-1"));
    reg.push_image("private/app", "1.0").await;
    let st = state("alice", "pw-1");
    scripted_helper("scripted-a", st.path(), ANSWER);
    let docker = format!(r#"{{"credHelpers": {{"{}": "scripted-a"}}}}"#, reg.host());
    let c = client(&reg, &docker, |_| {});
    let img = reg.image("private/app");
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(
        calls(st.path()),
        vec![reg.host()],
        "asked once, with the host on stdin"
    );

    // A helper whose first answer is stale (a password rotated in the store after it
    // was read): the registry's 401 makes the client ask again, once, and succeed.
    let st = state("alice", "pw-1");
    scripted_helper(
        "scripted-stale",
        st.path(),
        &format!(
            "[ \"$(wc -l < \"$S/calls\")\" -gt 1 ] || echo stale > \"$S/password\"\n{ANSWER}\necho pw-1 > \"$S/password\""
        ),
    );
    let docker = format!(
        r#"{{"credHelpers": {{"{}": "scripted-stale"}}}}"#,
        reg.host()
    );
    let c = client(&reg, &docker, |_| {});
    assert_eq!(*c.list_tags(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(
        calls(st.path()).len(),
        2,
        "the refused answer was asked for again"
    );
    assert_eq!(*c.list_tags_fresh(&img).await.unwrap(), vec!["1.0"]);
    assert_eq!(calls(st.path()).len(), 2, "the good answer is kept");

    // A helper that keeps answering refused credentials: asked again once, then the
    // registry's refusal stands (no loop).
    let st = state("alice", "wrong");
    scripted_helper("scripted-wrong", st.path(), ANSWER);
    let docker = format!(
        r#"{{"credHelpers": {{"{}": "scripted-wrong"}}}}"#,
        reg.host()
    );
    let e = client(&reg, &docker, |_| {})
        .list_tags(&img)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("credentials rejected"), "{e}");
    assert_eq!(calls(st.path()).len(), 2);
}

#[tokio::test]
async fn a_cred_helper_feeds_a_token_registry_through_creds_store() {
    let reg = TestRegistry::start(TestRegistryOptions::token("bob", "tok-pw"));
    reg.push_image("team/api", "2.0").await;
    let st = state("bob", "tok-pw");
    scripted_helper("scripted-store", st.path(), ANSWER);
    let c = client(
        &reg,
        r#"{"auths": {}, "credsStore": "scripted-store"}"#,
        |_| {},
    );
    assert_eq!(
        *c.list_tags(&reg.image("team/api")).await.unwrap(),
        vec!["2.0"]
    );
    assert_eq!(calls(st.path()).len(), 1);
}

#[tokio::test]
async fn helper_failures_are_clear_and_bounded() {
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("carol", "pw"));
    reg.push_image("x/y", "1").await;
    let img = reg.image("x/y");

    // A helper that is not installed: named, with what to do.
    let docker = format!(
        r#"{{"credHelpers": {{"{}": "not-installed-xyz"}}}}"#,
        reg.host()
    );
    let e = client(&reg, &docker, |_| {})
        .list_tags(&img)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("docker-credential-not-installed-xyz not found on PATH"),
        "{msg}"
    );

    // "credentials not found": anonymous, so the registry's 401 stands.
    let st = state("carol", "pw");
    scripted_helper(
        "scripted-none",
        st.path(),
        "echo 'credentials not found in native keychain'; exit 1",
    );
    let docker = format!(
        r#"{{"credHelpers": {{"{}": "scripted-none"}}}}"#,
        reg.host()
    );
    let e = client(&reg, &docker, |_| {})
        .list_tags(&img)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("denied"), "{e}");

    // A failing helper: its own message, never its output's secret.
    scripted_helper(
        "scripted-broken",
        st.path(),
        "echo 'keyring is locked'; exit 2",
    );
    let docker = format!(
        r#"{{"credHelpers": {{"{}": "scripted-broken"}}}}"#,
        reg.host()
    );
    let e = client(&reg, &docker, |_| {})
        .list_tags(&img)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("keyring is locked"), "{e}");
    assert!(
        e.to_string().contains("docker-credential-scripted-broken"),
        "{e}"
    );

    // A hung helper is killed after the timeout.
    scripted_helper("scripted-hang", st.path(), "exec sleep 30");
    let docker = format!(
        r#"{{"credHelpers": {{"{}": "scripted-hang"}}}}"#,
        reg.host()
    );
    let c = client(&reg, &docker, |o| {
        o.helper_timeout = Duration::from_millis(500)
    });
    let t = Instant::now();
    let e = c.list_tags(&img).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(e.to_string().contains("did not answer within"), "{e}");

    // Output that is not the protocol's JSON: said so, the output not quoted.
    scripted_helper("scripted-junk", st.path(), "echo 'hunter2 is the password'");
    let docker = format!(
        r#"{{"credHelpers": {{"{}": "scripted-junk"}}}}"#,
        reg.host()
    );
    let e = client(&reg, &docker, |_| {})
        .list_tags(&img)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not JSON"), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

/// GnuPG and `pass` in temporary homes; the agent this starts is stopped on drop.
struct PassStore {
    _dir: tempfile::TempDir,
    gnupg: PathBuf,
    store: PathBuf,
}

impl PassStore {
    fn new() -> Option<PassStore> {
        let have = |b: &str| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !(have("docker-credential-pass") && have("pass") && have("gpg")) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let gnupg = dir.path().join("gnupg");
        let store = dir.path().join("store");
        std::fs::create_dir(&gnupg).unwrap();
        std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let p = PassStore {
            _dir: dir,
            gnupg,
            store,
        };
        p.run(
            "gpg",
            &[
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-gen-key",
                "imagebump test <t@example.invalid>",
                "default",
                "default",
                "never",
            ],
            None,
        );
        p.run("pass", &["init", "t@example.invalid"], None);
        Some(p)
    }

    fn run(&self, bin: &str, args: &[&str], stdin: Option<&str>) {
        use std::io::Write;
        let mut child = std::process::Command::new(bin)
            .args(args)
            .env("GNUPGHOME", &self.gnupg)
            .env("PASSWORD_STORE_DIR", &self.store)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{bin} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.gnupg)
            .status();
    }
}

#[tokio::test]
async fn debians_docker_credential_pass_feeds_a_real_registry() {
    let Some(pass) = PassStore::new() else {
        panic!("docker-credential-pass, pass or gpg missing: run scripts/install-deps.sh");
    };
    let reg = TestRegistry::start(TestRegistryOptions::htpasswd("dave", "from-pass"));
    reg.push_image("vault/app", "3.1").await;
    pass.run(
        "docker-credential-pass",
        &["store"],
        Some(&format!(
            r#"{{"ServerURL":"{}","Username":"dave","Secret":"from-pass"}}"#,
            reg.host()
        )),
    );
    // The helper reads its homes from the environment: give them to this process's
    // children through a wrapper on PATH (other tests' helpers are unaffected).
    let wrapper = format!(
        "GNUPGHOME={} PASSWORD_STORE_DIR={} exec /usr/bin/docker-credential-pass \"$@\"",
        pass.gnupg.display(),
        pass.store.display()
    );
    let script = helper_dir().join("docker-credential-testpass");
    std::fs::write(&script, format!("#!/bin/sh\n{wrapper}\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let docker = format!(r#"{{"credHelpers": {{"{}": "testpass"}}}}"#, reg.host());
    let c = client(&reg, &docker, |_| {});
    assert_eq!(
        *c.list_tags(&reg.image("vault/app")).await.unwrap(),
        vec!["3.1"]
    );

    // A server pass has nothing for: anonymous (this version answers an empty secret).
    let other = TestRegistry::start(TestRegistryOptions::htpasswd("dave", "from-pass"));
    other.push_image("vault/app", "3.1").await;
    let docker = format!(r#"{{"credHelpers": {{"{}": "testpass"}}}}"#, other.host());
    let e = client(&other, &docker, |_| {})
        .list_tags(&other.image("vault/app"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("no credentials configured") || e.to_string().contains("denied"),
        "{e}"
    );
}
