//! The typed mocks of `yandex-market-chats-httpmock`, used as the SDK's
//! users use them:
//! - they keep what the typed calls set when a test goes on with
//!   `into_inner()` (the crate's docs: "what the typed calls set stays"): a
//!   request that breaks a typed matcher is not matched, whatever raw
//!   matchers were added after it, and a typed answer keeps its status and
//!   body under raw additions;
//! - Market's two 420s (`then.quota_spent(..)`, `then.parallel_limit()`)
//!   make the SDK fail at once or retry, as its README says, and a bare 420
//!   is the parallel limit;
//! - every type a mock names is exported by the SDK.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use serde_json::json;
use yandex_market_chats::{
    ApiErrorEntry, ApiErrorResponse, ApiResponseStatusType, ChatsResult, Client, Error,
    GetChatsResponse, Paging, RetryPolicy,
};
use yandex_market_chats_httpmock::MockServerExt;
use yandex_market_chats_httpmock::rate_limit::{PARALLEL_LIMIT_MESSAGE, QUOTA_SPENT_MESSAGE};

/// `POST /v2/businesses/{business}/chats{query}` with an empty filter, and
/// the key when `key` is set; the status and body of the answer.
async fn get_chats(
    server: &MockServer,
    business: u64,
    query: &str,
    key: Option<&str>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!(
            "{}/v2/businesses/{business}/chats{query}",
            server.base_url()
        ))
        .json(&json!({}));
    if let Some(key) = key {
        request = request.header("api-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Promise: typed matchers (`business_id`, the `limit` query parameter)
/// still apply after `into_inner()` adds a raw matcher (a header): a request
/// that breaks either typed matcher gets httpmock's no-match answer (404)
/// and the mock is never hit; one that fits every matcher, typed and raw, is
/// answered by the mock. The typed answer (`then.ok`) keeps its status,
/// content type and body after `into_inner()` adds a header.
#[tokio::test]
async fn typed_matchers_still_apply_after_into_inner() {
    let server = MockServer::start_async().await;
    let page = empty_page();
    let mock = server.get_chats(|when, then| {
        let when = when.business_id(42).limit(NonZeroU32::new(20));
        when.into_inner().header("api-key", "test-key");
        let then = then.ok(&page);
        then.into_inner().header("x-extra", "raw");
    });

    // Another business: the typed `business_id` is broken.
    let (status, _) = get_chats(&server, 43, "?limit=20", Some("test-key")).await;
    assert_eq!(status, 404, "business 43 matched a mock for business 42");
    // Another limit: the typed query matcher is broken.
    let (status, _) = get_chats(&server, 42, "?limit=5", Some("test-key")).await;
    assert_eq!(status, 404, "limit 5 matched a mock for limit 20");
    let (status, _) = get_chats(&server, 42, "", Some("test-key")).await;
    assert_eq!(status, 404, "no limit matched a mock for limit 20");
    assert_eq!(
        mock.calls_async().await,
        0,
        "a request broke a typed matcher"
    );

    // The raw matcher applies too.
    let (status, _) = get_chats(&server, 42, "?limit=20", None).await;
    assert_eq!(status, 404, "no key matched a mock that requires it");
    assert_eq!(mock.calls_async().await, 0);

    // Everything fits: the typed answer, with the raw header added.
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v2/businesses/42/chats?limit=20",
            server.base_url()
        ))
        .header("api-key", "test-key")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-extra"], "raw");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "OK", "result": {"chats": []}}));
    assert_eq!(mock.calls_async().await, 1);
}

fn empty_page() -> GetChatsResponse {
    GetChatsResponse {
        status: ApiResponseStatusType::Ok,
        result: Some(ChatsResult {
            chats: vec![],
            paging: None,
        }),
    }
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .api_key("test-key")
        .base_url(server.base_url())
        .build()
        .unwrap()
}

