//! What the sandbox remembers, shared by the handle and the server thread.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use yandex_market_chats::{Chat, ChatMessage, Operation};

use crate::config::SandboxConfig;
use crate::data;
use crate::faults::Fault;
use crate::log::RecordedRequest;
use crate::notify::{Notifier, RecordedNotification};

/// The configuration and the mutable state behind one lock. Every critical
/// section is short and never spans an `.await`.
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    /// Masks page-token offsets; derived from the seed, so tokens differ
    /// between sandboxes.
    pub(crate) token_mask: u64,
    /// Queues notifications for the delivery task; `None` without a
    /// notification URL.
    pub(crate) notifier: Option<Notifier>,
    state: Mutex<State>,
}

#[derive(Default)]
pub(crate) struct State {
    /// The business's chats, in paging order; new chats are appended.
    pub(crate) chats: Vec<Chat>,
    /// Each chat's messages, oldest first.
    pub(crate) messages: HashMap<u64, Vec<ChatMessage>>,
    pub(crate) next_message_id: u64,
    /// What to do with the next requests, in order; `None` answers normally.
    pub(crate) faults: VecDeque<Option<Fault>>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Per business and operation: when the quota window started and how much is used.
    pub(crate) quota: HashMap<(u64, Operation), (Instant, u32)>,
    pub(crate) in_flight: HashMap<u64, usize>,
    /// The most requests of one business in flight at once so far.
    pub(crate) max_in_flight: usize,
    /// Every notification queued so far, in order, with what became of it.
    pub(crate) notifications: Vec<RecordedNotification>,
    /// How many of the next notifications are not sent.
    pub(crate) drop_notifications: usize,
    /// How many of the next notifications (after the dropped ones) are sent twice.
    pub(crate) duplicate_notifications: usize,
}

impl Shared {
    /// The seeded state for `config`; notifications go to `notifier`.
    pub(crate) fn new(config: SandboxConfig, notifier: Option<Notifier>) -> Self {
        let (chats, messages, next_message_id) = data::seed(config.chats, config.seed);
        let token_mask = fastrand::Rng::with_seed(config.seed ^ 0x9e37_79b9_7f4a_7c15).u64(..);
        Self {
            config,
            token_mask,
            notifier,
            state: Mutex::new(State {
                chats,
                messages,
                next_message_id,
                ..State::default()
            }),
        }
    }

    /// The state; a panic elsewhere never poisons the sandbox for the
    /// other tests' requests.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
