//! Pagination through the wrapper: order, exactly once, lazy, loop guard.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use futures::{StreamExt, TryStreamExt};
use httpmock::HttpMockRequest;
use httpmock::prelude::*;
use serde_json::json;
use yandex_market_chats::{
    ChatContext, ChatContextIdentifiableType, ChatContextType, ChatStatus, ChatStream, ChatType,
    Error, PageSize,
};

#[tokio::test]
async fn lists_95_chats_in_5_requests_of_20_with_the_previous_token() {
    let server = MockServer::start_async().await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats")
                .query_param("limit", "20")
                .header("api-key", KEY)
                .json_body(json!({
                    "statuses": ["NEW", "WAITING_FOR_PARTNER"],
                    "types": ["CHAT"],
                    "contextTypes": ["ORDER", "DIRECT"],
                    "contexts": [{"type": "ORDER", "id": 7}],
                }));
            then.respond_with(move |request: &HttpMockRequest| {
                let token = token_of(request);
                log.lock().unwrap().push(token.clone());
                let page: u64 = token
                    .map(|t| t.trim_start_matches("page-").parse().unwrap())
                    .unwrap_or(0);
                let start = page * 20;
                let end = (start + 20).min(95);
                let next = (end < 95).then(|| format!("page-{}", page + 1));
                json_response(200, &page_json(start + 1..=end, next.as_deref()))
            });
        })
        .await;

    let chats: Vec<_> = client(&server.base_url())
        .chats(42)
        .statuses([
            ChatStatus::New,
            ChatStatus::WaitingForPartner,
            ChatStatus::New,
        ])
        .types([ChatType::Chat])
        .context_types([ChatContextType::Order, ChatContextType::Direct])
        .contexts([ChatContext {
            type_: ChatContextIdentifiableType::Order,
            id: 7.into(),
        }])
        .page_size(PageSize::new(20).unwrap())
        .stream()
        .try_collect()
        .await
        .unwrap();

    let ids: Vec<u64> = chats.iter().map(|c| c.chat_id.get()).collect();
    assert_eq!(ids, (1..=95).collect::<Vec<_>>());
    assert_eq!(mock.calls_async().await, 5);
    let tokens = seen.lock().unwrap().clone();
    assert_eq!(
        tokens,
        vec![
            None,
            Some("page-1".into()),
            Some("page-2".into()),
            Some("page-3".into()),
            Some("page-4".into())
        ]
    );
}

#[tokio::test]
async fn a_second_filter_call_replaces_the_first_and_empty_filters_are_omitted() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).json_body(json!({"types": ["ARBITRAGE"]}));
            then.status(200).json_body(page_json([], None));
        })
        .await;
    let chats: Vec<_> = client(&server.base_url())
        .chats(42)
        .types([ChatType::Chat])
        .types([ChatType::Arbitrage])
        .statuses([])
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(chats.is_empty());
    assert_eq!(mock.calls_async().await, 1);
}

#[tokio::test]
async fn pages_carry_tokens_and_max_pages_stops_with_a_resume_point() {
    let (server, _) = paging_server(50).await;
    let client = client(&server.base_url());
    let mut pages = client
        .chats(42)
        .page_size(PageSize::new(10).unwrap())
        .max_pages(2)
        .pages();
    let first = pages.try_next().await.unwrap().unwrap();
    assert_eq!(first.page_token, None);
    assert_eq!(first.next_page_token.as_deref(), Some("p10"));
    let second = pages.try_next().await.unwrap().unwrap();
    assert_eq!(second.page_token.as_deref(), Some("p10"));
    assert!(pages.try_next().await.unwrap().is_none());
    assert_eq!(pages.next_page_token(), Some("p20"));

    // Resume where it stopped: the rest, nothing twice.
    let rest: Vec<_> = client
        .chats(42)
        .page_size(PageSize::new(10).unwrap())
        .resume_from("p20")
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest.first().unwrap().chat_id.get(), 21);
    assert_eq!(rest.len(), 30);

    let one = client.chats(42).page(Some("p40".into())).await.unwrap();
    assert_eq!(one.chats.len(), 10);
    assert_eq!(one.next_page_token, None);
}

