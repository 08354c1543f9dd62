//! Notifications: what happened ([`Notice`]), which entries want it ([`Filter`]: events
//! and applications), and the JSON body of each chat format ([`render`]). Pure: the
//! engine sends what this builds.
//!
//! Formats follow each service's published incoming-webhook API: Slack (`{"text"}`),
//! Microsoft Teams Power Automate workflows (a `message` with one Adaptive Card 1.4
//! attachment), Discord execute-webhook (`content` + `embeds`, mentions disabled so an
//! error text cannot ping anyone), Google Chat (`{"text"}`), and a generic JSON (or a
//! minijinja `body` template over the same fields).

use serde_json::{json, Value};

use crate::plan::PlannedChange;

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
    /// A pull request was opened, or updated with new commits.
    PullRequest {
        /// Its web URL.
        url: String,
        /// `true` when just opened, `false` when updated.
        opened: bool,
        /// The head branch.
        head: String,
        /// What it proposes now: `(application/name, from, to)`.
        changes: Vec<(String, String, String)>,
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
        /// The images whose writes fail (`application/name`).
        images: Vec<String>,
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

/// The kinds of notice, as `events:` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// `commit`
    Commit,
    /// `pull_request`
    PullRequest,
    /// `held`
    Held,
    /// `failure`
    Failure,
    /// `config_reload_failed`
    ConfigReloadFailed,
    /// `policy_reload_failed`
    PolicyReloadFailed,
}

impl Event {
    /// Every event, in the order README lists them.
    pub const ALL: [Event; 6] = [
        Event::Commit,
        Event::PullRequest,
        Event::Held,
        Event::Failure,
        Event::ConfigReloadFailed,
        Event::PolicyReloadFailed,
    ];

    /// The name `events:` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Commit => "commit",
            Event::PullRequest => "pull_request",
            Event::Held => "held",
            Event::Failure => "failure",
            Event::ConfigReloadFailed => "config_reload_failed",
            Event::PolicyReloadFailed => "policy_reload_failed",
        }
    }

    /// The event named `s`, or an error listing the names.
    pub fn parse(s: &str) -> Result<Event, String> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown event {s:?}; events are {}",
                    Event::ALL.map(Event::as_str).join(", ")
                )
            })
    }
}

impl Notice {
    /// Its event.
    pub fn event(&self) -> Event {
        match self {
            Notice::Commit { .. } => Event::Commit,
            Notice::PullRequest { .. } => Event::PullRequest,
            Notice::Held { .. } => Event::Held,
            Notice::Failure { .. } => Event::Failure,
            Notice::PolicyReloadFailed { .. } => Event::PolicyReloadFailed,
            Notice::ConfigReloadFailed { .. } => Event::ConfigReloadFailed,
        }
    }
}

/// The application of an image id `application/name`.
fn application(image: &str) -> &str {
    image.split_once('/').map_or(image, |(a, _)| a)
}

/// Which notices one `notifications:` entry takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `events:`; empty = all.
    pub events: Vec<Event>,
    /// `applications:` names or globs (`*` any run of characters, `?` one); empty = all.
    pub applications: Vec<String>,
}

