//! The follower's promises under every answer the API may give where its
//! docs leave the choice open (see `api-facts.md`, "What the docs leave
//! open"): listing order, history order, whether `messageIdFrom` is
//! inclusive, a server clock off this host's, a listing that shows changes
//! late; plus the cost of a long history, the filters, a history that
//! answers 404, the range of `quota_share` and the pacing (getChats and
//! getChatHistory).
//!
//! Every wait is on a condition with a deadline; a few fixed windows only
//! look for something that must *not* come (a duplicate, an event the
//! filters drop) after everything expected came.

#[allow(dead_code)] // each test file uses part of it
mod follow_support;

use follow_support::{client, messages, prime, roomy, take_until};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use futures::TryStreamExt;
use yandex_market_chats::follow::{ChatEvent, FollowStream};
use yandex_market_chats::{
    ChatContextType, ChatMessageSender, ChatStatus, ChatType, Client, Error, Operation,
};
use yandex_market_chats_sandbox::{
    HistoryOrder, ListingOrder, MessageIdFrom, RecordedRequest, Sandbox, SandboxConfig,
};

// ---------------------------------------------------------------------------
// Helpers (after `tests/tests/follow.rs`).

/// Whatever comes within `window` (events of a cycle already run come at
/// once): for checking that nothing more comes.
async fn drain_for(stream: &mut FollowStream, window: Duration) -> Vec<ChatEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(next) = tokio::time::timeout_at(deadline, stream.try_next()).await {
        match next {
            Ok(Some(event)) => events.push(event),
            Ok(None) => panic!("the stream ended"),
            Err(error) => panic!("the stream failed: {error}"),
        }
    }
    events
}

fn new_chats(events: &[ChatEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::NewChat { chat, .. } => Some(chat.chat_id.get()),
            _ => None,
        })
        .collect()
}

/// What an event says, independent of the dedup keys' format: `message
/// <chat> <id>`, `new <chat>`, `status <chat> <previous> -> <status>`,
/// `gone <chat>`.
fn describe(event: &ChatEvent) -> String {
    match event {
        ChatEvent::Message {
            chat_id, message, ..
        } => format!("message {chat_id} {}", message.message_id),
        ChatEvent::NewChat { chat, .. } => format!("new {}", chat.chat_id),
        ChatEvent::StatusChanged { chat, previous, .. } => {
            format!("status {} {previous} -> {}", chat.chat_id, chat.status)
        }
        ChatEvent::ChatGone { chat_id, .. } => format!("gone {chat_id}"),
        other => format!("{other:?}"),
    }
}

/// Each event once (by dedup key), each message once (by id), and in order
/// within its chat.
fn assert_once_in_order(events: &[ChatEvent]) {
    let keys: Vec<String> = events.iter().map(ChatEvent::dedup_key).collect();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "an event came twice: {keys:?}");
    let ids: Vec<u64> = messages(events).iter().map(|(_, m)| *m).collect();
    let unique: HashSet<&u64> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a message id came twice: {ids:?}");
    let mut last: HashMap<u64, u64> = HashMap::new();
    for (chat, message) in messages(events) {
        if let Some(before) = last.insert(chat, message) {
            assert!(
                before < message,
                "chat {chat}: message {message} after {before}"
            );
        }
    }
}

/// Whether a request is `operation`'s (by its path).
fn is(request: &RecordedRequest, operation: Operation) -> bool {
    let path = request.path.as_str();
    match operation {
        Operation::GetChats => path.ends_with("/chats"),
        Operation::GetChatHistory => path.ends_with("/chats/history"),
        Operation::GetChat => path.ends_with("/chat"),
        _ => false,
    }
}

fn for_chat(request: &RecordedRequest, chat: u64) -> bool {
    request.query_param("chatId") == Some(chat.to_string().as_str())
}

/// The message of a panic in a spawned task, for one report of all failures.
fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(error) => error.to_string(),
    }
}

