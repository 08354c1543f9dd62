//! The service object: what `run`, `once` and `plan` do, built from a config file.
//!
//! [`Service::load`] reads the config and the policies and builds the engine;
//! [`Service::once`], [`Service::plan`] and [`Service::run`] are the three ways to use it.
//! The CLI only parses flags, calls one of them, prints the report and maps it to an exit
//! code; the start-up sync, the writer, the retry loops and shutdown live here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use imagebump_core::decision::Decision;
use imagebump_core::plan::{Outcome, Plan};
use imagebump_git::{RetryPolicy, WorkingCopy};

use super::digests::{DigestResolver, Unresolved};
use super::files::Tree;
use super::live::RepoPolicies;
use super::manual;
use super::notify::Notifier;
use super::status::ImageStatus;
use super::writer::Writer;
use super::{setup, Engine};
use crate::config::{Config, WriteMode, DEFAULT_GIT_NAME};
use crate::metrics::Metrics;
use crate::policy_files;
use crate::policy_source::PolicySource;

/// Why a service could not be built.
#[derive(Debug)]
pub enum LoadError {
    /// The config or the policies have problems, each `file:line:col: message`.
    Problems(Vec<String>),
    /// Something else (a secret, the registry client), with context.
    Other(anyhow::Error),
}

/// What `once` did, or what `plan` would do.
#[derive(Debug)]
pub struct Report {
    /// Every image's status at the end, in identity order.
    pub images: Vec<ImageStatus>,
    /// The plan of each GitOps repository, by name in config order (`plan` only: what a
    /// sync would commit there).
    pub plans: Vec<(String, Plan)>,
    /// Something failed: a scan, a target that cannot be edited, a push.
    pub failed: bool,
}

/// A loaded config with its engine.
pub struct Service {
    cfg: Config,
    /// The config file, followed and reloaded by `run`.
    path: PathBuf,
    engine: Arc<Engine>,
    /// In-repo policies: the files read at load, so the writer reloads only on change.
    repo_policies: Option<Vec<(String, Option<String>)>>,
}

impl Service {
    /// Reads the config at `path` and the policies it names, and builds the engine.
    pub fn load(path: &Path) -> Result<Service, LoadError> {
        let cfg = Config::load(path)
            .map_err(|ps| LoadError::Problems(ps.iter().map(|p| p.to_string()).collect()))?;
        let names = cfg.git.names();
        let (loaded, mut problems, repo_policies) = match &cfg.policies {
            Some(src @ PolicySource::Repo { dir, .. }) => {
                // Read from the GitOps repository at its remote tip.
                let name = src.repo_git(&names).unwrap_or(DEFAULT_GIT_NAME);
                let mut wc = Self::open_copy(&cfg, name).map_err(LoadError::Other)?;
                wc.sync()
                    .context("fetch the GitOps repository to read its policies")
                    .map_err(LoadError::Other)?;
                let tree = Tree(wc.root());
                let (l, p) = super::live::load_tree(&tree, dir);
                let p = [p, policy_files::repository_problems(&l, &names, &tree)].concat();
                (l, p, Some(super::live::fingerprint(&tree, dir)))
            }
            local => {
                let dir = local
                    .as_ref()
                    .and_then(|p| p.local())
                    .map_or_else(|| PathBuf::from("policies"), Path::to_path_buf);
                let (l, p) = policy_files::load_all(&[dir]);
                (l, p, None)
            }
        };
        if repo_policies.is_none() && !names.is_empty() {
            problems.extend(policy_files::repository_problems(
                &loaded,
                &names,
                &Tree(Path::new("")),
            ));
        }
        if !problems.is_empty() {
            return Err(LoadError::Problems(
                problems.iter().map(|p| p.to_string()).collect(),
            ));
        }
        let registry = setup::registry_client(&cfg).map_err(LoadError::Other)?;
        let gits = if names.is_empty() {
            vec![DEFAULT_GIT_NAME.to_string()]
        } else {
            names
        };
        let engine = Engine::with_repositories(
            imagebump_core::policy::PolicySet::new(loaded),
            registry,
            Arc::new(Metrics::new()),
            cfg.poll_interval(),
            gits,
        )
        .with_selector(cfg.policy_selector.clone().unwrap_or_default());
        Ok(Service {
            cfg,
            path: path.to_path_buf(),
            engine: Arc::new(engine),
            repo_policies,
        })
    }

    /// The engine (routes, status, metrics).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The GitOps repositories' names, in config order.
    fn gits(&self) -> &[String] {
        &self.engine.gits
    }