#[tokio::test]
async fn a_repeated_token_is_a_pagination_loop_not_an_endless_stream() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST);
            then.respond_with(
                |request: &HttpMockRequest| match token_of(request).as_deref() {
                    None => json_response(200, &page_json([1, 2], Some("A"))),
                    Some("A") => json_response(200, &page_json([3, 4], Some("B"))),
                    _ => json_response(200, &page_json([5], Some("A"))),
                },
            );
        })
        .await;
    let mut stream = client(&server.base_url()).chats(42).stream();
    let (ids, error) = drain(&mut stream).await;
    // Page B named a token already sent: it is not yielded, and the stream
    // names B, the page to ask for again, as where to resume.
    assert_eq!(ids, vec![1, 2, 3, 4]);
    assert!(
        matches!(&error, Some(Error::PaginationLoop { token }) if token == "A"),
        "{error:?}"
    );
    assert_eq!(stream.next_page_token(), Some("B"));
    assert_eq!(mock.calls_async().await, 3);
}

/// The chat ids a stream yields until it ends, and the error it ended with.
async fn drain(stream: &mut ChatStream) -> (Vec<u64>, Option<Error>) {
    let mut ids = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chat) => ids.push(chat.chat_id.get()),
            Err(error) => return (ids, Some(error)),
        }
    }
    (ids, None)
}

/// A server holding chats 1..=50 for business 42, 20 a page, tokens `p2` and
/// `p3`, whose answers to `p2` name `p2` again as the next page: only the
/// first `repeats` times (`None`: always). Returns the server and the
/// tokens it was asked for, in order.
async fn repeating_server(
    repeats: Option<usize>,
) -> (MockServer, Arc<std::sync::Mutex<Vec<Option<String>>>>) {
    let server = MockServer::start_async().await;
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    let repeated = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    server
        .mock_async(move |when, then| {
            when.method(POST).path("/v2/businesses/42/chats");
            then.respond_with(move |request: &HttpMockRequest| {
                let token = token_of(request);
                log.lock().unwrap().push(token.clone());
                match token.as_deref() {
                    None => json_response(200, &page_json(1..=20, Some("p2"))),
                    Some("p2") => {
                        let repeat =
                            repeats.is_none_or(|n| repeated.fetch_add(1, Ordering::SeqCst) < n);
                        let next = if repeat { "p2" } else { "p3" };
                        json_response(200, &page_json(21..=40, Some(next)))
                    }
                    Some("p3") => json_response(200, &page_json(41..=50, None)),
                    other => panic!("unexpected token {other:?}"),
                }
            });
        })
        .await;
    (server, asked)
}

#[tokio::test]
async fn resuming_after_a_one_off_repeat_yields_nothing_twice_and_loses_nothing() {
    let (server, asked) = repeating_server(Some(1)).await;
    let client = client(&server.base_url());
    let mut first = client.chats(42).stream();
    let (before, error) = drain(&mut first).await;
    assert!(
        matches!(&error, Some(Error::PaginationLoop { token }) if token == "p2"),
        "{error:?}"
    );
    let resume = first.next_page_token().expect("a resume point").to_owned();

    let mut resumed = client.chats(42).resume_from(resume).stream();
    let (after, error) = drain(&mut resumed).await;
    assert!(error.is_none(), "the repeat was a one-off: {error:?}");
    assert!(resumed.next_page_token().is_none());
    let twice: Vec<_> = after.iter().filter(|id| before.contains(id)).collect();
    assert!(twice.is_empty(), "yielded again after resuming: {twice:?}");
    let mut all = [before, after].concat();
    all.sort_unstable();
    assert_eq!(all, (1..=50).collect::<Vec<_>>(), "nothing lost");
    assert_eq!(
        *asked.lock().unwrap(),
        [
            None,
            Some("p2".into()),
            Some("p2".into()),
            Some("p3".into())
        ]
    );
}

