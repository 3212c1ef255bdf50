//! Server faults through the wrapper: 420 of both kinds, 5xx, 401, garbage,
//! dropped connections, and the in-flight limit.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use common::*;
use futures::TryStreamExt;
use httpmock::HttpMockRequest;
use httpmock::prelude::*;
use serde_json::json;
use yandex_market_chats::{Client, Error, PageSize, RetryPolicy};

/// Responds with `first` for the first `n` requests, then with pages.
async fn failing_then_ok(
    n: usize,
    first: impl Fn() -> httpmock::HttpMockResponse + Send + Sync + 'static,
) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start_async().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    server
        .mock_async(move |when, then| {
            when.method(POST).path("/v2/businesses/42/chats");
            then.respond_with(move |_: &HttpMockRequest| {
                if counter.fetch_add(1, Ordering::SeqCst) < n {
                    first()
                } else {
                    json_response(200, &page_json([1, 2, 3], None))
                }
            });
        })
        .await;
    (server, hits)
}

fn limit_420(remaining: &str, until: &str) -> httpmock::HttpMockResponse {
    httpmock::HttpMockResponse::builder()
        .status(420)
        .header("content-type", "application/json")
        .header("X-RateLimit-Resource-Limit", "5000")
        .header("X-RateLimit-Resource-Remaining", remaining)
        .header("X-RateLimit-Resource-Until", until)
        .body(
            serde_json::to_vec(&json!({"status": "ERROR", "errors": [{"code": "LIMIT_EXCEEDED", "message": "Hit rate limit"}]}))
                .unwrap(),
        )
        .build()
}

