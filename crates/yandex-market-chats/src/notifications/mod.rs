//! Push notifications about chats: parse what Market sends, build what it
//! expects back.
//!
//! Market POSTs a JSON body to your `<url>/notification` whenever something
//! happens (`sendNotification` in the notification API). The body's
//! `notificationType` field says which payload it carries. This module reads
//! the chat payloads into typed structs, keeps every other type (orders,
//! returns, feedback, questions, and types added later) as raw JSON, and
//! builds the answer bodies. It has no server and no framework dependency:
//! hand it the request body from whatever HTTP stack you use.
//!
//! # The flow
//!
//! 1. Parse the body with [`Notification::from_json`] (or
//!    [`Notification::from_value`] when your framework already decoded it).
//!    A body that is not a notification, or a chat notification whose payload
//!    does not match the spec, is a [`NotificationError`]: answer with
//!    [`NotificationError::reply`] (`400`, `WRONG_EVENT_FORMAT`).
//! 2. Skip duplicates. Market may send several notifications about the same
//!    event; [`Notification::dedup_key`] names the event. Remember the keys
//!    you have handled (a set with a TTL of a few hours is enough) and answer
//!    a repeated key with `200` without doing the work again (see
//!    [`Notification::dedup_key`] for why `200` and not `DUPLICATED_EVENT`).
//! 3. Act, quickly. Market waits 10 seconds for the answer, 1 second for
//!    [`Notification::Ping`] ([`Notification::response_timeout`]); queue slow
//!    work rather than doing it before answering. The spec's recommended
//!    handling:
//!    * [`ChatCreated`]: fetch the chat once with `getChat` and store its
//!      order, return and buyer; it does not need fetching again.
//!    * [`ChatMessageSent`]: fetch the message with `getChatMessage`
//!      (`chatId` + `messageId`). Not sent for sticker messages.
//!    * [`ChatArbitrageStarted`] / [`ChatArbitrageFinished`]: a dispute began
//!      or ended. Never sent for `DIRECT` chats.
//!    * [`Notification::Other`]: a type this module does not model. Handle it
//!      from the raw JSON, or ignore it and still answer `200`.
//! 4. Answer `200` with a [`Reply`] (`{version, name, time}`), or `500` with
//!    [`ErrorReply`] (`UNKNOWN`) when your side failed and you want Market to
//!    know.
//!
//! # Example
//!
//! A handler any HTTP framework can call: body in, status and body out.
//!
//! ```
//! use std::collections::HashSet;
//!
//! use yandex_market_chats::notifications::{ErrorReply, ErrorType, Notification, Reply};
//!
//! /// Returns the HTTP status and the JSON body to answer with.
//! fn handle(body: &[u8], seen: &mut HashSet<String>) -> (u16, Vec<u8>) {
//!     let ok = || match Reply::new("my-shop-integration", "1.0.0") {
//!         Ok(reply) => (200, reply.to_json()),
//!         Err(e) => {
//!             let reply = ErrorReply::new(ErrorType::Unknown, e.to_string());
//!             (reply.status(), reply.to_json())
//!         }
//!     };
//!
//!     // 1. Parse: a malformed notification gets 400 WRONG_EVENT_FORMAT.
//!     let notification = match Notification::from_json(body) {
//!         Ok(notification) => notification,
//!         Err(e) => {
//!             let reply = e.reply();
//!             return (reply.status(), reply.to_json());
//!         }
//!     };
//!
//!     // 2. Dedupe: a repeated event is answered 200 and not handled again.
//!     let key = notification.dedup_key();
//!     if key.as_ref().is_some_and(|key| seen.contains(key)) {
//!         return ok();
//!     }
//!
//!     // 3. Act (in a real service: queue the work and answer at once).
//!     match &notification {
//!         Notification::Ping(_) => {}
//!         Notification::ChatCreated(n) => {
//!             println!("getChat(business {}, chat {})", n.business_id, n.chat_id);
//!         }
//!         Notification::ChatMessageSent(n) => {
//!             println!("getChatMessage(chat {}, message {})", n.chat_id, n.message_id);
//!         }
//!         Notification::ChatArbitrageStarted(n) => println!("dispute in chat {}", n.chat_id),
//!         Notification::ChatArbitrageFinished(n) => println!("dispute over in chat {}", n.chat_id),
//!         Notification::Other { notification_type, .. } => println!("ignored {notification_type}"),
//!         _ => {} // the enum is non-exhaustive
//!     }
//!     if let Some(key) = key {
//!         seen.insert(key); // only once the work is done or queued
//!     }
//!
//!     // 4. Answer.
//!     ok()
//! }
//!
//! let mut seen = HashSet::new();
//! let body = br#"{"notificationType":"CHAT_MESSAGE_SENT","chatId":12345,
//!     "messageId":"987","businessId":42,"sentAt":"2025-03-01T12:00:00+03:00"}"#;
//! assert_eq!(handle(body, &mut seen).0, 200);
//! assert_eq!(handle(body, &mut seen).0, 200); // a duplicate, answered 200 again
//! assert_eq!(seen.len(), 1);
//!
//! let (status, reply) = handle(br#"{"notificationType":"CHAT_CREATED"}"#, &mut seen);
//! assert_eq!(status, 400);
//! let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
//! assert_eq!(reply["error"]["type"], "WRONG_EVENT_FORMAT");
//! assert_eq!(
//!     reply["error"]["message"],
//!     "CHAT_CREATED notification: field `chatId` is missing"
//! );
//! ```

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod error;
mod reply;

