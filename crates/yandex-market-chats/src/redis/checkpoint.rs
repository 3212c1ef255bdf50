//! [`RedisCheckpoint`]: a follower's checkpoint in Redis, shared by
//! replicas: one leader per (key prefix, name, business) follows; the
//! others wait as standbys and take over when its lease ends. Every write
//! is fenced by the lease's generation, in one Lua script, so a leader that
//! was paused past its lease cannot write over its successor's state.
//!
//! Keys of one follower share a hash tag (`{name:business}`), so they live
//! in one slot of a Redis Cluster:
//! - `lease`: the leader's generation, with a TTL of the lease (renewed by
//!   a task while the stream lives, not per event);
//! - `gen`: the last generation handed out (no TTL);
//! - `fence`: the generation allowed to write (no TTL);
//! - `records`: the checkpoint's records, a list (no TTL: the state
//!   survives every replica being down; a Redis restart only with
//!   persistence on).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::redis::Script;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::address::{self, Address};
use crate::follow::Checkpoint;
use crate::{BusinessId, Error};

/// Takes the lease when it is free. KEYS: lease, gen, fence. ARGV: lease
/// (ms). Returns `{1, generation}` (leader now) or `{0, ms left}`.
const TAKE: &str = r#"
local held = redis.call('PTTL', KEYS[1])
if held > 0 then return {0, held} end
local generation = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], generation, 'PX', ARGV[1])
redis.call('SET', KEYS[3], generation)
return {1, generation}
"#;

/// Renews the lease if it is still ours. KEYS: lease. ARGV: generation,
/// lease (ms). Returns 1 if renewed, 0 if lost.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Hands the lease over at once if it is still ours. KEYS: lease. ARGV:
/// generation.
const HAND_OVER: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"#;

/// A fenced write. KEYS: fence, records. ARGV: generation, replace (0/1),
/// record. Returns 1 if written, 0 if a newer leader exists, -1 if the
/// fence is gone (Redis lost its data: restarted without persistence).
const WRITE: &str = r#"
local fence = redis.call('GET', KEYS[1])
if not fence then return -1 end
if fence ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
redis.call('RPUSH', KEYS[2], ARGV[3])
return 1
"#;

/// Reads the fence. KEYS: fence.
const FENCE: &str = "return redis.call('GET', KEYS[1])";

/// How long to wait before trying a dropped connection again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// How often a standby looks whether the lease is free (at most): a
/// graceful hand-over is seen within this.
const STANDBY_POLL: Duration = Duration::from_millis(250);

/// A follower's checkpoint in Redis (Cargo feature `redis`), for a bot that
/// runs as several replicas: among all streams with the same key prefix,
/// name and business, one leads (follows and saves) and the others wait as
/// standbys, calling nothing, and take over when its lease ends (within
/// the lease plus a second). A stream dropped while the runtime still runs
/// hands its lease over at once.
///
/// ```no_run
/// # async fn run(client: yandex_market_chats::Client) -> Result<(), yandex_market_chats::Error> {
/// use futures::TryStreamExt;
/// use yandex_market_chats::redis::RedisCheckpoint;
///
/// let checkpoint = RedisCheckpoint::new("redis://127.0.0.1:6379/", "bot-eu")?; // parses only
/// let mut events = client
///     .follow(42)
///     .checkpoint(checkpoint) // one leader per (key prefix, name, business)
///     .stream(); // on a standby: waits, yields nothing, takes over
/// while let Some(event) = events.try_next().await? {
///     println!("{}", event.dedup_key());
/// }
/// # Ok(()) }
/// ```
///
/// Unlike a [`FileCheckpoint`](crate::follow::FileCheckpoint), where a
/// second stream is an error, a second stream here is a standby. Every
/// write carries the lease's generation and is refused once a newer leader
/// exists: a leader paused past its lease ends with [`Error::Checkpoint`]
/// at its next save, having delivered at most the event it had in hand.
/// Without Redis there is no checkpoint: the stream ends with
/// [`Error::Checkpoint`], and a new stream resumes once Redis is back.
///
/// The state has no TTL: it survives every replica being down for days,
/// and a Redis restart only with persistence on (`appendonly yes`, or RDB
/// snapshots if losing the last few minutes' progress is acceptable: events
/// since the last snapshot then come again). The password and user name of
/// the URL never appear in `Debug`, errors or logs.
#[derive(Clone)]
pub struct RedisCheckpoint {
    inner: Arc<Inner>,
}

