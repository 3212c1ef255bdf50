//! What the follower's test files share: a roomy sandbox and client (their
//! quotas never stretch the follower's pacing), and ways to take events.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use yandex_market_chats::follow::{ChatEvent, Checkpoint, FollowStream, MemoryCheckpoint};
use yandex_market_chats::{BusinessId, Client, Error, Operation, RetryPolicy};
use yandex_market_chats_sandbox::{Sandbox, SandboxConfig};

/// A sandbox whose own quotas do not stretch the follower's pacing.
pub fn roomy(chats: usize) -> SandboxConfig {
    SandboxConfig::default()
        .chats(chats)
        .hourly_quota(Some(10_000_000))
        .operation_quota(Operation::GetChatHistory, 10_000_000)
        .operation_quota(Operation::GetChat, 10_000_000)
}

/// A client whose own quotas do not stretch the follower's pacing.
pub fn client(sandbox: &Sandbox) -> Client {
    client_with(sandbox, RetryPolicy::default())
}

/// The same with its own retries: `RetryPolicy::disabled()` lets a fault
/// reach the follower as it is; `max_quota_wait(ZERO)` a spent quota, as
/// `RateLimited`.
pub fn client_with(sandbox: &Sandbox, retry: RetryPolicy) -> Client {
    sandbox
        .client_builder()
        .retry(retry)
        .operation_quota(Operation::GetChats, Some(10_000_000))
        .operation_quota(Operation::GetChatHistory, Some(10_000_000))
        .operation_quota(Operation::GetChat, Some(10_000_000))
        .build()
        .unwrap()
}

/// Polls the stream until it has been quiet for a moment: its first poll
/// takes the start point and runs the first cycle.
pub async fn prime(stream: &mut FollowStream) -> Vec<ChatEvent> {
    let mut events = Vec::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(300), stream.try_next()).await {
        match next.unwrap() {
            Some(event) => events.push(event),
            None => break,
        }
    }
    events
}

/// Takes events until `done` says so; fails after `limit`, or when the
/// stream ends or fails.
pub async fn take_until(
    stream: &mut FollowStream,
    limit: Duration,
    mut done: impl FnMut(&[ChatEvent]) -> bool,
) -> Vec<ChatEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !done(&events) {
        match tokio::time::timeout_at(deadline, stream.try_next()).await {
            Ok(Ok(Some(event))) => events.push(event),
            Ok(Ok(None)) => panic!("the stream ended"),
            Ok(Err(error)) => panic!("the stream failed: {error}"),
            Err(_) => panic!(
                "timed out after {limit:?} with {} events: {events:#?}",
                events.len()
            ),
        }
    }
    events
}

/// `(chat, message)` of every message event, in order.
pub fn messages(events: &[ChatEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message {
                chat_id, message, ..
            } => Some((chat_id.get(), message.message_id.get())),
            _ => None,
        })
        .collect()
}

/// Polls the stream until `done` says so (checked between polls of at most
/// 20 ms); fails after `limit` saying what did not happen, or when the
/// stream ends or fails. The events taken meanwhile.
pub async fn poll_until(
    stream: &mut FollowStream,
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> Vec<ChatEvent> {
    let mut events = Vec::new();
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        match tokio::time::timeout(Duration::from_millis(20), stream.try_next()).await {
            Ok(Ok(Some(event))) => events.push(event),
            Ok(Ok(None)) => panic!("the stream ended"),
            Ok(Err(error)) => panic!("the stream failed: {error}"),
            Err(_) => {}
        }
    }
    events
}

/// A checkpoint in memory that notes when each write (append or replace)
/// happened. Clones share it, as [`MemoryCheckpoint`]'s do.
#[derive(Clone, Default)]
pub struct CountingCheckpoint {
    inner: MemoryCheckpoint,
    writes: Arc<Mutex<Vec<Instant>>>,
}

impl CountingCheckpoint {
    /// How many writes happened after `at`.
    pub fn writes_after(&self, at: Instant) -> usize {
        self.writes
            .lock()
            .unwrap()
            .iter()
            .filter(|w| **w > at)
            .count()
    }

    fn wrote(&self) {
        self.writes.lock().unwrap().push(Instant::now());
    }
}

impl Checkpoint for CountingCheckpoint {
    async fn open(&self, business_id: BusinessId) -> Result<Vec<Vec<u8>>, Error> {
        self.inner.open(business_id).await
    }

    async fn append(&self, record: Vec<u8>) -> Result<(), Error> {
        self.wrote();
        self.inner.append(record).await
    }

    async fn replace(&self, record: Vec<u8>) -> Result<(), Error> {
        self.wrote();
        self.inner.replace(record).await
    }

    fn close(&self) {
        self.inner.close();
    }
}
