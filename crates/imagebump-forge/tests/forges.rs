//! Each provider against its stand-in API (`imagebump_testbed::forge`), with the git side
//! real: the head branch is pushed over smart HTTP (nginx + git-http-backend), the
//! stand-in checks it in the bare repository, and a merge there is a real merge commit.
//! Every test runs once per provider (the `per_provider!` list at the end).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imagebump_core::secret::Secret;
use imagebump_forge::{
    Forge, ForgeConfig, ForgeError, PrState, Provider, PullRequestSpec, TokenSource,
};
use imagebump_testbed::forge::{ForgeStandIn, Kind, PrState as StandInState};
use imagebump_testbed::gitserver::{git, BareRepo, CliClone, HttpGitServer};

const TOKEN: &str = "forge-token-3f9a1c";
const WRONG: &str = "wrong-token-77e2b0";
const HEAD: &str = "imagebump/updates";

/// What differs per provider.
struct Case {
    provider: Provider,
    kind: Kind,
    full_name: &'static str,
    /// How the provider names reviewers.
    reviewer: &'static str,
    labels_supported: bool,
    auto_merge_supported: bool,
    duplicate_status: u16,
    duplicate_message: &'static str,
    unauthorized_message: &'static str,
    /// The wait a rate-limit answer means (GitHub's comes from a reset time, so ±1 s).
    rate_wait: (u64, u64),
}

fn case(provider: Provider) -> Case {
    match provider {
        Provider::Github => Case {
            provider,
            kind: Kind::Github,
            full_name: "acme/fleet",
            reviewer: "alice",
            labels_supported: true,
            auto_merge_supported: true,
            duplicate_status: 422,
            duplicate_message: "A pull request already exists for acme:imagebump/updates.",
            unauthorized_message: "Bad credentials",
            rate_wait: (118, 120),
        },
        Provider::Gitlab => Case {
            provider,
            kind: Kind::Gitlab,
            full_name: "platform/team/fleet",
            reviewer: "alice",
            labels_supported: true,
            auto_merge_supported: true,
            duplicate_status: 409,
            duplicate_message: "Another open merge request already exists for this source branch",
            unauthorized_message: "401 Unauthorized",
            rate_wait: (120, 120),
        },
        Provider::Gitea => Case {
            provider,
            kind: Kind::Gitea,
            full_name: "acme/fleet",
            reviewer: "alice",
            labels_supported: true,
            auto_merge_supported: true,
            duplicate_status: 409,
            duplicate_message: "pull request already exists for these targets",
            unauthorized_message: "user does not exist",
            rate_wait: (120, 120),
        },
        Provider::Bitbucket => Case {
            provider,
            kind: Kind::Bitbucket,
            full_name: "acme/fleet",
            reviewer: "{9f1c2d3e-0000-4a5b-8c7d-112233445566}",
            labels_supported: false,
            auto_merge_supported: false,
            duplicate_status: 400,
            duplicate_message: "There is already an open pull request",
            unauthorized_message: "Token is invalid",
            // Bitbucket's 429 says no wait: the client's default.
            rate_wait: (60, 60),
        },
    }
}

/// A real git server with the repository, imagebump's branch pushed to it, and the
/// provider's stand-in over the same bare repository.
struct Fixture {
    case: Case,
    git: HttpGitServer,
    repo: BareRepo,
    clone: CliClone,
    forge: ForgeStandIn,
}

impl Fixture {
    fn new(provider: Provider) -> Fixture {
        let case = case(provider);
        let git = HttpGitServer::start("bot", "git-pass");
        let repo = git.create_repo(case.full_name, &[("apps/web.yaml", "image: web:1.0\n")]);
        let clone = CliClone::new(&git.url_with_credentials(case.full_name));
        git_in(&clone, &["checkout", "-q", "-b", HEAD]);
        let forge = ForgeStandIn::start(case.kind, &repo, case.full_name, TOKEN);
        let f = Fixture {
            case,
            git,
            repo,
            clone,
            forge,
        };
        f.push_change("1.1");
        f
    }

    /// A new commit on imagebump's branch, pushed over smart HTTP.
    fn push_change(&self, version: &str) {
        self.clone.commit(
            &[("apps/web.yaml", &format!("image: web:{version}\n"))],
            &format!("web: {version}"),
        );
        git_in(&self.clone, &["push", "-q", "origin", HEAD]);
    }

    fn client_with(&self, token: Arc<dyn TokenSource>) -> Forge {
        Forge::new(ForgeConfig {
            provider: self.case.provider,
            api_url: Some(self.forge.api_url()),
            repo_url: self.git.url(self.case.full_name),
            token,
            ca_file: None,
        })
        .expect("a client")
    }

