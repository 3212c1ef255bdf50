//! The follower's rules, without I/O: whether a listed chat must be read,
//! which of the messages read are new, and the events and state changes
//! they make. `cycle.rs` does the reading; these functions decide.

use chrono::{DateTime, TimeDelta, Utc};

use super::ChatEvent;
use super::state::{Mark, State};
use crate::{Chat, ChatContextType, ChatMessage, ChatMessageSender, ChatStatus, ChatType};

/// How long after a read a chat's unchanged `updatedAt` may still hide a
/// message: `updatedAt` and `Date` both have one-second resolution.
pub(crate) const SAME_SECOND: TimeDelta = TimeDelta::seconds(2);

/// An event (or none) and the state it leaves once taken.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Item {
    pub event: Option<ChatEvent>,
    pub change: Option<Change>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Change {
    Set(u64, Mark),
    Remove(u64),
    Listed,
    /// The start point was just taken from the server's clock: saved at
    /// once, before any event.
    Started,
    /// A full listing that began at this server time was judged whole.
    FullSweep(DateTime<Utc>),
}

/// Which events the follower delivers (the filters).
#[derive(Clone, Debug, Default)]
pub(crate) struct Filters {
    pub statuses: Vec<ChatStatus>,
    pub types: Vec<ChatType>,
    pub context_types: Vec<ChatContextType>,
    pub own_messages: bool,
}

impl Filters {
    /// Whether an event about `chat`, judged as in `status`, passes.
    fn wants(&self, chat: &Chat, status: &ChatStatus) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(status))
            && (self.types.is_empty() || self.types.contains(&chat.type_))
            && (self.context_types.is_empty() || self.context_types.contains(&chat.context.type_))
    }
}

/// Where to read a chat's history from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadFrom {
    /// After this message (by id): the last one the follower saw.
    pub after: Option<u64>,
    /// For a chat never read: messages at or after this server time
    /// (`None`: all of them).
    pub since: Option<DateTime<Utc>>,
}

/// Whether `chat`, as listed, must be read, and from where. `now` is the
/// server's time.
pub(crate) fn read_from(state: &State, chat: &Chat, now: DateTime<Utc>) -> Option<ReadFrom> {
    let since = state.floor();
    let after_floor = |at: DateTime<Utc>| since.is_none_or(|s| at >= s);
    let must = match state.chats.get(&chat.chat_id.get()) {
        // Something happened since the floor (or the chat is new).
        None => after_floor(chat.created_at.to_utc()) || after_floor(chat.updated_at.to_utc()),
        // A recheck waits until the second of `updatedAt` is surely over
        // on the server, then reads once.
        Some(mark) => {
            chat.updated_at > mark.updated_at
                || (mark.recheck && now - mark.updated_at.to_utc() >= SAME_SECOND)
        }
    };
    must.then(|| ReadFrom {
        after: state
            .chats
            .get(&chat.chat_id.get())
            .and_then(|m| m.last_message_id),
        since,
    })
}

/// The new ones among messages read `from`, in order, each once.
pub(crate) fn new_messages(from: ReadFrom, mut messages: Vec<ChatMessage>) -> Vec<ChatMessage> {
    messages.retain(|m| match from.after {
        Some(after) => m.message_id.get() > after,
        None => from
            .since
            .is_none_or(|since| m.created_at.to_utc() >= since),
    });
    messages.sort_by_key(|m| m.message_id);
    messages.dedup_by_key(|m| m.message_id);
    messages
}

/// Whether a buyer's message passes the filters: judged by the status it
/// put its chat in, since the seller may have answered from the cabinet
/// before the read. The first message of a new chat leaves it `NEW`; a
/// dispute keeps its status; any other makes the buyer wait for the seller
/// (`WAITING_FOR_PARTNER`). The status when read passes too.
fn buyer_wanted(filters: &Filters, chat: &Chat, opens_chat: bool) -> bool {
    let put_in = match chat.status {
        ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket => chat.status.clone(),
        _ if opens_chat => ChatStatus::New,
        _ => ChatStatus::WaitingForPartner,
    };
    filters.wants(chat, &put_in) || filters.wants(chat, &chat.status)
}

