//! The follower's I/O: sweeps (listings) and hinted reads, the history
//! reads they lead to, and when each runs. What a chat's answers mean is
//! decided in `judge.rs`.
//!
//! Two sweeps, both paced within the share:
//! - a **waiting sweep** lists only the chats in the statuses a buyer's
//!   message or a new chat puts a chat in (`NEW`, `WAITING_FOR_PARTNER`,
//!   and the disputes, whose status a message keeps): cheap, so it runs
//!   often, and a buyer's message is seen within its period;
//! - a **full sweep** lists every chat: it catches what the statuses do
//!   not tell (the seller answered from the cabinet before the follower
//!   read, a status change, a server whose statuses behave otherwise), at a
//!   slower pace that bounds the latency of everything else. A long full
//!   sweep makes way for a waiting sweep that falls due, between its pages
//!   and between the chats it judges, then goes on where it stopped; what
//!   it found so far is delivered then (a listed snapshot that a waiting
//!   sweep has since overtaken is skipped as stale). The first full sweep
//!   of a stream too: it plans the waiting sweeps from the pages it has
//!   listed so far.
//!
//! Sweeps are planned with half the follower's share of getChats: the
//! waiting sweep takes what it needs to run as often as `poll_interval`
//! allows (up to 90% of the plan), the full sweep the rest. Past its first
//! request of a turn, a full sweep leaves the waiting sweeps half of each
//! quota's bucket, so that their reads go at once; and a sweep whose next
//! read must wait for the quota delivers what it found first.
//!
//! The rules that keep a sweep right against the real API:
//! - The whole listing is read before any chat is judged, and a chat is
//!   judged once per sweep (the listing may be recomputed between pages:
//!   a chat listed twice counts once, its latest `updatedAt` wins; one
//!   skipped because it jumped ahead is caught by the next sweep).
//! - Every comparison with `createdAt`/`updatedAt` uses the server's time.
//! - A rate limit never ends the stream: the quota is paused until its
//!   reset and the sweep ends early, consistent (chats are judged whole).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use super::Options;
use super::checkpoint::{Record, SharedCheckpoint};
use super::clock::{ServerClock, answered_at};
use super::judge::{self, Change, Filters, Item, Read, ReadFrom};
use super::pacing::Pacer;
use super::state::{Journal, State};
use crate::limits::later;
use crate::{
    BusinessId, Chat, ChatMessage, ChatStatus, Client, Error, HistoryPageSize, Operation, PageSize,
};

/// The statuses a waiting sweep lists.
const WAITING: [ChatStatus; 4] = [
    ChatStatus::New,
    ChatStatus::WaitingForPartner,
    ChatStatus::WaitingForArbiter,
    ChatStatus::WaitingForMarket,
];

/// The part of the sweep plan waiting sweeps may take at most.
const WAITING_PART: f64 = 0.9;

/// How long until the reset, when an answer's own headers say the
/// follower's share of that quota is spent.
fn spent_for(rate_limit: &crate::RateLimit, share: f64) -> Option<Duration> {
    let (limit, remaining) = (rate_limit.limit?, rate_limit.remaining?);
    let reserve = ((1.0 - share) * limit as f64).ceil() as u64;
    (remaining <= reserve)
        .then(|| rate_limit.resets_in.unwrap_or(Duration::from_secs(60)) + Duration::from_secs(1))
}

/// The longest time between two full sweeps.
const MAX_FULL_PERIOD: Duration = Duration::from_secs(86_400 * 7);

/// The periods of the full sweep and of the waiting sweep (`None`: not
/// worth running), from the getChats budget (requests a second), the
/// shortest period, and the pages each sweep took last time.
fn periods(
    budget: f64,
    floor: Duration,
    full_pages: u32,
    waiting_pages: u32,
) -> (Duration, Option<Duration>) {
    let full = f64::from(full_pages.max(1));
    let waiting = f64::from(waiting_pages.max(1));
    // Waiting sweeps pay off only when they are much cheaper.
    let waiting_worth_it = waiting * 2.0 <= full;
    let seconds = |pages: f64, rate: f64| Duration::from_secs_f64(pages / rate.max(1e-9));
    let waiting_period = floor.max(seconds(waiting, WAITING_PART * budget));
    let full_rate = if waiting_worth_it {
        (budget - waiting / waiting_period.as_secs_f64()).max((1.0 - WAITING_PART) * budget)
    } else {
        budget
    };
    let full_period = floor.max(seconds(full, full_rate)).min(MAX_FULL_PERIOD);
    (full_period, waiting_worth_it.then_some(waiting_period))
}

/// Takes a page into a listing: a chat listed twice (the listing was
/// recomputed between pages) counts once, its latest `updatedAt` winning.
fn take_page(chats: &mut BTreeMap<u64, Chat>, page: Vec<Chat>) {
    for chat in page {
        match chats.get(&chat.chat_id.get()) {
            Some(seen) if seen.updated_at > chat.updated_at => {}
            _ => {
                chats.insert(chat.chat_id.get(), chat);
            }
        }
    }
}

