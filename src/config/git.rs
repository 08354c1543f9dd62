//! `git:` — the GitOps repositories: one map or a list of named ones, each with its
//! URL, branch, credentials, write mode (`push`, `{branch}`, `{pullRequest}`) and signing.

use serde::Deserialize;

use crate::secret::SecretRef;

/// `git:` — one map (a single repository, its name optional) or a list of named
/// repositories. Kept in the order written.
#[derive(Debug, Clone, Default)]
pub struct GitRepos {
    /// The repositories.
    pub repos: Vec<GitSection>,
    /// Written as a list (every entry then needs a `name`).
    pub listed: bool,
}

impl<'de> Deserialize<'de> for GitRepos {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than `#[serde(untagged)]`, which would replace every error
        // inside a repository with "did not match any variant".
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = GitRepos;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping such as {url: https://git.example.com/fleet.git, branch: main}, or a list of named ones")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<GitRepos, A::Error> {
                let one = GitSection::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Ok(GitRepos {
                    repos: vec![one],
                    listed: false,
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, s: A) -> Result<GitRepos, A::Error> {
                let repos = Vec::<GitSection>::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(s),
                )?;
                Ok(GitRepos {
                    repos,
                    listed: true,
                })
            }
            fn visit_unit<E>(self) -> Result<GitRepos, E> {
                Ok(GitRepos::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl GitRepos {
    /// No `git:` section.
    pub fn is_empty(&self) -> bool {
        self.repos.is_empty()
    }

    /// The repository called `name` (the unnamed one answers to [`DEFAULT_GIT_NAME`]).
    pub fn get(&self, name: &str) -> Option<&GitSection> {
        self.repos.iter().find(|r| r.name() == name)
    }

    /// The first (with one repository: the) repository.
    pub fn first(&self) -> Option<&GitSection> {
        self.repos.first()
    }

    /// How messages name repository `g`'s keys: `git` for a single map, `git[NAME]` in a
    /// list.
    pub fn label(&self, g: &GitSection) -> String {
        if self.listed {
            format!("git[{}]", g.name())
        } else {
            "git".to_string()
        }
    }

    /// Every repository's name, in config order.
    pub fn names(&self) -> Vec<String> {
        self.repos.iter().map(|r| r.name().to_string()).collect()
    }
}

/// The name of a single `git:` map that gives none: used in status, metrics and logs.
pub const DEFAULT_GIT_NAME: &str = "default";

/// One GitOps repository: where to write, how, and as whom.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitSection {
    /// The name policies use in a target's `git:` (required in a list).
    pub name: Option<GitName>,
    /// `https://…`, `ssh://…` or `file://…`; must carry no credentials.
    pub url: GitUrl,
    /// Branch to read (and write, unless `write` says otherwise).
    #[serde(default = "default_branch", deserialize_with = "branch_name")]
    pub branch: String,
    /// Old spelling of `write: {branch: NAME}`.
    #[serde(default, deserialize_with = "opt_branch_name")]
    pub push_branch: Option<String>,
    /// How changes reach the branch: `push` (default), `{branch: NAME}` or
    /// `{pullRequest: {…}}`.
    pub write: Option<WriteMode>,
    /// Sign every commit imagebump makes.
    pub signing: Option<SigningSection>,
    /// Commit author.
    #[serde(default)]
    pub author: Author,
    /// HTTPS credentials.
    pub credentials: Option<Credentials>,
    /// SSH private key.
    pub ssh_key: Option<SecretRef>,
    /// SSH known_hosts.
    pub known_hosts: Option<SecretRef>,
    /// Commit message template (minijinja; variables in
    /// `imagebump_core::message::VARIABLES`), checked while loading.
    #[serde(default, deserialize_with = "commit_template")]
    pub commit_message: Option<String>,
    /// Web page of a commit, for the status page's links (minijinja; variables in
    /// `imagebump_core::link::VARIABLES`), checked while loading; derived for public
    /// forges when absent ([`GitSection::commit_url_template`]).
    #[serde(default, deserialize_with = "commit_url")]
    pub commit_url: Option<String>,
}

fn default_branch() -> String {
    "main".into()
}

impl GitSection {
    /// The `commitUrl` template in effect: the configured one, else one derived from the
    /// URL for a public forge, else none (the status page then shows the bare commit id).
    pub fn commit_url_template(&self) -> Option<String> {
        self.commit_url
            .clone()
            .or_else(|| imagebump_core::link::derive(&self.url.0))
    }

    /// The repository's name ([`DEFAULT_GIT_NAME`] when a single map gives none).
    pub fn name(&self) -> &str {
        self.name
            .as_ref()
            .map_or(DEFAULT_GIT_NAME, |n| n.0.as_str())
    }

    /// The write mode, `pushBranch` read as `write: {branch}`; a write branch that is
    /// the base branch itself is `push`.
    pub fn write_mode(&self) -> WriteMode {
        match (&self.write, &self.push_branch) {
            (Some(WriteMode::Branch { branch }), _) | (None, Some(branch))
                if *branch == self.branch =>
            {
                WriteMode::Push
            }
            (Some(w), _) => w.clone(),
            (None, Some(b)) => WriteMode::Branch { branch: b.clone() },
            (None, None) => WriteMode::Push,
        }
    }
}

/// A GitOps repository's name: letters, digits, `-`, `_` and `.`, as in metric labels
/// and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GitName(pub String);

impl TryFrom<String> for GitName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(GitName(s))
        } else {
            Err(format!(
                "git name {s:?} must be 1-63 letters, digits, -, _ or ."
            ))
        }
    }
}