#[tokio::test]
async fn resuming_after_a_repeat_that_persists_yields_nothing_twice() {
    let (server, _) = repeating_server(None).await;
    let client = client(&server.base_url());
    let mut first = client.chats(42).stream();
    let (before, error) = drain(&mut first).await;
    assert!(
        matches!(error, Some(Error::PaginationLoop { .. })),
        "{error:?}"
    );
    // Each resume starts from what the stream before it reported.
    let mut token = first.next_page_token().expect("a resume point").to_owned();
    for _ in 0..3 {
        let mut resumed = client.chats(42).resume_from(token.clone()).stream();
        let (after, error) = drain(&mut resumed).await;
        assert!(
            matches!(error, Some(Error::PaginationLoop { .. })),
            "{error:?}"
        );
        let twice: Vec<_> = after.iter().filter(|id| before.contains(id)).collect();
        assert!(twice.is_empty(), "yielded again after resuming: {twice:?}");
        token = resumed
            .next_page_token()
            .expect("a resume point")
            .to_owned();
    }
}

#[tokio::test]
async fn resuming_after_a_loop_through_earlier_pages_yields_nothing_twice() {
    // first -> A -> B -> A, once; after that B names C, the last page.
    let server = MockServer::start_async().await;
    let b_asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&b_asked);
    server
        .mock_async(move |when, then| {
            when.method(POST);
            then.respond_with(move |request: &HttpMockRequest| {
                match token_of(request).as_deref() {
                    None => json_response(200, &page_json([1, 2], Some("A"))),
                    Some("A") => json_response(200, &page_json([3, 4], Some("B"))),
                    Some("B") if count.fetch_add(1, Ordering::SeqCst) == 0 => {
                        json_response(200, &page_json([5, 6], Some("A")))
                    }
                    Some("B") => json_response(200, &page_json([5, 6], Some("C"))),
                    _ => json_response(200, &page_json([7], None)),
                }
            });
        })
        .await;
    let client = client(&server.base_url());
    let mut first = client.chats(42).stream();
    let (before, error) = drain(&mut first).await;
    assert!(
        matches!(error, Some(Error::PaginationLoop { .. })),
        "{error:?}"
    );
    let resume = first.next_page_token().expect("a resume point").to_owned();
    let (after, error) = drain(&mut client.chats(42).resume_from(resume).stream()).await;
    assert!(error.is_none(), "{error:?}");
    assert!(
        after.iter().all(|id| !before.contains(id)),
        "{before:?} then {after:?}"
    );
    assert_eq!([before, after].concat(), (1..=7).collect::<Vec<_>>());
}

