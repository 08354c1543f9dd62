//! One image's policy: its spec (what is watched, how a tag is picked), shared between
//! the per-repository views of the policies, and its targets.

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::select::{Selector, Strategy, TagFilter};
use super::{OnManualChange, RawImagePolicy, Target};
use crate::image::ImageRef;

/// One image of an application: where it comes from, how to pick a tag ([`ImageSpec`],
/// shared), and where to write it (its own).
///
/// The spec is behind an `Arc` because each GitOps repository's writer sees the policies
/// with only its targets ([`super::PolicySet::for_repository`]): those copies share the spec,
/// and at 10,000 images a copy of everything was 11 MB per set. `Deref` lets readers
/// write `policy.repository` as before; nothing changes a spec after loading.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawImagePolicy")]
pub struct ImagePolicy {
    /// What is watched and how a tag is picked.
    pub spec: Arc<ImageSpec>,
    /// Files to write.
    pub targets: Vec<Target>,
    /// Each target's `git:` (the GitOps repository it lives in), by position in
    /// `targets`; `None` where the target names none (allowed with one repository).
    pub target_repos: Vec<Option<String>>,
}

impl std::ops::Deref for ImagePolicy {
    type Target = ImageSpec;

    fn deref(&self) -> &ImageSpec {
        &self.spec
    }
}

/// The part of an image's policy that is not where it is written.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The repository to watch (normalised).
    pub repository: ImageRef,
    /// The repository as the policy wrote it.
    pub repository_text: String,
    /// Short name, used in Flux marker ids `application:name` (default: last path part).
    pub name: String,
    /// Ordering strategy.
    pub strategy: Strategy,
    /// `tags: {pattern, extract}`.
    pub filter: Option<TagFilter>,
    /// `exclude:` patterns.
    pub exclude: Vec<Regex>,
    /// `loose: true`.
    pub loose: bool,
    /// `prerelease: true`.
    pub prerelease: bool,
    /// `allowDowngrade: true`.
    pub allow_downgrade: bool,
    /// `suspended: true`: nothing is written for this image.
    pub suspended: bool,
    /// `pinned: TAG`: the image stays at exactly this tag.
    pub pinned: Option<String>,
    /// `platforms:` that must exist in a multi-arch index before a tag is allowed.
    pub platforms: Vec<String>,
    /// `pinDigest: true`: every reference is written `tag@<index digest>`, pinned or not
    /// (without it, only references pinned already keep a pin).
    pub pin_digest: bool,
    /// `interval:` poll interval override.
    pub interval: Option<Duration>,
    /// `minAge:` a tag is eligible once its image is this old ([`super::age`]).
    pub min_age: Option<Duration>,
    /// `newestBuild: true`: candidates ordered by their image's creation time ([`super::age`]).
    pub newest_build: bool,
    /// `onManualChange:` for this image; `None` = the config's global value (default
    /// `skipVersion`).
    pub on_manual_change: Option<OnManualChange>,
}

impl ImageSpec {
    /// The tag selector this policy describes.
    pub fn selector(&self) -> Selector {
        Selector {
            strategy: self.strategy.clone(),
            filter: self.filter.clone(),
            exclude: self.exclude.clone(),
            loose: self.loose,
            prerelease: self.prerelease,
            // With `newestBuild` the build time is the order, which the tag-order
            // downgrade guard cannot see: a rebuilt lower tag may be the newest.
            allow_downgrade: self.allow_downgrade || self.newest_build,
        }
    }
}
