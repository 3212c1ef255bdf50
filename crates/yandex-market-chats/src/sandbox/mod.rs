//! A fake Yandex.Market server on 127.0.0.1, for your tests and the examples.
//!
//! Enabled by the `sandbox` feature. It behaves like the real `getChats` as
//! the documentation and today's API describe: seeded chats, every filter,
//! opaque page tokens, 400 for a `limit` outside 1..=20 or an empty filter,
//! 401 without a valid key, 404 for an unknown business, the three
//! `X-RateLimit-Resource-*` headers, an hourly quota and the 4 parallel
//! requests per business (both answered 420, told apart as the API does by
//! `Remaining`). Tests can script faults and read the requests it saw.
//!
//! Where the API's behaviour is undocumented the sandbox chooses: every error,
//! the parallel-limit 420 included, uses the documented error body
//! `{"status": "ERROR", "errors": [{"code", "message"}]}`.
//!
//! It is two layers: an httpmock server answers like the API, and a small
//! raw listener in front of it (the URL you get) does what httpmock cannot:
//! drop connections, delay answers, and count requests in flight.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), yandex_market_chats::Error> {
//! use futures::TryStreamExt;
//! use yandex_market_chats::sandbox::{Fault, Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default().chats(45).seed(7))?;
//! sandbox.fail_next(1, Fault::InternalError); // retried by the client
//! let chats: Vec<_> = sandbox.client()?.chats(sandbox.business_id()).stream().try_collect().await?;
//! assert_eq!(chats, sandbox.chats());
//! assert_eq!(sandbox.requests().len(), 4); // one 500, then 3 pages of 20
//! # Ok(()) }
//! ```

mod api;
mod data;
mod front;
mod listing;
mod messages;
mod multipart;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{Chat, ChatMessage, Client, ClientBuilder, Error};

/// How to set up a [`Sandbox`]. Start from `SandboxConfig::default()`.
#[derive(Clone, Debug)]
#[must_use]
pub struct SandboxConfig {
    chats: usize,
    seed: u64,
    business_id: u64,
    api_key: String,
    read_only_api_key: Option<String>,
    hourly_quota: Option<u32>,
    quota_window: Duration,
    parallel_limit: Option<usize>,
    latency: Duration,
}

impl Default for SandboxConfig {
    /// 95 chats from seed 1 for business 1, key `sandbox-api-key`, a quota of
    /// 5,000 per hour, the 4-parallel-request limit, no added latency.
    fn default() -> Self {
        Self {
            chats: 95,
            seed: 1,
            business_id: 1,
            api_key: "sandbox-api-key".to_owned(),
            read_only_api_key: None,
            hourly_quota: Some(5_000),
            quota_window: Duration::from_secs(3600),
            parallel_limit: Some(4),
            latency: Duration::ZERO,
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
}

/// A fault the sandbox applies to one of the next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// 420 with `Remaining: 0` and `Until` this far ahead (the hourly quota).
    QuotaExhausted(Duration),
    /// 420 with `Remaining` above 0 (the parallel-request limit).
    ParallelLimit,
    /// 500 in the API's error format.
    InternalError,
    /// 503 with an HTML page, as a proxy in front of the API answers.
    ServiceUnavailable,
    /// 200 with a body that is not JSON.
    GarbageBody,
    /// Answer normally, after this delay.
    Slow(Duration),
    /// Close the connection without answering.
    DropConnection,
}

/// A request the sandbox received.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The JSON body, when there was one and it parsed.
    pub body: Option<serde_json::Value>,
    /// Whether it carried the sandbox's key. (The key itself is not kept.)
    pub authorized: bool,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
    /// The status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// State shared by the handle, the front listener and the httpmock handler.
pub(crate) struct Shared {
    config: SandboxConfig,
    token_mask: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The business's chats, in paging order; new chats are appended.
    chats: Vec<Chat>,
    /// Each chat's messages, oldest first.
    messages: HashMap<u64, Vec<ChatMessage>>,
    next_message_id: u64,
    /// What to do with the next requests, in order; `None` answers normally.
    faults: VecDeque<Option<Fault>>,
    requests: Vec<RecordedRequest>,
    /// Per business and operation: when the quota window started and how much is used.
    quota: HashMap<(u64, &'static str), (Instant, u32)>,
    in_flight: HashMap<u64, usize>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake Market server. Dropping it stops the server.
pub struct Sandbox {
    shared: Arc<Shared>,
    base_url: String,
    _server: front::Running,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url)
            .field("business_id", &self.shared.config.business_id)
            .field("chats", &self.shared.state().chats.len())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts a sandbox on 127.0.0.1 (an ephemeral port). Works from sync
    /// code and from any async runtime: the server runs on its own thread.
    ///
    /// # Errors
    /// [`Error::Transport`] when it cannot listen on loopback.
    pub fn start(config: SandboxConfig) -> Result<Self, Error> {
        let chats = data::seed_chats(config.chats, config.seed);
        let (messages, next_message_id) = data::seed_messages(&chats, config.seed);
        let token_mask = fastrand::Rng::with_seed(config.seed ^ 0x9e37_79b9_7f4a_7c15).u64(..);
        let shared = Arc::new(Shared {
            config,
            token_mask,
            state: Mutex::new(State {
                chats,
                messages,
                next_message_id,
                ..State::default()
            }),
        });
        let (server, base_url) =
            front::start(Arc::clone(&shared)).map_err(|e| Error::Transport {
                message: format!("cannot start the sandbox: {e}"),
                before_sending: true,
                source: Some(Box::new(e)),
            })?;
        Ok(Self {
            shared,
            base_url,
            _server: server,
        })
    }

    /// Where the sandbox listens, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The key it accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    /// The business it knows.
    pub fn business_id(&self) -> u64 {
        self.shared.config.business_id
    }

    /// The business's chats, in the order the sandbox pages them.
    pub fn chats(&self) -> Vec<Chat> {
        self.shared.state().chats.clone()
    }

    /// A chat's messages, oldest first (empty for an unknown chat). Messages
    /// sent through the API are appended.
    pub fn messages(&self, chat_id: u64) -> Vec<ChatMessage> {
        self.shared
            .state()
            .messages
            .get(&chat_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Applies `fault` to each of the next `n` requests (after faults
    /// already queued).
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.script(std::iter::repeat_n(Some(fault), n));
    }

    /// Scripts the next requests, in order: `Some(fault)` applies the fault,
    /// `None` answers normally. Appends to what is already scripted.
    ///
    /// ```
    /// # use yandex_market_chats::sandbox::{Fault, Sandbox, SandboxConfig};
    /// let sandbox = Sandbox::start(SandboxConfig::default())?;
    /// // The first request succeeds, the second is dropped, the third answers 500.
    /// sandbox.script([None, Some(Fault::DropConnection), Some(Fault::InternalError)]);
    /// # Ok::<(), yandex_market_chats::Error>(())
    /// ```
    pub fn script(&self, faults: impl IntoIterator<Item = Option<Fault>>) {
        self.shared.state().faults.extend(faults);
    }

    /// A builder already pointed at the sandbox with its key; adjust and build.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .api_key(self.api_key())
            .base_url(self.base_url())
    }

    /// A client with default settings, pointed at the sandbox.
    ///
    /// # Errors
    /// None in practice; the configuration is valid.
    pub fn client(&self) -> Result<Client, Error> {
        self.client_builder().build()
    }
}
