//! The README's promises, each with a test that fails when it breaks: the
//! write rule for every write, the defaults, 502/504 retries, the rate-limit
//! headers on pages, OAuth, cancellation by drop, the local quota following
//! the server, secrets in every server-derived text, the file limit's edge.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::capture::Capture;
use common::*;
use futures::{Stream, StreamExt, TryStreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, QuotaState, Release};
use yandex_market_chats::{
    ChatContext, ChatContextIdentifiableType, Client, ClientBuilder, Error, HistoryPageSize,
    MAX_FILE_BYTES, Operation, RetryPolicy, TimeoutKind,
};

/// Counts every attempt (each one acquires) and limits nothing.
#[derive(Clone, Default)]
struct CountingLimiter {
    attempts: Arc<AtomicUsize>,
    settings: Arc<Mutex<Option<LimiterSettings>>>,
    time_left: Arc<Mutex<Vec<Duration>>>,
}

impl Limiter for CountingLimiter {
    type Permit = ();
    fn configure(&self, settings: &LimiterSettings) -> Result<(), Error> {
        *self.settings.lock().unwrap() = Some(settings.clone());
        Ok(())
    }
    async fn acquire(&self, request: Acquire) -> Result<(), Error> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.time_left.lock().unwrap().push(request.time_left);
        Ok(())
    }
    fn release(&self, _: (), _: Release) {}
    async fn quota(&self, _: u64, _: Operation) -> Result<Option<QuotaState>, Error> {
        Ok(None)
    }
}

#[derive(Clone, Copy, Debug)]
enum Write {
    Message,
    File,
    CreateChat,
}

impl Write {
    async fn run(self, client: &Client) -> Result<(), Error> {
        match self {
            Self::Message => client.chat(42, 7).send_message("hello").await,
            Self::File => {
                client
                    .chat(42, 7)
                    .send_file("a.txt", b"hello".to_vec())
                    .await
            }
            Self::CreateChat => {
                let context = ChatContext {
                    type_: ChatContextIdentifiableType::Order,
                    id: 5.into(),
                };
                client.create_chat(42, context).await.map(|_| ())
            }
        }
    }

    fn ok(self) -> Reply {
        match self {
            Self::CreateChat => {
                json_reply(200, &json!({"status": "OK", "result": {"chatId": 9}}), &[])
            }
            _ => json_reply(200, &json!({"status": "OK"}), &[]),
        }
    }
}

const WRITES: [Write; 3] = [Write::Message, Write::File, Write::CreateChat];

fn write_client(url: &str, limiter: &CountingLimiter) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(url)
        .attempt_timeout(Duration::from_millis(300))
        .retry(fast_retry().max_attempts(3))
        .limiter(limiter.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_write_is_sent_once_when_its_outcome_may_be_unknown() {
    for write in WRITES {
        for fault in ["500", "503", "drop", "timeout"] {
            let delay = move |_| Duration::from_millis(if fault == "timeout" { 1000 } else { 0 });
            let (url, hits) = scripted_slow(delay, move |_, _| match fault {
                "500" => json_reply(500, &error_body("INTERNAL_ERROR", "oops"), &[]),
                "503" => Reply::Respond(503, Vec::new(), b"<html>busy</html>".to_vec()),
                "drop" => Reply::Drop,
                _ => write.ok(),
            })
            .await;
            let limiter = CountingLimiter::default();
            let client = write_client(&url, &limiter);
            let error = write.run(&client).await.unwrap_err();
            assert!(
                matches!(error, Error::OutcomeUnknown { .. }),
                "{write:?} {fault}: {error:?}"
            );
            // The call returned and its client is gone: it sent all it will.
            drop(client);
            assert_eq!(hits.load(Ordering::SeqCst), 1, "{write:?} {fault}");
            assert_eq!(
                limiter.attempts.load(Ordering::SeqCst),
                1,
                "{write:?} {fault}"
            );
        }
    }
}

#[tokio::test]
async fn every_write_is_retried_when_it_surely_did_not_take_effect() {
    for write in WRITES {
        // A 420 refused it: retried, then it goes through.
        let (url, hits) = scripted(move |index, _| {
            if index == 0 {
                json_reply(
                    420,
                    &error_body("LIMIT_EXCEEDED", "Hit rate limit of 4 parallel requests"),
                    &[],
                )
            } else {
                write.ok()
            }
        })
        .await;
        let limiter = CountingLimiter::default();
        write.run(&write_client(&url, &limiter)).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2, "{write:?}");
        assert_eq!(limiter.attempts.load(Ordering::SeqCst), 2, "{write:?}");

        // Nobody listens: every attempt is made, and the error says nothing was sent.
        let limiter = CountingLimiter::default();
        let error = write
            .run(&write_client(&refusing_url().await, &limiter))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Transport {
                    before_sending: true,
                    ..
                }
            ),
            "{write:?}: {error:?}"
        );
        assert_eq!(limiter.attempts.load(Ordering::SeqCst), 3, "{write:?}");
    }
}

