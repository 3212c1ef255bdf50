//! A small program for the crash and replica tests: follows one business
//! and prints each event's `dedup_key` on its own line, flushed, until
//! killed.
//!
//! `ymc_follower BASE_URL KEY BUSINESS CHECKPOINT [REPLICA]`: CHECKPOINT is
//! a file path, or a Redis URL (`redis://...`) for a `RedisCheckpoint`
//! named `bot` (lease from `YMC_LEASE_MS`, default 1,000 ms; key prefix
//! from `YMC_PREFIX`). REPLICA goes into the `User-Agent`, so the sandbox
//! tells replicas apart. `YMC_LIMITER_URL` shares the limits through a
//! `RedisLimiter` (key prefix `YMC_PREFIX`), `YMC_QUOTA` sets the client's
//! getChats quota. Exits 2 when the stream ends with an error. A line
//! `stop` on stdin drops the stream while the runtime still runs (the
//! graceful path: a Redis lease is handed over at once), then exits 0.

use std::io::Write;
use std::time::Duration;

use futures::TryStreamExt;
use yandex_market_chats::follow::FileCheckpoint;
use yandex_market_chats::redis::{RedisCheckpoint, RedisLimiter};
use yandex_market_chats::{Client, Operation};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (base, key, business, checkpoint, replica) = match args.as_slice() {
        [base, key, business, checkpoint] => (base, key, business, checkpoint, "replica"),
        [base, key, business, checkpoint, replica] => {
            (base, key, business, checkpoint, replica.as_str())
        }
        _ => panic!("usage: ymc_follower BASE_URL KEY BUSINESS CHECKPOINT [REPLICA]"),
    };
    let quota = std::env::var("YMC_QUOTA")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let mut builder = Client::builder()
        .api_key(key)
        .base_url(base)
        .user_agent(replica)
        .operation_quota(Operation::GetChats, Some(quota))
        .operation_quota(Operation::GetChatHistory, Some(10_000_000));
    if let Ok(url) = std::env::var("YMC_LIMITER_URL") {
        let mut limiter = RedisLimiter::new(&url).expect("a Redis URL");
        if let Ok(prefix) = std::env::var("YMC_PREFIX") {
            limiter = limiter.key_prefix(prefix);
        }
        builder = builder.limiter(limiter);
    }
    let client = builder.build().expect("a client");
    let query = client
        .follow(business.parse::<u64>().expect("a business id"))
        .poll_interval(Duration::from_millis(20));
    let query = if checkpoint.starts_with("redis://") {
        let lease = std::env::var("YMC_LEASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000);
        let mut redis = RedisCheckpoint::new(checkpoint, "bot")
            .expect("a Redis URL")
            .lease(Duration::from_millis(lease));
        if let Ok(prefix) = std::env::var("YMC_PREFIX") {
            redis = redis.key_prefix(prefix);
        }
        query.checkpoint(redis)
    } else {
        query.checkpoint(FileCheckpoint::new(checkpoint))
    };
    let mut events = query.stream();
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    std::thread::spawn({
        let stop = std::sync::Arc::clone(&stop);
        move || {
            for line in std::io::stdin().lines() {
                if line.is_ok_and(|l| l.trim() == "stop") {
                    stop.notify_one();
                }
            }
        }
    });
    let mut out = std::io::stdout().lock();
    loop {
        let next = tokio::select! {
            next = events.try_next() => next,
            () = stop.notified() => {
                drop(events);
                // The hand-over runs on this runtime: let it.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return;
            }
        };
        match next {
            Ok(Some(event)) => {
                writeln!(out, "{}", event.dedup_key()).expect("stdout");
                out.flush().expect("stdout");
            }
            Ok(None) => return,
            Err(error) => {
                writeln!(out, "error: {error}").expect("stdout");
                out.flush().expect("stdout");
                std::process::exit(2);
            }
        }
    }
}
