//! Client-side limits, shared by every clone of a client, so that a
//! well-behaved program never earns a 420:
//! - at most N requests in flight per business (the API allows 4);
//! - an hourly quota per business and operation, a fixed window like the
//!   server's, so a burst may use the whole quota at once. The server's
//!   `X-RateLimit-Resource-*` headers, when present, correct the local count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Error, Operation, RateLimit};

const WINDOW: Duration = Duration::from_secs(3600);

/// The hourly quota of each operation; `None` switches one off.
pub(crate) type Quotas = [Option<u32>; Operation::ALL.len()];

#[derive(Debug)]
pub(crate) struct Limits {
    max_in_flight: usize,
    quotas: Quotas,
    per_business: Mutex<HashMap<u64, Business>>,
}

#[derive(Debug)]
struct Business {
    in_flight: Arc<Semaphore>,
    windows: [Window; Operation::ALL.len()],
}

#[derive(Debug, Clone, Copy)]
struct Window {
    end: Instant,
    remaining: u64,
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl Limits {
    pub(crate) fn new(max_in_flight: usize, quotas: Quotas) -> Self {
        Self {
            max_in_flight,
            quotas,
            per_business: Mutex::new(HashMap::new()),
        }
    }

    fn full(&self, operation: Operation) -> u64 {
        u64::from(self.quotas[operation.index()].unwrap_or(u32::MAX))
    }

    fn with_business<T>(&self, business_id: u64, f: impl FnOnce(&mut Business) -> T) -> T {
        let mut map = self
            .per_business
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = map.entry(business_id).or_insert_with(|| {
            let end = Instant::now() + WINDOW;
            Business {
                in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
                windows: Operation::ALL.map(|op| Window {
                    end,
                    remaining: self.full(op),
                }),
            }
        });
        f(entry)
    }

    /// Waits for a free slot and takes one unit of the operation's hourly
    /// quota. When the quota is spent, waits for the window to reset if that
    /// is at most `max_wait` away and before `deadline`, else fails with
    /// [`Error::RateLimited`]. No timer unless it has to wait for the quota.
    pub(crate) async fn acquire(
        &self,
        business_id: u64,
        operation: Operation,
        max_wait: Duration,
        deadline: tokio::time::Instant,
    ) -> Result<Permit, Error> {
        let semaphore = self.with_business(business_id, |b| Arc::clone(&b.in_flight));
        let slot = match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => semaphore
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        };
        if self.quotas[operation.index()].is_some() {
            loop {
                let wait = self.with_business(business_id, |b| {
                    let window = &mut b.windows[operation.index()];
                    let now = Instant::now();
                    if now >= window.end {
                        window.end = now + WINDOW;
                        window.remaining = self.full(operation);
                    }
                    if window.remaining > 0 {
                        window.remaining -= 1;
                        None
                    } else {
                        Some(window.end - now)
                    }
                });
                match wait {
                    None => break,
                    Some(wait)
                        if wait <= max_wait && tokio::time::Instant::now() + wait < deadline =>
                    {
                        tokio::time::sleep(wait).await;
                    }
                    Some(wait) => {
                        let reset_at = chrono::Duration::from_std(wait)
                            .ok()
                            .map(|wait| Utc::now() + wait);
                        return Err(Error::RateLimited {
                            reset_at,
                            local: true,
                            message: None,
                            rate_limit: None,
                        });
                    }
                }
            }
        }
        Ok(Permit { _slot: slot })
    }

    /// Adopts what the server says about the operation's quota: its
    /// remaining count and, when known, its reset time.
    pub(crate) fn observe(&self, business_id: u64, operation: Operation, rate_limit: &RateLimit) {
        if self.quotas[operation.index()].is_none() {
            return;
        }
        let Some(remaining) = rate_limit.remaining else {
            return;
        };
        self.with_business(business_id, |b| {
            let window = &mut b.windows[operation.index()];
            window.remaining = window.remaining.min(remaining);
            if let Some(until) = rate_limit.until {
                let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                // The header has one-second resolution; never shorten the wait.
                window.end = Instant::now() + left + Duration::from_secs(1);
            }
        });
    }
}
