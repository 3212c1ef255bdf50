//! [`SandboxConfig`]: what a sandbox holds and how strict it is.

use std::time::Duration;

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
}

impl Default for SandboxConfig {
    /// 95 chats from seed 1 for business 1, key `sandbox-api-key`, a quota of
    /// 5,000 per hour, the 4-parallel-request limit, no added latency, no
    /// notifications, buyers who write only when a test makes them.
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
        }
    }
}

impl SandboxConfig {
    /// How many chats the business has.
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
}
