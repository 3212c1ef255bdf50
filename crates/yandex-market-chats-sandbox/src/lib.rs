//! A fake Yandex.Market server on 127.0.0.1, for your tests and the
//! examples of [`yandex_market_chats`].
//!
//! [`Sandbox::start`] serves every chat operation of the Partner API as the
//! documentation and today's API describe them, for one business
//! (`/v2/businesses/{businessId}/...`):
//!
//! - **getChats** (`POST .../chats`): seeded chats in a stable order (or
//!   most recently updated first, see [`ListingOrder`]), every filter of the
//!   body (`statuses`, `types`, `contextTypes`, `contexts`, `orderIds`; an
//!   empty, repeated or unknown value is a 400), `limit` 1..=20 (10 by
//!   default) and opaque `pageToken`s (a forged one is a 400).
//! - **getChat** (`GET .../chat?chatId=`): one chat.
//! - **getChatHistory** (`POST .../chats/history?chatId=`): a chat's
//!   messages, oldest first (or newest first, see [`HistoryOrder`]), from
//!   `messageIdFrom` (inclusive, or not: see [`MessageIdFrom`]), `limit`
//!   1..=100 (50 by default), opaque page tokens.
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
//! **Buyers, arbiters and notifications.** Tests play the other side of the
//! conversation: [`Sandbox::customer_message`] (a buyer writes),
//! [`Sandbox::open_chat`] (a buyer opens a chat about an order) and
//! [`Sandbox::set_status`] (a dispute starts or ends, a chat is closed)
//! change the chats as Market would: a message moves the chat's `updatedAt`
//! (the time of its last message, seeded chats included) and its status
//! (`WAITING_FOR_PARTNER` after a buyer, `WAITING_FOR_CUSTOMER` after the
//! partner; a dispute keeps its status). With
//! [`SandboxConfig::notify_url`] each of these events is POSTed to
//! `<url>/notification` in the official format (`CHAT_CREATED`,
//! `CHAT_MESSAGE_SENT`, `CHAT_ARBITRAGE_STARTED`,
//! `CHAT_ARBITRAGE_FINISHED`), in order, from the sandbox's thread; tests
//! can drop or duplicate them ([`Sandbox::drop_notifications`],
//! [`Sandbox::duplicate_notifications`]) and read what became of each
//! ([`Sandbox::notifications`]). [`SandboxConfig::buyers_write_every`]
//! makes buyers write on their own, for examples that follow chats.
//!
//! Where the API's behaviour is undocumented the sandbox chooses: every error,
//! the parallel-limit 420 and the 403 included, uses the documented error body
//! `{"status": "ERROR", "errors": [{"code", "message"}]}`. Where the choice
//! matters to a client, a test picks each answer the real API may give:
//! the listing's order ([`SandboxConfig::listing_order`]), a server clock
//! off the host's ([`SandboxConfig::clock_offset`], [`Sandbox::now`]), a
//! listing that shows changes late ([`SandboxConfig::listing_lag`]), the
//! history's order ([`SandboxConfig::history_order`]), whether
//! `messageIdFrom` is inclusive ([`SandboxConfig::message_id_from`]) and
//! where new message ids start ([`SandboxConfig::first_message_id`]; by
//! default past every id an earlier run issued).
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
//!
//! // A buyer writes; the partner's code sees it through the API.
//! let chat = &chats[0];
//! let id = sandbox.customer_message(chat.chat_id, "Where is my order?");
//! let handle = sandbox.client()?.chat(sandbox.business_id(), chat.chat_id);
//! let last = handle.history().stream().try_collect::<Vec<_>>().await?.pop().unwrap();
//! assert_eq!(last.message_id, id);
//! assert_eq!(handle.get().await?.updated_at, last.created_at);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod config;
mod data;
mod faults;
mod ids;
mod input;
mod lag;
mod limits;
mod listing;
mod log;
mod messages;
mod multipart;
mod notify;
mod paging;
mod response;
mod routes;
mod server;
mod service;
mod state;
mod talk;

use std::sync::Arc;

use yandex_market_chats::{
    Chat, ChatId, ChatMessage, ChatStatus, Client, ClientBuilder, Error, MessageId, OrderId,
};

