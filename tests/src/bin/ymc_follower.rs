//! A small program for the crash test: follows one business with a
//! `FileCheckpoint` and prints each event's `dedup_key` on its own line,
//! flushed, until killed.
//!
//! `ymc_follower BASE_URL KEY BUSINESS CHECKPOINT`

use std::io::Write;
use std::time::Duration;

use futures::TryStreamExt;
use yandex_market_chats::follow::FileCheckpoint;
use yandex_market_chats::{Client, Operation};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, key, business, checkpoint] = args.as_slice() else {
        panic!("usage: ymc_follower BASE_URL KEY BUSINESS CHECKPOINT");
    };
    let client = Client::builder()
        .api_key(key)
        .base_url(base)
        .operation_quota(Operation::GetChats, Some(10_000_000))
        .operation_quota(Operation::GetChatHistory, Some(10_000_000))
        .build()
        .expect("a client");
    let mut events = client
        .follow(business.parse::<u64>().expect("a business id"))
        .checkpoint(FileCheckpoint::new(checkpoint))
        .poll_interval(Duration::from_millis(20))
        .stream();
    let mut out = std::io::stdout().lock();
    while let Some(event) = events.try_next().await.expect("an event") {
        writeln!(out, "{}", event.dedup_key()).expect("stdout");
        out.flush().expect("stdout");
    }
}
