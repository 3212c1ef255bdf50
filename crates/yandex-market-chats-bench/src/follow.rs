//! `cargo xtask bench follow [--quick] [--chats N]... [--windows W]`: what
//! the follower achieves at scale, measured.
//!
//! Why: the follower's latency and cost are set by the quota and the number
//! of chats, not by CPU, so they can only be measured against a server that
//! enforces the quota. The sandbox does, with the API's quotas per window
//! (getChats 5,000, getChatHistory 10,000, getChat 1,000) and the parallel
//! limit of 4; its window is shortened from an hour to 60 s, so an API hour
//! passes in a real minute. Every figure is printed in API time (real time ×
//! k, k = 3600 s / window) and per API hour (= per window).
//!
//! Per N chats: the sandbox seeds statuses round robin, so two thirds of its
//! chats would be "waiting" (`NEW`, `WAITING_FOR_PARTNER`, disputes) before
//! any load; as in a real shop, they are first set answered
//! (`WAITING_FOR_CUSTOMER`) or closed (`FINISHED`), then 300 chats are made
//! waiting (a buyer message each) before the follower starts (`sandbox.client()`, `poll_interval(0)`: pacing follows the
//! window the server states; `quota_share` 0.5, no hints). Once it has sent
//! its first request, the load runs, in API time: buyers write one message a
//! second in random chats; a responder (its own `Client`, so its own limiter)
//! answers the longest-waiting chat once a second while at least 300 wait, so
//! that about 300 always do (answering every second would drain them). Its
//! sendMessageToChat quota is raised on both sides (1/API s is 3,600 per
//! window, over the API's 1,000). The first full sweep is the warm-up; then
//! `W` windows are measured; then the load stops and a drain waits until
//! every buyer message written since the start was delivered (bounded).
//!
//! Measured from the sandbox's request log and the follower's events: each
//! buyer message's latency from its write to its `ChatEvent::Message` (real,
//! × k); the follower's getChats, getChatHistory and getChat requests per
//! window (the responder sends only sendMessageToChat, and the waiting chats
//! come from this harness's own bookkeeping, never the API); full sweeps
//! (a getChats listing with no `statuses` filter, from a page without a
//! token) and fast sweeps (listings with a `statuses` filter); history reads
//! that found nothing new (no message in that chat since its previous read),
//! to tell re-reads from work, and how many of those recheck a chat read
//! within the second of its last message; the busiest of the server's own
//! quota windows (a share is a promise per server window, and the measured
//! period need not line up with them). Targets are printed met or missed, never
//! failing the run.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use yandex_market_chats::follow::{ChatEvent, FollowQuery};
use yandex_market_chats::{ChatStatus, Client, Operation};
use yandex_market_chats_sandbox::{RecordedRequest, Sandbox, SandboxConfig};

/// How to call it (checked here; xtask passes the arguments through).
pub const USAGE: &str =
    "usage: cargo xtask bench follow [--quick] [--chats N]... [--windows W] [--window-secs S]
  --chats N    run N chats (repeatable; default 1,000, 10,000 and 100,000)
  --windows W  quota windows (API hours) measured after the warm-up (default 3)
  --window-secs S  the real length of the window standing for an hour (default 60, k = 60);
               a longer one keeps one-second timestamps from crowding API time
  --quick      N = 1,000, one 15 s window (k = 240), debug build: a smoke run";

/// How many chats the harness keeps waiting (at most half the chats).
const WAITING: usize = 300;
/// The targets, judged at 10,000 chats.
const TARGET_CHATS: usize = 10_000;
const TARGET_P95_API_SECS: f64 = 60.0;
const TARGET_GET_CHATS_PER_HOUR: f64 = 1_250.0;

/// What to run.
#[derive(Debug)]
pub struct Options {
    chats: Vec<usize>,
    windows: u32,
    quick: bool,
    window_secs: Option<u64>,
}

impl Options {
    /// Reads the arguments after `follow`.
    ///
    /// # Errors
    /// A message for an unknown argument or a bad number.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let (mut chats, mut windows, mut quick) = (Vec::new(), None, false);
        let mut window_secs = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut number = |name: &str| {
                args.next()
                    .and_then(|v| v.replace(['_', ','], "").parse::<usize>().ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("{name} needs a whole number of at least 1"))
            };
            match arg.as_str() {
                "--quick" => quick = true,
                "--chats" => chats.push(number("--chats")?),
                "--windows" => windows = Some(number("--windows")?),
                "--window-secs" => window_secs = Some(number("--window-secs")? as u64),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if chats.is_empty() {
            chats = if quick {
                vec![1_000]
            } else {
                vec![1_000, 10_000, 100_000]
            };
        }
        let windows = u32::try_from(windows.unwrap_or(if quick { 1 } else { 3 }))
            .map_err(|_| "--windows is too large".to_owned())?;
        Ok(Self {
            chats,
            windows,
            quick,
            window_secs,
        })
    }
}

