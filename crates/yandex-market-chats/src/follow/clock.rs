//! The server's clock, as its answers' `Date` headers tell it. Every time
//! the follower compares with `createdAt` or `updatedAt` is the server's:
//! this host's clock may be minutes off.

use chrono::{DateTime, TimeDelta, Utc};

/// The server's clock minus this host's, from the last answer with a
/// `Date`. `Date` has one-second resolution and is written before the
/// answer travels, so an estimate runs up to about a second (plus the
/// answer's transit) behind the server: every rule that uses it errs
/// towards reading or delivering more, never less.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServerClock {
    offset: Option<TimeDelta>,
}

impl ServerClock {
    /// A clock that starts from a saved offset (ms), if any.
    pub(crate) fn from_saved(offset_ms: Option<i64>) -> Self {
        Self {
            offset: offset_ms.map(TimeDelta::milliseconds),
        }
    }

    /// Learns from an answer's `Date`, received just now.
    pub(crate) fn observe(&mut self, date: Option<DateTime<Utc>>) {
        if let Some(date) = date {
            self.offset = Some(date - Utc::now());
        }
    }

    /// The offset to save, in ms.
    pub(crate) fn offset_ms(&self) -> Option<i64> {
        self.offset.map(|o| o.num_milliseconds())
    }

    /// The server's time now (this host's when nothing was measured yet).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset.unwrap_or_default()
    }
}

/// The server's time of an answer: its `Date`, else the estimate.
pub(crate) fn answered_at(clock: &ServerClock, date: Option<DateTime<Utc>>) -> DateTime<Utc> {
    date.unwrap_or_else(|| clock.now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
        (a - b).num_milliseconds().abs() < 2_000
    }

    #[test]
    fn a_saved_offset_comes_back_and_nothing_saved_is_nothing() {
        assert_eq!(
            ServerClock::from_saved(Some(-90_000)).offset_ms(),
            Some(-90_000)
        );
        assert_eq!(
            ServerClock::from_saved(Some(3_600_000)).offset_ms(),
            Some(3_600_000)
        );
        assert_eq!(ServerClock::from_saved(None).offset_ms(), None);
    }

    #[test]
    fn an_answers_date_sets_the_servers_time_either_side_of_the_hosts() {
        for hours in [1, -1] {
            let mut clock = ServerClock::default();
            clock.observe(Some(Utc::now() + TimeDelta::hours(hours)));
            let offset = clock.offset_ms().unwrap();
            assert!((offset - hours * 3_600_000).abs() < 2_000, "{offset}");
            assert!(near(clock.now(), Utc::now() + TimeDelta::hours(hours)));
            // An answer without `Date` changes nothing.
            clock.observe(None);
            assert!((clock.offset_ms().unwrap() - offset).abs() < 2_000);
        }
        assert!(near(ServerClock::default().now(), Utc::now()));
    }

    #[test]
    fn an_answer_is_dated_by_its_date_else_by_the_estimate() {
        let clock = ServerClock::from_saved(Some(-7_200_000));
        let date = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(answered_at(&clock, Some(date)), date);
        assert!(near(
            answered_at(&clock, None),
            Utc::now() - TimeDelta::hours(2)
        ));
    }
}
