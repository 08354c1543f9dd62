//! Which image, and what became of it: stable identities, wishes and typed decisions.
//!
//! A scan turns a tag listing into a [`Wish`] (the policy wants this tag) or a
//! [`Decision`] that explains why not; the writer turns a plan outcome into a
//! [`Decision`] too. Everything shown to a person — the status API's `whyNotUpdated`,
//! `once`'s and `plan`'s lines — is rendered from the enum, never parsed back from text.

use std::fmt;
use std::time::Duration;

use crate::policy::ImagePolicy;

/// The stable identity of one image: `application/name`, as policies name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId {
    /// The policy file's `application`.
    pub application: String,
    /// The image's `name` within it.
    pub name: String,
}

impl ImageId {
    /// The identity of image `name` of `application`.
    pub fn new(application: impl Into<String>, name: impl Into<String>) -> ImageId {
        ImageId {
            application: application.into(),
            name: name.into(),
        }
    }

    /// Parses `application/name` (the application cannot hold a `/`; the name may).
    pub fn parse(s: &str) -> Option<ImageId> {
        let (a, n) = s.split_once('/')?;
        (!a.is_empty() && !n.is_empty()).then(|| ImageId::new(a, n))
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.application, self.name)
    }
}

/// What a scan decided one image should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wish {
    /// Which image.
    pub id: ImageId,
    /// The tag, as the registry lists it.
    pub tag: String,
    /// The digest to pin everywhere (`digest:` and `pinDigest: true` policies); part of
    /// the chosen reference.
    pub digest: Option<String>,
    /// The index digest of `tag` for the other policies: written only into references
    /// that are pinned already, so a pin survives a bump. The scan leaves it `None`; the
    /// writer resolves it when the plan finds a pin ([`crate::plan::Plan::needs_digest`]).
    pub index_digest: Option<String>,
}

impl Wish {
    /// `tag` or `tag@digest`.
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.tag),
            None => self.tag.clone(),
        }
    }
}

/// Where a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Listing tags, reading a manifest or resolving a digest.
    Registry,
    /// Reading or editing a target file.
    Edit,
    /// Committing or pushing.
    Push,
}

impl Stage {
    /// A metric label: `registry`, `edit`, `push`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Registry => "registry",
            Stage::Edit => "edit",
            Stage::Push => "push",
        }
    }
}

/// A change a person made to an image's value in git (not an imagebump commit): found in
/// the file's recent history by the writer, recognised by author and trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualChange {
    /// The commit's author, as `Name <email>` or the name alone.
    pub author: String,
    /// The commit, abbreviated (12 hex digits).
    pub commit: String,
    /// The value imagebump had written (the version the person moved away from).
    pub from: String,
    /// The value the person wrote.
    pub to: String,
}

/// Why an image is held: no update is written for it until the reason goes away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// `# imagebump: hold` on the line of the value in git.
    Marker {
        /// The file, relative to the repository root.
        file: String,
        /// 1-based line of the value.
        line: usize,
        /// `until YYYY-MM-DD`, when given.
        until: Option<String>,
        /// The free text after the marker, when given.
        reason: Option<String>,
    },
    /// `onManualChange: hold`: a person changed the value; held until released.
    ManualChange(ManualChange),
    /// `onManualChange: skipVersion` (the default): a person moved away from a version,
    /// which is treated as bad; only a tag strictly above it is proposed.
    SkipVersion(ManualChange),
    /// A pull request proposing this tag was closed without merging: that version is
    /// skipped (a newer tag is proposed as usual).
    Declined {
        /// The pull request's web page.
        pull_request: String,
        /// The tag it proposed.
        tag: String,
    },
}

impl std::fmt::Display for HoldReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldReason::Marker {
                file,
                line,
                until,
                reason,
            } => {
                write!(f, "held by `# imagebump: hold` at {file}:{line}")?;
                if let Some(u) = until {
                    write!(f, " until {u}")?;
                }
                if let Some(r) = reason {
                    write!(f, ": {r}")?;
                }
                Ok(())
            }
            HoldReason::ManualChange(m) => write!(
                f,
                "held: changed by {} in {} from {} to {}; release it with `imagebump release`",
                m.author, m.commit, m.from, m.to
            ),
            HoldReason::SkipVersion(m) => write!(
                f,
                "held: rolled back by {} in {} from {} to {}; waiting for a tag above {}",
                m.author, m.commit, m.from, m.to, m.from
            ),
            HoldReason::Declined { pull_request, tag } => write!(
                f,
                "held: pull request {pull_request} proposing {tag} was closed without merging; waiting for a newer tag"
            ),
        }
    }
}

