//! `RedisLimiter` against a real `redis-server` and the sandbox: several OS
//! processes (`ymc_lister`) share one business's limits.
//!
//! Needs `redis-server` on PATH (or `YMC_REDIS_URL`); see `redis_support`.

mod common;
#[allow(dead_code)] // shared: each test file uses part of it
mod redis_support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use yandex_market_chats::redis::{OnUnreachable, RedisLimiter};
use yandex_market_chats::{Client, Error, PageSize};
use yandex_market_chats_sandbox::{Fault, Sandbox, SandboxConfig};

use common::capture::Capture;
use redis_support::RedisServer;

const LISTER: &str = env!("CARGO_BIN_EXE_ymc_lister");

fn lister(sandbox: &Sandbox, redis: Option<&RedisServer>, prefix: &str, extra: &[&str]) -> Child {
    let mut command = Command::new(LISTER);
    command
        .args(["--base-url", sandbox.base_url()])
        .args(["--key", sandbox.api_key()])
        .args(["--business", &sandbox.business_id().to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(redis) = redis {
        command
            .args(["--redis-url", redis.url()])
            .args(["--prefix", prefix]);
    }
    command.spawn().expect("ymc_lister starts")
}

/// `(listed per stream, errors)` of a finished lister.
fn report(output: &Output) -> (Vec<u64>, Vec<String>) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "ymc_lister printed no report ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let listed = line["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    let errors = line["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    (listed, errors)
}

fn unique_prefix(test: &str) -> String {
    format!("ymc-test-{test}-{}", fastrand::u64(..))
}

fn statuses(sandbox: &Sandbox, status: u16) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.status == Some(status))
        .count()
}

#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn three_processes_share_four_slots_and_each_lists_every_chat() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let config = || {
        SandboxConfig::default()
            .chats(95)
            .latency(Duration::from_millis(20))
            .parallel_limit(Some(4))
    };

    // Shared through Redis: never more than 4 in flight, no 420.
    let sandbox = Sandbox::start(config()).unwrap();
    let prefix = unique_prefix("slots");
    let children: Vec<Child> = (0..3)
        .map(|_| lister(&sandbox, Some(&redis), &prefix, &["--streams", "3"]))
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let (listed, errors) = report(&output);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(listed, vec![95, 95, 95], "every stream lists every chat");
    }
    assert!(
        sandbox.max_in_flight() <= 4,
        "at most 4 in flight, saw {}",
        sandbox.max_in_flight()
    );
    assert_eq!(statuses(&sandbox, 420), 0, "no 420 with shared limits");
    assert_eq!(sandbox.requests().len(), 3 * 3 * 5);

    // The same run with each process's own limits goes over 4: the test
    // can fail.
    let sandbox = Sandbox::start(config()).unwrap();
    let children: Vec<Child> = (0..3)
        .map(|_| lister(&sandbox, None, "", &["--streams", "3"]))
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(report(&output).1.is_empty());
    }
    assert!(
        sandbox.max_in_flight() > 4,
        "in-process limits add up across processes, saw {}",
        sandbox.max_in_flight()
    );
}

#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn the_hourly_quota_holds_across_processes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default().chats(95)).unwrap();
    let prefix = unique_prefix("quota");
    // Each process wants 5 pages; together they may send 10.
    let args = [
        "--streams",
        "1",
        "--quota",
        "10",
        "--max-quota-wait-ms",
        "0",
    ];
    let children: Vec<Child> = (0..3)
        .map(|_| lister(&sandbox, Some(&redis), &prefix, &args))
        .collect();
    let mut refused = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        let (_, errors) = report(&output);
        for error in &errors {
            assert!(error.contains("client-side hourly quota"), "{error}");
        }
        refused += errors.len();
    }
    assert_eq!(sandbox.requests().len(), 10, "exactly the quota is sent");
    assert!(
        refused >= 1,
        "the processes that found it spent were refused"
    );
    assert_eq!(statuses(&sandbox, 420), 0);
}

