//! Chats changing: messages appended by either side, the status rules,
//! buyers opening chats and writing (when a test says so, or on their own),
//! status changes such as a dispute, and the notifications they send.
//!
//! The rules, as Market applies them and the sandbox models them:
//!
//! - A message moves the chat's `updatedAt` to its `createdAt` (the API
//!   defines `updatedAt` as the time of the chat's last message).
//! - A buyer's message makes the chat `WAITING_FOR_PARTNER`; a partner's
//!   makes it `WAITING_FOR_CUSTOMER`. A `FINISHED` chat reopens that way. A
//!   chat in a dispute (`WAITING_FOR_ARBITER`, `WAITING_FOR_MARKET`) keeps
//!   its status whoever writes: the arbiter or Market decides.
//! - A status change alone leaves `updatedAt` as it is: it is not a message.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SubsecRound};
use yandex_market_chats::{
    Chat, ChatContextType, ChatCustomer, ChatFullContext, ChatMessage, ChatMessageFile,
    ChatMessageSender, ChatStatus, ChatType,
};

use crate::notify::{self, Event};
use crate::state::{Shared, State};
use crate::{clock, data, ids};

/// The first chat id of a sandbox without chats.
const FIRST_CHAT_ID: u64 = 10_001;

/// The offset a chat's dates are written in (its `createdAt`'s), so that a
/// chat keeps one offset, as seeded.
fn offset_of(chat: &Chat) -> FixedOffset {
    *chat.created_at.offset()
}

/// Whether the chat is in a dispute: an arbiter or Market has the word.
fn in_dispute(status: &ChatStatus) -> bool {
    matches!(
        status,
        ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket
    )
}

/// The chat's status once `sender` has written (see the module's rules).
fn status_after(status: &ChatStatus, sender: &ChatMessageSender) -> ChatStatus {
    match sender {
        _ if in_dispute(status) => status.clone(),
        ChatMessageSender::Customer => ChatStatus::WaitingForPartner,
        ChatMessageSender::Partner => ChatStatus::WaitingForCustomer,
        // Market's and support's messages wait for no one in particular.
        _ => status.clone(),
    }
}

/// The index of chat `chat_id`, if the sandbox has it.
pub(crate) fn position(state: &State, chat_id: u64) -> Option<usize> {
    state.chats.iter().position(|c| c.chat_id.get() == chat_id)
}

/// A message's text and file, as `append` takes them.
pub(crate) struct Content {
    pub(crate) text: Option<String>,
    /// The file's name and size.
    pub(crate) file: Option<(String, i32)>,
}

/// The chat at `index` has changed: the listed view shows it as it is now
/// once the lag has passed. Called once per change, when it is complete.
pub(crate) fn changed(state: &mut State, index: usize) {
    state.view.changed(&state.chats[index]);
}

/// Appends a message from `sender` to the chat at `index`: the next message
/// id (ids grow over the whole sandbox and are never reused), `createdAt`
/// now on the server's clock in the chat's offset, which becomes the chat's
/// `updatedAt`; the status follows the rules. Returns the message's id and
/// time. The caller reports the change ([`changed`]) once it is complete.
pub(crate) fn append(
    shared: &Shared,
    state: &mut State,
    index: usize,
    sender: ChatMessageSender,
    content: Content,
) -> (u64, DateTime<FixedOffset>) {
    let message_id = state.next_message_id;
    state.next_message_id += 1;
    if shared.config.first_message_id.is_none() {
        ids::issued(message_id);
    }
    let chat = &mut state.chats[index];
    let now = shared.clock.now_in(offset_of(chat));
    chat.updated_at = now;
    chat.status = status_after(&chat.status, &sender);
    let chat_id = chat.chat_id.get();
    let message = ChatMessage {
        message_id: message_id.into(),
        created_at: now,
        sender,
        message: content.text,
        payload: content.file.map(|(name, size)| {
            vec![ChatMessageFile {
                url: format!("https://sandbox.invalid/files/{message_id}/{name}"),
                name,
                size,
            }]
        }),
    };
    state.messages.entry(chat_id).or_default().push(message);
    (message_id, now)
}

/// A buyer's message in the chat at `index`, notified and shown in the
/// listed view once the lag has passed. Returns its id.
fn write_as_buyer(shared: &Shared, state: &mut State, index: usize, text: String) -> u64 {
    let message_id = buyer_message(shared, state, index, text);
    changed(state, index);
    message_id
}

/// A buyer's message in the chat at `index`, notified; the caller reports
/// the change. Returns its id.
fn buyer_message(shared: &Shared, state: &mut State, index: usize, text: String) -> u64 {
    let content = Content {
        text: Some(text),
        file: None,
    };
    let (message_id, sent_at) = append(shared, state, index, ChatMessageSender::Customer, content);
    let event = Event::MessageSent {
        chat_id: state.chats[index].chat_id.get(),
        message_id,
        sent_at,
    };
    notify::queue(shared, state, &event);
    message_id
}

/// A buyer writes in chat `chat_id`; `None` if the sandbox has no such chat.
pub(crate) fn customer_message(shared: &Shared, chat_id: u64, text: String) -> Option<u64> {
    let mut state = shared.state();
    let index = position(&state, chat_id)?;
    Some(write_as_buyer(shared, &mut state, index, text))
}

/// The chat about order `order_id` (an `ORDER` chat), if there is one.
pub(crate) fn order_chat(state: &State, order_id: u64) -> Option<usize> {
    state.chats.iter().position(|chat| {
        chat.context.type_ == ChatContextType::Order
            && chat.context.order_id.map(|o| o.get()) == Some(order_id)
    })
}

