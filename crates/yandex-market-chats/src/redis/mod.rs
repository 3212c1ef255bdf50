//! Limits shared by every process that uses one Redis (Cargo feature
//! `redis`): [`RedisLimiter`].
//!
//! The API's limits are per business, not per process: 4 requests in flight
//! and hourly quotas per operation. Three replicas with in-process limits
//! each allow 4 and spend the quota three times. A `RedisLimiter` keeps the
//! slots and the quota windows in Redis, so every process sharing the Redis
//! and the key prefix keeps to the API's limits together.
//!
//! ```no_run
//! use yandex_market_chats::{Client, redis::RedisLimiter};
//!
//! let limiter = RedisLimiter::new("redis://127.0.0.1:6379/0")?; // parses; no I/O yet
//! let client = Client::builder()
//!     .api_key("my-api-key")
//!     .limiter(limiter)
//!     .build()?;
//! # Ok::<(), yandex_market_chats::Error>(())
//! ```
//!
//! How it works:
//! - **In flight:** a slot is a lease in Redis that ends after the attempt
//!   timeout plus a margin ([`RedisLimiter::lease`]); a process killed while
//!   holding slots frees them when the leases end. A slot is given back as
//!   soon as its request ends (success, error, or a dropped future); a
//!   release that cannot be sent is left to the lease.
//! - **Quota:** one window per business and operation, decremented
//!   atomically, following the server's `X-RateLimit-Resource-*` headers
//!   with the rules of the in-process limiter. Time is Redis's (`TIME` inside
//!   the scripts), not the hosts'.
//! - **Atomic:** every decision is one Lua script.
//! - **Waiting:** a request that cannot go holds nothing. Waiters for a slot
//!   take their turn in arrival order (a queue in Redis, so no process
//!   starves) and look again every 5 to 25 ms (jittered), or at once when a
//!   request of the same process ends. Polling, not pub/sub: it needs no
//!   second connection or background task, survives a Redis restart without
//!   resubscribing, and costs one small script per waiter every few
//!   milliseconds, only while the business is at its limit.
//! - **Cost:** two Redis round trips per request: one script to take a slot
//!   and a quota unit, one to give the slot back and report the server's
//!   rate-limit headers, done before the request's call returns (so a
//!   process that exits right after frees its slot; a request whose future
//!   is dropped half-way releases in the background, or leaves it to the
//!   lease).
//! - **Redis down or slow** (no answer within
//!   [`RedisLimiter::unreachable_after`], 300 ms by default): by default the
//!   client falls back to in-process limits, warns once per outage through
//!   `tracing`, and goes back to Redis when it answers again (it tries again
//!   a second after a failure). With [`OnUnreachable::FailClosed`] a request
//!   fails instead, with [`Error::LimiterUnavailable`].
//!
//! Nothing is connected or spawned when the client is built: the connection
//! is made on the first request, bounded by its deadline.

mod address;
mod checkpoint;
mod scripts;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Script, ScriptInvocation};
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

use crate::limits::{
    Acquire, InProcessLimiter, InProcessPermit, Limiter, LimiterSettings, QuotaState, Release,
    later,
};
use crate::rate_limit::WINDOW;
use crate::{Error, Operation};
use address::Address;
pub use checkpoint::RedisCheckpoint;

/// The lease of a slot: the attempt timeout plus this, unless set.
const LEASE_MARGIN: Duration = Duration::from_secs(1);
/// Leases are clamped to this range (milliseconds in Redis; a lease must
/// outlive any request it guards, and a day is longer than any attempt).
const MIN_LEASE: Duration = Duration::from_millis(100);
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// How long a waiter keeps its place in the queue without asking again.
const PATIENCE: Duration = Duration::from_millis(250);
/// How often a waiter asks again (jittered between the two).
const POLL_MIN: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(25);
/// After a failure, Redis is tried again this much later.
const RETRY_REDIS_AFTER: Duration = Duration::from_secs(1);

