//! The httpmock side of the sandbox: answers getChats like the API.

use std::time::{Duration, Instant};

use chrono::Utc;
use httpmock::{HttpMockRequest, HttpMockResponse};
use serde_json::{Value, json};

use super::Shared;
use crate::{Chat, ChatContextType, ChatStatus, ChatType};

/// The header the front uses to pass an HTTP-level fault to this handler.
pub(super) const FAULT_HEADER: &str = "x-sandbox-fault";

const JSON: &str = "application/json";
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 20;

pub(super) fn handle(shared: &Shared, request: &HttpMockRequest) -> HttpMockResponse {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let path = request.uri().path().to_owned();

    let Some(business_id) = business_of(&path) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("no such resource: {} {path}", request.method_str()),
            None,
        );
    };
    if request.method_str() != "POST" {
        return error(405, "METHOD_NOT_ALLOWED", "getChats is POST", None);
    }
    let key = &shared.config.api_key;
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    if header("api-key") != Some(key.as_str()) && bearer != Some(key.as_str()) {
        return error(
            401,
            "UNAUTHORIZED",
            "the Api-Key header is missing or invalid",
            None,
        );
    }
    if business_id != shared.config.business_id {
        return error(
            404,
            "NOT_FOUND",
            &format!("business {business_id} not found"),
            None,
        );
    }

    // Every answer from here on counts against the quota, as on the API.
    let rate = match take_quota(shared, business_id) {
        Ok(rate) => rate,
        Err(rate) => {
            return error(
                420,
                "LIMIT_EXCEEDED",
                "Hit rate limit of requests per hour for resource getChats",
                Some(rate),
            );
        }
    };

    match header(FAULT_HEADER) {
        Some("parallel") => {
            let message =
                format!("Hit rate limit of 4 parallel requests for business {business_id}");
            return error(420, "LIMIT_EXCEEDED", &message, Some(rate));
        }
        Some(quota) if quota.starts_with("quota:") => {
            let ms: u64 = quota["quota:".len()..].parse().unwrap_or(1000);
            let until = RateHeaders {
                limit: rate.limit,
                remaining: 0,
                until: Utc::now() + Duration::from_millis(ms),
            };
            return error(
                420,
                "LIMIT_EXCEEDED",
                "Hit rate limit of requests per hour",
                Some(until),
            );
        }
        Some("500") => return error(500, "INTERNAL_ERROR", "Internal error", Some(rate)),
        Some("503") => {
            let page = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>";
            return respond(503, "text/html", None, page.to_owned());
        }
        Some("garbage") => {
            let truncated = "{\"status\":\"OK\",\"result\":{\"chats\":[{\"chatId\":";
            return respond(200, JSON, Some(rate), truncated.to_owned());
        }
        _ => {}
    }

    match list(shared, request) {
        Ok(body) => respond(200, JSON, Some(rate), body.to_string()),
        Err(message) => error(400, "BAD_REQUEST", &message, Some(rate)),
    }
}

/// `/v2/businesses/{id}/chats` → `id`.
pub(super) fn business_of(path: &str) -> Option<u64> {
    let rest = path.strip_prefix("/v2/businesses/")?;
    let (id, tail) = rest.split_once('/')?;
    (tail == "chats").then(|| id.parse().ok()).flatten()
}

/// One page of the chats the request's filters select.
fn list(shared: &Shared, request: &HttpMockRequest) -> Result<Value, String> {
    let query = request.query_params();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match param("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(format!(
                    "limit must be an integer from 1 to {MAX_LIMIT}, got {raw:?}"
                ));
            }
        },
    };
    // `page_token` is the older name, still accepted.
    let offset = match param("pageToken").or_else(|| param("page_token")) {
        None => 0,
        Some(token) => {
            decode_token(shared, token).ok_or_else(|| format!("invalid page token {token:?}"))?
        }
    };
    let body: Value = if request.body_ref().is_empty() {
        json!({})
    } else {
        serde_json::from_slice(request.body_ref())
            .map_err(|e| format!("the body is not JSON: {e}"))?
    };
    let filter = Filter::parse(&body)?;

    let matching: Vec<&Chat> = shared
        .chats
        .iter()
        .filter(|chat| filter.matches(chat))
        .collect();
    let page: Vec<&Chat> = matching.iter().skip(offset).take(limit).copied().collect();
    let end = offset + page.len();
    let mut result = json!({ "chats": page });
    if end < matching.len() {
        result["paging"] = json!({ "nextPageToken": encode_token(shared, end) });
    } else {
        result["paging"] = json!({});
    }
    Ok(json!({ "status": "OK", "result": result }))
}

/// The request body's filters; absent means "any".
struct Filter {
    statuses: Option<Vec<ChatStatus>>,
    types: Option<Vec<ChatType>>,
    context_types: Option<Vec<ChatContextType>>,
    contexts: Option<Vec<(String, u64)>>,
    order_ids: Option<Vec<u64>>,
}

