//! Registry webhooks: (headers, raw body) in, [`ImageEvent`]s out.
//!
//! A webhook is only a hint that says which repository to rescan now; the registry stays
//! the truth for which tags exist. **Architecture invariant:** pure — it never calls a
//! registry or git, does no I/O, and never panics on any input (property-tested); it
//! depends on the `http` crate for headers, not on a server framework, so the HTTP handler (`POST /hooks/{name}` and
//! `POST /hooks/{name}/{secret}`) only has to look the receiver up, call [`handle`] and
//! answer. The answer's shape is the server's (the `imagebump` package); what it sends:
//!
//! | outcome                                   | status | body                                   |
//! |-------------------------------------------|--------|----------------------------------------|
//! | `Ok(events)`                              | 202    | `{"events": [...], "scheduled": N}`    |
//! | [`WebhookError::Unauthorized`]            | 401    | `{"error": "<one line>"}`              |
//! | [`WebhookError::Malformed`]               | 400    | `{"error": "<one line>"}`              |
//! | [`WebhookError::TooLarge`] (> [`MAX_BODY`]) | 413  | `{"error": "<one line>"}`              |
//! | unknown receiver name                     | 404    | (the handler's job, see [`find_receiver`]) |
//! | not `POST`                                | 405    | (the router's job)                     |
//!
//! [`handle`] authenticates first and parses only an authentic body. [`receive`] also
//! gives the rescan [`Scope`] (a `generic` delivery naming no image rescans the
//! receiver's `repositories:` or every watched repository) and the sender's
//! [`DeliveryId`], by which the server drops replays.
//!
//! # Authentication per provider
//!
//! Every comparison with the secret is constant-time (HMAC tags through
//! `Mac::verify_slice`, plain secrets by comparing SHA-256 digests with `subtle`, which
//! also hides the secret's length). A receiver with an empty secret accepts nothing.
//!
//! "Static header" means the header's value is the secret itself (so a secret stored as
//! the whole value `Bearer X` matches), `Bearer <secret>`, `Secret <secret>` (Harbor
//! 1.x) or `Basic <base64 of secret>` (so for senders that do HTTP basic auth the secret
//! is `user:password`). Its name comes from the receiver's `header:` key, default
//! `Authorization`. "Path" means `POST /hooks/{name}/{secret}`.
//!
//! | provider       | accepted                                                              |
//! |----------------|-----------------------------------------------------------------------|
//! | `distribution` | static header (registry `notifications.endpoints[].headers`)          |
//! | `dockerhub`    | path (Docker Hub cannot sign or add headers)                          |
//! | `harbor`       | static header (Harbor's "Auth Header" is sent as `Authorization`)     |
//! | `quay`         | path                                                                  |
//! | `github`       | `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`           |
//! | `gitea`        | `X-Forgejo-Signature` or `X-Gitea-Signature`: hex HMAC-SHA256         |
//! | `acr`          | static header (an ACR custom header) or path                          |
//! | `gar`          | path (Pub/Sub push cannot add headers; its OIDC token needs I/O)      |
//! | `ecr`          | static header (the EventBridge API destination's connection auth)     |
//! | `jfrog`        | `X-JFrog-Event-Auth`: hex HMAC-SHA256 (signing on) or the secret (signing off); or a static header named by `header:` |
//! | `nexus`        | `X-Nexus-Webhook-Signature`: hex HMAC-SHA1 of the body                |
//! | `zot`          | static header (zot sends `Bearer <token>` or basic auth)              |
//! | `aliyun`       | path                                                                  |
//! | `generic`      | path or static header                                                 |
//! | `generic-hmac` | `X-Signature: sha1=<hex>`, `sha256=<hex>` or `sha512=<hex>` (Flux)    |
//!
//! # Which registry an event names
//!
//! Taken from the payload when it names the host images are pulled from
//! (`request.host`, `docker_url`, `resource_url`, the GAR tag, ECR account and region,
//! GHCR's package URL, Gitea's `html_url`); otherwise the receiver's `registry:`;
//! otherwise `docker.io` for `dockerhub` and for `generic` names without a host. Payload
//! fields that only hint at a host (Aliyun's region, JFrog's `jpd_origin`, zot's CloudEvents
//! `source`) come after the receiver's `registry:`. Names are normalised with
//! [`ImageRef`](imagebump_core::image::ImageRef), so `nginx` becomes `docker.io/library/nginx`.
//!
//! # Which events lead to a scan
//!
//! Only pushes that carry a tag ([`Action::Push`]). Pulls, deletes, blob uploads, scans,
//! and digests pushed without a tag are answered as [`Action::Ignored`]. A pushed tag whose
//! registry or name cannot be worked out makes the delivery [`WebhookError::Malformed`];
//! an ignored event that cannot be named is left out of the answer instead, so every
//! authentic, well-formed delivery that is ignored (pings, other event types, events
//! missing fields only a push needs) is `Ok` — senders such as Distribution block their
//! queue on anything but 2xx.

