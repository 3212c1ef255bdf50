//! One business's quota window for one operation: a fixed window like the
//! server's, whose count and end follow the server's headers.
//!
//! The rules (each one a defect once):
//! - The end always follows the server's `Until` (measured against its
//!   `Date`, plus the margin for the header's one-second resolution).
//! - The server's raw `Until` values are compared with each other, never
//!   with this host's clock: one later than the last seen by more than a
//!   second means the server started a new window, so its `Remaining` is
//!   adopted. An older one (an answer that arrives late) changes nothing.
//! - Within one window the smaller of the server's counts wins (answers may
//!   arrive out of order; the count only falls).
//! - Requests still in flight may not be counted in the server's
//!   `Remaining` yet, so after every answer the local count is the server's
//!   smallest count minus the requests still in flight: never laxer than the
//!   server, stricter by at most the requests in flight, and exact once none
//!   is. (The smaller of the local count and that would keep a request that
//!   was counted twice counted twice for the rest of the window.)
//! - The first window is a guess (an hour from the first request); when the
//!   server first states its window and that began after the guess did, the
//!   own count restarts with the server's window: requests sent before it
//!   belong to the window before.
//! - Without a usable `Until` nothing changes: the client never makes up a
//!   reset time the server did not state.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use crate::RateLimit;
use crate::rate_limit::WINDOW;

/// A far-off instant for sums that would overflow (`Instant + Duration::MAX`).
pub(crate) fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by)
        // About a hundred years: any instant no wait reaches will do.
        .or_else(|| now.checked_add(Duration::from_secs(3_153_600_000)))
        .unwrap_or(now)
}

#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// When the local window started and ends.
    start: Instant,
    end: Instant,
    /// What this client's own quota leaves: the configured quota minus what
    /// it sent in this window. A quota set below the server's stays a cap.
    own: u64,
    /// What the server's answers leave: its smallest `Remaining` in its
    /// current window minus the requests sent since that are still in
    /// flight; `None` until the server said something in this window.
    server: Option<u64>,
    /// The configured quota, to tell whether it is below the server's.
    own_quota: u64,
    /// Requests in flight when this window started, taken off `own` in case
    /// they count in it; given back once the server's view of the window
    /// (which accounts for them) arrives, so they are not counted twice.
    carried: u64,
    /// The smallest `Remaining` the server stated in its current window.
    server_lowest: Option<u64>,
    /// The latest `Until` the server stated, by its own clock.
    server_until: Option<DateTime<Utc>>,
    /// The local window passed that `Until`: answers stating it again come
    /// late, from the server's window before.
    server_window_over: bool,
    /// The server's `Limit`, when it stated one (it may be below ours).
    server_limit: Option<u64>,
    /// Changes with every new window, so a refund never lands in the wrong one.
    generation: u64,
}

/// What [`Window::take`] hands out: the window's generation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    /// When the unit was taken (the request sent).
    at: Instant,
}

impl Window {
    pub(crate) fn new(now: Instant, quota: u32) -> Self {
        Self {
            start: now,
            end: later(now, WINDOW),
            own: u64::from(quota),
            server: None,
            own_quota: u64::from(quota),
            carried: 0,
            server_lowest: None,
            server_until: None,
            server_window_over: false,
            server_limit: None,
            generation: 0,
        }
    }

    /// The whole window: our quota, or the server's when it is smaller.
    pub(crate) fn full(&self, quota: u32) -> u64 {
        self.server_limit
            .map_or(u64::from(quota), |limit| limit.min(u64::from(quota)))
    }

    /// What may still be sent in this window: the server's view once it
    /// has one, capped by our own count only when our quota is the smaller
    /// (our count cannot always tell which window a request straddling the
    /// reset landed in; the server's can).
    fn remaining(&self) -> u64 {
        match (self.server, self.server_limit) {
            (Some(server), Some(limit)) if limit <= self.own_quota => server,
            (Some(server), _) => server.min(self.own),
            (None, _) => self.own,
        }
    }

    /// Starts a new window: the own count restarts from the quota, less the
    /// requests still in flight (they may count in the server's new window).
    fn start_window(&mut self, quota: u32, in_flight: u64) {
        let full = self.full(quota);
        self.own = full.saturating_sub(in_flight);
        self.carried = in_flight.min(full);
        self.server = None;
        self.server_lowest = None;
        self.generation = self.generation.wrapping_add(1);
    }

