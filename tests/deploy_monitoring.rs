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
/// counter (`_total`), histogram (`_bucket`, `_sum`, `_count`) or info (`_info`) suffixes.
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
            "info" => &["_info"],
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

/// The venv install-deps.sh makes, with promql-parser (the Rust PromQL parser's Python
/// binding; promtool is not installed here).
const PYTHON: &str = "/opt/imagebump-tools/bin/python";

/// Parses each `(where, expression)` with promql-parser; the ones it refuses, with why.
/// Grafana's `$__rate_interval` is replaced by a duration first, as Grafana does.
fn unparsable(exprs: &[(String, String)]) -> Vec<String> {
    assert!(
        std::path::Path::new(PYTHON).exists(),
        "{PYTHON} is missing: run scripts/install-deps.sh"
    );
    let script = r#"
import json, sys
import promql_parser
bad = []
for at, expr in json.load(sys.stdin):
    try:
        promql_parser.parse(expr)
    except Exception as e:
        bad.append(f"{at}: {e}: {expr}")
print(json.dumps(bad))
"#;
    let input: Vec<(String, String)> = exprs
        .iter()
        .map(|(at, e)| {
            let e = ["$__rate_interval", "$__interval", "$__range"]
                .iter()
                .fold(e.clone(), |e, v| e.replace(v, "5m"));
            (at.clone(), e)
        })
        .collect();
    let mut child = std::process::Command::new(PYTHON)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        serde_json::to_string(&input).unwrap().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the PromQL check did not run");
    serde_json::from_slice(&out.stdout).expect("a JSON list")
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
    let mut exprs = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap();
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let at = format!("dashboard panel {title:?}");
            let names = metric_names(expr);
            assert_known(&names, &exposed, &at, expr);
            used.extend(names);
            exprs.push((at, expr.to_string()));
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
            exprs.push((at.clone(), expr.to_string()));
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
    let bad = unparsable(&exprs);
    assert!(
        bad.is_empty(),
        "expressions PromQL refuses:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_promql_check_refuses_a_broken_expression() {
    // So an empty list above means the expressions parsed.
    let bad = unparsable(&[
        (
            "ok".into(),
            "sum by (le) (rate(imagebump_scans_total[$__rate_interval]))".into(),
        ),
        (
            "broken".into(),
            "sum(rate(imagebump_scans_total[5m])".into(),
        ),
    ]);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].starts_with("broken: "), "{bad:?}");
}

#[test]
fn metric_names_ignore_label_values() {
    let n = metric_names(r#"sum(rate(imagebump_scans_total{result="imagebump_x"}[5m])) + up"#);
    assert_eq!(
        n,
        BTreeSet::from(["imagebump_scans_total".to_string(), "up".to_string()])
    );
}
