//! Per-application policy files (`policies/<app>.yaml`): model, loading, validation, and
//! tag selection.
//!
//! Architecture invariant: nothing here does network or git I/O. `load_*` read policy
//! files from disk; everything else is text in, values out. Validation happens while
//! deserialising (newtypes with `TryFrom`), so every problem carries the file, line and
//! column serde saw it at.

pub mod age;
pub mod claims;
pub mod collect;
pub mod constraint;
mod duration;
pub mod extract;
mod image;
pub mod select;
mod set;
pub mod shard;
pub mod wording;

pub use claims::check_claims;
pub use collect::parse_policy_all;

pub use duration::{parse_duration, DurationStr, Interval, MAX_DURATION, MIN_INTERVAL};
pub use image::{ImagePolicy, ImageSpec};
pub use set::{check_repositories, PolicySet, RepositoryProblem};
pub use shard::{AppGlob, PolicySelector};

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;

use crate::image::ImageRef;
use constraint::Constraints;
use select::{Order, Strategy, TagFilter};

/// One problem found in a file, printed as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl Problem {
    /// Turns a serde_norway error into a problem located in `file`.
    pub fn from_yaml(file: &Path, e: &serde_norway::Error) -> Problem {
        Problem::from_yaml_with(file, e, &[])
    }

    /// Like [`from_yaml`](Self::from_yaml), with Rust type names in the message replaced
    /// by what the key expects (`names`: type name → description, then the policy's own).
    pub fn from_yaml_with(file: &Path, e: &serde_norway::Error, names: &[(&str, &str)]) -> Problem {
        let loc = e.location();
        // serde_norway appends " at line L column C"; the location is printed in front instead.
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let message = wording::describe_types(&message, names);
        Problem {
            file: file.to_path_buf(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    }

    /// A problem without a position.
    pub fn new(file: &Path, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

/// A policy file: one application and the images it follows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The application's name; also the namespace part of Flux marker ids.
    pub application: String,
    /// The images this application follows.
    pub images: Vec<ImagePolicy>,
}

/// A file (or directory, for markers) that holds this image's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `kustomize: path/kustomization.yaml`
    Kustomize(RepoPath),
    /// `helm: {file, repository, tag, registry, digest}` — explicit value paths.
    Helm {
        /// The values file.
        file: RepoPath,
        /// Path of the repository value (`image.repository`).
        repository: Option<String>,
        /// Path of the tag value (`image.tag`).
        tag: Option<String>,
        /// Path of the registry value (`image.registry`).
        registry: Option<String>,
        /// Path of the digest value (`image.digest`).
        digest: Option<String>,
    },
    /// `manifest: path/deployment.yaml` — container images of workloads; with
    /// `container: NAME`, only the containers (init, ephemeral) of that name.
    Manifest {
        /// The manifest file.
        file: RepoPath,
        /// `container:`: the one container name this target writes.
        container: Option<String>,
    },
    /// `markers: dir/` — Flux `# {"$imagepolicy": "app:name"}` setters in that file or tree.
    Markers(RepoPath),
    /// `argocd: .argocd-source-app.yaml` — Argo CD parameter overrides.
    Argocd(RepoPath),
}

impl Target {
    /// The file or directory the target writes, relative to the repository root.
    pub fn path(&self) -> &RepoPath {
        match self {
            Target::Kustomize(p)
            | Target::Manifest { file: p, .. }
            | Target::Markers(p)
            | Target::Argocd(p)
            | Target::Helm { file: p, .. } => p,
        }
    }
}

/// A path relative to the GitOps repository root that cannot leave it: no absolute
/// paths, no `..`. (Symlinks are checked where files are opened.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoPath(PathBuf);

impl RepoPath {
    /// The relative path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl TryFrom<String> for RepoPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("a target path is empty".into());
        }
        let p = Path::new(&s);
        for c in p.components() {
            match c {
                // git's own files are never a target: an edit there corrupts the copy.
                Component::Normal(n) if n.eq_ignore_ascii_case(".git") => {
                    return Err(format!(
                        "target path {s:?} is inside .git; name a file of the working tree"
                    ))
                }
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(format!(
                        "target path {s:?} must stay inside the repository (no ..)"
                    ))
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "target path {s:?} must be relative to the repository root, not absolute"
                    ))
                }
            }
        }
        Ok(RepoPath(p.components().collect()))
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// A regular expression checked at load time.
#[derive(Debug, Clone)]
struct Pattern(Regex);

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Regex::new(&s).map(Pattern).map_err(|e| {
            format!(
                "invalid regular expression {s:?}: {}",
                one_line(&e.to_string())
            )
        })
    }
}