/// Runs the futures on the runtime's threads at once; fails with every
/// failure (labelled), not only the first.
async fn all_pass<T: Send + 'static>(
    runs: Vec<(String, futures::future::BoxFuture<'static, T>)>,
) -> Vec<T> {
    let (labels, futures): (Vec<String>, Vec<_>) = runs.into_iter().unzip();
    let handles = futures.into_iter().map(tokio::spawn);
    let results = futures::future::join_all(handles).await;
    let mut failures = Vec::new();
    let mut values = Vec::new();
    for (label, result) in labels.into_iter().zip(results) {
        match result {
            Ok(value) => values.push(value),
            Err(error) => failures.push(format!("[{label}] {}", panic_message(error))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the runs failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    values
}

// ---------------------------------------------------------------------------
// 1. The matrix.

/// One setting of the undocumented answers.
#[derive(Clone, Copy, Debug)]
struct Combo {
    listing: ListingOrder,
    history: HistoryOrder,
    id_from: MessageIdFrom,
    /// The server's clock minus this host's.
    offset_hours: i64,
    lag: Duration,
    seed: u64,
}

impl Combo {
    fn label(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}/clock {:+}h/lag {:?}/seed {}",
            self.listing, self.history, self.id_from, self.offset_hours, self.lag, self.seed
        )
    }
}

/// A covering set: every pair of values of any two of listing order,
/// history order, `messageIdFrom` and clock offset appears in some row
/// (checked in the test). Listing lag 1 s on rows 3 and 6 (both most
/// recently updated first: the lag moves chats late, within a listing that
/// is re-sorted at every page).
fn combos() -> Vec<Combo> {
    use HistoryOrder::{NewestFirst as N, OldestFirst as O};
    use ListingOrder::{RecentlyUpdatedFirst as R, Seeded as S};
    use MessageIdFrom::{Exclusive as E, Inclusive as I};
    let no_lag = Duration::ZERO;
    let lag = Duration::from_secs(1);
    let rows = [
        (S, O, I, -1, no_lag),
        (S, N, E, -1, no_lag),
        (R, O, E, 0, lag),
        (R, N, I, 0, no_lag),
        (S, O, E, 1, no_lag),
        (R, N, I, 1, lag),
        (S, N, I, 0, no_lag),
        (R, O, E, -1, no_lag),
    ];
    // A seed per row; FOLLOW_MATRIX_SEED shifts them all (to explore, or to
    // replay a failure whose label names its seed).
    let base: u64 = std::env::var("FOLLOW_MATRIX_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    rows.iter()
        .enumerate()
        .map(
            |(i, &(listing, history, id_from, offset_hours, lag))| Combo {
                listing,
                history,
                id_from,
                offset_hours,
                lag,
                seed: base + i as u64,
            },
        )
        .collect()
}

/// What the writer wrote, as it goes.
#[derive(Default)]
struct Written {
    /// (chat, message) in the order written.
    messages: Vec<(u64, u64)>,
    /// Chats the buyers opened.
    opened: Vec<u64>,
    done: bool,
}

/// Buyers write 40 times into random chats, 20-40 ms apart: runs of
/// several messages in one chat (some with no pause at all, so in the same
/// second), and two new chats opened along the way (which get messages
/// too).
fn buyers_write(sandbox: &Sandbox, seed: u64, written: &Mutex<Written>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut last: Option<u64> = None;
    let mut i = 0;
    while i < 40 {
        std::thread::sleep(Duration::from_millis(rng.u64(20..=40)));
        if i == 10 || i == 25 {
            let order = 70_000_000 + seed * 100 + i;
            let chat = sandbox.open_chat(order, format!("new chat {i}")).get();
            let first = sandbox.messages(chat)[0].message_id.get();
            let mut w = written.lock().unwrap();
            w.opened.push(chat);
            w.messages.push((chat, first));
            last = Some(chat);
            i += 1;
            continue;
        }
        let chat = match last {
            Some(chat) if rng.u8(0..10) < 4 => chat,
            _ => {
                let chats = sandbox.chats();
                chats[rng.usize(0..chats.len())].chat_id.get()
            }
        };
        // Now and then a burst: several messages at once in one chat.
        let burst = if rng.u8(0..10) == 0 { 3 } else { 1 };
        for _ in 0..burst {
            let id = sandbox
                .customer_message(chat, format!("question {i}"))
                .get();
            written.lock().unwrap().messages.push((chat, id));
            i += 1;
        }
        last = Some(chat);
    }
    written.lock().unwrap().done = true;
}

async fn matrix_run(combo: Combo) -> Duration {
    let begun = Instant::now();
    let label = combo.label();
    let sandbox = Arc::new(
        Sandbox::start(
            roomy(45)
                .seed(combo.seed)
                .latency(Duration::from_millis(20))
                .listing_order(combo.listing)
                .history_order(combo.history)
                .message_id_from(combo.id_from)
                .clock_offset(TimeDelta::hours(combo.offset_hours))
                .listing_lag(combo.lag),
        )
        .unwrap(),
    );
    // Before the start: buyers write in chats that get messages later too.
    let mut rng = fastrand::Rng::with_seed(combo.seed ^ 0xbef0);
    let chats = sandbox.chats();
    let mut before = Vec::new();
    for _ in 0..6 {
        let chat = chats[rng.usize(0..chats.len())].chat_id;
        before.push(sandbox.customer_message(chat, "before the start").get());
    }
    // ... long enough before that the start point (which may be up to 2 s
    // before the first poll, by the server's clock) is past them.
    let written_at = sandbox.now();
    let deadline = Instant::now() + Duration::from_secs(6);
    while sandbox.now() < written_at + TimeDelta::seconds(3) {
        assert!(
            Instant::now() < deadline,
            "[{label}] the server's clock stands"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(50))
        .stream();
    let primed = prime(&mut stream).await;
    assert!(
        primed.is_empty(),
        "[{label}] nothing before the start point: {primed:#?}"
    );

    let written = Arc::new(Mutex::new(Written::default()));
    let writer = {
        let (sandbox, written) = (Arc::clone(&sandbox), Arc::clone(&written));
        tokio::task::spawn_blocking(move || buyers_write(&sandbox, combo.seed, &written))
    };
    // Until every message written arrived (and the writer is done).
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
    loop {
        {
            let w = written.lock().unwrap();
            let got: HashSet<(u64, u64)> = messages(&events).into_iter().collect();
            if w.done && w.messages.iter().all(|m| got.contains(m)) {
                break;
            }
        }
        let tick = tokio::time::Instant::now() + Duration::from_millis(100);
        match tokio::time::timeout_at(tick.min(deadline), stream.try_next()).await {
            Ok(Ok(Some(event))) => events.push(event),
            Ok(Ok(None)) => panic!("[{label}] the stream ended"),
            Ok(Err(error)) => panic!("[{label}] the stream failed: {error}"),
            Err(_) if tokio::time::Instant::now() >= deadline => {
                let w = written.lock().unwrap();
                let got: HashSet<(u64, u64)> = messages(&events).into_iter().collect();
                let missing: Vec<_> = w.messages.iter().filter(|m| !got.contains(m)).collect();
                panic!(
                    "[{label}] timed out: {} of {} messages missing: {missing:?} \
                     (writer done: {}); got {:?}",
                    missing.len(),
                    w.messages.len(),
                    w.done,
                    messages(&events)
                );
            }
            Err(_) => {}
        }
    }
    writer.await.unwrap();
    // A few more cycles: nothing comes twice, nothing else comes.
    events.extend(drain_for(&mut stream, Duration::from_millis(600)).await);

    let written = written.lock().unwrap();
    let keys: Vec<String> = events.iter().map(ChatEvent::dedup_key).collect();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(
        unique.len(),
        keys.len(),
        "[{label}] an event came twice: {keys:?}"
    );
    let got = messages(&events);
    let ids: Vec<u64> = got.iter().map(|(_, m)| *m).collect();
    let unique_ids: HashSet<&u64> = ids.iter().collect();
    assert_eq!(
        unique_ids.len(),
        ids.len(),
        "[{label}] a message id came twice: {got:?}"
    );
    for id in &before {
        assert!(
            !ids.contains(id),
            "[{label}] message {id}, written before the start, was delivered"
        );
    }
    let mut got_sorted = got.clone();
    got_sorted.sort_unstable();
    let mut want = written.messages.clone();
    want.sort_unstable();
    assert_eq!(
        got_sorted, want,
        "[{label}] exactly the messages written after the start"
    );
    // In order per chat: as written.
    let per_chat = |list: &[(u64, u64)]| {
        let mut map: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (chat, id) in list {
            map.entry(*chat).or_default().push(*id);
        }
        map
    };
    assert_eq!(
        per_chat(&got),
        per_chat(&written.messages),
        "[{label}] each chat's messages in the order written"
    );
    // The new chats: NewChat once each, before their messages.
    let mut opened_events = new_chats(&events);
    opened_events.sort_unstable();
    let mut opened = written.opened.clone();
    opened.sort_unstable();
    assert_eq!(opened_events, opened, "[{label}] one NewChat per new chat");
    for chat in &written.opened {
        let new_at = events.iter().position(
            |e| matches!(e, ChatEvent::NewChat { chat: c, .. } if c.chat_id.get() == *chat),
        );
        let first_message = events.iter().position(
            |e| matches!(e, ChatEvent::Message { chat_id, .. } if chat_id.get() == *chat),
        );
        assert!(
            new_at < first_message,
            "[{label}] chat {chat}: NewChat (at {new_at:?}) before its first message (at {first_message:?})"
        );
    }
    begun.elapsed()
}

/// Promise: every message written after the start point arrives exactly
/// once (one event per dedup key, one per message id), in order within its
/// chat; nothing written before the start arrives; a chat opened after the
/// start comes as one NewChat, before its messages. Whatever the API does
/// where its docs are silent: run over a pairwise covering set of listing
/// order {Seeded, RecentlyUpdatedFirst} × history order {OldestFirst,
/// NewestFirst} × `messageIdFrom` {Inclusive, Exclusive} × server clock
/// offset {-1 h, 0, +1 h} (8 rows, see `combos`; listing lag 1 s on two of
/// them), each with its own seed, all at once.
///
/// Each run: 45 chats (3 pages of 20), 20 ms per request so that requests
/// overlap the writes; 6 messages written at least 3 s (server time) before
/// the follower starts; then 40 buyers' messages 20-40 ms apart in random
/// chats (runs in one chat, bursts in one second) and 2 new chats. With
/// RecentlyUpdatedFirst a write mid-listing makes a chat jump to page 1 and
/// the others shift: a chat listed twice in a cycle must be judged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_once_in_order_whatever_the_undocumented_answers() {
    let combos = combos();
    // The set covers every pair of values of any two factors.
    let values = |c: &Combo| {
        [
            format!("{:?}", c.listing),
            format!("{:?}", c.history),
            format!("{:?}", c.id_from),
            format!("{}", c.offset_hours),
        ]
    };
    let levels = [2, 2, 2, 3];
    let mut pairs = HashSet::new();
    for c in &combos {
        let v = values(c);
        for a in 0..4 {
            for b in a + 1..4 {
                pairs.insert((a, v[a].clone(), b, v[b].clone()));
            }
        }
    }
    let needed: usize = (0..4)
        .flat_map(|a| (a + 1..4).map(move |b| levels[a] * levels[b]))
        .sum();
    assert_eq!(pairs.len(), needed, "the combos cover every pair");

    let started = Instant::now();
    let runs = combos
        .into_iter()
        .map(|c| {
            let run: futures::future::BoxFuture<'static, (String, Duration)> =
                Box::pin(async move { (c.label(), matrix_run(c).await) });
            (c.label(), run)
        })
        .collect();
    let times = all_pass(runs).await;
    eprintln!("matrix: {:?} in all; {times:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// 2. History cost.

/// One chat with 1,000 messages written before the start, a fresh follower,
/// then one buyer's message: how many getChatHistory requests of that chat
/// go out between the write and the event.
async fn history_cost(order: HistoryOrder) -> (usize, usize) {
    let sandbox = Sandbox::start(roomy(1).history_order(order)).unwrap();
    let chat = sandbox.chats()[0].chat_id;
    for i in 0..1_000 {
        sandbox.customer_message(chat, format!("old {i}"));
    }
    // Past the start point's margin, so the first cycle does not read it.
    let written_at = sandbox.now();
    let deadline = Instant::now() + Duration::from_secs(6);
    while sandbox.now() < written_at + TimeDelta::seconds(3) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(100))
        .stream();
    assert!(prime(&mut stream).await.is_empty(), "{order:?}");
    let write = Instant::now();
    let id = sandbox.customer_message(chat, "new");
    let events = take_until(&mut stream, Duration::from_secs(10), |e| {
        !messages(e).is_empty()
    })
    .await;
    let arrived = Instant::now();
    assert_eq!(messages(&events), vec![(chat.get(), id.get())], "{order:?}");
    let reads = sandbox
        .requests()
        .iter()
        .filter(|r| {
            is(r, Operation::GetChatHistory)
                && for_chat(r, chat.get())
                && r.at >= write
                && r.at <= arrived
        })
        .count();
    (reads, sandbox.messages(chat).len())
}

/// Promise (defect 10): reading a long quiet chat for the first time costs
/// one or two pages when the server pages newest first: 1,000 messages
/// before the start, one after, and the follower's read of the chat costs
/// at most 2 getChatHistory requests. Oldest first the follower cannot know
/// where the start is without reading up to it, so the whole history is
/// read once: ceil(messages / 100) requests (11 for the ~1,005 messages
/// here), the documented cost of a server that pages oldest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_costs_two_pages_newest_first_and_one_full_read_oldest_first() {
    let (newest, oldest) = futures::future::join(
        history_cost(HistoryOrder::NewestFirst),
        history_cost(HistoryOrder::OldestFirst),
    )
    .await;
    eprintln!("newest first: {newest:?}; oldest first: {oldest:?}");
    assert!(
        (1..=2).contains(&newest.0),
        "newest first: at most 2 getChatHistory for the new message, got {}",
        newest.0
    );
    let (reads, total) = oldest;
    assert_eq!(
        reads,
        total.div_ceil(100),
        "oldest first: the whole history ({total} messages) once, 100 a page"
    );
}

// ---------------------------------------------------------------------------
// 3. Filters choose events.

/// Promise: `statuses` chooses events by the status a buyer's message put
/// its chat in, so a buyer's message is delivered even when the seller
/// answered (through the API, as from the cabinet) before the follower read
/// it and the chat is WAITING_FOR_CUSTOMER when read; other events by the
/// chat's status when read. With `statuses([WaitingForPartner])`:
/// - A (FINISHED): a buyer writes, the seller answers before the next
///   cycle: the buyer's message comes, no status change (WFC is filtered);
/// - B (WAITING_FOR_CUSTOMER): a buyer writes: the message and the change
///   to WAITING_FOR_PARTNER come;
/// - C (WAITING_FOR_ARBITER): a buyer writes, the chat stays in dispute:
///   nothing;
/// - D (WAITING_FOR_PARTNER): set FINISHED: nothing;
/// - E (WAITING_FOR_PARTNER): the seller answers: nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_choose_events_by_the_status_the_buyer_put_the_chat_in() {
    let sandbox = Sandbox::start(roomy(12)).unwrap();
    let chats = sandbox.chats();
    let find = |status: ChatStatus, nth: usize| {
        chats
            .iter()
            .filter(|c| c.status == status)
            .nth(nth)
            .unwrap()
            .chat_id
    };
    let a = find(ChatStatus::Finished, 0);
    let b = find(ChatStatus::WaitingForCustomer, 0);
    let c = find(ChatStatus::WaitingForArbiter, 0);
    let d = find(ChatStatus::WaitingForPartner, 0);
    let e = find(ChatStatus::WaitingForPartner, 1);
    let client = client(&sandbox);
    let mut stream = client
        .follow(sandbox.business_id())
        .statuses([ChatStatus::WaitingForPartner])
        .poll_interval(Duration::from_secs(2))
        .stream();
    assert!(prime(&mut stream).await.is_empty());
    // Right after a cycle: all of it before the next one.
    let listings = |s: &Sandbox| {
        s.requests()
            .iter()
            .filter(|r| is(r, Operation::GetChats))
            .count()
    };
    let listed_before = listings(&sandbox);
    let in_a = sandbox.customer_message(a, "is it shipped?");
    client
        .chat(sandbox.business_id(), a)
        .send_message("yes, today")
        .await
        .unwrap();
    let in_b = sandbox.customer_message(b, "hello?");
    sandbox.customer_message(c, "the arbiter should see this");
    sandbox.set_status(d, ChatStatus::Finished);
    client
        .chat(sandbox.business_id(), e)
        .send_message("here is the answer")
        .await
        .unwrap();
    assert_eq!(
        listings(&sandbox),
        listed_before,
        "the test's premise: no cycle ran while it wrote"
    );
    assert_eq!(
        sandbox
            .chats()
            .iter()
            .find(|x| x.chat_id == a)
            .unwrap()
            .status,
        ChatStatus::WaitingForCustomer
    );
    let mut events = take_until(&mut stream, Duration::from_secs(8), |events| {
        let got = messages(events);
        got.contains(&(a.get(), in_a.get())) && got.contains(&(b.get(), in_b.get()))
    })
    .await;
    events.extend(drain_for(&mut stream, Duration::from_millis(300)).await);
    assert_once_in_order(&events);
    let mut got: Vec<String> = events.iter().map(describe).collect();
    got.sort();
    let mut want = vec![
        format!("message {a} {in_a}"),
        format!("message {b} {in_b}"),
        format!("status {b} WAITING_FOR_CUSTOMER -> WAITING_FOR_PARTNER"),
    ];
    want.sort();
    assert_eq!(got, want, "only the events of chats WAITING_FOR_PARTNER");
}

/// Probe of the same promise in a chat that was NEW (nobody answered yet):
/// the sandbox, as `api-facts.md` describes Market, makes a chat
/// WAITING_FOR_PARTNER on any buyer's message but the first of a chat the
/// buyer opened. Here the buyer writes a second time in a chat they opened
/// (NEW, so WAITING_FOR_PARTNER after it), the seller answers before the
/// next cycle: with `statuses([WaitingForPartner])` that message put the
/// chat in WAITING_FOR_PARTNER and should come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_a_second_buyer_message_in_an_unanswered_chat_counts_as_waiting_for_partner() {
    let sandbox = Sandbox::start(roomy(3)).unwrap();
    let client = client(&sandbox);
    let mut stream = client
        .follow(sandbox.business_id())
        .statuses([ChatStatus::WaitingForPartner])
        .poll_interval(Duration::from_secs(2))
        .stream();
    assert!(prime(&mut stream).await.is_empty());
    // Opened before a cycle sees it: the follower knows it as NEW.
    let chat = sandbox.open_chat(77_000_001, "hello");
    let read = |s: &Sandbox| {
        s.requests()
            .iter()
            .any(|r| is(r, Operation::GetChatHistory) && for_chat(r, chat.get()))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while !read(&sandbox) {
        assert!(Instant::now() < deadline, "the new chat was never read");
        seen.extend(drain_for(&mut stream, Duration::from_millis(20)).await);
    }
    // Let the cycle end (its events, none, are taken at once).
    seen.extend(drain_for(&mut stream, Duration::from_millis(300)).await);
    assert!(seen.is_empty(), "NEW is filtered: {seen:?}");
    let listings = |s: &Sandbox| {
        s.requests()
            .iter()
            .filter(|r| is(r, Operation::GetChats))
            .count()
    };
    let listed_before = listings(&sandbox);
    let second = sandbox.customer_message(chat, "anyone?");
    assert_eq!(
        sandbox.chats().last().unwrap().status,
        ChatStatus::WaitingForPartner,
        "the sandbox: a second buyer's message makes a NEW chat wait for the partner"
    );
    client
        .chat(sandbox.business_id(), chat)
        .send_message("sorry, here we are")
        .await
        .unwrap();
    assert_eq!(
        listings(&sandbox),
        listed_before,
        "the test's premise: no cycle ran while it wrote"
    );
    let events = take_until(&mut stream, Duration::from_secs(6), |e| {
        messages(e).contains(&(chat.get(), second.get()))
    })
    .await;
    assert_once_in_order(&events);
}

/// Expected events of a from-the-beginning follower with a filter that
/// `matches` chats: a NewChat per matching chat and every message of it but
/// the seller's own.
fn expected_replay(
    sandbox: &Sandbox,
    matches: &dyn Fn(&yandex_market_chats::Chat) -> bool,
) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for chat in sandbox.chats().iter().filter(|c| matches(c)) {
        keys.insert(format!("new {}", chat.chat_id));
        for m in sandbox.messages(chat.chat_id) {
            if m.sender != ChatMessageSender::Partner {
                keys.insert(format!("message {} {}", chat.chat_id, m.message_id));
            }
        }
    }
    keys
}

