//! The request log: every request the sandbox received, in order, never
//! with the key itself.

use std::time::Instant;

use hyper::HeaderMap;
use hyper::http::request::Parts;

use crate::faults::Fault;
use crate::input::Query;
use crate::state::Shared;

/// A request the sandbox received.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The JSON body, when there was one and it parsed.
    pub body: Option<serde_json::Value>,
    /// Whether it carried the sandbox's key. (The key itself is not kept.)
    pub authorized: bool,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
    /// The status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// When it arrived (its head was read), on the host's clock.
    pub at: Instant,
    /// Its `User-Agent` header, if it had one (and it was text).
    pub user_agent: Option<String>,
}

impl RecordedRequest {
    /// The value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Records a request that arrived `at` (its status still unknown) and
/// returns its index.
pub(crate) fn record(
    shared: &Shared,
    head: &Parts,
    body: &[u8],
    fault: Option<Fault>,
    at: Instant,
) -> usize {
    let entry = RecordedRequest {
        method: head.method.to_string(),
        path: head.uri.path().to_owned(),
        query: Query::parse(head.uri.query()).0,
        body: serde_json::from_slice(body).ok(),
        authorized: carries_key(&head.headers, &shared.config.api_key),
        fault,
        status: None,
        at,
        user_agent: head
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let mut state = shared.state();
    state.requests.push(entry);
    state.requests.len() - 1
}

/// Sets the status answered to the request at `index`.
pub(crate) fn answered(shared: &Shared, index: usize, status: u16) {
    if let Some(entry) = shared.state().requests.get_mut(index) {
        entry.status = Some(status);
    }
}

/// Whether either credential header carries `key`.
fn carries_key(headers: &HeaderMap, key: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("api-key") == Some(key)
        || header("authorization").and_then(|v| v.strip_prefix("Bearer ")) == Some(key)
}