/// A semver range checked at load time.
#[derive(Debug, Clone)]
struct Range(Constraints);

impl TryFrom<String> for Range {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Constraints::parse(&s).map(Range).map_err(|e| e.to_string())
    }
}

/// `asc` / `desc`.
#[derive(Debug, Clone, Copy)]
struct Dir(Order);

impl TryFrom<String> for Dir {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map(Dir)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTags {
    pattern: Pattern,
    extract: Option<String>,
    order: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHelm {
    file: RepoPath,
    repository: Option<String>,
    tag: Option<String>,
    registry: Option<String>,
    digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    kustomize: Option<RepoPath>,
    helm: Option<RawHelm>,
    manifest: Option<RepoPath>,
    markers: Option<RepoPath>,
    argocd: Option<RepoPath>,
    container: Option<String>,
    git: Option<GitRepoName>,
}

/// A target's `git:`: the name of a GitOps repository of the service config (checked
/// against the config by [`check_repositories`]).
struct GitRepoName(String);

impl TryFrom<String> for GitRepoName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() {
            return Err("git: must name a GitOps repository of the service config".into());
        }
        Ok(GitRepoName(s))
    }
}

crate::parsed::from_str_scalar!(GitRepoName, "a GitOps repository name");

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawImagePolicy {
    repository: String,
    name: Option<String>,
    semver: Option<Range>,
    alphabetical: Option<Dir>,
    numerical: Option<Dir>,
    tags: Option<RawTags>,
    digest: Option<String>,
    #[serde(default)]
    loose: bool,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    allow_downgrade: bool,
    #[serde(default)]
    suspended: bool,
    #[serde(default)]
    pin_digest: bool,
    pinned: Option<String>,
    #[serde(default)]
    exclude: Vec<Pattern>,
    #[serde(default)]
    platforms: Vec<String>,
    interval: Option<Interval>,
    min_age: Option<age::MinAge>,
    #[serde(default)]
    newest_build: bool,
    on_manual_change: Option<OnManualChange>,
    #[serde(default)]
    targets: Vec<RawTarget>,
}

impl TryFrom<RawTarget> for (Target, Option<String>) {
    type Error = String;
    fn try_from(r: RawTarget) -> Result<Self, String> {
        let git = r.git.as_ref().map(|g| g.0.clone());
        Ok((Target::try_from(r)?, git))
    }
}

impl TryFrom<RawTarget> for Target {
    type Error = String;
    fn try_from(r: RawTarget) -> Result<Self, String> {
        let mut found = Vec::new();
        if let Some(p) = r.kustomize {
            found.push(Target::Kustomize(p));
        }
        if let Some(h) = r.helm {
            if h.repository.is_none() && h.tag.is_none() && h.digest.is_none() {
                return Err("a helm target needs at least one of repository, tag or digest (value paths such as image.tag)".into());
            }
            found.push(Target::Helm {
                file: h.file,
                repository: h.repository,
                tag: h.tag,
                registry: h.registry,
                digest: h.digest,
            });
        }
        match (&r.manifest, &r.container) {
            (None, Some(_)) => {
                return Err("container: applies to manifest targets only".into());
            }
            (Some(_), Some(c)) if c.trim().is_empty() => {
                return Err("container: must name a container".into());
            }
            _ => {}
        }
        if let Some(p) = r.manifest {
            found.push(Target::Manifest {
                file: p,
                container: r.container,
            });
        }
        if let Some(p) = r.markers {
            found.push(Target::Markers(p));
        }
        if let Some(p) = r.argocd {
            found.push(Target::Argocd(p));
        }
        match found.len() {
            1 => Ok(found.pop().expect("one")),
            0 => Err("a target needs one of kustomize, helm, manifest, markers, argocd".into()),
            _ => Err("a target takes exactly one of kustomize, helm, manifest, markers, argocd; write several list items".into()),
        }
    }
}

