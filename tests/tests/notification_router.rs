//! `notifications::axum::NotificationEndpoint` served for real, called with
//! a real HTTP client: each chat notification and PING, a bad body, the
//! secret path, the body cap (the default one too), and the hints it gives
//! a follower (none for a PING).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use yandex_market_chats::follow::FollowHints;
use yandex_market_chats::notifications::Notification;
use yandex_market_chats::notifications::axum::NotificationEndpoint;

struct Served {
    base: String,
    hints: FollowHints,
    seen: Arc<Mutex<Vec<Notification>>>,
}

async fn serve(secret: Option<&str>) -> Served {
    let hints = FollowHints::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let mut endpoint = NotificationEndpoint::new("ymc-tests", "1.0.0")
        .unwrap()
        .hints(hints.clone())
        .max_body_bytes(4096)
        .on_notification(move |n| record.lock().unwrap().push(n));
    if let Some(secret) = secret {
        endpoint = endpoint.secret_path(secret);
    }
    let base = listen(endpoint).await;
    Served { base, hints, seen }
}

/// Serves `endpoint`'s router on 127.0.0.1; returns its base URL.
async fn listen(endpoint: NotificationEndpoint) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = endpoint.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn post(url: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn chat_notifications() -> Vec<Value> {
    vec![
        json!({"notificationType": "CHAT_CREATED", "chatId": 101, "businessId": 1,
               "createdAt": "2025-03-01T12:00:00+03:00"}),
        json!({"notificationType": "CHAT_MESSAGE_SENT", "chatId": 102, "messageId": "987654321",
               "businessId": 1, "sentAt": "2025-03-01T12:34:56.789+03:00"}),
        json!({"notificationType": "CHAT_ARBITRAGE_STARTED", "chatId": 103, "businessId": 1,
               "startedAt": "2025-03-02T08:15:00+05:00"}),
        json!({"notificationType": "CHAT_ARBITRAGE_FINISHED", "chatId": 104, "businessId": 1,
               "finishedAt": "2025-03-03T08:15:00+05:00"}),
    ]
}

#[tokio::test]
async fn every_chat_notification_is_answered_and_hinted() {
    let served = serve(None).await;
    let url = format!("{}/notification", served.base);
    for body in chat_notifications() {
        let (status, reply) = post(&url, serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(reply["name"], "ymc-tests");
        assert_eq!(reply["version"], "1.0.0");
        assert!(reply["time"].is_string());
    }
    assert_eq!(served.seen.lock().unwrap().len(), 4);
    // The follower is told to read those chats; a repeated one once.
    let body = serde_json::to_vec(&chat_notifications()[1]).unwrap();
    assert_eq!(post(&url, body).await.0, 200);
    assert_eq!(
        served.hints.len(),
        4,
        "four chats hinted, the repeated one once"
    );
    let ids: Vec<u64> = served
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(Notification::chat_id)
        .collect();
    assert_eq!(ids, vec![101, 102, 103, 104, 102]);
}

#[tokio::test]
async fn ping_is_answered_well_within_a_second() {
    let served = serve(None).await;
    let url = format!("{}/notification", served.base);
    let started = Instant::now();
    let (status, reply) = post(
        &url,
        br#"{"notificationType": "PING", "time": "2025-03-01T09:00:00.213Z"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["name"], "ymc-tests");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_bad_body_gets_the_documented_error_reply() {
    let served = serve(None).await;
    let url = format!("{}/notification", served.base);
    let (status, reply) = post(&url, b"not json".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["type"], "WRONG_EVENT_FORMAT");
    assert!(reply["error"]["message"].is_string());
    let (status, reply) = post(
        &url,
        br#"{"notificationType":"CHAT_CREATED","chatId":1,"businessId":2,"createdAt":"yesterday"}"#
            .to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("createdAt"),
        "{reply}"
    );
    // Bodies over the cap are refused before they are read whole.
    let (status, _) = post(&url, vec![b' '; 10_000]).await;
    assert_eq!(status, 413);
    assert!(served.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_secret_path_is_enforced() {
    let served = serve(Some("s3cret-segment")).await;
    let body = serde_json::to_vec(&chat_notifications()[0]).unwrap();
    let (status, _) = post(&format!("{}/notification", served.base), body.clone()).await;
    assert_eq!(status, 404);
    let (status, _) = post(&format!("{}/wrong/notification", served.base), body.clone()).await;
    assert_eq!(status, 404);
    assert!(served.seen.lock().unwrap().is_empty());
    let (status, _) = post(
        &format!("{}/s3cret-segment/notification", served.base),
        body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(served.seen.lock().unwrap().len(), 1);
    // The secret never shows in Debug.
    let endpoint = NotificationEndpoint::new("n", "v")
        .unwrap()
        .secret_path("s3cret-segment");
    assert!(!format!("{endpoint:?}").contains("s3cret"));
}

/// A chat notification padded with trailing spaces (which JSON allows) to
/// exactly `len` bytes.
fn padded_notification(len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(&chat_notifications()[0]).unwrap();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

/// Promise: with the default settings (no `max_body_bytes`), the body cap
/// is 64 KiB: a notification of exactly 64 KiB is answered, one byte more
/// gets 413 and reaches neither the callback nor the hints.
#[tokio::test]
async fn the_default_body_cap_is_64_kib() {
    const CAP: usize = 64 * 1024;
    let hints = FollowHints::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let endpoint = NotificationEndpoint::new("ymc-tests", "1.0.0")
        .unwrap()
        .hints(hints.clone())
        .on_notification(move |n| record.lock().unwrap().push(n));
    let url = format!("{}/notification", listen(endpoint).await);

    let (status, _) = post(&url, padded_notification(CAP + 1)).await;
    assert_eq!(status, 413, "one byte over 64 KiB is refused");
    assert!(seen.lock().unwrap().is_empty());
    assert!(hints.is_empty());

    let (status, reply) = post(&url, padded_notification(CAP)).await;
    assert_eq!(status, 200, "exactly 64 KiB is accepted: {reply}");
    assert_eq!(reply["name"], "ymc-tests");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(hints.len(), 1);
}

/// Promise: a `PING` gives no hint, whether the handle is bound to a
/// business or not, while a chat notification of the handle's business
/// does (the `PING` itself is answered and reaches the callback).
#[tokio::test]
async fn a_ping_gives_no_hint_and_a_chat_notification_of_the_business_does() {
    let ping = br#"{"notificationType": "PING", "time": "2025-03-01T09:00:00.213Z"}"#;
    let chat = serde_json::to_vec(&chat_notifications()[1]).unwrap();
    for hints in [FollowHints::new(), FollowHints::for_business(1)] {
        // The handle itself, as the router calls it.
        let notification = Notification::from_json(ping).unwrap();
        assert!(!hints.notification(&notification), "a PING is no hint");
        assert!(hints.is_empty());

        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let endpoint = NotificationEndpoint::new("ymc-tests", "1.0.0")
            .unwrap()
            .hints(hints.clone())
            .on_notification(move |n| record.lock().unwrap().push(n));
        let url = format!("{}/notification", listen(endpoint).await);
        let (status, _) = post(&url, ping.to_vec()).await;
        assert_eq!(status, 200);
        assert!(matches!(
            seen.lock().unwrap().as_slice(),
            [Notification::Ping(_)]
        ));
        assert!(hints.is_empty(), "{hints:?}: a PING hinted a chat");

        // The same handle, a chat notification of business 1: hinted.
        let (status, _) = post(&url, chat.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(hints.len(), 1, "{hints:?}");
    }
}

/// An empty secret segment (`secret_path("/")`) is no secret: the endpoint
/// serves at `/notification`.
#[tokio::test]
async fn an_empty_secret_path_serves_at_the_plain_path() {
    let served = serve(Some("/")).await;
    let ping = serde_json::to_vec(&json!({"notificationType": "PING"})).unwrap();
    let (status, _) = post(&format!("{}/notification", served.base), ping).await;
    assert_eq!(status, 200);
}

/// `Debug` shows the settings, never the secret segment.
#[test]
fn an_endpoint_shows_its_settings_not_its_secret() {
    let endpoint = NotificationEndpoint::new("ymc-tests", "1.0.0")
        .unwrap()
        .secret_path("s3cret-segment")
        .max_body_bytes(4096);
    let shown = format!("{endpoint:?}");
    assert_eq!(
        shown,
        r#"NotificationEndpoint { name: "ymc-tests", version: "1.0.0", secret_path: Some("<redacted>"), max_body: 4096, .. }"#
    );
}
