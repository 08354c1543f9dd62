//! `imagebump set-image`: like `kustomize edit set image`, for any YAML/JSON file, in
//! place, locally or in a git repository (commit + push).
//!
//! Every file is planned before any is written: one refused edit means exit 2 and no file
//! touched, and each write is a temp file renamed over the old one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::gitops::files;
use crate::gitops::repo::{self, Applied, GitAuth, GitConfig, WorkingCopy};
use imagebump_core::edit::{self, Target, Update};

/// Arguments of `imagebump set-image`.
#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// Print a unified diff instead of writing.
    #[arg(long)]
    pub dry_run: bool,
    /// Edit the values marked for this Flux image policy (`# {"$imagepolicy": "NS:NAME"}`).
    #[arg(long, value_name = "NS:NAME")]
    pub marker: Option<String>,
    /// Work in a clone of this repository (`URL` or `URL#BRANCH`), then commit and push.
    #[arg(long, value_name = "URL[#BRANCH]")]
    pub git: Option<String>,
    /// With --git: the directory inside the repository to edit (default: all of it).
    #[arg(long, value_name = "DIR", requires = "git")]
    pub path: Option<PathBuf>,
    /// With --git: the commit message (default: one line per change).
    #[arg(long, value_name = "TEXT", requires = "git")]
    pub message: Option<String>,
    /// With --git: where working copies live.
    #[arg(long, value_name = "DIR", default_value = ".imagebump")]
    pub state_dir: PathBuf,
    /// The new reference: `IMAGE:TAG`, `IMAGE@DIGEST` or `IMAGE:TAG@DIGEST`.
    #[arg(value_name = "IMAGE[:TAG][@DIGEST]")]
    pub image: String,
    /// Files or directories (recursively `*.yaml`, `*.yml`, `*.json`); relative to the
    /// repository root with --git.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// One planned file: where, its name as shown (relative to the repository root with
/// --git), old text, new text, and the change lines to print.
struct FileEdit {
    path: PathBuf,
    shown: String,
    old: String,
    new: String,
    lines: Vec<String>,
}

/// Runs `imagebump set-image`.
pub fn run(a: SetImageArgs) -> ExitCode {
    let update = match Update::parse(&a.image) {
        Ok(u) => u,
        Err(e) => return super::fail(e),
    };
    let target = match &a.marker {
        Some(m) => Target::Markers { policy: m },
        None => Target::Auto,
    };
    match &a.git {
        None => {
            if a.paths.is_empty() {
                return super::fail("no PATH given");
            }
            local(&a, &update, &target)
        }
        Some(url) => in_git(&a, url, &update, &target),
    }
}

fn local(a: &SetImageArgs, update: &Update, target: &Target<'_>) -> ExitCode {
    let edits = match plan(Path::new(""), &a.paths, update, target) {
        Ok(e) => e,
        Err(e) => return super::fail(e),
    };
    report(&edits, a.dry_run);
    if !a.dry_run {
        for e in &edits {
            if let Err(err) = files::write_atomically(&e.path, &e.new) {
                return super::fail(format!("{}: {err}", e.path.display()));
            }
        }
    }
    ExitCode::SUCCESS
}

