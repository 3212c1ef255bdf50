//! The sandbox behaves like getChats, tested through the wrapper crate; its
//! buyers write, open chats and notify like Market.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde_json::json;
use yandex_market_chats::notifications::Notification;
use yandex_market_chats::{
    Chat, ChatContextType, ChatMessage, ChatMessageSender, ChatStatus, ChatTarget, ChatType,
    Client, Error, HistoryPageSize, PageSize, RetryPolicy,
};
use yandex_market_chats_sandbox::{
    Delivery, Fault, HistoryOrder, ListingOrder, MessageIdFrom, Sandbox, SandboxConfig,
};

fn ids(chats: &[Chat]) -> Vec<u64> {
    chats.iter().map(|c| c.chat_id.get()).collect()
}

#[tokio::test]
async fn seeded_data_is_deterministic_and_covers_every_value() {
    let a = Sandbox::start(SandboxConfig::default().chats(60).seed(9)).unwrap();
    let b = Sandbox::start(SandboxConfig::default().chats(60).seed(9)).unwrap();
    let c = Sandbox::start(SandboxConfig::default().chats(60).seed(10)).unwrap();
    assert_eq!(a.chats(), b.chats());
    assert_ne!(a.chats(), c.chats());
    let chats = a.chats();
    for status in ChatStatus::KNOWN {
        assert!(chats.iter().any(|c| &c.status == status), "{status}");
    }
    for kind in ChatType::KNOWN {
        assert!(chats.iter().any(|c| &c.type_ == kind), "{kind}");
    }
    for kind in ChatContextType::KNOWN {
        assert!(chats.iter().any(|c| &c.context.type_ == kind), "{kind}");
    }
    assert!(chats.iter().all(|c| c.context.customer.is_some()));
    let offsets: std::collections::BTreeSet<i32> = chats
        .iter()
        .map(|c| c.updated_at.offset().local_minus_utc())
        .collect();
    assert!(offsets.len() >= 2);
}

#[tokio::test]
async fn every_page_size_lists_every_chat_in_order_with_opaque_tokens() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(47)).unwrap();
    let client = sandbox.client().unwrap();
    for size in [1, 7, 20] {
        let chats: Vec<_> = client
            .chats(sandbox.business_id())
            .page_size(PageSize::new(size).unwrap())
            .stream()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chats, sandbox.chats(), "page size {size}");
    }
    // Page size 1 asks for offsets 1, 2, ...: no token says its offset, in
    // any base, and another sandbox names the same offsets differently.
    let tokens = |sandbox: &Sandbox| -> Vec<String> {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.query_param("limit") == Some("1"))
            .filter_map(|r| r.query_param("pageToken").map(str::to_owned))
            .collect()
    };
    let ours = tokens(&sandbox);
    assert_eq!(ours.len(), 46);
    for (index, token) in ours.iter().enumerate() {
        let offset = index as u64 + 1;
        let digits: String = token.chars().filter(char::is_ascii_hexdigit).collect();
        assert_ne!(
            u64::from_str_radix(&digits, 16).ok(),
            Some(offset),
            "{token}"
        );
        assert_ne!(digits.parse::<u64>().ok(), Some(offset), "{token}");
        assert!(
            !token.ends_with(&offset.to_string()) || offset < 10,
            "{token}"
        );
    }
    let other = Sandbox::start(SandboxConfig::default().chats(47).seed(99)).unwrap();
    let other_client = other.client().unwrap();
    let _: Vec<_> = other_client
        .chats(other.business_id())
        .page_size(PageSize::new(1).unwrap())
        .stream()
        .try_collect()
        .await
        .unwrap();
    let theirs = tokens(&other);
    assert_eq!(theirs.len(), 46);
    assert!(ours.iter().zip(&theirs).all(|(a, b)| a != b));
}

#[tokio::test]
async fn every_filter_selects_what_it_says() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(90).seed(3)).unwrap();
    let client = sandbox.client().unwrap();
    let all = sandbox.chats();
    let business = sandbox.business_id();
    let collect = |query: yandex_market_chats::ChatsQuery| async move {
        query.stream().try_collect::<Vec<_>>().await.unwrap()
    };

    let got = collect(
        client
            .chats(business)
            .statuses([ChatStatus::New, ChatStatus::Finished]),
    )
    .await;
    let want: Vec<_> = all
        .iter()
        .filter(|c| matches!(c.status, ChatStatus::New | ChatStatus::Finished))
        .cloned()
        .collect();
    assert_eq!(ids(&got), ids(&want));

    let got = collect(client.chats(business).types([ChatType::Arbitrage])).await;
    let want: Vec<_> = all
        .iter()
        .filter(|c| c.type_ == ChatType::Arbitrage)
        .cloned()
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ids(&got), ids(&want));

    let got = collect(
        client
            .chats(business)
            .context_types([ChatContextType::Direct]),
    )
    .await;
    let want: Vec<_> = all
        .iter()
        .filter(|c| c.context.type_ == ChatContextType::Direct)
        .cloned()
        .collect();
    assert_eq!(ids(&got), ids(&want));

    let order_chat = all
        .iter()
        .find(|c| c.context.type_ == ChatContextType::Order)
        .unwrap();
    let return_chat = all
        .iter()
        .find(|c| c.context.type_ == ChatContextType::Return)
        .unwrap();
    // Ids read from a response go back as they are.
    let contexts = [
        ChatTarget::Order(order_chat.context.order_id.unwrap()),
        ChatTarget::Return(return_chat.context.return_id.unwrap()),
    ];
    let got = collect(client.chats(business).contexts(contexts)).await;
    assert_eq!(ids(&got), {
        let mut want = vec![order_chat.chat_id.get(), return_chat.chat_id.get()];
        want.sort_by_key(|id| all.iter().position(|c| c.chat_id.get() == *id));
        want
    });

    #[allow(deprecated)]
    let got = collect(
        client
            .chats(business)
            .order_ids([order_chat.context.order_id.unwrap().get()]),
    )
    .await;
    assert_eq!(ids(&got), vec![order_chat.chat_id.get()]);

    // Combined filters are an AND; the body reached the server as set.
    let got = collect(
        client
            .chats(business)
            .statuses([ChatStatus::New])
            .context_types([ChatContextType::Order]),
    )
    .await;
    assert!(
        got.iter()
            .all(|c| c.status == ChatStatus::New && c.context.type_ == ChatContextType::Order)
    );
    let last = sandbox.requests().pop().unwrap();
    assert_eq!(
        last.body,
        Some(json!({"statuses": ["NEW"], "contextTypes": ["ORDER"]}))
    );
    assert_eq!(last.query_param("limit"), Some("20"));
    assert!(last.authorized);
}