pub use config::{HistoryOrder, ListingOrder, MessageIdFrom, SandboxConfig};
pub use faults::Fault;
pub use log::RecordedRequest;
pub use notify::{Delivery, RecordedNotification};

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
        let (notifier, outbox) = notify::channel(config.notify_url.is_some());
        let shared = Arc::new(Shared::new(config, notifier));
        let (server, address) =
            server::start(Arc::clone(&shared), outbox).map_err(|e| Error::Transport {
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

    /// The business's chats as they truly are, in the seeded order (new
    /// chats appended): the order getChats pages them in with the default
    /// [`ListingOrder::Seeded`], whatever [`SandboxConfig::listing_order`]
    /// says, and never lagging ([`SandboxConfig::listing_lag`]).
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

    /// The server's time now: the host's plus
    /// [`SandboxConfig::clock_offset`], in Moscow time (`+03:00`), whole
    /// seconds, as the sandbox writes new messages' `createdAt`.
    pub fn now(&self) -> chrono::DateTime<chrono::FixedOffset> {
        self.shared.clock.now_in(clock::moscow())
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

    /// A buyer writes `text` in chat `chat_id` (an id from
    /// [`Sandbox::chats`] as it is, or a literal), as if through Market's
    /// app; returns the new message's id.
    ///
    /// The `CUSTOMER` message is appended with the next message id (ids
    /// grow by one over the whole sandbox from
    /// [`SandboxConfig::first_message_id`] and are never reused) and
    /// `createdAt` now on the server's clock ([`Sandbox::now`]: whole
    /// seconds, here in the chat's offset). The chat's `updatedAt`
    /// becomes that time, and its status `WAITING_FOR_PARTNER`, a
    /// `FINISHED` chat's too (it reopens); a chat in a dispute
    /// (`WAITING_FOR_ARBITER`, `WAITING_FOR_MARKET`) keeps its status. With
    /// [`SandboxConfig::notify_url`], `CHAT_MESSAGE_SENT` is sent.
    ///
    /// A partner's message sent through the API (sendMessageToChat,
    /// sendFileToChat) follows the same rules the other way: the chat
    /// becomes `WAITING_FOR_CUSTOMER` (a dispute keeps its status) and its
    /// `updatedAt` moves to the message's time. The partner's own messages
    /// are not notified.
    ///
    /// # Panics
    /// When the sandbox has no chat `chat_id`: this is a test helper, and
    /// such a test is wrong.
    ///
    /// ```
    /// # use yandex_market_chats_sandbox::{Sandbox, SandboxConfig};
    /// use yandex_market_chats::{ChatMessageSender, ChatStatus};
    ///
    /// let sandbox = Sandbox::start(SandboxConfig::default().chats(3))?;
    /// let chat = sandbox.chats()[0].clone();
    /// let id = sandbox.customer_message(chat.chat_id, "Where is my order?");
    /// let last = sandbox.messages(chat.chat_id).pop().unwrap();
    /// assert_eq!((last.message_id, last.sender), (id, ChatMessageSender::Customer));
    /// let chat = sandbox.chats().into_iter().find(|c| c.chat_id == chat.chat_id).unwrap();
    /// assert_eq!(chat.updated_at, last.created_at);
    /// assert_eq!(chat.status, ChatStatus::WaitingForPartner);
    /// # Ok::<(), yandex_market_chats::Error>(())
    /// ```
    pub fn customer_message(
        &self,
        chat_id: impl Into<ChatId>,
        text: impl Into<String>,
    ) -> MessageId {
        let chat_id = chat_id.into().get();
        match talk::customer_message(&self.shared, chat_id, text.into()) {
            Some(message_id) => message_id.into(),
            None => panic!("customer_message: the sandbox has no chat {chat_id}"),
        }
    }

    /// A buyer opens a chat about order `order_id` with a first message
    /// `text`; returns the chat's id.
    ///
    /// The new chat is an `ORDER` chat of type `CHAT` with a buyer, the
    /// next chat id, `createdAt` and `updatedAt` now (the server's clock,
    /// Moscow time), and the message as its first, `CUSTOMER` one at the
    /// same time. Its status is `NEW`: Market's "new chat", one nobody has
    /// answered yet (a buyer's next message makes it `WAITING_FOR_PARTNER`,
    /// as in any chat). It is appended to [`Sandbox::chats`], so it comes
    /// last in [`ListingOrder::Seeded`] listings (first in
    /// [`ListingOrder::RecentlyUpdatedFirst`] ones), once
    /// [`SandboxConfig::listing_lag`] has passed. With
    /// [`SandboxConfig::notify_url`], `CHAT_CREATED` is sent, then
    /// `CHAT_MESSAGE_SENT` for the first message.
    ///
    /// An order has one chat, as createChat says: when the order already
    /// has one, the message goes there, exactly as
    /// [`Sandbox::customer_message`] would add it, and that chat's id is
    /// returned.
    ///
    /// ```
    /// # use yandex_market_chats_sandbox::{Sandbox, SandboxConfig};
    /// use yandex_market_chats::ChatStatus;
    ///
    /// let sandbox = Sandbox::start(SandboxConfig::default().chats(3))?;
    /// let chat_id = sandbox.open_chat(77_000_001, "Hello! Is it in stock?");
    /// let chat = sandbox.chats().pop().unwrap();
    /// assert_eq!((chat.chat_id, chat.status), (chat_id, ChatStatus::New));
    /// assert_eq!(chat.context.order_id.unwrap().get(), 77_000_001);
    /// assert_eq!(sandbox.messages(chat_id).len(), 1);
    /// assert_eq!(sandbox.open_chat(77_000_001, "Hello?"), chat_id); // the same chat
    /// # Ok::<(), yandex_market_chats::Error>(())
    /// ```
    pub fn open_chat(&self, order_id: impl Into<OrderId>, text: impl Into<String>) -> ChatId {
        talk::open_chat(&self.shared, order_id.into().get(), text.into()).into()
    }

    /// Sets chat `chat_id`'s status, as Market, an arbiter or support would:
    /// `WAITING_FOR_ARBITER` when a dispute starts, `FINISHED` when the chat
    /// is closed, ...
    ///
    /// `updatedAt` does not change: the API defines it as the time of the
    /// chat's last message, and a status change writes none. With
    /// [`SandboxConfig::notify_url`], entering a dispute
    /// (`WAITING_FOR_ARBITER` or `WAITING_FOR_MARKET`) from outside one
    /// sends `CHAT_ARBITRAGE_STARTED`, and leaving one sends
    /// `CHAT_ARBITRAGE_FINISHED` (with the server's time now, in milliseconds); moving
    /// between the two dispute statuses sends nothing, and neither is ever
    /// sent for a `DIRECT` chat, as the notification API says. The chat's
    /// type (`CHAT`, `ARBITRAGE`) stays as it is.
    ///
    /// # Panics
    /// When the sandbox has no chat `chat_id`.
    pub fn set_status(&self, chat_id: impl Into<ChatId>, status: ChatStatus) {
        let chat_id = chat_id.into().get();
        if talk::set_status(&self.shared, chat_id, status).is_none() {
            panic!("set_status: the sandbox has no chat {chat_id}");
        }
    }

    /// Removes a chat, as if Market had deleted it: it is no longer listed,
    /// and getChat, getChatHistory and the other operations on it answer
    /// 404, at once (whatever [`SandboxConfig::listing_lag`] says). Returns
    /// whether there was such a chat.
    pub fn delete_chat(&self, chat_id: impl Into<ChatId>) -> bool {
        let chat_id = chat_id.into().get();
        let mut state = self.shared.state();
        let before = state.chats.len();
        state.chats.retain(|chat| chat.chat_id.get() != chat_id);
        state.messages.remove(&chat_id);
        state.view.removed(chat_id);
        state.chats.len() < before
    }

    /// The next `n` notifications are not sent (after drops already
    /// scripted); [`Sandbox::notifications`] shows them as
    /// [`Delivery::Dropped`]. Counted per notification (opening a chat
    /// makes two), and only while [`SandboxConfig::notify_url`] is set.
    pub fn drop_notifications(&self, n: usize) {
        self.shared.state().drop_notifications += n;
    }

    /// Each of the next `n` notifications that are sent (dropped ones do not
    /// count) is sent twice, the copy right after the original: the same
    /// body, so the same `dedup_key`, as when Market resends an event.
    pub fn duplicate_notifications(&self, n: usize) {
        self.shared.state().duplicate_notifications += n;
    }

    /// How many notification `POST`s have finished so far, whatever the
    /// answer (a failed one too; dropped ones are never sent). Tests wait
    /// for it to reach what they expect.
    pub fn notifications_sent(&self) -> usize {
        self.shared
            .state()
            .notifications
            .iter()
            .filter(|n| !matches!(n.delivery, Delivery::Pending | Delivery::Dropped))
            .count()
    }

    /// Every notification so far, in the order of the events (a duplicate
    /// right after its original), with what became of it.
    pub fn notifications(&self) -> Vec<RecordedNotification> {
        self.shared.state().notifications.clone()
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
