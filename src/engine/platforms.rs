//! `platforms:` as a filter: the best tag that offers every required platform, checked
//! newest first and lazily (one manifest request per tag), at most
//! [`MAX_PLATFORM_CHECKS`] tags per scan, so a repository of thousands of tags costs a
//! bounded number of requests.

use imagebump_core::decision::{Decision, Stage};
use imagebump_core::image::ImageRef;
use imagebump_registry::RegistryClient;

/// At most this many candidates (the newest) are checked for platforms per scan.
pub const MAX_PLATFORM_CHECKS: usize = 10;

/// The first of `ranked` (best first) whose index offers every one of `platforms`, or
/// the decision that says why there is none: `MissingPlatform` (naming the best
/// candidate) when none of the first [`MAX_PLATFORM_CHECKS`] has them, `Failed` when a
/// lookup fails (a tag that could not be checked is never skipped silently).
pub async fn first_with_platforms(
    registry: &RegistryClient,
    image: &ImageRef,
    ranked: &[&str],
    platforms: &[String],
) -> Result<String, Decision> {
    for tag in ranked.iter().take(MAX_PLATFORM_CHECKS) {
        match registry.check_platforms(image, tag, platforms).await {
            Ok(true) => return Ok(tag.to_string()),
            Ok(false) => {
                tracing::debug!(%tag, ?platforms, "tag lacks a required platform; trying the next");
            }
            Err(e) => {
                return Err(Decision::Failed {
                    stage: Stage::Registry,
                    error: format!("cannot read platforms of {tag}: {e}"),
                })
            }
        }
    }
    Err(Decision::MissingPlatform {
        tag: ranked.first().map_or_else(String::new, |t| t.to_string()),
        platforms: platforms.to_vec(),
    })
}
