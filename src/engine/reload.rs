//! Live reload of the config file (`imagebump.yaml`), on change and on SIGHUP.
//!
//! A reload reads and checks the file ([`Config::load`], and the policies of a new local
//! directory), then builds every new live part — registry client, receivers,
//! notification targets, deploy triggers, their secrets resolved — and swaps them in only when all of
//! them were built: a config that fails anywhere keeps everything as it was and is
//! reported (status, metric, log, notification), never half-applied.
//!
//! What the running service cannot take live (`listen`, `adminListen`, `stateDir`, the `git:`
//! repositories, the policies' source kind) is not applied: the rest is, and those keys
//! are listed in `restartNeeded` (status and a warning), so nothing is silently ignored.
//! Queued wishes and the commit in flight are untouched: queues and writers stay, and a
//! writer takes the new settings before its next batch.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use imagebump_core::policy::{OnManualChange, PolicySet};
use serde::Serialize;

use super::digests::DigestResolver;
use super::files::Tree;
use super::live::Generation;
use super::notify::{Notice, Notifier};
use super::watch::{self, Why};
use super::{setup, Engine};
use crate::config::Config;
use crate::policy_files;
use crate::policy_source::PolicySource;
use crate::server::SharedReceivers;

/// The top-level `config` field of `/api/v1/status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// 1 for the config read at start, +1 for each reload that took effect.
    pub generation: u64,
    /// When the last reload was attempted (RFC 3339), if any was.
    pub last_reload: Option<String>,
    /// `ok` or `invalid` for the last reload attempted.
    pub last_result: Option<&'static str>,
    /// The last reload's problems, one line each; empty when it took effect.
    pub problems: Vec<String>,
    /// Keys changed in the file that take effect only after a restart (`listen`, `adminListen`,
    /// `stateDir`, `git[NAME]`, `policies`), compared with the config read at start.
    pub restart_needed: Vec<String>,
}

/// The config's reload status, shared by the reloader and the status handler.
#[derive(Debug)]
pub struct ConfigState(Mutex<ConfigStatus>);

impl Default for ConfigState {
    fn default() -> ConfigState {
        ConfigState(Mutex::new(ConfigStatus {
            generation: 1,
            last_reload: None,
            last_result: None,
            problems: Vec::new(),
            restart_needed: Vec::new(),
        }))
    }
}

impl ConfigState {
    /// What `/api/v1/status` shows.
    pub fn status(&self) -> ConfigStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut ConfigStatus)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The writers' settings a config reload changes. Swapped as one value; each writer
/// copies it before a batch, so a batch runs on one set.
#[derive(Clone)]
pub struct WriterSettings {
    /// `batchWindow`.
    pub batch_window: Duration,
    /// `onManualChange`.
    pub on_manual_change: OnManualChange,
    /// `notifications` (`None` without targets).
    pub notifier: Option<Notifier>,
    /// Digest lookups, on the registry client in effect.
    pub digests: DigestResolver,
    /// Deploy triggers (`deployTriggers:`), rebuilt by a reload like the notifier.
    pub triggers: Option<super::triggers::Triggers>,
}

/// The handle writers read their settings through.
pub type SharedSettings = Arc<RwLock<Arc<WriterSettings>>>;

impl WriterSettings {
    /// The settings of `cfg` on `engine`'s registry client, shared; also made the
    /// engine's notifier (a rejected policy or config reload is announced there).
    pub fn shared(
        cfg: &Config,
        engine: &Engine,
        rt: &tokio::runtime::Handle,
    ) -> anyhow::Result<SharedSettings> {
        let targets = setup::notify_targets(cfg)?;
        let notifier = (!targets.is_empty()).then(|| Notifier::new(targets, rt.clone()));
        *engine.notifier.lock().unwrap_or_else(|e| e.into_inner()) = notifier.clone();
        let triggers = super::triggers::Triggers::build(
            cfg,
            rt,
            engine.metrics.clone(),
            engine.trigger_status.clone(),
        )?
        .show();
        Ok(Arc::new(RwLock::new(Arc::new(WriterSettings {
            batch_window: setup::batch_window(cfg),
            on_manual_change: cfg.on_manual_change.unwrap_or_default(),
            notifier,
            digests: DigestResolver::new(engine.registry(), rt.clone()),
            triggers,
        }))))
    }
}