#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn slots_of_a_killed_process_are_free_after_their_lease_not_later() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // No parallel limit in the sandbox: the killed process's requests stay
    // open on the server's side; only the leases matter here.
    let sandbox = Sandbox::start(SandboxConfig::default().parallel_limit(None)).unwrap();
    sandbox.fail_next(4, Fault::Slow(Duration::from_secs(30)));
    let prefix = unique_prefix("killed");
    let lease = Duration::from_millis(1500);
    let mut holder = lister(
        &sandbox,
        Some(&redis),
        &prefix,
        &["--streams", "4", "--lease-ms", "1500"],
    );
    let waiting = Instant::now();
    while sandbox.requests().len() < 4 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "the holder never sent"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let taken = Instant::now();
    holder.kill().unwrap(); // SIGKILL: no release is ever sent
    holder.wait().unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = sandbox
        .client_builder()
        .limiter(RedisLimiter::new(redis.url()).unwrap().key_prefix(&prefix))
        .build()
        .unwrap();
    let page = runtime
        .block_on(client.chats(sandbox.business_id()).page(None))
        .unwrap();
    let waited = taken.elapsed();
    assert!(!page.chats.is_empty());
    assert!(
        waited >= lease - Duration::from_millis(400),
        "the slots were held until their leases ended: waited {waited:?}"
    );
    assert!(
        waited <= lease + Duration::from_millis(1200),
        "free after the lease, not later: waited {waited:?}"
    );
}

#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn three_competing_processes_each_make_progress() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(300)
            .latency(Duration::from_millis(5)),
    )
    .unwrap();
    let prefix = unique_prefix("fair");
    // One slot for all: each process (told apart by its page size) has to
    // take turns with the others.
    let children: Vec<Child> = ["20", "19", "18"]
        .iter()
        .map(|size| {
            lister(
                &sandbox,
                Some(&redis),
                &prefix,
                &[
                    "--streams",
                    "1",
                    "--max-in-flight",
                    "1",
                    "--page-size",
                    size,
                ],
            )
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let (listed, errors) = report(&output);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(listed, vec![300]);
    }
    assert_eq!(sandbox.max_in_flight(), 1);
    // In the first half of the run every process was served: none waited
    // for the others to finish.
    let requests = sandbox.requests();
    let first_half = &requests[..requests.len() / 2];
    for size in ["20", "19", "18"] {
        let served = first_half
            .iter()
            .filter(|r| r.query_param("limit") == Some(size))
            .count();
        assert!(
            served >= 3,
            "the process with pages of {size} got {served} of the first {} requests",
            first_half.len()
        );
    }
}

#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn redis_restarted_mid_run_falls_back_then_shares_again() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    if !redis.is_own() {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"*** SKIPPED: needs a redis-server it may restart (unset YMC_REDIS_URL)\n",
        );
        return;
    }
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(400)
            .latency(Duration::from_millis(2)),
    )
    .unwrap();
    let prefix = unique_prefix("restart");
    let client: Client = sandbox
        .client_builder()
        .limiter(RedisLimiter::new(redis.url()).unwrap().key_prefix(&prefix))
        .build()
        .unwrap();
    let business = sandbox.business_id();
    let window_key = format!("{prefix}:{{{business}}}:getChats:window");

    let mut stream = client
        .chats(business)
        .page_size(PageSize::new(5).unwrap())
        .stream();
    let mut listed = 0;
    for _ in 0..20 {
        stream.try_next().await.unwrap().unwrap();
        listed += 1;
    }
    assert_eq!(redis.query::<i64>(redis::cmd("EXISTS").arg(&window_key)), 1);

    redis.stop();
    // Fail-open: the listing goes on with in-process limits.
    for _ in 0..60 {
        stream.try_next().await.unwrap().unwrap();
        listed += 1;
    }
    let warnings = capture
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains("Redis limiter unreachable"))
        .count();
    assert_eq!(warnings, 1, "one warning per outage:\n{}", capture.text());

    redis.restart();
    assert_eq!(redis.query::<i64>(redis::cmd("EXISTS").arg(&window_key)), 0);
    // Back on Redis within a second or two: its state fills again.
    let started = Instant::now();
    while redis.query::<i64>(redis::cmd("EXISTS").arg(&window_key)) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the limiter never went back to Redis:\n{}",
            capture.text()
        );
        if stream.try_next().await.unwrap().is_some() {
            listed += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while stream.try_next().await.unwrap().is_some() {
        listed += 1;
    }
    assert_eq!(listed, 400, "no chat lost or repeated");
    assert!(capture.text().contains("Redis limiter answers again"));
}