    fn roll_over_if_ended(&mut self, now: Instant, quota: u32, in_flight: u64) {
        if now >= self.end {
            self.start = now;
            self.end = later(now, WINDOW);
            self.start_window(quota, in_flight);
            self.server_window_over = self.server_until.is_some();
        }
    }

    /// Takes one unit; `Err(wait)` when the window is spent.
    pub(crate) fn take(
        &mut self,
        now: Instant,
        quota: u32,
        in_flight: u64,
    ) -> Result<Ticket, Duration> {
        self.roll_over_if_ended(now, quota, in_flight);
        if self.remaining() == 0 {
            return Err(self.end.saturating_duration_since(now));
        }
        self.own = self.own.saturating_sub(1);
        self.server = self.server.map(|server| server.saturating_sub(1));
        Ok(Ticket {
            generation: self.generation,
            at: now,
        })
    }

    /// Gives back a unit taken for a request that was never sent.
    pub(crate) fn refund(&mut self, ticket: Ticket, quota: u32) {
        if ticket.generation == self.generation {
            self.own = self.own.saturating_add(1).min(u64::from(quota));
            self.server = self.server.map(|server| server.saturating_add(1));
        }
    }

    /// What is left now, and when the window ends.
    pub(crate) fn peek(&mut self, now: Instant, quota: u32, in_flight: u64) -> (u64, Duration) {
        self.roll_over_if_ended(now, quota, in_flight);
        (self.remaining(), self.end.saturating_duration_since(now))
    }

