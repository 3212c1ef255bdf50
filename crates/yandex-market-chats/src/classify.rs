//! What an attempt got back, turned into a value or the crate's [`Error`] in
//! one step: the status, the body and the headers, `MissingScope`, the
//! redirect check, the write rule and the spent quota; plus which kind of
//! retry fits. The retry policy (`retry.rs`) only decides whether and when.
//!
//! Every text a server sent is scrubbed of the credential here, in case the
//! server echoes it.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use yandex_market_chats_api as api;
use yandex_market_chats_api::ResponseValue;
use yandex_market_chats_api::request_context::ResponseInfo;
use yandex_market_chats_api::types::ApiErrorResponse;

use crate::error::{ApiErrorDetails, TimeoutKind};
use crate::{ApiErrorEntry, Credential, Error, Operation, RateLimit};

/// At most this many characters of a body go into an error.
const EXCERPT_CHARS: usize = 200;

/// What a successful answer's headers say besides its body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Received {
    /// The rate-limit headers.
    pub rate_limit: Option<RateLimit>,
    /// The `Date` header: the server's clock when it answered.
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

impl Received {
    fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        Self {
            rate_limit: RateLimit::from_headers(headers),
            date: headers
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::http_date::parse),
        }
    }
}

/// What a generated (or the hand-written multipart) call returns.
pub(crate) type CallResult<T> = Result<ResponseValue<T>, api::Error<ApiErrorResponse>>;

/// What came back, with the body of an undocumented status already read
/// (inside the attempt's timeout).
pub(crate) enum Reply<T> {
    Value(ResponseValue<T>),
    Failed(api::Error<ApiErrorResponse>),
    Undocumented {
        status: u16,
        headers: HeaderMap,
        body: Result<Bytes, reqwest::Error>,
    },
}

impl<T> Reply<T> {
    pub(crate) async fn receive(result: CallResult<T>) -> Self {
        match result {
            Ok(value) => Self::Value(value),
            Err(api::Error::UnexpectedResponse(response)) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = response.bytes().await;
                Self::Undocumented {
                    status,
                    headers,
                    body,
                }
            }
            Err(error) => Self::Failed(error),
        }
    }
}

/// A failed attempt: the error as the caller would see it, and which retry fits.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: Error,
    pub retry: Retry,
}

/// Which kind of retry an error allows; the policy decides the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Final.
    Never,
    /// A transient failure: exponential backoff within the attempt budget.
    Backoff,
    /// A 420 from the parallel limit: others hold the slots right now; safe
    /// to retry until the deadline, outside the attempt budget.
    ParallelLimit,
    /// A 420 for a spent quota: wait for the reset, when it is known.
    QuotaReset(Option<Duration>),
    /// A gateway's 429 with `Retry-After`: wait that long.
    After(Duration),
}

/// Shapes the outcomes of one operation's attempts.
pub(crate) struct Shaper<'a> {
    pub operation: Operation,
    pub secret: &'a str,
    pub credential: Credential,
}

