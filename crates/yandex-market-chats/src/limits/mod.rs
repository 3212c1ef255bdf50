//! Client-side limits, so that a well-behaved program never earns a 420: at
//! most N requests in flight per business (the API allows 4), and an hourly
//! quota per business and operation that follows the server's
//! `X-RateLimit-Resource-*` headers.
//!
//! Both rules live behind one trait, [`Limiter`]. [`InProcessLimiter`] is the
//! default (shared by clones of a client, and by every client given the same
//! one); [`ClientBuilder::limiter`](crate::ClientBuilder::limiter) plugs
//! another, for example one kept in a store that several processes share.
//!
//! The client drives a limiter like this, for every attempt of every request:
//! 1. [`Limiter::acquire`]: may wait (for a slot or for the quota to reset)
//!    and may fail ([`Error::RateLimited`] when the reset is too far away).
//!    The client bounds the wait by the request's total timeout and drops the
//!    future when that passes, so `acquire` must be cancel-safe.
//! 2. the request is sent;
//! 3. [`Limiter::release`], once, with what the server said ([`Release`]):
//!    also when the request's future is dropped half-way.

mod in_process;
mod window;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use in_process::{InProcessLimiter, InProcessPermit};
pub(crate) use window::later;

use crate::{Error, Operation, RateLimit};

/// The hourly quota of each operation; `None` switches one off.
pub(crate) type Quotas = [Option<u32>; Operation::ALL.len()];

/// The client's limit settings, handed to [`Limiter::configure`] by
/// [`ClientBuilder::build`](crate::ClientBuilder::build).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimiterSettings {
    /// At most this many requests in flight per business
    /// ([`ClientBuilder::max_in_flight_per_business`](crate::ClientBuilder::max_in_flight_per_business)).
    pub max_in_flight: usize,
    /// How long one attempt may take at most
    /// ([`ClientBuilder::attempt_timeout`](crate::ClientBuilder::attempt_timeout)):
    /// a shared store can make a slot a lease that expires a little later.
    pub attempt_timeout: Duration,
    /// How long past a stated reset to wait, since the server's reset time
    /// has one-second resolution
    /// ([`RetryPolicy::quota_reset_margin`](crate::RetryPolicy::quota_reset_margin)).
    pub quota_reset_margin: Duration,
    /// How many businesses an in-process limiter keeps state for
    /// ([`ClientBuilder::max_tracked_businesses`](crate::ClientBuilder::max_tracked_businesses)).
    pub max_tracked_businesses: usize,
    quotas: Quotas,
}

impl LimiterSettings {
    pub(crate) fn new(
        max_in_flight: usize,
        attempt_timeout: Duration,
        quota_reset_margin: Duration,
        max_tracked_businesses: usize,
        quotas: Quotas,
    ) -> Self {
        Self {
            max_in_flight,
            attempt_timeout,
            quota_reset_margin,
            max_tracked_businesses,
            quotas,
        }
    }

    /// The hourly quota of `operation` per business; `None` when it is off.
    pub fn quota(&self, operation: Operation) -> Option<u32> {
        self.quotas[operation.index()]
    }

    /// The same settings with another quota for `operation` (for testing a
    /// [`Limiter`]; a client takes its quotas from its builder).
    #[must_use]
    pub fn with_quota(mut self, operation: Operation, quota: Option<u32>) -> Self {
        self.quotas[operation.index()] = quota;
        self
    }
}

impl Default for LimiterSettings {
    /// The client's defaults: 4 in flight, 15 s attempts, a 1 s margin,
    /// 10,000 businesses, [`Operation::default_hourly_quota`] per operation.
    fn default() -> Self {
        Self::new(
            crate::DEFAULT_MAX_IN_FLIGHT,
            Duration::from_secs(15),
            Duration::from_secs(1),
            crate::DEFAULT_MAX_TRACKED_BUSINESSES,
            Operation::ALL.map(|op| Some(op.default_hourly_quota())),
        )
    }
}

/// What the client asks a [`Limiter`] for: one attempt of `operation` for
/// `business_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acquire {
    /// The business the request is for.
    pub business_id: u64,
    /// The operation.
    pub operation: Operation,
    /// What is left of the request's total timeout. A quota that resets
    /// later than this must fail at once with [`Error::RateLimited`].
    pub time_left: Duration,
    /// The longest the caller will wait for a spent quota to reset
    /// ([`RetryPolicy::max_quota_wait`](crate::RetryPolicy::max_quota_wait)).
    pub max_quota_wait: Duration,
}

