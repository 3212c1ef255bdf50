//! Push notifications about chats: parsing every chat type, keeping unknown
//! types, precise errors, dedup keys and the reply bodies.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};
use yandex_market_chats::notifications::{
    ChatArbitrageFinished, ChatArbitrageStarted, ChatCreated, ChatMessageSent, ErrorReply,
    ErrorType, Notification, NotificationError, Ping, Reply,
};

fn parse(body: &Value) -> Result<Notification, NotificationError> {
    Notification::from_json(&serde_json::to_vec(body).unwrap())
}

fn time(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn message_sent() -> Value {
    json!({
        "notificationType": "CHAT_MESSAGE_SENT",
        "chatId": 12345678,
        "messageId": "987654321",
        "businessId": 424242,
        "sentAt": "2025-03-01T12:34:56.789+03:00"
    })
}

/// The error of a body that must be refused, checked to answer 400
/// WRONG_EVENT_FORMAT with the error's text as the message.
fn refused(body: &[u8]) -> NotificationError {
    let error = Notification::from_json(body).unwrap_err();
    let reply = error.reply();
    assert_eq!(reply.status(), 400);
    assert_eq!(reply.error.type_, ErrorType::WrongEventFormat);
    assert_eq!(
        reply.error.message.as_deref(),
        Some(error.to_string().as_str())
    );
    error
}

#[test]
fn ping_is_parsed_with_and_without_time() {
    let n =
        parse(&json!({"notificationType": "PING", "time": "2025-03-01T09:00:00.213Z"})).unwrap();
    let Notification::Ping(ping) = &n else {
        panic!("{n:?}")
    };
    assert_eq!(ping.time, Some(time("2025-03-01T09:00:00.213Z")));
    assert_eq!(n.notification_type(), "PING");
    assert_eq!(n.dedup_key(), None);
    assert_eq!(n.chat_id(), None);
    assert_eq!(n.response_timeout().as_secs(), 1);

    // The spec marks no PING field as required.
    let n = parse(&json!({"notificationType": "PING"})).unwrap();
    assert!(matches!(n, Notification::Ping(Ping { time: None, .. })));
}

#[test]
fn chat_created_is_parsed_and_keeps_the_offset() {
    let n = parse(&json!({
        "notificationType": "CHAT_CREATED",
        "chatId": 12345678,
        "businessId": 424242,
        "createdAt": "2025-03-01T12:00:00+03:00",
        "someFieldAddedLater": {"nested": true}
    }))
    .unwrap();
    let Notification::ChatCreated(c) = &n else {
        panic!("{n:?}")
    };
    assert_eq!(c.chat_id, 12345678);
    assert_eq!(c.business_id, 424242);
    assert_eq!(c.created_at, time("2025-03-01T12:00:00+03:00"));
    assert_eq!(c.created_at.offset().local_minus_utc(), 3 * 3600);
    assert_eq!(c.created_at.to_rfc3339(), "2025-03-01T12:00:00+03:00");
    assert_eq!(n.notification_type(), "CHAT_CREATED");
    assert_eq!(n.dedup_key().as_deref(), Some("CHAT_CREATED:12345678"));
    assert_eq!(n.chat_id(), Some(12345678));
    assert_eq!(n.business_id(), Some(424242));
    assert_eq!(n.response_timeout().as_secs(), 10);
}

#[test]
fn chat_message_sent_has_a_string_message_id() {
    let n = parse(&message_sent()).unwrap();
    let Notification::ChatMessageSent(m) = &n else {
        panic!("{n:?}")
    };
    assert_eq!(m.chat_id, 12345678);
    assert_eq!(m.message_id, "987654321");
    assert_eq!(m.message_id_u64(), Some(987654321));
    assert_eq!(m.business_id, 424242);
    assert_eq!(m.sent_at, time("2025-03-01T12:34:56.789+03:00"));
    assert_eq!(m.sent_at.offset().local_minus_utc(), 3 * 3600);
    assert_eq!(n.notification_type(), "CHAT_MESSAGE_SENT");
    assert_eq!(
        n.dedup_key().as_deref(),
        Some("CHAT_MESSAGE_SENT:12345678:987654321")
    );

    // Serializes back with the API's names, messageId still a string.
    let back = serde_json::to_value(m).unwrap();
    assert_eq!(back["messageId"], "987654321");
    assert_eq!(back["sentAt"], "2025-03-01T12:34:56.789+03:00");
    assert_eq!(serde_json::from_value::<ChatMessageSent>(back).unwrap(), *m);

    // A non-numeric id is kept as sent; an integer id is accepted as text.
    let mut body = message_sent();
    body["messageId"] = json!("msg-abc");
    let Notification::ChatMessageSent(m) = parse(&body).unwrap() else {
        panic!()
    };
    assert_eq!(m.message_id, "msg-abc");
    assert_eq!(m.message_id_u64(), None);
    body["messageId"] = json!(987654321);
    assert_eq!(parse(&body).unwrap(), parse(&message_sent()).unwrap());
}

#[test]
fn arbitrage_started_and_finished_are_parsed() {
    let n = parse(&json!({
        "notificationType": "CHAT_ARBITRAGE_STARTED",
        "chatId": 77,
        "businessId": 5,
        "startedAt": "2025-03-02T08:15:00+05:00"
    }))
    .unwrap();
    let Notification::ChatArbitrageStarted(a) = &n else {
        panic!("{n:?}")
    };
    assert_eq!((a.chat_id, a.business_id), (77, 5));
    assert_eq!(a.started_at.to_rfc3339(), "2025-03-02T08:15:00+05:00");
    assert_eq!(n.notification_type(), "CHAT_ARBITRAGE_STARTED");
    assert_eq!(
        n.dedup_key().as_deref(),
        Some("CHAT_ARBITRAGE_STARTED:77:2025-03-02T03:15:00Z")
    );

    let n = parse(&json!({
        "notificationType": "CHAT_ARBITRAGE_FINISHED",
        "chatId": 77,
        "businessId": 5,
        "finishedAt": "2025-03-04T18:00:00.5-02:30"
    }))
    .unwrap();
    let Notification::ChatArbitrageFinished(a) = &n else {
        panic!("{n:?}")
    };
    assert_eq!((a.chat_id, a.business_id), (77, 5));
    assert_eq!(a.finished_at.offset().local_minus_utc(), -(2 * 3600 + 1800));
    assert_eq!(n.notification_type(), "CHAT_ARBITRAGE_FINISHED");
    assert_eq!(
        n.dedup_key().as_deref(),
        Some("CHAT_ARBITRAGE_FINISHED:77:2025-03-04T20:30:00.500Z")
    );
}

#[test]
fn payload_structs_round_trip_through_serde() {
    let created: ChatCreated = serde_json::from_value(json!({
        "chatId": 1, "businessId": 2, "createdAt": "2025-01-01T00:00:00+03:00"
    }))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&created).unwrap(),
        json!({"chatId": 1, "businessId": 2, "createdAt": "2025-01-01T00:00:00+03:00"})
    );
    let started: ChatArbitrageStarted = serde_json::from_value(json!({
        "chatId": 1, "businessId": 2, "startedAt": "2025-01-01T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(started.started_at.offset().local_minus_utc(), 0);
    let finished: ChatArbitrageFinished = serde_json::from_value(json!({
        "chatId": 1, "businessId": 2, "finishedAt": "2025-01-01T00:00:00+03:00"
    }))
    .unwrap();
    assert_eq!(
        serde_json::from_value::<ChatArbitrageFinished>(serde_json::to_value(&finished).unwrap())
            .unwrap(),
        finished
    );
}

#[test]
fn unknown_types_are_kept_with_their_raw_json() {
    let order = json!({
        "notificationType": "ORDER_CREATED",
        "orderId": 5550001,
        "campaignId": 21,
        "items": [{"offerId": "SKU-1", "count": 2}],
        "createdAt": "2025-03-01T12:00:00+03:00"
    });
    let n = parse(&order).unwrap();
    assert_eq!(
        n,
        Notification::Other {
            notification_type: "ORDER_CREATED".to_owned(),
            body: order.clone(),
        }
    );
    assert_eq!(n.notification_type(), "ORDER_CREATED");
    assert_eq!(n.dedup_key(), None);
    assert_eq!(n.chat_id(), None);

    // A type invented after this crate, with any payload at all.
    let future = json!({"notificationType": "CHAT_REACTION_ADDED", "whatever": [1, 2, 3]});
    let Notification::Other {
        notification_type,
        body,
    } = parse(&future).unwrap()
    else {
        panic!()
    };
    assert_eq!(notification_type, "CHAT_REACTION_ADDED");
    assert_eq!(body, future);

    // The framework-decoded entry point agrees.
    assert_eq!(Notification::from_value(order.clone()).unwrap(), n);
}

#[test]
fn a_missing_field_is_named() {
    let mut body = message_sent();
    body.as_object_mut().unwrap().remove("chatId");
    let error = refused(&serde_json::to_vec(&body).unwrap());
    assert_eq!(
        error.to_string(),
        "CHAT_MESSAGE_SENT notification: field `chatId` is missing"
    );
    match error {
        NotificationError::WrongFormat {
            notification_type,
            field,
            ..
        } => {
            assert_eq!(notification_type, "CHAT_MESSAGE_SENT");
            assert_eq!(field.as_deref(), Some("chatId"));
        }
        other => panic!("{other:?}"),
    }

    let error =
        refused(br#"{"notificationType":"CHAT_ARBITRAGE_FINISHED","chatId":1,"businessId":2}"#);
    assert_eq!(
        error.to_string(),
        "CHAT_ARBITRAGE_FINISHED notification: field `finishedAt` is missing"
    );
}

#[test]
fn a_wrong_type_is_named_with_what_was_expected() {
    let mut body = message_sent();
    body["chatId"] = json!("12345678");
    let message = refused(&serde_json::to_vec(&body).unwrap()).to_string();
    assert_eq!(
        message,
        r#"CHAT_MESSAGE_SENT notification: field `chatId` must be a non-negative integer (int64), got string "12345678""#
    );

    let mut body = message_sent();
    body["businessId"] = json!(-3);
    let message = refused(&serde_json::to_vec(&body).unwrap()).to_string();
    assert!(message.contains("field `businessId`"), "{message}");
    assert!(message.contains("got number -3"), "{message}");

    let mut body = message_sent();
    body["messageId"] = json!({"id": 1});
    let message = refused(&serde_json::to_vec(&body).unwrap()).to_string();
    assert_eq!(
        message,
        "CHAT_MESSAGE_SENT notification: field `messageId` must be a string, got an object"
    );

    let message = refused(
        br#"{"notificationType":"CHAT_CREATED","chatId":1,"businessId":2,"createdAt":"yesterday"}"#,
    )
    .to_string();
    assert!(
        message.starts_with("CHAT_CREATED notification: field `createdAt` must be a date-time"),
        "{message}"
    );
    assert!(message.contains(r#"got string "yesterday""#), "{message}");

    // A date-time without an offset is refused too.
    let message = refused(
        br#"{"notificationType":"CHAT_CREATED","chatId":1,"businessId":2,"createdAt":"2025-03-01T12:00:00"}"#,
    )
    .to_string();
    assert!(message.contains("field `createdAt`"), "{message}");

    let message = refused(br#"{"notificationType":"PING","time":17}"#).to_string();
    assert!(
        message.starts_with("PING notification: field `time`"),
        "{message}"
    );
}

#[test]
fn bodies_that_are_not_notifications_are_refused() {
    let error = refused(b"not json at all");
    assert!(
        matches!(error, NotificationError::NotJson { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("notification body is not valid JSON")
    );

    let error = refused(b"");
    assert!(
        matches!(error, NotificationError::NotJson { .. }),
        "{error:?}"
    );

    let error = refused(br#"[{"notificationType":"PING"}]"#);
    assert_eq!(
        error.to_string(),
        "notification body must be a JSON object, got an array"
    );

    let error = refused(br#"{"chatId":1,"businessId":2,"createdAt":"2025-03-01T12:00:00Z"}"#);
    assert_eq!(error, NotificationError::MissingType);
    assert_eq!(
        error.to_string(),
        "notification body has no `notificationType` field"
    );

    let error = refused(br#"{"notificationType":5}"#);
    assert_eq!(
        error.to_string(),
        "`notificationType` must be a non-empty string, got number 5"
    );
    let error = refused(br#"{"notificationType":""}"#);
    assert!(
        matches!(error, NotificationError::InvalidType { .. }),
        "{error:?}"
    );
}

#[test]
fn duplicates_have_equal_dedup_keys() {
    let first = parse(&message_sent()).unwrap();
    // A resend: same event, fields in another order, an extra field.
    let resend = Notification::from_json(
        br#"{"sentAt":"2025-03-01T12:34:56.789+03:00","businessId":424242,
            "messageId":"987654321","chatId":12345678,
            "notificationType":"CHAT_MESSAGE_SENT","attempt":2}"#,
    )
    .unwrap();
    assert_eq!(first, resend);
    assert_eq!(first.dedup_key(), resend.dedup_key());

    // Another message in the same chat is another event.
    let mut other = message_sent();
    other["messageId"] = json!("987654322");
    assert_ne!(first.dedup_key(), parse(&other).unwrap().dedup_key());

    // The same dispute instant sent with another offset is the same event.
    let a = parse(
        &json!({"notificationType": "CHAT_ARBITRAGE_STARTED", "chatId": 9,
        "businessId": 1, "startedAt": "2025-03-02T08:15:00+03:00"}),
    )
    .unwrap();
    let b = parse(
        &json!({"notificationType": "CHAT_ARBITRAGE_STARTED", "chatId": 9,
        "businessId": 1, "startedAt": "2025-03-02T05:15:00Z"}),
    )
    .unwrap();
    assert_eq!(a.dedup_key(), b.dedup_key());

    // CHAT_CREATED keys depend on the chat only.
    let c1 = parse(&json!({"notificationType": "CHAT_CREATED", "chatId": 9,
        "businessId": 1, "createdAt": "2025-03-02T08:15:00+03:00"}))
    .unwrap();
    let c2 = parse(&json!({"notificationType": "CHAT_CREATED", "chatId": 10,
        "businessId": 1, "createdAt": "2025-03-02T08:15:00+03:00"}))
    .unwrap();
    assert_ne!(c1.dedup_key(), c2.dedup_key());
    assert_ne!(c1.dedup_key(), a.dedup_key());
}

#[test]
fn reply_has_the_documented_shape() {
    let before = Utc::now();
    let reply = Reply::new("my-shop-integration", "1.2.3").unwrap();
    let after = Utc::now();
    assert_eq!(reply.name, "my-shop-integration");
    assert_eq!(reply.version, "1.2.3");
    assert_eq!(reply.time.offset().local_minus_utc(), 0);
    assert!(before <= reply.time && reply.time <= after);

    let json: Value = serde_json::from_slice(&reply.to_json()).unwrap();
    let object = json.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["name", "time", "version"]);
    assert_eq!(json["name"], "my-shop-integration");
    assert_eq!(json["version"], "1.2.3");
    let time = DateTime::parse_from_rfc3339(json["time"].as_str().unwrap()).unwrap();
    assert_eq!(time, reply.time);
}

#[test]
fn reply_validates_name_and_version_lengths() {
    assert!(Reply::new("a", "1").is_ok());
    assert!(Reply::new("n".repeat(100), "v".repeat(100)).is_ok());
    // Characters, not bytes: 100 Cyrillic letters are 200 bytes.
    assert!(Reply::new("я".repeat(100), "1").is_ok());

    let error = Reply::new("", "1.0").unwrap_err();
    assert!(error.to_string().contains("`name`"), "{error}");
    let error = Reply::new("n".repeat(101), "1.0").unwrap_err();
    assert!(error.to_string().contains("got 101"), "{error}");
    let error = Reply::new("shop", "").unwrap_err();
    assert!(error.to_string().contains("`version`"), "{error}");
    assert!(Reply::new("shop", "v".repeat(101)).is_err());
    assert!(matches!(
        Reply::new("", "1.0"),
        Err(yandex_market_chats::Error::InvalidInput { .. })
    ));
}

#[test]
fn error_reply_has_the_documented_shape_and_status() {
    let error = refused(br#"{"notificationType":"CHAT_CREATED","chatId":1}"#);
    let reply = error.reply();
    let json: Value = serde_json::from_slice(&reply.to_json()).unwrap();
    assert_eq!(
        json,
        json!({"error": {
            "type": "WRONG_EVENT_FORMAT",
            "message": "CHAT_CREATED notification: field `businessId` is missing"
        }})
    );
    assert_eq!(reply.status(), 400);

    let reply = ErrorReply::new(ErrorType::Unknown, "try later");
    assert_eq!(reply.status(), 500);
    assert_eq!(
        serde_json::from_slice::<Value>(&reply.to_json()).unwrap(),
        json!({"error": {"type": "UNKNOWN", "message": "try later"}})
    );

    let reply = ErrorReply::without_message(ErrorType::DuplicatedEvent);
    assert_eq!(reply.status(), 400);
    assert_eq!(
        serde_json::from_slice::<Value>(&reply.to_json()).unwrap(),
        json!({"error": {"type": "DUPLICATED_EVENT"}})
    );

    for (ty, wire) in [
        (ErrorType::Unknown, "UNKNOWN"),
        (ErrorType::WrongEventFormat, "WRONG_EVENT_FORMAT"),
        (ErrorType::DuplicatedEvent, "DUPLICATED_EVENT"),
    ] {
        assert_eq!(ty.as_str(), wire);
        assert_eq!(ty.to_string(), wire);
        assert_eq!(serde_json::to_value(ty).unwrap(), json!(wire));
        assert_eq!(
            serde_json::from_value::<ErrorType>(json!(wire)).unwrap(),
            ty
        );
    }
}

/// `messageId` is a string per the spec; any JSON integer is kept as its
/// text (beyond `i64` too, and negative), never a fraction or another kind.
#[test]
fn a_message_id_is_a_string_or_any_integer_never_a_fraction() {
    for (id, text) in [
        (json!(77), "77"),
        (json!(u64::MAX), "18446744073709551615"),
        (json!(-5), "-5"),
        (json!("abc"), "abc"),
    ] {
        let mut body = message_sent();
        body["messageId"] = id;
        let Notification::ChatMessageSent(sent) = parse(&body).unwrap() else {
            panic!("a message notification");
        };
        assert_eq!(sent.message_id, text);
    }
    for bad in [json!(1.5), json!(true), json!([1])] {
        let mut body = message_sent();
        body["messageId"] = bad.clone();
        let error = refused(&serde_json::to_vec(&body).unwrap()).to_string();
        assert!(
            error.contains("field `messageId` must be a string"),
            "{bad}: {error}"
        );
    }
}

/// An integer `messageId` is fine, so when another field is wrong the error
/// names that field, whatever the integer.
#[test]
fn an_integer_message_id_is_never_the_field_blamed() {
    for id in [json!(77), json!(u64::MAX), json!(-5)] {
        let mut body = message_sent();
        body["messageId"] = id.clone();
        body["sentAt"] = json!("yesterday");
        let error = refused(&serde_json::to_vec(&body).unwrap()).to_string();
        assert!(error.contains("field `sentAt`"), "{id}: {error}");
    }
}

/// A long value is cut in an error message; one of 40 characters is not.
#[test]
fn a_long_wrong_value_is_cut_in_the_error() {
    let wrong = |value: &str| {
        let mut body = message_sent();
        body["sentAt"] = json!(value);
        refused(&serde_json::to_vec(&body).unwrap()).to_string()
    };
    let forty = "x".repeat(40);
    let error = wrong(&forty);
    assert!(error.contains(&format!("string \"{forty}\" (")), "{error}");
    let error = wrong(&"y".repeat(41));
    assert!(
        error.contains(&format!("string \"{}\"...", "y".repeat(40))),
        "{error}"
    );
}

/// The payload types deserialize on their own too (without
/// `Notification::from_json`'s checks): a `messageId` of another kind says
/// what it must be.
#[test]
fn a_payload_read_directly_says_what_a_message_id_must_be() {
    let mut body = message_sent();
    body["messageId"] = json!(1.5);
    let error = serde_json::from_value::<ChatMessageSent>(body).unwrap_err();
    assert!(
        error.to_string().contains("a string or an integer"),
        "{error}"
    );
}
