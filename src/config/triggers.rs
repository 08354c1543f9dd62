//! `deployTriggers:` — whom to tell after each pushed commit so the deploy happens now:
//! Argo CD (its `/api/webhook` as a GitHub push, or an API refresh of named
//! Applications), a Flux notification-controller Receiver, or any URL with a templated
//! body. Only the model and its checks; sending is `engine::triggers`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::secret::SecretRef;
use imagebump_core::policy::Problem;

/// One `deployTriggers:` entry: exactly one of `argocd`, `flux`, `webhook`; `git:` and
/// `name:` may sit beside the kind or inside it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeployTriggerSection {
    /// Name in the status and the metric's `trigger` label (default `KIND-INDEX`).
    pub name: Option<String>,
    /// Argo CD.
    pub argocd: Option<ArgoCdTrigger>,
    /// A Flux Receiver.
    pub flux: Option<FluxTrigger>,
    /// Any URL.
    pub webhook: Option<WebhookTrigger>,
    /// Only after pushes to these GitOps repositories (names in `git:`); default all.
    #[serde(default)]
    pub git: Vec<String>,
}

/// `argocd:` — `secret` for the webhook (`/api/webhook`), or `token` + `applications`
/// for an API refresh.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArgoCdTrigger {
    /// `https://argocd.example.com/api/webhook`, or the server's base URL with `token`.
    pub url: TriggerUrl,
    /// `webhook.github.secret` of `argocd-secret`: signs the push event.
    pub secret: Option<SecretRef>,
    /// An Argo CD API token (account with `applications, get`): refreshes `applications`.
    pub token: Option<SecretRef>,
    /// The Applications to refresh through the API.
    #[serde(default)]
    pub applications: Vec<String>,
    /// As the entry's `name`.
    pub name: Option<String>,
    /// As the entry's `git`.
    #[serde(default)]
    pub git: Vec<String>,
}

/// `flux:` — a notification-controller Receiver (`generic`, or `generic-hmac` with
/// `secret`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FluxTrigger {
    /// The Receiver's URL (`https://flux-webhook.example.com/hook/<digest>`).
    pub url: TriggerUrl,
    /// The Receiver's token: signs the body (`X-Signature: sha256=…`).
    pub secret: Option<SecretRef>,
    /// As the entry's `name`.
    pub name: Option<String>,
    /// As the entry's `git`.
    #[serde(default)]
    pub git: Vec<String>,
}

/// `webhook:` — a POST to any URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookTrigger {
    /// Where to POST.
    pub url: TriggerUrl,
    /// A minijinja template of the body (variables in README); default: the variables
    /// as JSON.
    #[serde(default, deserialize_with = "body_template")]
    pub body: Option<String>,
    /// Extra headers, each value a secret reference (`Authorization: {env: TOKEN}`).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretRef>,
    /// As the entry's `name`.
    pub name: Option<String>,
    /// As the entry's `git`.
    #[serde(default)]
    pub git: Vec<String>,
}

/// Which kind a trigger is.
#[derive(Debug, Clone, Copy)]
pub enum TriggerKind<'a> {
    /// Argo CD.
    ArgoCd(&'a ArgoCdTrigger),
    /// Flux.
    Flux(&'a FluxTrigger),
    /// Any URL.
    Webhook(&'a WebhookTrigger),
}

impl TriggerKind<'_> {
    /// `argocd`, `flux` or `webhook`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TriggerKind::ArgoCd(_) => "argocd",
            TriggerKind::Flux(_) => "flux",
            TriggerKind::Webhook(_) => "webhook",
        }
    }

    fn url(&self) -> &TriggerUrl {
        match self {
            TriggerKind::ArgoCd(t) => &t.url,
            TriggerKind::Flux(t) => &t.url,
            TriggerKind::Webhook(t) => &t.url,
        }
    }

    fn inner_name(&self) -> Option<&str> {
        match self {
            TriggerKind::ArgoCd(t) => t.name.as_deref(),
            TriggerKind::Flux(t) => t.name.as_deref(),
            TriggerKind::Webhook(t) => t.name.as_deref(),
        }
    }

    fn inner_git(&self) -> &[String] {
        match self {
            TriggerKind::ArgoCd(t) => &t.git,
            TriggerKind::Flux(t) => &t.git,
            TriggerKind::Webhook(t) => &t.git,
        }
    }
}

