//! [`SandboxConfig`]: what a sandbox holds, how strict it is, and which of
//! the API's undocumented behaviours it plays.

use std::time::Duration;

use chrono::TimeDelta;

/// The order in which getChats lists chats. The API does not document it
/// (see [`SandboxConfig::listing_order`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ListingOrder {
    /// The seeded order, new chats appended: stable while you page, the
    /// kindest order a server could have. The default.
    #[default]
    Seeded,
    /// Most recently updated first (`updatedAt` descending, the larger chat
    /// id first on a tie), recomputed at every request: a chat written to
    /// while a client pages jumps to page 1 and the chats before its old
    /// place shift one place back, so one may be listed twice and one
    /// skipped. The worst order that is plausible.
    RecentlyUpdatedFirst,
}

/// The order of getChatHistory's messages across its pages. The API does
/// not document it (see [`SandboxConfig::history_order`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HistoryOrder {
    /// The oldest message first. The default.
    #[default]
    OldestFirst,
    /// The newest message first: page 1 holds the newest messages.
    NewestFirst,
}

/// Whether getChatHistory's `messageIdFrom` includes the message with that
/// id. The API does not say (see [`SandboxConfig::message_id_from`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MessageIdFrom {
    /// Messages with ids `>= messageIdFrom`. The default.
    #[default]
    Inclusive,
    /// Messages with ids `> messageIdFrom`.
    Exclusive,
}

/// How to set up a [`Sandbox`](crate::Sandbox). Start from `SandboxConfig::default()`.
#[derive(Clone, Debug)]
#[must_use]
pub struct SandboxConfig {
    pub(crate) chats: usize,
    pub(crate) seed: u64,
    pub(crate) business_id: u64,
    pub(crate) api_key: String,
    pub(crate) read_only_api_key: Option<String>,
    pub(crate) hourly_quota: Option<u32>,
    /// Quotas set per operation, over the defaults.
    pub(crate) operation_quotas: Vec<(yandex_market_chats::Operation, u32)>,
    pub(crate) quota_window: Duration,
    pub(crate) parallel_limit: Option<usize>,
    pub(crate) latency: Duration,
    /// Where notifications go: `<notify_url>/notification`.
    pub(crate) notify_url: Option<String>,
    /// How often a buyer writes on their own; `None`: never.
    pub(crate) buyers_write_every: Option<Duration>,
    pub(crate) listing_order: ListingOrder,
    /// The server's clock minus the host's.
    pub(crate) clock_offset: TimeDelta,
    /// How late getChats and getChat show a chat's change.
    pub(crate) listing_lag: Duration,
    pub(crate) history_order: HistoryOrder,
    pub(crate) message_id_from: MessageIdFrom,
    /// `None`: the id base from the start time (see `first_message_id`).
    pub(crate) first_message_id: Option<u64>,
}

impl Default for SandboxConfig {
    /// 95 chats from seed 1 for business 1, key `sandbox-api-key`, a quota of
    /// 5,000 per hour, the 4-parallel-request limit, no added latency, no
    /// notifications, buyers who write only when a test makes them; the
    /// seeded listing order, the host's clock, no listing lag, history
    /// oldest first with an inclusive `messageIdFrom`, and new message ids
    /// from the start time (see [`SandboxConfig::first_message_id`]).
    fn default() -> Self {
        Self {
            chats: 95,
            seed: 1,
            business_id: 1,
            api_key: "sandbox-api-key".to_owned(),
            read_only_api_key: None,
            hourly_quota: Some(5_000),
            operation_quotas: Vec::new(),
            quota_window: Duration::from_secs(3600),
            parallel_limit: Some(4),
            latency: Duration::ZERO,
            notify_url: None,
            buyers_write_every: None,
            listing_order: ListingOrder::Seeded,
            clock_offset: TimeDelta::zero(),
            listing_lag: Duration::ZERO,
            history_order: HistoryOrder::OldestFirst,
            message_id_from: MessageIdFrom::Inclusive,
            first_message_id: None,
        }
    }
}

impl SandboxConfig {
    /// How many chats the business has. The first ten have every status,
    /// context type and chat type (the first, `NEW` about an order, is chat
    /// 10668 with the default seed); the others are mostly `FINISHED` or
    /// `WAITING_FOR_CUSTOMER`, some `WAITING_FOR_PARTNER` or `NEW` about
    /// orders and returns, a few disputes (`ARBITRAGE` chats waiting for an
    /// arbiter or Market).
    pub fn chats(mut self, count: usize) -> Self {
        self.chats = count;
        self
    }