#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

use http::HeaderMap;
use serde::Serialize;

use imagebump_core::secret::Secret;

mod acr;
mod aliyun;
mod auth;
mod common;
mod delivery;
mod distribution;
mod dockerhub;
mod ecr;
mod gar;
mod generic;
mod gitea;
mod github;
mod harbor;
mod jfrog;
mod nexus;
mod quay;
mod zot;

/// The largest body a webhook may carry (1 MiB); larger ones are [`WebhookError::TooLarge`].
pub const MAX_BODY: usize = 1024 * 1024;

/// Which sender a receiver listens to; decides how requests are authenticated and parsed.
///
/// Config names (also accepted by [`FromStr`] and serde): `distribution`, `dockerhub`,
/// `harbor`, `quay`, `github`, `gitea`, `acr`, `gar`, `ecr`, `jfrog`, `nexus`, `zot`,
/// `aliyun`, `generic`, `generic-hmac`. Aliases: `gitlab` (distribution), `docker-hub`,
/// `ghcr` (github), `forgejo` (gitea), `artifactory` (jfrog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// CNCF Distribution registry notifications (also GitLab self-managed and other
    /// registries built on it).
    Distribution,
    /// Docker Hub repository webhooks.
    DockerHub,
    /// Harbor project webhooks, default or CloudEvents payload format.
    Harbor,
    /// Quay (quay.io or Red Hat Quay) "repository push" notifications.
    Quay,
    /// GitHub `package` / `registry_package` events for GHCR.
    Github,
    /// Gitea or Forgejo `package` events.
    Gitea,
    /// Azure Container Registry webhooks.
    Acr,
    /// Google Artifact Registry (or Container Registry) notifications via a Pub/Sub push
    /// subscription on the `gcr` topic.
    Gar,
    /// Amazon ECR "ECR Image Action" EventBridge events delivered by an API destination.
    Ecr,
    /// JFrog Artifactory predefined webhooks in the `docker` domain.
    Jfrog,
    /// Sonatype Nexus Repository `component` webhooks.
    Nexus,
    /// zot registry events (CloudEvents, binary or structured mode).
    Zot,
    /// Alibaba Cloud Container Registry triggers.
    Aliyun,
    /// Anything (CI jobs), Flux-compatible: any authentic body rescans; `{"repository":
    /// "...", "tag": "..."}` or `{"image": "..."}` narrows it.
    Generic,
    /// Same body as [`Provider::Generic`], signed like Flux's `generic-hmac` receiver.
    GenericHmac,
}

impl Provider {
    /// Every provider, in documentation order.
    pub const ALL: [Provider; 15] = [
        Provider::Distribution,
        Provider::DockerHub,
        Provider::Harbor,
        Provider::Quay,
        Provider::Github,
        Provider::Gitea,
        Provider::Acr,
        Provider::Gar,
        Provider::Ecr,
        Provider::Jfrog,
        Provider::Nexus,
        Provider::Zot,
        Provider::Aliyun,
        Provider::Generic,
        Provider::GenericHmac,
    ];

