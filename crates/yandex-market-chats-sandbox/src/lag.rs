//! The listed view of the chats: what getChats and getChat show, which
//! follows the true state [`SandboxConfig::listing_lag`] late, as an API
//! whose listing is served from a lagging replica would.
//!
//! Each change of a chat leaves a snapshot due `lag` later; reading the view
//! first applies the snapshots that are due. With no lag the view is the
//! true state itself, and nothing is copied.
//!
//! [`SandboxConfig::listing_lag`]: crate::SandboxConfig::listing_lag

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use yandex_market_chats::Chat;

/// The lagging view; see the module's documentation.
#[derive(Default)]
pub(crate) struct View {
    lag: Duration,
    /// Each listed chat as shown now (only with a lag): a chat not here is
    /// not listed yet.
    shown: HashMap<u64, Chat>,
    /// Snapshots to show from their due time (host time), in due order:
    /// the lag is the same for every change, so they come due in the order
    /// the changes happened.
    pending: VecDeque<(Instant, Chat)>,
}

impl View {
    /// A view of `chats` (the seeded ones, shown from the start).
    pub(crate) fn new(lag: Duration, chats: &[Chat]) -> Self {
        let shown = if lag.is_zero() {
            HashMap::new()
        } else {
            chats.iter().map(|c| (c.chat_id.get(), c.clone())).collect()
        };
        Self {
            lag,
            shown,
            pending: VecDeque::new(),
        }
    }

    /// `chat` as it is now is to be shown once the lag has passed. Called
    /// once per change (not per step of one), so that no half-made state
    /// is ever shown.
    pub(crate) fn changed(&mut self, chat: &Chat) {
        if !self.lag.is_zero() {
            self.pending
                .push_back((Instant::now() + self.lag, chat.clone()));
        }
    }

    /// Chat `chat_id` is gone: it disappears from the view at once.
    pub(crate) fn removed(&mut self, chat_id: u64) {
        self.shown.remove(&chat_id);
        self.pending.retain(|(_, c)| c.chat_id.get() != chat_id);
    }

    /// Shows the snapshots that are due. Call before reading the view.
    pub(crate) fn catch_up(&mut self) {
        let now = Instant::now();
        while let Some((due, _)) = self.pending.front() {
            if *due > now {
                break;
            }
            if let Some((_, chat)) = self.pending.pop_front() {
                self.shown.insert(chat.chat_id.get(), chat);
            }
        }
    }

    /// How `chat` (in its true state) is shown; `None` while it is not
    /// listed yet. Call [`View::catch_up`] first.
    pub(crate) fn show<'a>(&'a self, chat: &'a Chat) -> Option<&'a Chat> {
        if self.lag.is_zero() {
            Some(chat)
        } else {
            self.shown.get(&chat.chat_id.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yandex_market_chats::ChatStatus;

    fn chat(id: u64, status: ChatStatus) -> Chat {
        serde_json::from_value(serde_json::json!({
            "chatId": id, "type": "CHAT", "status": status.to_string(),
            "createdAt": "2025-03-01T09:00:00+03:00", "updatedAt": "2025-03-01T09:00:00+03:00",
            "context": {"type": "DIRECT"}
        }))
        .unwrap()
    }

    #[test]
    fn a_change_shows_only_after_the_lag() {
        let old = chat(1, ChatStatus::New);
        let mut view = View::new(Duration::from_millis(50), std::slice::from_ref(&old));
        let new = chat(1, ChatStatus::Finished);
        view.changed(&new);
        view.catch_up();
        assert_eq!(view.show(&new), Some(&old));
        let opened = chat(2, ChatStatus::New);
        view.changed(&opened);
        std::thread::sleep(Duration::from_millis(60));
        view.catch_up();
        assert_eq!(view.show(&old), Some(&new));
        assert_eq!(view.show(&opened), Some(&opened));
        view.removed(2);
        assert_eq!(view.show(&opened), None);
    }

    #[test]
    fn without_a_lag_the_true_state_shows() {
        let view = View::new(Duration::ZERO, &[]);
        let c = chat(1, ChatStatus::New);
        assert_eq!(view.show(&c), Some(&c));
    }
}
