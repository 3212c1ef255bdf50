//! One span per request, with operation, business id, attempt, status and
//! duration; never the key or the body.

mod common;

use std::sync::Arc;

use common::capture::Capture;
use common::{KEY, client, json_response, page_json};
use httpmock::prelude::*;

#[tokio::test]
async fn each_attempt_has_one_span_with_its_fields_and_no_secret() {
    let server = MockServer::start_async().await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    server
        .mock_async(move |when, then| {
            when.method(POST);
            then.respond_with(move |_: &httpmock::HttpMockRequest| {
                if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    json_response(500, &serde_json::json!({"status": "ERROR", "errors": [{"code": "X", "message": KEY}]}))
                } else {
                    json_response(200, &page_json([1, 2], None))
                }
            });
        })
        .await;
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let page = client(&server.base_url())
        .chats(42)
        .page(None)
        .await
        .unwrap();
    assert_eq!(page.chats.len(), 2);

    let spans = capture.spans.lock().unwrap().clone();
    let requests: Vec<_> = spans
        .iter()
        .filter(|(name, _)| name == "yandex_market_chats.request")
        .collect();
    assert_eq!(requests.len(), 2, "one span per attempt: {spans:?}");
    for (i, (_, fields)) in requests.iter().enumerate() {
        assert!(fields.contains("operation=\"getChats\""), "{fields}");
        assert!(fields.contains("business_id=42"), "{fields}");
        assert!(fields.contains(&format!("attempt={}", i + 1)), "{fields}");
        assert!(fields.contains("duration_ms="), "{fields}");
    }
    assert!(requests[0].1.contains("status=500"));
    assert!(requests[1].1.contains("status=200"));

    let everything = format!("{spans:?} {:?}", capture.events.lock().unwrap());
    assert!(
        !everything.contains(KEY),
        "the key leaked into tracing: {everything}"
    );
    assert!(!everything.contains("chatId"), "a body leaked into tracing");
}
