//! Follows a local policies directory: a change on disk (inotify via `notify`, so a
//! Kubernetes ConfigMap's `..data` symlink swap is seen too) or SIGHUP reloads it.
//!
//! Events are debounced: an editor or a ConfigMap update touches several files, and the
//! set is read once they have settled. A file-system event reloads only when the files'
//! text changed; SIGHUP always reloads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ::notify::{EventKind, RecursiveMode, Watcher};
use anyhow::Context;

use super::files::Tree;
use super::live::fingerprint;
use super::Engine;
use crate::policy_files;

/// How long the directory must be quiet before it is read.
const DEBOUNCE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Changed,
    Hangup,
}

/// Starts following `dir` (inside the runtime); runs until the process ends.
pub fn spawn(engine: Arc<Engine>, dir: PathBuf) -> anyhow::Result<()> {
    // Bounded, `try_send` from the watcher: a burst of events is a few pending
    // wake-ups, never a backlog.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Why>(4);
    let fs_tx = tx.clone();
    let watch = || -> anyhow::Result<_> {
        let mut w =
            ::notify::recommended_watcher(move |res: ::notify::Result<::notify::Event>| {
                match res {
                    // Reading the files (ours included) must not trigger a reload.
                    Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => {}
                    Ok(_) => {
                        let _ = fs_tx.try_send(Why::Changed);
                    }
                    Err(e) => tracing::warn!(error = %e, "watching the policies directory"),
                }
            })?;
        w.watch(&dir, RecursiveMode::Recursive)?;
        Ok(w)
    };
    // Without inotify (its per-user limit reached), SIGHUP still reloads: say so.
    let watcher = watch()
        .map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), dir = %dir.display(), "cannot watch the policies directory; send SIGHUP to reload it");
        })
        .ok();
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("listen for SIGHUP")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the policies");
            let _ = tx.send(Why::Hangup).await;
        }
    });
    tokio::spawn(async move {
        // The watcher stops when dropped: it lives as long as this loop.
        let _watcher = watcher;
        let mut last = read_fingerprint(dir.clone()).await;
        while let Some(first) = rx.recv().await {
            let mut why = first;
            // Debounce: wait until no event came for DEBOUNCE.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(w)) => {
                        if w == Why::Hangup {
                            why = Why::Hangup;
                        }
                    }
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let now = read_fingerprint(dir.clone()).await;
            if why == Why::Changed && now == last {
                continue;
            }
            last = now;
            let d = dir.clone();
            let Ok((loaded, problems)) =
                tokio::task::spawn_blocking(move || policy_files::load_all(&[d])).await
            else {
                continue;
            };
            let e = engine.clone();
            // `reload` scans every repository: keep it off the watcher's own task.
            let _ = tokio::task::spawn_blocking(move || e.reload(loaded, problems)).await;
        }
    });
    Ok(())
}

async fn read_fingerprint(dir: PathBuf) -> Vec<(String, Option<String>)> {
    tokio::task::spawn_blocking(move || fingerprint(&Tree(&dir), Path::new(".")))
        .await
        .unwrap_or_default()
}

/// Follows the config file (its directory, so a ConfigMap's `..data` swap is seen): the
/// config is read at start only, so a change is logged as needing a restart.
pub fn spawn_config(path: PathBuf) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(4);
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let watch = || -> anyhow::Result<_> {
        let mut w =
            ::notify::recommended_watcher(move |res: ::notify::Result<::notify::Event>| {
                if res.is_ok_and(|ev| !matches!(ev.kind, EventKind::Access(_))) {
                    let _ = tx.try_send(());
                }
            })?;
        w.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(w)
    };
    let watcher = match watch() {
        Ok(w) => w,
        Err(e) => {
            // Only a warning is lost: not worth refusing to start.
            tracing::warn!(error = %format!("{e:#}"), "cannot watch the config file");
            return Ok(());
        }
    };
    tokio::spawn(async move {
        let _watcher = watcher;
        let read = |p: PathBuf| async move {
            tokio::task::spawn_blocking(move || std::fs::read(p).ok())
                .await
                .ok()
                .flatten()
        };
        let mut last = read(path.clone()).await;
        while rx.recv().await.is_some() {
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            let now = read(path.clone()).await;
            if now != last {
                last = now;
                tracing::warn!(
                    config = %path.display(),
                    "the config file changed; it is read at start only: restart imagebump to apply it (policies reload by themselves)"
                );
            }
        }
    });
    Ok(())
}

/// With in-repo policies there is nothing local to reload: SIGHUP (which would otherwise
/// end the process) only says when they are read.
pub fn spawn_hangup_note() -> anyhow::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("listen for SIGHUP")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: the policies come from the GitOps repository and are re-read after every fetch (at least once per poll interval)");
        }
    });
    Ok(())
}