/// Promise: a bad request is refused like the API does, each with its own
/// answer: a bad `limit`, filter or page token gets 400 `BAD_REQUEST` with a
/// message naming what is wrong; a wrong key 401 `UNAUTHORIZED` (the SDK's
/// auth error); an unknown business 404 `NOT_FOUND`.
#[tokio::test]
async fn bad_limits_empty_filters_bad_keys_and_unknown_businesses_are_refused_like_the_api() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/v2/businesses/{}/chats",
        sandbox.base_url(),
        sandbox.business_id()
    );
    let send = |query: &'static str, body: serde_json::Value, key: &str| {
        http.post(format!("{url}{query}"))
            .header("Api-Key", key)
            .json(&body)
            .send()
    };
    for (query, body, says) in [
        (
            "?limit=21",
            json!({}),
            "limit must be an integer from 1 to 20",
        ),
        (
            "?limit=0",
            json!({}),
            "limit must be an integer from 1 to 20",
        ),
        (
            "",
            json!({"statuses": []}),
            "statuses must have at least one item",
        ),
        (
            "",
            json!({"types": ["CHAT", "CHAT"]}),
            "types must have unique items",
        ),
        (
            "",
            json!({"statuses": ["NOT_A_STATUS"]}),
            r#"statuses: "NOT_A_STATUS" is not one of"#,
        ),
        ("?pageToken=forged", json!({}), "invalid page token"),
    ] {
        let response = send(query, body.clone(), sandbox.api_key()).await.unwrap();
        assert_eq!(response.status(), 400, "{query} {body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["status"], "ERROR");
        assert_eq!(error["errors"][0]["code"], "BAD_REQUEST");
        let message = error["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{query} {body}: {message:?}");
    }
    let response = send("", json!({}), "wrong-key").await.unwrap();
    assert_eq!(response.status(), 401);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["errors"][0]["code"], "UNAUTHORIZED");

    let wrong_key = Client::builder()
        .api_key("wrong")
        .base_url(sandbox.base_url())
        .build()
        .unwrap();
    let error = wrong_key
        .chats(sandbox.business_id())
        .page(None)
        .await
        .unwrap_err();
    assert!(error.is_auth(), "{error}");
    assert_eq!(error.status(), Some(401), "{error}");

    let error = sandbox
        .client()
        .unwrap()
        .chats(sandbox.business_id() + 1)
        .page(None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404), "{error}");
    assert!(error.to_string().contains("NOT_FOUND"), "{error}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn the_hourly_quota_answers_420_with_remaining_zero_and_the_client_waits_for_the_reset() {
    let config = SandboxConfig::default()
        .chats(100)
        .hourly_quota(Some(3))
        .quota_window(Duration::from_secs(2));
    let sandbox = Sandbox::start(config).unwrap();
    // The client's own quota is off, so that the server's 420 is what it meets.
    let client = sandbox
        .client_builder()
        .hourly_quota(None)
        .retry(
            RetryPolicy::default()
                .max_quota_wait(Duration::from_secs(5))
                .max_attempts(5),
        )
        .build()
        .unwrap();
    let chats: Vec<_> = client
        .chats(sandbox.business_id())
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chats, sandbox.chats());
    let statuses: Vec<_> = sandbox.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&Some(420)), "{statuses:?}");

    // A client that may not wait fails at once with the reset time.
    let impatient = sandbox
        .client_builder()
        .hourly_quota(None)
        .retry(RetryPolicy::default().max_quota_wait(Duration::ZERO))
        .build()
        .unwrap();
    let mut last = None;
    for _ in 0..4 {
        if let Err(error) = impatient.chats(sandbox.business_id()).page(None).await {
            last = Some(error);
            break;
        }
    }
    match last {
        Some(Error::RateLimited {
            reset_at: Some(_),
            local: false,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_client_side_quota_prevents_the_server_420() {
    let config = SandboxConfig::default()
        .chats(30)
        .hourly_quota(Some(2))
        .quota_window(Duration::from_secs(3600));
    let sandbox = Sandbox::start(config).unwrap();
    let client = sandbox
        .client_builder()
        .hourly_quota(Some(2))
        .build()
        .unwrap();
    let mut stream = client
        .chats(sandbox.business_id())
        .page_size(PageSize::new(10).unwrap())
        .stream();
    let mut seen = 0;
    let error = loop {
        match stream.try_next().await {
            Ok(Some(_)) => seen += 1,
            Ok(None) => panic!("the quota should stop the third page"),
            Err(error) => break error,
        }
    };
    assert_eq!(seen, 20);
    assert!(
        matches!(
            error,
            Error::RateLimited {
                local: true,
                reset_at: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        sandbox.requests().len(),
        2,
        "the third request was never sent"
    );
    assert!(sandbox.requests().iter().all(|r| r.status == Some(200)));
}

#[tokio::test]
async fn the_parallel_limit_answers_420_and_the_client_backs_off_until_done() {
    let config = SandboxConfig::default()
        .chats(40)
        .parallel_limit(Some(2))
        .latency(Duration::from_millis(60));
    let sandbox = Sandbox::start(config).unwrap();
    // Allow more in flight than the server does, to meet its limit.
    let client = sandbox
        .client_builder()
        .max_in_flight_per_business(8)
        .retry(
            RetryPolicy::default()
                .parallel_limit_backoff(Duration::from_millis(100))
                .max_attempts(20),
        )
        .build()
        .unwrap();
    let business = sandbox.business_id();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .chats(business)
                    .stream()
                    .try_collect::<Vec<_>>()
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), sandbox.chats());
    }
    let limited: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(420))
        .collect();
    assert!(
        !limited.is_empty(),
        "six clients against a limit of two must meet it"
    );

    // With the default client-side limit (4) and a server limit of 4, never a 420.
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(40)
            .latency(Duration::from_millis(30)),
    )
    .unwrap();
    let client = sandbox.client().unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .chats(business)
                    .stream()
                    .try_collect::<Vec<_>>()
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(sandbox.requests().iter().all(|r| r.status == Some(200)));
}

#[tokio::test]
async fn scripted_faults_are_survived_without_losing_or_repeating_a_chat() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(60)).unwrap();
    let client = sandbox
        .client_builder()
        .attempt_timeout(Duration::from_millis(500))
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(5))
                .parallel_limit_backoff(Duration::from_millis(5))
                .max_attempts(8),
        )
        .build()
        .unwrap();
    sandbox.fail_next(1, Fault::InternalError);
    sandbox.fail_next(1, Fault::DropConnection);
    sandbox.fail_next(1, Fault::ServiceUnavailable);
    sandbox.fail_next(1, Fault::ParallelLimit);
    sandbox.fail_next(1, Fault::QuotaExhausted(Duration::from_millis(500)));
    sandbox.fail_next(1, Fault::Slow(Duration::from_secs(2)));
    let chats: Vec<_> = client
        .chats(sandbox.business_id())
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chats, sandbox.chats());
    let faults: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter_map(|r| r.fault)
        .collect();
    assert_eq!(faults.len(), 6);
}

/// Promise: a garbage 200 body is a decode error naming the status; a
/// connection dropped after the request arrived is a (retryable) transport
/// error from after sending, logged by the sandbox without a status.
#[tokio::test]
async fn a_garbage_body_is_reported_and_dropped_connections_beyond_the_budget_say_so() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let client = sandbox
        .client_builder()
        .retry(RetryPolicy::disabled())
        .build()
        .unwrap();
    sandbox.fail_next(1, Fault::GarbageBody);
    let error = client
        .chats(sandbox.business_id())
        .page(None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Decode { status: 200, .. }),
        "{error:?}"
    );

    sandbox.fail_next(1, Fault::DropConnection);
    let error = client
        .chats(sandbox.business_id())
        .page(None)
        .await
        .unwrap_err();
    // Dropped after it arrived: a transport error, and not one from before
    // sending.
    assert!(
        matches!(
            error,
            Error::Transport {
                before_sending: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(sandbox.requests().last().unwrap().status, None);
}

/// Promise: dropping the sandbox stops its server: the connection the
/// client kept is closed (a transport error), and a new one is refused
/// (nothing listens: the request surely never left).
#[tokio::test]
async fn dropping_the_sandbox_stops_the_server() {
    // A key no other test's sandbox knows: if another test rebinds the port,
    // its server refuses this key, so only this sandbox could answer 200.
    let sandbox =
        Sandbox::start(SandboxConfig::default().chats(3).api_key("drop-test-key")).unwrap();
    let builder = sandbox.client_builder().retry(RetryPolicy::disabled());
    let client = builder.clone().build().unwrap();
    let business = sandbox.business_id();
    client.chats(business).page(None).await.unwrap();
    drop(sandbox);
    // Should another test's sandbox have taken the port since, it answers
    // this key with a 401.
    let port_taken = |error: &Error| error.status() == Some(401);
    let error = client.chats(business).page(None).await.unwrap_err();
    assert!(
        matches!(error, Error::Transport { .. }) || port_taken(&error),
        "still answering after drop: {error:?}"
    );
    let fresh = builder.build().unwrap();
    let error = fresh.chats(business).page(None).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                before_sending: true,
                ..
            }
        ) || port_taken(&error),
        "still listening after drop: {error:?}"
    );
}

