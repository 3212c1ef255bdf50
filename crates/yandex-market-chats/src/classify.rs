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
            Error::Api {
                status: 420 | 429, ..
            } => false,
            Error::Timeout { .. } | Error::Transport { .. } | Error::Decode { .. } => true,
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
