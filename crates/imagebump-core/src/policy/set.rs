//! The loaded policies, addressed by [`ImageId`] rather than by position.

use std::collections::{BTreeMap, HashMap};

use super::{ImagePolicy, LoadedPolicy, PolicyFile};
use crate::decision::ImageId;

/// Every loaded policy file, with an index from each image's stable identity
/// (`application/name`) to its policy. Routes, the write queue, status and metrics all
/// speak [`ImageId`]; a reordered or edited policy directory cannot make one image's
/// decision land on another.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    files: Vec<LoadedPolicy>,
    index: BTreeMap<ImageId, (usize, usize)>,
    /// The images of each registry repository (`ImageRef::name`), in identity order:
    /// the planner asks, per image and target, which other images share its repository
    /// (`claims::rivals`); scanning every image for that made a plan of n images O(n²)
    /// — seconds of CPU at 5,000 images.
    by_repository: HashMap<String, Vec<ImageId>>,
}

impl PolicySet {
    /// Indexes `files` (already checked by [`super::check_set`]: identities are unique;
    /// should two clash anyway, the first wins).
    pub fn new(files: Vec<LoadedPolicy>) -> PolicySet {
        let mut index = BTreeMap::new();
        for (f, lp) in files.iter().enumerate() {
            for (i, img) in lp.policy.images.iter().enumerate() {
                index
                    .entry(ImageId::new(&lp.policy.application, &img.name))
                    .or_insert((f, i));
            }
        }
        let mut by_repository: HashMap<String, Vec<ImageId>> = HashMap::new();
        for (id, (f, i)) in &index {
            let img = &files[*f].policy.images[*i];
            by_repository
                .entry(img.repository.name())
                .or_default()
                .push(id.clone());
        }
        PolicySet {
            files,
            index,
            by_repository,
        }
    }

    /// Every image whose registry repository is `policy`'s (itself included), in
    /// identity order.
    pub fn same_repository<'s>(
        &'s self,
        policy: &ImagePolicy,
    ) -> impl Iterator<Item = (&'s ImageId, &'s ImagePolicy)> + 's {
        self.by_repository
            .get(&policy.repository.name())
            .into_iter()
            .flatten()
            .filter_map(|id| Some((id, self.get(id)?)))
    }

    /// The policy of one image.
    pub fn get(&self, id: &ImageId) -> Option<&ImagePolicy> {
        let (f, i) = self.index.get(id)?;
        Some(&self.files[*f].policy.images[*i])
    }

    /// Every image with its identity, in identity order.
    pub fn images(&self) -> impl Iterator<Item = (&ImageId, &ImagePolicy)> {
        self.index
            .iter()
            .map(|(id, (f, i))| (id, &self.files[*f].policy.images[*i]))
    }

    /// The policies as the writer of GitOps repository `name` sees them: each image with
    /// only its targets in that repository (`git: name`, or no `git:` when `only` is the
    /// one repository); images with none there are left out. With `only`, an image
    /// without any target stays (its plan says it has none).
    pub fn for_repository(&self, name: &str, only: bool) -> PolicySet {
        // Only the images kept are cloned: cloning every file and then dropping images
        // kept each file's full `images` buffer alive, per GitOps repository (20 MB of
        // mostly empty buffers at 10,000 images in 5 repositories).
        let files = self
            .files
            .iter()
            .map(|lp| {
                let images = lp
                    .policy
                    .images
                    .iter()
                    .filter_map(|img| {
                        let keep: Vec<bool> = (0..img.targets.len())
                            .map(
                                |i| match img.target_repos.get(i).and_then(|g| g.as_deref()) {
                                    Some(g) => g == name,
                                    None => only,
                                },
                            )
                            .collect();
                        if !only && !keep.contains(&true) {
                            return None;
                        }
                        let mut img = img.clone();
                        let mut k = keep.iter();
                        img.targets.retain(|_| *k.next().unwrap_or(&false));
                        let mut k = keep.iter();
                        img.target_repos.retain(|_| *k.next().unwrap_or(&false));
                        Some(img)
                    })
                    .collect();
                LoadedPolicy {
                    path: lp.path.clone(),
                    policy: PolicyFile {
                        application: lp.policy.application.clone(),
                        images,
                    },
                }
            })
            .collect();
        PolicySet::new(files)
    }

    /// Only the applications `selector` takes (`policySelector:`): what a replica of a
    /// sharded fleet watches, scans and writes.
    pub fn select(self, selector: &super::PolicySelector) -> PolicySet {
        if *selector == super::PolicySelector::default() {
            return self;
        }
        let files = self
            .files
            .into_iter()
            .filter(|lp| selector.selects(&lp.policy.application))
            .collect();
        PolicySet::new(files)
    }

    /// The policy files as loaded.
    pub fn files(&self) -> &[LoadedPolicy] {
        &self.files
    }

    /// How many images are watched.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no image is watched.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// A target whose `git:` the service config cannot satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryProblem {
    /// The policy file.
    pub file: std::path::PathBuf,
    /// Where in it (`images[0].targets[1]`), for its line.
    pub at: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Checks every target's `git:` against the GitOps repositories of the service config
