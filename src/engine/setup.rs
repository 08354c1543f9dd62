//! Turning the service config into live parts: a registry client, a git config with
//! credentials, notification targets. Secrets are resolved here, at start-up, so a
//! missing one fails fast with a message naming where it was expected; `{file: …}`
//! secrets are then followed ([`LiveSecret`]), so a rotated one is used without a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::notify;
use crate::config::{CloudProvider, Config, GitSection, WriteMode};
use crate::secret::{LiveSecret, Secret, SecretRef};
use imagebump_git::{GitAuth, GitConfig, GitCredentialSource};
use imagebump_registry::{
    ClientIdentity, ClientOptions, CredentialLookup, CredentialSource, DockerConfig,
    IdentitySource, RegistryClient, RegistryOptions,
};
use std::sync::{Arc, Mutex};

/// Registry or git credentials that follow their secret files, so a rotated password is
/// used on the next request (or fetch/push) without a restart.
struct LiveCredentials {
    username: LiveSecret,
    password: LiveSecret,
}

impl CredentialSource for LiveCredentials {
    fn current(&self) -> Option<(String, Secret)> {
        Some((
            self.username.current().expose().to_string(),
            self.password.current(),
        ))
    }
}

impl GitCredentialSource for LiveCredentials {
    fn current(&self) -> (String, String) {
        (
            self.username.current().expose().to_string(),
            self.password.current().expose().to_string(),
        )
    }
}

/// A registry's client certificate and key that follow their secret files (a
/// cert-manager Secret that is renewed).
struct LiveIdentity {
    cert: LiveSecret,
    key: LiveSecret,
}

impl IdentitySource for LiveIdentity {
    fn current(&self) -> ClientIdentity {
        ClientIdentity {
            cert_pem: self.cert.current(),
            key_pem: self.key.current(),
        }
    }
}

/// A Docker config that follows its secret: parsed again when the text changes; text
/// that does not parse keeps the last good config, with a warning.
struct LiveDockerConfig {
    secret: LiveSecret,
    describe: String,
    /// The text last parsed, and what it gave.
    parsed: Mutex<(Secret, DockerConfig)>,
}

impl LiveDockerConfig {
    /// `f` of the config as of now: parsed again when the secret's text changed.
    fn with<T>(&self, f: impl FnOnce(&DockerConfig) -> T) -> T {
        let text = self.secret.current();
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if text.expose() != parsed.0.expose() {
            match DockerConfig::parse(text.expose()) {
                Ok(d) => *parsed = (text, d),
                Err(e) => {
                    tracing::warn!(error = %e, source = %self.describe, "keeping the previous docker config");
                    // Do not parse the same bad text on every request.
                    parsed.0 = text;
                }
            }
        }
        f(&parsed.1)
    }
}

impl CredentialLookup for LiveDockerConfig {
    fn credentials_for(&self, host: &str) -> Option<(String, Secret)> {
        self.with(|d| d.credentials_for(host))
    }

    fn helper_for(&self, host: &str) -> Option<String> {
        self.with(|d| d.helper_for(host))
    }
}

fn live(r: &SecretRef, what: &str) -> anyhow::Result<LiveSecret> {
    LiveSecret::new(r).with_context(|| format!("{what}: {}", r.describe()))
}

