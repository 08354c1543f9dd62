use super::*;
use crate::engine::live::PolicyStatus;
use crate::engine::reload::ConfigStatus;

const EVIL: &str = "<script>alert(1)</script>";

fn snapshot() -> Snapshot {
    Snapshot {
        version: "0.1.0".into(),
        taken: "2026-12-02T03:00:00Z".into(),
        ready: true,
        counts: vec![
            StateCount {
                state: "failed".into(),
                count: 1,
            },
            StateCount {
                state: "up_to_date".into(),
                count: 1,
            },
        ],
        images: vec![
            ImageRow {
                application: "shop".into(),
                image: "web".into(),
                repository: "registry.example.com/team/web".into(),
                current: Some("1.4.0".into()),
                candidate: Some("1.4.0".into()),
                chosen: Some("1.4.0".into()),
                state: "up_to_date".into(),
                why: Some("up to date: no newer tag than 1.4.0".into()),
                commit: Some(CommitRef::new(
                    "0123456789abcdef0123456789abcdef01234567",
                    Some("https://github.com/org/fleet/commit/0123456789abcdef".into()),
                )),
                ..Default::default()
            },
            ImageRow {
                application: "shop".into(),
                image: "api".into(),
                repository: "registry.example.com/team/api".into(),
                current: Some(format!("1.0.0{EVIL}")),
                state: "failed".into(),
                error: Some(format!("listing failed: {EVIL}")),
                why: Some("a listing failed".into()),
                hold: Some(format!("hold marker: {EVIL}")),
                commit: Some(CommitRef::new("fedcba9876543210", None)),
                ..Default::default()
            },
        ],
        gits: vec![GitRow {
            name: "fleet".into(),
            url: "https://github.com/org/fleet.git".into(),
            branch: "main".into(),
            write: "pullRequest".into(),
            push_branch: "imagebump/updates".into(),
            last_error: Some(format!("push refused: {EVIL}")),
            pull_requests: vec![
                PullRef {
                    head: "imagebump/updates".into(),
                    url: Some("https://github.com/org/fleet/pull/7".into()),
                },
                PullRef {
                    head: "imagebump/odd".into(),
                    url: None,
                },
            ],
            ..Default::default()
        }],
        config: ConfigStatus {
            generation: 3,
            last_reload: Some("2026-12-02T02:59:00Z".into()),
            last_result: Some("invalid"),
            problems: vec![format!("imagebump.yaml:4:3: unknown key {EVIL}")],
            restart_needed: vec!["adminListen".into()],
        },
        policies: PolicyStatus {
            generation: 2,
            ..Default::default()
        },
        latency: latency::draw(
            &[
                latency::Bucket {
                    le: Some(0.01),
                    cumulative: 1,
                },
                latency::Bucket {
                    le: None,
                    cumulative: 2,
                },
            ],
            0.5,
            2,
        ),
    }
}

#[test]
fn escapes_every_value_from_outside() {
    let html = render(&snapshot()).unwrap();
    assert!(!html.contains("<script"), "{html}");
    for escaped in [
        "1.0.0&lt;script&gt;",
        "listing failed: &lt;script&gt;",
        "push refused: &lt;script&gt;",
        "hold marker: &lt;script&gt;",
        "unknown key &lt;script&gt;",
    ] {
        assert!(html.contains(escaped), "{escaped} missing in {html}");
    }
}

#[test]
fn has_the_accessible_structure() {
    let html = render(&snapshot()).unwrap();
    for part in [
        "<html lang=\"en\">",
        "<meta name=\"viewport\"",
        "<a class=\"skip\" href=\"#main\">",
        "<main id=\"main\"",
        "<h1>imagebump status</h1>",
        "<h2 id=\"images\">Images</h2>",
        "<h2 id=\"repositories\">GitOps repositories</h2>",
        "<h2 id=\"configuration\">",
        "<h2 id=\"latency\">",
        "<caption>",
        "<th scope=\"col\">Current</th>",
        "<th scope=\"row\">shop/web",
        "role=\"img\" aria-labelledby=\"latency-title latency-desc\"",
        "<table id=\"latency-table\">",
    ] {
        assert!(html.contains(part), "{part} missing in {html}");
    }
    // State as words, not only colour.
    assert!(
        html.contains("<span class=\"badge bad\">failed</span>"),
        "{html}"
    );
    assert!(
        html.contains("<span class=\"badge good\">up to date</span>"),
        "{html}"
    );
}

#[test]
fn links_commits_only_where_a_url_is_known() {
    let html = render(&snapshot()).unwrap();
    // minijinja escapes `/` in attributes; a browser reads it back as `/`.
    assert!(
        html.contains("<a href=\"https:&#x2f;&#x2f;github.com&#x2f;org&#x2f;fleet&#x2f;commit&#x2f;0123456789abcdef\"><code>0123456789ab</code></a>"),
        "{html}"
    );
    assert!(
        html.contains("<code title=\"fedcba9876543210\">fedcba987654</code>"),
        "{html}"
    );
    assert!(html.contains(">imagebump&#x2f;updates</a>"), "{html}");
    assert!(html.contains(", imagebump&#x2f;odd</td>"), "{html}");
}

#[test]
fn draws_the_histogram_with_its_counts() {
    let html = render(&snapshot()).unwrap();
    assert!(html.contains("<title>≤ 10 ms: 1</title>"), "{html}");
    assert!(html.contains("<title>&gt; 10 ms: 1</title>"), "{html}");
    assert!(html.contains("2 commits caused by a webhook"), "{html}");
    assert!(html.contains("mean 250 ms"), "{html}");
}

#[test]
fn shows_reload_problems_and_empty_boards() {
    let html = render(&snapshot()).unwrap();
    assert!(
        html.contains("<span class=\"badge bad\">invalid</span> the last good config is kept"),
        "{html}"
    );
    assert!(html.contains("<code>adminListen</code>"), "{html}");
    let mut empty = snapshot();
    empty.images.clear();
    empty.gits.clear();
    empty.counts.clear();
    let html = render(&empty).unwrap();
    assert!(
        html.contains("No images: the policies name none."),
        "{html}"
    );
    assert!(html.contains("0 images watched"), "{html}");
}
