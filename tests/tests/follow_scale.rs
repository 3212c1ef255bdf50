//! The follower at scale, small and fast: a quota window shortened to
//! seconds stands for the hour, so that the sweep plan (waiting sweeps
//! often, full sweeps rarely, both within half the share) shows in a test.

#[allow(dead_code)] // each test file uses part of it
mod follow_support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use yandex_market_chats::follow::{ChatEvent, FollowStream};
use yandex_market_chats::{ChatStatus, Operation};
use yandex_market_chats_sandbox::{RecordedRequest, Sandbox, SandboxConfig};

use follow_support::{client, poll_until, prime};

/// A sandbox of `chats` that answers in 20 ms, with room in its quotas.
fn slow(chats: usize) -> Sandbox {
    Sandbox::start(
        SandboxConfig::default()
            .chats(chats)
            .hourly_quota(Some(10_000_000))
            .latency(Duration::from_millis(20)),
    )
    .unwrap()
}

fn message_ids(events: &[ChatEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message { message, .. } => Some(message.message_id.get()),
            _ => None,
        })
        .collect()
}

/// Takes events until `id` came; fails after `limit`.
async fn until_message(stream: &mut FollowStream, id: u64, limit: Duration) -> Vec<ChatEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !message_ids(&events).contains(&id) {
        match tokio::time::timeout_at(deadline, stream.try_next()).await {
            Ok(Ok(Some(event))) => events.push(event),
            Ok(other) => panic!("the stream ended or failed: {other:?}"),
            Err(_) => panic!("message {id} did not come within {limit:?}"),
        }
    }
    events
}

/// A follower of `sandbox`'s business polling at least `poll_interval`
/// apart, past its first full sweep's first events.
async fn primed(sandbox: &Sandbox, poll_interval: Duration) -> FollowStream {
    let mut stream = sandbox
        .client()
        .unwrap()
        .follow(sandbox.business_id())
        .poll_interval(poll_interval)
        .stream();
    prime(&mut stream).await;
    stream
}

/// Whether a request is a listing, and whether it is filtered by status.
fn listing(request: &RecordedRequest) -> Option<bool> {
    (request.method == "POST" && request.path.ends_with("/chats")).then(|| {
        request
            .body
            .as_ref()
            .is_some_and(|b| b.get("statuses").is_some())
    })
}

/// 400 chats (20 pages), a 20-second window of 400 getChats: the plan is a
/// quarter of that (5 a second). A buyer's message shows in the next
/// waiting sweep (a page or two, every half second or so), long before
/// the next full sweep (20 pages at what is left: about 40 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyers_message_comes_with_the_next_waiting_sweep_not_the_next_full_one() {
    let window = Duration::from_secs(20);
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(400)
            .hourly_quota(Some(400))
            .quota_window(window),
    )
    .unwrap();
    // As for most sellers, most chats are done: 20 wait for the seller.
    for chat in sandbox.chats().iter().skip(20) {
        sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    }
    let mut stream = sandbox
        .client()
        .unwrap()
        .follow(sandbox.business_id())
        .poll_interval(Duration::ZERO)
        .stream();
    // The first (full) sweep.
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.try_next()).await;
    let quiet: Vec<_> = sandbox
        .chats()
        .into_iter()
        .filter(|c| c.status == ChatStatus::Finished)
        .take(5)
        .collect();
    let mut latencies = Vec::new();
    for chat in &quiet {
        let written = std::time::Instant::now();
        let id = sandbox.customer_message(chat.chat_id, "hello?").get();
        until_message(&mut stream, id, Duration::from_secs(5)).await;
        latencies.push(written.elapsed());
    }
    let requests = sandbox.requests();
    let full = requests
        .iter()
        .filter(|r| listing(r) == Some(false))
        .count();
    let waiting = requests.iter().filter(|r| listing(r) == Some(true)).count();
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(3)),
        "each within a few waiting sweeps: {latencies:?}"
    );
    assert_eq!(full, 20, "one full sweep (20 pages) in the run: {full}");
    assert!(waiting >= 5, "waiting sweeps ran: {waiting}");
    let elapsed = requests.last().unwrap().at - requests[0].at;
    let planned = 400.0 * 0.25 * elapsed.as_secs_f64() / window.as_secs_f64();
    let listings = (full + waiting) as f64;
    // The plan plus the first sweep (a burst of at most its pages).
    assert!(
        listings <= planned + 20.0 + 5.0,
        "{listings} listings in {elapsed:?}, the plan allows {planned:.0}"
    );
}

