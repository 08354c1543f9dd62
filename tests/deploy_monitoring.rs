//! `deploy/grafana/imagebump.json` and `deploy/prometheus/alerts.yaml`: their shape, and
//! that every metric their expressions name is one the service exposes, read from a
//! running server's `/metrics` — so a renamed metric cannot leave a panel or an alert
//! silently empty.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use imagebump::metrics::Metrics;
use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], Vec::as_slice)
}

/// One sample in every labelled family of `Metrics`: a family with no series yet is
/// not written at all, so its name would look unknown. A family added to `Metrics`
/// and used by the dashboard needs a line here.
fn touch_every_family(m: &Metrics) {
    use imagebump::metrics::{GitLabels, RepositoryLabels, ResultLabels};
    let git = GitLabels::of("fleet");
    let ok = ResultLabels {
        result: "ok".into(),
    };
    m.webhook("hook", "accepted");
    m.scan("ok");
    m.panic("scan");
    m.scan_succeeded("registry.example.com/team/web");
    m.commits.get_or_create(&git).inc();
    m.push_retries.get_or_create(&git).inc();
    m.push_failures.get_or_create(&git).inc();
    m.last_push.get_or_create(&git).set(1);
    m.last_success
        .get_or_create(&RepositoryLabels {
            repository: "r".into(),
        })
        .set(1);
    m.policy_reloads.get_or_create(&ok).inc();
    m.config_reloads.get_or_create(&ok).inc();
}

/// The sample names a running server exposes at /metrics: each `# TYPE` family with its
/// counter (`_total`) or histogram (`_bucket`, `_sum`, `_count`) suffixes.
fn exposed_names() -> BTreeSet<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(async {
        let registry = imagebump_registry::RegistryClient::new(Default::default()).unwrap();
        let metrics = Arc::new(Metrics::new());
        touch_every_family(&metrics);
        let engine = Arc::new(imagebump::engine::Engine::new(
            imagebump_core::policy::PolicySet::default(),
            registry,
            metrics,
            Duration::from_secs(300),
        ));
        let state = imagebump::server::AppState::new(
            engine,
            Vec::<imagebump_webhook::Receiver>::new(),
            Arc::new(AtomicBool::new(true)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let (_stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(imagebump::server::serve(listener, state, rx));
        reqwest::get(url).await.unwrap().text().await.unwrap()
    });
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let (family, kind) = (it.next().unwrap(), it.next().unwrap());
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        for s in suffixes {
            names.insert(format!("{family}{s}"));
        }
    }
    assert!(
        names.contains("imagebump_webhooks_total") && names.contains("imagebump_image_up_to_date"),
        "unexpected /metrics:\n{text}"
    );
    names
}

/// The metric names a PromQL expression uses: `imagebump_…` identifiers outside string
/// literals, and Prometheus's own `up`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let no_strings = regex::Regex::new(r#""(?:[^"\\]|\\.)*""#)
        .unwrap()
        .replace_all(expr, "\"\"");
    regex::Regex::new(r"\b(imagebump_[a-zA-Z0-9_]*|up)\b")
        .unwrap()
        .find_iter(&no_strings)
        .map(|m| m.as_str().to_string())
        .collect()
}

/// What promtool would catch first without it here: unbalanced brackets.
fn assert_balanced(expr: &str, at: &str) {
    let mut stack = Vec::new();
    for c in expr.chars() {
        match c {
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = stack.pop();
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                assert_eq!(open, Some(want), "{at}: unbalanced {c} in {expr}");
            }
            _ => {}
        }
    }
    assert!(stack.is_empty(), "{at}: unclosed {stack:?} in {expr}");
}

fn assert_known(names: &BTreeSet<String>, exposed: &BTreeSet<String>, at: &str, expr: &str) {
    assert!(
        names.iter().any(|n| n.starts_with("imagebump_")),
        "{at}: queries no imagebump metric: {expr}"
    );
    for n in names {
        assert!(
            n == "up" || exposed.contains(n),
            "{at}: {n} is not a metric the service exposes (renamed?): {expr}"
        );
    }
}

#[test]
fn every_dashboard_and_alert_expression_uses_exposed_metrics() {
    let exposed = exposed_names();

    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/imagebump.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 39);
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a ${{datasource}} Prometheus variable"
    );
    let panels = dash["panels"].as_array().unwrap();
    let mut used = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().unwrap();
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let at = format!("dashboard panel {title:?}");
            assert_balanced(expr, &at);
            let names = metric_names(expr);
            assert_known(&names, &exposed, &at, expr);
            used.extend(names);
        }
    }
    for wanted in [
        "imagebump_image_up_to_date",
        "imagebump_webhook_to_commit_seconds_bucket",
        "imagebump_commits_total",
        "imagebump_push_failures_total",
        "imagebump_scans_total",
        "imagebump_registry_requests_total",
        "imagebump_registry_rate_limit_waits_total",
        "imagebump_webhooks_total",
        "imagebump_image_last_successful_scan_timestamp_seconds",
    ] {
        assert!(
            used.contains(wanted),
            "the dashboard has no panel on {wanted}"
        );
    }

    let rules: Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("deploy/prometheus/alerts.yaml")).unwrap(),
    )
    .unwrap();
    let mut alerts = BTreeSet::new();
    for g in seq(&rules["groups"]) {
        assert!(g["name"].as_str().is_some(), "a group without a name");
        for r in seq(&g["rules"]) {
            let alert = r["alert"].as_str().expect("alert rules only");
            let expr = r["expr"].as_str().unwrap();
            let at = format!("alert {alert}");
            assert!(r["for"].as_str().is_some(), "{at}: no for:");
            assert!(
                matches!(
                    r["labels"]["severity"].as_str(),
                    Some("warning" | "critical")
                ),
                "{at}: severity"
            );
            for a in ["summary", "description"] {
                assert!(r["annotations"][a].as_str().is_some(), "{at}: no {a}");
            }
            assert_balanced(expr, &at);
            let names = metric_names(expr);
            if alert != "ImagebumpDown" {
                assert_known(&names, &exposed, &at, expr);
            }
            for n in &names {
                assert!(n == "up" || exposed.contains(n), "{at}: {n} is not exposed");
            }
            alerts.insert(alert.to_string());
        }
    }
    for wanted in [
        "ImagebumpImageStuck",
        "ImagebumpPushFailing",
        "ImagebumpScansFailing",
        "ImagebumpWebhooksRejected",
        "ImagebumpDown",
    ] {
        assert!(alerts.contains(wanted), "no alert {wanted}");
    }
}

#[test]
fn metric_names_ignore_label_values() {
    let n = metric_names(r#"sum(rate(imagebump_scans_total{result="imagebump_x"}[5m])) + up"#);
    assert_eq!(
        n,
        BTreeSet::from(["imagebump_scans_total".to_string(), "up".to_string()])
    );
}
