//! `imagebump run`, `once` and `plan`: the engine started from a config file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::engine::notify::Notifier;
use crate::engine::writer::{WorkTree, Writer};
use crate::engine::{setup, Engine};
use crate::gitops::repo::WorkingCopy;
use crate::metrics::Metrics;
use crate::policy_files;
use imagebump_core::plan::plan;

/// Arguments shared by `run`, `once` and `plan`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The service config.
    #[arg(long, value_name = "FILE", default_value = "imagebump.yaml")]
    pub config: PathBuf,
}

/// Config, policies and engine, or a one-line reason they could not be had.
fn load(args: &ServiceArgs) -> Result<(Config, Arc<Engine>), ExitCode> {
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            return Err(ExitCode::from(2));
        }
    };
    let dir = cfg
        .policies
        .clone()
        .unwrap_or_else(|| PathBuf::from("policies"));
    let (loaded, problems) = policy_files::load_all(&[dir]);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        return Err(ExitCode::from(2));
    }
    let registry = setup::registry_client(&cfg).map_err(|e| super::fail(format!("{e:#}")))?;
    let engine = Engine::new(
        loaded,
        registry,
        Arc::new(Metrics::new()),
        cfg.poll_interval(),
    );
    Ok((cfg, Arc::new(engine)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn open_copy(cfg: &Config) -> anyhow::Result<WorkingCopy> {
    let git = setup::git_config(cfg)?;
    WorkingCopy::open(&cfg.state_dir(), git).context("git working copy")
}

fn writer(
    cfg: &Config,
    engine: &Engine,
    wc: WorkingCopy,
    rt: &tokio::runtime::Handle,
) -> anyhow::Result<Writer> {
    let targets = setup::notify_targets(cfg)?;
    Ok(Writer {
        wc,
        policies: engine.policies.clone(),
        queue: engine.queue.clone(),
        status: engine.status.clone(),
        metrics: engine.metrics.clone(),
        template: cfg.git.as_ref().and_then(|g| g.commit_message.clone()),
        batch_window: setup::batch_window(cfg),
        notifier: (!targets.is_empty()).then(|| Notifier::new(targets, rt.clone())),
        failures: engine.failures.clone(),
    })
}

/// `imagebump once`: one full sync, one commit, exit (0 ok, 2 if anything failed).
pub fn once(args: ServiceArgs) -> ExitCode {
    let (cfg, engine) = match load(&args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let rt = runtime();
    let result: anyhow::Result<()> = rt.block_on(async {
        let c = cfg.clone();
        let wc = tokio::task::spawn_blocking(move || open_copy(&c)).await??;
        let w = writer(&cfg, &engine, wc, &tokio::runtime::Handle::current())?;
        for d in engine.sync_all().await {
            engine.queue.push(d);
        }
        engine.queue.close();
        tokio::task::spawn_blocking(move || w.run()).await?;
        Ok(())
    });
    if let Err(e) = result {
        return super::fail(format!("{e:#}"));
    }
    for s in engine.status.snapshot() {
        let up_to_date = s
            .why_not_updated
            .as_deref()
            .is_some_and(|w| w.starts_with(crate::engine::writer::UP_TO_DATE));
        let state = match (&s.last_error, &s.why_not_updated, &s.last_commit) {
            (Some(e), _, _) => format!("error: {e}"),
            (None, Some(_), _) if up_to_date => {
                format!("{} (up to date)", s.current.clone().unwrap_or_default())
            }
            (None, Some(w), _) => format!("not updated: {w}"),
            (None, None, Some(c)) => format!(
                "{} (commit {})",
                s.current.clone().unwrap_or_default(),
                &c[..c.len().min(12)]
            ),
            (None, None, None) => format!("{} (up to date)", s.current.clone().unwrap_or_default()),
        };
        println!("{}/{}: {state}", s.application, s.image);
    }
    if engine.failures.load(Ordering::Relaxed) > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// `imagebump plan`: print the diff a sync would commit; write nothing.
pub fn plan_cmd(args: ServiceArgs) -> ExitCode {
    let (cfg, engine) = match load(&args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let rt = runtime();
    let result: anyhow::Result<imagebump_core::plan::Plan> = rt.block_on(async {
        let c = cfg.clone();
        let mut wc = tokio::task::spawn_blocking(move || open_copy(&c)).await??;
        let desired = engine.sync_all().await;
        let policies = engine.policies.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            wc.refresh()?;
            Ok(plan(&policies, &desired, &WorkTree(wc.root())))
        })
        .await?
    });
    let p = match result {
        Ok(p) => p,
        Err(e) => return super::fail(format!("{e:#}")),
    };
    print!("{}", p.diff());
    for s in engine.status.snapshot() {
        if let Some(w) = s.why_not_updated.as_ref().or(s.last_error.as_ref()) {
            eprintln!("{}/{}: not updated: {w}", s.application, s.image);
        }
    }
    for (id, o) in &p.outcomes {
        // Worded as `once` words them (the writer's status lines).
        let why = match o {
            imagebump_core::plan::Outcome::DowngradeRefused { current } => {
                format!("downgrade refused: git has {current}")
            }
            imagebump_core::plan::Outcome::Failed(e) => format!("cannot edit: {e}"),
            _ => continue,
        };
        let lp = &engine.policies[id.app];
        eprintln!(
            "{}/{}: not updated: {why}",
            lp.policy.application, lp.policy.images[id.image].name
        );
    }
    if p.files.is_empty() {
        eprintln!("nothing to change");
    }
    // Like `once`: a scan that failed or a target that cannot be edited is exit 2, so a
    // CI check built on `plan` notices a sync that would not do everything.
    let edit_failed = p
        .outcomes
        .values()
        .any(|o| matches!(o, imagebump_core::plan::Outcome::Failed(_)));
    if edit_failed || engine.failures.load(Ordering::Relaxed) > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// `imagebump run`: the service.
pub fn run(args: ServiceArgs) -> ExitCode {
    let (cfg, engine) = match load(&args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let receivers = match crate::server::receivers(&cfg) {
        Ok(r) => r,
        Err(e) => return super::fail(format!("{e:#}")),
    };
    // A missing git section or secret is the user's to fix: fail now, not in a retry loop.
    if let Err(e) = setup::git_config(&cfg).and_then(|_| setup::notify_targets(&cfg)) {
        return super::fail(format!("{e:#}"));
    }
    let rt = runtime();
    let result: anyhow::Result<()> = rt.block_on(async {
        let listen = cfg.listen.map_or_else(|| "0.0.0.0:8080".parse().expect("addr"), |l| l.0);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listen on {listen}"))?;
        tracing::info!(%listen, policies = engine.policies.len(), repositories = engine.routes.len(), "imagebump started");
        let ready = Arc::new(AtomicBool::new(false));
        let state = crate::server::AppState::new(engine.clone(), receivers, ready.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(crate::server::serve(listener, state, stop_rx));

        // The working copy may be unreachable at first: keep trying, stay not-ready.
        let c = cfg.clone();
        let mut delay = Duration::from_millis(500);
        let wc = loop {
            let c2 = c.clone();
            match tokio::task::spawn_blocking(move || open_copy(&c2)).await? {
                Ok(wc) => break wc,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot open the GitOps repository; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown_signal() => { let _ = stop_tx.send(true); server.await??; return Ok(()); }
                    }
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        };
        let w = writer(&cfg, &engine, wc, &tokio::runtime::Handle::current())?;
        let writer_thread = std::thread::Builder::new().name("git-writer".into()).spawn(move || w.run())?;
        ready.store(true, Ordering::SeqCst);
        // Start-up sync: a webhook lost while the service was down is caught here.
        for repo in engine.routes.keys() {
            engine.hint(repo, None, None);
        }
        engine.spawn_pollers();
        shutdown_signal().await;
        tracing::info!("shutting down: finishing the commit in flight");
        let _ = stop_tx.send(true);
        server.await??;
        engine.queue.close();
        tokio::task::spawn_blocking(move || writer_thread.join()).await?.ok();
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(format!("{e:#}")),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
