//! When and how long to wait before trying a request again.
//!
//! Which failures may be retried, and how, is decided where errors are
//! shaped (`classify.rs`): reads retry 420, 429, 500, 502, 503, 504,
//! transport failures and per-attempt timeouts; writes only what surely did
//! not take effect. A 420 has two causes, told apart by the rate-limit
//! headers: with `Remaining: 0` the hourly quota is spent and the only useful
//! wait is until the reset; otherwise the parallel limit was hit and a short
//! backoff is right. This module decides only whether and how long to wait.

use std::time::Duration;

use crate::Error;
use crate::classify::Retry;
#[cfg(test)]
use crate::{Operation, RateLimit};

/// How failed requests are retried. Start from `RetryPolicy::default()` or
/// [`RetryPolicy::disabled`] and adjust.
///
/// Backoff is exponential with full jitter: before attempt `n + 1` the client
/// sleeps a random time in `0..=min(max_backoff, initial_backoff * 2^(n-1))`.
///
/// ```
/// use std::time::Duration;
/// use yandex_market_chats::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(6)
///     .initial_backoff(Duration::from_millis(100))
///     .max_quota_wait(Duration::from_secs(0)); // never wait for the hourly quota
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    parallel_limit_backoff: Duration,
    max_quota_wait: Duration,
    quota_reset_margin: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, backoff from 200 ms up to 5 s, 500 ms after a parallel-limit
    /// 420, and waits of up to 60 s (plus a 1 s margin) for the hourly quota
    /// to reset.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            parallel_limit_backoff: Duration::from_millis(500),
            max_quota_wait: Duration::from_secs(60),
            quota_reset_margin: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries, no waiting for the quota.
    pub fn disabled() -> Self {
        Self {
            max_attempts: 1,
            max_quota_wait: Duration::ZERO,
            ..Self::default()
        }
    }

    /// Attempts per request, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The backoff cap before the second attempt.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The largest backoff between attempts.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The backoff cap after a 420 caused by the parallel-request limit.
    pub fn parallel_limit_backoff(mut self, backoff: Duration) -> Self {
        self.parallel_limit_backoff = backoff;
        self
    }

    /// The longest the client waits for a spent hourly quota to reset (from the
    /// server's 420 or from its own quota). Beyond it the request fails at once
    /// with [`Error::RateLimited`] carrying the reset time.
    pub fn max_quota_wait(mut self, wait: Duration) -> Self {
        self.max_quota_wait = wait;
        self
    }

    /// How long past `X-RateLimit-Resource-Until` to wait. The header has
    /// one-second resolution, so the reset may come up to a second after the
    /// time it names; default 1 s.
    pub fn quota_reset_margin(mut self, margin: Duration) -> Self {
        self.quota_reset_margin = margin;
        self
    }

    pub(crate) fn max_quota_wait_value(&self) -> Duration {
        self.max_quota_wait
    }

    pub(crate) fn quota_reset_margin_value(&self) -> Duration {
        self.quota_reset_margin
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.max_attempts == 0 {
            return Err(Error::invalid_input(
                "RetryPolicy::max_attempts must be at least 1",
            ));
        }
        if self.initial_backoff > self.max_backoff {
            return Err(Error::invalid_input(
                "RetryPolicy::initial_backoff must not exceed max_backoff",
            ));
        }
        Ok(())
    }

    /// How long to wait before the next attempt after a failure that
    /// allows `retry` (see `classify.rs`), with `time_left` before the
    /// request's deadline; `None` to give up. (Errors found before anything
    /// was sent never come here: they are final.)
    pub(crate) fn decide(
        &self,
        budget: &mut Budget,
        retry: Retry,
        time_left: Duration,
    ) -> Option<Duration> {
        if retry == Retry::Never {
            return None;
        }
        if retry == Retry::ParallelLimit {
            if self.max_attempts <= 1 {
                return None;
            }
            budget.parallel_streak = budget.parallel_streak.saturating_add(1);
            let cap = exponential(self.parallel_limit_backoff, budget.parallel_streak)
                .min(self.max_backoff.max(self.parallel_limit_backoff));
            return within(full_jitter(cap), time_left);
        }
        budget.parallel_streak = 0;
        budget.counted = budget.counted.saturating_add(1);
        let budget_left = budget.counted < self.max_attempts;
        match retry {
            Retry::QuotaReset(resets_in) => self.quota_wait(budget, resets_in, time_left),
            Retry::After(wait) if budget_left && wait <= self.max_quota_wait => {
                within(wait, time_left)
            }
            Retry::Backoff if budget_left => within(self.backoff(budget.counted), time_left),
            _ => None,
        }
    }

    /// How long to wait after a 420 with `Remaining: 0`: until a stated
    /// reset when it is close enough, a backoff when the reset is unknown
    /// (no wait is made up from nothing); `None` to give up.
    fn quota_wait(
        &self,
        budget: &Budget,
        resets_in: Option<Duration>,
        time_left: Duration,
    ) -> Option<Duration> {
        if budget.counted >= self.max_attempts {
            return None;
        }
        let wait = match resets_in {
            Some(resets_in) => {
                let wait = resets_in.saturating_add(self.quota_reset_margin);
                (wait <= self.max_quota_wait).then_some(wait)?
            }
            None => self.backoff(budget.counted),
        };
        (wait < time_left).then_some(wait)
    }

    /// The full-jitter backoff after the `counted`-th attempt.
    fn backoff(&self, counted: u32) -> Duration {
        full_jitter(exponential(self.initial_backoff, counted).min(self.max_backoff))
    }
}

