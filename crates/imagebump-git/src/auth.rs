//! Authentication to the git server: the configured credentials, libgit2's credential and
//! host-key callbacks with their per-operation bookkeeping, and the scrubbing of libgit2
//! messages so that no secret reaches an error or a log line.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use git2::{CertificateCheckStatus, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};

use crate::error::{git_err, GitError};
use crate::known_hosts::known_hosts_check;
use crate::url::{redact_url, ssh_port};

/// HTTP(S) credentials that may change while a working copy is open (a rotated password
/// file, a Kubernetes Secret update). Asked once per network operation (each fetch, each
/// push), so it must be cheap (e.g. re-read a file only when its metadata changed).
pub trait GitCredentialSource: Send + Sync {
    /// The current (username, password or token).
    fn current(&self) -> (String, String);
}

/// How to authenticate to the git server. Secrets are resolved by the caller, or asked
/// of a [`GitCredentialSource`] on each connection.
#[derive(Clone, Default)]
pub enum GitAuth {
    /// No credentials (file://, anonymous HTTP, or credentials carried by the URL).
    #[default]
    None,
    /// HTTP(S) basic authentication (a password or an access token).
    UserPass {
        /// The user name.
        username: String,
        /// The password or token.
        password: String,
    },
    /// HTTP(S) basic authentication with credentials that may change: asked of the
    /// source before each fetch and push, so a rotated password is used without
    /// reopening the copy.
    UserPassFrom(Arc<dyn GitCredentialSource>),
    /// SSH private key. `known_hosts`, when set, is the only source of trusted host keys;
    /// otherwise libgit2's default (`~/.ssh/known_hosts`) applies.
    SshKey {
        /// The private key file.
        private_key: PathBuf,
        /// Its passphrase, if it has one.
        passphrase: Option<String>,
        /// The OpenSSH `known_hosts` file to trust host keys from.
        known_hosts: Option<PathBuf>,
    },
}

impl GitAuth {
    /// The secret to scrub from messages, if any (the current one, for a source).
    pub(crate) fn secret(&self) -> Option<String> {
        match self {
            GitAuth::UserPass { password, .. } => Some(password.clone()),
            GitAuth::UserPassFrom(src) => Some(src.current().1),
            GitAuth::SshKey { passphrase, .. } => passphrase.clone(),
            GitAuth::None => None,
        }
    }

    /// The credentials for one network operation: a source is asked now, so that the
    /// credentials callback (called several times per operation) and the scrubbing of
    /// its errors see one and the same value.
    pub(crate) fn for_connection(&self) -> GitAuth {
        match self {
            GitAuth::UserPassFrom(src) => {
                let (username, password) = src.current();
                GitAuth::UserPass { username, password }
            }
            other => other.clone(),
        }
    }
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitAuth::None => f.write_str("None"),
            GitAuth::UserPass { username, .. } => f
                .debug_struct("UserPass")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            GitAuth::UserPassFrom(_) => f.write_str("UserPassFrom(<source>)"),
            GitAuth::SshKey {
                private_key,
                passphrase,
                known_hosts,
            } => f
                .debug_struct("SshKey")
                .field("private_key", private_key)
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .field("known_hosts", known_hosts)
                .finish(),
        }
    }
}

/// Per-operation authentication bookkeeping: libgit2 calls the credentials callback again
/// after each rejection (forever, if we let it), so each kind of credential gets one
/// chance, and the reason of a refusal is kept for the error.
#[derive(Default)]
pub(crate) struct AuthState {
    calls: Cell<u32>,
    failed: RefCell<Option<String>>,
    host_key: RefCell<Option<String>>,
}