    fn git_config(cfg: &Config, name: &str) -> anyhow::Result<imagebump_git::GitConfig> {
        let g = cfg
            .git
            .get(name)
            .with_context(|| format!("the config has no git repository {name:?}"))?;
        setup::git_config(cfg, g)
    }

    fn open_copy(cfg: &Config, name: &str) -> anyhow::Result<WorkingCopy> {
        let git = Self::git_config(cfg, name)?;
        WorkingCopy::open(&cfg.state_dir(), git)
            .with_context(|| format!("git working copy of {name}"))
    }

    fn writer(&self, git: &str, rt: &tokio::runtime::Handle, live: bool) -> anyhow::Result<Writer> {
        let targets = setup::notify_targets(&self.cfg)?;
        let cfg = self.cfg.clone();
        let e = &self.engine;
        let name = git.to_string();
        let section = self.cfg.git.get(git);
        // In-repo policies are followed by the writer of the repository that holds them.
        let holds_policies = self
            .cfg
            .policies
            .as_ref()
            .and_then(|p| p.repo_git(self.gits()))
            == Some(git);
        if let Some(g) = section {
            let mode = g.write_mode();
            e.git_status.register(super::gits::GitStatus {
                name: name.clone(),
                url: imagebump_git::redact_url(&g.url.0),
                branch: g.branch.clone(),
                write: match mode {
                    WriteMode::Push => "push",
                    WriteMode::Branch { .. } => "branch",
                    WriteMode::PullRequest(_) => "pullRequest",
                },
                push_branch: match &mode {
                    WriteMode::Push => g.branch.clone(),
                    WriteMode::Branch { branch } => branch.clone(),
                    WriteMode::PullRequest(pr) => pr.branch.clone(),
                },
                commit_url: g.commit_url_template(),
                ..Default::default()
            });
        }
        Ok(Writer {
            git: name.clone(),
            git_status: e.git_status.clone(),
            wc: None,
            open: Box::new(move || {
                Self::git_config(&cfg, &name)
                    .map_err(|e| imagebump_git::GitError::Config(format!("{e:#}")))
                    .and_then(|g| WorkingCopy::open(&cfg.state_dir(), g))
            }),
            live: e.live.clone(),
            // `once` and `plan` keep the policies they loaded; the service follows them.
            repo_policies: match (
                &self.cfg.policies,
                &self.repo_policies,
                live && holds_policies,
            ) {
                (Some(PolicySource::Repo { dir, .. }), Some(last), true) => Some(RepoPolicies {
                    dir: dir.clone(),
                    every: self.cfg.poll_interval(),
                    last: last.clone(),
                    engine: e.clone(),
                }),
                _ => None,
            },
            queue: e
                .queues
                .get(git)
                .with_context(|| format!("no queue for git repository {git:?}"))?
                .clone(),
            status: e.status.clone(),
            metrics: e.metrics.clone(),
            template: section.and_then(|g| g.commit_message.clone()),
            batch_window: setup::batch_window(&self.cfg),
            notifier: (!targets.is_empty()).then(|| Notifier::new(targets, rt.clone())),
            // The service takes them from its settings; `once` and `plan` send none.
            triggers: None,
            base_branch: section.map(|g| g.branch.clone()).unwrap_or_default(),
            failures: e.failures.clone(),
            retry: RetryPolicy::default(),
            digests: DigestResolver::new(e.registry().clone(), rt.clone()),
            on_manual_change: self.cfg.on_manual_change.unwrap_or_default(),
            announced: Default::default(),
            pulls: match section.map(|g| (g, g.write_mode())) {
                Some((g, WriteMode::PullRequest(pr))) => Some(super::pulls::PullRequests::new(
                    g,
                    &self.cfg.git.label(g),
                    &pr,
                    rt.clone(),
                )?),
                _ => None,
            },
            settings: None,
            rescanned: Default::default(),
            // The service rescans; `once` and `plan` have no later scan to ask for.
            rescan: live.then(|| {
                let (e, rt) = (e.clone(), rt.clone());
                Arc::new(move |repository: &str| {
                    let _in_runtime = rt.enter();
                    e.rescan_fresh(repository);
                }) as super::writer::Rescan
            }),
        })
    }