    /// The name used in `imagebump.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Distribution => "distribution",
            Provider::DockerHub => "dockerhub",
            Provider::Harbor => "harbor",
            Provider::Quay => "quay",
            Provider::Github => "github",
            Provider::Gitea => "gitea",
            Provider::Acr => "acr",
            Provider::Gar => "gar",
            Provider::Ecr => "ecr",
            Provider::Jfrog => "jfrog",
            Provider::Nexus => "nexus",
            Provider::Zot => "zot",
            Provider::Aliyun => "aliyun",
            Provider::Generic => "generic",
            Provider::GenericHmac => "generic-hmac",
        }
    }

    /// True when the receiver's `header:` key means something for this provider.
    pub fn uses_header(self) -> bool {
        matches!(
            self,
            Provider::Distribution
                | Provider::Harbor
                | Provider::Acr
                | Provider::Ecr
                | Provider::Jfrog
                | Provider::Zot
                | Provider::Generic
        )
    }

    /// True when the secret may come as the last path segment (`/hooks/{name}/{secret}`).
    pub fn accepts_path_secret(self) -> bool {
        matches!(
            self,
            Provider::DockerHub
                | Provider::Quay
                | Provider::Acr
                | Provider::Gar
                | Provider::Aliyun
                | Provider::Generic
        )
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown webhook provider {0:?} (expected one of: distribution, dockerhub, harbor, quay, github, gitea, acr, gar, ecr, jfrog, nexus, zot, aliyun, generic, generic-hmac)")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let p = match s.trim().to_ascii_lowercase().as_str() {
            "distribution" | "gitlab" => Provider::Distribution,
            "dockerhub" | "docker-hub" => Provider::DockerHub,
            "harbor" => Provider::Harbor,
            "quay" => Provider::Quay,
            "github" | "ghcr" => Provider::Github,
            "gitea" | "forgejo" => Provider::Gitea,
            "acr" => Provider::Acr,
            "gar" => Provider::Gar,
            "ecr" => Provider::Ecr,
            "jfrog" | "artifactory" => Provider::Jfrog,
            "nexus" => Provider::Nexus,
            "zot" => Provider::Zot,
            "aliyun" => Provider::Aliyun,
            "generic" => Provider::Generic,
            "generic-hmac" => Provider::GenericHmac,
            _ => return Err(UnknownProvider(s.to_string())),
        };
        Ok(p)
    }
}

impl TryFrom<String> for Provider {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map_err(|e: UnknownProvider| e.to_string())
    }
}

// Read through `parsed` so a bad name is reported at its own line in a config file.
imagebump_core::parsed::from_str_scalar!(Provider, "a webhook provider name");

impl Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One configured receiver (an entry of `receivers:` with its secret resolved).
#[derive(Debug, Clone)]
pub struct Receiver {
    /// URL name: `POST /hooks/{name}`.
    pub name: String,
    /// Which sender this receiver listens to.
    pub provider: Provider,
    /// The shared secret (signing key, header value or path secret).
    pub secret: Secret,
    /// Registry host for payloads that name none (`harbor.example.com`, `nexus.example.com:8443`).
    pub registry: Option<String>,
    /// Name of the static header carrying the secret, for providers that send one
    /// (see [`Provider::uses_header`]); default `Authorization`.
    pub header: Option<String>,
    /// For `generic` / `generic-hmac`: the repositories (`registry/repository`, normalised)
    /// a delivery that names none rescans; empty means every watched repository.
    pub repositories: Vec<String>,
    /// For `jfrog`: how Artifactory's Docker repositories are addressed.
    pub jfrog_access: JfrogAccess,
}

/// Artifactory's Docker access methods: how a `repo_key` and an image name make the name
/// images are pulled by (config key `jfrogAccess`, ports in `jfrogPorts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum JfrogAccess {
    /// `<host>/<repo_key>/<image>` (Artifactory's default; JFrog Cloud).
    #[default]
    RepositoryPath,
    /// `<repo_key>.<host>/<image>` (a reverse proxy per subdomain).
    Subdomain,
    /// `<host>:<port>/<image>`, one port per repository key.
    Port(std::collections::BTreeMap<String, u16>),
}

