//! The follower's rules and its incremental checkpoint against a model of
//! the server, as a property: random writes, sweeps, events taken,
//! restarts, compactions and days passing (so quiet chats get pruned).
//!
//! What must hold: every message written after the start is delivered; none
//! written before it is; within one run each message comes once; and across
//! a restart, what comes again is at most the last event taken before it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use proptest::prelude::*;

use super::judge::{self, Change, Filters, Item, Read};
use super::state::{Journal, Record, State};
use crate::{
    Chat, ChatContextType, ChatFullContext, ChatMessage, ChatMessageSender, ChatStatus, ChatType,
};

const BUSINESS: u64 = 7;

#[derive(Clone, Debug)]
enum Op {
    /// A message in chat `n % chats` (a buyer's, or the seller's).
    Write { chat: usize, buyer: bool },
    /// A buyer opens a new chat.
    Open,
    /// Time passes (seconds).
    Advance(i64),
    /// Days pass: quiet chats become prunable.
    Days(i64),
    /// A full sweep (when no event is pending).
    Sweep,
    /// The consumer takes up to n events.
    Take(usize),
    /// The process dies: what was taken and not saved is lost.
    Restart,
    /// The next save is a compaction.
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..50usize, any::<bool>()).prop_map(|(chat, buyer)| Op::Write { chat, buyer }),
        1 => Just(Op::Open),
        3 => (0..3i64).prop_map(Op::Advance),
        1 => (1..40i64).prop_map(Op::Days),
        3 => Just(Op::Sweep),
        4 => (1..6usize).prop_map(Op::Take),
        1 => Just(Op::Restart),
        1 => Just(Op::Compact),
    ]
}

/// The server: chats and their messages, on its own clock.
struct Server {
    now: DateTime<Utc>,
    chats: Vec<Chat>,
    messages: BTreeMap<u64, Vec<ChatMessage>>,
    next_message: u64,
}

fn moscow(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&FixedOffset::east_opt(3 * 3600).expect("an offset"))
}

impl Server {
    fn new() -> Self {
        let mut server = Self {
            now: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .expect("a date")
                .to_utc(),
            chats: Vec::new(),
            messages: BTreeMap::new(),
            next_message: 1_000,
        };
        // Chats with history from before the start.
        for _ in 0..4 {
            server.open();
            server.write(server.chats.len() - 1, true);
            server.now += TimeDelta::seconds(5);
        }
        server
    }

    // The chat's top-level `orderId` is deprecated by the API; a model chat
    // sets it as the API does.
    #[allow(deprecated)]
    fn open(&mut self) {
        let id = 10_000 + self.chats.len() as u64;
        self.chats.push(Chat {
            chat_id: id.into(),
            order_id: None,
            context: ChatFullContext {
                type_: ChatContextType::Direct,
                order_id: None,
                return_id: None,
                campaign_id: None,
                customer: None,
            },
            type_: ChatType::Chat,
            status: ChatStatus::New,
            created_at: moscow(self.now),
            updated_at: moscow(self.now),
        });
        self.messages.insert(id, Vec::new());
    }

    fn write(&mut self, index: usize, buyer: bool) -> u64 {
        let chat = &mut self.chats[index];
        let id = self.next_message;
        self.next_message += 1;
        chat.updated_at = moscow(self.now);
        chat.status = if buyer {
            ChatStatus::WaitingForPartner
        } else {
            ChatStatus::WaitingForCustomer
        };
        self.messages
            .get_mut(&chat.chat_id.get())
            .expect("a chat's messages")
            .push(ChatMessage {
                message_id: id.into(),
                created_at: moscow(self.now),
                sender: if buyer {
                    ChatMessageSender::Customer
                } else {
                    ChatMessageSender::Partner
                },
                message: Some("hi".to_owned()),
                payload: None,
            });
        id
    }
}

/// One run of the follower: its state, journal, queue, and what it took.
struct Run {
    state: State,
    journal: Journal,
    queue: VecDeque<Item>,
    /// An event was taken and not saved yet.
    unsaved: bool,
    compact_next: bool,
    /// The dedup keys of the events taken, in order.
    taken: Vec<String>,
}

impl Run {
    fn open(records: &[Vec<u8>], from_beginning: bool) -> Self {
        let state = State::from_records(records, BUSINESS)
            .expect("our own records")
            .unwrap_or_else(|| State::new(BUSINESS, from_beginning));
        Self {
            state,
            journal: Journal::loaded(records),
            queue: VecDeque::new(),
            unsaved: false,
            compact_next: false,
            taken: Vec::new(),
        }
    }

    fn save(&mut self, records: &mut Vec<Vec<u8>>, now: DateTime<Utc>) {
        match self
            .journal
            .record(&mut self.state, now, std::mem::take(&mut self.compact_next))
        {
            Record::Append(bytes) => records.push(bytes),
            Record::Replace(bytes) => *records = vec![bytes],
        }
        self.unsaved = false;
    }

    fn apply(&mut self, item: &Item) {
        // The follower's own bookkeeping, not a copy of it.
        self.journal.apply(&mut self.state, item);
    }

    /// A full sweep against the server, as `cycle.rs` runs it.
    fn sweep(&mut self, server: &Server, records: &mut Vec<Vec<u8>>) {
        if self.state.start_pending {
            self.state.start = Some(moscow(server.now));
            self.state.start_pending = false;
            // The stream saves the start point before any event.
            self.save(records, server.now);
        }
        for chat in &server.chats {
            let read = judge::read_from(&self.state, chat, server.now).map(|from| Read {
                messages: judge::new_messages(from, server.messages[&chat.chat_id.get()].clone()),
                at: server.now,
            });
            let items = judge::items(&self.state, &Filters::default(), chat.clone(), read);
            self.queue.extend(items);
        }
        self.queue.push_back(Item {
            event: None,
            change: Some(Change::FullSweep(server.now)),
        });
    }

