//! The code this crate compiles, the committed snapshot and a fresh run of the
//! generator are the same bytes: they all come from `codegen::generate`, on
//! this crate's copy of the fragment (`openapi/chats.yaml`, which
//! `cargo xtask check` keeps equal to the workspace's).

use std::path::Path;

const BUILT: &str = include_str!(concat!(env!("OUT_DIR"), "/chats.rs"));

#[test]
fn build_output_is_what_the_generator_returns() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/chats.yaml");
    let fresh = yandex_market_chats_codegen::generate(spec).expect("the fragment generates");
    assert!(fresh == BUILT, "build.rs output differs from generate()");
}

#[test]
fn build_output_is_the_committed_snapshot() {
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshot/chats.rs");
    let snapshot = std::fs::read_to_string(&snapshot).expect("snapshot/chats.rs exists");
    assert!(
        snapshot == BUILT,
        "snapshot/chats.rs is stale: run `cargo xtask generate` (or `cargo xtask check` for the diff)"
    );
}
