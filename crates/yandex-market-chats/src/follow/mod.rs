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
//! **How it works.** Each cycle lists the chats (with the filters), compares
//! each chat's `updatedAt` and status with the checkpoint, and reads the
//! history of the chats that changed from the last message it saw (100
//! messages a page). Messages of one chat come in order, each once (by
//! message id). A [`FollowHints`] handle (fed by your notification endpoint,
//! or by `notifications::axum` with the `axum` feature) makes the follower
//! read a hinted chat at once instead of at the next cycle; polling stays the
//! truth, so a lost notification costs latency, never an event.
//!
//! **Where it starts.** By default, "from now": the moment the stream is
//! first polled (this host's clock), saved in the checkpoint. After a restart
//! a chat the checkpoint has no record of is judged against that saved
//! start, so a message written after it is delivered even if its chat was
//! first seen later. [`FollowQuery::from_beginning`] replays every existing
//! message.
//!
//! **Delivery is at least once.** The state of every event you have taken is
//! saved before the stream takes or waits for the next one (no batching on
//! timers). After a crash, what comes again is at most the last event taken
//! plus those not yet taken, with the same [`ChatEvent::dedup_key`]. One
//! follower per checkpoint.
//!
//! **What it costs.** A cycle costs one getChats request per 20 chats that
//! match the filters, plus one getChatHistory request per changed chat (per
//! 100 new messages). The follower paces itself to its share of each quota
//! ([`FollowQuery::quota_share`], half by default, so the rest of the program
//! keeps the other half): the interval between cycles is stretched so that a
//! cycle's requests, spread evenly, stay within the share of the hourly
//! limit (the server's, when it states a smaller one), and it waits for the
//! window's reset rather than eat into the rest. It goes through the
//! client's limiter, so with a shared limiter the share holds across
//! processes. With 1,000 open chats (50 pages) and getChats' 5,000 per hour,
//! a cycle every 72 s at most; filters (`statuses`, `types`,
//! `context_types`) that leave fewer chats make cycles cheaper and faster.

mod checkpoint;
mod cycle;
mod hints;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

pub use checkpoint::{Checkpoint, FileCheckpoint, MemoryCheckpoint};
pub use hints::FollowHints;

use crate::{
    BusinessId, Chat, ChatContextType, ChatId, ChatMessage, ChatStatus, ChatType, Client, Error,
};
use checkpoint::State;
use cycle::{Follower, Item};

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
            Self::StatusChanged { chat, .. } => format!(
                "status:{}:{}:{}",
                chat.chat_id,
                chat.status,
                chat.updated_at.to_rfc3339()
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
/// `.stream()` takes the checkpoint given with [`FollowQuery::checkpoint`]:
/// a second stream from the same query (or a clone of it) fails with
/// [`Error::Checkpoint`] rather than start from scratch.
#[derive(Clone)]
#[must_use = "a follow query does nothing until you call .stream()"]
pub struct FollowQuery {
    client: Client,
    business_id: BusinessId,
    options: Options,
    checkpoint: Option<SharedCheckpoint>,
}

type SharedCheckpoint = std::sync::Arc<std::sync::Mutex<Option<Box<dyn Checkpoint>>>>;

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
            checkpoint: None,
        }
    }
}

impl FollowQuery {
    /// Where the follower keeps its place; default: in memory.
    pub fn checkpoint(mut self, checkpoint: impl Checkpoint) -> Self {
        self.checkpoint = Some(std::sync::Arc::new(std::sync::Mutex::new(Some(Box::new(
            checkpoint,
        )))));
        self
    }

    /// The shortest time between two polling cycles; default 30 s. The quota
    /// share may stretch it.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.options.poll_interval = interval;
        self
    }

    /// Only chats in these statuses.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = ChatStatus>) -> Self {
        self.options.statuses = statuses.into_iter().collect();
        self
    }

    /// Only chats of these types.
    pub fn types(mut self, types: impl IntoIterator<Item = ChatType>) -> Self {
        self.options.types = types.into_iter().collect();
        self
    }

    /// Only chats with these context types.
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

    /// The share of each hourly quota (getChats, getChatHistory) the
    /// follower may use, from 0.01 to 1.0; default 0.5, so the rest of the
    /// program keeps the other half.
    pub fn quota_share(mut self, share: f64) -> Self {
        self.options.quota_share = share;
        self
    }

    /// Chats to read at once, as push notifications name them (see
    /// [`FollowHints`]).
    pub fn hints(mut self, hints: FollowHints) -> Self {
        self.options.hints = Some(hints);
        self
    }

    /// The events, lazily: nothing is sent before the first poll. `Send +
    /// Unpin + 'static`; dropping it stops following (the state of the
    /// events taken is saved).
    pub fn stream(self) -> FollowStream {
        // A stream takes the query's checkpoint: a second stream from the
        // same query (or a clone) must not silently start from scratch.
        let checkpoint: Option<Box<dyn Checkpoint>> = match &self.checkpoint {
            Some(shared) => shared
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
            None => Some(Box::new(MemoryCheckpoint::new())),
        };
        let problem = if checkpoint.is_none() {
            Some(Error::Checkpoint {
                message: "this query's checkpoint was taken by an earlier stream; \
                          give each stream its own checkpoint (for example a new \
                          FileCheckpoint on the same path once the first stream is dropped)"
                    .to_owned(),
            })
        } else if !(0.01..=1.0).contains(&self.options.quota_share) {
            Some(Error::invalid_input(format!(
                "quota_share must be from 0.01 to 1.0, got {}",
                self.options.quota_share
            )))
        } else if self.business_id.get() == 0 {
            Some(Error::invalid_input(
                "business id must be at least 1, got 0",
            ))
        } else {
            None
        };
        FollowStream {
            step: match problem {
                Some(error) => Step::Failing(error),
                None => Step::Start,
            },
            follower: Some(Follower::new(
                self.client,
                self.business_id,
                self.options,
                checkpoint.unwrap_or_else(|| Box::new(MemoryCheckpoint::new())),
            )),
            queue: VecDeque::new(),
            unsaved: false,
        }
    }
}

