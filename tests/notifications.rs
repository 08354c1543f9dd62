//! Notifications through the real service: the `imagebump run` binary, a CNCF
//! Distribution registry notifying it and a file:// GitOps repository; the chat webhooks
//! (Teams, Discord, Google Chat, generic) are stand-in receivers (`StandInServer`) that
//! record what they get. Each entry's `events:` and `applications:` filters are shown
//! both passing and blocking.

mod support;

use std::time::Duration;

use imagebump_testbed::gitserver::BareRepo;
use imagebump_testbed::registry::{free_port, TestRegistry, TestRegistryOptions};
use imagebump_testbed::standin::{Resp, StandInServer};
use serde_json::Value;
use support::service::{rt, wait_for, Service};

const HOOK: &str = "notify-e2e-hook";

fn bodies(s: &StandInServer) -> Vec<Value> {
    s.requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[test]
fn each_format_and_filter_through_the_service() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let registry = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/registry"),
        Some(&format!("Bearer {HOOK}")),
    ));
    let h = registry.host();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!("application: shop\nimages:\n  - name: web\n    repository: {h}/team/web\n    semver: '*'\n    targets:\n      - manifest: web.yaml\n"),
    )
    .unwrap();
    let deployment = format!("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {h}/team/web:1.0.0\n");
    let repo = BareRepo::create_at(&dir.join("fleet.git"), &[("web.yaml", &deployment)]);
    let ok = || StandInServer::start(|_| Resp::status(200));
    let (teams, discord, chat, blog, templated) = (ok(), ok(), ok(), ok(), ok());
    let config = format!(
        "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\npoll: {{interval: 1h}}\ngit:\n  url: file://{d}/fleet.git\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - {{host: {h}, insecure: true}}\nreceivers:\n  - {{name: registry, provider: distribution, secret: {{env: E2E_HOOK}}}}\nnotifications:\n  - {{url: {{env: TEAMS_URL}}, format: teams, events: [commit]}}\n  - {{url: {{env: DISCORD_URL}}, format: discord, applications: ['sh*']}}\n  - {{url: {{env: CHAT_URL}}, format: googlechat, events: [failure]}}\n  - {{url: {{env: BLOG_URL}}, applications: [blog]}}\n  - url: {{env: TEMPLATED_URL}}\n    events: [commit]\n    body: '{{\"say\": {{{{ text | tojson }}}}, \"event\": \"{{{{ event }}}}\", \"apps\": {{{{ applications | tojson }}}}}}'\n",
        d = dir.display()
    );
    std::fs::write(dir.join("imagebump.yaml"), &config).unwrap();
    let url = |s: &StandInServer| format!("http://{}/hook", s.host());
    let (tu, du, cu, bu, xu) = (
        url(&teams),
        url(&discord),
        url(&chat),
        url(&blog),
        url(&templated),
    );
    let env = [
        ("E2E_HOOK", HOOK),
        ("TEAMS_URL", tu.as_str()),
        ("DISCORD_URL", du.as_str()),
        ("CHAT_URL", cu.as_str()),
        ("BLOG_URL", bu.as_str()),
        ("TEMPLATED_URL", xu.as_str()),
    ];
    let rt = rt();
    rt.block_on(registry.push_image("team/web", "1.0.0"));
    let svc = Service::start_env(dir, port, &env);
    rt.block_on(registry.push_image("team/web", "1.1.0"));
    wait_for("the commit", Duration::from_secs(30), || {
        repo.read("main", "web.yaml")?
            .contains(":1.1.0")
            .then_some(())
    });
    let commit = repo.head("main").unwrap();

    // Teams: a message with one Adaptive Card 1.4.
    let t = wait_for("the Teams message", Duration::from_secs(20), || {
        bodies(&teams).pop()
    });
    assert_eq!(t["type"], "message");
    let a = &t["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(
        (
            a["content"]["type"].as_str(),
            a["content"]["version"].as_str()
        ),
        (Some("AdaptiveCard"), Some("1.4"))
    );
    let title = a["content"]["body"][0]["text"].as_str().unwrap();
    assert!(
        title.contains(&commit[..12]) && title.contains("main"),
        "{title}"
    );
    assert!(
        a["content"]["body"][1]["text"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "shop/web: {h}/team/web:1.0.0 → {h}/team/web:1.1.0"
            )),
        "{t}"
    );

    // Discord: content + embed, mentions off; `sh*` matches shop.
    let d = wait_for("the Discord message", Duration::from_secs(20), || {
        bodies(&discord).pop()
    });
    assert!(
        d["content"].as_str().unwrap().contains(&commit[..12]),
        "{d}"
    );
    assert!(
        d["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("shop/web"),
        "{d}"
    );
    assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));

    // The generic template.
    let x = wait_for("the templated body", Duration::from_secs(20), || {
        bodies(&templated).pop()
    });
    assert_eq!(
        (x["event"].as_str(), &x["apps"]),
        (Some("commit"), &serde_json::json!(["shop"])),
        "{x}"
    );
    assert!(
        x["say"].as_str().unwrap().starts_with("imagebump pushed"),
        "{x}"
    );

    // A config reload failure has no application: the blog-only entry gets it, the
    // failure-only one does not, nor the commit-only ones.
    std::fs::write(dir.join("imagebump.yaml"), format!("{config}bogusKey: 1\n")).unwrap();
    let b = wait_for(
        "the reload failure at the blog entry",
        Duration::from_secs(20),
        || bodies(&blog).pop(),
    );
    assert_eq!(b["event"], "config_reload_failed", "{b}");
    assert!(
        b["problems"][0].as_str().unwrap().contains("bogusKey"),
        "{b}"
    );
    let d2 = wait_for(
        "the reload failure at Discord",
        Duration::from_secs(20),
        || {
            let all = bodies(&discord);
            (all.len() == 2).then(|| all[1].clone())
        },
    );
    assert!(
        d2["content"]
            .as_str()
            .unwrap()
            .contains("kept config generation 1"),
        "{d2}"
    );
    // Filtered out: the commit at the blog entry (shop's), everything at the
    // failure-only entry, the reload failure at the commit-only entries.
    assert_eq!(bodies(&blog).len(), 1, "{:?}", bodies(&blog));
    assert!(chat.requests().is_empty(), "{:?}", bodies(&chat));
    assert_eq!(bodies(&teams).len(), 1);
    assert_eq!(bodies(&templated).len(), 1);
    drop(svc);
}

