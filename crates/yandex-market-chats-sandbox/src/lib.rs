//! A fake Yandex.Market server on 127.0.0.1, for your tests and the
//! examples of [`yandex_market_chats`].
//!
//! [`Sandbox::start`] serves every chat operation of the Partner API as the
//! documentation and today's API describe them, for one business
//! (`/v2/businesses/{businessId}/...`):
//!
//! - **getChats** (`POST .../chats`): seeded chats in a stable order, every
//!   filter of the body (`statuses`, `types`, `contextTypes`, `contexts`,
//!   `orderIds`; an empty, repeated or unknown value is a 400), `limit`
//!   1..=20 (10 by default) and opaque `pageToken`s (a forged one is a 400).
//! - **getChat** (`GET .../chat?chatId=`): one chat.
//! - **getChatHistory** (`POST .../chats/history?chatId=`): a chat's
//!   messages, oldest first, from `messageIdFrom`, `limit` 1..=100 (50 by
//!   default), opaque page tokens.
//! - **getChatMessage** (`GET .../chats/message?chatId=&messageId=`): one
//!   message.
//! - **sendMessageToChat** (`POST .../chats/message?chatId=`): `message` of
//!   1..=4096 characters, appended to the chat as the partner's.
//! - **sendFileToChat** (`POST .../chats/file/send?chatId=`): a
//!   `multipart/form-data` body whose `file` part has 1 byte to 5 MiB.
//! - **createChat** (`POST .../chats/new`): a chat about an order or a
//!   return (`context`, or the older `orderId`); the existing chat when
//!   there is one.
//!
//! Around them it answers like the API: 401 without a valid key (`Api-Key`
//! or `Authorization: Bearer`), 403 for a write with a read-only key, 404
//! for an unknown business, chat, message or path, and the three
//! `X-RateLimit-Resource-*` headers on every answer past the key check. It
//! keeps an hourly quota per operation and the limit of 4 parallel
//! requests per business (both answered 420, told apart as the API does by
//! `Remaining`). Tests can add latency, script faults (see [`Fault`]) and
//! read the requests it saw ([`Sandbox::requests`]).
//!
//! Where the API's behaviour is undocumented the sandbox chooses: every error,
//! the parallel-limit 420 and the 403 included, uses the documented error body
//! `{"status": "ERROR", "errors": [{"code", "message"}]}`.
//!
//! It is one HTTP/1.1 server (hyper) on its own thread and runtime: start it
//! from sync code or from any async runtime, and drop it anywhere.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), yandex_market_chats::Error> {
//! use futures::TryStreamExt;
//! use yandex_market_chats_sandbox::{Fault, Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default().chats(45).seed(7))?;
//! sandbox.fail_next(1, Fault::InternalError); // retried by the client
//! let chats: Vec<_> = sandbox.client()?.chats(sandbox.business_id()).stream().try_collect().await?;
//! assert_eq!(chats, sandbox.chats());
//! assert_eq!(sandbox.requests().len(), 4); // one 500, then 3 pages of 20
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod data;
mod faults;
mod input;
mod limits;
mod listing;
mod log;
mod messages;
mod multipart;
mod paging;
mod response;
mod routes;
mod server;
mod service;
mod state;

use std::sync::Arc;

use yandex_market_chats::{Chat, ChatId, ChatMessage, Client, ClientBuilder, Error};

pub use config::SandboxConfig;
pub use faults::Fault;
pub use log::RecordedRequest;

use state::Shared;

/// A running fake Market server. Dropping it stops the server.
pub struct Sandbox {
    shared: Arc<Shared>,
    base_url: String,
    _server: server::Running,
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
        let shared = Arc::new(Shared::new(config));
        let (server, address) =
            server::start(Arc::clone(&shared)).map_err(|e| Error::Transport {
                message: format!("cannot start the sandbox: {e}"),
                before_sending: true,
                source: Some(Box::new(e)),
            })?;
        Ok(Self {
            shared,
            base_url: format!("http://{address}"),
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
    pub fn messages(&self, chat_id: impl Into<ChatId>) -> Vec<ChatMessage> {
        let chat_id: u64 = chat_id.into().get();
        self.shared
            .state()
            .messages
            .get(&chat_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The most requests of the business that were in flight at once so
    /// far (the parallel limit's count): how close clients came to it.
    pub fn max_in_flight(&self) -> usize {
        self.shared.state().max_in_flight
    }

    /// Every request received so far, in arrival order.
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
    /// # use yandex_market_chats_sandbox::{Fault, Sandbox, SandboxConfig};
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

/// This crate's README's code block, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
