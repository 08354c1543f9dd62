//! The status page in a real browser, and the `adminListen` split, with real parts only:
//! the `imagebump run` binary, a CNCF Distribution registry whose notifications point
//! at it, a bare git repository over file://, and headless Chromium (Debian's
//! `chromium`) loading the page — its DOM checked, screenshots saved under
//! `target/status-page/`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::chromium;
use support::gitserver::BareRepo;
use support::registry::{free_port, TestRegistry, TestRegistryOptions};
use support::service::{get, post, wait_for, wait_for_or, Service};

const SECRET: &str = "status-page-secret";

/// Where the screenshots go: `target/status-page/`.
fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `target/tmp`.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("status-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn manifest(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

/// A fleet under `dir`: `shop/web` (has tags), `shop/api` (a repository the registry
/// does not have, so it fails) and `shop/db` (held by a marker in git), with `listen`
/// and `adminListen`.
fn fleet(dir: &Path, registry: &TestRegistry, hooks: u16, admin: u16) -> BareRepo {
    let host = registry.host();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!(
            "application: shop\nimages:\n  - name: web\n    repository: {host}/team/web\n    semver: '>=1.0.0 <2.0.0'\n    targets:\n      - manifest: apps/web.yaml\n  - name: api\n    repository: {host}/team/api\n    semver: '*'\n    targets:\n      - manifest: apps/api.yaml\n  - name: db\n    repository: {host}/team/db\n    semver: '*'\n    targets:\n      - manifest: apps/db.yaml\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{hooks}\nadminListen: 127.0.0.1:{admin}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\n  commitUrl: \"https://git.example.com/fleet/commit/{{{{ commit }}}}?branch={{{{ branch }}}}\"\nregistries:\n  - host: {host}\n    insecure: true\nreceivers:\n  - name: registry\n    provider: distribution\n    secret: {{env: STATUS_PAGE_SECRET}}\npoll: {{interval: 1h}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    BareRepo::create_at(
        &dir.join("fleet.git"),
        &[
            (
                "apps/web.yaml",
                &manifest(&format!("{host}/team/web:1.0.0")),
            ),
            (
                "apps/api.yaml",
                &manifest(&format!("{host}/team/api:0.1.0")),
            ),
            (
                "apps/db.yaml",
                &manifest(&format!(
                    "{host}/team/db:1.0.0   # imagebump: hold waiting for the migration"
                )),
            ),
        ],
    )
}

/// The `<tr …>…</tr>` of the row whose `data-image` is `id`.
fn row<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<tr data-image=\"{id}\">"))
        .unwrap_or_else(|| panic!("no row for {id} in\n{dom}"));
    let end = dom[start..].find("</tr>").unwrap() + start;
    &dom[start..end]
}

fn png_ok(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    // A blank page compresses to a few hundred bytes; a rendered one is far larger.
    assert!(
        bytes.len() > 10_000,
        "{} is only {} bytes: nothing was drawn",
        path.display(),
        bytes.len()
    );
    bytes.len() as u64
}