/// Which sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sweep {
    Full,
    Waiting,
}

/// What comes next: a sweep, or the hinted chats.
enum Next {
    Sweep(Sweep),
    Hints(Vec<u64>),
}

/// Polling reads wait for the quota; hinted reads never do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Polling,
    Hinted,
}

/// The outcome of a history read.
enum History {
    Messages(Read),
    /// The chat answers 404.
    Gone,
    /// A hinted read found no quota: polling covers the chat.
    Skipped,
}

/// A listing in progress. A full sweep is kept between cycles when a
/// waiting sweep falls due while it pages or reads what it listed, so that
/// a long full sweep never holds up the buyers' messages.
struct Listing {
    sweep: Sweep,
    started: Instant,
    /// The chats listed and not judged yet.
    chats: BTreeMap<u64, Chat>,
    /// Every page is in: the chats are being judged.
    listed: bool,
    token: Option<String>,
    sent: HashSet<String>,
    pages: u32,
    /// The server's time when it began.
    swept_from: Option<DateTime<Utc>>,
    /// It made way for a waiting sweep, which has not run yet.
    made_way: bool,
    /// It ended its turn to deliver: the next read is no turn's first (so
    /// a full sweep's keeps the reserve).
    delivered: bool,
}

impl Listing {
    fn new(sweep: Sweep) -> Self {
        Self {
            sweep,
            started: Instant::now(),
            chats: BTreeMap::new(),
            listed: false,
            token: None,
            sent: HashSet::new(),
            pages: 0,
            swept_from: None,
            made_way: false,
            delivered: false,
        }
    }
}

/// Whether a sweep goes on in this turn, or ends it to go on in the next:
/// after a waiting sweep it made way for, or right away once what it found
/// is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Turn {
    Go,
    MakeWay,
    Deliver,
}

/// How a listing's turn ended.
enum Listed {
    Done,
    /// A waiting sweep is due: the full listing goes on after it.
    MadeWay,
}

/// When each sweep is due, and what each cost last time (pages).
#[derive(Debug, Default)]
struct Schedule {
    /// When the last full sweep started.
    last_full: Option<Instant>,
    next_full: Option<Instant>,
    next_waiting: Option<Instant>,
    full_pages: u32,
    waiting_pages: u32,
}