/// Promise (README, "Mock the API in your tests"): a spent quota whose reset
/// is further than `max_quota_wait` (60 s by default) makes a read fail at
/// once with `Error::RateLimited`, with the server's message and the reset
/// time, after one request; the client then remembers the spent quota and
/// refuses the next read of that operation without sending it.
#[tokio::test]
async fn a_spent_quota_fails_at_once_without_retries() {
    let server = MockServer::start_async().await;
    let spent = server.get_chats(|when, then| {
        when.business_id(42);
        then.quota_spent(Duration::from_secs(600));
    });
    let client = client(&server);

    let started = Instant::now();
    let error = client.chats(42).page(None).await.unwrap_err();
    let took = started.elapsed();
    let Error::RateLimited {
        reset_at,
        local,
        message,
        rate_limit,
    } = &error
    else {
        panic!("expected RateLimited, got {error:?}");
    };
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(!local, "the server refused it");
    assert_eq!(message.as_deref(), Some(QUOTA_SPENT_MESSAGE));
    let rate_limit = rate_limit.as_ref().expect("the rate-limit headers");
    assert_eq!(
        (rate_limit.limit, rate_limit.remaining),
        (Some(5_000), Some(0))
    );
    let resets_in =
        *reset_at.as_ref().expect("a reset time") - yandex_market_chats::chrono::Utc::now();
    assert!(
        (590..=602).contains(&resets_in.num_seconds()),
        "resets in {resets_in}"
    );
    assert_eq!(spent.calls_async().await, 1, "retried a spent quota");

    // The client remembers: the next read is refused before it is sent.
    let again = client.chats(42).page(None).await.unwrap_err();
    assert!(
        matches!(again, Error::RateLimited { local: true, .. }),
        "{again:?}"
    );
    assert_eq!(spent.calls_async().await, 1);
}

