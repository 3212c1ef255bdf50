//! The in-process limiter against an in-memory model of the server's
//! limits, on tokio's paused clock: hourly windows on the server's own clock
//! (with skew), `Date`/`Until` headers of one-second resolution in any HTTP
//! date form, a parallel limit, latency.
//!
//! Paused time does not mix with real sockets, so nothing here opens one:
//! the "requests" are calls on the model, and the limiter is driven through
//! its public trait exactly as the client drives it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use tokio::time::Instant;
use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, Release};
use yandex_market_chats::reqwest::header::{HeaderMap, HeaderValue};
use yandex_market_chats::{Client, Error, InProcessLimiter, Operation, RateLimit};

const HOUR: i64 = 3600;
const MARGIN: Duration = Duration::from_secs(1);
const BUSINESS: u64 = 42;

/// The HTTP date forms a server may send; the weekday is wrong in the last.
#[derive(Clone, Copy, Debug)]
enum Form {
    Rfc1123,
    Rfc850,
    Asctime,
    NoWeekday,
    WrongWeekday,
}

fn http_date(at: DateTime<Utc>, form: Form) -> String {
    match form {
        Form::Rfc1123 => at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        Form::Rfc850 => at.format("%A, %d-%b-%y %H:%M:%S GMT").to_string(),
        Form::Asctime => at.format("%a %b %e %H:%M:%S %Y").to_string(),
        Form::NoWeekday => at.format("%d %b %Y %H:%M:%S GMT").to_string(),
        Form::WrongWeekday => {
            let wrong = (at + TimeDelta::days(2)).format("%a").to_string();
            format!("{wrong}, {}", at.format("%d %b %Y %H:%M:%S GMT"))
        }
    }
}

/// The server: fixed hourly windows on its own clock, a request counted in
/// the window it arrives in, at most `parallel` in flight.
struct Model {
    clock_at_start: DateTime<Utc>,
    started: Instant,
    quota: u64,
    parallel: usize,
    used: HashMap<i64, u64>,
    in_flight: usize,
    /// Sent by the client, not yet arrived.
    on_the_way: u64,
    /// Sent by the client, not yet answered.
    client_in_flight: u64,
    form: Form,
    refused_for_quota: usize,
    refused_for_parallel: usize,
    accepted_per_window: HashMap<i64, u64>,
}

