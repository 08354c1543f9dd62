//! Plan: wishes + the files of a working copy → new file texts. Pure apart from the
//! [`FileSource`] it reads through, so `imagebump plan`, `once`, the service and
//! `set-image` share it, and re-planning on a fresh checkout after a push race is just
//! calling it again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::decision::{Decision, ImageId, Stage, Wish};
use crate::edit::{self, EditError, HelmPaths, Pins, Update};
use crate::image;
use crate::policy::select::{Strategy, Verdict};
use crate::policy::{claims, ImagePolicy, PolicySet, Target};

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The file is not UTF-8 text (a binary, another encoding): inside a directory it is
    /// skipped like a file that is not YAML; named as a target it is an error.
    #[error("{0}: not UTF-8 text")]
    NotText(PathBuf),
    /// Anything else (permissions, I/O, a path that leaves the root), with its context.
    #[error("{0}")]
    Other(String),
}

/// Reads files of the working copy. Paths are relative to the repository root.
pub trait FileSource {
    /// The file's text, `None` when it does not exist.
    fn read(&self, rel: &Path) -> Result<Option<String>, ReadError>;
    /// YAML/JSON files under `rel` (itself when it is a file), sorted.
    fn list(&self, rel: &Path) -> Result<Vec<PathBuf>, String>;
}

/// One value that will change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    /// The image it belongs to (`None` for `set-image`, which follows no policy).
    pub owner: Option<ImageId>,
    /// File, relative to the repository root.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// Old value as written.
    pub old: String,
    /// New value.
    pub new: String,
}

/// How one image fared in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Some values change.
    Updated {
        /// The tag deployed before, when it could be read.
        from: Option<String>,
    },
    /// Every target already holds the desired value.
    UpToDate,
    /// A target holds a higher value and downgrades are off.
    DowngradeRefused {
        /// The value found in git.
        current: String,
    },
    /// A target does not mention the image at all (a host typo, `localhost` vs
    /// `127.0.0.1`, a target of the wrong kind): git holds no value to compare, so this is
    /// an error, never "up to date".
    NotReferenced {
        /// The target file (or markers directory), relative to the repository root.
        file: String,
        /// The policy's repository, as the target should name it.
        repository: String,
    },
    /// A value cannot be edited in place.
    Refused {
        /// The file, relative to the repository root.
        file: String,
        /// 1-based line of the value.
        line: usize,
        /// Why, in words.
        why: String,
    },
    /// A value of the image carries a live `# imagebump: hold` ([`crate::hold`]): none
    /// of the image's values is rewritten.
    Held {
        /// The file, relative to the repository root.
        file: String,
        /// 1-based line of the marker.
        line: usize,
        /// `until`, when given.
        until: Option<String>,
        /// The reason, when given.
        reason: Option<String>,
    },
    /// A target could not be edited (parse error, missing file, unreadable).
    Failed(String),
}

impl Outcome {
    fn from_edit_error(e: EditError) -> Outcome {
        match e {
            EditError::Refused { file, line, reason } => Outcome::Refused {
                file,
                line,
                why: reason,
            },
            EditError::OverBudget { file, line, reason } => Outcome::Refused {
                file,
                line,
                why: format!("refusing to read: {reason}"),
            },
            e => Outcome::Failed(e.to_string()),
        }
    }

    /// The decision this outcome means for `wish`: `pinned` is the policy's pin, and
    /// `commit` the pushed commit when the batch made one.
    pub fn decision(&self, wish: &Wish, pinned: Option<&str>, commit: Option<&str>) -> Decision {
        let chosen = wish.reference();
        match (self, commit) {
            (Outcome::Updated { from }, Some(c)) => Decision::Updated {
                from: from.clone(),
                to: chosen,
                commit: c.to_string(),
            },
            (Outcome::Updated { .. } | Outcome::UpToDate, _) => match pinned {
                Some(p) => Decision::Pinned { tag: p.to_string() },
                None => Decision::UpToDate { current: chosen },
            },
            (Outcome::DowngradeRefused { current }, _) => Decision::DowngradeRefused {
                current: current.clone(),
                chosen,
            },
            (Outcome::NotReferenced { file, repository }, _) => Decision::NotReferenced {
                file: file.clone(),
                repository: repository.clone(),
            },
            (Outcome::Refused { file, line, why }, _) => Decision::Refused {
                file: file.clone(),
                line: *line,
                why: why.clone(),
            },
            (
                Outcome::Held {
                    file,
                    line,
                    until,
                    reason,
                },
                _,
            ) => Decision::Held {
                reason: crate::decision::HoldReason::Marker {
                    file: file.clone(),
                    line: *line,
                    until: until.clone(),
                    reason: reason.clone(),
                },
            },
            (Outcome::Failed(e), _) => Decision::Failed {
                stage: Stage::Edit,
                error: e.clone(),
            },
        }
    }
}

