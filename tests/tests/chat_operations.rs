//! The single-chat operations: request shapes, limits, errors, and the
//! write-retry rule.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{KEY, Reply, client, json_response, raw_server};
use futures::TryStreamExt;
use httpmock::HttpMockRequest;
use httpmock::prelude::*;
use serde_json::json;
use yandex_market_chats::{
    ChatContext, ChatContextIdentifiableType, ChatMessageSender, ChatTarget, Client, Error,
    HistoryPageSize, Operation, RetryPolicy,
};
use yandex_market_chats_sandbox::{Fault, Sandbox, SandboxConfig};

fn message_json(id: u64) -> serde_json::Value {
    json!({"messageId": id, "createdAt": "2025-01-01T10:00:00+03:00", "sender": "CUSTOMER", "message": format!("m{id}")})
}

#[tokio::test]
async fn reads_send_what_the_spec_says() {
    let server = MockServer::start_async().await;
    let get_chat = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/businesses/42/chat")
                .query_param("chatId", "7")
                .header("api-key", KEY);
            then.status(200)
                .json_body(json!({"status": "OK", "result": common::chat_json(7)}));
        })
        .await;
    let get_message = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/businesses/42/chats/message")
                .query_param("chatId", "7")
                .query_param("messageId", "99");
            then.status(200)
                .json_body(json!({"status": "OK", "result": message_json(99)}));
        })
        .await;
    let history = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats/history")
                .query_param("chatId", "7")
                .query_param("limit", "50")
                .json_body(json!({"messageIdFrom": 3}));
            then.status(200)
                .json_body(json!({"status": "OK", "result": {
                    "context": {"type": "DIRECT"}, "messages": [message_json(3), message_json(4)]
                }}));
        })
        .await;
    let client = client(&server.base_url());
    let chat = client.chat(42, 7);
    assert_eq!(chat.get().await.unwrap().chat_id.get(), 7);
    let message = chat.message(99).await.unwrap();
    assert_eq!(message.sender, ChatMessageSender::Customer);
    assert_eq!(message.created_at.to_rfc3339(), "2025-01-01T10:00:00+03:00");
    let messages: Vec<_> = chat
        .history()
        .message_id_from(3)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        messages
            .iter()
            .map(|m| m.message_id.get())
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    get_chat.assert_async().await;
    get_message.assert_async().await;
    history.assert_async().await;
}

#[tokio::test]
async fn writes_send_what_the_spec_says() {
    let server = MockServer::start_async().await;
    let send = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats/message")
                .query_param("chatId", "7")
                .header("api-key", KEY)
                .json_body(json!({"message": "Привет, hello"}));
            then.status(200).json_body(json!({"status": "OK"}));
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats/new")
                .json_body(json!({"context": {"type": "RETURN", "id": 555}}));
            then.status(200)
                .json_body(json!({"status": "OK", "result": {"chatId": 8}}));
        })
        .await;
    let file = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats/file/send")
                .query_param("chatId", "7")
                .header("api-key", KEY)
                .header_matches("content-type", "^multipart/form-data; boundary=")
                .body_includes("name=\"file\"; filename=\"photo.jpg\"")
                .body_includes("image/jpeg")
                .body_includes("JPEGDATA");
            then.status(200).json_body(json!({"status": "OK"}));
        })
        .await;
    let client = client(&server.base_url());
    client
        .chat(42, 7)
        .send_message("Привет, hello")
        .await
        .unwrap();
    let context = ChatContext {
        type_: ChatContextIdentifiableType::Return,
        id: 555.into(),
    };
    let created = client.create_chat(42, context).await.unwrap();
    assert_eq!((created.business_id(), created.id()), (42, 8));
    client
        .chat(42, 7)
        .send_file("photo.jpg", b"JPEGDATA".to_vec())
        .await
        .unwrap();
    send.assert_async().await;
    create.assert_async().await;
    file.assert_async().await;
}

#[tokio::test]
async fn limits_are_checked_before_any_request() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!({"status": "OK"}));
        })
        .await;
    let client = client(&server.base_url());
    let chat = client.chat(42, 7);
    let too_long = "ы".repeat(4097);
    let cases = vec![
        chat.send_message("").await,
        chat.send_message(too_long).await,
        chat.send_file("big.bin", vec![0u8; 5 * 1024 * 1024 + 1])
            .await,
        chat.send_file("empty.bin", Vec::new()).await,
        chat.send_file("", b"x".to_vec()).await,
        client.chat(0, 7).send_message("hi").await,
        client.chat(42, 0).get().await.map(drop),
        chat.message(0).await.map(drop),
        chat.history().message_id_from(0).page(None).await.map(drop),
    ];
    for (i, case) in cases.into_iter().enumerate() {
        assert!(
            matches!(case, Err(Error::InvalidInput { .. })),
            "case {i}: {case:?}"
        );
    }
    assert!(HistoryPageSize::new(101).is_err());
    assert!(HistoryPageSize::new(0).is_err());
    assert_eq!(HistoryPageSize::default().get(), 50);
    // 4,096 characters of a multi-byte letter are fine.
    chat.send_message("ы".repeat(4096)).await.unwrap();
    assert_eq!(any.calls_async().await, 1);
}

