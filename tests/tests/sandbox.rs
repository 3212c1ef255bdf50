//! The sandbox behaves like getChats, tested through the wrapper crate.

use std::time::Duration;

use futures::TryStreamExt;
use serde_json::json;
use yandex_market_chats::{
    Chat, ChatContextType, ChatMessageSender, ChatStatus, ChatTarget, ChatType, Client, Error,
    PageSize, RetryPolicy,
};
use yandex_market_chats_sandbox::{Fault, Sandbox, SandboxConfig};

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
    for (query, body) in [
        ("?limit=21", json!({})),
        ("?limit=0", json!({})),
        ("", json!({"statuses": []})),
        ("", json!({"types": ["CHAT", "CHAT"]})),
        ("", json!({"statuses": ["NOT_A_STATUS"]})),
        ("?pageToken=forged", json!({})),
    ] {
        let response = send(query, body.clone(), sandbox.api_key()).await.unwrap();
        assert_eq!(response.status(), 400, "{query} {body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["status"], "ERROR");
        assert_eq!(error["errors"][0]["code"], "BAD_REQUEST");
    }
    let response = send("", json!({}), "wrong-key").await.unwrap();
    assert_eq!(response.status(), 401);

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

    let error = sandbox
        .client()
        .unwrap()
        .chats(sandbox.business_id() + 1)
        .page(None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404), "{error}");
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
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(sandbox.requests().last().unwrap().status, None);
}

#[tokio::test]
async fn dropping_the_sandbox_stops_the_server() {
    // A key no other test's sandbox knows: if another test rebinds the port,
    // its server refuses this key, so only this sandbox could answer 200.
    let sandbox =
        Sandbox::start(SandboxConfig::default().chats(3).api_key("drop-test-key")).unwrap();
    let client = sandbox
        .client_builder()
        .retry(RetryPolicy::disabled())
        .build()
        .unwrap();
    let business = sandbox.business_id();
    client.chats(business).page(None).await.unwrap();
    drop(sandbox);
    let after = client.chats(business).page(None).await;
    assert!(after.is_err(), "still answering after drop");
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
            let chats: Vec<_> = sandbox
                .client()
                .unwrap()
                .chats(sandbox.business_id())
                .stream()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(chats, sandbox.chats());
            drop(sandbox);

            let sandbox = Sandbox::start(SandboxConfig::default().chats(3)).unwrap();
            let url = sandbox.base_url().to_owned();
            tokio::spawn(async move { drop(sandbox) }).await.unwrap();
            let after = reqwest::Client::new().get(url).send().await;
            assert!(after.is_err(), "still answering after drop");
        });
    }
}