    /// Adopts what the server said on the answer to the request `ticket`
    /// (`None`: not known); `others_in_flight` are this operation's requests
    /// still waiting for theirs.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        quota: u32,
        rate_limit: &RateLimit,
        ticket: Option<Ticket>,
        others_in_flight: u64,
        margin: Duration,
    ) {
        let (Some(remaining), Some(until), Some(resets_in)) =
            (rate_limit.remaining, rate_limit.until, rate_limit.resets_in)
        else {
            return;
        };
        self.roll_over_if_ended(now, quota, others_in_flight);
        if let Some(limit) = rate_limit.limit {
            self.server_limit = Some(limit);
        }
        let second = TimeDelta::seconds(1);
        match self.server_until {
            Some(last) if until.signed_duration_since(last) < -second => return,
            Some(last) if until.signed_duration_since(last) > second => {
                // Unless the local window already rolled over to it.
                if !self.server_window_over {
                    self.start_window(quota, others_in_flight);
                }
                self.server_window_over = false;
            }
            Some(_) if self.server_window_over => return,
            Some(_) => {}
            None => {
                // The first window the server states: if it began after the
                // guessed one, the own count restarts with it. This answer's
                // request counts in it unless it was surely sent before.
                // `Until` and `Date` have one-second resolution: a start
                // within two seconds of ours is ours.
                let started = now.checked_sub(WINDOW.saturating_sub(resets_in));
                let resolution = Duration::from_secs(2);
                if let Some(started) = started.filter(|s| *s > later(self.start, resolution)) {
                    let this = u64::from(ticket.is_none_or(|t| t.at >= started));
                    self.start_window(quota, others_in_flight.saturating_add(this));
                    // Kept off the own count: it caps only when our quota is
                    // below the server's, whose view accounts for them anyway.
                    self.carried = 0;
                    self.start = started;
                }
            }
        }
        let lowest = self
            .server_lowest
            .map_or(remaining, |lowest| lowest.min(remaining));
        self.server_lowest = Some(lowest);
        self.server = Some(lowest.saturating_sub(others_in_flight));
        self.own = self.own.saturating_add(self.carried).min(self.full(quota));
        self.carried = 0;
        self.server_until = Some(self.server_until.map_or(until, |last| last.max(until)));
        self.end = later(now, resets_in.saturating_add(margin));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARGIN: Duration = Duration::from_secs(1);

    fn said(remaining: u64, until_secs: i64, resets_in: u64) -> RateLimit {
        RateLimit {
            limit: Some(100),
            remaining: Some(remaining),
            until: DateTime::from_timestamp(until_secs, 0),
            resets_in: Some(Duration::from_secs(resets_in)),
            retry_after: None,
        }
    }

    #[test]
    fn a_new_server_window_is_adopted_not_carried_over() {
        let now = Instant::now();
        let mut window = Window::new(now, 100);
        window.observe(now, 100, &said(3, 3600, 10), None, 0, MARGIN);
        assert_eq!(window.peek(now, 100, 0).0, 3);
        // Within the margin: the server already reset.
        let now = now + Duration::from_secs(10);
        window.observe(now, 100, &said(99, 7200, 3600), None, 0, MARGIN);
        assert_eq!(window.peek(now, 100, 0), (99, Duration::from_secs(3601)));
    }

    #[test]
    fn the_same_window_keeps_the_smallest_count_minus_what_is_in_flight() {
        let now = Instant::now();
        let mut window = Window::new(now, 100);
        window.take(now, 100, 0).unwrap();
        window.take(now, 100, 1).unwrap();
        // One answer, one request still in flight.
        window.observe(now, 100, &said(50, 3600, 100), None, 1, MARGIN);
        assert_eq!(window.peek(now, 100, 1).0, 49);
        // An older answer with a larger count: the smaller one stands, and
        // with nothing in flight the count is exact.
        window.observe(now, 100, &said(60, 3601, 100), None, 0, MARGIN);
        assert_eq!(window.peek(now, 100, 0).0, 50);
        window.observe(now, 100, &said(40, 3600, 100), None, 2, MARGIN);
        assert_eq!(window.peek(now, 100, 2).0, 38);
        // From the window before: ignored.
        window.observe(now, 100, &said(0, 0, 0), None, 0, MARGIN);
        assert_eq!(window.peek(now, 100, 0).0, 38);
    }

    #[test]
    fn a_late_answer_from_the_window_before_changes_nothing_after_the_rollover() {
        let now = Instant::now();
        let mut window = Window::new(now, 100);
        window.observe(now, 100, &said(5, 3600, 10), None, 0, MARGIN);
        // The local window ends 11 s later; then an answer of the old window.
        let later = now + Duration::from_secs(12);
        assert_eq!(window.peek(later, 100, 0).0, 100);
        window.observe(later, 100, &said(0, 3600, 0), None, 0, MARGIN);
        assert_eq!(window.peek(later, 100, 0).0, 100);
        // The server's next window is adopted.
        window.observe(later, 100, &said(97, 7200, 3590), None, 0, MARGIN);
        assert_eq!(window.peek(later, 100, 0).0, 97);
    }

    #[test]
    fn a_first_server_window_that_began_after_ours_restarts_our_own_cap() {
        // Our quota (100) is below the server's (1,000): our own count caps.
        let t0 = Instant::now();
        let said = |resets_in| RateLimit {
            limit: Some(1000),
            remaining: Some(990),
            until: DateTime::from_timestamp(3600, 0),
            resets_in: Some(Duration::from_secs(resets_in)),
            retry_after: None,
        };
        let run = |server_began_after: u64, answered: u64| {
            let mut window = Window::new(t0, 100);
            window.take(t0, 100, 0).unwrap();
            window.take(t0, 100, 1).unwrap();
            let late = window
                .take(t0 + Duration::from_secs(answered), 100, 2)
                .unwrap();
            let now = t0 + Duration::from_secs(10);
            let resets_in = 3600 - (10 - server_began_after);
            window.observe(now, 100, &said(resets_in), Some(late), 2, MARGIN);
            window.peek(now, 100, 2).0
        };
        // The server's window began 5 s after ours: the two requests before it
        // belong to the window before, the answered one (sent at 6 s) to this
        // one, two are in flight.
        assert_eq!(run(5, 6), 100 - 2 - 1);
        // Sent at 4 s, before it began: not counted here.
        assert_eq!(run(5, 4), 100 - 2);
        // Within the headers' two-second resolution: our window is its.
        assert_eq!(run(2, 1), 97);
    }

    #[test]
    fn no_until_no_change() {
        let now = Instant::now();
        let mut window = Window::new(now, 100);
        let mut rate = said(0, 3600, 100);
        rate.until = None;
        rate.resets_in = None;
        window.observe(now, 100, &rate, None, 0, MARGIN);
        assert_eq!(window.peek(now, 100, 0).0, 100);
    }

    #[test]
    fn huge_values_never_panic() {
        let now = Instant::now();
        let mut window = Window::new(now, u32::MAX);
        window.observe(
            now,
            u32::MAX,
            &said(u64::MAX, i64::from(i32::MAX), u64::MAX),
            None,
            0,
            Duration::MAX,
        );
        assert!(window.take(now, u32::MAX, 0).is_ok());
    }
}
