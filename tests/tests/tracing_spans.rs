//! One span per request, with operation, business id, attempt, status and
//! duration; never the key or the body.

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use common::{KEY, client, json_response, page_json};
use httpmock::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every span's name and fields, and every event, as text.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<(String, String)>>>,
    events: Arc<Mutex<Vec<String>>>,
}

struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = String::new();
        span.record(&mut Text(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push((span.metadata().name().to_owned(), fields));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, id: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let entry = &mut spans[id.into_u64() as usize - 1];
        values.record(&mut Text(&mut entry.1));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut text = String::new();
        event.record(&mut Text(&mut text));
        self.events.lock().unwrap().push(text);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

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
