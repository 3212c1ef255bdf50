//! Promises of `RedisLimiter` that no other test proved (each was broken on
//! purpose and every test still passed): waiters for a slot are served in
//! arrival order, nothing connects when the client is built, a request costs
//! two round trips to Redis, and the time is Redis's, not the host's.
//!
//! Needs `redis-server` on PATH (or `YMC_REDIS_URL`); see `redis_support`.

#[allow(dead_code)] // shared: each test file uses part of it
mod redis_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::FromRedisValue;
use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};
use yandex_market_chats::redis::RedisLimiter;
use yandex_market_chats::{Client, Operation, RateLimit};
use yandex_market_chats_sandbox::{Sandbox, SandboxConfig};

use redis_support::RedisServer;

fn unique_prefix(test: &str) -> String {
    format!("ymc-test-{test}-{}", fastrand::u64(..))
}

/// A connection of the test's own, apart from the limiter's.
fn connect(redis: &RedisServer) -> redis::Connection {
    redis::Client::open(redis.url())
        .expect("a valid URL")
        .get_connection()
        .expect("a connection to Redis")
}

/// Redis's clock, in milliseconds, as the scripts read it (`TIME`).
fn redis_now_ms(connection: &mut redis::Connection) -> i64 {
    let (seconds, micros): (i64, i64) = redis::cmd("TIME").query(connection).unwrap();
    seconds * 1000 + micros / 1000
}

fn request(business_id: u64) -> Acquire {
    Acquire::new(
        business_id,
        Operation::GetChats,
        Duration::from_secs(20),
        Duration::ZERO,
    )
}

/// Waiters for the one slot of a business, each in a limiter of its own
/// (its own connection, as another process would have: no in-process
/// wake-ups), queue in a known order and are served in that order.
///
/// Broken on purpose: with ACQUIRE ignoring the queue (a waiter goes
/// whenever a slot is free, whatever its rank), whichever waiter polls first
/// after a release wins, and the five were served out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn waiters_for_a_slot_are_served_in_arrival_order() {
    const WAITERS: usize = 5;
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = unique_prefix("fifo");
    let mut settings = LimiterSettings::default();
    settings.max_in_flight = 1;
    let limiter = || {
        let limiter = RedisLimiter::new(redis.url())
            .unwrap()
            .key_prefix(prefix.clone());
        Limiter::configure(&limiter, &settings).unwrap();
        limiter
    };
    let holder = limiter();
    let waiters: Vec<RedisLimiter> = (0..WAITERS).map(|_| limiter()).collect();
    // Connected (and the scripts loaded) first, so that each waiter queues
    // with its first script.
    for limiter in std::iter::once(&holder).chain(&waiters) {
        let permit = Limiter::acquire(limiter, request(1)).await.unwrap();
        Limiter::settle(limiter, permit, Release::not_sent()).await;
    }

    let held = Limiter::acquire(&holder, request(1)).await.unwrap();
    let mut connection = connect(&redis);
    let queue = format!("{prefix}:{{1}}:queue");
    let mut queued = || -> usize {
        redis::cmd("ZCARD")
            .arg(&queue)
            .query(&mut connection)
            .unwrap()
    };
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (arrival, limiter) in waiters.into_iter().enumerate() {
        let served = Arc::clone(&served);
        tasks.push(tokio::spawn(async move {
            let permit = Limiter::acquire(&limiter, request(1)).await.unwrap();
            served.lock().unwrap().push(arrival);
            // Held a while: the others ask again meanwhile.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Limiter::settle(&limiter, permit, Release::not_sent()).await;
        }));
        // The next one starts once this one is in the queue, a few
        // milliseconds later (arrivals are Redis's milliseconds).
        let started = Instant::now();
        while queued() < arrival + 1 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "waiter {arrival} never queued"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(queued(), WAITERS);
    assert!(
        served.lock().unwrap().is_empty(),
        "served while the slot was held"
    );

    Limiter::settle(&holder, held, Release::not_sent()).await;
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("every waiter is served")
            .unwrap();
    }
    let served = served.lock().unwrap().clone();
    assert_eq!(
        served,
        (0..WAITERS).collect::<Vec<_>>(),
        "served in arrival order"
    );
    assert_eq!(queued(), 0);
}

