//! The generated client (`yandex-market-chats-api`) sends exactly what the
//! fragment says and parses what the API sends today.
//!
//! The mocks are the typed ones of `yandex-market-chats-httpmock`, generated
//! from the same fragment: a path, a query name or a response type that
//! the client and the mocks disagree on fails here. What the types cannot say
//! (the auth header, the exact JSON on the wire, unknown fields, a `null`)
//! goes through `into_inner()`.

use std::num::NonZeroU32;

use httpmock::prelude::*;
use serde_json::json;
use yandex_market_chats_api::request_context::{RequestContext, capture};
use yandex_market_chats_api::types::{
    ApiErrorResponse, ChatContext, CreateChatRequest, CreateChatResponse, GetChatHistoryRequest,
    GetChatHistoryResponse, GetChatMessageResponse, GetChatResponse, GetChatsRequest,
    SendMessageToChatRequest,
};
use yandex_market_chats_api::{Client, Error, open_enums};
use yandex_market_chats_httpmock::MockServerExt;
use yandex_market_chats_httpmock::operations::GetChatsThen;

fn client(server: &MockServer) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("api-key", "test-key".parse().unwrap());
    Client::new_with_client(
        &server.base_url(),
        reqwest::Client::new(),
        RequestContext::new(std::sync::Arc::new(headers)),
    )
}

/// A typed value from the JSON the API sends, so that a test names only the
/// top-level types.
fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

fn page_body() -> serde_json::Value {
    json!({
        "status": "OK",
        "result": {
            "chats": [
                {
                    "chatId": 11,
                    "orderId": 5,
                    "context": {
                        "type": "DIRECT",
                        "customer": { "name": "Ivan", "publicId": "ivan-p" },
                        "campaignId": 77,
                        "somethingNew": true
                    },
                    "type": "CHAT",
                    "status": "WAITING_FOR_SOMETHING_NEW",
                    "createdAt": "2017-11-21T00:00:00+03:00",
                    "updatedAt": "1966-10-16T04:42:38.0Z",
                    "unknownField": [1, 2, 3]
                },
                {
                    "chatId": 12,
                    "context": { "type": "RETURN", "orderId": 6, "returnId": 7 },
                    "type": "ARBITRAGE",
                    "status": "NEW",
                    "createdAt": "2024-01-02T03:04:05+05:00",
                    "updatedAt": "2024-01-02T03:04:06+05:00"
                }
            ],
            "paging": { "nextPageToken": "next-1" }
        }
    })
}

#[tokio::test]
async fn sends_method_path_query_body_and_auth_header() {
    let server = MockServer::start_async().await;
    let mock = server.get_chats(|when, then| {
        let when = when
            .business_id(42)
            .limit(NonZeroU32::new(20))
            .page_token("tok-1");
        // The wire JSON as written here, not the request type's own serialization.
        when.into_inner()
            .header("api-key", "test-key")
            .header_missing("api-version")
            .json_body(json!({
                "statuses": ["NEW"],
                "contexts": [{ "type": "ORDER", "id": 9 }]
            }));
        then.into_inner().status(200).json_body(page_body());
    });

    let body = GetChatsRequest {
        statuses: Some(vec![open_enums::ChatStatus::New]),
        contexts: Some(vec![ChatContext {
            type_: open_enums::ChatContextIdentifiableType::Order,
            id: 9.into(),
        }]),
        ..Default::default()
    };
    let response = client(&server)
        .get_chats()
        .business_id(42u64)
        .limit(20u32)
        .page_token("tok-1")
        .body(body)
        .send()
        .await
        .expect("the mock matches");
    mock.assert_async().await;
    assert_eq!(response.into_inner().result.unwrap().chats.len(), 2);
}