/// A from-the-beginning follower with a filter: the replay of what exists,
/// then buyers write in every chat (matching or not) and open a chat; it
/// ends with exactly the expected events.
async fn filter_run(
    follow: impl FnOnce(&Client, u64) -> FollowStream,
    matches: &dyn Fn(&yandex_market_chats::Chat) -> bool,
) -> (usize, usize) {
    let sandbox = Sandbox::start(roomy(15)).unwrap();
    let mut stream = follow(&client(&sandbox), sandbox.business_id());
    let mut events = prime(&mut stream).await;
    for chat in sandbox.chats() {
        sandbox.customer_message(chat.chat_id, "written after the replay");
    }
    sandbox.open_chat(77_000_002, "a new order chat");
    let want = expected_replay(&sandbox, matches);
    let not_wanted = sandbox.chats().iter().filter(|c| !matches(c)).count();
    assert!(
        !want.is_empty() && not_wanted > 0,
        "the test has both kinds"
    );
    let replayed: BTreeSet<String> = events.iter().map(describe).collect();
    events.extend(
        take_until(&mut stream, Duration::from_secs(8), |e| {
            let keys: BTreeSet<String> = e.iter().map(describe).collect();
            want.iter()
                .all(|k| keys.contains(k) || replayed.contains(k))
        })
        .await,
    );
    events.extend(drain_for(&mut stream, Duration::from_millis(300)).await);
    assert_once_in_order(&events);
    // Status changes (the buyers' messages make chats WAITING_FOR_PARTNER)
    // of matching chats may come too; nothing of the others.
    let stray: Vec<String> = events
        .iter()
        .filter(|e| {
            let chat = sandbox
                .chats()
                .into_iter()
                .find(|c| c.chat_id == e.chat_id())
                .unwrap();
            !matches(&chat)
        })
        .map(describe)
        .collect();
    assert!(
        stray.is_empty(),
        "events of chats the filter leaves out: {stray:?}"
    );
    let keys: BTreeSet<String> = events
        .iter()
        .filter(|e| !matches!(e, ChatEvent::StatusChanged { .. }))
        .map(describe)
        .collect();
    assert_eq!(
        keys, want,
        "every event of the matching chats, nothing more"
    );
    (want.len(), not_wanted)
}

