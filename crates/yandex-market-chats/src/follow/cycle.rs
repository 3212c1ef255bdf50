//! One polling cycle (or one round of hinted reads): list every chat,
//! compare with the state, read what changed, and return the events with
//! the state changes that go with them.
//!
//! The rules that keep it right against the real API:
//! - The whole listing is read before any chat is judged, and a chat is
//!   judged once per cycle (the listing may be recomputed between pages:
//!   a chat listed twice counts once, its latest `updatedAt` wins; one
//!   skipped because it jumped ahead is caught by the next cycle).
//! - Filters choose events, never what is read (see [`Follower::wants`]).
//! - Every comparison with `createdAt`/`updatedAt` uses the server's time
//!   (its `Date`), never this host's clock.
//! - A rate limit never ends the stream: the quota is paused until its
//!   reset and the cycle ends early, consistent (chats are judged whole).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use tokio::time::Instant;

use super::checkpoint::SharedCheckpoint;
use super::clock::{ServerClock, answered_at};
use super::pacing::Pacer;
use super::state::{Mark, State};
use super::{ChatEvent, Options};
use crate::limits::later;
use crate::{
    BusinessId, Chat, ChatMessage, ChatMessageSender, ChatStatus, Client, Error, HistoryPageSize,
    Operation, PageSize,
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
    /// The start point was just taken from the server's clock: saved at
    /// once, before any event.
    Started,
}

/// How long after a read a chat's unchanged `updatedAt` may still hide a
/// message: `updatedAt` and `Date` both have one-second resolution.
const SAME_SECOND: TimeDelta = TimeDelta::seconds(2);

/// Why a chat's history was not read to the end.
enum Read {
    /// The messages after the cursor, in order, and the server's time of
    /// the read.
    Messages(Vec<ChatMessage>, DateTime<Utc>),
    /// The chat answers 404.
    Gone,
    /// A hinted read found no quota: polling covers the chat.
    Skipped,
}

/// Polling reads wait for the quota; hinted reads never do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Polling,
    Hinted,
}

pub(crate) struct Follower {
    client: Client,
    /// Saved to directly only when a quota is paused mid-cycle; otherwise
    /// the stream saves as events are taken.
    checkpoint: SharedCheckpoint,
    business: BusinessId,
    options: Options,
    pub(crate) state: State,
    clock: ServerClock,
    pacer: Pacer,
    /// When the next full cycle is due.
    next_cycle: Option<Instant>,
}

impl Follower {
    pub(crate) fn new(
        client: Client,
        business: BusinessId,
        options: Options,
        checkpoint: SharedCheckpoint,
    ) -> Self {
        let state = State::new(business.get(), options.from_beginning);
        let pacer = Pacer::new(options.quota_share);
        Self {
            client,
            checkpoint,
            business,
            options,
            state,
            clock: ServerClock::default(),
            pacer,
            next_cycle: None,
        }
    }

    /// Takes a loaded state (or keeps the fresh one).
    pub(crate) fn load(&mut self, saved: Option<&[u8]>) -> Result<(), Error> {
        if let Some(bytes) = saved {
            self.state = State::from_bytes(bytes, self.business.get())?;
            self.clock = ServerClock::from_saved(self.state.clock_offset_ms);
        }
        Ok(())
    }

