//! A request as the operations see it: its query parameters and its body,
//! read whole.

use bytes::Bytes;
use serde_json::{Value, json};

/// What an operation gets of a request.
pub(crate) struct Input {
    pub(crate) query: Query,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
}

impl Input {
    /// The JSON body; an empty body is `{}`.
    pub(crate) fn json_body(&self) -> Result<Value, String> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        let body: Value =
            serde_json::from_slice(&self.body).map_err(|e| format!("the body is not JSON: {e}"))?;
        if body.is_object() {
            Ok(body)
        } else {
            Err("the body must be a JSON object".to_owned())
        }
    }
}

/// The query parameters of a request, decoded, in order.
pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    /// Decodes a URI's query string (`None`: no query).
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`, checked against the operation's bounds; `default` when absent.
    pub(crate) fn limit(&self, default: usize, max: usize) -> Result<usize, String> {
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
    pub(crate) fn page_token(&self) -> Option<&str> {
        self.get("pageToken").or_else(|| self.get("page_token"))
    }

    /// A required id parameter (`chatId`, `messageId`): an integer >= 1.
    pub(crate) fn id(&self, name: &str) -> Result<u64, String> {
        let raw = self
            .get(name)
            .ok_or_else(|| format!("{name} is required"))?;
        raw.parse::<u64>()
            .ok()
            .filter(|id| *id >= 1)
            .ok_or_else(|| format!("{name} must be an integer >= 1, got {raw:?}"))
    }
}