/// Why a write has not landed yet but will be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// Another commit landed on the branch between imagebump's sync and its push (the
    /// push is a compare-and-swap): the change is planned again on the new tip after a
    /// jittered backoff.
    PushRace {
        /// The branch pushed to.
        branch: String,
        /// Push attempts made so far.
        attempt: u32,
        /// The bound on attempts for this write.
        max_attempts: u32,
        /// How long until the next attempt.
        retry_in: Duration,
    },
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::PushRace {
                branch,
                attempt,
                max_attempts,
                retry_in,
            } => write!(
                f,
                "another commit landed on {branch} first (attempt {attempt} of {max_attempts}); planning and pushing again in {:.1}s",
                retry_in.as_secs_f64()
            ),
        }
    }
}

/// The last word on one image: why it is where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Chosen by the scan and queued for the writer.
    Pending {
        /// `tag` or `tag@digest`.
        chosen: String,
    },
    /// A commit moved it.
    Updated {
        /// The tag git held before, when it could be read.
        from: Option<String>,
        /// `tag` or `tag@digest` now in git.
        to: String,
        /// The pushed commit.
        commit: String,
    },
    /// Pull-request mode: the change is on imagebump's branch, waiting in an open pull
    /// request (not deployed until it is merged).
    Proposed {
        /// `tag` or `tag@digest` the pull request proposes.
        to: String,
        /// The pull request's web page.
        pull_request: String,
    },
    /// Git already holds what the policy chose.
    UpToDate {
        /// `tag` or `tag@digest` in git.
        current: String,
    },
    /// `pinned:` and git holds the pin.
    Pinned {
        /// The pinned tag.
        tag: String,
    },
    /// `suspended: true`.
    Suspended,
    /// `pinned:` names a tag the registry does not list.
    PinMissing {
        /// The pinned tag.
        tag: String,
    },
    /// No listed tag passes the policy.
    NoMatch {
        /// How many tags the registry listed.
        listed: usize,
        /// A few dropped tags with the reason, `tag: why`.
        examples: Vec<String>,
    },
    /// The chosen tag lacks a platform the policy requires.
    MissingPlatform {
        /// The chosen tag.
        tag: String,
        /// The required platforms.
        platforms: Vec<String>,
    },
    /// `minAge:` no candidate's image is old enough yet; not a failure: the next scan
    /// after the wait takes it.
    TooYoung {
        /// The candidate that would win first (the best by the policy's order).
        tag: String,
        /// How old its image is.
        age: Duration,
        /// The policy's `minAge`.
        min_age: Duration,
    },
    /// Held by a person: a hold marker in git, or a manual change (`onManualChange`).
    /// Not a failure.
    Held {
        /// Why.
        reason: HoldReason,
    },
    /// Git holds a higher version and `allowDowngrade` is off.
    DowngradeRefused {
        /// The value found in git.
        current: String,
        /// What the policy chose.
        chosen: String,
    },
    /// A target does not mention the image (a host typo, a target of the wrong kind):
    /// git holds no value of it there, so nothing can be compared or written.
    NotReferenced {
        /// The target file (or markers directory), relative to the repository root.
        file: String,
        /// The policy's repository, as the target should name it.
        repository: String,
    },
    /// A target cannot be edited in place.
    Refused {
        /// The file, relative to the repository root.
        file: String,
        /// 1-based line of the value.
        line: usize,
        /// Why, in words.
        why: String,
    },
    /// Queued and being written, but the write waits before trying again.
    Waiting {
        /// Why, and until when.
        reason: WaitReason,
    },
    /// The registry answered 429 and asked for a wait longer than the client sleeps
    /// through; the repository is not asked again before it ends (or a webhook comes).
    RateLimited {
        /// The registry's error, one line.
        error: String,
        /// The wait the registry asked for, in seconds, when it said.
        wait_secs: Option<u64>,
    },
    /// Something failed; it is retried on the next hint or poll.
    Failed {
        /// Where.
        stage: Stage,
        /// What happened, on one line, with its context.
        error: String,
    },
}