impl DeployTriggerSection {
    /// Its kind; `None` when not exactly one is given (a config error `check` reports).
    pub fn kind(&self) -> Option<TriggerKind<'_>> {
        match (&self.argocd, &self.flux, &self.webhook) {
            (Some(a), None, None) => Some(TriggerKind::ArgoCd(a)),
            (None, Some(f), None) => Some(TriggerKind::Flux(f)),
            (None, None, Some(w)) => Some(TriggerKind::Webhook(w)),
            _ => None,
        }
    }

    /// Its name: `name:` (beside or inside the kind), else `KIND-INDEX`.
    pub fn name(&self, index: usize) -> String {
        let kind = self.kind();
        self.name
            .clone()
            .or_else(|| kind.and_then(|k| k.inner_name().map(str::to_string)))
            .unwrap_or_else(|| format!("{}-{index}", kind.map_or("trigger", |k| k.as_str())))
    }

    /// The GitOps repositories it fires for (empty: all).
    pub fn gits(&self) -> Vec<String> {
        let mut g = self.git.clone();
        if let Some(k) = self.kind() {
            g.extend(k.inner_git().iter().cloned());
        }
        g.sort();
        g.dedup();
        g
    }

    /// Its URL as shown (no query).
    pub fn display_url(&self) -> String {
        self.kind().map(|k| k.url().display()).unwrap_or_default()
    }
}

/// An `http(s)://` URL without credentials (secrets go in secret references).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerUrl(pub String);

impl TriggerUrl {
    /// The URL without its query, for status and logs.
    pub fn display(&self) -> String {
        self.0
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl TryFrom<String> for TriggerUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| format!("url {s:?} must start with https:// or http://"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(
                "url must not carry credentials; give them as secret, token or headers".into(),
            );
        }
        if authority.is_empty() {
            return Err(format!("url {s:?} has no host"));
        }
        Ok(TriggerUrl(s))
    }
}

imagebump_core::parsed::from_str_scalar!(TriggerUrl, "an http(s) URL");

/// A webhook `body` that parses and renders a sample commit.
struct BodyTemplate(String);

impl TryFrom<String> for BodyTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        imagebump_core::trigger::check_template(&s)?;
        Ok(BodyTemplate(s))
    }
}

imagebump_core::parsed::from_str_scalar!(BodyTemplate, "a body template");

fn body_template<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<BodyTemplate>::deserialize(d).map(|t| t.map(|t| t.0))
}