impl Filter {
    /// The notice this entry gets: `None` when its event is not wanted or none of its
    /// applications match; a commit or pull request keeps only the matching
    /// applications' changes. Notices without an application (reload failures, a
    /// failure of no image) always pass the application filter.
    pub fn apply(&self, notice: &Notice) -> Option<Notice> {
        if !self.events.is_empty() && !self.events.contains(&notice.event()) {
            return None;
        }
        if self.applications.is_empty() {
            return Some(notice.clone());
        }
        let ok = |app: &str| self.applications.iter().any(|g| glob(g, app));
        match notice {
            Notice::Commit {
                commit,
                branch,
                changes,
            } => {
                let kept: Vec<_> = changes
                    .iter()
                    .filter(|c| c.owner.as_ref().is_none_or(|o| ok(&o.application)))
                    .cloned()
                    .collect();
                (!kept.is_empty()).then(|| Notice::Commit {
                    commit: commit.clone(),
                    branch: branch.clone(),
                    changes: kept,
                })
            }
            Notice::PullRequest {
                url,
                opened,
                head,
                changes,
            } => {
                let kept: Vec<_> = changes
                    .iter()
                    .filter(|(id, _, _)| ok(application(id)))
                    .cloned()
                    .collect();
                (!kept.is_empty()).then(|| Notice::PullRequest {
                    url: url.clone(),
                    opened: *opened,
                    head: head.clone(),
                    changes: kept,
                })
            }
            Notice::Held { image, .. } => ok(application(image)).then(|| notice.clone()),
            Notice::Failure { images, .. } => (images.is_empty()
                || images.iter().any(|i| ok(application(i))))
            .then(|| notice.clone()),
            Notice::PolicyReloadFailed { .. } | Notice::ConfigReloadFailed { .. } => {
                Some(notice.clone())
            }
        }
    }
}

/// `*` matches any run of characters, `?` one; everything else itself.
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    // Iterative matching with one backtrack point: linear in practice, never recursive.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Payload shape of one notification target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"event": "commit", "commit", "branch", "changes": [...]}`, `{"event":
    /// "failure", "error", "images"}`, … (or the entry's `body` template over them).
    Generic,
    /// `{"text": "..."}` for Slack incoming webhooks.
    Slack,
    /// A Teams (Power Automate workflow) message with an Adaptive Card.
    Teams,
    /// Discord's execute-webhook `{"content", "embeds"}`.
    Discord,
    /// Google Chat's incoming webhook `{"text"}`.
    GoogleChat,
}

impl Format {
    /// The format named `s` (`format:`), or why not.
    pub fn parse(s: &str) -> Result<Format, String> {
        Ok(match s {
            "generic" => Format::Generic,
            "slack" => Format::Slack,
            "teams" => Format::Teams,
            "discord" => Format::Discord,
            "googlechat" => Format::GoogleChat,
            _ => {
                return Err(format!(
                    "format {s:?} must be generic, slack, teams, discord or googlechat"
                ))
            }
        })
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// A notice in words: a title and one line per item, for the chat formats.
fn words(notice: &Notice) -> (String, Vec<String>) {
    match notice {
        Notice::Commit {
            commit,
            branch,
            changes,
        } => (
            format!("imagebump pushed {} to {branch}", short(commit)),
            changes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} → {} ({})",
                        c.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
                        c.old,
                        c.new,
                        c.file.display()
                    )
                })
                .collect(),
        ),
        Notice::PullRequest {
            url,
            opened,
            head,
            changes,
        } => (
            format!(
                "imagebump {} pull request {url} ({head})",
                if *opened { "opened" } else { "updated" }
            ),
            changes
                .iter()
                .map(|(id, from, to)| format!("{id}: {from} → {to}"))
                .collect(),
        ),
        Notice::Held { image, reason } => {
            (format!("imagebump holds {image}"), vec![reason.clone()])
        }
        Notice::Failure { error, images } => (
            "imagebump cannot write to git".to_string(),
            std::iter::once(error.clone())
                .chain((!images.is_empty()).then(|| format!("images: {}", images.join(", "))))
                .collect(),
        ),
        Notice::PolicyReloadFailed { kept, problems } => (
            format!(
                "imagebump kept policies generation {kept}: the changed policies have problems"
            ),
            problems.clone(),
        ),
        Notice::ConfigReloadFailed { kept, problems } => (
            format!(
                "imagebump kept config generation {kept}: the changed config file has problems"
            ),
            problems.clone(),
        ),
    }
}

