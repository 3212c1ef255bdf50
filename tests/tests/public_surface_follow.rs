//! A compile-only test of the surface the follower work added: code outside
//! the project is written against these forms (the README's among them).
//! Nothing here runs against a server; it must compile, and the one test
//! checks a few values.

use std::sync::Mutex;
use std::time::Duration;

use yandex_market_chats::follow::{ChatEvent, Checkpoint, FollowHints, MemoryCheckpoint};
use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, QuotaState, Release};
use yandex_market_chats::redis::RedisCheckpoint;
use yandex_market_chats::{BusinessId, Client, Error, MessagePage, Operation, Page};

/// A checkpoint of one's own: the trait as a store implements it.
#[derive(Default)]
struct Table {
    rows: Mutex<Vec<Vec<u8>>>,
}

impl Checkpoint for Table {
    async fn open(&self, _business_id: BusinessId) -> Result<Vec<Vec<u8>>, Error> {
        Ok(self.rows.lock().unwrap().clone())
    }
    async fn append(&self, record: Vec<u8>) -> Result<(), Error> {
        self.rows.lock().unwrap().push(record);
        Ok(())
    }
    async fn replace(&self, record: Vec<u8>) -> Result<(), Error> {
        *self.rows.lock().unwrap() = vec![record];
        Ok(())
    }
    // `holds` keeps its default.
    fn close(&self) {}
}

/// A limiter of one's own keeps compiling without `settle` (it has a
/// default), and may override it.
struct Counting;

impl Limiter for Counting {
    type Permit = ();
    fn configure(&self, _: &LimiterSettings) -> Result<(), Error> {
        Ok(())
    }
    async fn acquire(&self, _: Acquire) -> Result<(), Error> {
        Ok(())
    }
    fn release(&self, _: (), _: Release) {}
    async fn settle(&self, _: (), _: Release) {}
    async fn quota(&self, _: u64, _: Operation) -> Result<Option<QuotaState>, Error> {
        Ok(None)
    }
}

/// The restart loop a bot runs, as the README shows it.
#[allow(dead_code)]
async fn restart_loop(client: &Client) -> Result<(), Error> {
    use futures::TryStreamExt;
    let query = client.follow(42).checkpoint(Table::default());
    loop {
        let mut events = query.clone().stream();
        let error = loop {
            match events.try_next().await {
                Ok(Some(event)) => {
                    if let ChatEvent::StatusChanged {
                        chat,
                        previous,
                        change,
                        ..
                    } = &event
                    {
                        let _: (u64, &yandex_market_chats::ChatStatus, u64) =
                            (chat.chat_id.get(), previous, *change);
                    }
                }
                Ok(None) => return Ok(()),
                Err(error) => break error,
            }
        };
        drop(events);
        match error.retry_after() {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(error),
        }
    }
}

/// The replicas' surface (feature `redis`): no redis type in it.
#[allow(dead_code)]
fn replicas(client: &Client) -> Result<(), Error> {
    let checkpoint = RedisCheckpoint::new("redis://127.0.0.1:6379/", "bot-eu")?
        .lease(Duration::from_secs(10))
        .key_prefix("my-bot");
    let _stream = client.follow(42).checkpoint(checkpoint).stream();
    let _named = RedisCheckpoint::new("redis://127.0.0.1:6379/", String::from("bot"))?;
    Ok(())
}

/// The answer's `Date` on pages.
#[allow(dead_code)]
fn dates(page: &Page, messages: &MessagePage) {
    let _: Option<chrono::DateTime<chrono::Utc>> = page.date;
    let _: Option<chrono::DateTime<chrono::Utc>> = messages.date;
}

#[test]
fn the_forms_build_and_hold_their_values() {
    let client = Client::builder()
        .api_key("key")
        .user_agent("help-desk-bridge/2.1")
        .limiter(Counting)
        .build()
        .unwrap();
    let _ = client.follow(42).checkpoint(MemoryCheckpoint::new());
    let hints = FollowHints::for_business(42);
    assert!(hints.chat(10668u64));
    assert_eq!(FollowHints::CAPACITY, 10_000);
    let refused = Client::builder()
        .api_key("key")
        .user_agent("bad\nagent")
        .build()
        .unwrap_err();
    assert!(matches!(refused, Error::InvalidInput { .. }), "{refused:?}");
    assert!(
        RedisCheckpoint::new("redis://127.0.0.1/", "").is_err(),
        "a name is needed"
    );
}