/// The result of planning a batch.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Files that change: path → (old text, new text).
    pub files: BTreeMap<PathBuf, (String, String)>,
    /// Every value that changes, in plan order.
    pub changes: Vec<PlannedChange>,
    /// Per image, what happened.
    pub outcomes: BTreeMap<ImageId, Outcome>,
    /// The commit subject's summary when it is not made from the changes (`set-image`).
    pub title: Option<String>,
    /// Files `set-image` left alone because they pass the parse budget
    /// ([`edit::budget`]), as `file:line: refusing to read: why`; the others are planned.
    pub unread: Vec<String>,
    /// Files inside a directory (a `markers:` target, a `set-image` PATH) that were
    /// skipped because they are not YAML or not UTF-8 text; they may belong to others.
    pub skipped: std::collections::BTreeSet<PathBuf>,
    /// How many values naming the image `plan_set_image` found, changed or not.
    pub matched: usize,
    /// The repository of each planned image, as its policy writes it (for commit messages).
    pub repositories: BTreeMap<ImageId, String>,
    /// Images refused only because a reference is pinned by digest and their wish has no
    /// [`Wish::index_digest`]: the caller resolves those digests and plans again (the
    /// scan does not ask the registry for digests most references never need). Their
    /// outcome stays [`Outcome::Refused`], which is the answer when no digest is found.
    pub needs_digest: BTreeSet<ImageId>,
    /// Commit even when no file changes (`imagebump release`: the commit's trailer is
    /// the release).
    pub allow_empty: bool,
}

impl Plan {
    /// A unified diff of every changed file.
    pub fn diff(&self) -> String {
        self.files
            .iter()
            .map(|(p, (old, new))| edit::unified_diff(&p.to_string_lossy(), old, new))
            .collect()
    }

    /// One line per image that changes: `app/image: old → new`.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for c in &self.changes {
            let Some(id) = &c.owner else { continue };
            if seen.insert(id) {
                let from = match self.outcomes.get(id) {
                    Some(Outcome::Updated { from: Some(f) }) => f.clone(),
                    _ => "?".into(),
                };
                let to = tag_of(&c.new).unwrap_or_else(|| c.new.clone());
                out.push(format!("{id}: {from} → {to}"));
            }
        }
        out
    }
}

/// Plans `wishes` against the files `src` reads. Later entries for the same file see the
/// text earlier entries produced, so two images in one file both land. A wish for an
/// image no policy has is skipped (a policy reload may have removed it).
pub fn plan(policies: &PolicySet, wishes: &[Wish], src: &dyn FileSource) -> Plan {
    plan_on(policies, wishes, src, None)
}

