//! Follows what the service reads from disk: a local policies directory and the config
//! file. A change (inotify via `notify`, so a Kubernetes ConfigMap's `..data` symlink
//! swap and an editor's rename are seen too) reloads it; SIGHUP reloads the config and
//! the policies (see [`super::reload`]).
//!
//! Events are debounced: an editor or a ConfigMap update touches several files, and the
//! files are read once they have settled. A file-system event reloads only when the
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

/// How long a directory must be quiet before it is read.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Why the config is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// The file's text changed on disk.
    Changed,
    /// SIGHUP: read it (and the policies) whatever changed.
    Hangup,
}

/// A running policies-directory watcher; dropping it stops it (a config reload that
/// points `policies:` elsewhere drops the old one and starts another).
pub(crate) struct PoliciesWatch {
    task: tokio::task::AbortHandle,
}

impl Drop for PoliciesWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A watcher on `dir` sending (bounded, `try_send`: a burst of events is a few pending
/// wake-ups, never a backlog) on `tx`.
fn watcher(
    dir: &Path,
    mode: RecursiveMode,
    tx: tokio::sync::mpsc::Sender<Why>,
) -> anyhow::Result<::notify::RecommendedWatcher> {
    let mut w = ::notify::recommended_watcher(move |res: ::notify::Result<::notify::Event>| {
        match res {
            // Reading the files (ours included) must not trigger a reload.
            Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => {}
            Ok(_) => {
                let _ = tx.try_send(Why::Changed);
            }
            Err(e) => tracing::warn!(error = %e, "watching files"),
        }
    })?;
    w.watch(dir, mode)?;
    Ok(w)
}

/// Waits until `rx` is quiet for [`DEBOUNCE`]; SIGHUP wins over a change. `None` when
/// the channel closed.
async fn settle(rx: &mut tokio::sync::mpsc::Receiver<Why>, first: Why) -> Option<Why> {
    let mut why = first;
    loop {
        match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            Ok(Some(w)) => {
                if w == Why::Hangup {
                    why = Why::Hangup;
                }
            }
            Ok(None) => return None,
            Err(_) => return Some(why),
        }
    }
}

/// Starts following the policies in `dir` on `rt`: a change of their text reloads them.
/// `None` without inotify (its per-user limit reached): SIGHUP still reloads.
pub(crate) fn spawn_policies(
    engine: Arc<Engine>,
    dir: PathBuf,
    rt: &tokio::runtime::Handle,
) -> Option<PoliciesWatch> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Why>(4);
    let watcher = watcher(&dir, RecursiveMode::Recursive, tx)
        .map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), dir = %dir.display(), "cannot watch the policies directory; send SIGHUP to reload it");
        })
        .ok()?;
    let task = rt.spawn(async move {
        // The watcher stops when dropped: it lives as long as this loop.
        let _watcher = watcher;
        let mut last = read_fingerprint(dir.clone()).await;
        while let Some(first) = rx.recv().await {
            if settle(&mut rx, first).await.is_none() {
                return;
            }
            let now = read_fingerprint(dir.clone()).await;
            if now == last {
                continue;
            }
            last = now;
            reload_policies(&engine, dir.clone()).await;
        }
    });
    Some(PoliciesWatch {
        task: task.abort_handle(),
    })
}

/// Reads the policies in `dir` and hands them to [`Engine::reload`] (which keeps the last
/// good set when they have problems), off the async threads.
pub(crate) async fn reload_policies(engine: &Arc<Engine>, dir: PathBuf) {
    let Ok((loaded, problems)) =
        tokio::task::spawn_blocking(move || policy_files::load_all(&[dir])).await
    else {
        return;
    };
    let e = engine.clone();
    // `reload` scans every repository: keep it off the watcher's own task.
    let _ = tokio::task::spawn_blocking(move || e.reload(loaded, problems)).await;
}

async fn read_fingerprint(dir: PathBuf) -> Vec<(String, Option<String>)> {
    tokio::task::spawn_blocking(move || fingerprint(&Tree(&dir), Path::new(".")))
        .await
        .unwrap_or_default()
}

/// Follows the config file at `path` (its directory, so a ConfigMap's `..data` swap and
/// an editor's rename are seen) and SIGHUP: the receiver gets one [`Why`] per settled
/// change of the file's text, and one per SIGHUP. Without inotify only SIGHUP is
/// followed, with a warning.
pub(crate) fn follow_config(path: PathBuf) -> anyhow::Result<tokio::sync::mpsc::Receiver<Why>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Why>(4);
    let (out, settled) = tokio::sync::mpsc::channel::<Why>(4);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let watcher = watcher(&dir, RecursiveMode::NonRecursive, tx.clone())
        .map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), config = %path.display(), "cannot watch the config file; send SIGHUP to reload it");
        })
        .ok();
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("listen for SIGHUP")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config file and the policies");
            let _ = tx.send(Why::Hangup).await;
        }
    });
    tokio::spawn(async move {
        let _watcher = watcher;
        let read = |p: PathBuf| async move {
            tokio::task::spawn_blocking(move || std::fs::read(p).ok())
                .await
                .ok()
                .flatten()
        };
        let mut last = read(path.clone()).await;
        while let Some(first) = rx.recv().await {
            let Some(why) = settle(&mut rx, first).await else {
                return;
            };
            let now = read(path.clone()).await;
            if why == Why::Changed && now == last {
                continue;
            }
            last = now;
            if out.send(why).await.is_err() {
                return;
            }
        }
    });
    Ok(settled)
}
