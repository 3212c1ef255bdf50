//! The one error type of the crate.
//!
//! Variants say what happened; the predicates ([`Error::is_retryable`],
//! [`Error::is_rate_limited`], [`Error::is_auth`], [`Error::status`]) answer
//! the questions callers usually ask without matching on variants.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{ApiErrorEntry, Credential, Operation, RateLimit};

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong, from a bad argument to a dropped connection.
///
/// Secrets never appear in it: not in `Display`, not in `Debug`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An argument or setting is invalid. Found before any request is sent.
    InvalidInput {
        /// What is wrong and what is allowed.
        message: String,
    },

    /// The API answered with an error status (400, 401, 403, 404, 420 from the
    /// parallel limit, 429 from a gateway, 5xx, ...).
    Api {
        /// The HTTP status.
        status: u16,
        /// What the response said: its error codes and messages and its
        /// rate-limit headers. Boxed, so that `Result<_, Error>` stays small.
        details: Box<ApiErrorDetails>,
    },

    /// The hourly quota is spent and resets later than the client is allowed
    /// to wait (see `RetryPolicy::max_quota_wait`).
    RateLimited {
        /// When the quota resets, if known.
        reset_at: Option<DateTime<Utc>>,
        /// `true` when the client's own quota stopped the request before it
        /// was sent; `false` when the server answered 420.
        local: bool,
        /// The server's message, if it sent one.
        message: Option<String>,
        /// The rate-limit headers of the response, when the server answered.
        rate_limit: Option<RateLimit>,
    },

    /// The request could not be sent or its response could not be read
    /// (refused or dropped connection, TLS, ...).
    Transport {
        /// What failed.
        message: String,
        /// `true` when no connection could be made, so the request surely
        /// never reached the server.
        before_sending: bool,
        /// The underlying error.
        source: Option<Source>,
    },

    /// No answer in time.
    Timeout {
        /// Which limit was reached.
        kind: TimeoutKind,
        /// The limit.
        after: Duration,
    },

    /// The response body is not what the API documents.
    Decode {
        /// The HTTP status of the response.
        status: u16,
        /// Why decoding failed.
        reason: String,
        /// The first bytes of the body, lossily decoded (at most 200 characters).
        excerpt: String,
    },

    /// A write (sending a message or file, opening a chat) failed in a way
    /// that leaves its outcome unknown: a timeout, a dropped connection or a
    /// 5xx after the request was sent. It may have taken effect; check (for
    /// example in the chat's history) before repeating it.
    OutcomeUnknown {
        /// The write.
        operation: Operation,
        /// What happened; also the error's `source()`.
        cause: Box<Error>,
    },

    /// The credential lacks the scope the operation needs (HTTP 403 about the
    /// scope), e.g. a read-only key (`all-methods:read-only`) trying to send
    /// a message. Any other 403 is [`Error::Api`].
    MissingScope {
        /// The operation refused.
        operation: Operation,
        /// The kind of credential the client sent.
        credential: Credential,
        /// The Yandex error code, if any.
        code: Option<String>,
        /// The Yandex error message, if any.
        message: Option<String>,
    },

    /// The server answered with a redirect (3xx). The API documents none,
    /// and following one could send the credential to another host, so the
    /// client never follows it. Also reported when a custom `http_client`
    /// followed one to another origin.
    Redirect {
        /// The HTTP status.
        status: u16,
        /// Where it pointed: scheme, host and port only (never a path or a
        /// query, which may carry data).
        target: Option<String>,
    },

    /// The shared limiter cannot be reached and is set to fail closed (see
    /// `redis::OnUnreachable`, feature `redis`). Nothing was sent.
    LimiterUnavailable {
        /// What failed (never a password).
        message: String,
    },

    /// A follower's checkpoint cannot be read or written, or holds something
    /// that is not this follower's state (see `follow::Checkpoint`).
    Checkpoint {
        /// What is wrong, naming the file when there is one.
        message: String,
    },

    /// The server sent back a page token this stream had already sent: paging
    /// would never end.
    PaginationLoop {
        /// The repeated token.
        token: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput { message } => write!(f, "invalid input: {message}"),
            Self::Api { status, details } => f.write_str(&api_line(
                *status,
                details.code.as_deref(),
                details.message.as_deref(),
            )),
            Self::RateLimited {
                reset_at,
                local,
                message,
                ..
            } => f.write_str(&rate_limited_line(*reset_at, *local, message.as_deref())),
            Self::Transport { message, .. } => write!(f, "transport error: {message}"),
            Self::Timeout { kind, after } => write!(f, "timed out after {after:?} ({kind})"),
            Self::Decode {
                status,
                reason,
                excerpt,
            } => write!(
                f,
                "undecodable response body (status {status}): {reason}; body starts with {excerpt:?}"
            ),
            Self::OutcomeUnknown { operation, cause } => write!(
                f,
                "{operation}: outcome unknown, it may have taken effect (check before repeating it): {cause}"
            ),
            Self::MissingScope {
                operation,
                credential,
                code,
                message,
            } => {
                let (needs, this) = match credential {
                    Credential::OAuthToken => ("an OAuth token", "token"),
                    _ => ("an API key", "key"),
                };
                write!(
                    f,
                    "{operation} needs {needs} with the {} scope; this {this} lacks it (HTTP 403",
                    operation.scopes()
                )?;
                for part in [code, message].into_iter().flatten() {
                    write!(f, ": {part}")?;
                }
                f.write_str(")")
            }
            Self::Redirect { status, target } => write!(
                f,
                "the server answered HTTP {status} redirecting to {}; redirects are not followed (the API documents none)",
                target.as_deref().unwrap_or("an unreadable location")
            ),
            Self::LimiterUnavailable { message } => write!(f, "limiter unavailable: {message}"),
            Self::Checkpoint { message } => write!(f, "checkpoint: {message}"),
            Self::PaginationLoop { token } => write!(
                f,
                "pagination loop: the server returned page token {token:?} again"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport {
                source: Some(source),
                ..
            } => Some(source.as_ref()),
            // The cause itself, not its box, so it downcasts to `Error`.
            Self::OutcomeUnknown { cause, .. } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// What an [`Error::Api`] response said.
///
/// ```
/// # fn show(error: &yandex_market_chats::Error) {
/// use yandex_market_chats::Error;
///
/// if let Error::Api { status: 400, details } = error {
///     for entry in &details.errors {
///         eprintln!("{}: {}", entry.code, entry.message.as_deref().unwrap_or(""));
///     }
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ApiErrorDetails {
    /// The first Yandex error code (`errors[].code`), when the body has one.
    pub code: Option<String>,
    /// The first Yandex error message, when the body has one (or why the
    /// body could not be read).
    pub message: Option<String>,
    /// Every error the body listed (the older `{"error": {...}}` shape too).
    pub errors: Vec<ApiErrorEntry>,
    /// The rate-limit headers of the response.
    pub rate_limit: Option<RateLimit>,
}

/// Which timeout an [`Error::Timeout`] hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// One attempt (connect, send, read the body) took too long.
    Attempt,
    /// The whole request (one page of a listing, or one call), retries and
    /// waits included, took too long.
    Total,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Attempt => "per-attempt timeout",
            Self::Total => "total timeout",
        })
    }
}

