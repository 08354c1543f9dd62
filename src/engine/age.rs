//! `minAge` and `newestBuild`: the registry half of time-aware selection. Creation
//! times are read lazily, best candidate first, at most [`MAX_AGE_CHECKS`] tags per scan
//! (cached by digest in the registry client); the choice itself is the core's
//! ([`imagebump_core::policy::age::pick`]).

use std::time::SystemTime;

use imagebump_core::decision::{Decision, Stage};
use imagebump_core::image::ImageRef;
use imagebump_core::policy::{age, ImagePolicy};
use imagebump_registry::RegistryClient;

/// At most this many candidates (the best by tag order) have their creation time read
/// per scan: `newestBuild` orders these, `minAge` looks no further for an old one.
pub const MAX_AGE_CHECKS: usize = 10;

/// True when the policy selects by time (`minAge` or `newestBuild`).
pub fn applies(policy: &ImagePolicy) -> bool {
    policy.min_age.is_some() || policy.newest_build
}

/// The tag time-aware selection picks among `ranked` (best first by tag order), with
/// the `TooYoung` of a better candidate it passed over, or the decision that says why
/// none: `TooYoung` when none of those read is old enough (not
/// a failure), `Failed` when a creation time cannot be read or an image states none (a
/// candidate whose age is unknown is never skipped silently).
pub async fn pick(
    registry: &RegistryClient,
    image: &ImageRef,
    ranked: &[&str],
    policy: &ImagePolicy,
    now: SystemTime,
) -> Result<age::Picked, Decision> {
    let failed = |error: String| Decision::Failed {
        stage: Stage::Registry,
        error,
    };
    let mut built = Vec::new();
    for tag in ranked.iter().take(MAX_AGE_CHECKS) {
        let created = match registry.created(image, tag).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(failed(format!(
                    "cannot tell the age of {tag}: neither its image config's created nor the annotation org.opencontainers.image.created is set (minAge and newestBuild need one)"
                )))
            }
            Err(e) => return Err(failed(format!("cannot read when {tag} was built: {e}"))),
        };
        built.push((*tag, created));
        // Without `newestBuild` tag order decides, so the first old enough one wins and
        // the rest need not be read.
        if !policy.newest_build && age::old_enough(created, now, policy.min_age) {
            break;
        }
    }
    age::pick(&built, now, policy.min_age, policy.newest_build)
        .unwrap_or_else(|| Err(failed("no candidate to read the age of".into())))
}
