//! Where one registry's credentials come from, and asking for them: fixed values, a
//! source read per request, a Docker config that may name a credential helper, or a
//! fetched credential ([`Cached`] provider: a helper, a cloud identity).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helper::HelperProvider;
use crate::provider::{Cached, CredentialError};
use crate::{CredentialLookup, CredentialSource};
use imagebump_core::secret::Secret;

/// Where a registry's credentials come from.
pub(crate) enum Creds {
    None,
    /// Read once (config values, a Docker config file without helpers).
    Fixed(String, Secret),
    /// Asked before every use, so a rotated secret takes effect on the next request.
    Source(Arc<dyn CredentialSource>),
    /// Fetched and cached (a helper named by a fixed Docker config, a cloud identity).
    Provider(Arc<Cached>),
    /// A Docker config read per request: inline credentials, or the helper it names
    /// now (its cached answer kept while the name stays the same).
    Docker {
        lookup: Arc<dyn CredentialLookup>,
        host: String,
        helper_timeout: Duration,
        helper: Mutex<Option<(String, Arc<Cached>)>>,
    },
}

impl Creds {
    /// A helper for `host` as a cached provider.
    pub fn helper(name: String, host: &str, timeout: Duration) -> Arc<Cached> {
        Arc::new(Cached::new(Arc::new(HelperProvider {
            name,
            host: host.to_string(),
            timeout,
        })))
    }

    /// The provider in use now, if the credentials are fetched.
    fn provider(&self) -> Option<Arc<Cached>> {
        match self {
            Creds::Provider(p) => Some(p.clone()),
            Creds::Docker {
                lookup,
                host,
                helper_timeout,
                helper,
            } => {
                let name = lookup.helper_for(host)?;
                let mut h = helper.lock().unwrap_or_else(|e| e.into_inner());
                match &*h {
                    Some((n, p)) if *n == name => Some(p.clone()),
                    _ => {
                        let p = Creds::helper(name.clone(), host, *helper_timeout);
                        *h = Some((name, p.clone()));
                        Some(p)
                    }
                }
            }
            _ => None,
        }
    }

    /// The credentials as of now. `Err` names the provider that failed.
    pub async fn get(&self) -> Result<Option<(String, Secret)>, (String, CredentialError)> {
        if let Some(p) = self.provider() {
            return p.get().await.map_err(|e| (p.name(), e));
        }
        Ok(match self {
            Creds::None | Creds::Provider(_) => None,
            Creds::Fixed(u, p) => Some((u.clone(), p.clone())),
            Creds::Source(s) => s.current(),
            Creds::Docker { lookup, host, .. } => lookup.credentials_for(host),
        })
    }

    /// Whether credentials are configured at all (for the wording of a refusal and
    /// whether to answer a Basic challenge).
    pub fn configured(&self) -> bool {
        match self {
            Creds::None => false,
            Creds::Fixed(..) | Creds::Provider(_) => true,
            Creds::Source(s) => s.current().is_some(),
            Creds::Docker { lookup, host, .. } => {
                lookup.helper_for(host).is_some() || lookup.credentials_for(host).is_some()
            }
        }
    }

    /// Who the client is, without fetching: the username, the provider, or `anonymous`
    /// (part of the tag cache key, so listings made as different users stay apart).
    pub fn identity(&self) -> String {
        if let Some(p) = self.provider() {
            return p.name();
        }
        let user = match self {
            Creds::Fixed(u, _) => Some(u.clone()),
            Creds::Source(s) => s.current().map(|(u, _)| u),
            Creds::Docker { lookup, host, .. } => lookup.credentials_for(host).map(|(u, _)| u),
            Creds::None | Creds::Provider(_) => None,
        };
        user.unwrap_or_else(|| "anonymous".to_string())
    }

    /// The registry refused fetched credentials: forget them so the next request asks
    /// again. True when there was something to forget (the caller retries once).
    pub async fn invalidate(&self) -> bool {
        match self.provider() {
            Some(p) => {
                p.invalidate().await;
                true
            }
            None => false,
        }
    }
}