/// Promise: `types` chooses events, all of them: with
/// `types([Arbitrage])` and from the beginning, the arbitrage chats come as
/// NewChat with every message (but the seller's own), and the messages
/// buyers write afterwards in them; nothing of the CHAT chats, the chat a
/// buyer opens (a CHAT) included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_choose_events() {
    let (wanted, others) = filter_run(
        |client, business| {
            client
                .follow(business)
                .from_beginning()
                .types([ChatType::Arbitrage])
                .poll_interval(Duration::from_millis(50))
                .stream()
        },
        &|chat| chat.type_ == ChatType::Arbitrage,
    )
    .await;
    eprintln!("{wanted} events wanted, {others} chats left out");
}

/// Promise: `context_types` chooses events, all of them: with
/// `context_types([Order])` and from the beginning, the ORDER chats (the
/// one a buyer opens too) come with every message but the seller's own;
/// nothing of RETURN and DIRECT chats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_types_choose_events() {
    let (wanted, others) = filter_run(
        |client, business| {
            client
                .follow(business)
                .from_beginning()
                .context_types([ChatContextType::Order])
                .poll_interval(Duration::from_millis(50))
                .stream()
        },
        &|chat| chat.context.type_ == ChatContextType::Order,
    )
    .await;
    eprintln!("{wanted} events wanted, {others} chats left out");
}

