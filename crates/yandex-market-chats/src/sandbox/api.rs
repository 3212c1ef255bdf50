//! The httpmock side of the sandbox: routes each request to the operation
//! it names and answers like the API: auth, scopes, quotas, scripted
//! HTTP-level faults, the documented error body.

use std::time::{Duration, Instant};

use chrono::Utc;
use httpmock::{HttpMockRequest, HttpMockResponse};
use serde_json::{Value, json};

use super::{Shared, listing, messages};
use crate::Operation;

/// The header the front uses to pass an HTTP-level fault to this handler.
pub(super) const FAULT_HEADER: &str = "x-sandbox-fault";

const JSON: &str = "application/json";

pub(super) fn handle(shared: &Shared, request: &HttpMockRequest) -> HttpMockResponse {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let path = request.uri().path().to_owned();
    let method = request.method_str().to_owned();

    let Some((business_id, rest)) = business_of(&path) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("no such resource: {method} {path}"),
            None,
        );
    };
    let Some(operation) = route(&method, rest) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("no such resource: {method} {path}"),
            None,
        );
    };
    let key = header("api-key")
        .or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ")));
    let config = &shared.config;
    let read_only = key.is_some() && key == config.read_only_api_key.as_deref();
    if key != Some(config.api_key.as_str()) && !read_only {
        return error(
            401,
            "UNAUTHORIZED",
            "the Api-Key header is missing or invalid",
            None,
        );
    }
    if business_id != config.business_id {
        return error(
            404,
            "NOT_FOUND",
            &format!("business {business_id} not found"),
            None,
        );
    }

    // Every answer from here on counts against the quota, as on the API.
    let rate = match take_quota(shared, business_id, operation) {
        Ok(rate) => rate,
        Err(rate) => {
            let message = format!("Hit rate limit of requests per hour for resource {operation}");
            return error(420, "LIMIT_EXCEEDED", &message, Some(rate));
        }
    };
    if let Some(response) = scripted(header(FAULT_HEADER), business_id, rate) {
        return response;
    }
    if read_only && operation.is_write() {
        // The API does not document this answer's text; the sandbox's choice.
        let message = format!(
            "Access denied: {operation} needs the {} scope",
            operation.scopes()
        );
        return error(403, "FORBIDDEN", &message, Some(rate));
    }

    let query = Query(request.query_params());
    let result = match operation {
        Operation::GetChats => listing::list(shared, request, &query),
        Operation::GetChat => messages::get_chat(shared, &query),
        Operation::GetChatHistory => messages::history(shared, request, &query),
        Operation::GetChatMessage => messages::get_message(shared, &query),
        Operation::SendMessageToChat => messages::send_message(shared, request, &query),
        Operation::SendFileToChat => messages::send_file(shared, request, &query),
        Operation::CreateChat => messages::create_chat(shared, request, &query),
    };
    match result {
        Ok(body) => respond(200, JSON, Some(rate), body.to_string()),
        Err(Failure::BadRequest(message)) => error(400, "BAD_REQUEST", &message, Some(rate)),
        Err(Failure::NotFound(message)) => error(404, "NOT_FOUND", &message, Some(rate)),
    }
}

/// Why an operation refused a request.
pub(super) enum Failure {
    BadRequest(String),
    NotFound(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::BadRequest(message)
    }
}

fn route(method: &str, rest: &str) -> Option<Operation> {
    Some(match (method, rest) {
        ("POST", "chats") => Operation::GetChats,
        ("POST", "chats/new") => Operation::CreateChat,
        ("GET", "chat") => Operation::GetChat,
        ("POST", "chats/history") => Operation::GetChatHistory,
        ("GET", "chats/message") => Operation::GetChatMessage,
        ("POST", "chats/message") => Operation::SendMessageToChat,
        ("POST", "chats/file/send") => Operation::SendFileToChat,
        _ => return None,
    })
}

/// `/v2/businesses/{id}/{rest}` → `(id, rest)`.
pub(super) fn business_of(path: &str) -> Option<(u64, &str)> {
    let rest = path.strip_prefix("/v2/businesses/")?;
    let (id, tail) = rest.split_once('/')?;
    Some((id.parse().ok()?, tail))
}

/// An HTTP-level fault the front scripted for this request.
fn scripted(fault: Option<&str>, business_id: u64, rate: RateHeaders) -> Option<HttpMockResponse> {
    Some(match fault? {
        "parallel" => {
            let message =
                format!("Hit rate limit of 4 parallel requests for business {business_id}");
            error(420, "LIMIT_EXCEEDED", &message, Some(rate))
        }
        quota if quota.starts_with("quota:") => {
            let ms: u64 = quota["quota:".len()..].parse().unwrap_or(1000);
            let spent = RateHeaders {
                limit: rate.limit,
                remaining: 0,
                until: Utc::now() + Duration::from_millis(ms),
            };
            error(
                420,
                "LIMIT_EXCEEDED",
                "Hit rate limit of requests per hour",
                Some(spent),
            )
        }
        "500" => error(500, "INTERNAL_ERROR", "Internal error", Some(rate)),
        "503" => {
            let page = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>";
            respond(503, "text/html", None, page.to_owned())
        }
        "garbage" => {
            let truncated = "{\"status\":\"OK\",\"result\":{\"chats\":[{\"chatId\":";
            respond(200, JSON, Some(rate), truncated.to_owned())
        }
        _ => return None,
    })
}

