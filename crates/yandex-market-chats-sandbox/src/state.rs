//! What the sandbox remembers, shared by the handle and the server thread.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use yandex_market_chats::{Chat, ChatMessage, Operation};

use crate::clock::Clock;
use crate::config::SandboxConfig;
use crate::faults::Fault;
use crate::lag::View;
use crate::log::RecordedRequest;
use crate::notify::{Notifier, RecordedNotification};
use crate::{data, ids};

/// The configuration and the mutable state behind one lock. Every critical
/// section is short and never spans an `.await`.
pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    /// The server's clock: the host's plus the configured offset.
    pub(crate) clock: Clock,
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
    /// The business's chats as they truly are, in the seeded order; new
    /// chats are appended.
    pub(crate) chats: Vec<Chat>,
    /// The chats as getChats and getChat show them (the configured lag late).
    pub(crate) view: View,
    /// Each chat's messages, oldest first.
    pub(crate) messages: HashMap<u64, Vec<ChatMessage>>,
    /// The id of the next message written.
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
        let (chats, messages, seeded_next) = data::seed(config.chats, config.seed);
        let token_mask = fastrand::Rng::with_seed(config.seed ^ 0x9e37_79b9_7f4a_7c15).u64(..);
        let clock = Clock::new(config.clock_offset);
        // The host's time: the base is about runs of this host, not about
        // what the server's clock says.
        let now = chrono::Utc::now();
        let next_message_id = ids::first(config.first_message_id, seeded_next, now);
        let view = View::new(config.listing_lag, &chats);
        Self {
            config,
            clock,
            token_mask,
            notifier,
            state: Mutex::new(State {
                view,
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
