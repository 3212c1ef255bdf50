//! `cargo xtask <task>`: the maintainer's loop around the generated client.
//!
//! - `generate`: regenerate `crates/yandex-market-chats-api/snapshot/chats.rs`
//!   from `openapi/chats.yaml`.
//! - `check`: regenerate in memory and compare with the snapshot; print a
//!   unified diff and fail when they differ.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const SPEC: &str = "openapi/chats.yaml";
const SNAPSHOT: &str = "crates/yandex-market-chats-api/snapshot/chats.rs";

const USAGE: &str = "usage: cargo xtask <generate|check>

  generate   write the generated client to crates/yandex-market-chats-api/snapshot/chats.rs
  check      fail with a diff when that snapshot differs from a fresh generation";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["generate"] => generate(&root),
        ["check"] => check(&root),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

fn fresh(root: &Path) -> Result<String, String> {
    yandex_market_chats_codegen::generate(root.join(SPEC)).map_err(|e| e.to_string())
}

fn generate(root: &Path) -> Result<(), String> {
    let source = fresh(root)?;
    let path = root.join(SNAPSHOT);
    let old = std::fs::read_to_string(&path).ok();
    if old.as_deref() == Some(source.as_str()) {
        println!("{SNAPSHOT} is already up to date");
        return Ok(());
    }
    std::fs::write(&path, &source).map_err(|e| format!("cannot write {SNAPSHOT}: {e}"))?;
    println!("wrote {SNAPSHOT} ({} lines); review it with `git diff`", source.lines().count());
    Ok(())
}

fn check(root: &Path) -> Result<(), String> {
    let source = fresh(root)?;
    let committed = match std::fs::read_to_string(root.join(SNAPSHOT)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {SNAPSHOT}: {e}")),
    };
    if committed == source {
        println!(
            "{SNAPSHOT} is in sync with {SPEC} ({} lines)",
            source.lines().count()
        );
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&committed, &source);
    print!(
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("a/{SNAPSHOT} (committed)"), &format!("b/{SNAPSHOT} (generated from {SPEC})"))
    );
    let what = if committed.is_empty() { "missing" } else { "stale" };
    Err(format!(
        "{SNAPSHOT} is {what}: run `cargo xtask generate`, review the diff and commit it"
    ))
}
