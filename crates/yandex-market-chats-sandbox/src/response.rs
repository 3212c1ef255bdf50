//! The answers the sandbox writes: the API's JSON bodies, its error format
//! and its `X-RateLimit-Resource-*` headers.

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use hyper::ext::ReasonPhrase;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::json;

use crate::clock;
use crate::limits::RateHeaders;

/// Every answer is complete before it is written.
pub(crate) type Response = hyper::Response<Full<Bytes>>;

pub(crate) const JSON: &str = "application/json";

/// An error in the documented format `{"status": "ERROR", "errors": [{"code", "message"}]}`.
/// Where the API's behaviour is undocumented (the parallel-limit 420, the
/// 403 for a read-only key), the sandbox still uses it.
pub(crate) fn error(status: u16, code: &str, message: &str, rate: Option<RateHeaders>) -> Response {
    let body = json!({ "status": "ERROR", "errors": [{ "code": code, "message": message }] });
    respond(status, JSON, rate, body.to_string())
}

pub(crate) fn respond(
    status: u16,
    content_type: &'static str,
    rate: Option<RateHeaders>,
    body: String,
) -> Response {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == 420 {
        // 420 has no standard reason phrase; this is the API's.
        response
            .extensions_mut()
            .insert(ReasonPhrase::from_static(b"Method Failure"));
    }
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(rate) = rate {
        // RFC 822 with `GMT`, as the API writes it.
        let until = clock::http_date(rate.until);
        headers.insert(LIMIT, HeaderValue::from(rate.limit));
        headers.insert(REMAINING, HeaderValue::from(rate.remaining));
        if let Ok(until) = HeaderValue::try_from(until) {
            headers.insert(UNTIL, until);
        }
    }
    response
}

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-resource-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-resource-remaining");
const UNTIL: HeaderName = HeaderName::from_static("x-ratelimit-resource-until");
