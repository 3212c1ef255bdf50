//! A follower's place, as a checkpoint stores it: records of JSON, a
//! snapshot of the whole state followed by deltas (what each save changed),
//! versioned, checked against the business it belongs to; and how the
//! state stays bounded (pruning quiet chats behind a floor).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::judge::{Change, Item};
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
    /// Whether a full listing was done. Nothing decides on it any more
    /// ([`State::last_full_sweep`] says more); kept so that a file stays
    /// readable by the versions that required it.
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
    /// Chats without a mark whose `updatedAt` is before this (server time)
    /// have nothing to deliver: quiet chats pruned from `chats` (see
    /// [`State::prune`]). Never below `start`.
    #[serde(default)]
    pub floor: Option<DateTime<Utc>>,
    /// When the last complete full listing started (server time): every
    /// chat updated before it (less the listing's lag) was judged.
    #[serde(default)]
    pub last_full_sweep: Option<DateTime<Utc>>,
}

/// How long a quiet chat keeps its mark: after that, a status change
/// without a message is no longer an event for it (a message still is).
pub(crate) const RETENTION: TimeDelta = TimeDelta::days(30);
/// How far behind the history the listing may lag, for pruning: a chat is
/// pruned only if its last change was this long before a complete listing.
pub(crate) const LAG_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// A delta record: the header as it is now, the marks set and removed.
#[derive(Serialize)]
struct Delta<'a> {
    delta: &'a State,
    set: BTreeMap<u64, &'a Mark>,
    del: Vec<u64>,
}

#[derive(Deserialize)]
struct DeltaOwned {
    delta: State,
    #[serde(default)]
    set: BTreeMap<u64, Mark>,
    #[serde(default)]
    del: Vec<u64>,
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
            floor: None,
            last_full_sweep: None,
        }
    }

    /// Where chats without a mark start counting (server time): the
    /// later of the start point and the floor; `None` from the beginning.
    pub(crate) fn floor(&self) -> Option<DateTime<Utc>> {
        match (self.start.map(|s| s.to_utc()), self.floor) {
            (Some(start), Some(floor)) => Some(start.max(floor)),
            (start, floor) => start.or(floor),
        }
    }

    /// A delta record: the header and the marks of `changed` chats (a
    /// chat no longer in the state is removed).
    pub(crate) fn delta(&mut self, changed: &BTreeSet<u64>) -> Vec<u8> {
        let chats = std::mem::take(&mut self.chats);
        let mut set = BTreeMap::new();
        let mut del = Vec::new();
        for id in changed {
            match chats.get(id) {
                Some(mark) => {
                    set.insert(*id, mark);
                }
                None => del.push(*id),
            }
        }
        let record = serde_json::to_vec(&Delta {
            delta: self,
            set,
            del,
        })
        .expect("the state is plain data");
        self.chats = chats;
        record
    }

    /// Forgets chats quiet since well before both `now - RETENTION` and
    /// the last complete listing, and raises the floor to match, so they
    /// stay "nothing to deliver" without a mark. Returns how many went.
    ///
    /// Safe because a message written before the floor was visible to
    /// that complete listing (allowing `LAG_MARGIN` for the listing's lag),
    /// which gave its chat a mark at least as recent; so no chat without a
    /// mark holds an undelivered message from before the floor.
    pub(crate) fn prune(&mut self, now: DateTime<Utc>) -> usize {
        let Some(swept) = self.last_full_sweep else {
            return 0;
        };
        let candidate = (now - RETENTION).min(swept - LAG_MARGIN);
        // From the beginning there is no floor yet: the first prune sets one.
        if self.floor().is_some_and(|floor| candidate <= floor) {
            return 0;
        }
        let before = self.chats.len();
        self.chats
            .retain(|_, mark| mark.recheck || mark.updated_at.to_utc() >= candidate);
        self.floor = Some(candidate);
        before - self.chats.len()
    }

    /// The state the records hold: a snapshot, then deltas in order. A
    /// record that is not this follower's is refused.
    pub(crate) fn from_records(
        records: &[Vec<u8>],
        business_id: u64,
    ) -> Result<Option<Self>, Error> {
        let Some((first, deltas)) = records.split_first() else {
            return Ok(None);
        };
        let mut state = Self::from_bytes(first, business_id)?;
        for record in deltas {
            let delta: DeltaOwned =
                serde_json::from_slice(record).map_err(|e| Error::Checkpoint {
                    message: format!("the checkpoint holds a corrupt record ({e})"),
                })?;
            let header = Self::checked(delta.delta, business_id)?;
            let chats = std::mem::take(&mut state.chats);
            state = Self { chats, ..header };
            for id in delta.del {
                state.chats.remove(&id);
            }
            state.chats.extend(delta.set);
        }
        Ok(Some(state))
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
        let state: Self =
            serde_json::from_value(value).map_err(|e| refuse(format!("corrupt ({e})")))?;
        Self::checked(state, business_id)
    }

    fn checked(mut state: Self, business_id: u64) -> Result<Self, Error> {
        if state.format != FORMAT {
            return Err(Error::Checkpoint {
                message: format!(
                    "the checkpoint is not this follower's state: no `format: {FORMAT:?}`"
                ),
            });
        }
        if state.business_id != business_id {
            return Err(Error::Checkpoint {
                message: format!(
                    "the checkpoint is not this follower's state: it belongs to business {}, not {business_id}",
                    state.business_id
                ),
            });
        }
        state.version = VERSION;
        Ok(state)
    }
}

