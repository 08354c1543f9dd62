//! Sending notifications: each `notifications:` entry's filter (`events:`,
//! `applications:`) picks the notices it gets; the core's `notice` module builds the body
//! in the entry's format (generic JSON or its `body` template, Slack, Teams, Discord,
//! Google Chat).
//!
//! Sending is fire-and-forget on the tokio runtime with a timeout: a slow or dead
//! receiver never holds up the writer. Webhook URLs are secrets (Slack's are bearer
//! capabilities), so they are never logged.

use std::sync::Arc;
use std::time::Duration;

use crate::secret::LiveSecret;

pub use imagebump_core::notice::{Filter, Format, Notice};

/// One `notifications:` entry, ready to send.
#[derive(Clone)]
pub struct Target {
    /// The URL, following its secret file: a rotated URL is used from the next send on.
    pub url: Arc<LiveSecret>,
    /// Its payload shape.
    pub format: Format,
    /// `body:` (generic only): a template checked at config load.
    pub body: Option<String>,
    /// `events:` and `applications:`.
    pub filter: Filter,
}

/// Sends notices to every configured target.
#[derive(Clone)]
pub struct Notifier {
    targets: Vec<Target>,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl Notifier {
    /// A notifier for these targets, sending on `runtime`.
    pub fn new(targets: Vec<Target>, runtime: tokio::runtime::Handle) -> Notifier {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Notifier {
            targets,
            client,
            runtime,
        }
    }

    /// Sends `notice` to every target whose filter takes it, in the background.
    pub fn send(&self, notice: Notice) {
        for t in &self.targets {
            let Some(notice) = t.filter.apply(&notice) else {
                continue;
            };
            let body = match &t.body {
                Some(template) => match imagebump_core::notice::render_body(template, &notice) {
                    Ok(b) => b,
                    Err(e) => {
                        // Checked at load on samples of every event; a real notice that
                        // still fails is logged, never sent half-rendered.
                        tracing::warn!(event = notice.event().as_str(), error = %e, "notification body does not render");
                        continue;
                    }
                },
                None => imagebump_core::notice::render(&notice, t.format).to_string(),
            };
            let req = self
                .client
                .post(t.url.current().expose())
                .header("content-type", "application/json")
                .body(body);
            self.runtime.spawn(async move {
                match req.send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => tracing::warn!(status = r.status().as_u16(), "notification refused"),
                    // reqwest errors can quote the URL; keep only the kind.
                    Err(e) => tracing::warn!(
                        timeout = e.is_timeout(),
                        connect = e.is_connect(),
                        "notification failed"
                    ),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use imagebump_testbed::standin::{Resp, StandInServer};

    /// A notification URL given as `{file: …}` is read again before each send: after a
    /// rotation the next notice goes to the new URL (a stand-in for a chat webhook).
    #[tokio::test]
    async fn a_rotated_notification_url_is_used_for_the_next_send() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let srv = StandInServer::start(move |req| {
            let _ = tx.send(req.path().to_string());
            Resp::status(200)
        });
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, format!("http://{}/old-hook\n", srv.host())).unwrap();
        let text = format!("notifications:\n  - url: {{file: {}}}\n", file.display());
        let cfg = Config::parse(&dir.path().join("imagebump.yaml"), &text).unwrap();
        let targets = crate::engine::setup::notify_targets(&cfg).unwrap();
        let n = Notifier::new(targets, tokio::runtime::Handle::current());
        let failure = || Notice::Failure {
            error: "boom".into(),
            images: vec![],
        };
        let wait = Duration::from_secs(10);

        n.send(failure());
        let got = tokio::time::timeout(wait, rx.recv()).await.unwrap();
        assert_eq!(got.as_deref(), Some("/old-hook"));
        let tmp = dir.path().join("url.new");
        std::fs::write(&tmp, format!("http://{}/new-hook\n", srv.host())).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        n.send(failure());
        let got = tokio::time::timeout(wait, rx.recv()).await.unwrap();
        assert_eq!(got.as_deref(), Some("/new-hook"));
    }
}
