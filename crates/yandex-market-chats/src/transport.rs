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
use crate::retry::Decision;
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
        let deadline = Instant::now() + config.total_timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.attempt(business_id, call, attempt, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            match config.retry.decide(C::OPERATION, attempt, error) {
                Decision::Retry(wait, _) if Instant::now() + wait < deadline => {
                    tracing::debug!(
                        operation = C::OPERATION.name(),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                // A wait past the deadline: the last error says more than a timeout.
                Decision::Retry(_, error) | Decision::Fail(error) => return Err(error),
            }
        }
    }

    async fn attempt<C: Call>(
        &self,
        business_id: NonZeroU64,
        call: &C,
        attempt: u32,
        deadline: Instant,
    ) -> Result<Answer<C::Output>, Error> {
        let config = &self.inner.config;
        let operation = C::OPERATION;
        let _permit = self
            .inner
            .limits
            .acquire(
                business_id.get(),
                operation,
                config.retry.max_quota_wait_value(),
                deadline,
            )
            .await?;
        let left = deadline.saturating_duration_since(Instant::now());
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
                RequestContext::new(Arc::clone(&config.headers)),
            );
            let sent = tokio::time::timeout(budget, async {
                match call.send(&api, business_id).await {
                    Ok(response) => Ok(response),
                    // The body of an undocumented status is read here, inside the timeout.
                    Err(error) => Err(self.classify(error, api.inner()).await),
                }
            })
            .await;
            if let Some(status) = api.inner().status() {
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
            let rate_limit = match &result {
                Ok(answer) => answer.rate_limit.as_ref(),
                Err(error) => error.rate_limit(),
            };
            if let Some(rate_limit) = rate_limit {
                self.inner
                    .limits
                    .observe(business_id.get(), operation, rate_limit);
            }
            result
        }
        .instrument(span.clone())
        .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        if let Err(error) = &result {
            tracing::debug!(parent: &span, %error, "attempt failed");
        }
        result
    }

    /// Turns progenitor's error into ours. `context` is what the post hook saw.
    async fn classify(
        &self,
        error: api::Error<ApiErrorResponse>,
        context: &RequestContext,
    ) -> Error {
        match error {
            api::Error::ErrorResponse(response) => {
                let status = response.status().as_u16();
                let rate_limit = RateLimit::from_headers(response.headers());
                self.api_error(status, Some(response.into_inner()), rate_limit)
            }
            api::Error::InvalidResponsePayload(bytes, reason) => {
                let status = context.status().map_or(0, |s| s.as_u16());
                self.undecodable(status, context.error_headers(), &bytes, &reason.to_string())
            }
            api::Error::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Err(e) => transport("reading the response body failed", e),
                    Ok(bytes) if (200..300).contains(&status) => self.undecodable(
                        status,
                        Some(&headers),
                        &bytes,
                        "unexpected success status",
                    ),
                    Ok(bytes) => match serde_json::from_slice::<ApiErrorResponse>(&bytes) {
                        Ok(body) => {
                            self.api_error(status, Some(body), RateLimit::from_headers(&headers))
                        }
                        Err(reason) => {
                            self.undecodable(status, Some(&headers), &bytes, &reason.to_string())
                        }
                    },
                }
            }
            api::Error::CommunicationError(e) | api::Error::ResponseBodyError(e) => {
                transport("the request failed", e)
            }
            api::Error::InvalidUpgrade(e) => transport("unexpected protocol upgrade", e),
            api::Error::InvalidRequest(message) => Error::invalid_input(message),
            api::Error::Custom(message) => Error::Transport {
                message,
                before_sending: false,
                source: None,
            },
        }
    }

    /// An API error from the documented body, with the secret scrubbed from
    /// the server's text in case it echoes it.
    fn api_error(
        &self,
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
        let excerpt = excerpt(body, self.inner.config.secret.expose());
        if status >= 400 {
            let mut error = self.api_error(status, None, headers.and_then(RateLimit::from_headers));
            if let Error::Api { message, .. } = &mut error {
                *message = Some(format!("undecodable error body ({reason}): {excerpt:?}"));
            }
            return error;
        }
        Error::Decode {
            status,
            reason: reason.to_owned(),
            excerpt,
        }
    }
}

/// A 200 whose `result` is missing: the documented body always has one.
pub(crate) fn missing_result(status: impl std::fmt::Display) -> Error {
    Error::Decode {
        status: 200,
        reason: "the body has no `result`".to_owned(),
        excerpt: format!("{{\"status\":\"{status}\"}}"),
    }
}

fn transport(what: &str, error: reqwest::Error) -> Error {
    // reqwest's Display is terse ("error sending request"); the causes say
    // what happened ("connection closed before message completed").
    let mut message = format!("{what}: {error}");
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    Error::Transport {
        message,
        before_sending: error.is_connect(),
        source: Some(Box::new(error)),
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

/// Replaces the secret in text a server sent, should it echo it.
fn scrub(text: String, secret: &str) -> String {
    if !secret.is_empty() && text.contains(secret) {
        text.replace(secret, "<redacted>")
    } else {
        text
    }
}
