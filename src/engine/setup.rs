//! Turning the service config into live parts: a registry client, a git config with
//! resolved credentials, notification targets. Secrets are resolved here, at start-up,
//! so a missing one fails fast with a message naming where it was expected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::notify::Format;
use crate::config::Config;
use crate::secret::{Secret, SecretRef};
use imagebump_git::{GitAuth, GitConfig};
use imagebump_registry::{ClientOptions, DockerConfig, RegistryClient, RegistryOptions};

/// A registry client for the config's `registries` and `dockerConfig`.
pub fn registry_client(cfg: &Config) -> anyhow::Result<RegistryClient> {
    let mut opts = ClientOptions::default();
    for r in &cfg.registries {
        let mut o = RegistryOptions::new(r.host.clone());
        o.insecure = r.insecure;
        o.ca_file = r.ca_file.clone();
        if let Some(rl) = r.rate_limit {
            o.rate_limit = rl;
        }
        if let Some(c) = &r.credentials {
            o.username = Some(resolve(
                &c.username,
                &format!("registries[{}].credentials.username", r.host),
            )?);
            o.password = Some(resolve(
                &c.password,
                &format!("registries[{}].credentials.password", r.host),
            )?);
        }
        opts.registries.push(o);
    }
    if let Some(d) = &cfg.docker_config {
        let text = resolve(d, "dockerConfig")?;
        opts.docker_config = Some(
            DockerConfig::parse(text.expose())
                .with_context(|| format!("dockerConfig ({})", d.describe()))?,
        );
    }
    RegistryClient::new(opts).context("registry client")
}

/// The git settings with credentials resolved. An SSH key given by env var is written to
/// a private file under the state directory, since libgit2 reads keys from files.
pub fn git_config(cfg: &Config) -> anyhow::Result<GitConfig> {
    let Some(g) = &cfg.git else {
        bail!("the config has no git section");
    };
    let auth = if let Some(c) = &g.credentials {
        GitAuth::UserPass {
            username: resolve(&c.username, "git.credentials.username")?
                .expose()
                .to_string(),
            password: resolve(&c.password, "git.credentials.password")?
                .expose()
                .to_string(),
        }
    } else if let Some(k) = &g.ssh_key {
        GitAuth::SshKey {
            private_key: secret_file(k, &cfg.state_dir(), "ssh_key")?,
            passphrase: None,
            known_hosts: match &g.known_hosts {
                Some(k) => Some(secret_file(k, &cfg.state_dir(), "known_hosts")?),
                None => None,
            },
        }
    } else {
        GitAuth::None
    };
    Ok(GitConfig {
        url: g.url.0.clone(),
        branch: g.branch.clone(),
        push_branch: g.push_branch.clone(),
        author_name: g.author.name.clone(),
        author_email: g.author.email.clone(),
        auth,
    })
}

/// Notification targets with their URLs resolved.
pub fn notify_targets(cfg: &Config) -> anyhow::Result<Vec<(Secret, Format)>> {
    cfg.notifications
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let url = resolve(&n.url, &format!("notifications[{i}].url"))?;
            let format = if n.format == "slack" {
                Format::Slack
            } else {
                Format::Generic
            };
            Ok((url, format))
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
