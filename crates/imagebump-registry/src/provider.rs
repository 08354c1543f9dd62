//! Credentials that are fetched rather than configured — a Docker credential helper, a
//! cloud identity's short-lived token — and the cache that keeps one answer until it
//! nears its expiry or the registry refuses it.
//!
//! A [`CredentialProvider`] only fetches; [`Cached`] decides when to ask (once, then
//! again before `lifetime` runs out or after a 401), and lets one fetch serve every
//! concurrent request (a tokio mutex held across the fetch), so a burst of listings
//! costs one helper run or one token exchange.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imagebump_core::secret::Secret;

/// What a provider answers: Basic credentials for the registry, and how long they live
/// (`None`: until the registry refuses them).
#[derive(Clone)]
pub struct Credential {
    /// The Basic username (`AWS`, `oauth2accesstoken`, the helper's `Username`).
    pub username: String,
    /// The password or token.
    pub password: Secret,
    /// How long the credential is valid from now, as its issuer said.
    pub lifetime: Option<Duration>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Why a provider could not answer; one line, naming the provider and what to do,
/// quoting the provider's own message, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct CredentialError {
    /// What happened.
    pub detail: String,
    /// Asking again soon may work (a timeout, a token service's 5xx).
    pub transient: bool,
}

impl CredentialError {
    /// A failure asking again will not cure.
    pub fn fatal(detail: impl Into<String>) -> CredentialError {
        CredentialError {
            detail: detail.into(),
            transient: false,
        }
    }

    /// A failure a later attempt may cure.
    pub fn transient(detail: impl Into<String>) -> CredentialError {
        CredentialError {
            detail: detail.into(),
            transient: true,
        }
    }
}

/// The future a provider returns: `Ok(None)` when it has no credentials for the registry
/// (a helper's "credentials not found"), which means anonymous access.
pub type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Credential>, CredentialError>> + Send + 'a>>;

/// A source of fetched credentials for one registry. Implementations fetch every time
/// they are asked; [`Cached`] does the caching.
pub trait CredentialProvider: Send + Sync {
    /// Fetches credentials now.
    fn fetch(&self) -> CredentialFuture<'_>;
    /// A short name for errors and the cache identity (`docker-credential-pass`, `gcp`).
    fn name(&self) -> String;
}

impl std::fmt::Debug for dyn CredentialProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialProvider({})", self.name())
    }
}

/// The longest any credential is reused without asking again, whatever its lifetime
/// says; `None` lifetimes (helpers) are kept until a 401.
const MAX_REUSE: Duration = Duration::from_secs(12 * 3600);

/// How long before its expiry a credential is replaced: a tenth of its life, at most
/// 5 minutes, so a 12-hour ECR token is renewed 5 minutes early and a 3-second test
/// token 0.3 s early; a request never carries a token in its last moments.
pub(crate) fn refresh_margin(life: Duration) -> Duration {
    (life / 10).min(Duration::from_secs(300))
}

/// A cached answer (`None`: the provider has none) and when it goes stale (`None`:
/// when the registry refuses it).
type Answer = (Option<(String, Secret)>, Option<Instant>);

/// One provider's answer, kept until it nears its expiry or is invalidated.
pub struct Cached {
    provider: Arc<dyn CredentialProvider>,
    state: tokio::sync::Mutex<Option<Answer>>,
}

impl Cached {
    /// Caches `provider`'s answers.
    pub fn new(provider: Arc<dyn CredentialProvider>) -> Cached {
        Cached {
            provider,
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// The provider's name.
    pub fn name(&self) -> String {
        self.provider.name()
    }

    /// The current credentials: the cached answer while it is fresh, else a new fetch
    /// (one at a time; waiters get its answer).
    pub async fn get(&self) -> Result<Option<(String, Secret)>, CredentialError> {
        let mut st = self.state.lock().await;
        if let Some((creds, until)) = &*st {
            if until.is_none_or(|u| Instant::now() < u) {
                return Ok(creds.clone());
            }
        }
        let got = self.provider.fetch().await?;
        let now = Instant::now();
        let (creds, until) = match got {
            None => (None, None),
            Some(c) => {
                let until = c.lifetime.map(|life| {
                    let life = life.min(MAX_REUSE);
                    now + (life - refresh_margin(life))
                });
                (Some((c.username, c.password)), until)
            }
        };
        *st = Some((creds.clone(), until));
        Ok(creds)
    }

    /// Forgets the cached answer (the registry refused it): the next `get` fetches.
    pub async fn invalidate(&self) {
        *self.state.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        calls: AtomicUsize,
        lifetime: Option<Duration>,
    }

    impl CredentialProvider for Counting {
        fn fetch(&self) -> CredentialFuture<'_> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let lifetime = self.lifetime;
            Box::pin(async move {
                Ok(Some(Credential {
                    username: "u".into(),
                    password: Secret::new(format!("p{n}")),
                    lifetime,
                }))
            })
        }
        fn name(&self) -> String {
            "counting".into()
        }
    }

    #[tokio::test]
    async fn kept_until_invalidated_or_near_expiry() {
        let p = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: None,
        });
        let c = Cached::new(p.clone());
        assert_eq!(c.get().await.unwrap().unwrap().1.expose(), "p1");
        assert_eq!(c.get().await.unwrap().unwrap().1.expose(), "p1");
        c.invalidate().await;
        assert_eq!(c.get().await.unwrap().unwrap().1.expose(), "p2");

        // A zero lifetime is never reused.
        let p = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: Some(Duration::ZERO),
        });
        let c = Cached::new(p.clone());
        c.get().await.unwrap();
        assert_eq!(c.get().await.unwrap().unwrap().1.expose(), "p2");
    }

    #[tokio::test]
    async fn concurrent_gets_share_one_fetch() {
        let p = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: Some(Duration::from_secs(3600)),
        });
        let c = Arc::new(Cached::new(p.clone()));
        let all = futures::future::join_all((0..16).map(|_| {
            let c = c.clone();
            async move { c.get().await }
        }))
        .await;
        assert!(all.iter().all(|r| r.as_ref().unwrap().is_some()));
        assert_eq!(p.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn margins() {
        assert_eq!(
            refresh_margin(Duration::from_secs(12 * 3600)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(3)),
            Duration::from_millis(300)
        );
    }
}