/// A TCP proxy to Redis that counts the connections it accepts.
struct CountingProxy {
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// `None` when Redis is not at a plain TCP address.
    fn to(redis: &RedisServer) -> Option<Self> {
        let client = redis::Client::open(redis.url()).unwrap();
        let redis::ConnectionAddr::Tcp(host, port) = client.get_connection_info().addr().clone()
        else {
            return None;
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = listener.local_addr().unwrap();
        let url = redis
            .url()
            .replacen(&format!("{host}:{port}"), &proxy.to_string(), 1);
        if url == redis.url() {
            return None;
        }
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for downstream in listener.incoming() {
                let Ok(downstream) = downstream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(upstream) = TcpStream::connect((host.as_str(), port)) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buffer) {
                            if to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                };
                pipe(
                    downstream.try_clone().unwrap(),
                    upstream.try_clone().unwrap(),
                );
                pipe(upstream, downstream);
            }
        });
        Some(Self { url, accepted })
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// `RedisLimiter::new` and `build()` connect nothing (a Redis that is
/// down does not stop a program from starting); the first request makes
/// the connection, and the next ones use it.
///
/// Broken on purpose: a connection opened in `RedisLimiter::new`, or one
/// spawned from `configure` (which `build()` calls), is counted before the
/// first request.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn nothing_connects_before_the_first_request() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(proxy) = CountingProxy::to(&redis) else {
        eprintln!("skipped: Redis is not at a TCP address the test can proxy");
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default().chats(5)).unwrap();
    let business = sandbox.business_id();
    let prefix = unique_prefix("lazy");

    let limiter = RedisLimiter::new(&proxy.url).unwrap().key_prefix(&prefix);
    assert_eq!(proxy.accepted(), 0, "RedisLimiter::new connected");
    let client: Client = sandbox.client_builder().limiter(limiter).build().unwrap();
    // Whatever `build()` started has had the time to connect.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.accepted(), 0, "build() connected to Redis");

    client.chats(business).page(None).await.unwrap();
    assert_eq!(proxy.accepted(), 1, "the first request connects");
    // It went through Redis (by the proxy): its quota window is there.
    let window = format!("{prefix}:{{{business}}}:getChats:window");
    assert_eq!(redis.query::<i64>(redis::cmd("EXISTS").arg(&window)), 1);
    client.chats(business).page(None).await.unwrap();
    assert_eq!(proxy.accepted(), 1, "the next request uses the connection");
}

/// One request through a `Client` costs two round trips to Redis: one
/// EVALSHA to take a slot and a quota unit, one to give the slot back, both
/// done when the call returns. Counted at the server: `MONITOR` lists every
/// command a client sends (the scripts' own commands are marked `lua` and
/// left out), and `INFO commandstats` counts two EVALSHA.
/// (`total_commands_processed` cannot tell: Redis 7.0 counts the commands
/// run inside scripts in it too.)
///
/// Broken on purpose: a third round trip (a PING before each acquire
/// script) makes three commands.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn a_request_costs_two_round_trips_to_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default().chats(5)).unwrap();
    let business = sandbox.business_id();
    let limiter = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(unique_prefix("trips"));
    let client = sandbox.client_builder().limiter(limiter).build().unwrap();
    // Connected, and the scripts loaded (the first EVALSHA of each answers
    // NOSCRIPT, then SCRIPT LOAD): that is once per process, not per request.
    client.chats(business).page(None).await.unwrap();

    let mut monitor = connect(&redis);
    monitor
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    monitor
        .send_packed_command(&redis::cmd("MONITOR").get_packed_command())
        .unwrap();
    assert!(matches!(
        monitor.recv_response().unwrap(),
        redis::Value::Okay
    ));
    let mut stats = connect(&redis);
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut stats).unwrap();
    let own = info
        .split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .expect("CLIENT INFO names the address")
        .to_owned();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut stats)
        .unwrap();

    client.chats(business).page(None).await.unwrap();

    let commandstats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut stats)
        .unwrap();
    let marker = format!("ymc-end-{}", fastrand::u64(..));
    let _: String = redis::cmd("ECHO").arg(&marker).query(&mut stats).unwrap();
    // Every command run before the marker, in order: `<time> [<db> <client
    // address, or lua>] "<command>" "<argument>" ...`.
    let mut sent = Vec::new();
    loop {
        let line = String::from_redis_value(monitor.recv_response().unwrap()).unwrap();
        if line.contains(&marker) {
            break;
        }
        let Some((client, command)) = line
            .split_once(" [")
            .and_then(|(_, rest)| rest.split_once("] "))
        else {
            panic!("not a MONITOR line: {line}");
        };
        if client.ends_with(" lua") || client.ends_with(&format!(" {own}")) {
            continue;
        }
        sent.push(command.to_owned());
    }
    let names: Vec<&str> = sent
        .iter()
        .map(|command| command.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        ["\"EVALSHA\"", "\"EVALSHA\""],
        "one request, two round trips: {sent:#?}"
    );
    let sha = |command: &str| command.split(' ').nth(1).map(str::to_owned);
    assert_ne!(sha(&sent[0]), sha(&sent[1]), "acquire, then release");

    let calls: BTreeMap<&str, u64> = commandstats
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let calls = rest.strip_prefix("calls=")?.split(',').next()?;
            Some((name, calls.parse().ok()?))
        })
        .collect();
    assert_eq!(calls.get("evalsha"), Some(&2), "{commandstats}");
    for command in ["eval", "script|load", "ping"] {
        assert_eq!(calls.get(command), None, "{commandstats}");
    }
}