/// Promise: a spent quota that resets within `max_quota_wait` is waited
/// for (the reset plus the 1 s margin), then the read is sent again.
#[tokio::test]
async fn a_spent_quota_that_resets_soon_is_waited_for() {
    let server = MockServer::start_async().await;
    let spent = server.get_chats(|when, then| {
        when.business_id(42);
        then.quota_spent(Duration::from_secs(1))
            .into_inner()
            .up_to_n_times(1);
    });
    let ok = server.get_chats(|when, then| {
        when.business_id(42);
        then.ok(&empty_page());
    });
    let client = Client::builder()
        .api_key("test-key")
        .base_url(server.base_url())
        .retry(RetryPolicy::default().quota_reset_margin(Duration::ZERO))
        .build()
        .unwrap();

    let started = Instant::now();
    let page = client.chats(42).page(None).await.unwrap();
    assert!(page.chats.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    assert_eq!((spent.calls_async().await, ok.calls_async().await), (1, 1));
}

/// Promise: the parallel limit's 420 is retried, and the read succeeds
/// once the server answers; the answer carries quota, so nothing is
/// refused locally afterwards.
#[tokio::test]
async fn the_parallel_limit_is_retried_then_succeeds() {
    let server = MockServer::start_async().await;
    let busy = server.get_chats(|when, then| {
        when.business_id(42);
        then.parallel_limit().into_inner().up_to_n_times(2);
    });
    let ok = server.get_chats(|when, then| {
        when.business_id(42);
        then.ok(&GetChatsResponse {
            status: ApiResponseStatusType::Ok,
            result: Some(ChatsResult {
                chats: vec![],
                paging: Some(Paging {
                    next_page_token: None,
                }),
            }),
        });
    });
    let client = client(&server);

    let started = Instant::now();
    let page = client.chats(42).page(None).await.unwrap();
    assert!(page.chats.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!((busy.calls_async().await, ok.calls_async().await), (2, 1));
    client.chats(42).page(None).await.unwrap();
    assert_eq!(ok.calls_async().await, 2);
}

/// Promise (README): a bare 420, without rate-limit headers, is taken for
/// the parallel limit and retried until the total timeout (the first
/// backoff is at most 500 ms: with a 1 s total timeout, at least two
/// requests, all within the second).
#[tokio::test]
async fn a_bare_420_is_retried_until_the_total_timeout() {
    let server = MockServer::start_async().await;
    let error_body = ApiErrorResponse {
        errors: Some(vec![ApiErrorEntry {
            code: "LIMIT_EXCEEDED".into(),
            message: Some(PARALLEL_LIMIT_MESSAGE.into()),
        }]),
        ..Default::default()
    };
    let bare = server.get_chats(|when, then| {
        when.business_id(42);
        then.client_error(420, &error_body);
    });
    let client = Client::builder()
        .api_key("test-key")
        .base_url(server.base_url())
        .total_timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.chats(42).page(None).await.unwrap_err();
    let took = started.elapsed();
    // Given up when the next backoff would pass the deadline: the last 420.
    assert!(
        matches!(&error, Error::Api { status: 420, details } if details.rate_limit.is_none()),
        "{error:?}"
    );
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
    assert!(bare.calls_async().await >= 2, "a bare 420 was not retried");
}

/// Each operation's `quota_spent` states the hourly limit its description
/// in the fragment states.
#[tokio::test]
async fn each_operation_s_420s_state_its_hourly_limit() {
    let server = MockServer::start_async().await;
    server.get_chat_history(|when, then| {
        when.business_id(42).chat_id(12);
        then.quota_spent(Duration::from_secs(5));
    });
    server.get_chat(|when, then| {
        when.business_id(42).chat_id(12);
        then.parallel_limit();
    });
    let base = server.base_url();
    let http = reqwest::Client::new();
    let history = http
        .post(format!("{base}/v2/businesses/42/chats/history?chatId=12"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 420);
    assert_eq!(history.headers()["x-ratelimit-resource-limit"], "10000");
    assert_eq!(history.headers()["x-ratelimit-resource-remaining"], "0");
    let chat = http
        .get(format!("{base}/v2/businesses/42/chat?chatId=12"))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 420);
    assert_eq!(chat.headers()["x-ratelimit-resource-limit"], "1000");
    assert_eq!(chat.headers()["x-ratelimit-resource-remaining"], "999");
    let body: ApiErrorResponse = chat.json().await.unwrap();
    assert_eq!(body.status, Some(ApiResponseStatusType::Error));
    assert_eq!(
        body.errors.unwrap()[0].message.as_deref(),
        Some(PARALLEL_LIMIT_MESSAGE)
    );
}

/// Every type the generated mocks name (`types::..`, `open_enums::..`,
/// `ids::..` of the api crate) is exported at the SDK's root, so a test
/// never needs `yandex_market_chats_api`: a type the fragment adds to a
/// mock without an SDK export fails here.
#[test]
fn every_type_a_mock_names_is_exported_by_the_sdk() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mocks = std::fs::read_to_string(format!(
        "{root}/crates/yandex-market-chats-httpmock/src/generated.rs"
    ))
    .unwrap();
    let sdk =
        std::fs::read_to_string(format!("{root}/crates/yandex-market-chats/src/lib.rs")).unwrap();
    let exported = sdk_exports(&sdk);
    let mut named = std::collections::BTreeSet::new();
    for module in ["types::", "open_enums::", "ids::"] {
        for (at, _) in mocks.match_indices(module) {
            let name: String = mocks[at + module.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                named.insert(name);
            }
        }
    }
    assert!(
        named.contains("GetChatsResponse") && named.contains("BusinessId"),
        "{named:?}"
    );
    let missing: Vec<_> = named
        .iter()
        .filter(|name| !exported.contains(*name))
        .collect();
    assert!(missing.is_empty(), "not exported by the SDK: {missing:?}");
}

/// The names of `pub use yandex_market_chats_api::..::{..};` in the SDK's
/// lib.rs (one name or a braced list).
fn sdk_exports(lib: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (at, marker) in lib.match_indices("pub use yandex_market_chats_api::") {
        let statement = &lib[at + marker.len()..];
        let statement = &statement[..statement.find(';').unwrap()];
        let list = match statement.find('{') {
            Some(open) => &statement[open + 1..statement.rfind('}').unwrap()],
            None => statement.rsplit("::").next().unwrap(),
        };
        names.extend(
            list.split(',')
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty()),
        );
    }
    names
}