/// Promise: after a 420 with `Remaining: 0`, the client waits until the
/// reset `Until` states plus the 1 s margin (the default
/// `quota_reset_margin`), then succeeds.
///
/// Deterministic: the answer carries `Date` one second before `Until` (both
/// whole seconds, so `Until - Date` is exactly 1 s whatever the host's
/// clock), and the wait is measured from the server's clock. With the margin
/// the client waits 2 s; without it, 1 s plus two local round trips, which
/// never reaches 1.9 s.
#[tokio::test]
async fn a_spent_hourly_quota_waits_until_the_reset_then_succeeds() {
    let date = Utc::now();
    let (date_header, until) = (
        http_date(date),
        http_date(date + chrono::Duration::seconds(1)),
    );
    let (server, hits) = failing_then_ok(1, move || {
        let mut response = limit_420("0", &until);
        response
            .headers
            .get_or_insert_with(Vec::new)
            .push(("Date".to_owned(), date_header.clone()));
        response
    })
    .await;
    let started = std::time::Instant::now();
    let chats: Vec<_> = client(&server.base_url())
        .chats(42)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chats.len(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // 1 s to `Until` plus the 1 s margin.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn a_spent_quota_that_resets_too_late_fails_at_once_with_the_reset_time() {
    let until = Utc::now() + chrono::Duration::minutes(30);
    let header = until.to_rfc2822();
    let (server, hits) = failing_then_ok(10, move || limit_420("0", &header)).await;
    let error = client(&server.base_url())
        .chats(42)
        .page(None)
        .await
        .unwrap_err();
    match &error {
        Error::RateLimited {
            reset_at: Some(reset_at),
            local: false,
            ..
        } => {
            assert!((*reset_at - until).num_seconds().abs() <= 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(error.is_rate_limited());
    assert_eq!(error.status(), Some(420));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "no retry when the reset is beyond the cap"
    );
}

#[tokio::test]
async fn a_parallel_limit_420_backs_off_briefly_and_ignores_until() {
    // `Until` an hour away must not be waited for: Remaining is not 0.
    let until = (Utc::now() + chrono::Duration::hours(1)).to_rfc2822();
    let (server, hits) = failing_then_ok(2, move || limit_420("4000", &until)).await;
    let started = std::time::Instant::now();
    let chats: Vec<_> = client(&server.base_url())
        .chats(42)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chats.len(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // Backoffs of at most 5 ms; waiting for `Until` would take an hour (or
    // fail at once past `max_quota_wait`).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_500s_then_success() {
    let (server, hits) = failing_then_ok(2, || {
        json_response(
            500,
            &json!({"status": "ERROR", "errors": [{"code": "INTERNAL_ERROR"}]}),
        )
    })
    .await;
    let chats: Vec<_> = client(&server.base_url())
        .chats(42)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        chats.iter().map(|c| c.chat_id.get()).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_stop_at_the_budget_with_the_last_error() {
    let (server, hits) = failing_then_ok(100, || {
        httpmock::HttpMockResponse::builder()
            .status(503)
            .body("<html>Service Unavailable</html>")
            .build()
    })
    .await;
    let error = client(&server.base_url())
        .chats(42)
        .page(None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert!(error.is_retryable());
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), 4);

    let no_retry = Client::builder()
        .api_key(KEY)
        .base_url(server.base_url())
        .retry(RetryPolicy::disabled())
        .build()
        .unwrap();
    hits.store(0, Ordering::SeqCst);
    assert!(no_retry.chats(42).page(None).await.is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_401_with_null_errors_is_a_clear_final_error() {
    let (server, hits) = failing_then_ok(10, || {
        json_response(401, &json!({"status": "ERROR", "errors": null}))
    })
    .await;
    let error = client(&server.base_url())
        .chats(42)
        .page(None)
        .await
        .unwrap_err();
    assert!(error.is_auth());
    assert!(!error.is_retryable());
    assert_eq!(error.status(), Some(401));
    assert!(error.to_string().contains("401"), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn error_display_carries_the_yandex_code_and_message() {
    let (server, _) = failing_then_ok(10, || {
        json_response(400, &json!({"status": "ERROR", "errors": [{"code": "BAD_REQUEST", "message": "limit must be at most 20"}]}))
    })
    .await;
    let error = client(&server.base_url())
        .chats(42)
        .page(None)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Yandex.Market API error (HTTP 400): BAD_REQUEST: limit must be at most 20"
    );
    let legacy = MockServer::start_async().await;
    legacy
        .mock_async(|when, then| {
            when.any_request();
            then.status(403)
                .json_body(json!({"error": {"code": 403, "message": "Token is invalid"}}));
        })
        .await;
    let error = client(&legacy.base_url())
        .chats(42)
        .page(None)
        .await
        .unwrap_err();
    assert!(error.is_auth());
    assert!(error.to_string().contains("Token is invalid"), "{error}");
}

#[tokio::test]
async fn a_garbage_200_body_is_a_decode_error_with_status_and_excerpt() {
    let (server, _) = failing_then_ok(10, || {
        httpmock::HttpMockResponse::builder()
            .status(200)
            .body("<html>not json</html>")
            .build()
    })
    .await;
    let error = client(&server.base_url())
        .chats(42)
        .page(None)
        .await
        .unwrap_err();
    match &error {
        Error::Decode {
            status: 200,
            excerpt,
            ..
        } => assert!(excerpt.contains("not json")),
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("status 200"), "{error}");
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let base = raw_server(|index, _head| async move {
        if index == 0 {
            Reply::Drop
        } else {
            Reply::Respond(
                200,
                vec![("content-type".into(), "application/json".into())],
                serde_json::to_vec(&page_json([1, 2], None)).unwrap(),
            )
        }
    })
    .await;
    let chats: Vec<_> = client(&base)
        .chats(42)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chats.len(), 2);

    let always_drop = raw_server(|_, _| async { Reply::Drop }).await;
    let error = client(&always_drop).chats(42).page(None).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(!error.to_string().contains(KEY));
}

#[tokio::test]
async fn five_concurrent_streams_never_have_more_than_4_requests_in_flight() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now, max) = (Arc::clone(&in_flight), Arc::clone(&peak));
    let base = raw_server(move |_, head| {
        let (now, max) = (Arc::clone(&now), Arc::clone(&max));
        async move {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            let page: u64 = head
                .split("pageToken=")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let next = (page < 3).then(|| (page + 1).to_string());
            let body = page_json(page * 2 + 1..=page * 2 + 2, next.as_deref());
            Reply::Respond(200, vec![], serde_json::to_vec(&body).unwrap())
        }
    })
    .await;
    let client = client(&base);
    let streams = (0..5).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .chats(42)
                .page_size(PageSize::new(2).unwrap())
                .stream()
                .try_collect::<Vec<_>>()
                .await
        })
    });
    for handle in futures::future::join_all(streams).await {
        assert_eq!(handle.unwrap().unwrap().len(), 8);
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 4, "peak in flight {peak}");
    assert!(peak >= 2, "the streams did run concurrently (peak {peak})");
}