/// When a chat's status does not say a buyer wrote (the seller answered
/// from the cabinet, or the server's statuses behave otherwise), the
/// message still comes, with the next full sweep: only the latency grows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_statuses_hide_comes_with_the_next_full_sweep() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(100)
            .hourly_quota(Some(2_000))
            .quota_window(Duration::from_secs(20)),
    )
    .unwrap();
    let client = sandbox
        .client_builder()
        .operation_quota(Operation::GetChatHistory, Some(1_000_000))
        .build()
        .unwrap();
    let mut stream = client
        .follow(sandbox.business_id())
        .poll_interval(Duration::ZERO)
        .stream();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.try_next()).await;
    let chat = sandbox
        .chats()
        .into_iter()
        .find(|c| c.status == ChatStatus::Finished)
        .unwrap();
    let id = sandbox
        .customer_message(chat.chat_id, "one more thing")
        .get();
    // At once back to FINISHED: no waiting sweep lists it.
    sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    // 5 pages at a plan of 25 a second, less the waiting sweeps: a full
    // sweep well within a few seconds.
    until_message(&mut stream, id, Duration::from_secs(10)).await;
}

/// A long full sweep makes way for the waiting sweeps that fall due while it
/// pages: with a full listing taking over 2 s (20 pages, 100 ms each) and
/// waiting sweeps due every half second, a buyer's message never waits for
/// the full listing to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_full_sweep_makes_way_for_waiting_sweeps() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(400)
            .hourly_quota(Some(10_000_000))
            .latency(Duration::from_millis(100)),
    )
    .unwrap();
    for chat in sandbox.chats().iter().skip(10) {
        sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    }
    let client = client(&sandbox);
    let mut stream = client
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(500))
        .stream();
    // The first full sweep (20 pages at 100 ms).
    let _ = tokio::time::timeout(Duration::from_secs(4), stream.try_next()).await;
    let quiet: Vec<_> = sandbox
        .chats()
        .into_iter()
        .filter(|c| c.status == ChatStatus::Finished)
        .take(6)
        .collect();
    let mut worst = Duration::ZERO;
    for (i, chat) in quiet.iter().enumerate() {
        // Spread over more than two full listings' time.
        tokio::time::sleep(Duration::from_millis(300 + 170 * i as u64)).await;
        let written = std::time::Instant::now();
        let id = sandbox.customer_message(chat.chat_id, "hello?").get();
        until_message(&mut stream, id, Duration::from_secs(5)).await;
        worst = worst.max(written.elapsed());
    }
    let full_pages = sandbox
        .requests()
        .iter()
        .filter(|r| listing(r) == Some(false))
        .count();
    assert!(
        full_pages > 20,
        "full listings ran meanwhile: {full_pages} pages"
    );
    assert!(
        worst < Duration::from_millis(1_500),
        "a message waited {worst:?}, as if for a whole full listing"
    );
}

/// A full listing goes at least one page a turn however often waiting
/// sweeps fall due: it makes way only between its pages (never before its
/// first), so it always ends, and a message only it can find comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listing_makes_way_only_between_its_pages_and_always_ends() {
    let sandbox = slow(100);
    let client = client(&sandbox);
    // No interval and a plan of hundreds a second: a waiting sweep is due
    // whenever the full listing could go on.
    let mut stream = client
        .follow(sandbox.business_id())
        .poll_interval(Duration::ZERO)
        .stream();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.try_next()).await;
    let chat = sandbox
        .chats()
        .into_iter()
        .find(|c| c.status == ChatStatus::Finished)
        .unwrap();
    let id = sandbox
        .customer_message(chat.chat_id, "only a full sweep sees this")
        .get();
    sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    until_message(&mut stream, id, Duration::from_secs(10)).await;
    // Waiting sweeps ran in the middle of full listings: after a full page,
    // before the page that goes on from it.
    let listings: Vec<(bool, bool)> = sandbox
        .requests()
        .iter()
        .filter_map(|r| listing(r).map(|waiting| (waiting, r.query_param("pageToken").is_some())))
        .collect();
    let mid_listing = (1..listings.len()).any(|i| {
        let waiting_after_full = listings[i].0 && !listings[i - 1].0;
        let next_full = listings[i..].iter().find(|(waiting, _)| !waiting);
        waiting_after_full && next_full.is_some_and(|(_, token)| *token)
    });
    assert!(mid_listing, "{listings:?}");
}

