//! Pacing: the follower spends at most its share of each quota it uses
//! (getChats, getChatHistory, getChat), spread over the window the server
//! states, and leaves the rest to the rest of the program.
//!
//! The rules:
//! - One source for the window: the client's limiter ([`Client::quota`]),
//!   whose `limit` already is the server's stated limit when that is
//!   smaller. With the client's quota switched off, what the server's own
//!   headers said on the follower's answers; with nothing known, the
//!   operation's documented quota over an hour.
//! - The follower may spend while `remaining` is above the reserve
//!   (`(1 - share) × limit`); at or below it, it waits for the window's
//!   reset, and records that in the checkpoint so a restart waits too.
//! - Requests are spread: a token bucket refilled one request every
//!   `resets_in / spendable` (a full window at `share × limit` per hour when
//!   the reset is unknown), holding a sixtieth of the share (a minute's worth
//!   in an hour's window, at least [`BURST`]) so that a sweep or a few
//!   hints go at once, and never more.
//! - A full sweep, whose pages and reads would keep the bucket empty, takes
//!   only what is above half of it ([`bucket_wait`]) but its first request
//!   of a turn: the waiting sweeps' reads go at once.
//! - The window's length is the longest `resets_in` the server stated (an
//!   hour until it states one): pacing follows the server's window, never a
//!   hard-coded hour.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use super::clock::ServerClock;
use crate::limits::later;
use crate::rate_limit::WINDOW;
use crate::{BusinessId, Client, Error, Operation, RateLimit};

/// The smallest burst: requests that may go at once before spreading sets in.
pub(crate) const BURST: u32 = 10;
/// How long to wait for a reset nobody stated before looking again.
const UNKNOWN_RESET: Duration = Duration::from_secs(60);

/// The operations a follower spends.
pub(crate) const PACED: [Operation; 3] = [
    Operation::GetChats,
    Operation::GetChatHistory,
    Operation::GetChat,
];

/// One quota's window as the follower sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    /// The whole quota of the window.
    pub limit: u64,
    /// What is left of it; `None` when unknown.
    pub remaining: Option<u64>,
    /// When the window resets; `None` when unknown.
    pub resets_in: Option<Duration>,
}

/// What the follower may do next with one quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send, then keep `interval` between requests on average.
    Go { interval: Duration },
    /// The share is spent: wait this long (the window's reset).
    Spent { wait: Duration },
}

/// The rule, on one view: see the module docs.
pub(crate) fn decide(view: View, share: f64) -> Decision {
    let reserve = ((1.0 - share) * view.limit as f64).ceil() as u64;
    let per_window = (share * view.limit as f64).max(1.0);
    match view.remaining {
        Some(remaining) if remaining <= reserve => Decision::Spent {
            wait: view.resets_in.unwrap_or(UNKNOWN_RESET),
        },
        Some(remaining) => {
            let spendable = (remaining - reserve) as f64;
            let interval = match view.resets_in {
                Some(resets_in) => resets_in.as_secs_f64() / spendable,
                None => WINDOW.as_secs_f64() / per_window,
            };
            Decision::Go {
                interval: Duration::from_secs_f64(interval),
            }
        }
        None => Decision::Go {
            interval: Duration::from_secs_f64(WINDOW.as_secs_f64() / per_window),
        },
    }
}

/// How long until a bucket of `tokens`, refilled one per `interval`, has
/// one to spend and still `keep` the rest; `None`: now. A full sweep's
/// requests keep half the capacity for the waiting sweeps (a buyer's
/// message waits for their reads, not for a full sweep's).
pub(crate) fn bucket_wait(tokens: f64, keep: f64, interval: Duration) -> Option<Duration> {
    let needed = keep + 1.0;
    (tokens < needed).then(|| interval.mul_f64(needed - tokens))
}

