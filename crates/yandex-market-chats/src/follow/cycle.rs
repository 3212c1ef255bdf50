//! One polling cycle (or one hinted read): list, compare with the state,
//! read what changed, and return the events with the state changes that go
//! with them; and the pacing between cycles.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use tokio::time::Instant;

use super::checkpoint::{Checkpoint, Mark, State};
use super::{ChatEvent, Options};
use crate::limits::later;
use crate::{
    BusinessId, Chat, ChatMessage, ChatMessageSender, Client, Error, HistoryPageSize, Operation,
    RateLimit,
};

/// An event (or none) and the state it leaves once taken.
#[derive(Debug)]
pub(crate) struct Item {
    pub event: Option<ChatEvent>,
    pub change: Option<Change>,
}

#[derive(Debug)]
pub(crate) enum Change {
    Set(u64, Mark),
    Remove(u64),
    Listed,
}

pub(crate) struct Follower {
    client: Client,
    business: BusinessId,
    options: Options,
    /// Behind a mutex only so that the cycle's future is `Send` (it is
    /// never contended: the stream owns the follower).
    checkpoint: std::sync::Mutex<Box<dyn Checkpoint>>,
    state: State,
    /// When the next full cycle may start.
    next_cycle: Option<Instant>,
    /// The smallest `Limit` the server stated, per quota.
    server_limit: [Option<u64>; 2],
}

/// The two quotas a follower spends: listing and histories.
const LISTING: usize = 0;
const HISTORY: usize = 1;
const OPERATIONS: [Operation; 2] = [Operation::GetChats, Operation::GetChatHistory];

/// How long before a chat is re-read although its `updatedAt` did not move:
/// `updatedAt` has one-second resolution, so a message written within the
/// same second as the last read may hide behind an unchanged value.
const SAME_SECOND: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

impl Follower {
    pub(crate) fn new(
        client: Client,
        business: BusinessId,
        options: Options,
        checkpoint: Box<dyn Checkpoint>,
    ) -> Self {
        let state = State::fresh(business, &options);
        Self {
            client,
            business,
            options,
            checkpoint: std::sync::Mutex::new(checkpoint),
            state,
            next_cycle: None,
            server_limit: [None; 2],
        }
    }

    /// Loads the saved state, or saves a fresh one (its start point is now).
    pub(crate) fn load(&mut self) -> Result<(), Error> {
        let saved = self
            .checkpoint
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .load()?;
        match saved {
            Some(bytes) => self.state = State::from_bytes(&bytes, self.business.get())?,
            None => {
                self.state = State::fresh(self.business, &self.options);
                self.save()?;
            }
        }
        Ok(())
    }

    pub(crate) fn save(&mut self) -> Result<(), Error> {
        let bytes = self.state.to_bytes();
        self.checkpoint
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .save(&bytes)
    }

    /// Takes an item's state change into the state.
    pub(crate) fn apply(&mut self, item: &Item) {
        match &item.change {
            Some(Change::Set(id, mark)) => {
                self.state.chats.insert(*id, mark.clone());
            }
            Some(Change::Remove(id)) => {
                self.state.chats.remove(id);
            }
            Some(Change::Listed) => self.state.listed_once = true,
            None => {}
        }
    }

    /// Waits as the pacing says (or until chats are hinted), then runs a full
    /// cycle or reads the hinted chats.
    pub(crate) async fn cycle(mut self, first: bool) -> (Self, Result<Vec<Item>, Error>) {
        let result = if first {
            self.full_cycle().await
        } else {
            match self.wait().await {
                Some(hinted) => self.hinted(hinted).await,
                None => self.full_cycle().await,
            }
        };
        (self, result)
    }

    /// Until the next cycle is due (`None`), or chats are hinted.
    async fn wait(&mut self) -> Option<Vec<u64>> {
        let due = self.next_cycle.unwrap_or_else(Instant::now);
        loop {
            if let Some(hints) = &self.options.hints {
                let hinted = hints.take();
                if !hinted.is_empty() {
                    return Some(hinted);
                }
                if tokio::time::timeout_at(due, hints.added()).await.is_err() {
                    return None;
                }
            } else {
                tokio::time::sleep_until(due).await;
                return None;
            }
        }
    }

