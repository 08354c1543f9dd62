//! Manual changes applied before planning (`onManualChange`): the writer and `plan` read
//! each wished image's target files' recent history from the synced copy, ask the core
//! ([`imagebump_core::manual`]) whether a person changed the value away from imagebump's,
//! and take out the wishes the mode holds. Derived from git alone on every write: no
//! state survives a restart but the in-memory "already notified" set (so a restart
//! sends a held notice at most once more).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use imagebump_core::decision::{HoldReason, ImageId, Wish};
use imagebump_core::manual::{self, Version, HISTORY_VERSIONS};
use imagebump_core::policy::{OnManualChange, PolicySet, Target};
use imagebump_git::{GitError, WorkingCopy};

use super::notify::{Notice, Notifier};

/// At most this many files of a markers directory are read for one image's manual
/// changes (each costs a history walk).
const MARKER_FILES: usize = 20;

/// The images held by a manual change, with why.
pub type Holds = BTreeMap<ImageId, HoldReason>;

/// The holds among `wishes`, read from `wc`'s history at its current base. `global` is
/// the config's `onManualChange` (an image's own key wins).
pub fn holds(
    wc: &WorkingCopy,
    policies: &PolicySet,
    global: OnManualChange,
    wishes: &[Wish],
) -> Result<Holds, GitError> {
    // First every (wish, target, file) to look at, then one history walk for all the
    // files: per-file walks cost a walk of the history each, which a large repository
    // with many wished images cannot afford.
    let mut looks: Vec<(
        &Wish,
        &imagebump_core::policy::ImagePolicy,
        OnManualChange,
        &Target,
        PathBuf,
    )> = Vec::new();
    for w in wishes {
        let Some(policy) = policies.get(&w.id) else {
            continue;
        };
        let mode = policy.on_manual_change.unwrap_or(global);
        if mode == OnManualChange::Ignore {
            continue;
        }
        // Each file a target writes: a markers directory's files that carry this
        // image's marker (bounded), each with its own history.
        for target in &policy.targets {
            match target {
                Target::Markers(dir) => {
                    let marker = format!("\"{}:{}\"", w.id.application, w.id.name);
                    let tree = super::files::Tree(wc.root());
                    let listed = imagebump_core::plan::FileSource::list(&tree, dir.as_path())
                        .unwrap_or_default();
                    let marked = listed.into_iter().filter(|f| {
                        imagebump_core::plan::FileSource::read(&tree, f)
                            .ok()
                            .flatten()
                            .is_some_and(|t| t.contains("$imagepolicy") && t.contains(&marker))
                    });
                    looks.extend(
                        marked
                            .take(MARKER_FILES)
                            .map(|f| (w, policy, mode, target, f)),
                    );
                }
                other => looks.push((w, policy, mode, other, other.path().as_path().to_path_buf())),
            }
        }
    }
    let mut paths: Vec<PathBuf> = looks.iter().map(|l| l.4.clone()).collect();
    paths.sort();
    paths.dedup();
    let histories: HashMap<PathBuf, Vec<Version>> = wc
        .files_history(&paths, HISTORY_VERSIONS)?
        .into_iter()
        .map(|(p, vs)| {
            let vs = vs
                .into_iter()
                .map(|v| Version {
                    commit: v.commit,
                    author: v.author,
                    is_imagebump: v.is_imagebump,
                    releases: v.releases,
                    text: v.text,
                })
                .collect();
            (p, vs)
        })
        .collect();
    let mut out = Holds::new();
    for (w, policy, mode, target, path) in looks {
        if out.contains_key(&w.id) {
            continue;
        }
        let Some(history) = histories.get(&path) else {
            continue;
        };
        let Some(change) = manual::detect(&w.id, policy, target, history) else {
            continue;
        };
        if let Some(reason) = manual::hold_for(mode, policy, w, change) {
            out.insert(w.id.clone(), reason);
        }
    }
    Ok(out)
}

/// Sends one notice per manual change (keyed by its commit), however often it is seen.
#[derive(Default)]
pub struct Announced(Mutex<HashSet<(ImageId, String)>>);

impl Announced {
    /// Notifies `holds` not announced before; returns the images it announced.
    pub fn announce(&self, holds: &Holds, notifier: Option<&Notifier>) -> Vec<ImageId> {
        let mut fresh = Vec::new();
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (id, reason) in holds {
            let commit = match reason {
                HoldReason::ManualChange(m) | HoldReason::SkipVersion(m) => m.commit.clone(),
                HoldReason::Marker { .. } | HoldReason::Declined { .. } => continue,
            };
            if !seen.insert((id.clone(), commit)) {
                continue;
            }
            tracing::info!(image = %id, %reason, "manual change respected");
            fresh.push(id.clone());
            if let Some(n) = notifier {
                n.send(Notice::Held {
                    image: id.to_string(),
                    reason: reason.to_string(),
                });
            }
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imagebump_core::decision::ManualChange;

    #[test]
    fn a_manual_change_is_announced_once() {
        let change = |commit: &str| ManualChange {
            author: "Ann".into(),
            commit: commit.into(),
            from: "1.2.0".into(),
            to: "1.1.0".into(),
        };
        let id = ImageId::new("app", "web");
        let a = Announced::default();
        let holds = Holds::from([(id.clone(), HoldReason::SkipVersion(change("aaa")))]);
        assert_eq!(a.announce(&holds, None), vec![id.clone()]);
        assert_eq!(a.announce(&holds, None), Vec::<ImageId>::new());
        // Another manual change of the same image is news again.
        let holds = Holds::from([(id.clone(), HoldReason::ManualChange(change("bbb")))]);
        assert_eq!(a.announce(&holds, None), vec![id]);
    }
}
