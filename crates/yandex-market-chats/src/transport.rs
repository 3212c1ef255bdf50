//! Every request: client-side limits, the attempt, retries, timeouts,
//! tracing, and turning every outcome into a value or an [`Error`]. What
//! differs per operation is a [`Call`] (see `calls.rs`).

use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::Instant;
use tracing::Instrument;
use yandex_market_chats_api as api;
use yandex_market_chats_api::request_context::RequestContext;
use yandex_market_chats_api::types::ApiErrorResponse;
use yandex_market_chats_api::{ClientInfo, ResponseValue};

use crate::error::TimeoutKind;
use crate::limits::{Acquire, Held, Release, later};
use crate::retry::{Budget, Decision};
use crate::{Client, Error, Operation, RateLimit};

/// At most this many characters of a body go into an error.
const EXCERPT_CHARS: usize = 200;

/// What a generated (or hand-written multipart) call returns.
pub(crate) type CallResult<T> = Result<ResponseValue<T>, api::Error<ApiErrorResponse>>;
pub(crate) type CallFuture<'a, T> = Pin<Box<dyn Future<Output = CallResult<T>> + Send + 'a>>;

/// One API call: sends its request with the per-request generated client.
/// Called once per attempt.
pub(crate) trait Call: Sync {
    /// The decoded 200 body.
    type Output: Send;
    /// Which operation this is (quota, retry rule, tracing).
    const OPERATION: Operation;
    /// Sends the request for `business_id`.
    fn send<'a>(
        &'a self,
        api: &'a api::Client,
        business_id: NonZeroU64,
    ) -> CallFuture<'a, Self::Output>;
}

/// A decoded answer and its rate-limit headers.
pub(crate) struct Answer<T> {
    pub body: T,
    pub rate_limit: Option<RateLimit>,
}

/// Why an attempt failed: before anything was sent (the limiter refused or
/// the deadline passed while waiting: final, and never "outcome unknown"),
/// or on the way to or from the server.
enum Failure {
    Local(Error),
    Remote(Error),
}