// ---- Defaults, as seen from outside ----

#[tokio::test]
async fn default_attempts_timeouts_quotas_and_in_flight_limit() {
    // 4 attempts (with the default backoff of at most 0.2 + 0.4 + 0.8 s).
    let (url, hits) = scripted(|_, _| Reply::Respond(503, Vec::new(), Vec::new())).await;
    let limiter = CountingLimiter::default();
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .limiter(limiter.clone())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        client.chats(42).page(None).await.unwrap_err().status(),
        Some(503)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    assert!(
        started.elapsed() <= Duration::from_millis(1400 + 1000),
        "{:?}",
        started.elapsed()
    );

    // The attempt timeout and the in-flight limit reach the limiter; the
    // first attempt has the whole total timeout left.
    let settings = limiter.settings.lock().unwrap().clone().unwrap();
    assert_eq!(settings.attempt_timeout, Duration::from_secs(15));
    assert_eq!(settings.max_in_flight, 4);
    assert_eq!(settings.quota_reset_margin, Duration::from_secs(1));
    let first = limiter.time_left.lock().unwrap()[0];
    assert!(
        first <= Duration::from_secs(120) && first > Duration::from_secs(119),
        "{first:?}"
    );
    // The quotas per operation.
    for (operation, quota) in [
        (Operation::GetChats, 5000),
        (Operation::GetChatHistory, 10_000),
        (Operation::GetChat, 1000),
        (Operation::GetChatMessage, 1000),
        (Operation::SendMessageToChat, 1000),
        (Operation::SendFileToChat, 1000),
        (Operation::CreateChat, 1000),
    ] {
        assert_eq!(settings.quota(operation), Some(quota), "{operation}");
    }
    // The connect timeout is only visible in the builder's Debug.
    let debug = format!("{:?}", Client::builder());
    assert!(debug.contains("connect_timeout: 5s"), "{debug}");
    assert!(
        debug.contains("attempt_timeout: 15s") && debug.contains("total_timeout: 120s"),
        "{debug}"
    );
}

