//! The memory target is a gate, not a figure: a run that misses it exits
//! non-zero (allocation counts are deterministic, so CI can hold to it).

use std::process::Command;

fn bench(target: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yandex-market-chats-bench"));
    command.args(["--quick", "--memory-only"]);
    if let Some(target) = target {
        command.env("YMC_BENCH_MEMORY_TARGET", target);
    }
    command.output().expect("the benchmark runs")
}

#[test]
fn a_missed_memory_target_fails_the_run() {
    let met = bench(None);
    assert!(
        met.status.success(),
        "{}",
        String::from_utf8_lossy(&met.stderr)
    );
    assert!(String::from_utf8_lossy(&met.stdout).contains("target <= 2 MiB: met"));

    let missed = bench(Some("1"));
    assert_eq!(missed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missed.stderr);
    assert!(stderr.contains("memory target is missed"), "{stderr}");
}
