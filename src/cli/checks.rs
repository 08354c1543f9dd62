//! Checks `imagebump validate` makes beyond parsing, each a function returning its
//! problems with `file:line` where there is one: images without targets, secret files
//! that are missing or unreadable (never read into a message), and — with `--repo DIR`,
//! a checkout of the GitOps repository — every target against the files it names.

use std::path::Path;

use imagebump_core::decision::{ImageId, Wish};
use imagebump_core::edit::locate::line_of;
use imagebump_core::plan::{plan, Outcome};
use imagebump_core::policy::select::Strategy;
use imagebump_core::policy::{LoadedPolicy, PolicyFile, PolicySelector, PolicySet, Problem};

use crate::config::Config;
use crate::engine::files::Tree;
use crate::secret::SecretRef;

/// A problem at the line of the value at `path` in `file` (whose text is `text`).
fn at(file: &Path, text: Option<&str>, path: &str, message: String) -> Problem {
    let mut p = Problem::new(file, message);
    p.line = text.and_then(|t| line_of(t, path));
    p
}

/// `policySelector:` that takes none of the loaded applications: valid, but the replica
/// would watch nothing (a typo in a glob, or the wrong shard's config). A warning.
pub fn selector_matches_nothing(
    config: &Path,
    selector: &PolicySelector,
    loaded: &[LoadedPolicy],
) -> Option<Problem> {
    if loaded
        .iter()
        .any(|l| selector.selects(&l.policy.application))
    {
        return None;
    }
    let text = std::fs::read_to_string(config).ok();
    let mut apps: Vec<&str> = loaded
        .iter()
        .map(|l| l.policy.application.as_str())
        .collect();
    apps.sort_unstable();
    let shown = if apps.is_empty() {
        "there are none".to_string()
    } else {
        format!("they are: {}", apps.join(", "))
    };
    Some(at(
        config,
        text.as_deref(),
        "policySelector",
        format!(
            "warning: policySelector matches no application ({shown}), so this replica watches nothing; check its globs"
        ),
    ))
}

/// An image without `targets:` is never written, so `once` would call it "up to date".
pub fn images_without_targets(loaded: &[LoadedPolicy]) -> Vec<Problem> {
    let mut out = Vec::new();
    for l in loaded {
        let text = std::fs::read_to_string(&l.path).ok();
        for (i, img) in l.policy.images.iter().enumerate() {
            if img.targets.is_empty() {
                out.push(at(
                    &l.path,
                    text.as_deref(),
                    &format!("images[{i}]"),
                    format!(
                        "image {} ({}/{}) has no targets: list the files it is written to under targets:",
                        img.repository_text, l.policy.application, img.name
                    ),
                ));
            }
        }
    }
    out
}