// ---------------------------------------------------------------------------
// 4. ChatGone.

/// Promise: a chat whose history answers 404 ends with `ChatGone` (once),
/// and the stream goes on. The sandbox has no fault that answers 404 to one
/// operation (`Fault` has none), and `delete_chat` also takes the chat out
/// of getChats at once; so the chat is deleted in the window the sandbox's
/// latency opens: a cycle lists chats A and B (both just written), reads
/// A's history first (chats are judged in id order), and the test deletes B
/// as soon as A's history request arrives, before B's is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_404_ends_in_chat_gone_and_the_stream_goes_on() {
    let sandbox = Sandbox::start(roomy(3).latency(Duration::from_millis(100))).unwrap();
    let chats = sandbox.chats();
    let (a, b, c) = (chats[0].chat_id, chats[1].chat_id, chats[2].chat_id);
    assert!(a < b, "judged in id order");
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_secs(2))
        .stream();
    assert!(prime(&mut stream).await.is_empty());
    // The follower knows B: it delivered a message of it.
    let known = sandbox.customer_message(b, "first");
    let events = take_until(&mut stream, Duration::from_secs(6), |e| {
        !messages(e).is_empty()
    })
    .await;
    assert_eq!(messages(&events), vec![(b.get(), known.get())]);
    drain_for(&mut stream, Duration::from_millis(200)).await;

    // Right after a cycle: both written before the next one lists them.
    let written = Instant::now();
    let in_a = sandbox.customer_message(a, "to A");
    sandbox.customer_message(b, "to B, never read");
    let deleter = {
        let sandbox_requests = move |s: &Sandbox| {
            s.requests().iter().any(|r| {
                is(r, Operation::GetChatHistory) && for_chat(r, a.get()) && r.at >= written
            })
        };
        let deadline = Instant::now() + Duration::from_secs(6);
        async move {
            while !sandbox_requests(&sandbox) {
                assert!(Instant::now() < deadline, "A's history was never read");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            assert!(sandbox.delete_chat(b));
            sandbox
        }
    };
    let (sandbox, events) = futures::future::join(
        deleter,
        take_until(&mut stream, Duration::from_secs(8), |e| {
            e.iter().any(|e| matches!(e, ChatEvent::ChatGone { .. }))
        }),
    )
    .await;
    let history_b: Vec<Option<u16>> = sandbox
        .requests()
        .iter()
        .filter(|r| is(r, Operation::GetChatHistory) && for_chat(r, b.get()) && r.at >= written)
        .map(|r| r.status)
        .collect();
    assert_eq!(
        history_b.first(),
        Some(&Some(404)),
        "B's history answered 404: {history_b:?}"
    );
    let keys: Vec<String> = events.iter().map(describe).collect();
    assert!(keys.contains(&format!("message {a} {in_a}")), "{keys:?}");
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("gone "))
            .collect::<Vec<_>>(),
        vec![&format!("gone {b}")]
    );
    // The stream goes on: a later message in another chat arrives.
    let later = sandbox.customer_message(c, "still here");
    let events = take_until(&mut stream, Duration::from_secs(6), |e| {
        messages(e).contains(&(c.get(), later.get()))
    })
    .await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::ChatGone { .. })),
        "ChatGone once: {events:?}"
    );
}