#[tokio::test]
async fn send_file_reads_the_multipart_form_and_refuses_what_is_not_one() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(2)).unwrap();
    let chat_id = sandbox.chats()[0].chat_id.get();
    sandbox
        .client()
        .unwrap()
        .chat(sandbox.business_id(), chat_id)
        .send_file("photo.jpg", b"JPEGDATA".to_vec())
        .await
        .unwrap();
    let sent = sandbox.messages(chat_id).pop().unwrap();
    assert_eq!(sent.sender, ChatMessageSender::Partner);
    let file = &sent.payload.unwrap()[0];
    assert_eq!((file.name.as_str(), file.size), ("photo.jpg", 8));
    assert_eq!(sandbox.requests().last().unwrap().body, None, "not JSON");

    // Forms made by hand: one good, the others refused with a 400.
    let http = reqwest::Client::new();
    let url = format!(
        "{}/v2/businesses/{}/chats/file/send?chatId={chat_id}",
        sandbox.base_url(),
        sandbox.business_id()
    );
    let form = "multipart/form-data; boundary=b";
    let part = |name: &str, data: &str| {
        format!(
            "--b\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"a.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n{data}"
        )
    };
    let cases = [
        (
            form,
            format!("{}\r\n--b--\r\n", part("file", "hello")),
            200,
            "",
        ),
        (
            form,
            format!("{}\r\n--b--\r\n", part("other", "hello")),
            400,
            "no `file` part",
        ),
        (form, part("file", "hello"), 400, "multipart/form-data"),
        (
            form,
            // Truncated after a good `file` part: the whole form is read.
            format!("{}\r\n{}", part("file", "hello"), part("x", "y")),
            400,
            "multipart/form-data",
        ),
        (
            form,
            format!("{}\r\n--b--\r\n", part("file", "")),
            400,
            "file must have 1 to",
        ),
        ("text/plain", "hello".to_owned(), 400, "multipart/form-data"),
    ];
    for (content_type, body, status, says) in cases {
        let response = http
            .post(&url)
            .header("Api-Key", sandbox.api_key())
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body:?}");
        let answer: serde_json::Value = response.json().await.unwrap();
        if status != 200 {
            let message = answer["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(says), "{body:?}: {message}");
        }
    }
    let sent = sandbox.messages(chat_id).pop().unwrap();
    let file = &sent.payload.unwrap()[0];
    assert_eq!((file.name.as_str(), file.size), ("a.txt", 5));
}

/// Sends `request` on a fresh connection and reads all it gets back.
async fn raw_exchange(sandbox: &Sandbox, request: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = sandbox.base_url().strip_prefix("http://").unwrap();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A reset counts as nothing received, like a clean close.
    let _ = socket.read_to_end(&mut answer).await;
    answer
}

#[tokio::test]
async fn on_the_wire_a_dropped_connection_gets_no_bytes_and_a_420_names_its_reason() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let request = format!(
        "POST /v2/businesses/{}/chats HTTP/1.1\r\nHost: sandbox\r\nApi-Key: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
        sandbox.business_id(),
        sandbox.api_key()
    );
    sandbox.fail_next(1, Fault::DropConnection);
    assert_eq!(raw_exchange(&sandbox, &request).await, b"");

    sandbox.fail_next(1, Fault::ParallelLimit);
    let answer = String::from_utf8(raw_exchange(&sandbox, &request).await).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 420 Method Failure\r\n"),
        "{answer}"
    );
    let head = answer.to_ascii_lowercase();
    for header in [
        "x-ratelimit-resource-limit: 5000\r\n",
        // The dropped request took no quota unit: it never got that far.
        "x-ratelimit-resource-remaining: 4999\r\n",
        "x-ratelimit-resource-until: ",
        "date: ",
        "content-type: application/json\r\n",
    ] {
        assert!(head.contains(header), "{header}: {answer}");
    }

    let answer = String::from_utf8(raw_exchange(&sandbox, &request).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let statuses: Vec<_> = sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [None, Some(420), Some(200)]);
}

/// Promise: the sandbox starts and stops from sync code and from either
/// runtime; once dropped, nothing listens at its address.
#[test]
fn starts_and_stops_from_sync_code_and_from_either_runtime() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Sandbox>();

    // No runtime at all.
    drop(Sandbox::start(SandboxConfig::default().chats(3)).unwrap());

    // `#[tokio::main]`'s runtime and a current-thread one: started, used and
    // dropped in async code, in the caller's task and in a spawned one.
    let runtimes = [
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    ];
    for runtime in runtimes {
        runtime.block_on(async {
            let sandbox = Sandbox::start(SandboxConfig::default().chats(25)).unwrap();
            assert_eq!(listed(&sandbox).await, sandbox.chats());
            drop(sandbox);

            let sandbox = Sandbox::start(SandboxConfig::default().chats(3)).unwrap();
            let url = sandbox.base_url().to_owned();
            tokio::spawn(async move { drop(sandbox) }).await.unwrap();
            let after = reqwest::Client::new().get(url).send().await;
            // Nothing listens any more: the connection is refused.
            assert!(
                after.as_ref().is_err_and(reqwest::Error::is_connect),
                "still answering after drop: {after:?}"
            );
        });
    }
}

// ---- The sandbox learns to talk: buyers, statuses, notifications ----

/// Every chat, as a listing through the SDK returns them.
async fn listed(sandbox: &Sandbox) -> Vec<Chat> {
    let client = sandbox.client().unwrap();
    let chats = client.chats(sandbox.business_id()).stream();
    chats.try_collect().await.unwrap()
}

/// The chat as getChat returns it.
async fn get_chat(sandbox: &Sandbox, chat_id: impl Into<yandex_market_chats::ChatId>) -> Chat {
    let client = sandbox.client().unwrap();
    client
        .chat(sandbox.business_id(), chat_id)
        .get()
        .await
        .unwrap()
}

/// The chat's whole history, through the SDK.
async fn history(sandbox: &Sandbox, chat: &Chat) -> Vec<ChatMessage> {
    let client = sandbox.client().unwrap();
    client
        .chat(sandbox.business_id(), chat.chat_id)
        .history()
        .stream()
        .try_collect()
        .await
        .unwrap()
}

/// The largest message id anywhere in the sandbox.
fn max_message_id(sandbox: &Sandbox) -> u64 {
    sandbox
        .chats()
        .iter()
        .flat_map(|c| sandbox.messages(c.chat_id))
        .map(|m| m.message_id.get())
        .max()
        .unwrap_or(0)
}

fn first_with(sandbox: &Sandbox, status: ChatStatus) -> Chat {
    sandbox
        .chats()
        .into_iter()
        .find(|c| c.status == status)
        .unwrap_or_else(|| panic!("the seed gives a {status} chat"))
}

