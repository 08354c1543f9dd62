//! Manual changes: a person's commit that changed an image's value in git away from the
//! value imagebump last committed there. Pure: the caller passes the file's recent
//! history (newest first, as the git crate reads it); nothing is remembered between
//! calls, so the answer is the same after a restart and on another replica.
//!
//! A value is read with the image's own editor (the write path's lookup, run on a probe
//! update and discarded), so a manual change is seen exactly where imagebump writes.

use crate::decision::{HoldReason, ImageId, ManualChange, Wish};
use crate::edit::{self, Update};
use crate::plan::{edit_target, tag_of};
use crate::policy::{ImagePolicy, OnManualChange, Target};

/// One version of a file in its history (newest first in the slices below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The commit that produced it (full hex id).
    pub commit: String,
    /// Its author, `Name <email>`.
    pub author: String,
    /// Made by imagebump (configured author and trailer).
    pub is_imagebump: bool,
    /// Image ids whose hold this commit releases (`Imagebump-Release:` trailers).
    pub releases: Vec<String>,
    /// The file's text after the commit (`None`: deleted or not text).
    pub text: Option<String>,
}

/// How many versions of a file are looked at (the history window).
pub const HISTORY_VERSIONS: usize = 50;

/// A tag no registry lists and a digest no registry serves: the probe that makes the
/// editor report every value of the image it would write, without keeping the edit.
const PROBE_TAG: &str = "imagebump-probe-0";
const PROBE_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The files of `policy` whose history tells manual changes, markers directories left
/// out (the engine lists their files carrying the image's marker, each with its own
/// history).
pub fn files(policy: &ImagePolicy) -> Vec<std::path::PathBuf> {
    policy
        .targets
        .iter()
        .filter(|t| !matches!(t, Target::Markers(_)))
        .map(|t| t.path().as_path().to_path_buf())
        .collect()
}

/// The tag of the image's first value in `text` (`None`: no value, or unreadable).
pub fn value_in(id: &ImageId, policy: &ImagePolicy, target: &Target, text: &str) -> Option<String> {
    let marker_id = format!("{}:{}", id.application, id.name);
    let update = Update::new(
        policy.repository.without_version(),
        Some(PROBE_TAG.to_string()),
        Some(PROBE_DIGEST.to_string()),
    )
    .ok()?;
    let name = target.path().as_path().display().to_string();
    let edited = edit::edit(&name, text, &edit_target(target, &marker_id), &update).ok()?;
    edited.changes.iter().find_map(|c| tag_of(&c.old))
}

/// The manual change of image `id` in one target's history (newest first), if any: the
/// value now differs from the value of the newest imagebump commit that changed it, and
/// the newest commit since that changed it is not imagebump's. A release of `id`
/// (`Imagebump-Release: id`) newer than the change acknowledges it. `None` when the
/// window holds no imagebump commit that changed the value (nothing to compare with).
pub fn detect(
    id: &ImageId,
    policy: &ImagePolicy,
    target: &Target,
    history: &[Version],
) -> Option<ManualChange> {
    let values: Vec<Option<String>> = history
        .iter()
        .map(|v| {
            v.text
                .as_deref()
                .and_then(|t| value_in(id, policy, target, t))
        })
        .collect();
    let me = id.to_string();
    let changed = |i: usize| i + 1 < values.len() && values[i] != values[i + 1];
    let mut ours = None;
    for (i, v) in history.iter().enumerate() {
        if v.releases.contains(&me) {
            return None;
        }
        if v.is_imagebump && values[i].is_some() && changed(i) {
            ours = Some(i);
            break;
        }
    }
    let ours = ours?;
    let now = values[0].clone()?;
    let from = values[ours].clone()?;
    if now == from {
        return None;
    }
    let by = (0..ours).find(|&j| !history[j].is_imagebump && changed(j))?;
    let v = &history[by];
    Some(ManualChange {
        author: v.author.clone(),
        commit: v.commit.chars().take(12).collect(),
        from,
        to: now,
    })
}

