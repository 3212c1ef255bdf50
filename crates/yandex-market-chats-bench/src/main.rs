//! `cargo xtask bench [--quick]`: what the SDK costs on top of the HTTP call.
//!
//! Streams the same chats from a fast loopback server three ways, interleaved
//! over several rounds: (1) a hand-written reqwest + serde_json baseline,
//! (2) the generated client in a loop, (3) the wrapper's `.stream()` with its
//! default configuration. Prints median times, pages per second, the ratios
//! and the time to the first chat; the same for a chat's history (the
//! generated client against `.history().stream()`); then the allocation
//! high-water mark while streaming a small and a large listing through
//! `.stream()`.
//!
//! `--quick` runs a small version in seconds (CI keeps the benchmark working
//! with it; it asserts nothing about time).
//!
//! `follow [--quick] [--chats N]... [--windows W]` measures something else:
//! the follower's latency and quota use at scale, against the sandbox (see
//! `follow.rs`).

mod alloc;
mod baseline;
mod follow;
mod redis_server;
mod server;

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use yandex_market_chats::Client;
use yandex_market_chats_api as api;
use yandex_market_chats_api::request_context::RequestContext;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const TARGET_RATIO: f64 = 1.02;
const TARGET_MEMORY_GROWTH: usize = 2 * 1024 * 1024;

struct Plan {
    chats: usize,
    messages: usize,
    rounds: usize,
    memory_small: usize,
    memory_large: usize,
}