#[test]
fn status_page_in_headless_chromium_shows_images_commits_and_latency() {
    chromium::require();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (hooks, admin) = (free_port(), free_port());
    let registry = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://127.0.0.1:{hooks}/hooks/registry"),
        Some(&format!("Bearer {SECRET}")),
    ));
    let repo = fleet(dir, &registry, hooks, admin);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(registry.push_image("team/web", "1.0.0"));
    rt.block_on(registry.push_image("team/db", "1.0.0"));
    rt.block_on(registry.push_image("team/db", "1.1.0"));
    let admin_url = |p: &str| format!("http://127.0.0.1:{admin}{p}");
    let svc = Service::start_env(dir, admin, &[("STATUS_PAGE_SECRET", SECRET)]);

    // A push: the registry's notification reaches the webhook port and becomes a commit.
    rt.block_on(registry.push_image("team/web", "1.4.0"));
    wait_for("the commit", Duration::from_secs(30), || {
        repo.read("main", "apps/web.yaml")
            .filter(|t| t.contains(":1.4.0"))
    });
    let commit = repo.head("main").unwrap();
    // The status API says so (what the page is drawn from), and the latency histogram
    // has its observation.
    let last = std::cell::RefCell::new(String::new());
    let status = wait_for_or(
        "the status of the commit",
        Duration::from_secs(30),
        || {
            let (_, body) = get(&admin_url("/api/v1/status"))?;
            *last.borrow_mut() = body.clone();
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let web = v["images"]
                .as_array()?
                .iter()
                .find(|i| i["image"] == "web")?;
            let api = v["images"]
                .as_array()?
                .iter()
                .find(|i| i["image"] == "api")?;
            let db = v["images"]
                .as_array()?
                .iter()
                .find(|i| i["image"] == "db")?;
            (web["current"] == "1.4.0"
                && web["lastCommit"] == commit.as_str()
                && api["state"].is_string()
                && db["state"] == "held"
                && v["gits"][0]["lastCommit"] == commit.as_str())
            .then_some(v)
        },
        || last.borrow().clone(),
    );
    assert_eq!(
        status["gits"][0]["lastCommitUrl"],
        format!("https://git.example.com/fleet/commit/{commit}?branch=main"),
        "{status}"
    );
    wait_for("the latency observation", Duration::from_secs(10), || {
        let (_, m) = get(&admin_url("/metrics"))?;
        m.contains("imagebump_webhook_to_commit_seconds_count 1\n")
            .then_some(())
    });

    // A policy file with markup where a key belongs: the live reload refuses it, and
    // its problem (which quotes the key) reaches the page as text, never as markup.
    std::fs::write(
        dir.join("policies/bad.yaml"),
        "application: bad\nimages:\n  - repository: x/y\n    semver: '*'\n    \"<script>alert(1)</script>\": 1\n",
    )
    .unwrap();
    wait_for("the refused policy reload", Duration::from_secs(30), || {
        let (_, body) = get(&admin_url("/api/v1/status"))?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        (v["policies"]["lastResult"] == "invalid" && body.contains("<script>alert(1)</script>"))
            .then_some(())
    });

    // The page in a real browser: the DOM after Chromium parsed it.
    let dom = chromium::dump_dom(&admin_url("/"));
    assert!(dom.contains("<html lang=\"en\">"), "{dom}");
    assert!(dom.contains("<h1>imagebump status</h1>"), "{dom}");
    for h2 in [
        "<h2 id=\"summary\">Summary</h2>",
        "<h2 id=\"images\">Images</h2>",
        "<h2 id=\"repositories\">GitOps repositories</h2>",
        "<h2 id=\"configuration\">Configuration and policies</h2>",
    ] {
        assert!(dom.contains(h2), "{h2} missing in\n{dom}");
    }
    assert!(
        !dom.contains("<script"),
        "markup from a policy file became an element:\n{dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    let web = row(&dom, "shop/web");
    assert!(
        web.contains("<td data-label=\"Current\" class=\"current\"><code>1.4.0</code></td>"),
        "{web}"
    );
    assert!(
        web.contains("<span class=\"badge good\">updated</span>"),
        "{web}"
    );
    // The commit link, from the repository's commitUrl.
    let short = &commit[..12];
    assert!(
        web.contains(&format!(
            "<a href=\"https://git.example.com/fleet/commit/{commit}?branch=main\"><code>{short}</code></a>"
        )),
        "{web}"
    );
    // The image whose repository the registry lacks shows its failure in words.
    let api = row(&dom, "shop/api");
    assert!(api.contains("class=\"badge bad\""), "{api}");
    assert!(api.contains("team/api: repository not found</td>"), "{api}");
    // The held image says by what, in its hold column.
    let db = row(&dom, "shop/db");
    assert!(
        db.contains("<span class=\"badge wait\">held</span>"),
        "{db}"
    );
    assert!(
        db.contains("<td data-label=\"Hold\">held by `# imagebump: hold` at apps/db.yaml:10: waiting for the migration</td>"),
        "{db}"
    );
    let git = &dom[dom
        .find("<tr data-git=\"default\">")
        .expect("repository row")..];
    assert!(
        git.contains(&format!("<code>file://{}/fleet.git</code>", dir.display())),
        "{git}"
    );
    // The histogram: one bar per bucket of the metric (15 bounds and +Inf), the one
    // observation in the text alternative.
    let svg_start = dom.find("<svg id=\"latency-histogram\"").expect("the SVG");
    let svg = &dom[svg_start..svg_start + dom[svg_start..].find("</svg>").unwrap()];
    assert_eq!(svg.matches("<rect class=\"bar\"").count(), 16, "{svg}");
    assert!(
        svg.contains("aria-labelledby=\"latency-title latency-desc\""),
        "{svg}"
    );
    assert!(
        dom.contains("1 commit caused by a webhook since start"),
        "{dom}"
    );
    let table = &dom[dom.find("<table id=\"latency-table\">").unwrap()..];
    let ones = table[..table.find("</table>").unwrap()]
        .matches("<td>1</td>")
        .count();
    assert_eq!(ones, 1, "one bucket holds the one observation: {table}");

    // `/ui` is the same page.
    let (code, ui) = get(&admin_url("/ui")).unwrap();
    assert_eq!(code, 200);
    assert!(ui.contains("<h1>imagebump status</h1>"));

    // Screenshots: a phone and a desktop.
    let out = screenshot_dir();
    let phone = chromium::screenshot(&admin_url("/"), &out.join("phone.png"), 390, 844);
    let desktop = chromium::screenshot(&admin_url("/"), &out.join("desktop.png"), 1280, 900);
    // The whole page on a phone, for a look at every section.
    let full = chromium::screenshot(&admin_url("/"), &out.join("phone-full.png"), 390, 2000);
    let (p, d) = (png_ok(&phone), png_ok(&desktop));
    png_ok(&full);
    eprintln!(
        "screenshots: {} ({p} bytes), {} ({d} bytes)",
        phone.display(),
        desktop.display()
    );
    drop(svc);
}

