//! Deploy triggers end to end: the real `imagebump run` binary, a CNCF Distribution
//! registry notifying it, real git (smart HTTP and file://), and stand-ins for what cannot
//! run here — Argo CD (`testbed::deploy::ArgoCdStandIn`), a Flux Receiver
//! (`FluxReceiverStandIn`) and plain webhook receivers (`standin::StandInServer`).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use imagebump_testbed::deploy::{hmac_sha256_hex, Application, ArgoCdStandIn, FluxReceiverStandIn};
use imagebump_testbed::gitserver::{BareRepo, HttpGitServer};
use imagebump_testbed::registry::{free_port, TestRegistry, TestRegistryOptions};
use imagebump_testbed::standin::{Resp, StandInServer};
use support::service::{metric, rt, wait_for, Service};

const HOOK: &str = "deploy-e2e-hook";
const ARGO_SECRET: &str = "argo-webhook-secret";
const ARGO_TOKEN: &str = "argo-api-token";
const FLUX_TOKEN: &str = "flux-receiver-token";
const HEADER_TOKEN: &str = "Bearer webhook-header-token";

const ENV: &[(&str, &str)] = &[
    ("E2E_HOOK", HOOK),
    ("E2E_GIT_USER", "gituser"),
    ("E2E_GIT_PASSWORD", "gitpass"),
    ("ARGO_SECRET", ARGO_SECRET),
    ("ARGO_TOKEN", ARGO_TOKEN),
    ("FLUX_TOKEN", FLUX_TOKEN),
    ("HEADER_TOKEN", HEADER_TOKEN),
];

fn deployment(image: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {image}\n")
}

/// A registry notifying `port`, a policy for `team/web` on `apps/web.yaml` of GitOps
/// repository `prod`, and the config head (`listen`, state, policies, registry,
/// receiver); the test appends `git:` and `deployTriggers:`.
fn base(dir: &std::path::Path, port: u16) -> (TestRegistry, String) {
    let registry = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/registry"),
        Some(&format!("Bearer {HOOK}")),
    ));
    let h = registry.host();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!("application: shop\nimages:\n  - name: web\n    repository: {h}/team/web\n    semver: '*'\n    targets:\n      - {{manifest: apps/web.yaml, git: prod}}\n"),
    )
    .unwrap();
    let head = format!(
        "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\npoll: {{interval: 1h}}\nregistries:\n  - {{host: {h}, insecure: true}}\nreceivers:\n  - {{name: registry, provider: distribution, secret: {{env: E2E_HOOK}}}}\n",
        d = dir.display()
    );
    (registry, head)
}