    /// A fresh client, as after a restart.
    fn client(&self) -> Forge {
        self.client_with(Arc::new(Secret::new(TOKEN)))
    }

    fn spec(&self, title: &str, labels: &[&str]) -> PullRequestSpec {
        PullRequestSpec {
            head: HEAD.into(),
            base: "main".into(),
            title: title.into(),
            body: "| image | from | to |\n|---|---|---|\n| web | 1.0 | 1.1 |\n".into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            reviewers: vec![self.case.reviewer.into()],
            auto_merge: true,
        }
    }

    fn list_requests(&self) -> usize {
        self.forge
            .requests()
            .iter()
            .filter(|r| {
                r.starts_with("GET ")
                    && (r.contains("/pulls?")
                        || r.contains("/pullrequests?")
                        || r.contains("/merge_requests?"))
            })
            .count()
    }
}

fn git_in(clone: &CliClone, args: &[&str]) {
    git(Some(clone.path()), args);
}

/// What the engine does: the open pull request of the head branch is updated, else one
/// is opened.
async fn ensure(forge: &Forge, spec: &PullRequestSpec) -> u64 {
    let found = forge.pull_requests(&spec.head).await.expect("list");
    match found.iter().find(|p| p.state == PrState::Open) {
        Some(p) => forge.update(p.number, spec).await.expect("update").number,
        None => forge.open(spec).await.expect("open").number,
    }
}

async fn opens_and_finds_it_again_by_head_after_a_restart(provider: Provider) {
    let f = Fixture::new(provider);
    assert!(f.client().pull_requests(HEAD).await.unwrap().is_empty());
    let spec = f.spec("Update web to 1.1", &["imagebump"]);
    let pr = f.client().open(&spec).await.expect("open");
    assert_eq!(pr.state, PrState::Open);
    assert_eq!(
        (pr.head.as_str(), pr.title.as_str()),
        (HEAD, "Update web to 1.1")
    );
    assert!(pr.url.contains(&pr.number.to_string()), "{}", pr.url);

    let held = f.forge.pr(pr.number);
    assert_eq!(held.body, spec.body);
    assert_eq!(held.reviewers, vec![f.case.reviewer.to_string()]);
    assert_eq!(held.auto_merge, f.case.auto_merge_supported);
    if f.case.labels_supported {
        assert_eq!(held.labels, vec!["imagebump".to_string()]);
        assert!(pr.warnings.is_empty(), "{:?}", pr.warnings);
    } else {
        assert!(held.labels.is_empty());
        assert!(
            pr.warnings.iter().any(|w| w.contains("labels ignored")),
            "{:?}",
            pr.warnings
        );
        assert!(
            pr.warnings.iter().any(|w| w.contains("autoMerge ignored")),
            "{:?}",
            pr.warnings
        );
    }

    // A new client (a restarted imagebump) finds the same one by its head branch.
    let again = f.client().pull_requests(HEAD).await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].number, pr.number);
    assert_eq!(again[0].state, PrState::Open);
    assert_eq!(again[0].body, spec.body);
    assert_eq!(again[0].url, pr.url);
    assert!(f
        .client()
        .pull_requests("someone/else")
        .await
        .unwrap()
        .is_empty());
}

async fn update_changes_title_body_and_labels(provider: Provider) {
    let f = Fixture::new(provider);
    let forge = f.client();
    let pr = forge
        .open(&f.spec("Update web to 1.1", &["imagebump"]))
        .await
        .unwrap();
    f.push_change("1.2");
    let mut spec = f.spec("Update web to 1.2", &["imagebump", "urgent"]);
    spec.body = "web: 1.0 → 1.2\n".into();
    let updated = forge.update(pr.number, &spec).await.expect("update");
    assert_eq!(updated.number, pr.number);
    assert_eq!(updated.title, "Update web to 1.2");
    assert_eq!(updated.body, "web: 1.0 → 1.2\n");
    let held = f.forge.pr(pr.number);
    assert_eq!(
        (held.title.as_str(), held.body.as_str()),
        ("Update web to 1.2", "web: 1.0 → 1.2\n")
    );
    if f.case.labels_supported {
        assert_eq!(
            held.labels,
            vec!["imagebump".to_string(), "urgent".to_string()]
        );
    } else {
        assert!(updated
            .warnings
            .iter()
            .any(|w| w.contains("labels ignored")));
    }
    // Reviewers asked at open stay asked (Bitbucket's PUT would drop them if not sent).
    assert_eq!(held.reviewers, vec![f.case.reviewer.to_string()]);
}