/// What `mode` makes of `change` for `wish`: `Some(reason)` when nothing may be written
/// for the image (`hold`; `skipVersion` when the wished tag is not strictly above the
/// version the person moved away from), `None` when the wish goes ahead.
pub fn hold_for(
    mode: OnManualChange,
    policy: &ImagePolicy,
    wish: &Wish,
    change: ManualChange,
) -> Option<HoldReason> {
    match mode {
        OnManualChange::Ignore => None,
        OnManualChange::Hold => Some(HoldReason::ManualChange(change)),
        OnManualChange::SkipVersion => {
            if policy.selector().is_above(&wish.tag, &change.from) {
                None
            } else {
                Some(HoldReason::SkipVersion(change))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{parse_policy, LoadedPolicy, PolicySet};
    use std::path::Path;

    const POLICY: &str = "application: app\nimages:\n  - repository: registry.example/team/web\n    semver: '>=1.0.0'\n    targets:\n      - manifest: deploy.yaml\n";

    fn policy() -> (ImageId, ImagePolicy) {
        let set = PolicySet::new(vec![LoadedPolicy {
            path: "p.yaml".into(),
            policy: parse_policy(Path::new("p.yaml"), POLICY).unwrap(),
        }]);
        let (id, p) = set.images().next().unwrap();
        (id.clone(), p.clone())
    }

    fn manifest(tag: &str) -> Option<String> {
        Some(format!(
            "spec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example/team/web:{tag}\n"
        ))
    }

    fn v(commit: &str, ours: bool, tag: &str) -> Version {
        Version {
            commit: format!("{commit}{}", "0".repeat(40 - commit.len())),
            author: if ours {
                "imagebump <bot@x>".into()
            } else {
                "Ann <ann@x>".into()
            },
            is_imagebump: ours,
            releases: Vec::new(),
            text: manifest(tag),
        }
    }

    #[test]
    fn a_rollback_after_imagebumps_commit_is_a_manual_change() {
        let (id, p) = policy();
        let t = p.targets[0].clone();
        let h = [
            v("c3", false, "1.1.0"),
            v("b2", true, "1.2.0"),
            v("a1", false, "1.1.0"),
        ];
        let m = detect(&id, &p, &t, &h).unwrap();
        assert_eq!(
            m,
            ManualChange {
                author: "Ann <ann@x>".into(),
                commit: "c30000000000".into(),
                from: "1.2.0".into(),
                to: "1.1.0".into()
            }
        );
        let wish = |tag: &str| Wish {
            id: id.clone(),
            tag: tag.to_string(),
            digest: None,
            index_digest: None,
        };
        assert!(hold_for(OnManualChange::SkipVersion, &p, &wish("1.2.0"), m.clone()).is_some());
        assert!(hold_for(OnManualChange::SkipVersion, &p, &wish("1.2.1"), m.clone()).is_none());
        assert!(hold_for(OnManualChange::Hold, &p, &wish("1.2.1"), m.clone()).is_some());
        assert!(hold_for(OnManualChange::Ignore, &p, &wish("1.2.0"), m).is_none());
    }

    #[test]
    fn no_manual_change_without_a_foreign_change_or_after_a_release() {
        let (id, p) = policy();
        let t = p.targets[0].clone();
        // imagebump's own newest value.
        let h = [v("b2", true, "1.2.0"), v("a1", false, "1.1.0")];
        assert_eq!(detect(&id, &p, &t, &h), None);
        // Only people ever changed it: nothing imagebump wrote to compare with.
        let h = [v("b2", false, "1.2.0"), v("a1", false, "1.1.0")];
        assert_eq!(detect(&id, &p, &t, &h), None);
        // Changed back by a person to imagebump's value.
        let h = [
            v("d4", false, "1.2.0"),
            v("c3", false, "1.1.0"),
            v("b2", true, "1.2.0"),
            v("a1", false, "1.1.0"),
        ];
        assert_eq!(detect(&id, &p, &t, &h), None);
        // Released after the rollback.
        let mut rel = v("d4", true, "1.1.0");
        rel.releases = vec![id.to_string()];
        rel.text = Some(format!("{}# released\n", manifest("1.1.0").unwrap()));
        let h = [
            rel,
            v("c3", false, "1.1.0"),
            v("b2", true, "1.2.0"),
            v("a1", false, "1.1.0"),
        ];
        assert_eq!(detect(&id, &p, &t, &h), None);
    }

    #[test]
    fn imagebumps_commit_for_another_value_does_not_hide_the_rollback() {
        let (id, p) = policy();
        let t = p.targets[0].clone();
        // Newest: imagebump changed the file (another image) without changing this value.
        let mut other = v("d4", true, "1.1.0");
        other.text = Some(format!("{}# other image\n", manifest("1.1.0").unwrap()));
        let h = [
            other,
            v("c3", false, "1.1.0"),
            v("b2", true, "1.2.0"),
            v("a1", false, "1.1.0"),
        ];
        let m = detect(&id, &p, &t, &h).unwrap();
        assert_eq!((m.from.as_str(), m.to.as_str()), ("1.2.0", "1.1.0"));
    }
}