/// Credential and (with a configured `known_hosts`) host-key callbacks for one operation.
pub(crate) fn callbacks<'a>(
    auth: &'a GitAuth,
    remote_url: &str,
    st: &'a AuthState,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |_url, username_from_url, allowed| {
        let n = st.calls.get() + 1;
        st.calls.set(n);
        let fail = |why: &str| {
            *st.failed.borrow_mut() = Some(why.to_string());
            Err(git2::Error::from_str(why))
        };
        if n > 4 {
            return fail("credentials rejected");
        }
        match auth {
            GitAuth::UserPass { username, password } => {
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    if n > 1 {
                        return fail("the server rejected the username/password");
                    }
                    git2::Cred::userpass_plaintext(username, password)
                } else {
                    fail("the server asks for a kind of credential other than username/password")
                }
            }
            GitAuth::SshKey {
                private_key,
                passphrase,
                ..
            } => {
                let user = username_from_url.unwrap_or("git");
                if allowed.contains(CredentialType::USERNAME) {
                    return git2::Cred::username(user);
                }
                if allowed.contains(CredentialType::SSH_KEY) {
                    if n > 2 {
                        return fail("the server rejected the SSH key");
                    }
                    return git2::Cred::ssh_key(user, None, private_key, passphrase.as_deref());
                }
                fail("the server asks for a kind of credential other than an SSH key")
            }
            // Callers hand over `for_connection()`, which never is a source.
            GitAuth::UserPassFrom(_) => fail("internal: credentials source not resolved"),
            GitAuth::None => fail("the server requires authentication and none is configured"),
        }
    });
    if let GitAuth::SshKey {
        known_hosts: Some(kh),
        ..
    } = auth
    {
        let port = ssh_port(remote_url);
        cb.certificate_check(move |cert, host| {
            let Some(hk) = cert.as_hostkey() else {
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let refuse = |why: String| {
                *st.host_key.borrow_mut() = Some(why.clone());
                Err(git2::Error::from_str(&why))
            };
            let Some(key) = hk.hostkey() else {
                return refuse("the SSH server sent no raw host key".into());
            };
            match known_hosts_check(kh, host, port, key) {
                Ok(true) => Ok(CertificateCheckStatus::CertificateOk),
                Ok(false) => refuse(format!(
                    "its {} key is not listed for {} in {}",
                    hk.hostkey_type().map(|t| t.name()).unwrap_or("host"),
                    match port {
                        Some(p) => format!("[{host}]:{p}"),
                        None => host.to_string(),
                    },
                    kh.display()
                )),
                Err(e) => refuse(format!("cannot read {}: {e}", kh.display())),
            }
        });
    }
    cb
}

/// A failed network operation as the most telling [`GitError`]: the host-key or
/// credential refusal recorded by the callbacks, else an auth failure libgit2 reported,
/// else the scrubbed libgit2 error.
pub(crate) fn map_remote_err(
    op: &'static str,
    e: git2::Error,
    st: &AuthState,
    display_url: &str,
    secret: Option<&str>,
) -> GitError {
    if let Some(why) = st.host_key.borrow().clone() {
        return GitError::HostKey {
            url: display_url.to_string(),
            detail: why,
        };
    }
    if let Some(why) = st.failed.borrow().clone() {
        return GitError::Auth {
            url: display_url.to_string(),
            detail: why,
        };
    }
    if e.code() == ErrorCode::Auth || (e.class() == ErrorClass::Http && e.message().contains("401"))
    {
        return GitError::Auth {
            url: display_url.to_string(),
            detail: scrub(e.message(), secret),
        };
    }
    git_err(op, display_url, e, secret)
}

/// Remove anything that looks like a URL's user info, and the known secret, from a message.
pub(crate) fn scrub(msg: &str, secret: Option<&str>) -> String {
    let mut out = String::with_capacity(msg.len());
    for (i, word) in msg.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains("://") {
            out.push_str(&redact_url(word));
        } else {
            out.push_str(word);
        }
    }
    match secret {
        Some(s) if s.len() >= 4 => out.replace(s, "<redacted>"),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_user_info_and_the_secret() {
        assert_eq!(
            scrub(
                "failed https://a:secret@h/x and secret again",
                Some("secret")
            ),
            "failed https://h/x and <redacted> again"
        );
        // Too short to replace safely (it would mangle ordinary words).
        assert_eq!(scrub("abc def", Some("abc")), "abc def");
    }

    #[test]
    fn debug_redacts_secrets() {
        let a = GitAuth::UserPass {
            username: "me".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{a:?}").contains("hunter22"));
        let k = GitAuth::SshKey {
            private_key: "/k".into(),
            passphrase: Some("pp-secret".into()),
            known_hosts: None,
        };
        assert!(!format!("{k:?}").contains("pp-secret"));
    }
}