#[test]
fn each_trigger_kind_gets_the_pushed_commit_and_git_filters_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let (registry, head) = base(dir, port);
    let image = format!("{}/team/web", registry.host());
    let git = HttpGitServer::start("gituser", "gitpass");
    let prod = git.create_repo(
        "prod",
        &[("apps/web.yaml", &deployment(&format!("{image}:1.0.0")))],
    );
    let _dev = BareRepo::create_at(&dir.join("dev.git"), &[("README.md", "dev\n")]);
    let argo = ArgoCdStandIn::start(
        Some(ARGO_SECRET),
        ARGO_TOKEN,
        vec![
            Application {
                name: "web-prod".into(),
                repo_url: git.url("prod"),
                target_revision: "HEAD".into(),
            },
            Application {
                name: "other".into(),
                repo_url: git.url("other"),
                target_revision: "HEAD".into(),
            },
        ],
    );
    let flux = FluxReceiverStandIn::start(Some(FLUX_TOKEN));
    let flux_dev = FluxReceiverStandIn::start(None);
    let hook = StandInServer::start(|_| Resp::status(204));
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "{head}git:\n  - name: prod\n    url: {prod_url}\n    credentials: {{username: {{env: E2E_GIT_USER}}, password: {{env: E2E_GIT_PASSWORD}}}}\n    author: {{name: imagebump, email: bot@example.com}}\n  - name: dev\n    url: file://{d}/dev.git\n    author: {{name: imagebump, email: bot@example.com}}\ndeployTriggers:\n  - argocd: {{url: '{argo}/api/webhook', secret: {{env: ARGO_SECRET}}}}\n  - argocd: {{url: '{argo}', token: {{env: ARGO_TOKEN}}, applications: [web-prod]}}\n    name: argo-api\n  - flux: {{url: '{flux}', secret: {{env: FLUX_TOKEN}}}}\n    git: [prod]\n  - flux: {{url: '{flux_dev}', git: [dev]}}\n    name: flux-dev\n  - webhook:\n      url: 'http://{hook}/deploy?token=in-query'\n      body: '{{\"repo\": \"{{{{ repository }}}}\", \"commit\": \"{{{{ commit }}}}\", \"n\": {{{{ changes | length }}}}, \"to\": \"{{{{ changes[0].to }}}}\", \"files\": {{{{ files | tojson }}}}}}'\n      headers: {{Authorization: {{env: HEADER_TOKEN}}}}\n",
            prod_url = git.url("prod"),
            d = dir.display(),
            argo = argo.url(),
            flux = flux.url(),
            flux_dev = flux_dev.url(),
            hook = hook.host(),
        ),
    )
    .unwrap();
    let rt = rt();
    rt.block_on(registry.push_image("team/web", "1.0.0"));
    let svc = Service::start_env(dir, port, ENV);
    let before = prod.head("main").unwrap();
    rt.block_on(registry.push_image("team/web", "1.1.0"));
    wait_for("the commit", Duration::from_secs(30), || {
        prod.read("main", "apps/web.yaml")?
            .contains(":1.1.0")
            .then_some(())
    });
    let after = prod.head("main").unwrap();

    // Argo CD: a verified push event that refreshes exactly the Application of this
    // repository, and the API refresh of the named one.
    let d = wait_for("Argo CD's webhook", Duration::from_secs(20), || {
        argo.deliveries().pop()
    });
    assert_eq!(d.refreshed, ["web-prod"], "{:#}", d.payload);
    let p = &d.payload;
    assert_eq!(p["ref"], "refs/heads/main");
    assert_eq!(
        (p["before"].as_str(), p["after"].as_str()),
        (Some(before.as_str()), Some(after.as_str()))
    );
    assert_eq!(
        p["commits"][0]["modified"],
        serde_json::json!(["apps/web.yaml"])
    );
    let web = git.url("prod").trim_end_matches(".git").to_string();
    assert_eq!(p["repository"]["html_url"], web.as_str());
    assert_eq!(p["repository"]["clone_url"], git.url("prod").as_str());
    let sent = argo
        .server
        .requests()
        .into_iter()
        .find(|r| r.path() == "/api/webhook")
        .unwrap();
    assert_eq!(sent.header("x-github-event"), Some("push"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    wait_for("Argo CD's API refresh", Duration::from_secs(20), || {
        (argo.refreshes() == ["web-prod"]).then_some(())
    });

    // Flux generic-hmac: the signature verified, the body names the commit.
    let body = wait_for("the Flux Receiver", Duration::from_secs(20), || {
        flux.reconciles().pop()
    });
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["repository"].as_str(), v["commit"].as_str()),
        (Some("prod"), Some(after.as_str()))
    );

    // The templated webhook, with its secret header.
    let req = wait_for("the webhook", Duration::from_secs(20), || {
        hook.requests().pop()
    });
    assert_eq!(req.header("authorization"), Some(HEADER_TOKEN));
    let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"repo": "prod", "commit": after, "n": 1, "to": format!("{image}:1.1.0"), "files": ["apps/web.yaml"]})
    );

    // Status and metrics: every trigger of prod delivered; the one for dev got nothing.
    let st = wait_for(
        "four deliveries in the status",
        Duration::from_secs(20),
        || {
            let st = svc.status();
            let t = st["deployTriggers"].as_array()?.clone();
            (t.iter().filter(|t| t["delivered"] == 1).count() == 4).then_some(t)
        },
    );
    let by = |n: &str| {
        st.iter()
            .find(|t| t["name"] == n)
            .unwrap_or_else(|| panic!("{n}: {st:?}"))
            .clone()
    };
    assert_eq!(by("flux-dev")["delivered"], 0);
    assert_eq!(by("flux-dev")["git"], serde_json::json!(["dev"]));
    assert!(
        flux_dev.server.requests().is_empty(),
        "a trigger for dev got prod's push"
    );
    assert_eq!(by("argocd-0")["lastCommit"], after.as_str());
    assert_eq!(by("argocd-0")["kind"], "argocd");
    assert_eq!(by("argo-api")["kind"], "argocd-api");
    assert_eq!(
        by("webhook-4")["url"],
        format!("http://{}/deploy", hook.host())
    );
    let text = svc.body("/api/v1/status") + &svc.body("/metrics") + &svc.log();
    for secret in [
        ARGO_SECRET,
        ARGO_TOKEN,
        FLUX_TOKEN,
        "webhook-header-token",
        "in-query",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    let m = svc.body("/metrics");
    assert_eq!(
        metric(
            &m,
            r#"imagebump_deploy_triggers_total{trigger="argocd-0",result="delivered"}"#
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            r#"imagebump_deploy_triggers_total{trigger="flux-dev",result="delivered"}"#
        ),
        0.0
    );
    assert!(
        metric(&m, "imagebump_deploy_trigger_seconds_count") >= 4.0,
        "{m}"
    );
    // A wrong signature is what Argo CD refuses: the stand-in can fail.
    assert_ne!(
        sent.header("x-hub-signature-256").unwrap(),
        format!("sha256={}", hmac_sha256_hex(b"another-secret", &sent.body))
    );
}