// ---------------------------------------------------------------------------
// 5. quota_share.

/// Promise: `quota_share` takes 0.01 to 1.0; anything else (0, 1.5, NaN,
/// 0.009, negative, infinite) fails at the first poll with
/// `Error::InvalidInput`, before any request; 0.01 and 1.0 work (a message
/// written after the start arrives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_share_from_one_hundredth_to_one() {
    for share in [0.0, 1.5, f64::NAN, 0.009, -0.5, f64::INFINITY] {
        let sandbox = Sandbox::start(roomy(2)).unwrap();
        let mut stream = client(&sandbox)
            .follow(sandbox.business_id())
            .quota_share(share)
            .stream();
        let error = stream.try_next().await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput { .. }),
            "quota_share({share}): {error:?}"
        );
        assert!(error.to_string().contains("quota_share"), "{error}");
        // It ends there.
        assert!(matches!(stream.try_next().await, Ok(None)));
        assert!(
            sandbox.requests().is_empty(),
            "quota_share({share}): no request"
        );
    }
    let works = |share: f64| async move {
        let sandbox = Sandbox::start(roomy(2)).unwrap();
        let mut stream = client(&sandbox)
            .follow(sandbox.business_id())
            .quota_share(share)
            .poll_interval(Duration::from_millis(50))
            .stream();
        assert!(prime(&mut stream).await.is_empty());
        let chat = sandbox.chats()[0].chat_id;
        let id = sandbox.customer_message(chat, "hello");
        let events = take_until(&mut stream, Duration::from_secs(6), |e| {
            !messages(e).is_empty()
        })
        .await;
        assert_eq!(
            messages(&events),
            vec![(chat.get(), id.get())],
            "quota_share({share})"
        );
    };
    futures::future::join(works(0.01), works(1.0)).await;
}