struct Inner {
    client: ::redis::Client,
    shown: Address,
    name: String,
    prefix: String,
    lease: Duration,
    manager: OnceCell<ConnectionManager>,
    /// The lease this checkpoint holds: business and generation, and the
    /// task renewing it.
    held: Mutex<Option<Lease>>,
    take: Script,
    renew: Script,
    hand_over: Script,
    write: Script,
    fence: Script,
}

struct Lease {
    keys: Keys,
    generation: i64,
    renewal: tokio::task::AbortHandle,
}

#[derive(Clone)]
struct Keys {
    lease: String,
    generation: String,
    fence: String,
    records: String,
}

impl std::fmt::Debug for RedisCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheckpoint")
            .field("url", &self.inner.shown)
            .field("name", &self.inner.name)
            .field("prefix", &self.inner.prefix)
            .field("lease", &self.inner.lease)
            .finish_non_exhaustive()
    }
}

impl RedisCheckpoint {
    /// A checkpoint named `name` on the Redis at `url`
    /// (`redis://[user:password@]host[:port][/db]`, `rediss://` for TLS,
    /// `redis+unix:///path`). Only parses the URL: nothing is connected
    /// until the stream is first polled. Lease 10 s, key prefix
    /// `yandex-market-chats`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the URL cannot be parsed or the name is
    /// empty (the message never repeats a password).
    pub fn new(url: &str, name: impl Into<String>) -> Result<RedisCheckpoint, Error> {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::invalid_input("a RedisCheckpoint needs a name"));
        }
        let client = ::redis::Client::open(url).map_err(|_| {
            Error::invalid_input(format!(
                "Redis URL {:?} is not valid",
                address::shown_unparsed(url)
            ))
        })?;
        let shown = Address::new(client.get_connection_info());
        Ok(Self::with_settings(
            client,
            shown,
            name,
            "yandex-market-chats".to_owned(),
            Duration::from_secs(10),
        ))
    }

    /// A checkpoint with these settings: its own connection and no lease.
    fn with_settings(
        client: ::redis::Client,
        shown: Address,
        name: String,
        prefix: String,
        lease: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                shown,
                name,
                prefix,
                lease,
                manager: OnceCell::new(),
                held: Mutex::new(None),
                take: Script::new(TAKE),
                renew: Script::new(RENEW),
                hand_over: Script::new(HAND_OVER),
                write: Script::new(WRITE),
                fence: Script::new(FENCE),
            }),
        }
    }

    /// The same settings but for `lease` and `prefix` (builder methods).
    fn rebuilt(self, lease: Duration, prefix: String) -> Self {
        let inner = &self.inner;
        Self::with_settings(
            inner.client.clone(),
            inner.shown.clone(),
            inner.name.clone(),
            prefix,
            lease,
        )
    }

    /// How long a leader's lease lasts without renewal (default 10 s): a
    /// standby takes over this long after the leader died or was cut off.
    /// At least 1 s.
    #[must_use]
    pub fn lease(self, lease: Duration) -> Self {
        let prefix = self.inner.prefix.clone();
        self.rebuilt(lease.max(Duration::from_secs(1)), prefix)
    }

    /// The prefix of its Redis keys (default `yandex-market-chats`).
    #[must_use]
    pub fn key_prefix(self, prefix: impl Into<String>) -> Self {
        let lease = self.inner.lease;
        self.rebuilt(lease, prefix.into())
    }

    fn keys(&self, business: BusinessId) -> Keys {
        let inner = &self.inner;
        let base = format!("{}:follow:{{{}:{}}}", inner.prefix, inner.name, business);
        Keys {
            lease: format!("{base}:lease"),
            generation: format!("{base}:gen"),
            fence: format!("{base}:fence"),
            records: format!("{base}:records"),
        }
    }

    fn unavailable(&self, what: &str, reason: &str) -> Error {
        Error::Checkpoint {
            message: format!(
                "the Redis checkpoint {:?} at {} cannot {what}: {}",
                self.inner.name,
                self.inner.shown,
                self.inner.shown.scrub(reason)
            ),
        }
    }

    /// The connection, made on first use (bounded).
    async fn connection(&self) -> Result<ConnectionManager, Error> {
        let timeout = Duration::from_secs(2);
        let manager = self
            .inner
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                match tokio::time::timeout(
                    timeout,
                    ConnectionManager::new_with_config(self.inner.client.clone(), config),
                )
                .await
                {
                    Ok(Ok(manager)) => Ok(manager),
                    Ok(Err(e)) => Err(self.unavailable("connect", &e.to_string())),
                    Err(_) => Err(self.unavailable("connect", "no connection within 2 s")),
                }
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs `script` with `keys` and `args`.
    async fn run<T: ::redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
        what: &str,
    ) -> Result<T, Error> {
        let mut connection = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        // Once more after a dropped connection (the manager reconnects): a
        // Redis restart is then seen for what it is.
        let mut last = None;
        for attempt in 0..2 {
            match invocation.invoke_async(&mut connection).await {
                Ok(value) => return Ok(value),
                Err(e) if attempt == 0 && (e.is_io_error() || e.is_connection_dropped()) => {
                    last = Some(e);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
                Err(e) => return Err(self.unavailable(what, &e.to_string())),
            }
        }
        Err(self.unavailable(what, &last.map(|e| e.to_string()).unwrap_or_default()))
    }

    /// Keeps the lease while the stream lives: renews it three times a
    /// lease; stops when it is lost (the next write then fails).
    fn renew_in_background(&self, keys: Keys, generation: i64) -> tokio::task::AbortHandle {
        let this = self.clone();
        tokio::spawn(async move {
            let every = this.inner.lease / 3;
            loop {
                tokio::time::sleep(every).await;
                let lease = millis(this.inner.lease);
                let renewed: Result<i64, Error> = this
                    .run(
                        &this.inner.renew,
                        &[&keys.lease],
                        &[generation.to_string().as_bytes(), lease.as_bytes()],
                        "renew its lease",
                    )
                    .await;
                match renewed {
                    Ok(1) => {}
                    Ok(_) => {
                        tracing::warn!(
                            name = %this.inner.name,
                            "the follower's Redis lease was lost to another replica"
                        );
                        return;
                    }
                    // Tried again at the next turn; the lease may lapse.
                    Err(error) => tracing::warn!(%error, "cannot renew the follower's lease"),
                }
            }
        })
        .abort_handle()
    }

    /// The keys and generation of the lease held.
    fn held(&self) -> Result<(Keys, i64), Error> {
        let held = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lease = held.as_ref().ok_or_else(|| Error::Checkpoint {
            message: "the Redis checkpoint is not open".to_owned(),
        })?;
        Ok((lease.keys.clone(), lease.generation))
    }

    fn taken_over(&self) -> Error {
        Error::Checkpoint {
            message: format!(
                "another replica took over the follower {:?} (this one's lease ended): \
                 nothing more is saved or delivered here",
                self.inner.name
            ),
        }
    }

    fn vanished(&self) -> Error {
        Error::Checkpoint {
            message: format!(
                "the follower {:?}'s checkpoint is gone from Redis at {} (restarted without \
                 persistence, or its keys were deleted): nothing more is saved; turn on \
                 `appendonly yes` so that a restart keeps it",
                self.inner.name, self.inner.shown
            ),
        }
    }

    async fn write(&self, record: Vec<u8>, replace: bool) -> Result<(), Error> {
        let (keys, generation) = self.held()?;
        let written: i64 = self
            .run(
                &self.inner.write,
                &[&keys.fence, &keys.records],
                &[
                    generation.to_string().as_bytes(),
                    if replace { b"1" } else { b"0" },
                    &record,
                ],
                "save",
            )
            .await?;
        match written {
            1 => Ok(()),
            -1 => Err(self.vanished()),
            _ => Err(self.taken_over()),
        }
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

impl Checkpoint for RedisCheckpoint {
    /// Waits until this stream leads (a standby calls nothing else
    /// meanwhile), then reads the records.
    async fn open(&self, business_id: BusinessId) -> Result<Vec<Vec<u8>>, Error> {
        if self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Err(Error::Checkpoint {
                message: "this RedisCheckpoint is in use by another stream of this process; \
                          give each replica its own"
                    .to_owned(),
            });
        }
        let keys = self.keys(business_id);
        let lease = millis(self.inner.lease);
        let generation = loop {
            let answer: Vec<i64> = self
                .run(
                    &self.inner.take,
                    &[&keys.lease, &keys.generation, &keys.fence],
                    &[lease.as_bytes()],
                    "take its lease",
                )
                .await?;
            match answer.as_slice() {
                [1, generation] => break *generation,
                [_, left] => {
                    let left = Duration::from_millis(u64::try_from(*left).unwrap_or(0));
                    let jitter = Duration::from_millis(fastrand::u64(0..50));
                    tokio::time::sleep(left.min(STANDBY_POLL) + jitter).await;
                }
                other => {
                    return Err(self.unavailable("take its lease", &format!("{other:?}")));
                }
            }
        };
        tracing::info!(name = %self.inner.name, generation, "this replica leads the follower");
        let renewal = self.renew_in_background(keys.clone(), generation);
        let records: Result<Vec<Vec<u8>>, Error> = async {
            let mut connection = self.connection().await?;
            ::redis::cmd("LRANGE")
                .arg(&keys.records)
                .arg(0)
                .arg(-1)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.unavailable("read", &e.to_string()))
        }
        .await;
        *self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Lease {
            keys,
            generation,
            renewal,
        });
        if records.is_err() {
            Checkpoint::close(self);
        }
        records
    }

    async fn append(&self, record: Vec<u8>) -> Result<(), Error> {
        self.write(record, false).await
    }

    async fn replace(&self, record: Vec<u8>) -> Result<(), Error> {
        self.write(record, true).await
    }

    /// One round trip before each cycle: is the fence still ours?
    async fn holds(&self) -> Result<(), Error> {
        let (keys, generation) = self.held()?;
        let fence: Option<i64> = self
            .run(&self.inner.fence, &[&keys.fence], &[], "check its lease")
            .await?;
        match fence {
            Some(fence) if fence == generation => Ok(()),
            Some(_) => Err(self.taken_over()),
            None => Err(self.vanished()),
        }
    }

    /// Stops renewing and, while the runtime runs, hands the lease over at
    /// once (else it lapses after the lease).
    fn close(&self) {
        let Some(lease) = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        lease.renewal.abort();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let this = self.clone();
            runtime.spawn(async move {
                let _: Result<i64, Error> = this
                    .run(
                        &this.inner.hand_over,
                        &[&lease.keys.lease],
                        &[lease.generation.to_string().as_bytes()],
                        "hand its lease over",
                    )
                    .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_user_name_or_password_shows() {
        for url in [
            "redis://alice:s3cret-pw@127.0.0.1:6379/2",
            "redis+unix:///run/redis.sock?user=alice&pass=s3cret-pw",
        ] {
            let checkpoint = RedisCheckpoint::new(url, "bot")
                .unwrap()
                .lease(Duration::from_secs(3));
            let shown = format!("{checkpoint:?}");
            assert!(
                !shown.contains("s3cret-pw") && !shown.contains("alice"),
                "{shown}"
            );
            for part in ["RedisCheckpoint", "redis", "\"bot\"", "3s"] {
                assert!(shown.contains(part), "{part} in {shown}");
            }
            let error = checkpoint.unavailable("save", "AUTH failed for alice: s3cret-pw");
            let shown = format!("{error} {error:?}");
            assert!(
                !shown.contains("s3cret-pw") && !shown.contains("alice"),
                "{shown}"
            );
            assert!(
                error
                    .to_string()
                    .ends_with("cannot save: AUTH failed for <redacted>: <redacted>"),
                "{error}"
            );
        }
        let error = RedisCheckpoint::new("redis://:s3cret-pw@[::1", "bot").unwrap_err();
        assert!(!error.to_string().contains("s3cret-pw"), "{error}");
    }

    #[test]
    fn keys_of_one_follower_share_a_hash_tag() {
        let checkpoint = RedisCheckpoint::new("redis://127.0.0.1/", "bot-eu")
            .unwrap()
            .key_prefix("p");
        let keys = checkpoint.keys(BusinessId::from(42));
        for key in [&keys.lease, &keys.generation, &keys.fence, &keys.records] {
            assert!(key.starts_with("p:follow:{bot-eu:42}:"), "{key}");
        }
    }
}