    /// Takes up to `n` events, saving before each as the stream does.
    fn take(&mut self, n: usize, records: &mut Vec<Vec<u8>>, now: DateTime<Utc>) {
        let mut left = n;
        while left > 0 {
            if self.unsaved {
                self.save(records, now);
            }
            let Some(item) = self.queue.pop_front() else {
                break;
            };
            self.apply(&item);
            if let Some(event) = &item.event {
                self.taken.push(event.dedup_key());
                self.unsaved = true;
                left -= 1;
            } else {
                // Changes without an event are saved before the stream waits.
                self.unsaved |= self.queue.is_empty();
            }
        }
    }
}

fn check(ops: Vec<Op>, from_beginning: bool) -> Result<(), TestCaseError> {
    let mut server = Server::new();
    let mut records: Vec<Vec<u8>> = Vec::new();
    let mut run = Run::open(&records, from_beginning);
    let mut runs: Vec<Vec<String>> = Vec::new();
    let mut start: Option<DateTime<Utc>> = None;
    // Everything the model ends with: a quiet period, then the queue drained.
    let tail = [
        Op::Take(usize::MAX),
        Op::Advance(3),
        Op::Sweep,
        Op::Take(usize::MAX),
    ];
    for op in ops.into_iter().chain(tail) {
        match op {
            Op::Write { chat, buyer } => {
                let index = chat % server.chats.len();
                server.write(index, buyer);
            }
            Op::Open => {
                server.open();
                let index = server.chats.len() - 1;
                server.write(index, true);
            }
            Op::Advance(seconds) => server.now += TimeDelta::seconds(seconds),
            Op::Days(days) => server.now += TimeDelta::days(days),
            Op::Sweep => {
                if run.queue.is_empty() {
                    if run.unsaved {
                        run.save(&mut records, server.now);
                    }
                    run.sweep(&server, &mut records);
                    start = start.or(run.state.start.map(|s| s.to_utc()));
                }
            }
            Op::Take(n) => run.take(n, &mut records, server.now),
            Op::Restart => {
                runs.push(std::mem::take(&mut run.taken));
                run = Run::open(&records, from_beginning);
            }
            Op::Compact => run.compact_next = true,
        }
    }
    runs.push(std::mem::take(&mut run.taken));

    // From the beginning, every buyer's message is to come.
    prop_assert!(from_beginning || start.is_some(), "a sweep ran");
    for (i, taken) in runs.iter().enumerate() {
        let unique: BTreeSet<&String> = taken.iter().collect();
        prop_assert_eq!(unique.len(), taken.len(), "run {} took an event twice", i);
        // What comes again is, per restart before, at most the last event
        // taken before it (a run that took nothing saved nothing either).
        let before: BTreeSet<&String> = runs[..i].iter().flatten().collect();
        let lasts: BTreeSet<&String> = runs[..i].iter().filter_map(|r| r.last()).collect();
        for key in taken.iter().filter(|k| before.contains(k)) {
            prop_assert!(
                lasts.contains(key),
                "run {} repeated {}, which was not the last taken of a run before",
                i,
                key
            );
        }
    }
    let delivered: BTreeSet<u64> = runs
        .iter()
        .flatten()
        .filter_map(|key| key.strip_prefix("message:"))
        .filter_map(|rest| rest.split(':').nth(1)?.parse().ok())
        .collect();
    for messages in server.messages.values() {
        for m in messages {
            let id = m.message_id.get();
            let after_start = start.is_none_or(|start| m.created_at.to_utc() >= start);
            let buyer = m.sender == ChatMessageSender::Customer;
            if after_start && buyer {
                prop_assert!(delivered.contains(&id), "message {} was lost", id);
            } else {
                prop_assert!(!delivered.contains(&id), "message {} should not come", id);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn what_is_delivered_is_the_servers_messages_after_the_start_each_once_per_run(
        ops in proptest::collection::vec(op(), 1..120),
        from_beginning in any::<bool>(),
    ) {
        check(ops, from_beginning)?;
    }
}

#[test]
fn pruning_keeps_the_state_bounded_and_a_pruned_chat_still_delivers() {
    pruning_keeps(false);
    pruning_keeps(true);
}

fn pruning_keeps(from_beginning: bool) {
    let mut server = Server::new();
    let mut records = Vec::new();
    let mut run = Run::open(&records, from_beginning);
    run.sweep(&server, &mut records);
    run.take(usize::MAX, &mut records, server.now);
    let known = run.state.chats.len();
    assert!(known >= 4, "{known}");
    // Quiet for 40 days, then a full sweep and a compaction.
    server.now += TimeDelta::days(40);
    run.sweep(&server, &mut records);
    run.take(usize::MAX, &mut records, server.now);
    run.compact_next = true;
    run.save(&mut records, server.now);
    assert!(run.state.chats.is_empty(), "quiet chats pruned");
    assert_eq!(records.len(), 1, "one snapshot");
    // A pruned chat writes again: its new message comes, its old ones not.
    server.now += TimeDelta::seconds(10);
    let id = server.write(0, true);
    let mut run = Run::open(&records, from_beginning);
    run.sweep(&server, &mut records);
    run.take(usize::MAX, &mut records, server.now);
    let chat = server.chats[0].chat_id;
    assert!(
        run.taken.contains(&format!("message:{chat}:{id}")),
        "{:?}",
        run.taken
    );
    assert_eq!(
        run.taken
            .iter()
            .filter(|k| k.starts_with("message:"))
            .count(),
        1,
        "only the new message: {:?}",
        run.taken
    );
}