impl Acquire {
    /// A request for one attempt (for testing a [`Limiter`]).
    pub fn new(
        business_id: u64,
        operation: Operation,
        time_left: Duration,
        max_quota_wait: Duration,
    ) -> Self {
        Self {
            business_id,
            operation,
            time_left,
            max_quota_wait,
        }
    }

    /// Whether a request may wait `wait` for the quota to reset: within
    /// `max_quota_wait` and before its `deadline`. If not, the error it
    /// fails with: [`Error::RateLimited`] with `local: true` (nothing sent).
    pub(crate) fn may_wait_for_quota(
        &self,
        wait: Duration,
        deadline: tokio::time::Instant,
    ) -> Result<(), Error> {
        if wait <= self.max_quota_wait && later(tokio::time::Instant::now(), wait) < deadline {
            return Ok(());
        }
        Err(Error::RateLimited {
            reset_at: chrono::TimeDelta::from_std(wait)
                .ok()
                .and_then(|wait| chrono::Utc::now().checked_add_signed(wait)),
            local: true,
            message: None,
            rate_limit: None,
        })
    }
}

/// How an attempt ended, handed back with its permit to [`Limiter::release`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Release {
    /// Whether the request may have reached the server. `false` when it
    /// surely did not (its time ran out before it was sent): a limiter may
    /// give the quota unit back.
    pub sent: bool,
    /// What the server said about the quota, when it answered.
    pub rate_limit: Option<RateLimit>,
}

impl Release {
    /// The request was answered (or failed after it was sent).
    pub fn sent(rate_limit: Option<RateLimit>) -> Self {
        Self {
            sent: true,
            rate_limit,
        }
    }

    /// The request was never sent.
    pub fn not_sent() -> Self {
        Self::default()
    }
}

/// How much of one operation's quota is left, for a caller that paces
/// itself (see [`Client::quota`](crate::Client::quota)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaState {
    /// The whole quota of the window: the client's, or the server's stated
    /// `X-RateLimit-Resource-Limit` when that is smaller, so that `limit`
    /// and `remaining` always describe the same window.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u64,
    /// When the window resets, if known.
    pub resets_in: Option<Duration>,
}

impl QuotaState {
    /// A quota's state (for writing a [`Limiter`]).
    pub fn new(limit: u32, remaining: u64, resets_in: Option<Duration>) -> Self {
        Self {
            limit,
            remaining,
            resets_in,
        }
    }
}

/// The client-side limits: at most N requests in flight per business, and an
/// hourly quota per business and operation that follows the server's
/// headers. See the [module docs](self) for how the client drives it.
///
/// A limiter that keeps its state in a shared store implements the same
/// four calls; releasing a permit and reporting what the server said is one
/// call, so it can be one round trip.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use yandex_market_chats::limits::{Acquire, Limiter, LimiterSettings, QuotaState, Release};
/// use yandex_market_chats::{Client, Error, Operation};
///
/// /// Counts requests and limits nothing.
/// #[derive(Default)]
/// struct Counting(AtomicUsize);
///
/// impl Limiter for Counting {
///     type Permit = ();
///     fn configure(&self, _: &LimiterSettings) -> Result<(), Error> {
///         Ok(())
///     }
///     async fn acquire(&self, _: Acquire) -> Result<(), Error> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
///     fn release(&self, _: (), _: Release) {}
///     async fn quota(&self, _: u64, _: Operation) -> Result<Option<QuotaState>, Error> {
///         Ok(None)
///     }
/// }
///
/// let client = Client::builder().api_key("key").limiter(Counting::default()).build()?;
/// # Ok::<(), Error>(())
/// ```
pub trait Limiter: Send + Sync + 'static {
    /// What [`acquire`](Limiter::acquire) hands out and
    /// [`release`](Limiter::release) takes back.
    type Permit: Send + 'static;

    /// Takes the client's settings; called by `build()` for every client the
    /// limiter is given to.
    ///
    /// # Errors
    /// A setting the limiter cannot honour.
    fn configure(&self, settings: &LimiterSettings) -> Result<(), Error>;

    /// Waits until the request may go, then takes a slot and one unit of the
    /// quota together. Holds nothing while it waits for the quota to reset.
    /// Must be cancel-safe: the client drops the future at the deadline.
    ///
    /// # Errors
    /// [`Error::RateLimited`] (with `local: true`) when the quota resets
    /// later than `max_quota_wait` or `time_left`; any error of the store.
    fn acquire(&self, request: Acquire)
    -> impl Future<Output = Result<Self::Permit, Error>> + Send;

    /// Gives back a permit and reports what the server said, without
    /// waiting. Called exactly once per permit (or [`settle`](Limiter::settle)
    /// instead): when a request's future is dropped half-way, with
    /// `Release::sent(None)`; it must not block. A shared store may start
    /// the work in the background and leave it to a lease if the runtime
    /// ends first.
    fn release(&self, permit: Self::Permit, release: Release);

    /// Gives back a permit and reports what the server said, done when the
    /// future resolves: what the client calls when a request ends normally,
    /// so that nothing depends on a task outliving the runtime (a process
    /// that exits right after its last request frees its slot). Bounded by
    /// the store's own timeout. By default, [`release`](Limiter::release).
    fn settle(&self, permit: Self::Permit, release: Release) -> impl Future<Output = ()> + Send {
        self.release(permit, release);
        std::future::ready(())
    }

    /// How much of an operation's quota is left for a business; `None` when
    /// that quota is switched off.
    ///
    /// # Errors
    /// Any error of the store.
    fn quota(
        &self,
        business_id: u64,
        operation: Operation,
    ) -> impl Future<Output = Result<Option<QuotaState>, Error>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type AnyPermit = Box<dyn Any + Send>;