#[tokio::test]
async fn a_customer_message_ends_the_history_and_moves_updated_at_and_the_status() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(12).seed(5)).unwrap();
    let chat = first_with(&sandbox, ChatStatus::WaitingForCustomer);
    let before = max_message_id(&sandbox);

    // The id as `sandbox.chats()` gives it.
    let id = sandbox.customer_message(chat.chat_id, "Where is my parcel?");
    assert!(id.get() > before, "{id} after {before}");
    let messages = history(&sandbox, &chat).await;
    let last = messages.last().unwrap();
    assert_eq!(last.message_id, id);
    assert_eq!(last.sender, ChatMessageSender::Customer);
    assert_eq!(last.message.as_deref(), Some("Where is my parcel?"));
    let age = chrono::Utc::now().signed_duration_since(last.created_at);
    assert!(age.num_seconds().abs() <= 5, "createdAt is now: {age}");
    assert_eq!(last.created_at.offset(), chat.created_at.offset());
    let got = get_chat(&sandbox, chat.chat_id).await;
    assert_eq!(got.updated_at, last.created_at);
    assert_eq!(got.updated_at.offset(), last.created_at.offset());
    assert_eq!(got.status, ChatStatus::WaitingForPartner);

    // Ids keep growing; a literal id works too.
    let second = sandbox.customer_message(chat.chat_id.get(), "Hello?");
    assert!(second > id);

    // The partner answers through the API: the buyer's turn.
    let client = sandbox.client().unwrap();
    let handle = client.chat(sandbox.business_id(), chat.chat_id);
    handle.send_message("It ships today.").await.unwrap();
    let messages = history(&sandbox, &chat).await;
    let reply = messages.last().unwrap();
    assert_eq!(reply.sender, ChatMessageSender::Partner);
    assert!(reply.message_id > second);
    let got = get_chat(&sandbox, chat.chat_id).await;
    assert_eq!(got.status, ChatStatus::WaitingForCustomer);
    assert_eq!(got.updated_at, reply.created_at);
    assert_eq!(got.updated_at.offset(), chat.created_at.offset());
    // And the buyer's again.
    sandbox.customer_message(chat.chat_id, "Thanks!");
    assert_eq!(
        get_chat(&sandbox, chat.chat_id).await.status,
        ChatStatus::WaitingForPartner
    );

    // A finished chat reopens; a dispute keeps its status whoever writes.
    let finished = first_with(&sandbox, ChatStatus::Finished);
    sandbox.customer_message(finished.chat_id, "One more question");
    assert_eq!(
        get_chat(&sandbox, finished.chat_id).await.status,
        ChatStatus::WaitingForPartner
    );
    for status in [ChatStatus::WaitingForArbiter, ChatStatus::WaitingForMarket] {
        let disputed = first_with(&sandbox, status.clone());
        let id = sandbox.customer_message(disputed.chat_id, "Any news?");
        let got = get_chat(&sandbox, disputed.chat_id).await;
        assert_eq!(got.status, status);
        assert_eq!(
            got.updated_at,
            history(&sandbox, &got).await.last().unwrap().created_at
        );
        let handle = client.chat(sandbox.business_id(), disputed.chat_id);
        handle.send_message("We are on it.").await.unwrap();
        let got = get_chat(&sandbox, disputed.chat_id).await;
        assert_eq!(got.status, status);
        let last = history(&sandbox, &got).await.pop().unwrap();
        assert!(last.message_id > id);
        assert_eq!(got.updated_at, last.created_at);
    }
}

#[test]
#[should_panic(expected = "customer_message: the sandbox has no chat 1")]
fn a_customer_message_to_an_unknown_chat_panics() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(2)).unwrap();
    sandbox.customer_message(1, "anyone?");
}

#[test]
#[should_panic(expected = "set_status: the sandbox has no chat 1")]
fn a_status_for_an_unknown_chat_panics() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(2)).unwrap();
    sandbox.set_status(1, ChatStatus::Finished);
}

#[tokio::test]
async fn seeded_chats_were_updated_when_their_last_message_was_written() {
    for seed in [1, 2, 9, 42] {
        let sandbox = Sandbox::start(SandboxConfig::default().chats(40).seed(seed)).unwrap();
        for chat in sandbox.chats() {
            let last = sandbox
                .messages(chat.chat_id)
                .pop()
                .expect("seeded messages");
            assert_eq!(
                chat.updated_at, last.created_at,
                "seed {seed}, chat {}",
                chat.chat_id
            );
            assert_eq!(chat.updated_at.offset(), chat.created_at.offset());
            assert!(chat.updated_at > chat.created_at);
        }
    }
    // Through the API too.
    let sandbox = Sandbox::start(SandboxConfig::default().chats(8)).unwrap();
    for chat in listed(&sandbox).await {
        let last = history(&sandbox, &chat).await.pop().unwrap();
        assert_eq!(chat.updated_at, last.created_at);
    }
}

#[tokio::test]
async fn an_opened_chat_is_listed_and_a_status_set_is_what_get_chat_says() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(10).seed(3)).unwrap();
    let client = sandbox.client().unwrap();
    let business = sandbox.business_id();
    let before = max_message_id(&sandbox);

    let chat_id = sandbox.open_chat(61_000_001, "Hello! Is it in stock?");
    let opened = sandbox.chats().pop().unwrap();
    assert_eq!(opened.chat_id, chat_id);
    assert!(sandbox.chats()[..10].iter().all(|c| c.chat_id < chat_id));
    assert_eq!(opened.status, ChatStatus::New);
    assert_eq!(opened.type_, ChatType::Chat);
    assert_eq!(opened.context.type_, ChatContextType::Order);
    assert_eq!(opened.context.order_id.map(|o| o.get()), Some(61_000_001));
    assert!(opened.context.customer.is_some());

    // In a listing, through the SDK: every chat, and by its order.
    assert_eq!(listed(&sandbox).await, sandbox.chats());
    let by_order: Vec<_> = client
        .chats(business)
        .contexts([ChatTarget::Order(61_000_001.into())])
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_order, std::slice::from_ref(&opened));
    let new: Vec<_> = client
        .chats(business)
        .statuses([ChatStatus::New])
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(new.contains(&opened));

    let messages = history(&sandbox, &opened).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].sender, ChatMessageSender::Customer);
    assert!(messages[0].message_id.get() > before);
    assert_eq!(opened.created_at, messages[0].created_at);
    assert_eq!(opened.updated_at, messages[0].created_at);

    // The same order: the same chat, now waiting for the partner.
    assert_eq!(sandbox.open_chat(61_000_001, "Hello?"), chat_id);
    assert_eq!(sandbox.chats().len(), 11);
    let got = get_chat(&sandbox, chat_id).await;
    assert_eq!(got.status, ChatStatus::WaitingForPartner);
    let updated_at = got.updated_at;

    // Statuses, as getChat shows them; updatedAt stays.
    for status in [
        ChatStatus::WaitingForArbiter,
        ChatStatus::WaitingForMarket,
        ChatStatus::Finished,
    ] {
        sandbox.set_status(chat_id, status.clone());
        let got = get_chat(&sandbox, chat_id).await;
        assert_eq!((got.status, got.updated_at), (status, updated_at));
    }
}

/// What a notification receiver got: each request's head and JSON body.
type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A notification receiver on 127.0.0.1 that answers every request with
/// `status` (after `delay`) and records it first. Returns its base URL.
async fn receiver(status: u16, delay: Duration) -> (String, Received) {
    let received: Received = Arc::default();
    let log = Arc::clone(&received);
    let url = common::raw_server(move |_, request| {
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        let body = serde_json::from_str(body).unwrap();
        log.lock().unwrap().push((head.to_owned(), body));
        async move {
            tokio::time::sleep(delay).await;
            let reply = json!({"version": "1.0", "name": "test", "time": "2025-01-01T00:00:00Z"});
            common::json_reply(status, &reply, &[])
        }
    })
    .await;
    (url, received)
}

/// Waits until the sandbox has finished `n` notification POSTs.
async fn sent(sandbox: &Sandbox, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox.notifications_sent() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} sent: {:?}",
            sandbox.notifications_sent(),
            sandbox.notifications()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the sandbox's notifier has finished: every notification it
/// queued is delivered (answered or failed) or dropped, none pending, so it
/// sends nothing more; returns its log. What a receiver got by then is all
/// it will get.
async fn delivered(sandbox: &Sandbox) -> Vec<yandex_market_chats_sandbox::RecordedNotification> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = sandbox.notifications();
        if log.iter().all(|n| n.delivery != Delivery::Pending) {
            return log;
        }
        assert!(Instant::now() < deadline, "still pending: {log:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn bodies(received: &Received) -> Vec<serde_json::Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect()
}

