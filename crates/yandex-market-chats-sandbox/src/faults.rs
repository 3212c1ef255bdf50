//! Scripted faults: what a test asks the sandbox to do to one of the next
//! requests, and the answers that stand in for the operation's.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::limits::RateHeaders;
use crate::response::{self, Response};

/// A fault the sandbox applies to one of the next requests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// 420 with `Remaining: 0` and `Until` this far ahead (the hourly quota).
    QuotaExhausted(Duration),
    /// 420 with `Remaining` above 0 (the parallel-request limit).
    ParallelLimit,
    /// 500 in the API's error format.
    InternalError,
    /// 503 with an HTML page, as a proxy in front of the API answers.
    ServiceUnavailable,
    /// 200 with a body that is not JSON.
    GarbageBody,
    /// Answer normally, after this delay.
    Slow(Duration),
    /// Close the connection without answering.
    DropConnection,
    /// Answer normally, except that a page asked for with a page token
    /// names that same token as the next page: a pagination loop, as a
    /// server in trouble may answer. A request without a token (a first
    /// page) or an answer without a next page is left as it is.
    RepeatPageToken,
}

impl Fault {
    /// The delay the fault adds before the answer.
    pub(crate) fn delay(&self) -> Duration {
        match self {
            Self::Slow(delay) => *delay,
            _ => Duration::ZERO,
        }
    }

    /// The answer that replaces the operation's, for faults that have one.
    /// It comes after auth and the quota, as a real server's would: a
    /// scripted 500 still costs a quota unit. `now` is the server's time.
    pub(crate) fn answer(
        &self,
        business_id: u64,
        rate: RateHeaders,
        now: DateTime<Utc>,
    ) -> Option<Response> {
        Some(match self {
            Self::ParallelLimit => parallel_limit(business_id, rate),
            Self::QuotaExhausted(reset_after) => {
                let spent = RateHeaders {
                    remaining: 0,
                    until: now + *reset_after,
                    ..rate
                };
                response::error(
                    420,
                    "LIMIT_EXCEEDED",
                    "Hit rate limit of requests per hour",
                    Some(spent),
                )
            }
            Self::InternalError => {
                response::error(500, "INTERNAL_ERROR", "Internal error", Some(rate))
            }
            Self::ServiceUnavailable => {
                let page = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>";
                response::respond(503, "text/html", None, page.to_owned())
            }
            Self::GarbageBody => {
                let truncated = "{\"status\":\"OK\",\"result\":{\"chats\":[{\"chatId\":";
                response::respond(200, response::JSON, Some(rate), truncated.to_owned())
            }
            Self::Slow(_) | Self::DropConnection | Self::RepeatPageToken => return None,
        })
    }
}

/// What [`Fault::RepeatPageToken`] does to an operation's answer `body`
/// for a request that carried `token`.
pub(crate) fn repeat_page_token(body: &mut serde_json::Value, token: Option<&str>) {
    let next = body
        .pointer_mut("/result/paging/nextPageToken")
        .filter(|next| next.is_string());
    if let (Some(next), Some(token)) = (next, token) {
        *next = serde_json::Value::from(token);
    }
}

/// The 420 of the parallel-request limit: scripted, or met for real.
pub(crate) fn parallel_limit(business_id: u64, rate: RateHeaders) -> Response {
    let message = format!("Hit rate limit of 4 parallel requests for business {business_id}");
    response::error(420, "LIMIT_EXCEEDED", &message, Some(rate))
}

#[cfg(test)]
mod tests {
    use super::repeat_page_token;
    use serde_json::json;

    #[test]
    fn a_repeated_token_replaces_only_a_next_page_of_a_request_with_a_token() {
        let page = json!({ "result": { "paging": { "nextPageToken": "next" } } });
        let mut looped = page.clone();
        repeat_page_token(&mut looped, Some("asked"));
        assert_eq!(looped["result"]["paging"]["nextPageToken"], "asked");
        let mut first = page.clone();
        repeat_page_token(&mut first, None);
        assert_eq!(first, page, "a first page is left as it is");
        let last = json!({ "result": { "paging": {} } });
        let mut kept = last.clone();
        repeat_page_token(&mut kept, Some("asked"));
        assert_eq!(kept, last, "a last page is left as it is");
    }
}
