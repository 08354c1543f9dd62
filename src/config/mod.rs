//! The service config file (`imagebump.yaml`): model, loading, validation.
//!
//! Every section is optional, so each command reads only what it needs (`imagebump test`
//! needs only `registries`). Secrets are references (`{env: NAME}` / `{file: /path}`);
//! nothing here resolves them, so loading a config never fails for a missing secret and
//! never holds one in memory longer than the caller wants.
//!
//! Long: the whole config schema and its validation, kept in one place.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod git;
mod triggers;

use crate::policy_source::PolicySource;
use crate::secret::SecretRef;
pub use git::*;
use imagebump_core::policy::{DurationStr, Interval, OnManualChange, PolicySelector, Problem};
pub use triggers::*;

/// The whole service config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: Option<Listen>,
    /// A second address for the status page, `/metrics` and `/api/v1/status`; when set,
    /// `listen` serves only webhooks and health (the public port stays small).
    pub admin_listen: Option<Listen>,
    /// Working copies and other state; default `./.imagebump`.
    pub state_dir: Option<PathBuf>,
    /// Directory of policy files (relative to the config file), or `{repoPath: DIR}`.
    pub policies: Option<PolicySource>,
    /// The GitOps repositories: one `git:` map (one unnamed repository) or a list of
    /// named ones.
    #[serde(default)]
    pub git: GitRepos,
    /// Per-registry settings.
    #[serde(default)]
    pub registries: Vec<RegistrySection>,
    /// A Docker `config.json` / `.dockerconfigjson` with registry credentials.
    pub docker_config: Option<SecretRef>,
    /// Polling.
    pub poll: Option<PollSection>,
    /// Webhook receivers.
    #[serde(default)]
    pub receivers: Vec<ReceiverSection>,
    /// Wait this long after the first change before committing, to batch more (default:
    /// none, at most [`MAX_BATCH_WINDOW`]).
    pub batch_window: Option<DurationStr>,
    /// Where to announce commits and persistent failures.
    #[serde(default)]
    pub notifications: Vec<NotificationSection>,
    /// `onManualChange:` for images whose policy does not set it (default `skipVersion`).
    pub on_manual_change: Option<OnManualChange>,
    /// `policySelector:` — the applications this replica watches, scans and writes
    /// (sharding a fleet between replicas); absent: all of them.
    pub policy_selector: Option<PolicySelector>,
    /// Whom to tell after each pushed commit (Argo CD, Flux, any URL).
    #[serde(default)]
    pub deploy_triggers: Vec<DeployTriggerSection>,
}

/// Where the HTTP server listens without `listen:`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8080);

/// `listen: host:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub SocketAddr);

impl TryFrom<String> for Listen {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
            .map(Listen)
            .map_err(|_| format!("listen {s:?} must be an address like 0.0.0.0:8080"))
    }
}

/// `registries:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistrySection {
    /// Host with optional port, as in image references (`ghcr.io`, `localhost:5000`).
    pub host: String,
    /// Credentials for this host.
    pub credentials: Option<Credentials>,
    /// Sustained requests per second allowed to this registry (default 20).
    pub rate_limit: Option<f64>,
    /// Requests that may go at once before `rateLimit` applies (default 300, or
    /// `rateLimit` when only that is set: a rate chosen for a strict registry stays
    /// strict). At most 100 000.
    pub burst: Option<u32>,
    /// Requests in flight to this registry at most (default 16, at most 1024).
    pub max_concurrency: Option<u32>,
    /// Plain HTTP (and no TLS verification): local registries only.
    #[serde(default)]
    pub insecure: bool,
    /// Extra CA bundle (PEM) to trust for this registry.
    pub ca_file: Option<PathBuf>,
    /// HTTP(S) proxy for this registry (`http://proxy:3128`); without it
    /// `HTTPS_PROXY`/`NO_PROXY` apply.
    pub proxy: Option<String>,
    /// Client certificate (PEM) for mutual TLS; needs `clientKey`.
    pub client_cert: Option<SecretRef>,
    /// The client certificate's PKCS#8 private key (PEM).
    pub client_key: Option<SecretRef>,
    /// Credentials from the cloud identity of the pod (`gcp`), fetched and renewed
    /// before they expire (`gcp`, `azure`, `aws`); wins over `credentials` and `dockerConfig`.
    pub provider: Option<CloudProvider>,
}

