//! `imagebump set-image`: like `kustomize edit set image`, for any YAML/JSON file, in
//! place, locally or in a git repository (commit + push).
//!
//! Every file is planned before any is written: one refused edit means exit 2 and no file
//! touched, and each write is a temp file renamed over the old one. A file over the parse
//! budget is the exception: it is reported (`file:line`), the other files are written,
//! and the exit code is 2. Planning is
//! `imagebump_core::plan::plan_set_image`; with `--git` the commit goes through the
//! engine's one write path and commit-message builder, like the service's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use imagebump_core::decision::WaitReason;
use imagebump_core::edit::{unified_diff, Target, Update};
use imagebump_core::image::split_raw;
use imagebump_core::message::{commit_message, custom_message};
use imagebump_core::plan::{plan_set_image, Plan};
use imagebump_git::{write_atomically, CommitSigner, GitAuth, GitConfig, RetryPolicy, WorkingCopy};

use crate::config::{SigningFormat, SigningSection};
use crate::engine::files::Tree;
use crate::engine::write::{wait_time, write};
use crate::secret::SecretRef;

/// Arguments of `imagebump set-image`.
#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// Print a unified diff instead of writing.
    #[arg(long)]
    pub dry_run: bool,
    /// Edit the values marked for this Flux image policy (`# {"$imagepolicy": "NS:NAME"}`).
    #[arg(long, value_name = "NS:NAME")]
    pub marker: Option<String>,
    /// Work in a clone of this repository (`URL` or `URL#BRANCH`), then commit and push;
    /// with --config, the NAME of one of its `git:` repositories (its URL, branch,
    /// credentials, author, write mode and signing).
    #[arg(long, value_name = "URL[#BRANCH]|NAME")]
    pub git: Option<String>,
    /// With --git NAME: the service config whose repository that is.
    #[arg(long, value_name = "FILE", requires = "git")]
    pub config: Option<PathBuf>,
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
    let plan = match plan_set_image(&a.image, update, target, &a.paths, &Tree(Path::new(""))) {
        Ok(p) => p,
        Err(e) => return super::fail(e),
    };
    if plan.matched == 0 {
        return no_reference(a, &a.paths);
    }
    report(&plan, a.dry_run);
    if !a.dry_run {
        for (path, (_, new)) in &plan.files {
            if let Err(err) = write_atomically(path, new) {
                return super::fail(format!("{}: {err}", path.display()));
            }
        }
    }
    unread(&plan)
}