/// [`Limiter`] with its permit type erased, so the client can hold any one.
pub(crate) trait DynLimiter: Send + Sync {
    fn configure(&self, settings: &LimiterSettings) -> Result<(), Error>;
    fn acquire(&self, request: Acquire) -> BoxFuture<'_, Result<AnyPermit, Error>>;
    fn release(&self, permit: AnyPermit, release: Release);
    fn settle(&self, permit: AnyPermit, release: Release) -> BoxFuture<'_, ()>;
    fn quota(
        &self,
        business_id: u64,
        operation: Operation,
    ) -> BoxFuture<'_, Result<Option<QuotaState>, Error>>;
}

impl<L: Limiter> DynLimiter for L {
    fn configure(&self, settings: &LimiterSettings) -> Result<(), Error> {
        Limiter::configure(self, settings)
    }

    fn acquire(&self, request: Acquire) -> BoxFuture<'_, Result<AnyPermit, Error>> {
        Box::pin(async move {
            let permit = Limiter::acquire(self, request).await?;
            Ok(Box::new(permit) as AnyPermit)
        })
    }

    fn release(&self, permit: AnyPermit, release: Release) {
        // Only permits of this limiter come back here.
        if let Ok(permit) = permit.downcast::<L::Permit>() {
            Limiter::release(self, *permit, release);
        }
    }

    fn settle(&self, permit: AnyPermit, release: Release) -> BoxFuture<'_, ()> {
        match permit.downcast::<L::Permit>() {
            Ok(permit) => Box::pin(Limiter::settle(self, *permit, release)),
            Err(_) => Box::pin(std::future::ready(())),
        }
    }

    fn quota(
        &self,
        business_id: u64,
        operation: Operation,
    ) -> BoxFuture<'_, Result<Option<QuotaState>, Error>> {
        Box::pin(Limiter::quota(self, business_id, operation))
    }
}

/// A permit held by one attempt. Dropping it (the request's future was
/// dropped) still releases it.
pub(crate) struct Held {
    limiter: Arc<dyn DynLimiter>,
    permit: Option<AnyPermit>,
}

impl Held {
    pub(crate) async fn acquire(
        limiter: &Arc<dyn DynLimiter>,
        request: Acquire,
    ) -> Result<Self, Error> {
        let permit = limiter.acquire(request).await?;
        Ok(Self {
            limiter: Arc::clone(limiter),
            permit: Some(permit),
        })
    }

    pub(crate) fn release(mut self, release: Release) {
        if let Some(permit) = self.permit.take() {
            self.limiter.release(permit, release);
        }
    }

    /// Gives the permit back and waits until that is done (see
    /// [`Limiter::settle`]). If this future is dropped first, the permit
    /// is released without waiting.
    pub(crate) async fn settle(mut self, release: Release) {
        if let Some(permit) = self.permit.take() {
            let limiter = Arc::clone(&self.limiter);
            limiter.settle(permit, release).await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.limiter.release(permit, Release::sent(None));
        }
    }
}
