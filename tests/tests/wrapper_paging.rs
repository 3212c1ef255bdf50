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
    ChatContext, ChatContextIdentifiableType, ChatContextType, ChatStatus, ChatType, Error,
    PageSize,
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
            id: 7.try_into().unwrap(),
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
    let items: Vec<_> = client(&server.base_url())
        .chats(42)
        .stream()
        .collect()
        .await;
    let ids: Vec<u64> = items
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|c| c.chat_id.get())
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert!(matches!(items.last().unwrap(), Err(Error::PaginationLoop { token }) if token == "A"));
    assert_eq!(mock.calls_async().await, 3);
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

#[tokio::test]
async fn dropping_the_stream_sends_no_more_requests_and_nothing_is_read_ahead() {
    let (server, hits) = paging_server(100).await;
    let client = client(&server.base_url());
    let mut stream = client
        .chats(42)
        .page_size(PageSize::new(5).unwrap())
        .stream();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing is sent before the first poll"
    );
    for _ in 0..5 {
        stream.try_next().await.unwrap().unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one page consumed, one request, no read-ahead"
    );
    stream.try_next().await.unwrap().unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "no request after the stream was dropped"
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