#[test]
fn admin_listen_splits_webhooks_from_status_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (hooks, admin) = (free_port(), free_port());
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let _repo = fleet(dir, &registry, hooks, admin);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(registry.push_image("team/web", "1.0.0"));
    let url = |port: u16, p: &str| format!("http://127.0.0.1:{port}{p}");
    let svc = Service::start_env(dir, admin, &[("STATUS_PAGE_SECRET", SECRET)]);
    let code = |port, p| get(&url(port, p)).map(|(c, _)| c);
    let hook = |port| {
        post(
            &url(port, "/hooks/registry"),
            &[("authorization", "Bearer wrong")],
            r#"{"events":[]}"#,
        )
    };

    // Health on both.
    for port in [hooks, admin] {
        assert_eq!(code(port, "/healthz"), Some(200), "{}", svc.log());
        assert_eq!(code(port, "/readyz"), Some(200));
    }
    // Webhooks on `listen` only: the receiver answers there (401 for a wrong secret),
    // and the admin port has no such route.
    assert_eq!(hook(hooks), Some(401));
    assert_eq!(hook(admin), Some(404));
    // Status, metrics and the page on `adminListen` only.
    for p in ["/metrics", "/api/v1/status", "/", "/ui"] {
        assert_eq!(code(admin, p), Some(200), "{p} on the admin port");
        assert_eq!(code(hooks, p), Some(404), "{p} on the webhook port");
    }
    let (_, metrics) = get(&url(admin, "/metrics")).unwrap();
    assert!(
        metrics
            .contains(r#"imagebump_webhooks_total{receiver="registry",result="unauthorized"} 1"#),
        "the delivery on the webhook port is counted on the admin port:\n{metrics}"
    );
}
