//! `imagebump validate`: check the service config and every policy file without touching
//! a registry or git. One line per problem; exit 2 if there is any.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::checks;
use crate::config::Config;
use crate::policy_files;

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

/// Runs `imagebump validate`.
pub fn run(a: ValidateArgs) -> ExitCode {
    let mut problems = Vec::new();
    let mut dirs = a.dirs.clone();
    if let Some(path) = &a.config {
        match Config::load(path) {
            Ok(cfg) => {
                if dirs.is_empty() {
                    dirs.extend(cfg.policies.clone());
                }
                problems.extend(checks::secret_files(path, &cfg));
            }
            Err(p) => problems.extend(p),
        }
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from("policies"));
    }
    let (loaded, p) = policy_files::load_all(&dirs);
    problems.extend(p);
    problems.extend(checks::images_without_targets(&loaded));
    if let Some(repo) = &a.repo {
        problems.extend(checks::repo_targets(repo, &loaded));
    }
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        let images: usize = loaded.iter().map(|l| l.policy.images.len()).sum();
        println!("ok: {} policy files, {images} images", loaded.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("imagebump: {} problem(s) found", problems.len());
        ExitCode::from(2)
    }
}