impl Shaper<'_> {
    /// The whole step: `reply` (`None`: the attempt timed out as `timeout`),
    /// what the hooks saw, and `result`, which takes the useful part of a
    /// 200 body (`None` when it has none).
    // Once per attempt, and the error is what the caller gets: boxing it
    // would only move the copy.
    #[allow(clippy::result_large_err)]
    pub(crate) fn shape<T: serde::Serialize, R>(
        &self,
        reply: Option<Reply<T>>,
        timeout: Error,
        info: &ResponseInfo,
        result: impl FnOnce(&mut T) -> Option<R>,
    ) -> Result<(R, Received), Failure> {
        let shaped = match reply {
            None => Err(timeout),
            Some(reply) => self.reply(reply, info, result),
        };
        // A custom HTTP client followed a redirect: whatever came back is
        // not the API's answer, and the credential went elsewhere.
        let shaped = match info.foreign_origin() {
            Some(origin) => Err(Error::Redirect {
                status: info.status().map_or(0, |s| s.as_u16()),
                target: Some(scrub(origin.to_owned(), self.secret)),
            }),
            None => shaped,
        };
        shaped.map_err(|error| self.settle(error))
    }

    fn reply<T: serde::Serialize, R>(
        &self,
        reply: Reply<T>,
        info: &ResponseInfo,
        result: impl FnOnce(&mut T) -> Option<R>,
    ) -> Result<(R, Received), Error> {
        let secret = self.secret;
        match reply {
            Reply::Value(response) => {
                let received = Received::from_headers(response.headers());
                let status = response.status().as_u16();
                let mut body = response.into_inner();
                match result(&mut body) {
                    Some(value) => Ok((value, received)),
                    // The body parsed but is of no use; its bytes are gone,
                    // so the excerpt is the body as parsed.
                    None => Err(Error::Decode {
                        status,
                        reason: "the body has no `result` (shown as parsed)".to_owned(),
                        excerpt: excerpt(&serde_json::to_vec(&body).unwrap_or_default(), secret),
                    }),
                }
            }
            Reply::Failed(api::Error::ErrorResponse(response)) => {
                let status = response.status().as_u16();
                let rate_limit = RateLimit::from_headers(response.headers());
                Err(self.api_error(status, Some(response.into_inner()), rate_limit))
            }
            Reply::Failed(api::Error::InvalidResponsePayload(bytes, reason)) => {
                let status = info.status().map_or(0, |s| s.as_u16());
                Err(self.undecodable(status, info.error_headers(), &bytes, &reason.to_string()))
            }
            Reply::Failed(api::Error::UnexpectedResponse(response)) => {
                // `Reply::receive` reads these; kept total for safety.
                Err(self.api_error(
                    response.status().as_u16(),
                    None,
                    RateLimit::from_headers(response.headers()),
                ))
            }
            Reply::Failed(api::Error::CommunicationError(e) | api::Error::ResponseBodyError(e)) => {
                Err(transport("the request failed", e, secret))
            }
            Reply::Failed(api::Error::InvalidUpgrade(e)) => {
                Err(transport("unexpected protocol upgrade", e, secret))
            }
            Reply::Failed(api::Error::InvalidRequest(message)) => {
                Err(Error::invalid_input(scrub(message, secret)))
            }
            Reply::Failed(api::Error::Custom(message)) => Err(Error::Transport {
                message: scrub(message, secret),
                before_sending: false,
                source: None,
            }),
            Reply::Undocumented {
                status,
                headers,
                body,
            } => Err(self.undocumented(status, &headers, body)),
        }
    }

    /// A status the fragment does not list for the operation.
    fn undocumented(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: Result<Bytes, reqwest::Error>,
    ) -> Error {
        if (300..400).contains(&status) {
            return Error::Redirect {
                status,
                target: redirect_target(headers, self.secret),
            };
        }
        let bytes = match body {
            Ok(bytes) => bytes,
            Err(e) => return transport("reading the response body failed", e, self.secret),
        };
        if (200..300).contains(&status) {
            return self.undecodable(status, Some(headers), &bytes, "unexpected success status");
        }
        match serde_json::from_slice::<ApiErrorResponse>(&bytes) {
            Ok(body) => self.api_error(status, Some(body), RateLimit::from_headers(headers)),
            Err(reason) => self.undecodable(status, Some(headers), &bytes, &reason.to_string()),
        }
    }

    /// An API error from the documented body.
    fn api_error(
        &self,
        status: u16,
        body: Option<ApiErrorResponse>,
        rate_limit: Option<RateLimit>,
    ) -> Error {
        let secret = self.secret;
        let mut errors: Vec<ApiErrorEntry> = Vec::new();
        if let Some(body) = body {
            errors.extend(body.errors.into_iter().flatten().map(|e| ApiErrorEntry {
                code: scrub(e.code, secret),
                message: e.message.map(|m| scrub(m, secret)),
            }));
            // The older error shape: `{"error": {"code": 403, "message": "..."}}`.
            if errors.is_empty()
                && let Some(legacy) = body.error
            {
                errors.push(ApiErrorEntry {
                    code: legacy
                        .code
                        .map_or_else(|| status.to_string(), |c| c.to_string()),
                    message: legacy.message.map(|m| scrub(m, secret)),
                });
            }
        }
        let (code, message) = errors
            .first()
            .map_or((None, None), |e| (Some(e.code.clone()), e.message.clone()));
        if status == 403 && is_about_scope(code.as_deref(), message.as_deref()) {
            return Error::MissingScope {
                operation: self.operation,
                credential: self.credential,
                code,
                message,
            };
        }
        Error::Api {
            status,
            details: Box::new(ApiErrorDetails {
                code,
                message,
                errors,
                rate_limit,
            }),
        }
    }

    /// A body that is not the documented JSON. For an error status the
    /// status still decides what happens (a 420's headers, a 503's retry).
    fn undecodable(
        &self,
        status: u16,
        headers: Option<&HeaderMap>,
        body: &[u8],
        reason: &str,
    ) -> Error {
        let excerpt = excerpt(body, self.secret);
        // serde's reasons quote the offending value: it may be the secret.
        let reason = scrub(reason.to_owned(), self.secret);
        if status >= 400 {
            return Error::Api {
                status,
                details: Box::new(ApiErrorDetails {
                    message: Some(format!("undecodable error body ({reason}): {excerpt:?}")),
                    rate_limit: headers.and_then(RateLimit::from_headers),
                    ..ApiErrorDetails::default()
                }),
            };
        }
        Error::Decode {
            status,
            reason,
            excerpt,
        }
    }

    /// The last part of the step: which retry fits, the write rule, and a
    /// spent quota as [`Error::RateLimited`].
    pub(crate) fn settle(&self, error: Error) -> Failure {
        settle(self.operation, error)
    }
}