#[tokio::test]
async fn the_key_never_shows_in_debug_or_errors() {
    let client = client(&refusing_url().await);
    let debug = format!("{client:?}");
    assert!(!debug.contains(KEY), "{debug}");
    let builder = Client::builder().api_key(KEY);
    assert!(!format!("{builder:?}").contains(KEY));

    // A server that echoes the key back in an error body.
    let echo = MockServer::start_async().await;
    echo.mock_async(|when, then| {
        when.any_request();
        then.status(200).body(format!("oops {KEY} oops"));
    })
    .await;
    let echo_json = MockServer::start_async().await;
    echo_json
        .mock_async(|when, then| {
            when.any_request();
            then.status(403).json_body(
                json!({"errors": [{"code": KEY, "message": format!("key {KEY} is invalid")}]}),
            );
        })
        .await;
    let errors = vec![
        common::client(&echo_json.base_url())
            .chats(42)
            .page(None)
            .await
            .unwrap_err(),
        common::client(&echo.base_url())
            .chats(42)
            .page(None)
            .await
            .unwrap_err(),
        client.chats(42).page(None).await.unwrap_err(),
        Client::builder()
            .api_key(format!("{KEY}\n"))
            .build()
            .unwrap_err(),
        Client::builder()
            .api_key(KEY)
            .oauth_token(KEY)
            .build()
            .unwrap_err(),
    ];
    for error in errors {
        assert!(!error.to_string().contains(KEY), "{error}");
        assert!(!format!("{error:?}").contains(KEY), "{error:?}");
    }
}

#[test]
fn builder_refuses_bad_configuration() {
    let cases: Vec<(&str, yandex_market_chats::ClientBuilder)> = vec![
        ("no credentials", Client::builder()),
        ("both", Client::builder().api_key("a").oauth_token("b")),
        ("empty key", Client::builder().api_key("")),
        ("newline", Client::builder().api_key("a\nb")),
        ("control", Client::builder().api_key("a\u{7}b")),
        ("tab", Client::builder().api_key("a\tb")),
        (
            "remote http",
            Client::builder()
                .api_key("a")
                .base_url("http://example.com"),
        ),
        (
            "malformed",
            Client::builder().api_key("a").base_url("not a url"),
        ),
    ];
    for (name, builder) in cases {
        let error = builder.build().unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput { .. }),
            "{name}: {error:?}"
        );
    }
    for ok in [
        "http://localhost:8080",
        "http://127.0.0.1:1",
        "http://[::1]:2",
        "https://example.com",
    ] {
        Client::builder().api_key("a").base_url(ok).build().unwrap();
    }
    Client::builder().oauth_token("t").build().unwrap();
}

#[test]
fn the_public_types_are_thread_safe() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send_unpin<T: Send + Unpin + 'static>() {}
    send_sync::<Client>();
    send_sync::<Error>();
    send_unpin::<yandex_market_chats::ChatStream>();
    send_unpin::<yandex_market_chats::PageStream>();
}
