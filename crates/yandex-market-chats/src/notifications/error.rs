//! Why a body is not a notification this crate can read.

use super::{ErrorReply, ErrorType};

/// A body that is not a notification this module can read. Every variant is
/// Market's mistake, answered with `400` `WRONG_EVENT_FORMAT`
/// ([`NotificationError::reply`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// The body is not JSON.
    #[error("notification body is not valid JSON: {reason}")]
    NotJson {
        /// The parser's message, with line and column.
        reason: String,
    },

    /// The body is JSON but not an object.
    #[error("notification body must be a JSON object, got {found}")]
    NotAnObject {
        /// What the body is instead.
        found: String,
    },

    /// The body has no `notificationType` field.
    #[error("notification body has no `notificationType` field")]
    MissingType,

    /// `notificationType` is not a non-empty string.
    #[error("`notificationType` must be a non-empty string, got {found}")]
    InvalidType {
        /// What the field holds instead.
        found: String,
    },

    /// A known type whose payload does not match the spec: a required field
    /// is missing or holds a value of the wrong type.
    #[error("{}", wrong_format_line(notification_type, field.as_deref(), problem))]
    WrongFormat {
        /// The `notificationType`, e.g. `CHAT_CREATED`.
        notification_type: String,
        /// The field at fault (the API's name, e.g. `chatId`), when known.
        field: Option<String>,
        /// What is wrong with it, e.g. `is missing`.
        problem: String,
    },
}

fn wrong_format_line(notification_type: &str, field: Option<&str>, problem: &str) -> String {
    match field {
        Some(field) => format!("{notification_type} notification: field `{field}` {problem}"),
        None => format!("{notification_type} notification: {problem}"),
    }
}

impl NotificationError {
    /// The error type to answer with: always
    /// [`ErrorType::WrongEventFormat`], since every variant is a malformed
    /// notification.
    pub fn error_type(&self) -> ErrorType {
        ErrorType::WrongEventFormat
    }

    /// The answer to send back: `400` with
    /// `{"error": {"type": "WRONG_EVENT_FORMAT", "message": <this error>}}`.
    /// Use [`ErrorReply::status`] and [`ErrorReply::to_json`].
    pub fn reply(&self) -> ErrorReply {
        ErrorReply::new(self.error_type(), self.to_string())
    }
}