/// Follows the config file and applies what it can of each change.
pub struct Reloader {
    /// The config file.
    pub path: PathBuf,
    /// The engine to swap parts of.
    pub engine: Arc<Engine>,
    /// The config the service started with: restart-only keys are compared with it.
    pub started: Config,
    /// The config whose live parts are in effect.
    pub applied: Config,
    /// The writers' settings.
    pub settings: SharedSettings,
    /// The server's receivers.
    pub receivers: SharedReceivers,
    /// The service's runtime (notifications, digest lookups, pollers).
    pub rt: tokio::runtime::Handle,
}

/// The parts a valid config builds before anything is swapped.
struct Parts {
    cfg: Config,
    registry: imagebump_registry::RegistryClient,
    receivers: Vec<crate::server::LiveReceiver>,
    notifier: Option<Notifier>,
    /// The deploy triggers, their secrets resolved (not yet shown in the status).
    triggers: super::triggers::Triggers,
    /// A new local policies directory, read and checked.
    policies: Option<(PathBuf, Vec<imagebump_core::policy::LoadedPolicy>)>,
}

/// The local policies directory of a config (`None`: in-repo policies).
fn local_dir(cfg: &Config) -> Option<PathBuf> {
    match &cfg.policies {
        Some(PolicySource::Repo { .. }) => None,
        Some(PolicySource::Local(d)) => Some(d.clone()),
        None => Some(PathBuf::from("policies")),
    }
}

/// The keys of `new` that differ from `started` and need a restart.
pub fn restart_needed(started: &Config, new: &Config) -> Vec<String> {
    // Compared by their Debug text: the sections hold secret references (env names,
    // file paths), never secret values, and the text is never shown.
    fn differs<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
        format!("{a:?}") != format!("{b:?}")
    }
    let mut out = Vec::new();
    if differs(&started.listen, &new.listen) {
        out.push("listen".to_string());
    }
    if differs(&started.admin_listen, &new.admin_listen) {
        out.push("adminListen".to_string());
    }
    if started.state_dir() != new.state_dir() {
        out.push("stateDir".to_string());
    }
    let key = |cfg: &Config, name: &str| {
        if cfg.git.listed {
            format!("git[{name}]")
        } else {
            "git".to_string()
        }
    };
    if started.git.listed != new.git.listed {
        out.push("git".to_string());
    } else {
        for g in &started.git.repos {
            if new.git.get(g.name()).is_none_or(|n| differs(n, g)) {
                out.push(key(started, g.name()));
            }
        }
        for g in &new.git.repos {
            if started.git.get(g.name()).is_none() {
                out.push(key(new, g.name()));
            }
        }
    }
    // Which applications a replica takes decides its routes, queues and status board.
    if started.policy_selector != new.policy_selector {
        out.push("policySelector".to_string());
    }
    // A local directory can change live; in-repo policies, or a change of kind, cannot.
    let policies_live = local_dir(started).is_some() && local_dir(new).is_some();
    if !policies_live && differs(&started.policies, &new.policies) {
        out.push("policies".to_string());
    }
    out.dedup();
    out
}