/// The query parameters of a request.
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`, checked against the operation's bounds; `default` when absent.
    pub(super) fn limit(&self, default: usize, max: usize) -> Result<usize, String> {
        match self.get("limit") {
            None => Ok(default),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "limit must be an integer from 1 to {max}, got {raw:?}"
                )),
            },
        }
    }

    /// `pageToken`, or the older name `page_token`, still accepted.
    pub(super) fn page_token(&self) -> Option<&str> {
        self.get("pageToken").or_else(|| self.get("page_token"))
    }

    /// A required id parameter (`chatId`, `messageId`): an integer >= 1.
    pub(super) fn id(&self, name: &str) -> Result<u64, String> {
        let raw = self
            .get(name)
            .ok_or_else(|| format!("{name} is required"))?;
        raw.parse::<u64>()
            .ok()
            .filter(|id| *id >= 1)
            .ok_or_else(|| format!("{name} must be an integer >= 1, got {raw:?}"))
    }

    /// The request's JSON body; an empty body is `{}`.
    pub(super) fn json_body(&self, request: &HttpMockRequest) -> Result<Value, String> {
        if request.body_ref().is_empty() {
            return Ok(json!({}));
        }
        let body: Value = serde_json::from_slice(request.body_ref())
            .map_err(|e| format!("the body is not JSON: {e}"))?;
        if body.is_object() {
            Ok(body)
        } else {
            Err("the body must be a JSON object".to_owned())
        }
    }
}

/// Tokens are opaque to clients: the offset, masked with a per-seed key.
pub(super) fn encode_token(shared: &Shared, offset: usize) -> String {
    format!("c{:016x}", offset as u64 ^ shared.token_mask)
}

/// The offset a token names, if it is one of ours and within `len`.
pub(super) fn decode_token(shared: &Shared, token: &str, len: usize) -> Result<usize, String> {
    token
        .strip_prefix('c')
        .filter(|hex| hex.len() == 16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .and_then(|masked| usize::try_from(masked ^ shared.token_mask).ok())
        .filter(|offset| *offset <= len)
        .ok_or_else(|| format!("invalid page token {token:?}"))
}

/// The three `X-RateLimit-Resource-*` values of one answer.
#[derive(Clone, Copy)]
struct RateHeaders {
    limit: u32,
    remaining: u32,
    until: chrono::DateTime<Utc>,
}

/// Takes one request from the business's quota window for the operation;
/// `Err` when spent.
fn take_quota(
    shared: &Shared,
    business_id: u64,
    operation: Operation,
) -> Result<RateHeaders, RateHeaders> {
    let config = &shared.config;
    let quota = config.hourly_quota.map(|get_chats| match operation {
        Operation::GetChats => get_chats,
        other => other.default_hourly_quota(),
    });
    let limit = quota.unwrap_or(u32::MAX);
    let mut state = shared.state();
    let now = Instant::now();
    let (start, used) = state
        .quota
        .entry((business_id, operation.name()))
        .or_insert((now, 0));
    if now.duration_since(*start) >= config.quota_window {
        *start = now;
        *used = 0;
    }
    let until = Utc::now()
        + config
            .quota_window
            .saturating_sub(now.duration_since(*start));
    if quota.is_some() && *used >= limit {
        return Err(RateHeaders {
            limit,
            remaining: 0,
            until,
        });
    }
    *used += 1;
    Ok(RateHeaders {
        limit,
        remaining: limit - *used,
        until,
    })
}

fn error(status: u16, code: &str, message: &str, rate: Option<RateHeaders>) -> HttpMockResponse {
    let body = json!({ "status": "ERROR", "errors": [{ "code": code, "message": message }] });
    respond(status, JSON, rate, body.to_string())
}

fn respond(
    status: u16,
    content_type: &str,
    rate: Option<RateHeaders>,
    body: String,
) -> HttpMockResponse {
    let mut builder = HttpMockResponse::builder()
        .status(status)
        .header("content-type", content_type);
    if let Some(rate) = rate {
        // RFC 822 with `GMT`, as the API writes it.
        let until = rate.until.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        builder = builder
            .header("X-RateLimit-Resource-Limit", rate.limit.to_string())
            .header("X-RateLimit-Resource-Remaining", rate.remaining.to_string())
            .header("X-RateLimit-Resource-Until", until);
    }
    builder.body(body).build()
}