impl TryFrom<RawImagePolicy> for ImagePolicy {
    type Error = String;
    fn try_from(r: RawImagePolicy) -> Result<Self, String> {
        let repository = ImageRef::parse(&r.repository).map_err(|e| e.to_string())?;
        if repository.tag.is_some() || repository.digest.is_some() {
            return Err(format!(
                "repository {:?} must not carry a tag or digest; the policy chooses those",
                r.repository
            ));
        }
        let mut chosen = Vec::new();
        if let Some(Range(c)) = r.semver {
            chosen.push(Strategy::Semver(c));
        }
        if let Some(Dir(o)) = r.alphabetical {
            chosen.push(Strategy::Alphabetical(o));
        }
        if let Some(Dir(o)) = r.numerical {
            chosen.push(Strategy::Numerical(o));
        }
        if let Some(d) = r.digest {
            crate::image::validate_tag(&d)
                .map_err(|e| format!("digest: follows a tag, but {e}"))?;
            chosen.push(Strategy::Digest(d));
        }
        let order = r.tags.as_ref().and_then(|t| t.order.clone());
        if let Some(o) = &order {
            chosen.push(match o.as_str() {
                "semver" => Strategy::Semver(Constraints::parse("*").expect("* parses")),
                "numerical" => Strategy::Numerical(Order::Asc),
                "alphabetical" => Strategy::Alphabetical(Order::Asc),
                other => {
                    return Err(format!(
                        "tags.order must be semver, numerical or alphabetical, found {other:?}"
                    ))
                }
            });
        }
        let strategy = match chosen.len() {
            0 if r.tags.is_some() => {
                return Err("tags: needs an order (semver, numerical or alphabetical) or a semver/numerical/alphabetical key beside it".into())
            }
            0 => return Err("an image needs one of semver, alphabetical, numerical, tags or digest".into()),
            1 => chosen.pop().expect("one"),
            _ => return Err("an image takes exactly one of semver, alphabetical, numerical, digest (or tags.order)".into()),
        };
        if r.pin_digest && matches!(strategy, Strategy::Digest(_)) {
            return Err(
                "pinDigest: a digest: policy pins digests already; remove pinDigest".into(),
            );
        }
        age::check_combination(
            &strategy,
            r.pinned.is_some(),
            r.min_age.is_some(),
            r.newest_build,
        )?;
        if let (Some(t), Some(tpl)) = (&r.tags, r.tags.as_ref().and_then(|t| t.extract.as_ref())) {
            extract::check(&t.pattern.0, tpl)?;
        }
        let filter = r.tags.map(|t| TagFilter {
            pattern: t.pattern.0,
            extract: t.extract,
        });
        if let Some(p) = &r.pinned {
            crate::image::validate_tag(p).map_err(|e| format!("pinned: {e}"))?;
        }
        for p in &r.platforms {
            let parts: Vec<_> = p.split('/').collect();
            if !(2..=3).contains(&parts.len()) || parts.iter().any(|s| s.is_empty()) {
                return Err(format!(
                    "platform {p:?} must look like os/arch or os/arch/variant"
                ));
            }
        }
        let (mut targets, mut target_repos): (Vec<_>, Vec<_>) = r
            .targets
            .into_iter()
            .map(<(Target, Option<String>)>::try_from)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        // Kept for the service's life: `unzip` grows by pushes, to at least 4 slots (a
        // one-target image held 4 targets' room: 5 MB at 10,000 images).
        targets.shrink_to_fit();
        target_repos.shrink_to_fit();
        let name = match r.name {
            Some(n) if !n.is_empty() => n,
            Some(_) => return Err("name must not be empty".into()),
            None => repository
                .repository
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        let spec = ImageSpec {
            repository,
            repository_text: r.repository,
            name,
            strategy,
            filter,
            exclude: r.exclude.into_iter().map(|p| p.0).collect(),
            loose: r.loose,
            prerelease: r.prerelease,
            allow_downgrade: r.allow_downgrade,
            suspended: r.suspended,
            pinned: r.pinned,
            platforms: r.platforms,
            pin_digest: r.pin_digest,
            interval: r.interval.map(|d| d.0),
            min_age: r.min_age.map(|d| d.0),
            newest_build: r.newest_build,
            on_manual_change: r.on_manual_change,
        };
        Ok(ImagePolicy {
            spec: Arc::new(spec),
            targets,
            target_repos,
        })
    }
}

/// What a manual change (a person's commit changing an image's value in git) does:
/// `onManualChange:` per image, or at the top of the service config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnManualChange {
    /// The version the person moved away from is bad: neither it nor anything at or
    /// below it is proposed again; the first tag strictly above it is.
    #[default]
    SkipVersion,
    /// No updates for the image until `imagebump release` ends the hold.
    Hold,
    /// Manual changes are not looked for.
    Ignore,
}

