//! What the service knows about each image, for `GET /api/v1/status`, `once` and `plan`.
//!
//! Written by scans and by the writer, read by the HTTP server and the CLI. It is a view,
//! not state that matters: a restart loses it and the start-up sync fills it again. Each
//! image keeps its last typed [`Decision`]; `lastError` and `whyNotUpdated` are rendered
//! from it when a snapshot is taken.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::image_metrics::{ImageSeries, UP_TO_DATE_KINDS};
use imagebump_core::decision::{Decision, ImageId};
use serde::Serialize;

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
    /// When the repository was last listed successfully (RFC 3339); older than
    /// `lastScan` while the registry fails.
    pub last_successful_scan: Option<String>,
    /// The last error, if the last attempt failed (rendered from the decision).
    pub last_error: Option<String>,
    /// Why git does not hold the candidate, when it does not (rendered from the decision).
    pub why_not_updated: Option<String>,
    /// The last commit that changed this image.
    pub last_commit: Option<String>,
    /// When this process recorded that commit (not served; the
    /// `imagebump_image_last_commit_timestamp_seconds` series).
    #[serde(skip)]
    pub last_commit_at: Option<SystemTime>,
    /// The decision's kind (`updated`, `up_to_date`, `no_match`, `failed`, …); absent
    /// before the first scan.
    pub state: Option<&'static str>,
    /// The last decision itself (not served; the fields above are rendered from it).
    #[serde(skip)]
    pub decision: Option<Decision>,
    /// `minAge`: the `TooYoung` of a better candidate the last scan passed over (not
    /// served): "up to date" at the tag chosen instead is shown as that wait.
    #[serde(skip)]
    pub waiting: Option<Decision>,
    /// The writers' decisions by GitOps repository, for an image with targets in
    /// several (not served): a failure in one is what the image shows, never hidden by
    /// another repository's success. Sorted by repository name; a `Vec`, not a
    /// `BTreeMap`, whose first insert allocates a node for 11 entries (14 MB at 10,000
    /// images with one repository each).
    #[serde(skip)]
    pub by_git: Vec<(String, Decision)>,
}

impl ImageStatus {
    /// The line `once` and `plan` print after `application/name: `.
    pub fn line(&self) -> String {
        match &self.decision {
            Some(d) => d.line(self.current.as_deref()),
            None => "not scanned".into(),
        }
    }

    /// The image's identity.
    pub fn id(&self) -> ImageId {
        ImageId::new(&self.application, &self.image)
    }
}

/// All images' status.
#[derive(Debug, Default)]
pub struct StatusBoard {
    /// Boxed: a B-tree node holds 11 entries and is about half full after inserts in
    /// order, so 528-byte values inline cost twice their size (11 MB at 10,000 images).
    images: Mutex<BTreeMap<ImageId, Box<ImageStatus>>>,
}

impl StatusBoard {
    /// Registers an image with its repository, so it shows up before its first scan.
    pub fn register(&self, id: &ImageId, repository: &str) {
        self.lock().insert(
            id.clone(),
            Box::new(ImageStatus {
                application: id.application.clone(),
                image: id.name.clone(),
                repository: repository.into(),
                ..Default::default()
            }),
        );
    }

    /// After a policy reload: keeps the images listed (with their status, unless their
    /// repository changed), registers new ones and forgets the rest.
    pub fn keep_only(&self, images: Vec<(ImageId, String)>) {
        let mut all = self.lock();
        let mut next = BTreeMap::new();
        for (id, repository) in images {
            let s = match all.remove(&id) {
                Some(s) if s.repository == repository => s,
                _ => Box::new(ImageStatus {
                    application: id.application.clone(),
                    image: id.name.clone(),
                    repository,
                    ..Default::default()
                }),
            };
            next.insert(id, s);
        }
        *all = next;
    }

    /// Changes one image's status.
    pub fn update(&self, id: &ImageId, f: impl FnOnce(&mut ImageStatus)) {
        if let Some(s) = self.lock().get_mut(id) {
            f(s);
        }
    }

    /// Records a writer's decision in GitOps repository `git`: the image shows it,
    /// unless the image's write failed in another repository since its last scan.
    pub fn decide_in(&self, id: &ImageId, git: &str, d: Decision) {
        let failed_elsewhere = self.lock().get_mut(id).and_then(|s| {
            match s.by_git.binary_search_by(|(g, _)| g.as_str().cmp(git)) {
                Ok(i) => s.by_git[i].1 = d.clone(),
                Err(i) => s.by_git.insert(i, (git.to_string(), d.clone())),
            }
            s.by_git
                .iter()
                .find(|(g, d)| g.as_str() != git && d.is_failure())
                .map(|(_, d)| d.clone())
        });
        self.record(id, d, false);
        if let Some(f) = failed_elsewhere {
            self.record(id, f, false);
        }
    }

    /// Records a decision (and, for an update, the commit and what git now holds).
    pub fn decide(&self, id: &ImageId, d: Decision) {
        self.record(id, d, true);
    }