/// Every `{file: …}` secret of the config must exist and be readable. Only its path is
/// named; its content is never read into memory here.
pub fn secret_files(config_path: &Path, cfg: &Config) -> Vec<Problem> {
    let mut refs: Vec<(String, &SecretRef)> = Vec::new();
    for g in &cfg.git.repos {
        let who = cfg.git.label(g);
        if let Some(c) = &g.credentials {
            refs.push((format!("{who}.credentials.username"), &c.username));
            refs.push((format!("{who}.credentials.password"), &c.password));
        }
        refs.extend(g.ssh_key.iter().map(|s| (format!("{who}.sshKey"), s)));
        refs.extend(
            g.known_hosts
                .iter()
                .map(|s| (format!("{who}.knownHosts"), s)),
        );
        if let Some(s) = &g.signing {
            refs.push((format!("{who}.signing.key"), &s.key));
            refs.extend(
                s.passphrase
                    .iter()
                    .map(|p| (format!("{who}.signing.passphrase"), p)),
            );
        }
        if let Some(crate::config::WriteMode::PullRequest(pr)) = &g.write {
            refs.push((format!("{who}.write.pullRequest.token"), &pr.token));
        }
    }
    for (i, r) in cfg.registries.iter().enumerate() {
        if let Some(c) = &r.credentials {
            refs.push((format!("registries[{i}].credentials.username"), &c.username));
            refs.push((format!("registries[{i}].credentials.password"), &c.password));
        }
    }
    refs.extend(cfg.docker_config.iter().map(|s| ("dockerConfig".into(), s)));
    for (i, r) in cfg.receivers.iter().enumerate() {
        refs.push((format!("receivers[{i}].secret"), &r.secret));
    }
    for (i, n) in cfg.notifications.iter().enumerate() {
        refs.push((format!("notifications[{i}].url"), &n.url));
    }
    for (i, t) in cfg.deploy_triggers.iter().enumerate() {
        let who = format!("deployTriggers[{i}]");
        if let Some(a) = &t.argocd {
            refs.extend(a.secret.iter().map(|s| (format!("{who}.argocd.secret"), s)));
            refs.extend(a.token.iter().map(|s| (format!("{who}.argocd.token"), s)));
        }
        if let Some(f) = &t.flux {
            refs.extend(f.secret.iter().map(|s| (format!("{who}.flux.secret"), s)));
        }
        if let Some(w) = &t.webhook {
            refs.extend(
                w.headers
                    .iter()
                    .map(|(k, s)| (format!("{who}.webhook.headers.{k}"), s)),
            );
        }
    }
    let text = std::fs::read_to_string(config_path).ok();
    let mut out = Vec::new();
    for (path, r) in refs {
        let SecretRef::File(f) = r else { continue };
        let why = match std::fs::metadata(f) {
            Ok(m) if !m.is_file() => Some("it is not a regular file".to_string()),
            // Opening proves it is readable without reading the secret.
            Ok(_) => std::fs::File::open(f).err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = why {
            out.push(at(
                config_path,
                text.as_deref(),
                &path,
                format!("{path}: secret file {} cannot be read: {why}", f.display()),
            ));
        }
    }
    out
}

/// With a checkout of the GitOps repository: every target of every image must exist,
/// parse, and mention its image. Each target is planned alone (a placeholder tag, no
/// registry) so one bad target does not hide the next.
pub fn repo_targets(repo: &Path, loaded: &[LoadedPolicy]) -> Vec<Problem> {
    if !repo.is_dir() {
        return vec![Problem::new(repo, "--repo: not a directory")];
    }
    let src = Tree(repo);
    let mut out = Vec::new();
    for l in loaded {
        let text = std::fs::read_to_string(&l.path).ok();
        for (i, img) in l.policy.images.iter().enumerate() {
            let id = ImageId::new(&l.policy.application, &img.name);
            let wish = Wish {
                id: id.clone(),
                tag: "imagebump-validate".into(),
                digest: matches!(img.strategy, Strategy::Digest(_))
                    .then(|| format!("sha256:{}", "0".repeat(64))),
                // A stand-in digest, so pinned references plan as they would for real.
                index_digest: Some(format!("sha256:{}", "0".repeat(64))),
            };
            for (j, target) in img.targets.iter().enumerate() {
                let mut one = img.clone();
                one.targets = vec![target.clone()];
                let set = PolicySet::new(vec![LoadedPolicy {
                    path: l.path.clone(),
                    policy: PolicyFile {
                        application: l.policy.application.clone(),
                        images: vec![one],
                    },
                }]);
                let p = plan(&set, std::slice::from_ref(&wish), &src);
                let Some(o) = p.outcomes.get(&id) else {
                    continue;
                };
                if matches!(
                    o,
                    Outcome::NotReferenced { .. } | Outcome::Failed(_) | Outcome::Refused { .. }
                ) {
                    let why = o
                        .decision(&wish, None, None)
                        .last_error()
                        .unwrap_or_default();
                    out.push(at(
                        &l.path,
                        text.as_deref(),
                        &format!("images[{i}].targets[{j}]"),
                        format!("{id}: {why}"),
                    ));
                }
            }
        }
    }
    out
}
