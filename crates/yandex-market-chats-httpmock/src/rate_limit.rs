//! Market's two 420s, as the API sends them, for any mock.
//!
//! The API answers `420 Method Failure` for two different reasons, and the
//! SDK (`yandex-market-chats`) treats them differently:
//!
//! | Answer | Headers | What the SDK does |
//! |---|---|---|
//! | [`quota_spent`]: the hourly quota is spent | `X-RateLimit-Resource-Remaining: 0`, `-Until` the reset | waits for the reset (plus 1 s) when that is within `RetryPolicy::max_quota_wait` (60 s by default) and the total timeout, then tries again (within its 4 attempts); otherwise fails **at once** with `Error::RateLimited`; until the reset, later requests of that operation for that business wait for it or fail the same way (`local: true`) without being sent |
//! | [`parallel_limit`]: more than 4 requests of the business in flight | `-Remaining` above 0 | retries with jittered backoff (500 ms, doubling up to 5 s) **until the total timeout** (120 s by default), outside the attempt budget |
//! | a bare 420 (`then.client_error(420, &error)`, no headers) | none | the parallel limit: retried until the total timeout |
//!
//! So a mock that answers every request with a parallel limit (or a bare
//! 420) keeps a request busy for the whole total timeout: limit it with
//! httpmock's `up_to_n_times` and put the answer that follows in a second
//! mock, or give the client a short `total_timeout`.
//!
//! The typed mocks have both as methods of every operation's `Then`, with
//! the operation's hourly limit: `then.quota_spent(Duration::from_secs(600))`
//! and `then.parallel_limit()`. The functions here take the plain
//! [`httpmock::Then`] and the limit, for [`httpmock::MockServer::mock`]
//! (for example for `sendFileToChat`, which has no typed mock).
//!
//! The headers are fixed when the mock is defined: every answer of one mock
//! states the same `Until`.
//!
//! ```
//! use std::time::Duration;
//!
//! use yandex_market_chats_httpmock::httpmock::{Method::POST, MockServer};
//! use yandex_market_chats_httpmock::rate_limit;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = MockServer::start_async().await;
//! server.mock(|when, then| {
//!     when.method(POST).path("/v2/businesses/42/chats/file/send");
//!     rate_limit::quota_spent(then, 1_000, Duration::from_secs(600));
//! });
//! # }
//! ```

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use httpmock::Then;
use yandex_market_chats_api::open_enums::ApiResponseStatusType;
use yandex_market_chats_api::types::{ApiErrorEntry, ApiErrorResponse};

/// The error code of both 420s.
pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
/// The message of a spent quota's 420.
pub const QUOTA_SPENT_MESSAGE: &str = "Hit rate limit of requests per hour";
/// The message of the parallel limit's 420, as the API documents it.
pub const PARALLEL_LIMIT_MESSAGE: &str = "Hit rate limit of 4 parallel requests";

/// The longest reset these answers state; a larger `resets_in` is cut to it.
/// (The SDK never waits longer than an hour for a reset anyway.)
const LONGEST_RESET: Duration = Duration::from_secs(24 * 3600);
/// The API's quota window: the parallel limit's answer states a window that
/// ends this long after the mock is defined.
const WINDOW: Duration = Duration::from_secs(3600);

/// The 420 of a spent hourly quota: `X-RateLimit-Resource-Limit: limit`,
/// `X-RateLimit-Resource-Remaining: 0`, `X-RateLimit-Resource-Until` at
/// least `resets_in` after now (an HTTP date, rounded up to the second; at
/// most a day), and the API's error body (`LIMIT_EXCEEDED`, "Hit rate limit
/// of requests per hour").
///
/// The SDK waits for a reset within its `RetryPolicy::max_quota_wait` (60 s
/// by default) and tries again; for a reset further away it fails at once
/// with `Error::RateLimited` (so give 10 minutes to test that, 5 seconds to
/// test the wait).
pub fn quota_spent(then: Then, limit: u64, resets_in: Duration) -> Then {
    let until = rounded_up(Utc::now() + delta(resets_in.min(LONGEST_RESET)));
    method_failure(then, QUOTA_SPENT_MESSAGE, limit, 0, until)
}

/// The 420 of the limit of 4 parallel requests per business:
/// `X-RateLimit-Resource-Limit: limit`, `X-RateLimit-Resource-Remaining`
/// one less (at least 1: the quota is not the reason), `-Until` an hour
/// ahead, and the API's error body (`LIMIT_EXCEEDED`, "Hit rate limit of 4
/// parallel requests").
///
/// The SDK retries it with jittered backoff until the request's total
/// timeout (120 s by default): pair it with `up_to_n_times`.
pub fn parallel_limit(then: Then, limit: u64) -> Then {
    let remaining = limit.saturating_sub(1).max(1);
    let until = rounded_up(Utc::now() + delta(WINDOW));
    method_failure(then, PARALLEL_LIMIT_MESSAGE, limit, remaining, until)
}