    /// The seed of the generated chats: the same seed, the same chats.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The one business the sandbox knows; others get 404.
    pub fn business_id(mut self, business_id: u64) -> Self {
        self.business_id = business_id;
        self
    }

    /// The key the sandbox accepts (`Api-Key` or `Authorization: Bearer`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// A second key with only the `all-methods:read-only` scope: it reads,
    /// and its writes are answered 403.
    pub fn read_only_api_key(mut self, key: impl Into<String>) -> Self {
        self.read_only_api_key = Some(key.into());
        self
    }

    /// getChats requests per quota window before 420 with `Remaining: 0`;
    /// `None` for no quotas at all. The other operations have the API's
    /// quotas (1,000 per hour, 10,000 for getChatHistory) in the same window.
    pub fn hourly_quota(mut self, quota: Option<u32>) -> Self {
        self.hourly_quota = quota;
        self
    }

    /// The hourly quota of one operation other than getChats (whose quota
    /// is [`SandboxConfig::hourly_quota`]); by default the API's
    /// (getChatHistory 10,000, the others 1,000).
    pub fn operation_quota(
        mut self,
        operation: yandex_market_chats::Operation,
        quota: u32,
    ) -> Self {
        self.operation_quotas.retain(|(op, _)| *op != operation);
        self.operation_quotas.push((operation, quota));
        self
    }

    /// The quota window; an hour by default, shorter for tests.
    pub fn quota_window(mut self, window: Duration) -> Self {
        self.quota_window = window;
        self
    }

    /// Requests in flight per business before 420 from the parallel limit;
    /// `None` for no limit.
    pub fn parallel_limit(mut self, limit: Option<usize>) -> Self {
        self.parallel_limit = limit;
        self
    }

