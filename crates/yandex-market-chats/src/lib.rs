//! Rust SDK for the [Yandex.Market Partner API]'s customer chats.
//!
//! List and follow a business's chats with buyers: lazy pagination over
//! `nextPageToken`, the limit rule (1..=20 chats per page) checked before any
//! request, `Api-Key` or OAuth auth, retries with backoff, client-side rate
//! limits (4 requests in flight per business, an hourly quota) and one typed
//! [`Error`].
//!
//! ```no_run
//! # async fn run(business_id: u64) -> Result<(), Box<dyn std::error::Error>> {
//! use futures::TryStreamExt;
//! use yandex_market_chats::{ChatStatus, Client, PageSize};
//!
//! let client = Client::builder()
//!     .api_key(std::env::var("YANDEX_MARKET_API_KEY")?)
//!     .base_url("http://127.0.0.1:8080") // optional; the default is the production URL
//!     .build()?;
//!
//! let mut chats = client
//!     .chats(business_id) // u64
//!     .statuses([ChatStatus::New, ChatStatus::WaitingForPartner])
//!     .page_size(PageSize::new(20)?) // the limit rule: 1..=20, checked before any request
//!     .stream();
//! while let Some(chat) = chats.try_next().await? {
//!     println!("{} {} {}", chat.chat_id, chat.status, chat.updated_at);
//! }
//! # Ok(()) }
//! ```
//!
//! The types come from the generated crate `yandex-market-chats-api` (made by
//! progenitor from the project's OpenAPI fragment), renamed here without the
//! `Dto` suffix. Enums are open: a value this crate does not know parses as
//! `Unknown(String)` and prints as the server sent it.
//!
//! [Yandex.Market Partner API]: https://yandex.ru/dev/market/partner-api/doc/en/

#![warn(missing_docs)]
// `Error::Api` carries the rate-limit headers inline (public fields since
// 0.1); errors are the cold path, and boxing them is a breaking change left
// for the planned reshaping of `Error::Api`'s details.
#![allow(clippy::result_large_err)]

mod calls;
mod chat;
mod client;
mod config;
mod error;
mod http_date;
pub mod limits;
pub mod notifications;
mod operation;
mod page_size;
mod paging;
mod query;
mod rate_limit;
mod retry;
mod transport;

pub use chat::{ChatHandle, HistoryQuery, MAX_FILE_BYTES, MAX_MESSAGE_CHARS};
pub use client::Client;
pub use config::{
    ClientBuilder, Credential, DEFAULT_BASE_URL, DEFAULT_HOURLY_QUOTA, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_TRACKED_BUSINESSES,
};
pub use error::{Error, TimeoutKind};
pub use limits::{InProcessLimiter, Limiter};
pub use operation::Operation;
pub use page_size::{HistoryPageSize, PageSize};
pub use paging::{
    ChatStream, Items, MessagePage, MessagePageStream, MessageStream, Page, PageStream, Paged,
    Pages,
};
pub use query::ChatsQuery;
pub use rate_limit::RateLimit;
pub use retry::RetryPolicy;

/// The kind of a [`ChatContext`] filter (`ORDER`, `RETURN`).
pub use yandex_market_chats_api::open_enums::ChatContextIdentifiableType;
/// A chat's context type (`ORDER`, `RETURN`, `DIRECT`), open to new values.
pub use yandex_market_chats_api::open_enums::ChatContextType;
/// Who sent a message (`PARTNER`, `CUSTOMER`, `MARKET`, `SUPPORT`), open to new values.
pub use yandex_market_chats_api::open_enums::ChatMessageSenderType as ChatMessageSender;
/// A chat's status (`NEW`, `WAITING_FOR_PARTNER`, ...), open to new values.
pub use yandex_market_chats_api::open_enums::ChatStatusType as ChatStatus;
/// A chat's type (`CHAT`, `ARBITRAGE`), open to new values.
pub use yandex_market_chats_api::open_enums::ChatType;
/// An order or return to filter chats by (`ChatContextDTO`), for
/// [`ChatsQuery::contexts`].
pub use yandex_market_chats_api::types::ChatContextDto as ChatContext;
/// The buyer of a chat (`ChatCustomerDTO`).
pub use yandex_market_chats_api::types::ChatCustomerDto as ChatCustomer;
/// What a chat is about: its context type, order, return, customer, campaign
/// (`ChatFullContextDTO`).
pub use yandex_market_chats_api::types::ChatFullContextDto as ChatFullContext;
/// A message in a chat (`ChatMessageDTO`).
pub use yandex_market_chats_api::types::ChatMessageDto as ChatMessage;
/// A file attached to a message (`ChatMessagePayloadDTO`).
pub use yandex_market_chats_api::types::ChatMessagePayloadDto as ChatMessageFile;
/// A chat with a buyer (`GetChatInfoDTO`). Serializes with the API's field names.
pub use yandex_market_chats_api::types::GetChatInfoDto as Chat;

/// The date-time crate used by [`Chat`]'s fields and [`RateLimit`].
pub use chrono;
/// The HTTP client crate, for [`ClientBuilder::http_client`].
pub use reqwest;