/// A full listing that made way carries snapshots of its early pages that
/// a waiting sweep may have read anew since (a buyer wrote): judging such a
/// stale snapshot reported the chat going back to its old status (and then
/// forward again). A snapshot older than what was seen changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_snapshot_of_a_full_listing_never_turns_a_status_back() {
    let sandbox = slow(100);
    // On the first page of the listing, answered by the seller.
    let chat = sandbox.chats()[0].chat_id;
    sandbox.set_status(chat, ChatStatus::WaitingForCustomer);
    let client = client(&sandbox);
    // Waiting sweeps are due whenever a full listing could go on.
    let mut stream = client
        .follow(sandbox.business_id())
        .poll_interval(Duration::ZERO)
        .stream();
    let events = Arc::new(Mutex::new(Vec::new()));
    let collector = tokio::spawn({
        let events = Arc::clone(&events);
        async move {
            while let Some(event) = stream.try_next().await.unwrap() {
                events.lock().unwrap().push(event);
            }
        }
    });
    // A full listing's first page after the start: the buyer writes then,
    // while the listing goes on through its other pages.
    let first_pages = |from: usize| {
        sandbox.requests()[from..]
            .iter()
            .filter(|r| {
                listing(r) == Some(false)
                    && r.query_param("pageToken").is_none()
                    && r.status == Some(200)
            })
            .count()
    };
    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for("two full listings", &|| first_pages(0) >= 2);
    let id = sandbox.customer_message(chat, "hello").get();
    let after = sandbox.requests().len();
    // Two more full listings: the one that listed the chat before the
    // message is judged by then.
    wait_for("two full listings more", &|| first_pages(after) >= 2);
    wait_for("the message", &|| {
        message_ids(&events.lock().unwrap()).contains(&id)
    });
    collector.abort();
    let statuses: Vec<ChatStatus> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ChatEvent::StatusChanged { chat: c, .. } if c.chat_id == chat => Some(c.status.clone()),
            _ => None,
        })
        .collect();
    assert!(
        !statuses.contains(&ChatStatus::WaitingForCustomer),
        "the chat went back to its old status: {statuses:?}"
    );
}

/// A full sweep judges what it listed chat by chat and makes way for a
/// waiting sweep between chats as between pages: its reads (thousands at
/// scale) never hold up a buyer's message, and what it reads comes as it
/// goes, not at its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sweeps_reads_make_way_and_deliver_as_they_go() {
    let sandbox = slow(100);
    let waiting = [
        ChatStatus::New,
        ChatStatus::WaitingForPartner,
        ChatStatus::WaitingForArbiter,
        ChatStatus::WaitingForMarket,
    ];
    // Only full sweeps list (and so read) these.
    let hidden_chats: Vec<_> = sandbox
        .chats()
        .into_iter()
        .filter(|c| !waiting.contains(&c.status))
        .collect();
    let hidden: HashSet<u64> = hidden_chats.iter().map(|c| c.chat_id.get()).collect();
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::ZERO)
        .stream();
    prime(&mut stream).await;
    // Each gets a buyer's message the seller answers at once (its status
    // goes back): the next full sweep reads them all.
    for chat in &hidden_chats {
        sandbox.customer_message(chat.chat_id, "hello");
        sandbox.set_status(chat.chat_id, chat.status.clone());
    }
    let after = sandbox.requests().len();
    let hidden_reads = || -> Vec<RecordedRequest> {
        sandbox.requests()[after..]
            .iter()
            .filter(|r| {
                r.path.ends_with("/chats/history")
                    && r.query_param("chatId")
                        .and_then(|c| c.parse().ok())
                        .is_some_and(|c| hidden.contains(&c))
            })
            .cloned()
            .collect()
    };
    let mut received = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let reads = hidden_reads();
        let read: HashSet<_> = reads
            .iter()
            .filter_map(|r| r.query_param("chatId"))
            .collect();
        if read.len() == hidden.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} read",
            read.len(),
            hidden.len()
        );
        match tokio::time::timeout(Duration::from_millis(200), stream.try_next()).await {
            Ok(Ok(Some(event))) => received.push((std::time::Instant::now(), event)),
            Ok(Ok(None)) => panic!("the stream ended"),
            Ok(Err(error)) => panic!("the stream failed: {error}"),
            Err(_) => {}
        }
    }
    // The full sweep's read phase: from its last page to the last read.
    let requests = sandbox.requests();
    let last = hidden_reads().last().unwrap().at;
    let full_end = requests
        .iter()
        .filter(|r| listing(r) == Some(false) && r.at < last)
        .map(|r| r.at)
        .max()
        .unwrap();
    let in_phase = |at: std::time::Instant| at > full_end && at <= last;
    let phase_reads: HashSet<u64> = hidden_reads()
        .iter()
        .filter(|r| in_phase(r.at))
        .filter_map(|r| r.query_param("chatId").and_then(|c| c.parse().ok()))
        .collect();
    assert!(
        phase_reads.len() >= 10,
        "a long read phase: {phase_reads:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| listing(r) == Some(true) && in_phase(r.at)),
        "no waiting sweep while the full sweep read"
    );
    assert!(
        received.iter().any(|(at, event)| *at < last
            && matches!(event, ChatEvent::Message { chat_id, .. } if phase_reads.contains(&chat_id.get()))),
        "the full sweep's messages came only at its end"
    );
}