/// The scripts read Redis's clock (`TIME`), never a time the caller sends:
/// hosts' clocks differ, and processes on several hosts share the leases and
/// the windows. Every time stored is within what `TIME` at the server said
/// just before and just after the script: a slot's lease end, the quota
/// window's start and end, and the end the server's headers move it to.
///
/// This host and Redis share a clock here, so the test catches a script
/// that uses a time sent by the caller only when that time is skewed.
/// Broken on purpose: the Rust side sent the host's time plus an hour (a
/// host an hour ahead) as an extra argument, and the prelude's `now_ms`
/// used it: every stored time was an hour late and the test failed.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn scripts_keep_redis_time_not_the_hosts() {
    use chrono::{TimeDelta, Utc};

    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = unique_prefix("clock");
    let lease = Duration::from_secs(30);
    let lease_ms = 30_000;
    let window_ms = 3_600_000;
    let limiter = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(prefix.clone())
        .lease(lease);
    let settings = LimiterSettings::default();
    Limiter::configure(&limiter, &settings).unwrap();
    let mut connection = connect(&redis);
    let business = format!("{prefix}:{{1}}");
    let scores = |connection: &mut redis::Connection, key: &str| -> Vec<i64> {
        let pairs: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(connection)
            .unwrap();
        pairs.into_iter().map(|(_, score)| score).collect()
    };
    let window = |connection: &mut redis::Connection, field: &str| -> i64 {
        redis::cmd("HGET")
            .arg(format!("{business}:getChats:window"))
            .arg(field)
            .query(connection)
            .unwrap()
    };

    let before = redis_now_ms(&mut connection);
    let permit = Limiter::acquire(&limiter, request(1)).await.unwrap();
    let after = redis_now_ms(&mut connection);
    let taken = before..=after;
    for key in ["slots", "getChats:flight"] {
        let ends = scores(&mut connection, &format!("{business}:{key}"));
        assert_eq!(ends.len(), 1, "{key}: {ends:?}");
        assert!(
            taken.contains(&(ends[0] - lease_ms)),
            "{key}: the lease ends at {} ms, taken between {before} and {after} ms by Redis's clock",
            ends[0]
        );
    }
    let start = window(&mut connection, "start");
    assert!(
        taken.contains(&start),
        "the window starts at {start} ms, taken between {before} and {after} ms by Redis's clock"
    );
    assert_eq!(window(&mut connection, "end"), start + window_ms);

    // The server states its window: it ends when its `resets_in` says,
    // counted from Redis's clock (plus the margin).
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-ratelimit-resource-remaining", "1".parse().unwrap());
    let mut stated = RateLimit::from_headers(&headers).unwrap();
    stated.limit = Some(5_000);
    stated.remaining = Some(4_000);
    stated.until = Some(Utc::now() + TimeDelta::seconds(600));
    stated.resets_in = Some(Duration::from_secs(600));
    let margin_ms = i64::try_from(settings.quota_reset_margin.as_millis()).unwrap();
    let before = redis_now_ms(&mut connection);
    Limiter::settle(&limiter, permit, Release::sent(Some(stated))).await;
    let after = redis_now_ms(&mut connection);
    let end = window(&mut connection, "end");
    assert!(
        (before..=after).contains(&(end - 600_000 - margin_ms)),
        "the window ends at {end} ms, released between {before} and {after} ms by Redis's clock"
    );
    assert!(scores(&mut connection, &format!("{business}:slots")).is_empty());
}
