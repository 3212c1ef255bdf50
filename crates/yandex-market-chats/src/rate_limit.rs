//! The rate-limit headers a response carries: the API's
//! `X-RateLimit-Resource-*` on every answer, and `Retry-After`, which a
//! gateway in front of it may send with a 429.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use crate::http_date;

/// The longest reset a server can state: its quota window is one hour. A
/// larger value (a wrong clock, a corrupt header) is cut to this, so that it
/// never blocks a client for longer than one window.
pub(crate) const WINDOW: Duration = Duration::from_secs(3600);

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
    /// `X-RateLimit-Resource-Until`: when the window resets, by the server's
    /// clock (one-second resolution). Read tolerantly (any HTTP date form, a
    /// wrong weekday ignored).
    pub until: Option<DateTime<Utc>>,
    /// How long until the window resets: `Until` minus the response's `Date`
    /// header, so a difference between the server's clock and this host's
    /// does not matter (minus this host's clock when there is no `Date`).
    /// Never negative, at most one hour.
    pub resets_in: Option<Duration>,
    /// `Retry-After` (seconds or an HTTP date, measured against `Date`), as
    /// a gateway in front of the API may send with a 429; at most one hour.
    pub retry_after: Option<Duration>,
}

impl RateLimit {
    /// Reads the headers of a response; `None` when none of the rate-limit
    /// headers is present (`Date` alone does not count).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let number = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
        let limit = number("x-ratelimit-resource-limit");
        let remaining = number("x-ratelimit-resource-remaining");
        let until = text("x-ratelimit-resource-until").and_then(http_date::parse);
        let retry_after_text = text("retry-after");
        if limit.is_none() && remaining.is_none() && until.is_none() && retry_after_text.is_none() {
            return None;
        }
        // The server's own clock, so that waits do not depend on ours.
        let now = text("date")
            .and_then(http_date::parse)
            .unwrap_or_else(Utc::now);
        let retry_after = retry_after_text.and_then(|value| match value.parse::<u64>() {
            Ok(seconds) => Some(Duration::from_secs(seconds).min(WINDOW)),
            Err(_) => http_date::parse(value).map(|at| until_from(now, at)),
        });
        Some(Self {
            limit,
            remaining,
            until,
            resets_in: until.map(|until| until_from(now, until)),
            retry_after,
        })
    }

    /// Whether the hourly quota is spent (`Remaining` is 0).
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// `at - now`, within `0..=WINDOW`; never panics, whatever the dates.
fn until_from(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    at.signed_duration_since(now)
        .to_std()
        .unwrap_or(Duration::ZERO)
        .min(WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_reset_is_measured_on_the_servers_clock() {
        // The server's clock is a day behind ours: what matters is Until - Date.
        let rate = RateLimit::from_headers(&headers(&[
            ("x-ratelimit-resource-remaining", "0"),
            (
                "x-ratelimit-resource-until",
                "Thu, 10 Jul 2018 00:42:42 GMT",
            ),
            ("date", "Tue, 10 Jul 2018 00:40:00 GMT"),
        ]))
        .unwrap();
        assert_eq!(rate.resets_in, Some(Duration::from_secs(162)));
        assert!(rate.is_exhausted());
    }

    #[test]
    fn past_and_absurd_resets_are_clamped() {
        let past = RateLimit::from_headers(&headers(&[
            (
                "x-ratelimit-resource-until",
                "Tue, 10 Jul 2018 00:40:00 GMT",
            ),
            ("date", "Tue, 10 Jul 2018 00:42:42 GMT"),
        ]))
        .unwrap();
        assert_eq!(past.resets_in, Some(Duration::ZERO));
        let far = RateLimit::from_headers(&headers(&[
            (
                "x-ratelimit-resource-until",
                "Fri, 31 Dec 9999 23:59:59 GMT",
            ),
            ("date", "Mon, 01 Jan 0001 00:00:00 GMT"),
        ]))
        .unwrap();
        assert_eq!(far.resets_in, Some(WINDOW));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let seconds = RateLimit::from_headers(&headers(&[("retry-after", "7")])).unwrap();
        assert_eq!(seconds.retry_after, Some(Duration::from_secs(7)));
        let date = RateLimit::from_headers(&headers(&[
            ("retry-after", "Tue, 10 Jul 2018 00:40:30 GMT"),
            ("date", "Tue, 10 Jul 2018 00:40:00 GMT"),
        ]))
        .unwrap();
        assert_eq!(date.retry_after, Some(Duration::from_secs(30)));
        let huge = RateLimit::from_headers(&headers(&[("retry-after", "99999999999999")])).unwrap();
        assert_eq!(huge.retry_after, Some(WINDOW));
        assert_eq!(RateLimit::from_headers(&headers(&[("date", "x")])), None);
    }
}
