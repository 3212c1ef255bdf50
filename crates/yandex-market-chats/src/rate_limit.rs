//! The `X-RateLimit-Resource-*` headers every response carries.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

/// The hourly quota as the server reported it on a response.
///
/// Any field is `None` when its header was missing or unreadable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimit {
    /// `X-RateLimit-Resource-Limit`: requests allowed in the window.
    pub limit: Option<u64>,
    /// `X-RateLimit-Resource-Remaining`: requests left in the window.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Resource-Until`: when the window resets (one-second resolution).
    pub until: Option<DateTime<Utc>>,
}

impl RateLimit {
    /// Reads the three headers; `None` when none of them is present.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let number = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
        let limit = number("x-ratelimit-resource-limit");
        let remaining = number("x-ratelimit-resource-remaining");
        let until = text("x-ratelimit-resource-until")
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        if limit.is_none() && remaining.is_none() && until.is_none() {
            return None;
        }
        Some(Self {
            limit,
            remaining,
            until,
        })
    }

    /// Whether the hourly quota is spent (`Remaining` is 0).
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}