/// (`names`, in config order): an unknown name is a problem, and with several
/// repositories every target must name one.
pub fn check_repositories(files: &[LoadedPolicy], names: &[String]) -> Vec<RepositoryProblem> {
    let mut out = Vec::new();
    let known = names.join(", ");
    for lp in files {
        for (i, img) in lp.policy.images.iter().enumerate() {
            for (j, git) in img.target_repos.iter().enumerate() {
                let message = match git {
                    Some(g) if !names.iter().any(|n| n == g) => format!(
                        "git: {g:?} is not a GitOps repository of the service config (it has: {known})"
                    ),
                    None if names.len() > 1 => format!(
                        "this target must name its GitOps repository with git: (one of {known})"
                    ),
                    _ => continue,
                };
                out.push(RepositoryProblem {
                    file: lp.path.clone(),
                    at: format!("images[{i}].targets[{j}]"),
                    message: format!("{}/{}: {message}", lp.policy.application, img.name),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse_policy;
    use std::path::Path;

    fn set(text: &str) -> Vec<LoadedPolicy> {
        vec![LoadedPolicy {
            path: "p.yaml".into(),
            policy: parse_policy(Path::new("p.yaml"), text).unwrap(),
        }]
    }

    const TWO: &str = "application: web\nimages:\n  - repository: ghcr.io/a/web\n    semver: '*'\n    targets:\n      - {manifest: prod/web.yaml, git: prod}\n      - {manifest: dev/web.yaml, git: dev}\n  - repository: ghcr.io/a/api\n    semver: '*'\n    targets: [{manifest: dev/api.yaml, git: dev}]\n";

    #[test]
    fn each_repository_sees_only_its_targets() {
        let all = PolicySet::new(set(TWO));
        let prod = all.for_repository("prod", false);
        let web = ImageId::new("web", "web");
        let api = ImageId::new("web", "api");
        assert_eq!(prod.len(), 1, "api has no target in prod");
        assert_eq!(
            prod.get(&web).unwrap().targets[0].path().as_path(),
            Path::new("prod/web.yaml")
        );
        let dev = all.for_repository("dev", false);
        assert_eq!(dev.get(&web).unwrap().targets.len(), 1);
        assert!(dev.get(&api).is_some());
    }

    #[test]
    fn a_selector_keeps_only_its_applications() {
        let mut files = set(TWO);
        files.extend(set("application: team-b\nimages:\n  - repository: ghcr.io/b/x\n    semver: '*'\n    targets: [{manifest: b.yaml}]\n"));
        let all = PolicySet::new(files);
        assert_eq!(all.len(), 3);
        let sel: crate::policy::PolicySelector =
            serde_norway::from_str("applications: [team-*]\n").unwrap();
        let b = all.clone().select(&sel);
        assert_eq!(b.len(), 1);
        assert!(b.get(&ImageId::new("team-b", "x")).is_some());
        assert!(b.get(&ImageId::new("web", "web")).is_none());
        let not_b: crate::policy::PolicySelector =
            serde_norway::from_str("exclude: [team-b]\n").unwrap();
        assert_eq!(all.select(&not_b).len(), 2);
    }

    #[test]
    fn unknown_and_missing_repository_names_are_problems() {
        let files = set(TWO);
        let p = check_repositories(&files, &["prod".into(), "staging".into()]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].at, "images[0].targets[1]");
        assert!(
            p[0].message.contains("\"dev\" is not a GitOps repository"),
            "{p:?}"
        );
        let untagged = set("application: a\nimages:\n  - repository: x\n    semver: '*'\n    targets: [{manifest: m.yaml}]\n");
        assert!(check_repositories(&untagged, &["default".into()]).is_empty());
        let p = check_repositories(&untagged, &["prod".into(), "dev".into()]);
        assert!(
            p[0].message.contains("must name its GitOps repository"),
            "{p:?}"
        );
    }
}
