//! The one error type of the registry client.

use std::time::Duration;

/// Why a registry request failed.
///
/// `Display` is a single line and never contains credentials or tokens: registry
/// bodies quoted in it are trimmed, flattened to one line and cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The repository, tag or manifest does not exist (HTTP 404).
    #[error("{registry}/{repository}: {what} not found")]
    NotFound {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// What was missing: `repository`, `tag 1.2.3`, `manifest sha256:…`.
        what: String,
    },
    /// The registry refused the credentials, or there were none and it wants some
    /// (HTTP 401/403, or a refused token request).
    #[error("{registry}: access to {repository} denied: {detail}")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// What happened, without the credentials.
        detail: String,
    },
    /// The registry kept answering 429 past the retry budget, or asked for a wait
    /// longer than the client is willing to sleep.
    #[error("{registry}: rate limited (429){}", fmt_retry_after(.retry_after))]
    RateLimited {
        /// Registry host.
        registry: String,
        /// The wait the registry asked for, if it said.
        retry_after: Option<Duration>,
    },
    /// No connection could be made (DNS, refused, TLS), after retries.
    #[error("{registry}: unreachable: {detail}")]
    Unreachable {
        /// Registry host.
        registry: String,
        /// The transport error, in words.
        detail: String,
    },
    /// The TLS handshake failed because the host speaks plain HTTP: the registry needs
    /// `insecure: true`. Not transient: asking again gives the same answer.
    #[error("{registry} answered plain HTTP; set `insecure: true` for it in `registries`")]
    PlainHttp {
        /// The `host:port` that answered.
        registry: String,
    },
    /// A request took longer than the configured timeout, after retries.
    #[error("{registry}: request timed out after {}ms", .after.as_millis())]
    Timeout {
        /// Registry host.
        registry: String,
        /// The per-request timeout that elapsed.
        after: Duration,
    },
    /// The registry kept answering 5xx past the retry budget.
    #[error("{registry}: server error {status}{}", fmt_detail(.detail))]
    Server {
        /// Registry host.
        registry: String,
        /// The last HTTP status.
        status: u16,
        /// The start of the last body, one line.
        detail: String,
    },
    /// The registry answered something this client cannot use (bad JSON, an
    /// unexpected status, a pagination loop, a `Link` to another host…).
    #[error("{registry}: protocol error: {detail}")]
    Protocol {
        /// Registry host.
        registry: String,
        /// What was wrong.
        detail: String,
    },
    /// A credential helper or cloud identity could not give credentials; `detail`
    /// carries the provider's own message.
    #[error("{registry}: credentials from {source_name} failed: {detail}")]
    Credentials {
        /// Registry host.
        registry: String,
        /// The provider (`docker-credential-pass`, `gcp`, `aws`).
        source_name: String,
        /// What the provider said, one line, without secrets.
        detail: String,
        /// Asking again soon may work.
        transient: bool,
    },
    /// The client options are unusable (unreadable CA file, bad host, …).
    #[error("registry client configuration: {0}")]
    Config(String),
}

fn fmt_retry_after(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(", retry after {}s", d.as_secs_f64().ceil() as u64),
        None => String::new(),
    }
}

fn fmt_detail(d: &str) -> String {
    if d.is_empty() {
        String::new()
    } else {
        format!(": {d}")
    }
}

impl RegistryError {
    /// True for errors a later attempt may cure (rate limits, timeouts, 5xx,
    /// unreachable); false for answers that will not change by asking again soon.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::RateLimited { .. }
                | RegistryError::Unreachable { .. }
                | RegistryError::Timeout { .. }
                | RegistryError::Server { .. }
                | RegistryError::Credentials {
                    transient: true,
                    ..
                }
        )
    }
}

/// Flattens text from a registry (or a transport error) to one short line.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 3));
    let mut last_space = false;
    for c in s.trim().chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if out.len() + c.len_utf8() > max {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_are_one_line() {
        let e = RegistryError::Server {
            registry: "r".into(),
            status: 503,
            detail: one_line("line one\n  line two\r\n", 200),
        };
        assert_eq!(e.to_string(), "r: server error 503: line one line two");
        let e = RegistryError::RateLimited {
            registry: "r".into(),
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(e.to_string(), "r: rate limited (429), retry after 2s");
        assert_eq!(
            one_line(&"x".repeat(50), 10),
            format!("{}…", "x".repeat(10))
        );
    }
}