    async fn full_cycle(&mut self) -> Result<Vec<Item>, Error> {
        let started = Instant::now();
        self.budget(LISTING).await?;
        let mut query = self.client.chats(self.business);
        if !self.options.statuses.is_empty() {
            query = query.statuses(self.options.statuses.clone());
        }
        if !self.options.types.is_empty() {
            query = query.types(self.options.types.clone());
        }
        if !self.options.context_types.is_empty() {
            query = query.context_types(self.options.context_types.clone());
        }
        let mut pages = query.pages();
        let mut chats = Vec::new();
        let mut listing_requests = 0u32;
        while let Some(page) = futures_util_next(&mut pages).await {
            let page = page?;
            listing_requests += 1;
            self.note(LISTING, page.rate_limit.as_ref());
            chats.extend(page.chats);
        }
        let first_listing = !self.state.listed_once;
        let mut items = Vec::new();
        let mut history_requests = 0u32;
        for chat in chats {
            items.extend(self.chat(chat, &mut history_requests).await?);
        }
        if first_listing {
            items.push(Item {
                event: None,
                change: Some(Change::Listed),
            });
        }
        self.pace(started, listing_requests, history_requests).await;
        Ok(items)
    }

    /// Reads the hinted chats now (a getChat each, then what changed).
    async fn hinted(&mut self, hinted: Vec<u64>) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        let mut history_requests = 0;
        for id in hinted {
            let chat = match self.client.chat(self.business, id).get().await {
                Ok(chat) => chat,
                Err(Error::Api { status: 404, .. }) => {
                    // Gone: a chat the follower knew ends with an event;
                    // one it never knew is only logged.
                    if self.state.chats.contains_key(&id) {
                        items.push(Item {
                            event: Some(ChatEvent::ChatGone { chat_id: id.into() }),
                            change: Some(Change::Remove(id)),
                        });
                    } else {
                        tracing::debug!(chat_id = id, "a hinted chat answers 404: skipped");
                    }
                    continue;
                }
                Err(error) => return Err(error),
            };
            if !self.matches(&chat) {
                continue;
            }
            items.extend(self.chat(chat, &mut history_requests).await?);
        }
        Ok(items)
    }

    fn matches(&self, chat: &Chat) -> bool {
        let o = &self.options;
        (o.statuses.is_empty() || o.statuses.contains(&chat.status))
            && (o.types.is_empty() || o.types.contains(&chat.type_))
            && (o.context_types.is_empty() || o.context_types.contains(&chat.context.type_))
    }

    /// The items for one listed chat: a new chat, its new messages in
    /// order, a status change; the chat's mark goes with the last of them.
    async fn chat(&mut self, chat: Chat, history_requests: &mut u32) -> Result<Vec<Item>, Error> {
        let id = chat.chat_id.get();
        let start = self.state.start;
        let known = self.state.chats.get(&id).cloned();
        let status = chat.status.to_string();
        let mut items = Vec::new();
        let read_from = match &known {
            None => {
                let after_start = |at: &DateTime<FixedOffset>| start.is_none_or(|s| *at >= s);
                if after_start(&chat.created_at) {
                    items.push(Item {
                        // Until its messages are taken, the chat is read again.
                        change: Some(Change::Set(
                            id,
                            Mark {
                                status: status.clone(),
                                updated_at: chat.created_at,
                                last_message_id: None,
                                recheck: true,
                            },
                        )),
                        event: Some(ChatEvent::NewChat { chat: chat.clone() }),
                    });
                }
                // A chat quiet since the start has nothing to deliver.
                after_start(&chat.updated_at).then_some(None)
            }
            Some(mark) => {
                let moved = chat.updated_at > mark.updated_at || mark.recheck;
                moved.then_some(mark.last_message_id)
            }
        };
        let mut last = known.as_ref().and_then(|m| m.last_message_id);
        if let Some(from) = read_from {
            self.budget(HISTORY).await?;
            let Some(messages) = self.messages(&chat, from, history_requests).await? else {
                return Ok(vec![Item {
                    event: Some(ChatEvent::ChatGone {
                        chat_id: chat.chat_id,
                    }),
                    change: Some(Change::Remove(id)),
                }]);
            };
            let before = known.as_ref().map_or(&status, |m| &m.status).clone();
            for message in messages {
                last = Some(message.message_id.get());
                let mark = Mark {
                    status: before.clone(),
                    updated_at: known.as_ref().map_or(chat.created_at, |m| m.updated_at),
                    last_message_id: last,
                    recheck: true,
                };
                let own = message.sender == ChatMessageSender::Partner;
                items.push(Item {
                    event: (!own || self.options.own_messages).then_some(ChatEvent::Message {
                        chat_id: chat.chat_id,
                        message,
                    }),
                    change: Some(Change::Set(id, mark)),
                });
            }
        }
        let recent = chrono::Utc::now().fixed_offset() - chat.updated_at < SAME_SECOND;
        let mark = Mark {
            status: status.clone(),
            updated_at: chat.updated_at,
            last_message_id: last,
            recheck: recent,
        };
        let event = match &known {
            Some(old) if old.status != status => Some(ChatEvent::StatusChanged {
                previous: old.status.as_str().into(),
                chat,
            }),
            _ => None,
        };
        if event.is_some() || known.as_ref() != Some(&mark) {
            items.push(Item {
                event,
                change: Some(Change::Set(id, mark)),
            });
        }
        Ok(items)
    }

    /// The chat's messages after `from` (by id), in order; for a chat never
    /// read, those after the start point. `None`: the chat is gone (404).
    async fn messages(
        &mut self,
        chat: &Chat,
        from: Option<u64>,
        requests: &mut u32,
    ) -> Result<Option<Vec<ChatMessage>>, Error> {
        let mut query = self
            .client
            .chat(self.business, chat.chat_id)
            .history()
            .page_size(HistoryPageSize::MAX);
        if let Some(from) = from {
            // Whether `messageIdFrom` includes the message itself is not
            // documented: filtered below either way.
            query = query.message_id_from(from);
        }
        let mut pages = query.pages();
        let mut messages: Vec<ChatMessage> = Vec::new();
        while let Some(page) = futures_util_next(&mut pages).await {
            // Every page is one request, counted for the pacing.
            *requests += 1;
            let page = match page {
                Ok(page) => page,
                Err(Error::Api { status: 404, .. }) => return Ok(None),
                Err(error) => return Err(error),
            };
            self.note(HISTORY, page.rate_limit.as_ref());
            messages.extend(page.messages);
        }
        let start = self.state.start;
        messages.retain(|m| match from {
            Some(from) => m.message_id.get() > from,
            None => start.is_none_or(|s| m.created_at >= s),
        });
        messages.sort_by_key(|m| m.message_id);
        messages.dedup_by_key(|m| m.message_id);
        Ok(Some(messages))
    }

    fn note(&mut self, quota: usize, rate_limit: Option<&RateLimit>) {
        if let Some(limit) = rate_limit.and_then(|r| r.limit) {
            let known = &mut self.server_limit[quota];
            *known = Some(known.map_or(limit, |k| k.min(limit)));
        }
    }

    /// The whole quota the follower paces against: the client's, or the
    /// server's when it stated a smaller one.
    async fn limit(&self, quota: usize) -> Result<Option<(u64, u64, Option<Duration>)>, Error> {
        let Some(state) = self.client.quota(self.business, OPERATIONS[quota]).await? else {
            return Ok(None);
        };
        let limit = self.server_limit[quota].map_or(u64::from(state.limit), |server| {
            server.min(u64::from(state.limit))
        });
        Ok(Some((limit, state.remaining, state.resets_in)))
    }

    /// Waits until the quota has more than the part the follower leaves to
    /// the rest of the program (the window's reset, at worst).
    async fn budget(&self, quota: usize) -> Result<(), Error> {
        loop {
            let Some((limit, remaining, resets_in)) = self.limit(quota).await? else {
                return Ok(());
            };
            let reserve = ((1.0 - self.options.quota_share) * limit as f64).ceil() as u64;
            if remaining > reserve {
                return Ok(());
            }
            let wait = resets_in.unwrap_or(Duration::from_secs(60));
            tracing::debug!(
                operation = OPERATIONS[quota].name(),
                remaining,
                reserve,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "follower waits for its share of the quota"
            );
            tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
        }
    }

    /// When the next cycle may start: its requests spread evenly over the
    /// hour within the share of each quota, never sooner than the interval.
    async fn pace(&mut self, started: Instant, listing: u32, history: u32) {
        let mut interval = self.options.poll_interval;
        for (quota, used) in [(LISTING, listing), (HISTORY, history)] {
            if let Ok(Some((limit, _, _))) = self.limit(quota).await {
                let per_hour = (self.options.quota_share * limit as f64).max(1.0);
                let spread = Duration::from_secs_f64(3600.0 * f64::from(used) / per_hour);
                interval = interval.max(spread);
            }
        }
        self.next_cycle = Some(later(started, interval));
    }
}

/// `StreamExt::next` without the `futures` crate.
async fn futures_util_next<S: futures_core::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}
