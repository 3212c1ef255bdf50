//! The limits, retries and safety rules of the client against real local
//! servers (real time: paused time does not mix with sockets): a custom
//! `Limiter`, deadlines on slot waits, quota 420s past the deadline or with
//! no reset, 429s, the parallel limit, redirects, secrets, builder extremes,
//! open-enum equality, `OutcomeUnknown::source`, resuming after a loop.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use futures::TryStreamExt;
use serde_json::json;
use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, QuotaState, Release};
use yandex_market_chats::{
    ChatStatus, Client, Credential, Error, InProcessLimiter, Operation, RetryPolicy, TimeoutKind,
};

// ---- A custom Limiter sees every acquire and every release ----

#[derive(Default)]
struct Recording {
    settings: Mutex<Option<LimiterSettings>>,
    acquired: AtomicUsize,
    released: Mutex<Vec<Release>>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Recording>);

impl Limiter for Shared {
    type Permit = u64;

    fn configure(&self, settings: &LimiterSettings) -> Result<(), Error> {
        *self.0.settings.lock().unwrap() = Some(settings.clone());
        Ok(())
    }

    async fn acquire(&self, request: Acquire) -> Result<u64, Error> {
        self.0.acquired.fetch_add(1, Ordering::SeqCst);
        Ok(request.business_id)
    }

    fn release(&self, permit: u64, release: Release) {
        assert_eq!(permit, 42);
        self.0.released.lock().unwrap().push(release);
    }

    async fn quota(&self, _: u64, _: Operation) -> Result<Option<QuotaState>, Error> {
        Ok(Some(QuotaState::new(7, 3, None)))
    }
}

#[tokio::test]
async fn a_custom_limiter_sees_every_acquire_and_release_also_of_a_dropped_request() {
    // The second request never gets an answer in time: it is dropped.
    let slow_second = |index| Duration::from_millis(if index == 1 { 1500 } else { 0 });
    let (url, _) = scripted_slow(slow_second, |_, _| {
        let mut reply = ok_page();
        if let Reply::Respond(_, headers, _) = &mut reply {
            headers.push(("X-RateLimit-Resource-Remaining".into(), "99".into()));
        }
        reply
    })
    .await;
    let recording = Shared::default();
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .max_in_flight_per_business(3)
        .operation_quota(Operation::GetChat, Some(17))
        .limiter(recording.clone())
        .build()
        .unwrap();
    let settings = recording.0.settings.lock().unwrap().clone().unwrap();
    assert_eq!(settings.max_in_flight, 3);
    assert_eq!(settings.quota(Operation::GetChat), Some(17));
    assert_eq!(settings.quota(Operation::GetChats), Some(5000));
    assert_eq!(settings.attempt_timeout, Duration::from_secs(15));

    client.chats(42).page(None).await.unwrap();
    let dropped =
        tokio::time::timeout(Duration::from_millis(300), client.chats(42).page(None)).await;
    assert!(dropped.is_err(), "the request was still in flight");
    assert_eq!(recording.0.acquired.load(Ordering::SeqCst), 2);
    let released = recording.0.released.lock().unwrap().clone();
    assert_eq!(released.len(), 2, "{released:?}");
    assert!(released[0].sent);
    assert_eq!(
        released[0].rate_limit.as_ref().and_then(|r| r.remaining),
        Some(99)
    );
    assert!(released[1].sent && released[1].rate_limit.is_none());
    let state = client
        .quota(42, Operation::GetChats)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((state.limit, state.remaining), (7, 3));
}

#[tokio::test]
async fn the_default_limiter_reports_the_quota_the_server_stated() {
    let until = http_date(Utc::now() + chrono::Duration::minutes(10));
    let (url, _) = scripted(move |_, _| {
        json_reply(
            200,
            &page_json([1], None),
            &[
                ("X-RateLimit-Resource-Limit", "5000".into()),
                ("X-RateLimit-Resource-Remaining", "1234".into()),
                ("X-RateLimit-Resource-Until", until.clone()),
            ],
        )
    })
    .await;
    let client = client(&url);
    let fresh = client
        .quota(42, Operation::GetChats)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (fresh.limit, fresh.remaining, fresh.resets_in),
        (5000, 5000, None)
    );
    client.chats(42).page(None).await.unwrap();
    let state = client
        .quota(42, Operation::GetChats)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.remaining, 1234);
    let resets_in = state.resets_in.unwrap().as_secs();
    assert!((595..=602).contains(&resets_in), "{resets_in}");
    let off = Client::builder()
        .api_key(KEY)
        .hourly_quota(None)
        .build()
        .unwrap();
    assert_eq!(off.quota(42, Operation::GetChats).await.unwrap(), None);
}

