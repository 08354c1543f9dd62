//! Stand-ins for cloud token services — **not** the real services, which cannot run
//! here. Each follows its provider's documented API (paths, parameters, answers, error
//! bodies) and issues one fixed registry password, so a real Distribution registry
//! with htpasswd for that user and password checks what the client ends up sending.
//! Each counts the tokens it issued, which is how a test sees a refresh.

pub mod aws;
pub mod azure;
pub mod gcp;

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
