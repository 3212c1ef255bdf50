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

mod calls;
mod chat;
mod classify;
mod client;
mod config;
mod error;
mod history;
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

pub use chat::{ChatHandle, MAX_FILE_BYTES, MAX_MESSAGE_CHARS};
pub use client::Client;
pub use config::{
    ClientBuilder, Credential, DEFAULT_BASE_URL, DEFAULT_HOURLY_QUOTA, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_TRACKED_BUSINESSES,
};
pub use error::{ApiErrorDetails, Error, TimeoutKind};
pub use history::HistoryQuery;
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

// The generated types, named in the codegen crate (`names.rs`).
pub use yandex_market_chats_api::open_enums::{
    ChatContextIdentifiableType, ChatContextType, ChatMessageSender, ChatStatus, ChatType,
};
pub use yandex_market_chats_api::types::{
    ApiErrorEntry, Chat, ChatContext, ChatCustomer, ChatFullContext, ChatMessage, ChatMessageFile,
};

/// The date-time crate used by [`Chat`]'s fields and [`RateLimit`].
pub use chrono;
/// The HTTP client crate, for [`ClientBuilder::http_client`].
pub use reqwest;