/// The first full sweep of a stream (after a start or a restart: nothing
/// is known of the sweeps' sizes yet) makes way for waiting sweeps too: at
/// scale it lasts long (at 100,000 chats, 5,000 pages at the share's pace,
/// about two hours), and a buyer's message written meanwhile must not wait
/// for its end, or for the next full sweep when the seller answers first.
/// Here it is 40 pages of 100 ms; waiting sweeps are due every 500 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_full_sweep_makes_way_for_waiting_sweeps_too() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(800)
            .hourly_quota(Some(10_000_000))
            .latency(Duration::from_millis(100)),
    )
    .unwrap();
    for chat in sandbox.chats().iter().skip(10) {
        sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    }
    let quiet = sandbox.chats()[100].chat_id;
    let mut stream = client(&sandbox)
        .follow(sandbox.business_id())
        .poll_interval(Duration::from_millis(500))
        .stream();
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let collector = tokio::spawn(async move {
        while let Some(event) = stream.try_next().await.unwrap() {
            let at = std::time::Instant::now();
            if sender.send((at, message_ids(&[event]))).is_err() {
                break;
            }
        }
    });
    // Once the first full listing has gone 5 pages, the buyer writes.
    let full_pages = || {
        sandbox
            .requests()
            .iter()
            .filter(|r| listing(r) == Some(false))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while full_pages() < 5 {
        assert!(std::time::Instant::now() < deadline, "the listing began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let written = std::time::Instant::now();
    let id = sandbox.customer_message(quiet, "hello?").get();
    let came = loop {
        match tokio::time::timeout(Duration::from_secs(10), received.recv()).await {
            Ok(Some((at, ids))) if ids.contains(&id) => break at,
            Ok(Some(_)) => {}
            other => panic!("message {id} did not come: {other:?}"),
        }
    };
    // The first full listing ends (the stream goes on meanwhile).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while full_pages() < 40 {
        assert!(std::time::Instant::now() < deadline, "the listing ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    collector.abort();
    let pages_by_then = sandbox
        .requests()
        .iter()
        .filter(|r| listing(r) == Some(false) && r.at < came)
        .count();
    assert!(
        pages_by_then < 40,
        "the message came only after the first full listing's 40 pages ({pages_by_then})"
    );
    assert!(
        came - written < Duration::from_millis(2_000),
        "a message waited {:?} in the first full sweep",
        came - written
    );
    // Waiting sweeps as planned (every 500 ms), not after every full page.
    let requests = sandbox.requests();
    let full_times: Vec<_> = requests
        .iter()
        .filter(|r| listing(r) == Some(false))
        .map(|r| r.at)
        .collect();
    let (from, to) = (full_times[0], full_times[39]);
    let waiting_sweeps = requests
        .iter()
        .filter(|r| listing(r) == Some(true) && r.at > from && r.at < to)
        .count();
    let planned = (to - from).as_secs_f64() / 0.5 + 3.0;
    assert!(
        (waiting_sweeps as f64) <= planned,
        "{waiting_sweeps} waiting sweeps in {:?} of full listing, planned {planned:.0}",
        to - from
    );
}

/// A full sweep's reads leave the waiting sweeps half of the history
/// bucket: when a waiting sweep falls due while a full sweep reads, its
/// reads go at once, not one a refill (at 10,000 chats, 50 reads at the
/// share's pace are 36 s a sweep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sweeps_reads_leave_the_waiting_sweeps_their_reserve() {
    // History: 200 in a 20 s window, a share of 100: a read every 0.2 s,
    // a bucket of 10.
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(100)
            .hourly_quota(Some(100_000))
            .operation_quota(Operation::GetChatHistory, 200)
            .quota_window(Duration::from_secs(20))
            .latency(Duration::from_millis(10)),
    )
    .unwrap();
    for chat in sandbox.chats() {
        sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    }
    let chats = sandbox.chats();
    let (hidden, buyers) = (&chats[..40], &chats[40..44]);
    let mut stream = primed(&sandbox, Duration::from_millis(500)).await;
    let collector =
        tokio::spawn(async move { while stream.try_next().await.unwrap().is_some() {} });
    // Only the next full sweep reads these: 40 reads, 6 s at the pace.
    for chat in hidden {
        sandbox.customer_message(chat.chat_id, "hello");
        sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    }
    let reads_of = |chats: &[yandex_market_chats::Chat], after: std::time::Instant| {
        let ids: HashSet<u64> = chats.iter().map(|c| c.chat_id.get()).collect();
        sandbox
            .requests()
            .into_iter()
            .filter(|r| r.at > after && r.path.ends_with("/chats/history"))
            .filter(|r| {
                r.query_param("chatId")
                    .and_then(|c| c.parse().ok())
                    .is_some_and(|c| ids.contains(&c))
            })
            .map(|r| r.at)
            .collect::<Vec<_>>()
    };
    let start = std::time::Instant::now();
    let deadline = start + Duration::from_secs(20);
    // Well into the full sweep's reads: its bucket is down to the reserve.
    while reads_of(hidden, start).len() < 15 {
        assert!(std::time::Instant::now() < deadline, "the full sweep reads");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let written = std::time::Instant::now();
    for chat in buyers {
        sandbox.customer_message(chat.chat_id, "where is it?");
    }
    while reads_of(buyers, written).len() < buyers.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "the buyers' chats read"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reads = reads_of(buyers, written);
    let spread = *reads.last().unwrap() - reads[0];
    // The full sweep was reading around them.
    while reads_of(hidden, *reads.last().unwrap()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the full sweep went on"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    collector.abort();
    // Without a reserve: at least 3 refills (0.6 s) apart.
    assert!(
        spread < Duration::from_millis(400),
        "a waiting sweep's 4 reads took {spread:?}"
    );
}

/// A sweep whose next read must wait for the quota delivers what it found
/// first: a buyer's message read early in a waiting sweep does not wait for
/// the reads of the other chats (at 10,000 chats, tens of seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_sweep_found_comes_before_it_waits_for_the_quota() {
    // History: 60 in a 20 s window, a share of 30: a read every 0.67 s, a
    // bucket of 10.
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(100)
            .hourly_quota(Some(100_000))
            .operation_quota(Operation::GetChatHistory, 60)
            .quota_window(Duration::from_secs(20)),
    )
    .unwrap();
    for chat in sandbox.chats() {
        sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    }
    let mut stream = primed(&sandbox, Duration::from_millis(300)).await;
    let buyers = &sandbox.chats()[..14];
    let written = std::time::Instant::now();
    let mut ids = HashSet::new();
    for chat in buyers {
        ids.insert(sandbox.customer_message(chat.chat_id, "hello?").get());
    }
    // The first message to come, and when.
    let first = loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.try_next()).await {
            Ok(Ok(Some(ChatEvent::Message { message, .. })))
                if ids.contains(&message.message_id.get()) =>
            {
                break std::time::Instant::now();
            }
            Ok(Ok(Some(_))) => {}
            other => panic!("no message came: {other:?}"),
        }
    };
    // Keep the stream going until every buyer's chat was read.
    let reads = || {
        let chats: HashSet<u64> = buyers.iter().map(|c| c.chat_id.get()).collect();
        sandbox
            .requests()
            .into_iter()
            .filter(|r| r.at > written && r.path.ends_with("/chats/history"))
            .filter_map(|r| r.query_param("chatId").and_then(|c| c.parse::<u64>().ok()))
            .filter(|c| chats.contains(c))
            .collect::<HashSet<u64>>()
    };
    poll_until(
        &mut stream,
        Duration::from_secs(20).saturating_sub(written.elapsed()),
        "every chat read",
        || reads().len() >= buyers.len(),
    )
    .await;
    // When the last of the buyers' chats was first read.
    let mut first_reads = std::collections::HashMap::new();
    for r in sandbox.requests() {
        if r.at > written && r.path.ends_with("/chats/history") {
            let chat = r.query_param("chatId").and_then(|c| c.parse::<u64>().ok());
            first_reads.entry(chat).or_insert(r.at);
        }
    }
    let last_read = buyers
        .iter()
        .map(|c| first_reads[&Some(c.chat_id.get())])
        .max()
        .unwrap();
    // Ten reads at once, then one each 0.67 s: the first message comes
    // seconds before the last read, not after it.
    assert!(
        first + Duration::from_secs(1) < last_read,
        "the first message came {:?} after the write, the last read {:?}",
        first - written,
        last_read - written
    );
}

