//! Follow a business's chats: one stream of typed events ("a buyer wrote in
//! chat 10668", "a new chat about order 51234567", "the chat went to
//! arbitration") from polling, sped up by push notifications when you have
//! them, deduplicated, surviving restarts.
//!
//! ```no_run
//! # async fn run(client: yandex_market_chats::Client, business_id: u64) -> Result<(), yandex_market_chats::Error> {
//! use std::time::Duration;
//!
//! use futures::TryStreamExt;
//! use yandex_market_chats::follow::{ChatEvent, FileCheckpoint};
//!
//! let mut events = client
//!     .follow(business_id)                            // FollowQuery
//!     .checkpoint(FileCheckpoint::new("chats.state")) // default: in memory
//!     .poll_interval(Duration::from_secs(30))         // a floor; the quota may stretch it
//!     .stream();                                      // Send + Unpin + 'static
//! while let Some(event) = events.try_next().await? {
//!     match event {
//!         ChatEvent::Message { chat_id, message, .. } => {
//!             println!("{chat_id}: {}", message.message.unwrap_or_default());
//!         }
//!         ChatEvent::NewChat { chat, .. } => println!("new chat {}", chat.chat_id),
//!         ChatEvent::StatusChanged { chat, previous, .. } => {
//!             println!("{}: {previous} -> {}", chat.chat_id, chat.status);
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! **How it works.** Each cycle lists every chat, judges each chat once
//! against the checkpoint (`updatedAt`, status), and reads the history of
//! the chats that changed from the last message it saw (100 messages a
//! page). Messages of one chat come in order, each once (by message id).
//! Filters ([`FollowQuery::statuses`] and the others) choose which events
//! you get, never what the follower reads. A [`FollowHints`] handle (fed by
//! your notification endpoint, or by `notifications::axum` with the `axum`
//! feature) makes the follower read a hinted chat at once instead of at the
//! next cycle; polling stays the truth, so a lost notification costs
//! latency, never an event.
//!
//! **Time is the server's.** The start point and every comparison with
//! `createdAt`/`updatedAt` use the server's clock, from its answers' `Date`
//! header: this host's clock may be minutes off.
//!
//! **Where it starts.** By default, "from now": the server's time when the
//! stream is first polled, saved in the checkpoint before any event (a
//! message written up to 2 s plus the first request's round trip earlier may
//! be delivered too). After a restart a chat the checkpoint has no record of
//! is judged against that saved start. [`FollowQuery::from_beginning`]
//! replays every existing message.
//!
//! **Delivery is at least once.** The state of every event you have taken
//! is saved before the stream hands out the next one or waits (no batching
//! on timers). After a crash or a dropped stream, what comes again is at
//! most the last event taken plus those not taken, with the same
//! [`ChatEvent::dedup_key`]. One stream per checkpoint at a time.
//!
//! **What it costs.** A cycle costs one getChats request per 20 chats, plus
//! one getChatHistory request per changed chat (per 100 new messages). Every
//! request waits for the follower's share of its quota
//! ([`FollowQuery::quota_share`], half by default, so the rest of the
//! program keeps the other half), spread over what is left of the window
//! the server states; when the share is spent it waits for the reset (and
//! a restarted follower waits too). It goes through the client's limiter,
//! so with a shared limiter the share holds across processes. With 1,000
//! chats (50 pages) and getChats' 5,000 per hour, a cycle every 72 s at most.

mod checkpoint;
mod clock;
mod cost;
mod cycle;
mod file_store;
mod hints;
mod judge;
#[cfg(test)]
mod model_tests;
mod pacing;
mod state;
mod stream;

use std::time::Duration;

pub use checkpoint::{Checkpoint, FileCheckpoint, MemoryCheckpoint};
#[doc(hidden)]
pub use cost::{SaveCost, measure_saves, measure_saves_in};
pub use hints::FollowHints;
pub use stream::FollowStream;

use crate::{BusinessId, Chat, ChatContextType, ChatId, ChatMessage, ChatStatus, ChatType, Client};
use checkpoint::SharedCheckpoint;

