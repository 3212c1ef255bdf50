//! Generates the client from the fragment into `OUT_DIR/chats.rs`.
//! Every setting lives in `yandex-market-chats-codegen`; nothing here is configuration.
//!
//! It reads this crate's copy of the fragment, `openapi/chats.yaml`, so that
//! the packaged crate builds on its own. The workspace's `openapi/chats.yaml`
//! stays the single source: `cargo xtask generate` writes the copy, and
//! `cargo xtask check` fails when it differs by one byte.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let spec = manifest_dir.join("openapi/chats.yaml");
    println!("cargo::rerun-if-changed={}", spec.display());
    println!("cargo::rerun-if-changed=build.rs");

    let source = match yandex_market_chats_codegen::generate(&spec) {
        Ok(source) => source,
        Err(error) => {
            println!("cargo::error={error}");
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("chats.rs");
    if let Err(error) = std::fs::write(&out, source) {
        println!("cargo::error=cannot write {}: {error}", out.display());
        std::process::exit(1);
    }
}