/// What the server said on the follower's last answer of one operation,
/// for when the client's limiter does not track that quota.
#[derive(Clone, Copy, Debug)]
struct Seen {
    limit: Option<u64>,
    remaining: Option<u64>,
    resets_at: Option<Instant>,
    /// Requests sent since, not in `remaining` yet.
    sent_since: u64,
}

/// The pacing state of one follower.
#[derive(Debug)]
pub(crate) struct Pacer {
    share: f64,
    /// Per paced operation: the token bucket that spreads requests (tokens
    /// left, when counted), and what the server said.
    buckets: [Option<(f64, Instant)>; PACED.len()],
    seen: [Option<Seen>; PACED.len()],
    /// The longest `resets_in` the server stated: its window's length.
    window: Option<Duration>,
}

fn index(operation: Operation) -> usize {
    PACED
        .iter()
        .position(|op| *op == operation)
        .expect("a paced operation")
}

impl Pacer {
    pub(crate) fn new(share: f64) -> Self {
        Self {
            share,
            buckets: [None; PACED.len()],
            seen: [None; PACED.len()],
            window: None,
        }
    }

    /// The quota window's length, as the server states it.
    pub(crate) fn window(&self) -> Duration {
        self.window.unwrap_or(WINDOW)
    }

    /// The getChats requests a second the follower plans its sweeps with:
    /// half its share of the window (the other half is room for bursts
    /// and for what the rest of the window brings).
    pub(crate) async fn sweep_budget(
        &self,
        client: &Client,
        business: BusinessId,
    ) -> Result<f64, Error> {
        let view = self.view(client, business, Operation::GetChats).await?;
        Ok(0.5 * self.share * view.limit as f64 / self.window().as_secs_f64().max(1.0))
    }

    /// The window of `operation`, from the limiter, else from the server's
    /// last answer, else the documented quota.
    async fn view(
        &self,
        client: &Client,
        business: BusinessId,
        operation: Operation,
    ) -> Result<View, Error> {
        if let Some(state) = client.quota(business, operation).await? {
            return Ok(View {
                limit: u64::from(state.limit),
                remaining: Some(state.remaining),
                resets_in: state.resets_in,
            });
        }
        let documented = u64::from(operation.default_hourly_quota());
        let now = Instant::now();
        Ok(match self.seen[index(operation)] {
            // A window that has passed says nothing about the next one.
            Some(seen) if seen.resets_at.is_some_and(|at| at > now) => View {
                limit: seen.limit.unwrap_or(documented),
                remaining: seen
                    .remaining
                    .map(|left| left.saturating_sub(seen.sent_since)),
                resets_in: seen.resets_at.map(|at| at - now),
            },
            Some(seen) => View {
                limit: seen.limit.unwrap_or(documented),
                remaining: None,
                resets_in: None,
            },
            None => View {
                limit: documented,
                remaining: None,
                resets_in: None,
            },
        })
    }

    /// How long to wait before the next request of `operation`; zero: now
    /// (and the request is counted). Records a spent share in
    /// `paused_until` (server time).
    pub(crate) async fn wait_for(
        &mut self,
        client: &Client,
        business: BusinessId,
        operation: Operation,
        clock: &ServerClock,
        paused_until: &mut std::collections::BTreeMap<String, DateTime<Utc>>,
    ) -> Result<Duration, Error> {
        let server_now = clock.now();
        if let Some(until) = paused_until.get(operation.name()) {
            match (*until - server_now).to_std() {
                Ok(wait) if !wait.is_zero() => return Ok(wait.min(WINDOW)),
                _ => {
                    paused_until.remove(operation.name());
                }
            }
        }
        let view = self.view(client, business, operation).await?;
        match decide(view, self.share) {
            Decision::Spent { wait } => {
                // Past the reset by a second: `Until` has one-second resolution.
                let wait = wait + Duration::from_secs(1);
                let until = server_now + TimeDelta::from_std(wait).unwrap_or_default();
                paused_until.insert(operation.name().to_owned(), until);
                tracing::debug!(
                    operation = operation.name(),
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "the follower's share of the quota is spent: waiting for the reset"
                );
                Ok(wait)
            }
            Decision::Go { interval } => {
                let (tokens, _) = self.refill(operation, view, interval);
                if tokens < 1.0 {
                    return Ok(interval.mul_f64(1.0 - tokens));
                }
                if let Some((tokens, _)) = &mut self.buckets[index(operation)] {
                    *tokens -= 1.0;
                }
                if let Some(seen) = &mut self.seen[index(operation)] {
                    seen.sent_since += 1;
                }
                Ok(Duration::ZERO)
            }
        }
    }