type Work = Pin<Box<dyn Future<Output = (Follower, Result<Vec<Item>, Error>)> + Send>>;

enum Step {
    /// Load the checkpoint, then the first cycle.
    Start,
    Idle,
    Working(Work),
    Failing(Error),
    Done,
}

/// The events of a [`FollowQuery`]. `Send + Unpin + 'static`.
#[must_use = "streams do nothing unless polled"]
pub struct FollowStream {
    step: Step,
    follower: Option<Follower>,
    /// Events (and state changes) of the last cycle not taken yet.
    queue: VecDeque<Item>,
    /// Whether taken events are not saved yet.
    unsaved: bool,
}

impl std::fmt::Debug for FollowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowStream")
            .field("pending", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl FollowStream {
    /// Saves what was taken; the stream ends with the error if it cannot.
    fn save(&mut self) -> Result<(), Error> {
        if self.unsaved
            && let Some(follower) = &mut self.follower
        {
            follower.save()?;
            self.unsaved = false;
        }
        Ok(())
    }
}

impl Stream for FollowStream {
    type Item = Result<ChatEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        // What was taken is saved before anything else happens.
        if let Err(error) = this.save() {
            this.step = Step::Done;
            return Poll::Ready(Some(Err(error)));
        }
        loop {
            // Events of the last cycle first, in order.
            while let Some(item) = this.queue.pop_front() {
                let follower = this.follower.as_mut().expect("idle with a follower");
                follower.apply(&item);
                this.unsaved = true;
                if let Some(event) = item.event {
                    return Poll::Ready(Some(Ok(event)));
                }
            }
            match std::mem::replace(&mut this.step, Step::Done) {
                Step::Done => return Poll::Ready(None),
                Step::Failing(error) => return Poll::Ready(Some(Err(error))),
                Step::Start => {
                    let mut follower = this.follower.take().expect("a follower to start");
                    if let Err(error) = follower.load() {
                        return Poll::Ready(Some(Err(error)));
                    }
                    this.step = Step::Working(Box::pin(follower.cycle(true)));
                }
                Step::Idle => {
                    // Nothing taken is left unsaved while the stream waits.
                    if let Err(error) = this.save() {
                        return Poll::Ready(Some(Err(error)));
                    }
                    let follower = this.follower.take().expect("a follower when idle");
                    this.step = Step::Working(Box::pin(follower.cycle(false)));
                }
                Step::Working(mut work) => match work.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.step = Step::Working(work);
                        return Poll::Pending;
                    }
                    Poll::Ready((follower, result)) => {
                        this.follower = Some(follower);
                        match result {
                            Ok(items) => {
                                this.queue.extend(items);
                                this.step = Step::Idle;
                            }
                            Err(error) => {
                                // The state holds only what was taken: a new
                                // stream continues from there.
                                let _ = this.save();
                                return Poll::Ready(Some(Err(error)));
                            }
                        }
                    }
                },
            }
        }
    }
}

impl Drop for FollowStream {
    fn drop(&mut self) {
        // What was taken is saved; what was not comes again next time.
        let _ = self.save();
    }
}

impl State {
    pub(crate) fn fresh(business_id: BusinessId, options: &Options) -> Self {
        // Whole seconds, as the API's times: a message written in the second
        // the follower starts is delivered (at least once), never lost.
        let start = (!options.from_beginning).then(|| {
            let now = chrono::Utc::now().fixed_offset();
            now - chrono::TimeDelta::nanoseconds(i64::from(chrono::Timelike::nanosecond(&now)))
        });
        Self::new(business_id.get(), start)
    }
}