#[test]
fn a_failing_receiver_is_retried_and_a_dead_one_never_delays_a_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let (registry, head) = base(dir, port);
    let image = format!("{}/team/web", registry.host());
    let prod = BareRepo::create_at(
        &dir.join("prod.git"),
        &[("apps/web.yaml", &deployment(&format!("{image}:1.0.0")))],
    );
    // 500 twice, then 200.
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    let flaky = StandInServer::start(move |_| match s2.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => Resp::status(500),
        _ => Resp::status(200),
    });
    // Holds every request for a minute: longer than all its attempts' timeouts.
    let hanging = StandInServer::start(|_| Resp::status(200).delayed(Duration::from_secs(60)));
    let dead = free_port();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "{head}git:\n  - name: prod\n    url: file://{d}/prod.git\n    author: {{name: imagebump, email: bot@example.com}}\ndeployTriggers:\n  - {{name: flaky, webhook: {{url: 'http://{flaky}/hook'}}}}\n  - {{name: hanging, webhook: {{url: 'http://{hanging}/hook'}}}}\n  - {{name: dead, flux: {{url: 'http://127.0.0.1:{dead}/hook/x'}}}}\n",
            d = dir.display(),
            flaky = flaky.host(),
            hanging = hanging.host(),
        ),
    )
    .unwrap();
    let rt = rt();
    rt.block_on(registry.push_image("team/web", "1.0.0"));
    let svc = Service::start_env(dir, port, ENV);
    for tag in ["1.1.0", "1.2.0"] {
        rt.block_on(registry.push_image("team/web", tag));
        wait_for(
            &format!("the commit of {tag}"),
            Duration::from_secs(30),
            || {
                prod.read("main", "apps/web.yaml")?
                    .contains(&format!(":{tag}"))
                    .then_some(())
            },
        );
    }
    // Both commits landed while the hanging receiver still holds its first request.
    let hang = svc.status()["deployTriggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "hanging")
        .cloned()
        .unwrap();
    assert_eq!(
        (hang["delivered"].as_u64(), hang["failed"].as_u64()),
        (Some(0), Some(0)),
        "{hang}"
    );

    let m = wait_for(
        "the retried delivery and the dead receiver's failure",
        Duration::from_secs(30),
        || {
            let m = svc.body("/metrics");
            (metric(
                &m,
                r#"imagebump_deploy_triggers_total{trigger="flaky",result="delivered"}"#,
            ) == 2.0
                && metric(
                    &m,
                    r#"imagebump_deploy_triggers_total{trigger="dead",result="failed"}"#,
                ) == 2.0)
                .then_some(m)
        },
    );
    assert_eq!(
        metric(
            &m,
            r#"imagebump_deploy_triggers_total{trigger="flaky",result="retried"}"#
        ),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            r#"imagebump_deploy_triggers_total{trigger="flaky",result="failed"}"#
        ),
        0.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            r#"imagebump_deploy_triggers_total{trigger="dead",result="retried"}"#
        ),
        6.0,
        "{m}"
    );
    assert_eq!(flaky.requests().len(), 4);
    let st = svc.status();
    let t = st["deployTriggers"].as_array().unwrap();
    let dead_st = t.iter().find(|t| t["name"] == "dead").unwrap();
    let err = dead_st["lastError"].as_str().unwrap();
    assert!(
        err.contains("cannot connect") && err.contains("after 4 attempts"),
        "{err}"
    );
    assert!(dead_st["lastDelivered"].is_null());
    let flaky_st = t.iter().find(|t| t["name"] == "flaky").unwrap();
    assert!(
        flaky_st["lastError"].is_null() && flaky_st["retried"] == 2,
        "{flaky_st}"
    );
}

#[test]
fn a_trigger_added_by_a_config_reload_fires_from_the_next_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let (registry, head) = base(dir, port);
    let image = format!("{}/team/web", registry.host());
    let prod = BareRepo::create_at(
        &dir.join("prod.git"),
        &[("apps/web.yaml", &deployment(&format!("{image}:1.0.0")))],
    );
    let hook = StandInServer::start(|_| Resp::status(200));
    let config = format!(
        "{head}git:\n  - name: prod\n    url: file://{d}/prod.git\n    author: {{name: imagebump, email: bot@example.com}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("imagebump.yaml"), &config).unwrap();
    let rt = rt();
    rt.block_on(registry.push_image("team/web", "1.0.0"));
    let svc = Service::start_env(dir, port, ENV);
    assert_eq!(svc.status()["deployTriggers"], serde_json::json!([]));
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "{config}deployTriggers:\n  - {{name: added, webhook: {{url: 'http://{}/hook'}}}}\n",
            hook.host()
        ),
    )
    .unwrap();
    wait_for("the reloaded config", Duration::from_secs(20), || {
        (svc.status()["config"]["generation"] == 2).then_some(())
    });
    assert_eq!(svc.status()["deployTriggers"][0]["name"], "added");
    rt.block_on(registry.push_image("team/web", "1.1.0"));
    wait_for("the commit", Duration::from_secs(30), || {
        prod.read("main", "apps/web.yaml")?
            .contains(":1.1.0")
            .then_some(())
    });
    let commit = prod.head("main").unwrap();
    let req = wait_for("the added trigger", Duration::from_secs(20), || {
        hook.requests().pop()
    });
    let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(v["commit"], commit.as_str());
}
