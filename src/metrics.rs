//! Prometheus metrics the service exposes at `/metrics`.
//!
//! One `Metrics` value is shared by the server, the engine and the writer; it only counts,
//! so recording never blocks or fails. Registry request counts are kept by the registry
//! client itself and are read at scrape time (see `server.rs`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of `imagebump_webhooks_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// Receiver name (unknown receivers are counted as `unknown`).
    pub receiver: String,
    /// `accepted`, `unauthorized`, `malformed`, `too_large`, `not_found`.
    pub result: String,
}

/// Labels carrying one `result` value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error` (or a more specific word).
    pub result: String,
}

/// All counters and histograms of the service.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Webhook deliveries by receiver and result.
    pub webhooks: Family<WebhookLabels, Counter>,
    /// Repository scans by result.
    pub scans: Family<ResultLabels, Counter>,
    /// Commits pushed, by GitOps repository.
    pub commits: Family<GitLabels, Counter>,
    /// Push attempts beyond the first (rejected pushes that were rebuilt and retried),
    /// by GitOps repository.
    pub push_retries: Family<GitLabels, Counter>,
    /// Wishes older than git (a lower tag than git holds: another replica wrote a newer
    /// one meanwhile) held back for a fresh scan, by GitOps repository.
    pub stale_wishes: Family<GitLabels, Counter>,
    /// Writes that failed for good, by GitOps repository.
    pub push_failures: Family<GitLabels, Counter>,
    /// Unix time of each GitOps repository's last pushed commit.
    pub last_push: Family<GitLabels, Gauge>,
    /// Seconds from the webhook that caused a change to the pushed commit carrying it.
    pub webhook_to_commit: Histogram,
    /// Seconds a commit+push takes.
    pub write_seconds: Histogram,
    /// Events waiting to be scanned.
    pub queued_events: Gauge,
    /// Panics caught while scanning or writing, by stage.
    pub panics: Family<StageLabels, Counter>,
    /// Unix time of each repository's last successful listing (bounded by the number
    /// of watched repositories).
    pub last_success: Family<RepositoryLabels, Gauge>,
    /// Policy reloads by result (`ok`, `invalid`).
    pub policy_reloads: Family<ResultLabels, Counter>,
    /// Config file reloads by result (`ok`, `invalid`).
    pub config_reloads: Family<ResultLabels, Counter>,
    /// Deploy trigger requests by trigger and result (`delivered`, `failed`, `retried`).
    pub deploy_triggers: Family<TriggerLabels, Counter>,
    /// Seconds from a pushed commit to its deploy trigger delivered.
    pub deploy_trigger_seconds: Histogram,
}

/// Labels of `imagebump_deploy_triggers_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    /// The trigger's name (`deployTriggers[].name`, default `KIND-INDEX`).
    pub trigger: String,
    /// `delivered`, `failed` (after every retry) or `retried` (one per retry).
    pub result: String,
}

/// The `repository` label of [`Metrics::last_success`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepositoryLabels {
    /// The normalised repository name.
    pub repository: String,
}

/// Seconds since the Unix epoch, for timestamp gauges.
pub fn unix_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(now).unwrap_or(i64::MAX)
}

/// The `git` label: a GitOps repository's name (`default` for a single unnamed one).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitLabels {
    /// The repository's name from `git:`.
    pub git: String,
}

impl GitLabels {
    /// The label set of repository `name`.
    pub fn of(name: &str) -> GitLabels {
        GitLabels {
            git: name.to_string(),
        }
    }
}