/// Something that happened in a followed business's chats.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ChatEvent {
    /// A new message (by default only the buyer's, Market's and support's:
    /// see [`FollowQuery::own_messages`]). Messages of one chat come in
    /// order.
    #[non_exhaustive]
    Message {
        /// The chat.
        chat_id: ChatId,
        /// The message, as the history gives it.
        message: ChatMessage,
    },
    /// A chat the follower had not seen (created after the start point, or
    /// any chat with [`FollowQuery::from_beginning`]).
    #[non_exhaustive]
    NewChat {
        /// The chat as listed.
        chat: Chat,
    },
    /// A chat's status changed (e.g. to `WAITING_FOR_ARBITER`).
    #[non_exhaustive]
    StatusChanged {
        /// The chat, with its new status.
        chat: Chat,
        /// The status before.
        previous: ChatStatus,
        /// A number that grows with each change of this chat's status the
        /// follower sees: two changes to the same status, say into
        /// arbitration twice, differ here and in their dedup keys; the same
        /// change delivered again keeps it.
        change: u64,
    },
    /// A chat is gone (its history, or its getChat when hinted, answers 404):
    /// it is no longer followed.
    #[non_exhaustive]
    ChatGone {
        /// The chat.
        chat_id: ChatId,
    },
}

impl ChatEvent {
    /// A key naming the event, the same every time the event is delivered
    /// (after a restart too): skip one you have already handled.
    pub fn dedup_key(&self) -> String {
        match self {
            Self::Message { chat_id, message } => {
                format!("message:{chat_id}:{}", message.message_id)
            }
            Self::NewChat { chat } => format!("chat:{}", chat.chat_id),
            Self::StatusChanged {
                chat,
                previous,
                change,
            } => format!(
                "status:{}:{change}:{previous}:{}",
                chat.chat_id, chat.status
            ),
            Self::ChatGone { chat_id } => format!("gone:{chat_id}"),
        }
    }

    /// The chat the event is about.
    pub fn chat_id(&self) -> ChatId {
        match self {
            Self::Message { chat_id, .. } | Self::ChatGone { chat_id } => *chat_id,
            Self::NewChat { chat } | Self::StatusChanged { chat, .. } => chat.chat_id,
        }
    }
}

/// A follower of one business's chats, from [`Client::follow`]. Nothing is
/// sent until the stream is polled.
///
/// Streams of one query (and its clones) share its checkpoint, one at a
/// time: while a stream lives, another fails with
/// [`Error::Checkpoint`](crate::Error::Checkpoint); once it is dropped, a new
/// stream continues where it stopped.
#[derive(Clone)]
#[must_use = "a follow query does nothing until you call .stream()"]
pub struct FollowQuery {
    client: Client,
    business_id: BusinessId,
    options: Options,
    checkpoint: SharedCheckpoint,
}

#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub statuses: Vec<ChatStatus>,
    pub types: Vec<ChatType>,
    pub context_types: Vec<ChatContextType>,
    pub from_beginning: bool,
    pub own_messages: bool,
    pub poll_interval: Duration,
    pub quota_share: f64,
    pub hints: Option<FollowHints>,
}

impl std::fmt::Debug for FollowQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowQuery")
            .field("business_id", &self.business_id)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Follows one business's chats: see [`follow`](crate::follow).
    pub fn follow(&self, business_id: impl Into<BusinessId>) -> FollowQuery {
        FollowQuery {
            client: self.clone(),
            business_id: business_id.into(),
            options: Options {
                statuses: Vec::new(),
                types: Vec::new(),
                context_types: Vec::new(),
                from_beginning: false,
                own_messages: false,
                poll_interval: Duration::from_secs(30),
                quota_share: 0.5,
                hints: None,
            },
            checkpoint: std::sync::Arc::new(MemoryCheckpoint::new()),
        }
    }
}