/// `base * 2^(n-1)`, saturating.
fn exponential(base: Duration, n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(30);
    base.saturating_mul(1 << doublings)
}

/// Retry after `wait` if that leaves time to try; else give up: the last
/// error says more than a timeout would.
fn within(wait: Duration, time_left: Duration) -> Option<Duration> {
    (wait < time_left).then_some(wait)
}

/// How many attempts a request has used.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// Attempts that count against `max_attempts` (all but parallel-limit 420s).
    counted: u32,
    /// Parallel-limit 420s in a row, for their backoff.
    parallel_streak: u32,
}

/// Classification and decision together, as `transport.rs` runs them.
#[cfg(test)]
#[derive(Debug)]
enum Decision {
    #[allow(dead_code)] // the error shows in failure messages
    Retry(Duration, Error),
    Fail(Error),
}

#[cfg(test)]
impl RetryPolicy {
    fn decide_on(
        &self,
        operation: Operation,
        budget: &mut Budget,
        error: Error,
        time_left: Duration,
    ) -> Decision {
        let failure = crate::classify::settle(operation, error);
        match self.decide(budget, failure.retry, time_left) {
            Some(wait) => Decision::Retry(wait, failure.error),
            None => Decision::Fail(failure.error),
        }
    }
}

fn full_jitter(cap: Duration) -> Duration {
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOTS: Duration = Duration::from_secs(1000);

    fn api(status: u16, rate_limit: Option<RateLimit>) -> Error {
        Error::Api {
            status,
            details: Box::new(crate::error::ApiErrorDetails {
                rate_limit,
                ..Default::default()
            }),
        }
    }

    fn spent(resets_in: Option<Duration>) -> RateLimit {
        RateLimit {
            limit: Some(5000),
            remaining: Some(0),
            until: None,
            resets_in,
            retry_after: None,
        }
    }

    fn decide(policy: &RetryPolicy, op: Operation, error: Error) -> Decision {
        policy.decide_on(op, &mut Budget::default(), error, LOTS)
    }

    #[test]
    fn final_statuses_are_not_retried() {
        for status in [400, 401, 403, 404, 302] {
            assert!(matches!(
                decide(
                    &RetryPolicy::default(),
                    Operation::GetChats,
                    api(status, None)
                ),
                Decision::Fail(_)
            ));
        }
    }

    #[test]
    fn backoff_stays_under_its_cap_and_the_budget_ends_it() {
        let policy = RetryPolicy::default().max_attempts(10);
        let mut budget = Budget::default();
        for _ in 1..10 {
            match policy.decide_on(Operation::GetChats, &mut budget, api(503, None), LOTS) {
                Decision::Retry(wait, _) => assert!(wait <= Duration::from_secs(5)),
                Decision::Fail(e) => panic!("{e}"),
            }
        }
        assert!(matches!(
            policy.decide_on(Operation::GetChats, &mut budget, api(503, None), LOTS),
            Decision::Fail(_)
        ));
    }

    /// The waits after `counted` failed attempts, sampled with a seeded RNG.
    fn waits(policy: &RetryPolicy, counted: u32, error: &Error) -> Vec<Duration> {
        (0..2000)
            .map(|_| {
                let mut budget = Budget {
                    counted: counted - 1,
                    parallel_streak: 0,
                };
                let error = match error {
                    Error::Api { status, .. } => api(*status, None),
                    _ => unreachable!(),
                };
                match policy.decide_on(Operation::GetChats, &mut budget, error, LOTS) {
                    Decision::Retry(wait, _) => wait,
                    Decision::Fail(error) => panic!("{error}"),
                }
            })
            .collect()
    }

    #[test]
    fn full_jitter_spreads_waits_over_zero_to_the_default_caps() {
        fastrand::seed(20_261_126);
        let policy = RetryPolicy::default().max_attempts(10);
        // 200 ms doubling per attempt, at most 5 s.
        for (counted, cap_ms) in [
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1600),
            (5, 3200),
            (6, 5000),
            (9, 5000),
        ] {
            let cap = Duration::from_millis(cap_ms);
            let waits = waits(&policy, counted, &api(503, None));
            let max = *waits.iter().max().unwrap();
            let min = *waits.iter().min().unwrap();
            let mean = waits.iter().sum::<Duration>() / waits.len() as u32;
            assert!(
                max <= cap && max > cap * 95 / 100,
                "after {counted}: max {max:?}, cap {cap:?}"
            );
            assert!(min < cap / 20, "after {counted}: min {min:?}");
            assert!(
                mean > cap * 2 / 5 && mean < cap * 3 / 5,
                "after {counted}: mean {mean:?}"
            );
        }
        // The parallel limit: 500 ms, doubling per 420 in a row.
        let mut budget = Budget::default();
        let mut caps = Vec::new();
        for _ in 0..3 {
            match policy.decide_on(Operation::GetChats, &mut budget, api(420, None), LOTS) {
                Decision::Retry(wait, _) => caps.push(wait),
                Decision::Fail(error) => panic!("{error}"),
            }
        }
        assert!(caps[0] <= Duration::from_millis(500) && caps[1] <= Duration::from_millis(1000));
    }

    #[test]
    fn every_setter_takes_effect() {
        fastrand::seed(3);
        let tight = RetryPolicy::default()
            .max_attempts(9)
            .initial_backoff(Duration::from_millis(10))
            .max_backoff(Duration::from_millis(30))
            .parallel_limit_backoff(Duration::from_millis(2))
            .max_quota_wait(Duration::from_secs(3))
            .quota_reset_margin(Duration::from_millis(500));
        let after = |counted| waits(&tight, counted, &api(503, None));
        assert!(after(1).iter().all(|w| *w <= Duration::from_millis(10)));
        assert!(after(1).iter().any(|w| *w > Duration::from_millis(9)));
        assert!(after(8).iter().all(|w| *w <= Duration::from_millis(30)));
        assert!(after(8).iter().any(|w| *w > Duration::from_millis(29)));
        let mut budget = Budget::default();
        for _ in 0..50 {
            match tight.decide_on(Operation::GetChats, &mut budget, api(420, None), LOTS) {
                Decision::Retry(wait, _) => assert!(wait <= Duration::from_millis(30)),
                Decision::Fail(error) => panic!("{error}"),
            }
        }
        let first = tight.decide_on(
            Operation::GetChats,
            &mut Budget::default(),
            api(420, None),
            LOTS,
        );
        assert!(matches!(first, Decision::Retry(wait, _) if wait <= Duration::from_millis(2)));
        // A reset 2 s away: waited for, plus the margin; 4 s away: too far.
        let spent_in = |s| api(420, Some(spent(Some(Duration::from_secs(s)))));
        match tight.decide_on(
            Operation::GetChats,
            &mut Budget::default(),
            spent_in(2),
            LOTS,
        ) {
            Decision::Retry(wait, _) => assert_eq!(wait, Duration::from_millis(2500)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            tight.decide_on(
                Operation::GetChats,
                &mut Budget::default(),
                spent_in(4),
                LOTS
            ),
            Decision::Fail(Error::RateLimited { .. })
        ));
        assert_eq!(tight.max_quota_wait_value(), Duration::from_secs(3));
        assert_eq!(tight.quota_reset_margin_value(), Duration::from_millis(500));
        // `disabled`: one attempt and no waiting for the quota, locally too.
        let disabled = RetryPolicy::disabled();
        assert_eq!(
            disabled,
            RetryPolicy::default()
                .max_attempts(1)
                .max_quota_wait(Duration::ZERO)
        );
        assert_eq!(disabled.max_quota_wait_value(), Duration::ZERO);
    }

    #[test]
    fn a_wait_that_would_use_up_the_time_left_is_not_made() {
        let policy = RetryPolicy::default();
        let mut rate = spent(None);
        rate.remaining = None;
        rate.retry_after = Some(Duration::from_secs(2));
        let gateway = || api(429, Some(rate.clone()));
        let quota = || api(420, Some(spent(Some(Duration::from_secs(1)))));
        let two = Duration::from_secs(2);
        let just_over = two + Duration::from_nanos(1);
        for (error, left, retried) in [
            (gateway(), two, false),
            (gateway(), just_over, true),
            // 1 s to the reset plus the 1 s margin.
            (quota(), two, false),
            (quota(), just_over, true),
        ] {
            let decision =
                policy.decide_on(Operation::GetChats, &mut Budget::default(), error, left);
            assert_eq!(
                matches!(decision, Decision::Retry(..)),
                retried,
                "{decision:?} with {left:?} left"
            );
        }
    }

    #[test]
    fn a_spent_quota_far_away_fails_at_once_with_its_reset_time() {
        let before = chrono::Utc::now();
        match decide(
            &RetryPolicy::default(),
            Operation::GetChats,
            api(420, Some(spent(Some(Duration::from_secs(3600))))),
        ) {
            Decision::Fail(Error::RateLimited {
                reset_at: Some(reset_at),
                local: false,
                ..
            }) => {
                let seconds = (reset_at - before).num_seconds();
                assert!((3599..=3601).contains(&seconds), "{seconds}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reset_past_the_deadline_is_rate_limited_not_a_plain_420() {
        let policy = RetryPolicy::default();
        let error = api(420, Some(spent(Some(Duration::from_secs(30)))));
        match policy.decide_on(
            Operation::GetChats,
            &mut Budget::default(),
            error,
            Duration::from_secs(10),
        ) {
            Decision::Fail(Error::RateLimited { local: false, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_reset_backs_off_within_the_budget_then_is_rate_limited() {
        let policy = RetryPolicy::default().max_attempts(3);
        let mut budget = Budget::default();
        for _ in 0..2 {
            match policy.decide_on(
                Operation::GetChats,
                &mut budget,
                api(420, Some(spent(None))),
                LOTS,
            ) {
                Decision::Retry(wait, _) => assert!(wait <= Duration::from_secs(5)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            policy.decide_on(
                Operation::GetChats,
                &mut budget,
                api(420, Some(spent(None))),
                LOTS
            ),
            Decision::Fail(Error::RateLimited {
                reset_at: None,
                local: false,
                ..
            })
        ));
    }

    #[test]
    fn the_parallel_limit_is_retried_until_the_deadline_outside_the_budget() {
        let policy = RetryPolicy::default().max_attempts(2);
        let mut budget = Budget::default();
        for _ in 0..100 {
            match policy.decide_on(Operation::GetChats, &mut budget, api(420, None), LOTS) {
                Decision::Retry(wait, _) => assert!(wait <= Duration::from_secs(5)),
                other => panic!("{other:?}"),
            }
        }
        // Near the deadline it gives up with the 420 itself.
        assert!(matches!(
            policy.decide_on(
                Operation::GetChats,
                &mut budget,
                api(420, None),
                Duration::ZERO
            ),
            Decision::Fail(Error::Api { status: 420, .. })
        ));
        assert!(matches!(
            decide(
                &RetryPolicy::disabled(),
                Operation::GetChats,
                api(420, None)
            ),
            Decision::Fail(_)
        ));
    }

    #[test]
    fn a_429_honours_retry_after_within_max_quota_wait() {
        let with = |seconds| {
            let mut rate = spent(None);
            rate.remaining = None;
            rate.retry_after = Some(Duration::from_secs(seconds));
            api(429, Some(rate))
        };
        match decide(&RetryPolicy::default(), Operation::GetChats, with(7)) {
            Decision::Retry(wait, _) => assert_eq!(wait, Duration::from_secs(7)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&RetryPolicy::default(), Operation::GetChats, with(600)),
            Decision::Fail(Error::Api { status: 429, .. })
        ));
        assert!(matches!(
            decide(&RetryPolicy::default(), Operation::GetChats, api(429, None)),
            Decision::Retry(..)
        ));
    }

    #[test]
    fn huge_settings_never_overflow() {
        let policy = RetryPolicy::default()
            .max_attempts(u32::MAX)
            .initial_backoff(Duration::MAX)
            .max_backoff(Duration::MAX)
            .parallel_limit_backoff(Duration::MAX)
            .max_quota_wait(Duration::MAX)
            .quota_reset_margin(Duration::MAX);
        let mut budget = Budget::default();
        for error in [
            api(503, None),
            api(420, None),
            api(420, Some(spent(Some(Duration::MAX)))),
            api(420, Some(spent(None))),
        ] {
            let _ = policy.decide_on(Operation::GetChats, &mut budget, error, Duration::MAX);
        }
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            status,
            details: Box::default(),
        }
    }

    fn transport(before_sending: bool) -> Error {
        Error::Transport {
            message: "x".into(),
            before_sending,
            source: None,
        }
    }

    fn decide(op: Operation, error: Error) -> Decision {
        RetryPolicy::default().decide_on(
            op,
            &mut Budget::default(),
            error,
            Duration::from_secs(100),
        )
    }

    #[test]
    fn writes_retry_only_what_surely_did_not_take_effect() {
        let op = Operation::SendMessageToChat;
        for error in [transport(true), api(420), api(429)] {
            assert!(matches!(decide(op, error), Decision::Retry(..)));
        }
        let timeout = Error::Timeout {
            kind: crate::TimeoutKind::Attempt,
            after: Duration::from_secs(1),
        };
        for error in [transport(false), api(500), api(503), timeout] {
            assert!(matches!(
                decide(op, error),
                Decision::Fail(Error::OutcomeUnknown { .. })
            ));
        }
        assert!(matches!(
            decide(op, api(400)),
            Decision::Fail(Error::Api { status: 400, .. })
        ));
        // Reads retry the same failures.
        assert!(matches!(
            decide(Operation::GetChat, api(500)),
            Decision::Retry(..)
        ));
    }
}