#[tokio::test(flavor = "current_thread")]
async fn fail_closed_refuses_with_a_clear_error_and_sends_nothing() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let limiter = RedisLimiter::new(&format!("redis://:hunter2-secret@127.0.0.1:{port}/0"))
        .unwrap()
        .on_unreachable(OnUnreachable::FailClosed)
        .unreachable_after(Duration::from_millis(200));
    let client = sandbox.client_builder().limiter(limiter).build().unwrap();
    let error = client
        .chats(sandbox.business_id())
        .page(None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::LimiterUnavailable { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("unreachable"), "{text}");
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(!format!("{error:?}").contains("hunter2-secret"));
    assert!(sandbox.requests().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn fail_open_without_redis_lists_with_in_process_limits() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let sandbox = Sandbox::start(SandboxConfig::default().chats(45)).unwrap();
    let limiter =
        RedisLimiter::new(&format!("redis://:hunter2-secret@127.0.0.1:{port}/0")).unwrap();
    let client = sandbox.client_builder().limiter(limiter).build().unwrap();
    let chats: Vec<_> = client
        .chats(sandbox.business_id())
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chats, sandbox.chats());
    let text = capture.text();
    assert_eq!(
        text.matches("Redis limiter unreachable").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("hunter2-secret"), "{text}");
}

/// The outage warning names the Redis by its parts only: never the ACL
/// user name or the password a `redis+unix` URL carries in its query.
#[tokio::test(flavor = "current_thread")]
async fn the_outage_warning_never_shows_a_user_name_or_password() {
    use yandex_market_chats::Operation;
    use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};

    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let limiter =
        RedisLimiter::new("redis+unix:///nonexistent/ymc.sock?user=alice&pass=s3cret-pw").unwrap();
    Limiter::configure(&limiter, &LimiterSettings::default()).unwrap();
    let request = Acquire::new(
        1,
        Operation::GetChats,
        Duration::from_secs(5),
        Duration::from_secs(5),
    );
    let permit = Limiter::acquire(&limiter, request).await.unwrap();
    Limiter::settle(&limiter, permit, Release::not_sent()).await;
    let text = capture.text();
    assert!(text.contains("Redis limiter unreachable"), "{text}");
    assert!(
        text.contains("redis+unix:///nonexistent/ymc.sock"),
        "{text}"
    );
    assert!(
        !text.contains("alice") && !text.contains("s3cret-pw"),
        "{text}"
    );
}

/// The window rules are the in-process limiter's: both limiters, fed the
/// same requests and server answers, see the same quota.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn redis_keeps_the_window_rules_of_the_in_process_limiter() {
    use chrono::{TimeDelta, Utc};
    use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};
    use yandex_market_chats::{InProcessLimiter, Operation, RateLimit};

    let Some(redis) = RedisServer::start() else {
        return;
    };
    let settings = LimiterSettings::default().with_quota(Operation::GetChats, Some(100));
    let local = InProcessLimiter::new();
    let shared = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(unique_prefix("rules"));
    Limiter::configure(&local, &settings).unwrap();
    Limiter::configure(&shared, &settings).unwrap();

    let now = Utc::now();
    let said = |remaining: u64, until_in: i64, resets_in: u64| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ratelimit-resource-remaining", "1".parse().unwrap());
        let mut rate = RateLimit::from_headers(&headers).unwrap();
        rate.limit = Some(100);
        rate.remaining = Some(remaining);
        rate.until = Some(now + TimeDelta::seconds(until_in));
        rate.resets_in = Some(Duration::from_secs(resets_in));
        rate
    };
    let partial = |remaining: Option<u64>, until_in: Option<i64>, resets_in: Option<u64>| {
        let mut rate = said(0, 0, 0);
        rate.limit = None;
        rate.remaining = remaining;
        rate.until = until_in.map(|s| now + TimeDelta::seconds(s));
        rate.resets_in = resets_in.map(Duration::from_secs);
        rate
    };
    let request = || {
        Acquire::new(
            7,
            Operation::GetChats,
            Duration::from_secs(5),
            Duration::ZERO,
        )
    };
    // (answer, sent): each step takes a unit and gives it back with this.
    let steps: Vec<(Option<RateLimit>, bool)> = vec![
        (None, true),  // our own count only
        (None, false), // never sent: refunded
        // The first answers state only part of it: not taken.
        (Some(partial(Some(40), None, Some(600))), true),
        (Some(partial(None, Some(600), Some(600))), true),
        (Some(partial(Some(40), Some(600), None)), true),
        (Some(said(40, 600, 600)), true),   // the server's view wins
        (Some(said(45, 600, 600)), true),   // a larger count in the same window loses
        (Some(said(30, 300, 300)), true),   // an older window: a late answer, ignored
        (Some(said(99, 4200, 3600)), true), // a new window: adopted
        // Answers that state only part of it.
        (Some(partial(Some(60), None, None)), true), // the count only
        (Some(partial(None, Some(4200), None)), true), // the window's end only
        (Some(partial(Some(50), None, Some(3000))), true), // no end, a reset
    ];
    for (step, (answer, sent)) in steps.into_iter().enumerate() {
        let a = Limiter::acquire(&local, request()).await.unwrap();
        let b = Limiter::acquire(&shared, request()).await.unwrap();
        let release = if sent {
            Release::sent(answer)
        } else {
            Release::not_sent()
        };
        Limiter::release(&local, a, release.clone());
        Limiter::settle(&shared, b, release).await;
        let want = Limiter::quota(&local, 7, Operation::GetChats)
            .await
            .unwrap()
            .unwrap();
        let got = Limiter::quota(&shared, 7, Operation::GetChats)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.remaining, want.remaining, "step {step}: remaining");
        let (w, g) = (want.resets_in.unwrap(), got.resets_in.unwrap());
        assert!(
            w.abs_diff(g) < Duration::from_millis(500),
            "step {step}: resets in {g:?}, in-process {w:?}"
        );
    }
}