/// `registries[].provider`: whose identity gives the registry's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudProvider {
    /// Google Artifact Registry / GCR: metadata server, service account key or
    /// workload identity federation (`GOOGLE_APPLICATION_CREDENTIALS`).
    Gcp,
    /// Azure Container Registry: workload identity or managed identity, exchanged
    /// at the registry's `/oauth2/exchange`.
    Azure,
    /// Amazon ECR: the AWS SDK's credential chain → `GetAuthorizationToken`.
    Aws,
}

/// `poll:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSection {
    /// Default interval between scans of one repository (default 5m, at least 1s).
    pub interval: Option<Interval>,
}

/// `receivers:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSection {
    /// Name; the receiver answers at `/hooks/<name>`.
    pub name: String,
    /// Which registry's payload format and signature scheme.
    pub provider: imagebump_webhook::Provider,
    /// Shared secret.
    pub secret: SecretRef,
    /// Registry host to assume when a payload names none.
    pub registry: Option<String>,
    /// Header carrying the secret, for providers that send a static header.
    pub header: Option<String>,
    /// `generic` / `generic-hmac`: the repositories a delivery naming no image rescans
    /// (default: every watched repository).
    #[serde(default)]
    pub repositories: Vec<RepositoryName>,
    /// `jfrog`: Artifactory's Docker access method (default `repositoryPath`).
    #[serde(rename = "jfrogAccess")]
    pub jfrog_access: Option<JfrogAccessKey>,
    /// `jfrog` with `jfrogAccess: port`: the port of each Docker repository key.
    #[serde(rename = "jfrogPorts", default)]
    pub jfrog_ports: std::collections::BTreeMap<String, u16>,
}

/// An image repository name (`ghcr.io/org/app`, `nginx`), normalised
/// (`docker.io/library/nginx`); no tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryName(pub String);

impl TryFrom<String> for RepositoryName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let r = imagebump_core::image::ImageRef::parse(s.trim()).map_err(|e| e.to_string())?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(format!(
                "repository {s:?} must be a name without a tag or digest"
            ));
        }
        Ok(RepositoryName(r.name()))
    }
}

/// `jfrogAccess:` — how Artifactory addresses its Docker repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JfrogAccessKey {
    /// `repositoryPath`: `<host>/<repo_key>/<image>`.
    RepositoryPath,
    /// `subdomain`: `<repo_key>.<host>/<image>`.
    Subdomain,
    /// `port`: `<host>:<port of repo_key>/<image>`, ports from `jfrogPorts`.
    Port,
}

impl TryFrom<String> for JfrogAccessKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "repositoryPath" => Ok(JfrogAccessKey::RepositoryPath),
            "subdomain" => Ok(JfrogAccessKey::Subdomain),
            "port" => Ok(JfrogAccessKey::Port),
            _ => Err(format!(
                "jfrogAccess {s:?} must be repositoryPath, subdomain or port"
            )),
        }
    }
}

impl ReceiverSection {
    /// The webhook crate's access method for this receiver.
    pub fn jfrog_access(&self) -> imagebump_webhook::JfrogAccess {
        use imagebump_webhook::JfrogAccess;
        match self.jfrog_access {
            None | Some(JfrogAccessKey::RepositoryPath) => JfrogAccess::RepositoryPath,
            Some(JfrogAccessKey::Subdomain) => JfrogAccess::Subdomain,
            Some(JfrogAccessKey::Port) => JfrogAccess::Port(self.jfrog_ports.clone()),
        }
    }
}

/// `notifications:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSection {
    /// Webhook URL; may be a secret reference's value (Slack URLs are secrets).
    pub url: SecretRef,
    /// `generic` (JSON), `slack`, `teams`, `discord` or `googlechat`.
    #[serde(default)]
    pub format: NotifyFormat,
    /// Which events (`commit`, `pull_request`, `held`, `failure`,
    /// `config_reload_failed`, `policy_reload_failed`); default all.
    #[serde(default)]
    pub events: Vec<NotifyEvent>,
    /// Which applications (names or globs with `*`, `?`); default all. Events of no
    /// application (reload failures) always pass.
    #[serde(default)]
    pub applications: Vec<String>,
    /// `generic` only: a minijinja template of the body (variables in README).
    #[serde(default, deserialize_with = "notify_body")]
    pub body: Option<String>,
}

/// `format:` of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyFormat(pub imagebump_core::notice::Format);

impl Default for NotifyFormat {
    fn default() -> Self {
        NotifyFormat(imagebump_core::notice::Format::Generic)
    }
}

