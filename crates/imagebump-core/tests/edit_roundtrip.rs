//! Property: on random YAML-ish documents (comments, quote styles, indentation, CRLF,
//! blank lines, flow items, several documents, non-ASCII, missing final newline),
//! editing an image forward and back gives the original bytes, and the forward edit only
//! touches lines that hold the image.

use imagebump_core::edit::{edit, Target, Update};
use proptest::prelude::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const TAGS: [&str; 5] = ["1.2.3", "v2", "1.25.3-alpine", "latest", "2024.01.02-abc"];

#[derive(Debug, Clone)]
struct Container {
    /// Index into the written forms of the repository (ours < 3, others above).
    repo: usize,
    style: usize,
    comment: Option<String>,
    trailing: usize,
    flow: bool,
    blank_before: bool,
}

#[derive(Debug, Clone)]
struct Doc {
    crlf: bool,
    indent: usize,
    final_newline: bool,
    explicit_start: bool,
    header: Option<String>,
    workloads: Vec<Vec<Container>>,
}

const REPOS: [&str; 6] = [
    "nginx",
    "docker.io/library/nginx",
    "index.docker.io/library/nginx",
    "redis",
    "ghcr.io/acme/nginx",
    "localhost:5000/nginx",
];

fn comment() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec![
        "# bump me".to_string(),
        "# Grüße, ça va — ok".to_string(),
        "#no-space 'quoted' \"too\"".to_string(),
        "# {\"$imagepolicy\": \"ns:other\"}".to_string(),
    ]))
}

fn container() -> impl Strategy<Value = Container> {
    (
        0..REPOS.len(),
        0..3usize,
        comment(),
        0..3usize,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(repo, style, comment, trailing, flow, blank_before)| Container {
                repo,
                style,
                comment,
                trailing,
                flow,
                blank_before,
            },
        )
}

fn doc() -> impl Strategy<Value = (Doc, usize, bool)> {
    (
        any::<bool>(),
        prop::sample::select(vec![2usize, 4]),
        any::<bool>(),
        any::<bool>(),
        comment(),
        prop::collection::vec(prop::collection::vec(container(), 1..5), 1..4),
        0..TAGS.len(),
        any::<bool>(),
    )
        .prop_map(
            |(crlf, indent, final_newline, explicit_start, header, workloads, tag, digest)| {
                (
                    Doc {
                        crlf,
                        indent,
                        final_newline,
                        explicit_start,
                        header,
                        workloads,
                    },
                    tag,
                    digest,
                )
            },
        )
}

/// Renders the documents; every image of ours carries `tag` (and `digest`).
fn render(d: &Doc, tag: &str, digest: Option<&str>) -> String {
    let i = " ".repeat(d.indent);
    let mut lines: Vec<String> = Vec::new();
    if let Some(h) = &d.header {
        lines.push(h.clone());
    }
    for (w, containers) in d.workloads.iter().enumerate() {
        if w > 0 || d.explicit_start {
            lines.push("---".into());
        }
        lines.push("apiVersion: apps/v1".into());
        lines.push("kind: Deployment".into());
        lines.push(format!(
            "metadata: {{name: w{w}, labels: {{app: \"ü{w}\"}}}}"
        ));
        lines.push("spec:".into());
        lines.push(format!("{i}template:"));
        lines.push(format!("{i}{i}spec:"));
        lines.push(format!("{i}{i}{i}containers:"));
        for (n, c) in containers.iter().enumerate() {
            if c.blank_before {
                lines.push(String::new());
            }
            let mut image = format!("{}:{tag}", REPOS[c.repo]);
            if c.repo >= 3 {
                image = format!("{}:other-9", REPOS[c.repo]);
            } else if let Some(dg) = digest {
                image = format!("{image}@{dg}");
            }
            let image = match c.style {
                0 => image,
                1 => format!("'{image}'"),
                _ => format!("\"{image}\""),
            };
            let tail = format!(
                "{}{}",
                " ".repeat(c.trailing),
                c.comment
                    .as_ref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default()
            );
            if c.flow {
                lines.push(format!("{i}{i}{i}- {{name: c{n}, image: {image}}}{tail}"));
            } else {
                lines.push(format!("{i}{i}{i}- name: c{n}"));
                lines.push(format!("{i}{i}{i}  image: {image}{tail}"));
                lines.push(format!("{i}{i}{i}  imagePullPolicy: IfNotPresent"));
            }
        }
    }
    let eol = if d.crlf { "\r\n" } else { "\n" };
    let mut s = lines.join(eol);
    if d.final_newline {
        s.push_str(eol);
    }
    s
}

