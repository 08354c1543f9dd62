//! `set-image` finds every reference to the named image: full references under any key
//! (not only `image:`), and the image-block variants of real charts' values files
//! (tests/data/edit/helm-variants.yaml names its sources).

use imagebump_core::edit::{edit, HelmPaths, Target, Update};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/edit/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One expected line edit: 1-based line, old substring, new substring.
type Edit<'a> = (usize, &'a str, &'a str);

/// Edits `text` for `reference` and checks that exactly `edits` (1-based line, old
/// substring, new substring) happened, every other byte unchanged.
#[track_caller]
fn check(text: &str, target: Target<'_>, reference: &str, edits: &[(usize, &str, &str)]) {
    let u = Update::parse(reference).unwrap();
    let out = edit("values.yaml", text, &target, &u).unwrap_or_else(|e| panic!("{e}"));
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    for &(n, from, to) in edits {
        let l = &mut lines[n - 1];
        assert_eq!(
            l.matches(from).count(),
            1,
            "line {n} {l:?} should hold {from:?}"
        );
        *l = l.replacen(from, to, 1);
    }
    assert_eq!(out.text, lines.concat(), "{reference}");
    assert_eq!(
        out.changes.len(),
        edits.len(),
        "{reference}: {:?}",
        out.changes
    );
}

#[test]
fn every_chart_variant_is_found_by_set_image_and_helm_auto_detection() {
    let text = fixture("helm-variants.yaml");
    let zeros = "0".repeat(64);
    let cases: Vec<(&str, Vec<Edit<'_>>)> = vec![
        (
            "docker.io/bitnami/nginx:1.25.4-debian-12-r1",
            vec![(10, "1.25.3-debian-12-r0", "1.25.4-debian-12-r1")],
        ),
        (
            "registry.k8s.io/ingress-nginx/controller:v1.9.5",
            vec![
                (19, "v1.9.4", "v1.9.5"),
                (
                    20,
                    "sha256:5b161f051d017e55d358435f295f5e9a297e66158f136321d9b04520ec6c48a3",
                    "\"\"",
                ),
            ],
        ),
        (
            "registry.gitlab.com/gitlab-org/gitlab-runner:alpine-v16.6.0",
            vec![(28, "alpine-v16.5.0", "alpine-v16.6.0")],
        ),
        (
            "docker.elastic.co/elasticsearch/elasticsearch:8.11.1",
            vec![(34, "8.5.1", "8.11.1")],
        ),
        (
            "quay.io/stackstate/elasticsearch:7.17.0",
            vec![(42, "7.6.2-sts.20211214.1906", "7.17.0")],
        ),
        (
            "jenkins/jenkins:2.440.1-jdk17",
            vec![(48, "2.426.1-jdk17", "2.440.1-jdk17")],
        ),
        (
            "ghcr.io/yelizariev/hound:v1.1.0",
            vec![(56, "v1.0.0", "v1.1.0")],
        ),
        ("grafana/grafana:10.3.0", vec![(64, "10.2.2", "10.3.0")]),
        (
            "quay.io/prometheus/prometheus:v2.49.0",
            vec![(71, "v2.48.0", "v2.49.0")],
        ),
        (
            "quay.io/thanos/thanos:v0.33.0",
            vec![(76, "v0.32.5", "v0.33.0"), (77, &zeros, "")],
        ),
        // The chart dependency named nginx is not an image; the container is.
        ("nginx:1.25.4", vec![(87, "1.25.3", "1.25.4")]),
    ];
    for (reference, edits) in &cases {
        check(&text, Target::Auto, reference, edits);
        if *reference != "nginx:1.25.4" {
            check(&text, Target::Helm(HelmPaths::default()), reference, edits);
        }
    }
    // `sha` takes the hex of a sha256 digest alone.
    let hex = &D1["sha256:".len()..];
    check(
        &text,
        Target::Auto,
        &format!("quay.io/thanos/thanos:v0.33.0@{D1}"),
        &[(76, "v0.32.5", "v0.33.0"), (77, &zeros, hex)],
    );
}

#[test]
fn full_references_under_any_key() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: nginx
  annotations:
    example.com/upstream: docker.io/library/nginx:1.25.3
spec:
  containers:
    - name: nginx
      image: nginx:1.25.3
      args: [\"--sidecar\", \"nginx:1.25.3\"]
      env:
        - name: PROXY_IMAGE
          value: 'nginx:1.25.3'
  volumes:
    - name: content
      image:
        reference: nginx
        pullPolicy: IfNotPresent
    - name: pinned
      image:
        reference: nginx:1.25.3@sha256:2222222222222222222222222222222222222222222222222222222222222222
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: nginx
    newTag: 1.25.3
";
    check(
        text,
        Target::Auto,
        "nginx:1.26.0",
        &[
            (6, "1.25.3", "1.26.0"),
            (10, "1.25.3", "1.26.0"),
            (11, "1.25.3", "1.26.0"),
            (14, "1.25.3", "1.26.0"),
            (18, "nginx", "nginx:1.26.0"),
            (
                22,
                "1.25.3@sha256:2222222222222222222222222222222222222222222222222222222222222222",
                "1.26.0",
            ),
            (28, "1.25.3", "1.26.0"),
        ],
    );
}

#[test]
fn a_reference_that_cannot_be_edited_in_place_is_refused_with_file_line() {
    let text = "env:\n  - name: A\n    value: >-\n      nginx:1.25.3\n";
    // A folded scalar holding the reference: the value matches but cannot be spliced.
    let err = edit(
        "values.yaml",
        text,
        &Target::Auto,
        &Update::parse("nginx:1.26.0").unwrap(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("values.yaml:3: refusing to edit"),
        "{err}"
    );
}
