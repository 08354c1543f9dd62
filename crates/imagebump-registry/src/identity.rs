//! A registry's HTTP client and the client certificate it presents: reqwest bakes the
//! TLS identity into the client, so a rotated certificate (a cert-manager Secret) needs
//! a new client. [`HttpClient`] asks its [`IdentitySource`] before each request and
//! builds a new client when the certificate or key text changed; connections of the
//! old client are not reused, so the next handshake presents the new certificate.
//!
//! A rotated pair that cannot be used (a key not matching the certificate while only
//! one of the two files has been replaced, a key that is not PKCS#8) keeps the last good
//! client: it is tried again when the text changes, warned about and counted
//! (`client_cert_refusals`) once per version, and named in the error of a request that
//! then fails to connect.

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::{one_line, RegistryError};
use crate::metrics::RegistryMetrics;
use crate::ClientIdentity;

/// A client certificate that may change while the client runs. Asked before every
/// request to its registry, so it must be cheap (re-read a file only when its metadata
/// changed).
pub trait IdentitySource: Send + Sync {
    /// The certificate and key as of now.
    fn current(&self) -> ClientIdentity;
}

impl std::fmt::Debug for dyn IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentitySource")
    }
}

/// Builds the registry's client for an identity, with its other settings (proxy, CA,
/// timeouts) fixed.
pub(crate) type Build =
    Box<dyn Fn(Option<&ClientIdentity>) -> Result<reqwest::Client, RegistryError> + Send + Sync>;

/// The client of one registry, rebuilt when its client certificate rotates.
pub(crate) struct HttpClient {
    follow: Option<(Arc<dyn IdentitySource>, Build)>,
    state: Mutex<State>,
}

struct State {
    client: reqwest::Client,
    /// Digest of the certificate and key texts last tried (built or refused), so an
    /// unchanged pair costs one hash per request and a bad one is tried once.
    tried: [u8; 32],
    /// Why the last rotated pair was not used, while it is the newest.
    refused: Option<String>,
}

fn digest(id: &ClientIdentity) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(id.cert_pem.expose().as_bytes());
    h.update([0]);
    h.update(id.key_pem.expose().as_bytes());
    h.finalize().into()
}

/// Checks that `id` is usable for mutual TLS: PEM, a PKCS#8 key, and a key that belongs
/// to the certificate. The message never holds the key.
pub fn check_identity(id: &ClientIdentity) -> Result<(), String> {
    let cert = openssl::x509::X509::from_pem(id.cert_pem.expose().as_bytes())
        .map_err(|_| "the certificate is not PEM (BEGIN CERTIFICATE)".to_string())?;
    let key = id.key_pem.expose();
    if !key.contains("-----BEGIN PRIVATE KEY-----") {
        return Err("the key is not PKCS#8 PEM (BEGIN PRIVATE KEY): convert it with openssl pkcs8 -topk8 -nocrypt".into());
    }
    let key = openssl::pkey::PKey::private_key_from_pem(key.as_bytes())
        .map_err(|_| "the key is not a readable PKCS#8 PEM private key".to_string())?;
    let matches = cert
        .public_key()
        .map(|p| p.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        return Err("the key does not belong to the certificate".into());
    }
    Ok(())
}

impl HttpClient {
    /// A client that never changes.
    pub fn fixed(client: reqwest::Client) -> HttpClient {
        HttpClient {
            follow: None,
            state: Mutex::new(State {
                client,
                tried: [0; 32],
                refused: None,
            }),
        }
    }

    /// A client following `source`, built now from its current identity (an unusable
    /// one is an error: start-up fails rather than run without the certificate).
    pub fn following(
        source: Arc<dyn IdentitySource>,
        build: Build,
    ) -> Result<HttpClient, RegistryError> {
        let id = source.current();
        check_identity(&id)
            .map_err(|e| RegistryError::Config(format!("clientCert/clientKey: {e}")))?;
        let client = build(Some(&id))?;
        Ok(HttpClient {
            state: Mutex::new(State {
                client,
                tried: digest(&id),
                refused: None,
            }),
            follow: Some((source, build)),
        })
    }

    /// The client to send with now: rebuilt first if the identity changed and the new
    /// one is usable.
    pub fn current(&self, registry: &str, metrics: &RegistryMetrics) -> reqwest::Client {
        let Some((source, build)) = &self.follow else {
            return self.lock().client.clone();
        };
        let id = source.current();
        let d = digest(&id);
        let mut st = self.lock();
        if st.tried != d {
            st.tried = d;
            let built = check_identity(&id)
                .map_err(|e| RegistryError::Config(format!("clientCert/clientKey: {e}")))
                .and_then(|()| build(Some(&id)));
            match built {
                Ok(c) => {
                    tracing::info!(
                        registry,
                        "client certificate rotated; new connections use it"
                    );
                    st.client = c;
                    st.refused = None;
                }
                Err(e) => {
                    let why = one_line(&e.to_string(), 200);
                    tracing::warn!(registry, error = %why, "the rotated client certificate is unusable; keeping the previous one");
                    st.refused = Some(why);
                    metrics.client_cert_refused(registry);
                }
            }
        }
        st.client.clone()
    }

    /// Why the newest rotated certificate is not in use, if it is not.
    pub fn refused(&self) -> Option<String> {
        self.lock().refused.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