async fn a_duplicate_is_never_opened(provider: Provider) {
    let f = Fixture::new(provider);
    let spec = f.spec("Update web", &[]);
    let first = ensure(&f.client(), &spec).await;
    f.push_change("1.2");
    let second = ensure(&f.client(), &spec).await;
    assert_eq!(first, second);
    assert_eq!(f.forge.prs().len(), 1);

    // Opening blindly is refused by the forge, with its own words.
    let err = f.client().open(&spec).await.unwrap_err();
    match &err {
        ForgeError::Http {
            status, message, ..
        } => {
            assert_eq!(*status, f.case.duplicate_status, "{err}");
            assert!(message.contains(f.case.duplicate_message), "{err}");
        }
        other => panic!("expected an HTTP error, got {other}"),
    }
    assert_eq!(f.forge.prs().len(), 1);
}

async fn merged_and_closed_states_read_right(provider: Provider) {
    let f = Fixture::new(provider);
    let forge = f.client();
    let first = forge.open(&f.spec("Update web to 1.1", &[])).await.unwrap();
    f.forge.merge(first.number);
    // A real merge commit on main, with the branch's change.
    assert_eq!(
        f.repo.read("main", "apps/web.yaml").as_deref(),
        Some("image: web:1.1\n")
    );
    assert!(f.repo.log_subjects("main")[0]
        .starts_with(&format!("Merge pull request #{}", first.number)));
    let found = forge.pull_requests(HEAD).await.unwrap();
    assert_eq!(
        found
            .iter()
            .map(|p| (p.number, p.state))
            .collect::<Vec<_>>(),
        vec![(first.number, PrState::Merged)]
    );

    // After a merge the next change opens a new one; declined, it reads closed.
    git_in(&f.clone, &["pull", "-q", "--ff-only", "origin", "main"]);
    f.push_change("1.2");
    let number = ensure(&forge, &f.spec("Update web to 1.2", &[])).await;
    assert!(number > first.number);
    f.forge.close(number);
    let found = forge.pull_requests(HEAD).await.unwrap();
    assert_eq!(
        found
            .iter()
            .map(|p| (p.number, p.state))
            .collect::<Vec<_>>(),
        vec![(number, PrState::Closed), (first.number, PrState::Merged)]
    );
}

async fn pagination_is_followed_past_page_one(provider: Provider) {
    let f = Fixture::new(provider);
    f.forge.seed(HEAD, 12, StandInState::Closed);
    f.forge.seed("renovate/other", 12, StandInState::Open);
    let ours = f.client().open(&f.spec("Update web", &[])).await.unwrap();
    let before = f.list_requests();
    let found = f.client().pull_requests(HEAD).await.unwrap();
    assert_eq!(found.len(), 13, "{found:?}");
    assert_eq!(
        (found[0].number, found[0].state),
        (ours.number, PrState::Open)
    );
    assert!(found[1..]
        .iter()
        .all(|p| p.state == PrState::Closed && p.head == HEAD));
    let pages = f.list_requests() - before;
    assert!(
        pages >= 3,
        "{pages} list pages read: {:?}",
        f.forge.requests()
    );
}

async fn a_rate_limit_says_how_long_to_wait(provider: Provider) {
    let f = Fixture::new(provider);
    f.forge.rate_limit_next(1);
    let err = f.client().pull_requests(HEAD).await.unwrap_err();
    match err {
        ForgeError::RateLimited {
            provider: p,
            retry_after,
        } => {
            assert_eq!(p, provider);
            let (lo, hi) = f.case.rate_wait;
            assert!(
                retry_after >= Duration::from_secs(lo) && retry_after <= Duration::from_secs(hi),
                "{retry_after:?}"
            );
        }
        other => panic!("expected RateLimited, got {other}"),
    }
    // The limit is not a broken client: the next call goes through.
    assert!(f.client().pull_requests(HEAD).await.unwrap().is_empty());
}