/// [`plan`] on `today`, for the expiry of hold markers (`None`: every marker holds).
pub fn plan_on(
    policies: &PolicySet,
    wishes: &[Wish],
    src: &dyn FileSource,
    today: Option<crate::hold::Date>,
) -> Plan {
    let mut out = Plan::default();
    let mut texts: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    for d in wishes {
        let Some(policy) = policies.get(&d.id) else {
            continue;
        };
        // A digest that goes everywhere, or the index digest that keeps existing pins.
        let (digest, pins) = match &d.digest {
            Some(dg) => (Some(dg.clone()), Pins::Replace),
            None => (d.index_digest.clone(), Pins::Keep),
        };
        let update = match Update::new(
            policy.repository.without_version(),
            Some(d.tag.clone()),
            digest,
        ) {
            Ok(u) => u.with_pins(pins),
            Err(e) => {
                out.outcomes
                    .insert(d.id.clone(), Outcome::Failed(e.to_string()));
                continue;
            }
        };
        out.repositories
            .insert(d.id.clone(), policy.repository_text.clone());
        if policy.targets.is_empty() {
            // Nothing is ever written for it: not "up to date" (`validate` rejects it too).
            out.outcomes.insert(
                d.id.clone(),
                Outcome::Failed(format!(
                    "{} has no targets: list the files it is written to under targets:",
                    policy.repository_text
                )),
            );
            continue;
        }
        let marker_id = format!("{}:{}", d.id.application, d.id.name);
        let mut outcome: Option<Outcome> = None;
        let mut staged: Vec<(PathBuf, String, Vec<edit::Change>)> = Vec::new();
        'targets: for target in &policy.targets {
            let is_dir = matches!(target, Target::Markers(_));
            let mut found = 0;
            let files = match target {
                Target::Markers(dir) => match src.list(dir.as_path()) {
                    Ok(f) => f,
                    Err(e) => {
                        outcome = Some(Outcome::Failed(e));
                        break 'targets;
                    }
                },
                other => vec![other.path().as_path().to_path_buf()],
            };
            for file in files {
                // This image's own edits first, then earlier images', then the disk (read
                // once: the original text is kept for the diff).
                let text = match staged.iter().rev().find(|(f, _, _)| *f == file) {
                    Some((_, t, _)) => t.clone(),
                    None => match texts.get(&file) {
                        Some((_, t)) => t.clone(),
                        None => match src.read(&file) {
                            Ok(Some(t)) => {
                                texts.insert(file.clone(), (t.clone(), t.clone()));
                                t
                            }
                            Ok(None) => {
                                outcome = Some(Outcome::Failed(format!(
                                    "{}: file not found",
                                    file.display()
                                )));
                                break 'targets;
                            }
                            // A markers directory holds files for others too.
                            Err(ReadError::NotText(_)) if is_dir => {
                                out.skipped.insert(file);
                                continue;
                            }
                            Err(e) => {
                                outcome = Some(Outcome::Failed(e.to_string()));
                                break 'targets;
                            }
                        },
                    },
                };
                let name = file.to_string_lossy().into_owned();
                let rivals =
                    claims::rivals(policies.same_repository(policy), &d.id, policy, target);
                let edited = match edit_claimed(
                    &name, &text, target, &marker_id, &update, policy, &rivals,
                ) {
                    Ok(e) => e,
                    // A markers directory holds files for other policies too.
                    Err(EditError::Parse { .. }) if is_dir => {
                        out.skipped.insert(file);
                        continue;
                    }
                    Err(e) => {
                        if pins == Pins::Keep
                            && update.digest.is_none()
                            && refused_for_the_digest(
                                &e, &name, &text, target, &marker_id, &update, policy, &rivals,
                            )
                        {
                            out.needs_digest.insert(d.id.clone());
                        }
                        outcome = Some(Outcome::from_edit_error(e));
                        break 'targets;
                    }
                };
                found += edited.matched;
                if let Some(o) = crate::hold::outcome(&name, &text, &edited.lines, today) {
                    outcome = Some(o);
                    break 'targets;
                }
                if edited.changes.is_empty() {
                    continue;
                }
                match guard(policy, &d.tag, &edited.changes) {
                    Guard::Proceed => {}
                    Guard::Skip => continue,
                    Guard::Refuse(o) => {
                        outcome = Some(o);
                        break 'targets;
                    }
                }
                staged.push((file, edited.text, edited.changes));
            }
            if found == 0 {
                outcome = Some(Outcome::NotReferenced {
                    file: target.path().as_path().display().to_string(),
                    repository: policy.repository.to_string(),
                });
                break 'targets;
            }
        }
        if let Some(o) = outcome {
            out.outcomes.insert(d.id.clone(), o);
            continue;
        }
        if staged.is_empty() {
            out.outcomes.insert(d.id.clone(), Outcome::UpToDate);
            continue;
        }
        let from = staged
            .iter()
            .flat_map(|(_, _, cs)| cs.iter())
            .find_map(|c| tag_of(&c.old));
        for (file, new_text, changes) in staged {
            if let Some(entry) = texts.get_mut(&file) {
                entry.1 = new_text;
            }
            for c in changes {
                out.changes.push(PlannedChange {
                    owner: Some(d.id.clone()),
                    file: file.clone(),
                    line: c.line,
                    old: c.old,
                    new: c.new,
                });
            }
        }
        out.outcomes.insert(d.id.clone(), Outcome::Updated { from });
    }
    out.files = texts.into_iter().filter(|(_, (o, n))| o != n).collect();
    out
}

