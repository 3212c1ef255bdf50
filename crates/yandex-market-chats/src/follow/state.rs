//! A follower's place, as a checkpoint stores it: JSON, versioned, checked
//! against the business it belongs to.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// What identifies a follower's state, so a foreign file is refused.
const FORMAT: &str = "yandex-market-chats/follow";
/// 2: times are the server's (its `Date`), status changes are counted,
/// pacing survives restarts. Version 1 states are read (their missing
/// fields take defaults; their start point was this host's clock, which
/// the margin of `start` absorbs up to the host's skew).
const VERSION: u32 = 2;
const READABLE: [u32; 2] = [1, 2];

/// A follower's place, as saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    format: String,
    version: u32,
    pub business_id: u64,
    /// "From now": only what happens at or after this server time is
    /// delivered. `None`: from the beginning.
    pub start: Option<DateTime<FixedOffset>>,
    /// Whether a start point "from now" is still to be taken from the
    /// server's clock (a fresh state before its first answer).
    #[serde(default)]
    pub start_pending: bool,
    /// Whether the first listing was done.
    pub listed_once: bool,
    /// Every chat the follower knows, by id.
    pub chats: BTreeMap<u64, Mark>,
    /// Per operation (its name): the server time until which the
    /// follower's share of the quota is spent, so a restart waits too.
    #[serde(default)]
    pub paused_until: BTreeMap<String, DateTime<Utc>>,
    /// The server's clock minus this host's, as last measured (ms), so a
    /// restarted follower reads `paused_until` before its first answer.
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
}

/// What the follower knows of one chat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// The status delivered last (wire form).
    pub status: String,
    /// The latest of the chat's listed `updatedAt` and its newest message
    /// read, as of the last complete read.
    pub updated_at: DateTime<FixedOffset>,
    /// The last message delivered or passed over; `None` before the first
    /// read of its history.
    pub last_message_id: Option<u64>,
    /// Read again once two seconds past `updatedAt` (server time) even if
    /// `updatedAt` stays the same: the last read came within two seconds of
    /// it, and `updatedAt` has one-second resolution, so a message written
    /// later in that second would not move it.
    #[serde(default)]
    pub recheck: bool,
    /// How many status changes were delivered for this chat: part of their
    /// dedup keys, so two different changes never share one.
    #[serde(default)]
    pub status_changes: u64,
}

impl State {
    pub(crate) fn new(business_id: u64, from_beginning: bool) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            business_id,
            start: None,
            start_pending: !from_beginning,
            listed_once: false,
            chats: BTreeMap::new(),
            paused_until: BTreeMap::new(),
            clock_offset_ms: None,
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the state is plain data")
    }

    /// Reads a saved state, refusing anything that is not a follower's
    /// state for `business_id`.
    pub(crate) fn from_bytes(bytes: &[u8], business_id: u64) -> Result<Self, Error> {
        let refuse = |why: String| Error::Checkpoint {
            message: format!("the checkpoint is not this follower's state: {why}"),
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| refuse(format!("not JSON ({e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(refuse(format!("no `format: {FORMAT:?}`")));
        }
        let version = value.get("version").and_then(serde_json::Value::as_u64);
        if !version.is_some_and(|v| READABLE.iter().any(|r| u64::from(*r) == v)) {
            return Err(Error::Checkpoint {
                message: format!(
                    "the checkpoint's format version {} is not one this version reads \
                     ({READABLE:?}); it was written by another version of yandex-market-chats",
                    version.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
                ),
            });
        }
        let mut state: Self =
            serde_json::from_value(value).map_err(|e| refuse(format!("corrupt ({e})")))?;
        if state.business_id != business_id {
            return Err(refuse(format!(
                "it belongs to business {}, not {business_id}",
                state.business_id
            )));
        }
        state.version = VERSION;
        Ok(state)
    }
}
