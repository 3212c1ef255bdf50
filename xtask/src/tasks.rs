//! `cargo xtask bench`, `bench follow` and `build-cost`: tasks that run cargo.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

/// Runs the benchmark: release build, or a quick debug run with `--quick`.
pub fn bench(root: &Path, quick: bool) -> Result<(), String> {
    let mut command = cargo();
    command
        .current_dir(root)
        .args(["run", "--quiet", "--package", "yandex-market-chats-bench"]);
    if !quick {
        command.arg("--release");
    }
    command.arg("--");
    if quick {
        command.arg("--quick");
    }
    run(&mut command)
}

/// Runs the follower benchmark, `bench follow [--quick] [--chats N]...
/// [--windows W]`: what the follower achieves at scale against the sandbox
/// (minutes per N). Release build; with `--quick` a debug build, as
/// `bench --quick`, so that CI's smoke run shares the debug build. The
/// benchmark checks the arguments.
pub fn bench_follow(root: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = cargo();
    command
        .current_dir(root)
        .args(["run", "--quiet", "--package", "yandex-market-chats-bench"]);
    if !args.contains(&"--quick") {
        command.arg("--release");
    }
    command.args(["--", "follow"]).args(args);
    run(&mut command)
}

const REQWEST_ONLY: &str = r#"
use serde::Deserialize;

#[derive(Deserialize)]
struct Page { status: String }

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let page: Page = reqwest::Client::new()
        .post("http://127.0.0.1:9/v2/businesses/1/chats")
        .header("Api-Key", std::env::var("YANDEX_MARKET_API_KEY")?)
        .json(&serde_json::json!({}))
        .send()
        .await?
        .json()
        .await?;
    println!("{}", page.status);
    Ok(())
}
"#;

const WITH_SDK: &str = r#"
use futures::TryStreamExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = yandex_market_chats::Client::from_env()?;
    let chats: Vec<_> = client.chats(1).stream().try_collect().await?;
    println!("{}", chats.len());
    Ok(())
}
"#;

fn write_crate(
    dir: &Path,
    name: &str,
    dependencies: &str,
    main: &str,
    lock: &Path,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("cannot write {}: {e}", dir.display());
    std::fs::create_dir_all(dir.join("src")).map_err(io)?;
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\n{dependencies}\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).map_err(io)?;
    std::fs::write(dir.join("src/main.rs"), main).map_err(io)?;
    // Start from the workspace's versions, so both crates build the same ones.
    std::fs::copy(lock, dir.join("Cargo.lock")).map_err(io)?;
    Ok(())
}

fn timed_build(dir: &Path, target: &Path) -> Result<Duration, String> {
    let started = Instant::now();
    run(cargo()
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--quiet"]))?;
    Ok(started.elapsed())
}

/// Clean-builds a reqwest-only crate and a crate using the SDK, in fresh
/// target folders; prints both times, the ratio and an incremental rebuild.
pub fn build_cost(root: &Path) -> Result<(), String> {
    let work: PathBuf = std::env::temp_dir().join(format!("ymc-build-cost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let lock = root.join("Cargo.lock");
    let sdk = root.join("crates/yandex-market-chats");
    let (a, b) = (work.join("reqwest-only"), work.join("with-sdk"));
    write_crate(
        &a,
        "reqwest-only",
        "reqwest = { version = \"0.13\", default-features = false, features = [\"json\", \"query\", \"rustls\"] }\n\
         serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n\
         tokio = { version = \"1\", features = [\"rt-multi-thread\"] }\n",
        REQWEST_ONLY,
        &lock,
    )?;
    write_crate(
        &b,
        "with-sdk",
        &format!(
            "yandex-market-chats = {{ path = {:?} }}\nfutures = \"0.3\"\n\
             tokio = {{ version = \"1\", features = [\"rt-multi-thread\"] }}\n",
            sdk.display().to_string()
        ),
        WITH_SDK,
        &lock,
    )?;
    // Fetch first, so that downloads are not timed.
    for dir in [&a, &b] {
        run(cargo().current_dir(dir).args(["fetch", "--quiet"]))?;
    }
    println!(
        "clean debug builds, {} jobs, fresh target folders (this takes minutes)",
        jobs()
    );
    let time_a = timed_build(&a, &work.join("target-a"))?;
    println!(
        "(a) reqwest + serde + tokio:      {:>6.1} s",
        time_a.as_secs_f64()
    );
    let time_b = timed_build(&b, &work.join("target-b"))?;
    println!(
        "(b) yandex-market-chats:          {:>6.1} s",
        time_b.as_secs_f64()
    );
    println!(
        "ratio (b)/(a):                    {:>6.2}",
        time_b.as_secs_f64() / time_a.as_secs_f64()
    );
    std::fs::write(b.join("src/main.rs"), format!("{WITH_SDK}\n// touched\n"))
        .map_err(|e| e.to_string())?;
    let rebuild = timed_build(&b, &work.join("target-b"))?;
    println!(
        "(b) rebuild after touching main.rs: {:>4.1} s",
        rebuild.as_secs_f64()
    );
    println!("\nduplicate versions in (b) (`cargo tree -d -e normal`):");
    run(cargo().current_dir(&b).args(["tree", "-d", "-e", "normal"]))?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
