//! The follower on several replicas through a `RedisCheckpoint`: follower
//! processes (`ymc_follower`, one per replica, told apart by their
//! `User-Agent` at the sandbox) on one business, a real `redis-server`, and
//! failures done to them for real (`kill -9`, `SIGSTOP`, a graceful stop).
//!
//! Needs `redis-server` on PATH (or `YMC_REDIS_URL`); see `redis_support`.

#[allow(dead_code)] // shared: each test file uses part of it
mod redis_support;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use yandex_market_chats::follow::Checkpoint;
use yandex_market_chats::redis::RedisCheckpoint;
use yandex_market_chats::{BusinessId, Error};
use yandex_market_chats_sandbox::{Sandbox, SandboxConfig};

use redis_support::RedisServer;

const FOLLOWER: &str = env!("CARGO_BIN_EXE_ymc_follower");
/// The replicas' lease: short, so that failover shows in seconds (the
/// graceful test uses the default 10 s, to tell a hand-over from a lapse).
const LEASE_MS: u64 = 1_000;

/// One replica: its process, and every line it printed, when.
struct Replica {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Replica {
    fn start(sandbox: &Sandbox, redis: &RedisServer, prefix: &str, name: &str) -> Self {
        Self::with_lease(sandbox, redis, prefix, name, LEASE_MS)
    }

    fn with_lease(
        sandbox: &Sandbox,
        redis: &RedisServer,
        prefix: &str,
        name: &str,
        lease_ms: u64,
    ) -> Self {
        Self::spawn(sandbox, redis, prefix, name, lease_ms, &[])
    }

