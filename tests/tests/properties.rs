//! Generated cases: nothing lost or repeated under faults, decoding never
//! panics, and invalid input never reaches the network.
//!
//! Cases per property: 256 by default (CI); `PROPTEST_CASES=N` for another
//! number. Each property prints its seed; `PROPTEST_RNG_SEED=S` replays it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{KEY, Reply, raw_server};
use futures::StreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use yandex_market_chats::{ChatStatus, ChatType, Client, Error, PageSize, RetryPolicy};
use yandex_market_chats_sandbox::{Fault, Sandbox, SandboxConfig};

const ATTEMPTS: u32 = 4;
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(150);

fn config() -> ProptestConfig {
    common::proptest_config(256)
}

/// For a runner outside `proptest!`, which knows no source file.
fn runner_config() -> ProptestConfig {
    let mut config = config();
    config.failure_persistence = Some(Box::new(
        proptest::test_runner::FileFailurePersistence::Direct(
            "tests/properties.proptest-regressions",
        ),
    ));
    config
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The faults a schedule may contain.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Quota,
    Parallel,
    Internal,
    Unavailable,
    Drop,
    Slow,
}

impl Kind {
    fn fault(self) -> Fault {
        match self {
            // `Until` at (or, after truncation to seconds, before) now: no real wait.
            Kind::Quota => Fault::QuotaExhausted(Duration::ZERO),
            Kind::Parallel => Fault::ParallelLimit,
            Kind::Internal => Fault::InternalError,
            Kind::Unavailable => Fault::ServiceUnavailable,
            Kind::Drop => Fault::DropConnection,
            // Slower than the per-attempt timeout.
            Kind::Slow => Fault::Slow(ATTEMPT_TIMEOUT + Duration::from_millis(100)),
        }
    }

    /// Whether `error` is what this fault, repeated past the budget, ends with.
    fn explains(self, error: &Error) -> bool {
        match self {
            Kind::Quota => matches!(error, Error::RateLimited { local: false, .. }),
            Kind::Parallel => matches!(error, Error::Api { status: 420, .. }),
            Kind::Internal => error.status() == Some(500),
            Kind::Unavailable => error.status() == Some(503),
            Kind::Drop => matches!(error, Error::Transport { .. }),
            Kind::Slow => matches!(error, Error::Timeout { .. }),
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Quota),
        3 => Just(Kind::Parallel),
        3 => Just(Kind::Internal),
        3 => Just(Kind::Unavailable),
        3 => Just(Kind::Drop),
        1 => Just(Kind::Slow),
    ]
}

/// How many pages a listing of `count` chats takes at `size` a page (an
/// empty listing is one page).
fn pages(count: usize, size: u32) -> usize {
    count.div_ceil(size as usize).max(1)
}

/// A listing and a schedule: for each of its pages, a run of 1..=max_run
/// faults before the page is answered, on about one page in six, anywhere in
/// the listing.
fn listing_with_faults(
    chats: std::ops::Range<usize>,
    max_run: usize,
) -> impl Strategy<Value = (usize, u32, Vec<Vec<Kind>>)> {
    (chats, 1u32..=20).prop_flat_map(move |(count, size)| {
        let run = prop::collection::vec(kind(), 1..=max_run);
        let runs = prop::collection::vec(
            prop::option::weighted(0.15, run).prop_map(Option::unwrap_or_default),
            pages(count, size),
        );
        (Just(count), Just(size), runs)
    })
}

fn flatten(schedule: &[Vec<Kind>]) -> Vec<Option<Fault>> {
    schedule
        .iter()
        .flat_map(|run| run.iter().map(|k| Some(k.fault())).chain([None]))
        .collect()
}

/// The faults that, repeated past the attempt budget, end a listing. (A
/// parallel-limit 420 is retried until the deadline instead, outside the
/// budget: see `limits_client.rs`.)
fn fatal_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Quota),
        3 => Just(Kind::Internal),
        3 => Just(Kind::Unavailable),
        3 => Just(Kind::Drop),
        1 => Just(Kind::Slow),
    ]
}

fn fast_client(sandbox: &Sandbox) -> Client {
    sandbox
        .client_builder()
        .attempt_timeout(ATTEMPT_TIMEOUT)
        .total_timeout(Duration::from_secs(30))
        .retry(
            RetryPolicy::default()
                .max_attempts(ATTEMPTS)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(4))
                .parallel_limit_backoff(Duration::from_millis(2))
                .max_quota_wait(Duration::from_secs(2))
                .quota_reset_margin(Duration::ZERO),
        )
        .build()
        .unwrap()
}

fn chat_ids(chats: &[yandex_market_chats::Chat]) -> Vec<u64> {
    chats.iter().map(|c| c.chat_id.get()).collect()
}