impl Decision {
    /// A short machine-readable name: `pending`, `updated`, `proposed`, `up_to_date`, `pinned`,
    /// `suspended`, `pin_missing`, `no_match`, `missing_platform`, `too_young`, `held`,
    /// `downgrade_refused`, `not_referenced`, `refused`, `waiting`, `rate_limited`, `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Pending { .. } => "pending",
            Decision::Updated { .. } => "updated",
            Decision::Proposed { .. } => "proposed",
            Decision::UpToDate { .. } => "up_to_date",
            Decision::Pinned { .. } => "pinned",
            Decision::Suspended => "suspended",
            Decision::PinMissing { .. } => "pin_missing",
            Decision::NoMatch { .. } => "no_match",
            Decision::MissingPlatform { .. } => "missing_platform",
            Decision::TooYoung { .. } => "too_young",
            Decision::Held { .. } => "held",
            Decision::DowngradeRefused { .. } => "downgrade_refused",
            Decision::NotReferenced { .. } => "not_referenced",
            Decision::Refused { .. } => "refused",
            Decision::Waiting { .. } => "waiting",
            Decision::RateLimited { .. } => "rate_limited",
            Decision::Failed { .. } => "failed",
        }
    }

    /// True for an error the user must see as one (`once` and `plan` exit 2).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Decision::NotReferenced { .. }
                | Decision::Refused { .. }
                | Decision::Failed { .. }
                | Decision::RateLimited { .. }
        )
    }

    /// True when git holds what the policy wants (nothing to do, nothing wrong).
    pub fn is_up_to_date(&self) -> bool {
        matches!(self, Decision::UpToDate { .. } | Decision::Pinned { .. })
    }

    /// The error, for the status API's `lastError`.
    pub fn last_error(&self) -> Option<String> {
        match self {
            Decision::NotReferenced { file, repository } => Some(format!(
                "{file} does not mention {repository}: check the target's path and kind, and that it names the image with the same registry host (localhost and 127.0.0.1 differ)"
            )),
            Decision::Refused { file, line, why } => {
                Some(format!("{file}:{line}: refusing to edit: {why}"))
            }
            Decision::Failed { error, .. } | Decision::RateLimited { error, .. } => {
                Some(error.clone())
            }
            _ => None,
        }
    }

    /// Why git does not hold a newer tag, for the status API's `whyNotUpdated`; `None`
    /// when the image just moved or is about to.
    pub fn why_not_updated(&self) -> Option<String> {
        Some(match self {
            Decision::Pending { .. } | Decision::Updated { .. } => return None,
            Decision::Proposed { to, pull_request } => {
                format!("proposed: {to} waits in pull request {pull_request}")
            }
            Decision::UpToDate { current } => format!("up to date: no newer tag than {current}"),
            Decision::Pinned { tag } => format!("up to date: pinned to {tag}"),
            Decision::Suspended => "suspended by policy (suspended: true)".into(),
            Decision::PinMissing { tag } => {
                format!("pinned to {tag}, which the registry does not list")
            }
            Decision::NoMatch { listed: 0, .. } => {
                "no tag matches: the registry lists no tags".into()
            }
            Decision::NoMatch { listed, examples } => format!(
                "no tag matches: {listed} listed, all filtered out (e.g. {})",
                examples.join("; ")
            ),
            Decision::MissingPlatform { tag, platforms } => format!(
                "{tag} lacks a required platform ({})",
                platforms.join(", ")
            ),
            Decision::TooYoung { tag, age, min_age } => format!(
                "{tag} is {} old; minAge {}: waiting",
                crate::policy::age::human(*age),
                crate::policy::age::human(*min_age)
            ),
            Decision::Held { reason } => reason.to_string(),
            Decision::DowngradeRefused { current, chosen } => format!(
                "downgrade refused: git has {current}, the policy chose {chosen} (allowDowngrade: true permits it)"
            ),
            Decision::NotReferenced { .. } => format!(
                "not in git: {}",
                self.last_error().unwrap_or_default()
            ),
            Decision::Refused { .. } => format!(
                "cannot edit: {}",
                self.last_error().unwrap_or_default()
            ),
            Decision::Waiting { reason } => format!("waiting: {reason}"),
            Decision::RateLimited {
                wait_secs: Some(n),
                ..
            } => format!("rate limited by the registry: waiting {n}s before asking again"),
            Decision::RateLimited { .. } => {
                "rate limited by the registry: waiting before asking again".into()
            }
            Decision::Failed { stage, error } => match stage {
                Stage::Registry => error.clone(),
                Stage::Edit => format!("cannot edit: {error}"),
                Stage::Push => format!("push failing: {error}"),
            },
        })
    }

    /// One line for `once` and `plan`, after `application/name: `. `current` is what git
    /// holds, when known.
    pub fn line(&self, current: Option<&str>) -> String {
        let current = current.unwrap_or_default();
        match self {
            Decision::Updated { to, commit, .. } => {
                format!("{to} (commit {})", &commit[..commit.len().min(12)])
            }
            Decision::Pending { chosen } => format!("{chosen} (not written)"),
            Decision::Proposed { to, pull_request } => {
                format!("{to} (proposed in {pull_request})")
            }
            d if d.is_up_to_date() => format!("{current} (up to date)"),
            d if d.is_failure() => format!("error: {}", d.last_error().unwrap_or_default()),
            d => format!("not updated: {}", d.why_not_updated().unwrap_or_default()),
        }
    }
}