impl Filter {
    fn parse(body: &Value) -> Result<Self, String> {
        if !body.is_object() {
            return Err("the body must be a JSON object".to_owned());
        }
        Ok(Self {
            statuses: known_values(body, "statuses", ChatStatus::KNOWN)?,
            types: known_values(body, "types", ChatType::KNOWN)?,
            context_types: known_values(body, "contextTypes", ChatContextType::KNOWN)?,
            contexts: array(body, "contexts")?
                .map(|items| {
                    items
                        .iter()
                        .map(|item| {
                            let kind = item["type"]
                                .as_str()
                                .filter(|t| matches!(*t, "ORDER" | "RETURN"));
                            match (kind, item["id"].as_u64().filter(|id| *id >= 1)) {
                                (Some(kind), Some(id)) => Ok((kind.to_owned(), id)),
                                _ => Err(format!(
                                    "contexts: {item} is not {{type: ORDER|RETURN, id >= 1}}"
                                )),
                            }
                        })
                        .collect()
                })
                .transpose()?,
            order_ids: array(body, "orderIds")?
                .map(|items| {
                    items
                        .iter()
                        .map(|v| {
                            v.as_u64()
                                .filter(|id| *id >= 1)
                                .ok_or(format!("orderIds: {v} is not an id"))
                        })
                        .collect()
                })
                .transpose()?,
        })
    }

    fn matches(&self, chat: &Chat) -> bool {
        let order_id = chat.context.order_id.map(|id| id.get());
        let return_id = chat.context.return_id.map(|id| id.get());
        self.statuses
            .as_ref()
            .is_none_or(|s| s.contains(&chat.status))
            && self.types.as_ref().is_none_or(|t| t.contains(&chat.type_))
            && self
                .context_types
                .as_ref()
                .is_none_or(|t| t.contains(&chat.context.type_))
            && self
                .order_ids
                .as_ref()
                .is_none_or(|ids| order_id.is_some_and(|id| ids.contains(&id)))
            && self.contexts.as_ref().is_none_or(|contexts| {
                contexts
                    .iter()
                    .any(|(kind, id)| match (kind.as_str(), &chat.context.type_) {
                        ("ORDER", ChatContextType::Order) => order_id == Some(*id),
                        ("RETURN", ChatContextType::Return) => return_id == Some(*id),
                        _ => false,
                    })
            })
    }
}

/// A filter array: absent or null is `None`; empty or with duplicates is a 400.
fn array<'a>(body: &'a Value, name: &str) -> Result<Option<&'a Vec<Value>>, String> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(format!("{name} must have at least one item"))
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    return Err(format!("{name} must have unique items, {item} is repeated"));
                }
            }
            Ok(Some(items))
        }
        Some(other) => Err(format!("{name} must be an array, got {other}")),
    }
}

/// An array of enum values; values the API does not know are a 400.
fn known_values<T>(body: &Value, name: &str, known: &[T]) -> Result<Option<Vec<T>>, String>
where
    T: Clone + PartialEq + std::fmt::Display + for<'a> From<&'a str>,
{
    let Some(items) = array(body, name)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| {
            let value = T::from(item.as_str().unwrap_or_default());
            if known.contains(&value) {
                Ok(value)
            } else {
                let names: Vec<String> = known.iter().map(ToString::to_string).collect();
                Err(format!("{name}: {item} is not one of {}", names.join(", ")))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Tokens are opaque to clients: the offset, masked with a per-seed key.
fn encode_token(shared: &Shared, offset: usize) -> String {
    format!("c{:016x}", offset as u64 ^ shared.token_mask)
}

fn decode_token(shared: &Shared, token: &str) -> Option<usize> {
    let hex = token.strip_prefix('c').filter(|h| h.len() == 16)?;
    let offset = u64::from_str_radix(hex, 16).ok()? ^ shared.token_mask;
    usize::try_from(offset)
        .ok()
        .filter(|o| *o <= shared.chats.len())
}

/// The three `X-RateLimit-Resource-*` values of one answer.
#[derive(Clone, Copy)]
struct RateHeaders {
    limit: u32,
    remaining: u32,
    until: chrono::DateTime<Utc>,
}

/// Takes one request from the business's quota window; `Err` when spent.
fn take_quota(shared: &Shared, business_id: u64) -> Result<RateHeaders, RateHeaders> {
    let limit = shared.config.hourly_quota.unwrap_or(u32::MAX);
    let window = shared.config.quota_window;
    let mut state = shared.state();
    let now = Instant::now();
    let (start, used) = state.quota.entry(business_id).or_insert((now, 0));
    if now.duration_since(*start) >= window {
        *start = now;
        *used = 0;
    }
    let left = window.saturating_sub(now.duration_since(*start));
    let until = Utc::now() + left;
    if shared.config.hourly_quota.is_some() && *used >= limit {
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