    /// `imagebump hold`/`release`: adds or removes the hold markers of `ids` on all
    /// their targets and commits that through the one write path: one commit per GitOps
    /// repository holding a target, never forced (a push race plans again on the new
    /// tip). A release always commits, so its `Imagebump-Release` trailers also end
    /// manual-change holds.
    pub fn mark(
        &self,
        ids: &[imagebump_core::decision::ImageId],
        action: &imagebump_core::hold::Action,
    ) -> anyhow::Result<Vec<(String, super::write::Written)>> {
        use imagebump_core::hold::{plan_marks, Action};
        let version = env!("CARGO_PKG_VERSION");
        let gen = self.engine.live.current();
        let wait = |why: &imagebump_core::decision::WaitReason| {
            tracing::info!(reason = %why, "waiting to retry");
            std::thread::sleep(super::write::wait_time(why));
            true
        };
        let mut out = Vec::new();
        for git in self.gits() {
            let Some(policies) = gen.for_git(git) else {
                continue;
            };
            let here: Vec<_> = ids
                .iter()
                .filter(|id| policies.get(id).is_some())
                .cloned()
                .collect();
            if here.is_empty() {
                continue;
            }
            let released: &[_] = match action {
                Action::Release => &here,
                Action::Hold { .. } => &[],
            };
            let mut wc = Self::open_copy(&self.cfg, git)?;
            let w = super::write::write(
                &mut wc,
                &RetryPolicy::default(),
                &wait,
                &mut |files, _wc| plan_marks(policies, &here, action, files),
                &|p| {
                    let subject = p.title.clone().unwrap_or_default();
                    imagebump_core::message::hold_message(&subject, p, released, version)
                },
            )
            .with_context(|| format!("git repository {git}"))?;
            out.push((git.clone(), w));
        }
        Ok(out)
    }

    fn failed(&self) -> bool {
        self.engine.failures.load(Ordering::Relaxed) > 0
    }

    /// One full sync and at most one commit per GitOps repository; returns every
    /// image's status. The repositories are written in parallel.
    pub fn once(&self) -> anyhow::Result<Report> {
        let rt = runtime();
        rt.block_on(async {
            let handle = tokio::runtime::Handle::current();
            let writers = self
                .gits()
                .iter()
                .map(|g| self.writer(g, &handle, false))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let gen = self.engine.live.current();
            for q in self.engine.sync_all().await {
                self.engine.queues.push(q, &gen);
            }
            self.engine.queues.close();
            let runs: Vec<_> = writers
                .into_iter()
                .map(|w| tokio::task::spawn_blocking(move || w.run()))
                .collect();
            for r in runs {
                r.await
                    .map_err(|e| anyhow::anyhow!("a writer panicked: {e}"))?;
            }
            anyhow::Ok(())
        })?;
        Ok(Report {
            images: self.engine.status.snapshot(),
            plans: Vec::new(),
            failed: self.failed(),
        })
    }

    /// The plan a full sync would commit to each GitOps repository, without writing.
    pub fn plan(&self) -> anyhow::Result<Report> {
        let rt = runtime();
        let plans = rt.block_on(async {
            let queued = self.engine.sync_all().await;
            let gen = self.engine.live.current();
            let mut plans = Vec::new();
            for git in self.gits() {
                let Some(policies) = gen.for_git(git).cloned() else {
                    continue;
                };
                let mut wishes: Vec<_> = queued
                    .iter()
                    .filter(|q| policies.get(&q.wish.id).is_some())
                    .map(|q| q.wish.clone())
                    .collect();
                let cfg = self.cfg.clone();
                let name = git.clone();
                let mode = self.cfg.on_manual_change.unwrap_or_default();
                let status = self.engine.status.clone();
                let digests = DigestResolver::new(
                    self.engine.registry().clone(),
                    tokio::runtime::Handle::current(),
                );
                let p = tokio::task::spawn_blocking(move || -> anyhow::Result<Plan> {
                    let mut wc = Self::open_copy(&cfg, &name)?;
                    wc.sync()?;
                    // Like the writer: what a manual change holds is not planned, and says why.
                    let held = manual::holds(&wc, &policies, mode, &wishes)?;
                    wishes.retain(|w| !held.contains_key(&w.id));
                    for (id, reason) in held {
                        status.decide(&id, Decision::Held { reason });
                    }
                    let p = digests.plan(
                        &policies,
                        &mut wishes,
                        &Tree(wc.root()),
                        &mut Unresolved::new(),
                    );
                    for w in &wishes {
                        let Some(o) = p.outcomes.get(&w.id) else {
                            continue;
                        };
                        // An update stays "pending": the plan is what would be committed.
                        if !matches!(o, Outcome::Updated { .. }) {
                            let pinned = policies.get(&w.id).and_then(|x| x.pinned.as_deref());
                            status.decide(&w.id, o.decision(w, pinned, None));
                        }
                    }
                    Ok(p)
                })
                .await??;
                plans.push((git.clone(), p));
            }
            anyhow::Ok(plans)
        })?;
        let images = self.engine.status.snapshot();
        // Like `once`: a scan that failed or a target that cannot be edited is a failure,
        // so a CI check built on `plan` notices a sync that would not do everything.
        let failed = self.failed()
            || images
                .iter()
                .any(|s| s.decision.as_ref().is_some_and(Decision::is_failure));
        Ok(Report {
            images,
            plans,
            failed,
        })
    }