impl JfrogAccess {
    /// The config name: `repositoryPath`, `subdomain` or `port`.
    pub fn as_str(&self) -> &'static str {
        match self {
            JfrogAccess::RepositoryPath => "repositoryPath",
            JfrogAccess::Subdomain => "subdomain",
            JfrogAccess::Port(_) => "port",
        }
    }
}

impl Receiver {
    /// Problems with this receiver's settings, in words, for config validation.
    ///
    /// Empty when the receiver can work. Reports an empty secret, a `header:` the
    /// provider never reads, and a missing `registry:` where payloads name no host.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.secret.expose().is_empty() {
            out.push(format!("receiver {}: the secret is empty", self.name));
        }
        if self.header.is_some() && !self.provider.uses_header() {
            out.push(format!(
                "receiver {}: provider {} does not read a static header; remove `header:`",
                self.name, self.provider
            ));
        }
        if let Some(h) = &self.header {
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                out.push(format!(
                    "receiver {}: `header: {h}` is not a valid HTTP header name",
                    self.name
                ));
            }
        }
        let generic = matches!(self.provider, Provider::Generic | Provider::GenericHmac);
        if !self.repositories.is_empty() && !generic {
            out.push(format!(
                "receiver {}: `repositories:` only applies to generic and generic-hmac receivers",
                self.name
            ));
        }
        if self.jfrog_access != JfrogAccess::RepositoryPath && self.provider != Provider::Jfrog {
            out.push(format!(
                "receiver {}: `jfrogAccess:` only applies to jfrog receivers",
                self.name
            ));
        }
        if let JfrogAccess::Port(ports) = &self.jfrog_access {
            if ports.is_empty() {
                out.push(format!(
                    "receiver {}: `jfrogAccess: port` needs `jfrogPorts:` (repository key: port)",
                    self.name
                ));
            }
        }
        if self.jfrog_access != JfrogAccess::RepositoryPath && self.registry.is_none() {
            out.push(format!(
                "receiver {}: `jfrogAccess: {}` needs `registry:` (the Docker host)",
                self.name,
                self.jfrog_access.as_str()
            ));
        }
        if self.registry.is_none() && self.provider == Provider::Nexus {
            out.push(format!(
                "receiver {}: nexus payloads name no registry host; set `registry:`",
                self.name
            ));
        }
        out
    }
}

/// Finds a receiver by its URL name (`None` is the handler's 404).
pub fn find_receiver<'a>(receivers: &'a [Receiver], name: &str) -> Option<&'a Receiver> {
    receivers.iter().find(|r| r.name == name)
}

/// What an event means for imagebump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A tag was pushed: rescan the repository.
    Push,
    /// Anything else (pull, delete, blob upload, scan, digest pushed without a tag).
    Ignored,
}

/// One image event out of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImageEvent {
    /// Normalised registry host (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub registry: String,
    /// Normalised repository path (`library/nginx`, `org/app`).
    pub repository: String,
    /// The tag the event is about, if any.
    pub tag: Option<String>,
    /// The manifest digest the event is about, if the payload gives a valid one.
    pub digest: Option<String>,
    /// Whether it leads to a scan.
    pub action: Action,
}

impl ImageEvent {
    /// `registry/repository`, as [`ImageRef::name`](imagebump_core::image::ImageRef::name) prints it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// Why a delivery was refused. Messages are one line and never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong credentials: 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The body cannot be understood: 400.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// The body is larger than [`MAX_BODY`]: 413.
    #[error("payload of {0} bytes is larger than the limit of {MAX_BODY} bytes")]
    TooLarge(usize),
}

impl WebhookError {
    /// A [`WebhookError::Malformed`] whose message is squeezed onto one short line.
    pub(crate) fn malformed(msg: impl AsRef<str>) -> WebhookError {
        WebhookError::Malformed(one_line(msg.as_ref()))
    }