    /// Time every request takes, so that requests overlap as they do for real.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sends push notifications, as Market does, to `<url>/notification`
    /// (`url` without the path, e.g. `http://127.0.0.1:8081`; a trailing `/`
    /// is ignored): `CHAT_CREATED`, `CHAT_MESSAGE_SENT`,
    /// `CHAT_ARBITRAGE_STARTED` and `CHAT_ARBITRAGE_FINISHED` for what
    /// buyers and arbiters do (see [`Sandbox::customer_message`],
    /// [`Sandbox::open_chat`], [`Sandbox::set_status`]), one JSON `POST`
    /// each, in the official format. Without it, nothing is sent.
    ///
    /// They are sent from the sandbox's thread, one at a time in the order
    /// of the events (so in order per chat too), never blocking the caller
    /// or the API's answers. Each `POST` waits at most 10 seconds for the
    /// answer, as Market does. A `POST` that fails (no connection, a
    /// timeout, any status but 200) is recorded in
    /// [`Sandbox::notifications`] and dropped: Market retries a failed
    /// notification a few times, the sandbox never does, so that what
    /// arrives is exactly what a test scripts (with
    /// [`Sandbox::drop_notifications`] and
    /// [`Sandbox::duplicate_notifications`]).
    ///
    /// [`Sandbox::customer_message`]: crate::Sandbox::customer_message
    /// [`Sandbox::open_chat`]: crate::Sandbox::open_chat
    /// [`Sandbox::set_status`]: crate::Sandbox::set_status
    /// [`Sandbox::notifications`]: crate::Sandbox::notifications
    /// [`Sandbox::drop_notifications`]: crate::Sandbox::drop_notifications
    /// [`Sandbox::duplicate_notifications`]: crate::Sandbox::duplicate_notifications
    pub fn notify_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.notify_url = Some(url.trim_end_matches('/').to_owned());
        self
    }

    /// Buyers write on their own: every `interval`, a customer message
    /// arrives in a chat picked at random (from the seed: the same seed
    /// picks the same chats and lines), exactly as
    /// [`Sandbox::customer_message`](crate::Sandbox::customer_message)
    /// would add it, notification included. Runs on the sandbox's thread;
    /// the first message comes one `interval` after the start. Off by
    /// default; [`Duration::ZERO`] turns it off.
    pub fn buyers_write_every(mut self, interval: Duration) -> Self {
        self.buyers_write_every = (!interval.is_zero()).then_some(interval);
        self
    }

    /// The order in which getChats lists chats: [`ListingOrder::Seeded`]
    /// by default (today's order: seeded chats, then new ones in the order
    /// they were opened). The API does not document its order;
    /// [`ListingOrder::RecentlyUpdatedFirst`] plays the worst plausible one:
    /// the chats the filters select, sorted by `updatedAt` descending at
    /// every request, page tokens staying offsets into that list, so a chat
    /// written to mid-listing jumps to page 1 and the others shift by one.
    ///
    /// [`Sandbox::chats`](crate::Sandbox::chats) keeps the seeded order
    /// whatever this says.
    pub fn listing_order(mut self, order: ListingOrder) -> Self {
        self.listing_order = order;
        self
    }

    /// The server's clock minus the host's: positive when the server is
    /// ahead. Zero by default. The API's clock is not the seller's (minutes
    /// of skew happen); any value is taken, and anything up to an hour
    /// either way is a meaningful test.
    ///
    /// It moves everything the server writes with "now": the `Date` header
    /// of every answer, the `createdAt` of new messages and chats and so
    /// chats' `updatedAt`, the times in notifications (`sentAt`,
    /// `createdAt`, `startedAt`, `finishedAt`) and
    /// `X-RateLimit-Resource-Until`, so that `Until - Date` stays the true
    /// time to the quota's reset. Seeded chats and messages keep their
    /// fixed dates. [`Sandbox::now`](crate::Sandbox::now) says what time
    /// the server thinks it is.
    pub fn clock_offset(mut self, offset: TimeDelta) -> Self {
        self.clock_offset = offset;
        self
    }

    /// How late a chat's listed view follows its changes: getChats and
    /// getChat show a chat's `updatedAt` and `status` (and so its place in
    /// a [`ListingOrder::RecentlyUpdatedFirst`] listing and which status
    /// filters select it) as they were `lag` ago, while getChatHistory and
    /// getChatMessage have a new message at once, as an API whose
    /// `updatedAt` lags the message behind it would. Zero by default.
    ///
    /// A chat opened by [`Sandbox::open_chat`](crate::Sandbox::open_chat)
    /// or createChat is listed, and found by getChat (404 until then), only
    /// `lag` after it was opened; its history and sends work at once. A
    /// deleted chat disappears at once.
    /// [`Sandbox::chats`](crate::Sandbox::chats) shows the true state, never
    /// lagging.
    pub fn listing_lag(mut self, lag: Duration) -> Self {
        self.listing_lag = lag;
        self
    }

    /// The order of getChatHistory's messages across its pages:
    /// [`HistoryOrder::OldestFirst`] by default. With
    /// [`HistoryOrder::NewestFirst`] page 1 holds the newest messages (of
    /// those `messageIdFrom` selects). The API does not document it. Page
    /// tokens are offsets into that order, so newest first, a message
    /// written while a client pages shifts the later pages by one (one
    /// message comes twice).
    /// [`Sandbox::messages`](crate::Sandbox::messages) stays oldest first.
    pub fn history_order(mut self, order: HistoryOrder) -> Self {
        self.history_order = order;
        self
    }

    /// Whether getChatHistory's `messageIdFrom` includes the message with
    /// that id: [`MessageIdFrom::Inclusive`] by default. The API does not
    /// say.
    pub fn message_id_from(mut self, rule: MessageIdFrom) -> Self {
        self.message_id_from = rule;
        self
    }

    /// The id of the first message written after the start (by a buyer,
    /// sendMessageToChat or sendFileToChat, [`Sandbox::open_chat`],
    /// [`SandboxConfig::buyers_write_every`]); each next one is one more.
    /// Seeded chats and messages keep their ids whatever this says (seeded
    /// message ids start above 700,000 and grow by 1 to 4), and the
    /// sandbox does not check new ids against them: an id among them makes
    /// duplicates. An id below them models the API's "ids are unique, not
    /// growing across chats".
    ///
    /// By default the first id is `1_000_000_000` plus the milliseconds
    /// from 2025-01-01T00:00:00Z to the start (and past the seeded ids), so
    /// that a sandbox started later, in another process too, never issues an
    /// id an earlier one issued, as long as the earlier one issued at most
    /// one message per millisecond of its life (1,000 a second); one that
    /// issued more can overlap a later run's ids. Within one process a
    /// sandbox also starts past every id the sandboxes of the process that
    /// use this default issued before it started.
    ///
    /// [`Sandbox::open_chat`]: crate::Sandbox::open_chat
    pub fn first_message_id(mut self, id: u64) -> Self {
        self.first_message_id = Some(id);
        self
    }
}
