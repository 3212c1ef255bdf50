//! The default [`Limiter`]: the limits of one process, in memory.
//!
//! One mutex guards everything a decision reads, so a slot and a quota unit
//! are taken together or not at all: a request waiting for its quota holds no
//! slot, and a request waiting for a slot holds no quota unit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::window::{Ticket, Window, later};
use super::{Acquire, Limiter, LimiterSettings, QuotaState, Release};
use crate::{Error, Operation};

const OPERATIONS: usize = Operation::ALL.len();

/// The limits of one process: at most N requests in flight per business and
/// an hourly quota per business and operation, in memory.
///
/// The default limiter of every client. Clones share their state, so giving
/// one to several clients (say, one per API key of the same business) makes
/// them share the limits.
///
/// State is kept for at most
/// [`max_tracked_businesses`](crate::ClientBuilder::max_tracked_businesses)
/// businesses (10,000 by default) plus those with a request in flight or
/// waiting: past it, the idle ones used longest ago are forgotten. A
/// forgotten quota window starts afresh, and the server's headers correct it
/// on its next answer.
///
/// ```
/// use yandex_market_chats::{Client, InProcessLimiter};
///
/// let shared = InProcessLimiter::new();
/// let a = Client::builder().api_key("key-a").limiter(shared.clone()).build()?;
/// let b = Client::builder().api_key("key-b").limiter(shared).build()?;
/// # Ok::<(), yandex_market_chats::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct InProcessLimiter {
    state: Arc<Mutex<State>>,
}

/// A slot and a quota unit held by one attempt.
#[derive(Debug)]
pub struct InProcessPermit {
    business_id: u64,
    operation: Operation,
    /// The quota window's ticket, when a unit was taken.
    ticket: Option<Ticket>,
}

#[derive(Debug, Default)]
struct State {
    settings: LimiterSettings,
    businesses: HashMap<u64, Business>,
    /// A logical clock for "used longest ago".
    tick: u64,
}

#[derive(Debug)]
struct Business {
    in_flight: usize,
    in_flight_by_operation: [u64; OPERATIONS],
    /// Wakes requests waiting for a slot. Every waiter holds a clone, so a
    /// business with clones out is not idle.
    slot_freed: Arc<Notify>,
    windows: [Option<Window>; OPERATIONS],
    last_used: u64,
}

impl Business {
    fn new() -> Self {
        Self {
            in_flight: 0,
            in_flight_by_operation: [0; OPERATIONS],
            slot_freed: Arc::new(Notify::new()),
            windows: Default::default(),
            last_used: 0,
        }
    }

    fn is_idle(&self) -> bool {
        self.in_flight == 0 && Arc::strong_count(&self.slot_freed) == 1
    }
}

enum Verdict {
    Go(InProcessPermit),
    WaitForSlot(Arc<Notify>),
    WaitForQuota(Duration, Arc<Notify>),
}

impl InProcessLimiter {
    /// A limiter with the client's default settings; `build()` gives it the
    /// builder's.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere never leaves the counts half-updated: every
        // update is a few plain assignments.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many businesses it keeps state for now.
    pub fn tracked_businesses(&self) -> usize {
        self.lock().businesses.len()
    }

    fn decide(&self, request: &Acquire) -> Verdict {
        let mut state = self.lock();
        let now = Instant::now();
        let quota = state.settings.quota(request.operation);
        let max_in_flight = state.settings.max_in_flight;
        let business = state.business(request.business_id);
        let index = request.operation.index();
        if business.in_flight >= max_in_flight {
            return Verdict::WaitForSlot(Arc::clone(&business.slot_freed));
        }
        let ticket = match quota {
            None => None,
            Some(quota) => {
                let window = business.windows[index].get_or_insert_with(|| Window::new(now, quota));
                match window.take(now, quota, business.in_flight_by_operation[index]) {
                    Ok(ticket) => Some(ticket),
                    Err(wait) => {
                        return Verdict::WaitForQuota(wait, Arc::clone(&business.slot_freed));
                    }
                }
            }
        };
        business.in_flight += 1;
        business.in_flight_by_operation[index] += 1;
        Verdict::Go(InProcessPermit {
            business_id: request.business_id,
            operation: request.operation,
            ticket,
        })
    }
}

impl State {
    /// The business's state, evicting idle ones first when there are too many.
    fn business(&mut self, business_id: u64) -> &mut Business {
        self.tick += 1;
        let tick = self.tick;
        if !self.businesses.contains_key(&business_id)
            && self.businesses.len() >= self.settings.max_tracked_businesses
        {
            self.evict();
        }
        let business = self
            .businesses
            .entry(business_id)
            .or_insert_with(Business::new);
        business.last_used = tick;
        business
    }