/// The chat about return `return_id`, if there is one.
pub(crate) fn return_chat(state: &State, return_id: u64) -> Option<usize> {
    state.chats.iter().position(|chat| {
        chat.context.type_ == ChatContextType::Return
            && chat.context.return_id.map(|r| r.get()) == Some(return_id)
    })
}

/// What a new chat is about.
#[derive(Clone, Copy)]
pub(crate) enum About {
    Order(u64),
    Return(u64),
}

/// Adds a new chat about an order or a return with no messages yet: the
/// next chat id, status `NEW`, created now on the server's clock in Moscow
/// time. Returns its id. The caller reports the change ([`changed`]).
// The API still sends the deprecated top-level `orderId`; so does the sandbox.
#[allow(deprecated)]
pub(crate) fn new_chat(
    shared: &Shared,
    state: &mut State,
    about: About,
    customer: Option<ChatCustomer>,
) -> u64 {
    let chat_id = state
        .chats
        .iter()
        .map(|c| c.chat_id.get() + 1)
        .max()
        .unwrap_or(FIRST_CHAT_ID);
    let now = shared.clock.now_in(clock::moscow());
    let (type_, order_id, return_id) = match about {
        About::Order(id) => (ChatContextType::Order, Some(id.into()), None),
        About::Return(id) => (ChatContextType::Return, None, Some(id.into())),
    };
    state.chats.push(Chat {
        chat_id: chat_id.into(),
        order_id,
        context: ChatFullContext {
            type_,
            order_id,
            return_id,
            campaign_id: None,
            customer,
        },
        type_: ChatType::Chat,
        status: ChatStatus::New,
        created_at: now,
        // No message yet: the time the chat began stands in.
        updated_at: now,
    });
    state.messages.insert(chat_id, Vec::new());
    chat_id
}

/// A buyer opens a chat about order `order_id` with a first message: a new
/// chat, status `NEW` with the message in it; `CHAT_CREATED` then
/// `CHAT_MESSAGE_SENT` are notified. When the order already has a chat,
/// the message goes there instead, as any buyer's message. Returns the
/// chat's id.
pub(crate) fn open_chat(shared: &Shared, order_id: u64, text: String) -> u64 {
    let mut state = shared.state();
    if let Some(index) = order_chat(&state, order_id) {
        write_as_buyer(shared, &mut state, index, text);
        return state.chats[index].chat_id.get();
    }
    // The buyer, from the seed and the chat's place: deterministic.
    let place = state.chats.len() as u64;
    let mut rng = fastrand::Rng::with_seed(shared.config.seed ^ place.rotate_left(32));
    let customer = ChatCustomer {
        name: Some(data::NAMES[rng.usize(0..data::NAMES.len())].to_owned()),
        public_id: Some(format!("user-{:08x}", rng.u32(..))),
    };
    let chat_id = new_chat(shared, &mut state, About::Order(order_id), Some(customer));
    let index = state.chats.len() - 1;
    let created_at = state.chats[index].created_at;
    notify::queue(
        shared,
        &mut state,
        &Event::ChatCreated {
            chat_id,
            created_at,
        },
    );
    buyer_message(shared, &mut state, index, text);
    // The buyer's first message does not make it wait yet: a chat nobody
    // has answered is `NEW`.
    state.chats[index].status = ChatStatus::New;
    changed(&mut state, index);
    chat_id
}

/// Sets chat `chat_id`'s status; `None` if the sandbox has no such chat.
/// Entering a dispute (`WAITING_FOR_ARBITER` or `WAITING_FOR_MARKET`)
/// from outside one notifies `CHAT_ARBITRAGE_STARTED`, leaving one
/// `CHAT_ARBITRAGE_FINISHED` (never for a `DIRECT` chat, as the
/// notification API says). `updatedAt` stays: no message was written.
pub(crate) fn set_status(shared: &Shared, chat_id: u64, status: ChatStatus) -> Option<()> {
    let mut state = shared.state();
    let index = position(&state, chat_id)?;
    let before = std::mem::replace(&mut state.chats[index].status, status);
    changed(&mut state, index);
    let chat = &state.chats[index];
    if chat.context.type_ == ChatContextType::Direct {
        return Some(());
    }
    // Milliseconds, as in the notification API's examples: two disputes of
    // one chat within a second still have different times (and dedup keys).
    let at = shared
        .clock
        .now()
        .with_timezone(&offset_of(chat))
        .trunc_subsecs(3);
    let event = match (in_dispute(&before), in_dispute(&chat.status)) {
        (false, true) => Event::ArbitrageStarted {
            chat_id,
            started_at: at,
        },
        (true, false) => Event::ArbitrageFinished {
            chat_id,
            finished_at: at,
        },
        _ => return Some(()),
    };
    notify::queue(shared, &mut state, &event);
    Some(())
}

/// Buyers writing on their own: every `every`, a chat picked from the
/// seed gets a seeded line as a customer message. Runs until the sandbox
/// stops.
pub(crate) async fn buyers_write(shared: Arc<Shared>, every: Duration) {
    let mut rng = fastrand::Rng::with_seed(shared.config.seed ^ 0xb0b5_a1d5);
    let start = tokio::time::Instant::now() + every;
    let mut ticks = tokio::time::interval_at(start, every);
    // A late tick is not made up for with a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let mut state = shared.state();
        if state.chats.is_empty() {
            continue;
        }
        let index = rng.usize(0..state.chats.len());
        let line = data::CUSTOMER_LINES[rng.usize(0..data::CUSTOMER_LINES.len())];
        write_as_buyer(&shared, &mut state, index, line.to_owned());
    }
}