/// A loaded policy file and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its content.
    pub policy: PolicyFile,
}

/// Parses one policy file's text; `path` is used for messages only.
pub fn parse_policy(path: &Path, text: &str) -> Result<PolicyFile, Problem> {
    let mut p: PolicyFile =
        serde_norway::from_str(text).map_err(|e| Problem::from_yaml(path, &e))?;
    // Kept for the life of the service: a list grown by doubling holds up to twice its
    // images (408 bytes each).
    p.images.shrink_to_fit();
    if p.application.trim().is_empty() {
        return Err(Problem::new(path, "application must not be empty"));
    }
    if p.images.is_empty() {
        return Err(Problem::new(path, "images: lists no image"));
    }
    Ok(p)
}

/// Checks a set of parsed policy files together: an application defined twice, two
/// images of one application with the same name (their marker ids would collide), and
/// two images claiming the same references ([`check_claims`]) are problems. Returns the files that pass, in the order given, and one problem per clash.
pub fn check_set(files: Vec<LoadedPolicy>) -> (Vec<LoadedPolicy>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut loaded = Vec::new();
    let mut apps: HashMap<String, PathBuf> = HashMap::new();
    for lp in files {
        let LoadedPolicy { path: f, policy } = lp;
        if let Some(first) = apps.get(&policy.application) {
            problems.push(Problem::new(
                &f,
                format!(
                    "application {:?} is already defined in {}",
                    policy.application,
                    first.display()
                ),
            ));
            continue;
        }
        let mut ids = HashMap::new();
        for img in &policy.images {
            if ids.insert(img.name.clone(), ()).is_some() {
                problems.push(Problem::new(
                    &f,
                    format!(
                        "two images are named {:?}; give one a distinct name: (marker ids must be unique)",
                        img.name
                    ),
                ));
            }
        }
        apps.insert(policy.application.clone(), f.clone());
        loaded.push(LoadedPolicy { path: f, policy });
    }
    problems.extend(check_claims(&loaded));
    (loaded, problems)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(text: &str) -> Result<PolicyFile, String> {
        parse_policy(Path::new("p.yaml"), text).map_err(|p| p.to_string())
    }

    #[test]
    fn design_example_parses() {
        let p = parse(
            r#"
application: podinfo
images:
  - repository: ghcr.io/stefanprodan/podinfo
    semver: ">=6.0.0 <7.0.0"
    exclude: ['-debug$']
    targets:
      - kustomize: apps/podinfo/kustomization.yaml
      - helm: { file: apps/podinfo/values.yaml, repository: image.repository, tag: image.tag }
      - manifest: apps/podinfo/deployment.yaml
      - markers: apps/podinfo/
"#,
        )
        .unwrap();
        let img = &p.images[0];
        assert_eq!(img.name, "podinfo");
        assert_eq!(img.targets.len(), 4);
        assert!(matches!(img.strategy, Strategy::Semver(_)));
        assert_eq!(img.targets[3].path().to_string(), "apps/podinfo");
    }

    #[test]
    fn other_strategies_parse() {
        let p = parse(
            r#"
application: a
images:
  - repository: localhost:5000/app
    tags: {pattern: '^main-[0-9a-f]+-(?P<ts>[0-9]+)$', extract: '$ts', order: numerical}
  - repository: nginx
    name: web
    alphabetical: desc
  - repository: nginx
    name: web2
    numerical: asc
    interval: 1m30s
  - repository: ghcr.io/o/x
    digest: latest
    platforms: [linux/amd64, linux/arm64/v8]
"#,
        )
        .unwrap();
        assert!(matches!(
            p.images[0].strategy,
            Strategy::Numerical(Order::Asc)
        ));
        assert!(matches!(
            p.images[1].strategy,
            Strategy::Alphabetical(Order::Desc)
        ));
        assert_eq!(p.images[2].interval, Some(Duration::from_secs(90)));
        assert!(matches!(&p.images[3].strategy, Strategy::Digest(t) if t == "latest"));
    }

    #[test]
    fn errors_name_line_column_and_expectation() {
        let e = parse("application: a\nimages:\n  - repository: nginx\n    semverr: '1'\n")
            .unwrap_err();
        assert!(e.starts_with("p.yaml:4:"), "{e}");
        assert!(e.contains("unknown field `semverr`"), "{e}");
        let e = parse("application: a\nimages:\n  - repository: nginx\n    semver: '>=1.0 <'\n")
            .unwrap_err();
        assert!(e.starts_with("p.yaml:"), "{e}");
        assert!(e.contains("constraint"), "{e}");
        let e =
            parse("application: a\nimages:\n  - repository: Nginx\n    semver: '*'\n").unwrap_err();
        assert!(e.contains("lowercase"), "{e}");
        let e = parse("application: a\nimages:\n  - repository: x\n    semver: '*'\n    targets:\n      - manifest: ../etc/passwd\n").unwrap_err();
        assert!(
            e.contains("p.yaml:6:") && e.contains("inside the repository"),
            "{e}"
        );
        let e = parse("application: a\nimages:\n  - repository: x\n    semver: '*'\n    targets:\n      - manifest: /etc/passwd\n").unwrap_err();
        assert!(e.contains("not absolute"), "{e}");
        let e = parse(
            "application: a\nimages:\n  - repository: x\n    exclude: ['(']\n    semver: '*'\n",
        )
        .unwrap_err();
        assert!(
            e.contains("p.yaml:4:") && e.contains("regular expression"),
            "{e}"
        );
        let e = parse("application: a\nimages:\n  - repository: x\n    alphabetical: up\n")
            .unwrap_err();
        assert!(e.contains("asc or desc"), "{e}");
    }

    #[test]
    fn strategy_must_be_exactly_one() {
        let e = parse("application: a\nimages:\n  - repository: x\n").unwrap_err();
        assert!(e.contains("needs one of"), "{e}");
        let e = parse(
            "application: a\nimages:\n  - repository: x\n    semver: '*'\n    numerical: asc\n",
        )
        .unwrap_err();
        assert!(e.contains("exactly one"), "{e}");
        let e = parse("application: a\nimages:\n  - repository: x\n    tags: {pattern: x}\n")
            .unwrap_err();
        assert!(e.contains("needs an order"), "{e}");
        let e =
            parse("application: a\nimages:\n  - repository: x:1\n    semver: '*'\n").unwrap_err();
        assert!(e.contains("must not carry a tag"), "{e}");
        let e = parse("application: a\nimages:\n  - repository: x\n    semver: '*'\n    targets: [{manifest: a, kustomize: b}]\n").unwrap_err();
        assert!(e.contains("exactly one of kustomize"), "{e}");
    }

    #[test]
    fn policy_intervals_are_bounded() {
        let e = parse(
            "application: a\nimages:\n  - repository: x\n    semver: '*'\n    interval: 0s\n",
        )
        .unwrap_err();
        assert!(e.contains("p.yaml:5:") && e.contains("at least 1s"), "{e}");
        let e = parse("application: a\nimages:\n  - repository: x\n    semver: '*'\n    interval: 99999999999999999999h\n")
            .unwrap_err();
        assert!(e.contains("p.yaml:5:") && e.contains("too long"), "{e}");
    }

    #[test]
    fn repo_paths() {
        assert!(RepoPath::try_from("apps/./x.yaml".to_string()).is_ok());
        assert!(RepoPath::try_from("apps/../../x".to_string()).is_err());
        assert!(RepoPath::try_from("".to_string()).is_err());
        for p in [".git/config", "apps/.git/HEAD", "./.GIT", ".git"] {
            let e = RepoPath::try_from(p.to_string()).unwrap_err();
            assert!(e.contains("inside .git"), "{p}: {e}");
        }
        assert!(RepoPath::try_from(".github/x.yaml".to_string()).is_ok());
    }
}

crate::parsed::from_str_scalar!(RepoPath, "a path relative to the repository root");

crate::parsed::from_str_scalar!(Pattern, "a regular expression");

crate::parsed::from_str_scalar!(Range, "a semver range");

crate::parsed::from_str_scalar!(Dir, "asc or desc");
