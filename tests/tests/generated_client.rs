//! The generated client (`yandex-market-chats-api`) sends exactly what the
//! fragment says and parses what the API sends today.

use httpmock::prelude::*;
use serde_json::json;
use yandex_market_chats_api::request_context::{RequestContext, capture};
use yandex_market_chats_api::types::{ChatContext, GetChatsRequest};
use yandex_market_chats_api::{Client, Error, open_enums};

fn client(server: &MockServer) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("api-key", "test-key".parse().unwrap());
    Client::new_with_client(
        &server.base_url(),
        reqwest::Client::new(),
        RequestContext::new(std::sync::Arc::new(headers)),
    )
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
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/42/chats")
                .query_param("limit", "20")
                .query_param("pageToken", "tok-1")
                .header("api-key", "test-key")
                .header_missing("api-version")
                .json_body(json!({
                    "statuses": ["NEW"],
                    "contexts": [{ "type": "ORDER", "id": 9 }]
                }));
            then.status(200).json_body(page_body());
        })
        .await;

    let body = GetChatsRequest {
        statuses: Some(vec![open_enums::ChatStatus::New]),
        contexts: Some(vec![ChatContext {
            type_: open_enums::ChatContextIdentifiableType::Order,
            id: 9.try_into().unwrap(),
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
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/businesses/1/chats")
                .query_param_missing("limit")
                .query_param_missing("pageToken")
                .json_body(json!({}));
            then.status(200)
                .json_body(json!({"status": "OK", "result": {"chats": []}}));
        })
        .await;
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
    server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(200)
                .header("X-RateLimit-Resource-Remaining", "4999")
                .json_body(page_body());
        })
        .await;
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

#[tokio::test]
async fn parses_every_error_status_with_errors_as_list_null_or_missing() {
    let bodies = [
        json!({"status": "ERROR", "errors": [{"code": "BAD_REQUEST", "message": "limit is too big"}]}),
        json!({"status": "ERROR", "errors": null}),
        json!({"status": "ERROR"}),
        json!({"error": {"code": 403, "message": "Token is invalid"}}),
    ];
    for status in [400u16, 401, 403, 404, 420, 500] {
        for body in &bodies {
            let server = MockServer::start_async().await;
            server
                .mock_async(|when, then| {
                    when.method(POST);
                    then.status(status).json_body(body.clone());
                })
                .await;
            let api = client(&server);
            let (result, info) = capture(
                api.get_chats()
                    .business_id(42u64)
                    .body(GetChatsRequest::default())
                    .send(),
            )
            .await;
            let error = result.unwrap_err();
            let Error::ErrorResponse(response) = error else {
                panic!("{status} {body}: expected a typed error response, got {error:?}");
            };
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
