//! The API's two limits as the sandbox enforces them: an hourly quota per
//! business and operation, and the requests in flight per business.

use std::time::Instant;

use chrono::{DateTime, Utc};
use yandex_market_chats::Operation;

use crate::state::Shared;

/// The three `X-RateLimit-Resource-*` values of one answer.
#[derive(Clone, Copy)]
pub(crate) struct RateHeaders {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) until: DateTime<Utc>,
}

/// Takes one request from the business's quota window for the operation;
/// `Err` when spent.
pub(crate) fn take_quota(
    shared: &Shared,
    business_id: u64,
    operation: Operation,
) -> Result<RateHeaders, RateHeaders> {
    let config = &shared.config;
    let set = config
        .operation_quotas
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, quota)| *quota);
    let quota = config.hourly_quota.map(|get_chats| match operation {
        Operation::GetChats => get_chats,
        other => set.unwrap_or(other.default_hourly_quota()),
    });
    let limit = quota.unwrap_or(u32::MAX);
    let mut state = shared.state();
    let now = Instant::now();
    let (start, used) = state
        .quota
        .entry((business_id, operation))
        .or_insert((now, 0));
    if now.duration_since(*start) >= config.quota_window {
        *start = now;
        *used = 0;
    }
    // On the server's clock, as the `Date` header: `Until - Date` is the
    // true time to the reset whatever the clock's offset.
    let until = shared.clock.now()
        + config
            .quota_window
            .saturating_sub(now.duration_since(*start));
    if quota.is_some() && *used >= limit {
        return Err(RateHeaders {
            limit,
            remaining: 0,
            until,
        });
    }
    *used += 1;
    Ok(RateHeaders {
        limit,
        remaining: limit - *used,
        until,
    })
}

/// Counts a request in flight for its business while alive, so that a
/// request cancelled mid-way (a dropped connection) is counted out too.
pub(crate) struct InFlight<'a> {
    shared: &'a Shared,
    business: Option<u64>,
    over_limit: bool,
}

impl<'a> InFlight<'a> {
    /// Counts the request in; a path naming no business counts for none.
    pub(crate) fn enter(shared: &'a Shared, business: Option<u64>) -> Self {
        let over_limit = business.is_some_and(|business| {
            let mut state = shared.state();
            let count = state.in_flight.entry(business).or_default();
            *count += 1;
            let now = *count;
            state.max_in_flight = state.max_in_flight.max(now);
            shared
                .config
                .parallel_limit
                .is_some_and(|limit| now > limit)
        });
        Self {
            shared,
            business,
            over_limit,
        }
    }

    /// Whether this request is one more than the parallel limit allows.
    pub(crate) fn over_limit(&self) -> bool {
        self.over_limit
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(business) = self.business
            && let Some(count) = self.shared.state().in_flight.get_mut(&business)
        {
            *count = count.saturating_sub(1);
        }
    }
}
