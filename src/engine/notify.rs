//! Notifications after each commit and on persistent failures: a generic JSON webhook and
//! Slack's incoming-webhook format.
//!
//! Sending is fire-and-forget on the tokio runtime with a timeout: a slow or dead
//! receiver never holds up the writer. Webhook URLs are secrets (Slack's are bearer
//! capabilities), so they are never logged.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::secret::LiveSecret;
use imagebump_core::plan::PlannedChange;

/// Something worth telling people about.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A commit was pushed.
    Commit {
        /// Commit id.
        commit: String,
        /// Branch pushed to.
        branch: String,
        /// What changed.
        changes: Vec<PlannedChange>,
    },
    /// An image is held by a manual change (sent once per change).
    Held {
        /// The image id, `application/name`.
        image: String,
        /// Its `whyNotUpdated`.
        reason: String,
    },
    /// Writes keep failing.
    Failure {
        /// The last error.
        error: String,
    },
    /// A policy reload had problems; the last good policies stay in effect.
    PolicyReloadFailed {
        /// The generation kept.
        kept: u64,
        /// Every problem, `file:line:col: message`.
        problems: Vec<String>,
    },
    /// A config file reload had problems; the last good config stays in effect.
    ConfigReloadFailed {
        /// The config generation kept.
        kept: u64,
        /// Every problem, one line each.
        problems: Vec<String>,
    },
}

/// Payload shape of one notification target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"event": "commit", "commit", "branch", "changes": [...]}` / `{"event": "failure", "error"}`
    /// / `{"event": "held", "image", "reason"}`.
    Generic,
    /// `{"text": "..."}` for Slack incoming webhooks.
    Slack,
}

/// Sends notices to every configured target.
#[derive(Clone)]
pub struct Notifier {
    /// URLs follow their secret files: a rotated URL is used from the next send on.
    targets: Vec<(Arc<LiveSecret>, Format)>,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl Notifier {
    /// A notifier for these (URL, format) targets, sending on `runtime`.
    pub fn new(
        targets: Vec<(Arc<LiveSecret>, Format)>,
        runtime: tokio::runtime::Handle,
    ) -> Notifier {
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

    /// Sends `notice` to every target in the background.
    pub fn send(&self, notice: Notice) {
        for (url, format) in &self.targets {
            let body = render(&notice, *format);
            let req = self
                .client
                .post(url.current().expose())
                .header("content-type", "application/json")
                .body(body.to_string());
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

/// The JSON body of a notice in a format.
pub fn render(notice: &Notice, format: Format) -> serde_json::Value {
    match (notice, format) {
        (
            Notice::Commit {
                commit,
                branch,
                changes,
            },
            Format::Generic,
        ) => json!({
            "event": "commit",
            "commit": commit,
            "branch": branch,
            "changes": changes.iter().map(|c| json!({
                "application": c.owner.as_ref().map(|o| o.application.clone()),
                "image": c.owner.as_ref().map(|o| o.name.clone()),
                "file": c.file.to_string_lossy(),
                "line": c.line,
                "old": c.old,
                "new": c.new,
            })).collect::<Vec<_>>(),
        }),
        (
            Notice::Commit {
                commit,
                branch,
                changes,
            },
            Format::Slack,
        ) => {
            let mut text = format!(
                "imagebump pushed `{}` to `{branch}`:",
                &commit[..commit.len().min(12)]
            );
            for c in changes {
                text.push_str(&format!(
                    "\n• {}: `{}` → `{}` ({})",
                    c.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
                    c.old,
                    c.new,
                    c.file.display()
                ));
            }
            json!({ "text": text })
        }
        (Notice::Failure { error }, Format::Generic) => {
            json!({ "event": "failure", "error": error })
        }
        (Notice::Held { image, reason }, Format::Generic) => {
            json!({ "event": "held", "image": image, "reason": reason })
        }
        (Notice::Held { image, reason }, Format::Slack) => {
            json!({ "text": format!(":pause_button: imagebump: {image} {reason}") })
        }
        (Notice::Failure { error }, Format::Slack) => {
            json!({ "text": format!(":warning: imagebump cannot write to git: {error}") })
        }
        (Notice::PolicyReloadFailed { kept, problems }, Format::Generic) => {
            json!({ "event": "policy_reload_failed", "generation": kept, "problems": problems })
        }
        (Notice::PolicyReloadFailed { kept, problems }, Format::Slack) => json!({
            "text": format!(
                ":warning: imagebump kept policies generation {kept}: the changed policies have problems:\n{}",
                problems.join("\n")
            )
        }),
        (Notice::ConfigReloadFailed { kept, problems }, Format::Generic) => {
            json!({ "event": "config_reload_failed", "generation": kept, "problems": problems })
        }
        (Notice::ConfigReloadFailed { kept, problems }, Format::Slack) => json!({
            "text": format!(
                ":warning: imagebump kept config generation {kept}: the changed config file has problems:\n{}",
                problems.join("\n")
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use imagebump_testbed::standin::{Resp, StandInServer};

    /// A notification URL given as `{file: …}` is read again before each send: after a
    /// rotation the next notice goes to the new URL (a stand-in for a chat webhook).
    #[test]
    fn a_rejected_policy_reload_names_the_kept_generation_and_every_problem() {
        let n = Notice::PolicyReloadFailed {
            kept: 3,
            problems: vec!["a.yaml:4:5: bad".into(), "b.yaml: clash".into()],
        };
        let g = render(&n, Format::Generic);
        assert_eq!(g["event"], "policy_reload_failed");
        assert_eq!(g["generation"], 3);
        assert_eq!(g["problems"][1], "b.yaml: clash");
        let text = render(&n, Format::Slack)["text"].to_string();
        assert!(
            text.contains("generation 3") && text.contains("a.yaml:4:5: bad"),
            "{text}"
        );
    }

    #[test]
    fn a_rejected_config_reload_names_the_kept_generation_and_every_problem() {
        let n = Notice::ConfigReloadFailed {
            kept: 2,
            problems: vec!["imagebump.yaml:3:5: unknown provider".into()],
        };
        let g = render(&n, Format::Generic);
        assert_eq!(g["event"], "config_reload_failed");
        assert_eq!(g["generation"], 2);
        assert_eq!(g["problems"][0], "imagebump.yaml:3:5: unknown provider");
        let text = render(&n, Format::Slack)["text"].to_string();
        assert!(
            text.contains("config generation 2") && text.contains("unknown provider"),
            "{text}"
        );
    }

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