/// The pure half of a scan for one image: the best tag the strategy finds in `tags`
/// (the candidate, before pins and suspension), and the tag the policy wants — or the
/// decision that explains why it wants none. The registry half (platforms, digests) is
/// the caller's.
pub fn choose(policy: &ImagePolicy, tags: &[String]) -> (Option<String>, Result<String, Decision>) {
    let selector = policy.selector();
    let candidate = selector.select(tags, None).chosen().map(str::to_string);
    if policy.suspended {
        return (candidate, Err(Decision::Suspended));
    }
    if let Some(p) = &policy.pinned {
        if !tags.iter().any(|t| t == p) {
            return (candidate, Err(Decision::PinMissing { tag: p.clone() }));
        }
        return (candidate, Ok(p.clone()));
    }
    match candidate {
        Some(t) => (Some(t.clone()), Ok(t)),
        None => {
            let examples = selector
                .explain(tags)
                .iter()
                .filter(|n| !n.kept)
                .take(3)
                .map(|n| format!("{}: {}", n.tag, n.reason.trim_start_matches("dropped: ")))
                .collect();
            (
                None,
                Err(Decision::NoMatch {
                    listed: tags.len(),
                    examples,
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse() {
        let id = ImageId::new("shop", "web");
        assert_eq!(id.to_string(), "shop/web");
        assert_eq!(ImageId::parse("shop/web"), Some(id));
        assert_eq!(ImageId::parse("a/b/c"), Some(ImageId::new("a", "b/c")));
        assert_eq!(ImageId::parse("nope"), None);
        assert_eq!(ImageId::parse("/x"), None);
    }

    #[test]
    fn renders_holds() {
        let m = ManualChange {
            author: "Ana <ana@example.com>".into(),
            commit: "0123456789ab".into(),
            from: "1.2.0".into(),
            to: "1.1.0".into(),
        };
        let d = Decision::Held {
            reason: HoldReason::SkipVersion(m.clone()),
        };
        assert_eq!(
            d.why_not_updated().unwrap(),
            "held: rolled back by Ana <ana@example.com> in 0123456789ab from 1.2.0 to 1.1.0; waiting for a tag above 1.2.0"
        );
        assert!(!d.is_failure());
        assert_eq!(d.kind(), "held");
        let marker = Decision::Held {
            reason: HoldReason::Marker {
                file: "apps/web.yaml".into(),
                line: 7,
                until: Some("2026-12-24".into()),
                reason: Some("freeze".into()),
            },
        };
        assert_eq!(
            marker.why_not_updated().unwrap(),
            "held by `# imagebump: hold` at apps/web.yaml:7 until 2026-12-24: freeze"
        );
    }

    #[test]
    fn renders_every_reason() {
        let d = Decision::DowngradeRefused {
            current: "2.0.0".into(),
            chosen: "1.5.0".into(),
        };
        assert_eq!(
            d.line(Some("2.0.0")),
            "not updated: downgrade refused: git has 2.0.0, the policy chose 1.5.0 (allowDowngrade: true permits it)"
        );
        assert!(!d.is_failure());
        let r = Decision::Refused {
            file: "a.yaml".into(),
            line: 7,
            why: "an alias".into(),
        };
        assert!(r.is_failure());
        assert_eq!(
            r.why_not_updated().unwrap(),
            "cannot edit: a.yaml:7: refusing to edit: an alias"
        );
        let l = Decision::RateLimited {
            error: "r: rate limited (429), retry after 3600s".into(),
            wait_secs: Some(3600),
        };
        assert!(l.is_failure());
        assert_eq!(l.kind(), "rate_limited");
        assert_eq!(
            l.why_not_updated().unwrap(),
            "rate limited by the registry: waiting 3600s before asking again"
        );
        assert_eq!(
            l.line(None),
            "error: r: rate limited (429), retry after 3600s"
        );
        assert_eq!(
            Decision::UpToDate {
                current: "1.2".into()
            }
            .line(Some("1.2")),
            "1.2 (up to date)"
        );
        assert_eq!(
            Decision::Updated {
                from: Some("1.1".into()),
                to: "1.2".into(),
                commit: "0123456789abcdef".into()
            }
            .line(None),
            "1.2 (commit 0123456789ab)"
        );
        assert_eq!(
            Decision::NoMatch {
                listed: 0,
                examples: vec![]
            }
            .why_not_updated()
            .unwrap(),
            "no tag matches: the registry lists no tags"
        );
        assert_eq!(
            Decision::Failed {
                stage: Stage::Push,
                error: "rejected".into()
            }
            .why_not_updated()
            .unwrap(),
            "push failing: rejected"
        );
        let w = Decision::Waiting {
            reason: WaitReason::PushRace {
                branch: "main".into(),
                attempt: 3,
                max_attempts: 40,
                retry_in: Duration::from_millis(400),
            },
        };
        assert_eq!(w.kind(), "waiting");
        assert!(!w.is_failure() && !w.is_up_to_date() && w.last_error().is_none());
        assert_eq!(
            w.line(None),
            "not updated: waiting: another commit landed on main first (attempt 3 of 40); planning and pushing again in 0.4s"
        );
    }
}