/// A server answering `first` to the first request and 200 after.
async fn once_then_ok(
    first: impl Fn() -> httpmock::HttpMockResponse + Send + Sync + 'static,
) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start_async().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    server
        .mock_async(move |when, then| {
            when.any_request();
            then.respond_with(move |_: &HttpMockRequest| {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    first()
                } else {
                    json_response(200, &json!({"status": "OK"}))
                }
            });
        })
        .await;
    (server, hits)
}

#[tokio::test]
async fn a_write_is_not_retried_after_a_5xx_and_says_the_outcome_is_unknown() {
    let (server, hits) =
        once_then_ok(|| json_response(500, &json!({"errors": [{"code": "INTERNAL_ERROR"}]}))).await;
    let error = client(&server.base_url())
        .chat(42, 7)
        .send_message("hi")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::OutcomeUnknown {
                operation: Operation::SendMessageToChat,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("outcome unknown"), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(error.status(), Some(500));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "a write is never repeated after a 5xx"
    );
    // A read is retried on the same answer (the second answer has no
    // `result`, which getChatMessage reports as such).
    let (server, hits) = once_then_ok(|| json_response(500, &json!({}))).await;
    let read = client(&server.base_url()).chat(42, 7).message(1).await;
    assert!(
        matches!(&read, Err(Error::Decode { status: 200, .. })),
        "{read:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_write_refused_with_420_is_retried() {
    let (server, hits) = once_then_ok(|| {
        httpmock::HttpMockResponse::builder()
            .status(420)
            .header("X-RateLimit-Resource-Remaining", "10")
            .body(r#"{"errors":[{"code":"LIMIT_EXCEEDED","message":"Hit rate limit of 4 parallel requests"}]}"#)
            .build()
    })
    .await;
    client(&server.base_url())
        .chat(42, 7)
        .send_message("hi")
        .await
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_dropped_connection_or_a_timeout_after_sending_is_an_unknown_outcome() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let dropping = raw_server(move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Reply::Drop }
    })
    .await;
    let error = client(&dropping)
        .chat(42, 7)
        .send_message("hi")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::OutcomeUnknown { cause, .. } if matches!(**cause, Error::Transport { .. })),
        "{error:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let slow = raw_server(|_, _| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Reply::Respond(200, vec![], br#"{"status":"OK"}"#.to_vec())
    })
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&slow)
        .attempt_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client.chat(42, 7).send_message("hi").await.unwrap_err();
    assert!(
        matches!(&error, Error::OutcomeUnknown { cause, .. } if matches!(**cause, Error::Timeout { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_write_that_never_connected_is_retried_and_reported_as_not_sent() {
    // Nothing listens on this port: every attempt is refused before sending.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&base)
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(2)),
        )
        .build()
        .unwrap();
    let error = client.chat(42, 7).send_message("hi").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                before_sending: true,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_read_only_key_that_sends_is_told_it_lacks_the_scope() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(3)
            .read_only_api_key("read-only-key"),
    )
    .unwrap();
    let reader = Client::builder()
        .api_key("read-only-key")
        .base_url(sandbox.base_url())
        .build()
        .unwrap();
    let chat_id = sandbox.chats()[0].chat_id.get();
    let chat = reader.chat(sandbox.business_id(), chat_id);
    chat.get().await.unwrap();
    let error = chat.send_message("hi").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::MissingScope {
                operation: Operation::SendMessageToChat,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_auth());
    // The client's own words, not the sandbox's message.
    assert!(
        error
            .to_string()
            .starts_with("sendMessageToChat needs an API key with the communication or all-methods scope; this key lacks it"),
        "{error}"
    );
    assert!(
        sandbox
            .messages(chat_id)
            .iter()
            .all(|m| m.message.as_deref() != Some("hi"))
    );
}

#[tokio::test]
async fn per_operation_quotas_are_shared_by_clones_and_configurable() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(2)).unwrap();
    let client = sandbox
        .client_builder()
        .operation_quota(Operation::SendMessageToChat, Some(2))
        .build()
        .unwrap();
    let clone = client.clone();
    let chat_id = sandbox.chats()[0].chat_id.get();
    client
        .chat(sandbox.business_id(), chat_id)
        .send_message("one")
        .await
        .unwrap();
    clone
        .chat(sandbox.business_id(), chat_id)
        .send_message("two")
        .await
        .unwrap();
    let error = clone
        .chat(sandbox.business_id(), chat_id)
        .send_message("three")
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { local: true, .. }),
        "{error:?}"
    );
    // Other operations have their own quota.
    clone
        .chat(sandbox.business_id(), chat_id)
        .get()
        .await
        .unwrap();
    let sent = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chats/message") && r.method == "POST")
        .count();
    assert_eq!(sent, 2, "the third message was never sent");
    assert!(
        Client::builder()
            .api_key("k")
            .operation_quota(Operation::GetChat, Some(0))
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn history_streams_every_message_in_order_and_resumes() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(5).seed(4)).unwrap();
    let client = sandbox.client().unwrap();
    let (chat_id, all) = sandbox
        .chats()
        .iter()
        .map(|c| (c.chat_id.get(), sandbox.messages(c.chat_id.get())))
        .max_by_key(|(_, m)| m.len())
        .unwrap();
    assert!(
        all.len() >= 3,
        "the seed gives a chat with several messages"
    );
    let chat = client.chat(sandbox.business_id(), chat_id);
    for size in [1, 2, 100] {
        let got: Vec<_> = chat
            .history()
            .page_size(HistoryPageSize::new(size).unwrap())
            .stream()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(got, all, "page size {size}");
    }
    let from = all[1].message_id.get();
    let got: Vec<_> = chat
        .history()
        .message_id_from(from)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got, all[1..]);

    let mut pages = chat
        .history()
        .page_size(HistoryPageSize::new(1).unwrap())
        .max_pages(1)
        .pages();
    let first = pages.try_next().await.unwrap().unwrap();
    assert_eq!(first.messages, all[..1]);
    let token = pages.next_page_token().unwrap().to_owned();
    let rest: Vec<_> = chat
        .history()
        .page_size(HistoryPageSize::new(1).unwrap())
        .resume_from(token)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest, all[1..]);

    // Sent messages appear in the history; faults on history are survived.
    chat.send_message("a reply").await.unwrap();
    sandbox.fail_next(1, Fault::InternalError);
    let after: Vec<_> = chat.history().stream().try_collect().await.unwrap();
    assert_eq!(after.last().unwrap().message.as_deref(), Some("a reply"));
    assert_eq!(after.last().unwrap().sender, ChatMessageSender::Partner);
}