fn api_line(status: u16, code: Option<&str>, message: Option<&str>) -> String {
    let mut line = format!("Yandex.Market API error (HTTP {status})");
    match (code, message) {
        (Some(code), Some(message)) => line.push_str(&format!(": {code}: {message}")),
        (Some(code), None) => line.push_str(&format!(": {code}")),
        (None, Some(message)) => line.push_str(&format!(": {message}")),
        (None, None) => line.push_str(": no error details in the body"),
    }
    line
}

fn rate_limited_line(
    reset_at: Option<DateTime<Utc>>,
    local: bool,
    message: Option<&str>,
) -> String {
    let who = if local {
        "client-side hourly quota spent (no request sent)"
    } else {
        "hourly quota spent (HTTP 420)"
    };
    let mut line = format!("rate limited: {who}");
    if let Some(at) = reset_at {
        line.push_str(&format!(", resets at {}", at.to_rfc3339()));
    }
    if let Some(message) = message {
        line.push_str(&format!(": {message}"));
    }
    line
}

impl Error {
    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput {
            message: message.into(),
        }
    }

    /// The HTTP status of the response this error came from, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. }
            | Self::Decode { status, .. }
            | Self::Redirect { status, .. } => Some(*status),
            Self::RateLimited { local: false, .. } => Some(420),
            Self::MissingScope { .. } => Some(403),
            Self::OutcomeUnknown { cause, .. } => cause.status(),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed: 420, 429, 500,
    /// 502, 503, 504, transport failures and per-attempt timeouts. The client already retries these within its `RetryPolicy`;
    /// an error you see has used up that budget. Never true for
    /// [`Error::OutcomeUnknown`]: repeating a write may do it twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 420 | 429 | 500 | 502 | 503 | 504),
            Self::Decode { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            Self::Transport { .. } => true,
            Self::Timeout { kind, .. } => *kind == TimeoutKind::Attempt,
            _ => false,
        }
    }

    /// How long to wait before going on after this error, for a loop that
    /// restarts what failed (a follower's stream, a listing): `Some` for
    /// every error that may go away by itself, `None` for those that will
    /// not (bad input, credentials, a checkpoint that is not this
    /// follower's, an outcome unknown).
    ///
    /// A spent quota waits for its reset (the server's, or the client's
    /// own: [`Error::RateLimited`] is not [retryable](Error::is_retryable)
    /// within one request, but is once the window turns); a gateway's
    /// `Retry-After` is honoured; other transient faults (5xx, transport,
    /// timeouts, the parallel limit, a Redis limiter that is down) wait a
    /// few seconds. Never more than an hour.
    ///
    /// ```
    /// # async fn run(client: yandex_market_chats::Client) -> Result<(), yandex_market_chats::Error> {
    /// use futures::TryStreamExt;
    ///
    /// loop {
    ///     let mut events = client.follow(42).stream();
    ///     let error = loop {
    ///         match events.try_next().await {
    ///             Ok(Some(event)) => println!("{}", event.dedup_key()),
    ///             Ok(None) => return Ok(()),
    ///             Err(error) => break error,
    ///         }
    ///     };
    ///     drop(events); // the next stream takes the checkpoint over
    ///     match error.retry_after() {
    ///         Some(wait) => tokio::time::sleep(wait).await,
    ///         None => return Err(error),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        use std::time::Duration;
        const BRIEF: Duration = Duration::from_secs(5);
        let until_reset = |rate_limit: Option<&RateLimit>| {
            rate_limit.and_then(|r| {
                r.retry_after
                    .or(if r.is_exhausted() { r.resets_in } else { None })
            })
        };
        let wait = match self {
            Self::RateLimited {
                reset_at,
                rate_limit,
                ..
            } => reset_at
                .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                .or_else(|| until_reset(rate_limit.as_ref()))
                .unwrap_or(Duration::from_secs(60))
                .max(Duration::from_secs(1)),
            Self::LimiterUnavailable { .. } => BRIEF,
            error if error.is_retryable() => until_reset(error.rate_limit()).unwrap_or(BRIEF),
            _ => return None,
        };
        Some(wait.min(crate::rate_limit::WINDOW))
    }

    /// Whether a limit was hit: a 420 of either kind, a gateway's 429, or the
    /// client's own quota.
    pub fn is_rate_limited(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Api {
                    status: 420 | 429,
                    ..
                }
        )
    }

    /// Whether the credentials were refused (401 or 403).
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// The rate-limit headers of the response this error came from.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        match self {
            Self::Api { details, .. } => details.rate_limit.as_ref(),
            Self::RateLimited { rate_limit, .. } => rate_limit.as_ref(),
            _ => None,
        }
    }
}
