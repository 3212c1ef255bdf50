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