    fn spawn(
        sandbox: &Sandbox,
        redis: &RedisServer,
        prefix: &str,
        name: &str,
        lease_ms: u64,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(FOLLOWER)
            .args([
                sandbox.base_url(),
                sandbox.api_key(),
                &sandbox.business_id().to_string(),
                redis.url(),
                name,
            ])
            .env("YMC_LEASE_MS", lease_ms.to_string())
            .env("YMC_PREFIX", prefix)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ymc_follower starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn({
            let lines = Arc::clone(&lines);
            move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push((Instant::now(), line));
                }
            }
        });
        Self {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    fn lines(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// The graceful path: the stream is dropped while the runtime runs.
    fn stop(&mut self) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "stop");
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The replica whose requests the sandbox saw last (the leader), if any.
fn leader(sandbox: &Sandbox) -> Option<String> {
    sandbox
        .requests()
        .last()
        .and_then(|r| r.user_agent.clone())
        .and_then(|ua| ua.rsplit(' ').next().map(str::to_owned))
}

/// Waits until `check` holds, or fails after `limit` with `what`.
fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `(chat, message)` of a `message:{chat}:{id}` dedup key.
fn message(key: &str) -> Option<(u64, u64)> {
    let mut parts = key.strip_prefix("message:")?.split(':');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn unique_prefix(test: &str) -> String {
    format!("ymc-test-{test}-{}", fastrand::u64(..))
}

/// Three replicas, buyers writing 100 messages over 20 s, the leader killed
/// (`kill -9`) twice: every message is delivered by some replica, at most
/// one twice per kill, in order per chat across leaders, and the sandbox
/// sees one replica's traffic at a time.
#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn replicas_fail_over_twice_with_nothing_lost() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(20)
            .hourly_quota(Some(10_000_000)),
    )
    .unwrap();
    let prefix = unique_prefix("replicas");
    let mut replicas: Vec<Replica> = (0..3)
        .map(|i| Replica::start(&sandbox, &redis, &prefix, &format!("replica-{i}")))
        .collect();
    wait_for(Duration::from_secs(10), "a leader", || {
        leader(&sandbox).is_some()
    });
    let chats: Vec<_> = sandbox.chats().iter().map(|c| c.chat_id).collect();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut written: Vec<(u64, u64)> = Vec::new();
    let mut killed = Vec::new();
    for i in 0..100 {
        let chat = chats[rng.usize(0..chats.len())];
        written.push((
            chat.get(),
            sandbox.customer_message(chat, format!("m{i}")).get(),
        ));
        std::thread::sleep(Duration::from_millis(200));
        if i == 30 || i == 65 {
            let name = leader(&sandbox).expect("a leader");
            let replica = replicas
                .iter_mut()
                .find(|r| r.name == name)
                .expect("the leader is one of ours");
            replica.child.kill().unwrap(); // SIGKILL
            replica.child.wait().unwrap();
            killed.push(name);
        }
    }
    assert_eq!(killed.len(), 2);
    assert_ne!(
        killed[0], killed[1],
        "a new leader took over after the first kill"
    );
    let delivered = || -> Vec<(Instant, (u64, u64))> {
        let mut all: Vec<(Instant, (u64, u64))> = replicas
            .iter()
            .flat_map(|r| r.lines())
            .filter_map(|(at, line)| message(&line).map(|m| (at, m)))
            .collect();
        all.sort();
        all
    };
    wait_for(Duration::from_secs(20), "every message delivered", || {
        let got: HashSet<(u64, u64)> = delivered().into_iter().map(|(_, m)| m).collect();
        written.iter().all(|w| got.contains(w))
    });
    let all = delivered();
    let repeats = all.len() - all.iter().map(|(_, m)| m).collect::<HashSet<_>>().len();
    assert!(repeats <= 2, "{repeats} repeats for 2 kills");
    // In order per chat across leaders (a repeat may go back by one).
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for (_, (chat, id)) in &all {
        if let Some(before) = last.get(chat) {
            assert!(
                id >= before || written.contains(&(*chat, *id)),
                "chat {chat}: {id} after {before}"
            );
        }
        last.insert(*chat, (*id).max(*last.get(chat).unwrap_or(&0)));
    }
    // One replica's traffic at a time: its requests form one run each.
    let mut runs: Vec<String> = Vec::new();
    for request in sandbox.requests() {
        let name = request.user_agent.unwrap_or_default();
        if runs.last() != Some(&name) {
            runs.push(name);
        }
    }
    assert!(
        runs.len() <= 3,
        "replicas interleaved at the sandbox: {runs:?}"
    );
}

/// A leader paused past its lease (`SIGSTOP`): a standby takes over and
/// delivers; resumed (`SIGCONT`), the old leader's next save is refused,
/// its stream ends with a clear error, and it delivered at most the event
/// it had in hand.
#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn a_leader_paused_past_its_lease_is_fenced() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(5)
            .hourly_quota(Some(10_000_000)),
    )
    .unwrap();
    let prefix = unique_prefix("fence");
    let mut first = Replica::start(&sandbox, &redis, &prefix, "replica-a");
    wait_for(Duration::from_secs(10), "a leader", || {
        leader(&sandbox).as_deref() == Some("replica-a")
    });
    let second = Replica::start(&sandbox, &redis, &prefix, "replica-b");
    let pid = first.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let chat = sandbox.chats()[0].chat_id;
    let written = sandbox
        .customer_message(chat, "while the leader sleeps")
        .get();
    let key = format!("message:{chat}:{written}");
    wait_for(
        Duration::from_secs(10),
        "the standby took over and delivered",
        || second.lines().iter().any(|(_, l)| *l == key),
    );
    let before = first.lines().len();
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = first.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the fenced leader went on");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(status.code(), Some(2), "its stream ended with an error");
    let after: Vec<String> = first.lines()[before..]
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    let events = after.iter().filter(|l| !l.starts_with("error:")).count();
    assert!(
        events <= 1,
        "delivered more than the event in hand: {after:?}"
    );
    assert!(
        after
            .last()
            .is_some_and(|l| l.contains("another replica took over")),
        "{after:?}"
    );
    first.stop();
}

/// The graceful path (the stream dropped while the runtime runs) hands the
/// lease over at once: a standby leads within a second, not after the lease.
#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn a_graceful_stop_hands_over_within_a_second() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(5)
            .hourly_quota(Some(10_000_000)),
    )
    .unwrap();
    let prefix = unique_prefix("handover");
    let mut first = Replica::with_lease(&sandbox, &redis, &prefix, "replica-a", 10_000);
    wait_for(Duration::from_secs(10), "a leader", || {
        leader(&sandbox).as_deref() == Some("replica-a")
    });
    let second = Replica::with_lease(&sandbox, &redis, &prefix, "replica-b", 10_000);
    // The standby waits and calls nothing.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sandbox.requests().iter().all(|r| r
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.ends_with("replica-a"))),
        "the standby called the API"
    );
    let stopped = Instant::now();
    first.stop();
    wait_for(Duration::from_secs(5), "the standby leads", || {
        leader(&sandbox).as_deref() == Some("replica-b")
    });
    assert!(
        stopped.elapsed() < Duration::from_secs(1),
        "took {:?}: the lease was not handed over",
        stopped.elapsed()
    );
    drop(second);
}