pub use error::NotificationError;
pub use reply::{ErrorReply, ErrorReplyBody, ErrorType, Reply};

const PING: &str = "PING";
const CHAT_CREATED: &str = "CHAT_CREATED";
const CHAT_MESSAGE_SENT: &str = "CHAT_MESSAGE_SENT";
const CHAT_ARBITRAGE_STARTED: &str = "CHAT_ARBITRAGE_STARTED";
const CHAT_ARBITRAGE_FINISHED: &str = "CHAT_ARBITRAGE_FINISHED";

/// The envelope field naming the notification's type.
const TYPE_FIELD: &str = "notificationType";

/// One notification from Market, read from the body of `POST /notification`.
///
/// The chat types and `PING` are typed; every other type is kept as
/// [`Notification::Other`] with its raw JSON, so a type Market adds later
/// reaches your code instead of being refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// `PING`: Market checks that your endpoint answers. Answer `200` within
    /// 1 second.
    Ping(Ping),
    /// `CHAT_CREATED`: a buyer started a chat (any chat type).
    ChatCreated(ChatCreated),
    /// `CHAT_MESSAGE_SENT`: a new message in a chat (not sent for stickers).
    ChatMessageSent(ChatMessageSent),
    /// `CHAT_ARBITRAGE_STARTED`: a dispute began (never for `DIRECT` chats).
    ChatArbitrageStarted(ChatArbitrageStarted),
    /// `CHAT_ARBITRAGE_FINISHED`: a dispute ended (never for `DIRECT` chats).
    ChatArbitrageFinished(ChatArbitrageFinished),
    /// Any other type (`ORDER_CREATED`, `GOODS_FEEDBACK_CREATED`, a type added
    /// after this crate was written, ...), kept as sent.
    Other {
        /// The `notificationType`, as sent.
        notification_type: String,
        /// The whole body, `notificationType` included.
        body: Value,
    },
}

/// The payload of a `PING` notification.
///
/// The spec marks no field of `PING` as required, so `time` may be absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Ping {
    /// `time`: a date and time set by Market, with the sender's offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<FixedOffset>>,
}

/// The payload of a `CHAT_CREATED` notification.
///
/// Recommended handling: fetch the chat once with `getChat` and store its
/// order, return and public buyer data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatCreated {
    /// `chatId`: the new chat.
    pub chat_id: u64,
    /// `businessId`: the business (cabinet) the chat belongs to.
    pub business_id: u64,
    /// `createdAt`: when the chat was created, with the sender's offset.
    pub created_at: DateTime<FixedOffset>,
}