fn keys(body: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn parse(body: &serde_json::Value) -> Notification {
    Notification::from_json(&serde_json::to_vec(body).unwrap()).unwrap()
}

/// Promise: every kind of notification arrives once, in the official
/// format, in the order of the events; the partner's own messages and
/// changes between dispute statuses or of a `DIRECT` chat are not notified
/// (checked once the notifier has sent everything it queued).
#[tokio::test]
async fn every_kind_of_notification_arrives_in_the_official_format_in_order() {
    let (url, received) = receiver(200, Duration::ZERO).await;
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(12)
            .seed(5)
            .notify_url(format!("{url}/")),
    )
    .unwrap();
    let business = sandbox.business_id();
    let chat = sandbox
        .chats()
        .into_iter()
        .find(|c| c.context.type_ == ChatContextType::Order && c.status == ChatStatus::New)
        .unwrap();
    let direct = sandbox
        .chats()
        .into_iter()
        .find(|c| c.context.type_ == ChatContextType::Direct)
        .unwrap();

    let opened = sandbox.open_chat(62_000_002, "Hello!");
    let message = sandbox.customer_message(chat.chat_id, "Where is it?");
    sandbox.set_status(chat.chat_id, ChatStatus::WaitingForArbiter);
    sandbox.set_status(chat.chat_id, ChatStatus::WaitingForMarket); // still a dispute: nothing
    sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    sandbox.set_status(direct.chat_id, ChatStatus::WaitingForArbiter); // DIRECT: nothing
    sandbox.set_status(direct.chat_id, ChatStatus::Finished);
    // The partner's own messages are not notified.
    let client = sandbox.client().unwrap();
    client
        .chat(business, chat.chat_id)
        .send_message("We are sorry.")
        .await
        .unwrap();
    // Five events were notified and the notifier has sent them all: what
    // the receiver got is final.
    assert_eq!(delivered(&sandbox).await.len(), 5);
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 5, "{got:?}");
    for (head, _) in &got {
        assert!(
            head.starts_with("POST /notification HTTP/1.1\r\n"),
            "{head}"
        );
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-type: application/json"), "{head}");
    }
    let bodies: Vec<_> = got.into_iter().map(|(_, body)| body).collect();
    let types: Vec<_> = bodies
        .iter()
        .map(|b| b["notificationType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "CHAT_CREATED",
            "CHAT_MESSAGE_SENT",
            "CHAT_MESSAGE_SENT",
            "CHAT_ARBITRAGE_STARTED",
            "CHAT_ARBITRAGE_FINISHED"
        ]
    );
    // The fields the notification API requires, and no others.
    let fields = |time: &'static str, extra: &[&'static str]| {
        let mut all = vec!["businessId", "chatId", "notificationType", time];
        all.extend_from_slice(extra);
        all.sort_unstable();
        all
    };
    assert_eq!(keys(&bodies[0]), fields("createdAt", &[]));
    assert_eq!(keys(&bodies[1]), fields("sentAt", &["messageId"]));
    assert_eq!(keys(&bodies[2]), fields("sentAt", &["messageId"]));
    assert_eq!(keys(&bodies[3]), fields("startedAt", &[]));
    assert_eq!(keys(&bodies[4]), fields("finishedAt", &[]));
    assert!(bodies.iter().all(|b| b["businessId"] == business));
    assert!(bodies[1]["messageId"].is_string(), "a string, per the spec");

    let opened_chat = get_chat(&sandbox, opened).await;
    let first = sandbox.messages(opened).pop().unwrap();
    match parse(&bodies[0]) {
        Notification::ChatCreated(n) => {
            assert_eq!((n.chat_id, n.business_id), (opened.get(), business));
            assert_eq!(n.created_at, opened_chat.created_at);
        }
        other => panic!("{other:?}"),
    }
    match parse(&bodies[1]) {
        Notification::ChatMessageSent(n) => {
            assert_eq!(
                (n.chat_id, n.message_id_u64()),
                (opened.get(), Some(first.message_id.get()))
            );
            assert_eq!(n.sent_at, first.created_at);
        }
        other => panic!("{other:?}"),
    }
    let written = sandbox
        .messages(chat.chat_id)
        .into_iter()
        .find(|m| m.message_id == message)
        .unwrap();
    match parse(&bodies[2]) {
        Notification::ChatMessageSent(n) => {
            assert_eq!((n.chat_id, n.business_id), (chat.chat_id.get(), business));
            assert_eq!(n.message_id, message.to_string());
            assert_eq!(n.sent_at, written.created_at);
        }
        other => panic!("{other:?}"),
    }
    let (started, finished) = match (parse(&bodies[3]), parse(&bodies[4])) {
        (Notification::ChatArbitrageStarted(s), Notification::ChatArbitrageFinished(f)) => {
            assert_eq!(
                (s.chat_id, f.chat_id),
                (chat.chat_id.get(), chat.chat_id.get())
            );
            (s.started_at, f.finished_at)
        }
        other => panic!("{other:?}"),
    };
    assert!(started <= finished);
    assert!((chrono::Utc::now() - finished.to_utc()).num_seconds() < 10);
    let keys: std::collections::HashSet<_> = bodies
        .iter()
        .map(|b| parse(b).dedup_key().unwrap())
        .collect();
    assert_eq!(keys.len(), 5, "five events, five keys");
    assert!(
        sandbox
            .notifications()
            .iter()
            .all(|n| n.delivery == Delivery::Answered(200) && !n.duplicate)
    );
}

/// Promise: scripted drops and duplicates happen as scripted; a receiver's
/// error answer is recorded and not retried; a missing receiver is recorded
/// as a failure (each checked once the notifier has finished).
#[tokio::test]
async fn notifications_can_be_dropped_and_duplicated_and_failures_are_recorded() {
    let (url, received) = receiver(200, Duration::ZERO).await;
    let sandbox = Sandbox::start(SandboxConfig::default().chats(3).notify_url(url)).unwrap();
    let chat = sandbox.chats()[0].chat_id;
    sandbox.drop_notifications(1);
    sandbox.duplicate_notifications(1);
    let ids: Vec<_> = ["one", "two", "three"]
        .map(|text| sandbox.customer_message(chat, text))
        .into();
    assert_eq!(delivered(&sandbox).await.len(), 4, "one dropped, one twice");
    let got = bodies(&received);
    let message_ids: Vec<_> = got
        .iter()
        .map(|b| b["messageId"].as_str().unwrap())
        .collect();
    let want = [ids[1], ids[1], ids[2]].map(|id| id.to_string());
    assert_eq!(message_ids, want, "the first dropped, the second twice");
    assert_eq!(parse(&got[0]).dedup_key(), parse(&got[1]).dedup_key());
    assert_ne!(parse(&got[1]).dedup_key(), parse(&got[2]).dedup_key());
    let log = sandbox.notifications();
    let deliveries: Vec<_> = log
        .iter()
        .map(|n| (n.delivery.clone(), n.duplicate))
        .collect();
    assert_eq!(
        deliveries,
        [
            (Delivery::Dropped, false),
            (Delivery::Answered(200), false),
            (Delivery::Answered(200), true),
            (Delivery::Answered(200), false),
        ]
    );
    assert_eq!(log[0].body["messageId"], ids[0].to_string());
    assert_eq!(sandbox.notifications_sent(), 3);

    // A receiver that answers 500 is not retried; one that is not there
    // fails; both are recorded and the next notification still goes.
    let (url, received) = receiver(500, Duration::ZERO).await;
    let sandbox = Sandbox::start(SandboxConfig::default().chats(3).notify_url(url)).unwrap();
    sandbox.customer_message(sandbox.chats()[0].chat_id, "hello");
    let log = delivered(&sandbox).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].delivery, Delivery::Answered(500));
    assert_eq!(received.lock().unwrap().len(), 1, "not retried");

    let url = common::refusing_url().await;
    let sandbox = Sandbox::start(SandboxConfig::default().chats(3).notify_url(url)).unwrap();
    let chat = sandbox.chats()[0].chat_id;
    sandbox.customer_message(chat, "hello");
    sandbox.customer_message(chat, "again");
    sent(&sandbox, 2).await;
    for notification in sandbox.notifications() {
        assert!(
            matches!(notification.delivery, Delivery::Failed(_)),
            "{notification:?}"
        );
    }
}