/// A waiting listing of several pages goes at once beside a full listing:
/// the full listing leaves the waiting sweeps half of the getChats bucket,
/// and only a full listing holds back for that reserve (a waiting listing
/// that did would make way for itself, page after page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_listing_of_several_pages_goes_at_once_beside_a_full_one() {
    // getChats: 200 in a 20 s window, a share of 100: a page every 0.2 s,
    // a bucket of 10. 1,000 chats: a full listing of 50 pages (over 10 s at
    // the pace), 60 waiting: a waiting listing of 3 pages.
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(1_000)
            .hourly_quota(Some(200))
            .quota_window(Duration::from_secs(20))
            .latency(Duration::from_millis(10)),
    )
    .unwrap();
    let chats = sandbox.chats();
    for (i, chat) in chats.iter().enumerate() {
        let status = if i < 60 {
            ChatStatus::WaitingForPartner
        } else {
            ChatStatus::Finished
        };
        sandbox.set_status(chat.chat_id, status);
    }
    let mut stream = primed(&sandbox, Duration::from_millis(500)).await;
    // On the waiting listing's last page, while the first full listing pages.
    let id = sandbox.customer_message(chats[59].chat_id, "hello?").get();
    until_message(&mut stream, id, Duration::from_secs(8)).await;
    let came = std::time::Instant::now();
    let requests = sandbox.requests();
    assert!(
        requests.iter().any(|r| r.at < came
            && listing(r) == Some(false)
            && r.query_param("pageToken").is_none()),
        "the full listing began"
    );
    // Each waiting listing, from its first page: when its pages went.
    let mut waiting: Vec<Vec<std::time::Instant>> = Vec::new();
    for r in requests.iter().filter(|r| listing(r) == Some(true)) {
        match r.query_param("pageToken") {
            None => waiting.push(vec![r.at]),
            Some(_) => waiting.last_mut().expect("a first page").push(r.at),
        }
    }
    let done: Vec<_> = waiting.iter().filter(|pages| pages.len() == 3).collect();
    assert!(!done.is_empty(), "a whole waiting listing: {waiting:?}");
    for pages in done {
        let spread = pages[2] - pages[0];
        // Without the reserve: a page per refill, 0.4 s at least.
        assert!(
            spread < Duration::from_millis(300),
            "a waiting listing's 3 pages took {spread:?}"
        );
    }
    // The full listing was still paging when the message came.
    let full_after = || {
        sandbox.requests().iter().any(|r| {
            r.at > came && listing(r) == Some(false) && r.query_param("pageToken").is_some()
        })
    };
    poll_until(
        &mut stream,
        Duration::from_secs(10),
        "the full listing went on",
        full_after,
    )
    .await;
}