/// The payload of a `CHAT_MESSAGE_SENT` notification.
///
/// Recommended handling: fetch the message with `getChatMessage`, giving
/// `chatId` and `messageId`. Not sent for sticker messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatMessageSent {
    /// `chatId`: the chat the message was sent in.
    pub chat_id: u64,
    /// `messageId`: the message. A **string** in notifications, although the
    /// partner API's chat methods use an int64; see
    /// [`ChatMessageSent::message_id_u64`]. A JSON integer is accepted too and
    /// kept as its decimal text.
    #[serde(deserialize_with = "string_or_integer")]
    pub message_id: String,
    /// `businessId`: the business (cabinet) the chat belongs to.
    pub business_id: u64,
    /// `sentAt`: when the message was sent, with the sender's offset.
    pub sent_at: DateTime<FixedOffset>,
}

impl ChatMessageSent {
    /// The message id as the partner API's int64 (for `getChatMessage`), or
    /// `None` if it is not a decimal number.
    pub fn message_id_u64(&self) -> Option<u64> {
        self.message_id.parse().ok()
    }
}

/// The payload of a `CHAT_ARBITRAGE_STARTED` notification: a dispute began.
/// Never sent for `DIRECT` chats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatArbitrageStarted {
    /// `chatId`: the chat the dispute is about.
    pub chat_id: u64,
    /// `businessId`: the business (cabinet) the chat belongs to.
    pub business_id: u64,
    /// `startedAt`: when the dispute began, with the sender's offset.
    pub started_at: DateTime<FixedOffset>,
}

/// The payload of a `CHAT_ARBITRAGE_FINISHED` notification: a dispute ended.
/// Never sent for `DIRECT` chats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatArbitrageFinished {
    /// `chatId`: the chat the dispute was about.
    pub chat_id: u64,
    /// `businessId`: the business (cabinet) the chat belongs to.
    pub business_id: u64,
    /// `finishedAt`: when the dispute ended, with the sender's offset.
    pub finished_at: DateTime<FixedOffset>,
}

/// What a field must hold, for error messages.
#[derive(Clone, Copy)]
enum Kind {
    /// A non-negative JSON integer (the spec's int64 ids).
    Id,
    /// A string (a JSON integer is accepted too).
    StringOrInteger,
    /// A date-time string with an offset, required.
    Time,
    /// A date-time string with an offset, optional.
    OptionalTime,
}

const PING_FIELDS: &[(&str, Kind)] = &[("time", Kind::OptionalTime)];
const CHAT_CREATED_FIELDS: &[(&str, Kind)] = &[
    ("chatId", Kind::Id),
    ("businessId", Kind::Id),
    ("createdAt", Kind::Time),
];
const CHAT_MESSAGE_SENT_FIELDS: &[(&str, Kind)] = &[
    ("chatId", Kind::Id),
    ("messageId", Kind::StringOrInteger),
    ("businessId", Kind::Id),
    ("sentAt", Kind::Time),
];
const CHAT_ARBITRAGE_STARTED_FIELDS: &[(&str, Kind)] = &[
    ("chatId", Kind::Id),
    ("businessId", Kind::Id),
    ("startedAt", Kind::Time),
];
const CHAT_ARBITRAGE_FINISHED_FIELDS: &[(&str, Kind)] = &[
    ("chatId", Kind::Id),
    ("businessId", Kind::Id),
    ("finishedAt", Kind::Time),
];