#[tokio::test]
async fn eight_tasks_against_a_slow_server_peak_at_exactly_four_in_flight() {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
    let url = raw_server(move |_, _| {
        let (n, p) = (Arc::clone(&n), Arc::clone(&p));
        async move {
            let current = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            ok_page()
        }
    })
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.chats(42).page(None).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn retries_502_and_504_then_succeeds() {
    let (url, hits) = scripted(|index, _| match index {
        0 => Reply::Respond(502, Vec::new(), b"Bad Gateway".to_vec()),
        1 => Reply::Respond(504, Vec::new(), b"Gateway Timeout".to_vec()),
        _ => ok_page(),
    })
    .await;
    let chats: Vec<_> = client(&url).chats(42).stream().try_collect().await.unwrap();
    assert_eq!(chats.len(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

// ---- What pages carry ----

#[tokio::test]
async fn pages_and_message_pages_carry_the_rate_limit_headers() {
    let date = Utc::now();
    let until = date + chrono::Duration::seconds(1800);
    let headers = vec![
        ("X-RateLimit-Resource-Limit", "5000".to_owned()),
        ("X-RateLimit-Resource-Remaining", "4321".to_owned()),
        ("X-RateLimit-Resource-Until", http_date(until)),
        ("Date", http_date(date)),
    ];
    let (url, _) = scripted(move |_, head| {
        let body = if head.contains("/chats/history") {
            json!({"status": "OK", "result": {"context": {"type": "DIRECT"}, "messages": []}})
        } else {
            page_json([1], None)
        };
        json_reply(200, &body, &headers)
    })
    .await;
    let client = client(&url);
    let page = client.chats(42).page(None).await.unwrap();
    let messages = client
        .chat(42, 7)
        .history()
        .page_size(HistoryPageSize::MAX)
        .page(None)
        .await
        .unwrap();
    for rate in [page.rate_limit.unwrap(), messages.rate_limit.unwrap()] {
        assert_eq!(rate.limit, Some(5000));
        assert_eq!(rate.remaining, Some(4321));
        assert_eq!(rate.until.unwrap().timestamp(), until.timestamp());
        assert_eq!(rate.resets_in, Some(Duration::from_secs(1800)));
    }
}

#[tokio::test]
async fn oauth_sends_a_bearer_token_and_no_api_key() {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    let (url, _) = scripted(move |_, head| {
        seen.lock().unwrap().push(head.to_ascii_lowercase());
        ok_page()
    })
    .await;
    let client = Client::builder()
        .oauth_token("oauth-abc")
        .base_url(&url)
        .build()
        .unwrap();
    client.chats(42).page(None).await.unwrap();
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.contains("authorization: bearer oauth-abc\r\n"),
        "{head}"
    );
    assert!(!head.contains("api-key"), "{head}");
}

// ---- Cancellation ----

#[tokio::test]
async fn dropping_a_stream_mid_request_closes_the_connection_and_sends_nothing_more() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        let mut closed_tx = Some(closed_tx);
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let tx = closed_tx.take();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                // Never answer; a read of 0 bytes means the client closed.
                loop {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    let client = client(&url);
    let mut stream = client.chats(42).stream();
    let pending = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(pending.is_err(), "the request is in flight");
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), closed_rx)
        .await
        .expect("the server saw the connection closed")
        .unwrap();
    // The stream was dropped and its connection closed, so the client has
    // nothing left to send; the server's count is final.
    drop(client);
    assert_eq!(connections.load(Ordering::SeqCst), 1, "no further request");
}

// ---- The local quota follows the server ----

#[tokio::test]
async fn a_server_reporting_less_remaining_makes_the_client_stop_earlier() {
    // The client's own quota is 5,000; the server says 2 are left, then 1,
    // then 0 (another process used the rest): the fourth request is refused
    // here, with nothing sent.
    let until = http_date(Utc::now() + chrono::Duration::minutes(10));
    let (url, hits) = scripted(move |index, _| {
        json_reply(
            200,
            &page_json([1], None),
            &[
                (
                    "X-RateLimit-Resource-Remaining",
                    2usize.saturating_sub(index).to_string(),
                ),
                ("X-RateLimit-Resource-Until", until.clone()),
            ],
        )
    })
    .await;
    let client = client(&url);
    for _ in 0..3 {
        client.chats(42).page(None).await.unwrap();
    }
    let error = client.chats(42).page(None).await.unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { local: true, .. }),
        "{error:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // Other operations have their own quota.
    let state = client.quota(42, Operation::GetChat).await.unwrap().unwrap();
    assert_eq!(state.remaining, 1000);
}

// ---- Secrets in every server-derived text ----

#[tokio::test]
async fn the_key_never_appears_in_errors_or_tracing_wherever_the_server_echoes_it() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let echoes: Vec<Box<dyn Fn() -> Reply + Send + Sync>> = vec![
        // In a non-JSON body.
        Box::new(|| {
            Reply::Respond(
                500,
                Vec::new(),
                format!("<html>bad key {KEY}</html>").into_bytes(),
            )
        }),
        // In the error message.
        Box::new(|| {
            json_reply(
                400,
                &error_body(&format!("BAD_{KEY}"), &format!("key {KEY} is bad")),
                &[],
            )
        }),
        // In a JSON string of the wrong type (serde quotes it).
        Box::new(|| {
            let mut chat = chat_json(1);
            chat["createdAt"] = json!(KEY);
            json_reply(
                200,
                &json!({"status": "OK", "result": {"chats": [chat]}}),
                &[],
            )
        }),
        // In header values.
        Box::new(|| {
            json_reply(
                420,
                &error_body("LIMIT", "limit"),
                &[
                    ("X-RateLimit-Resource-Until", KEY.to_owned()),
                    ("X-RateLimit-Resource-Remaining", KEY.to_owned()),
                    ("X-Echo", KEY.to_owned()),
                ],
            )
        }),
        // In a redirect's target.
        Box::new(|| {
            Reply::Respond(
                302,
                vec![("Location".into(), format!("https://{KEY}.example/"))],
                Vec::new(),
            )
        }),
    ];
    for (index, echo) in echoes.into_iter().enumerate() {
        let echo = Arc::new(echo);
        let (url, _) = scripted(move |_, _| echo()).await;
        let client = Client::builder()
            .api_key(KEY)
            .base_url(&url)
            .retry(fast_retry().max_attempts(2))
            // A 420 that is not about the quota is retried until the deadline.
            .total_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let error = client.chats(42).page(None).await.unwrap_err();
        let mut text = format!("{error}\n{error:?}");
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            text.push_str(&format!("\n{inner}\n{inner:?}"));
            source = inner.source();
        }
        assert!(!text.contains(KEY), "echo {index}: {text}");
        assert!(
            !text
                .to_ascii_lowercase()
                .contains(&KEY.to_ascii_lowercase()),
            "echo {index}: {text}"
        );
    }
    let logged = capture.text();
    assert!(!logged.is_empty());
    assert!(!logged.contains(KEY), "{logged}");
}