#[tokio::test]
async fn sends_an_empty_object_and_no_optional_query_without_filters() {
    let server = MockServer::start_async().await;
    let mock = server.get_chats(|when, then| {
        let when = when.business_id(1).limit(None).page_token(None);
        when.into_inner().json_body(json!({}));
        then.ok(&typed(json!({"status": "OK", "result": {"chats": []}})));
    });
    client(&server)
        .get_chats()
        .business_id(1u64)
        .body(GetChatsRequest::default())
        .send()
        .await
        .unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn parses_today_s_api_unknown_values_and_offsets() {
    let server = MockServer::start_async().await;
    server.get_chats(|when, then| {
        when.business_id(42);
        // Unknown fields and values: only raw JSON can carry them.
        then.into_inner()
            .status(200)
            .header("X-RateLimit-Resource-Remaining", "4999")
            .json_body(page_body());
    });
    let api = client(&server);
    let (response, info) = capture(
        api.get_chats()
            .business_id(42u64)
            .body(GetChatsRequest::default())
            .send(),
    )
    .await;
    let response = response.unwrap();
    assert_eq!(response.headers()["x-ratelimit-resource-remaining"], "4999");
    let result = response.into_inner().result.unwrap();
    let first = &result.chats[0];
    assert_eq!(first.chat_id.get(), 11);
    assert_eq!(
        first.status,
        open_enums::ChatStatus::Unknown("WAITING_FOR_SOMETHING_NEW".into())
    );
    assert_eq!(first.status.to_string(), "WAITING_FOR_SOMETHING_NEW");
    assert_eq!(first.context.type_, open_enums::ChatContextType::Direct);
    let customer = first.context.customer.as_ref().unwrap();
    assert_eq!(customer.name.as_deref(), Some("Ivan"));
    assert_eq!(customer.public_id.as_deref(), Some("ivan-p"));
    assert_eq!(first.context.campaign_id.map(|c| c.get()), Some(77));
    assert_eq!(first.created_at.to_rfc3339(), "2017-11-21T00:00:00+03:00");
    assert_eq!(first.created_at.offset().local_minus_utc(), 3 * 3600);
    assert_eq!(first.updated_at.offset().local_minus_utc(), 0);
    // The unknown value serializes back unchanged, offsets too.
    let back = serde_json::to_value(first).unwrap();
    assert_eq!(back["status"], "WAITING_FOR_SOMETHING_NEW");
    assert_eq!(back["createdAt"], "2017-11-21T00:00:00+03:00");
    assert_eq!(result.chats[1].context.return_id.map(|r| r.get()), Some(7));
    assert_eq!(
        result.paging.unwrap().next_page_token.as_deref(),
        Some("next-1")
    );
    // The post hook recorded the status; a success's headers stay on the response.
    assert_eq!(info.status().map(|s| s.as_u16()), Some(200));
    assert!(info.error_headers().is_none());
}

/// An error body: typed where the type can say it, raw JSON where it cannot.
enum ErrorBody {
    Typed(ApiErrorResponse),
    Raw(serde_json::Value),
}

impl ErrorBody {
    fn json(&self) -> serde_json::Value {
        match self {
            Self::Typed(body) => serde_json::to_value(body).unwrap(),
            Self::Raw(body) => body.clone(),
        }
    }
}

/// The typed response method for `status`; 420 has no reason phrase, so it
/// is its class's.
fn error_response(then: GetChatsThen, status: u16, body: &ErrorBody) {
    let body = match body {
        ErrorBody::Typed(body) => body,
        ErrorBody::Raw(json) => {
            then.into_inner().status(status).json_body(json.clone());
            return;
        }
    };
    match status {
        400 => then.bad_request(body),
        401 => then.unauthorized(body),
        403 => then.forbidden(body),
        404 => then.not_found(body),
        500 => then.internal_server_error(body),
        other => then.client_error(other, body),
    };
}

#[tokio::test]
async fn parses_every_error_status_with_errors_as_list_null_or_missing() {
    let bodies = [
        ErrorBody::Typed(typed(
            json!({"status": "ERROR", "errors": [{"code": "BAD_REQUEST", "message": "limit is too big"}]}),
        )),
        // A typed body leaves a `None` out; only raw JSON sends `null`.
        ErrorBody::Raw(json!({"status": "ERROR", "errors": null})),
        ErrorBody::Typed(typed(json!({"status": "ERROR"}))),
        ErrorBody::Typed(typed(
            json!({"error": {"code": 403, "message": "Token is invalid"}}),
        )),
    ];
    assert_eq!(bodies[1].json(), json!({"status": "ERROR", "errors": null}));
    assert_eq!(
        bodies[2].json(),
        json!({"status": "ERROR"}),
        "errors missing"
    );
    for status in [400u16, 401, 403, 404, 420, 500] {
        for body in &bodies {
            let server = MockServer::start_async().await;
            let mock = server.get_chats(|when, then| {
                when.business_id(42);
                error_response(then, status, body);
            });
            let api = client(&server);
            let (result, info) = capture(
                api.get_chats()
                    .business_id(42u64)
                    .body(GetChatsRequest::default())
                    .send(),
            )
            .await;
            let error = result.unwrap_err();
            let body = body.json();
            let Error::ErrorResponse(response) = error else {
                panic!("{status} {body}: expected a typed error response, got {error:?}");
            };
            mock.assert_async().await;
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(info.status().map(|s| s.as_u16()), Some(status));
            assert!(info.error_headers().is_some());
            let parsed = response.into_inner();
            match &body["errors"] {
                serde_json::Value::Array(_) => {
                    assert_eq!(parsed.errors.unwrap()[0].code, "BAD_REQUEST");
                }
                _ => assert!(parsed.errors.is_none()),
            }
            if body.get("error").is_some() {
                assert_eq!(parsed.error.unwrap().code, Some(403));
            }
        }
    }
}

/// The typed mocks' 420s are the API's error body with its rate-limit
/// headers, as the generated client decodes an error response.
#[tokio::test]
async fn the_typed_420s_decode_as_the_api_s_error_with_rate_limit_headers() {
    for parallel in [false, true] {
        let server = MockServer::start_async().await;
        let mock = server.get_chats(|when, then| {
            when.business_id(42);
            if parallel {
                then.parallel_limit();
            } else {
                then.quota_spent(std::time::Duration::from_secs(30));
            }
        });
        let (result, info) = capture(
            client(&server)
                .get_chats()
                .business_id(42u64)
                .body(GetChatsRequest::default())
                .send(),
        )
        .await;
        let Err(Error::ErrorResponse(response)) = result else {
            panic!("expected an error response, got {result:?}");
        };
        mock.assert_async().await;
        assert_eq!(response.status().as_u16(), 420);
        let headers = info.error_headers().expect("the error's headers");
        assert_eq!(headers["x-ratelimit-resource-limit"], "5000");
        let remaining = &headers["x-ratelimit-resource-remaining"];
        assert_eq!(remaining == "0", !parallel, "{remaining:?}");
        assert!(headers.contains_key("x-ratelimit-resource-until"));
        let body = response.into_inner();
        assert_eq!(body.status, Some(open_enums::ApiResponseStatusType::Error));
        assert_eq!(body.errors.unwrap()[0].code, "LIMIT_EXCEEDED");
    }
}

#[tokio::test]
async fn every_other_operation_s_typed_mock_matches_what_the_client_sends() {
    let server = MockServer::start_async().await;
    let api = client(&server);
    let chat = json!({
        "chatId": 12,
        "context": { "type": "RETURN", "orderId": 6, "returnId": 7 },
        "type": "ARBITRAGE",
        "status": "NEW",
        "createdAt": "2024-01-02T03:04:05+05:00",
        "updatedAt": "2024-01-02T03:04:06+05:00"
    });
    let message = json!({
        "messageId": 700,
        "createdAt": "2024-01-02T03:04:05+05:00",
        "sender": "CUSTOMER",
        "message": "Hello",
        "payload": [{ "name": "a.pdf", "url": "https://example.invalid/a.pdf", "size": 3 }]
    });

    // createChat
    let request: CreateChatRequest = typed(json!({"context": {"type": "ORDER", "id": 9}}));
    let created: CreateChatResponse = typed(json!({"status": "OK", "result": {"chatId": 12}}));
    let mock = server.create_chat(|when, then| {
        when.business_id(42).body(&request);
        then.ok(&created);
    });
    let response = api
        .create_chat()
        .business_id(42u64)
        .body(request.clone())
        .send()
        .await;
    assert_eq!(response.unwrap().into_inner(), created);
    mock.assert_async().await;

    // getChat
    let got: GetChatResponse = typed(json!({"status": "OK", "result": chat}));
    let get_chat = server.get_chat(|when, then| {
        when.business_id(42).chat_id(12);
        then.ok(&got);
    });
    let response = api
        .get_chat()
        .business_id(42u64)
        .chat_id(12u64)
        .send()
        .await;
    assert_eq!(response.unwrap().into_inner(), got);
    get_chat.assert_async().await;

    // getChatHistory
    let request: GetChatHistoryRequest = typed(json!({"messageIdFrom": 650}));
    let history: GetChatHistoryResponse = typed(json!({
        "status": "OK",
        "result": {
            "context": { "type": "ORDER", "orderId": 9 },
            "messages": [message],
            "paging": { "nextPageToken": "next-2" }
        }
    }));
    let mock = server.get_chat_history(|when, then| {
        when.business_id(42)
            .chat_id(12)
            .limit(NonZeroU32::new(100))
            .page_token("next-1")
            .body(&request);
        then.ok(&history);
    });
    let response = api
        .get_chat_history()
        .business_id(42u64)
        .chat_id(12u64)
        .limit(100u32)
        .page_token("next-1")
        .body(request.clone())
        .send()
        .await;
    assert_eq!(response.unwrap().into_inner(), history);
    mock.assert_async().await;

    // getChatMessage and sendMessageToChat share a path; the method tells them apart.
    let one: GetChatMessageResponse = typed(json!({"status": "OK", "result": message}));
    let get = server.get_chat_message(|when, then| {
        when.business_id(42).chat_id(12).message_id(700);
        then.ok(&one);
    });
    let request: SendMessageToChatRequest = typed(json!({"message": "Hello!"}));
    let send = server.send_message_to_chat(|when, then| {
        when.business_id(42).chat_id(12).body(&request);
        then.ok(&typed(json!({"status": "OK"})));
    });
    let response = api
        .get_chat_message()
        .business_id(42u64)
        .chat_id(12u64)
        .message_id(700u64)
        .send()
        .await;
    assert_eq!(response.unwrap().into_inner(), one);
    let response = api
        .send_message_to_chat()
        .business_id(42u64)
        .chat_id(12u64)
        .body(request.clone())
        .send()
        .await;
    assert_eq!(
        response.unwrap().into_inner().status,
        open_enums::ApiResponseStatusType::Ok
    );
    get.assert_async().await;
    send.assert_async().await;

    // A typed mock matches its parameters: another business's chat is another mock.
    let other = server.get_chat(|when, then| {
        when.business_id(43).chat_id(12);
        then.not_found(&typed(json!({"status": "ERROR"})));
    });
    let api = client(&server);
    let error = api
        .get_chat()
        .business_id(43u64)
        .chat_id(12u64)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::ErrorResponse(r) if r.status().as_u16() == 404),
        "{error:?}"
    );
    other.assert_async().await;
    assert_eq!(get_chat.calls_async().await, 1);
}