/// The generic JSON of a notice (also what a generic `body` template sees).
pub fn generic(notice: &Notice) -> Value {
    match notice {
        Notice::Commit {
            commit,
            branch,
            changes,
        } => json!({
            "event": "commit",
            "commit": commit,
            "branch": branch,
            "applications": applications(changes),
            "changes": changes.iter().map(|c| json!({
                "application": c.owner.as_ref().map(|o| o.application.clone()),
                "image": c.owner.as_ref().map(|o| o.name.clone()),
                "file": c.file.to_string_lossy(),
                "line": c.line,
                "old": c.old,
                "new": c.new,
            })).collect::<Vec<_>>(),
        }),
        Notice::PullRequest {
            url,
            opened,
            head,
            changes,
        } => json!({
            "event": "pull_request",
            "url": url,
            "opened": opened,
            "head": head,
            "changes": changes.iter().map(|(id, from, to)| json!({
                "application": application(id), "image": id, "from": from, "to": to,
            })).collect::<Vec<_>>(),
        }),
        Notice::Held { image, reason } => {
            json!({ "event": "held", "image": image, "reason": reason })
        }
        Notice::Failure { error, images } => {
            json!({ "event": "failure", "error": error, "images": images })
        }
        Notice::PolicyReloadFailed { kept, problems } => {
            json!({ "event": "policy_reload_failed", "generation": kept, "problems": problems })
        }
        Notice::ConfigReloadFailed { kept, problems } => {
            json!({ "event": "config_reload_failed", "generation": kept, "problems": problems })
        }
    }
}

fn applications(changes: &[PlannedChange]) -> Vec<String> {
    let mut a: Vec<String> = changes
        .iter()
        .filter_map(|c| c.owner.as_ref().map(|o| o.application.clone()))
        .collect();
    a.sort();
    a.dedup();
    a
}

/// The JSON body of a notice in a format.
pub fn render(notice: &Notice, format: Format) -> Value {
    match format {
        Format::Generic => generic(notice),
        Format::Slack => slack(notice),
        Format::Teams => teams(notice),
        Format::Discord => discord(notice),
        Format::GoogleChat => {
            let (title, lines) = words(notice);
            let mut text = format!("*{title}*");
            for l in lines {
                text.push_str(&format!("\n• {l}"));
            }
            json!({ "text": text })
        }
    }
}

fn slack(notice: &Notice) -> Value {
    let text = match notice {
        Notice::Commit {
            commit,
            branch,
            changes,
        } => {
            let mut text = format!("imagebump pushed `{}` to `{branch}`:", short(commit));
            for c in changes {
                text.push_str(&format!(
                    "\n• {}: `{}` → `{}` ({})",
                    c.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
                    c.old,
                    c.new,
                    c.file.display()
                ));
            }
            text
        }
        Notice::Held { image, reason } => format!(":pause_button: imagebump: {image} {reason}"),
        Notice::Failure { error, .. } => {
            format!(":warning: imagebump cannot write to git: {error}")
        }
        Notice::PullRequest { .. }
        | Notice::PolicyReloadFailed { .. }
        | Notice::ConfigReloadFailed { .. } => {
            let (title, lines) = words(notice);
            let icon = if notice.event() == Event::PullRequest {
                ":arrow_heading_up:"
            } else {
                ":warning:"
            };
            let mut text = format!("{icon} {title}:");
            for l in lines {
                text.push_str(&format!("\n{l}"));
            }
            text
        }
    };
    json!({ "text": text })
}

/// The link a notice points at, if any (a pull request).
fn link(notice: &Notice) -> Option<&str> {
    match notice {
        Notice::PullRequest { url, .. } => Some(url),
        _ => None,
    }
}

fn is_problem(notice: &Notice) -> bool {
    matches!(
        notice.event(),
        Event::Failure | Event::ConfigReloadFailed | Event::PolicyReloadFailed
    )
}