/// See [`Shaper::settle`]; free so that the retry tests can use it.
pub(crate) fn settle(operation: Operation, error: Error) -> Failure {
    // Writes are not idempotent: one is retried only when it surely did not
    // take effect (no connection could be made, or a 420 or 429 refused
    // it). After a timeout, a dropped connection, a 5xx or an undecodable
    // answer it may have: the outcome is unknown, and final.
    if operation.is_write() {
        let may_have_happened = match &error {
            Error::Transport {
                before_sending: true,
                ..
            } => false,
            Error::Timeout { .. } | Error::Transport { .. } | Error::Decode { .. } => true,
            // A 4xx (a 420 or 429 among them) refused it.
            Error::Api { status, .. } => *status >= 500,
            _ => false,
        };
        if may_have_happened {
            return Failure {
                error: Error::OutcomeUnknown {
                    operation,
                    cause: Box::new(error),
                },
                retry: Retry::Never,
            };
        }
    }
    let retry = match &error {
        Error::Api {
            status: 420,
            details,
        } => match &details.rate_limit {
            Some(rate_limit) if rate_limit.is_exhausted() => {
                Retry::QuotaReset(rate_limit.resets_in)
            }
            _ => Retry::ParallelLimit,
        },
        Error::Api {
            status: 429,
            details,
        } => match details.rate_limit.as_ref().and_then(|r| r.retry_after) {
            Some(wait) => Retry::After(wait),
            None => Retry::Backoff,
        },
        error if error.is_retryable() => Retry::Backoff,
        _ => Retry::Never,
    };
    let error = match retry {
        Retry::QuotaReset(_) => rate_limited(error),
        _ => error,
    };
    Failure { error, retry }
}

/// A 420 for a spent quota: [`Error::RateLimited`] with the reset time on
/// this host's clock.
fn rate_limited(error: Error) -> Error {
    match error {
        Error::Api { details, .. } => {
            let ApiErrorDetails {
                message,
                rate_limit,
                ..
            } = *details;
            Error::RateLimited {
                reset_at: rate_limit
                    .as_ref()
                    .and_then(|r| r.resets_in)
                    .and_then(|wait| chrono::TimeDelta::from_std(wait).ok())
                    .and_then(|wait| chrono::Utc::now().checked_add_signed(wait)),
                local: false,
                message,
                rate_limit,
            }
        }
        other => other,
    }
}