impl FollowQuery {
    /// Where the follower keeps its place; default: in memory.
    pub fn checkpoint(mut self, checkpoint: impl Checkpoint) -> Self {
        self.checkpoint = std::sync::Arc::new(checkpoint);
        self
    }

    /// The shortest time between two polling cycles; default 30 s. The quota
    /// share may stretch it.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.options.poll_interval = interval;
        self
    }

    /// Only events about chats in these statuses. Filters choose events,
    /// never what the follower reads: a buyer's message is judged by the
    /// status it put its chat in (`WAITING_FOR_PARTNER`, or `NEW` in a chat
    /// nobody answered yet), so it is delivered even when the seller
    /// answered from the cabinet before the follower read it; other events
    /// by the chat's status when read.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = ChatStatus>) -> Self {
        self.options.statuses = statuses.into_iter().collect();
        self
    }

    /// Only events about chats of these types.
    pub fn types(mut self, types: impl IntoIterator<Item = ChatType>) -> Self {
        self.options.types = types.into_iter().collect();
        self
    }

    /// Only events about chats with these context types.
    pub fn context_types(mut self, types: impl IntoIterator<Item = ChatContextType>) -> Self {
        self.options.context_types = types.into_iter().collect();
        self
    }

    /// Replays every existing chat and message on a fresh start, instead of
    /// only what happens from now on.
    pub fn from_beginning(mut self) -> Self {
        self.options.from_beginning = true;
        self
    }

    /// Whether the seller's own messages (sender `PARTNER`) are events too;
    /// default `false`.
    pub fn own_messages(mut self, yes: bool) -> Self {
        self.options.own_messages = yes;
        self
    }

    /// The share of each quota the follower spends (getChats,
    /// getChatHistory, and getChat for hints), from 0.01 to 1.0; default
    /// 0.5, so the rest of the program keeps the other half. Anything else
    /// is refused when the stream starts.
    pub fn quota_share(mut self, share: f64) -> Self {
        self.options.quota_share = share;
        self
    }

    /// Chats to read at once, as push notifications name them (see
    /// [`FollowHints`]). The handle is bound to this follower's business:
    /// notifications of other businesses are ignored.
    pub fn hints(mut self, hints: FollowHints) -> Self {
        self.options.hints = Some(hints);
        self
    }

    /// The events, lazily: nothing is sent before the first poll. `Send +
    /// Unpin + 'static`; dropping it stops following and frees the
    /// checkpoint for the next stream (the state of the events taken is
    /// saved; the last one taken may come again).
    pub fn stream(self) -> FollowStream {
        let problem = if !(0.01..=1.0).contains(&self.options.quota_share) {
            Some(crate::Error::invalid_input(format!(
                "quota_share must be from 0.01 to 1.0, got {}",
                self.options.quota_share
            )))
        } else if self.business_id.get() == 0 {
            Some(crate::Error::invalid_input(
                "business id must be at least 1, got 0",
            ))
        } else {
            self.options
                .hints
                .as_ref()
                .and_then(|hints| hints.bind(self.business_id.get()).err())
        };
        let follower = cycle::Follower::new(
            self.client,
            self.business_id,
            self.options,
            SharedCheckpoint::clone(&self.checkpoint),
        );
        FollowStream::new(follower, self.checkpoint, problem)
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn chat(status: &str) -> Chat {
        serde_json::from_value(serde_json::json!({
            "chatId": 41, "type": "CHAT", "status": status,
            "createdAt": "2026-01-01T10:00:00+03:00", "updatedAt": "2026-01-01T10:00:00+03:00",
            "context": {"type": "DIRECT"}
        }))
        .unwrap()
    }

    #[test]
    fn each_event_names_its_chat_and_has_its_own_key() {
        let message: ChatMessage = serde_json::from_value(serde_json::json!({
            "messageId": 77, "createdAt": "2026-01-01T10:00:00+03:00",
            "sender": "CUSTOMER", "message": "hi"
        }))
        .unwrap();
        let events = [
            ChatEvent::Message {
                chat_id: ChatId::from(41),
                message,
            },
            ChatEvent::NewChat { chat: chat("NEW") },
            ChatEvent::StatusChanged {
                chat: chat("WAITING_FOR_ARBITER"),
                previous: ChatStatus::WaitingForPartner,
                change: 3,
            },
            ChatEvent::ChatGone {
                chat_id: ChatId::from(41),
            },
        ];
        let keys: Vec<String> = events.iter().map(ChatEvent::dedup_key).collect();
        assert_eq!(
            keys,
            [
                "message:41:77",
                "chat:41",
                "status:41:3:WAITING_FOR_PARTNER:WAITING_FOR_ARBITER",
                "gone:41"
            ]
        );
        assert!(events.iter().all(|e| e.chat_id() == 41));
    }

    /// A client of a server that is not there: a stream that is not
    /// refused at once fails within a second.
    fn client() -> Client {
        Client::builder()
            .api_key("key")
            .base_url("http://127.0.0.1:9")
            .total_timeout(Duration::from_secs(1))
            .build()
            .unwrap()
    }

    #[test]
    fn a_query_shows_its_business_and_settings() {
        let query = client()
            .follow(7u64)
            .poll_interval(Duration::from_secs(5))
            .statuses([ChatStatus::New])
            .types([ChatType::Arbitrage])
            .context_types([ChatContextType::Order])
            .from_beginning()
            .own_messages(true)
            .quota_share(0.25)
            .hints(FollowHints::new())
            .checkpoint(MemoryCheckpoint::new());
        let shown = format!("{query:?}");
        for part in [
            "FollowQuery",
            "business_id: BusinessId(7)",
            "statuses: [New]",
            "types: [Arbitrage]",
            "context_types: [Order]",
            "from_beginning: true",
            "own_messages: true",
            "poll_interval: 5s",
            "quota_share: 0.25",
            "hints: Some(",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        let default = format!("{:?}", client().follow(7u64));
        for part in [
            "from_beginning: false",
            "own_messages: false",
            "poll_interval: 30s",
            "quota_share: 0.5",
            "hints: None",
        ] {
            assert!(default.contains(part), "{part} in {default}");
        }
    }

    /// The first item of a stream that must fail before sending.
    async fn refused(query: FollowQuery) -> String {
        let mut stream = query.stream();
        let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("an answer within 5 s")
            .expect("an item");
        first.expect_err("refused").to_string()
    }

    #[tokio::test]
    async fn bad_settings_are_refused_before_anything_is_sent() {
        for share in [0.0, 0.009, 1.01, f64::NAN] {
            let error = refused(client().follow(7u64).quota_share(share)).await;
            assert!(
                error.contains("quota_share must be from 0.01 to 1.0"),
                "{error}"
            );
        }
        // The bounds are allowed: the stream goes on to the (absent) server.
        for share in [0.01, 1.0] {
            let error = refused(client().follow(7u64).quota_share(share)).await;
            assert!(!error.contains("quota_share"), "{error}");
        }
        let error = refused(client().follow(0u64)).await;
        assert!(
            error.contains("business id must be at least 1, got 0"),
            "{error}"
        );
        let hints = FollowHints::for_business(8u64);
        let error = refused(client().follow(7u64).hints(hints)).await;
        assert!(error.contains("business 8, not 7"), "{error}");
    }

    #[tokio::test]
    async fn one_stream_holds_the_checkpoint_until_it_is_dropped() {
        use futures::FutureExt;

        let query = client().follow(7u64).checkpoint(MemoryCheckpoint::new());
        let mut first = query.clone().stream();
        assert!(first.next().now_or_never().is_none(), "polling the API");
        assert_eq!(format!("{first:?}"), "FollowStream { pending: 0, .. }");
        let error = refused(query.clone()).await;
        assert!(
            error.contains("in use by another follower stream"),
            "{error}"
        );
        drop(first);
        let mut next = query.stream();
        assert!(
            next.next().now_or_never().is_none(),
            "the next stream goes on"
        );
    }
}