/// What a request does when Redis does not answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnUnreachable {
    /// Fall back to in-process limits (each process keeps to the limits
    /// alone) and go back to Redis when it answers. The default: the limits
    /// protect the API's quota, and an outage of Redis should not stop the
    /// work.
    #[default]
    FailOpen,
    /// Fail the request with [`Error::LimiterUnavailable`] (nothing is sent).
    FailClosed,
}

/// A [`Limiter`] whose slots and quotas live in Redis, shared by every
/// process that uses the same Redis and key prefix. See the
/// [module docs](self).
///
/// Clones share their connection and state. The password of the URL never
/// appears in `Debug`, errors or logs.
#[derive(Clone)]
pub struct RedisLimiter {
    options: Arc<Options>,
    state: Arc<State>,
}

#[derive(Clone, Debug)]
struct Options {
    prefix: String,
    lease: Option<Duration>,
    unreachable_after: Duration,
    on_unreachable: OnUnreachable,
}

struct State {
    client: ::redis::Client,
    /// The address as it may be shown: never a user name or password.
    shown: Address,
    settings: Mutex<LimiterSettings>,
    manager: OnceCell<ConnectionManager>,
    acquire: Script,
    release: Script,
    cancel: Script,
    peek: Script,
    /// The limits while Redis is unreachable (fail-open).
    fallback: InProcessLimiter,
    /// Redis is not tried again before this.
    down_until: Mutex<Option<Instant>>,
    /// Whether the current outage was reported.
    outage: AtomicBool,
    /// Wakes this process's waiters when one of its requests ends.
    released: Notify,
    /// Makes request tokens unique within the process.
    counter: AtomicU64,
}

/// Cancels an acquire's token when the acquire ends without a permit: an
/// error, a fallback to local limits, or the future dropped.
struct CancelGuard<'a> {
    limiter: &'a RedisLimiter,
    business_id: u64,
    operation: Operation,
    token: Option<String>,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            self.limiter.cancel(self.business_id, self.operation, token);
        }
    }
}

/// A slot (and a quota unit) held by one attempt.
#[derive(Debug)]
pub struct RedisPermit(Held);

#[derive(Debug)]
enum Held {
    Shared(SharedPermit),
    Local(InProcessPermit),
}

#[derive(Debug)]
struct SharedPermit {
    business_id: u64,
    operation: Operation,
    token: String,
    /// The quota window's generation and when the unit was taken (Redis
    /// time, ms); `None` without a quota.
    ticket: Option<(i64, i64)>,
}

enum Verdict {
    Go { generation: i64, at: i64 },
    WaitForSlot(Duration),
    WaitForQuota(Duration),
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("url", &self.state.shown)
            .field("key_prefix", &self.options.prefix)
            .field("lease", &self.options.lease)
            .field("unreachable_after", &self.options.unreachable_after)
            .field("on_unreachable", &self.options.on_unreachable)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A limiter on the Redis at `url` (`redis://[:password@]host[:port][/db]`,
    /// or `rediss://` for TLS). Only parses the URL: nothing is connected
    /// until the first request.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the URL cannot be parsed (the message
    /// never repeats a password).
    pub fn new(url: &str) -> Result<Self, Error> {
        let client = ::redis::Client::open(url).map_err(|e| {
            Error::invalid_input(format!(
                "Redis URL {:?} is not valid: {}",
                address::shown_unparsed(url),
                scrub(&e.to_string(), url)
            ))
        })?;
        let shown = Address::new(client.get_connection_info());
        Ok(Self {
            options: Arc::new(Options {
                prefix: "yandex-market-chats".to_owned(),
                lease: None,
                unreachable_after: Duration::from_millis(300),
                on_unreachable: OnUnreachable::FailOpen,
            }),
            state: Arc::new(State {
                client,
                shown,
                settings: Mutex::new(LimiterSettings::default()),
                manager: OnceCell::new(),
                acquire: Script::new(&scripts::with_prelude(scripts::ACQUIRE)),
                release: Script::new(&scripts::with_prelude(scripts::RELEASE)),
                cancel: Script::new(&scripts::with_prelude(scripts::CANCEL)),
                peek: Script::new(&scripts::with_prelude(scripts::PEEK)),
                fallback: InProcessLimiter::new(),
                down_until: Mutex::new(None),
                outage: AtomicBool::new(false),
                released: Notify::new(),
                counter: AtomicU64::new(0),
            }),
        })
    }

    /// The prefix of every key; default `yandex-market-chats`. Programs
    /// that should share limits use the same prefix; several SDK users on
    /// one Redis use different ones.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.options).prefix = prefix.into();
        self
    }

