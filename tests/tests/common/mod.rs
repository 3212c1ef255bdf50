//! Helpers shared by the integration tests: chat JSON, a paging httpmock
//! server, and a tiny raw HTTP server for what httpmock cannot do (drop a
//! connection, hold requests open to count them in flight).

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use httpmock::prelude::*;
use httpmock::{HttpMockRequest, HttpMockResponse};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use yandex_market_chats::{Client, RetryPolicy};

pub mod capture;

pub const KEY: &str = "test-secret-key-0123456789";

pub fn chat_json(id: u64) -> Value {
    json!({
        "chatId": id,
        "context": {"type": "ORDER", "orderId": 1000 + id, "campaignId": 5},
        "type": "CHAT",
        "status": "NEW",
        "createdAt": "2025-01-01T10:00:00+03:00",
        "updatedAt": "2025-01-02T10:00:00+03:00"
    })
}

pub fn page_json(ids: impl IntoIterator<Item = u64>, next: Option<&str>) -> Value {
    let chats: Vec<Value> = ids.into_iter().map(chat_json).collect();
    let mut result = json!({ "chats": chats });
    if let Some(next) = next {
        result["paging"] = json!({ "nextPageToken": next });
    }
    json!({ "status": "OK", "result": result })
}

/// Property-test settings: `default_cases` cases (`PROPTEST_CASES` changes
/// it), a seed that is printed (`PROPTEST_RNG_SEED` replays it), and
/// failures persisted next to the test's source.
pub fn proptest_config(default_cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    // Shown with the failure (libtest prints a failing test's output).
    eprintln!("proptest: {cases} cases, seed {seed} (replay: PROPTEST_RNG_SEED={seed})");
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// A URL nothing listens on: a port bound, then closed (never a fixed port
/// such as 9, which something may use).
pub async fn refusing_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// Fast retries, so tests do not wait.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(4)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
        .parallel_limit_backoff(Duration::from_millis(5))
        .max_quota_wait(Duration::from_secs(5))
}

pub fn client(base_url: &str) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(base_url)
        .retry(fast_retry())
        .build()
        .expect("a valid test client")
}

/// The page token a query string carries, if any.
pub fn token_of(request: &HttpMockRequest) -> Option<String> {
    request
        .query_params()
        .into_iter()
        .find(|(k, _)| k == "pageToken")
        .map(|(_, v)| v)
}

/// A server holding chats `1..=total` for business 42, paged by `limit`
/// with tokens `p<offset>`, and the number of requests it answered.
pub async fn paging_server(total: u64) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start_async().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    server
        .mock_async(move |when, then| {
            when.method(POST).path("/v2/businesses/42/chats");
            then.respond_with(move |request: &HttpMockRequest| {
                counter.fetch_add(1, Ordering::SeqCst);
                let offset: u64 = token_of(request)
                    .map(|t| t.trim_start_matches('p').parse().unwrap())
                    .unwrap_or(0);
                let limit: u64 = request
                    .query_params()
                    .into_iter()
                    .find(|(k, _)| k == "limit")
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(10);
                let end = (offset + limit).min(total);
                let next = (end < total).then(|| format!("p{end}"));
                json_response(200, &page_json(offset + 1..=end, next.as_deref()))
            });
        })
        .await;
    (server, hits)
}

pub fn json_response(status: u16, body: &Value) -> HttpMockResponse {
    HttpMockResponse::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .build()
}

/// What the raw server does with one request.
pub enum Reply {
    /// Answer with this status, headers and body.
    Respond(u16, Vec<(String, String)>, Vec<u8>),
    /// Close the connection without answering.
    Drop,
}

/// A minimal HTTP/1.1 server on 127.0.0.1: one request per connection,
/// handled by `handler(request_index, head)`. Returns its base URL.
pub async fn raw_server<F, Fut>(handler: F) -> String
where
    F: Fn(usize, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    let counter = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let handler = Arc::clone(&handler);
            let index = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Some(head) = read_request(&mut socket).await else {
                    return;
                };
                match handler(index, head).await {
                    Reply::Drop => drop(socket),
                    Reply::Respond(status, headers, body) => {
                        let mut out = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                            body.len()
                        );
                        for (name, value) in headers {
                            out.push_str(&format!("{name}: {value}\r\n"));
                        }
                        out.push_str("\r\n");
                        let mut bytes = out.into_bytes();
                        bytes.extend_from_slice(&body);
                        let _ = socket.write_all(&bytes).await;
                        let _ = socket.shutdown().await;
                    }
                }
            });
        }
    });
    format!("http://{address}")
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Some(text);
            }
        }
    }
}

// ---- A scripted raw server ----

pub fn ok_page() -> Reply {
    json_reply(200, &page_json([1, 2, 3], None), &[])
}

pub fn json_reply(status: u16, body: &serde_json::Value, headers: &[(&str, String)]) -> Reply {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Reply::Respond(status, all, serde_json::to_vec(body).unwrap())
}

pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"status": "ERROR", "errors": [{"code": code, "message": message}]})
}

pub fn http_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A raw server that answers request `i` with `reply(i, head)` and counts them.
pub async fn scripted(
    reply: impl Fn(usize, &str) -> Reply + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    scripted_slow(|_| Duration::ZERO, reply).await
}

/// Like [`scripted`], answering request `i` after `delay(i)`.
pub async fn scripted_slow(
    delay: impl Fn(usize) -> Duration + Send + Sync + 'static,
    reply: impl Fn(usize, &str) -> Reply + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let (delay, reply) = (Arc::new(delay), Arc::new(reply));
    let url = raw_server(move |index, head| {
        counter.fetch_add(1, Ordering::SeqCst);
        let (delay, reply) = (Arc::clone(&delay), Arc::clone(&reply));
        async move {
            tokio::time::sleep(delay(index)).await;
            reply(index, &head)
        }
    })
    .await;
    (url, hits)
}
