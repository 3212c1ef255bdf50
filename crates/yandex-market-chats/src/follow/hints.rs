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

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(kind: &str, business: u64, chat: u64) -> Notification {
        let mut body = serde_json::json!({
            "notificationType": kind, "businessId": business, "chatId": chat,
        });
        let at = "2025-01-01T10:00:00+03:00";
        match kind {
            "CHAT_CREATED" => body["createdAt"] = at.into(),
            "CHAT_MESSAGE_SENT" => {
                body["messageId"] = "7".into();
                body["sentAt"] = at.into();
            }
            "CHAT_ARBITRAGE_STARTED" => body["startedAt"] = at.into(),
            "CHAT_ARBITRAGE_FINISHED" => body["finishedAt"] = at.into(),
            _ => {}
        }
        Notification::from_json(&serde_json::to_vec(&body).unwrap()).unwrap()
    }

    #[test]
    fn hints_for_one_chat_merge_and_are_taken_once() {
        let hints = FollowHints::new();
        assert!(hints.is_empty());
        assert!(hints.chat(7u64) && hints.chat(7u64) && hints.chat(3u64));
        assert_eq!(hints.len(), 2);
        assert!(!hints.is_empty());
        assert_eq!(hints.take(), vec![3, 7]);
        assert!(hints.is_empty());
        assert_eq!(hints.take(), Vec::<u64>::new());
    }

    #[test]
    fn beyond_capacity_a_new_chat_is_dropped_a_waiting_one_merges() {
        let hints = FollowHints::new();
        for chat in 0..FollowHints::CAPACITY as u64 {
            assert!(hints.chat(chat));
        }
        assert!(!hints.chat(FollowHints::CAPACITY as u64));
        assert!(hints.chat(0u64));
        assert_eq!(hints.len(), FollowHints::CAPACITY);
    }

    #[test]
    fn a_handle_binds_to_one_business() {
        let hints = FollowHints::new();
        hints.bind(5).unwrap();
        hints.bind(5).unwrap();
        let error = hints.bind(6).unwrap_err().to_string();
        assert!(error.contains("business 5, not 6"), "{error}");
        assert!(FollowHints::for_business(5u64).bind(6).is_err());
        FollowHints::for_business(6u64).bind(6).unwrap();
    }

    #[test]
    fn chat_notifications_of_its_business_hint_their_chat() {
        for kind in [
            "CHAT_CREATED",
            "CHAT_MESSAGE_SENT",
            "CHAT_ARBITRAGE_STARTED",
            "CHAT_ARBITRAGE_FINISHED",
        ] {
            let hints = FollowHints::for_business(1u64);
            assert!(hints.notification(&notification(kind, 1, 40)), "{kind}");
            assert!(!hints.notification(&notification(kind, 2, 41)), "{kind}");
            assert_eq!(hints.take(), vec![40], "{kind}");
            // Unbound, any business counts.
            assert!(FollowHints::new().notification(&notification(kind, 2, 41)));
        }
        let hints = FollowHints::new();
        assert!(!hints.notification(&notification("ORDER_CREATED", 1, 40)));
        let ping = Notification::from_json(br#"{"notificationType": "PING"}"#).unwrap();
        assert!(!hints.notification(&ping));
        assert!(hints.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn added_waits_for_a_hint() {
        let hints = FollowHints::new();
        let waiting = tokio::time::timeout(std::time::Duration::from_secs(60), hints.added());
        assert!(waiting.await.is_err(), "resolved without a hint");
        let waiter = {
            let hints = hints.clone();
            tokio::spawn(async move { hints.added().await })
        };
        tokio::task::yield_now().await;
        hints.chat(1u64);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("a hint wakes the follower")
            .unwrap();
    }
}
