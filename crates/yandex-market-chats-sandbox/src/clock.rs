//! The server's clock: the host's plus [`SandboxConfig::clock_offset`], so
//! that everything the sandbox writes with "now" (the `Date` header, new
//! messages and chats, notifications, the quota's reset time) agrees, and
//! disagrees with the host's clock as a real server's may.
//!
//! [`SandboxConfig::clock_offset`]: crate::SandboxConfig::clock_offset

use chrono::{DateTime, FixedOffset, SubsecRound, TimeDelta, Utc};

/// Moscow time, the offset the API writes new chats' dates in.
pub(crate) fn moscow() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("a valid offset")
}

/// The server's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    /// The server's time minus the host's.
    offset: TimeDelta,
}

impl Clock {
    pub(crate) fn new(offset: TimeDelta) -> Self {
        Self { offset }
    }

    /// The server's time now, full precision.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        // An offset past chrono's range would be a nonsense test; the host's
        // time is better than a panic on the server's thread.
        Utc::now()
            .checked_add_signed(self.offset)
            .unwrap_or_else(Utc::now)
    }

    /// Now in `offset`, in whole seconds as the API writes message and chat
    /// dates.
    pub(crate) fn now_in(&self, offset: FixedOffset) -> DateTime<FixedOffset> {
        self.now().with_timezone(&offset).trunc_subsecs(0)
    }

    /// The `Date` header's value now: RFC 7231's IMF-fixdate.
    pub(crate) fn http_date(&self) -> String {
        http_date(self.now())
    }
}

/// `at` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the format of
/// `Date` and of the API's `X-RateLimit-Resource-Until`.
pub(crate) fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates() {
        let at = DateTime::parse_from_rfc3339("1994-11-06T08:49:37.9Z").unwrap();
        assert_eq!(http_date(at.to_utc()), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn the_offset_moves_the_servers_time() {
        let ahead = Clock::new(TimeDelta::hours(1)).now();
        let behind = Clock::new(TimeDelta::hours(-1)).now();
        let host = Utc::now();
        assert!((ahead - host - TimeDelta::hours(1)).num_seconds().abs() <= 1);
        assert!((host - behind - TimeDelta::hours(1)).num_seconds().abs() <= 1);
        assert!(
            (Clock::new(TimeDelta::MAX).now() - host)
                .num_seconds()
                .abs()
                <= 1
        );
    }
}