fn in_git(a: &SetImageArgs, url: &str, update: &Update, target: &Target<'_>) -> ExitCode {
    let (url, branch) = match url.split_once('#') {
        Some((u, b)) => (u.to_string(), b.to_string()),
        None => (url.to_string(), "main".to_string()),
    };
    let auth = match git_auth_from_env() {
        Ok(a) => a,
        Err(e) => return super::fail(e),
    };
    let cfg = GitConfig {
        url,
        branch,
        push_branch: None,
        author_name: std::env::var("IMAGEBUMP_GIT_AUTHOR_NAME")
            .unwrap_or_else(|_| "imagebump".into()),
        author_email: std::env::var("IMAGEBUMP_GIT_AUTHOR_EMAIL")
            .unwrap_or_else(|_| "imagebump@localhost".into()),
        auth,
    };
    let mut wc = match WorkingCopy::open(&a.state_dir, cfg) {
        Ok(w) => w,
        Err(e) => return super::fail(e),
    };
    let mut rel_paths = a.paths.clone();
    rel_paths.extend(a.path.clone());
    if rel_paths.is_empty() {
        rel_paths.push(PathBuf::from("."));
    }
    if a.dry_run {
        let planned = wc.refresh().map_err(|e| e.to_string()).and_then(|_| {
            let root = wc.root().to_path_buf();
            plan(&root, &rel_paths, update, target)
        });
        return match planned {
            Ok(edits) => {
                report(&edits, true);
                ExitCode::SUCCESS
            }
            Err(e) => super::fail(e),
        };
    }
    let mut printed = Vec::new();
    let result = wc.commit_and_push_with(|root| {
        let edits = plan(root, &rel_paths, update, target).map_err(anyhow::Error::msg)?;
        let mut paths = Vec::new();
        let mut lines = Vec::new();
        for e in &edits {
            files::write_atomically(&e.path, &e.new)?;
            paths.push(e.path.strip_prefix(root)?.to_path_buf());
            lines.extend(e.lines.iter().cloned());
        }
        let message = match &a.message {
            Some(m) => m.clone(),
            None => {
                let mut m = format!("chore(images): set {}\n\n", a.image);
                for l in &lines {
                    m.push_str(&format!("- {l}\n"));
                }
                m.push_str(&format!(
                    "\nImagebump-Version: {}\n",
                    env!("CARGO_PKG_VERSION")
                ));
                m
            }
        };
        printed = lines;
        Ok(Applied { paths, message })
    });
    match result {
        Ok(Some(outcome)) => {
            for l in &printed {
                println!("{l}");
            }
            println!("pushed {} to {}", outcome.commit, outcome.branch);
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("nothing to change");
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

/// Credentials for `--git` from the environment: `IMAGEBUMP_GIT_USERNAME` with
/// `IMAGEBUMP_GIT_PASSWORD` (or `IMAGEBUMP_GIT_PASSWORD_FILE`), or `IMAGEBUMP_GIT_SSH_KEY`
/// (a key file) with optional `IMAGEBUMP_GIT_KNOWN_HOSTS`. A password file that cannot be
/// read is an error (not a silent "no credentials").
fn git_auth_from_env() -> Result<GitAuth, String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(key) = var("IMAGEBUMP_GIT_SSH_KEY") {
        return Ok(GitAuth::SshKey {
            private_key: key.into(),
            passphrase: None,
            known_hosts: var("IMAGEBUMP_GIT_KNOWN_HOSTS").map(PathBuf::from),
        });
    }
    let password = match (
        var("IMAGEBUMP_GIT_PASSWORD"),
        var("IMAGEBUMP_GIT_PASSWORD_FILE"),
    ) {
        (Some(p), _) => Some(p),
        (None, Some(f)) => Some(
            std::fs::read_to_string(&f)
                .map_err(|e| format!("IMAGEBUMP_GIT_PASSWORD_FILE {f}: {e}"))?
                .trim_end()
                .to_string(),
        ),
        (None, None) => None,
    };
    Ok(match (var("IMAGEBUMP_GIT_USERNAME"), password) {
        (Some(username), Some(password)) => GitAuth::UserPass { username, password },
        _ => GitAuth::None,
    })
}

/// Plans every file under `paths` (joined to `root`); the first refusal fails the whole.
fn plan(
    root: &Path,
    paths: &[PathBuf],
    update: &Update,
    target: &Target<'_>,
) -> Result<Vec<FileEdit>, String> {
    let mut all = Vec::new();
    for p in paths {
        let full = if root.as_os_str().is_empty() {
            p.clone()
        } else {
            repo::safe_join(root, p).map_err(|e| e.to_string())?
        };
        if full.is_dir() {
            all.extend(files::yaml_files(&full).map_err(|e| format!("{}: {e}", p.display()))?);
        } else if full.is_file() {
            all.push(full);
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    all.sort();
    all.dedup();
    let mut out = Vec::new();
    for path in all {
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let old = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
        let edited = match edit::edit(&shown, &old, target, update) {
            Ok(e) => e,
            // Unparseable files under a directory are not ours to judge; named files are.
            Err(edit::EditError::Parse { .. })
                if !paths.iter().any(|p| root.join(p) == path || *p == path) =>
            {
                continue
            }
            Err(e) => return Err(e.to_string()),
        };
        if edited.changes.is_empty() {
            continue;
        }
        let lines = edited
            .changes
            .iter()
            .map(|c| {
                let old = if c.old.is_empty() { "(none)" } else { &c.old };
                let new = if c.new.is_empty() {
                    "(removed)"
                } else {
                    &c.new
                };
                format!("{shown}:{} {old} → {new}", c.line)
            })
            .collect();
        out.push(FileEdit {
            path,
            shown,
            old,
            new: edited.text,
            lines,
        });
    }
    Ok(out)
}

fn report(edits: &[FileEdit], dry_run: bool) {
    if edits.is_empty() {
        println!("nothing to change");
        return;
    }
    for e in edits {
        if dry_run {
            print!("{}", edit::unified_diff(&e.shown, &e.old, &e.new));
        }
        for l in &e.lines {
            println!("{l}");
        }
    }
}
