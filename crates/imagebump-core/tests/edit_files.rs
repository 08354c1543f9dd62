//! In-place edits of realistic GitOps files (tests/data/edit): every byte stays except
//! the value's.

use imagebump_core::edit::{edit, unified_diff, Change, EditError, HelmPaths, Target, Update};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/edit/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn upd(s: &str) -> Update {
    Update::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Asserts that `new` is `old` with exactly these line edits: on 1-based line `n`, the
/// single occurrence of `from` becomes `to`. Every other byte must be identical.
#[track_caller]
fn assert_only(old: &str, new: &str, edits: &[(usize, &str, &str)]) {
    let mut lines: Vec<String> = old.split_inclusive('\n').map(String::from).collect();
    for &(n, from, to) in edits {
        let l = &mut lines[n - 1];
        assert_eq!(
            l.matches(from).count(),
            1,
            "line {n} {l:?} should hold {from:?} once"
        );
        *l = l.replacen(from, to, 1);
    }
    let want = lines.concat();
    if new != want {
        panic!(
            "unexpected edit:\n{}",
            unified_diff("want-vs-got", &want, new)
        );
    }
}

fn lines_of(changes: &[Change]) -> Vec<usize> {
    changes.iter().map(|c| c.line).collect()
}

fn run(file: &str, text: &str, target: Target<'_>, u: &Update) -> imagebump_core::edit::Edited {
    edit(file, text, &target, u).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn manifests_every_container_kind_and_document() {
    let old = fixture("workloads.yaml");
    let out = run(
        "workloads.yaml",
        &old,
        Target::Manifest,
        &upd("nginx:1.25.3"),
    );
    assert_only(
        &old,
        &out.text,
        &[
            (21, "'nginx:1.24.0'", "'nginx:1.25.3'"),
            (25, "nginx:1.24.0", "nginx:1.25.3"),
            (
                32,
                &format!("\"docker.io/library/nginx:1.24.0@{D1}\""),
                "\"docker.io/library/nginx:1.25.3\"",
            ),
            (
                36,
                "index.docker.io/library/nginx:1.24.0",
                "index.docker.io/library/nginx:1.25.3",
            ),
            (58, "nginx:1.24.0", "nginx:1.25.3"),
            (71, "nginx:1.24.0", "nginx:1.25.3"),
        ],
    );
    assert_eq!(lines_of(&out.changes), [21, 25, 32, 36, 58, 71]);
    let c = &out.changes[0];
    assert_eq!(
        (c.document, c.path.as_str(), c.old.as_str(), c.new.as_str()),
        (
            0,
            "spec.template.spec.initContainers[0].image",
            "nginx:1.24.0",
            "nginx:1.25.3"
        )
    );
    assert_eq!(
        out.changes[3].path,
        "spec.template.spec.ephemeralContainers[0].image"
    );
    assert_eq!(
        (out.changes[4].document, out.changes[4].path.as_str()),
        (2, "spec.jobTemplate.spec.template.spec.containers[0].image")
    );
    assert_eq!(out.changes[5].document, 3);
    assert!(
        !out.text.ends_with('\n'),
        "the missing final newline stays missing"
    );

    // Editing back restores the original except the dropped digest.
    let back = run(
        "workloads.yaml",
        &out.text,
        Target::Manifest,
        &upd("nginx:1.24.0"),
    );
    assert_only(&old, &back.text, &[(32, &format!("1.24.0@{D1}"), "1.24.0")]);
}

#[test]
fn manifests_digest_pin_keeps_tag_and_tag_digest_writes_both() {
    let old = fixture("workloads.yaml");
    let out = run(
        "w.yaml",
        &old,
        Target::Manifest,
        &upd(&format!("ghcr.io/acme/toolbox@{D2}")),
    );
    assert_only(
        &old,
        &out.text,
        &[(80, "toolbox:2.0.0", &format!("toolbox:2.0.0@{D2}"))],
    );
    let out = run(
        "w.yaml",
        &old,
        Target::Manifest,
        &upd(&format!("docker.io/library/nginx:1.26.0@{D2}")),
    );
    assert_eq!(out.changes.len(), 6);
    assert!(out
        .text
        .contains(&format!("image: nginx:1.26.0@{D2} # plain, with a comment")));
    assert!(out
        .text
        .contains(&format!("\"docker.io/library/nginx:1.26.0@{D2}\"  \n")));
    // Other repositories are never touched.
    let out = run("w.yaml", &old, Target::Manifest, &upd("quay.io/nginx:9"));
    assert!(out.changes.is_empty());
    assert_eq!(out.text, old);
}

#[test]
fn quoting_styles_tags_anchors_flow_and_ports() {
    let old = fixture("quoting.yaml");
    let out = run(
        "quoting.yaml",
        &old,
        Target::Manifest,
        &upd("ghcr.io/acme/api:2.4.0"),
    );
    let e = |n| (n, "api:2.3.1", "api:2.4.0");
    assert_only(&old, &out.text, &[e(8), e(10), e(12), e(14), e(16), e(17)]);
    let out = run(
        "quoting.yaml",
        &old,
        Target::Manifest,
        &upd("localhost:5000/acme/api:3"),
    );
    assert_only(&old, &out.text, &[(21, "api:2.3.1", "api:3")]);
}

#[test]
fn json_keeps_its_quotes() {
    let old = fixture("deployment.json");
    let out = run(
        "deployment.json",
        &old,
        Target::Manifest,
        &upd("ghcr.io/acme/api:2.4.0"),
    );
    assert_only(
        &old,
        &out.text,
        &[(
            9,
            "\"ghcr.io/acme/api:2.3.1\"",
            "\"ghcr.io/acme/api:2.4.0\"",
        )],
    );
    let out = run(
        "deployment.json",
        &old,
        Target::Auto,
        &upd("envoyproxy/envoy:v1.30.0"),
    );
    assert_only(&old, &out.text, &[(12, "v1.29.1", "v1.30.0")]);
    serde_json::from_str::<serde_json::Value>(&out.text).unwrap();
}

#[test]
fn kustomize_set_add_and_drop() {
    let old = fixture("kustomization.yaml");
    // Plain newTag replaced; comment stays.
    let out = run(
        "kustomization.yaml",
        &old,
        Target::Kustomize,
        &upd("docker.io/library/nginx:1.25.3"),
    );
    assert_only(&old, &out.text, &[(12, "1.24.0", "1.25.3")]);

    // Matched by newName; tag-only drops the stale digest line.
    let out = run(
        "k.yaml",
        &old,
        Target::Kustomize,
        &upd("registry.example.com/mirror/shop:v1.5.0"),
    );
    let want = old
        .replace("    newTag: \"v1.4.2\"\n", "    newTag: \"v1.5.0\"\n")
        .replace(&format!("    digest: {D1}\n"), "");
    assert_eq!(out.text, want);
    assert_eq!(lines_of(&out.changes), [15, 16]);
    assert_eq!(out.changes[1].new, "");
    // The name (not newName) does not match once newName is set.
    let out = run(
        "k.yaml",
        &old,
        Target::Kustomize,
        &upd("ghcr.io/acme/shop:v9"),
    );
    assert!(out.changes.is_empty());

    // Missing keys are added with the entry's indentation, after its last key.
    let out = run(
        "k.yaml",
        &old,
        Target::Kustomize,
        &upd(&format!("ghcr.io/acme/worker:1.2@{D2}")),
    );
    let want = old.replace(
        "  - name: ghcr.io/acme/worker\n",
        &format!("  - name: ghcr.io/acme/worker\n    newTag: \"1.2\"\n    digest: {D2}\n"),
    );
    assert_eq!(out.text, want);

    // Single quotes kept; a flow entry is edited in place.
    let out = run("k.yaml", &old, Target::Kustomize, &upd("redis:7.4"));
    assert_only(&old, &out.text, &[(19, "'7.2'", "'7.4'")]);
    let out = run("k.yaml", &old, Target::Kustomize, &upd("busybox:1.37"));
    assert_only(&old, &out.text, &[(20, "\"1.36\"", "\"1.37\"")]);
    // ... but a key cannot be added to it.
    let err = edit(
        "k.yaml",
        &old,
        &Target::Kustomize,
        &upd(&format!("busybox@{D2}")),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("k.yaml:20: refusing"), "{err}");

    // Digest-only keeps newTag.
    let out = run(
        "k.yaml",
        &old,
        Target::Kustomize,
        &upd(&format!("registry.example.com/mirror/shop@{D2}")),
    );
    assert_only(&old, &out.text, &[(16, D1, D2)]);
}

#[test]
fn kustomize_crlf_without_final_newline() {
    let old = fixture("overlay-crlf/kustomization.yaml");
    let file = "apps/shop/overlay-crlf/kustomization.yaml";
    // Dropping the last line keeps the file without a final newline.
    let out = run(file, &old, Target::Auto, &upd("ghcr.io/acme/shop:v1.5.0"));
    let want = old
        .replace("newTag: v1.4.2", "newTag: v1.5.0")
        .replace(&format!("\r\n  digest: {D1}"), "");
    assert_eq!(out.text, want);
    assert!(out.text.ends_with("newTag: v1.5.0"));
    // Adding back a digest uses CRLF and still no final newline.
    let out2 = run(
        file,
        &out.text,
        Target::Kustomize,
        &upd(&format!("ghcr.io/acme/shop@{D1}")),
    );
    assert_eq!(out2.text, old.replace("newTag: v1.4.2", "newTag: v1.5.0"));
    // Tag+digest back to the original bytes.
    let out3 = run(
        file,
        &out.text,
        Target::Kustomize,
        &upd(&format!("ghcr.io/acme/shop:v1.4.2@{D1}")),
    );
    assert_eq!(out3.text, old);
}

#[test]
fn helm_bitnami_auto_detection() {
    let old = fixture("values-bitnami.yaml");
    let out = run(
        "values.yaml",
        &old,
        Target::Helm(HelmPaths::default()),
        &upd("bitnami/nginx:1.25.4-debian-12-r1"),
    );
    assert_only(
        &old,
        &out.text,
        &[
            (13, "1.25.3-debian-12-r0", "1.25.4-debian-12-r1"),
            (37, "1.25.3-debian-12-r0", "1.25.4-debian-12-r1"),
            (38, &format!("\"{D1}\""), "\"\""),
        ],
    );
    assert_eq!(out.changes[0].path, "image.tag");
    assert_eq!(out.changes[2].path, "sidecars[0].image.digest");
    // A plain digest cleared by a tag-only update becomes "".
    let out = run(
        "values.yaml",
        &old,
        Target::Helm(HelmPaths::default()),
        &upd("docker.io/bitnami/git:2.44.0-debian-11-r0"),
    );
    assert_only(
        &old,
        &out.text,
        &[
            (29, "2.43.0-debian-11-r3", "2.44.0-debian-11-r0"),
            (30, D1, "\"\""),
        ],
    );
    // Digest pinning fills the empty quoted digest and keeps the tag.
    let out = run(
        "values.yaml",
        &old,
        Target::Helm(HelmPaths::default()),
        &upd(&format!("bitnami/nginx-exporter@{D2}")),
    );
    assert_only(&old, &out.text, &[(23, "\"\"", &format!("\"{D2}\""))]);
}

#[test]
fn helm_explicit_paths() {
    let old = fixture("values-bitnami.yaml");
    let paths = HelmPaths {
        registry: Some("metrics.image.registry"),
        repository: Some("metrics.image.repository"),
        tag: Some("metrics.image.tag"),
        digest: Some("metrics.image.digest"),
    };
    let out = run(
        "values.yaml",
        &old,
        Target::Helm(paths),
        &upd("bitnami/nginx-exporter:0.12.0"),
    );
    assert_only(&old, &out.text, &[(22, "0.11.0-debian-11-r322", "0.12.0")]);
    // List indexes, both spellings.
    for tag in ["sidecars[0].image.tag", "sidecars.0.image.tag"] {
        let paths = HelmPaths {
            tag: Some(tag),
            digest: Some("sidecars[0].image.digest"),
            ..Default::default()
        };
        let out = run(
            "values.yaml",
            &old,
            Target::Helm(paths),
            &upd(&format!("bitnami/nginx:1.26.0@{D2}")),
        );
        assert_only(
            &old,
            &out.text,
            &[(37, "1.25.3-debian-12-r0", "1.26.0"), (38, D1, D2)],
        );
    }
    // A repository path naming another image is refused.
    let paths = HelmPaths {
        repository: Some("image.repository"),
        tag: Some("image.tag"),
        ..Default::default()
    };
    let err = edit(
        "values.yaml",
        &old,
        &Target::Helm(paths),
        &upd("bitnami/redis:7"),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("values.yaml:12:"), "{err}");
    // A missing path is reported.
    let paths = HelmPaths {
        tag: Some("nope.tag"),
        ..Default::default()
    };
    let err = edit(
        "values.yaml",
        &old,
        &Target::Helm(paths),
        &upd("bitnami/nginx:1"),
    )
    .unwrap_err();
    assert!(matches!(err, EditError::NotFound { .. }), "{err}");
    // A bad path is an invalid target.
    let paths = HelmPaths {
        tag: Some("a..b"),
        ..Default::default()
    };
    let err = edit(
        "values.yaml",
        &old,
        &Target::Helm(paths),
        &upd("bitnami/nginx:1"),
    )
    .unwrap_err();
    assert!(matches!(err, EditError::InvalidTarget { .. }), "{err}");
}

#[test]
fn helm_nested_flow_and_full_references() {
    let old = fixture("values-nested.yaml");
    let out = run(
        "values.yaml",
        &old,
        Target::Helm(HelmPaths::default()),
        &upd("ghcr.io/acme/shop:v1.5.0"),
    );
    assert_only(
        &old,
        &out.text,
        &[
            (5, "v1.4.2", "v1.5.0"),
            (10, "v1.4.2", "v1.5.0"),
            (18, "v1.4.2", "v1.5.0"),
        ],
    );
    // Full reference under an explicit path.
    let paths = HelmPaths {
        repository: Some("jobs.migrate.image"),
        ..Default::default()
    };
    let out = run(
        "values.yaml",
        &old,
        Target::Helm(paths),
        &upd("ghcr.io/acme/shop:v2.0.0"),
    );
    assert_only(&old, &out.text, &[(18, "v1.4.2", "v2.0.0")]);
    // A tag in single quotes.
    let out = run(
        "values.yaml",
        &old,
        Target::Helm(HelmPaths::default()),
        &upd("ghcr.io/acme/search:3.2.0"),
    );
    assert_only(&old, &out.text, &[(14, "'3.1.0'", "'3.2.0'")]);
    // The anchored block is edited where it is written (the merge key sees it too).
    let out = run(
        "values.yaml",
        &old,
        Target::Auto,
        &upd("ghcr.io/acme/other:0.2.0"),
    );
    assert_only(&old, &out.text, &[(23, "0.1.0", "0.2.0")]);
}

#[test]
fn helmrelease_values() {
    let old = fixture("helmrelease.yaml");
    let out = run(
        "hr.yaml",
        &old,
        Target::Helm(HelmPaths::default()),
        &upd("ghcr.io/stefanprodan/podinfo:6.6.0"),
    );
    assert_only(&old, &out.text, &[(30, "6.5.3", "6.6.0")]);
    assert_eq!(
        (out.changes[0].document, out.changes[0].path.as_str()),
        (1, "spec.values.image.tag")
    );
    let paths = HelmPaths {
        repository: Some("image.repository"),
        tag: Some("image.tag"),
        ..Default::default()
    };
    let out2 = run(
        "hr.yaml",
        &old,
        Target::Helm(paths),
        &upd("ghcr.io/stefanprodan/podinfo:6.6.0"),
    );
    assert_eq!(out2.text, out.text);
    let out3 = run(
        "hr.yaml",
        &old,
        Target::Markers {
            policy: "apps:podinfo",
        },
        &upd("ghcr.io/stefanprodan/podinfo:6.6.0"),
    );
    assert_eq!(out3.text, out.text);
    // The chart version is not an image tag.
    assert!(out.text.contains("version: \"6.5.4\""));
}

#[test]
fn flux_markers_all_variants() {
    let old = fixture("flux-markers.yaml");
    let t = Target::Markers {
        policy: "apps:podinfo",
    };
    let out = run(
        "f.yaml",
        &old,
        t,
        &upd("ghcr.io/stefanprodan/podinfo:6.6.0"),
    );
    assert_only(
        &old,
        &out.text,
        &[
            (11, "podinfo:6.5.3", "podinfo:6.6.0"),
            (15, &format!("podinfo:6.5.3@{D1}"), "podinfo:6.6.0"),
            (26, "\"6.5.3\"", "\"6.6.0\""),
            (27, D1, "\"\""),
            (30, "6.5.3", "6.6.0"),
        ],
    );
    let out = run(
        "f.yaml",
        &old,
        t,
        &upd(&format!("ghcr.io/stefanprodan/podinfo:6.6.0@{D2}")),
    );
    assert_only(
        &old,
        &out.text,
        &[
            (11, "podinfo:6.5.3", &format!("podinfo:6.6.0@{D2}")),
            (
                15,
                &format!("podinfo:6.5.3@{D1}"),
                &format!("podinfo:6.6.0@{D2}"),
            ),
            (26, "\"6.5.3\"", "\"6.6.0\""),
            (27, D1, D2),
            (30, "6.5.3", "6.6.0"),
        ],
    );
    // Another policy's markers only.
    let out = run(
        "f.yaml",
        &old,
        Target::Markers {
            policy: "apps:someone-else",
        },
        &upd("ghcr.io/stefanprodan/podinfo:7.0.0"),
    );
    assert_only(&old, &out.text, &[(13, "6.5.3", "7.0.0")]);
    // A marker on a reference to another repository is refused.
    let err = edit("f.yaml", &old, &t, &upd("ghcr.io/other/app:1")).unwrap_err();
    assert!(err.to_string().starts_with("f.yaml:11: refusing"), "{err}");
    let err = edit(
        "f.yaml",
        &old,
        &Target::Markers { policy: "podinfo" },
        &upd("nginx:1"),
    )
    .unwrap_err();
    assert!(matches!(err, EditError::InvalidTarget { .. }), "{err}");
}

#[test]
fn argocd_source_file() {
    let old = fixture(".argocd-source-shop.yaml");
    let out = run(
        ".argocd-source-shop.yaml",
        &old,
        Target::ArgoSource(HelmPaths::default()),
        &upd("ghcr.io/acme/shop:v1.5.0"),
    );
    assert_only(
        &old,
        &out.text,
        &[
            (4, "v1.4.2", "v1.5.0"),
            (13, "v1.4.2", "v1.5.0"),
            (16, "v1.4.2", "v1.5.0"),
        ],
    );
    // Auto recognises the file by name.
    let auto = run(
        "apps/shop/.argocd-source-shop.yaml",
        &old,
        Target::Auto,
        &upd("ghcr.io/acme/shop:v1.5.0"),
    );
    assert_eq!(auto.text, out.text);
    // `old=new:tag` matches on the new name and keeps the old one.
    let out = run(
        "a.yaml",
        &old,
        Target::ArgoSource(HelmPaths::default()),
        &upd(&format!("registry.example.com/mirror/worker:2.1.0@{D2}")),
    );
    assert_only(
        &old,
        &out.text,
        &[(5, "worker:2.0.0", &format!("worker:2.1.0@{D2}"))],
    );
    let out = run(
        "a.yaml",
        &old,
        Target::ArgoSource(HelmPaths::default()),
        &upd("nginx:1.25.3"),
    );
    assert_only(
        &old,
        &out.text,
        &[(6, "\"nginx:1.24.0\"", "\"nginx:1.25.3\"")],
    );
    // Explicit parameter names.
    let paths = HelmPaths {
        repository: Some("image.name"),
        tag: Some("image.tag"),
        ..Default::default()
    };
    let out = run(
        "a.yaml",
        &old,
        Target::ArgoSource(paths),
        &upd("ghcr.io/acme/shop:v1.6.0"),
    );
    assert_only(
        &old,
        &out.text,
        &[(4, "v1.4.2", "v1.6.0"), (13, "v1.4.2", "v1.6.0")],
    );
    // No digest parameter: pinning is refused.
    let err = edit(
        "a.yaml",
        &old,
        &Target::ArgoSource(paths),
        &upd(&format!("ghcr.io/acme/shop@{D2}")),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("a.yaml:13:"), "{err}");
}

#[test]
fn argocd_application() {
    let old = fixture("argocd-application.yaml");
    let out = run(
        "app.yaml",
        &old,
        Target::Auto,
        &upd("ghcr.io/acme/shop:v1.5.0"),
    );
    assert_only(
        &old,
        &out.text,
        &[(17, "\"v1.4.2\"", "\"v1.5.0\""), (21, "v1.4.2", "v1.5.0")],
    );
    let paths = HelmPaths {
        repository: Some("image.repository"),
        tag: Some("image.tag"),
        ..Default::default()
    };
    let out2 = run(
        "app.yaml",
        &old,
        Target::Helm(paths),
        &upd("ghcr.io/acme/shop:v1.5.0"),
    );
    assert_only(&old, &out2.text, &[(21, "v1.4.2", "v1.5.0")]);
    let out3 = run(
        "app.yaml",
        &old,
        Target::ArgoSource(paths),
        &upd("ghcr.io/acme/shop:v1.5.0"),
    );
    assert_only(&old, &out3.text, &[(17, "\"v1.4.2\"", "\"v1.5.0\"")]);
}

#[test]
fn auto_finds_everything_once() {
    let old = fixture("workloads.yaml");
    let out = run("workloads.yaml", &old, Target::Auto, &upd("nginx:1.25.3"));
    let manifest = run(
        "workloads.yaml",
        &old,
        Target::Manifest,
        &upd("nginx:1.25.3"),
    );
    assert_eq!(out, manifest);
    let old = fixture("kustomization.yaml");
    let out = run(
        "base/kustomization.yaml",
        &old,
        Target::Auto,
        &upd("nginx:1.25.3"),
    );
    assert_only(&old, &out.text, &[(12, "1.24.0", "1.25.3")]);
    // Kustomization kind in a file with another name.
    let out = run("overlay.yaml", &old, Target::Auto, &upd("nginx:1.25.3"));
    assert_eq!(out.changes.len(), 1);
}

#[test]
fn unified_diff_shows_only_the_value() {
    let old = fixture("quoting.yaml");
    let out = run(
        "quoting.yaml",
        &old,
        Target::Manifest,
        &upd("localhost:5000/acme/api:3"),
    );
    let d = unified_diff("apps/quoting.yaml", &old, &out.text);
    assert!(
        d.starts_with("--- a/apps/quoting.yaml\n+++ b/apps/quoting.yaml\n"),
        "{d}"
    );
    assert_eq!(
        d.lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .count(),
        1,
        "{d}"
    );
    assert!(
        d.contains("+      image: localhost:5000/acme/api:3\n"),
        "{d}"
    );
}
