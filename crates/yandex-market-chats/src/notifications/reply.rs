//! What to answer Market: the `200` body and the error body.

use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The body of a `200` answer: `{"version", "name", "time"}`
/// (`SendNotificationResponse`).
///
/// ```
/// use yandex_market_chats::notifications::Reply;
///
/// let reply = Reply::new("my-shop-integration", "1.0.0")?;
/// let json: serde_json::Value = serde_json::from_slice(&reply.to_json())?;
/// assert_eq!(json["name"], "my-shop-integration");
/// assert_eq!(json["version"], "1.0.0");
/// assert!(json["time"].is_string());
///
/// assert!(Reply::new("", "1.0.0").is_err());
/// assert!(Reply::new("x".repeat(101), "1.0.0").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Reply {
    /// `version`: your integration's version, 1..=100 characters.
    pub version: String,
    /// `name`: your integration's name, 1..=100 characters.
    pub name: String,
    /// `time`: when you started handling the notification (UTC).
    pub time: DateTime<FixedOffset>,
}

impl Reply {
    /// The longest `name` or `version` the spec allows, in characters.
    pub const MAX_CHARS: usize = 100;

    /// A reply naming your integration, with `time` set to now in UTC.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] unless `name` and `version` each have
    /// 1..=100 characters (Unicode scalar values, not bytes).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let version = version.into();
        check_len("name", &name)?;
        check_len("version", &version)?;
        Ok(Self {
            version,
            name,
            time: Utc::now().fixed_offset(),
        })
    }

    /// The reply as a JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a Reply always serializes")
    }
}

fn check_len(field: &str, value: &str) -> Result<(), Error> {
    let chars = value.chars().count();
    if (1..=Reply::MAX_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "notification reply `{field}` must have 1 to {} characters, got {chars}",
            Reply::MAX_CHARS
        )))
    }
}

/// The body of an error answer:
/// `{"error": {"type": "...", "message": "..."}}`
/// (`SendNotificationErrorResponse`). Send it with [`ErrorReply::status`].
///
/// ```
/// use yandex_market_chats::notifications::{ErrorReply, ErrorType};
///
/// let reply = ErrorReply::new(ErrorType::Unknown, "database unavailable");
/// assert_eq!(reply.status(), 500);
/// assert_eq!(
///     String::from_utf8(reply.to_json()).unwrap(),
///     r#"{"error":{"type":"UNKNOWN","message":"database unavailable"}}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorReply {
    /// `error`: what went wrong.
    pub error: ErrorReplyBody,
}

/// The `error` object of an [`ErrorReply`] (`NotificationApiErrorDTO`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorReplyBody {
    /// `type`: the kind of error.
    #[serde(rename = "type")]
    pub type_: ErrorType,
    /// `message`: a description; left out of the JSON when `None`. Market's
    /// staff may read it, so keep secrets and internals out of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ErrorReply {
    /// An error answer of type `type_` with a message.
    pub fn new(type_: ErrorType, message: impl Into<String>) -> Self {
        Self {
            error: ErrorReplyBody {
                type_,
                message: Some(message.into()),
            },
        }
    }

    /// An error answer of type `type_` with no message.
    pub fn without_message(type_: ErrorType) -> Self {
        Self {
            error: ErrorReplyBody {
                type_,
                message: None,
            },
        }
    }

    /// The HTTP status to send with this body ([`ErrorType::http_status`]).
    pub fn status(&self) -> u16 {
        self.error.type_.http_status()
    }

    /// The reply as a JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an ErrorReply always serializes")
    }
}

/// The `type` of an [`ErrorReply`] (`NotificationApiErrorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorType {
    /// `UNKNOWN`: a technical error on your side. Sent with `500`.
    Unknown,
    /// `WRONG_EVENT_FORMAT`: Market sent an incorrect notification. Sent
    /// with `400`.
    WrongEventFormat,
    /// `DUPLICATED_EVENT`: a duplicate notification. Sent with `400`. Prefer
    /// answering duplicates with `200` (see [`Notification::dedup_key`](super::Notification::dedup_key)).
    DuplicatedEvent,
}

impl ErrorType {
    /// The wire name: `UNKNOWN`, `WRONG_EVENT_FORMAT` or `DUPLICATED_EVENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::WrongEventFormat => "WRONG_EVENT_FORMAT",
            Self::DuplicatedEvent => "DUPLICATED_EVENT",
        }
    }

    /// The HTTP status the spec pairs with this type: `400` when Market sent
    /// an incorrect notification (`WRONG_EVENT_FORMAT`, `DUPLICATED_EVENT`),
    /// `500` for a technical error on your side (`UNKNOWN`).
    pub fn http_status(self) -> u16 {
        match self {
            Self::Unknown => 500,
            Self::WrongEventFormat | Self::DuplicatedEvent => 400,
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