/// A header name is an HTTP token.
fn header_name_ok(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The checks serde cannot make: one kind per entry, names unique, `git:` names
/// known, Argo CD's two modes complete.
pub fn check(path: &Path, triggers: &[DeployTriggerSection], gits: &[String]) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, t) in triggers.iter().enumerate() {
        let who = format!("deployTriggers[{i}]");
        let Some(kind) = t.kind() else {
            out.push(Problem::new(
                path,
                format!("{who}: give exactly one of argocd, flux or webhook"),
            ));
            continue;
        };
        let name = t.name(i);
        let who = format!("{who} ({name})");
        if !names.insert(name.clone()) {
            out.push(Problem::new(
                path,
                format!("{who}: name {name:?} is used twice"),
            ));
        }
        for g in t.gits() {
            if !gits.contains(&g) {
                out.push(Problem::new(
                    path,
                    format!(
                        "{who}: git {g:?} is not a repository of git: (it has: {})",
                        gits.join(", ")
                    ),
                ));
            }
        }
        match kind {
            TriggerKind::ArgoCd(a) => match (&a.token, a.applications.is_empty()) {
                (Some(_), true) => out.push(Problem::new(
                    path,
                    format!("{who}: argocd token needs applications: [NAME, …] to refresh"),
                )),
                (None, false) => out.push(Problem::new(
                    path,
                    format!("{who}: argocd applications need a token for Argo CD's API"),
                )),
                (Some(_), false) if a.secret.is_some() => out.push(Problem::new(
                    path,
                    format!(
                        "{who}: argocd takes secret (webhook) or token (API refresh), not both"
                    ),
                )),
                _ => {}
            },
            TriggerKind::Webhook(w) => {
                for h in w.headers.keys() {
                    if !header_name_ok(h) {
                        out.push(Problem::new(
                            path,
                            format!("{who}: header {h:?} is not a valid HTTP header name"),
                        ));
                    }
                }
            }
            TriggerKind::Flux(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const GITS: &str = "git:\n  - {name: fleet-prod, url: file:///p.git}\n  - {name: fleet-dev, url: file:///d.git}\n";

    fn problems(text: &str) -> String {
        Config::parse(Path::new("c.yaml"), &format!("{GITS}{text}"))
            .unwrap_err()
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_issue_example_parses() {
        let text = format!(
            "{GITS}deployTriggers:\n  - argocd: {{url: https://argocd.example.com/api/webhook, secret: {{env: ARGOCD_WEBHOOK_SECRET}}}}\n  - argocd: {{url: https://argocd.example.com, token: {{file: /run/secrets/argocd-token}}, applications: [web-prod]}}\n  - flux: {{url: https://flux-webhook.example.com/hook/0123abcd, secret: {{env: FLUX_HMAC}}}}\n    git: [fleet-prod]\n  - webhook: {{url: https://hooks.example.com/deploy, body: '{{\"repo\": \"{{{{ repository }}}}\"}}', headers: {{Authorization: {{env: HOOK_TOKEN}}}}, git: [fleet-dev]}}\n    name: ci\n"
        );
        let c = Config::parse(Path::new("c.yaml"), &text).unwrap();
        let t = &c.deploy_triggers;
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].kind().unwrap().as_str(), "argocd");
        assert_eq!(t[0].name(0), "argocd-0");
        assert_eq!(t[1].argocd.as_ref().unwrap().applications, ["web-prod"]);
        assert_eq!(t[2].gits(), ["fleet-prod"]);
        assert_eq!(t[3].name(3), "ci");
        assert_eq!(t[3].gits(), ["fleet-dev"]);
        assert_eq!(
            t[2].display_url(),
            "https://flux-webhook.example.com/hook/0123abcd"
        );
    }

    #[test]
    fn unknown_notification_formats_and_events_name_the_entry() {
        let e =
            problems("notifications:\n  - {url: {env: U}}\n  - {url: {env: U}, format: msteams}\n");
        assert!(
            e.contains("c.yaml:6:")
                && e.contains("notifications[1].format")
                && e.contains(
                    "format \"msteams\" must be generic, slack, teams, discord or googlechat"
                ),
            "{e}"
        );
        let e = problems("notifications:\n  - url: {env: U}\n    events: [commit, merged]\n");
        assert!(
            e.contains("c.yaml:6:")
                && e.contains("notifications[0].events")
                && e.contains("unknown event \"merged\""),
            "{e}"
        );
        let e = problems("notifications:\n  - {url: {env: U}, format: slack, body: 'x'}\n");
        assert!(
            e.contains("notifications[0]: body applies only to format: generic"),
            "{e}"
        );
        let c = Config::parse(
            Path::new("c.yaml"),
            &format!("{GITS}notifications:\n  - {{url: {{env: U}}, format: teams, events: [commit, pull_request], applications: ['shop-*']}}\n"),
        )
        .unwrap();
        assert_eq!(c.notifications[0].applications, ["shop-*"]);
        assert_eq!(c.notifications[0].events.len(), 2);
    }

    #[test]
    fn bad_triggers_are_refused_with_reasons() {
        let e =
            problems("deployTriggers:\n  - flux: {url: https://f/hook}\n    git: [fleet-stage]\n");
        assert!(
            e.contains("deployTriggers[0] (flux-0): git \"fleet-stage\" is not a repository of git: (it has: fleet-prod, fleet-dev)"),
            "{e}"
        );
        let e = problems(
            "deployTriggers:\n  - {flux: {url: https://f/h}, webhook: {url: https://w/h}}\n",
        );
        assert!(
            e.contains("deployTriggers[0]: give exactly one of argocd, flux or webhook"),
            "{e}"
        );
        let e = problems("deployTriggers:\n  - argocd: {url: https://a, token: {env: T}}\n");
        assert!(e.contains("token needs applications"), "{e}");
        let e = problems("deployTriggers:\n  - argocd: {url: https://a, applications: [x]}\n");
        assert!(e.contains("applications need a token"), "{e}");
        let e = problems(
            "deployTriggers:\n  - webhook:\n      url: https://w/h\n      body: '{{ repo }}'\n",
        );
        assert!(
            e.contains("c.yaml:7:") && e.contains("unknown variable `repo`"),
            "{e}"
        );
        let e = problems("deployTriggers:\n  - webhook:\n      url: https://user:pw@w/h\n");
        assert!(
            e.contains("c.yaml:6:") && e.contains("must not carry credentials"),
            "{e}"
        );
        let e = problems("deployTriggers:\n  - webhook: {url: ftp://w/h}\n");
        assert!(e.contains("must start with https://"), "{e}");
        let e = problems(
            "deployTriggers:\n  - webhook: {url: https://w/h, headers: {'a b': {env: X}}}\n",
        );
        assert!(e.contains("not a valid HTTP header name"), "{e}");
        let e = problems("deployTriggers:\n  - {name: x, flux: {url: https://f/h}}\n  - {name: x, flux: {url: https://g/h}}\n");
        assert!(e.contains("name \"x\" is used twice"), "{e}");
        let e =
            problems("deployTriggers:\n  - argocd: {url: https://a, secret: {env: S}, bogus: 1}\n");
        assert!(
            e.contains("c.yaml:5:") && e.contains("unknown field `bogus`"),
            "{e}"
        );
    }
}
