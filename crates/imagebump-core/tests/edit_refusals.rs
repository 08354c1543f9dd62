//! Edits that cannot be made in place are refused with `file:line`, never reformatted.

use imagebump_core::edit::{edit, EditError, HelmPaths, Target, Update};

const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn upd(s: &str) -> Update {
    Update::parse(s).unwrap()
}

/// Asserts a refusal at `line` whose reason mentions `needle`.
#[track_caller]
fn refused(text: &str, target: Target<'_>, u: &str, line: usize, needle: &str) {
    match edit("apps/f.yaml", text, &target, &upd(u)) {
        Err(e @ EditError::Refused { .. }) => {
            let msg = e.to_string();
            let EditError::Refused { line: l, .. } = e else {
                unreachable!()
            };
            assert_eq!(l, line, "{msg}");
            assert!(
                msg.starts_with(&format!("apps/f.yaml:{line}: refusing to edit: ")),
                "{msg}"
            );
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        }
        other => panic!("expected a refusal at line {line}, got {other:?}"),
    }
}

const POD: &str = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n";

#[test]
fn alias_to_our_image() {
    let text =
        format!("{POD}  - name: a\n    image: &img nginx:1.2\n  - name: b\n    image: *img\n");
    refused(&text, Target::Manifest, "nginx:1.3", 8, "alias");
    refused(&text, Target::Auto, "nginx:1.3", 8, "alias");
    // An alias to another image is left alone.
    let out = edit("f", &text, &Target::Manifest, &upd("redis:7")).unwrap();
    assert!(out.changes.is_empty());
}

#[test]
fn block_scalars() {
    let text = format!("{POD}  - name: a\n    image: >-\n      nginx:1.2\n");
    refused(&text, Target::Manifest, "nginx:1.3", 6, "block scalar");
    let text = "image:\n  repository: nginx\n  tag: |-\n    1.2.0\n";
    refused(
        text,
        Target::Helm(HelmPaths::default()),
        "nginx:1.3.0",
        3,
        "block scalar",
    );
}

#[test]
fn multi_line_and_escaped_scalars() {
    let text = "image:\n  repository: nginx\n  tag: v1\n    .2\n";
    refused(
        text,
        Target::Helm(HelmPaths::default()),
        "nginx:1.3.0",
        3,
        "several lines",
    );
    let text = format!("{POD}  - image: \"nginx:\\\n      1.2\"\n");
    refused(&text, Target::Manifest, "nginx:1.3", 5, "escapes");
    let text = format!("{POD}  - image: \"nginx:1.\\x32\"\n");
    refused(&text, Target::Manifest, "nginx:1.3", 5, "escapes");
    let text = "image:\n  repository: nginx\n  tag: 'v1''2'\n";
    refused(
        text,
        Target::Helm(HelmPaths::default()),
        "nginx:1.3.0",
        3,
        "escapes",
    );
}

#[test]
fn new_value_would_change_type_or_need_quotes() {
    let helm = Target::Helm(HelmPaths::default());
    let text = "image:\n  repository: nginx\n  tag: latest\n";
    refused(text, helm, "nginx:1.10", 3, "number");
    refused(text, helm, "nginx:2024-01-02", 3, "timestamp");
    refused(text, helm, "nginx:1234", 3, "integer");
    // A plain number may become a number that reads back the same, but not 1.10.
    let text = "image:\n  repository: nginx\n  tag: 1.9\n";
    assert!(edit("f", text, &helm, &upd("nginx:1.8")).is_ok());
    refused(text, helm, "nginx:1.10", 3, "number");
    let text = "images:\n- name: nginx\n  newTag: 1.9\n";
    refused(text, Target::Kustomize, "nginx:1.10", 3, "number");
    // The same values in quotes are fine.
    let text = "image:\n  repository: nginx\n  tag: \"latest\"\n";
    let out = edit("f", text, &helm, &upd("nginx:1.10")).unwrap();
    assert_eq!(out.text, "image:\n  repository: nginx\n  tag: \"1.10\"\n");
}

#[test]
fn empty_values_and_missing_keys() {
    let helm = Target::Helm(HelmPaths::default());
    let text = "image:\n  repository: nginx\n  tag:\n";
    refused(text, helm, "nginx:1.3.0", 3, "empty");
    let text = "image:\n  repository: nginx\n  tag: 1.2.0\n";
    refused(text, helm, &format!("nginx:1.3.0@{D2}"), 3, "no digest key");
    let paths = HelmPaths {
        tag: Some("image.tag"),
        ..Default::default()
    };
    refused(
        text,
        Target::Helm(paths),
        &format!("nginx@{D2}"),
        3,
        "no digest path",
    );
}

#[test]
fn kustomize_digest_line_that_cannot_be_removed() {
    let text = format!("images:\n- digest: {D2}\n  name: nginx\n  newTag: v1\n");
    refused(&text, Target::Kustomize, "nginx:v2", 2, "not alone");
    let text = format!("images:\n- {{name: nginx, newTag: v1, digest: {D2}}}\n");
    refused(&text, Target::Kustomize, "nginx:v2", 2, "flow");
}

#[test]
fn markers_beside_nothing_or_on_block_scalars() {
    let text = "a:\n  # {\"$imagepolicy\": \"ns:app\"}\n  b: 1\n";
    refused(
        text,
        Target::Markers { policy: "ns:app" },
        "nginx:1",
        2,
        "not beside a value",
    );
    let text = "a: >- # {\"$imagepolicy\": \"ns:app:tag\"}\n  1.2.0\n";
    refused(
        text,
        Target::Markers { policy: "ns:app" },
        "nginx:1.3.0",
        1,
        "block scalar",
    );
    let text = "a: *x # {\"$imagepolicy\": \"ns:app:tag\"}\n";
    assert!(matches!(
        edit(
            "f",
            text,
            &Target::Markers { policy: "ns:app" },
            &upd("nginx:1")
        ),
        Err(EditError::Parse { .. })
    ));
    let text = "x: &x 1.2.0\na: *x # {\"$imagepolicy\": \"ns:app:tag\"}\n";
    refused(
        text,
        Target::Markers { policy: "ns:app" },
        "nginx:1.3.0",
        2,
        "alias",
    );
}

#[test]
fn one_refusal_aborts_the_whole_file() {
    let text = format!("{POD}  - image: nginx:1.2\n  - image: >-\n      nginx:1.2\n");
    refused(&text, Target::Manifest, "nginx:1.3", 6, "block scalar");
}

#[test]
fn parse_errors_name_the_line() {
    let text = "a: 1\nb: [1, 2\nc: 3\n";
    match edit("bad.yaml", text, &Target::Auto, &upd("nginx:1")) {
        Err(e @ EditError::Parse { .. }) => {
            assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_updates() {
    let u = Update {
        image: imagebump_core::image::ImageRef::parse("nginx").unwrap(),
        tag: None,
        digest: None,
        pins: imagebump_core::edit::Pins::Replace,
        leave: Vec::new(),
    };
    assert!(matches!(
        edit("f", "a: 1\n", &Target::Auto, &u),
        Err(EditError::InvalidUpdate(_))
    ));
}