fn teams(notice: &Notice) -> Value {
    let (title, lines) = words(notice);
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": title,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
        "color": if is_problem(notice) { "Attention" } else { "Default" },
    })];
    body.extend(lines.into_iter().map(|l| {
        json!({"type": "TextBlock", "text": format!("- {l}"), "wrap": true, "spacing": "Small"})
    }));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(url) = link(notice) {
        card["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Open pull request", "url": url}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Cuts `s` to at most `max` characters (Discord refuses longer fields).
fn cap(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn discord(notice: &Notice) -> Value {
    let (title, lines) = words(notice);
    let mut embed = json!({
        "title": cap(&title, 256),
        "description": cap(&lines.iter().map(|l| format!("• {l}")).collect::<Vec<_>>().join("\n"), 4096),
        // Red for problems, green otherwise.
        "color": if is_problem(notice) { 0xE0_1E_5A } else { 0x2E_B6_7D },
    });
    if let Some(url) = link(notice) {
        embed["url"] = json!(url);
    }
    json!({
        "content": cap(&title, 2000),
        "embeds": [embed],
        // An error text or image name must never ping @everyone or a role.
        "allowed_mentions": {"parse": []},
    })
}

/// The variables a generic `body` template may use: every field of any event's generic
/// JSON (absent ones are empty) plus `text`, the notice in one paragraph.
pub const BODY_VARIABLES: &[&str] = &[
    "event",
    "text",
    "commit",
    "branch",
    "changes",
    "applications",
    "url",
    "opened",
    "head",
    "image",
    "reason",
    "error",
    "images",
    "generation",
    "problems",
];

fn template_context(notice: &Notice) -> Value {
    let mut ctx = json!({
        "event": "", "text": "", "commit": "", "branch": "", "changes": [], "applications": [],
        "url": "", "opened": false, "head": "", "image": "", "reason": "", "error": "",
        "images": [], "generation": 0, "problems": [],
    });
    if let (Value::Object(c), Value::Object(g)) = (&mut ctx, generic(notice)) {
        c.extend(g);
        let (title, lines) = words(notice);
        c.insert(
            "text".into(),
            json!(std::iter::once(title)
                .chain(lines)
                .collect::<Vec<_>>()
                .join("\n")),
        );
    }
    ctx
}

fn environment() -> minijinja::Environment<'static> {
    crate::template::environment()
}

/// Renders a generic entry's `body` template for a notice.
pub fn render_body(template: &str, notice: &Notice) -> Result<String, String> {
    environment()
        .render_str(template, template_context(notice))
        .map_err(|e| format!("body fails to render: {e}"))
}

/// Checks a `body` template: it parses, names only [`BODY_VARIABLES`], and renders a
/// sample of every event.
pub fn check_body(template: &str) -> Result<(), String> {
    crate::template::check(template, BODY_VARIABLES).map_err(|p| match p {
        crate::template::Problem::Syntax { message, .. } => {
            format!("body does not parse: {message}")
        }
        crate::template::Problem::Unknown { name } => format!(
            "body uses unknown variable `{name}`; known: {}",
            BODY_VARIABLES.join(", ")
        ),
    })?;
    for n in samples() {
        render_body(template, &n)?;
    }
    Ok(())
}

/// One notice of every event (for checks and tests).
pub fn samples() -> Vec<Notice> {
    let change = PlannedChange {
        owner: Some(crate::decision::ImageId::new("shop", "web")),
        file: "apps/web.yaml".into(),
        line: 4,
        old: "ghcr.io/acme/web:1.0.0".into(),
        new: "ghcr.io/acme/web:1.1.0".into(),
    };
    vec![
        Notice::Commit {
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            branch: "main".into(),
            changes: vec![change],
        },
        Notice::PullRequest {
            url: "https://git.example.com/acme/fleet/pulls/7".into(),
            opened: true,
            head: "imagebump/updates".into(),
            changes: vec![("shop/web".into(), "1.0.0".into(), "1.1.0".into())],
        },
        Notice::Held {
            image: "shop/web".into(),
            reason: "held: manual change in abc123".into(),
        },
        Notice::Failure {
            error: "push refused".into(),
            images: vec!["shop/web".into()],
        },
        Notice::PolicyReloadFailed {
            kept: 3,
            problems: vec!["a.yaml:4:5: bad".into()],
        },
        Notice::ConfigReloadFailed {
            kept: 2,
            problems: vec!["imagebump.yaml:3:5: unknown provider".into()],
        },
    ]
}

#[cfg(test)]
mod tests;