// ---------------------------------------------------------------------------
// 6. Pacing.

const LIMIT: u64 = 100;
const SHARE: f64 = 0.5;
/// The sandbox's quota window.
const WINDOW: Duration = Duration::from_secs(10);
/// `pacing::BURST`: requests that may go at once before spreading sets in
/// (a sixtieth of the share when that is more: not with these numbers).
const BURST: usize = 10;

/// The requests of `operation` a follower (share 0.5, `poll_interval` 10
/// ms) sends against `config` (whose `operation` quota is `LIMIT` a
/// `WINDOW`, stated in its headers), watched until the first window of
/// that operation is over. The client's own quotas are huge, so the
/// server's stated limit is what the limiter learns. With `program_reads`,
/// the rest of the program (the same client) first reads that many
/// histories, in the same window.
async fn pacing_run(
    config: SandboxConfig,
    from_beginning: bool,
    operation: Operation,
    program_reads: usize,
) -> Vec<RecordedRequest> {
    let sandbox = Sandbox::start(config.quota_window(WINDOW)).unwrap();
    let client = client(&sandbox);
    let chat = sandbox.chats()[0].chat_id;
    for _ in 0..program_reads {
        client
            .chat(sandbox.business_id(), chat)
            .history()
            .page(None)
            .await
            .unwrap();
    }
    let mut query = client
        .follow(sandbox.business_id())
        .quota_share(SHARE)
        .poll_interval(Duration::from_millis(10));
    if from_beginning {
        query = query.from_beginning();
    }
    let mut stream = query.stream();
    let of = |s: &Sandbox| -> Vec<RecordedRequest> {
        s.requests()
            .into_iter()
            .filter(|r| is(r, operation))
            .collect()
    };
    let deadline = Instant::now() + WINDOW + Duration::from_secs(4);
    loop {
        drain_for(&mut stream, Duration::from_millis(100)).await;
        let requests = of(&sandbox);
        // The first window is over (with a margin for its last answers).
        if requests
            .first()
            .is_some_and(|first| first.at.elapsed() > WINDOW + Duration::from_millis(200))
        {
            return requests;
        }
        assert!(Instant::now() < deadline, "no {} at all", operation.name());
    }
}

/// 200 chats (10 pages a full sweep) and `LIMIT` getChats a window: the
/// follower always wants to list.
async fn listing_run() -> Vec<RecordedRequest> {
    let config = SandboxConfig::default()
        .chats(200)
        .hourly_quota(Some(u32::try_from(LIMIT).unwrap()));
    pacing_run(config, false, Operation::GetChats, 0).await
}

/// 60 chats read from the beginning (60 histories to read at once) and
/// `LIMIT` getChatHistory a window: the follower wants more than its
/// share. The rest of the program read `program_reads` histories first.
async fn history_run(program_reads: usize) -> Vec<RecordedRequest> {
    let config =
        roomy(60).operation_quota(Operation::GetChatHistory, u32::try_from(LIMIT).unwrap());
    pacing_run(config, true, Operation::GetChatHistory, program_reads).await
}

/// The sandbox's windows over `requests`: a window starts at the first
/// request and lasts `WINDOW`; the next starts at the first request after.
fn windows(requests: &[RecordedRequest]) -> Vec<&[RecordedRequest]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=requests.len() {
        if i == requests.len() || requests[i].at.duration_since(requests[start].at) >= WINDOW {
            out.push(&requests[start..i]);
            start = i;
        }
    }
    out
}