// ---- The file limit at its edge ----

#[tokio::test]
async fn a_file_of_exactly_the_limit_is_sent_and_one_byte_more_is_refused() {
    assert_eq!(MAX_FILE_BYTES, 5 * 1024 * 1024);
    let (url, hits) = scripted(|_, _| json_reply(200, &json!({"status": "OK"}), &[])).await;
    let client = client(&url);
    client
        .chat(42, 7)
        .send_file("edge.bin", vec![0u8; MAX_FILE_BYTES])
        .await
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let error = client
        .chat(42, 7)
        .send_file("over.bin", vec![0u8; MAX_FILE_BYTES + 1])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "nothing sent");
}

// ---- The builder ----

/// Promise: a builder setting reaches the request: a clone of the builder
/// keeps a custom limiter, and `total_timeout` ends a request the server
/// never answers at exactly that limit, as `Timeout { kind: Total }`
/// (nothing else: not the default 15 s attempt timeout, not a transport
/// error).
#[tokio::test]
async fn a_builder_setting_reaches_the_request() {
    // ClientBuilder stays Clone; a clone keeps a custom limiter.
    let limiter = CountingLimiter::default();
    let builder: ClientBuilder = Client::builder().api_key(KEY).limiter(limiter.clone());
    let (url, _) = scripted(|_, _| ok_page()).await;
    let client = builder
        .clone()
        .base_url(&url)
        .retry(RetryPolicy::disabled())
        .build()
        .unwrap();
    client.chats(42).page(None).await.unwrap();
    assert_eq!(limiter.attempts.load(Ordering::SeqCst), 1);

    // A server that takes the request and never answers.
    let (silent, hits) = scripted_slow(|_| Duration::from_secs(60), |_, _| ok_page()).await;
    let total = Duration::from_millis(200);
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&silent)
        .total_timeout(total)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(5), client.chats(42).page(None))
        .await
        .expect("the total timeout ends the request")
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                kind: TimeoutKind::Total,
                after,
            } if after == total
        ),
        "{error:?}"
    );
    assert!(started.elapsed() >= total, "{:?}", started.elapsed());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one attempt, cut short");
}

/// Promise (README, "Errors"): `Error` is under 128 bytes, so that a
/// `Result<_, Error>` stays small (clippy's `result_large_err` threshold).
#[test]
fn error_stays_under_128_bytes() {
    let size = std::mem::size_of::<Error>();
    assert!(size < 128, "Error is {size} bytes");
}

// ---- Streams say where they stand ----

#[tokio::test]
async fn streams_show_their_position_in_debug_is_done_and_size_hint() {
    let (server, _) = paging_server(45).await;
    let client = client(&server.base_url());
    let mut pages = client
        .chats(42)
        .page_size(yandex_market_chats::PageSize::new(20).unwrap())
        .max_pages(2)
        .pages();
    assert!(!pages.is_done());
    // At most 2 pages, and perhaps an error after them.
    assert_eq!(pages.size_hint(), (0, Some(3)));
    pages.try_next().await.unwrap();
    let debug = format!("{pages:?}");
    assert!(debug.starts_with("Pages {"), "{debug}");
    assert!(debug.contains(r#"next_page_token: Some("p20")"#), "{debug}");
    assert!(debug.contains("pages_left: Some(1)"), "{debug}");
    assert!(!pages.is_done());
    assert_eq!(pages.size_hint(), (0, Some(2)));
    pages.try_next().await.unwrap();
    assert!(pages.is_done());
    assert_eq!(pages.size_hint(), (0, Some(0)));
    assert!(pages.try_next().await.unwrap().is_none());
    let unbounded = client.chats(42).pages();
    assert_eq!(unbounded.size_hint(), (0, None));

    let mut chats = client
        .chats(42)
        .page_size(yandex_market_chats::PageSize::new(20).unwrap())
        .stream();
    chats.try_next().await.unwrap();
    let debug = format!("{chats:?}");
    assert!(debug.starts_with("Items {"), "{debug}");
    assert!(debug.contains("buffered: 19"), "{debug}");
    // (`StreamExt::buffered` would win the method call.)
    assert_eq!(yandex_market_chats::ChatStream::buffered(&chats), 19);
    assert_eq!(chats.next_page_token(), Some("p20"));
    assert!(debug.contains(r#"next_page_token: Some("p20")"#), "{debug}");
}