fn update(tag: &str, digest: Option<&str>) -> Update {
    let mut u = Update::parse(&format!("docker.io/library/nginx:{tag}")).unwrap();
    u.digest = digest.map(str::to_string);
    u
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn forward_and_back_is_identity((d, tag, with_digest) in doc(), new_tag in 0..TAGS.len() - 1) {
        let (t1, t2) = (TAGS[tag], TAGS[(tag + 1 + new_tag) % TAGS.len()]);
        let (d1, d2) = if with_digest { (Some(D1), Some(D2)) } else { (None, None) };
        let original = render(&d, t1, d1);
        let ours = d.workloads.iter().flatten().filter(|c| c.repo < 3).count();
        for target in [Target::Manifest, Target::Auto] {
            let fwd = edit("gen.yaml", &original, &target, &update(t2, d2)).unwrap();
            prop_assert_eq!(&fwd.text, &render(&d, t2, d2));
            prop_assert_eq!(fwd.changes.len(), ours);
            let back = edit("gen.yaml", &fwd.text, &target, &update(t1, d1)).unwrap();
            prop_assert_eq!(&back.text, &original);
            // Only lines holding an image changed.
            let (a, b): (Vec<&str>, Vec<&str>) =
                (original.split('\n').collect(), fwd.text.split('\n').collect());
            prop_assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                if x != y {
                    prop_assert!(x.contains("image: ") && y.contains("image: "));
                }
            }
        }
    }

    #[test]
    fn kustomize_forward_and_back(
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        quote in 0..3usize,
        extra in prop::collection::vec((0..REPOS.len(), comment()), 0..4),
        tag in 0..TAGS.len(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let q = |s: &str| match quote { 0 => s.to_string(), 1 => format!("'{s}'"), _ => format!("\"{s}\"") };
        let render = |t: &str, digest: Option<&str>| {
            let mut lines = vec!["kind: Kustomization".to_string(), "images:".into()];
            for (r, c) in &extra {
                lines.push(format!("  - name: {}", REPOS[*r].replace("nginx", "other")));
                lines.push(format!("    newTag: {}{}", q("1.0.0"), c.as_ref().map(|c| format!(" {c}")).unwrap_or_default()));
            }
            lines.push(format!("  - name: {}", q("nginx")));
            lines.push(format!("    newTag: {}  # ours", q(t)));
            if let Some(dg) = digest {
                lines.push(format!("    digest: {}", q(dg)));
            }
            let mut s = lines.join(eol);
            if final_newline { s.push_str(eol); }
            s
        };
        let (t1, t2) = (TAGS[tag], TAGS[(tag + 1) % TAGS.len()]);
        let original = render(t1, None);
        // Pin a digest (a line is added), then go back to the tag (the line is removed).
        let pinned = edit("kustomization.yaml", &original, &Target::Auto, &update(t2, Some(D2))).unwrap();
        prop_assert_eq!(&pinned.text, &render(t2, Some(D2)));
        let back = edit("kustomization.yaml", &pinned.text, &Target::Kustomize, &update(t1, None)).unwrap();
        prop_assert_eq!(&back.text, &original);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Helm values blocks: registry or not, quote styles, a digest key or not, nesting.
    #[test]
    fn helm_forward_and_back(
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        blocks in prop::collection::vec((any::<bool>(), 0..3usize, prop::option::of(0..2usize), comment(), 1..3usize), 1..4),
        tag in 0..TAGS.len(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let render = |t: &str, digest: Option<&str>| {
            let mut lines = vec!["# values ✓".to_string()];
            for (n, (registry, style, dstyle, c, depth)) in blocks.iter().enumerate() {
                let pad = "  ".repeat(*depth);
                lines.push(format!("component{n}:"));
                if *depth == 2 {
                    lines.push("  nested:".into());
                }
                lines.push(format!("{pad}image:"));
                if *registry {
                    lines.push(format!("{pad}  registry: docker.io"));
                    lines.push(format!("{pad}  repository: bitnami/nginx"));
                } else {
                    lines.push(format!("{pad}  repository: docker.io/bitnami/nginx"));
                }
                let tv = match style { 0 => t.to_string(), 1 => format!("'{t}'"), _ => format!("\"{t}\"") };
                lines.push(format!("{pad}  tag: {tv}{}", c.as_ref().map(|c| format!(" {c}")).unwrap_or_default()));
                if let Some(ds) = dstyle {
                    let dv = digest.unwrap_or("");
                    lines.push(format!("{pad}  digest: {}", if *ds == 0 { format!("\"{dv}\"") } else { format!("'{dv}'") }));
                }
                lines.push(format!("{pad}  pullPolicy: IfNotPresent"));
            }
            let mut s = lines.join(eol);
            if final_newline { s.push_str(eol); }
            s
        };
        let all_have_digest = blocks.iter().all(|b| b.2.is_some());
        let (t1, t2) = (TAGS[tag], TAGS[(tag + 1) % TAGS.len()]);
        let original = render(t1, None);
        let up = |t: &str, d: Option<&str>| {
            let mut u = Update::parse(&format!("bitnami/nginx:{t}")).unwrap();
            u.digest = d.map(str::to_string);
            u
        };
        let helm = Target::Helm(Default::default());
        if all_have_digest {
            let fwd = edit("values.yaml", &original, &helm, &up(t2, Some(D2))).unwrap();
            prop_assert_eq!(&fwd.text, &render(t2, Some(D2)));
            let back = edit("values.yaml", &fwd.text, &helm, &up(t1, None)).unwrap();
            prop_assert_eq!(&back.text, &original);
        } else {
            prop_assert!(edit("values.yaml", &original, &helm, &up(t2, Some(D2))).is_err());
        }
        let fwd = edit("values.yaml", &original, &Target::Auto, &up(t2, None)).unwrap();
        prop_assert_eq!(&fwd.text, &render(t2, None));
        let back = edit("values.yaml", &fwd.text, &Target::Auto, &up(t1, None)).unwrap();
        prop_assert_eq!(&back.text, &original);
    }
}
