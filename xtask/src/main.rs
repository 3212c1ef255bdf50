//! `cargo xtask <task>`: the maintainer's loop around the generated client.
//!
//! - `generate`: regenerate `crates/yandex-market-chats-api/snapshot/chats.rs`
//!   from `openapi/chats.yaml`.
//! - `check`: regenerate in memory and compare with the snapshot; print a
//!   unified diff and fail when they differ.
//! - `bench [--quick]`, `build-cost`: see `tasks.rs`.
//! - `mutants [FILE...] [--shard K/N] [--in-diff DIFF] [--iterate]`: see `mutants.rs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xtask::CheckError;

const USAGE: &str = "usage: cargo xtask <task>

  generate           write the generated client to crates/yandex-market-chats-api/snapshot/chats.rs
  check              fail with a diff when that snapshot differs from a fresh generation
  bench [--quick]    time and memory of the SDK against a hand-written baseline (release build;
                     --quick: a small debug run that only keeps the benchmark working)
  build-cost         clean-build a reqwest-only crate and one using the SDK; compare (minutes)
  mutants [FILE...] [--shard K/N] [--in-diff DIFF] [--iterate]
                     mutation testing (cargo-mutants) of the wrapper's rule modules, or of
                     FILEs; caught / missed / unviable / timeout per file (an hour or more)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate"] => report(xtask::generate(&root)),
        ["check"] => match xtask::check(&root) {
            Ok(summary) => report(Ok(summary)),
            Err(CheckError::Drift { what, diff }) => {
                print!("{diff}");
                report(Err(CheckError::Drift {
                    what,
                    diff: String::new(),
                }
                .to_string()))
            }
            Err(other) => report(Err(other.to_string())),
        },
        ["bench"] => report(xtask::tasks::bench(&root, false).map(|()| String::new())),
        ["bench", "--quick"] => report(xtask::tasks::bench(&root, true).map(|()| String::new())),
        ["build-cost"] => report(xtask::tasks::build_cost(&root).map(|()| String::new())),
        ["mutants", rest @ ..] => report(
            xtask::mutants::parse(rest).and_then(|options| xtask::mutants::run(&root, &options)),
        ),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(summary) => {
            if !summary.is_empty() {
                println!("{summary}");
            }
            ExitCode::SUCCESS
        }
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
