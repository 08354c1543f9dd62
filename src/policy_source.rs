//! Where the service reads its policies: `policies: DIR` (a local directory, reloaded on
//! change and on SIGHUP) or `policies: {repoPath: DIR}` (a directory of the GitOps
//! repository, re-read after every fetch).

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// The config's `policies:` value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Raw")]
pub enum PolicySource {
    /// A local directory (or file), relative to the config file.
    Local(PathBuf),
    /// A directory inside a GitOps repository, relative to its root.
    Repo {
        /// The directory.
        dir: PathBuf,
        /// `git: NAME`: which GitOps repository (default: the first of the config).
        git: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Path(PathBuf),
    Repo(RepoForm),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RepoForm {
    repo_path: PathBuf,
    git: Option<String>,
}

impl TryFrom<Raw> for PolicySource {
    type Error = String;
    fn try_from(r: Raw) -> Result<Self, String> {
        match r {
            Raw::Path(p) => Ok(PolicySource::Local(p)),
            Raw::Repo(RepoForm { repo_path, git }) => {
                // Checked again by the file source; refused here so `validate` says so.
                if repo_path.is_absolute()
                    || repo_path
                        .components()
                        .any(|c| matches!(c, Component::ParentDir))
                {
                    return Err(format!(
                        "policies.repoPath {:?} must be a path inside the GitOps repository (relative, no ..)",
                        repo_path.display()
                    ));
                }
                Ok(PolicySource::Repo {
                    dir: repo_path,
                    git,
                })
            }
        }
    }
}

impl From<PathBuf> for PolicySource {
    fn from(p: PathBuf) -> Self {
        PolicySource::Local(p)
    }
}

impl PartialEq<PathBuf> for PolicySource {
    fn eq(&self, other: &PathBuf) -> bool {
        matches!(self, PolicySource::Local(p) if p == other)
    }
}

impl PolicySource {
    /// The local directory, for the `Local` form.
    pub fn local(&self) -> Option<&Path> {
        match self {
            PolicySource::Local(p) => Some(p),
            PolicySource::Repo { .. } => None,
        }
    }

    /// The local directory, to resolve it against the config file's directory.
    pub fn local_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            PolicySource::Local(p) => Some(p),
            PolicySource::Repo { .. } => None,
        }
    }

    /// The GitOps repository (by name) the `Repo` form reads from: its `git:`, else the
    /// first of `names`.
    pub fn repo_git<'a>(&'a self, names: &'a [String]) -> Option<&'a str> {
        match self {
            PolicySource::Repo { git: Some(g), .. } => Some(g),
            PolicySource::Repo { git: None, .. } => names.first().map(String::as_str),
            PolicySource::Local(_) => None,
        }
    }

    /// The directory inside the GitOps repository, for the `Repo` form.
    pub fn repo_path(&self) -> Option<&Path> {
        match self {
            PolicySource::Repo { dir, .. } => Some(dir),
            PolicySource::Local(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_a_path_leaving_the_repository_is_refused() {
        let l: PolicySource = serde_norway::from_str("./policies").unwrap();
        assert_eq!(l, PolicySource::Local("./policies".into()));
        let r: PolicySource = serde_norway::from_str("{repoPath: platform/imagebump/}").unwrap();
        assert_eq!(r.repo_path(), Some(Path::new("platform/imagebump/")));
        let e = serde_norway::from_str::<PolicySource>("{repoPath: ../etc}").unwrap_err();
        assert!(
            e.to_string().contains("inside the GitOps repository"),
            "{e}"
        );
        assert!(serde_norway::from_str::<PolicySource>("{repoPath: /etc}").is_err());
        let names = ["prod".to_string(), "dev".to_string()];
        let g: PolicySource = serde_norway::from_str("{git: dev, repoPath: p/}").unwrap();
        assert_eq!(g.repo_git(&names), Some("dev"));
        assert_eq!(r.repo_git(&names), Some("prod"));
    }
}
