//! Hints: chats to read at once, as push notifications name them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::notifications::Notification;
use crate::{BusinessId, ChatId};

/// A handle that tells a follower which chats to read at once (a buyer just
/// wrote there), instead of at its next polling cycle. Clones share one
/// queue: give one to the follower ([`FollowQuery::hints`](super::FollowQuery::hints))
/// and one to whatever receives Market's notifications.
///
/// A hint only speeds things up: the follower reads the chat and delivers
/// what is new, exactly as polling would, so a repeated hint yields nothing
/// twice and a lost one costs only latency. Hinted reads never wait for the
/// quota: when the follower's share is spent, a hint is dropped and polling
/// covers its chat. Hints for one chat merge; at most [`FollowHints::CAPACITY`]
/// chats wait, and hints beyond that are dropped (polling covers them too).
///
/// Notifications are not signed: anyone who knows the URL can post one.
/// Once given to a follower (or made with [`FollowHints::for_business`]),
/// the handle ignores notifications of any other business.
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
    /// The business whose notifications count; `None`: not bound yet.
    business: Mutex<Option<u64>>,
}

impl FollowHints {
    /// How many chats may wait to be read; hints beyond it are dropped.
    pub const CAPACITY: usize = 10_000;

    /// A new, empty queue, bound to the business of the follower it is
    /// given to.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, empty queue that takes notifications of `business_id` only.
    pub fn for_business(business_id: impl Into<BusinessId>) -> Self {
        let hints = Self::default();
        *hints.business() = Some(business_id.into().get());
        hints
    }

    fn business(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.shared
            .business
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Binds the handle to a follower's business; an error when it is
    /// bound to another one.
    pub(crate) fn bind(&self, business_id: u64) -> Result<(), crate::Error> {
        let mut bound = self.business();
        match *bound {
            Some(other) if other != business_id => Err(crate::Error::invalid_input(format!(
                "these hints are for business {other}, not {business_id}: \
                 give each follower its own FollowHints"
            ))),
            _ => {
                *bound = Some(business_id);
                Ok(())
            }
        }
    }

    /// Asks the follower to read this chat soon; returns whether it was
    /// queued (`false` when [`FollowHints::CAPACITY`] chats already wait).
    pub fn chat(&self, chat_id: impl Into<ChatId>) -> bool {
        let id = chat_id.into().get();
        let mut chats = self
            .shared
            .chats
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if chats.len() >= Self::CAPACITY && !chats.contains(&id) {
            tracing::debug!(chat_id = id, "hint dropped: too many chats wait to be read");
            return false;
        }
        chats.insert(id);
        drop(chats);
        self.shared.added.notify_one();
        true
    }

    /// Hints the chat a notification is about (`CHAT_CREATED`,
    /// `CHAT_MESSAGE_SENT`, `CHAT_ARBITRAGE_*`) of this handle's business;
    /// returns whether it did.
    pub fn notification(&self, notification: &Notification) -> bool {
        let bound = *self.business();
        if bound.is_some() && notification.business_id() != bound {
            tracing::debug!(
                business_id = notification.business_id(),
                "notification of another business ignored"
            );
            return false;
        }
        match notification {
            Notification::ChatCreated(_)
            | Notification::ChatMessageSent(_)
            | Notification::ChatArbitrageStarted(_)
            | Notification::ChatArbitrageFinished(_) => notification
                .chat_id()
                .is_some_and(|chat_id| self.chat(chat_id)),
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
