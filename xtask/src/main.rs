//! `cargo xtask <task>`: the maintainer's loop around the generated code.
//!
//! - `generate`: from `openapi/chats.yaml`, write the api crate's copy of it
//!   (`crates/yandex-market-chats-api/openapi/chats.yaml`, which its build
//!   script reads), the client snapshot
//!   (`crates/yandex-market-chats-api/snapshot/chats.rs`) and the typed
//!   httpmock mocks (`crates/yandex-market-chats-httpmock/src/generated.rs`).
//! - `check`: regenerate in memory and compare with those three files; print
//!   a unified diff and fail when any differs.
//! - `bench [--quick]`, `bench follow [--quick] [--chats N]... [--windows W]`,
//!   `build-cost`: see `tasks.rs`.
//! - `mutants [FILE...] [--shard K/N] [--in-diff DIFF] [--iterate]`: see `mutants.rs`.
//!
//! The workspace is the parent of `CARGO_MANIFEST_DIR`, read when the task
//! runs (cargo sets it for `cargo run`), never the folder xtask was built in.

use std::process::ExitCode;

use xtask::CheckError;

const USAGE: &str = "usage: cargo xtask <task>

  generate           from openapi/chats.yaml, write the api crate's copy of it
                     (crates/yandex-market-chats-api/openapi/chats.yaml), the client snapshot
                     (crates/yandex-market-chats-api/snapshot/chats.rs) and the typed httpmock
                     mocks (crates/yandex-market-chats-httpmock/src/generated.rs)
  check              fail with a diff when any of those differs from a fresh generation
  bench [--quick]    time and memory of the SDK against a hand-written baseline (release build;
                     --quick: a small debug run that only keeps the benchmark working)
  bench follow [--quick] [--chats N]... [--windows W]
                     the follower at scale against the sandbox, a 60 s quota window standing for
                     an hour: latency, requests per hour, sweep period for N = 1,000, 10,000,
                     100,000 chats (release build, minutes per N; --quick: N = 1,000, one 15 s
                     window, debug build, a smoke run)
  build-cost         clean-build a reqwest-only crate and one using the SDK; compare (minutes)
  mutants [FILE...] [--shard K/N] [--in-diff DIFF] [--iterate]
                     mutation testing (cargo-mutants) of the wrapper's rule modules, or of
                     FILEs; caught / missed / unviable / timeout per file (an hour or more)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag] = args.as_slice()
        && matches!(flag.as_str(), "help" | "--help" | "-h")
    {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let root = match xtask::workspace_root(std::env::var_os("CARGO_MANIFEST_DIR")) {
        Ok(root) => root,
        Err(message) => return report(Err(message)),
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate"] => report(xtask::generate(&root)),
        ["check"] => match xtask::check(&root) {
            Ok(summary) => report(Ok(summary)),
            Err(CheckError::Drift { files, diff }) => {
                print!("{diff}");
                report(Err(CheckError::Drift {
                    files,
                    diff: String::new(),
                }
                .to_string()))
            }
            Err(other) => report(Err(other.to_string())),
        },
        ["bench"] => report(xtask::tasks::bench(&root, false).map(|()| String::new())),
        ["bench", "--quick"] => report(xtask::tasks::bench(&root, true).map(|()| String::new())),
        ["bench", "follow", rest @ ..] => {
            report(xtask::tasks::bench_follow(&root, rest).map(|()| String::new()))
        }
        ["build-cost"] => report(xtask::tasks::build_cost(&root).map(|()| String::new())),
        ["mutants", rest @ ..] => report(
            xtask::mutants::parse(rest).and_then(|options| xtask::mutants::run(&root, &options)),
        ),
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
