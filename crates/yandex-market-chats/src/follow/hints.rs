//! Hints: chats to read at once, as push notifications name them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::ChatId;
use crate::notifications::Notification;

/// A handle that tells a follower which chats to read at once (a buyer just
/// wrote there), instead of at its next polling cycle. Clones share one
/// queue: give one to the follower ([`FollowQuery::hints`](super::FollowQuery::hints))
/// and one to whatever receives Market's notifications.
///
/// A hint only speeds things up: the follower reads the chat and delivers
/// what is new, exactly as polling would, so a repeated hint yields nothing
/// twice and a lost one costs only latency.
///
/// ```
/// use yandex_market_chats::follow::FollowHints;
/// use yandex_market_chats::notifications::Notification;
///
/// let hints = FollowHints::new();
/// let body = br#"{"notificationType": "CHAT_MESSAGE_SENT", "businessId": 1, "chatId": 10668,
///                 "messageId": "77", "sentAt": "2025-01-01T10:00:00+03:00"}"#;
/// let notification = Notification::from_json(body).unwrap();
/// assert!(hints.notification(&notification)); // a chat notification: hinted
/// ```
#[derive(Clone, Debug, Default)]
pub struct FollowHints {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    chats: Mutex<BTreeSet<u64>>,
    added: Notify,
}

impl FollowHints {
    /// A new, empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the follower to read this chat soon.
    pub fn chat(&self, chat_id: impl Into<ChatId>) {
        let id = chat_id.into().get();
        self.shared
            .chats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
        self.shared.added.notify_one();
    }

    /// Hints the chat a notification is about (`CHAT_CREATED`,
    /// `CHAT_MESSAGE_SENT`, `CHAT_ARBITRAGE_*`); returns whether it did.
    pub fn notification(&self, notification: &Notification) -> bool {
        match notification {
            Notification::ChatCreated(_)
            | Notification::ChatMessageSent(_)
            | Notification::ChatArbitrageStarted(_)
            | Notification::ChatArbitrageFinished(_) => {
                if let Some(chat_id) = notification.chat_id() {
                    self.chat(chat_id);
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    /// How many chats are hinted and not read yet (a chat hinted twice
    /// counts once).
    pub fn len(&self) -> usize {
        self.shared
            .chats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no chat waits to be read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every hinted chat.
    pub(crate) fn take(&self) -> Vec<u64> {
        std::mem::take(
            &mut *self
                .shared
                .chats
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
        .into_iter()
        .collect()
    }

    /// Resolves when a chat is hinted.
    pub(crate) async fn added(&self) {
        self.shared.added.notified().await;
    }
}