pub(crate) struct Follower {
    client: Client,
    /// Saved to directly only when a quota is paused mid-sweep; otherwise
    /// the stream saves as events are taken.
    checkpoint: SharedCheckpoint,
    business: BusinessId,
    options: Options,
    filters: Filters,
    pub(crate) state: State,
    clock: ServerClock,
    pacer: Pacer,
    schedule: Schedule,
    journal: Journal,
    /// A full listing that made way for a waiting sweep, or paused to
    /// deliver what it found before waiting for the quota.
    full_listing: Option<Listing>,
    /// A waiting listing that paused to deliver what it found before
    /// waiting for the quota: it goes on first.
    waiting_listing: Option<Listing>,
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
        let filters = Filters {
            statuses: options.statuses.clone(),
            types: options.types.clone(),
            context_types: options.context_types.clone(),
            own_messages: options.own_messages,
        };
        Self {
            client,
            checkpoint,
            business,
            options,
            filters,
            state,
            clock: ServerClock::default(),
            pacer,
            schedule: Schedule::default(),
            journal: Journal::default(),
            full_listing: None,
            waiting_listing: None,
        }
    }

    /// The business followed.
    pub(crate) fn business(&self) -> BusinessId {
        self.business
    }

    /// Takes the loaded records (or keeps the fresh state).
    pub(crate) fn load(&mut self, records: &[Vec<u8>]) -> Result<(), Error> {
        if let Some(state) = State::from_records(records, self.business.get())? {
            self.state = state;
            self.clock = ServerClock::from_saved(self.state.clock_offset_ms);
            self.journal = Journal::loaded(records);
        }
        Ok(())
    }

    /// What to save now (see [`Journal::record`]).
    pub(crate) fn record(&mut self) -> Record {
        self.state.clock_offset_ms = self.clock.offset_ms();
        self.journal
            .record(&mut self.state, self.clock.now(), false)
    }

    /// Takes an item's state change into the state.
    pub(crate) fn apply(&mut self, item: &Item) {
        self.journal.apply(&mut self.state, item);
    }

    /// Waits as the schedule says (or until chats are hinted), then runs a
    /// sweep or reads the hinted chats.
    pub(crate) async fn cycle(mut self, first: bool) -> (Self, Result<Vec<Item>, Error>) {
        let next = if first {
            Next::Sweep(Sweep::Full)
        } else {
            self.wait().await
        };
        // A replica that lost its claim (paused past its lease) stops
        // before it calls the API.
        if let Err(error) = self.checkpoint.holds().await {
            return (self, Err(error));
        }
        let result = match next {
            Next::Sweep(sweep) => self.sweep(sweep).await,
            Next::Hints(hinted) => self.hinted(hinted).await,
        };
        (self, result)
    }

    /// The sweep due first, and when. A full listing that made way goes
    /// on right after the one waiting sweep it made way for, so it always
    /// ends however often waiting sweeps fall due.
    fn due(&self) -> (Instant, Sweep) {
        let now = Instant::now();
        if self.waiting_listing.is_some() {
            return (now, Sweep::Waiting);
        }
        if let Some(listing) = &self.full_listing {
            let next = if listing.made_way {
                Sweep::Waiting
            } else {
                Sweep::Full
            };
            return (now, next);
        }
        let full = self.schedule.next_full.unwrap_or(now);
        match self.schedule.next_waiting {
            Some(waiting) if waiting < full => (waiting, Sweep::Waiting),
            _ => (full, Sweep::Full),
        }
    }

    /// Until a sweep is due, or chats are hinted. A due sweep goes before
    /// any hint, so a steady flow of hints never stops polling.
    async fn wait(&mut self) -> Next {
        let (due, sweep) = self.due();
        let Some(hints) = self.options.hints.clone() else {
            tokio::time::sleep_until(due).await;
            return Next::Sweep(sweep);
        };
        loop {
            if Instant::now() >= due {
                return Next::Sweep(sweep);
            }
            let hinted = hints.take();
            if !hinted.is_empty() {
                return Next::Hints(hinted);
            }
            if tokio::time::timeout_at(due, hints.added()).await.is_err() {
                return Next::Sweep(sweep);
            }
        }
    }

    async fn sweep(&mut self, sweep: Sweep) -> Result<Vec<Item>, Error> {
        let mut listing = match sweep {
            Sweep::Full => self
                .full_listing
                .take()
                .unwrap_or_else(|| Listing::new(Sweep::Full)),
            Sweep::Waiting => match self.waiting_listing.take() {
                Some(listing) => listing,
                None => {
                    // The full listing that made way for it goes on next.
                    if let Some(full) = &mut self.full_listing {
                        full.made_way = false;
                    }
                    Listing::new(Sweep::Waiting)
                }
            },
        };
        let started = listing.started;
        let mut items = Vec::new();
        if !listing.listed {
            match self.list(&mut listing, &mut items).await {
                Ok(Listed::Done) => listing.listed = true,
                Ok(Listed::MadeWay) => {
                    self.full_listing = Some(listing);
                    return Ok(items);
                }
                Err(error) if error.is_rate_limited() => {
                    self.rate_limited(Operation::GetChats, &error).await?;
                    if sweep == Sweep::Full {
                        // Goes on after the pause, from the page it reached.
                        self.full_listing = Some(listing);
                    } else {
                        self.plan(sweep, started).await?;
                    }
                    return Ok(items);
                }
                Err(error) => return Err(error),
            }
        }
        // Judged chat by chat. Once a chat was read this turn (a chat that
        // needs no read costs nothing), a full sweep makes way for a due
        // waiting sweep between chats too, and any sweep whose next read
        // must wait for the quota delivers what it found first; the turn
        // ends there and the listing goes on in the next one.
        let mut read_this_turn = u32::from(std::mem::take(&mut listing.delivered));
        loop {
            let next_reads = listing.chats.first_key_value().is_some_and(|(_, chat)| {
                judge::read_from(&self.state, chat, self.clock.now()).is_some()
            });
            if read_this_turn > 0 {
                let turn = if self.makes_way(&listing) {
                    Turn::MakeWay
                } else if next_reads {
                    self.before_read(&listing, !items.is_empty()).await?
                } else {
                    Turn::Go
                };
                if turn != Turn::Go {
                    listing.made_way = turn == Turn::MakeWay;
                    listing.delivered = turn == Turn::Deliver;
                    match listing.sweep {
                        Sweep::Full => self.full_listing = Some(listing),
                        Sweep::Waiting => self.waiting_listing = Some(listing),
                    }
                    return Ok(items);
                }
            }
            let Some((_, chat)) = listing.chats.pop_first() else {
                break;
            };
            read_this_turn += u32::from(next_reads);
            match self.chat(chat, Mode::Polling).await {
                Ok(chat_items) => items.extend(chat_items),
                Err(error) if error.is_rate_limited() => {
                    // The chats judged so far stand; the rest wait for
                    // the next sweep.
                    self.rate_limited(Operation::GetChatHistory, &error).await?;
                    self.plan(sweep, started).await?;
                    return Ok(items);
                }
                Err(error) => return Err(error),
            }
        }
        if sweep == Sweep::Full {
            let swept_from = listing.swept_from.unwrap_or_else(|| self.clock.now());
            items.push(Item {
                event: None,
                change: Some(Change::FullSweep(swept_from)),
            });
        }
        self.plan(sweep, started).await?;
        Ok(items)
    }

    /// Schedules the next sweeps after `done` (started at `started`): see
    /// the module docs.
    async fn plan(&mut self, done: Sweep, started: Instant) -> Result<(), Error> {
        let (full_period, waiting_period) = self.periods().await?;
        let s = &mut self.schedule;
        if done == Sweep::Full {
            s.last_full = Some(started);
        }
        let last_full = s.last_full.unwrap_or(started);
        s.next_full = Some(later(last_full, full_period));
        // A full sweep covers the waiting chats too.
        s.next_waiting = waiting_period.map(|period| later(started, period));
        Ok(())
    }

    /// The sweeps' periods by the plan, from what each listed last time.
    async fn periods(&self) -> Result<(Duration, Option<Duration>), Error> {
        let budget = self.pacer.sweep_budget(&self.client, self.business).await?;
        let s = &self.schedule;
        Ok(periods(
            budget,
            self.options.poll_interval,
            s.full_pages,
            s.waiting_pages,
        ))
    }

    /// A full listing longer than any known so far (the first one of a
    /// stream: nothing is known yet) plans the waiting sweeps from the pages
    /// it has listed, as it goes, so that they run during it rather than
    /// after it: at 100,000 chats the first full sweep lasts hours.
    async fn plan_during(&mut self, listing: &Listing) -> Result<(), Error> {
        self.schedule.full_pages = self.schedule.full_pages.max(listing.pages);
        if self.schedule.next_waiting.is_none() {
            let (_, waiting_period) = self.periods().await?;
            self.schedule.next_waiting =
                waiting_period.map(|period| later(listing.started, period));
        }
        Ok(())
    }

    /// A full listing's next request (past its first of the turn) leaves
    /// the waiting sweeps their reserve of the quota (see
    /// [`pacing::bucket_wait`](super::pacing::bucket_wait)): it waits for
    /// the bucket to fill above it, or until a waiting sweep falls due
    /// first (then it makes way). Not while no waiting sweeps are planned.
    async fn leave_reserve(&mut self, operation: Operation) -> Result<Turn, Error> {
        if self.schedule.next_waiting.is_none() {
            return Ok(Turn::Go);
        }
        loop {
            let Some(wait) = self
                .pacer
                .background_wait(&self.client, self.business, operation, true)
                .await?
            else {
                return Ok(Turn::Go);
            };
            let until = later(Instant::now(), wait);
            if let Some(due) = self.schedule.next_waiting.filter(|due| *due <= until) {
                tokio::time::sleep_until(due).await;
                return Ok(Turn::MakeWay);
            }
            tokio::time::sleep_until(until).await;
        }
    }

    /// Before a read past the first of a turn: when it must wait for the
    /// quota (a full sweep: for its reserve) and something was `found`,
    /// that is delivered first, so that no event waits on a read of
    /// another chat; else the full sweep leaves the reserve.
    async fn before_read(&mut self, listing: &Listing, found: bool) -> Result<Turn, Error> {
        let full = listing.sweep == Sweep::Full;
        let reserve = full && self.schedule.next_waiting.is_some();
        if found
            && self
                .pacer
                .background_wait(
                    &self.client,
                    self.business,
                    Operation::GetChatHistory,
                    reserve,
                )
                .await?
                .is_some()
        {
            return Ok(Turn::Deliver);
        }
        if !full {
            return Ok(Turn::Go);
        }
        self.leave_reserve(Operation::GetChatHistory).await
    }

    /// Whether `listing` stops here for a waiting sweep that fell due: only
    /// a full one does.
    fn makes_way(&self, listing: &Listing) -> bool {
        listing.sweep == Sweep::Full
            && self
                .schedule
                .next_waiting
                .is_some_and(|due| due <= Instant::now())
    }

    /// Pages through the listing, each chat once (the latest `updatedAt`
    /// seen wins). A full listing makes way (returns, to go on later) when a
    /// waiting sweep falls due between its pages. Takes the start point from
    /// the first answer on a fresh state.
    async fn list(
        &mut self,
        listing: &mut Listing,
        items: &mut Vec<Item>,
    ) -> Result<Listed, Error> {
        let mut query = self.client.chats(self.business).page_size(PageSize::MAX);
        if listing.sweep == Sweep::Waiting {
            query = query.statuses(WAITING);
        }
        // At least one page a turn: a full listing always ends, however
        // often waiting sweeps fall due.
        let mut this_turn = 0u32;
        loop {
            if this_turn > 0
                && (self.makes_way(listing)
                    || (listing.sweep == Sweep::Full
                        && self.leave_reserve(Operation::GetChats).await? == Turn::MakeWay))
            {
                listing.made_way = true;
                return Ok(Listed::MadeWay);
            }
            self.ready(Operation::GetChats, Mode::Polling).await?;
            let page = query.page(listing.token.clone()).await?;
            listing.pages += 1;
            this_turn += 1;
            self.answered(Operation::GetChats, page.date, page.rate_limit.as_ref())
                .await?;
            if listing.swept_from.is_none() {
                // Never later than the server's time when the sweep began.
                let at = answered_at(&self.clock, page.date)
                    - TimeDelta::from_std(listing.started.elapsed()).unwrap_or_default();
                listing.swept_from = Some(at);
                self.take_start(at, items);
            }
            take_page(&mut listing.chats, page.chats);
            if listing.sweep == Sweep::Full {
                self.plan_during(listing).await?;
            }
            match page.next_page_token {
                Some(next) if listing.sent.insert(next.clone()) => listing.token = Some(next),
                Some(next) => {
                    // What was not listed is caught by the next sweep.
                    tracing::warn!(token = %next, "getChats repeated a page token: listing cut short");
                    break;
                }
                None => break,
            }
        }
        match listing.sweep {
            Sweep::Full => self.schedule.full_pages = listing.pages,
            Sweep::Waiting => self.schedule.waiting_pages = listing.pages,
        }
        Ok(Listed::Done)
    }

    /// "From now": the server's time when the stream was first polled, in
    /// whole seconds (`at` is never later than that: `Date` is at most a
    /// second behind the server and the first answer's time is taken off).
    /// Nothing written after it is lost; what was written up to 2 s plus
    /// the first request's round trip before it may be delivered too.
    fn take_start(&mut self, at: DateTime<Utc>, items: &mut Vec<Item>) {
        if !self.state.start_pending {
            return;
        }
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
                    let gone = judge::gone(&self.state, id);
                    if gone.is_empty() {
                        tracing::debug!(chat_id = id, "a hinted chat answers 404: skipped");
                    }
                    items.extend(gone);
                    continue;
                }
                Err(error) if error.is_rate_limited() => {
                    self.rate_limited(Operation::GetChat, &error).await?;
                    break;
                }
                Err(error) => return Err(error),
            };
            self.answered(Operation::GetChat, answer.date, answer.rate_limit.as_ref())
                .await?;
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
            let now_paused = self.state.paused_until.get(operation.name()).copied();
            if now_paused.is_some() && now_paused != paused {
                self.persist().await?;
            }
            if mode == Mode::Hinted {
                return Ok(false);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Learns from an answer: the server's clock and quota. When the
    /// answer says the share is spent, that is saved at once, so a
    /// restarted follower waits for the reset without sending first.
    async fn answered(
        &mut self,
        operation: Operation,
        date: Option<DateTime<Utc>>,
        rate_limit: Option<&crate::RateLimit>,
    ) -> Result<(), Error> {
        self.clock.observe(date);
        self.pacer.observe(operation, rate_limit);
        if let Some(wait) = rate_limit.and_then(|r| spent_for(r, self.options.quota_share))
            && !self.state.paused_until.contains_key(operation.name())
        {
            Pacer::pause(operation, wait, &self.clock, &mut self.state.paused_until);
            self.persist().await?;
        }
        Ok(())
    }

    /// Saves the state as it is: during a sweep it is exactly what was
    /// taken (a sweep runs only once every event before it was taken and
    /// saved), plus the pacing.
    async fn persist(&mut self) -> Result<(), Error> {
        let record = self.record();
        record.write(&*self.checkpoint).await
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

    /// The items for one chat as listed (or got): none for a stale
    /// snapshot; reads its history when the rules say so.
    async fn chat(&mut self, chat: Chat, mode: Mode) -> Result<Vec<Item>, Error> {
        if judge::stale(&self.state, &chat) {
            return Ok(Vec::new());
        }
        let read = match judge::read_from(&self.state, &chat, self.clock.now()) {
            None => None,
            Some(from) => match self.history(&chat, from, mode).await? {
                History::Messages(read) => Some(read),
                History::Gone => return Ok(judge::gone(&self.state, chat.chat_id.get())),
                History::Skipped => return Ok(Vec::new()),
            },
        };
        Ok(judge::items(&self.state, &self.filters, chat, read))
    }

    /// The chat's new messages from `from`. When the server pages newest
    /// first, a chat never read stops at the first page that reaches back
    /// past `from.since`: a long quiet chat costs one or two pages, not its
    /// whole history (oldest first, the whole history is read once).
    async fn history(&mut self, chat: &Chat, from: ReadFrom, mode: Mode) -> Result<History, Error> {
        let mut query = self
            .client
            .chat(self.business, chat.chat_id)
            .history()
            .page_size(HistoryPageSize::MAX);
        if let Some(after) = from.after {
            // Whether `messageIdFrom` includes the message itself is not
            // documented: the judge filters either way.
            query = query.message_id_from(after);
        }
        let mut token: Option<String> = None;
        let mut sent = HashSet::new();
        let mut messages: Vec<ChatMessage> = Vec::new();
        let mut read_at: Option<DateTime<Utc>> = None;
        let mut newest_first = false;
        loop {
            let operation = Operation::GetChatHistory;
            if !self.ready(operation, mode).await? {
                return Ok(History::Skipped);
            }
            let page = match query.page(token.clone()).await {
                Ok(page) => page,
                Err(Error::Api { status: 404, .. }) => return Ok(History::Gone),
                Err(error) => return Err(error),
            };
            self.answered(operation, page.date, page.rate_limit.as_ref())
                .await?;
            let at = answered_at(&self.clock, page.date);
            read_at = Some(read_at.map_or(at, |earlier| earlier.min(at)));
            let before = messages.len();
            messages.extend(page.messages);
            // Newest first shows within the page or from the last page to
            // this one.
            newest_first |= judge::falls(&messages[before.saturating_sub(1)..]);
            let reached_back = judge::reached_back(from, newest_first, &messages);
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
        Ok(History::Messages(Read {
            messages: judge::new_messages(from, messages),
            at: read_at.unwrap_or_else(|| self.clock.now()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{FollowHints, MemoryCheckpoint};
    use super::*;
    use crate::RateLimit;

    fn rate_limit(limit: Option<u64>, remaining: Option<u64>, resets_in: Option<u64>) -> RateLimit {
        RateLimit {
            limit,
            remaining,
            until: None,
            resets_in: resets_in.map(Duration::from_secs),
            retry_after: None,
        }
    }

    #[test]
    fn an_answer_says_the_share_is_spent_at_or_below_the_reserve() {
        // 100 in the window, a share of 0.3: the reserve is 70.
        let spent = |remaining, resets_in| {
            spent_for(&rate_limit(Some(100), Some(remaining), resets_in), 0.3)
        };
        assert_eq!(spent(71, Some(30)), None);
        assert_eq!(spent(70, Some(30)), Some(Duration::from_secs(31)));
        assert_eq!(spent(0, None), Some(Duration::from_secs(61)));
        // The reserve rounds up: 0.25 of 10 leaves 8.
        let spent = |remaining| spent_for(&rate_limit(Some(10), Some(remaining), Some(5)), 0.25);
        assert_eq!(spent(8), Some(Duration::from_secs(6)));
        assert_eq!(spent(9), None);
        // Without a limit or a remaining, nothing is known.
        assert_eq!(spent_for(&rate_limit(None, Some(0), Some(5)), 0.5), None);
        assert_eq!(spent_for(&rate_limit(Some(10), None, Some(5)), 0.5), None);
    }

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn waiting_sweeps_take_most_of_the_plan_when_they_are_much_cheaper() {
        let floor = Duration::from_secs(30);
        // 500 pages a full sweep, 15 a waiting one, 0.25 requests a second:
        // the waiting sweep runs every 15 / (0.9 × 0.25) s, the full sweep
        // gets what is left (but at least a tenth).
        let (full, waiting) = periods(0.25, floor, 500, 15);
        let waiting = waiting.expect("worth it");
        assert!((secs(waiting) - 15.0 / 0.225).abs() < 1e-6, "{waiting:?}");
        let full_rate = (0.25 - 15.0 / secs(waiting)).max(0.025);
        assert!((secs(full) - 500.0 / full_rate).abs() < 1e-3, "{full:?}");
        // The floor holds both.
        let (full, waiting) = periods(1_000.0, floor, 500, 15);
        assert_eq!((full, waiting), (floor, Some(floor)));
        // With the floor above what waiting sweeps need, the full sweep
        // gets the rest of the budget.
        let (full, waiting) = periods(1.0, Duration::from_secs(100), 500, 10);
        assert_eq!(waiting, Some(Duration::from_secs(100)));
        assert!((secs(full) - 500.0 / 0.9).abs() < 1e-6, "{full:?}");
        // Not much cheaper (more than half a full sweep): full sweeps only,
        // with the whole budget.
        let (full, waiting) = periods(0.5, floor, 10, 6);
        assert_eq!(waiting, None);
        assert_eq!(full, floor, "20 s is below the floor");
        let (full, waiting) = periods(0.1, floor, 10, 5);
        assert!((secs(waiting.expect("half is worth it")) - 5.0 / 0.09).abs() < 1e-6);
        assert!((secs(full) - 10.0 / 0.01).abs() < 1e-3, "{full:?}");
        let (full, _) = periods(0.1, floor, 10, 6);
        assert!((secs(full) - 100.0).abs() < 1e-6, "{full:?}");
        // Nothing known yet counts as one page each; a budget of nothing
        // waits the longest period, not forever.
        assert_eq!(periods(0.1, floor, 0, 0), (Duration::from_secs(30), None));
        // A week.
        assert_eq!(periods(0.0, floor, 500, 15).0, Duration::from_secs(604_800));
    }

    fn follower(hints: Option<FollowHints>) -> Follower {
        let client = Client::builder()
            .api_key("key")
            .base_url("http://127.0.0.1:9")
            .build()
            .unwrap();
        let options = Options {
            statuses: Vec::new(),
            types: Vec::new(),
            context_types: Vec::new(),
            from_beginning: false,
            own_messages: false,
            poll_interval: Duration::from_secs(30),
            quota_share: 0.5,
            hints,
        };
        Follower::new(
            client,
            BusinessId::from(3u64),
            options,
            Arc::new(MemoryCheckpoint::new()),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweep_due_first_goes_first_and_a_paused_full_listing_at_once() {
        let mut follower = follower(None);
        let now = Instant::now();
        assert_eq!(
            follower.due(),
            (now, Sweep::Full),
            "nothing planned: a full sweep now"
        );
        let s = &mut follower.schedule;
        s.next_full = Some(now + Duration::from_secs(100));
        s.next_waiting = Some(now + Duration::from_secs(10));
        assert_eq!(
            follower.due(),
            (now + Duration::from_secs(10), Sweep::Waiting)
        );
        follower.schedule.next_waiting = Some(now + Duration::from_secs(100));
        assert_eq!(
            follower.due(),
            (now + Duration::from_secs(100), Sweep::Full),
            "a tie is a full sweep"
        );
        follower.schedule.next_waiting = Some(now + Duration::from_secs(200));
        assert_eq!(
            follower.due(),
            (now + Duration::from_secs(100), Sweep::Full)
        );
        // A full listing in progress goes on now, even with a waiting
        // sweep overdue; one that made way lets that waiting sweep go first.
        follower.full_listing = Some(Listing::new(Sweep::Full));
        follower.schedule.next_waiting = Some(now - Duration::from_secs(1));
        assert_eq!(follower.due(), (now, Sweep::Full));
        follower.full_listing.as_mut().unwrap().made_way = true;
        assert_eq!(follower.due(), (now, Sweep::Waiting));
    }

    #[tokio::test(start_paused = true)]
    async fn it_waits_for_the_due_sweep_or_hints_and_a_due_sweep_goes_before_hints() {
        // Without hints: the sweep, when due.
        let mut follower = follower(None);
        let start = Instant::now();
        follower.schedule.next_full = Some(start + Duration::from_secs(60));
        assert!(matches!(follower.wait().await, Next::Sweep(Sweep::Full)));
        assert_eq!(start.elapsed(), Duration::from_secs(60));

        let hints = FollowHints::new();
        let mut follower = super::tests::follower(Some(hints.clone()));
        let start = Instant::now();
        follower.schedule.next_full = Some(start + Duration::from_secs(60));
        follower.schedule.next_waiting = Some(start + Duration::from_secs(90));
        // Hints waiting: they go at once.
        hints.chat(5u64);
        hints.chat(6u64);
        let Next::Hints(hinted) = follower.wait().await else {
            panic!("the hints");
        };
        assert_eq!(hinted, vec![5, 6]);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // A hint while waiting wakes it.
        let later_hint = {
            let hints = hints.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                hints.chat(7u64);
            })
        };
        let Next::Hints(hinted) = follower.wait().await else {
            panic!("the hint");
        };
        assert_eq!(hinted, vec![7]);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
        later_hint.await.unwrap();
        // No hint: the sweep at its time.
        assert!(matches!(follower.wait().await, Next::Sweep(Sweep::Full)));
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        // Due, with hints waiting: the sweep first.
        hints.chat(8u64);
        assert!(matches!(follower.wait().await, Next::Sweep(Sweep::Full)));
        assert_eq!(hints.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn before_a_read_that_must_wait_a_sweep_delivers_first_and_a_full_one_leaves_the_reserve()
    {
        // getChatHistory's 10,000 an hour, a share of 0.5: a bucket of
        // 83.3, refilled one every 0.72 s; a full sweep leaves 41.7.
        let mut follower = follower(None);
        let start = Instant::now();
        let waiting = Listing::new(Sweep::Waiting);
        let full = Listing::new(Sweep::Full);
        async fn turn(follower: &mut Follower, listing: &Listing, found: bool) -> Turn {
            follower.before_read(listing, found).await.unwrap()
        }
        // A full bucket: every read goes.
        for found in [false, true] {
            assert_eq!(turn(&mut follower, &waiting, found).await, Turn::Go);
            assert_eq!(turn(&mut follower, &full, found).await, Turn::Go);
        }
        for _ in 0..83 {
            assert!(
                follower
                    .ready(Operation::GetChatHistory, Mode::Polling)
                    .await
                    .unwrap()
            );
        }
        // Empty: what was found goes first; else the read waits in
        // `ready`. With no waiting sweep planned, a full one keeps no
        // reserve.
        assert_eq!(turn(&mut follower, &waiting, true).await, Turn::Deliver);
        assert_eq!(turn(&mut follower, &waiting, false).await, Turn::Go);
        assert_eq!(turn(&mut follower, &full, true).await, Turn::Deliver);
        assert_eq!(turn(&mut follower, &full, false).await, Turn::Go);
        assert_eq!(start.elapsed(), Duration::ZERO, "nothing waited");
        // A waiting sweep due in 10 s: the full sweep waits for it (the
        // reserve is 30 s away) and makes way.
        follower.schedule.next_waiting = Some(start + Duration::from_secs(10));
        assert_eq!(turn(&mut follower, &full, true).await, Turn::Deliver);
        assert_eq!(turn(&mut follower, &full, false).await, Turn::MakeWay);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // About 14 tokens: below the reserve, a full sweep delivers what it
        // found; a waiting one, never held to the reserve, reads on.
        assert_eq!(turn(&mut follower, &full, true).await, Turn::Deliver);
        assert_eq!(turn(&mut follower, &waiting, true).await, Turn::Go);
        // Due later: it waits until the bucket holds the reserve and one
        // more (from 0.33 + 10 / 0.72 to 42.7 tokens: about 20.5 s).
        follower.schedule.next_waiting = Some(start + Duration::from_secs(100));
        assert_eq!(turn(&mut follower, &full, false).await, Turn::Go);
        let waited = start.elapsed() - Duration::from_secs(10);
        assert!(
            waited > Duration::from_secs(20) && waited < Duration::from_secs(21),
            "{waited:?}"
        );
        // The waiting sweep's reads never wait for the reserve.
        assert_eq!(turn(&mut follower, &waiting, true).await, Turn::Go);
    }

    #[tokio::test]
    async fn the_start_point_is_taken_once_in_whole_seconds() {
        let mut follower = follower(None);
        assert_eq!(follower.business(), BusinessId::from(3u64));
        let at = DateTime::parse_from_rfc3339("2026-01-01T10:00:05.750Z")
            .unwrap()
            .to_utc();
        let mut items = Vec::new();
        follower.take_start(at, &mut items);
        assert_eq!(
            follower.state.start,
            Some(DateTime::parse_from_rfc3339("2026-01-01T10:00:05Z").unwrap())
        );
        assert!(!follower.state.start_pending);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].change, Some(Change::Started));
        follower.take_start(at + TimeDelta::hours(1), &mut items);
        assert_eq!(items.len(), 1, "taken once");
        assert_eq!(
            follower.state.start,
            Some(DateTime::parse_from_rfc3339("2026-01-01T10:00:05Z").unwrap())
        );
    }

    #[tokio::test]
    async fn a_follower_saves_and_loads_its_state_and_clock() {
        let mut follower = follower(None);
        follower.load(&[]).unwrap();
        assert!(follower.state.start_pending, "nothing saved: a fresh state");
        follower.clock = ServerClock::from_saved(Some(-30_000));
        let at = DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .unwrap()
            .to_utc();
        follower.apply(&Item {
            event: None,
            change: Some(Change::FullSweep(at)),
        });
        let Record::Replace(snapshot) = follower.record() else {
            panic!("the first save is a snapshot");
        };
        follower.apply(&Item {
            event: None,
            change: Some(Change::Remove(9)),
        });
        let Record::Append(delta) = follower.record() else {
            panic!("then deltas");
        };
        let mut loaded = super::tests::follower(None);
        loaded.load(&[snapshot, delta]).unwrap();
        assert!(loaded.state.listed_once);
        assert_eq!(loaded.state.last_full_sweep, Some(at));
        assert_eq!(loaded.state.clock_offset_ms, Some(-30_000));
        assert_eq!(loaded.clock.offset_ms(), Some(-30_000));
        // The journal goes on from the records: the next save is a delta.
        assert!(matches!(loaded.record(), Record::Append(_)));
        let error = loaded.load(&[b"{}".to_vec()]).unwrap_err();
        assert!(matches!(error, Error::Checkpoint { .. }), "{error}");
    }

    fn listed(id: u64, updated_at: &str, status: &str) -> Chat {
        serde_json::from_value(serde_json::json!({
            "chatId": id, "type": "CHAT", "status": status,
            "createdAt": "2026-01-01T10:00:00+03:00", "updatedAt": updated_at,
            "context": {"type": "DIRECT"}
        }))
        .unwrap()
    }

    #[test]
    fn a_chat_listed_twice_counts_once_with_its_latest_update() {
        let mut chats = BTreeMap::new();
        take_page(
            &mut chats,
            vec![
                listed(1, "2026-01-01T10:00:05+03:00", "NEW"),
                listed(2, "2026-01-01T10:00:05+03:00", "NEW"),
                listed(3, "2026-01-01T10:00:05+03:00", "NEW"),
            ],
        );
        take_page(
            &mut chats,
            vec![
                // Later: wins; earlier: loses; the same time: the later copy.
                listed(1, "2026-01-01T10:00:06+03:00", "WAITING_FOR_PARTNER"),
                listed(2, "2026-01-01T10:00:04+03:00", "FINISHED"),
                listed(3, "2026-01-01T10:00:05+03:00", "FINISHED"),
            ],
        );
        let status = |id: u64| chats[&id].status.to_string();
        assert_eq!(chats.len(), 3);
        assert_eq!(status(1), "WAITING_FOR_PARTNER");
        assert_eq!(status(2), "NEW");
        assert_eq!(status(3), "FINISHED");
    }
}
