//! `xtask check` notices a fragment change, shows it as a diff, and passes
//! again after `xtask generate`. Runs on a copy of the workspace's inputs.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_inputs(to: &Path) {
    for file in [xtask::SPEC, xtask::SNAPSHOT] {
        let target = to.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(workspace().join(file), target).unwrap();
    }
}

#[test]
fn the_committed_snapshot_is_in_sync() {
    let summary = xtask::check(&workspace()).unwrap_or_else(|e| panic!("{e}"));
    assert!(summary.contains("in sync"));
}

#[test]
fn a_new_enum_value_is_drift_with_a_diff_until_regenerated() {
    let dir = std::env::temp_dir().join(format!("ymc-drift-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_inputs(&dir);
    xtask::check(&dir).expect("a fresh copy is in sync");

    let spec = dir.join(xtask::SPEC);
    let text = std::fs::read_to_string(&spec).unwrap();
    let changed = text.replacen(
        "        - ARBITRAGE\n",
        "        - ARBITRAGE\n        - SUPPORT_TICKET\n",
        1,
    );
    assert_ne!(
        text, changed,
        "the fragment still lists ARBITRAGE as in the test"
    );
    std::fs::write(&spec, changed).unwrap();

    match xtask::check(&dir) {
        Err(xtask::CheckError::Drift { what, diff }) => {
            assert_eq!(what, "stale");
            assert!(
                diff.contains("+") && diff.contains("SUPPORT_TICKET"),
                "{diff}"
            );
            assert!(
                diff.lines()
                    .any(|l| l.starts_with('+') && l.contains("SupportTicket")),
                "{diff}"
            );
        }
        other => panic!("expected drift, got {other:?}"),
    }

    xtask::generate(&dir).unwrap();
    xtask::check(&dir).expect("in sync after generate");

    std::fs::remove_file(dir.join(xtask::SNAPSHOT)).unwrap();
    assert!(matches!(
        xtask::check(&dir),
        Err(xtask::CheckError::Drift {
            what: "missing",
            ..
        })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