impl Notification {
    /// Reads a notification from the raw body of `POST /notification`.
    ///
    /// `notificationType` is read first. A chat type or `PING` must then
    /// match its payload; any other type becomes [`Notification::Other`]
    /// with the whole body. Fields the spec does not list are ignored.
    ///
    /// # Errors
    /// A [`NotificationError`] (answer it with
    /// [`NotificationError::reply`]) when the body is not JSON, not a JSON
    /// object, has no string `notificationType`, or is a known type whose
    /// payload misses a required field or holds a value of the wrong type.
    /// The message names the field and what it should hold.
    pub fn from_json(body: &[u8]) -> Result<Self, NotificationError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| NotificationError::NotJson {
                reason: e.to_string(),
            })?;
        Self::from_value(value)
    }

    /// Reads a notification from a body already decoded as JSON (for
    /// frameworks that hand you a [`serde_json::Value`]). Same rules as
    /// [`Notification::from_json`].
    ///
    /// # Errors
    /// As [`Notification::from_json`], except that the body is already JSON.
    pub fn from_value(body: Value) -> Result<Self, NotificationError> {
        let Value::Object(object) = &body else {
            return Err(NotificationError::NotAnObject {
                found: describe(&body),
            });
        };
        let notification_type = match object.get(TYPE_FIELD) {
            None => return Err(NotificationError::MissingType),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(other) => {
                return Err(NotificationError::InvalidType {
                    found: describe(other),
                });
            }
        };
        let notification = match notification_type.as_str() {
            PING => Self::Ping(payload(PING, &body, object, PING_FIELDS)?),
            CHAT_CREATED => {
                Self::ChatCreated(payload(CHAT_CREATED, &body, object, CHAT_CREATED_FIELDS)?)
            }
            CHAT_MESSAGE_SENT => Self::ChatMessageSent(payload(
                CHAT_MESSAGE_SENT,
                &body,
                object,
                CHAT_MESSAGE_SENT_FIELDS,
            )?),
            CHAT_ARBITRAGE_STARTED => Self::ChatArbitrageStarted(payload(
                CHAT_ARBITRAGE_STARTED,
                &body,
                object,
                CHAT_ARBITRAGE_STARTED_FIELDS,
            )?),
            CHAT_ARBITRAGE_FINISHED => Self::ChatArbitrageFinished(payload(
                CHAT_ARBITRAGE_FINISHED,
                &body,
                object,
                CHAT_ARBITRAGE_FINISHED_FIELDS,
            )?),
            _ => Self::Other {
                notification_type,
                body,
            },
        };
        Ok(notification)
    }

    /// The `notificationType` as sent: `"PING"`, `"CHAT_CREATED"`, ...,
    /// or the type of an [`Notification::Other`].
    pub fn notification_type(&self) -> &str {
        match self {
            Self::Ping(_) => PING,
            Self::ChatCreated(_) => CHAT_CREATED,
            Self::ChatMessageSent(_) => CHAT_MESSAGE_SENT,
            Self::ChatArbitrageStarted(_) => CHAT_ARBITRAGE_STARTED,
            Self::ChatArbitrageFinished(_) => CHAT_ARBITRAGE_FINISHED,
            Self::Other {
                notification_type, ..
            } => notification_type,
        }
    }

    /// A stable key naming the event, for skipping duplicates; `None` for
    /// `PING` and [`Notification::Other`].
    ///
    /// Market may send several notifications about the same event (the spec
    /// calls this normal in some cases). Two notifications about the same
    /// event have the same key:
    ///
    /// | Type | Key |
    /// |---|---|
    /// | `CHAT_CREATED` | `CHAT_CREATED:<chatId>` |
    /// | `CHAT_MESSAGE_SENT` | `CHAT_MESSAGE_SENT:<chatId>:<messageId>` |
    /// | `CHAT_ARBITRAGE_STARTED` | `CHAT_ARBITRAGE_STARTED:<chatId>:<startedAt in UTC>` |
    /// | `CHAT_ARBITRAGE_FINISHED` | `CHAT_ARBITRAGE_FINISHED:<chatId>:<finishedAt in UTC>` |
    ///
    /// A chat is created once and a message id is unique, so those keys need
    /// no time; a chat's dispute events carry their instant (normalized to
    /// UTC, so the sender's offset does not matter) in case a chat sees more
    /// than one dispute.
    ///
    /// Keep the keys you have handled, in a set with a TTL (a few hours
    /// covers Market's resends), and mark a key only once its work is done
    /// or queued. Answer a duplicate with `200` and a [`Reply`], as for the
    /// first one: the spec documents duplicates as normal behaviour and
    /// reserves `400` for an incorrect notification, so a duplicate is not
    /// an error. [`ErrorType::DuplicatedEvent`] exists in the spec's error
    /// types (and in this module), but the spec never asks for it, so `200`
    /// is the safe answer.
    pub fn dedup_key(&self) -> Option<String> {
        fn utc(t: &DateTime<FixedOffset>) -> String {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        }
        match self {
            Self::Ping(_) | Self::Other { .. } => None,
            Self::ChatCreated(n) => Some(format!("{CHAT_CREATED}:{}", n.chat_id)),
            Self::ChatMessageSent(n) => Some(format!(
                "{CHAT_MESSAGE_SENT}:{}:{}",
                n.chat_id, n.message_id
            )),
            Self::ChatArbitrageStarted(n) => Some(format!(
                "{CHAT_ARBITRAGE_STARTED}:{}:{}",
                n.chat_id,
                utc(&n.started_at)
            )),
            Self::ChatArbitrageFinished(n) => Some(format!(
                "{CHAT_ARBITRAGE_FINISHED}:{}:{}",
                n.chat_id,
                utc(&n.finished_at)
            )),
        }
    }

    /// The chat a chat notification is about; `None` for `PING` and
    /// [`Notification::Other`].
    pub fn chat_id(&self) -> Option<u64> {
        match self {
            Self::ChatCreated(n) => Some(n.chat_id),
            Self::ChatMessageSent(n) => Some(n.chat_id),
            Self::ChatArbitrageStarted(n) => Some(n.chat_id),
            Self::ChatArbitrageFinished(n) => Some(n.chat_id),
            Self::Ping(_) | Self::Other { .. } => None,
        }
    }

    /// The business (cabinet) of a chat notification; `None` for `PING` and
    /// [`Notification::Other`].
    pub fn business_id(&self) -> Option<u64> {
        match self {
            Self::ChatCreated(n) => Some(n.business_id),
            Self::ChatMessageSent(n) => Some(n.business_id),
            Self::ChatArbitrageStarted(n) => Some(n.business_id),
            Self::ChatArbitrageFinished(n) => Some(n.business_id),
            Self::Ping(_) | Self::Other { .. } => None,
        }
    }

    /// How long Market waits for the answer: 1 second for `PING`, 10 seconds
    /// for every other notification.
    pub fn response_timeout(&self) -> Duration {
        match self {
            Self::Ping(_) => Duration::from_secs(1),
            _ => Duration::from_secs(10),
        }
    }
}