#[derive(Clone, Copy)]
struct Run {
    total: Duration,
    first: Duration,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(("follow", rest)) = args.split_first().map(|(a, rest)| (a.as_str(), rest)) {
        match follow::Options::parse(rest) {
            Ok(options) => return follow::run(options).await,
            Err(message) => {
                eprintln!("error: {message}\n{}", follow::USAGE);
                std::process::exit(2);
            }
        }
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let memory_only = std::env::args().any(|a| a == "--memory-only");
    // Only for the test that proves a miss fails the run.
    let target = std::env::var("YMC_BENCH_MEMORY_TARGET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TARGET_MEMORY_GROWTH);
    let plan = if quick {
        Plan {
            chats: 400,
            messages: 500,
            rounds: 1,
            memory_small: 100,
            memory_large: 1_000,
        }
    } else {
        Plan {
            chats: 10_000,
            messages: 20_000,
            rounds: 9,
            memory_small: 1_000,
            memory_large: 100_000,
        }
    };
    let pages = plan.chats.div_ceil(server::PAGE);
    println!(
        "yandex-market-chats benchmark{}: {} chats = {pages} pages of {} per run, {} interleaved round(s), {} build",
        if quick { " (--quick)" } else { "" },
        plan.chats,
        server::PAGE,
        plan.rounds,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );

    // --memory-only: the deterministic part alone (its exit code is tested).
    if !memory_only {
        let base = server::start(plan.chats, plan.messages).await;
        // Each method keeps one client for all rounds, built outside the timing,
        // and runs once to warm up, so that connection set-up is not measured.
        // (The wrapper's default hourly quota, 5,000 requests, covers all rounds.)
        let http = reqwest::Client::new();
        let generated = generated_client(&base);
        let wrapper = wrapper_client(&base);
        run_baseline(&http, &base, plan.chats).await;
        run_generated(&generated, plan.chats).await;
        run_wrapper(&wrapper, plan.chats).await;

        let mut results: [Vec<Run>; 3] = Default::default();
        for round in 0..plan.rounds {
            // Rotate the order so that no method always runs first.
            for k in 0..3 {
                let which = (round + k) % 3;
                let run = match which {
                    0 => run_baseline(&http, &base, plan.chats).await,
                    1 => run_generated(&generated, plan.chats).await,
                    _ => run_wrapper(&wrapper, plan.chats).await,
                };
                results[which].push(run);
            }
        }
        let [b, g, w] = results.map(|runs| median(&runs));
        println!();
        println!(
            "{:<34} {:>12} {:>12} {:>16}",
            "method", "median", "pages/s", "time to 1st chat"
        );
        for (name, run) in [
            ("(1) baseline: reqwest + serde_json", b),
            ("(2) generated client, in a loop", g),
            ("(3) wrapper .stream(), defaults", w),
        ] {
            println!(
                "{name:<34} {:>9.1} ms {:>12.0} {:>13.2} ms",
                ms(run.total),
                pages as f64 / run.total.as_secs_f64(),
                ms(run.first)
            );
        }
        let ratio = |a: Run, b: Run| a.total.as_secs_f64() / b.total.as_secs_f64();
        println!();
        println!("ratio (2)/(1) generated / baseline: {:.3}", ratio(g, b));
        println!(
            "ratio (3)/(1) wrapper / baseline:   {:.3}   (target <= {TARGET_RATIO}: {})",
            ratio(w, b),
            verdict(ratio(w, b) <= TARGET_RATIO)
        );
        println!("ratio (3)/(2) wrapper / generated:  {:.3}", ratio(w, g));

        history(&generated, &wrapper, &plan).await;
        shared_limits(&base, &plan).await;
        // The follower's checkpoint: a file and Redis, per event.
        follow::saves(quick).await;
    }

    println!();
    let small = memory(plan.memory_small).await;
    let large = memory(plan.memory_large).await;
    println!("allocation high-water mark while streaming through .stream() (client side):");
    println!(
        "  {:>7} chats: {:>10} bytes ({:.2} MiB)",
        plan.memory_small,
        small,
        mib(small)
    );
    println!(
        "  {:>7} chats: {:>10} bytes ({:.2} MiB)",
        plan.memory_large,
        large,
        mib(large)
    );
    let growth = large.saturating_sub(small);
    println!(
        "  growth: {growth} bytes ({:.2} MiB)   (target <= 2 MiB: {})",
        mib(growth),
        verdict(growth <= target)
    );
    if quick {
        println!(
            "\n(--quick: figures from a debug build and tiny inputs; they are not the targets' measure)"
        );
    }
    // Allocation counts are deterministic, unlike times: a missed memory
    // target fails the run (and CI, which runs --quick).
    if growth > target {
        eprintln!("error: the memory target is missed: growth {growth} bytes > {target}");
        std::process::exit(1);
    }
}

/// What the Redis limiter adds per request on loopback: `.stream()` with
/// the default limiter against the same with a `RedisLimiter`, interleaved.
async fn shared_limits(base: &str, plan: &Plan) {
    println!();
    let Some(redis) = redis_server::RedisServer::start() else {
        println!("shared limits: skipped (no redis-server on PATH and no YMC_REDIS_URL)");
        return;
    };
    let limiter = yandex_market_chats::redis::RedisLimiter::new(&redis.url)
        .expect("a valid Redis URL")
        .key_prefix(format!("ymc-bench-{}", std::process::id()));
    // Both with a quota the rounds cannot spend (the default 5,000 an hour
    // would run out over the whole benchmark).
    let builder = || {
        Client::builder()
            .api_key("bench-key")
            .base_url(base)
            .operation_quota(yandex_market_chats::Operation::GetChats, Some(10_000_000))
    };
    let local = builder().build().expect("a valid client");
    let shared = builder().limiter(limiter).build().expect("a valid client");
    run_wrapper(&local, plan.chats).await;
    run_wrapper(&shared, plan.chats).await;
    let mut runs: [Vec<Run>; 2] = Default::default();
    for round in 0..plan.rounds {
        for k in 0..2 {
            let which = (round + k) % 2;
            let client = if which == 0 { &local } else { &shared };
            runs[which].push(run_wrapper(client, plan.chats).await);
        }
    }
    let [local, redis_run] = runs.map(|runs| median(&runs));
    let pages = plan.chats.div_ceil(server::PAGE) as f64;
    println!(
        "shared limits: {} pages through a RedisLimiter on loopback",
        pages
    );
    println!(
        "(3) wrapper, in-process limiter       {:>9.1} ms",
        ms(local.total)
    );
    println!(
        "(4) wrapper, RedisLimiter             {:>9.1} ms",
        ms(redis_run.total)
    );
    println!(
        "Redis limiter overhead per request:   {:>9.1} us (two round trips: acquire, then release before the call returns)",
        (redis_run.total.as_secs_f64() - local.total.as_secs_f64()) / pages * 1e6
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn median(runs: &[Run]) -> Run {
    let mut by_total = runs.to_vec();
    by_total.sort_by_key(|r| r.total);
    let mut by_first: Vec<Duration> = runs.iter().map(|r| r.first).collect();
    by_first.sort();
    Run {
        total: by_total[by_total.len() / 2].total,
        first: by_first[by_first.len() / 2],
    }
}

fn check(count: usize, want: usize, who: &str) {
    assert_eq!(
        count, want,
        "{who} listed {count} chats, the server holds {want}"
    );
}

async fn run_baseline(http: &reqwest::Client, base: &str, chats: usize) -> Run {
    let started = Instant::now();
    let mut first = None;
    let count = baseline::list(http, base, |chat| {
        std::hint::black_box(chat.chat_id);
        first.get_or_insert_with(|| started.elapsed());
    })
    .await;
    check(count, chats, "the baseline");
    Run {
        total: started.elapsed(),
        first: first.unwrap_or_default(),
    }
}

fn generated_client(base: &str) -> api::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "api-key",
        reqwest::header::HeaderValue::from_static("bench-key"),
    );
    api::Client::new_with_client(
        base,
        reqwest::Client::new(),
        RequestContext::new(std::sync::Arc::new(headers)),
    )
}

async fn run_generated(client: &api::Client, chats: usize) -> Run {
    let started = Instant::now();
    let mut first = None;
    let mut token: Option<String> = None;
    let mut count = 0;
    loop {
        let mut call = client
            .get_chats()
            .business_id(1u64)
            .limit(20u32)
            .body(api::types::GetChatsRequest::default());
        if let Some(token) = token.take() {
            call = call.page_token(token);
        }
        let result = call
            .send()
            .await
            .expect("a page")
            .into_inner()
            .result
            .expect("a result");
        for chat in &result.chats {
            std::hint::black_box(chat.chat_id);
            first.get_or_insert_with(|| started.elapsed());
        }
        count += result.chats.len();
        token = result
            .paging
            .and_then(|p| p.next_page_token)
            .filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    check(count, chats, "the generated client");
    Run {
        total: started.elapsed(),
        first: first.unwrap_or_default(),
    }
}

fn wrapper_client(base: &str) -> Client {
    Client::builder()
        .api_key("bench-key")
        .base_url(base)
        .build()
        .expect("a valid client")
}

async fn run_wrapper(client: &Client, chats: usize) -> Run {
    let started = Instant::now();
    let mut first = None;
    let mut stream = client.chats(1).stream();
    let mut count = 0;
    while let Some(chat) = stream.try_next().await.expect("a chat") {
        std::hint::black_box(chat.chat_id);
        first.get_or_insert_with(|| started.elapsed());
        count += 1;
    }
    check(count, chats, "the wrapper");
    Run {
        total: started.elapsed(),
        first: first.unwrap_or_default(),
    }
}

/// Bytes allocated on top of what was live before, at the worst moment,
/// while `.stream()` lists `chats` chats. The server's pages are built first.
async fn memory(chats: usize) -> usize {
    let base = server::start(chats, 0).await;
    let client = wrapper_client(&base);
    // Warm the connection pool, so both sizes start from the same state
    // (another business: the measured listing may use the whole hourly quota).
    client.chats(2).page(None).await.expect("a page");
    let before = alloc::reset_peak();
    let mut stream = client.chats(1).stream();
    let mut count = 0;
    while let Some(chat) = stream.try_next().await.expect("a chat") {
        std::hint::black_box(&chat);
        count += 1;
    }
    check(count, chats, "the wrapper");
    drop(stream);
    alloc::peak().saturating_sub(before)
}

/// The history stream: the generated client in a loop against the wrapper's
/// `.history().stream()`, pages of 100 messages.
async fn history(generated: &api::Client, wrapper: &Client, plan: &Plan) {
    let pages = plan.messages.div_ceil(server::HISTORY_PAGE);
    let mut runs: [Vec<Run>; 2] = Default::default();
    for round in 0..=plan.rounds {
        for k in 0..2 {
            let which = (round + k) % 2;
            let run = if which == 0 {
                history_generated(generated, plan.messages).await
            } else {
                history_wrapper(wrapper, plan.messages).await
            };
            // Round 0 warms up.
            if round > 0 {
                runs[which].push(run);
            }
        }
    }
    let [g, w] = runs.map(|r| median(&r));
    println!();
    println!(
        "history: {} messages = {pages} pages of {}",
        plan.messages,
        server::HISTORY_PAGE
    );
    for (name, run) in [
        ("(2) generated client, in a loop", g),
        ("(3) wrapper .history().stream()", w),
    ] {
        println!(
            "{name:<34} {:>9.1} ms {:>12.0} {:>13.2} ms",
            ms(run.total),
            pages as f64 / run.total.as_secs_f64(),
            ms(run.first)
        );
    }
    println!(
        "ratio (3)/(2) wrapper / generated:  {:.3}",
        w.total.as_secs_f64() / g.total.as_secs_f64()
    );
}

async fn history_generated(client: &api::Client, messages: usize) -> Run {
    let started = Instant::now();
    let mut first = None;
    let mut token: Option<String> = None;
    let mut count = 0;
    loop {
        let mut call = client
            .get_chat_history()
            .business_id(1u64)
            .chat_id(1u64)
            .limit(100u32)
            .body(api::types::GetChatHistoryRequest::default());
        if let Some(token) = token.take() {
            call = call.page_token(token);
        }
        let result = call
            .send()
            .await
            .expect("a page")
            .into_inner()
            .result
            .expect("a result");
        for message in &result.messages {
            std::hint::black_box(message.message_id);
            first.get_or_insert_with(|| started.elapsed());
        }
        count += result.messages.len();
        token = result
            .paging
            .and_then(|p| p.next_page_token)
            .filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    check(count, messages, "the generated client");
    Run {
        total: started.elapsed(),
        first: first.unwrap_or_default(),
    }
}

async fn history_wrapper(client: &Client, messages: usize) -> Run {
    let started = Instant::now();
    let mut first = None;
    let mut stream = client
        .chat(1, 1)
        .history()
        .page_size(yandex_market_chats::HistoryPageSize::MAX)
        .stream();
    let mut count = 0;
    while let Some(message) = stream.try_next().await.expect("a message") {
        std::hint::black_box(message.message_id);
        first.get_or_insert_with(|| started.elapsed());
        count += 1;
    }
    check(count, messages, "the wrapper");
    Run {
        total: started.elapsed(),
        first: first.unwrap_or_default(),
    }
}