    fn record(&self, id: &ImageId, d: Decision, fresh: bool) {
        self.update(id, |s| {
            if fresh {
                s.by_git.clear();
            }
            match &d {
                Decision::Updated { to, commit, .. } => {
                    s.current = Some(to.clone());
                    s.last_commit = Some(commit.clone());
                    s.last_commit_at = Some(SystemTime::now());
                }
                Decision::UpToDate { current } => {
                    s.current = Some(current.clone());
                    // Git holds the best tag old enough, but a better one is waiting:
                    // say so rather than "no newer tag".
                    if let Some(w @ Decision::TooYoung { tag, .. }) = &s.waiting {
                        if current.split('@').next() != Some(tag.as_str()) {
                            s.decision = Some(w.clone());
                            return;
                        }
                    }
                }
                Decision::Pinned { tag } => s.current = Some(tag.clone()),
                Decision::DowngradeRefused { current, .. } => s.current = Some(current.clone()),
                _ => {}
            }
            s.decision = Some(d);
        });
    }

    /// The current decision of one image.
    pub fn decision(&self, id: &ImageId) -> Option<Decision> {
        self.lock().get(id).and_then(|s| s.decision.clone())
    }

    /// A copy of everything, in identity order, with the text fields rendered.
    pub fn snapshot(&self) -> Vec<ImageStatus> {
        self.lock()
            .values()
            .map(|s| ImageStatus::clone(s))
            .map(|mut s| {
                if let Some(d) = &s.decision {
                    s.last_error = d.last_error();
                    s.why_not_updated = d.why_not_updated();
                    s.state = Some(d.kind());
                }
                s
            })
            .collect()
    }

    /// How many images are in each state (the decision's kind; `not_scanned` before the
    /// first scan), for the `imagebump_images{state}` gauge: every reason an image is
    /// not updated — no match, refused, rate limited, held… — is visible as a metric.
    pub fn state_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for s in self.lock().values() {
            let kind = s.decision.as_ref().map_or("not_scanned", Decision::kind);
            *out.entry(kind).or_insert(0) += 1;
        }
        out
    }

    /// The per-image metric series, one per watched image, in identity order.
    pub fn series(&self) -> Vec<ImageSeries> {
        let unix = |t: SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok())
        };
        self.lock()
            .values()
            .map(|s| {
                let kind = s.decision.as_ref().map(Decision::kind);
                ImageSeries {
                    application: s.application.clone(),
                    image: s.image.clone(),
                    repository: s.repository.clone(),
                    up_to_date: kind.is_some_and(|k| UP_TO_DATE_KINDS.contains(&k)),
                    held: kind == Some("held"),
                    // Stored as the RFC 3339 text the status API serves; it was written by
                    // `now_rfc3339`, so it parses.
                    last_successful_scan: s
                        .last_successful_scan
                        .as_deref()
                        .and_then(|t| humantime::parse_rfc3339(t).ok())
                        .and_then(unix),
                    last_commit: s.last_commit_at.and_then(unix),
                }
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ImageId, Box<ImageStatus>>> {
        // A panic elsewhere while holding the lock leaves plain data; keep serving it.
        self.images.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_images_by_state() {
        let board = StatusBoard::default();
        let (a, b, c) = (
            ImageId::new("shop", "web"),
            ImageId::new("shop", "api"),
            ImageId::new("shop", "db"),
        );
        for id in [&a, &b, &c] {
            board.register(id, "registry.example.com/x");
        }
        board.decide(
            &a,
            Decision::NoMatch {
                listed: 3,
                examples: vec![],
            },
        );
        board.decide(
            &b,
            Decision::NoMatch {
                listed: 0,
                examples: vec![],
            },
        );
        let counts = board.state_counts();
        assert_eq!(counts.get("no_match"), Some(&2));
        assert_eq!(counts.get("not_scanned"), Some(&1));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn series_follow_decisions_and_registrations() {
        let board = StatusBoard::default();
        let (web, api) = (ImageId::new("shop", "web"), ImageId::new("shop", "api"));
        board.register(&web, "r/web");
        board.register(&api, "r/api");
        board.update(&web, |s| {
            s.last_successful_scan = Some("2026-12-02T03:00:00Z".into());
        });
        board.decide(
            &web,
            Decision::Updated {
                from: Some("1.0.0".into()),
                to: "1.1.0".into(),
                commit: "abc".into(),
            },
        );
        let s = board.series();
        assert_eq!(s.len(), 2);
        let (a, w) = (&s[0], &s[1]);
        assert_eq!(
            (a.image.as_str(), a.up_to_date, a.held),
            ("api", false, false)
        );
        assert_eq!((a.last_successful_scan, a.last_commit), (None, None));
        assert!(w.up_to_date);
        assert_eq!(w.last_successful_scan, Some(1_796_180_400));
        assert!(w.last_commit.is_some());
        board.decide(
            &api,
            Decision::Held {
                reason: imagebump_core::decision::HoldReason::Marker {
                    file: "api.yaml".into(),
                    line: 3,
                    until: None,
                    reason: None,
                },
            },
        );
        let held = board.series();
        assert_eq!((held[0].up_to_date, held[0].held), (false, true));
        // An image that leaves the policies leaves the series.
        board.keep_only(vec![(api.clone(), "r/api".into())]);
        assert_eq!(board.series().len(), 1);
    }
}
