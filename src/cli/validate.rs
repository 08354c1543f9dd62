//! `imagebump validate`: check the service config and every policy file without touching
//! a registry or git. One line per problem; exit 2 if there is any.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::{checks, registry_checks};
use imagebump_core::policy::select::Strategy;
use imagebump_core::policy::{LoadedPolicy, Problem};

use crate::config::Config;
use crate::policy_files;
use crate::policy_source::PolicySource;

/// Arguments of `imagebump validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The service config (its `policies` directory is checked too).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Policy directories or files (default: the config's `policies`, else ./policies).
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// A checkout of the GitOps repository: check every target against its files.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

/// The `policies:` value of a config that failed to load, read leniently (relative to
/// the config file, as `Config::load` resolves it), so its policy files still get checked.
fn policies_of_broken_config(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_norway::Value = serde_norway::from_str(&text).ok()?;
    let dir = PathBuf::from(value.get("policies")?.as_str()?);
    Some(if dir.is_relative() {
        path.parent().unwrap_or(Path::new(".")).join(dir)
    } else {
        dir
    })
}

/// What is valid but surely not meant: a semver range no version can satisfy
/// (`>1.0 <0.5`). A warning, not a problem: the file loads, the image never updates.
fn warnings(loaded: &[LoadedPolicy]) -> Vec<Problem> {
    let mut out = Vec::new();
    for lp in loaded {
        let text = std::fs::read_to_string(&lp.path).unwrap_or_default();
        for (i, img) in lp.policy.images.iter().enumerate() {
            let Strategy::Semver(c) = &img.strategy else {
                continue;
            };
            if c.can_match() {
                continue;
            }
            let range = c.to_string();
            // Positions are gone after parsing: the range's own line, found by its text.
            let line = text
                .lines()
                .position(|l| l.contains("semver") && l.contains(range.as_str()))
                .map(|n| n + 1);
            out.push(Problem {
                file: lp.path.clone(),
                line,
                column: None,
                message: format!(
                    "warning: images[{i}] ({}): semver range {range:?} can match no version, so this image will never be updated",
                    img.repository_text
                ),
            });
        }
    }
    out
}

/// Runs `imagebump validate`.
pub fn run(a: ValidateArgs) -> ExitCode {
    let mut problems = Vec::new();
    let mut dirs = a.dirs.clone();
    let mut config_failed = false;
    let mut git_names = Vec::new();
    let mut config_warnings = Vec::new();
    let mut selector = None;
    if let Some(path) = &a.config {
        match Config::load(path) {
            Ok(cfg) => {
                git_names = cfg.git.names();
                let found = registry_checks::check(path, &cfg, &|k| std::env::var(k).ok());
                config_warnings = found.warnings;
                problems.extend(found.problems);
                selector = cfg.policy_selector.clone().map(|s| (path.clone(), s));
                if dirs.is_empty() {
                    match &cfg.policies {
                        Some(PolicySource::Repo { dir: rel, .. }) => match &a.repo {
                            // In-repo policies are checked in the checkout `--repo` names.
                            Some(repo) => dirs.push(repo.join(rel)),
                            None => {
                                problems.extend(checks::secret_files(path, &cfg));
                                for p in problems.iter().chain(&config_warnings) {
                                    println!("{p}");
                                }
                                eprintln!(
                                    "note: policies are read from the GitOps repository ({}); give --repo DIR to check them",
                                    rel.display()
                                );
                                return if problems.is_empty() {
                                    ExitCode::SUCCESS
                                } else {
                                    ExitCode::from(2)
                                };
                            }
                        },
                        Some(PolicySource::Local(d)) => dirs.push(d.clone()),
                        None => {}
                    }
                }
                problems.extend(checks::secret_files(path, &cfg));
            }
            Err(p) => {
                problems.extend(p);
                config_failed = true;
                if dirs.is_empty() {
                    dirs.extend(policies_of_broken_config(path));
                }
            }
        }
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from("policies"));
    }
    // After a config error, a policies directory that is not there is a consequence
    // (or a guess), not a second problem: check only what exists.
    if config_failed && a.dirs.is_empty() {
        dirs.retain(|d| d.exists());
    }
    let (loaded, p) = policy_files::load_all(&dirs);
    problems.extend(p);
    problems.extend(checks::images_without_targets(&loaded));
    if !git_names.is_empty() {
        problems.extend(crate::policy_files::repository_problems(
            &loaded,
            &git_names,
            &crate::engine::files::Tree(std::path::Path::new("")),
        ));
    }
    if let Some(repo) = &a.repo {
        problems.extend(checks::repo_targets(repo, &loaded));
    }
    for p in &problems {
        println!("{p}");
    }
    let mut warnings = warnings(&loaded);
    warnings.splice(0..0, config_warnings);
    if let Some((path, sel)) = &selector {
        warnings.extend(checks::selector_matches_nothing(path, sel, &loaded));
    }
    for w in &warnings {
        println!("{w}");
    }
    if problems.is_empty() {
        let images: usize = loaded.iter().map(|l| l.policy.images.len()).sum();
        let noted = match warnings.len() {
            0 => String::new(),
            1 => ", 1 warning".to_string(),
            n => format!(", {n} warnings"),
        };
        println!("ok: {} policy files, {images} images{noted}", loaded.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("imagebump: {} problem(s) found", problems.len());
        ExitCode::from(2)
    }
}