/// What was read of a chat: its new messages (see [`new_messages`]) and
/// the server's time of the read.
pub(crate) struct Read {
    pub messages: Vec<ChatMessage>,
    pub at: DateTime<Utc>,
}

/// The items for one chat as listed (or got): a new chat, its new messages
/// in order, a status change; the chat's mark goes with the last of them.
/// `read` is `None` when it was not read ([`read_from`] said so).
pub(crate) fn items(state: &State, filters: &Filters, chat: Chat, read: Option<Read>) -> Vec<Item> {
    let id = chat.chat_id.get();
    let since = state.floor();
    let known = state.chats.get(&id).cloned();
    let status = chat.status.to_string();
    let is_new = known.is_none() && since.is_none_or(|s| chat.created_at.to_utc() >= s);
    let base = known.clone().unwrap_or(Mark {
        status: status.clone(),
        updated_at: chat.created_at,
        last_message_id: None,
        recheck: true,
        // A chat pruned and seen again starts counting above any count it
        // had before (the floor only rises), so its keys never repeat.
        status_changes: since.map_or(0, |s| u64::try_from(s.timestamp()).unwrap_or(0) * 1_000),
    });
    let mut items = Vec::new();
    if is_new && filters.wants(&chat, &chat.status) {
        items.push(Item {
            event: Some(ChatEvent::NewChat { chat: chat.clone() }),
            // Until its messages are taken, the chat is read again.
            change: Some(Change::Set(id, base.clone())),
        });
    }
    let mut last = base.last_message_id;
    let mut newest = chat.updated_at.max(base.updated_at);
    // Whether the next message read is the chat's first: a new chat is
    // read from its beginning.
    let mut first_of_chat = is_new && base.last_message_id.is_none();
    let read_at = read.as_ref().map(|r| r.at);
    for message in read.map(|r| r.messages).unwrap_or_default() {
        last = Some(message.message_id.get());
        newest = newest.max(message.created_at);
        let opens_chat = std::mem::replace(&mut first_of_chat, false);
        let wanted = match message.sender {
            ChatMessageSender::Partner => {
                filters.own_messages && filters.wants(&chat, &chat.status)
            }
            ChatMessageSender::Customer => buyer_wanted(filters, &chat, opens_chat),
            _ => filters.wants(&chat, &chat.status),
        };
        items.push(Item {
            event: wanted.then_some(ChatEvent::Message {
                chat_id: chat.chat_id,
                message,
            }),
            change: Some(Change::Set(
                id,
                Mark {
                    last_message_id: last,
                    recheck: true,
                    ..base.clone()
                },
            )),
        });
    }
    let changed = known.as_ref().is_some_and(|old| old.status != status);
    let status_changes = base.status_changes + u64::from(changed);
    let mark = Mark {
        status,
        updated_at: newest,
        last_message_id: last,
        recheck: match read_at {
            // A message in the same second as `newest`, written after
            // this read, would not move `updatedAt`.
            Some(at) => at - newest.to_utc() < SAME_SECOND,
            // Not read: a pending recheck stays pending.
            None => base.recheck && known.is_some(),
        },
        status_changes,
    };
    let event = match &known {
        Some(old) if changed && filters.wants(&chat, &chat.status) => {
            Some(ChatEvent::StatusChanged {
                previous: old.status.as_str().into(),
                change: status_changes,
                chat,
            })
        }
        _ => None,
    };
    if event.is_some() || known.as_ref() != Some(&mark) {
        items.push(Item {
            event,
            change: Some(Change::Set(id, mark)),
        });
    }
    items
}

/// The items of a chat that answers 404: gone, if the follower knew it.
pub(crate) fn gone(state: &State, chat_id: u64) -> Vec<Item> {
    if state.chats.contains_key(&chat_id) {
        vec![Item {
            event: Some(ChatEvent::ChatGone {
                chat_id: chat_id.into(),
            }),
            change: Some(Change::Remove(chat_id)),
        }]
    } else {
        Vec::new()
    }
}
