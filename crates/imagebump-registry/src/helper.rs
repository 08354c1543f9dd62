//! Docker credential helpers (`credHelpers`, `credsStore` in a Docker config): runs
//! `docker-credential-<name> get` with the server URL on stdin, per the documented
//! helper protocol — JSON `{"ServerURL","Username","Secret"}` on stdout, or a non-zero
//! exit with a message ("credentials not found in native keychain") on stdout.
//!
//! Bounded: the process is killed after [`HelperProvider::timeout`] (its output is
//! read at most [`MAX_OUTPUT`] bytes per stream), so a helper waiting for a GUI
//! prompt or a hung keyring cannot stall a scan.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::one_line;
use crate::provider::{Credential, CredentialError, CredentialFuture, CredentialProvider};
use imagebump_core::image::DOCKER_HUB;
use imagebump_core::secret::Secret;

/// The most bytes read from a helper's stdout or stderr.
pub const MAX_OUTPUT: u64 = 64 * 1024;

/// Default time a helper may take (Docker's CLI has none; a keyring prompt could wait
/// forever, so imagebump bounds it).
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks one helper for one registry's credentials.
#[derive(Debug, Clone)]
pub struct HelperProvider {
    /// The helper's name: the binary is `docker-credential-<name>` on `PATH`.
    pub name: String,
    /// The normalised registry host (`docker.io`, `127.0.0.1:5000`).
    pub host: String,
    /// How long the helper may run.
    pub timeout: Duration,
}

/// A helper name is a word, never a path: `credHelpers` comes from a file a user may
/// not fully control, and must not run arbitrary binaries.
pub fn valid_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

impl HelperProvider {
    fn binary(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    /// The server URL as Docker passes it: Docker Hub by its historic index URL, other
    /// registries by host.
    fn server_url(&self) -> String {
        if self.host == DOCKER_HUB {
            "https://index.docker.io/v1/".to_string()
        } else {
            self.host.clone()
        }
    }

    async fn run(&self) -> Result<Option<Credential>, CredentialError> {
        let bin = self.binary();
        if !valid_helper_name(&self.name) {
            return Err(CredentialError::fatal(format!(
                "credential helper name {:?} is not a plain name (letters, digits, - _ .); fix credHelpers/credsStore in the docker config",
                self.name
            )));
        }
        let mut child = tokio::process::Command::new(&bin)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    CredentialError::fatal(format!(
                        "{bin} not found on PATH (the docker config names helper {:?} for {}): install it or change credHelpers/credsStore",
                        self.name, self.host
                    ))
                } else {
                    CredentialError::fatal(format!("cannot run {bin}: {e}"))
                }
            })?;
        let url = self.server_url();
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let talk = async {
            if let Some(mut s) = stdin.take() {
                // A helper that exits without reading makes this fail: its exit status
                // and output say why, so the write error itself is not reported.
                let _ = s.write_all(url.as_bytes()).await;
                let _ = s.write_all(b"\n").await;
                drop(s);
            }
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let read_out = async {
                if let Some(s) = stdout.take() {
                    let _ = s.take(MAX_OUTPUT).read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(s) = stderr.take() {
                    let _ = s.take(MAX_OUTPUT).read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        let (status, out, err) = tokio::time::timeout(self.timeout, talk)
            .await
            .map_err(|_| {
                CredentialError::transient(format!(
                    "{bin} get did not answer within {}s for {} (killed)",
                    self.timeout.as_secs_f64(),
                    self.host
                ))
            })?;
        let status = status.map_err(|e| CredentialError::fatal(format!("{bin}: {e}")))?;
        if !status.success() {
            let msg = String::from_utf8_lossy(if out.is_empty() { &err } else { &out });
            let msg = msg.trim();
            // The protocol's "no credentials" answer: anonymous access, not an error.
            if msg.to_ascii_lowercase().contains("credentials not found") {
                return Ok(None);
            }
            return Err(CredentialError::fatal(format!(
                "{bin} get failed for {} ({status}): {}",
                self.host,
                one_line(msg, 200)
            )));
        }
        parse_answer(&out).map_err(|why| {
            CredentialError::fatal(format!("{bin} get answered for {}: {why}", self.host))
        })
    }
}

/// Reads a helper's `get` answer. Never quotes the output (it holds the secret). An
/// empty `Secret` is "not found": Debian's `docker-credential-pass` 0.6 answers so,
/// with exit 0, for a server it has nothing for.
fn parse_answer(out: &[u8]) -> Result<Option<Credential>, &'static str> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        username: String,
        #[serde(default)]
        secret: String,
    }
    let a: Answer = serde_json::from_slice(out)
        .map_err(|_| "not JSON {\"ServerURL\",\"Username\",\"Secret\"}")?;
    if a.secret.is_empty() {
        return Ok(None);
    }
    if a.username == "<token>" {
        // An identity (OAuth refresh) token, as `docker login` stores for some
        // registries: it needs the registry's OAuth flow, which imagebump lacks.
        return Err("an identity token (Username \"<token>\"), which imagebump cannot use; store a username and password or token instead");
    }
    Ok(Some(Credential {
        username: a.username,
        password: Secret::new(a.secret),
        lifetime: None,
    }))
}

impl CredentialProvider for HelperProvider {
    fn fetch(&self) -> CredentialFuture<'_> {
        Box::pin(self.run())
    }

    fn name(&self) -> String {
        self.binary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_helper_name("pass"));
        assert!(valid_helper_name("ecr-login"));
        assert!(!valid_helper_name("../../bin/sh"));
        assert!(!valid_helper_name(""));
        assert!(!valid_helper_name("a b"));
    }

    #[test]
    fn answers() {
        let c = parse_answer(br#"{"ServerURL":"h","Username":"u","Secret":"s3cret"}"#)
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.password.expose()), ("u", "s3cret"));
        let e = parse_answer(br#"{"Username":"u","Secret":"s3cret""#)
            .err()
            .unwrap();
        assert!(!e.contains("s3cret"));
        assert!(parse_answer(br#"{"Username":"<token>","Secret":"t"}"#).is_err());
        assert!(parse_answer(br#"{"Username":"","Secret":""}"#)
            .unwrap()
            .is_none());
    }

    #[test]
    fn docker_hub_is_asked_by_its_index_url() {
        let h = HelperProvider {
            name: "x".into(),
            host: DOCKER_HUB.into(),
            timeout: DEFAULT_HELPER_TIMEOUT,
        };
        assert_eq!(h.server_url(), "https://index.docker.io/v1/");
    }
}
