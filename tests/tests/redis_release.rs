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

/// An acquire whose answer came too late (Redis stalled past
/// `unreachable_after`: `CLIENT PAUSE 700 WRITE`) falls back to local
/// limits, and what the script did later for its token is given back: the
/// next acquires anywhere find every slot free, not taken for 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn acquires_given_up_during_a_stall_leave_no_slot_behind() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = format!("ymc-test-stall-{}", fastrand::u64(..));
    let limiter = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(prefix.clone());
    let settings = LimiterSettings::default();
    Limiter::configure(&limiter, &settings).unwrap();
    let request = || {
        Acquire::new(
            1,
            Operation::GetChats,
            Duration::from_secs(5),
            Duration::ZERO,
        )
    };
    // Connected first, so the stall hits the scripts, not the handshake.
    let warm = Limiter::acquire(&limiter, request()).await.unwrap();
    Limiter::settle(&limiter, warm, Release::sent(None)).await;
    let _: () = redis.query(redis::cmd("CLIENT").arg("PAUSE").arg(700).arg("WRITE"));
    let permits =
        futures::future::join_all((0..4).map(|_| Limiter::acquire(&limiter, request()))).await;
    for permit in permits {
        // Fell back to local permits: released at once.
        Limiter::settle(&limiter, permit.unwrap(), Release::sent(None)).await;
    }
    // Another process (a fresh limiter on the same prefix) gets all four
    // slots without waiting, once the stall is over.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let other = RedisLimiter::new(redis.url()).unwrap().key_prefix(prefix);
    Limiter::configure(&other, &settings).unwrap();
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..4 {
        let quick = Acquire::new(
            1,
            Operation::GetChats,
            Duration::from_secs(2),
            Duration::ZERO,
        );
        held.push(
            tokio::time::timeout(Duration::from_secs(2), Limiter::acquire(&other, quick))
                .await
                .expect("a slot was left taken by a token nobody holds")
                .unwrap(),
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    for permit in held {
        Limiter::settle(&other, permit, Release::sent(None)).await;
    }
}

/// Acquires whose callers give up at their own deadline (the future
/// dropped) while Redis holds their script in a stall shorter than
/// `unreachable_after`: the scripts still run once the stall ends, and what
/// they took is given back, so another process finds every slot free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn acquires_dropped_at_the_callers_deadline_leave_no_slot_behind() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = format!("ymc-test-dropped-{}", fastrand::u64(..));
    let limiter = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(prefix.clone())
        .unreachable_after(Duration::from_secs(3));
    let settings = LimiterSettings::default();
    Limiter::configure(&limiter, &settings).unwrap();
    let request = |time_left| Acquire::new(1, Operation::GetChats, time_left, Duration::ZERO);
    let warm = Limiter::acquire(&limiter, request(Duration::from_secs(5)))
        .await
        .unwrap();
    Limiter::settle(&limiter, warm, Release::sent(None)).await;
    let _: () = redis.query(redis::cmd("CLIENT").arg("PAUSE").arg(500).arg("WRITE"));
    let given_up = futures::future::join_all((0..4).map(|_| {
        tokio::time::timeout(
            Duration::from_millis(100),
            Limiter::acquire(&limiter, request(Duration::from_secs(5))),
        )
    }))
    .await;
    assert!(given_up.iter().all(Result::is_err), "each caller gave up");
    // Once the stall is over the four scripts run (the callers are gone):
    // each leaves its token in the grants.
    let grants = format!("{prefix}:{{1}}:getChats:grants");
    let deadline = Instant::now() + Duration::from_secs(3);
    while redis.query::<i64>(redis::cmd("HLEN").arg(&grants)) < 4 {
        assert!(Instant::now() < deadline, "the given-up scripts never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = RedisLimiter::new(redis.url()).unwrap().key_prefix(prefix);
    Limiter::configure(&other, &settings).unwrap();
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..4 {
        let permit = tokio::time::timeout(
            Duration::from_secs(3),
            Limiter::acquire(&other, request(Duration::from_secs(3))),
        )
        .await
        .expect("a slot was left taken by a caller that gave up")
        .unwrap();
        held.push(permit);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    for permit in held {
        Limiter::settle(&other, permit, Release::sent(None)).await;
    }
}

/// A waiter whose caller gives up (its future dropped) leaves the queue at
/// once, not after its 250 ms of patience.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn a_waiter_that_gives_up_leaves_the_queue_at_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = format!("ymc-test-queue-{}", fastrand::u64(..));
    let limiter = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(prefix.clone());
    let mut settings = LimiterSettings::default();
    settings.max_in_flight = 1;
    Limiter::configure(&limiter, &settings).unwrap();
    let request = || {
        Acquire::new(
            1,
            Operation::GetChats,
            Duration::from_secs(5),
            Duration::ZERO,
        )
    };
    let held = Limiter::acquire(&limiter, request()).await.unwrap();
    let queue = format!("{prefix}:{{1}}:queue");
    let waiting = || -> usize { redis.query(redis::cmd("ZCARD").arg(&queue)) };
    // A waiter queues, then its caller gives up.
    let waiter = tokio::spawn({
        let limiter = limiter.clone();
        async move { Limiter::acquire(&limiter, request()).await.map(|_| ()) }
    });
    let queued = Instant::now();
    while waiting() == 0 {
        assert!(
            queued.elapsed() < Duration::from_secs(2),
            "the waiter never queued"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    waiter.abort();
    let _ = waiter.await;
    let gave_up = Instant::now();
    while waiting() > 0 {
        assert!(
            gave_up.elapsed() < Duration::from_millis(150),
            "the waiter kept its place in the queue"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Limiter::settle(&limiter, held, Release::sent(None)).await;
}
