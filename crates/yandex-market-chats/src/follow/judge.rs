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

/// Whether `chat`, as listed, is older than what the follower already saw
/// of it (a full listing's page judged after a waiting sweep or a hint read
/// the chat anew): judging it would report a status the chat has left, and
/// there is nothing in it to read.
pub(crate) fn stale(state: &State, chat: &Chat) -> bool {
    state
        .chats
        .get(&chat.chat_id.get())
        .is_some_and(|mark| chat.updated_at < mark.updated_at)
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

/// Whether a history read shows its pages newest first: an id that falls
/// from one message to the next (`messages`: the last message of the pages
/// before, then the page just read). A message repeated where two pages
/// overlap shows no order.
pub(crate) fn falls(messages: &[ChatMessage]) -> bool {
    messages
        .windows(2)
        .any(|pair| pair[1].message_id < pair[0].message_id)
}

/// Whether a read of a chat never read, paged newest first, has gone back
/// far enough: its oldest message so far is older than `from.since`, so
/// every later page is older still. A message at `since` itself is new, and
/// the next page may hold more of that second.
pub(crate) fn reached_back(from: ReadFrom, newest_first: bool, messages: &[ChatMessage]) -> bool {
    from.after.is_none()
        && newest_first
        && from.since.is_some_and(|since| {
            messages
                .last()
                .is_some_and(|oldest| oldest.created_at.to_utc() < since)
        })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, FixedOffset, TimeDelta, Utc};

    use super::*;
    use crate::{ChatFullContext, ChatMessageSender};

    fn at(seconds: i64) -> DateTime<FixedOffset> {
        (DateTime::parse_from_rfc3339("2026-01-01T00:00:00+03:00").unwrap()
            + TimeDelta::seconds(seconds))
        .fixed_offset()
    }

    // The chat's top-level `orderId` is deprecated by the API; a test chat
    // sets it as the API does.
    #[allow(deprecated)]
    fn chat(id: u64, status: ChatStatus, created: i64, updated: i64) -> Chat {
        Chat {
            chat_id: id.into(),
            order_id: None,
            context: ChatFullContext {
                type_: ChatContextType::Order,
                order_id: None,
                return_id: None,
                campaign_id: None,
                customer: None,
            },
            type_: ChatType::Chat,
            status,
            created_at: at(created),
            updated_at: at(updated),
        }
    }

    fn message(id: u64, seconds: i64, sender: ChatMessageSender) -> ChatMessage {
        ChatMessage {
            message_id: id.into(),
            created_at: at(seconds),
            sender,
            message: Some("hi".to_owned()),
            payload: None,
        }
    }

    /// A state started at second 100, knowing chat 1 (read up to message 10,
    /// `updatedAt` second 50).
    fn state() -> State {
        let mut state = State::new(7, false);
        state.start_pending = false;
        state.start = Some(at(100));
        state.chats.insert(
            1,
            Mark {
                status: "WAITING_FOR_CUSTOMER".to_owned(),
                updated_at: at(50),
                last_message_id: Some(10),
                recheck: false,
                status_changes: 0,
            },
        );
        state
    }

    fn utc(seconds: i64) -> DateTime<Utc> {
        at(seconds).to_utc()
    }

    #[test]
    fn each_filter_must_pass() {
        let c = chat(1, ChatStatus::New, 0, 0);
        let all = Filters::default();
        assert!(all.wants(&c, &ChatStatus::New));
        let statuses = Filters {
            statuses: vec![ChatStatus::New],
            ..Filters::default()
        };
        assert!(statuses.wants(&c, &ChatStatus::New));
        assert!(!statuses.wants(&c, &ChatStatus::Finished));
        let types = Filters {
            types: vec![ChatType::Arbitrage],
            ..Filters::default()
        };
        assert!(!types.wants(&c, &ChatStatus::New));
        let contexts = Filters {
            context_types: vec![ChatContextType::Return],
            ..Filters::default()
        };
        assert!(!contexts.wants(&c, &ChatStatus::New));
        let both = Filters {
            statuses: vec![ChatStatus::New],
            context_types: vec![ChatContextType::Order],
            ..Filters::default()
        };
        assert!(both.wants(&c, &ChatStatus::New));
    }

    #[test]
    fn a_buyers_message_is_judged_by_the_status_it_put_its_chat_in() {
        let waiting = Filters {
            statuses: vec![ChatStatus::WaitingForPartner],
            ..Filters::default()
        };
        let new = Filters {
            statuses: vec![ChatStatus::New],
            ..Filters::default()
        };
        // Answered from the cabinet before the read: it made the chat wait.
        let answered = chat(1, ChatStatus::WaitingForCustomer, 0, 0);
        assert!(buyer_wanted(&waiting, &answered, false));
        assert!(!buyer_wanted(&new, &answered, false));
        // The first message of a new chat leaves it NEW.
        assert!(buyer_wanted(&new, &answered, true));
        assert!(!buyer_wanted(&waiting, &answered, true));
        // A dispute keeps its status.
        let dispute = chat(1, ChatStatus::WaitingForArbiter, 0, 0);
        assert!(!buyer_wanted(&waiting, &dispute, false));
        let arbiter = Filters {
            statuses: vec![ChatStatus::WaitingForArbiter],
            ..Filters::default()
        };
        assert!(buyer_wanted(&arbiter, &dispute, false));
        // The status when read passes too.
        let customer = Filters {
            statuses: vec![ChatStatus::WaitingForCustomer],
            ..Filters::default()
        };
        assert!(buyer_wanted(&customer, &answered, false));
    }

    #[test]
    fn what_must_be_read_and_from_where() {
        let state = state();
        // Known, unchanged: nothing.
        assert_eq!(
            read_from(&state, &chat(1, ChatStatus::New, 0, 50), utc(200)),
            None
        );
        // Known, moved: after the last message seen.
        assert_eq!(
            read_from(&state, &chat(1, ChatStatus::New, 0, 51), utc(200)),
            Some(ReadFrom {
                after: Some(10),
                since: Some(utc(100))
            })
        );
        // Unknown, quiet since before the start: nothing.
        assert_eq!(
            read_from(&state, &chat(2, ChatStatus::New, 0, 99), utc(200)),
            None
        );
        // Unknown, written at the start's second, or created after it: read.
        assert!(read_from(&state, &chat(2, ChatStatus::New, 0, 100), utc(200)).is_some());
        assert!(read_from(&state, &chat(3, ChatStatus::New, 150, 150), utc(200)).is_some());
    }

    #[test]
    fn a_recheck_waits_until_the_second_is_over() {
        let mut state = state();
        state.chats.get_mut(&1).unwrap().recheck = true;
        let same = chat(1, ChatStatus::New, 0, 50);
        assert_eq!(read_from(&state, &same, utc(51)), None, "within 2 s");
        assert!(read_from(&state, &same, utc(52)).is_some(), "2 s later");
    }

    #[test]
    fn a_falling_id_shows_newest_first_a_repeated_one_does_not() {
        let ids = |ids: &[u64]| -> Vec<ChatMessage> {
            ids.iter()
                .map(|id| message(*id, 0, ChatMessageSender::Customer))
                .collect()
        };
        assert!(!falls(&ids(&[])));
        assert!(!falls(&ids(&[5])));
        assert!(!falls(&ids(&[1, 2, 3])));
        assert!(falls(&ids(&[3, 2])));
        assert!(falls(&ids(&[1, 3, 2])));
        // Pages that overlap by a message, oldest first.
        assert!(!falls(&ids(&[2, 2])));
        assert!(!falls(&ids(&[1, 2, 2, 3])));
    }

    #[test]
    fn a_newest_first_read_reaches_back_past_since_only_strictly_before_it() {
        let never_read = ReadFrom {
            after: None,
            since: Some(utc(100)),
        };
        let oldest_at = |seconds| {
            vec![
                message(5, 120, ChatMessageSender::Customer),
                message(4, seconds, ChatMessageSender::Customer),
            ]
        };
        assert!(reached_back(never_read, true, &oldest_at(99)));
        // At `since` itself: new, and the next page may hold more of it.
        assert!(!reached_back(never_read, true, &oldest_at(100)));
        assert!(!reached_back(never_read, true, &oldest_at(101)));
        assert!(!reached_back(never_read, true, &[]));
        // Oldest first, the last message is the newest: no stopping early.
        assert!(!reached_back(never_read, false, &oldest_at(99)));
        // A chat read before goes on from its cursor, whatever the order.
        let read = ReadFrom {
            after: Some(3),
            ..never_read
        };
        assert!(!reached_back(read, true, &oldest_at(99)));
        // From the beginning: everything is read.
        let all = ReadFrom {
            since: None,
            ..never_read
        };
        assert!(!reached_back(all, true, &oldest_at(99)));
    }

    #[test]
    fn new_messages_are_those_after_the_cursor_in_order_each_once() {
        let messages = vec![
            message(12, 110, ChatMessageSender::Customer),
            message(10, 90, ChatMessageSender::Customer),
            message(11, 100, ChatMessageSender::Customer),
            message(12, 110, ChatMessageSender::Customer),
        ];
        let after: Vec<u64> = new_messages(
            ReadFrom {
                after: Some(10),
                since: None,
            },
            messages.clone(),
        )
        .iter()
        .map(|m| m.message_id.get())
        .collect();
        assert_eq!(after, [11, 12]);
        let since: Vec<u64> = new_messages(
            ReadFrom {
                after: None,
                since: Some(utc(100)),
            },
            messages,
        )
        .iter()
        .map(|m| m.message_id.get())
        .collect();
        assert_eq!(since, [11, 12]);
    }

    #[test]
    fn a_read_gives_events_in_order_and_the_mark_goes_with_the_last() {
        let state = state();
        let read = Read {
            messages: vec![
                message(11, 60, ChatMessageSender::Customer),
                message(12, 61, ChatMessageSender::Partner),
            ],
            at: utc(61),
        };
        let items = items(
            &state,
            &Filters::default(),
            chat(1, ChatStatus::WaitingForCustomer, 0, 61),
            Some(read),
        );
        let events: Vec<String> = items
            .iter()
            .filter_map(|i| i.event.as_ref().map(ChatEvent::dedup_key))
            .collect();
        // The seller's own message is no event (own_messages is off).
        assert_eq!(events, ["message:1:11"]);
        let Some(Change::Set(1, mark)) = &items.last().unwrap().change else {
            panic!("the last item carries the chat's mark");
        };
        assert_eq!(mark.last_message_id, Some(12));
        assert_eq!(mark.updated_at, at(61));
        assert!(mark.recheck, "read within 2 s of updatedAt");
        assert_eq!(mark.status_changes, 0);
    }

    #[test]
    fn a_status_change_counts_and_a_new_chat_comes_once() {
        let state = state();
        let changed = items(
            &state,
            &Filters::default(),
            chat(1, ChatStatus::WaitingForArbiter, 0, 50),
            None,
        );
        match &changed[..] {
            [
                Item {
                    event:
                        Some(ChatEvent::StatusChanged {
                            change, previous, ..
                        }),
                    change: Some(Change::Set(1, mark)),
                },
            ] => {
                assert_eq!((*change, mark.status_changes), (1, 1));
                assert_eq!(*previous, ChatStatus::WaitingForCustomer);
                assert!(!mark.recheck, "not read: no recheck");
            }
            other => panic!("{other:?}"),
        }
        // A chat created after the start is new; one before it is not.
        let new = items(
            &state,
            &Filters::default(),
            chat(5, ChatStatus::New, 150, 150),
            None,
        );
        assert!(matches!(new[0].event, Some(ChatEvent::NewChat { .. })));
        let old = items(
            &state,
            &Filters::default(),
            chat(6, ChatStatus::New, 10, 10),
            None,
        );
        assert!(old.iter().all(|i| i.event.is_none()));
        // Gone: an event for a known chat only.
        assert_eq!(gone(&state, 1).len(), 1);
        assert!(gone(&state, 99).is_empty());
    }

    /// A listed snapshot older than what the follower already saw (a full
    /// listing's page, judged after a waiting sweep read the chat anew) is
    /// stale: no status change, nothing changes.
    #[test]
    fn a_snapshot_older_than_what_was_seen_is_stale() {
        let state = state();
        assert!(stale(
            &state,
            &chat(1, ChatStatus::WaitingForPartner, 0, 49)
        ));
        // As old as what was seen: a status may change without `updatedAt`.
        assert!(!stale(
            &state,
            &chat(1, ChatStatus::WaitingForPartner, 0, 50)
        ));
        assert!(!stale(
            &state,
            &chat(1, ChatStatus::WaitingForPartner, 0, 51)
        ));
        assert!(!stale(&state, &chat(2, ChatStatus::New, 0, 1)), "unknown");
    }

    /// Message events of `items`, as dedup keys.
    fn message_keys(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match &i.event {
                Some(event @ ChatEvent::Message { .. }) => Some(event.dedup_key()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn under_a_status_filter_a_buyers_messages_are_judged_one_by_one() {
        let waiting = Filters {
            statuses: vec![ChatStatus::WaitingForPartner],
            ..Filters::default()
        };
        let read = |messages| Read {
            messages,
            at: utc(300),
        };
        // A chat the follower knows but never read (quiet since before the
        // start): its buyer's message made it wait, whatever it is now.
        let mut known = state();
        known.chats.get_mut(&1).unwrap().last_message_id = None;
        let answered = chat(1, ChatStatus::WaitingForCustomer, 0, 200);
        let got = items(
            &known,
            &waiting,
            answered,
            Some(read(vec![message(11, 200, ChatMessageSender::Customer)])),
        );
        assert_eq!(message_keys(&got), ["message:1:11"]);
        // A new chat: its first message left it NEW, its second made it wait.
        let new_chat = chat(5, ChatStatus::WaitingForCustomer, 150, 200);
        let got = items(
            &state(),
            &waiting,
            new_chat,
            Some(read(vec![
                message(20, 150, ChatMessageSender::Customer),
                message(21, 160, ChatMessageSender::Customer),
            ])),
        );
        assert_eq!(message_keys(&got), ["message:5:21"]);
    }

    #[test]
    fn the_mark_of_a_message_taken_alone_is_read_again_and_the_recheck_ends_at_two_seconds() {
        let state = state();
        let read = |at: i64| Read {
            messages: vec![message(11, 60, ChatMessageSender::Customer)],
            at: utc(at),
        };
        let got = items(
            &state,
            &Filters::default(),
            chat(1, ChatStatus::New, 0, 60),
            Some(read(70)),
        );
        // Taken alone (a crash before the rest), the message's mark makes
        // the chat be read again.
        let Some(Change::Set(1, mark)) = &got[0].change else {
            panic!("{got:?}")
        };
        assert!(mark.recheck);
        // Read exactly 2 s after `updatedAt`: the second is over, no recheck.
        let got = items(
            &state,
            &Filters::default(),
            chat(1, ChatStatus::New, 0, 60),
            Some(read(62)),
        );
        let Some(Change::Set(1, mark)) = &got.last().unwrap().change else {
            panic!("{got:?}")
        };
        assert!(!mark.recheck);
    }
}