/// Exit 2 after naming each file left unread (over the parse budget), else 0.
fn unread(plan: &Plan) -> ExitCode {
    for u in &plan.unread {
        eprintln!("imagebump: {u}");
    }
    if plan.unread.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// A repository named in a service config: its git settings, state directory, commit
/// template and (pull-request mode) its forge.
struct Named {
    git: GitConfig,
    state_dir: PathBuf,
    template: Option<String>,
    pulls: Option<(crate::engine::pulls::PullRequests, tokio::runtime::Runtime)>,
}

fn named(config: &Path, name: &str) -> Result<Named, String> {
    use crate::config::{Config, WriteMode};
    let cfg = Config::load(config).map_err(|ps| {
        ps.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let Some(g) = cfg.git.get(name) else {
        return Err(format!(
            "{}: no git repository named {name:?} (it has: {})",
            config.display(),
            cfg.git.names().join(", ")
        ));
    };
    let git = crate::engine::setup::git_config(&cfg, g).map_err(|e| format!("{e:#}"))?;
    let pulls = match g.write_mode() {
        WriteMode::PullRequest(pr) => {
            // A worker thread drives the forge's I/O: `Handle::block_on` on a
            // current-thread runtime would never poll it.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let p = crate::engine::pulls::PullRequests::new(
                g,
                &cfg.git.label(g),
                &pr,
                rt.handle().clone(),
            )
            .map_err(|e| format!("{e:#}"))?;
            Some((p, rt))
        }
        _ => None,
    };
    Ok(Named {
        git,
        state_dir: cfg.state_dir(),
        template: g.commit_message.clone(),
        pulls,
    })
}

fn in_git(a: &SetImageArgs, url: &str, update: &Update, target: &Target<'_>) -> ExitCode {
    let named = match &a.config {
        Some(config) => match named(config, url) {
            Ok(n) => Some(n),
            Err(e) => return super::fail(e),
        },
        None => None,
    };
    let (cfg, state_dir, template) = match &named {
        Some(n) => (n.git.clone(), n.state_dir.clone(), n.template.clone()),
        None => {
            let (url, branch) = match url.split_once('#') {
                Some((u, b)) => (u.to_string(), b.to_string()),
                None => (url.to_string(), "main".to_string()),
            };
            let auth = match git_auth_from_env() {
                Ok(a) => a,
                Err(e) => return super::fail(e),
            };
            let signer = match signer_from_env() {
                Ok(s) => s,
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
                signer,
            };
            (cfg, a.state_dir.clone(), None)
        }
    };
    let pulls = named
        .as_ref()
        .and_then(|n| n.pulls.as_ref().map(|(p, _)| p));
    let mut wc = match WorkingCopy::open(&state_dir, cfg) {
        Ok(w) => w,
        Err(e) => return super::fail(e),
    };
    let mut rel_paths = a.paths.clone();
    rel_paths.extend(a.path.clone());
    if rel_paths.is_empty() {
        rel_paths.push(PathBuf::from("."));
    }
    let planner = |files: &Tree<'_>| plan_set_image(&a.image, update, target, &rel_paths, files);
    if a.dry_run {
        let planned = wc
            .sync()
            .map_err(|e| e.to_string())
            .and_then(|_| planner(&Tree(wc.root())));
        return match planned {
            Ok(p) if p.matched == 0 => no_reference(a, &rel_paths),
            Ok(p) => {
                report(&p, true);
                unread(&p)
            }
            Err(e) => super::fail(e),
        };
    }
    // The same write path as the service: plan on the remote tip, commit, push as a
    // compare-and-swap, plan again after a race.
    let version = env!("CARGO_PKG_VERSION");
    let message = |p: &Plan| match &a.message {
        Some(m) => custom_message(m, p, version),
        None => commit_message(template.as_deref(), p, version),
    };
    // Pull-request mode: what the forge says about the head branch, before the write.
    let head = wc.push_branch().to_string();
    let state = match pulls.map(|p| p.state(&head)).transpose() {
        Ok(s) => s,
        Err(e) => return super::fail(e),
    };
    let no_stop = |why: &WaitReason| {
        tracing::info!(reason = %why, "waiting to retry");
        std::thread::sleep(wait_time(why));
        true
    };
    match write(
        &mut wc,
        &RetryPolicy::default(),
        &no_stop,
        &mut |files, _| planner(files),
        &message,
    ) {
        Ok(w) if w.commit.is_none() && w.plan.matched == 0 => no_reference(a, &rel_paths),
        Ok(w) => {
            match &w.commit {
                Some(c) => {
                    for l in lines(&w.plan) {
                        println!("{l}");
                    }
                    println!("pushed {c} to {}", w.branch);
                }
                None => println!("nothing to change"),
            }
            if let (Some(p), Some(st)) = (pulls, &state) {
                let published = wc
                    .push_branch_messages()
                    .map_err(|e| e.to_string())
                    .and_then(|m| p.publish(&head, st, &m).map_err(|e| e.to_string()));
                match published {
                    Ok(Some(pr)) => println!("pull request {}", pr.url),
                    Ok(None) => {}
                    Err(e) => return super::fail(e),
                }
            }
            unread(&w.plan)
        }
        Err(e) => super::fail(e),
    }
}

/// Nothing under the paths names the image: unlike "nothing to change" (already set,
/// exit 0), this is exit 1, naming what was looked for and where.
fn no_reference(a: &SetImageArgs, paths: &[PathBuf]) -> ExitCode {
    let image = match &a.marker {
        Some(m) => format!("{} (marker {m})", split_raw(&a.image).name),
        None => split_raw(&a.image).name.to_string(),
    };
    let under: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
    eprintln!(
        "imagebump: no reference to {image} under {}",
        under.join(", ")
    );
    ExitCode::from(1)
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

/// The commit signer for `--git` from the environment: `IMAGEBUMP_SIGNING_FORMAT`
/// (`ssh` or `openpgp`) with `IMAGEBUMP_SIGNING_KEY_FILE`, and the key's passphrase in
/// `IMAGEBUMP_SIGNING_PASSPHRASE` (or `IMAGEBUMP_SIGNING_PASSPHRASE_FILE`); the same
/// checks as the service's `signing:`. Neither variable set: unsigned; one alone is an
/// error (a signature asked for is never silently dropped).
fn signer_from_env() -> Result<Option<Arc<dyn CommitSigner>>, String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (format, key) = match (
        var("IMAGEBUMP_SIGNING_FORMAT"),
        var("IMAGEBUMP_SIGNING_KEY_FILE"),
    ) {
        (None, None) => return Ok(None),
        (Some(f), Some(k)) => (f, k),
        (Some(_), None) => {
            return Err("IMAGEBUMP_SIGNING_FORMAT is set: set IMAGEBUMP_SIGNING_KEY_FILE to the signing key's file".into())
        }
        (None, Some(_)) => {
            return Err("IMAGEBUMP_SIGNING_KEY_FILE is set: set IMAGEBUMP_SIGNING_FORMAT to ssh or openpgp".into())
        }
    };
    let format = match format.as_str() {
        "ssh" => SigningFormat::Ssh,
        "openpgp" => SigningFormat::Openpgp,
        other => {
            return Err(format!(
                "IMAGEBUMP_SIGNING_FORMAT is {other:?}: use ssh or openpgp"
            ))
        }
    };
    let passphrase = match (
        var("IMAGEBUMP_SIGNING_PASSPHRASE"),
        var("IMAGEBUMP_SIGNING_PASSPHRASE_FILE"),
    ) {
        (Some(_), _) => Some(SecretRef::Env("IMAGEBUMP_SIGNING_PASSPHRASE".into())),
        (None, Some(f)) => Some(SecretRef::File(f.into())),
        (None, None) => None,
    };
    let section = SigningSection {
        format,
        key: SecretRef::File(key.into()),
        passphrase,
    };
    crate::engine::signing::signer(&section)
        .map(Some)
        .map_err(|e| format!("IMAGEBUMP_SIGNING_KEY_FILE: {e:#}"))
}

/// One line per changed value: `file:line old → new`.
fn lines(plan: &Plan) -> Vec<String> {
    lines_of(plan, None)
}

fn lines_of(plan: &Plan, file: Option<&Path>) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| file.is_none_or(|f| c.file == f))
        .map(|c| {
            let old = if c.old.is_empty() { "(added)" } else { &c.old };
            let new = if c.new.is_empty() {
                "(removed)"
            } else {
                &c.new
            };
            format!("{}:{} {old} → {new}", c.file.display(), c.line)
        })
        .collect()
}

fn report(plan: &Plan, dry_run: bool) {
    if plan.files.is_empty() {
        println!("nothing to change");
        return;
    }
    for (path, (old, new)) in &plan.files {
        if dry_run {
            print!("{}", unified_diff(&path.to_string_lossy(), old, new));
        }
        for l in lines_of(plan, Some(path)) {
            println!("{l}");
        }
    }
}