/// Redis restarted mid-run (`kill -9`): with persistence on, the follower
/// (restarted by its supervisor if its stream ended during the outage)
/// loses nothing; with it off, the leader's stream ends with a clear error
/// instead of silently starting over.
#[test]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
fn a_redis_restart_loses_nothing_with_persistence_and_is_a_clear_error_without() {
    for persistent in [true, false] {
        let Some(mut redis) = RedisServer::start() else {
            return;
        };
        if !redis.is_own() {
            return;
        }
        redis.set_persistent(persistent);
        redis.restart();
        let sandbox = Sandbox::start(
            SandboxConfig::default()
                .chats(5)
                .hourly_quota(Some(10_000_000)),
        )
        .unwrap();
        let prefix = unique_prefix("restart");
        let mut replica = Replica::start(&sandbox, &redis, &prefix, "replica-a");
        wait_for(Duration::from_secs(10), "a leader", || {
            leader(&sandbox).is_some()
        });
        let chats: Vec<_> = sandbox.chats().iter().map(|c| c.chat_id).collect();
        let mut written = Vec::new();
        let write = |written: &mut Vec<String>, i: usize| {
            let chat = chats[i % chats.len()];
            written.push(format!(
                "message:{chat}:{}",
                sandbox.customer_message(chat, "hi")
            ));
        };
        for i in 0..5 {
            write(&mut written, i);
        }
        let delivered = |replicas: &[&Replica]| -> HashSet<String> {
            replicas
                .iter()
                .flat_map(|r| r.lines())
                .map(|(_, l)| l)
                .collect()
        };
        wait_for(Duration::from_secs(10), "the first messages", || {
            let got = delivered(&[&replica]);
            written.iter().all(|w| got.contains(w))
        });
        redis.restart();
        for i in 5..10 {
            write(&mut written, i);
        }
        if persistent {
            // A supervisor restarts a follower whose stream ended.
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut earlier = Vec::new();
            loop {
                let mut all: Vec<&Replica> = earlier.iter().collect();
                all.push(&replica);
                let got = delivered(&all);
                if written.iter().all(|w| got.contains(w)) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "lost after a restart with persistence"
                );
                if replica.child.try_wait().unwrap().is_some() {
                    let next = Replica::start(&sandbox, &redis, &prefix, "replica-a");
                    earlier.push(std::mem::replace(&mut replica, next));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            wait_for(
                Duration::from_secs(10),
                "the leader ends with an error",
                || replica.child.try_wait().unwrap().is_some(),
            );
            let lines = replica.lines();
            let last = lines.last().map(|(_, l)| l.as_str()).unwrap_or_default();
            assert!(last.contains("gone from Redis"), "{last}");
        }
    }
}

/// With a `RedisLimiter` on the same Redis, the follower's share of a quota
/// holds across replicas (a new leader goes on with the window the old one
/// spent, not a fresh one) and leaves the rest to the rest of the program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn with_a_redis_limiter_the_share_holds_across_replicas_and_the_program() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // 40 getChats a window, 100 chats (5 pages a full sweep): the
    // followers may spend 20, whichever replica leads.
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(100)
            .hourly_quota(Some(40))
            .quota_window(Duration::from_secs(60)),
    )
    .unwrap();
    let prefix = unique_prefix("shared-share");
    let env = [("YMC_LIMITER_URL", redis.url()), ("YMC_QUOTA", "40")];
    let mut first = Replica::spawn(&sandbox, &redis, &prefix, "replica-a", LEASE_MS, &env);
    let _second = Replica::spawn(&sandbox, &redis, &prefix, "replica-b", LEASE_MS, &env);
    wait_for(Duration::from_secs(10), "a leader", || {
        leader(&sandbox).is_some()
    });
    std::thread::sleep(Duration::from_secs(3));
    let name = leader(&sandbox).unwrap();
    if name == "replica-a" {
        first.child.kill().unwrap();
        first.child.wait().unwrap();
    } else {
        drop(_second);
    }
    // The other replica leads and spends what is left of the share, no more.
    wait_for(Duration::from_secs(10), "the other replica leads", || {
        leader(&sandbox).is_some_and(|l| l != name)
    });
    std::thread::sleep(Duration::from_secs(3));
    let followers = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/chats"))
        .count();
    assert!(
        followers <= 20,
        "the followers spent {followers} of 40, more than half"
    );
    // The rest of the program, through the same limiter, gets its half.
    let limiter = yandex_market_chats::redis::RedisLimiter::new(redis.url())
        .unwrap()
        .key_prefix(prefix);
    let client = sandbox
        .client_builder()
        .operation_quota(yandex_market_chats::Operation::GetChats, Some(40))
        .limiter(limiter)
        .retry(yandex_market_chats::RetryPolicy::default().max_quota_wait(Duration::ZERO))
        .build()
        .unwrap();
    for _ in 0..(40 - followers).min(20) {
        client
            .chats(sandbox.business_id())
            .page(None)
            .await
            .unwrap();
    }
    assert!(
        sandbox.requests().iter().all(|r| r.status != Some(420)),
        "a 420"
    );
}