/// Real time against API time: the quota window stands for an hour.
#[derive(Clone, Copy)]
struct Scale {
    window: Duration,
    k: f64,
}

impl Scale {
    fn new(window: Duration) -> Self {
        Self {
            window,
            k: 3600.0 / window.as_secs_f64(),
        }
    }
    /// API seconds in a real duration.
    fn api(self, real: Duration) -> f64 {
        real.as_secs_f64() * self.k
    }
    /// One API second, in real time.
    fn api_second(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.k)
    }
}

/// Buyer messages: in which chat and when each was written (real), and
/// when the follower first delivered it.
#[derive(Default)]
struct Ledger {
    written: HashMap<u64, (u64, Instant)>,
    delivered: HashMap<u64, Instant>,
    follower_errors: Vec<String>,
}

impl Ledger {
    fn undelivered(&self) -> usize {
        self.written
            .keys()
            .filter(|id| !self.delivered.contains_key(id))
            .count()
    }
}

/// The waiting chats, by the time of their oldest unanswered buyer message.
#[derive(Default)]
struct Waiting {
    since: HashMap<u64, Instant>,
    order: BTreeSet<(Instant, u64)>,
    /// (when, how many waited), once per API second.
    samples: Vec<(Instant, usize)>,
    answered: Vec<Instant>,
    errors: Vec<String>,
}

impl Waiting {
    fn wrote(&mut self, chat: u64, at: Instant) {
        if let std::collections::hash_map::Entry::Vacant(entry) = self.since.entry(chat) {
            entry.insert(at);
            self.order.insert((at, chat));
        }
    }
    fn take_longest(&mut self) -> Option<(Instant, u64)> {
        let (since, chat) = self.order.pop_first()?;
        self.since.remove(&chat);
        Some((since, chat))
    }
}

/// Runs every N in turn, then prints the table and the targets.
pub async fn run(options: Options) {
    let scale = Scale::new(Duration::from_secs(
        options
            .window_secs
            .unwrap_or(if options.quick { 15 } else { 60 }),
    ));
    println!(
        "follower benchmark{} ({} build): N chats in the sandbox, {} quota window(s) measured each",
        if options.quick { " (--quick)" } else { "" },
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        options.windows,
    );
    println!(
        "scale: a {} s quota window stands for an hour, k = {}: API time = real time × {}; per hour = per window",
        scale.window.as_secs(),
        scale.k,
        scale.k
    );
    println!(
        "server: the API's quotas per window (getChats 5,000, getChatHistory 10,000, getChat 1,000), parallel limit 4;\n  \
         sendMessageToChat raised to 1,000,000 (the responder's one answer per API second is 3,600 per window)"
    );
    println!(
        "follower: sandbox.client() defaults, poll_interval 0, quota_share 0.5, no hints; load (API time): one buyer\n  \
         message a second in a random chat, the responder (own client) answers the longest-waiting chat once a\n  \
         second while >= {WAITING} wait"
    );
    let mut rows = Vec::new();
    for &chats in &options.chats {
        let row = one(chats, options.windows, scale).await;
        rows.push(row);
    }
    table(&rows, scale);
    saves(options.quick).await;
    if options.quick {
        println!("\n(--quick: a smoke run; its figures are not the targets' measure)");
    }
}

