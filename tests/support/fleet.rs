//! A GitOps fleet on disk for end-to-end tests of the real binary: `imagebump.yaml`
//! pointing at a `file://` bare repository and a policies directory under one folder.

use std::path::Path;

use imagebump_testbed::gitserver::BareRepo;

/// Writes `DIR/imagebump.yaml`: state and policies under DIR, the GitOps repository
/// `file://DIR/fleet.git` (branch main, author `imagebump <bot@example.com>`), and the
/// registry `host` without TLS.
pub fn write_config(dir: &Path, host: &str) {
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {host}\n    insecure: true\n",
            d = dir.display()
        ),
    )
    .unwrap();
}

/// A fleet of one image, `shop/web` following `HOST/team/web` (`semver: '*'`), whose
/// only target `app.yaml` holds `app`; with the config of [`write_config`].
pub fn web_fleet(dir: &Path, host: &str, app: &str) -> BareRepo {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!(
            "application: shop\nimages:\n  - name: web\n    repository: {host}/team/web\n    semver: '*'\n    targets:\n      - manifest: app.yaml\n"
        ),
    )
    .unwrap();
    write_config(dir, host);
    BareRepo::create_at(&dir.join("fleet.git"), &[("app.yaml", app)])
}