proptest! {
    #![proptest_config(config())]

    /// Within the retry budget: exactly the server's chats, in order, once.
    #[test]
    fn faults_within_the_budget_lose_and_repeat_nothing(
        (count, size, faults) in listing_with_faults(0..500, ATTEMPTS as usize - 1),
        seed in any::<u64>(),
    ) {
        let sandbox = Sandbox::start(SandboxConfig::default().chats(count).seed(seed)).unwrap();
        sandbox.script(flatten(&faults));
        let client = fast_client(&sandbox);
        let items: Vec<_> = runtime().block_on(
            client.chats(sandbox.business_id()).page_size(PageSize::new(size).unwrap()).stream().collect(),
        );
        let chats: Vec<_> = items.into_iter().collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(chat_ids(&chats), chat_ids(&sandbox.chats()));
        prop_assert_eq!(chats, sandbox.chats());
    }

    /// Past the budget: the stream ends with the fault's error, after a
    /// prefix of the chats with nothing twice.
    #[test]
    fn faults_past_the_budget_end_with_the_right_error_and_nothing_twice(
        (count, size, before, at) in listing_with_faults(1..200, ATTEMPTS as usize - 1)
            .prop_flat_map(|(count, size, before)| {
                let pages = before.len();
                (Just(count), Just(size), Just(before), 0..pages)
            }),
        fatal in fatal_kind(),
    ) {
        // The fatal run lands on page `at`, which the listing always reaches:
        // by construction every case ends with the fatal fault.
        let sandbox = Sandbox::start(SandboxConfig::default().chats(count)).unwrap();
        let mut script = flatten(&before[..at]);
        script.extend(std::iter::repeat_n(Some(fatal.fault()), ATTEMPTS as usize));
        sandbox.script(script);
        let client = fast_client(&sandbox);
        let items: Vec<_> = runtime().block_on(
            client.chats(sandbox.business_id()).page_size(PageSize::new(size).unwrap()).stream().collect(),
        );
        let all = chat_ids(&sandbox.chats());
        let mut yielded = Vec::new();
        let mut error = None;
        for item in items {
            prop_assert!(error.is_none(), "nothing comes after the error");
            match item {
                Ok(chat) => yielded.push(chat.chat_id.get()),
                Err(e) => error = Some(e),
            }
        }
        prop_assert_eq!(&yielded[..], &all[..yielded.len()], "a prefix, in order, nothing twice");
        // Exactly the pages before the fatal one, then the fatal fault's error.
        prop_assert_eq!(yielded.len(), at * size as usize);
        let error = error.expect("the listing ends with the fatal fault's error");
        prop_assert!(fatal.explains(&error), "{:?} ended with {:?}", fatal, error);
    }

    /// `PageSize::new` accepts exactly 1..=20.
    #[test]
    fn page_size_accepts_exactly_1_to_20(n in prop_oneof![0u32..=25, any::<u32>()]) {
        let page_size = PageSize::new(n);
        prop_assert_eq!(page_size.is_ok(), (1..=20).contains(&n));
        if let Ok(size) = page_size {
            prop_assert_eq!(size.get(), n);
        }
    }

    /// Filters reach the server without duplicates or empty arrays, whatever the caller passes.
    #[test]
    fn filters_are_deduplicated_and_empty_ones_left_out(
        statuses in prop::collection::vec(0usize..6, 0..8),
        types in prop::collection::vec(0usize..2, 0..5),
    ) {
        let sandbox = Sandbox::start(SandboxConfig::default().chats(5)).unwrap();
        let client = sandbox.client().unwrap();
        let statuses: Vec<ChatStatus> = statuses.into_iter().map(|i| ChatStatus::KNOWN[i].clone()).collect();
        let types: Vec<ChatType> = types.into_iter().map(|i| ChatType::KNOWN[i].clone()).collect();
        runtime().block_on(client.chats(sandbox.business_id()).statuses(statuses.clone()).types(types.clone()).page(None)).unwrap();
        let body = sandbox.requests().pop().unwrap().body.unwrap();
        for (field, given) in [("statuses", statuses.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                               ("types", types.iter().map(|t| t.to_string()).collect())] {
            let mut first_seen = Vec::new();
            for value in given {
                if !first_seen.contains(&value) { first_seen.push(value); }
            }
            match body.get(field) {
                None => prop_assert!(first_seen.is_empty()),
                Some(sent) => {
                    let sent: Vec<String> = serde_json::from_value(sent.clone()).unwrap();
                    prop_assert_eq!(sent, first_seen);
                }
            }
        }
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("NEW"),
            Just("ORDER"),
            Just("2017-11-21T00:00:00+03:00"),
            Just("")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("status".to_owned()),
                    Just("result".to_owned()),
                    Just("chats".to_owned()),
                    Just("errors".to_owned()),
                    Just("chatId".to_owned()),
                    Just("paging".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A page whose fields hold arbitrary values: near-valid bodies.
fn near_valid_page() -> impl Strategy<Value = Value> {
    (json_value(), json_value(), json_value()).prop_map(|(id, status, token)| {
        json!({"status": "OK", "result": {"chats": [{
            "chatId": id, "context": {"type": "ORDER"}, "type": "CHAT", "status": status,
            "createdAt": "2017-11-21T00:00:00+03:00", "updatedAt": "2017-11-21T00:00:00+03:00"
        }], "paging": {"nextPageToken": token}}})
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        near_valid_page().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![
        200u16, 201, 202, 400, 401, 403, 404, 409, 420, 429, 500, 502, 503, 504,
    ])
}

#[test]
fn any_body_under_any_status_decodes_or_fails_with_what_it_saw() {
    let runtime = runtime();
    let next: Arc<Mutex<(u16, Vec<u8>)>> = Arc::new(Mutex::new((200, Vec::new())));
    let served = Arc::clone(&next);
    let base = runtime.block_on(raw_server(move |_, _| {
        let (status, body) = served.lock().unwrap().clone();
        async move { Reply::Respond(status, vec![], body) }
    }));
    let client = Client::builder()
        .api_key(KEY)
        .base_url(&base)
        .retry(RetryPolicy::disabled())
        .build()
        .unwrap();

    let mut runner = proptest::test_runner::TestRunner::new(runner_config());
    runner
        .run(&(status(), body()), |(status, body)| {
            *next.lock().unwrap() = (status, body.clone());
            match runtime.block_on(client.chats(42).page(None)) {
                Ok(page) => {
                    prop_assert_eq!(status, 200, "only a 200 decodes as a page");
                    prop_assert!(page.chats.len() <= 1);
                }
                Err(error) => {
                    prop_assert_eq!(
                        error.status(),
                        Some(status),
                        "the error names the status: {}",
                        error
                    );
                    let text = error.to_string();
                    prop_assert!(text.contains(&status.to_string()), "{}", text);
                    if let Error::Decode {
                        excerpt, reason, ..
                    } = &error
                    {
                        if reason.contains("no `result`") {
                            // Parsed, so shown as parsed: JSON with the status.
                            let shown: Result<Value, _> = serde_json::from_str(excerpt);
                            prop_assert!(
                                shown.is_ok_and(|v| v.get("status").is_some()),
                                "{:?}",
                                excerpt
                            );
                        } else {
                            let start = String::from_utf8_lossy(&body)
                                .chars()
                                .take(20)
                                .collect::<String>();
                            prop_assert!(
                                excerpt.starts_with(&start),
                                "{:?} vs {:?}",
                                excerpt,
                                start
                            );
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn invalid_input_never_reaches_the_network() {
    let runtime = runtime();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let base = runtime.block_on(raw_server(move |_, _| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Reply::Respond(500, vec![], Vec::new()) }
    }));
    let mut runner = proptest::test_runner::TestRunner::new(runner_config());
    runner
        .run(
            &("[\\x00-\\x1f\\x7f]", ".{0,8}", "[a-z]{1,10}\\.(com|ru|net)"),
            |(control, text, host)| {
                let bad_builders = [
                    Client::builder().api_key(format!("{text}{control}{text}")),
                    Client::builder().api_key(""),
                    Client::builder().api_key("   "),
                    Client::builder()
                        .api_key("k")
                        .base_url(format!("http://{host}")),
                    Client::builder()
                        .api_key("k")
                        .base_url(format!("{text}://{host}:x")),
                    Client::builder().api_key("k").oauth_token("t"),
                    Client::builder(),
                ];
                for builder in bad_builders {
                    let refused = matches!(builder.build(), Err(Error::InvalidInput { .. }));
                    prop_assert!(refused);
                }
                let client = Client::builder()
                    .api_key("k")
                    .base_url(&base)
                    .build()
                    .unwrap();
                let zero = runtime.block_on(client.chats(0).page(None));
                let refused = matches!(zero, Err(Error::InvalidInput { .. }));
                prop_assert!(refused);
                #[allow(deprecated)]
                let zero_order = runtime.block_on(client.chats(1).order_ids([0]).page(None));
                let refused = matches!(zero_order, Err(Error::InvalidInput { .. }));
                prop_assert!(refused);
                let first = runtime.block_on(client.chats(0).stream().next());
                let refused = matches!(first, Some(Err(Error::InvalidInput { .. })));
                prop_assert!(refused);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}