#[tokio::test]
async fn a_repeated_history_token_is_a_pagination_loop() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/businesses/42/chats/history");
            then.json_body(json!({"status": "OK", "result": {
                "context": {"type": "ORDER"}, "messages": [message_json(1)], "paging": {"nextPageToken": "same"}
            }}));
        })
        .await;
    let items: Vec<_> =
        futures::StreamExt::collect(client(&server.base_url()).chat(42, 7).history().stream())
            .await;
    // The first page, then the error: the page that named "same" again is
    // not yielded (a resumed stream asks for it again).
    assert_eq!(items.len(), 2);
    assert!(
        matches!(items.last().unwrap(), Err(Error::PaginationLoop { token }) if token == "same")
    );
}

#[tokio::test]
async fn create_chat_returns_the_existing_chat_or_opens_a_new_one() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(6)).unwrap();
    let client = sandbox.client().unwrap();
    let existing = sandbox
        .chats()
        .into_iter()
        .find(|c| c.context.order_id.is_some() && c.context.return_id.is_none())
        .unwrap();
    // The order id read from a response goes back as it is.
    let order_id = existing.context.order_id.unwrap();
    let chat = client
        .create_chat(sandbox.business_id(), ChatTarget::Order(order_id))
        .await
        .unwrap();
    assert_eq!(chat.id(), existing.chat_id.get());

    let chat = client
        .create_chat(sandbox.business_id(), ChatTarget::Order(99_999_999.into()))
        .await
        .unwrap();
    assert_eq!(sandbox.chats().len(), 7);
    chat.send_message("Hello about your order").await.unwrap();
    assert_eq!(
        chat.get().await.unwrap().context.order_id.map(|o| o.get()),
        Some(99_999_999)
    );
    assert_eq!(sandbox.messages(chat.id()).len(), 1);
}

// --- Issue 21: literal page sizes, ids from a database, the wire types'
// helpers, at run time. ---