/// Calls of one command Redis counted since its last `CONFIG RESETSTAT`.
fn calls(redis: &RedisServer, command: &str) -> u64 {
    let info: String = redis.query(redis::cmd("INFO").arg("commandstats"));
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A `RedisCheckpoint` used directly, as the stream does.
async fn opened(redis: &RedisServer, prefix: &str) -> RedisCheckpoint {
    let checkpoint = RedisCheckpoint::new(redis.url(), "bot")
        .unwrap()
        .key_prefix(prefix);
    let records = checkpoint.open(BusinessId::from(1)).await.unwrap();
    assert!(records.is_empty(), "{records:?}");
    checkpoint
}

/// Redis restarted between two saves (persistence on), or stalled past the
/// answer timeout: the save is tried once more and lands, with nothing
/// lost; an error of the script itself is reported at once, never sent
/// twice.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn a_save_after_a_redis_restart_or_stall_is_tried_once_more_a_script_error_never() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    if !redis.is_own() {
        return;
    }
    redis.set_persistent(true);
    redis.restart();
    let prefix = unique_prefix("reconnect");
    let checkpoint = opened(&redis, &prefix).await;
    checkpoint.append(b"one".to_vec()).await.unwrap();
    redis.restart();
    checkpoint.append(b"two".to_vec()).await.unwrap();
    checkpoint.holds().await.unwrap();
    let records: Vec<Vec<u8>> = redis.query(
        redis::cmd("LRANGE")
            .arg(format!("{prefix}:follow:{{bot:1}}:records"))
            .arg(0)
            .arg(-1),
    );
    assert_eq!(records, [b"one".to_vec(), b"two".to_vec()]);

    // Redis stalled past the checkpoint's 2 s answer timeout: the save
    // that timed out is tried once more, and lands.
    redis.query::<()>(redis::cmd("CLIENT").arg("PAUSE").arg(2_300).arg("ALL"));
    checkpoint.append(b"after a stall".to_vec()).await.unwrap();

    // The records key made a string: RPUSH in the script fails.
    redis.query::<()>(
        redis::cmd("SET")
            .arg(format!("{prefix}:follow:{{bot:1}}:records"))
            .arg("not a list"),
    );
    redis.query::<()>(redis::cmd("CONFIG").arg("RESETSTAT"));
    let error = checkpoint.append(b"three".to_vec()).await.unwrap_err();
    assert!(matches!(error, Error::Checkpoint { .. }), "{error:?}");
    assert!(error.to_string().contains("cannot save"), "{error}");
    assert_eq!(calls(&redis, "evalsha"), 1, "sent once");
    checkpoint.close();
}

/// What a save says when its lease is no longer what it took: keys gone
/// (Redis restarted without persistence, or they were deleted) is "gone
/// from Redis", another generation in the fence is "took over"; the check
/// before each cycle says the same.
#[tokio::test(flavor = "current_thread")]
#[cfg_attr(
    not(redis_tests),
    ignore = "needs redis-server on PATH (Debian: apt-get install -y redis-server) or YMC_REDIS_URL"
)]
async fn a_save_tells_a_vanished_checkpoint_from_a_taken_over_one() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let prefix = unique_prefix("fence");
    let fence = format!("{prefix}:follow:{{bot:1}}:fence");
    let checkpoint = opened(&redis, &prefix).await;
    checkpoint.append(b"one".to_vec()).await.unwrap();
    checkpoint.holds().await.unwrap();

    redis.query::<()>(redis::cmd("SET").arg(&fence).arg(1_000_000));
    for error in [
        checkpoint.append(b"two".to_vec()).await.unwrap_err(),
        checkpoint.replace(b"two".to_vec()).await.unwrap_err(),
        checkpoint.holds().await.unwrap_err(),
    ] {
        assert!(error.to_string().contains("took over"), "{error}");
    }

    redis.query::<()>(redis::cmd("DEL").arg(&fence));
    for error in [
        checkpoint.append(b"two".to_vec()).await.unwrap_err(),
        checkpoint.holds().await.unwrap_err(),
    ] {
        assert!(error.to_string().contains("gone from Redis"), "{error}");
    }
    checkpoint.close();
}
