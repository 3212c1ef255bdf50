//! `RedisLimiter`'s release when a request ends: done before the call
//! returns, so a process that exits right after its last request leaves
//! no slot behind (it used to be a spawned task that died with the
//! runtime, leaving the slot to its 16 s lease).
//!
//! Needs `redis-server` on PATH (or `YMC_REDIS_URL`); see `redis_support`.

#[allow(dead_code)] // shared: each test file uses part of it
mod redis_support;

use std::process::Command;
use std::time::{Duration, Instant};

use yandex_market_chats::Operation;
use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};
use yandex_market_chats::redis::RedisLimiter;
use yandex_market_chats_sandbox::{Sandbox, SandboxConfig};

use redis_support::RedisServer;

const LISTER: &str = env!("CARGO_BIN_EXE_ymc_lister");

/// A process lists one page with one slot for the business, and exits at
/// once: its slot is free when it has exited, four times out of four.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn a_process_that_exits_right_after_its_request_leaves_its_slot_free() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default().chats(5)).unwrap();
    let prefix = format!("ymc-test-exit-{}", fastrand::u64(..));
    let limiter = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(prefix.clone());
    let mut settings = LimiterSettings::default();
    settings.max_in_flight = 1;
    Limiter::configure(&limiter, &settings).unwrap();
    for run in 0..4 {
        let status = Command::new(LISTER)
            .args(["--base-url", sandbox.base_url()])
            .args(["--key", sandbox.api_key()])
            .args(["--business", &sandbox.business_id().to_string()])
            .args(["--redis-url", redis.url()])
            .args(["--prefix", &prefix])
            .args(["--streams", "1", "--max-in-flight", "1"])
            .status()
            .unwrap();
        assert!(status.success(), "run {run}: the lister failed");
        // The lister has exited: its one slot must be free now, not after
        // its lease (attempt timeout 15 s + 1 s).
        let started = Instant::now();
        let request = Acquire::new(
            sandbox.business_id(),
            Operation::GetChats,
            Duration::from_secs(3),
            Duration::ZERO,
        );
        let permit =
            tokio::time::timeout(Duration::from_secs(3), Limiter::acquire(&limiter, request))
                .await
                .unwrap_or_else(|_| panic!("run {run}: the exited process still holds the slot"))
                .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "run {run}");
        Limiter::settle(&limiter, permit, Release::sent(None)).await;
    }
}