/// Promise: a receiver that never answers blocks neither the events'
/// caller, nor the API, nor the sandbox's drop; notifications go one at a
/// time, so while the first waits for its answer no other is sent (checked
/// once the sandbox, its notifier with it, is dropped).
#[tokio::test]
async fn a_receiver_that_hangs_blocks_neither_the_caller_nor_the_api_nor_the_drop() {
    let (url, received) = receiver(200, Duration::from_secs(60)).await;
    let sandbox = Sandbox::start(SandboxConfig::default().chats(5).notify_url(url)).unwrap();
    let chat = sandbox.chats()[0].clone();
    let start = Instant::now();
    for i in 0..20 {
        sandbox.customer_message(chat.chat_id, format!("message {i}"));
    }
    sandbox.set_status(chat.chat_id, ChatStatus::Finished);
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );

    let start = Instant::now();
    let messages = history(&sandbox, &chat).await;
    assert_eq!(
        messages.last().unwrap().message.as_deref(),
        Some("message 19")
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // One at a time: the first arrives, and while it waits for its answer
    // no other is sent.
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first notification never came"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sandbox.notifications_sent(), 0);

    let start = Instant::now();
    drop(sandbox);
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    // The sandbox, and its notifier with it, are gone: the receiver got
    // all it ever will, the first notification only.
    assert_eq!(received.lock().unwrap().len(), 1, "one at a time");
}

#[tokio::test]
async fn buyers_write_on_their_own_when_asked_to() {
    let (url, received) = receiver(200, Duration::ZERO).await;
    let config = || {
        SandboxConfig::default()
            .chats(6)
            .seed(11)
            .buyers_write_every(Duration::from_millis(40))
    };
    let started = Instant::now();
    let sandbox = Sandbox::start(config().notify_url(url)).unwrap();
    let twin = Sandbox::start(config()).unwrap();
    let quiet = Sandbox::start(SandboxConfig::default().chats(6).seed(11)).unwrap();
    // The seeded messages: the same in all three.
    let before = max_message_id(&quiet);
    let new_messages = |sandbox: &Sandbox| {
        let mut new: Vec<(u64, ChatMessage)> = sandbox
            .chats()
            .iter()
            .flat_map(|c| {
                sandbox
                    .messages(c.chat_id)
                    .into_iter()
                    .map(|m| (c.chat_id.get(), m))
            })
            .filter(|(_, m)| m.message_id.get() > before)
            .collect();
        new.sort_by_key(|(_, m)| m.message_id);
        new
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while new_messages(&sandbox).len() < 4 || new_messages(&twin).len() < 4 {
        assert!(Instant::now() < deadline, "buyers did not write");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let new = new_messages(&sandbox);
    assert!(
        new.iter()
            .all(|(_, m)| m.sender == ChatMessageSender::Customer)
    );
    // One an interval, the first after one: four take at least 160 ms.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(160), "{elapsed:?}");
    for (chat_id, message) in &new {
        let chat = sandbox
            .chats()
            .into_iter()
            .find(|c| c.chat_id.get() == *chat_id)
            .unwrap();
        assert!(chat.updated_at >= message.created_at);
    }
    // The same seed: the same chats and lines, in the same order.
    let what = |new: &[(u64, ChatMessage)]| -> Vec<(u64, Option<String>)> {
        new.iter()
            .take(4)
            .map(|(c, m)| (*c, m.message.clone()))
            .collect()
    };
    assert_eq!(what(&new), what(&new_messages(&twin)));
    // Each one notified.
    sent(&sandbox, 4).await;
    let notified: Vec<_> = bodies(&received)
        .iter()
        .take(4)
        .map(|b| b["messageId"].as_str().unwrap().to_owned())
        .collect();
    let written: Vec<_> = new
        .iter()
        .take(4)
        .map(|(_, m)| m.message_id.to_string())
        .collect();
    assert_eq!(notified, written);
    // Off by default.
    assert_eq!(max_message_id(&quiet), before);
}

// ---- Settings that play how the real API may behave ----

/// The chats in the order a `RecentlyUpdatedFirst` listing gives them.
fn recently_updated_first(mut chats: Vec<Chat>) -> Vec<Chat> {
    chats.sort_by_key(|chat| std::cmp::Reverse((chat.updated_at, chat.chat_id.get())));
    chats
}

#[tokio::test]
async fn a_recently_updated_first_listing_is_recomputed_at_every_request() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(30)
            .seed(8)
            .listing_order(ListingOrder::RecentlyUpdatedFirst),
    )
    .unwrap();
    let client = sandbox.client().unwrap();
    let query = || {
        client
            .chats(sandbox.business_id())
            .page_size(PageSize::new(10).unwrap())
    };
    let order = recently_updated_first(sandbox.chats());
    assert_ne!(
        ids(&order),
        ids(&sandbox.chats()),
        "the seed's order differs"
    );
    // `Sandbox::chats` keeps the seeded order.
    assert_eq!(
        ids(&sandbox.chats()),
        ids(&Sandbox::start(SandboxConfig::default().chats(30).seed(8))
            .unwrap()
            .chats())
    );

    let page1 = query().page(None).await.unwrap();
    assert_eq!(ids(&page1.chats), ids(&order[..10]));
    // A buyer writes in a chat on page 3 (one not in a dispute, so that it
    // waits for the partner) while the client pages.
    let index = (20..30)
        .find(|i| {
            !matches!(
                order[*i].status,
                ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket
            )
        })
        .unwrap();
    let moved = order[index].chat_id;
    sandbox.customer_message(moved, "Hello?");
    let mut now = order.clone();
    let written = now.remove(index);
    now.insert(0, written);
    let page2 = query().page(page1.next_page_token.clone()).await.unwrap();
    assert_eq!(
        page2.chats[0].chat_id, order[9].chat_id,
        "every chat shifted back by one: page 1's last chat is listed again"
    );
    assert_eq!(ids(&page2.chats), ids(&now[10..20]));
    let page3 = query().page(page2.next_page_token.clone()).await.unwrap();
    assert_eq!(ids(&page3.chats), ids(&now[20..]));
    assert!(
        !ids(&page3.chats).contains(&moved.get()),
        "the moved chat is skipped"
    );

    let fresh = query().page(None).await.unwrap();
    assert_eq!(fresh.chats[0].chat_id, moved);
    assert_eq!(ids(&fresh.chats), ids(&now[..10]));

    // Filters select first, then the order applies.
    let waiting: Vec<_> = query()
        .statuses([ChatStatus::WaitingForPartner])
        .stream()
        .try_collect()
        .await
        .unwrap();
    let want: Vec<_> = recently_updated_first(sandbox.chats())
        .into_iter()
        .filter(|c| c.status == ChatStatus::WaitingForPartner)
        .collect();
    assert_eq!(waiting, want);
    assert_eq!(waiting[0].chat_id, moved);
}

/// A `Date` or `X-RateLimit-Resource-Until` value.
fn http_date(response: &reqwest::Response, name: &str) -> chrono::DateTime<chrono::Utc> {
    let value = response.headers()[name].to_str().unwrap();
    chrono::DateTime::parse_from_rfc2822(value)
        .unwrap_or_else(|e| panic!("{name}: {value}: {e}"))
        .to_utc()
}

/// `POST {path}` to the sandbox's business, with its key and a JSON body.
async fn raw_post(sandbox: &Sandbox, path: &str, body: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/v2/businesses/{}/{path}",
            sandbox.base_url(),
            sandbox.business_id()
        ))
        .header("Api-Key", sandbox.api_key())
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Whether two times are at most `seconds` apart.
fn near(a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>, seconds: i64) -> bool {
    (a - b).num_seconds().abs() <= seconds
}