/// A registry client for the config's `registries` and `dockerConfig`.
pub fn registry_client(cfg: &Config) -> anyhow::Result<RegistryClient> {
    let mut opts = ClientOptions::default();
    for r in &cfg.registries {
        let mut o = RegistryOptions::new(r.host.clone());
        o.insecure = r.insecure;
        o.ca_file = r.ca_file.clone();
        if let Some(rl) = r.rate_limit {
            o.rate_limit = rl;
            // A rate set without a burst keeps its old meaning (bursts up to the rate).
            o.burst = rl.max(1.0);
        }
        if let Some(b) = r.burst {
            o.burst = f64::from(b);
        }
        if let Some(c) = r.max_concurrency {
            o.max_concurrency = c as usize;
        }
        o.proxy = r.proxy.clone();
        match r.provider {
            None => {}
            Some(CloudProvider::Gcp) => {
                let p = imagebump_registry::gcp::GcpProvider::from_env()
                    .with_context(|| format!("registries[{}].provider gcp", r.host))?;
                o.provider = Some(Arc::new(p));
            }
            Some(CloudProvider::Azure) => {
                let host = imagebump_registry::normalise_host(&r.host);
                let scheme = if r.insecure { "http" } else { "https" };
                let exchange = format!("{scheme}://{host}/oauth2/exchange");
                let p = imagebump_registry::azure::AzureProvider::from_env(&host, exchange)
                    .with_context(|| format!("registries[{}].provider azure", r.host))?;
                o.provider = Some(Arc::new(p));
            }
            #[cfg(feature = "ecr")]
            Some(CloudProvider::Aws) => {
                let host = imagebump_registry::normalise_host(&r.host);
                o.provider = Some(Arc::new(imagebump_registry::ecr::EcrProvider::new(&host)));
            }
            #[cfg(not(feature = "ecr"))]
            Some(CloudProvider::Aws) => anyhow::bail!(
                "registries[{}].provider aws: this imagebump was built without the `ecr` feature; rebuild with default features",
                r.host
            ),
        }
        match (&r.client_cert, &r.client_key) {
            (Some(c), Some(k)) => {
                // Resolved now (a missing or unusable pair fails start-up), then followed:
                // a rotated pair gives the registry a new HTTP client.
                o.client_identity_source = Some(Arc::new(LiveIdentity {
                    cert: live(c, &format!("registries[{}].clientCert", r.host))?,
                    key: live(k, &format!("registries[{}].clientKey", r.host))?,
                }));
            }
            (None, None) => {}
            _ => anyhow::bail!(
                "registries[{}]: clientCert and clientKey go together; set both or neither",
                r.host
            ),
        }
        if let Some(c) = &r.credentials {
            // Resolved now (a missing secret fails start-up), then followed.
            o.credentials = Some(Arc::new(LiveCredentials {
                username: live(
                    &c.username,
                    &format!("registries[{}].credentials.username", r.host),
                )?,
                password: live(
                    &c.password,
                    &format!("registries[{}].credentials.password", r.host),
                )?,
            }));
        }
        opts.registries.push(o);
    }
    if let Some(d) = &cfg.docker_config {
        // Parsed now (a bad file fails start-up), then followed like other secrets.
        let secret = live(d, "dockerConfig")?;
        let text = secret.current();
        let parsed = DockerConfig::parse(text.expose())
            .with_context(|| format!("dockerConfig ({})", d.describe()))?;
        opts.docker_config_source = Some(Arc::new(LiveDockerConfig {
            secret,
            describe: d.describe(),
            parsed: Mutex::new((text, parsed)),
        }));
    }
    RegistryClient::new(opts).context("registry client")
}

/// The git settings of one GitOps repository with credentials resolved. An SSH key given
/// by env var is written to a private file under the state directory (one per
/// repository), since libgit2 reads keys from files.
pub fn git_config(cfg: &Config, g: &GitSection) -> anyhow::Result<GitConfig> {
    let who = cfg.git.label(g);
    // Files written for env secrets: the unnamed repository keeps its old names.
    let file = |what: &str| match &g.name {
        None => what.to_string(),
        Some(n) => format!("{what}-{}", n.0),
    };
    let auth = if let Some(c) = &g.credentials {
        // Resolved now (a missing secret fails start-up), then asked on each fetch/push.
        GitAuth::UserPassFrom(Arc::new(LiveCredentials {
            username: live(&c.username, &format!("{who}.credentials.username"))?,
            password: live(&c.password, &format!("{who}.credentials.password"))?,
        }))
    } else if let Some(k) = &g.ssh_key {
        GitAuth::SshKey {
            private_key: secret_file(k, &cfg.state_dir(), &file("ssh_key"))?,
            passphrase: None,
            known_hosts: match &g.known_hosts {
                Some(k) => Some(secret_file(k, &cfg.state_dir(), &file("known_hosts"))?),
                None => None,
            },
        }
    } else {
        GitAuth::None
    };
    let push_branch = match g.write_mode() {
        WriteMode::Push => None,
        WriteMode::Branch { branch } => Some(branch),
        WriteMode::PullRequest(pr) => Some(pr.branch),
    };
    let signer = match &g.signing {
        Some(s) => Some(super::signing::signer(s).with_context(|| format!("{who}.signing"))?),
        None => None,
    };
    Ok(GitConfig {
        url: g.url.0.clone(),
        branch: g.branch.clone(),
        push_branch,
        author_name: g.author.name.clone(),
        author_email: g.author.email.clone(),
        auth,
        signer,
    })
}