impl Client {
    /// Runs `call`, retrying within the policy and the total timeout.
    ///
    /// The total timeout is a deadline, not a timer: each attempt's one timer
    /// is cut to what is left of it. One timer per request matters: each
    /// registration wakes tokio's time driver, a measurable cost per page.
    pub(crate) async fn execute<C: Call>(
        &self,
        business_id: NonZeroU64,
        call: &C,
    ) -> Result<Answer<C::Output>, Error> {
        let config = &self.inner.config;
        let deadline = later(Instant::now(), config.total_timeout);
        let mut budget = Budget::default();
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            let error = match self.attempt(business_id, call, attempt, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(Failure::Local(error)) => return Err(error),
                Err(Failure::Remote(error)) => error,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match config.retry.decide(C::OPERATION, &mut budget, error, left) {
                Decision::Retry(wait, error) => {
                    tracing::debug!(
                        operation = C::OPERATION.name(),
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        %error,
                        "retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Decision::Fail(error) => return Err(error),
            }
        }
    }

    async fn attempt<C: Call>(
        &self,
        business_id: NonZeroU64,
        call: &C,
        attempt: u32,
        deadline: Instant,
    ) -> Result<Answer<C::Output>, Failure> {
        let config = &self.inner.config;
        let operation = C::OPERATION;
        let total_timeout = Error::Timeout {
            kind: TimeoutKind::Total,
            after: config.total_timeout,
        };
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
            Ok(Err(error)) => return Err(Failure::Local(error)),
            Err(_) => return Err(Failure::Local(total_timeout)),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            permit.release(Release::not_sent());
            return Err(Failure::Local(total_timeout));
        }
        let (budget, kind, after) = if left < config.attempt_timeout {
            (left, TimeoutKind::Total, config.total_timeout)
        } else {
            (
                config.attempt_timeout,
                TimeoutKind::Attempt,
                config.attempt_timeout,
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
        let result = async {
            // One generated client per request: its context records this
            // response's status (see the codegen crate).
            let api = api::Client::new_with_client(
                &config.base_url,
                config.http.clone(),
                RequestContext::new(Arc::clone(&config.headers))
                    .with_origin(Arc::clone(&config.origin)),
            );
            let sent = tokio::time::timeout(budget, async {
                match call.send(&api, business_id).await {
                    Ok(response) => Ok(response),
                    // The body of an undocumented status is read here, inside the timeout.
                    Err(error) => Err(self.classify(operation, error, api.inner()).await),
                }
            })
            .await;
            let status = api.inner().status();
            if let Some(status) = status {
                span.record("status", status.as_u16());
            }
            let result = match sent {
                Err(_) => Err(Error::Timeout { kind, after }),
                Ok(Err(error)) => Err(error),
                Ok(Ok(response)) => Ok(Answer {
                    rate_limit: RateLimit::from_headers(response.headers()),
                    body: response.into_inner(),
                }),
            };
            // A custom HTTP client followed a redirect: whatever came back is
            // not the API's answer, and the credential went elsewhere.
            let result = match api.inner().foreign_origin() {
                Some(origin) => Err(Error::Redirect {
                    status: status.map_or(0, |s| s.as_u16()),
                    target: Some(scrub(origin.to_owned(), config.secret.expose())),
                }),
                None => result,
            };
            let rate_limit = match &result {
                Ok(answer) => answer.rate_limit.clone(),
                Err(error) => error.rate_limit().cloned(),
            };
            permit.release(Release::sent(rate_limit));
            result
        }
        .instrument(span.clone())
        .await;
        span.record(
            "duration_ms",
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
        if let Err(error) = &result {
            tracing::debug!(parent: &span, %error, "attempt failed");
        }
        result.map_err(Failure::Remote)
    }

    /// Turns progenitor's error into ours. `context` is what the post hook saw.
    async fn classify(
        &self,
        operation: Operation,
        error: api::Error<ApiErrorResponse>,
        context: &RequestContext,
    ) -> Error {
        let secret = self.inner.config.secret.expose();
        match error {
            api::Error::ErrorResponse(response) => {
                let status = response.status().as_u16();
                let rate_limit = RateLimit::from_headers(response.headers());
                self.api_error(operation, status, Some(response.into_inner()), rate_limit)
            }
            api::Error::InvalidResponsePayload(bytes, reason) => {
                let status = context.status().map_or(0, |s| s.as_u16());
                self.undecodable(status, context.error_headers(), &bytes, &reason.to_string())
            }
            api::Error::UnexpectedResponse(response) if response.status().is_redirection() => {
                Error::Redirect {
                    status: response.status().as_u16(),
                    target: redirect_target(response.headers(), secret),
                }
            }
            api::Error::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Err(e) => transport("reading the response body failed", e, secret),
                    Ok(bytes) if (200..300).contains(&status) => self.undecodable(
                        status,
                        Some(&headers),
                        &bytes,
                        "unexpected success status",
                    ),
                    Ok(bytes) => match serde_json::from_slice::<ApiErrorResponse>(&bytes) {
                        Ok(body) => self.api_error(
                            operation,
                            status,
                            Some(body),
                            RateLimit::from_headers(&headers),
                        ),
                        Err(reason) => {
                            self.undecodable(status, Some(&headers), &bytes, &reason.to_string())
                        }
                    },
                }
            }
            api::Error::CommunicationError(e) | api::Error::ResponseBodyError(e) => {
                transport("the request failed", e, secret)
            }
            api::Error::InvalidUpgrade(e) => transport("unexpected protocol upgrade", e, secret),
            api::Error::InvalidRequest(message) => Error::invalid_input(scrub(message, secret)),
            api::Error::Custom(message) => Error::Transport {
                message: scrub(message, secret),
                before_sending: false,
                source: None,
            },
        }
    }

    /// An API error from the documented body, with the secret scrubbed from
    /// the server's text in case it echoes it.
    fn api_error(
        &self,
        operation: Operation,
        status: u16,
        body: Option<ApiErrorResponse>,
        rate_limit: Option<RateLimit>,
    ) -> Error {
        let secret = self.inner.config.secret.expose();
        let mut details: Vec<(String, Option<String>)> = Vec::new();
        if let Some(body) = body {
            details.extend(
                body.errors
                    .into_iter()
                    .flatten()
                    .map(|e| (scrub(e.code, secret), e.message.map(|m| scrub(m, secret)))),
            );
            // The older error shape: `{"error": {"code": 403, "message": "..."}}`.
            if details.is_empty()
                && let Some(legacy) = body.error
            {
                let code = legacy
                    .code
                    .map_or_else(|| status.to_string(), |c| c.to_string());
                details.push((code, legacy.message.map(|m| scrub(m, secret))));
            }
        }
        let (code, message) = details
            .first()
            .map_or((None, None), |(c, m)| (Some(c.clone()), m.clone()));
        if status == 403 && is_about_scope(code.as_deref(), message.as_deref()) {
            return Error::MissingScope {
                operation,
                credential: self.inner.config.credential,
                code,
                message,
            };
        }
        Error::Api {
            status,
            code,
            message,
            details,
            rate_limit,
        }
    }

    /// A body that is not the documented JSON. For an error status the
    /// status still decides what happens (a 420's headers, a 503's retry).
    fn undecodable(
        &self,
        status: u16,
        headers: Option<&reqwest::header::HeaderMap>,
        body: &[u8],
        reason: &str,
    ) -> Error {
        let secret = self.inner.config.secret.expose();
        let excerpt = excerpt(body, secret);
        // serde's reasons quote the offending value: it may be the secret.
        let reason = scrub(reason.to_owned(), secret);
        if status >= 400 {
            let rate_limit = headers.and_then(RateLimit::from_headers);
            let mut error = Error::Api {
                status,
                code: None,
                message: None,
                details: Vec::new(),
                rate_limit,
            };
            if let Error::Api { message, .. } = &mut error {
                *message = Some(format!("undecodable error body ({reason}): {excerpt:?}"));
            }
            return error;
        }
        Error::Decode {
            status,
            reason,
            excerpt,
        }
    }
}

impl Client {
    /// The `result` of a 200 body. A body without one parsed but is of no
    /// use: [`Error::Decode`], whose excerpt is the body as parsed (its bytes
    /// are gone by then), scrubbed like any server text.
    pub(crate) fn result_of<B: serde::Serialize, R>(
        &self,
        mut body: B,
        take: impl FnOnce(&mut B) -> Option<R>,
    ) -> Result<R, Error> {
        take(&mut body).ok_or_else(|| {
            let parsed = serde_json::to_vec(&body).unwrap_or_default();
            Error::Decode {
                status: 200,
                reason: "the body has no `result` (shown as parsed)".to_owned(),
                excerpt: excerpt(&parsed, self.inner.config.secret.expose()),
            }
        })
    }
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
fn redirect_target(headers: &reqwest::header::HeaderMap, secret: &str) -> Option<String> {
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
///   not the code of the 403 for a missing one (see `api-facts.md`);
/// - a message mentioning the scope (`... needs the communication scope`,
///   "scope" in any case): what the sandbox sends, and the wording the
///   API's access-error texts use ("scope", "access to the method").
///
/// When unsure the error stays `Api`, with all its details.
fn is_about_scope(code: Option<&str>, message: Option<&str>) -> bool {
    let mentions = |text: &str| {
        let lower = text.to_ascii_lowercase();
        lower.contains("scope")
    };
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