#[tokio::test]
async fn the_servers_clock_offset_shows_in_every_time_it_writes() {
    for hours in [1, -1] {
        let offset = chrono::TimeDelta::hours(hours);
        let (url, received) = receiver(200, Duration::ZERO).await;
        let sandbox = Sandbox::start(
            SandboxConfig::default()
                .chats(5)
                .clock_offset(offset)
                .notify_url(url),
        )
        .unwrap();
        let server_now = || chrono::Utc::now() + offset;
        assert!(near(sandbox.now().to_utc(), server_now(), 2), "{hours}h");
        assert_eq!(sandbox.now().offset().local_minus_utc(), 3 * 3600);
        assert_eq!(sandbox.now().timestamp_subsec_nanos(), 0);

        // `Date` on every answer, an error too; `Until - Date` is the window.
        let response = raw_post(&sandbox, "chats", json!({})).await;
        assert_eq!(response.status(), 200);
        let date = http_date(&response, "date");
        assert!(near(date, server_now(), 2), "{hours}h: Date {date}");
        let until = http_date(&response, "x-ratelimit-resource-until");
        assert!(
            near(until, date + chrono::TimeDelta::hours(1), 2),
            "{hours}h: Until {until}, Date {date}"
        );
        let refused = raw_post(&sandbox, "chats?limit=0", json!({})).await;
        assert_eq!(refused.status(), 400);
        assert!(near(http_date(&refused, "date"), server_now(), 2));
        sandbox.fail_next(1, Fault::QuotaExhausted(Duration::from_secs(90)));
        let spent = raw_post(&sandbox, "chats", json!({})).await;
        assert_eq!(spent.status(), 420);
        let (date, until) = (
            http_date(&spent, "date"),
            http_date(&spent, "x-ratelimit-resource-until"),
        );
        assert!(
            (until - date - chrono::TimeDelta::seconds(90))
                .num_seconds()
                .abs()
                <= 2
        );

        // A buyer's message, the partner's answer and the chat's updatedAt.
        let chat = sandbox.chats()[0].clone();
        let id = sandbox.customer_message(chat.chat_id, "Hello?");
        let written = history(&sandbox, &chat).await.pop().unwrap();
        assert_eq!(written.message_id, id);
        assert!(
            near(written.created_at.to_utc(), server_now(), 2),
            "{hours}h"
        );
        assert_eq!(
            get_chat(&sandbox, chat.chat_id).await.updated_at,
            written.created_at
        );
        let client = sandbox.client().unwrap();
        let handle = client.chat(sandbox.business_id(), chat.chat_id);
        handle.send_message("It ships today.").await.unwrap();
        let reply = history(&sandbox, &chat).await.pop().unwrap();
        assert!(near(reply.created_at.to_utc(), server_now(), 2), "{hours}h");
        assert_eq!(
            get_chat(&sandbox, chat.chat_id).await.updated_at,
            reply.created_at
        );
        let listed = listed(&sandbox).await;
        let listed = listed.iter().find(|c| c.chat_id == chat.chat_id).unwrap();
        assert_eq!(listed.updated_at, reply.created_at);

        // A new chat, and the notifications' times.
        let opened = sandbox.open_chat(63_000_003, "Hi!");
        let opened = get_chat(&sandbox, opened).await;
        assert!(
            near(opened.created_at.to_utc(), server_now(), 2),
            "{hours}h"
        );
        sandbox.set_status(opened.chat_id, ChatStatus::WaitingForArbiter);
        sent(&sandbox, 4).await;
        let bodies = bodies(&received);
        let time = |body: &serde_json::Value, field: &str| {
            chrono::DateTime::parse_from_rfc3339(body[field].as_str().unwrap())
                .unwrap()
                .to_utc()
        };
        assert_eq!(time(&bodies[0], "sentAt"), written.created_at.to_utc());
        assert_eq!(time(&bodies[1], "createdAt"), opened.created_at.to_utc());
        assert!(
            near(time(&bodies[3], "startedAt"), server_now(), 2),
            "{hours}h"
        );
        // Seeded data keeps its fixed dates.
        assert_eq!(
            sandbox.chats()[1],
            Sandbox::start(SandboxConfig::default().chats(5))
                .unwrap()
                .chats()[1]
        );
    }
}

#[tokio::test]
async fn a_listing_lag_shows_changes_late_while_the_history_has_them_at_once() {
    // Long enough for the checks before it on a loaded machine.
    let lag = Duration::from_secs(2);
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(6)
            .seed(5)
            .listing_lag(lag)
            .listing_order(ListingOrder::RecentlyUpdatedFirst),
    )
    .unwrap();
    let client = sandbox.client().unwrap();
    let business = sandbox.business_id();
    let chat = first_with(&sandbox, ChatStatus::WaitingForCustomer);
    let find = |chats: Vec<Chat>| chats.into_iter().find(|c| c.chat_id == chat.chat_id);
    let seeded = recently_updated_first(sandbox.chats());

    let written_at = Instant::now();
    // Opened first, so that it is due first.
    let opened_id = sandbox.open_chat(64_000_004, "Hello!");
    let id = sandbox.customer_message(chat.chat_id, "Where is it?");
    // At once: the history, the message, and the sandbox's own view.
    let message = history(&sandbox, &chat).await.pop().unwrap();
    assert_eq!(message.message_id, id);
    let handle = client.chat(business, chat.chat_id);
    assert_eq!(handle.message(id).await.unwrap(), message);
    let truth = find(sandbox.chats()).unwrap();
    assert_eq!(truth.updated_at, message.created_at);
    assert_eq!(truth.status, ChatStatus::WaitingForPartner);
    let opened = client.chat(business, opened_id);
    let first = opened.history().stream().try_collect::<Vec<_>>().await;
    assert_eq!(first.unwrap().len(), 1);

    // Not yet: the listing (its order too), getChat, the status filter, the
    // new chat.
    assert_eq!(listed(&sandbox).await, seeded);
    let got = handle.get().await.unwrap();
    assert_eq!(got, chat);
    let error = opened.get().await.unwrap_err();
    assert_eq!(error.status(), Some(404), "{error}");
    let waiting: Vec<_> = client
        .chats(business)
        .statuses([ChatStatus::WaitingForPartner])
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(find(waiting).is_none());
    assert!(
        written_at.elapsed() < lag,
        "too slow to check before the lag: {:?}",
        written_at.elapsed()
    );

    // Then: everything shows, and not before the lag.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = listed(&sandbox).await;
        if find(now.clone()).is_some_and(|c| c.updated_at == message.created_at) {
            assert!(written_at.elapsed() >= lag, "{:?}", written_at.elapsed());
            assert!(now.iter().any(|c| c.chat_id == opened_id));
            // Most recently updated first: the two just written, in either
            // order (within one second the larger id goes first).
            let head: Vec<_> = now[..2].iter().map(|c| c.chat_id).collect();
            assert!(
                head.contains(&chat.chat_id) && head.contains(&opened_id),
                "{head:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the listing never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(handle.get().await.unwrap(), truth);
    assert_eq!(opened.get().await.unwrap().status, ChatStatus::New);
}

#[tokio::test]
async fn newest_first_history_pages_start_with_the_newest_message() {
    let sandbox = Sandbox::start(
        SandboxConfig::default()
            .chats(5)
            .seed(4)
            .history_order(HistoryOrder::NewestFirst),
    )
    .unwrap();
    let client = sandbox.client().unwrap();
    let (chat_id, all) = sandbox
        .chats()
        .iter()
        .map(|c| (c.chat_id, sandbox.messages(c.chat_id)))
        .max_by_key(|(_, m)| m.len())
        .unwrap();
    assert!(all.len() >= 3);
    let newest_first: Vec<_> = all.iter().rev().cloned().collect();
    let chat = client.chat(sandbox.business_id(), chat_id);
    let mut pages = chat
        .history()
        .page_size(HistoryPageSize::new(2).unwrap())
        .pages();
    let first = pages.try_next().await.unwrap().unwrap();
    assert_eq!(first.messages, newest_first[..2]);
    let mut got = first.messages;
    while let Some(page) = pages.try_next().await.unwrap() {
        got.extend(page.messages);
    }
    assert_eq!(got, newest_first);
    // Of those messageIdFrom selects (inclusive by default), the newest first.
    let from = all[1].message_id;
    let got: Vec<_> = chat
        .history()
        .message_id_from(from)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got, newest_first[..all.len() - 1]);
    // A new message leads page 1.
    let id = sandbox.customer_message(chat_id, "Newest");
    let page = chat.history().page(None).await.unwrap();
    assert_eq!(page.messages[0].message_id, id);
    // `Sandbox::messages` stays oldest first.
    assert_eq!(sandbox.messages(chat_id).pop().unwrap().message_id, id);
}