/// Deltas grow until they outweigh the snapshot (at least this much), then
/// the next save is a snapshot: saving costs what changed, amortized.
pub(crate) const MIN_LOG_BYTES: usize = 64 * 1024;

/// What a save writes: one record after the others, or one record
/// instead of them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Append(Vec<u8>),
    Replace(Vec<u8>),
}

/// What was saved so far, to decide what the next save writes.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    /// Chats whose mark changed since the last save.
    changed: BTreeSet<u64>,
    /// Bytes of the last snapshot (0: none yet), and of the deltas since.
    snapshot_bytes: usize,
    log_bytes: usize,
}

impl Journal {
    /// The journal of loaded records.
    pub(crate) fn loaded(records: &[Vec<u8>]) -> Self {
        Self {
            changed: BTreeSet::new(),
            snapshot_bytes: records.first().map_or(0, Vec::len),
            log_bytes: records.iter().skip(1).map(Vec::len).sum(),
        }
    }

    /// A chat's mark changed.
    pub(crate) fn touch(&mut self, chat_id: u64) {
        self.changed.insert(chat_id);
    }

    /// Takes an item's change into `state`, noting what the next save must
    /// carry.
    pub(crate) fn apply(&mut self, state: &mut State, item: &Item) {
        match &item.change {
            Some(Change::Set(id, mark)) => {
                state.chats.insert(*id, mark.clone());
                self.touch(*id);
            }
            Some(Change::Remove(id)) => {
                state.chats.remove(id);
                self.touch(*id);
            }
            Some(Change::FullSweep(at)) => {
                state.last_full_sweep = Some(*at);
                state.listed_once = true;
            }
            Some(Change::Started) | None => {}
        }
    }