    /// Forgets idle businesses, longest unused first, down to three quarters
    /// of the bound, so eviction runs once per many new businesses.
    fn evict(&mut self) {
        let keep = self.settings.max_tracked_businesses / 4 * 3;
        let mut idle: Vec<(u64, u64)> = self
            .businesses
            .iter()
            .filter(|(_, b)| b.is_idle())
            .map(|(id, b)| (b.last_used, *id))
            .collect();
        idle.sort_unstable();
        let excess = self.businesses.len().saturating_sub(keep);
        for (_, id) in idle.into_iter().take(excess) {
            self.businesses.remove(&id);
        }
    }
}

impl Limiter for InProcessLimiter {
    type Permit = InProcessPermit;

    fn configure(&self, settings: &LimiterSettings) -> Result<(), Error> {
        if settings.max_in_flight == 0 {
            return Err(Error::invalid_input(
                "max_in_flight_per_business must be at least 1",
            ));
        }
        if settings.max_tracked_businesses == 0 {
            return Err(Error::invalid_input(
                "max_tracked_businesses must be at least 1",
            ));
        }
        let mut state = self.lock();
        state.settings = settings.clone();
        // Quotas may have changed: windows restart from the new numbers.
        for business in state.businesses.values_mut() {
            business.windows = Default::default();
        }
        Ok(())
    }

    async fn acquire(&self, request: Acquire) -> Result<InProcessPermit, Error> {
        let deadline = later(Instant::now(), request.time_left);
        loop {
            match self.decide(&request) {
                Verdict::Go(permit) => return Ok(permit),
                Verdict::WaitForSlot(notify) => {
                    // Registered before checking again, so a release in
                    // between is not missed. The client bounds this wait by
                    // the request's deadline (it drops the future).
                    let notified = notify.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    match self.decide(&request) {
                        Verdict::Go(permit) => return Ok(permit),
                        Verdict::WaitForSlot(_) => notified.await,
                        Verdict::WaitForQuota(..) => {}
                    }
                }
                Verdict::WaitForQuota(wait, notify) => {
                    request.may_wait_for_quota(wait, deadline)?;
                    // Until the reset, or until an answer may have moved it
                    // (every release wakes the business's waiters).
                    let notified = notify.notified();
                    let _ = tokio::time::timeout(wait, notified).await;
                }
            }
        }
    }

    fn release(&self, permit: InProcessPermit, release: Release) {
        let mut state = self.lock();
        let now = Instant::now();
        let quota = state.settings.quota(permit.operation);
        let margin = state.settings.quota_reset_margin;
        let index = permit.operation.index();
        let business = state.business(permit.business_id);
        business.in_flight = business.in_flight.saturating_sub(1);
        let in_flight = &mut business.in_flight_by_operation[index];
        *in_flight = in_flight.saturating_sub(1);
        let others = *in_flight;
        if let Some(quota) = quota {
            let window = business.windows[index].get_or_insert_with(|| Window::new(now, quota));
            match (&release.rate_limit, permit.ticket) {
                (Some(rate_limit), ticket) => {
                    window.observe(now, quota, rate_limit, ticket, others, margin);
                }
                (None, Some(ticket)) if !release.sent => window.refund(ticket, quota),
                _ => {}
            }
        }
        business.slot_freed.notify_waiters();
    }

    async fn quota(
        &self,
        business_id: u64,
        operation: Operation,
    ) -> Result<Option<QuotaState>, Error> {
        let mut state = self.lock();
        let Some(quota) = state.settings.quota(operation) else {
            return Ok(None);
        };
        let now = Instant::now();
        let Some(business) = state.businesses.get_mut(&business_id) else {
            return Ok(Some(QuotaState::new(quota, u64::from(quota), None)));
        };
        let in_flight = business.in_flight_by_operation[operation.index()];
        Ok(Some(match &mut business.windows[operation.index()] {
            Some(window) => {
                let (remaining, resets_in) = window.peek(now, quota, in_flight);
                // The server's stated limit when it is below ours: `limit`
                // and `remaining` describe the same window.
                let limit = u32::try_from(window.full(quota)).map_or(quota, |l| l.clamp(1, quota));
                QuotaState::new(limit, remaining, Some(resets_in))
            }
            None => QuotaState::new(quota, u64::from(quota), None),
        }))
    }
}