/// A 420 with the rate-limit headers and `{"status": "ERROR", "errors":
/// [{"code": "LIMIT_EXCEEDED", "message": message}]}`.
fn method_failure(
    then: Then,
    message: &str,
    limit: u64,
    remaining: u64,
    until: DateTime<Utc>,
) -> Then {
    let body = ApiErrorResponse {
        status: Some(ApiResponseStatusType::Error),
        errors: Some(vec![ApiErrorEntry {
            code: LIMIT_EXCEEDED.to_owned(),
            message: Some(message.to_owned()),
        }]),
        error: None,
    };
    then.status(420u16)
        .header("content-type", "application/json")
        .header("x-ratelimit-resource-limit", limit.to_string())
        .header("x-ratelimit-resource-remaining", remaining.to_string())
        .header("x-ratelimit-resource-until", http_date(until))
        .json_body_obj(&body)
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// `at` rounded up to a whole second, the resolution of an HTTP date, so
/// that a stated reset is never earlier than asked.
fn rounded_up(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    DateTime::from_timestamp(seconds, 0).unwrap_or(at)
}

/// RFC 822 with `GMT`, as the API writes it: `Tue, 10 Jul 2018 13:00:00 GMT`.
fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_http_dates_rounded_up() {
        let at = DateTime::from_timestamp(1_531_227_600, 1).unwrap();
        assert_eq!(http_date(rounded_up(at)), "Tue, 10 Jul 2018 13:00:01 GMT");
        let whole = DateTime::from_timestamp(1_531_227_600, 0).unwrap();
        assert_eq!(
            http_date(rounded_up(whole)),
            "Tue, 10 Jul 2018 13:00:00 GMT"
        );
    }

    /// The answer as the client reads it: status, rate-limit headers, body.
    async fn answer(respond: impl FnOnce(Then) -> Then) -> (u16, [String; 3], serde_json::Value) {
        let server = httpmock::MockServer::start_async().await;
        server.mock(|_, then| {
            respond(then);
        });
        let response = reqwest::get(server.base_url()).await.unwrap();
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        let headers = [
            header("x-ratelimit-resource-limit"),
            header("x-ratelimit-resource-remaining"),
            header("x-ratelimit-resource-until"),
        ];
        let status = response.status().as_u16();
        (status, headers, response.json().await.unwrap())
    }

    fn until(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc2822(text).unwrap().to_utc()
    }

    #[tokio::test]
    async fn a_spent_quota_states_remaining_0_and_the_reset() {
        let before = Utc::now();
        let (status, [limit, remaining, reset], body) =
            answer(|then| quota_spent(then, 5_000, Duration::from_secs(600))).await;
        assert_eq!(status, 420);
        assert_eq!((limit.as_str(), remaining.as_str()), ("5000", "0"));
        let ahead = until(&reset) - before;
        assert!(
            (TimeDelta::seconds(600)..=TimeDelta::seconds(602)).contains(&ahead),
            "{reset}: {ahead} ahead"
        );
        assert_eq!(
            body,
            serde_json::json!({"status": "ERROR", "errors": [{"code": "LIMIT_EXCEEDED", "message": QUOTA_SPENT_MESSAGE}]})
        );
    }

    #[tokio::test]
    async fn the_parallel_limit_leaves_quota() {
        let (status, [limit, remaining, _], body) =
            answer(|then| parallel_limit(then, 1_000)).await;
        assert_eq!(status, 420);
        assert_eq!((limit.as_str(), remaining.as_str()), ("1000", "999"));
        assert_eq!(body["errors"][0]["message"], PARALLEL_LIMIT_MESSAGE);
        let (_, [_, remaining, _], _) = answer(|then| parallel_limit(then, 1)).await;
        assert_eq!(remaining, "1", "Remaining above 0 whatever the limit");
    }

    #[tokio::test]
    async fn a_huge_reset_is_cut_to_a_day() {
        let before = Utc::now();
        let (_, [_, _, reset], _) = answer(|then| quota_spent(then, 1, Duration::MAX)).await;
        let ahead = until(&reset) - before;
        assert!(
            (TimeDelta::days(1)..=TimeDelta::days(1) + TimeDelta::seconds(2)).contains(&ahead),
            "{ahead}"
        );
    }
}