// ---- Deadlines ----

#[tokio::test]
async fn a_wait_for_a_slot_ends_at_the_deadline_and_a_write_that_never_left_is_not_outcome_unknown()
{
    let slow_first = |index| Duration::from_millis(if index == 0 { 4000 } else { 0 });
    let (url, hits) = scripted_slow(slow_first, |_, _| {
        json_reply(200, &json!({"status": "OK"}), &[])
    })
    .await;
    // Two clients share one limiter: the first holds the only slot.
    let shared = InProcessLimiter::new();
    let patient = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .max_in_flight_per_business(1)
        .limiter(shared.clone())
        .build()
        .unwrap();
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .max_in_flight_per_business(1)
        .total_timeout(Duration::from_millis(400))
        .retry(fast_retry())
        .limiter(shared)
        .build()
        .unwrap();
    let holder = tokio::spawn(async move { patient.chats(42).page(None).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let error = client.chat(42, 7).send_message("hello").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                kind: TimeoutKind::Total,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        // The deadline is 0.4 s; the slot frees at 4 s.
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    // Nothing was sent for the write.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let _ = holder.await;
}

#[tokio::test]
async fn a_quota_reset_past_the_deadline_is_rate_limited_not_a_plain_420() {
    let until = http_date(Utc::now() + chrono::Duration::seconds(20));
    let (url, hits) = scripted(move |_, _| {
        json_reply(
            420,
            &error_body("LIMIT_EXCEEDED", "Hit rate limit"),
            &[
                ("X-RateLimit-Resource-Remaining", "0".into()),
                ("X-RateLimit-Resource-Until", until.clone()),
            ],
        )
    })
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .total_timeout(Duration::from_secs(5))
        .retry(fast_retry().max_quota_wait(Duration::from_secs(60)))
        .build()
        .unwrap();
    let error = client.chats(42).page(None).await.unwrap_err();
    match &error {
        Error::RateLimited {
            reset_at: Some(at),
            local: false,
            ..
        } => {
            let seconds = (*at - Utc::now()).num_seconds();
            assert!((17..=21).contains(&seconds), "{seconds}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The next request is refused locally, with nothing sent.
    let error = client.chats(42).page(None).await.unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { local: true, .. }),
        "{error:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_spent_quota_without_a_usable_reset_backs_off_and_makes_none_up() {
    // Remaining 0 with no Until twice, then success; later requests are not
    // refused locally for a reset the server never stated.
    let (url, hits) = scripted(|index, _| {
        if index < 2 {
            json_reply(
                420,
                &error_body("LIMIT_EXCEEDED", "Hit rate limit"),
                &[
                    ("X-RateLimit-Resource-Remaining", "0".into()),
                    ("X-RateLimit-Resource-Until", "someday".into()),
                ],
            )
        } else {
            ok_page()
        }
    })
    .await;
    let client = client(&url);
    let chats: Vec<_> = client.chats(42).stream().try_collect().await.unwrap();
    assert_eq!(chats.len(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    client.chats(42).page(None).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

// ---- 429 and the parallel limit ----

#[tokio::test]
async fn a_429_waits_for_retry_after_in_seconds_or_as_a_date() {
    for form in ["seconds", "date"] {
        let (url, hits) = scripted(move |index, _| {
            if index == 0 {
                let now = Utc::now();
                let value = match form {
                    "seconds" => "1".to_owned(),
                    _ => http_date(now + chrono::Duration::seconds(2)),
                };
                // `Date` is the server's clock, a day behind: only the
                // difference matters.
                let skewed = http_date(now - chrono::Duration::days(1));
                let date = if form == "date" {
                    http_date(now)
                } else {
                    skewed
                };
                Reply::Respond(
                    429,
                    vec![("Retry-After".into(), value), ("Date".into(), date)],
                    b"<html>Too Many Requests</html>".to_vec(),
                )
            } else {
                ok_page()
            }
        })
        .await;
        let started = Instant::now();
        let chats: Vec<_> = client(&url).chats(42).stream().try_collect().await.unwrap();
        let waited = started.elapsed();
        assert_eq!(chats.len(), 3);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(waited >= Duration::from_millis(900), "{form}: {waited:?}");
        assert!(waited < Duration::from_secs(4), "{form}: {waited:?}");
    }
}

#[tokio::test]
async fn a_429_whose_retry_after_is_too_far_fails_at_once() {
    let (url, hits) = scripted(|_, _| {
        Reply::Respond(429, vec![("Retry-After".into(), "3000".into())], Vec::new())
    })
    .await;
    let error = client(&url).chats(42).page(None).await.unwrap_err();
    assert_eq!(error.status(), Some(429));
    assert!(error.is_rate_limited());
    assert_eq!(
        error.rate_limit().and_then(|r| r.retry_after),
        Some(Duration::from_secs(3000))
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_parallel_limit_is_retried_past_the_attempt_budget_until_it_clears() {
    // Other processes hold the slots for 7 answers; the budget is 2 attempts.
    let (url, hits) = scripted(|index, _| {
        if index < 7 {
            json_reply(
                420,
                &error_body("LIMIT_EXCEEDED", "Hit rate limit of 4 parallel requests"),
                &[("X-RateLimit-Resource-Remaining", "4000".into())],
            )
        } else {
            ok_page()
        }
    })
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .retry(fast_retry().max_attempts(2))
        .build()
        .unwrap();
    let chats: Vec<_> = client.chats(42).stream().try_collect().await.unwrap();
    assert_eq!(chats.len(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 8);
}

// ---- Redirects ----

/// A second listener that records whether the key ever reached it.
async fn elsewhere() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let saw_key = Arc::new(AtomicUsize::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let (k, h) = (Arc::clone(&saw_key), Arc::clone(&hits));
    let url = raw_server(move |_, head| {
        h.fetch_add(1, Ordering::SeqCst);
        if head.contains(KEY) {
            k.fetch_add(1, Ordering::SeqCst);
        }
        async move { ok_page() }
    })
    .await;
    (url, saw_key, hits)
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_the_key_never_leaves() {
    let (target, saw_key, target_hits) = elsewhere().await;
    let location = format!("{target}/v2/businesses/42/chats?token={KEY}");
    let (url, hits) = scripted(move |_, _| {
        Reply::Respond(302, vec![("Location".into(), location.clone())], Vec::new())
    })
    .await;
    let error = client(&url).chats(42).page(None).await.unwrap_err();
    match &error {
        Error::Redirect {
            status: 302,
            target: Some(shown),
        } => assert_eq!(shown, &target),
        other => panic!("{other:?}"),
    }
    let text = format!("{error} {error:?}");
    assert!(!text.contains(KEY), "{text}");
    assert!(text.contains("302"), "{text}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a redirect is final");
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);
    assert_eq!(saw_key.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_custom_http_client_that_follows_a_redirect_is_caught() {
    let (target, _, target_hits) = elsewhere().await;
    let location = format!("{target}/v2/businesses/42/chats");
    let (url, _) = scripted(move |_, _| {
        Reply::Respond(307, vec![("Location".into(), location.clone())], Vec::new())
    })
    .await;
    // reqwest's default policy follows redirects (and keeps `Api-Key`).
    let following = yandex_market_chats::reqwest::Client::builder()
        .build()
        .unwrap();
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .http_client(following)
        .retry(fast_retry())
        .build()
        .unwrap();
    let error = client.chats(42).page(None).await.unwrap_err();
    match &error {
        Error::Redirect {
            target: Some(shown),
            ..
        } => assert_eq!(shown, &target),
        other => panic!("{other:?}"),
    }
    assert_eq!(target_hits.load(Ordering::SeqCst), 1);
}

// ---- Secrets in server-derived text ----

#[tokio::test]
async fn the_key_never_appears_in_a_decode_reason_or_an_error_source() {
    // A string where a number goes: serde quotes the value in its reason.
    let (url, _) = scripted(|_, _| {
        let mut chat = chat_json(1);
        chat["chatId"] = json!(KEY);
        json_reply(
            200,
            &json!({"status": "OK", "result": {"chats": [chat]}}),
            &[],
        )
    })
    .await;
    let error = client(&url).chats(42).page(None).await.unwrap_err();
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    let mut text = format!("{error} {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text.push_str(&format!(" {inner} {inner:?}"));
        source = inner.source();
    }
    assert!(!text.contains(KEY), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}

#[test]
fn credentials_in_the_base_url_and_blank_tokens_are_refused_without_echo() {
    for url in [
        "https://:hunter2-secret@api.example",
        "https://user:hunter2-secret@api.example",
    ] {
        let error = Client::builder()
            .api_key(KEY)
            .base_url(url)
            .build()
            .unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(matches!(error, Error::InvalidInput { .. }));
        assert!(!text.contains("hunter2-secret"), "{text}");
    }
    for token in ["", "   ", "\t"] {
        let error = Client::builder().oauth_token(token).build().unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{token:?}");
    }
}

// ---- 403: scope or not ----

#[tokio::test]
async fn only_a_403_about_the_scope_is_missing_scope_and_oauth_says_token() {
    let (url, _) = scripted(|_, head| {
        if head.contains("/chats/message") {
            json_reply(
                403,
                &error_body(
                    "FORBIDDEN",
                    "Access denied: the token lacks the communication scope",
                ),
                &[],
            )
        } else {
            json_reply(403, &error_body("FORBIDDEN", "Campaign is disabled"), &[])
        }
    })
    .await;
    let oauth = Client::builder()
        .oauth_token("oauth-token-value")
        .base_url(&url)
        .retry(fast_retry())
        .build()
        .unwrap();
    let error = oauth.chat(42, 7).send_message("hi").await.unwrap_err();
    match &error {
        Error::MissingScope {
            credential: Credential::OAuthToken,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("OAuth token") && text.contains("this token lacks it"),
        "{text}"
    );
    // Any other 403 keeps its details.
    let error = client(&url)
        .create_chat(
            42,
            yandex_market_chats::ChatContext {
                type_: yandex_market_chats::ChatContextIdentifiableType::Order,
                id: 5.into(),
            },
        )
        .await
        .unwrap_err();
    match &error {
        Error::Api {
            status: 403,
            details,
        } => {
            assert_eq!(details.message.as_deref(), Some("Campaign is disabled"));
            assert_eq!(
                details.errors[0].message.as_deref(),
                Some("Campaign is disabled")
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---- OutcomeUnknown keeps its cause ----

#[tokio::test]
async fn outcome_unknown_keeps_its_cause_as_source() {
    let (url, _) =
        scripted(|_, _| json_reply(502, &error_body("BAD_GATEWAY", "upstream"), &[])).await;
    let error = client(&url)
        .chat(42, 7)
        .send_message("hi")
        .await
        .unwrap_err();
    let Error::OutcomeUnknown { .. } = &error else {
        panic!("{error:?}")
    };
    let source = std::error::Error::source(&error).expect("a source");
    let cause = source
        .downcast_ref::<Error>()
        .expect("the cause is an Error");
    assert_eq!(cause.status(), Some(502));
}

// ---- Builder extremes ----

#[tokio::test]
async fn every_builder_extreme_is_accepted_and_works_or_refused_by_name() {
    let (url, _) = scripted(|_, _| ok_page()).await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .connect_timeout(Duration::MAX)
        .attempt_timeout(Duration::MAX)
        .total_timeout(Duration::MAX)
        .max_in_flight_per_business(usize::MAX)
        .max_tracked_businesses(usize::MAX)
        .hourly_quota(Some(u32::MAX))
        .retry(
            RetryPolicy::default()
                .max_attempts(u32::MAX)
                .initial_backoff(Duration::MAX)
                .max_backoff(Duration::MAX)
                .parallel_limit_backoff(Duration::MAX)
                .max_quota_wait(Duration::MAX)
                .quota_reset_margin(Duration::MAX),
        )
        .build()
        .unwrap();
    let chats: Vec<_> = client.chats(42).stream().try_collect().await.unwrap();
    assert_eq!(chats.len(), 3);

    for (builder, name) in [
        (
            Client::builder().max_in_flight_per_business(0),
            "max_in_flight_per_business",
        ),
        (
            Client::builder().max_tracked_businesses(0),
            "max_tracked_businesses",
        ),
        (
            Client::builder().total_timeout(Duration::ZERO),
            "total timeout",
        ),
        (
            Client::builder().attempt_timeout(Duration::ZERO),
            "attempt timeout",
        ),
        (
            Client::builder().connect_timeout(Duration::ZERO),
            "connect timeout",
        ),
        (Client::builder().hourly_quota(Some(0)), "getChats"),
        (
            Client::builder().retry(RetryPolicy::default().max_attempts(0)),
            "max_attempts",
        ),
    ] {
        let error = builder.api_key(KEY).build().unwrap_err();
        assert!(error.to_string().contains(name), "{name}: {error}");
    }
}

// ---- Open enums: one value, one wire form ----

#[tokio::test]
async fn unknown_with_a_known_name_is_the_known_value_and_filters_send_it_once() {
    let unknown_new = ChatStatus::Unknown("NEW".to_owned());
    assert_eq!(unknown_new, ChatStatus::New);
    let set: HashSet<_> = [unknown_new.clone(), ChatStatus::New].into_iter().collect();
    assert_eq!(set.len(), 1);
    assert_eq!(serde_json::to_string(&unknown_new).unwrap(), "\"NEW\"");
    let parsed: ChatStatus = serde_json::from_str("\"NEW\"").unwrap();
    assert!(!parsed.is_unknown());

    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    let (url, _) = scripted(move |_, head| {
        seen.lock().unwrap().push(head.to_owned());
        ok_page()
    })
    .await;
    client(&url)
        .chats(42)
        .statuses([
            ChatStatus::New,
            unknown_new,
            ChatStatus::Unknown("FUTURE".into()),
        ])
        .page(None)
        .await
        .unwrap();
    let head = bodies.lock().unwrap()[0].clone();
    assert!(head.contains(r#""statuses":["NEW","FUTURE"]"#), "{head}");
}

// ---- Resuming after a pagination loop ----

#[tokio::test]
async fn resuming_after_a_loop_never_fetches_the_yielded_page_again() {
    // Pages: first -> A -> B -> A (a loop).
    let (url, _) = scripted(|_, head| {
        let token = head
            .split_whitespace()
            .nth(1)
            .and_then(|path| path.split("pageToken=").nth(1))
            .map(|t| t.split('&').next().unwrap().to_owned());
        let (ids, next) = match token.as_deref() {
            None => (1..=2, "A"),
            Some("A") => (3..=4, "B"),
            _ => (5..=6, "A"),
        };
        json_reply(200, &page_json(ids, Some(next)), &[])
    })
    .await;
    let client = client(&url);
    let mut pages = client.chats(42).pages();
    let mut seen = Vec::new();
    let error = loop {
        match pages.try_next().await {
            Ok(Some(page)) => seen.push(page.page_token.clone()),
            Ok(None) => panic!("no loop"),
            Err(error) => break error,
        }
    };
    // Page B named A, already sent: B is not yielded.
    assert_eq!(seen, [None, Some("A".to_owned())]);
    let Error::PaginationLoop { token } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(token, "A");
    // The stream names B, the page it did not yield, as where to resume.
    let resume = pages.next_page_token().unwrap().to_owned();
    assert_eq!(resume, "B");
    let resumed = client.chats(42).resume_from(resume).max_pages(1).pages();
    let first: Vec<_> = resumed.try_collect().await.unwrap();
    assert_eq!(first[0].page_token.as_deref(), Some("B"), "not A again");
}

// ---- Limits per business ----

#[tokio::test]
async fn two_businesses_do_not_share_slots() {
    let peak = Arc::new(AtomicUsize::new(0));
    let now = Arc::new(AtomicUsize::new(0));
    let (p, n) = (Arc::clone(&peak), Arc::clone(&now));
    let url = raw_server(move |_, head| {
        let (p, n) = (Arc::clone(&p), Arc::clone(&n));
        let business = if head.contains("/businesses/1/") {
            1
        } else {
            2
        };
        async move {
            let current = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            let _ = business;
            ok_page()
        }
    })
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .max_in_flight_per_business(1)
        .build()
        .unwrap();
    let (q1, q2) = (client.chats(1), client.chats(2));
    let (a, b) = tokio::join!(q1.page(None), q2.page(None));
    a.unwrap();
    b.unwrap();
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "one slot each, both at once"
    );
    // A limiter shared by two clients shares their limits.
    let shared = InProcessLimiter::new();
    let one = Client::builder()
        .api_key(KEY)
        .base_url(&url)
        .max_in_flight_per_business(1)
        .limiter(shared.clone())
        .build()
        .unwrap();
    let two = Client::builder()
        .api_key("other-key")
        .base_url(&url)
        .max_in_flight_per_business(1)
        .limiter(shared)
        .build()
        .unwrap();
    peak.store(0, Ordering::SeqCst);
    let (q1, q2) = (one.chats(1), two.chats(1));
    let (a, b) = tokio::join!(q1.page(None), q2.page(None));
    a.unwrap();
    b.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}