imagebump_core::parsed::from_str_scalar!(GitName, "a repository name");

/// `write:` — how changes reach the branch.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteMode {
    /// `push`: straight onto `branch`, never forced.
    Push,
    /// `{branch: NAME}`: imagebump's own branch, the base branch's tip plus imagebump's
    /// changes, rebuilt on every write.
    Branch {
        /// The branch imagebump owns.
        branch: String,
    },
    /// `{pullRequest: {…}}`: that branch plus one open pull/merge request.
    PullRequest(PullRequestSection),
}

impl<'de> Deserialize<'de> for WriteMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Raw {
            #[serde(default, deserialize_with = "opt_branch_name")]
            branch: Option<String>,
            pull_request: Option<PullRequestSection>,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = WriteMode;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("push, {branch: NAME} or {pullRequest: {provider: …, token: …}}")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<WriteMode, E> {
                match s {
                    "push" => Ok(WriteMode::Push),
                    _ => Err(E::custom(format!(
                        "write {s:?} must be push, {{branch: NAME}} or {{pullRequest: {{…}}}}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<WriteMode, A::Error> {
                let r = Raw::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                match (r.branch, r.pull_request) {
                    (Some(branch), None) => Ok(WriteMode::Branch { branch }),
                    (None, Some(pr)) => Ok(WriteMode::PullRequest(pr)),
                    _ => Err(serde::de::Error::custom(
                        "write takes one of branch or pullRequest",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `write: {pullRequest: {…}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PullRequestSection {
    /// Which forge's API.
    pub provider: ForgeProvider,
    /// The API's base URL (default: the provider's public one; GitHub Enterprise Server,
    /// self-hosted GitLab and Gitea need it).
    pub api_url: Option<String>,
    /// The API token.
    pub token: SecretRef,
    /// The head branch; with `groupBy` other than `repository`, a prefix
    /// (`imagebump/updates/<application>`).
    #[serde(default = "default_pr_branch", deserialize_with = "branch_name")]
    pub branch: String,
    /// How many pull requests: one per repository (default), application or image.
    #[serde(default)]
    pub group_by: GroupBy,
    /// Labels to set.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Reviewers to request (user names).
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// Ask the forge to merge once its checks pass.
    #[serde(default)]
    pub auto_merge: bool,
    /// Title template (minijinja over `changes` — image, from, to, files — and `count`),
    /// checked while loading.
    #[serde(default, deserialize_with = "pr_template")]
    pub title: Option<String>,
    /// Body template, likewise; the proposed-versions comment is always appended.
    #[serde(default, deserialize_with = "pr_template")]
    pub body: Option<String>,
}

/// A pull-request title or body template that renders a sample change.
struct PrTemplate(String);

impl TryFrom<String> for PrTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        imagebump_core::pull::check_template(&s)?;
        Ok(PrTemplate(s))
    }
}

imagebump_core::parsed::from_str_scalar!(PrTemplate, "a pull request template");

fn pr_template<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<PrTemplate>::deserialize(d).map(|t| t.map(|t| t.0))
}

fn default_pr_branch() -> String {
    "imagebump/updates".into()
}

/// `provider:` of a pull-request write mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeProvider {
    /// GitHub and GitHub Enterprise Server (REST v3).
    Github,
    /// GitLab (REST v4, merge requests).
    Gitlab,
    /// Gitea and Forgejo (REST v1).
    Gitea,
    /// Bitbucket Cloud (REST 2.0).
    Bitbucket,
}

/// `groupBy:` — what one pull request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Every change of the repository in one pull request.
    #[default]
    Repository,
    /// One per application (policy file).
    Application,
    /// One per image.
    Image,
}

/// `signing:` — how commits are signed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSection {
    /// `ssh` (as `git commit -S` with `gpg.format=ssh`) or `openpgp`.
    pub format: SigningFormat,
    /// The private key (OpenSSH or ASCII-armoured OpenPGP).
    pub key: SecretRef,
    /// The key's passphrase, if it has one.
    pub passphrase: Option<SecretRef>,
}

/// `signing.format:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningFormat {
    /// SSH signatures (`gpg.format=ssh`).
    Ssh,
    /// OpenPGP signatures.
    Openpgp,
}

/// A branch name git accepts (`git check-ref-format --branch` rules), checked while
/// loading so `branch: "a..b"` is an error at its line, not a failing push later.
struct BranchName(String);

impl TryFrom<String> for BranchName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = |why: &str| {
            Err(format!(
                "branch {s:?} is not a valid git branch name: {why}"
            ))
        };
        if s.is_empty() {
            return bad("it is empty");
        }
        if s.starts_with('-') {
            return bad("it starts with -");
        }
        if s == "@" || s.contains("@{") {
            return bad("it is @ or holds @{");
        }
        if s.contains("..") {
            return bad("it holds ..");
        }
        if let Some(c) = s
            .chars()
            .find(|c| c.is_ascii_control() || " ~^:?*[\\".contains(*c))
        {
            return bad(&format!("it holds {c:?}"));
        }
        if s.ends_with('.') {
            return bad("it ends with .");
        }
        for part in s.split('/') {
            if part.is_empty() {
                return bad("it has an empty part (a leading, trailing or double /)");
            }
            if part.starts_with('.') || part.ends_with(".lock") {
                return bad("a part starts with . or ends with .lock");
            }
        }
        Ok(BranchName(s))
    }
}

imagebump_core::parsed::from_str_scalar!(BranchName, "a git branch name");

fn branch_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    BranchName::deserialize(d).map(|b| b.0)
}

/// A `commitMessage` that parses and uses only known variables (an unknown one would
/// otherwise reach git as written, or as an empty string).
struct CommitTemplate(String);

impl TryFrom<String> for CommitTemplate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        imagebump_core::message::check_template(&s).map_err(|e| e.to_string())?;
        Ok(CommitTemplate(s))
    }
}

imagebump_core::parsed::from_str_scalar!(CommitTemplate, "a commit message template");

fn commit_template<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<CommitTemplate>::deserialize(d).map(|t| t.map(|t| t.0))
}

/// A `commitUrl` that parses, uses only known variables and renders a web address.
struct CommitUrl(String);

impl TryFrom<String> for CommitUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        imagebump_core::link::check(&s).map_err(|e| e.to_string())?;
        Ok(CommitUrl(s))
    }
}

imagebump_core::parsed::from_str_scalar!(CommitUrl, "a commit URL template");

fn commit_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<CommitUrl>::deserialize(d).map(|t| t.map(|t| t.0))
}

fn opt_branch_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<BranchName>::deserialize(d).map(|b| b.map(|b| b.0))
}

/// A git remote URL without userinfo (credentials belong in `credentials`, where they
/// are not logged with the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl(pub String);

impl TryFrom<String> for GitUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let scheme_ok = ["https://", "http://", "ssh://", "file://"]
            .iter()
            .any(|p| s.starts_with(p));
        if !scheme_ok {
            return Err(format!(
                "git url {s:?} must start with https://, http://, ssh:// or file://"
            ));
        }
        let after = &s[s.find("://").map_or(0, |i| i + 3)..];
        let authority = after.split('/').next().unwrap_or("");
        if !s.starts_with("ssh://") && authority.contains('@') {
            return Err("git url must not carry credentials; use git.credentials with {env: …} or {file: …}".into());
        }
        Ok(GitUrl(s))
    }
}

/// Commit author identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "imagebump".into(),
            email: "imagebump@localhost".into(),
        }
    }
}

/// Username and password/token, each a secret reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Username.
    pub username: SecretRef,
    /// Password or token.
    pub password: SecretRef,
}