impl TryFrom<String> for NotifyFormat {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        imagebump_core::notice::Format::parse(&s).map(NotifyFormat)
    }
}

/// One of a notification's `events:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyEvent(pub imagebump_core::notice::Event);

impl TryFrom<String> for NotifyEvent {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        imagebump_core::notice::Event::parse(&s).map(NotifyEvent)
    }
}

/// A generic notification `body` that renders a sample of every event.
struct NotifyBody(String);

impl TryFrom<String> for NotifyBody {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        imagebump_core::notice::check_body(&s)?;
        Ok(NotifyBody(s))
    }
}

fn notify_body<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<NotifyBody>::deserialize(d).map(|t| t.map(|t| t.0))
}

/// What each section's type expects, in the words of `imagebump.yaml`, for messages
/// that would otherwise name the Rust type (`expected struct GitSection`).
const CONFIG_TYPES: &[(&str, &str)] = &[
    (
        "Config",
        "a mapping of sections such as {listen: 0.0.0.0:8080, policies: ./policies}",
    ),
    (
        "GitSection",
        "a mapping such as {url: https://git.example.com/fleet.git, branch: main}",
    ),
    (
        "Author",
        "a mapping such as {name: imagebump, email: imagebump@example.com}",
    ),
    (
        "Credentials",
        "a mapping such as {username: {env: GIT_USER}, password: {file: /run/secrets/token}}",
    ),
    (
        "RegistrySection",
        "a registry, a mapping such as {host: ghcr.io, insecure: false}",
    ),
    ("PollSection", "a mapping such as {interval: 5m}"),
    (
        "ReceiverSection",
        "a receiver, a mapping such as {name: ghcr, provider: github, secret: {env: HOOK_SECRET}}",
    ),
    (
        "NotificationSection",
        "a notification, a mapping such as {url: {env: SLACK_URL}, format: slack}",
    ),
    (
        "DeployTriggerSection",
        "a deploy trigger, a mapping such as {argocd: {url: https://argocd.example.com/api/webhook, secret: {env: ARGOCD_WEBHOOK_SECRET}}}",
    ),
    (
        "ArgoCdTrigger",
        "a mapping such as {url: https://argocd.example.com/api/webhook, secret: {env: ARGOCD_WEBHOOK_SECRET}}",
    ),
    (
        "FluxTrigger",
        "a mapping such as {url: https://flux-webhook.example.com/hook/0123abcd, secret: {env: FLUX_HMAC}}",
    ),
    (
        "WebhookTrigger",
        "a mapping such as {url: https://hooks.example.com/deploy, body: '{\"repo\": \"{{ repository }}\"}'}",
    ),
    (
        "RawSecretRef",
        "a secret reference, {env: NAME} or {file: /path}",
    ),
    (
        "SecretRef",
        "a secret reference, {env: NAME} or {file: /path}",
    ),
];

/// After a failed parse: the problems of each section (and each list item) on its own,
/// so one run shows them all; serde alone stops at the first.
fn every_problem(path: &Path, text: &str, first: &serde_norway::Error) -> Vec<Problem> {
    let first = Problem::from_yaml_with(path, first, CONFIG_TYPES);
    let Some(pieces) = imagebump_core::policy::collect::top_level_pieces(text) else {
        return vec![first];
    };
    let found = pieces
        .iter()
        .filter_map(|p| {
            let e = serde_norway::from_str::<Config>(&p.text).err()?;
            Some(p.problem(path, &e, CONFIG_TYPES))
        })
        .collect();
    imagebump_core::policy::collect::merge(first, found)
}

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = ".imagebump";
/// The default poll interval.
pub const DEFAULT_POLL: Duration = Duration::from_secs(300);
/// The longest `batchWindow`: commits held longer than this look like a stuck service.
pub const MAX_BATCH_WINDOW: Duration = Duration::from_secs(3600);

