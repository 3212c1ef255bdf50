//! The follower against the sandbox, whose buyers write while it runs:
//! every message exactly once and in order per chat (polling alone, and
//! push + polling), restarts and crashes that lose nothing, checkpoints,
//! pacing within the quota share.

#[allow(dead_code)] // each test file uses part of it
mod follow_support;

use follow_support::{
    CountingCheckpoint, client, client_with, messages, poll_until, prime, roomy, take_until,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use yandex_market_chats::follow::{ChatEvent, FileCheckpoint, FollowHints};
use yandex_market_chats::notifications::axum::NotificationEndpoint;
use yandex_market_chats::{ChatId, ChatStatus, Client, Error, Operation, RetryPolicy};
use yandex_market_chats_sandbox::{Fault, Sandbox, SandboxConfig};

const FOLLOWER: &str = env!("CARGO_BIN_EXE_ymc_follower");

/// Each message once, and in order within its chat.
fn assert_once_in_order(events: &[ChatEvent]) {
    let keys: Vec<String> = events.iter().map(ChatEvent::dedup_key).collect();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "an event came twice: {keys:?}");
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

/// Buyers write `n` messages into the first chats, one every `every`.
fn buyers_write(sandbox: &Sandbox, n: usize, every: Duration) -> Vec<(u64, u64)> {
    let chats = sandbox.chats();
    (0..n)
        .map(|i| {
            std::thread::sleep(every);
            let chat = &chats[i % 5];
            let id = sandbox.customer_message(chat.chat_id, format!("question {i}"));
            (chat.chat_id.get(), id.get())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_written_during_the_run_arrives_once_in_order_by_polling() {
    let sandbox = std::sync::Arc::new(Sandbox::start(roomy(25)).unwrap());
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(30))
        .stream();
    // The first cycle sets the start point: nothing written before it.
    let before = prime(&mut stream).await;
    assert!(
        before.is_empty(),
        "nothing before the start point: {before:?}"
    );
    let writer = {
        let sandbox = std::sync::Arc::clone(&sandbox);
        tokio::task::spawn_blocking(move || buyers_write(&sandbox, 20, Duration::from_millis(15)))
    };
    let events = take_until(&mut stream, Duration::from_secs(20), |events| {
        messages(events).len() >= 20
    })
    .await;
    let written = writer.await.unwrap();
    assert_once_in_order(&events);
    let mut got = messages(&events);
    got.sort_unstable();
    let mut want = written;
    want.sort_unstable();
    assert_eq!(got, want, "exactly the messages written, each once");
    // Only buyers' messages: a reply of ours is no event.
    let chat = &sandbox.chats()[0];
    client(&sandbox)
        .chat(sandbox.business_id(), chat.chat_id)
        .send_message("we are on it")
        .await
        .unwrap();
    let next = sandbox.customer_message(chat.chat_id, "thanks");
    let events = take_until(&mut stream, Duration::from_secs(10), |events| {
        !messages(events).is_empty()
    })
    .await;
    assert_eq!(messages(&events), vec![(chat.chat_id.get(), next.get())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_beginning_replays_existing_messages_and_chats() {
    let sandbox = Sandbox::start(roomy(3)).unwrap();
    let existing: usize = sandbox
        .chats()
        .iter()
        .map(|c| sandbox.messages(c.chat_id).len())
        .sum();
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .from_beginning()
        .own_messages(true)
        .poll_interval(Duration::from_millis(30))
        .stream();
    let events = take_until(&mut stream, Duration::from_secs(10), |events| {
        messages(events).len() >= existing
    })
    .await;
    assert_once_in_order(&events);
    let new_chats = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::NewChat { .. }))
        .count();
    assert_eq!(new_chats, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_and_new_chats_are_events() {
    let sandbox = Sandbox::start(roomy(5)).unwrap();
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(30))
        .stream();
    assert!(prime(&mut stream).await.is_empty());
    let chat = sandbox.chats()[1].clone();
    sandbox.set_status(chat.chat_id, ChatStatus::WaitingForArbiter);
    let opened = sandbox.open_chat(51_234_567, "where is my order?");
    let events = take_until(&mut stream, Duration::from_secs(10), |events| {
        events
            .iter()
            .any(|e| matches!(e, ChatEvent::StatusChanged { .. }))
            && events
                .iter()
                .any(|e| matches!(e, ChatEvent::NewChat { .. }))
            && !messages(events).is_empty()
    })
    .await;
    let changed = events
        .iter()
        .find_map(|e| match e {
            ChatEvent::StatusChanged { chat, previous, .. } => {
                Some((chat.clone(), previous.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(changed.0.chat_id, chat.chat_id);
    assert_eq!(changed.0.status, ChatStatus::WaitingForArbiter);
    assert_eq!(changed.1, chat.status);
    let new = events
        .iter()
        .find_map(|e| match e {
            ChatEvent::NewChat { chat, .. } => Some(chat.chat_id),
            _ => None,
        })
        .unwrap();
    assert_eq!(new, opened);
    assert!(messages(&events).iter().any(|(c, _)| *c == opened.get()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_speeds_it_up_a_dropped_notification_is_caught_by_polling_a_doubled_one_is_one_event()
{
    // The notification endpoint the sandbox posts to, feeding the follower.
    let hints = FollowHints::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let app = NotificationEndpoint::new("ymc-tests", "1.0.0")
        .unwrap()
        .hints(hints.clone())
        .router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sandbox = Sandbox::start(roomy(10).notify_url(endpoint)).unwrap();
    let poll = Duration::from_secs(3);
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(poll)
        .hints(hints.clone())
        .stream();
    assert!(prime(&mut stream).await.is_empty());
    let chats = sandbox.chats();

    // Push: the message arrives long before the next cycle.
    let started = Instant::now();
    let first = sandbox.customer_message(chats[0].chat_id, "pushed");
    let events = take_until(&mut stream, Duration::from_secs(10), |e| {
        !messages(e).is_empty()
    })
    .await;
    assert_eq!(
        messages(&events),
        vec![(chats[0].chat_id.get(), first.get())]
    );
    assert!(started.elapsed() < poll / 2, "took {:?}", started.elapsed());

    // A doubled notification: one event.
    sandbox.duplicate_notifications(1);
    let second = sandbox.customer_message(chats[1].chat_id, "pushed twice");
    let events = take_until(&mut stream, Duration::from_secs(10), |e| {
        !messages(e).is_empty()
    })
    .await;
    assert_eq!(
        messages(&events),
        vec![(chats[1].chat_id.get(), second.get())]
    );

    // A dropped one: polling catches it within one cycle.
    sandbox.drop_notifications(1);
    let started = Instant::now();
    let third = sandbox.customer_message(chats[2].chat_id, "never pushed");
    let events = take_until(&mut stream, poll * 2, |e| !messages(e).is_empty()).await;
    assert_eq!(
        messages(&events),
        vec![(chats[2].chat_id.get(), third.get())]
    );
    assert!(started.elapsed() <= poll + Duration::from_secs(1));
    // Nothing more: the doubled notification yielded no second event.
    let quiet = tokio::time::timeout(Duration::from_millis(500), stream.try_next()).await;
    assert!(quiet.is_err(), "unexpected event: {quiet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_file_checkpoint_loses_nothing_and_repeats_at_most_the_last_taken() {
    let dir = std::env::temp_dir().join(format!("ymc-follow-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chats.state");
    let sandbox = Sandbox::start(roomy(10)).unwrap();
    let follow = || {
        client(&sandbox)
            .follow(sandbox.business_id())
            .checkpoint(FileCheckpoint::new(&path))
            .poll_interval(Duration::from_millis(30))
            .stream()
    };
    let mut stream = follow();
    assert!(prime(&mut stream).await.is_empty());
    let chats = sandbox.chats();
    let mut written = Vec::new();
    for i in 0..6 {
        written.push(
            sandbox
                .customer_message(chats[i % 3].chat_id, format!("m{i}"))
                .get(),
        );
    }
    let first = take_until(&mut stream, Duration::from_secs(10), |e| {
        messages(e).len() >= 3
    })
    .await;
    drop(stream); // mid-run, with events not taken yet

    for i in 6..9 {
        written.push(
            sandbox
                .customer_message(chats[i % 3].chat_id, format!("m{i}"))
                .get(),
        );
    }
    let mut stream = follow();
    let taken: Vec<u64> = messages(&first).into_iter().map(|(_, m)| m).collect();
    let second = take_until(&mut stream, Duration::from_secs(10), |e| {
        let now: Vec<u64> = messages(e).into_iter().map(|(_, m)| m).collect();
        written.iter().all(|w| taken.contains(w) || now.contains(w))
    })
    .await;
    let first_ids: Vec<u64> = messages(&first).into_iter().map(|(_, m)| m).collect();
    let second_ids: Vec<u64> = messages(&second).into_iter().map(|(_, m)| m).collect();
    // The last event taken before the drop was not saved yet: it may come
    // again; nothing else taken does.
    let repeated: Vec<u64> = second_ids
        .iter()
        .filter(|m| first_ids.contains(m))
        .copied()
        .collect();
    assert!(
        repeated.is_empty() || repeated == [*first_ids.last().unwrap()],
        "taken before the restart and delivered again: {repeated:?} (first run {first_ids:?})"
    );
    let mut all: Vec<u64> = first_ids.into_iter().chain(second_ids).collect();
    all.sort_unstable();
    all.dedup();
    written.sort_unstable();
    assert_eq!(all, written, "nothing lost");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_foreign_checkpoint_is_a_clear_error() {
    let sandbox = Sandbox::start(roomy(2)).unwrap();
    let dir = std::env::temp_dir().join(format!("ymc-follow-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, content) in [
        (
            "corrupt.state",
            &b"{\"format\": \"yandex-market-chats/follow\", \"version\""[..],
        ),
        ("foreign.state", &b"{\"hello\": \"world\"}"[..]),
        ("binary.state", &[0xff, 0x00, 0x13][..]),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let mut stream = client(&sandbox)
            .follow(sandbox.business_id())
            .checkpoint(FileCheckpoint::new(&path))
            .stream();
        let error = stream.try_next().await.unwrap_err();
        assert!(
            matches!(error, Error::Checkpoint { .. }),
            "{name}: {error:?}"
        );
        assert!(
            error.to_string().contains("not this follower's state"),
            "{name}: {error}"
        );
        // The file is left as it was: never a silent restart from scratch.
        assert_eq!(std::fs::read(&path).unwrap(), content);
        assert!(sandbox.requests().is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_follower_loses_nothing() {
    let sandbox = Sandbox::start(roomy(10)).unwrap();
    let dir = std::env::temp_dir().join(format!("ymc-follow-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("chats.state");
    let spawn = || {
        Command::new(FOLLOWER)
            .args([
                sandbox.base_url(),
                sandbox.api_key(),
                &sandbox.business_id().to_string(),
                checkpoint.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // The keys until `done`, and the rest of what the child prints (read
    // it once the child is gone: what it printed between `done` and its
    // kill was delivered too).
    let read_keys = |child: &mut std::process::Child,
                     done: &dyn Fn(&[String]) -> bool|
     -> (Vec<String>, std::sync::mpsc::Receiver<String>) {
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        let mut keys = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(&keys) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(key) => keys.push(key),
                Err(_) => panic!("got only {keys:?}"),
            }
        }
        (keys, rx)
    };
    let chats = sandbox.chats();
    let mut child = spawn();
    // Wait for its start point to be saved.
    let started = Instant::now();
    while !checkpoint.exists() {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..5 {
        let chat = chats[i % 2].chat_id;
        let id = sandbox.customer_message(chat, format!("m{i}"));
        written.insert(format!("message:{chat}:{id}"), id.get());
    }
    let (mut before, rest) = read_keys(&mut child, &|keys: &[String]| {
        keys.iter().filter(|k| k.starts_with("message:")).count() >= 3
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    before.extend(rest.iter());

    for i in 5..8 {
        let chat: ChatId = chats[i % 2].chat_id;
        let id = sandbox.customer_message(chat, format!("m{i}"));
        written.insert(format!("message:{chat}:{id}"), id.get());
    }
    let mut child = spawn();
    let wanted: Vec<String> = written.keys().cloned().collect();
    let seen_before = before.clone();
    let (mut after, rest) = read_keys(&mut child, &|keys: &[String]| {
        wanted
            .iter()
            .all(|w| keys.contains(w) || seen_before.contains(w))
    });
    // At most the last event taken comes again: wait a little for it.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    after.extend(rest.iter());
    let mut seen: Vec<String> = before.clone();
    seen.append(&mut after);
    let distinct: HashSet<&String> = seen.iter().collect();
    for key in written.keys() {
        assert!(distinct.contains(key), "{key} lost; saw {seen:?}");
    }
    let repeated = seen.len() - distinct.len();
    assert!(
        repeated <= 1,
        "more than the last taken event came again: {seen:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_small_quota_it_keeps_to_its_share_and_leaves_the_rest() {
    // 20 getChats and 20 getChatHistory an hour on the server.
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(60)
            .hourly_quota(Some(20))
            .operation_quota(Operation::GetChatHistory, 20),
    )
    .unwrap();
    let client = sandbox.client().unwrap();
    let mut stream = client
        .follow(sandbox.business_id())
        .from_beginning()
        .poll_interval(Duration::from_millis(10))
        .stream();
    // It follows for a while; pacing holds it back.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = stream.try_next().await {}
    })
    .await;
    let requests = sandbox.requests();
    let count = |path_end: &str| {
        requests
            .iter()
            .filter(|r| r.path.ends_with(path_end))
            .count()
    };
    let listing = count("/chats");
    let history = count("/chats/history");
    assert!(listing >= 1, "it listed");
    assert!(listing <= 10, "no more than half of getChats: {listing}");
    assert!(
        history <= 10,
        "no more than half of getChatHistory: {history}"
    );
    assert_eq!(
        requests.iter().filter(|r| r.status == Some(420)).count(),
        0,
        "never a 420"
    );
    // The rest of the program still gets its requests through.
    drop(stream);
    let page = client
        .chats(sandbox.business_id())
        .page(None)
        .await
        .unwrap();
    assert!(!page.chats.is_empty());
}

/// What a follower of 1,000 open chats costs, counted at the sandbox: a
/// full sweep is one getChats request per 20 chats, the next sweep (a
/// waiting sweep lists fewer) finds what changed, plus one getChatHistory
/// request per changed chat; naive polling would read every history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_over_1000_chats_costs_at_most_50_listings_plus_one_read_per_changed_chat() {
    let sandbox = Sandbox::start(roomy(1000)).unwrap();
    let count = |end: &str| {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(end))
            .count()
    };
    // Followed in the background; cycles at most every 3 s, so the counts
    // below fall between cycles.
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_secs(3))
        .stream();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(async move {
        while let Ok(Some(event)) = stream.try_next().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    while count("/chats") < 50 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the first cycle never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count("/chats"), 50, "the first cycle: 50 pages");
    assert_eq!(
        count("/chats/history"),
        0,
        "nothing changed: no history read"
    );

    let chats = sandbox.chats();
    for chat in chats.iter().take(10) {
        sandbox.customer_message(chat.chat_id, "hello");
    }
    let mut events = Vec::new();
    while messages(&events).len() < 10 {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the messages within 20 s")
            .expect("the follower runs");
        events.push(event);
    }
    assert_once_in_order(&events);
    let second = count("/chats") - 50;
    assert!(
        (1..=50).contains(&second),
        "the sweep that found them: at most 50 pages, got {second}"
    );
    assert_eq!(count("/chats/history"), 10, "one read per changed chat");
    follower.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_ends_the_stream_with_the_checkpoint_consistent_and_a_new_stream_goes_on() {
    use yandex_market_chats_sandbox::Fault;

    let dir = std::env::temp_dir().join(format!("ymc-follow-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chats.state");
    let sandbox = Sandbox::start(roomy(5)).unwrap();
    let strict = client_with(&sandbox, RetryPolicy::disabled());
    let follow = |client: &Client| {
        client
            .follow(sandbox.business_id())
            .checkpoint(FileCheckpoint::new(&path))
            .poll_interval(Duration::from_millis(30))
            .stream()
    };
    let mut stream = follow(&strict);
    assert!(prime(&mut stream).await.is_empty());
    let chat = sandbox.chats()[0].chat_id;
    let first = sandbox.customer_message(chat, "before the outage");
    let events = take_until(&mut stream, Duration::from_secs(10), |e| {
        !messages(e).is_empty()
    })
    .await;
    assert_eq!(messages(&events), vec![(chat.get(), first.get())]);

    // The server fails; without retries the stream ends with the error.
    sandbox.fail_next(1, Fault::InternalError);
    let second = sandbox.customer_message(chat, "during the outage");
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await {
            Ok(Err(error)) => break error,
            // The status change that came with the first message.
            Ok(Ok(Some(ChatEvent::StatusChanged { .. }))) => {}
            Ok(Ok(Some(event))) => panic!("no message during the outage: {event:?}"),
            Ok(Ok(None)) => panic!("the stream ended without an error"),
            Err(_) => panic!("no error within 10 s"),
        }
    };
    assert_eq!(error.status(), Some(500), "{error}");
    drop(stream);

    // A new stream goes on from the checkpoint: the message written during
    // the outage comes, the one taken before does not.
    let mut stream = follow(&client(&sandbox));
    let events = take_until(&mut stream, Duration::from_secs(10), |e| {
        !messages(e).is_empty()
    })
    .await;
    assert_eq!(messages(&events), vec![(chat.get(), second.get())]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn one_stream_at_a_time_per_query_and_the_next_goes_on_where_it_stopped() {
    let sandbox = Sandbox::start(roomy(2)).unwrap();
    let path = std::env::temp_dir().join(format!("ymc-follow-{}.state", fastrand::u64(..)));
    let query = client(&sandbox)
        .follow(sandbox.business_id())
        .checkpoint(FileCheckpoint::new(&path));
    let mut first = query.clone().stream();
    assert!(prime(&mut first).await.is_empty());
    // While the first stream lives, a second one (from a clone) is refused.
    let error = query.clone().stream().try_next().await.unwrap_err();
    assert!(matches!(error, Error::Checkpoint { .. }), "{error:?}");
    assert!(error.to_string().contains("in use"), "{error}");
    // Once it is dropped, the next stream goes on from its checkpoint.
    drop(first);
    let chat = sandbox.chats()[0].chat_id;
    let written = sandbox.customer_message(chat, "after the handover");
    let mut next = query.stream();
    let events = take_until(&mut next, Duration::from_secs(10), |e| {
        !messages(e).is_empty()
    })
    .await;
    assert_eq!(messages(&events), vec![(chat.get(), written.get())]);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("state.lock"));
}

/// The first cycle takes a while over many chats; a message written while it
/// runs (after the start point) is delivered, not absorbed into its baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_cycle_does_not_absorb_messages_written_while_it_runs() {
    let sandbox =
        std::sync::Arc::new(Sandbox::start(roomy(400).latency(Duration::from_millis(5))).unwrap());
    let chats = sandbox.chats();
    let (early, late) = (chats[0].chat_id, chats[399].chat_id);
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(50))
        .stream();
    // Buyers write while the first cycle lists its 20 pages: one in a chat
    // already listed, one in a chat on the last page.
    let writer = {
        let sandbox = std::sync::Arc::clone(&sandbox);
        tokio::task::spawn_blocking(move || {
            while sandbox.requests().len() < 8 {
                std::thread::sleep(Duration::from_millis(1));
            }
            (
                sandbox.customer_message(early, "written during the first cycle"),
                sandbox.customer_message(late, "also during the first cycle"),
            )
        })
    };
    let events = take_until(&mut stream, Duration::from_secs(20), |e| {
        messages(e).len() >= 2
    })
    .await;
    let (a, b) = writer.await.unwrap();
    let mut got = messages(&events);
    got.sort_unstable();
    let mut want = vec![(early.get(), a.get()), (late.get(), b.get())];
    want.sort_unstable();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_that_disappears_ends_with_chat_gone_not_the_stream() {
    let sandbox = Sandbox::start(roomy(4)).unwrap();
    let hints = FollowHints::new();
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .from_beginning()
        .poll_interval(Duration::from_secs(30))
        .hints(hints.clone())
        .stream();
    // The first cycle knows every chat.
    let known = prime(&mut stream).await;
    assert!(!known.is_empty());
    let chats = sandbox.chats();
    let (gone, alive) = (chats[0].chat_id, chats[1].chat_id);
    assert!(sandbox.delete_chat(gone));
    hints.chat(gone);
    let events = take_until(&mut stream, Duration::from_secs(10), |e| {
        e.iter().any(|e| matches!(e, ChatEvent::ChatGone { .. }))
    })
    .await;
    let ended: Vec<String> = events.iter().map(ChatEvent::dedup_key).collect();
    assert_eq!(ended, vec![format!("gone:{gone}")]);
    // The stream goes on.
    let id = sandbox.customer_message(alive, "still here");
    hints.chat(alive);
    let events = take_until(&mut stream, Duration::from_secs(10), |e| {
        !messages(e).is_empty()
    })
    .await;
    assert_eq!(messages(&events), vec![(alive.get(), id.get())]);
}

/// A spent quota met mid-listing (another program spent it) pauses getChats
/// until the reset; the stream goes on, and the listing resumes from the
/// page it reached, not from the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_quota_mid_listing_pauses_and_the_listing_goes_on_from_its_page() {
    let sandbox = Sandbox::start(roomy(50)).unwrap();
    // The first sweep's second page finds the quota spent for 2 s.
    sandbox.script([None, Some(Fault::QuotaExhausted(Duration::from_secs(2)))]);
    let mut stream = client_with(
        &sandbox,
        RetryPolicy::default().max_quota_wait(Duration::ZERO),
    )
    .follow(sandbox.business_id())
    .poll_interval(Duration::from_millis(100))
    .stream();
    prime(&mut stream).await;
    let chat = sandbox.chats()[45].chat_id;
    let written = sandbox.customer_message(chat, "while the quota was spent");
    take_until(&mut stream, Duration::from_secs(10), |e| {
        messages(e).contains(&(chat.get(), written.get()))
    })
    .await;
    let listings: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/chats"))
        .collect();
    let spent = listings
        .iter()
        .position(|r| r.status == Some(420))
        .expect("the scripted 420");
    let token = listings[spent].query_param("pageToken").map(str::to_owned);
    assert!(token.is_some(), "the 420 was on the second page");
    assert_eq!(
        listings[spent + 1].query_param("pageToken"),
        token.as_deref(),
        "the listing went on from its page"
    );
    assert!(
        listings[spent + 1].at - listings[spent].at >= Duration::from_secs(2),
        "after the reset"
    );
}

/// A spent quota met by a history read pauses getChatHistory; the stream
/// goes on, and the chat is read once the quota resets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_quota_on_a_history_read_pauses_and_the_chat_is_read_after() {
    let sandbox = Sandbox::start(roomy(5)).unwrap();
    let mut stream = client_with(
        &sandbox,
        RetryPolicy::default().max_quota_wait(Duration::ZERO),
    )
    .follow(sandbox.business_id())
    .poll_interval(Duration::from_millis(100))
    .stream();
    prime(&mut stream).await;
    let chat = sandbox.chats()[0].chat_id;
    let written = sandbox.customer_message(chat, "hello");
    // The next sweep lists (one page), then its history read finds the
    // quota spent.
    sandbox.script([None, Some(Fault::QuotaExhausted(Duration::from_secs(2)))]);
    take_until(&mut stream, Duration::from_secs(10), |e| {
        messages(e).contains(&(chat.get(), written.get()))
    })
    .await;
    let history: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chats/history"))
        .collect();
    let spent = history
        .iter()
        .position(|r| r.status == Some(420))
        .expect("the scripted 420 on a history read");
    assert_eq!(history.last().unwrap().status, Some(200));
    assert!(
        history.last().unwrap().at - history[spent].at >= Duration::from_secs(2),
        "read again after the reset"
    );
}

/// A spent quota is saved the moment it is met, before any event: a
/// follower restarted during the pause (a new process: a new client) waits
/// for the reset instead of sending what the server would refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_is_saved_when_met_and_a_restart_during_it_waits_for_the_reset() {
    let sandbox = Sandbox::start(roomy(5)).unwrap();
    let checkpoint = CountingCheckpoint::default();
    let follow = || {
        client_with(
            &sandbox,
            RetryPolicy::default().max_quota_wait(Duration::ZERO),
        )
        .follow(sandbox.business_id())
        .checkpoint(checkpoint.clone())
        .poll_interval(Duration::from_millis(100))
        .stream()
    };
    let mut stream = follow();
    prime(&mut stream).await;
    // The next sweep's listing finds the quota spent for 5 s.
    sandbox.fail_next(1, Fault::QuotaExhausted(Duration::from_secs(5)));
    let spent = || {
        sandbox
            .requests()
            .into_iter()
            .find(|r| r.status == Some(420))
    };
    let events = poll_until(
        &mut stream,
        Duration::from_secs(3),
        "the spent quota written to the checkpoint",
        || spent().is_some_and(|r| checkpoint.writes_after(r.at) > 0),
    )
    .await;
    assert!(
        events.is_empty(),
        "nothing happened but the pause: {events:?}"
    );
    let spent = spent().unwrap();
    assert!(spent.path.ends_with("/chats"), "{}", spent.path);
    drop(stream);
    let restarted = Instant::now();
    let mut stream = follow();
    let after_restart = || sandbox.requests().into_iter().find(|r| r.at > restarted);
    poll_until(
        &mut stream,
        Duration::from_secs(10),
        "a request from the restarted follower",
        || after_restart().is_some(),
    )
    .await;
    let first = after_restart().unwrap();
    // The follower's clock reads the server's `Date` (whole seconds): the
    // pause it saved may end up to a second early.
    assert!(
        first.at - spent.at >= Duration::from_secs(3),
        "the restarted follower sent {} {} {:?} after the 420, within its 5 s pause",
        first.method,
        first.path,
        first.at - spent.at
    );
}

/// A history read that fails for another reason than a rate limit ends the
/// stream with its error (only a rate limit pauses).
#[tokio::test]
async fn a_failed_history_read_ends_the_stream_with_its_error() {
    let sandbox = Sandbox::start(roomy(5)).unwrap();
    let strict = client_with(&sandbox, RetryPolicy::disabled());
    let mut stream = strict
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(100))
        .stream();
    prime(&mut stream).await;
    sandbox.customer_message(sandbox.chats()[0].chat_id, "hello");
    // The next sweep lists (one page), then its history read fails.
    sandbox.script([None, Some(Fault::InternalError)]);
    let error = match tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await {
        Ok(Err(error)) => error,
        Ok(Ok(Some(event))) => panic!("no event before the failure: {event:?}"),
        Ok(Ok(None)) => panic!("the stream ended without an error"),
        Err(_) => panic!("no error within 10 s"),
    };
    assert_eq!(error.status(), Some(500), "{error}");
    let failed = sandbox
        .requests()
        .into_iter()
        .find(|r| r.status == Some(500))
        .expect("the scripted 500");
    assert!(failed.path.ends_with("/chats/history"), "{}", failed.path);
}

/// A complete full sweep is recorded in the checkpoint (pruning relies on
/// it): the first cycle is one.
#[tokio::test]
async fn a_complete_full_sweep_is_recorded_in_the_checkpoint() {
    let sandbox = Sandbox::start(roomy(5)).unwrap();
    let path = std::env::temp_dir().join(format!("ymc-full-{}.state", fastrand::u64(..)));
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .checkpoint(FileCheckpoint::new(&path))
        .poll_interval(Duration::from_secs(60))
        .stream();
    prime(&mut stream).await;
    drop(stream);
    let text = std::fs::read_to_string(&path).unwrap();
    // Every record carries the state's header, a delta's under `delta`.
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let header = last.get("delta").unwrap_or(&last);
    assert!(header["last_full_sweep"].is_string(), "{text}");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("state.lock"));
}

/// "From now" is when the stream was first polled, on the server's clock:
/// a message written while the first answer is still on its way comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_while_the_first_answer_is_on_its_way_comes() {
    let sandbox = Sandbox::start(roomy(5).latency(Duration::from_secs(3))).unwrap();
    let chat = sandbox.chats()[0].chat_id;
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(100))
        .stream();
    let taking = tokio::spawn(async move {
        take_until(&mut stream, Duration::from_secs(30), |e| {
            !messages(e).is_empty()
        })
        .await
    });
    // The first listing's answer takes 3 s; write a second into it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let written = sandbox.customer_message(chat, "while the first answer travels");
    let events = taking.await.unwrap();
    assert_eq!(messages(&events), vec![(chat.get(), written.get())]);
}