    /// A [`WebhookError::Unauthorized`] whose message is squeezed onto one short line.
    pub(crate) fn unauthorized(msg: impl AsRef<str>) -> WebhookError {
        WebhookError::Unauthorized(one_line(msg.as_ref()))
    }
}

/// What a delivery asks for: its events, how wide a rescan, and its id for replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The events it names, pushes and ignored ones, in payload order.
    pub events: Vec<ImageEvent>,
    /// Which repositories get a rescan.
    pub scope: Scope,
    /// The sender's id for this delivery, when it gives one (see [`DeliveryId`]).
    pub id: Option<DeliveryId>,
}

/// Which repositories a delivery rescans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Those of its [`Action::Push`] events.
    Events,
    /// The receiver's [`Receiver::repositories`], or every watched repository when that
    /// is empty: a `generic` / `generic-hmac` delivery that names no image (Flux's
    /// receivers treat any authentic body as "reconcile now").
    Receiver,
}

/// A sender's delivery id, prefixed by where it came from (`github:<uuid>`,
/// `distribution:<event ids>`, `pubsub:<messageId>`, `cloudevents:<source> <id>`,
/// `eventbridge:<id>`). Senders resend the same id when they retry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId(pub String);

/// Authenticates one delivery, then turns it into events.
///
/// `path_secret` is the `{secret}` segment of `/hooks/{name}/{secret}`, if the request
/// used that form. Pure and panic-free on any input. Same as [`receive`] without the
/// scope and the id.
pub fn handle(
    receiver: &Receiver,
    headers: &HeaderMap,
    path_secret: Option<&str>,
    body: &[u8],
) -> Result<Vec<ImageEvent>, WebhookError> {
    receive(receiver, headers, path_secret, body).map(|d| d.events)
}

/// Authenticates one delivery, then reads its events, rescan scope and delivery id.
///
/// Pure and panic-free on any input; see [`handle`].
pub fn receive(
    receiver: &Receiver,
    headers: &HeaderMap,
    path_secret: Option<&str>,
    body: &[u8],
) -> Result<Delivery, WebhookError> {
    if body.len() > MAX_BODY {
        return Err(WebhookError::TooLarge(body.len()));
    }
    auth::authenticate(receiver, headers, path_secret, body)?;
    let cx = common::Context {
        receiver,
        headers,
        body,
    };
    let (events, scope) = match receiver.provider {
        Provider::Generic | Provider::GenericHmac => match generic::parse(&cx)? {
            Some(events) => (events, Scope::Events),
            None => (Vec::new(), Scope::Receiver),
        },
        _ => (parse(&cx)?, Scope::Events),
    };
    Ok(Delivery {
        events,
        scope,
        id: delivery::id(&cx),
    })
}

/// The events of one authentic delivery to a provider other than the generic ones.
fn parse(cx: &common::Context) -> Result<Vec<ImageEvent>, WebhookError> {
    match cx.receiver.provider {
        Provider::Distribution => distribution::parse(cx),
        Provider::DockerHub => dockerhub::parse(cx),
        Provider::Harbor => harbor::parse(cx),
        Provider::Quay => quay::parse(cx),
        Provider::Github => github::parse(cx),
        Provider::Gitea => gitea::parse(cx),
        Provider::Acr => acr::parse(cx),
        Provider::Gar => gar::parse(cx),
        Provider::Ecr => ecr::parse(cx),
        Provider::Jfrog => jfrog::parse(cx),
        Provider::Nexus => nexus::parse(cx),
        Provider::Zot => zot::parse(cx),
        Provider::Aliyun => aliyun::parse(cx),
        Provider::Generic | Provider::GenericHmac => Ok(generic::parse(cx)?.unwrap_or_default()),
    }
}

/// Squeezes a message onto one line of at most 300 characters.
fn one_line(msg: &str) -> String {
    const MAX: usize = 300;
    let mut out = String::with_capacity(msg.len().min(MAX + 4));
    let (mut count, mut space) = (0, false);
    for c in msg.chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if count >= MAX {
            out.push('…');
            break;
        }
        if space && count > 0 {
            out.push(' ');
            count += 1;
        }
        space = false;
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod tests;