    /// How long the next request of `operation` would wait for the
    /// bucket, a full sweep's so that it leaves the waiting sweeps their
    /// `reserve` (see [`bucket_wait`]); `None`: it may go now (or the share
    /// is spent, which [`Pacer::wait_for`] handles). Counts nothing.
    pub(crate) async fn background_wait(
        &mut self,
        client: &Client,
        business: BusinessId,
        operation: Operation,
        reserve: bool,
    ) -> Result<Option<Duration>, Error> {
        let view = self.view(client, business, operation).await?;
        let Decision::Go { interval } = decide(view, self.share) else {
            return Ok(None);
        };
        let (tokens, capacity) = self.refill(operation, view, interval);
        let keep = if reserve { capacity / 2.0 } else { 0.0 };
        Ok(bucket_wait(tokens, keep, interval))
    }

    /// The token bucket of `operation`, refilled up to now and kept:
    /// `(tokens, capacity)`. It refills one request per `interval` (as the
    /// window now allows) and holds at most `capacity`, so a burst never
    /// exceeds it however the interval moves.
    fn refill(&mut self, operation: Operation, view: View, interval: Duration) -> (f64, f64) {
        let now = Instant::now();
        let capacity = ((self.share * view.limit as f64) / 60.0).max(f64::from(BURST));
        let bucket = &mut self.buckets[index(operation)];
        let (tokens, last) = bucket.unwrap_or((capacity, now));
        let refill = if interval.is_zero() {
            capacity
        } else {
            (now - last).as_secs_f64() / interval.as_secs_f64()
        };
        let tokens = (tokens + refill).min(capacity);
        *bucket = Some((tokens, now));
        (tokens, capacity)
    }

    /// Learns from an answer's rate-limit headers.
    pub(crate) fn observe(&mut self, operation: Operation, rate_limit: Option<&RateLimit>) {
        let Some(rate_limit) = rate_limit else {
            return;
        };
        let now = Instant::now();
        if let Some(resets_in) = rate_limit.resets_in {
            self.window = Some(self.window.map_or(resets_in, |w| w.max(resets_in)));
        }
        self.seen[index(operation)] = Some(Seen {
            limit: rate_limit.limit,
            remaining: rate_limit.remaining,
            resets_at: rate_limit.resets_in.map(|wait| later(now, wait)),
            sent_since: 0,
        });
    }

