//! The status page's [`Snapshot`], taken from the running engine: the same boards the
//! status API serves, the commit links from each repository's `commitUrl`, and the
//! latency histogram read from the metric's own text.

use imagebump_core::decision::Decision;

use super::{latency, CommitRef, GitRow, ImageRow, PullRef, Snapshot, StateCount};
use crate::engine::gits::GitStatus;
use crate::engine::status::ImageStatus;
use crate::engine::Engine;

/// The metric the latency histogram is drawn from.
pub const LATENCY_METRIC: &str = "imagebump_webhook_to_commit_seconds";

/// Everything the page shows, as of now.
pub fn snapshot(engine: &Engine, ready: bool) -> Snapshot {
    let gits = engine.git_status.snapshot();
    let images = engine.status.snapshot();
    let (buckets, sum, count) = latency::parse(&engine.metrics.encode(), LATENCY_METRIC);
    Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        taken: crate::engine::status::now_rfc3339(),
        ready,
        counts: engine
            .status
            .state_counts()
            .into_iter()
            .map(|(state, count)| StateCount {
                state: state.to_string(),
                count,
            })
            .collect(),
        images: images.iter().map(|i| image_row(i, &gits)).collect(),
        gits: gits.iter().map(git_row).collect(),
        config: engine.config.status(),
        policies: engine.live.status(),
        latency: latency::draw(&buckets, sum, count),
    }
}

/// One image's row; its last commit linked through the repository it was made in.
pub fn image_row(i: &ImageStatus, gits: &[GitStatus]) -> ImageRow {
    let held = |d: &Decision| match d {
        Decision::Held { reason } => Some(reason.to_string()),
        _ => None,
    };
    let hold = i
        .decision
        .as_ref()
        .and_then(held)
        .or_else(|| i.by_git.iter().map(|(_, d)| d).find_map(held));
    ImageRow {
        application: i.application.clone(),
        image: i.image.clone(),
        repository: i.repository.clone(),
        current: i.current.clone(),
        candidate: i.latest_candidate.clone(),
        chosen: i.chosen.clone(),
        state: i.state.unwrap_or("not_scanned").to_string(),
        why: i.why_not_updated.clone(),
        error: i.last_error.clone(),
        hold,
        last_scan: i.last_scan.clone(),
        commit: i
            .last_commit
            .as_deref()
            .map(|c| CommitRef::new(c, commit_repository(i, c, gits).and_then(|g| g.link(c)))),
    }
}

/// The GitOps repository commit `c` of image `i` was made in: the one whose writer
/// recorded it, else the only one there is (the scan's `Updated` names no repository).
fn commit_repository<'a>(i: &ImageStatus, c: &str, gits: &'a [GitStatus]) -> Option<&'a GitStatus> {
    let made_in = i.by_git.iter().find_map(|(g, d)| match d {
        Decision::Updated { commit, .. } if commit == c => Some(g.as_str()),
        _ => None,
    });
    match made_in {
        Some(name) => gits.iter().find(|g| g.name == name),
        None if gits.len() == 1 => gits.first(),
        None => gits.iter().find(|g| g.last_commit.as_deref() == Some(c)),
    }
}

/// One GitOps repository's row.
pub fn git_row(g: &GitStatus) -> GitRow {
    GitRow {
        name: g.name.clone(),
        url: g.url.clone(),
        branch: g.branch.clone(),
        write: g.write.to_string(),
        push_branch: g.push_branch.clone(),
        last_sync: g.last_sync.clone(),
        last_push: g.last_push.clone(),
        last_commit: g
            .last_commit
            .as_deref()
            .map(|c| CommitRef::new(c, g.last_commit_url.clone())),
        last_error: g.last_error.clone(),
        pull_requests: g
            .pull_requests
            .iter()
            .map(|(head, url)| PullRef {
                head: head.clone(),
                // The forge's answer is not trusted to be a web address.
                url: (url.starts_with("https://") || url.starts_with("http://"))
                    .then(|| url.clone()),
            })
            .collect(),
    }
}