/// Without a quota (`with_quota(.., None)`) only the slots count: any
/// number of requests in a row go at once, and there is no quota to tell.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn without_a_quota_only_the_slots_count() {
    use chrono::{TimeDelta, Utc};
    use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};
    use yandex_market_chats::{Operation, RateLimit};

    let Some(redis) = RedisServer::start() else {
        return;
    };
    let settings = LimiterSettings::default().with_quota(Operation::GetChats, None);
    let prefix = unique_prefix("no-quota");
    let limiter = RedisLimiter::new(redis.url()).unwrap().key_prefix(&prefix);
    Limiter::configure(&limiter, &settings).unwrap();
    for sent in 0..10 {
        let request = Acquire::new(
            7,
            Operation::GetChats,
            Duration::from_secs(5),
            Duration::ZERO,
        );
        let permit = Limiter::acquire(&limiter, request)
            .await
            .unwrap_or_else(|e| panic!("request {sent}: {e}"));
        // The server's answer too: nothing to keep without a quota.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-ratelimit-resource-remaining", "90".parse().unwrap());
        let mut rate = RateLimit::from_headers(&headers).unwrap();
        rate.limit = Some(100);
        rate.until = Some(Utc::now() + TimeDelta::seconds(600));
        rate.resets_in = Some(Duration::from_secs(600));
        Limiter::settle(&limiter, permit, Release::sent(Some(rate))).await;
    }
    let quota = Limiter::quota(&limiter, 7, Operation::GetChats)
        .await
        .unwrap();
    assert!(quota.is_none(), "{quota:?}");
    let window = format!("{prefix}:{{7}}:getChats:window");
    assert_eq!(
        redis.query::<i64>(redis::cmd("EXISTS").arg(&window)),
        0,
        "no window kept"
    );
}