impl Config {
    /// Parses a config's text; `path` is used in messages and to resolve relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<Problem>> {
        let mut cfg: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_norway::from_str(text).map_err(|e| every_problem(path, text, &e))?
        };
        let mut problems = cfg.check(path);
        // Here, not in `check`: the text gives the line.
        if let Some(p) = cfg
            .policy_selector
            .as_ref()
            .and_then(PolicySelector::problem)
        {
            let mut p = Problem::new(path, p);
            p.line = imagebump_core::edit::locate::line_of(text, "policySelector.applications");
            problems.push(p);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        // Relative paths in a config are relative to the config file, not the cwd.
        let base = path.parent().unwrap_or(Path::new("."));
        let local = cfg.policies.as_mut().and_then(PolicySource::local_mut);
        for p in [local, cfg.state_dir.as_mut()].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(cfg)
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![Problem::new(path, format!("cannot read: {e}"))])?;
        Config::parse(path, &text)
    }

    /// Cross-field checks serde cannot express.
    fn check(&self, path: &Path) -> Vec<Problem> {
        let mut out = Vec::new();
        let listen = self.listen.map_or(DEFAULT_LISTEN, |l| l.0);
        // Port 0 asks the kernel for a free port each: never the same one.
        if self.admin_listen.is_some_and(|a| {
            a.0.port() != 0
                && a.0.port() == listen.port()
                && (a.0.ip() == listen.ip()
                    || a.0.ip().is_unspecified()
                    || listen.ip().is_unspecified())
        }) {
            out.push(Problem::new(
                path,
                format!(
                    "adminListen {} overlaps listen {listen}: give the admin listener its own port (e.g. 0.0.0.0:9090)",
                    self.admin_listen.map_or(listen, |a| a.0)
                ),
            ));
        }
        let mut hosts = std::collections::HashSet::new();
        for r in &self.registries {
            if r.host.is_empty() || r.host.contains('/') {
                out.push(Problem::new(
                    path,
                    format!(
                        "registries: host {:?} must be host[:port] without a scheme or path",
                        r.host
                    ),
                ));
            }
            if !hosts.insert(r.host.as_str()) {
                out.push(Problem::new(
                    path,
                    format!("registries: host {:?} is listed twice", r.host),
                ));
            }
            if let Some(rl) = r.rate_limit {
                if !(rl.is_finite() && rl > 0.0) {
                    out.push(Problem::new(
                        path,
                        format!(
                            "registries: rateLimit for {} must be a positive number",
                            r.host
                        ),
                    ));
                }
            }
            if r.burst.is_some_and(|b| !(1..=100_000).contains(&b)) {
                out.push(Problem::new(
                    path,
                    format!("registries: burst for {} must be 1 to 100000", r.host),
                ));
            }
            if r.max_concurrency.is_some_and(|c| !(1..=1024).contains(&c)) {
                out.push(Problem::new(
                    path,
                    format!(
                        "registries: maxConcurrency for {} must be 1 to 1024",
                        r.host
                    ),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.receivers {
            let ok = !r.name.is_empty()
                && r.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                out.push(Problem::new(
                    path,
                    format!(
                        "receivers: name {:?} may hold only letters, digits, - and _",
                        r.name
                    ),
                ));
            }
            if !names.insert(r.name.as_str()) {
                out.push(Problem::new(
                    path,
                    format!("receivers: name {:?} is used twice", r.name),
                ));
            }
            if r.jfrog_access.is_some() && r.provider != imagebump_webhook::Provider::Jfrog {
                out.push(Problem::new(
                    path,
                    format!(
                        "receivers: {}: jfrogAccess only applies to jfrog receivers",
                        r.name
                    ),
                ));
            }
            if !r.jfrog_ports.is_empty() && r.jfrog_access != Some(JfrogAccessKey::Port) {
                out.push(Problem::new(
                    path,
                    format!(
                        "receivers: {}: jfrogPorts needs `jfrogAccess: port`",
                        r.name
                    ),
                ));
            }
        }
        for (i, n) in self.notifications.iter().enumerate() {
            if n.body.is_some() && n.format.0 != imagebump_core::notice::Format::Generic {
                out.push(Problem::new(
                    path,
                    format!("notifications[{i}]: body applies only to format: generic"),
                ));
            }
        }
        out.extend(triggers::check(
            path,
            &self.deploy_triggers,
            &self.git.names(),
        ));
        if let Some(w) = self.batch_window {
            if w.0 > MAX_BATCH_WINDOW {
                out.push(Problem::new(path, "batchWindow must be at most 1h"));
            }
        }
        if let Some(PolicySource::Repo { git: Some(g), .. }) = &self.policies {
            if self.git.get(g).is_none() {
                out.push(Problem::new(
                    path,
                    format!(
                        "policies: git {g:?} is not a repository of git: (it has: {})",
                        self.git.names().join(", ")
                    ),
                ));
            }
        }
        let mut git_names = std::collections::HashSet::new();
        let mut copies = std::collections::HashSet::new();
        for g in &self.git.repos {
            let who = self.git.label(g);
            if self.git.listed && g.name.is_none() {
                out.push(Problem::new(
                    path,
                    format!("git: every repository of a list needs a name ({})", g.url.0),
                ));
            } else if !git_names.insert(g.name()) {
                out.push(Problem::new(
                    path,
                    format!("git: name {:?} is used twice", g.name()),
                ));
            }
            if g.credentials.is_some() && g.ssh_key.is_some() {
                out.push(Problem::new(
                    path,
                    format!("{who}: give credentials or sshKey, not both"),
                ));
            }
            // One writer per (repository, branch): two would fight over one working copy.
            if !copies.insert((g.url.0.trim_end_matches('/'), g.branch.as_str())) {
                out.push(Problem::new(
                    path,
                    format!(
                        "{who}: {} branch {} is listed twice; list each repository and branch once",
                        g.url.0, g.branch
                    ),
                ));
            }
            if g.write.is_some() && g.push_branch.is_some() {
                out.push(Problem::new(
                    path,
                    format!(
                        "{who}: pushBranch is the old spelling of write: {{branch: …}}; give one"
                    ),
                ));
            }
        }
        out
    }

    /// The registry section for a host, if configured.
    pub fn registry(&self, host: &str) -> Option<&RegistrySection> {
        self.registries.iter().find(|r| r.host == host)
    }

    /// The state directory, defaulted.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
    }

    /// The default poll interval, defaulted.
    pub fn poll_interval(&self) -> Duration {
        self.poll
            .as_ref()
            .and_then(|p| p.interval)
            .map_or(DEFAULT_POLL, |d| d.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESIGN: &str = r#"
listen: 0.0.0.0:8080
stateDir: /var/lib/imagebump        # working copies; default ./.imagebump
policies: ./policies                 # a directory of policy files
git:
  url: https://git.example.com/platform/fleet.git   # also ssh://… and file://…
  branch: main
  pushBranch: main                   # optional: push elsewhere
  author: {name: imagebump, email: imagebump@example.com}
  credentials: {username: {env: GIT_USER}, password: {file: /run/secrets/git-token}}
  commitMessage: "chore(images): {{ summary }}"   # template; default lists each change
registries:
  - host: ghcr.io
    credentials: {username: {env: GHCR_USER}, password: {env: GHCR_TOKEN}}
    rateLimit: 20                    # requests per second
  - host: localhost:5000
    insecure: true                   # plain HTTP
dockerConfig: {file: /run/secrets/.dockerconfigjson}
poll: {interval: 5m}
receivers:
  - name: ghcr
    provider: github
    secret: {env: GHCR_WEBHOOK_SECRET}
"#;

    #[test]
    fn design_example_parses() {
        let c = Config::parse(Path::new("/etc/ib/imagebump.yaml"), DESIGN).unwrap();
        assert_eq!(c.poll_interval(), Duration::from_secs(300));
        assert!(c.registry("localhost:5000").unwrap().insecure);
        assert_eq!(c.policies.unwrap(), PathBuf::from("/etc/ib/./policies"));
        assert_eq!(c.state_dir.unwrap(), PathBuf::from("/var/lib/imagebump"));
        assert_eq!(c.git.first().unwrap().branch, "main");
    }

    /// README: relative `policies`/`stateDir` resolve from the config file's directory;
    /// left out, they are the working directory's `policies` and `.imagebump`.
    #[test]
    fn relative_paths_resolve_from_the_config_file() {
        let c = Config::parse(
            Path::new("/etc/ib/imagebump.yaml"),
            "stateDir: state
policies: pol
",
        )
        .unwrap();
        assert_eq!(c.state_dir(), PathBuf::from("/etc/ib/state"));
        assert_eq!(c.policies, Some(PathBuf::from("/etc/ib/pol").into()));
        let c = Config::parse(
            Path::new("/etc/ib/imagebump.yaml"),
            "listen: 0.0.0.0:1
",
        )
        .unwrap();
        assert_eq!(c.state_dir(), PathBuf::from(".imagebump"));
        assert_eq!(c.policies, None);
    }

    #[test]
    fn durations_are_bounded() {
        let e = Config::parse(
            Path::new("c.yaml"),
            "poll:\n  interval: 99999999999999999999h\n",
        )
        .unwrap_err();
        assert!(
            e[0].to_string().starts_with("c.yaml:2:") && e[0].to_string().contains("too long"),
            "{}",
            e[0]
        );
        let e = Config::parse(Path::new("c.yaml"), "poll: {interval: 0s}\n").unwrap_err();
        assert!(e[0].to_string().contains("at least 1s"), "{}", e[0]);
        let e =
            Config::parse(Path::new("c.yaml"), "batchWindow: 99999999999999999999h\n").unwrap_err();
        assert!(e[0].to_string().contains("too long"), "{}", e[0]);
        let e = Config::parse(Path::new("c.yaml"), "batchWindow: 2h\n").unwrap_err();
        assert!(e[0].to_string().contains("at most 1h"), "{}", e[0]);
        let c = Config::parse(
            Path::new("c.yaml"),
            "batchWindow: 0s\npoll: {interval: 1s}\n",
        )
        .unwrap();
        assert_eq!(c.poll_interval(), Duration::from_secs(1));
    }

    #[test]
    fn branch_names_are_checked() {
        for b in [
            "a..b", "-x", "a b", "a/", "/a", "a//b", ".a", "a.lock", "a:b", "x@{1}", "a.",
        ] {
            let text = format!("git:\n  url: file:///r.git\n  branch: {b:?}\n");
            let e = Config::parse(Path::new("c.yaml"), &text).unwrap_err();
            assert!(
                e[0].to_string().starts_with("c.yaml:3:")
                    && e[0].to_string().contains("not a valid git branch name"),
                "{b}: {}",
                e[0]
            );
            let text = format!("git:\n  url: file:///r.git\n  pushBranch: {b:?}\n");
            assert!(Config::parse(Path::new("c.yaml"), &text).is_err(), "{b}");
        }
        let c = Config::parse(
            Path::new("c.yaml"),
            "git:\n  url: file:///r.git\n  branch: release/1.x\n  pushBranch: imagebump-updates\n",
        )
        .unwrap();
        let g = c.git.first().unwrap();
        assert_eq!(
            (g.branch.as_str(), g.push_branch.as_deref()),
            ("release/1.x", Some("imagebump-updates"))
        );
    }

    #[test]
    fn commit_templates_are_checked_at_their_line() {
        let e = Config::parse(
            Path::new("c.yaml"),
            "git:\n  url: file:///r.git\n  commitMessage: \"[{{ aplication }}] bump\"\n",
        )
        .unwrap_err();
        assert!(
            e[0].to_string().starts_with("c.yaml:3:")
                && e[0].to_string().contains("unknown variable `aplication`"),
            "{}",
            e[0]
        );
        let c = Config::parse(
            Path::new("c.yaml"),
            "git:\n  url: file:///r.git\n  commitMessage: \"[{{ application }}] bump {{ image }} to {{ to }}\"\n",
        )
        .unwrap();
        assert!(c.git.first().unwrap().commit_message.is_some());
    }

    #[test]
    fn commit_urls_are_checked_at_their_line() {
        let e = Config::parse(
            Path::new("c.yaml"),
            "git:\n  url: file:///r.git\n  commitUrl: \"https://x/{{ sha }}\"\n",
        )
        .unwrap_err();
        assert!(
            e[0].to_string().starts_with("c.yaml:3:")
                && e[0].to_string().contains("unknown variable `sha`"),
            "{}",
            e[0]
        );
        let c = Config::parse(
            Path::new("c.yaml"),
            "git:\n  url: https://git.example.com/org/fleet.git\n  commitUrl: \"https://git.example.com/{{ repository }}/c/{{ commit }}\"\n",
        )
        .unwrap();
        let g = c.git.first().unwrap();
        assert_eq!(
            g.commit_url_template().as_deref(),
            Some("https://git.example.com/{{ repository }}/c/{{ commit }}")
        );
        let c = Config::parse(
            Path::new("c.yaml"),
            "git:\n  url: https://github.com/org/fleet.git\n",
        )
        .unwrap();
        assert!(
            c.git.first().unwrap().commit_url_template().is_some(),
            "derived for github.com"
        );
    }

    #[test]
    fn admin_listen_needs_its_own_port() {
        let e = Config::parse(
            Path::new("c.yaml"),
            "listen: 0.0.0.0:8080\nadminListen: 127.0.0.1:8080\n",
        )
        .unwrap_err();
        assert!(
            e[0].to_string()
                .contains("adminListen 127.0.0.1:8080 overlaps listen 0.0.0.0:8080"),
            "{}",
            e[0]
        );
        let e = Config::parse(Path::new("c.yaml"), "adminListen: 0.0.0.0:8080\n").unwrap_err();
        assert!(e[0].to_string().contains("overlaps"), "{}", e[0]);
        let c = Config::parse(
            Path::new("c.yaml"),
            "listen: 0.0.0.0:8080\nadminListen: 0.0.0.0:9090\n",
        )
        .unwrap();
        assert_eq!(c.admin_listen.unwrap().0.port(), 9090);
    }

    #[test]
    fn empty_config_is_fine() {
        assert!(Config::parse(Path::new("c.yaml"), "").is_ok());
    }

    #[test]
    fn problems_are_located() {
        let e = Config::parse(Path::new("c.yaml"), "listen: nowhere\n").unwrap_err();
        assert!(e[0].to_string().starts_with("c.yaml:1:"), "{}", e[0]);
        let e = Config::parse(
            Path::new("c.yaml"),
            "registries:\n  - host: a\n    rateLimt: 3\n",
        )
        .unwrap_err();
        assert!(e[0].to_string().contains("c.yaml:3:"), "{}", e[0]);
        let e =
            Config::parse(Path::new("c.yaml"), "git:\n  url: https://u:p@h/x.git\n").unwrap_err();
        assert!(
            e[0].to_string().contains("must not carry credentials"),
            "{}",
            e[0]
        );
        let e = Config::parse(
            Path::new("c.yaml"),
            "receivers:\n  - {name: a, provider: generic, secret: 'plain'}\n",
        )
        .unwrap_err();
        assert!(e[0].to_string().contains("c.yaml:2:"), "{}", e[0]);
        let e = Config::parse(
            Path::new("c.yaml"),
            "receivers:\n  - name: a\n    provider: dockerhubb\n    secret: {env: X}\n",
        )
        .unwrap_err();
        assert!(e[0].to_string().starts_with("c.yaml:3:"), "{}", e[0]);
        assert!(
            e[0].to_string().contains("unknown webhook provider"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn receiver_repositories_and_jfrog_access() {
        let c = Config::parse(
            Path::new("c.yaml"),
            "receivers:\n  - name: ci\n    provider: generic\n    secret: {env: X}\n    repositories: [nginx, ghcr.io/org/app]\n  - name: jf\n    provider: jfrog\n    secret: {env: Y}\n    registry: art.example.com\n    jfrogAccess: port\n    jfrogPorts: {docker-local: 5001}\n",
        )
        .unwrap();
        let names: Vec<_> = c.receivers[0]
            .repositories
            .iter()
            .map(|r| r.0.as_str())
            .collect();
        assert_eq!(names, ["docker.io/library/nginx", "ghcr.io/org/app"]);
        assert_eq!(
            c.receivers[1].jfrog_access(),
            imagebump_webhook::JfrogAccess::Port([("docker-local".to_string(), 5001)].into())
        );
        assert_eq!(
            c.receivers[0].jfrog_access(),
            imagebump_webhook::JfrogAccess::RepositoryPath
        );
        let e = Config::parse(
            Path::new("c.yaml"),
            "receivers:\n  - name: ci\n    provider: generic\n    secret: {env: X}\n    repositories:\n      - ghcr.io/org/app:1.0\n",
        )
        .unwrap_err();
        assert!(e[0].to_string().starts_with("c.yaml:6:"), "{}", e[0]);
        let e = Config::parse(
            Path::new("c.yaml"),
            "receivers:\n  - name: jf\n    provider: jfrog\n    secret: {env: Y}\n    jfrogAccess: subdomains\n",
        )
        .unwrap_err();
        assert!(e[0].to_string().starts_with("c.yaml:5:"), "{}", e[0]);
        assert!(
            e[0].to_string()
                .contains("repositoryPath, subdomain or port"),
            "{}",
            e[0]
        );
        let e = Config::parse(
            Path::new("c.yaml"),
            "receivers:\n  - name: jf\n    provider: jfrog\n    secret: {env: Y}\n    jfrogPorts: {a: 1}\n",
        )
        .unwrap_err();
        assert!(e[0].to_string().contains("jfrogAccess: port"), "{}", e[0]);
        let e = Config::parse(
            Path::new("c.yaml"),
            "receivers:\n  - name: h\n    provider: harbor\n    secret: {env: Y}\n    jfrogAccess: repositoryPath\n",
        )
        .unwrap_err();
        assert!(
            e[0].to_string().contains("only applies to jfrog"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn git_takes_a_list_of_named_repositories_with_write_modes() {
        let text = "git:\n  - name: fleet-prod\n    url: https://git.example.com/platform/fleet.git\n    branch: main\n    credentials: {username: {env: GIT_USER}, password: {env: GIT_TOKEN}}\n    write: push\n    signing: {format: ssh, key: {file: /run/secrets/signing_key}}\n  - name: fleet-dev\n    url: ssh://git@git.example.com/platform/fleet-dev.git\n    sshKey: {file: /run/secrets/id_ed25519}\n    write:\n      pullRequest:\n        provider: github\n        apiUrl: https://api.github.com\n        token: {env: GITHUB_TOKEN}\n        branch: imagebump/updates\n        groupBy: repository\n        labels: [dependencies]\n        autoMerge: false\n  - name: fleet-stage\n    url: file:///srv/stage.git\n    write: {branch: imagebump/stage}\n";
        let c = Config::parse(Path::new("c.yaml"), text).unwrap();
        assert!(c.git.listed);
        assert_eq!(c.git.names(), ["fleet-prod", "fleet-dev", "fleet-stage"]);
        let prod = c.git.get("fleet-prod").unwrap();
        assert_eq!(prod.write_mode(), WriteMode::Push);
        assert_eq!(prod.signing.as_ref().unwrap().format, SigningFormat::Ssh);
        let WriteMode::PullRequest(pr) = c.git.get("fleet-dev").unwrap().write_mode() else {
            panic!("pull request mode")
        };
        assert_eq!(
            (pr.provider, pr.group_by),
            (ForgeProvider::Github, GroupBy::Repository)
        );
        assert_eq!(pr.labels, ["dependencies"]);
        assert_eq!(
            c.git.get("fleet-stage").unwrap().write_mode(),
            WriteMode::Branch {
                branch: "imagebump/stage".into()
            }
        );
        // One map stays one unnamed repository.
        let one = Config::parse(Path::new("c.yaml"), "git: {url: file:///r.git}\n").unwrap();
        assert_eq!(one.git.names(), [DEFAULT_GIT_NAME]);
    }

    #[test]
    fn bad_repository_lists_and_write_modes_are_refused_with_reasons() {
        let bad = |text: &str| {
            Config::parse(Path::new("c.yaml"), text)
                .unwrap_err()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let e = bad("git:\n  - url: file:///a.git\n  - {name: b, url: file:///b.git}\n  - {name: b, url: file:///c.git}\n");
        assert!(
            e.contains("every repository of a list needs a name (file:///a.git)"),
            "{e}"
        );
        assert!(e.contains("name \"b\" is used twice"), "{e}");
        let e = bad("git:\n  - {name: a, url: file:///a.git}\n  - {name: b, url: file:///a.git}\n");
        assert!(
            e.contains("file:///a.git branch main is listed twice"),
            "{e}"
        );
        let e = bad("git:\n  url: file:///a.git\n  write: merge\n");
        assert!(
            e.contains("c.yaml:3:") && e.contains("must be push, {branch: NAME}"),
            "{e}"
        );
        let e = bad("git:\n  url: file:///a.git\n  write: {branch: x, pullRequest: {provider: github, token: {env: T}}}\n");
        assert!(
            e.contains("write takes one of branch or pullRequest"),
            "{e}"
        );
        let e = bad("git:\n  url: file:///a.git\n  pushBranch: x\n  write: {branch: y}\n");
        assert!(e.contains("pushBranch is the old spelling"), "{e}");
        let e = bad("git:\n  url: file:///a.git\n  write: {pullRequest: {provider: gitbucket, token: {env: T}}}\n");
        assert!(e.contains("gitbucket"), "{e}");
        let e = bad("git:\n  url: file:///a.git\n  write: {pullRequest: {provider: github, token: {env: T}, title: '{{ nope }}'}}\n");
        assert!(e.contains("pull request template"), "{e}");
        let e = bad("policies: {git: nope, repoPath: p}\ngit: [{name: a, url: file:///a.git}]\n");
        assert!(
            e.contains("policies: git \"nope\" is not a repository of git: (it has: a)"),
            "{e}"
        );
    }
}

imagebump_core::parsed::from_str_scalar!(Listen, "an address such as 0.0.0.0:8080");

imagebump_core::parsed::from_str_scalar!(NotifyFormat, "a notification format");

imagebump_core::parsed::from_str_scalar!(NotifyEvent, "a notification event");

imagebump_core::parsed::from_str_scalar!(NotifyBody, "a notification body template");

imagebump_core::parsed::from_str_scalar!(GitUrl, "a git URL");

imagebump_core::parsed::from_str_scalar!(RepositoryName, "an image repository name");

imagebump_core::parsed::from_str_scalar!(JfrogAccessKey, "repositoryPath, subdomain or port");
