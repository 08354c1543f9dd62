//! `WorkingCopy::file_history`: a path's recent versions along the first parent, newest
//! first, with imagebump's own commits and release trailers recognised, bounded. A real
//! bare repository over file://; the human is the git CLI.

mod common;

use std::path::{Path, PathBuf};

use common::{cfg, fast_retry, land};
use imagebump_git::{GitAuth, WorkingCopy, RELEASE_TRAILER, TRAILER};
use imagebump_testbed::gitserver::{git, BareRepo, CliClone};

const FILE: &str = "apps/app/deploy.yaml";

#[test]
fn history_tells_imagebumps_commits_from_a_persons_and_sees_releases() {
    let origin = BareRepo::with_files(&[(FILE, "image: app:1\n"), ("other.txt", "x\n")]);
    let human = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    let m = format!("bump app\n\n{TRAILER}: 0.0.0-test\n");
    land(&mut wc, fast_retry(5), &m, |wc, _| {
        wc.write_file(Path::new(FILE), "image: app:2\n")?;
        Ok(vec![PathBuf::from(FILE)])
    })
    .unwrap()
    .unwrap();
    human.commit_and_push(&[(FILE, "image: app:1\n")], "roll back");
    human.commit_and_push(&[("other.txt", "y\n")], "unrelated");
    git(
        Some(human.path()),
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            &format!("release\n\n{RELEASE_TRAILER}: app/app\n"),
        ],
    );
    human.push();
    wc.sync().unwrap();

    let h = wc.file_history(Path::new(FILE), 50).unwrap();
    let seen: Vec<_> = h
        .iter()
        .map(|v| (v.is_imagebump, v.releases.clone(), v.text.clone().unwrap()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                false,
                vec!["app/app".to_string()],
                "image: app:1\n".to_string()
            ),
            (false, vec![], "image: app:1\n".to_string()),
            (true, vec![], "image: app:2\n".to_string()),
            (false, vec![], "image: app:1\n".to_string()),
        ]
    );
    assert!(h[2].author.starts_with("imagebump <"), "{:?}", h[2]);

    // Bounded: the newest versions only.
    assert_eq!(wc.file_history(Path::new(FILE), 2).unwrap().len(), 2);
    // A path never committed: only the release commit (which names no file), without text.
    let none = wc.file_history(Path::new("missing.yaml"), 50).unwrap();
    assert_eq!(none.len(), 1);
    assert_eq!(none[0].text, None);

    // Several paths in one walk: each the same as its own walk.
    let paths = [
        PathBuf::from(FILE),
        PathBuf::from("other.txt"),
        PathBuf::from("missing.yaml"),
    ];
    let all = wc.files_history(&paths, 50).unwrap();
    for p in &paths {
        assert_eq!(all[p], wc.file_history(p, 50).unwrap(), "{}", p.display());
    }
    assert_eq!(
        all[&PathBuf::from("other.txt")].len(),
        3,
        "root, unrelated, release"
    );
}
