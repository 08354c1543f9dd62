//! Manual changes (`onManualChange`) end to end: the real binary, a real CNCF
//! Distribution registry and a real bare git repository (file://). imagebump updates an
//! image, a person rolls it back with an ordinary git commit, and what happens next
//! depends on the mode — read from git alone, by fresh processes (each `once` and `plan`
//! is a restart) and by a second replica with its own state directory.

mod support;

use std::path::{Path, PathBuf};

use support::cli::Run;
use support::gitserver::{git, BareRepo, CliClone, AUTHOR_EMAIL, AUTHOR_NAME};
use support::registry::{TestRegistry, TestRegistryOptions};

const FILE: &str = "apps/web/deployment.yaml";

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {image}   # kept\n"
    )
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    registry: TestRegistry,
    repo: BareRepo,
}

impl Setup {
    /// `global`: the config's `onManualChange`; `own`: the image's.
    fn new(global: Option<&str>, own: Option<&str>) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let registry = TestRegistry::start(TestRegistryOptions::default());
        let h = registry.host();
        rt().block_on(registry.push_tags("team/web", &tags(&["1.0.0", "1.1.0", "1.2.0"])));
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        let own = own
            .map(|m| format!("    onManualChange: {m}\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.join("policies/app.yaml"),
            format!("application: app\nimages:\n  - repository: {h}/team/web\n    semver: \">=1.0.0\"\n{own}    targets:\n      - manifest: {FILE}\n"),
        )
        .unwrap();
        let s = Setup {
            _tmp: tmp,
            repo: BareRepo::create_at(
                &dir.join("fleet.git"),
                &[(FILE, &deployment(&format!("{h}/team/web:1.0.0")))],
            ),
            dir,
            registry,
        };
        s.write_config("imagebump.yaml", "state", global);
        s
    }

    fn write_config(&self, name: &str, state: &str, global: Option<&str>) -> PathBuf {
        let global = global
            .map(|m| format!("onManualChange: {m}\n"))
            .unwrap_or_default();
        let path = self.dir.join(name);
        std::fs::write(
            &path,
            format!(
                "stateDir: {d}/{state}\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {h}\n    insecure: true\n{global}",
                d = self.dir.display(),
                h = self.registry.host()
            ),
        )
        .unwrap();
        path
    }

    fn config(&self) -> PathBuf {
        self.dir.join("imagebump.yaml")
    }

    fn image(&self, tag: &str) -> String {
        format!("{}/team/web:{tag}", self.registry.host())
    }

    fn deployed(&self) -> String {
        self.repo.read("main", FILE).unwrap()
    }

    /// imagebump takes 1.2.0, then a person rolls it back to 1.1.0; returns the short
    /// id of the person's commit.
    fn update_then_roll_back(&self) -> String {
        let r = imagebump("once", &self.config());
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(self.deployed(), deployment(&self.image("1.2.0")), "{r:?}");
        let c = CliClone::new(&self.repo.file_url());
        c.commit_and_push(
            &[(FILE, &deployment(&self.image("1.1.0")))],
            "roll back web: 1.2.0 is broken",
        );
        self.repo.head("main").unwrap()[..12].to_string()
    }

    fn push_tag(&self, tag: &str) {
        rt().block_on(self.registry.push_tags("team/web", &tags(&[tag])));
    }
}