/// What saving costs (also printed by `cargo xtask bench`): the
/// follower's state of N chats in a `FileCheckpoint` (in the system's
/// temporary folder) and in a `RedisCheckpoint`, one event saved at a time
/// as the stream saves it. Goal at 100,000 chats: at most 1 KiB and 1 ms an
/// event.
pub async fn saves(quick: bool) {
    // Enough events for a full run to include a compaction (the deltas
    // outweigh the snapshot after about 0.35 events per chat).
    let events_for = |chats: usize| {
        if quick { 300 } else { (chats / 2).max(3_000) }
    };
    let dir = std::env::temp_dir().join(format!("ymc-bench-saves-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder for the checkpoint");
    println!(
        "\ncheckpoint cost (events saved one by one with fdatasync; compactions included; not scaled)"
    );
    println!("  chats | bytes/event | median save | mean save | snapshot");
    for chats in [1_000, 10_000, 100_000] {
        match yandex_market_chats::follow::measure_saves(chats, events_for(chats), &dir).await {
            Ok(cost) => println!(
                "{chats:>7} | {:>11.0} | {:>8.3} ms | {:>6.3} ms | {:>6.1} MB",
                cost.bytes_per_event,
                cost.median.as_secs_f64() * 1000.0,
                cost.mean.as_secs_f64() * 1000.0,
                cost.snapshot_bytes as f64 / 1e6
            ),
            Err(error) => println!("{chats:>7} | failed: {error}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // The same in Redis (a RedisCheckpoint: one fenced script a save), on a
    // local redis-server without persistence (with `appendfsync always`
    // each save would also wait for Redis's fsync).
    let Some(redis) = crate::redis_server::RedisServer::start() else {
        println!("  RedisCheckpoint: skipped (no redis-server on PATH and no YMC_REDIS_URL)");
        return;
    };
    println!("  RedisCheckpoint, the same events (one round trip a save, loopback):");
    for chats in [1_000, 10_000, 100_000] {
        let checkpoint =
            yandex_market_chats::redis::RedisCheckpoint::new(&redis.url, format!("bench-{chats}"))
                .expect("a Redis URL")
                .key_prefix(format!("ymc-bench-{}", std::process::id()));
        match yandex_market_chats::follow::measure_saves_in(&checkpoint, chats, events_for(chats))
            .await
        {
            Ok(cost) => println!(
                "{chats:>7} | {:>11.0} | {:>8.3} ms | {:>6.3} ms | {:>6.1} MB",
                cost.bytes_per_event,
                cost.median.as_secs_f64() * 1000.0,
                cost.mean.as_secs_f64() * 1000.0,
                cost.snapshot_bytes as f64 / 1e6
            ),
            Err(error) => println!("{chats:>7} | failed: {error}"),
        }
    }
}

/// What one N gave.
struct Row {
    chats: usize,
    warm_up: Option<Duration>,
    per_window: Counts,
    latencies: Vec<f64>,
    undelivered_measured: usize,
    undelivered: usize,
    /// Of the undelivered: their chat's history was read after the write;
    /// their chat was answered before any such read.
    undelivered_read: usize,
    undelivered_answered_first: usize,
    sweep_period: Option<f64>,
    delays: Delays,
    waiting_avg: f64,
    drained_in: Duration,
    follower_errors: Vec<String>,
    responder_errors: usize,
    run_time: Duration,
}

/// The follower's requests in the measured period, per window.
#[derive(Default)]
struct Counts {
    get_chats: f64,
    fast_sweeps: f64,
    history: f64,
    get_chat: f64,
    rate_limited: f64,
    answers: f64,
    /// getChatHistory reads (first pages) with no message in their chat
    /// since its previous read.
    reads_without_news: f64,
    /// Of those: the previous read came within [`SAME_SECONDS`] of the
    /// chat's last message, so the follower read once more to be sure of
    /// that second (one-second timestamps, which the scaling makes k times
    /// likelier than in real time).
    rechecks: f64,
    /// Of those, the rest: the first read of its chat in the run, or how
    /// long (real time) since the chat's previous read and since its last
    /// message before that read (`None`: no message in the run before it).
    other_reads_without_news: Vec<OtherRead>,
    /// The follower's getChatHistory requests in the busiest of the
    /// server's own quota windows that overlap the measured period (not
    /// divided by the windows): the share is a promise per server window.
    history_busiest_window: f64,
    /// The same for getChats.
    get_chats_busiest_window: f64,
}

/// A read with nothing new that is no recheck of a second.
#[derive(Clone, Copy)]
enum OtherRead {
    First,
    Again {
        since_read: Duration,
        since_message: Option<Duration>,
    },
}

/// How close (real time) a read must come after a chat's last message for
/// the follower to recheck that chat: its `updatedAt` has whole seconds,
/// so the second may not have been over at the read (the follower's rule
/// is one second on the server's clock; plus the `Date` header's second).
const SAME_SECONDS: Duration = Duration::from_secs(2);

async fn one(chats: usize, windows: u32, scale: Scale) -> Row {
    let started = Instant::now();
    println!();
    let sandbox = Arc::new(
        Sandbox::start(
            SandboxConfig::default()
                .chats(chats)
                .quota_window(scale.window)
                .operation_quota(Operation::SendMessageToChat, 1_000_000),
        )
        .expect("the sandbox starts"),
    );
    let business = sandbox.business_id();
    let ids: Arc<Vec<u64>> = Arc::new(sandbox.chats().iter().map(|c| c.chat_id.get()).collect());
    let keep_waiting = WAITING.min(chats / 2);
    println!(
        "N = {}: sandbox up in {:.1} s; making {keep_waiting} chats wait",
        thousands(chats as f64),
        started.elapsed().as_secs_f64()
    );

    for chat in sandbox.chats() {
        let settled = match chat.status {
            ChatStatus::New | ChatStatus::WaitingForPartner => ChatStatus::WaitingForCustomer,
            ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket => ChatStatus::Finished,
            _ => continue,
        };
        sandbox.set_status(chat.chat_id, settled);
    }
    let mut rng = fastrand::Rng::with_seed(0x5eed ^ chats as u64);
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let mut picked = ids.to_vec();
    rng.shuffle(&mut picked);
    for &chat in &picked[..keep_waiting] {
        let at = Instant::now();
        sandbox.customer_message(chat, "Where is my order?");
        waiting.lock().unwrap().wrote(chat, at);
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let query = sandbox
        .client()
        .expect("a client")
        .follow(business)
        .poll_interval(Duration::ZERO);
    let follower = tokio::spawn(follow(query, Arc::clone(&ledger)));
    // The load starts once the follower has sent its first request: every
    // message written after that must be delivered.
    let first = loop {
        if let Some(first) = sandbox.requests().iter().find(|r| listing(r).is_some()) {
            break first.at;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the follower sent no request"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    let stop = Arc::new(AtomicBool::new(false));
    let responder_client = sandbox
        .client_builder()
        .operation_quota(Operation::SendMessageToChat, None)
        .build()
        .expect("a client");
    let load = [
        tokio::spawn(buyers(
            Arc::clone(&sandbox),
            Arc::clone(&ids),
            scale,
            Arc::clone(&stop),
            Arc::clone(&waiting),
            Arc::clone(&ledger),
            rng.u64(..),
        )),
        tokio::spawn(responder(
            responder_client,
            business,
            keep_waiting,
            scale,
            Arc::clone(&stop),
            Arc::clone(&waiting),
        )),
    ];

    // Warm-up: the first full sweep. Bounded, so that a follower that never
    // finishes one still gets measured (and says so).
    let poll = scale.window / 60;
    let warm_cap = first + scale.window * 10;
    let warm_end = loop {
        tokio::time::sleep(poll).await;
        if let Some(end) = warm_up_end(&sandbox.requests(), chats) {
            break Some(end);
        }
        if Instant::now() >= warm_cap {
            break None;
        }
    };
    let warm_up = warm_end.map(|end| end.duration_since(first));
    let from = warm_end.unwrap_or_else(Instant::now);
    match warm_up {
        Some(w) => println!(
            "  warm-up (first full sweep): {:.1} s real = {} API s; measuring {windows} window(s)",
            w.as_secs_f64(),
            thousands(scale.api(w))
        ),
        None => println!(
            "  warm-up: no full sweep ended within 10 windows; measuring {windows} window(s) from now"
        ),
    }
    let to = from + scale.window * windows;
    tokio::time::sleep_until(to.into()).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("a load task");
    }

    // Drain: no load; wait until every message is delivered, bounded.
    // Two API hours: what the statuses hide waits for a full sweep, which
    // at 100,000 chats is longer than any run.
    let drain_cap = scale.window * 2;
    let drain_start = Instant::now();
    while ledger.lock().unwrap().undelivered() > 0 && drain_start.elapsed() < drain_cap {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained_in = drain_start.elapsed();
    follower.abort();
    let requests = sandbox.requests();
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let waiting = std::mem::take(&mut *waiting.lock().unwrap());

    let in_period = |at: Instant| at >= from && at < to;
    let mut latencies = Vec::new();
    let mut undelivered_measured = 0;
    for (id, (_, written)) in &ledger.written {
        if !in_period(*written) {
            continue;
        }
        match ledger.delivered.get(id) {
            Some(at) => latencies.push(scale.api(at.saturating_duration_since(*written))),
            None => undelivered_measured += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let samples: Vec<usize> = waiting
        .samples
        .iter()
        .filter(|(at, _)| in_period(*at))
        .map(|(_, n)| *n)
        .collect();
    let (undelivered_read, undelivered_answered_first) = why_undelivered(&requests, &ledger);
    let row = Row {
        chats,
        delays: delays(&requests, &ledger, in_period, scale),
        undelivered_read,
        undelivered_answered_first,
        warm_up,
        per_window: counts(
            &requests,
            &ledger,
            &waiting.answered,
            from,
            to,
            windows,
            scale.window,
        ),
        latencies,
        undelivered_measured,
        undelivered: ledger.undelivered(),
        sweep_period: sweep_period(&requests, to, scale),
        waiting_avg: samples.iter().sum::<usize>() as f64 / samples.len().max(1) as f64,
        drained_in,
        follower_errors: ledger.follower_errors,
        responder_errors: waiting.errors.len(),
        run_time: started.elapsed(),
    };
    println!(
        "  done in {:.0} s real ({} buyer messages; drain {:.1} s real{})",
        row.run_time.as_secs_f64(),
        thousands(ledger.written.len() as f64),
        drained_in.as_secs_f64(),
        if row.undelivered > 0 {
            ", cut off at its bound"
        } else {
            ""
        }
    );
    if let Some(error) = waiting.errors.first() {
        println!(
            "  responder: {} failed send(s), first: {error}",
            waiting.errors.len()
        );
    }
    row
}

/// Reads the follower's events, noting when each buyer message first came;
/// restarts the stream after an error that passes (as the README's loop).
async fn follow(query: FollowQuery, ledger: Arc<Mutex<Ledger>>) {
    loop {
        let mut events = query.clone().stream();
        let error = loop {
            match events.try_next().await {
                Ok(Some(ChatEvent::Message { message, .. })) => {
                    let now = Instant::now();
                    let mut ledger = ledger.lock().unwrap();
                    ledger
                        .delivered
                        .entry(message.message_id.get())
                        .or_insert(now);
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(error) => break error,
            }
        };
        drop(events);
        ledger
            .lock()
            .unwrap()
            .follower_errors
            .push(error.to_string());
        match error.retry_after() {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return,
        }
    }
}

/// One buyer message per API second, in a random chat.
async fn buyers(
    sandbox: Arc<Sandbox>,
    ids: Arc<Vec<u64>>,
    scale: Scale,
    stop: Arc<AtomicBool>,
    waiting: Arc<Mutex<Waiting>>,
    ledger: Arc<Mutex<Ledger>>,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tick = tokio::time::interval(scale.api_second());
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let chat = ids[rng.usize(..ids.len())];
        // Taken before the write, so the follower cannot deliver it earlier.
        let at = Instant::now();
        let id = sandbox.customer_message(chat, "Is it in stock?").get();
        waiting.lock().unwrap().wrote(chat, at);
        ledger.lock().unwrap().written.insert(id, (chat, at));
    }
}

/// Once per API second, while at least `keep` chats wait, answers the
/// longest-waiting one through the SDK.
async fn responder(
    client: Client,
    business: u64,
    keep: usize,
    scale: Scale,
    stop: Arc<AtomicBool>,
    waiting: Arc<Mutex<Waiting>>,
) {
    let mut tick = tokio::time::interval(scale.api_second());
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let next = {
            let mut waiting = waiting.lock().unwrap();
            let count = waiting.since.len();
            waiting.samples.push((Instant::now(), count));
            if count >= keep.max(1) {
                waiting.take_longest()
            } else {
                None
            }
        };
        let Some((since, chat)) = next else { continue };
        let sent = client
            .chat(business, chat)
            .send_message("Thank you, we are on it.")
            .await;
        let mut waiting = waiting.lock().unwrap();
        match sent {
            Ok(()) => waiting.answered.push(Instant::now()),
            Err(error) => {
                waiting.errors.push(error.to_string());
                waiting.wrote(chat, since);
            }
        }
    }
}

/// Of the messages never delivered: how many had their chat's history read
/// after they were written (the follower saw them and said nothing), and
/// how many had their chat answered before any such read (it left the
/// waiting statuses: only a full sweep finds it).
fn why_undelivered(requests: &[RecordedRequest], ledger: &Ledger) -> (usize, usize) {
    let times = ChatTimes::new(requests);
    let first_after = |read: bool, chat: u64, at: Instant| times.first_after(read, chat, at);
    let (mut read, mut answered_first) = (0, 0);
    for (id, (chat, at)) in &ledger.written {
        if ledger.delivered.contains_key(id) {
            continue;
        }
        let next_read = first_after(true, *chat, *at);
        read += usize::from(next_read.is_some());
        answered_first += usize::from(
            first_after(false, *chat, *at).is_some_and(|sent| next_read.is_none_or(|r| sent < r)),
        );
    }
    (read, answered_first)
}

/// Per chat, when its history was read and when it was answered
/// (requests answered 200).
struct ChatTimes(HashMap<(bool, u64), Vec<Instant>>);

impl ChatTimes {
    fn new(requests: &[RecordedRequest]) -> Self {
        let mut times: HashMap<(bool, u64), Vec<Instant>> = HashMap::new();
        for r in requests.iter().filter(|r| ok(r) && r.method == "POST") {
            let read = r.path.ends_with("/chats/history");
            if (read || r.path.ends_with("/chats/message"))
                && let Some(chat) = r.query_param("chatId").and_then(|c| c.parse().ok())
            {
                times.entry((read, chat)).or_default().push(r.at);
            }
        }
        Self(times)
    }

    /// The first read (or answer) of `chat` after `at`.
    fn first_after(&self, read: bool, chat: u64, at: Instant) -> Option<Instant> {
        let times = self.0.get(&(read, chat))?;
        times.get(times.partition_point(|t| *t <= at)).copied()
    }
}

/// Where the time goes, for the messages written in the measured period
/// (API s, sorted): from the write to its chat's next history read (the
/// sweeps' part of the latency), and between the starts of waiting sweeps.
struct Delays {
    to_read: Vec<f64>,
    waiting_gaps: Vec<f64>,
    /// The longest time without a history read (a pause for the quota's
    /// reset shows here).
    longest_read_pause: f64,
}

fn delays(
    requests: &[RecordedRequest],
    ledger: &Ledger,
    in_period: impl Fn(Instant) -> bool,
    scale: Scale,
) -> Delays {
    let times = ChatTimes::new(requests);
    let mut to_read: Vec<f64> = ledger
        .written
        .values()
        .filter(|(_, at)| in_period(*at))
        .filter_map(|(chat, at)| {
            times
                .first_after(true, *chat, *at)
                .map(|r| scale.api(r - *at))
        })
        .collect();
    to_read.sort_by(f64::total_cmp);
    let starts: Vec<Instant> = requests
        .iter()
        .filter(|r| in_period(r.at) && ok(r))
        .filter(|r| listing(r).is_some_and(|l| l.fast && l.first_page))
        .map(|r| r.at)
        .collect();
    let mut waiting_gaps: Vec<f64> = starts.windows(2).map(|w| scale.api(w[1] - w[0])).collect();
    waiting_gaps.sort_by(f64::total_cmp);
    let reads: Vec<Instant> = requests
        .iter()
        .filter(|r| in_period(r.at) && r.method == "POST" && r.path.ends_with("/chats/history"))
        .map(|r| r.at)
        .collect();
    let longest_read_pause = reads
        .windows(2)
        .map(|w| scale.api(w[1] - w[0]))
        .fold(0.0, f64::max);
    Delays {
        to_read,
        waiting_gaps,
        longest_read_pause,
    }
}

/// A getChats request: whether it is filtered by `statuses` (a fast sweep)
/// and whether it starts a listing (no page token).
struct Listing {
    fast: bool,
    first_page: bool,
}

fn listing(request: &RecordedRequest) -> Option<Listing> {
    let is_get_chats = request.method == "POST"
        && request.path.starts_with("/v2/businesses/")
        && request.path.ends_with("/chats");
    is_get_chats.then(|| Listing {
        fast: request
            .body
            .as_ref()
            .and_then(|body| body.get("statuses"))
            .and_then(|statuses| statuses.as_array())
            .is_some_and(|statuses| !statuses.is_empty()),
        first_page: request.query_param("pageToken").is_none()
            && request.query_param("page_token").is_none(),
    })
}

fn ok(request: &RecordedRequest) -> bool {
    request.status == Some(200)
}

/// Where the first full sweep ends: at the first listing started (full or
/// fast) after the first full listing's last page (its ⌈N / limit⌉-th page
/// answered 200; the order is the sandbox's stable seeded one), so that the
/// history reads of that sweep count in it. `None`: not yet.
fn warm_up_end(requests: &[RecordedRequest], chats: usize) -> Option<Instant> {
    let mut pages_left: Option<usize> = None;
    for request in requests {
        let Some(listing) = listing(request) else {
            continue;
        };
        match pages_left {
            Some(0) if listing.first_page => return Some(request.at),
            Some(0) => {}
            None if !listing.fast && listing.first_page && ok(request) => {
                let limit = request
                    .query_param("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(10usize);
                pages_left = Some(chats.div_ceil(limit) - 1);
            }
            None => {}
            Some(left) if !listing.fast && ok(request) => pages_left = Some(left - 1),
            Some(_) => {}
        }
    }
    None
}

/// The follower's requests in [`from`, `to`), per window.
fn counts(
    requests: &[RecordedRequest],
    ledger: &Ledger,
    answered: &[Instant],
    from: Instant,
    to: Instant,
    windows: u32,
    window: Duration,
) -> Counts {
    let mut counts = Counts::default();
    let is = |r: &RecordedRequest, method: &str, tail: &str| {
        r.method == method && r.path.starts_with("/v2/businesses/") && r.path.ends_with(tail)
    };
    let chat_of = |r: &RecordedRequest| r.query_param("chatId").and_then(|c| c.parse().ok());
    // Every message's time per chat: the buyers' and the responder's.
    let mut messages: HashMap<u64, Vec<Instant>> = HashMap::new();
    for (chat, at) in ledger.written.values() {
        messages.entry(*chat).or_default().push(*at);
    }
    for r in requests
        .iter()
        .filter(|r| is(r, "POST", "/chats/message") && ok(r))
    {
        if let Some(chat) = chat_of(r) {
            messages.entry(chat).or_default().push(r.at);
        }
    }
    messages.values_mut().for_each(|times| times.sort());
    let mut last_read: HashMap<u64, Instant> = HashMap::new();
    for r in requests.iter().filter(|r| is(r, "POST", "/chats/history")) {
        let first_page =
            r.query_param("pageToken").is_none() && r.query_param("page_token").is_none();
        let Some(chat) = chat_of(r).filter(|_| first_page && ok(r)) else {
            continue;
        };
        let previous = last_read.insert(chat, r.at);
        if r.at >= from && r.at < to {
            let times = messages.get(&chat).map_or(&[][..], Vec::as_slice);
            let since = previous.map_or(0, |p| times.partition_point(|t| *t < p));
            if times.get(since).is_none_or(|t| *t >= r.at) {
                counts.reads_without_news += 1.0;
                let last_message = since.checked_sub(1).map(|i| times[i]);
                match (previous, last_message) {
                    (Some(p), Some(m)) if p.saturating_duration_since(m) < SAME_SECONDS => {
                        counts.rechecks += 1.0;
                    }
                    (None, _) => counts.other_reads_without_news.push(OtherRead::First),
                    (Some(p), m) => counts.other_reads_without_news.push(OtherRead::Again {
                        since_read: r.at - p,
                        since_message: m.map(|m| p - m),
                    }),
                }
            }
        }
    }
    for r in requests.iter().filter(|r| r.at >= from && r.at < to) {
        let follower = if let Some(listing) = listing(r) {
            counts.get_chats += 1.0;
            if listing.fast && listing.first_page && ok(r) {
                counts.fast_sweeps += 1.0;
            }
            true
        } else if is(r, "POST", "/chats/history") {
            counts.history += 1.0;
            true
        } else if is(r, "GET", "/chat") {
            counts.get_chat += 1.0;
            true
        } else {
            false
        };
        if follower && r.status == Some(420) {
            counts.rate_limited += 1.0;
        }
    }
    counts.answers = answered
        .iter()
        .filter(|at| **at >= from && **at < to)
        .count() as f64;
    let get_chats = |r: &RecordedRequest| listing(r).is_some();
    let history = |r: &RecordedRequest| is(r, "POST", "/chats/history");
    counts.get_chats_busiest_window = busiest_window(requests, get_chats, window, from, to);
    counts.history_busiest_window = busiest_window(requests, history, window, from, to);
    let w = f64::from(windows);
    for figure in [
        &mut counts.get_chats,
        &mut counts.fast_sweeps,
        &mut counts.history,
        &mut counts.get_chat,
        &mut counts.rate_limited,
        &mut counts.answers,
        &mut counts.reads_without_news,
        &mut counts.rechecks,
    ] {
        *figure /= w;
    }
    counts
}

/// The most requests of one kind (answered 200, so counted against the
/// quota) in one of the sandbox's quota windows that overlap [`from`,
/// `to`). The sandbox's windows are its own: one starts at the first
/// request, and anew at the first request once `window` has passed, so a
/// window here need not line up with the measured period; only the
/// follower sends these requests.
fn busiest_window(
    requests: &[RecordedRequest],
    kind: impl Fn(&RecordedRequest) -> bool,
    window: Duration,
    from: Instant,
    to: Instant,
) -> f64 {
    let mut windows: Vec<(Instant, usize)> = Vec::new();
    for r in requests.iter().filter(|r| kind(r) && ok(r)) {
        match windows.last_mut() {
            Some((start, count)) if r.at.duration_since(*start) < window => *count += 1,
            _ => windows.push((r.at, 1)),
        }
    }
    windows
        .iter()
        .filter(|(start, _)| *start < to && *start + window > from)
        .map(|(_, count)| *count)
        .max()
        .unwrap_or(0) as f64
}

/// The median interval between full-sweep starts (answered 200) before
/// `to`, in API seconds; `None` with fewer than two.
fn sweep_period(requests: &[RecordedRequest], to: Instant, scale: Scale) -> Option<f64> {
    let starts: Vec<Instant> = requests
        .iter()
        .filter(|r| r.at < to && ok(r))
        .filter(|r| listing(r).is_some_and(|l| !l.fast && l.first_page))
        .map(|r| r.at)
        .collect();
    let mut gaps: Vec<f64> = starts
        .windows(2)
        .map(|w| scale.api(w[1].duration_since(w[0])))
        .collect();
    gaps.sort_by(f64::total_cmp);
    (!gaps.is_empty()).then(|| gaps[gaps.len() / 2])
}

/// The `p` quantile (nearest rank) of the delivered latencies (sorted), the
/// undelivered ones counted as longer than any: `Err` says why there is none.
fn quantile(sorted: &[f64], undelivered: usize, p: f64) -> Result<f64, &'static str> {
    let n = sorted.len() + undelivered;
    if n == 0 {
        return Err("no msgs");
    }
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied().ok_or("undeliv.")
}

fn show(quantile: Result<f64, &'static str>) -> String {
    quantile.map_or_else(str::to_owned, thousands)
}

fn table(rows: &[Row], scale: Scale) {
    println!();
    println!(
        "API time = real time × {k}; per hour = per quota window ({w} s real). Latency: buyer write to ChatEvent::Message.",
        k = scale.k,
        w = scale.window.as_secs()
    );
    println!(
        "{:>7} | {:^44} | {:^17} | {:>10} | {:>11} | {:>8}",
        "", "per API hour (= per window)", "latency, API s", "full sweep", "undelivered", "warm-up"
    );
    println!(
        "{:>7} | {:>8} {:>11} {:>14} {:>8} | {:>8} {:>8} | {:>10} | {:>11} | {:>8}",
        "chats",
        "getChats",
        "fast sweeps",
        "getChatHistory",
        "getChat",
        "median",
        "p95",
        "API s",
        "(all msgs)",
        "API s"
    );
    for row in rows {
        let c = &row.per_window;
        println!(
            "{:>7} | {:>8} {:>11} {:>14} {:>8} | {:>8} {:>8} | {:>10} | {:>11} | {:>8}",
            thousands(row.chats as f64),
            thousands(c.get_chats),
            thousands(c.fast_sweeps),
            thousands(c.history),
            thousands(c.get_chat),
            show(quantile(&row.latencies, row.undelivered_measured, 0.5)),
            show(quantile(&row.latencies, row.undelivered_measured, 0.95)),
            row.sweep_period.map_or("> the run".to_owned(), thousands),
            thousands(row.undelivered as f64),
            row.warm_up
                .map_or("> 10 h".to_owned(), |w| thousands(scale.api(w))),
        );
    }
    println!(
        "(full sweep period \"> the run\": fewer than two full sweeps began, longer than the run; \
         \"undeliv.\": the quantile falls on a message never delivered)"
    );
    println!();
    for row in rows {
        let c = &row.per_window;
        println!(
            "{:>8} chats: {} measured messages; waiting chats avg {:.0}; answers/h {}; getChatHistory \
             with nothing new/h {} ({} rechecks of a second); busiest server window: getChats {}, \
             getChatHistory {} (the follower's share: half the quota); follower 420s/h {}; drain {:.1} s real; run {:.0} s real; follower \
             errors {}{}; responder errors {}; undelivered: {} with their chat's history read after \
             the write, {} with their chat answered before any read",
            thousands(row.chats as f64),
            thousands((row.latencies.len() + row.undelivered_measured) as f64),
            row.waiting_avg,
            thousands(c.answers),
            thousands(c.reads_without_news),
            thousands(c.rechecks),
            thousands(c.get_chats_busiest_window),
            thousands(c.history_busiest_window),
            thousands(c.rate_limited),
            row.drained_in.as_secs_f64(),
            row.run_time.as_secs_f64(),
            row.follower_errors.len(),
            row.follower_errors
                .first()
                .map_or(String::new(), |e| format!(" (first: {e})")),
            row.responder_errors,
            row.undelivered_read,
            row.undelivered_answered_first,
        );
        let d = &row.delays;
        let at = |sorted: &[f64], p: f64| show(quantile(sorted, 0, p));
        println!(
            "{:>8}         write to its chat's next read, API s: median {}, p95 {}; between waiting \
             sweeps, API s: median {}, p95 {}, longest {}; longest without a history read {} API s",
            "",
            at(&d.to_read, 0.5),
            at(&d.to_read, 0.95),
            at(&d.waiting_gaps, 0.5),
            at(&d.waiting_gaps, 0.95),
            at(&d.waiting_gaps, 1.0),
            thousands(d.longest_read_pause),
        );
        other_reads(&c.other_reads_without_news, scale);
    }
    println!();
    match rows.iter().find(|row| row.chats == TARGET_CHATS) {
        Some(row) => {
            let p95 = quantile(&row.latencies, row.undelivered_measured, 0.95);
            println!(
                "target at N = 10,000: latency p95 <= {TARGET_P95_API_SECS} API s: {} ({})",
                verdict(p95.is_ok_and(|p| p <= TARGET_P95_API_SECS)),
                show(p95)
            );
            println!(
                "target at N = 10,000: getChats <= {} per API hour: {} ({})",
                thousands(TARGET_GET_CHATS_PER_HOUR),
                verdict(row.per_window.get_chats <= TARGET_GET_CHATS_PER_HOUR),
                thousands(row.per_window.get_chats)
            );
        }
        None => println!("targets (judged at N = 10,000): not run"),
    }
}

/// The reads with nothing new that are no recheck of a second, in
/// numbers: which of the follower's rules they come from is not in the
/// request log, so the gaps show it.
fn other_reads(reads: &[OtherRead], scale: Scale) {
    let first = reads
        .iter()
        .filter(|r| matches!(r, OtherRead::First))
        .count();
    let mut since_read = Vec::new();
    let mut since_message = Vec::new();
    let mut never_written = 0;
    for read in reads {
        if let OtherRead::Again {
            since_read: r,
            since_message: m,
        } = read
        {
            since_read.push(scale.api(*r));
            match m {
                Some(m) => since_message.push(scale.api(*m)),
                None => never_written += 1,
            }
        }
    }
    since_read.sort_by(f64::total_cmp);
    since_message.sort_by(f64::total_cmp);
    let at = |sorted: &[f64], p: f64| show(quantile(sorted, 0, p));
    println!(
        "{:>8}         other reads with nothing new (the whole period): {} first reads of their \
         chat; {} again ({} in chats with no message before the previous read); since the \
         previous read, API s: median {}, p95 {}; from the chat's last message to the previous \
         read, API s: median {}, p95 {}",
        "",
        first,
        since_read.len(),
        never_written,
        at(&since_read, 0.5),
        at(&since_read, 0.95),
        at(&since_message, 0.5),
        at(&since_message, 0.95),
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < -0.5 {
        out.insert(0, '-');
    }
    out
}