#[tokio::test]
async fn an_exclusive_message_id_from_leaves_that_message_out() {
    let config = SandboxConfig::default().chats(5).seed(4);
    let exclusive =
        Sandbox::start(config.clone().message_id_from(MessageIdFrom::Exclusive)).unwrap();
    let inclusive = Sandbox::start(config).unwrap();
    let from_each = |sandbox: &Sandbox| {
        let (chat_id, all) = sandbox
            .chats()
            .iter()
            .map(|c| (c.chat_id, sandbox.messages(c.chat_id)))
            .max_by_key(|(_, m)| m.len())
            .unwrap();
        let chat = sandbox
            .client()
            .unwrap()
            .chat(sandbox.business_id(), chat_id);
        async move {
            let got: Vec<_> = chat
                .history()
                .message_id_from(all[1].message_id)
                .stream()
                .try_collect()
                .await
                .unwrap();
            (got, all)
        }
    };
    let (got, all) = from_each(&exclusive).await;
    assert_eq!(got, all[2..]);
    let (got, all) = from_each(&inclusive).await;
    assert_eq!(got, all[1..]);
}

#[tokio::test]
async fn new_message_ids_start_where_configured_and_by_default_past_earlier_runs() {
    let config = || SandboxConfig::default().chats(4).seed(6);
    let plain = Sandbox::start(config()).unwrap();
    let numbered = Sandbox::start(config().first_message_id(5_000)).unwrap();
    // Seeded chats and messages keep their ids and content.
    assert_eq!(numbered.chats(), plain.chats());
    for chat in plain.chats() {
        assert_eq!(
            numbered.messages(chat.chat_id),
            plain.messages(chat.chat_id)
        );
    }
    let chat = numbered.chats()[0].chat_id;
    assert_eq!(numbered.customer_message(chat, "one").get(), 5_000);
    numbered
        .client()
        .unwrap()
        .chat(numbered.business_id(), chat)
        .send_message("two")
        .await
        .unwrap();
    assert_eq!(
        numbered.messages(chat).pop().unwrap().message_id.get(),
        5_001
    );
    let opened = numbered.open_chat(65_000_005, "three");
    assert_eq!(numbered.messages(opened)[0].message_id.get(), 5_002);

    // The default: 1,000,000,000 plus the milliseconds since 2025 at the start.
    let epoch = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap();
    let floor = 1_000_000_000 + (chrono::Utc::now() - epoch.to_utc()).num_milliseconds() as u64;
    let first = Sandbox::start(config()).unwrap();
    let chat = first.chats()[0].chat_id;
    let ids: Vec<u64> = (0..5)
        .map(|i| first.customer_message(chat, format!("message {i}")).get())
        .collect();
    assert!(ids[0] >= floor, "{} < {floor}", ids[0]);
    assert!(ids[0] > max_message_id(&plain));
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    // A sandbox started after it never reissues one of its ids.
    let second = Sandbox::start(config()).unwrap();
    let next = second
        .customer_message(second.chats()[0].chat_id, "hello")
        .get();
    assert!(next > ids[4], "{next} after {ids:?}");
}

#[tokio::test]
async fn the_request_log_says_when_each_request_arrived_and_from_which_agent() {
    let sandbox = Sandbox::start(SandboxConfig::default().chats(3)).unwrap();
    let start = Instant::now();
    let _ = listed(&sandbox).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle = Instant::now();
    reqwest::Client::new()
        .post(format!("{}/v2/businesses/1/chats", sandbox.base_url()))
        .header("User-Agent", "probe/1.0")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let mut bare =
        tokio::net::TcpStream::connect(sandbox.base_url().strip_prefix("http://").unwrap())
            .await
            .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut bare,
        b"GET /v2/businesses/1/chat?chatId=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut bare, &mut answer).await;

    let requests = sandbox.requests();
    assert_eq!(requests.len(), 3);
    let agent = requests[0].user_agent.as_deref().unwrap();
    assert!(agent.starts_with("yandex-market-chats/"), "{agent}");
    assert_eq!(requests[1].user_agent.as_deref(), Some("probe/1.0"));
    assert_eq!(requests[2].user_agent, None);
    assert!(start <= requests[0].at && requests[0].at <= middle);
    assert!(middle <= requests[1].at && requests[1].at <= requests[2].at);
    assert!(requests[2].at <= Instant::now());
}

/// Issue 21: a newcomer's first program lists the chats waiting for the
/// seller with their orders. The seeded data has such chats about orders and
/// returns (sandbox 0.1's cycles made every waiting chat `DIRECT`), is
/// mostly answered or closed, has a few disputes, and has every value in its
/// first ten chats whatever the seed; the README's chat 10668 is the default
/// sandbox's first.
#[tokio::test]
async fn seeded_data_is_realistic_waiting_chats_are_about_orders_and_returns() {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let client = sandbox.client().unwrap();
    let waiting: Vec<Chat> = client
        .chats(sandbox.business_id())
        .statuses([ChatStatus::New, ChatStatus::WaitingForPartner])
        .page_size(20)
        .stream()
        .try_collect()
        .await
        .unwrap();
    for kind in [ChatContextType::Order, ChatContextType::Return] {
        let about: Vec<&Chat> = waiting.iter().filter(|c| c.context.type_ == kind).collect();
        assert!(about.len() >= 3, "{kind}: {}", about.len());
        assert!(about.iter().all(|c| c.context.order_id.is_some()));
    }
    let all = sandbox.chats();
    let answered_or_closed = all
        .iter()
        .filter(|c| {
            matches!(
                c.status,
                ChatStatus::Finished | ChatStatus::WaitingForCustomer
            )
        })
        .count();
    assert!(
        answered_or_closed * 2 > all.len(),
        "{answered_or_closed} of {}",
        all.len()
    );
    let disputes: Vec<&Chat> = all
        .iter()
        .filter(|c| {
            matches!(
                c.status,
                ChatStatus::WaitingForArbiter | ChatStatus::WaitingForMarket
            )
        })
        .collect();
    assert!(
        (2..=all.len() / 5).contains(&disputes.len()),
        "{}",
        disputes.len()
    );
    assert!(
        disputes
            .iter()
            .all(|c| c.type_ == ChatType::Arbitrage && c.context.type_ != ChatContextType::Direct)
    );

    let first = &all[0];
    assert!(first.chat_id == 10668, "{}", first.chat_id);
    assert_eq!(
        (&first.status, &first.context.type_),
        (&ChatStatus::New, &ChatContextType::Order)
    );
    assert!(!sandbox.messages(10668).is_empty());

    for seed in [1, 2, 9, 1234] {
        let few = Sandbox::start(SandboxConfig::default().chats(10).seed(seed)).unwrap();
        let chats = few.chats();
        for status in ChatStatus::KNOWN {
            assert!(
                chats.iter().any(|c| &c.status == status),
                "seed {seed}: {status}"
            );
        }
        for kind in ChatContextType::KNOWN {
            assert!(
                chats.iter().any(|c| &c.context.type_ == kind),
                "seed {seed}: {kind}"
            );
        }
        for kind in ChatType::KNOWN {
            assert!(
                chats.iter().any(|c| &c.type_ == kind),
                "seed {seed}: {kind}"
            );
        }
    }
}