    /// A rate limit on `operation` (a 420, or the client's own quota): no
    /// more of it until `wait` has passed (server time, saved).
    pub(crate) fn pause(
        operation: Operation,
        wait: Duration,
        clock: &ServerClock,
        paused_until: &mut std::collections::BTreeMap<String, DateTime<Utc>>,
    ) {
        let until = clock.now() + TimeDelta::from_std(wait.min(WINDOW)).unwrap_or_default();
        paused_until.insert(operation.name().to_owned(), until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limiter;
    use crate::limits::{Acquire, LimiterSettings, QuotaState, Release};

    fn view(limit: u64, remaining: Option<u64>, resets_in: Option<u64>) -> View {
        View {
            limit,
            remaining,
            resets_in: resets_in.map(Duration::from_secs),
        }
    }

    #[test]
    fn spends_down_to_the_reserve_then_waits_for_the_reset() {
        // 100 an hour, half for the follower: 50 is the reserve.
        assert_eq!(
            decide(view(100, Some(50), Some(600)), 0.5),
            Decision::Spent {
                wait: Duration::from_secs(600)
            }
        );
        assert_eq!(
            decide(view(100, Some(51), Some(600)), 0.5),
            Decision::Go {
                interval: Duration::from_secs(600)
            }
        );
        // The reserve rounds up: 0.3 of 10 leaves 7.
        assert!(matches!(
            decide(view(10, Some(7), Some(60)), 0.3),
            Decision::Spent { .. }
        ));
        assert!(matches!(
            decide(view(10, Some(8), Some(60)), 0.3),
            Decision::Go { .. }
        ));
        // An unknown reset: look again in a minute.
        assert_eq!(
            decide(view(100, Some(0), None), 0.5),
            Decision::Spent {
                wait: UNKNOWN_RESET
            }
        );
    }

    #[test]
    fn a_full_sweep_leaves_half_the_bucket_to_the_waiting_sweeps() {
        let interval = Duration::from_secs(2);
        // A bucket of 10: a full sweep's request goes with 6 tokens (5 stay).
        assert_eq!(bucket_wait(6.0, 5.0, interval), None);
        assert_eq!(bucket_wait(10.0, 5.0, interval), None);
        // Else it waits for the refills it lacks.
        assert_eq!(
            bucket_wait(5.5, 5.0, interval),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            bucket_wait(0.0, 5.0, interval),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            bucket_wait(20.0, 20.5, interval),
            Some(Duration::from_secs(3))
        );
        // Keeping nothing: one token is enough.
        assert_eq!(bucket_wait(1.0, 0.0, interval), None);
        assert_eq!(
            bucket_wait(0.5, 0.0, interval),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn spreads_what_is_left_over_what_is_left_of_the_window() {
        // 40 spendable over 600 s: one every 15 s.
        assert_eq!(
            decide(view(100, Some(100), Some(600)), 0.4),
            Decision::Go {
                interval: Duration::from_secs(15)
            }
        );
        // Nothing known: the share of the quota over an hour.
        assert_eq!(
            decide(view(5_000, None, None), 0.5),
            Decision::Go {
                interval: Duration::from_secs_f64(3600.0 / 2500.0)
            }
        );
        // Known remaining, unknown reset: the share over an hour as well.
        assert_eq!(
            decide(view(100, Some(100), None), 0.5),
            Decision::Go {
                interval: Duration::from_secs(72)
            }
        );
        // A share of a quota below one request still lets one through.
        assert_eq!(
            decide(view(1, None, None), 0.5),
            Decision::Go {
                interval: Duration::from_secs(3600)
            }
        );
    }

    /// A limiter that reports a set quota state, or none.
    #[derive(Clone, Default)]
    struct Fixed(std::sync::Arc<std::sync::Mutex<Option<QuotaState>>>);

    impl Limiter for Fixed {
        type Permit = ();
        fn configure(&self, _: &LimiterSettings) -> Result<(), Error> {
            Ok(())
        }
        async fn acquire(&self, _: Acquire) -> Result<(), Error> {
            Ok(())
        }
        fn release(&self, (): (), _: Release) {}
        async fn quota(&self, _: u64, _: Operation) -> Result<Option<QuotaState>, Error> {
            Ok(self.0.lock().unwrap().clone())
        }
    }

    fn client(state: Option<QuotaState>) -> Client {
        let limiter = Fixed::default();
        *limiter.0.lock().unwrap() = state;
        Client::builder()
            .api_key("key")
            .base_url("http://127.0.0.1:9")
            .limiter(limiter)
            .build()
            .unwrap()
    }

    fn rate_limit(limit: u64, remaining: u64, resets_in: u64) -> RateLimit {
        RateLimit {
            limit: Some(limit),
            remaining: Some(remaining),
            until: None,
            resets_in: Some(Duration::from_secs(resets_in)),
            retry_after: None,
        }
    }

    /// `wait_for` for getChats until it says to wait: how many went, and
    /// the wait.
    async fn burst(pacer: &mut Pacer, client: &Client, paused: &mut Paused) -> (u32, Duration) {
        let clock = ServerClock::default();
        for sent in 0..10_000 {
            let wait = pacer
                .wait_for(
                    client,
                    BusinessId::from(1u64),
                    Operation::GetChats,
                    &clock,
                    paused,
                )
                .await
                .unwrap();
            if !wait.is_zero() {
                return (sent, wait);
            }
        }
        panic!("10,000 requests and never a wait")
    }

    type Paused = std::collections::BTreeMap<String, DateTime<Utc>>;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_request_per_interval() {
        // 50 spendable over 600 s: one every 12 s, bursts of BURST.
        let client = client(Some(QuotaState::new(
            100,
            100,
            Some(Duration::from_secs(600)),
        )));
        let mut pacer = Pacer::new(0.5);
        let mut paused = Paused::new();
        assert_eq!(
            burst(&mut pacer, &client, &mut paused).await,
            (BURST, Duration::from_secs(12))
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(
            burst(&mut pacer, &client, &mut paused).await,
            (0, Duration::from_secs(6))
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(
            burst(&mut pacer, &client, &mut paused).await,
            (1, Duration::from_secs(12))
        );
        // A long quiet time refills the bucket to its size, never more.
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(burst(&mut pacer, &client, &mut paused).await.0, BURST);
        assert!(paused.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_burst_is_a_sixtieth_of_the_share_when_that_is_more() {
        let client = client(Some(QuotaState::new(
            6_000,
            6_000,
            Some(Duration::from_secs(3_600)),
        )));
        let mut pacer = Pacer::new(1.0);
        let mut paused = Paused::new();
        let (sent, wait) = burst(&mut pacer, &client, &mut paused).await;
        assert_eq!(sent, 100);
        assert_eq!(wait, Duration::from_millis(600));
        // Each operation has its own bucket.
        let clock = ServerClock::default();
        for operation in [Operation::GetChatHistory, Operation::GetChat] {
            for _ in 0..100 {
                let wait = pacer
                    .wait_for(
                        &client,
                        BusinessId::from(1u64),
                        operation,
                        &clock,
                        &mut paused,
                    )
                    .await
                    .unwrap();
                assert!(wait.is_zero(), "{operation:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_share_pauses_until_the_reset_and_says_so() {
        let client = client(Some(QuotaState::new(
            100,
            50,
            Some(Duration::from_secs(600)),
        )));
        let mut pacer = Pacer::new(0.5);
        let mut paused = Paused::new();
        let clock = ServerClock::from_saved(Some(-7_200_000));
        let wait = pacer
            .wait_for(
                &client,
                BusinessId::from(1u64),
                Operation::GetChats,
                &clock,
                &mut paused,
            )
            .await
            .unwrap();
        assert_eq!(wait, Duration::from_secs(601), "past the reset by a second");
        let until = paused["getChats"];
        let expected = clock.now() + TimeDelta::seconds(601);
        assert!(
            (until - expected).num_seconds().abs() <= 1,
            "{until} {expected}"
        );
        // While paused, the pause answers (capped at a window).
        paused.insert("getChats".to_owned(), clock.now() + TimeDelta::hours(5));
        let wait = pacer
            .wait_for(
                &client,
                BusinessId::from(1u64),
                Operation::GetChats,
                &clock,
                &mut paused,
            )
            .await
            .unwrap();
        assert_eq!(wait, WINDOW);
        // A pause that has passed is forgotten, and the quota decides.
        let client = super::tests::client(Some(QuotaState::new(100, 100, None)));
        paused.insert("getChats".to_owned(), clock.now() - TimeDelta::seconds(1));
        let wait = pacer
            .wait_for(
                &client,
                BusinessId::from(1u64),
                Operation::GetChats,
                &clock,
                &mut paused,
            )
            .await
            .unwrap();
        assert!(wait.is_zero());
        assert!(paused.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn pause_records_the_servers_time_of_the_end_capped_at_a_window() {
        let clock = ServerClock::from_saved(Some(3_600_000));
        let mut paused = Paused::new();
        Pacer::pause(
            Operation::GetChatHistory,
            Duration::from_secs(90),
            &clock,
            &mut paused,
        );
        Pacer::pause(
            Operation::GetChat,
            Duration::from_secs(90_000),
            &clock,
            &mut paused,
        );
        let near = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).num_seconds().abs() <= 1;
        assert!(near(
            paused["getChatHistory"],
            clock.now() + TimeDelta::seconds(90)
        ));
        assert!(near(paused["getChat"], clock.now() + TimeDelta::hours(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn without_the_limiters_quota_it_paces_by_the_servers_headers() {
        let client = client(None);
        let mut pacer = Pacer::new(0.5);
        let mut paused = Paused::new();
        // Nothing known: the documented quota, over an hour.
        assert_eq!(pacer.window(), WINDOW);
        let budget = pacer
            .sweep_budget(&client, BusinessId::from(1u64))
            .await
            .unwrap();
        assert!((budget - 0.25 * 5_000.0 / 3_600.0).abs() < 1e-9, "{budget}");
        let (sent, wait) = burst(&mut pacer, &client, &mut paused).await;
        assert_eq!(sent, (2_500.0_f64 / 60.0).floor() as u32);
        assert!(wait < Duration::from_secs_f64(3600.0 / 2500.0), "{wait:?}");

        // The server says 60 left of 100, resetting in 300 s: 10 for the
        // follower (its reserve is 50), then its share is spent.
        let mut pacer = Pacer::new(0.5);
        pacer.observe(Operation::GetChats, None);
        assert_eq!(pacer.window(), WINDOW);
        pacer.observe(Operation::GetChats, Some(&rate_limit(100, 60, 300)));
        assert_eq!(pacer.window(), Duration::from_secs(300));
        let budget = pacer
            .sweep_budget(&client, BusinessId::from(1u64))
            .await
            .unwrap();
        assert!((budget - 0.25 * 100.0 / 300.0).abs() < 1e-9, "{budget}");
        let (sent, wait) = burst(&mut pacer, &client, &mut paused).await;
        assert_eq!((sent, wait), (10, Duration::from_secs(301)));
        // The longest window stated is the window.
        pacer.observe(Operation::GetChat, Some(&rate_limit(100, 100, 100)));
        assert_eq!(pacer.window(), Duration::from_secs(300));
        pacer.observe(Operation::GetChat, Some(&rate_limit(100, 100, 900)));
        assert_eq!(pacer.window(), Duration::from_secs(900));

        // Once that window has passed, what it said is not used, but its
        // limit is: 50 an hour.
        let mut pacer = Pacer::new(0.5);
        let mut paused = Paused::new();
        pacer.observe(Operation::GetChats, Some(&rate_limit(100, 0, 300)));
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(
            burst(&mut pacer, &client, &mut paused).await,
            (0, Duration::from_secs(2))
        );
        paused.clear();
        // The reset's very instant is past it.
        tokio::time::advance(Duration::from_secs(1)).await;
        let (sent, wait) = burst(&mut pacer, &client, &mut paused).await;
        assert_eq!((sent, wait), (BURST, Duration::from_secs(72)));
        // A stated window without a limit: the documented one.
        let mut pacer = Pacer::new(0.5);
        let mut rate_limit = rate_limit(1, 1, 300);
        rate_limit.limit = None;
        rate_limit.remaining = None;
        pacer.observe(Operation::GetChats, Some(&rate_limit));
        let budget = pacer
            .sweep_budget(&client, BusinessId::from(1u64))
            .await
            .unwrap();
        assert!((budget - 0.25 * 5_000.0 / 300.0).abs() < 1e-9, "{budget}");
    }
}