    /// How long a slot stays taken if its holder never gives it back (it
    /// was killed): by default the client's attempt timeout plus one second,
    /// so a live request never loses its slot. Clamped to 100 ms ..= 24 h.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        Arc::make_mut(&mut self.options).lease = Some(lease);
        self
    }

    /// How long Redis may take to answer before it counts as unreachable;
    /// default 300 ms.
    #[must_use]
    pub fn unreachable_after(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.options).unreachable_after = timeout;
        self
    }

    /// What a request does when Redis is unreachable; default
    /// [`OnUnreachable::FailOpen`].
    #[must_use]
    pub fn on_unreachable(mut self, mode: OnUnreachable) -> Self {
        Arc::make_mut(&mut self.options).on_unreachable = mode;
        self
    }

    fn settings(&self) -> LimiterSettings {
        self.state
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lease_for(&self, settings: &LimiterSettings) -> Duration {
        self.options
            .lease
            .unwrap_or_else(|| settings.attempt_timeout.saturating_add(LEASE_MARGIN))
            .clamp(MIN_LEASE, MAX_LEASE)
    }

    fn keys<'a>(
        &self,
        invocation: &mut ScriptInvocation<'a>,
        business_id: u64,
        operation: Operation,
    ) {
        let prefix = &self.options.prefix;
        // One hash tag per business: its keys share a Redis Cluster slot.
        let business = format!("{prefix}:{{{business_id}}}");
        let op = operation.name();
        invocation
            .key(format!("{business}:slots"))
            .key(format!("{business}:queue"))
            .key(format!("{business}:alive"))
            .key(format!("{business}:{op}:flight"))
            .key(format!("{business}:{op}:window"))
            .key(format!("{business}:{op}:grants"));
    }

    /// The connection, made on first use within `unreachable_after`.
    async fn connection(&self) -> Result<ConnectionManager, String> {
        let timeout = self.options.unreachable_after;
        let manager = self
            .state
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(RETRY_REDIS_AFTER);
                match tokio::time::timeout(
                    timeout,
                    ConnectionManager::new_with_config(self.state.client.clone(), config),
                )
                .await
                {
                    Ok(Ok(manager)) => Ok(manager),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no connection within {timeout:?}")),
                }
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs one script within `unreachable_after`.
    async fn run<T: ::redis::FromRedisValue>(
        &self,
        invocation: ScriptInvocation<'_>,
    ) -> Result<T, String> {
        let mut connection = self.connection().await?;
        let timeout = self.options.unreachable_after;
        match tokio::time::timeout(timeout, invocation.invoke_async(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    async fn try_acquire(&self, request: &Acquire, token: &str) -> Result<Verdict, String> {
        let settings = self.settings();
        let quota = settings.quota(request.operation);
        let mut invocation = self.state.acquire.prepare_invoke();
        self.keys(&mut invocation, request.business_id, request.operation);
        invocation
            .arg(token)
            .arg(settings.max_in_flight.min(i64::MAX as usize) as i64)
            .arg(millis(self.lease_for(&settings)))
            .arg(quota.map_or(-1, i64::from))
            .arg(millis(WINDOW))
            .arg(millis(PATIENCE));
        let reply: Vec<i64> = self.run(invocation).await?;
        match reply.as_slice() {
            [0, generation, at] => Ok(Verdict::Go {
                generation: *generation,
                at: *at,
            }),
            [1, wait] => Ok(Verdict::WaitForSlot(from_millis(*wait))),
            [2, wait] => Ok(Verdict::WaitForQuota(from_millis(*wait))),
            [3] => Err("this request was given up already".to_owned()),
            other => Err(format!(
                "unexpected answer from the acquire script: {other:?}"
            )),
        }
    }

    async fn send_release(&self, permit: SharedPermit, release: Release) -> Result<(), String> {
        let settings = self.settings();
        let quota = settings.quota(permit.operation);
        let rate_limit = release.rate_limit.as_ref();
        let number = |value: Option<u64>| value.map_or(-1, |v| v.min(i64::MAX as u64) as i64);
        let (generation, at) = permit.ticket.unwrap_or((-1, 0));
        let mut invocation = self.state.release.prepare_invoke();
        self.keys(&mut invocation, permit.business_id, permit.operation);
        invocation
            .arg(&permit.token)
            .arg(quota.map_or(-1, i64::from))
            .arg(i64::from(release.sent))
            .arg(i64::from(rate_limit.is_some()))
            .arg(number(rate_limit.and_then(|r| r.remaining)))
            .arg(
                rate_limit
                    .and_then(|r| r.until)
                    .map_or(-1, |u| u.timestamp()),
            )
            .arg(rate_limit.and_then(|r| r.resets_in).map_or(-1, millis))
            .arg(number(rate_limit.and_then(|r| r.limit)))
            .arg(generation)
            .arg(at)
            .arg(millis(settings.quota_reset_margin))
            .arg(millis(WINDOW));
        let _: i64 = self.run(invocation).await?;
        Ok(())
    }

    /// Whether Redis is skipped now (it failed less than a second ago).
    fn skipping(&self) -> bool {
        let down = self
            .state
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        down.is_some_and(|until| Instant::now() < until)
    }

    fn mark_down(&self, reason: &str) {
        *self
            .state
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(later(Instant::now(), RETRY_REDIS_AFTER));
        if !self.state.outage.swap(true, Ordering::SeqCst) {
            let reason = self.state.shown.scrub(reason);
            match self.options.on_unreachable {
                OnUnreachable::FailOpen => tracing::warn!(
                    redis = %self.state.shown,
                    %reason,
                    "Redis limiter unreachable: using in-process limits until it answers again"
                ),
                OnUnreachable::FailClosed => tracing::warn!(
                    redis = %self.state.shown,
                    %reason,
                    "Redis limiter unreachable: requests fail until it answers again"
                ),
            }
        }
    }

    fn mark_up(&self) {
        if self.state.outage.swap(false, Ordering::SeqCst) {
            tracing::info!(redis = %self.state.shown, "Redis limiter answers again: shared limits are back");
        }
    }

    /// What a request gets while Redis is unreachable.
    async fn without_redis(&self, request: Acquire, reason: &str) -> Result<RedisPermit, Error> {
        match self.options.on_unreachable {
            OnUnreachable::FailOpen => Limiter::acquire(&self.state.fallback, request)
                .await
                .map(|permit| RedisPermit(Held::Local(permit))),
            OnUnreachable::FailClosed => Err(Error::LimiterUnavailable {
                message: format!(
                    "the Redis limiter at {} is unreachable ({}); nothing was sent",
                    self.state.shown,
                    self.state.shown.scrub(reason)
                ),
            }),
        }
    }

    /// Gives back what Redis holds for `token` (see [`CancelGuard`]), in
    /// the background: the caller is gone or Redis is slow.
    fn cancel(&self, business_id: u64, operation: Operation, token: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // left to the queue's patience and the lease
        };
        let this = self.clone();
        runtime.spawn(async move {
            let mut invocation = this.state.cancel.prepare_invoke();
            this.keys(&mut invocation, business_id, operation);
            invocation.arg(&token);
            // Tried again until it lands (Redis may be stalled: each try is
            // bounded by `unreachable_after`), for as long as a lease: after
            // that the slot has lapsed anyway. The script marks the token,
            // so an acquire that runs after it takes nothing.
            let give_up = later(Instant::now(), this.lease_for(&this.settings()));
            while Instant::now() < give_up {
                if let Ok(mut connection) = this.connection().await
                    && invocation
                        .invoke_async::<i64>(&mut connection)
                        .await
                        .is_ok()
                {
                    break;
                }
                tokio::time::sleep(POLL_MAX).await;
            }
            this.state.released.notify_waiters();
        });
    }

    fn token(&self) -> String {
        let n = self.state.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{}-{n}", std::process::id(), fastrand::u64(..))
    }
}

impl Limiter for RedisLimiter {
    type Permit = RedisPermit;

    fn configure(&self, settings: &LimiterSettings) -> Result<(), Error> {
        Limiter::configure(&self.state.fallback, settings)?;
        *self
            .state
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = settings.clone();
        Ok(())
    }

    async fn acquire(&self, request: Acquire) -> Result<RedisPermit, Error> {
        if self.skipping() {
            return self
                .without_redis(request, "it failed less than a second ago")
                .await;
        }
        let deadline = later(Instant::now(), request.time_left);
        let token = self.token();
        // Until a permit is handed out, whatever Redis did for this token
        // (a place in the queue; a slot and a unit, if the script ran after
        // we stopped waiting for it) is given back when this call ends.
        let mut guard = CancelGuard {
            limiter: self,
            business_id: request.business_id,
            operation: request.operation,
            token: Some(token.clone()),
        };
        loop {
            let verdict = match self.try_acquire(&request, &token).await {
                Ok(verdict) => {
                    self.mark_up();
                    verdict
                }
                Err(reason) => {
                    self.mark_down(&reason);
                    return self.without_redis(request, &reason).await;
                }
            };
            let wait = match verdict {
                Verdict::Go { generation, at } => {
                    guard.token = None;
                    return Ok(RedisPermit(Held::Shared(SharedPermit {
                        business_id: request.business_id,
                        operation: request.operation,
                        token,
                        // The script answers generation -1 without a quota.
                        ticket: (generation >= 0).then_some((generation, at)),
                    })));
                }
                Verdict::WaitForSlot(hint) => {
                    let poll = POLL_MIN + (POLL_MAX - POLL_MIN).mul_f64(fastrand::f64());
                    hint.min(poll)
                }
                Verdict::WaitForQuota(wait) => {
                    request.may_wait_for_quota(wait, deadline)?;
                    // Until the reset, looking again now and then: another
                    // process's answer may move the window.
                    wait.min(Duration::from_secs(1))
                }
            };
            let released = self.state.released.notified();
            let _ = tokio::time::timeout(wait.max(Duration::from_millis(1)), released).await;
        }
    }

    async fn settle(&self, permit: RedisPermit, release: Release) {
        match permit.0 {
            Held::Local(permit) => Limiter::release(&self.state.fallback, permit, release),
            Held::Shared(permit) => {
                // Bounded by `unreachable_after`; a release that fails is
                // left to the lease.
                if let Err(reason) = self.send_release(permit, release).await {
                    self.mark_down(&reason);
                }
                self.state.released.notify_waiters();
            }
        }
    }

    fn release(&self, permit: RedisPermit, release: Release) {
        match permit.0 {
            Held::Local(permit) => Limiter::release(&self.state.fallback, permit, release),
            Held::Shared(permit) => {
                // Outside a runtime (or during its shutdown) the slot is
                // left to its lease.
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let this = self.clone();
                runtime.spawn(async move {
                    if let Err(reason) = this.send_release(permit, release).await {
                        this.mark_down(&reason);
                    }
                    this.state.released.notify_waiters();
                });
            }
        }
    }

    async fn quota(
        &self,
        business_id: u64,
        operation: Operation,
    ) -> Result<Option<QuotaState>, Error> {
        let Some(quota) = self.settings().quota(operation) else {
            return Ok(None);
        };
        if self.skipping() {
            return Limiter::quota(&self.state.fallback, business_id, operation).await;
        }
        let mut invocation = self.state.peek.prepare_invoke();
        self.keys(&mut invocation, business_id, operation);
        invocation.arg(i64::from(quota)).arg(millis(WINDOW));
        match self.run::<Vec<i64>>(invocation).await {
            Ok(reply) => match reply.as_slice() {
                [remaining, resets_in, full] => Ok(Some(QuotaState::new(
                    u32::try_from(*full).map_or(quota, |full| full.clamp(1, quota)),
                    u64::try_from(*remaining).unwrap_or(0),
                    Some(from_millis(*resets_in)),
                ))),
                _ => Ok(Some(QuotaState::new(quota, u64::from(quota), None))),
            },
            Err(reason) => {
                self.mark_down(&reason);
                match self.options.on_unreachable {
                    OnUnreachable::FailOpen => {
                        Limiter::quota(&self.state.fallback, business_id, operation).await
                    }
                    OnUnreachable::FailClosed => Err(Error::LimiterUnavailable {
                        message: format!(
                            "the Redis limiter at {} is unreachable ({})",
                            self.state.shown,
                            self.state.shown.scrub(&reason)
                        ),
                    }),
                }
            }
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Removes the user name and password of a URL that does not parse from a
/// message, should the error echo them. Found by hand, since the parser
/// gave up.
fn scrub(message: &str, url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return message.to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let mut scrubbed = message.to_owned();
    let mut secrets = Vec::new();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        secrets.extend([userinfo, user, password]);
    }
    // `redis+unix:///path?user=..&pass=..` carries them in the query.
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && matches!(key, "user" | "username" | "pass" | "password")
        {
            secrets.push(value);
        }
    }
    // The whole user:password first, then each part; an empty one would
    // put the word between every character.
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        scrubbed = scrubbed.replace(secret, "redacted");
    }
    scrubbed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let limiter = RedisLimiter::new("redis://:s3cret-pw@127.0.0.1:6379/0").unwrap();
        let shown = format!("{limiter:?}");
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("redis://127.0.0.1:6379/0"), "{shown}");
        let limiter =
            RedisLimiter::new("redis+unix:///run/redis.sock?user=alice&pass=s3cret-pw").unwrap();
        let shown = format!("{limiter:?}");
        assert!(
            !shown.contains("s3cret-pw") && !shown.contains("alice"),
            "{shown}"
        );
        let error = RedisLimiter::new("redis+unix://%zz?user=alice&pass=s3cret-pw");
        if let Err(error) = error {
            assert!(!error.to_string().contains("s3cret-pw"), "{error}");
        }
        let limiter = RedisLimiter::new("rediss://user:s3cret-pw@redis.example:6380").unwrap();
        assert!(!format!("{limiter:?}").contains("s3cret-pw"));
        let error = RedisLimiter::new("redis://:s3cret-pw@[::1").unwrap_err();
        assert!(!error.to_string().contains("s3cret-pw"), "{error}");
        assert!(!format!("{error:?}").contains("s3cret-pw"));
    }

    #[tokio::test]
    async fn an_unreachable_unix_socket_never_shows_its_user_or_password() {
        let limiter =
            RedisLimiter::new("redis+unix:///nonexistent/ymc.sock?user=alice&pass=s3cret-pw")
                .unwrap()
                .on_unreachable(OnUnreachable::FailClosed);
        Limiter::configure(&limiter, &LimiterSettings::default()).unwrap();
        let request = Acquire::new(
            1,
            Operation::GetChats,
            Duration::from_secs(5),
            Duration::from_secs(5),
        );
        let error = Limiter::acquire(&limiter, request).await.unwrap_err();
        assert!(
            matches!(error, Error::LimiterUnavailable { .. }),
            "{error:?}"
        );
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(
                !shown.contains("s3cret-pw") && !shown.contains("alice"),
                "{shown}"
            );
            assert!(
                shown.contains("redis+unix:///nonexistent/ymc.sock"),
                "{shown}"
            );
        }
    }

    #[test]
    fn leases_follow_the_attempt_timeout_and_are_clamped() {
        let limiter = RedisLimiter::new("redis://127.0.0.1/").unwrap();
        let mut settings = LimiterSettings::default();
        settings.attempt_timeout = Duration::from_secs(15);
        assert_eq!(limiter.lease_for(&settings), Duration::from_secs(16));
        settings.attempt_timeout = Duration::MAX;
        assert_eq!(limiter.lease_for(&settings), Duration::from_secs(86_400));
        let short = limiter.lease(Duration::ZERO);
        assert_eq!(short.lease_for(&settings), MIN_LEASE);
    }

    #[test]
    fn scrub_takes_out_what_a_url_that_does_not_parse_carries() {
        let message = "bad URL redis://alice:pw1@[::1 (user alice, password pw1)";
        assert_eq!(
            scrub(message, "redis://alice:pw1@[::1"),
            "bad URL redis://redacted@[::1 (user redacted, password redacted)"
        );
        // Without a scheme nothing is taken for a user name or password.
        assert_eq!(scrub("alice:pw1@host", "alice:pw1@host"), "alice:pw1@host");
        // An empty user name, password or value is never "replaced" (that
        // would insert the word everywhere).
        for url in [
            "redis://@host/0",
            "redis://alice:@host/0",
            "redis+unix:///p.sock?pass=&db=2",
        ] {
            let shown = scrub("db 2 of host at p.sock", url);
            assert_eq!(shown, "db 2 of host at p.sock", "{url}");
        }
        // The query's user name and password go; its other values stay.
        assert_eq!(
            scrub(
                "user bob, pass pw2, db 2, x y",
                "redis+unix:///p.sock?user=bob&pass=pw2&db=2&x=y"
            ),
            "user redacted, pass redacted, db 2, x y"
        );
        assert_eq!(
            scrub("bob pw2", "redis+unix:///p.sock?username=bob&password=pw2"),
            "redacted redacted"
        );
    }

    /// A Redis that takes connections and never answers: the first
    /// request waits `unreachable_after` and falls back; for a second after
    /// that, requests fall back at once without connecting; then Redis is
    /// tried again.
    #[tokio::test]
    async fn after_a_failure_redis_is_not_tried_again_for_a_second() {
        use std::sync::atomic::AtomicUsize;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stalled = tokio::spawn({
            let accepted = Arc::clone(&accepted);
            async move {
                let mut held = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    held.push(socket);
                }
            }
        });
        let limiter = RedisLimiter::new(&format!("redis://127.0.0.1:{port}/0"))
            .unwrap()
            .unreachable_after(Duration::from_millis(200));
        Limiter::configure(&limiter, &LimiterSettings::default()).unwrap();
        let request = || {
            Acquire::new(
                7,
                Operation::GetChats,
                Duration::from_secs(5),
                Duration::from_secs(5),
            )
        };
        let local = |permit: &RedisPermit| matches!(permit.0, Held::Local(_));

        let first = Limiter::acquire(&limiter, request()).await.unwrap();
        assert!(local(&first), "{first:?}");
        Limiter::release(&limiter, first, Release::not_sent());
        let tried = accepted.load(Ordering::SeqCst);
        assert!(tried >= 1, "the first request tried Redis");

        let started = Instant::now();
        for _ in 0..5 {
            let permit = Limiter::acquire(&limiter, request()).await.unwrap();
            assert!(local(&permit), "{permit:?}");
            Limiter::release(&limiter, permit, Release::not_sent());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), tried, "no new connection");
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "no request waited for Redis: {:?}",
            started.elapsed()
        );

        tokio::time::sleep(RETRY_REDIS_AFTER).await;
        let again = Limiter::acquire(&limiter, request()).await.unwrap();
        assert!(local(&again), "{again:?}");
        assert!(
            accepted.load(Ordering::SeqCst) > tried,
            "Redis is tried again after a second"
        );
        stalled.abort();
    }
}