impl Reloader {
    /// Follows the config file and SIGHUP (inside the runtime), and, with local
    /// policies, their directory; runs until the process ends.
    pub fn spawn(mut self) -> anyhow::Result<()> {
        let mut events = watch::follow_config(self.path.clone())?;
        let mut policies = local_dir(&self.applied)
            .and_then(|d| watch::spawn_policies(self.engine.clone(), d, &self.rt));
        tokio::spawn(async move {
            while let Some(why) = events.recv().await {
                let (me, dir) = match tokio::task::spawn_blocking(move || {
                    // A bug in a reload is counted and logged; the service keeps running on
                    // what it had and the next change is read again.
                    let dir = std::panic::catch_unwind(AssertUnwindSafe(|| self.reload(why)))
                        .unwrap_or_else(|p| {
                            self.engine.metrics.panic("reload");
                            tracing::error!(
                                panic = %super::writer::panic_message(&*p),
                                "config reload panicked"
                            );
                            Reread::No
                        });
                    (self, dir)
                })
                .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "the config reload task failed; the config is no longer followed");
                        return;
                    }
                };
                self = me;
                match dir {
                    Reread::Moved(d) => {
                        // Stop the old watcher before the new one starts.
                        drop(policies.take());
                        policies = watch::spawn_policies(self.engine.clone(), d, &self.rt);
                    }
                    Reread::Same(d) => watch::reload_policies(&self.engine, d).await,
                    Reread::No => {}
                }
            }
            drop(policies);
        });
        Ok(())
    }

    /// One reload; says whether the policies watcher must move or the policies be read
    /// again (SIGHUP).
    fn reload(&mut self, why: Why) -> Reread {
        let at = super::status::now_rfc3339();
        match self.build() {
            Ok(parts) => {
                let moved = parts.policies.as_ref().map(|(d, _)| d.clone());
                self.apply(parts, at);
                match (moved, why) {
                    (Some(d), _) => Reread::Moved(d),
                    (None, Why::Hangup) => {
                        local_dir(&self.applied).map_or(Reread::No, Reread::Same)
                    }
                    (None, Why::Changed) => Reread::No,
                }
            }
            Err(problems) => {
                self.reject(problems, at);
                // SIGHUP still reloads the policies in effect.
                match why {
                    Why::Hangup => local_dir(&self.applied).map_or(Reread::No, Reread::Same),
                    Why::Changed => Reread::No,
                }
            }
        }
    }

    /// Reads and checks the file and builds every live part, or says why not.
    fn build(&self) -> Result<Parts, Vec<String>> {
        let cfg = Config::load(&self.path)
            .map_err(|ps| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>())?;
        let err = |e: anyhow::Error| vec![format!("{}: {e:#}", self.path.display())];
        if cfg.git.is_empty() {
            return Err(vec![format!(
                "{}: the config has no git section",
                self.path.display()
            )]);
        }
        let policies = match (local_dir(&self.applied), local_dir(&cfg)) {
            (Some(old), Some(new)) if old != new => {
                // A new directory is read and checked like at start: a set with problems
                // would stop every update, so the whole config is refused.
                let (loaded, mut problems) = policy_files::load_all(std::slice::from_ref(&new));
                problems.extend(policy_files::repository_problems(
                    &loaded,
                    &self.engine.gits,
                    &Tree(Path::new("")),
                ));
                if !problems.is_empty() {
                    return Err(problems.iter().map(|p| p.to_string()).collect());
                }
                Some((new, loaded))
            }
            _ => None,
        };
        let registry = setup::registry_client(&cfg).map_err(err)?;
        let receivers = crate::server::receivers(&cfg).map_err(err)?;
        let targets = setup::notify_targets(&cfg).map_err(err)?;
        let notifier = (!targets.is_empty()).then(|| Notifier::new(targets, self.rt.clone()));
        let triggers = super::triggers::Triggers::build(
            &cfg,
            &self.rt,
            self.engine.metrics.clone(),
            self.engine.trigger_status.clone(),
        )
        .map_err(err)?;
        Ok(Parts {
            triggers,
            cfg,
            registry,
            receivers,
            notifier,
            policies,
        })
    }

    fn reject(&self, problems: Vec<String>, at: String) {
        let e = &self.engine;
        let mut kept = 0;
        e.config.update(|s| {
            s.last_reload = Some(at);
            s.last_result = Some("invalid");
            s.problems.clone_from(&problems);
            kept = s.generation;
        });
        count(e, "invalid");
        tracing::error!(
            config = %self.path.display(),
            generation = kept,
            problems = %problems.join("; "),
            "config reload rejected; the last good config stays in effect"
        );
        if let Some(n) = e
            .notifier
            .lock()
            .unwrap_or_else(|x| x.into_inner())
            .as_ref()
        {
            n.send(Notice::ConfigReloadFailed { kept, problems });
        }
    }

    /// Swaps every built part in, then records the reload.
    fn apply(&mut self, parts: Parts, at: String) {
        let e = &self.engine;
        let cfg = parts.cfg;
        let restart = restart_needed(&self.started, &cfg);
        e.set_registry(parts.registry.clone());
        *self.receivers.write().unwrap_or_else(|x| x.into_inner()) = Arc::new(parts.receivers);
        *e.notifier.lock().unwrap_or_else(|x| x.into_inner()) = parts.notifier.clone();
        let triggers = parts.triggers.show();
        *self.settings.write().unwrap_or_else(|x| x.into_inner()) = Arc::new(WriterSettings {
            batch_window: setup::batch_window(&cfg),
            on_manual_change: cfg.on_manual_change.unwrap_or_default(),
            notifier: parts.notifier,
            digests: DigestResolver::new(parts.registry, self.rt.clone()),
            triggers,
        });
        let interval = cfg.poll_interval();
        let rerouted = interval != self.applied.poll_interval();
        *e.default_interval.lock().unwrap_or_else(|x| x.into_inner()) = interval;
        let mut generation = 0;
        e.config.update(|s| {
            s.generation += 1;
            s.last_reload = Some(at.clone());
            s.last_result = Some("ok");
            s.problems.clear();
            s.restart_needed.clone_from(&restart);
            generation = s.generation;
        });
        count(e, "ok");
        tracing::info!(config = %self.path.display(), generation, "config reloaded");
        if !restart.is_empty() {
            tracing::warn!(
                config = %self.path.display(),
                keys = %restart.join(", "),
                "config keys changed that take effect only after a restart; the rest is applied"
            );
        }
        // New credentials or registry settings should be tried now, not at the next poll.
        let registries = format!(
            "{:?}{:?}",
            self.applied.registries, self.applied.docker_config
        ) != format!("{:?}{:?}", cfg.registries, cfg.docker_config);
        match parts.policies {
            // The new directory's policies, with the new interval's routes (scans all).
            Some((_, loaded)) => {
                e.reload(loaded, Vec::new());
            }
            None if rerouted => self.reroute(at),
            None if registries => {
                let _in_runtime = self.rt.enter();
                e.hint_all(None);
            }
            None => {}
        }
        self.applied = cfg;
    }

    /// The policies in effect routed again with the new default interval, as a new
    /// generation; pollers restart and every repository is scanned.
    fn reroute(&self, at: String) {
        let e = &self.engine;
        let cur = e.live.current();
        let policies: PolicySet = (*cur.policies).clone();
        let next = Generation::new(policies, e.default_interval(), &e.gits);
        let gen = e.live.swap(next, at);
        tracing::info!(
            generation = gen.number,
            "pollers re-routed for the new poll interval"
        );
        let rt = e.poll_rt.lock().unwrap_or_else(|x| x.into_inner()).clone();
        if let Some(rt) = rt {
            e.start_pollers(&rt);
            let _in_runtime = rt.enter();
            e.hint_all(None);
        }
    }
}