    /// The state to save.
    pub(crate) fn snapshot(&mut self) -> Vec<u8> {
        self.state.clock_offset_ms = self.clock.offset_ms();
        self.state.to_bytes()
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
            Some(Change::Started) | None => {}
        }
    }

    /// Waits as the pacing says (or until chats are hinted), then runs a
    /// full cycle or reads the hinted chats.
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

    /// Until the next cycle is due (`None`), or chats are hinted. A due
    /// cycle goes before any hint, so a steady flow of hints never stops
    /// polling.
    async fn wait(&mut self) -> Option<Vec<u64>> {
        let due = self.next_cycle.unwrap_or_else(Instant::now);
        let Some(hints) = self.options.hints.clone() else {
            tokio::time::sleep_until(due).await;
            return None;
        };
        loop {
            if Instant::now() >= due {
                return None;
            }
            let hinted = hints.take();
            if !hinted.is_empty() {
                return Some(hinted);
            }
            if tokio::time::timeout_at(due, hints.added()).await.is_err() {
                return None;
            }
        }
    }

    async fn full_cycle(&mut self) -> Result<Vec<Item>, Error> {
        let started = Instant::now();
        self.next_cycle = Some(later(started, self.options.poll_interval));
        let mut items = Vec::new();
        let chats = match self.list(started, &mut items).await {
            Ok(listed) => listed,
            Err(error) if error.is_rate_limited() => {
                self.rate_limited(Operation::GetChats, &error).await?;
                return Ok(items);
            }
            Err(error) => return Err(error),
        };
        let first_listing = !self.state.listed_once;
        for chat in chats.into_values() {
            match self.chat(chat, Mode::Polling).await {
                Ok(chat_items) => items.extend(chat_items),
                Err(error) if error.is_rate_limited() => {
                    // The chats judged so far stand; the rest wait for
                    // the next cycle.
                    self.rate_limited(Operation::GetChatHistory, &error).await?;
                    return Ok(items);
                }
                Err(error) => return Err(error),
            }
        }
        if first_listing {
            items.push(Item {
                event: None,
                change: Some(Change::Listed),
            });
        }
        Ok(items)
    }

    /// Every chat of the business, each once (the latest `updatedAt` seen
    /// wins). Takes the start point from the first answer on a fresh state.
    async fn list(
        &mut self,
        started: Instant,
        items: &mut Vec<Item>,
    ) -> Result<BTreeMap<u64, Chat>, Error> {
        let query = self.client.chats(self.business).page_size(PageSize::MAX);
        let mut chats: BTreeMap<u64, Chat> = BTreeMap::new();
        let mut token: Option<String> = None;
        let mut sent = HashSet::new();
        let mut first = true;
        loop {
            self.ready(Operation::GetChats, Mode::Polling).await?;
            let page = query.page(token.clone()).await?;
            self.clock.observe(page.date);
            self.pacer
                .observe(Operation::GetChats, page.rate_limit.as_ref());
            let at = answered_at(&self.clock, page.date);
            if first {
                first = false;
                self.take_start(at, started.elapsed(), items);
            }
            for chat in page.chats {
                match chats.get(&chat.chat_id.get()) {
                    Some(seen) if seen.updated_at > chat.updated_at => {}
                    _ => {
                        chats.insert(chat.chat_id.get(), chat);
                    }
                }
            }
            match page.next_page_token {
                Some(next) if sent.insert(next.clone()) => token = Some(next),
                Some(next) => {
                    // What was not listed is caught by the next cycle.
                    tracing::warn!(token = %next, "getChats repeated a page token: listing cut short");
                    break;
                }
                None => break,
            }
        }
        Ok(chats)
    }

    /// "From now": the server's time when the stream was first polled, in
    /// whole seconds. `Date` is at most a second behind the server, and the
    /// answer came `elapsed` after the poll, so the start is never later
    /// than the poll: nothing written after it is lost; what was written up
    /// to `elapsed` + 2 s before it may be delivered too.
    fn take_start(&mut self, answered: DateTime<Utc>, elapsed: Duration, items: &mut Vec<Item>) {
        if !self.state.start_pending {
            return;
        }
        let at = answered - TimeDelta::from_std(elapsed).unwrap_or_default();
        let whole = at - TimeDelta::nanoseconds(i64::from(chrono::Timelike::nanosecond(&at)));
        self.state.start = Some(whole.fixed_offset());
        self.state.start_pending = false;
        items.push(Item {
            event: None,
            change: Some(Change::Started),
        });
    }

    /// Reads the hinted chats now (a getChat each, then what changed),
    /// within the quota share: a hint that finds none is dropped.
    async fn hinted(&mut self, hinted: Vec<u64>) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        for (done, id) in hinted.iter().copied().enumerate() {
            if !self.ready(Operation::GetChat, Mode::Hinted).await? {
                tracing::debug!(
                    dropped = hinted.len() - done,
                    "hints dropped: the follower's getChat share is spent (polling covers them)"
                );
                break;
            }
            let answer = match self.client.chat(self.business, id).get_answer().await {
                Ok(answer) => answer,
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
                Err(error) if error.is_rate_limited() => {
                    self.rate_limited(Operation::GetChat, &error).await?;
                    break;
                }
                Err(error) => return Err(error),
            };
            self.clock.observe(answer.date);
            self.pacer
                .observe(Operation::GetChat, answer.rate_limit.as_ref());
            match self.chat(answer.result, Mode::Hinted).await {
                Ok(chat_items) => items.extend(chat_items),
                Err(error) if error.is_rate_limited() => {
                    self.rate_limited(Operation::GetChatHistory, &error).await?;
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(items)
    }

    /// Waits until a request of `operation` may go within the share, and
    /// counts it. A hinted read never waits: `false` when it may not go
    /// now. A share found spent is saved before waiting, so a restart
    /// waits too.
    async fn ready(&mut self, operation: Operation, mode: Mode) -> Result<bool, Error> {
        loop {
            let paused = self.state.paused_until.get(operation.name()).copied();
            let wait = self
                .pacer
                .wait_for(
                    &self.client,
                    self.business,
                    operation,
                    &self.clock,
                    &mut self.state.paused_until,
                )
                .await?;
            if wait.is_zero() {
                return Ok(true);
            }
            if self.state.paused_until.get(operation.name()).copied() != paused
                && self.state.paused_until.contains_key(operation.name())
            {
                self.persist().await?;
            }
            if mode == Mode::Hinted {
                return Ok(false);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Saves the state as it is: between cycles' events it is exactly what
    /// was taken (a cycle runs only once every event before it was taken
    /// and saved), plus the pacing.
    async fn persist(&mut self) -> Result<(), Error> {
        let bytes = self.snapshot();
        self.checkpoint.save(bytes).await
    }

    /// A rate limit hit `operation`: paused until its reset, saved.
    async fn rate_limited(&mut self, operation: Operation, error: &Error) -> Result<(), Error> {
        let wait = error.retry_after().unwrap_or(Duration::from_secs(60));
        tracing::debug!(
            operation = operation.name(),
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            %error,
            "the follower hit a rate limit: pausing that operation"
        );
        Pacer::pause(operation, wait, &self.clock, &mut self.state.paused_until);
        self.persist().await
    }

    /// Whether an event about `chat` passes the filters. A buyer's message
    /// is judged by the status it put its chat in (`for_status`), since the
    /// seller may have answered from the cabinet before the read.
    fn wants(&self, chat: &Chat, status: &ChatStatus) -> bool {
        let o = &self.options;
        (o.statuses.is_empty() || o.statuses.contains(status))
            && (o.types.is_empty() || o.types.contains(&chat.type_))
            && (o.context_types.is_empty() || o.context_types.contains(&chat.context.type_))
    }

    /// The status a buyer's message put its chat in: a dispute keeps its
    /// status, a chat nobody answered yet is `NEW`, else the buyer now waits
    /// for the seller.
    fn status_after_buyer(chat: &Chat, unanswered: bool) -> ChatStatus {
        match chat.status {
            ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket => chat.status.clone(),
            _ if unanswered => ChatStatus::New,
            _ => ChatStatus::WaitingForPartner,
        }
    }

    /// The items for one chat as listed (or got): a new chat, its new
    /// messages in order, a status change; the chat's mark goes with the
    /// last of them.
    async fn chat(&mut self, chat: Chat, mode: Mode) -> Result<Vec<Item>, Error> {
        let id = chat.chat_id.get();
        let start = self.state.start;
        let after_start = |at: &DateTime<FixedOffset>| start.is_none_or(|s| *at >= s);
        let known = self.state.chats.get(&id).cloned();
        let status = chat.status.to_string();
        let mut items = Vec::new();
        let is_new = known.is_none() && after_start(&chat.created_at);
        let must_read = match &known {
            // Something happened since the start (or its chat is new).
            None => is_new || after_start(&chat.updated_at),
            // A recheck waits until the second of `updatedAt` is surely
            // over on the server, then reads once.
            Some(mark) => {
                chat.updated_at > mark.updated_at
                    || (mark.recheck && self.clock.now() - mark.updated_at.to_utc() >= SAME_SECOND)
            }
        };
        let base = known.clone().unwrap_or(Mark {
            status: status.clone(),
            updated_at: chat.created_at,
            last_message_id: None,
            recheck: true,
            status_changes: 0,
        });
        let mut last = base.last_message_id;
        let mut newest = chat.updated_at.max(base.updated_at);
        let mut read_at = None;
        let mut messages = Vec::new();
        if must_read {
            match self.messages(&chat, last, mode).await? {
                Read::Skipped => return Ok(Vec::new()),
                Read::Gone => {
                    return Ok(if known.is_some() || is_new {
                        vec![Item {
                            event: Some(ChatEvent::ChatGone {
                                chat_id: chat.chat_id,
                            }),
                            change: Some(Change::Remove(id)),
                        }]
                    } else {
                        Vec::new()
                    });
                }
                Read::Messages(read, at) => {
                    messages = read;
                    read_at = Some(at);
                }
            }
        }
        if is_new && self.wants(&chat, &chat.status) {
            items.push(Item {
                event: Some(ChatEvent::NewChat { chat: chat.clone() }),
                // Until its messages are taken, the chat is read again.
                change: Some(Change::Set(id, base.clone())),
            });
        }
        // Whether nobody answered the buyer yet, as far as the follower knows.
        let mut unanswered =
            is_new || chat.status == ChatStatus::New || base.status == ChatStatus::New.to_string();
        for message in messages {
            last = Some(message.message_id.get());
            newest = newest.max(message.created_at);
            let wanted = match message.sender {
                ChatMessageSender::Partner => {
                    unanswered = false;
                    self.options.own_messages && self.wants(&chat, &chat.status)
                }
                ChatMessageSender::Customer => {
                    let put_in = Self::status_after_buyer(&chat, unanswered);
                    self.wants(&chat, &put_in) || self.wants(&chat, &chat.status)
                }
                _ => self.wants(&chat, &chat.status),
            };
            items.push(Item {
                event: wanted.then_some(ChatEvent::Message {
                    chat_id: chat.chat_id,
                    message,
                }),
                change: Some(Change::Set(
                    id,
                    Mark {
                        last_message_id: last,
                        recheck: true,
                        ..base.clone()
                    },
                )),
            });
        }
        let changed = known.as_ref().is_some_and(|old| old.status != status);
        let status_changes = base.status_changes + u64::from(changed);
        let mark = Mark {
            status: status.clone(),
            updated_at: newest,
            last_message_id: last,
            // A message in the same second as `newest`, written after this
            // read, would not move `updatedAt`.
            recheck: match read_at {
                Some(at) => at - newest.to_utc() < SAME_SECOND,
                // Not read yet: a pending recheck stays pending.
                None => base.recheck && known.is_some(),
            },
            status_changes,
        };
        let event = match &known {
            Some(old) if changed && self.wants(&chat, &chat.status) => {
                Some(ChatEvent::StatusChanged {
                    previous: old.status.as_str().into(),
                    change: status_changes,
                    chat,
                })
            }
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
    /// read, those at or after the start point. When the server pages
    /// newest first, reading stops at the first page that reaches back past
    /// the start: a long quiet chat costs one or two pages, not its whole
    /// history (oldest first, the whole history is read once).
    async fn messages(
        &mut self,
        chat: &Chat,
        from: Option<u64>,
        mode: Mode,
    ) -> Result<Read, Error> {
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
        let threshold = self.state.start;
        let mut token: Option<String> = None;
        let mut sent = HashSet::new();
        let mut messages: Vec<ChatMessage> = Vec::new();
        let mut read_at: Option<DateTime<Utc>> = None;
        let mut newest_first = false;
        loop {
            let operation = Operation::GetChatHistory;
            if !self.ready(operation, mode).await? {
                return Ok(Read::Skipped);
            }
            let page = match query.page(token.clone()).await {
                Ok(page) => page,
                Err(Error::Api { status: 404, .. }) => return Ok(Read::Gone),
                Err(error) => return Err(error),
            };
            self.clock.observe(page.date);
            self.pacer.observe(operation, page.rate_limit.as_ref());
            let at = answered_at(&self.clock, page.date);
            read_at = Some(read_at.map_or(at, |earlier| earlier.min(at)));
            let before = messages.len();
            messages.extend(page.messages);
            // Newest first shows as an id that falls, within the page or
            // from the last page to this one.
            newest_first |= messages[before.saturating_sub(1)..]
                .windows(2)
                .any(|pair| pair[1].message_id < pair[0].message_id);
            let reached_back = from.is_none()
                && newest_first
                && threshold.is_some_and(|start| {
                    messages
                        .last()
                        .is_some_and(|oldest| oldest.created_at < start)
                });
            match page.next_page_token {
                _ if reached_back => break,
                Some(next) if sent.insert(next.clone()) => token = Some(next),
                Some(next) => {
                    tracing::warn!(token = %next, "getChatHistory repeated a page token: read cut short");
                    break;
                }
                None => break,
            }
        }
        messages.retain(|m| match from {
            Some(from) => m.message_id.get() > from,
            None => threshold.is_none_or(|start| m.created_at >= start),
        });
        messages.sort_by_key(|m| m.message_id);
        messages.dedup_by_key(|m| m.message_id);
        Ok(Read::Messages(
            messages,
            read_at.unwrap_or_else(|| self.clock.now()),
        ))
    }
}