impl Model {
    fn new(skew_seconds: i64, quota: u64, parallel: usize, form: Form) -> Self {
        // A whole second, so that the model's windows start on whole seconds.
        let clock_at_start =
            DateTime::from_timestamp(1_750_000_000 + 1234 + skew_seconds, 0).unwrap();
        Self {
            clock_at_start,
            started: Instant::now(),
            quota,
            parallel,
            used: HashMap::new(),
            in_flight: 0,
            on_the_way: 0,
            client_in_flight: 0,
            form,
            refused_for_quota: 0,
            refused_for_parallel: 0,
            accepted_per_window: HashMap::new(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock_at_start + TimeDelta::from_std(self.started.elapsed()).unwrap()
    }

    fn window(&self) -> i64 {
        self.now().timestamp().div_euclid(HOUR)
    }

    fn remaining(&self) -> u64 {
        self.quota - self.used.get(&self.window()).copied().unwrap_or(0)
    }

    /// Seconds since the current window started.
    fn seconds_into_window(&self) -> f64 {
        let now = self.now();
        (now.timestamp() - self.window() * HOUR) as f64
            + f64::from(now.timestamp_subsec_nanos()) / 1e9
    }

    /// A request arrives: `true` when accepted.
    fn arrive(&mut self) -> bool {
        if self.in_flight >= self.parallel {
            self.refused_for_parallel += 1;
            return false;
        }
        if self.remaining() == 0 {
            self.refused_for_quota += 1;
            return false;
        }
        let window = self.window();
        *self.used.entry(window).or_default() += 1;
        *self.accepted_per_window.entry(window).or_default() += 1;
        self.in_flight += 1;
        true
    }

    /// The headers of an answer sent now.
    fn headers(&self) -> HeaderMap {
        let now = self.now();
        let date = DateTime::from_timestamp(now.timestamp(), 0).unwrap();
        let until = DateTime::from_timestamp((self.window() + 1) * HOUR, 0).unwrap();
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        };
        put("x-ratelimit-resource-limit", self.quota.to_string());
        put(
            "x-ratelimit-resource-remaining",
            self.remaining().to_string(),
        );
        put("x-ratelimit-resource-until", http_date(until, self.form));
        put("date", http_date(date, Form::Rfc1123));
        headers
    }
}

fn settings(quota: u32, max_in_flight: usize) -> LimiterSettings {
    let mut settings = LimiterSettings::default();
    settings.max_in_flight = max_in_flight;
    settings.quota_reset_margin = MARGIN;
    settings.with_quota(Operation::GetChats, Some(quota))
}

struct Run {
    skew: i64,
    quota: u32,
    workers: usize,
    max_in_flight: usize,
    latency_ms: u64,
    think_ms: u64,
    form: Form,
    seed: u64,
}

/// What a run saw.
struct Outcome {
    refused_for_quota: usize,
    refused_for_parallel: usize,
    violations: Vec<String>,
    accepted_per_window: HashMap<i64, u64>,
    first_window: i64,
}

/// Busy workers for three server hours and a bit, checking after every
/// answer that the limiter is never laxer than the server and stricter by
/// at most the requests in flight, except within the margin after a reset.
async fn simulate(run: Run) -> Outcome {
    let model = Arc::new(Mutex::new(Model::new(
        run.skew,
        u64::from(run.quota),
        4,
        run.form,
    )));
    let limiter = InProcessLimiter::new();
    limiter
        .configure(&settings(run.quota, run.max_in_flight))
        .unwrap();
    let violations = Arc::new(Mutex::new(Vec::new()));
    let end = Instant::now() + Duration::from_secs(3 * 3600 + 600);
    let first_window = model.lock().unwrap().window();
    let mut tasks = Vec::new();
    for worker in 0..run.workers {
        let (model, limiter, violations) =
            (Arc::clone(&model), limiter.clone(), Arc::clone(&violations));
        let mut rng = fastrand::Rng::with_seed(run.seed.wrapping_add(worker as u64));
        let (latency_ms, think_ms) = (run.latency_ms, run.think_ms);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let request = Acquire::new(
                    BUSINESS,
                    Operation::GetChats,
                    Duration::from_secs(7200),
                    Duration::from_secs(7200),
                );
                // Refused locally (the reset is past this request's time):
                // another worker took the new window first; try again.
                let Ok(permit) = limiter.acquire(request).await else {
                    continue;
                };
                // On the way there, processed (counted on arrival, the
                // headers as of the end of processing), on the way back.
                let mut delay = || Duration::from_millis(rng.u64(0..=latency_ms));
                let (up, processing, down) = (delay(), delay(), delay());
                {
                    let mut model = model.lock().unwrap();
                    model.on_the_way += 1;
                    model.client_in_flight += 1;
                }
                tokio::time::sleep(up).await;
                let accepted = {
                    let mut model = model.lock().unwrap();
                    model.on_the_way -= 1;
                    model.arrive()
                };
                if accepted {
                    tokio::time::sleep(processing).await;
                }
                let headers = {
                    let mut model = model.lock().unwrap();
                    if accepted {
                        model.in_flight -= 1;
                    }
                    model.headers()
                };
                tokio::time::sleep(down).await;
                model.lock().unwrap().client_in_flight -= 1;
                limiter.release(permit, Release::sent(RateLimit::from_headers(&headers)));
                check(
                    &model,
                    &limiter,
                    &violations,
                    Duration::from_millis(latency_ms),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(rng.u64(0..=think_ms))).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let model = model.lock().unwrap();
    Outcome {
        refused_for_quota: model.refused_for_quota,
        refused_for_parallel: model.refused_for_parallel,
        violations: violations.lock().unwrap().clone(),
        accepted_per_window: model.accepted_per_window.clone(),
        first_window,
    }
}

async fn check(
    model: &Mutex<Model>,
    limiter: &InProcessLimiter,
    violations: &Mutex<Vec<String>>,
    latency: Duration,
) {
    let local = limiter
        .quota(BUSINESS, Operation::GetChats)
        .await
        .unwrap()
        .unwrap()
        .remaining;
    let model = model.lock().unwrap();
    // What the server will have left once everything sent has arrived.
    let server = model.remaining().saturating_sub(model.on_the_way);
    let in_flight = model.client_in_flight;
    // The client learns of a reset from an answer that is up to one
    // latency old, with one-second resolution, and waits the margin more.
    let allowance = MARGIN + Duration::from_secs(1) + latency;
    let just_reset = model.seconds_into_window() < allowance.as_secs_f64();
    if local > server {
        violations.lock().unwrap().push(format!(
            "laxer than the server: local {local}, server {server} at {}",
            model.now()
        ));
    }
    if !just_reset && local + in_flight < server {
        violations.lock().unwrap().push(format!(
            "stricter than allowed: local {local}, server {server}, in flight {in_flight} at {}",
            model.now()
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn a_busy_client_across_three_server_hours_uses_each_hour_and_is_never_refused() {
    // Defect 1: the window rolls over and the client notices. Before, a low
    // count carried into the new hour and the client refused itself.
    for form in [
        Form::Rfc1123,
        Form::Rfc850,
        Form::Asctime,
        Form::NoWeekday,
        Form::WrongWeekday,
    ] {
        let outcome = simulate(Run {
            skew: -86_400 + 37,
            quota: 50,
            workers: 6,
            max_in_flight: 4,
            latency_ms: 300,
            think_ms: 0,
            form,
            seed: 7,
        })
        .await;
        assert_eq!(outcome.refused_for_quota, 0, "{form:?}");
        assert_eq!(outcome.refused_for_parallel, 0, "{form:?}");
        assert!(
            outcome.violations.is_empty(),
            "{form:?}: {:?}",
            &outcome.violations[..outcome.violations.len().min(5)]
        );
        // Every full server hour was used to the last request.
        for window in outcome.first_window + 1..=outcome.first_window + 3 {
            assert_eq!(
                outcome.accepted_per_window.get(&window),
                Some(&50),
                "{form:?} window {window}"
            );
        }
    }
}

fn forms() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::Rfc1123),
        Just(Form::Rfc850),
        Just(Form::Asctime),
        Just(Form::NoWeekday),
        Just(Form::WrongWeekday),
    ]
}

proptest! {
    #![proptest_config(common::proptest_config(256))]

    /// The model of the server's windows and parallel limit against the
    /// limiter over random schedules: never laxer than the server, stricter
    /// by at most the requests in flight plus the margin.
    #[test]
    fn never_laxer_than_the_server_and_stricter_only_by_what_is_in_flight(
        skew in -200_000i64..200_000,
        quota in 1u32..120,
        workers in 1usize..8,
        max_in_flight in 1usize..=4,
        latency_ms in 0u64..2_000,
        think_ms in 0u64..90_000,
        form in forms(),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let outcome = runtime.block_on(simulate(Run { skew, quota, workers, max_in_flight, latency_ms, think_ms, form, seed }));
        prop_assert_eq!(outcome.refused_for_quota, 0);
        prop_assert_eq!(outcome.refused_for_parallel, 0);
        prop_assert!(outcome.violations.is_empty(), "{:?}", &outcome.violations[..outcome.violations.len().min(5)]);
    }
}

/// A limiter that has seen the server say `remaining` until `until`, on a
/// server whose clock is `skew` ahead.
async fn limiter_told(remaining: u64, until: &str, date: &str) -> InProcessLimiter {
    let limiter = InProcessLimiter::new();
    limiter.configure(&settings(5000, 4)).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-ratelimit-resource-remaining",
        HeaderValue::from_str(&remaining.to_string()).unwrap(),
    );
    headers.insert(
        "x-ratelimit-resource-until",
        HeaderValue::from_str(until).unwrap(),
    );
    headers.insert("date", HeaderValue::from_str(date).unwrap());
    let rate_limit = RateLimit::from_headers(&headers);
    // Hand the observation in through an attempt, as the client does.
    let permit = limiter.acquire(long(Operation::GetChats)).await.unwrap();
    limiter.release(permit, Release::sent(rate_limit));
    limiter
}

fn long(operation: Operation) -> Acquire {
    Acquire::new(
        BUSINESS,
        operation,
        Duration::from_secs(7200),
        Duration::from_secs(7200),
    )
}

/// How long an acquire waits on the paused clock.
async fn waited(limiter: &InProcessLimiter, request: Acquire) -> Result<Duration, Error> {
    let started = Instant::now();
    let permit = limiter.acquire(request).await?;
    limiter.release(permit, Release::not_sent());
    Ok(started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn until_in_every_form_is_measured_against_date_with_skew() {
    // Defect 6: the documentation's own example has a wrong weekday; the
    // server's clock is a day behind ours, which must not matter.
    for until in [
        "Thu, 10 Jul 2018 00:42:42 GMT",
        "Tuesday, 10-Jul-18 00:42:42 GMT",
        "Tue Jul 10 00:42:42 2018",
        "10 Jul 2018 00:42:42 GMT",
    ] {
        let limiter = limiter_told(0, until, "Tue, 10 Jul 2018 00:40:00 GMT").await;
        let wait = waited(&limiter, long(Operation::GetChats)).await.unwrap();
        // 162 s to the reset plus the 1 s margin.
        assert_eq!(wait.as_secs(), 163, "{until}");
    }
}

#[tokio::test(start_paused = true)]
async fn past_and_absurd_resets_never_panic_or_block_longer_than_a_window() {
    // Past: the reset is due, only the margin is left.
    let limiter = limiter_told(
        0,
        "Tue, 10 Jul 2018 00:30:00 GMT",
        "Tue, 10 Jul 2018 00:40:00 GMT",
    )
    .await;
    assert_eq!(
        waited(&limiter, long(Operation::GetChats))
            .await
            .unwrap()
            .as_secs(),
        1
    );
    // Absurdly far: at most one window plus the margin (it used to panic).
    let limiter = limiter_told(
        0,
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Tue, 10 Jul 2018 00:40:00 GMT",
    )
    .await;
    assert_eq!(
        waited(&limiter, long(Operation::GetChats))
            .await
            .unwrap()
            .as_secs(),
        3601
    );
    // Too far for this request: refused at once, locally, with the reset.
    let limiter = limiter_told(
        0,
        "Tue, 10 Jul 2018 01:00:00 GMT",
        "Tue, 10 Jul 2018 00:40:00 GMT",
    )
    .await;
    let short = Acquire::new(
        BUSINESS,
        Operation::GetChats,
        Duration::from_secs(120),
        Duration::from_secs(60),
    );
    let started = Instant::now();
    match limiter.acquire(short).await {
        Err(Error::RateLimited {
            local: true,
            reset_at: Some(_),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_reset_is_never_made_up() {
    // Defect 5: Remaining 0 without a usable Until changes nothing locally.
    let limiter = limiter_told(0, "not a date", "Tue, 10 Jul 2018 00:40:00 GMT").await;
    assert_eq!(
        waited(&limiter, long(Operation::GetChats)).await.unwrap(),
        Duration::ZERO
    );
}

#[tokio::test(start_paused = true)]
async fn requests_waiting_for_their_quota_leave_the_slots_to_other_operations() {
    // Defect 2: four getChats wait for the reset; getChat still goes at once.
    let limiter = limiter_told(
        0,
        "Tue, 10 Jul 2018 00:41:00 GMT",
        "Tue, 10 Jul 2018 00:40:00 GMT",
    )
    .await;
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let limiter = limiter.clone();
        waiting.push(tokio::spawn(async move {
            waited(&limiter, long(Operation::GetChats)).await
        }));
    }
    tokio::task::yield_now().await;
    let started = Instant::now();
    let mut held = Vec::new();
    for operation in [
        Operation::GetChat,
        Operation::SendMessageToChat,
        Operation::GetChatHistory,
        Operation::GetChatMessage,
    ] {
        held.push(limiter.acquire(long(operation)).await.unwrap());
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
    for permit in held {
        limiter.release(permit, Release::sent(None));
    }
    for task in waiting {
        assert_eq!(task.await.unwrap().unwrap().as_secs(), 61);
    }
}

#[tokio::test(start_paused = true)]
async fn a_slot_freed_wakes_a_waiter_and_dropping_a_waiter_loses_nothing() {
    let limiter = InProcessLimiter::new();
    limiter.configure(&settings(5000, 1)).unwrap();
    let held = limiter.acquire(long(Operation::GetChats)).await.unwrap();
    // A waiter given up on (the client drops it at the deadline) holds nothing.
    let given_up = tokio::time::timeout(
        Duration::from_secs(5),
        limiter.acquire(long(Operation::GetChats)),
    )
    .await;
    assert!(given_up.is_err());
    let waiter = {
        let limiter = limiter.clone();
        tokio::spawn(async move { waited(&limiter, long(Operation::GetChat)).await })
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    limiter.release(held, Release::sent(None));
    // Woken by the release, not later.
    assert_eq!(waiter.await.unwrap().unwrap(), Duration::from_secs(10));
    assert_eq!(
        waited(&limiter, long(Operation::GetChats)).await.unwrap(),
        Duration::ZERO
    );
}

#[tokio::test(start_paused = true)]
async fn limits_are_per_business() {
    let limiter = InProcessLimiter::new();
    limiter.configure(&settings(1, 1)).unwrap();
    let a = limiter
        .acquire(Acquire::new(
            1,
            Operation::GetChats,
            Duration::from_secs(10),
            Duration::ZERO,
        ))
        .await
        .unwrap();
    // Business 2 has its own slot and quota.
    let b = limiter
        .acquire(Acquire::new(
            2,
            Operation::GetChats,
            Duration::from_secs(10),
            Duration::ZERO,
        ))
        .await
        .unwrap();
    limiter.release(a, Release::sent(None));
    limiter.release(b, Release::sent(None));
    // Business 1's quota of 1 is spent; business 2's too; business 3's is not.
    assert!(matches!(
        limiter
            .acquire(Acquire::new(
                1,
                Operation::GetChats,
                Duration::from_secs(10),
                Duration::ZERO
            ))
            .await,
        Err(Error::RateLimited { local: true, .. })
    ));
    assert!(
        limiter
            .acquire(Acquire::new(
                3,
                Operation::GetChats,
                Duration::from_secs(10),
                Duration::ZERO
            ))
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_never_sent_gives_its_quota_unit_back() {
    let limiter = InProcessLimiter::new();
    limiter.configure(&settings(1, 4)).unwrap();
    let permit = limiter.acquire(long(Operation::GetChats)).await.unwrap();
    limiter.release(permit, Release::not_sent());
    let state = limiter
        .quota(BUSINESS, Operation::GetChats)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.remaining, 1);
}

#[test]
fn state_stays_bounded_for_100_000_businesses() {
    // Defect 11: ids from notification bodies must not grow memory forever.
    assert!(
        Client::builder()
            .api_key("k")
            .max_tracked_businesses(1000)
            .build()
            .is_ok()
    );
    let limiter = InProcessLimiter::new();
    let mut settings = settings(5000, 4);
    settings.max_tracked_businesses = 1000;
    limiter.configure(&settings).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut peak = 0;
        for business in 1..=100_000u64 {
            let permit = limiter
                .acquire(Acquire::new(
                    business,
                    Operation::GetChat,
                    Duration::from_secs(10),
                    Duration::ZERO,
                ))
                .await
                .unwrap();
            // Room is made before a new business is added, not after.
            peak = peak.max(limiter.tracked_businesses());
            limiter.release(permit, Release::sent(None));
        }
        assert!(peak <= 1000, "{peak}");
        // Eviction leaves three quarters of the bound, not less.
        assert!(
            limiter.tracked_businesses() >= 750,
            "{}",
            limiter.tracked_businesses()
        );
        // Businesses with a request in flight are never evicted.
        let held = limiter
            .acquire(Acquire::new(
                7,
                Operation::GetChats,
                Duration::from_secs(10),
                Duration::ZERO,
            ))
            .await
            .unwrap();
        for business in 200_000..202_000u64 {
            let permit = limiter
                .acquire(Acquire::new(
                    business,
                    Operation::GetChat,
                    Duration::from_secs(10),
                    Duration::ZERO,
                ))
                .await
                .unwrap();
            limiter.release(permit, Release::sent(None));
        }
        let state = limiter
            .quota(7, Operation::GetChats)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.remaining, 4999);
        limiter.release(held, Release::sent(None));
    });
}

fn answer(remaining: u64, until: &str, date: &str) -> Option<RateLimit> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-ratelimit-resource-limit",
        HeaderValue::from_static("100"),
    );
    headers.insert(
        "x-ratelimit-resource-remaining",
        HeaderValue::from_str(&remaining.to_string()).unwrap(),
    );
    headers.insert(
        "x-ratelimit-resource-until",
        HeaderValue::from_str(until).unwrap(),
    );
    headers.insert("date", HeaderValue::from_str(date).unwrap());
    RateLimit::from_headers(&headers)
}

#[tokio::test(start_paused = true)]
async fn an_answer_from_the_servers_new_window_restarts_the_count_inside_the_margin() {
    // Defect 1 as it happened: 97 of 100 used, the server resets at 01:00:00,
    // and an answer from its new window arrives before the local window ends
    // (its end is the old Until plus the margin). The old low count must not
    // be carried into the new hour.
    let limiter = InProcessLimiter::new();
    limiter.configure(&settings(100, 4)).unwrap();
    for used in 1..=97u64 {
        let permit = limiter.acquire(long(Operation::GetChats)).await.unwrap();
        let said = answer(
            100 - used,
            "Tue, 10 Jul 2018 01:00:00 GMT",
            "Tue, 10 Jul 2018 00:59:59 GMT",
        );
        limiter.release(permit, Release::sent(said));
    }
    let state = limiter
        .quota(BUSINESS, Operation::GetChats)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.remaining, 3);
    let permit = limiter.acquire(long(Operation::GetChats)).await.unwrap();
    let said = answer(
        99,
        "Tue, 10 Jul 2018 02:00:00 GMT",
        "Tue, 10 Jul 2018 01:00:00 GMT",
    );
    limiter.release(permit, Release::sent(said));
    let state = limiter
        .quota(BUSINESS, Operation::GetChats)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.remaining, 99);
    assert_eq!(state.resets_in, Some(Duration::from_secs(3601)));
    // A late answer from the old window changes nothing.
    let permit = limiter.acquire(long(Operation::GetChats)).await.unwrap();
    let late = answer(
        0,
        "Tue, 10 Jul 2018 01:00:00 GMT",
        "Tue, 10 Jul 2018 00:59:59 GMT",
    );
    limiter.release(permit, Release::sent(late));
    let state = limiter
        .quota(BUSINESS, Operation::GetChats)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.remaining, 98);
}

async fn use_once(limiter: &InProcessLimiter, business: u64) {
    let permit = limiter
        .acquire(Acquire::new(
            business,
            Operation::GetChats,
            Duration::from_secs(10),
            Duration::ZERO,
        ))
        .await
        .unwrap();
    limiter.release(permit, Release::sent(None));
}

async fn remaining(limiter: &InProcessLimiter, business: u64) -> u64 {
    limiter
        .quota(business, Operation::GetChats)
        .await
        .unwrap()
        .unwrap()
        .remaining
}

#[tokio::test(start_paused = true)]
async fn eviction_forgets_the_businesses_used_longest_ago_and_only_to_make_room() {
    let limiter = InProcessLimiter::new();
    let mut settings = settings(100, 4);
    settings.max_tracked_businesses = 8;
    limiter.configure(&settings).unwrap();
    for business in 1..=8 {
        use_once(&limiter, business).await;
    }
    // Business 1 is used again: now 2 and 3 are the oldest.
    use_once(&limiter, 1).await;
    assert_eq!(limiter.tracked_businesses(), 8);
    use_once(&limiter, 9).await;
    // Down to 6 (three quarters of 8), then 9 is added.
    assert_eq!(limiter.tracked_businesses(), 7);
    assert_eq!(remaining(&limiter, 1).await, 98, "kept: used recently");
    for evicted in 2..=3 {
        assert_eq!(
            remaining(&limiter, evicted).await,
            100,
            "{evicted} was forgotten"
        );
    }
    for kept in 4..=8 {
        assert_eq!(remaining(&limiter, kept).await, 99, "{kept} was kept");
    }

    // Businesses with requests in flight are never evicted; and nothing is
    // dropped while no new business needs room.
    let limiter = InProcessLimiter::new();
    let mut settings = settings_for_eviction();
    settings.max_tracked_businesses = 4;
    limiter.configure(&settings).unwrap();
    let mut held = Vec::new();
    for business in 1..=5 {
        held.push(
            limiter
                .acquire(Acquire::new(
                    business,
                    Operation::GetChats,
                    Duration::from_secs(10),
                    Duration::ZERO,
                ))
                .await
                .unwrap(),
        );
    }
    assert_eq!(limiter.tracked_businesses(), 5);
    for permit in held {
        limiter.release(permit, Release::sent(None));
    }
    use_once(&limiter, 1).await;
    assert_eq!(limiter.tracked_businesses(), 5);
    assert_eq!(remaining(&limiter, 2).await, 99);
}

fn settings_for_eviction() -> LimiterSettings {
    settings(100, 4)
}

#[tokio::test(start_paused = true)]
async fn a_reset_exactly_at_the_deadline_is_refused_not_waited_for() {
    // 60 s to the reset plus the 1 s margin: 61 s.
    let limiter = limiter_told(
        0,
        "Tue, 10 Jul 2018 00:41:00 GMT",
        "Tue, 10 Jul 2018 00:40:00 GMT",
    )
    .await;
    let exact = Acquire::new(
        BUSINESS,
        Operation::GetChats,
        Duration::from_secs(61),
        Duration::from_secs(7200),
    );
    assert!(matches!(
        limiter.acquire(exact).await,
        Err(Error::RateLimited { local: true, .. })
    ));
    let roomier = Acquire::new(
        BUSINESS,
        Operation::GetChats,
        Duration::from_secs(61) + Duration::from_millis(1),
        Duration::from_secs(7200),
    );
    let started = Instant::now();
    assert!(limiter.acquire(roomier).await.is_ok());
    assert_eq!(started.elapsed(), Duration::from_secs(61));
}