#[test]
fn open_enums_round_trip_and_list_known_values() {
    use open_enums::{ChatContextType, ChatStatus, ChatType};
    for value in ["NEW", "FINISHED", "SOMETHING_ELSE"] {
        let parsed: ChatStatus = serde_json::from_value(json!(value)).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), json!(value));
        assert_eq!(parsed.to_string(), value);
    }
    assert_eq!(ChatStatus::KNOWN.len(), 6);
    assert_eq!(ChatType::KNOWN, &[ChatType::Chat, ChatType::Arbitrage]);
    assert!(ChatContextType::KNOWN.contains(&ChatContextType::Direct));
    assert!("LATER".parse::<ChatType>().unwrap().is_unknown());
}

/// The history's top-level `orderId` is deprecated and, in the official
/// spec, an `int64` without a minimum: whatever it holds, the page decodes.
#[tokio::test]
async fn a_history_page_with_a_negative_deprecated_order_id_decodes() {
    for order_id in [json!(-5), json!(0), json!(i64::MIN), json!(51_234_567)] {
        let server = MockServer::start_async().await;
        let body = json!({
            "status": "OK",
            "result": {
                "orderId": order_id,
                "context": { "type": "ORDER", "orderId": 9 },
                "messages": [{
                    "messageId": 700,
                    "createdAt": "2024-01-02T03:04:05+05:00",
                    "sender": "CUSTOMER",
                    "message": "Hello"
                }]
            }
        });
        let mock = server.get_chat_history(|when, then| {
            when.business_id(42).chat_id(12);
            then.into_inner().status(200).json_body(body.clone());
        });
        let page = client(&server)
            .get_chat_history()
            .business_id(42u64)
            .chat_id(12u64)
            .body(GetChatHistoryRequest::default())
            .send()
            .await
            .unwrap_or_else(|e| panic!("orderId {order_id}: {e:?}"))
            .into_inner();
        let result = page.result.expect("a result");
        assert_eq!(result.messages.len(), 1, "orderId {order_id}");
        #[allow(deprecated)]
        let kept = serde_json::to_value(result.order_id).unwrap();
        assert_eq!(kept, order_id, "kept as sent");
        mock.assert_async().await;
    }
}
