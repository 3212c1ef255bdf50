//! Every request: client-side limits, the attempt, retries, timeouts and
//! tracing. What differs per operation is a [`Call`] (see `calls.rs`); what
//! an outcome means is decided in `classify.rs`.

use std::future::Future;

use tokio::time::Instant;
use tracing::Instrument;
use yandex_market_chats_api as api;
use yandex_market_chats_api::request_context::capture;

use crate::classify::{CallResult, Failure, Reply, Shaper, timeout};
use crate::error::TimeoutKind;
use crate::limits::{Acquire, Held, Release, later};
use crate::retry::Budget;
use crate::{BusinessId, Client, Error, Operation, RateLimit};

/// One API call: sends its request with the client's generated client.
/// Called once per attempt.
pub(crate) trait Call: Sync {
    /// The decoded 200 body.
    type Output: serde::Serialize + Send;
    /// The part of it the caller wants (the body's `result`).
    type Result: Send;
    /// Which operation this is (quota, retry rule, tracing).
    const OPERATION: Operation;
    /// Sends the request for `business_id`.
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: BusinessId,
    ) -> impl Future<Output = CallResult<Self::Output>> + Send + 'a;
    /// Takes the result out of a 200 body; `None` when it has none.
    fn result(body: &mut Self::Output) -> Option<Self::Result>;
}

/// A result and the rate-limit headers of its response.
pub(crate) struct Answer<T> {
    pub result: T,
    pub rate_limit: Option<RateLimit>,
    /// The response's `Date`: the server's clock.
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why an attempt failed: before anything was sent (the limiter refused or
/// the deadline passed while waiting: final, and never "outcome unknown"),
/// or on the way to or from the server.
enum Failed {
    Local(Error),
    Remote(Failure),
}

impl Client {
    /// Runs `call`, retrying within the policy and the total timeout.
    ///
    /// The total timeout is a deadline, not a timer: each attempt's one timer
    /// is cut to what is left of it. One timer per request matters: each
    /// registration wakes tokio's time driver, a measurable cost per page.
    pub(crate) async fn execute<C: Call>(
        &self,
        business_id: BusinessId,
        call: &C,
    ) -> Result<Answer<C::Result>, Error> {
        let config = &self.inner.config;
        let deadline = later(Instant::now(), config.total_timeout);
        let mut budget = Budget::default();
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            let failure = match self.attempt(business_id, call, attempt, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(Failed::Local(error)) => return Err(error),
                Err(Failed::Remote(failure)) => failure,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(wait) = config.retry.decide(&mut budget, failure.retry, left) else {
                return Err(failure.error);
            };
            tracing::debug!(
                operation = C::OPERATION.name(),
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %failure.error,
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt<C: Call>(
        &self,
        business_id: BusinessId,
        call: &C,
        attempt: u32,
        deadline: Instant,
    ) -> Result<Answer<C::Result>, Failed> {
        let config = &self.inner.config;
        let operation = C::OPERATION;
        let total_timeout = || timeout(TimeoutKind::Total, config.total_timeout);
        // Waits for a slot or the quota end at the deadline; the limiter
        // fails at once when the quota resets later than that.
        let request = Acquire::new(
            business_id.get(),
            operation,
            deadline.saturating_duration_since(Instant::now()),
            config.retry.max_quota_wait_value(),
        );
        let permit = match tokio::time::timeout_at(
            deadline,
            Held::acquire(&config.limiter, request),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(error)) => return Err(Failed::Local(error)),
            Err(_) => return Err(Failed::Local(total_timeout())),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            permit.release(Release::not_sent());
            return Err(Failed::Local(total_timeout()));
        }
        let (budget, timed_out) = if left < config.attempt_timeout {
            (left, total_timeout())
        } else {
            (
                config.attempt_timeout,
                timeout(TimeoutKind::Attempt, config.attempt_timeout),
            )
        };

        // Never the key, never the body.
        let span = tracing::debug_span!(
            "yandex_market_chats.request",
            operation = operation.name(),
            business_id = business_id.get(),
            attempt,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let shaper = Shaper {
            operation,
            secret: config.secret.expose(),
            credential: config.credential,
        };
        let result = async {
            // The body of an undocumented status is read inside the timeout.
            let (reply, info) = capture(tokio::time::timeout(budget, async {
                Reply::receive(call.send(&config.api, business_id).await).await
            }))
            .await;
            if let Some(status) = info.status() {
                span.record("status", status.as_u16());
            }
            let result = shaper.shape(reply.ok(), timed_out, &info, C::result);
            let release = match &result {
                Ok((_, received)) => Release::sent(received.rate_limit.clone()),
                // No connection was made: the server never counted it, so
                // its quota unit goes back.
                Err(Failure {
                    error:
                        Error::Transport {
                            before_sending: true,
                            ..
                        },
                    ..
                }) => Release::not_sent(),
                Err(failure) => Release::sent(failure.error.rate_limit().cloned()),
            };
            // Done before the call returns: nothing is left to a task
            // that the runtime's end could kill.
            permit.settle(release).await;
            result
        }
        .instrument(span.clone())
        .await;
        span.record(
            "duration_ms",
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
        match result {
            Ok((result, received)) => Ok(Answer {
                result,
                rate_limit: received.rate_limit,
                date: received.date,
            }),
            Err(failure) => {
                tracing::debug!(parent: &span, error = %failure.error, "attempt failed");
                Err(Failed::Remote(failure))
            }
        }
    }
}
