//! The typed mocks of `yandex-market-chats-httpmock` keep what the typed
//! calls set when a test goes on with `into_inner()` (the crate's docs:
//! "both keep what the typed calls set"): a request that breaks a typed
//! matcher is not matched, whatever raw matchers were added after it, and a
//! typed answer keeps its status and body under raw additions.

use std::num::NonZeroU32;

use httpmock::prelude::*;
use serde_json::json;
use yandex_market_chats_api::types::GetChatsResponse;
use yandex_market_chats_httpmock::MockServerExt;

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
    let page: GetChatsResponse =
        serde_json::from_value(json!({"status": "OK", "result": {"chats": []}})).unwrap();
    let mock = server.get_chats(|when, then| {
        let when = when.business_id(&42.into()).limit(NonZeroU32::new(20));
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
