//! The accept loop and its bounds: how many connections, how long a request may take to
//! arrive. axum's own `serve` sets no timer (so hyper's header-read timeout never
//! fires) and accepts without limit, which let slow clients hold every descriptor the
//! process has, starving git fetches and registry calls; this loop drives hyper
//! directly with those bounds.
//!
//! - at most [`ServerLimits::max_connections`] connections are open at once (default
//!   256, and never more than a quarter of the process's open-file limit, so the rest
//!   stays for git and the registry); past it, new connections wait in the kernel's
//!   backlog until one closes;
//! - a request's headers must arrive within [`ServerLimits::header_timeout`] (10 s),
//!   which also closes idle keep-alive connections; once three quarters of the
//!   connections are taken, new ones get [`ServerLimits::busy_header_timeout`] (1 s)
//!   instead, so slow clients are shed quickly and `/healthz` gets through;
//! - its body within [`ServerLimits::body_timeout`] (10 s), else the answer is 400.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

/// Bounds of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time for a request's headers to arrive (from its first byte, or from the end of
    /// the previous request on a kept-alive connection).
    pub header_timeout: Duration,
    /// The header timeout of connections accepted while three quarters of
    /// `max_connections` are open.
    pub busy_header_timeout: Duration,
    /// Time for a request's body to arrive.
    pub body_timeout: Duration,
}

/// The default connection limit, before the open-file limit lowers it.
pub const MAX_CONNECTIONS: usize = 256;

impl Default for ServerLimits {
    fn default() -> Self {
        let cap = open_file_limit().map_or(MAX_CONNECTIONS, |n| (n / 4) as usize);
        ServerLimits {
            max_connections: MAX_CONNECTIONS.min(cap).max(4),
            header_timeout: Duration::from_secs(10),
            busy_header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerLimits {
    /// The limits of two listeners sharing this budget (`listen` and `adminListen`):
    /// a quarter of the connections for the second, the rest for the first, at least 4
    /// each; the timeouts are the same for both.
    pub fn split(self) -> (ServerLimits, ServerLimits) {
        let admin = (self.max_connections / 4).max(4);
        let first = ServerLimits {
            max_connections: self.max_connections.saturating_sub(admin).max(4),
            ..self.clone()
        };
        (
            first,
            ServerLimits {
                max_connections: admin,
                ..self
            },
        )
    }
}

/// The soft `Max open files` limit of this process (Linux `/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `app` on `listener` within `limits` until `stop` turns true, then lets the
/// connections in flight finish.
pub async fn serve_limited(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    limits: ServerLimits,
) -> anyhow::Result<()> {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_timeout,
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let builder = |header_timeout| {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        b
    };
    let (calm, busy) = (
        builder(limits.header_timeout),
        builder(limits.busy_header_timeout),
    );
    let mut accept_errors = 0u32;
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.context("connection limit")?,
            _ = &mut stopped => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => { accept_errors = 0; s }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; the limit above
                    // keeps this rare.
                    accept_errors = accept_errors.saturating_add(1);
                    if accept_errors == 1 {
                        tracing::warn!(error = %e, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let http = if permits.available_permits() < limits.max_connections / 4 {
            &busy
        } else {
            &calm
        };
        let svc = TowerToHyperService::new(app.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_listeners_share_one_connection_budget() {
        let limits = ServerLimits {
            max_connections: 256,
            ..ServerLimits::default()
        };
        let (hooks, admin) = limits.clone().split();
        assert_eq!((hooks.max_connections, admin.max_connections), (192, 64));
        assert_eq!(hooks.header_timeout, limits.header_timeout);
        assert_eq!(admin.body_timeout, limits.body_timeout);
        // The floor of 4 each holds for a tiny budget.
        let (a, b) = ServerLimits {
            max_connections: 4,
            ..limits
        }
        .split();
        assert_eq!((a.max_connections, b.max_connections), (4, 4));
    }
}
