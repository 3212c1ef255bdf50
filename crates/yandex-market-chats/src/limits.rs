//! Client-side limits, shared by every clone of a client, so that a
//! well-behaved program never earns a 420:
//! - at most N requests in flight per business (the API allows 4);
//! - an hourly quota per business, a fixed window like the server's, so a
//!   burst may use the whole quota at once. The server's
//!   `X-RateLimit-Resource-*` headers, when present, correct the local count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Error, RateLimit};

const WINDOW: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(crate) struct Limits {
    max_in_flight: usize,
    hourly_quota: Option<u32>,
    per_business: Mutex<HashMap<u64, Business>>,
}

#[derive(Debug)]
struct Business {
    in_flight: Arc<Semaphore>,
    window_end: Instant,
    remaining: u64,
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl Limits {
    pub(crate) fn new(max_in_flight: usize, hourly_quota: Option<u32>) -> Self {
        Self {
            max_in_flight,
            hourly_quota,
            per_business: Mutex::new(HashMap::new()),
        }
    }

    fn with_business<T>(&self, business_id: u64, f: impl FnOnce(&mut Business) -> T) -> T {
        let mut map = self
            .per_business
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let quota = u64::from(self.hourly_quota.unwrap_or(u32::MAX));
        let entry = map.entry(business_id).or_insert_with(|| Business {
            in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
            window_end: Instant::now() + WINDOW,
            remaining: quota,
        });
        f(entry)
    }

    /// Waits for a free slot and takes one unit of the hourly quota. When the
    /// quota is spent, waits for the window to reset if that is at most
    /// `max_wait` away and before `deadline`, else fails with
    /// [`Error::RateLimited`]. No timer unless it has to wait for the quota.
    pub(crate) async fn acquire(
        &self,
        business_id: u64,
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
        if self.hourly_quota.is_some() {
            loop {
                let wait = self.with_business(business_id, |b| {
                    let now = Instant::now();
                    if now >= b.window_end {
                        b.window_end = now + WINDOW;
                        b.remaining = u64::from(self.hourly_quota.unwrap_or(u32::MAX));
                    }
                    if b.remaining > 0 {
                        b.remaining -= 1;
                        None
                    } else {
                        Some(b.window_end - now)
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

    /// Adopts what the server says about the quota: its remaining count and,
    /// when known, its reset time.
    pub(crate) fn observe(&self, business_id: u64, rate_limit: &RateLimit) {
        if self.hourly_quota.is_none() {
            return;
        }
        let Some(remaining) = rate_limit.remaining else {
            return;
        };
        self.with_business(business_id, |b| {
            b.remaining = b.remaining.min(remaining);
            if let Some(until) = rate_limit.until {
                let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                // The header has one-second resolution; never shorten the wait.
                b.window_end = Instant::now() + left + Duration::from_secs(1);
            }
        });
    }
}
