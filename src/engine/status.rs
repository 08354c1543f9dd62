//! What the service knows about each image, for `GET /api/v1/status`.
//!
//! Written by scans and by the writer, read by the HTTP server. It is a view, not state
//! that matters: a restart loses it and the start-up sync fills it again.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use imagebump_core::plan::WatchId;

/// One image's status, as served (camelCase JSON).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageStatus {
    /// Application name.
    pub application: String,
    /// Image name within the application.
    pub image: String,
    /// Normalised repository.
    pub repository: String,
    /// The tag in git, as last seen.
    pub current: Option<String>,
    /// The best tag the strategy found in the registry (before the downgrade guard).
    pub latest_candidate: Option<String>,
    /// The tag (and digest) the service wants deployed.
    pub chosen: Option<String>,
    /// When the repository was last scanned (RFC 3339).
    pub last_scan: Option<String>,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Why git does not hold the candidate, when it does not.
    pub why_not_updated: Option<String>,
    /// The last commit that changed this image.
    pub last_commit: Option<String>,
}

/// All images' status.
#[derive(Debug, Default)]
pub struct StatusBoard {
    images: Mutex<BTreeMap<WatchId, ImageStatus>>,
}

impl StatusBoard {
    /// Registers an image with its names, so it shows up before its first scan.
    pub fn register(&self, id: WatchId, application: &str, image: &str, repository: &str) {
        self.lock().insert(
            id,
            ImageStatus {
                application: application.into(),
                image: image.into(),
                repository: repository.into(),
                ..Default::default()
            },
        );
    }

    /// Changes one image's status.
    pub fn update(&self, id: WatchId, f: impl FnOnce(&mut ImageStatus)) {
        if let Some(s) = self.lock().get_mut(&id) {
            f(s);
        }
    }

    /// A copy of everything, in policy order.
    pub fn snapshot(&self) -> Vec<ImageStatus> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<WatchId, ImageStatus>> {
        // A panic elsewhere while holding the lock leaves plain data; keep serving it.
        self.images.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