#[tokio::test]
async fn resuming_history_after_a_one_off_repeat_yields_nothing_twice() {
    let server = MockServer::start_async().await;
    let repeated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let once = Arc::clone(&repeated);
    server
        .mock_async(move |when, then| {
            when.method(POST).path("/v2/businesses/42/chats/history");
            then.respond_with(move |request: &HttpMockRequest| {
                let (ids, next) = match token_of(request).as_deref() {
                    None => (1..=2, Some("h2")),
                    Some("h2") if !once.swap(true, Ordering::SeqCst) => (3..=4, Some("h2")),
                    Some("h2") => (3..=4, Some("h3")),
                    _ => (5..=5, None),
                };
                let messages: Vec<_> = ids
                    .map(|id| json!({"messageId": id, "createdAt": "2025-01-01T10:00:00+03:00", "sender": "CUSTOMER"}))
                    .collect();
                let mut result = json!({"context": {"type": "DIRECT"}, "messages": messages});
                if let Some(next) = next {
                    result["paging"] = json!({"nextPageToken": next});
                }
                json_response(200, &json!({"status": "OK", "result": result}))
            });
        })
        .await;
    let chat = client(&server.base_url()).chat(42, 7);
    let mut first = chat.history().stream();
    let mut before = Vec::new();
    let error = loop {
        match first.next().await {
            Some(Ok(message)) => before.push(message.message_id.get()),
            Some(Err(error)) => break error,
            None => panic!("no loop"),
        }
    };
    assert!(matches!(error, Error::PaginationLoop { .. }), "{error:?}");
    let resume = first.next_page_token().expect("a resume point").to_owned();
    let after: Vec<u64> = chat
        .history()
        .resume_from(resume)
        .stream()
        .map_ok(|m| m.message_id.get())
        .try_collect()
        .await
        .unwrap();
    assert!(
        after.iter().all(|id| !before.contains(id)),
        "{before:?} then {after:?}"
    );
    assert_eq!([before, after].concat(), vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn an_empty_or_missing_token_ends_the_stream() {
    for paging in [
        json!({"nextPageToken": ""}),
        json!({}),
        serde_json::Value::Null,
    ] {
        let server = MockServer::start_async().await;
        let mut body = page_json([1, 2, 3], None);
        if !paging.is_null() {
            body["result"]["paging"] = paging.clone();
        }
        let mock = server
            .mock_async(|when, then| {
                when.method(POST);
                then.status(200).json_body(body.clone());
            })
            .await;
        let chats: Vec<_> = client(&server.base_url())
            .chats(42)
            .stream()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chats.len(), 3, "{paging}");
        assert_eq!(mock.calls_async().await, 1, "{paging}");
    }
}

/// Promise: a stream sends nothing before its first poll, reads no page
/// ahead of what was consumed, and sends nothing once dropped. Each count is
/// read from the server once the stream under test was dropped: it has
/// sent all it ever will.
#[tokio::test]
async fn dropping_the_stream_sends_no_more_requests_and_nothing_is_read_ahead() {
    let (server, hits) = paging_server(100).await;
    let client = client(&server.base_url());
    let stream = || {
        client
            .chats(42)
            .page_size(PageSize::new(5).unwrap())
            .stream()
    };
    drop(stream());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing is sent before the first poll"
    );
    // The first page's five chats, then dropped.
    let mut first = stream();
    for _ in 0..5 {
        first.try_next().await.unwrap().unwrap();
    }
    drop(first);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one page consumed, one request, no read-ahead"
    );
    // One chat of the second page, then dropped.
    let mut second = stream();
    for _ in 0..6 {
        second.try_next().await.unwrap().unwrap();
    }
    drop(second);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "two pages for the second stream, and no request after it was dropped"
    );
}

#[tokio::test]
async fn bad_page_size_and_business_id_zero_send_nothing() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(page_json([], None));
        })
        .await;

    let error = PageSize::new(21).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }));
    assert!(error.to_string().contains("between 1 and 20"), "{error}");
    assert!(PageSize::new(0).is_err());

    let client = client(&server.base_url());
    let mut stream = client.chats(0).stream();
    let first = stream.next().await.unwrap();
    assert!(
        matches!(first, Err(Error::InvalidInput { .. })),
        "{first:?}"
    );
    assert!(stream.next().await.is_none());
    assert!(client.chats(0).page(None).await.is_err());
    #[allow(deprecated)]
    let zero_order = client.chats(42).order_ids([0]).page(None).await;
    assert!(matches!(zero_order, Err(Error::InvalidInput { .. })));
    assert!(
        client
            .chats(42)
            .max_pages(0)
            .pages()
            .next()
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(any.calls_async().await, 0);
}

#[tokio::test]
async fn a_history_page_whose_deprecated_order_id_is_negative_is_yielded() {
    // The top-level `orderId` is deprecated, `int64` without a minimum in the
    // official spec: a negative one never fails the page.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/businesses/42/chats/history");
            then.json_body(json!({"status": "OK", "result": {
                "orderId": -5,
                "context": {"type": "ORDER", "orderId": 9},
                "messages": [{"messageId": 1, "createdAt": "2025-01-01T10:00:00+03:00", "sender": "CUSTOMER"}]
            }}));
        })
        .await;
    let page = client(&server.base_url())
        .chat(42, 7)
        .history()
        .page(None)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.context.order_id.map(|id| id.get()), Some(9));
}