/// The error of an attempt that ran out of time.
pub(crate) fn timeout(kind: TimeoutKind, after: Duration) -> Error {
    Error::Timeout { kind, after }
}

fn transport(what: &str, error: reqwest::Error, secret: &str) -> Error {
    // reqwest's Display is terse ("error sending request"); the causes say
    // what happened ("connection closed before message completed").
    let mut message = format!("{what}: {error}");
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    let scrubbed = scrub(message.clone(), secret);
    // A decode error quotes what the server sent; any text that held the
    // secret must not survive as a source either.
    let before_sending = error.is_connect();
    let source: Option<Box<dyn std::error::Error + Send + Sync>> =
        (!error.is_decode() && scrubbed == message).then(|| Box::new(error) as _);
    Error::Transport {
        message: scrubbed,
        before_sending,
        source,
    }
}

/// The start of a body for an error message, with the secret scrubbed in
/// case a server echoes it.
pub(crate) fn excerpt(body: &[u8], secret: &str) -> String {
    // Scrub before cutting, so that no part of the secret survives the cut.
    let text = scrub(String::from_utf8_lossy(body).into_owned(), secret);
    let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    excerpt
}

/// Where a redirect pointed: scheme, host and port of its `Location`, never
/// its path or query.
fn redirect_target(headers: &HeaderMap, secret: &str) -> Option<String> {
    let location = headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
    let url = reqwest::Url::parse(location).ok()?;
    url.host_str()?;
    Some(scrub(url.origin().ascii_serialization(), secret))
}

/// Whether a 403 is about the credential's scope, so it becomes
/// [`Error::MissingScope`]; any other 403 stays [`Error::Api`].
///
/// What is matched, and where it comes from:
/// - a code naming the scope (`INSUFFICIENT_SCOPE`, `SCOPE_...`): the API
///   documents scopes per method (`x-auth-scopes` in the official spec) but
///   not the code of the 403 for a missing one;
/// - a message mentioning the scope (`... needs the communication scope`,
///   "scope" in any case): what the sandbox sends, and the wording the
///   API's access-error texts use ("scope", "access to the method").
///
/// When unsure the error stays `Api`, with all its details.
fn is_about_scope(code: Option<&str>, message: Option<&str>) -> bool {
    let mentions = |text: &str| text.to_ascii_lowercase().contains("scope");
    code.is_some_and(mentions) || message.is_some_and(mentions)
}

