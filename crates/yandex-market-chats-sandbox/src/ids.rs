//! Where the ids of new messages start (see
//! [`SandboxConfig::first_message_id`]): by default past every id an earlier
//! run could have issued, so that state a program keeps between runs (a
//! follower's cursor, say) never meets an id twice.
//!
//! [`SandboxConfig::first_message_id`]: crate::SandboxConfig::first_message_id

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

/// The default base: this plus the milliseconds since [`EPOCH`].
const BASE: u64 = 1_000_000_000;
/// 2025-01-01T00:00:00Z, in Unix milliseconds.
const EPOCH_MS: i64 = 1_735_689_600_000;

/// The largest id issued so far by this process's sandboxes that number by
/// the default rule; sandboxes started in the same millisecond would
/// otherwise share a base.
static ISSUED: AtomicU64 = AtomicU64::new(0);

/// Where new message ids start. `configured` is
/// [`SandboxConfig::first_message_id`](crate::SandboxConfig::first_message_id);
/// `seeded_next` is the first id past the seeded messages.
pub(crate) fn first(configured: Option<u64>, seeded_next: u64, now: DateTime<Utc>) -> u64 {
    if let Some(id) = configured {
        return id;
    }
    let since_epoch = u64::try_from(now.timestamp_millis() - EPOCH_MS).unwrap_or(0);
    (BASE + since_epoch)
        .max(seeded_next)
        .max(ISSUED.load(Ordering::Relaxed) + 1)
}

/// Notes an id issued by a sandbox numbering by the default rule.
pub(crate) fn issued(id: u64) {
    ISSUED.fetch_max(id, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_base_grows_with_the_start_time() {
        let at = |rfc3339: &str| DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc();
        // Well past anything this process issued in other tests.
        let a = first(None, 700_500, at("2030-01-01T00:00:00Z"));
        let b = first(None, 700_500, at("2030-01-01T00:00:01Z"));
        assert_eq!(b - a, 1_000);
        assert_eq!(first(Some(5), 700_500, at("2030-01-01T00:00:00Z")), 5);
        issued(b + 10_000);
        assert_eq!(first(None, 700_500, at("2030-01-01T00:00:00Z")), b + 10_001);
        // Never below the seeded ids.
        assert!(first(None, u64::MAX / 2, at("2025-01-01T00:00:00Z")) >= u64::MAX / 2);
    }
}