/// Defect: a process with a shorter lease shortened everyone's slots. Each
/// acquire set the TTL of the slot set (and of `flight`, `queue`, `alive`)
/// from its own lease (`PEXPIRE`), so a process with 300 ms leases made the
/// key vanish, and with it the slot of a process with 60 s leases that was
/// still in flight: the short one then held 4 while the long one had 1, 5 at
/// the server. A key's TTL now only ever rises: it never drops below the
/// longest live lease.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn a_shorter_lease_never_drops_a_longer_leases_slot() {
    use yandex_market_chats::Operation;
    use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};

    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = unique_prefix("leases");
    let mut settings = LimiterSettings::default();
    settings.max_in_flight = 4;
    let long = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(&prefix)
        .lease(Duration::from_secs(60));
    let short = RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(&prefix)
        .lease(Duration::from_millis(300));
    Limiter::configure(&long, &settings).unwrap();
    Limiter::configure(&short, &settings).unwrap();
    let request = || {
        Acquire::new(
            9,
            Operation::GetChats,
            Duration::from_millis(500),
            Duration::ZERO,
        )
    };

    // The long one holds one slot for the whole test.
    let held = Limiter::acquire(&long, request()).await.unwrap();
    // The short one comes and goes for more than a second, with pauses
    // longer than two of its leases.
    let started = Instant::now();
    for _ in 0..3 {
        let permit = Limiter::acquire(&short, request()).await.unwrap();
        Limiter::release(&short, permit, Release::sent(None));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(1));

    // The long one's slot still counts: the short one gets 3, not 4. All
    // within 200 ms of its first, so none of its own 300 ms leases ends.
    let mut permits = Vec::new();
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    for _ in 0..4 {
        let acquire = Limiter::acquire(&short, request());
        match tokio::time::timeout_at(deadline, acquire).await {
            Ok(permit) => permits.push(permit.unwrap()),
            Err(_) => break, // waits for a slot: the one the long one holds
        }
        if permits.len() == 1 {
            deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        }
    }
    let taken = permits.len();
    for permit in permits {
        Limiter::release(&short, permit, Release::not_sent());
    }
    Limiter::release(&long, held, Release::not_sent());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        taken,
        3,
        "the short-lease process held {taken} while the long one held 1: {} in flight",
        taken + 1
    );
}

/// Defect: processes with different quotas restarted the shared window on
/// every request: a window stored with another quota (`own_quota`) was
/// replaced by a fresh one, discarding what was used and what the server
/// stated, so quotas 3 and 4 alternating let 40 requests of 40 through. Now
/// there is one window per business and operation, counting the units used
/// whatever each caller's cap, and each caller's cap is checked against it.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn different_quotas_share_one_window_and_each_cap_holds() {
    use yandex_market_chats::Operation;
    use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};

    let Some(redis) = RedisServer::start() else {
        return;
    };
    let pair = |prefix: &str| {
        let make = |quota| {
            let limiter = RedisLimiter::new(redis.url()).unwrap().key_prefix(prefix);
            let settings = LimiterSettings::default().with_quota(Operation::GetChats, Some(quota));
            Limiter::configure(&limiter, &settings).unwrap();
            limiter
        };
        (make(3), make(4))
    };
    let request = || {
        Acquire::new(
            11,
            Operation::GetChats,
            Duration::from_secs(5),
            Duration::ZERO,
        )
    };
    // One try: `true` when it went (and was given back, sent, no headers).
    async fn send(limiter: &RedisLimiter, request: Acquire) -> bool {
        match Limiter::acquire(limiter, request).await {
            Ok(permit) => {
                Limiter::release(limiter, permit, Release::sent(None));
                true
            }
            Err(Error::RateLimited { local: true, .. }) => false,
            Err(error) => panic!("{error:?}"),
        }
    }

    // Alternating: the larger cap is all the window holds.
    let (three, four) = pair(&unique_prefix("quotas"));
    let mut went = 0;
    for i in 0..40 {
        let limiter = if i % 2 == 0 { &three } else { &four };
        if send(limiter, request()).await {
            went += 1;
        }
    }
    assert!(went <= 4, "{went} of 40 went with quotas 3 and 4");

    // Three used by the cap-4 caller: the cap-3 caller is refused, the cap-4
    // one has one left; each sees the shared window under its own cap.
    let (three, four) = pair(&unique_prefix("caps"));
    for _ in 0..3 {
        assert!(send(&four, request()).await);
    }
    assert!(!send(&three, request()).await, "cap 3 with 3 used");
    let seen = |state: Option<yandex_market_chats::limits::QuotaState>| {
        let state = state.unwrap();
        (state.limit, state.remaining)
    };
    let state = Limiter::quota(&three, 11, Operation::GetChats).await;
    assert_eq!(seen(state.unwrap()), (3, 0), "cap 3 sees the shared window");
    let state = Limiter::quota(&four, 11, Operation::GetChats).await;
    assert_eq!(seen(state.unwrap()), (4, 1), "cap 4 sees the shared window");
    assert!(send(&four, request()).await, "cap 4 with 3 used");
    assert!(!send(&four, request()).await, "cap 4 with 4 used");
    assert!(!send(&three, request()).await, "cap 3 with 4 used");
}
