//! Which references a policy claims, so two policies of one repository never fight over
//! one reference.
//!
//! A target's *scope* is its file, narrowed to one container name by `container:` on a
//! manifest target. Two images of the same repository whose scopes overlap share those
//! references, and each reference goes to the policy that claims its current tag: a
//! `pinned:` or `digest:` policy claims exactly its tag, any other policy the tags its
//! selector accepts. Where the claims provably overlap — two policies of exact tags, or
//! two of ranges, or an exact tag the other's range accepts — [`check_claims`] makes it
//! a load (and `validate`) error; otherwise the planner leaves each policy's hands off
//! the references another claims.

use std::collections::BTreeMap;

use super::select::{Strategy, Verdict};
use super::{ImagePolicy, LoadedPolicy, Problem, Target};
use crate::decision::ImageId;

impl ImagePolicy {
    /// The one tag this policy writes whatever the registry lists (`pinned:` or the
    /// tag a `digest:` policy follows), if any.
    pub fn exact_tag(&self) -> Option<&str> {
        match (&self.pinned, &self.strategy) {
            (Some(p), _) => Some(p),
            (None, Strategy::Digest(t)) => Some(t),
            _ => None,
        }
    }

    /// True when references currently at `tag` are this policy's.
    pub fn claims_tag(&self, tag: &str) -> bool {
        match self.exact_tag() {
            Some(t) => t == tag,
            None => matches!(self.selector().select(&[tag], None), Verdict::Update(t) if t == tag),
        }
    }
}

impl Target {
    /// True when both targets may write the same reference: the same file, and not two
    /// manifest targets of different containers.
    pub fn overlaps(&self, other: &Target) -> bool {
        if self.path() != other.path() {
            return false;
        }
        match (self, other) {
            (
                Target::Manifest {
                    container: Some(a), ..
                },
                Target::Manifest {
                    container: Some(b), ..
                },
            ) => a == b,
            _ => true,
        }
    }
}

/// The other images of `policy`'s repository with a target overlapping `target`.
pub fn rivals<'p>(
    all: impl Iterator<Item = (&'p ImageId, &'p ImagePolicy)>,
    me: &ImageId,
    policy: &ImagePolicy,
    target: &Target,
) -> Vec<(&'p ImageId, &'p ImagePolicy)> {
    let repo = policy.repository.name();
    all.filter(|(id, p)| {
        *id != me && p.repository.name() == repo && p.targets.iter().any(|t| t.overlaps(target))
    })
    .collect()
}

/// One problem per pair of images whose claims on a shared scope provably overlap.
pub fn check_claims(files: &[LoadedPolicy]) -> Vec<Problem> {
    let mut by_repo: BTreeMap<String, Vec<(ImageId, &LoadedPolicy, &ImagePolicy)>> =
        BTreeMap::new();
    for lp in files {
        for img in &lp.policy.images {
            by_repo.entry(img.repository.name()).or_default().push((
                ImageId::new(&lp.policy.application, &img.name),
                lp,
                img,
            ));
        }
    }
    let mut problems = Vec::new();
    for (repo, imgs) in &by_repo {
        for (i, (a_id, _, a)) in imgs.iter().enumerate() {
            for (b_id, b_file, b) in &imgs[i + 1..] {
                let Some(shared) = a
                    .targets
                    .iter()
                    .find(|t| b.targets.iter().any(|u| u.overlaps(t)))
                else {
                    continue;
                };
                let clash = match (a.exact_tag(), b.exact_tag()) {
                    (Some(x), Some(y)) => (x == y).then(|| format!("tag {x}")),
                    (Some(x), None) => b.claims_tag(x).then(|| format!("tag {x}")),
                    (None, Some(y)) => a.claims_tag(y).then(|| format!("tag {y}")),
                    (None, None) => Some("the tags both ranges accept".to_string()),
                };
                if let Some(what) = clash {
                    problems.push(Problem::new(
                        &b_file.path,
                        format!(
                            "{a_id} and {b_id} both claim the references to {repo} at {what} in {}; give each manifest target a distinct `container:`",
                            shared.path()
                        ),
                    ));
                }
            }
        }
    }
    problems
}