/// Plans `set-image`: one reference written into every matching value of the files
/// under `paths` (a directory means its YAML/JSON files). Every file is planned before
/// any is written, so one refused edit fails the whole. A file under a directory that is
/// not YAML is skipped (it is not ours to judge); a file named in `paths` is not. A file
/// over the parse budget is listed in [`Plan::unread`] and the other files go on.
/// `reference` is the reference as the user wrote it, for the commit subject.
pub fn plan_set_image(
    reference: &str,
    update: &Update,
    target: &edit::Target<'_>,
    paths: &[PathBuf],
    src: &dyn FileSource,
) -> Result<Plan, String> {
    let mut files = Vec::new();
    for p in paths {
        files.extend(src.list(p)?);
    }
    // Skipping is only for files found by walking a directory; a named file must be ours.
    let named = |f: &PathBuf| paths.contains(f);
    files.sort();
    files.dedup();
    let mut out = Plan {
        title: Some(format!("set {reference}")),
        ..Plan::default()
    };
    for file in files {
        let old = match src.read(&file) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(format!("{}: no such file or directory", file.display())),
            Err(ReadError::NotText(_)) if !named(&file) => {
                out.skipped.insert(file);
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let name = file.to_string_lossy().into_owned();
        let edited = match edit::edit(&name, &old, target, update) {
            Ok(e) => e,
            Err(EditError::Parse { .. }) if !named(&file) => {
                out.skipped.insert(file);
                continue;
            }
            Err(e @ EditError::OverBudget { .. }) => {
                out.unread.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        out.matched += edited.matched;
        if edited.changes.is_empty() {
            continue;
        }
        for c in edited.changes {
            out.changes.push(PlannedChange {
                owner: None,
                file: file.clone(),
                line: c.line,
                old: c.old,
                new: c.new,
            });
        }
        out.files.insert(file, (old, edited.text));
    }
    Ok(out)
}

/// Edits one target's file, leaving alone the references whose current tag a rival (an
/// image of the same repository sharing the scope) claims; a reference both claim is
/// refused. A reference no one claims is left to the rivals' range policies: a `pinned:`
/// or `digest:` policy sharing its scope writes only references at its own tag.
pub(crate) fn edit_claimed(
    name: &str,
    text: &str,
    target: &Target,
    marker_id: &str,
    update: &Update,
    policy: &ImagePolicy,
    rivals: &[(&ImageId, &ImagePolicy)],
) -> Result<edit::Edited, EditError> {
    let t = edit_target(target, marker_id);
    let edited = edit::edit(name, text, &t, update)?;
    if rivals.is_empty() {
        return Ok(edited);
    }
    let mut leave = Vec::new();
    for c in &edited.changes {
        let Some(tag) = current_tag(update, &c.old) else {
            continue;
        };
        let mine = policy.claims_tag(&tag);
        let theirs: Vec<String> = rivals
            .iter()
            .filter(|(_, p)| p.claims_tag(&tag))
            .map(|(id, _)| id.to_string())
            .collect();
        if mine && !theirs.is_empty() {
            return Err(EditError::Refused {
                file: name.to_string(),
                line: c.line,
                reason: format!(
                    "{} at tag {tag} is claimed by this policy and by {}; give each manifest target a distinct `container:`",
                    c.path,
                    theirs.join(", ")
                ),
            });
        }
        // An exact-tag policy writes only references at its tag once it shares the scope.
        let unclaimed_exact = !mine && policy.exact_tag().is_some();
        if (!theirs.is_empty() || unclaimed_exact) && !leave.contains(&tag) {
            leave.push(tag);
        }
    }
    if leave.is_empty() {
        return Ok(edited);
    }
    let mut update = update.clone();
    update.leave = leave;
    edit::edit(name, text, &t, &update)
}

/// A digest no registry serves, to learn whether an edit was refused for want of one.
const PROBE_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// True when `refused` (the edit of a [`Pins::Keep`] update without a digest) was refused
/// because a pinned reference needs the new tag's digest. The editors stop at the first
/// value they cannot write, and under `Keep` a digest changes only pinned values: with a
/// digest, every value before that one is written the same, so the edit fails the same
/// way unless the first refused value was a pin. A pin found after another refusal does
/// not count: that image is refused whatever the digest.
#[allow(clippy::too_many_arguments)]
fn refused_for_the_digest(
    refused: &EditError,
    name: &str,
    text: &str,
    target: &Target,
    marker_id: &str,
    update: &Update,
    policy: &ImagePolicy,
    rivals: &[(&ImageId, &ImagePolicy)],
) -> bool {
    if !matches!(refused, EditError::Refused { .. }) {
        return false;
    }
    let mut probe = update.clone();
    probe.digest = Some(PROBE_DIGEST.to_string());
    match edit_claimed(name, text, target, marker_id, &probe, policy, rivals) {
        Ok(_) => true,
        Err(e) => e != *refused,
    }
}

/// The tag a changed value held: the tag of a reference to the update's repository
/// (`latest` when it has none), or a bare tag value; `None` for digests and added keys.
fn current_tag(update: &Update, old: &str) -> Option<String> {
    if old.is_empty() || old.starts_with("sha256:") || old.starts_with("sha512:") {
        return None;
    }
    if update.matches(old) && (old.contains('/') || old.contains(':') || old.contains('@')) {
        let raw = image::split_raw(old);
        return Some(raw.tag.unwrap_or("latest").to_string());
    }
    Some(old.split('@').next().unwrap_or(old).to_string())
}

pub(crate) fn edit_target<'a>(t: &'a Target, marker_id: &'a str) -> edit::Target<'a> {
    match t {
        Target::Kustomize(_) => edit::Target::Kustomize,
        Target::Manifest {
            container: Some(c), ..
        } => edit::Target::Container(c),
        Target::Manifest { .. } => edit::Target::Manifest,
        Target::Markers(_) => edit::Target::Markers { policy: marker_id },
        Target::Argocd(_) => edit::Target::ArgoSource(HelmPaths::default()),
        Target::Helm {
            repository,
            tag,
            registry,
            digest,
            ..
        } => edit::Target::Helm(HelmPaths {
            repository: repository.as_deref(),
            tag: tag.as_deref(),
            registry: registry.as_deref(),
            digest: digest.as_deref(),
        }),
    }
}

/// The tag inside an old value: a bare tag, or the tag of a full reference. Digests and
/// empty (added-key) values have none.
pub fn tag_of(value: &str) -> Option<String> {
    if value.is_empty() || value.starts_with("sha256:") || value.starts_with("sha512:") {
        return None;
    }
    if value.contains('/') || value.contains(':') || value.contains('@') {
        return image::split_raw(value).tag.map(str::to_string);
    }
    Some(value.to_string())
}

/// Whether writing tag `to` over tag `from` moves `policy`'s image to a lower version in
/// the policy's order — what `allowDowngrade: true` permits, and also what a wish older
/// than git (another replica wrote a newer tag after this one scanned) would do. A pin,
/// a followed digest and `newestBuild` have no tag order: never a downgrade.
pub fn is_downgrade(policy: &ImagePolicy, from: &str, to: &str) -> bool {
    if policy.pinned.is_some()
        || policy.newest_build
        || matches!(policy.strategy, Strategy::Digest(_))
    {
        return false;
    }
    let mut selector = policy.selector();
    selector.allow_downgrade = false;
    matches!(
        selector.select(&[to], Some(from)),
        Verdict::DowngradeRefused { .. }
    )
}

/// What the downgrade guard says about one file's edit.
enum Guard {
    Proceed,
    /// Nothing worth a commit (the same version written differently).
    Skip,
    Refuse(Outcome),
}

/// The downgrade guard, against the values actually in git.
fn guard(policy: &ImagePolicy, desired: &str, changes: &[edit::Change]) -> Guard {
    // A pin is an explicit order, and a followed tag moves by digest, not by version.
    if policy.pinned.is_some() || matches!(policy.strategy, Strategy::Digest(_)) {
        return Guard::Proceed;
    }
    let selector = policy.selector();
    let mut any_needed = false;
    for current in changes.iter().filter_map(|c| tag_of(&c.old)) {
        match selector.select(&[desired], Some(&current)) {
            Verdict::DowngradeRefused { current, .. } => {
                return Guard::Refuse(Outcome::DowngradeRefused { current })
            }
            // Same precedence written differently (v1.2.3 vs 1.2.3): not worth a commit.
            Verdict::UpToDate(_) => {}
            _ => any_needed = true,
        }
    }
    // `pinDigest`: pinning a reference already at the tag is worth a commit.
    let pins_added = policy.pin_digest
        && changes
            .iter()
            .any(|c| image::split_raw(&c.new).digest != image::split_raw(&c.old).digest);
    let only_tag_values = changes.iter().all(|c| tag_of(&c.old).is_some());
    if only_tag_values && !any_needed && !pins_added {
        return Guard::Skip;
    }
    Guard::Proceed
}

#[cfg(test)]
mod tests;
