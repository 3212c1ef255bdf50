//! `xtask check` notices a change to the fragment, to the api crate's copy of
//! it or to a generated file, shows it as a diff, and passes again after
//! `xtask generate`. Runs on a copy of the workspace's inputs.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fresh folder holding the fragment and every generated file.
fn copy_of_inputs(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ymc-drift-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for file in std::iter::once(xtask::SPEC).chain(xtask::GENERATED) {
        let target = dir.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(workspace().join(file), target).unwrap();
    }
    xtask::check(&dir).expect("a fresh copy is in sync");
    dir
}

fn drift(dir: &Path) -> (Vec<(&'static str, &'static str)>, String) {
    match xtask::check(dir) {
        Err(xtask::CheckError::Drift { files, diff }) => (files, diff),
        other => panic!("expected drift, got {other:?}"),
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let changed = text.replacen(from, to, 1);
    assert_ne!(text, changed, "{} no longer has {from:?}", path.display());
    std::fs::write(path, changed).unwrap();
}

#[test]
fn the_committed_files_are_in_sync() {
    let summary = xtask::check(&workspace()).unwrap_or_else(|e| panic!("{e}"));
    assert!(summary.contains("in sync"));
}

#[test]
fn the_api_crate_builds_from_a_byte_for_byte_copy_of_the_fragment() {
    let fragment = std::fs::read(workspace().join(xtask::SPEC)).unwrap();
    let copy = std::fs::read(workspace().join(xtask::SPEC_COPY)).unwrap();
    assert!(
        fragment == copy,
        "{} differs from {}: run `cargo xtask generate`",
        xtask::SPEC_COPY,
        xtask::SPEC
    );
}

#[test]
fn a_new_enum_value_is_drift_with_a_diff_until_regenerated() {
    let dir = copy_of_inputs("enum");
    edit(
        &dir.join(xtask::SPEC),
        "        - ARBITRAGE\n",
        "        - ARBITRAGE\n        - SUPPORT_TICKET\n",
    );

    let (files, diff) = drift(&dir);
    // The copy and the client change; the mocks name no enum.
    assert_eq!(
        files,
        [(xtask::SPEC_COPY, "stale"), (xtask::SNAPSHOT, "stale")]
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("SUPPORT_TICKET")),
        "{diff}"
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("SupportTicket")),
        "{diff}"
    );

    xtask::generate(&dir).unwrap();
    xtask::check(&dir).expect("in sync after generate");

    std::fs::remove_file(dir.join(xtask::SNAPSHOT)).unwrap();
    let (files, _) = drift(&dir);
    assert_eq!(files, [(xtask::SNAPSHOT, "missing")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_new_query_parameter_changes_the_client_and_the_mocks() {
    let dir = copy_of_inputs("param");
    edit(
        &dir.join(xtask::SPEC),
        "        - $ref: '#/components/parameters/PageToken'\n",
        "        - $ref: '#/components/parameters/PageToken'\n        - name: onlyUnread\n          in: query\n          schema:\n            type: boolean\n",
    );
    let (files, diff) = drift(&dir);
    assert_eq!(
        files,
        [
            (xtask::SPEC_COPY, "stale"),
            (xtask::SNAPSHOT, "stale"),
            (xtask::MOCKS, "stale"),
        ]
    );
    assert!(
        diff.contains(&format!("+++ b/{} (generated from", xtask::MOCKS)),
        "{diff}"
    );
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("pub fn only_unread")),
        "{diff}"
    );
    xtask::generate(&dir).unwrap();
    xtask::check(&dir).expect("in sync after generate");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_hand_edit_of_the_fragment_copy_or_the_mocks_is_drift() {
    let dir = copy_of_inputs("hand");
    edit(
        &dir.join(xtask::SPEC_COPY),
        "openapi: 3.0.3\n",
        "openapi: 3.0.3 \n",
    );
    let (files, diff) = drift(&dir);
    assert_eq!(files, [(xtask::SPEC_COPY, "stale")]);
    assert!(
        diff.contains(&format!("--- a/{} (committed)", xtask::SPEC_COPY)),
        "{diff}"
    );
    assert!(
        diff.contains("-openapi: 3.0.3 \n+openapi: 3.0.3\n"),
        "{diff}"
    );

    xtask::generate(&dir).unwrap();
    edit(
        &dir.join(xtask::MOCKS),
        "    fn get_chats<F>",
        "    fn list_chats<F>",
    );
    let (files, diff) = drift(&dir);
    assert_eq!(files, [(xtask::MOCKS, "stale")]);
    assert!(diff.contains("-    fn list_chats<F>"), "{diff}");

    std::fs::remove_file(dir.join(xtask::MOCKS)).unwrap();
    let error = xtask::check(&dir).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{} is missing", xtask::MOCKS)),
        "{error}"
    );
    xtask::generate(&dir).unwrap();
    xtask::check(&dir).expect("in sync after generate");
    std::fs::remove_dir_all(&dir).unwrap();
}