    /// The service: HTTP server, start-up sync, pollers and one writer thread per GitOps
    /// repository, until `shutdown` resolves. Errors when it cannot start, or when a
    /// writer thread died.
    pub fn run(&self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let receivers = crate::server::receivers(&self.cfg)?;
        // A missing git section or secret is the user's to fix: fail now, not in a retry loop.
        if self.cfg.git.is_empty() {
            anyhow::bail!("the config has no git section");
        }
        for g in self.gits() {
            Self::git_config(&self.cfg, g)?;
        }
        setup::notify_targets(&self.cfg)?;
        // Loading parsed every policy file; its garbage lies between what stays.
        crate::malloc::release_free_memory();
        let rt = runtime();
        let engine = self.engine.clone();
        rt.block_on(async {
            let listen = self
                .cfg
                .listen
                .map_or(crate::config::DEFAULT_LISTEN, |l| l.0);
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listen on {listen}"))?;
            // `adminListen`: the status page, metrics and status API on their own port.
            let admin = match self.cfg.admin_listen {
                Some(a) => Some(
                    tokio::net::TcpListener::bind(a.0)
                        .await
                        .with_context(|| format!("adminListen on {}", a.0))?,
                ),
                None => None,
            };
            let gen = engine.live.current();
            tracing::info!(%listen, admin_listen = ?self.cfg.admin_listen.map(|a| a.0), images = gen.policies.len(), repositories = gen.routes.len(),
                gits = self.gits().len(), "imagebump started");
            let ready = Arc::new(AtomicBool::new(false));
            let state = crate::server::AppState::new(engine.clone(), receivers, ready.clone());
            let state_receivers = state.receivers();
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let server = match admin {
                Some(admin) => tokio::spawn(crate::server::serve_split(listener, admin, state, stop_rx)),
                None => tokio::spawn(crate::server::serve(listener, state, stop_rx)),
            };

            // One writer thread per repository. Each opens (clones) its own copy: one
            // that is unreachable retries with backoff in its own thread, so it delays no
            // other repository.
            let handle = tokio::runtime::Handle::current();
            let mut threads = Vec::new();
            // One settings value for every writer, swapped by a config reload.
            let settings = super::reload::WriterSettings::shared(&self.cfg, &engine, &handle)?;
            for git in self.gits() {
                let mut w = self.writer(git, &handle, true)?;
                w.settings = Some(settings.clone());
                let t = std::thread::Builder::new()
                    .name(format!("git-writer-{git}"))
                    .spawn(move || w.run())?;
                threads.push((git.clone(), t));
            }
            ready.store(true, Ordering::SeqCst);
            // Start-up sync: a webhook lost while the service was down is caught here.
            // One commit per repository: each queue's first batch waits for these scans.
            let starting = engine.queues.start_up();
            for repo in gen.routes.keys() {
                engine.hint(repo, None, None);
            }
            drop(starting);
            engine.spawn_pollers();
            super::reload::Reloader {
                path: self.path.clone(),
                engine: engine.clone(),
                started: self.cfg.clone(),
                applied: self.cfg.clone(),
                settings,
                receivers: state_receivers,
                rt: handle.clone(),
            }
            .spawn()?;
            shutdown.await;
            tracing::info!("shutting down: finishing the commits in flight");
            let _ = stop_tx.send(true);
            server.await??;
            engine.queues.close();
            // A writer that died is an error: the exit code must say so.
            for (git, t) in threads {
                tokio::task::spawn_blocking(move || t.join())
                    .await?
                    .map_err(|p| {
                        anyhow::anyhow!(
                            "the git writer of {git} panicked: {}",
                            super::writer::panic_message(&*p)
                        )
                    })?;
            }
            Ok(())
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