/// Pull-request mode through the service: the forge is the testbed's GitHub stand-in
/// (over a real bare repository served by smart HTTP). Opening and then updating the pull
/// request are both announced, and the deploy trigger fires for the head branch's pushes.
#[test]
fn pull_requests_opened_and_updated_are_announced() {
    use imagebump_testbed::forge::{ForgeStandIn, Kind};
    use imagebump_testbed::gitserver::HttpGitServer;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let registry = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/registry"),
        Some(&format!("Bearer {HOOK}")),
    ));
    let h = registry.host();
    let http = HttpGitServer::start("robot", "git-Pass-1");
    let repo = http.create_repo(
        "acme/fleet",
        &[(
            "apps/web.yaml",
            &format!("kind: Pod\nspec:\n  containers:\n    - image: {h}/team/web:1.0.0\n"),
        )],
    );
    let forge = ForgeStandIn::start(Kind::Github, &repo, "acme/fleet", "forge-token");
    let notified = StandInServer::start(|_| Resp::status(200));
    let hook = StandInServer::start(|_| Resp::status(200));
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!("application: shop\nimages:\n  - name: web\n    repository: {h}/team/web\n    semver: '*'\n    targets:\n      - manifest: apps/web.yaml\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\npoll: {{interval: 1h}}\ngit:\n  url: {url}\n  author: {{name: imagebump, email: bot@example.com}}\n  credentials: {{username: {{env: GIT_USER}}, password: {{env: GIT_PASS}}}}\n  write:\n    pullRequest: {{provider: github, apiUrl: '{api}', token: {{env: FORGE_TOKEN}}}}\nregistries:\n  - {{host: {h}, insecure: true}}\nreceivers:\n  - {{name: registry, provider: distribution, secret: {{env: E2E_HOOK}}}}\nnotifications:\n  - {{url: {{env: NOTIFY_URL}}, events: [pull_request]}}\ndeployTriggers:\n  - webhook: {{url: 'http://{hook}/deploy'}}\n",
            d = dir.display(),
            url = http.url("acme/fleet"),
            api = forge.api_url(),
            hook = hook.host(),
        ),
    )
    .unwrap();
    let nu = format!("http://{}/hook", notified.host());
    let env = [
        ("E2E_HOOK", HOOK),
        ("GIT_USER", "robot"),
        ("GIT_PASS", "git-Pass-1"),
        ("FORGE_TOKEN", "forge-token"),
        ("NOTIFY_URL", nu.as_str()),
    ];
    let rt = rt();
    rt.block_on(registry.push_image("team/web", "1.0.0"));
    let _svc = Service::start_env(dir, port, &env);
    rt.block_on(registry.push_image("team/web", "1.1.0"));
    let opened = wait_for("the pull request opened", Duration::from_secs(30), || {
        bodies(&notified).pop()
    });
    assert_eq!(
        (opened["event"].as_str(), opened["opened"].as_bool()),
        (Some("pull_request"), Some(true)),
        "{opened}"
    );
    let pr_url = opened["url"].as_str().unwrap().to_string();
    assert_eq!(opened["head"], "imagebump/updates");
    assert_eq!(opened["changes"][0]["image"], "shop/web");
    assert_eq!(forge.prs().len(), 1);
    rt.block_on(registry.push_image("team/web", "1.2.0"));
    let updated = wait_for("the pull request updated", Duration::from_secs(30), || {
        let all = bodies(&notified);
        (all.len() == 2).then(|| all[1].clone())
    });
    assert_eq!(
        (updated["opened"].as_bool(), updated["url"].as_str()),
        (Some(false), Some(pr_url.as_str())),
        "{updated}"
    );
    assert!(
        updated["changes"][0]["to"]
            .as_str()
            .unwrap()
            .ends_with(":1.2.0"),
        "{updated}"
    );
    // Each push to the head branch fired the trigger, naming that branch.
    let pushes = wait_for("two trigger deliveries", Duration::from_secs(20), || {
        let r = hook.requests();
        (r.len() == 2).then_some(r)
    });
    for r in pushes {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["branch"], "imagebump/updates", "{v}");
    }
}