#[tokio::test]
async fn a_literal_page_size_is_sent_and_one_out_of_range_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let chats = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats")
                .query_param("limit", "7");
            then.status(200)
                .json_body(json!({"status": "OK", "result": {"chats": []}}));
        })
        .await;
    let history = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats/history")
                .query_param("chatId", "10668")
                .query_param("limit", "100");
            then.status(200).json_body(
                json!({"status": "OK", "result": {"messages": [], "context": {"type": "DIRECT"}}}),
            );
        })
        .await;
    let client = client(&server.base_url());
    client.chats(42).page_size(7).page(None).await.unwrap();
    let chat = client.chat(42, 10668);
    chat.history().page_size(100).page(None).await.unwrap();
    assert_eq!(
        (chats.calls_async().await, history.calls_async().await),
        (1, 1)
    );

    let refused = [
        (
            client.chats(42).page_size(0).page(None).await.map(drop),
            "between 1 and 20",
            "got 0",
        ),
        (
            client
                .chats(42)
                .page_size(21)
                .stream()
                .try_next()
                .await
                .map(drop),
            "between 1 and 20",
            "got 21",
        ),
        (
            client
                .chats(42)
                .page_size(21)
                .pages()
                .try_next()
                .await
                .map(drop),
            "between 1 and 20",
            "got 21",
        ),
        (
            chat.history().page_size(101).page(None).await.map(drop),
            "between 1 and 100",
            "got 101",
        ),
        (
            chat.history()
                .page_size(0)
                .stream()
                .try_next()
                .await
                .map(drop),
            "between 1 and 100",
            "got 0",
        ),
    ];
    // Refused before sending: a request would have met the mock server's
    // 404 (`Error::Api`), not `InvalidInput`.
    for (i, (result, limit, got)) in refused.into_iter().enumerate() {
        let error = result.unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput { .. }),
            "case {i}: {error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains(limit) && text.contains(got),
            "case {i}: {text}"
        );
    }
    // The last size set wins, as with every setter.
    client
        .chats(42)
        .page_size(21)
        .page_size(7)
        .page(None)
        .await
        .unwrap();
    assert_eq!(
        (chats.calls_async().await, history.calls_async().await),
        (2, 1)
    );
}

#[tokio::test]
async fn ids_from_a_database_go_in_and_a_negative_one_is_a_clear_error() {
    use yandex_market_chats::{BusinessId, ChatId};

    let server = MockServer::start_async().await;
    let get_chat = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/businesses/42/chat")
                .query_param("chatId", "7");
            then.status(200)
                .json_body(json!({"status": "OK", "result": common::chat_json(7)}));
        })
        .await;
    let client = client(&server.base_url());
    async fn get(client: &Client, business_row: i64, chat_row: i64) -> Result<u64, Error> {
        let chat = client
            .chat(
                BusinessId::try_from(business_row)?,
                ChatId::try_from(chat_row)?,
            )
            .get()
            .await?;
        assert!(chat.chat_id == 7);
        assert!(7 == chat.chat_id);
        assert_eq!(chat.chat_id, 7u64);
        Ok(chat.chat_id.get())
    }
    assert_eq!(get(&client, 42, 7).await.unwrap(), 7);
    let error = get(&client, -42, 7).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("BusinessId") && text.contains("-42"),
        "{text}"
    );
    let text = get(&client, 42, -7).await.unwrap_err().to_string();
    assert!(text.contains("ChatId") && text.contains("-7"), "{text}");
    // 0 converts, as from a u64, and is refused before sending, as today.
    let error = get(&client, 0, 7).await.unwrap_err();
    assert!(error.to_string().contains("business id"), "{error}");
    assert_eq!(get_chat.calls_async().await, 1);
}

#[test]
fn a_message_s_text_and_the_wire_types_builders() {
    use yandex_market_chats::{
        Chat, ChatContextType, ChatFullContext, ChatMessage, ChatStatus, ChatType, ContextId,
        builder,
    };

    let message: ChatMessage = serde_json::from_value(message_json(5)).unwrap();
    assert_eq!(message.text(), "m5");
    let files_only = ChatMessage {
        message: None,
        ..message
    };
    assert_eq!(files_only.text(), "");

    let context: ChatContext =
        serde_json::from_value(json!({"type": "ORDER", "id": 51234567})).unwrap();
    assert_eq!(context.id, ContextId::from(51_234_567));
    assert_eq!(
        ChatTarget::from(context),
        ChatTarget::Order(51_234_567.into())
    );

    let at = yandex_market_chats::chrono::DateTime::parse_from_rfc3339("2025-03-01T09:00:00+03:00")
        .unwrap();
    let started: builder::Chat = Chat::builder()
        .chat_id(10668)
        .type_(ChatType::Chat)
        .status(ChatStatus::New)
        .created_at(at)
        .updated_at(at);
    let missing = Chat::try_from(started.clone()).unwrap_err().to_string();
    assert!(missing.contains("context"), "{missing}");
    let chat: Chat = started
        .context(ChatFullContext::builder().type_(ChatContextType::Direct))
        .try_into()
        .unwrap();
    assert!(chat.chat_id == 10668 && chat.status == ChatStatus::New);
    assert_eq!(chat.context.order_id, None);
}