fn imagebump(cmd: &str, config: &Path) -> Run {
    let config_arg = config.to_string_lossy();
    support::cli::run(
        config.parent().unwrap(),
        &[cmd, "--config", &config_arg],
        &[("IMAGEBUMP_LOG", "warn")],
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

fn person() -> String {
    format!("{AUTHOR_NAME} <{AUTHOR_EMAIL}>")
}

#[test]
fn skip_version_respects_a_rollback_then_takes_the_fix_release() {
    let s = Setup::new(None, None);
    let sha = s.update_then_roll_back();
    let commits = s.repo.commit_count("main");
    let want = format!(
        "app/web: not updated: held: rolled back by {} in {sha} from 1.2.0 to 1.1.0; waiting for a tag above 1.2.0\n",
        person()
    );

    // After a restart (a new process), and from another replica with its own state.
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, want, "{r:?}");
    let other = s.write_config("replica.yaml", "replica-state", None);
    let r = imagebump("plan", &other);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "", "{r:?}");
    assert!(r.stderr.contains(&want), "{r:?}");
    assert_eq!(s.repo.commit_count("main"), commits);
    assert_eq!(s.deployed(), deployment(&s.image("1.1.0")));

    // The fix release is taken as usual, and then nothing is held any more.
    s.push_tag("1.2.1");
    let r = imagebump("plan", &s.config());
    assert!(
        r.stdout
            .contains(&format!("+          image: {}", s.image("1.2.1"))),
        "{r:?}"
    );
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.deployed(), deployment(&s.image("1.2.1")), "{r:?}");
    assert_eq!(
        s.repo.tip_author("main").split(' ').next(),
        Some("imagebump")
    );
    let r = imagebump("once", &s.config());
    assert_eq!(r.stdout, "app/web: 1.2.1 (up to date)\n", "{r:?}");
}

#[test]
fn hold_from_the_config_waits_for_a_release() {
    let s = Setup::new(Some("hold"), None);
    let sha = s.update_then_roll_back();
    s.push_tag("1.2.1");
    let want = format!(
        "app/web: not updated: held: changed by {} in {sha} from 1.2.0 to 1.1.0; release it with `imagebump release`\n",
        person()
    );
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, want, "{r:?}");
    assert_eq!(s.deployed(), deployment(&s.image("1.1.0")));
    let r = imagebump("plan", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains(&want), "{r:?}");

    // `imagebump release app/web` commits with this trailer (made here with git, as
    // the command is another item): the hold ends, and updates resume.
    let c = CliClone::new(&s.repo.file_url());
    git(
        Some(c.path()),
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "release app/web\n\nImagebump-Release: app/web",
        ],
    );
    c.push();
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.deployed(), deployment(&s.image("1.2.1")), "{r:?}");
}

#[test]
fn ignore_on_the_image_overrides_the_config_and_updates_as_before() {
    let s = Setup::new(Some("hold"), Some("ignore"));
    s.update_then_roll_back();
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.deployed(), deployment(&s.image("1.2.0")), "{r:?}");
}

#[test]
fn skip_version_set_on_the_image_overrides_a_global_ignore() {
    let s = Setup::new(Some("ignore"), Some("skipVersion"));
    s.update_then_roll_back();
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("waiting for a tag above 1.2.0"), "{r:?}");
    assert_eq!(s.deployed(), deployment(&s.image("1.1.0")));
}

#[test]
fn a_bad_on_manual_change_value_is_refused() {
    let s = Setup::new(Some("sometimes"), None);
    let r = imagebump("plan", &s.config());
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("onManualChange") || r.stderr.contains("sometimes"),
        "{r:?}"
    );
}

#[test]
fn a_rollback_in_a_markers_directory_is_respected_too() {
    let s = Setup::new(None, None);
    let marked = |tag: &str| {
        deployment(&s.image(tag)).replace("   # kept", r#" # {"$imagepolicy": "app:web"}"#)
    };
    let c = CliClone::new(&s.repo.file_url());
    c.commit_and_push(
        &[
            (FILE, &marked("1.0.0")),
            ("apps/other/notes.yaml", "note: not for imagebump\n"),
        ],
        "use Flux markers",
    );
    let policy = s.dir.join("policies/app.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replace(&format!("manifest: {FILE}"), "markers: apps/"),
    )
    .unwrap();
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(s.deployed(), marked("1.2.0"), "{r:?}");
    c.pull();
    c.commit_and_push(&[(FILE, &marked("1.1.0"))], "roll back web");
    let sha = s.repo.head("main").unwrap()[..12].to_string();
    let r = imagebump("once", &s.config());
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!(
            "app/web: not updated: held: rolled back by {} in {sha} from 1.2.0 to 1.1.0; waiting for a tag above 1.2.0\n",
            person()
        ),
        "{r:?}"
    );
    assert_eq!(s.deployed(), marked("1.1.0"));
}