    /// What to save now (`now` is the server's time): what changed since
    /// the last save, or, once the deltas outweigh the snapshot (or when
    /// `compact`), a new snapshot, pruned.
    pub(crate) fn record(
        &mut self,
        state: &mut State,
        now: DateTime<Utc>,
        compact: bool,
    ) -> Record {
        let due =
            self.snapshot_bytes == 0 || self.log_bytes > self.snapshot_bytes.max(MIN_LOG_BYTES);
        if compact || due {
            // A snapshot holds every change.
            self.changed.clear();
            let pruned = state.prune(now);
            tracing::debug!(pruned, "the follower's state compacted; quiet chats pruned");
            let snapshot = state.to_bytes();
            self.snapshot_bytes = snapshot.len();
            self.log_bytes = 0;
            Record::Replace(snapshot)
        } else {
            let delta = state.delta(&self.changed);
            self.changed.clear();
            self.log_bytes += delta.len();
            Record::Append(delta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn mark(updated_at: &str, recheck: bool) -> Mark {
        Mark {
            status: "NEW".to_owned(),
            updated_at: DateTime::parse_from_rfc3339(updated_at).unwrap(),
            last_message_id: Some(1),
            recheck,
            status_changes: 0,
        }
    }

    fn item(change: Change) -> Item {
        Item {
            event: None,
            change: Some(change),
        }
    }

    #[test]
    fn the_floor_is_the_later_of_the_start_and_the_pruning_floor() {
        let mut state = State::new(1, true);
        assert_eq!(state.floor(), None);
        state.floor = Some(at("2026-01-02T00:00:00Z"));
        assert_eq!(state.floor(), Some(at("2026-01-02T00:00:00Z")));
        state.start = Some(DateTime::parse_from_rfc3339("2026-01-03T00:00:00+03:00").unwrap());
        assert_eq!(state.floor(), Some(at("2026-01-02T21:00:00Z")));
        state.floor = Some(at("2026-01-04T00:00:00Z"));
        assert_eq!(state.floor(), Some(at("2026-01-04T00:00:00Z")));
        state.floor = None;
        assert_eq!(state.floor(), Some(at("2026-01-02T21:00:00Z")));
    }

    #[test]
    fn pruning_forgets_quiet_chats_behind_both_the_retention_and_the_last_full_listing() {
        let mut state = State::new(1, true);
        state.chats.insert(1, mark("2026-01-01T00:00:00Z", false));
        state.chats.insert(2, mark("2026-01-01T00:00:00Z", true));
        state.chats.insert(3, mark("2026-03-01T00:00:00Z", false));
        let now = at("2026-03-10T00:00:00Z");
        // No complete listing yet: nothing is known to be quiet.
        assert_eq!(state.prune(now), 0);
        assert_eq!(state.chats.len(), 3);

        // A listing long ago bounds the floor by its start less the lag.
        state.last_full_sweep = Some(at("2025-12-31T23:00:00Z"));
        assert_eq!(state.prune(now), 0, "the chats changed after that listing");
        assert_eq!(state.floor, Some(at("2025-12-31T22:55:00Z")));

        state.last_full_sweep = Some(at("2026-03-09T00:00:00Z"));
        assert_eq!(state.prune(now), 1);
        // A chat waiting for a recheck keeps its mark; the recent one too.
        assert_eq!(state.chats.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(state.floor, Some(now - RETENTION));
        // Once there, the floor never goes back.
        assert_eq!(state.prune(now - TimeDelta::days(1)), 0);
        assert_eq!(state.floor, Some(now - RETENTION));
    }

    #[test]
    fn pruning_never_goes_below_the_start() {
        let mut state = State::new(1, false);
        state.start = Some(DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap());
        state.last_full_sweep = Some(at("2026-03-09T00:00:00Z"));
        state.chats.insert(1, mark("2026-01-01T00:00:00Z", false));
        // Thirty days before now is before the start: nothing to gain.
        assert_eq!(state.prune(at("2026-03-10T00:00:00Z")), 0);
        assert_eq!(state.floor, None);
        assert_eq!(state.chats.len(), 1);
    }

    #[test]
    fn snapshots_and_deltas_read_back_as_the_state() {
        let mut state = State::new(5, false);
        state.chats.insert(1, mark("2026-01-01T00:00:00Z", false));
        state.chats.insert(2, mark("2026-01-02T00:00:00Z", false));
        let snapshot = state.to_bytes();
        state.chats.insert(3, mark("2026-01-03T00:00:00Z", true));
        state.chats.remove(&1);
        state.listed_once = true;
        let delta = state.delta(&BTreeSet::from([1, 3]));
        // Only what changed is in it, and the state is whole after.
        let text = String::from_utf8(delta.clone()).unwrap();
        assert!(!text.contains("2026-01-02"), "{text}");
        assert_eq!(state.chats.len(), 2);
        let read = State::from_records(&[snapshot, delta], 5).unwrap().unwrap();
        assert_eq!(read, state);
        assert_eq!(State::from_records(&[], 5).unwrap(), None);
    }

    #[test]
    fn records_of_another_follower_or_version_are_refused_with_the_reason() {
        let state = State::new(5, true);
        let snapshot = state.to_bytes();
        let error = |records: &[Vec<u8>]| State::from_records(records, 5).unwrap_err().to_string();
        assert!(error(&[b"{".to_vec()]).contains("not JSON"));
        assert!(error(&[br#"{"format": "other"}"#.to_vec()]).contains("no `format"));
        let other = String::from_utf8(snapshot.clone()).unwrap();
        let v3 = other.replace("\"version\":2", "\"version\":3");
        assert!(error(&[v3.into_bytes()]).contains("format version 3"));
        let none = other.replace("\"version\":2,", "");
        assert!(error(&[none.into_bytes()]).contains("version (none)"));
        let v1 = other.replace("\"version\":2", "\"version\":1");
        let read = State::from_records(&[v1.into_bytes()], 5).unwrap().unwrap();
        assert_eq!(read, state, "version 1 is read and becomes the current one");
        let corrupt = other.replace("\"listed_once\":false", "\"listed_once\":7");
        assert!(error(&[corrupt.into_bytes()]).contains("corrupt"));
        assert!(
            State::from_records(std::slice::from_ref(&snapshot), 6)
                .unwrap_err()
                .to_string()
                .contains("belongs to business 5, not 6")
        );
        // A delta of another business, or of nothing, too.
        let mut foreign = State::new(6, true);
        let delta = foreign.delta(&BTreeSet::new());
        assert!(error(&[snapshot.clone(), delta]).contains("business 6"));
        assert!(error(&[snapshot.clone(), b"[]".to_vec()]).contains("corrupt record"));
        let mut header = State::new(5, true);
        header.format = "other".to_owned();
        let delta = header.delta(&BTreeSet::new());
        assert!(error(&[snapshot, delta]).contains("no `format"));
    }

    #[test]
    fn the_journal_appends_what_changed_and_snapshots_once_deltas_outweigh_it() {
        let mut state = State::new(5, true);
        let mut journal = Journal::default();
        let now = at("2026-03-10T00:00:00Z");
        let Record::Replace(first) = journal.record(&mut state, now, false) else {
            panic!("the first save is a snapshot");
        };
        let mut records = vec![first];
        journal.apply(
            &mut state,
            &item(Change::Set(9, mark("2026-03-09T00:00:00Z", false))),
        );
        journal.apply(&mut state, &item(Change::FullSweep(now)));
        journal.apply(&mut state, &item(Change::Started));
        assert!(state.listed_once);
        assert_eq!(state.last_full_sweep, Some(now));
        let Record::Append(delta) = journal.record(&mut state, now, false) else {
            panic!("a change is a delta");
        };
        assert!(String::from_utf8(delta.clone()).unwrap().contains("\"9\""));
        records.push(delta);
        journal.apply(&mut state, &item(Change::Remove(9)));
        let Record::Append(delta) = journal.record(&mut state, now, false) else {
            panic!("a removal is a delta");
        };
        assert!(
            String::from_utf8(delta.clone())
                .unwrap()
                .contains("\"del\":[9]")
        );
        records.push(delta);
        assert_eq!(State::from_records(&records, 5).unwrap().unwrap(), state);
        // Nothing changed: a delta without marks.
        let Record::Append(delta) = journal.record(&mut state, now, false) else {
            panic!("a delta");
        };
        assert!(
            String::from_utf8(delta)
                .unwrap()
                .contains("\"set\":{},\"del\":[]")
        );
        assert!(matches!(
            journal.record(&mut state, now, true),
            Record::Replace(_)
        ));

        // From a fresh snapshot, deltas pile up until they outweigh
        // MIN_LOG_BYTES, then a snapshot.
        let mut journal = Journal::default();
        journal.record(&mut state, now, false);
        let mut appended = 0;
        while let Record::Append(delta) = journal.record(&mut state, now, false) {
            appended += delta.len();
            assert!(appended <= MIN_LOG_BYTES + delta.len(), "{appended}");
        }
        assert!(appended > MIN_LOG_BYTES, "{appended}");

        // Loaded from records, deltas continue until they outweigh
        // MIN_LOG_BYTES (the snapshot is smaller).
        let loaded = vec![vec![b'x'; 100], vec![b'y'; MIN_LOG_BYTES]];
        let mut journal = Journal::loaded(&loaded);
        assert!(matches!(
            journal.record(&mut state, now, false),
            Record::Append(_)
        ));
        assert!(matches!(
            journal.record(&mut state, now, false),
            Record::Replace(_)
        ));
        // ... or the snapshot, when that is larger.
        let loaded = vec![vec![b'x'; MIN_LOG_BYTES * 2], vec![b'y'; MIN_LOG_BYTES * 2]];
        let mut journal = Journal::loaded(&loaded);
        assert!(matches!(
            journal.record(&mut state, now, false),
            Record::Append(_)
        ));
        assert!(matches!(
            journal.record(&mut state, now, false),
            Record::Replace(_)
        ));
        let loaded = vec![
            vec![b'x'; MIN_LOG_BYTES * 2],
            vec![b'y'; MIN_LOG_BYTES * 2 - 200],
        ];
        let mut journal = Journal::loaded(&loaded);
        assert!(matches!(
            journal.record(&mut state, now, false),
            Record::Append(_)
        ));
        // A snapshot prunes.
        state.chats.insert(1, mark("2025-01-01T00:00:00Z", false));
        let later = now + TimeDelta::days(1);
        state.last_full_sweep = Some(later);
        journal.record(&mut state, later, true);
        assert!(state.chats.is_empty());
    }
}
