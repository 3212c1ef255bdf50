//! One request, start to end: the body, the request log, scripted faults,
//! latency, the in-flight count, then the API's own checks in its order
//! (route, key, business, quota) and the operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{DATE, HeaderValue};
use hyper::http::request::Parts;

use crate::faults::{self, Fault};
use crate::input::{Input, Query};
use crate::limits::{InFlight, take_quota};
use crate::log;
use crate::response::{self, JSON, Response};
use crate::routes::{self, Failure};
use crate::state::Shared;

/// The service's error: hyper closes the connection without an answer.
#[derive(Debug)]
pub(crate) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the sandbox")
    }
}

impl std::error::Error for Dropped {}

/// Answers one request, or drops its connection.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: hyper::Request<Incoming>,
) -> Result<Response, Dropped> {
    let arrived = Instant::now();
    let (head, body) = request.into_parts();
    // A client that goes away mid-body leaves no trace in the log.
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let fault = shared.state().faults.pop_front().flatten();
    let index = log::record(&shared, &head, &body, fault.clone(), arrived);
    if fault == Some(Fault::DropConnection) {
        return Err(Dropped);
    }

    let in_flight = InFlight::enter(
        &shared,
        routes::business_of(head.uri.path()).map(|(id, _)| id),
    );
    let delay = shared.config.latency + fault.as_ref().map_or(Duration::ZERO, Fault::delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let input = Input {
        query: Query::parse(head.uri.query()),
        content_type: header(&head, "content-type").map(str::to_owned),
        body,
    };
    let mut answer = answer(
        &shared,
        &head,
        &input,
        fault.as_ref(),
        in_flight.over_limit(),
    )
    .await;
    drop(in_flight);
    // The server's time, not the host's: hyper writes its own `Date` only
    // when the answer has none.
    if let Ok(date) = HeaderValue::try_from(shared.clock.http_date()) {
        answer.headers_mut().insert(DATE, date);
    }

    log::answered(&shared, index, answer.status().as_u16());
    Ok(answer)
}

/// The answer, in the API's order: 404 for an unknown route, 401 without a
/// valid key, 404 for an unknown business, 420 for a spent quota (every
/// answer from there on costs a unit), then scripted faults and the
/// parallel limit, 403 for a write with a read-only key, the operation.
async fn answer(
    shared: &Shared,
    head: &Parts,
    input: &Input,
    fault: Option<&Fault>,
    over_parallel_limit: bool,
) -> Response {
    let (method, path) = (head.method.as_str(), head.uri.path());
    let no_such = || {
        let message = format!("no such resource: {method} {path}");
        response::error(404, "NOT_FOUND", &message, None)
    };
    let Some((business_id, rest)) = routes::business_of(path) else {
        return no_such();
    };
    let Some(operation) = routes::route(method, rest) else {
        return no_such();
    };
    let key = header(head, "api-key")
        .or_else(|| header(head, "authorization").and_then(|v| v.strip_prefix("Bearer ")));
    let config = &shared.config;
    let read_only = key.is_some() && key == config.read_only_api_key.as_deref();
    if key != Some(config.api_key.as_str()) && !read_only {
        let message = "the Api-Key header is missing or invalid";
        return response::error(401, "UNAUTHORIZED", message, None);
    }
    if business_id != config.business_id {
        let message = format!("business {business_id} not found");
        return response::error(404, "NOT_FOUND", &message, None);
    }

    let rate = match take_quota(shared, business_id, operation) {
        Ok(rate) => rate,
        Err(rate) => {
            let message = format!("Hit rate limit of requests per hour for resource {operation}");
            return response::error(420, "LIMIT_EXCEEDED", &message, Some(rate));
        }
    };
    let now = shared.clock.now();
    if let Some(answer) = fault.and_then(|fault| fault.answer(business_id, rate, now)) {
        return answer;
    }
    if over_parallel_limit {
        return faults::parallel_limit(business_id, rate);
    }
    if read_only && operation.is_write() {
        // The API does not document this answer's text; the sandbox's choice.
        let message = format!(
            "Access denied: {operation} needs the {} scope",
            operation.scopes()
        );
        return response::error(403, "FORBIDDEN", &message, Some(rate));
    }

    match routes::run(shared, operation, input).await {
        Ok(mut body) => {
            if fault == Some(&Fault::RepeatPageToken) {
                faults::repeat_page_token(&mut body, input.query.page_token());
            }
            response::respond(200, JSON, Some(rate), body.to_string())
        }
        Err(Failure::BadRequest(message)) => {
            response::error(400, "BAD_REQUEST", &message, Some(rate))
        }
        Err(Failure::NotFound(message)) => response::error(404, "NOT_FOUND", &message, Some(rate)),
    }
}

fn header<'a>(head: &'a Parts, name: &str) -> Option<&'a str> {
    head.headers.get(name).and_then(|v| v.to_str().ok())
}