/// Over the requests of one window sent before `until` (from the window's
/// start), after the first `BURST`: the mean gap between consecutive
/// requests, and the mean of what the pacing rule (`resets_in /
/// spendable`, from the sandbox's counts when each request was answered)
/// says it should be at least.
fn gaps(in_window: &[RecordedRequest], until: Duration) -> (f64, f64, usize) {
    let start = in_window[0].at;
    let reserve = ((1.0 - SHARE) * LIMIT as f64).ceil() as u64;
    let (mut actual, mut expected, mut n) = (0.0, 0.0, 0);
    for i in BURST - 1..in_window.len().saturating_sub(1) {
        let since_start = in_window[i + 1].at.duration_since(start);
        if since_start > until {
            break;
        }
        let remaining = LIMIT - (i as u64 + 1);
        let Some(spendable) = remaining.checked_sub(reserve).filter(|s| *s > 0) else {
            break;
        };
        let resets_in = WINDOW.saturating_sub(in_window[i].at.duration_since(start));
        expected += resets_in.as_secs_f64() / spendable as f64;
        actual += in_window[i + 1]
            .at
            .duration_since(in_window[i].at)
            .as_secs_f64();
        n += 1;
    }
    (actual / n as f64, expected / n as f64, n)
}

/// Promise: the follower spends at most its share of a quota, spread over
/// the window the server states, and leaves the rest to the rest of the
/// program. The server allows 100 requests per 10 s window and says so;
/// the follower's share is 0.5 (it may spend while more than 50 remain),
/// its poll interval 10 ms. Three settings at once:
/// - getChats, 200 chats (10 pages a full sweep): over the first 4 s, after
///   the first `BURST` (10) requests, consecutive getChats are on average
///   at least half of `resets_in / spendable` apart (computed from the
///   sandbox's counts: spendable = remaining - 50), and the window sees no
///   more than 50. (Sweeps are planned within the share: listing alone
///   need not reach it.)
/// - getChatHistory, 60 chats followed from the beginning (60 histories
///   wanted at once, more than the share): the window sees no more than 50,
///   and at least 40 (the share, not something else, is what bounds it).
/// - the same after the rest of the program (the same client) read 30
///   histories in the window: the follower reads no more than 20 (the
///   window sees no more than 50), and some.
///
/// No request is answered 420.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_spreads_requests_and_keeps_to_the_share() {
    let (listing, history, shared) =
        futures::future::join3(listing_run(), history_run(0), history_run(30)).await;
    let share = (SHARE * LIMIT as f64) as usize;
    for (name, requests) in [
        ("getChats", &listing),
        ("getChatHistory", &history),
        ("getChatHistory after the program's 30", &shared),
    ] {
        assert!(
            requests.iter().all(|r| r.status == Some(200)),
            "{name}: never a 420: {:?}",
            requests.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        let first = windows(requests)[0];
        eprintln!("{name}: {} in the first window", first.len());
        assert!(
            first.len() <= share,
            "{name}: at most {share} in the window: {}",
            first.len()
        );
    }
    let first = windows(&listing)[0];
    let burst = first[BURST - 1].at.duration_since(first[0].at);
    assert!(
        burst < Duration::from_millis(500),
        "the first {BURST} go at once: {burst:?}"
    );
    let (actual, expected, n) = gaps(first, Duration::from_secs(4));
    eprintln!("getChats, first 4 s: mean gap {actual:.3} s over {n}, the rule {expected:.3} s");
    assert!(n >= 5, "enough paced requests to judge: {n}");
    assert!(
        actual >= expected / 2.0,
        "spread: mean gap {actual:.3} s, the rule says {expected:.3} s"
    );
    let first = windows(&history)[0];
    assert!(
        first.len() >= share - 10,
        "getChatHistory: the share is what bounds it: {} in the window",
        first.len()
    );
    let followers = windows(&shared)[0].len() - 30;
    assert!(
        (10..=share - 30).contains(&followers),
        "after the program's 30, the follower reads up to 20: {followers}"
    );
}

/// Promise (pacing.rs): "Requests are spread: one every `resets_in /
/// spendable` ..., with a burst of a sixtieth of the share (... at least
/// `BURST`) so that a sweep or a few hints go at once." The rest of the
/// program has read 30 histories of a window of 100, so the follower
/// (share 0.5) may read 20 more in the window; it wants 60. No more than
/// `BURST` (10) should go within 100 ms of each other. Fails: all 20 go at
/// once, every time. The burst allowance `(burst - 1) × interval` is
/// recomputed from the current interval `resets_in / spendable`, which
/// grows as spendable falls, so each request sent raises the allowance for
/// the next: with a dozen or two spendable, the whole of it goes in one
/// burst. (The same happens at the end of any window where the follower
/// wants more than its share: 11-13 at once after a stall of 1-2 s, in
/// `history_run(0)`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_never_bursts_more_than_burst() {
    let shared = history_run(30).await;
    let followers = &windows(&shared)[0][30..];
    let mut worst = 0;
    for (i, r) in followers.iter().enumerate() {
        let together = followers[..=i]
            .iter()
            .rev()
            .take_while(|earlier| r.at.duration_since(earlier.at) < Duration::from_millis(100))
            .count();
        worst = worst.max(together);
    }
    let times: Vec<String> = followers
        .iter()
        .map(|r| format!("{:.3}", r.at.duration_since(followers[0].at).as_secs_f64()))
        .collect();
    assert!(
        worst <= BURST,
        "{worst} getChatHistory within 100 ms; the follower's arrivals (s): {times:?}"
    );
}