/// Replaces the secret in text a server sent, should it echo it.
pub(crate) fn scrub(text: String, secret: &str) -> String {
    if !secret.is_empty() && text.contains(secret) {
        text.replace(secret, "<redacted>")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderValue, LOCATION};

    use super::*;

    const SECRET: &str = "s3cr3t-token";

    fn shaper() -> Shaper<'static> {
        Shaper {
            operation: Operation::GetChats,
            secret: SECRET,
            credential: Credential::ApiKey,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn api(status: u16, rate_limit: Option<RateLimit>) -> Error {
        Error::Api {
            status,
            details: Box::new(ApiErrorDetails {
                rate_limit,
                ..ApiErrorDetails::default()
            }),
        }
    }

    fn rate_limit(
        remaining: Option<u64>,
        resets_in: Option<u64>,
        retry_after: Option<u64>,
    ) -> RateLimit {
        RateLimit {
            limit: Some(100),
            remaining,
            until: None,
            resets_in: resets_in.map(Duration::from_secs),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn transport(before_sending: bool) -> Error {
        Error::Transport {
            message: "reset".to_owned(),
            before_sending,
            source: None,
        }
    }

    #[test]
    fn the_secret_is_scrubbed_and_an_excerpt_cut_after_scrubbing() {
        assert_eq!(
            scrub(format!("a {SECRET} b {SECRET}"), SECRET),
            "a <redacted> b <redacted>"
        );
        assert_eq!(scrub("plain".to_owned(), ""), "plain");
        assert_eq!(scrub("plain".to_owned(), SECRET), "plain");
        // The secret straddles the cut: none of it survives.
        let body = format!("{}{SECRET}", "x".repeat(195));
        let cut = excerpt(body.as_bytes(), SECRET);
        assert!(!cut.contains("s3cr"), "{cut}");
        assert_eq!(cut.chars().count(), 201, "{cut}");
        assert!(cut.ends_with('…'));
        let exact = "y".repeat(200);
        assert_eq!(excerpt(exact.as_bytes(), SECRET), exact);
    }

    #[test]
    fn a_redirect_shows_only_where_it_pointed() {
        let target = |location: &str| redirect_target(&headers(&[("location", location)]), SECRET);
        assert_eq!(
            target("https://evil.example:8443/path?token=s3cr3t-token").as_deref(),
            Some("https://evil.example:8443")
        );
        assert_eq!(target("/relative/path"), None);
        assert_eq!(target("mailto:someone@example.com"), None);
        assert_eq!(redirect_target(&HeaderMap::new(), SECRET), None);
        let mut odd = HeaderMap::new();
        odd.insert(LOCATION, HeaderValue::from_bytes(b"http://\xff").unwrap());
        assert_eq!(redirect_target(&odd, SECRET), None);
        assert_eq!(
            target(&format!("https://{SECRET}.example")).as_deref(),
            Some("https://<redacted>.example")
        );
    }

    #[test]
    fn a_403_about_the_scope_is_missing_scope_any_other_stays_api() {
        assert!(is_about_scope(Some("INSUFFICIENT_SCOPE"), None));
        assert!(is_about_scope(None, Some("needs the communication Scope")));
        assert!(!is_about_scope(Some("FORBIDDEN"), Some("access denied")));
        assert!(!is_about_scope(None, None));

        let body = |json: &str| Some(serde_json::from_str::<ApiErrorResponse>(json).unwrap());
        let scope = body(r#"{"errors": [{"code": "FORBIDDEN", "message": "no scope for this"}]}"#);
        let Error::MissingScope {
            operation,
            credential,
            code,
            message,
        } = shaper().api_error(403, scope.clone(), None)
        else {
            panic!("missing scope");
        };
        assert_eq!(
            (operation, credential),
            (Operation::GetChats, Credential::ApiKey)
        );
        assert_eq!(code.as_deref(), Some("FORBIDDEN"));
        assert_eq!(message.as_deref(), Some("no scope for this"));
        assert!(matches!(
            shaper().api_error(401, scope, None),
            Error::Api { status: 401, .. }
        ));
        let other = body(r#"{"errors": [{"code": "FORBIDDEN", "message": "banned"}]}"#);
        assert!(matches!(
            shaper().api_error(403, other, None),
            Error::Api { status: 403, .. }
        ));
    }

    #[test]
    fn api_errors_keep_every_entry_scrubbed_and_read_the_older_shape() {
        let body = serde_json::from_str::<ApiErrorResponse>(&format!(
            r#"{{"errors": [{{"code": "A", "message": "first {SECRET}"}}, {{"code": "B{SECRET}"}}]}}"#
        ))
        .unwrap();
        let limit = rate_limit(Some(3), Some(5), None);
        let Error::Api { status, details } =
            shaper().api_error(400, Some(body), Some(limit.clone()))
        else {
            panic!("an API error");
        };
        assert_eq!(status, 400);
        assert_eq!(details.code.as_deref(), Some("A"));
        assert_eq!(details.message.as_deref(), Some("first <redacted>"));
        assert_eq!(details.errors.len(), 2);
        assert_eq!(details.errors[1].code, "B<redacted>");
        assert_eq!(details.errors[1].message, None);
        assert_eq!(details.rate_limit, Some(limit));

        let legacy = |json: &str| {
            let body = serde_json::from_str::<ApiErrorResponse>(json).unwrap();
            let Error::Api { details, .. } = shaper().api_error(404, Some(body), None) else {
                panic!("an API error");
            };
            (details.code, details.message)
        };
        assert_eq!(
            legacy(r#"{"error": {"code": 404, "message": "gone"}}"#),
            (Some("404".to_owned()), Some("gone".to_owned()))
        );
        assert_eq!(legacy(r#"{"error": {}}"#), (Some("404".to_owned()), None));
        // The list wins over the older shape.
        assert_eq!(
            legacy(r#"{"errors": [{"code": "NEW"}], "error": {"code": 1}}"#)
                .0
                .as_deref(),
            Some("NEW")
        );
        let Error::Api { details, .. } = shaper().api_error(500, None, None) else {
            panic!("an API error");
        };
        assert_eq!((details.code, details.errors.len()), (None, 0));
    }

    #[test]
    fn an_undocumented_status_is_a_redirect_a_decode_error_or_an_api_error() {
        let s = shaper();
        let redirect = s.undocumented(
            302,
            &headers(&[("location", "https://elsewhere.example/x")]),
            Ok(Bytes::new()),
        );
        assert!(
            matches!(&redirect, Error::Redirect { status: 302, target: Some(t) } if t == "https://elsewhere.example"),
            "{redirect:?}"
        );
        let success = s.undocumented(203, &HeaderMap::new(), Ok(Bytes::from_static(b"odd")));
        assert!(
            matches!(&success, Error::Decode { status: 203, reason, excerpt } if reason == "unexpected success status" && excerpt == "odd"),
            "{success:?}"
        );
        let json = s.undocumented(
            418,
            &headers(&[("x-ratelimit-resource-remaining", "7")]),
            Ok(Bytes::from_static(br#"{"errors": [{"code": "TEAPOT"}]}"#)),
        );
        let Error::Api {
            status: 418,
            details,
        } = json
        else {
            panic!("{json:?}");
        };
        assert_eq!(details.code.as_deref(), Some("TEAPOT"));
        assert_eq!(details.rate_limit.and_then(|r| r.remaining), Some(7));
        let garbage = s.undocumented(
            503,
            &headers(&[("x-ratelimit-resource-remaining", "0")]),
            Ok(Bytes::from(format!("<html>{SECRET}"))),
        );
        let Error::Api {
            status: 503,
            details,
        } = garbage
        else {
            panic!("{garbage:?}");
        };
        let message = details.message.unwrap();
        assert!(message.starts_with("undecodable error body ("), "{message}");
        assert!(
            message.contains("<html><redacted>") && !message.contains(SECRET),
            "{message}"
        );
        assert_eq!(details.rate_limit.and_then(|r| r.remaining), Some(0));
        // Below 400 an undecodable body is a decode error; its reason is scrubbed.
        let decode = s.undecodable(200, None, b"{", &format!("bad {SECRET}"));
        assert!(
            matches!(&decode, Error::Decode { status: 200, reason, .. } if reason == "bad <redacted>"),
            "{decode:?}"
        );
        let api = s.undecodable(400, None, b"{", "bad");
        assert!(
            matches!(&api, Error::Api { status: 400, details } if details.rate_limit.is_none()),
            "{api:?}"
        );
    }

    #[test]
    fn a_write_is_final_once_it_may_have_taken_effect() {
        let unknown = |error| {
            let failure = settle(Operation::SendMessageToChat, error);
            let unknown = matches!(
                failure.error,
                Error::OutcomeUnknown {
                    operation: Operation::SendMessageToChat,
                    ..
                }
            );
            assert!(!unknown || failure.retry == Retry::Never);
            unknown
        };
        assert!(unknown(transport(false)));
        assert!(unknown(timeout(
            TimeoutKind::Attempt,
            Duration::from_secs(1)
        )));
        assert!(unknown(Error::Decode {
            status: 200,
            reason: String::new(),
            excerpt: String::new()
        }));
        assert!(unknown(api(500, None)));
        assert!(unknown(api(503, None)));
        assert!(!unknown(api(499, None)));
        assert!(!unknown(api(420, None)));
        assert!(!unknown(api(429, None)));
        assert!(!unknown(Error::invalid_input("x")));
        // Refused before sending: retried as a read would be.
        let failure = settle(Operation::SendMessageToChat, transport(true));
        assert_eq!(failure.retry, Retry::Backoff);
        assert!(matches!(failure.error, Error::Transport { .. }));
        // A read after a dropped connection is retried.
        assert_eq!(
            settle(Operation::GetChats, transport(false)).retry,
            Retry::Backoff
        );
    }

    #[test]
    fn each_error_gets_its_kind_of_retry() {
        let retry = |error| settle(Operation::GetChats, error).retry;
        assert_eq!(retry(api(420, None)), Retry::ParallelLimit);
        assert_eq!(
            retry(api(420, Some(rate_limit(Some(5), Some(9), None)))),
            Retry::ParallelLimit
        );
        assert_eq!(
            retry(api(420, Some(rate_limit(Some(0), Some(9), None)))),
            Retry::QuotaReset(Some(Duration::from_secs(9)))
        );
        assert_eq!(
            retry(api(429, Some(rate_limit(None, None, Some(4))))),
            Retry::After(Duration::from_secs(4))
        );
        assert_eq!(retry(api(429, None)), Retry::Backoff);
        assert_eq!(retry(api(503, None)), Retry::Backoff);
        assert_eq!(retry(api(404, None)), Retry::Never);
        assert_eq!(
            retry(timeout(TimeoutKind::Total, Duration::from_secs(1))),
            Retry::Never
        );

        // A spent quota becomes RateLimited, due at the reset.
        let failure = settle(
            Operation::GetChats,
            api(420, Some(rate_limit(Some(0), Some(90), None))),
        );
        let Error::RateLimited {
            reset_at,
            local,
            rate_limit,
            ..
        } = failure.error
        else {
            panic!("{:?}", failure.error);
        };
        assert!(!local);
        assert_eq!(rate_limit.and_then(|r| r.remaining), Some(0));
        let due = reset_at.unwrap() - chrono::Utc::now();
        assert!((due.num_seconds() - 90).abs() <= 1, "{due}");
        assert!(matches!(
            rate_limited(transport(false)),
            Error::Transport { .. }
        ));
    }

    #[test]
    fn a_successful_answer_reads_its_date_and_rate_limit() {
        let received = Received::from_headers(&headers(&[
            ("date", "Sun, 06 Dec 2026 10:00:00 GMT"),
            ("x-ratelimit-resource-limit", "100"),
        ]));
        assert_eq!(
            received.date.unwrap().to_rfc3339(),
            "2026-12-06T10:00:00+00:00"
        );
        assert_eq!(received.rate_limit.and_then(|r| r.limit), Some(100));
        assert!(Received::from_headers(&HeaderMap::new()).date.is_none());
    }

    #[tokio::test]
    async fn a_transport_error_says_what_happened_and_whether_it_was_sent() {
        // Nothing listens on a port just freed: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/{SECRET}"))
            .send()
            .await
            .unwrap_err();
        let Error::Transport {
            message,
            before_sending,
            source,
        } = super::transport("the request failed", error, SECRET)
        else {
            panic!("a transport error");
        };
        assert!(before_sending);
        assert!(message.starts_with("the request failed: "), "{message}");
        assert!(message.matches(": ").count() >= 2, "the causes: {message}");
        assert!(!message.contains(SECRET), "{message}");
        // Its text held the secret: the source is dropped with it.
        assert!(source.is_none());
        let error = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        let Error::Transport { source, .. } = super::transport("x", error, SECRET) else {
            panic!("a transport error");
        };
        assert!(source.is_some());
    }
}