/// Deserializes a known type's payload; on failure, finds the field at fault
/// so the message names it.
fn payload<T: DeserializeOwned>(
    notification_type: &str,
    body: &Value,
    object: &Map<String, Value>,
    fields: &[(&str, Kind)],
) -> Result<T, NotificationError> {
    T::deserialize(body).map_err(|serde_error| {
        let (field, problem) = fields
            .iter()
            .find_map(|&(name, kind)| {
                check_field(object.get(name), kind).map(|problem| (Some(name.to_owned()), problem))
            })
            .unwrap_or_else(|| (None, serde_error.to_string()));
        NotificationError::WrongFormat {
            notification_type: notification_type.to_owned(),
            field,
            problem,
        }
    })
}

/// What is wrong with one field, or `None` if it is fine.
fn check_field(value: Option<&Value>, kind: Kind) -> Option<String> {
    let value = match (value, kind) {
        (None | Some(Value::Null), Kind::OptionalTime) => return None,
        (None, _) => return Some("is missing".to_owned()),
        (Some(value), _) => value,
    };
    match kind {
        Kind::Id => match value {
            Value::Number(n) if n.is_u64() => None,
            other => Some(format!(
                "must be a non-negative integer (int64), got {}",
                describe(other)
            )),
        },
        Kind::StringOrInteger => match value {
            Value::String(_) => None,
            Value::Number(n) if n.is_u64() || n.is_i64() => None,
            other => Some(format!("must be a string, got {}", describe(other))),
        },
        Kind::Time | Kind::OptionalTime => {
            const EXPECTED: &str =
                "must be a date-time with an offset (ISO 8601, e.g. 2017-11-21T00:00:00.213Z)";
            match value {
                Value::String(s) => match s.parse::<DateTime<FixedOffset>>() {
                    Ok(_) => None,
                    Err(e) => Some(format!("{EXPECTED}, got {} ({e})", describe(value))),
                },
                other => Some(format!("{EXPECTED}, got {}", describe(other))),
            }
        }
    }
}

/// A short description of a JSON value for error messages: its kind and,
/// for scalars, the value (long strings cut).
fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > MAX_CHARS => {
            let cut: String = s.chars().take(MAX_CHARS).collect();
            format!("string {cut:?}...")
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// `messageId`: a string per the spec; a JSON integer is kept as its text.
fn string_or_integer<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an integer")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }

        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }

    deserializer.deserialize_any(Visitor)
}