/// Notification targets with their URLs resolved now and followed (read again before a
/// send when the file changed).
pub fn notify_targets(cfg: &Config) -> anyhow::Result<Vec<notify::Target>> {
    cfg.notifications
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Ok(notify::Target {
                url: Arc::new(live(&n.url, &format!("notifications[{i}].url"))?),
                format: n.format.0,
                body: n.body.clone(),
                filter: imagebump_core::notice::Filter {
                    events: n.events.iter().map(|e| e.0).collect(),
                    applications: n.applications.clone(),
                },
            })
        })
        .collect()
}

/// The config's batch window (default: none, for latency).
pub fn batch_window(cfg: &Config) -> Duration {
    cfg.batch_window.map_or(Duration::ZERO, |d| d.0)
}

fn resolve(r: &SecretRef, what: &str) -> anyhow::Result<Secret> {
    r.resolve()
        .with_context(|| format!("{what}: {}", r.describe()))
}

fn secret_file(r: &SecretRef, state_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    match r {
        SecretRef::File(p) => Ok(p.clone()),
        SecretRef::Env(_) => {
            let value = resolve(r, name)?;
            std::fs::create_dir_all(state_dir)?;
            let path = state_dir.join(format!(".{name}"));
            write_private(&path, value.expose())?;
            Ok(path)
        }
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagebump_testbed::registry::{TestRegistry, TestRegistryOptions};

    #[tokio::test]
    async fn a_rotated_registry_password_file_is_used_without_a_restart() {
        let reg = TestRegistry::start(TestRegistryOptions::htpasswd("alice", "new-pass"));
        reg.push_image("private/app", "1.0").await;
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("password");
        std::fs::write(&pw, "old-pass\n").unwrap();
        let path = dir.path().join("imagebump.yaml");
        let text = format!(
            "git: {{url: file:///nowhere.git, branch: main, author: {{name: a, email: a@b.c}}}}\nregistries:\n  - host: {}\n    insecure: true\n    credentials: {{username: {{env: IMAGEBUMP_TEST_ROTATE_USER}}, password: {{file: {}}}}}\n",
            reg.host(),
            pw.display()
        );
        std::env::set_var("IMAGEBUMP_TEST_ROTATE_USER", "alice");
        let cfg = Config::parse(&path, &text).unwrap();
        let client = registry_client(&cfg).unwrap();
        let img = reg.image("private/app");
        let e = client.list_tags(&img).await.unwrap_err();
        assert!(e.to_string().contains("credentials rejected"), "{e}");
        // The Secret is updated (a new file renamed over the old one, as kubelet does).
        let tmp = dir.path().join("password.new");
        std::fs::write(&tmp, "new-pass\n").unwrap();
        std::fs::rename(&tmp, &pw).unwrap();
        assert_eq!(*client.list_tags_fresh(&img).await.unwrap(), vec!["1.0"]);
    }

    #[tokio::test]
    async fn a_rotated_docker_config_is_used_without_a_restart() {
        use base64::Engine;
        let reg = TestRegistry::start(TestRegistryOptions::htpasswd("bob", "new-pass"));
        reg.push_image("private/app", "1.0").await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        let docker = |pass: &str| {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("bob:{pass}"));
            format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.host())
        };
        std::fs::write(&file, docker("old-pass")).unwrap();
        let text = format!(
            "registries:\n  - host: {}\n    insecure: true\ndockerConfig: {{file: {}}}\n",
            reg.host(),
            file.display()
        );
        let cfg = Config::parse(&dir.path().join("imagebump.yaml"), &text).unwrap();
        let client = registry_client(&cfg).unwrap();
        let img = reg.image("private/app");
        let e = client.list_tags(&img).await.unwrap_err();
        assert!(e.to_string().contains("credentials rejected"), "{e}");
        let tmp = dir.path().join("config.json.new");
        std::fs::write(&tmp, docker("new-pass")).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert_eq!(*client.list_tags_fresh(&img).await.unwrap(), vec!["1.0"]);
    }

    #[test]
    fn registry_network_and_provider_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imagebump.yaml");
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let text = format!(
            "registries:\n  - host: r.example\n    proxy: http://proxy:3128\n    clientCert: {{file: {}}}\n",
            cert.display()
        );
        let cfg = Config::parse(&path, &text).unwrap();
        let e = registry_client(&cfg).unwrap_err().to_string();
        assert!(e.contains("clientCert and clientKey go together"), "{e}");
        let text = format!(
            "registries:\n  - host: r.example\n    clientCert: {{file: {0}}}\n    clientKey: {{file: {0}}}\n",
            cert.display()
        );
        let cfg = Config::parse(&path, &text).unwrap();
        let e = format!("{:#}", registry_client(&cfg).unwrap_err());
        assert!(e.contains("the certificate is not PEM"), "{e}");
        assert!(!e.contains("not a certificate"), "{e}");
        let cfg = Config::parse(
            &path,
            "registries:\n  - {host: 123456789012.dkr.ecr.eu-west-1.amazonaws.com, provider: aws}\n  - {host: x.azurecr.io, provider: azure}\n",
        )
        .unwrap();
        // Without the `ecr` feature, `provider: aws` is refused at start-up, saying why.
        let built = registry_client(&cfg);
        if cfg!(feature = "ecr") {
            built.unwrap();
        } else {
            let e = built.unwrap_err().to_string();
            assert!(e.contains("`ecr` feature"), "{e}");
        }
        assert!(Config::parse(&path, "registries:\n  - {host: r, provider: ibm}\n").is_err());
    }

    /// One write through the copy: sync, edit, commit, push.
    fn write(wc: &mut imagebump_git::WorkingCopy, text: &str) -> Result<(), String> {
        let base = wc.sync().map_err(|e| format!("{e:?}"))?;
        wc.write_file(Path::new("deploy.yaml"), text).unwrap();
        let c = wc
            .commit(&base, &[PathBuf::from("deploy.yaml")], "bump")
            .unwrap()
            .unwrap();
        wc.push(&c).map(|_| ()).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn a_rotated_git_password_file_is_used_without_a_restart() {
        use imagebump_testbed::gitserver::HttpGitServer;
        let mut srv = HttpGitServer::start("robot", "old-Token-1");
        let origin = srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
        let dir = tempfile::tempdir().unwrap();
        let (user, pw) = (dir.path().join("user"), dir.path().join("password"));
        std::fs::write(&user, "robot\n").unwrap();
        std::fs::write(&pw, "old-Token-1\n").unwrap();
        let text = format!(
            "git:\n  url: {}\n  branch: main\n  author: {{name: a, email: a@b.c}}\n  credentials: {{username: {{file: {}}}, password: {{file: {}}}}}\n",
            srv.url("fleet"),
            user.display(),
            pw.display()
        );
        let cfg = Config::parse(&dir.path().join("imagebump.yaml"), &text).unwrap();
        let state = dir.path().join("state");
        let mut wc = imagebump_git::WorkingCopy::open(
            &state,
            git_config(&cfg, cfg.git.first().unwrap()).unwrap(),
        )
        .unwrap();
        write(&mut wc, "image: app:2\n").unwrap();
        srv.set_password("new-Token-2");
        let e = write(&mut wc, "image: app:3\n").unwrap_err();
        assert!(e.contains("Auth"), "the old password is refused: {e}");
        // The Secret is updated (a new file renamed over the old one, as kubelet does).
        let tmp = dir.path().join("password.new");
        std::fs::write(&tmp, "new-Token-2\n").unwrap();
        std::fs::rename(&tmp, &pw).unwrap();
        write(&mut wc, "image: app:3\n").unwrap();
        assert_eq!(
            origin.read("main", "deploy.yaml").unwrap(),
            "image: app:3\n"
        );
    }
}