/// The `stage` label of [`Metrics::panics`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// `scan` or `push`.
    pub stage: String,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("imagebump");
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhooks",
            "Webhook deliveries by receiver and result",
            webhooks.clone(),
        );
        let scans = Family::<ResultLabels, Counter>::default();
        registry.register("scans", "Repository scans by result", scans.clone());
        let commits = Family::<GitLabels, Counter>::default();
        registry.register(
            "commits",
            "Commits pushed, by GitOps repository",
            commits.clone(),
        );
        let push_retries = Family::<GitLabels, Counter>::default();
        registry.register(
            "push_retries",
            "Pushes rejected as non-fast-forward and retried, by GitOps repository",
            push_retries.clone(),
        );
        let stale_wishes = Family::<GitLabels, Counter>::default();
        registry.register(
            "stale_wishes",
            "Wishes for a lower tag than git holds, held back until a fresh scan confirms them, by GitOps repository",
            stale_wishes.clone(),
        );
        let push_failures = Family::<GitLabels, Counter>::default();
        registry.register(
            "push_failures",
            "Writes that failed after all retries, by GitOps repository",
            push_failures.clone(),
        );
        let last_push = Family::<GitLabels, Gauge>::default();
        registry.register(
            "git_last_push_timestamp_seconds",
            "Unix time of the last commit pushed to each GitOps repository",
            last_push.clone(),
        );
        // 5 ms .. ~80 s: the interesting part is well under a second.
        let webhook_to_commit = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 15),
        );
        registry.register(
            "webhook_to_commit_seconds",
            "Latency from a webhook delivery to the pushed commit it caused",
            webhook_to_commit.clone(),
        );
        let write_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 15),
        );
        registry.register(
            "write_seconds",
            "Duration of one fetch+edit+commit+push",
            write_seconds.clone(),
        );
        let queued_events = Gauge::default();
        registry.register(
            "queued_events",
            "Repository scans waiting to run",
            queued_events.clone(),
        );
        let panics = Family::<StageLabels, Counter>::default();
        registry.register(
            "panics",
            "Panics caught while scanning a repository or writing a batch, by stage",
            panics.clone(),
        );
        let last_success = Family::<RepositoryLabels, Gauge>::default();
        registry.register(
            "repository_last_success_timestamp_seconds",
            "Unix time of the last successful tag listing of each watched repository",
            last_success.clone(),
        );
        let policy_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "policy_reloads",
            "Policy reloads by result: ok (a new set is live) or invalid (the last good set kept)",
            policy_reloads.clone(),
        );
        let config_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config file reloads by result: ok (applied, see restartNeeded) or invalid (the last good config kept)",
            config_reloads.clone(),
        );
        let deploy_triggers = Family::<TriggerLabels, Counter>::default();
        registry.register(
            "deploy_triggers",
            "Deploy trigger requests by trigger and result: delivered, failed (after every retry), retried (one per retry)",
            deploy_triggers.clone(),
        );
        // 5 ms .. ~80 s, like the commit latency: a delivery retried for seconds shows.
        let deploy_trigger_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 15),
        );
        registry.register(
            "deploy_trigger_seconds",
            "Latency from a pushed commit to its deploy trigger delivered",
            deploy_trigger_seconds.clone(),
        );
        Metrics {
            deploy_triggers,
            deploy_trigger_seconds,
            config_reloads,
            policy_reloads,
            last_success,
            panics,
            registry,
            webhooks,
            scans,
            commits,
            push_retries,
            stale_wishes,
            push_failures,
            last_push,
            webhook_to_commit,
            write_seconds,
            queued_events,
        }
    }

    /// Counts one caught panic.
    pub fn panic(&self, stage: &str) {
        self.panics
            .get_or_create(&StageLabels {
                stage: stage.to_string(),
            })
            .inc();
    }

    /// Counts one webhook delivery.
    pub fn webhook(&self, receiver: &str, result: &str) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                receiver: receiver.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Records a successful listing of `repository` now.
    pub fn scan_succeeded(&self, repository: &str) {
        self.last_success
            .get_or_create(&RepositoryLabels {
                repository: repository.to_string(),
            })
            .set(unix_now());
    }

    /// Counts one scan.
    pub fn scan(&self, result: &str) {
        self.scans
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// Prometheus text exposition of everything registered here, without the `# EOF` line
    /// so the caller can append more families.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counts() {
        let m = Metrics::new();
        m.webhook("ghcr", "accepted");
        m.webhook("ghcr", "accepted");
        m.commits.get_or_create(&GitLabels::of("fleet")).inc();
        m.webhook_to_commit.observe(0.2);
        let text = m.encode();
        assert!(
            text.contains(r#"imagebump_webhooks_total{receiver="ghcr",result="accepted"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"imagebump_commits_total{git="fleet"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("imagebump_webhook_to_commit_seconds_count 1"),
            "{text}"
        );
    }
}