async fn a_wrong_token_is_a_401_with_the_forges_message_and_no_token(provider: Provider) {
    let f = Fixture::new(provider);
    let forge = f.client_with(Arc::new(Secret::new(WRONG)));
    for err in [
        forge.pull_requests(HEAD).await.unwrap_err(),
        forge.open(&f.spec("x", &[])).await.unwrap_err(),
    ] {
        let text = err.to_string();
        match &err {
            ForgeError::Http {
                status, message, ..
            } => {
                assert_eq!(*status, 401, "{text}");
                assert!(message.contains(f.case.unauthorized_message), "{text}");
            }
            other => panic!("expected HTTP 401, got {other}"),
        }
        assert!(
            !text.contains(WRONG) && !format!("{err:?}").contains(WRONG),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }
    assert!(f.forge.prs().is_empty());
}

async fn a_refused_extra_is_a_warning_not_a_failure(provider: Provider) {
    let f = Fixture::new(provider);
    let mut spec = f.spec("Update web", &["imagebump"]);
    if provider != Provider::Bitbucket {
        spec.reviewers = vec!["mallory".into()];
    }
    let pr = f
        .client()
        .open(&spec)
        .await
        .expect("the pull request itself opens");
    assert!(!pr.warnings.is_empty(), "{pr:?}");
    assert_eq!(f.forge.prs().len(), 1);
    assert!(f
        .forge
        .pr(pr.number)
        .reviewers
        .iter()
        .all(|r| r != "mallory"));
}

macro_rules! per_provider {
    ($($name:ident),* $(,)?) => {
        mod github { $( #[tokio::test] async fn $name() { super::$name(imagebump_forge::Provider::Github).await } )* }
        mod gitlab { $( #[tokio::test] async fn $name() { super::$name(imagebump_forge::Provider::Gitlab).await } )* }
        mod gitea { $( #[tokio::test] async fn $name() { super::$name(imagebump_forge::Provider::Gitea).await } )* }
        mod bitbucket { $( #[tokio::test] async fn $name() { super::$name(imagebump_forge::Provider::Bitbucket).await } )* }
    };
}

per_provider!(
    opens_and_finds_it_again_by_head_after_a_restart,
    update_changes_title_body_and_labels,
    a_duplicate_is_never_opened,
    merged_and_closed_states_read_right,
    pagination_is_followed_past_page_one,
    a_rate_limit_says_how_long_to_wait,
    a_wrong_token_is_a_401_with_the_forges_message_and_no_token,
    a_refused_extra_is_a_warning_not_a_failure,
);

/// A token source rotated between calls: the next request carries the new token.
struct Rotating(AtomicBool);

impl TokenSource for Rotating {
    fn token(&self) -> Secret {
        Secret::new(if self.0.load(Ordering::SeqCst) {
            TOKEN
        } else {
            WRONG
        })
    }
}

#[tokio::test]
async fn a_rotated_token_is_used_at_the_next_request() {
    let f = Fixture::new(Provider::Github);
    let source = Arc::new(Rotating(AtomicBool::new(false)));
    let forge = f.client_with(source.clone());
    assert!(matches!(
        forge.pull_requests(HEAD).await,
        Err(ForgeError::Http { status: 401, .. })
    ));
    source.0.store(true, Ordering::SeqCst);
    assert!(forge.pull_requests(HEAD).await.unwrap().is_empty());
}

#[tokio::test]
async fn owner_and_name_come_from_the_git_url() {
    let token: Arc<dyn TokenSource> = Arc::new(Secret::new(TOKEN));
    let cfg = |provider, url: &str| ForgeConfig {
        provider,
        api_url: None,
        repo_url: url.into(),
        token: token.clone(),
        ca_file: None,
    };
    for (provider, url, want) in [
        (
            Provider::Github,
            "https://github.com/acme/fleet.git",
            "acme/fleet",
        ),
        (
            Provider::Github,
            "git@ghe.example.com:acme/fleet.git",
            "acme/fleet",
        ),
        (
            Provider::Gitlab,
            "ssh://git@gitlab.com/platform/team/fleet.git",
            "platform/team/fleet",
        ),
        (
            Provider::Gitea,
            "http://127.0.0.1:3000/acme/fleet",
            "acme/fleet",
        ),
        (
            Provider::Bitbucket,
            "https://bot@bitbucket.org/acme/fleet.git",
            "acme/fleet",
        ),
    ] {
        let forge = Forge::new(cfg(provider, url)).expect(url);
        assert_eq!(forge.repository(), want, "{url}");
    }
    let err = Forge::new(cfg(Provider::Github, "https://github.com/acme"))
        .err()
        .unwrap();
    assert!(matches!(err, ForgeError::Config(_)), "{err}");
    let err = Forge::new(ForgeConfig {
        api_url: Some("ftp://x".into()),
        ..cfg(Provider::Gitea, "https://h/acme/fleet.git")
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("apiUrl"), "{err}");
}

#[tokio::test]
async fn a_next_page_on_another_host_is_not_followed() {
    // Only a page served by the stand-in on 127.0.0.1 is real; a `Link` to another host
    // must not get the token, whatever the forge (or something in between) says.
    let f = Fixture::new(Provider::Github);
    f.forge.seed(HEAD, 6, StandInState::Closed);
    let forge = Forge::new(ForgeConfig {
        provider: Provider::Github,
        // The same stand-in, named by another host spelling: its links name 127.0.0.1.
        api_url: Some(f.forge.api_url().replace("127.0.0.1", "localhost")),
        repo_url: f.git.url(f.case.full_name),
        token: Arc::new(Secret::new(TOKEN)),
        ca_file: None,
    })
    .unwrap();
    let err = forge.pull_requests(HEAD).await.unwrap_err();
    assert!(err.to_string().contains("another host"), "{err}");
}