/// What the policies need after a config reload.
enum Reread {
    /// Nothing.
    No,
    /// `policies:` names another directory (already read): follow it from now on.
    Moved(PathBuf),
    /// SIGHUP: read this directory again.
    Same(PathBuf),
}

fn count(e: &Engine, result: &str) {
    e.metrics
        .config_reloads
        .get_or_create(&crate::metrics::ResultLabels {
            result: result.to_string(),
        })
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("/etc/imagebump/imagebump.yaml"), text).unwrap()
    }

    const GIT: &str =
        "git:\n  url: file:///srv/fleet.git\n  branch: main\n  author: {name: a, email: a@b.c}\n";

    #[test]
    fn restart_needed_names_only_the_keys_a_running_service_cannot_take() {
        let start = parse(&format!("listen: 127.0.0.1:1\n{GIT}"));
        let live_only = parse(&format!(
            "listen: 127.0.0.1:1\n{GIT}batchWindow: 5s\npoll: {{interval: 10s}}\npolicies: ./other\n"
        ));
        assert!(restart_needed(&start, &live_only).is_empty());
        let moved = parse(&format!(
            "listen: 127.0.0.1:2\nadminListen: 127.0.0.1:3\nstateDir: /var/x\n{}policies: {{repoPath: p}}\n",
            GIT.replace("fleet", "other")
        ));
        assert_eq!(
            restart_needed(&start, &moved),
            ["listen", "adminListen", "stateDir", "git", "policies"]
        );
    }

    #[test]
    fn a_changed_policy_selector_needs_a_restart() {
        let start = parse(&format!(
            "{GIT}policySelector: {{applications: [team-a-*]}}\n"
        ));
        let same = parse(&format!(
            "{GIT}policySelector:\n  applications: [team-a-*]\n"
        ));
        assert!(restart_needed(&start, &same).is_empty());
        let other = parse(&format!("{GIT}policySelector: {{exclude: [team-a-*]}}\n"));
        assert_eq!(restart_needed(&start, &other), ["policySelector"]);
        assert_eq!(restart_needed(&start, &parse(GIT)), ["policySelector"]);
    }

    #[test]
    fn a_listed_repository_added_or_changed_is_named() {
        let repo = |name: &str, url: &str| {
            format!("  - name: {name}\n    url: file:///srv/{url}.git\n    branch: main\n    author: {{name: a, email: a@b.c}}\n")
        };
        let start = parse(&format!("git:\n{}{}", repo("a", "a"), repo("b", "b")));
        let new = parse(&format!(
            "git:\n{}{}{}",
            repo("a", "a"),
            repo("b", "moved"),
            repo("c", "c")
        ));
        assert_eq!(restart_needed(&start, &new), ["git[b]", "git[c]"]);
    }
}
