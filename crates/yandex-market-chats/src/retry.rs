//! When and how long to wait before trying a request again.
//!
//! getChats only reads, so every failure that may be transient is retried:
//! 420, 500, 502, 503, 504, transport failures and per-attempt timeouts. A 420
//! has two causes (see `api-facts.md`): with `Remaining: 0` the hourly quota is
//! spent and the only useful wait is until `Until`; otherwise the parallel
//! limit was hit and a short backoff is right, whatever `Until` says.

use std::time::Duration;

use chrono::Utc;

use crate::{Error, Operation};

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

    /// What to do after attempt number `attempt` (1-based) of `operation`
    /// failed with `error`.
    pub(crate) fn decide(&self, operation: Operation, attempt: u32, error: Error) -> Decision {
        if operation.is_write() {
            match write_rule(operation, error) {
                Ok(error) => self.decide_read(attempt, error),
                Err(error) => Decision::Fail(error),
            }
        } else {
            self.decide_read(attempt, error)
        }
    }

    fn decide_read(&self, attempt: u32, error: Error) -> Decision {
        // A spent hourly quota: wait for the reset if it is close, else fail
        // now with the reset time.
        if let Error::Api {
            status: 420,
            rate_limit: Some(rate_limit),
            message,
            ..
        } = &error
            && rate_limit.is_exhausted()
        {
            let wait = rate_limit
                .until
                .map(|until| (until - Utc::now()).to_std().unwrap_or(Duration::ZERO));
            return match wait {
                Some(wait) if wait <= self.max_quota_wait && attempt < self.max_attempts => {
                    Decision::Retry(wait + self.quota_reset_margin, error)
                }
                _ => Decision::Fail(Error::RateLimited {
                    reset_at: rate_limit.until,
                    local: false,
                    message: message.clone(),
                    rate_limit: Some(rate_limit.clone()),
                }),
            };
        }
        if !error.is_retryable() || attempt >= self.max_attempts {
            return Decision::Fail(error);
        }
        let cap = if matches!(error, Error::Api { status: 420, .. }) {
            self.parallel_limit_backoff
        } else {
            let doublings = attempt.saturating_sub(1).min(20);
            self.initial_backoff
                .saturating_mul(1 << doublings)
                .min(self.max_backoff)
        };
        Decision::Retry(full_jitter(cap), error)
    }
}

/// Writes are not idempotent: one is retried only when it surely did not
/// take effect (no connection could be made, or a 420 refused it). `Ok`
/// passes such an error on to the read rules; `Err` is final: a 403 becomes
/// [`Error::MissingScope`], and a failure after the request may have been
/// processed (timeout, dropped connection, 5xx, an undecodable answer)
/// becomes [`Error::OutcomeUnknown`].
fn write_rule(operation: Operation, error: Error) -> Result<Error, Error> {
    match error {
        Error::Transport {
            before_sending: true,
            ..
        }
        | Error::Api { status: 420, .. } => Ok(error),
        Error::Api {
            status: 403,
            code,
            message,
            ..
        } => Err(Error::MissingScope {
            operation,
            code,
            message,
        }),
        Error::Timeout { .. } | Error::Transport { .. } | Error::Decode { .. } => {
            Err(unknown(operation, error))
        }
        Error::Api { status, .. } if status >= 500 => Err(unknown(operation, error)),
        other => Err(other),
    }
}

fn unknown(operation: Operation, cause: Error) -> Error {
    Error::OutcomeUnknown {
        operation,
        cause: Box::new(cause),
    }
}

/// The outcome of [`RetryPolicy::decide`].
#[derive(Debug)]
pub(crate) enum Decision {
    /// Sleep this long, then try again. The error is what to report if the
    /// wait would pass the total timeout.
    Retry(Duration, Error),
    /// Give up with this error.
    Fail(Error),
}

fn full_jitter(cap: Duration) -> Duration {
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimit;

    fn api(status: u16, rate_limit: Option<RateLimit>) -> Error {
        Error::Api {
            status,
            code: None,
            message: None,
            details: Vec::new(),
            rate_limit,
        }
    }

    #[test]
    fn final_statuses_are_not_retried() {
        for status in [400, 401, 403, 404] {
            assert!(matches!(
                RetryPolicy::default().decide(Operation::GetChats, 1, api(status, None)),
                Decision::Fail(_)
            ));
        }
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        let policy = RetryPolicy::default().max_attempts(10);
        for attempt in 1..9 {
            match policy.decide(Operation::GetChats, attempt, api(503, None)) {
                Decision::Retry(wait, _) => assert!(wait <= Duration::from_secs(5)),
                Decision::Fail(e) => panic!("{e}"),
            }
        }
        assert!(matches!(
            policy.decide(Operation::GetChats, 10, api(503, None)),
            Decision::Fail(_)
        ));
    }

    #[test]
    fn spent_quota_far_away_fails_at_once_with_reset_time() {
        let until = Utc::now() + chrono::Duration::hours(1);
        let rate_limit = RateLimit {
            limit: Some(5000),
            remaining: Some(0),
            until: Some(until),
        };
        match RetryPolicy::default().decide(Operation::GetChats, 1, api(420, Some(rate_limit))) {
            Decision::Fail(Error::RateLimited {
                reset_at,
                local: false,
                ..
            }) => {
                assert_eq!(reset_at, Some(until));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            status,
            code: None,
            message: None,
            details: Vec::new(),
            rate_limit: None,
        }
    }

    fn transport(before_sending: bool) -> Error {
        Error::Transport {
            message: "x".into(),
            before_sending,
            source: None,
        }
    }

    #[test]
    fn writes_retry_only_what_surely_did_not_take_effect() {
        let policy = RetryPolicy::default();
        let op = Operation::SendMessageToChat;
        assert!(matches!(
            policy.decide(op, 1, transport(true)),
            Decision::Retry(..)
        ));
        assert!(matches!(
            policy.decide(op, 1, api(420)),
            Decision::Retry(..)
        ));
        for error in [transport(false), api(500), api(503)] {
            assert!(matches!(
                policy.decide(op, 1, error),
                Decision::Fail(Error::OutcomeUnknown { .. })
            ));
        }
        let timeout = Error::Timeout {
            kind: crate::TimeoutKind::Attempt,
            after: Duration::from_secs(1),
        };
        assert!(matches!(
            policy.decide(op, 1, timeout),
            Decision::Fail(Error::OutcomeUnknown { .. })
        ));
        assert!(matches!(
            policy.decide(op, 1, api(403)),
            Decision::Fail(Error::MissingScope { .. })
        ));
        assert!(matches!(
            policy.decide(op, 1, api(400)),
            Decision::Fail(Error::Api { status: 400, .. })
        ));
        // Reads retry the same failures.
        assert!(matches!(
            policy.decide(Operation::GetChat, 1, api(500)),
            Decision::Retry(..)
        ));
    }
}
