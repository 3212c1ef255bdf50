//! A small program for the multi-process tests: lists one business's chats
//! with several concurrent streams through one `Client`, and prints what it
//! got as one JSON line: `{"listed": [n, ...], "errors": ["...", ...]}`.
//! Exits 0 when every stream finished, 1 otherwise.
//!
//! `--limiter redis --redis-url URL` shares the limits through Redis;
//! `--limiter in-process` keeps them in the process.

use std::process::ExitCode;
use std::time::Duration;

use futures::TryStreamExt;
use yandex_market_chats::redis::RedisLimiter;
use yandex_market_chats::{Client, Operation, PageSize, RetryPolicy};

#[derive(Default)]
struct Args {
    base_url: String,
    key: String,
    business: u64,
    streams: usize,
    redis_url: Option<String>,
    prefix: Option<String>,
    attempt_timeout: Option<Duration>,
    lease: Option<Duration>,
    quota: Option<u32>,
    max_quota_wait: Option<Duration>,
    max_in_flight: Option<usize>,
    page_size: Option<u32>,
}

fn parse() -> Args {
    let mut args = Args {
        streams: 3,
        business: 1,
        ..Args::default()
    };
    let mut raw = std::env::args().skip(1);
    let ms = |v: String| Duration::from_millis(v.parse().expect("milliseconds"));
    while let Some(flag) = raw.next() {
        let value = raw.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base-url" => args.base_url = value,
            "--key" => args.key = value,
            "--business" => args.business = value.parse().expect("a business id"),
            "--streams" => args.streams = value.parse().expect("a number of streams"),
            "--redis-url" => args.redis_url = Some(value),
            "--prefix" => args.prefix = Some(value),
            "--attempt-timeout-ms" => args.attempt_timeout = Some(ms(value)),
            "--lease-ms" => args.lease = Some(ms(value)),
            "--quota" => args.quota = Some(value.parse().expect("a quota")),
            "--max-quota-wait-ms" => args.max_quota_wait = Some(ms(value)),
            "--max-in-flight" => args.max_in_flight = Some(value.parse().expect("a count")),
            "--page-size" => args.page_size = Some(value.parse().expect("a page size")),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse();
    let mut builder = Client::builder()
        .api_key(&args.key)
        .base_url(&args.base_url)
        .total_timeout(Duration::from_secs(120));
    if let Some(timeout) = args.attempt_timeout {
        builder = builder.attempt_timeout(timeout);
    }
    if let Some(quota) = args.quota {
        builder = builder.operation_quota(Operation::GetChats, Some(quota));
    }
    if let Some(wait) = args.max_quota_wait {
        builder = builder.retry(RetryPolicy::default().max_quota_wait(wait));
    }
    if let Some(n) = args.max_in_flight {
        builder = builder.max_in_flight_per_business(n);
    }
    if let Some(url) = &args.redis_url {
        let mut limiter = RedisLimiter::new(url).expect("a valid Redis URL");
        if let Some(prefix) = &args.prefix {
            limiter = limiter.key_prefix(prefix);
        }
        if let Some(lease) = args.lease {
            limiter = limiter.lease(lease);
        }
        builder = builder.limiter(limiter);
    }
    let client = builder.build().expect("a client");
    let page_size = PageSize::new(args.page_size.unwrap_or(20)).expect("a page size of 1..=20");
    let streams = (0..args.streams).map(|_| {
        let client = client.clone();
        let business = args.business;
        tokio::spawn(async move {
            let chats: Vec<_> = client
                .chats(business)
                .page_size(page_size)
                .stream()
                .try_collect()
                .await?;
            Ok::<usize, yandex_market_chats::Error>(chats.len())
        })
    });
    let mut listed = Vec::new();
    let mut errors = Vec::new();
    for stream in streams.collect::<Vec<_>>() {
        match stream.await.expect("the stream's task") {
            Ok(n) => listed.push(n),
            Err(error) => errors.push(error.to_string()),
        }
    }
    println!(
        "{}",
        serde_json::json!({ "listed": listed, "errors": errors })
    );
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
