//! What a save costs, for `cargo xtask bench follow`: the follower's state
//! with N chats in a [`FileCheckpoint`], then events taken one by one,
//! each saved as the stream saves it (a delta, or now and then a
//! snapshot). Not part of the API.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};

use super::checkpoint::{Checkpoint, FileCheckpoint};
use super::state::{Journal, Mark, Record, State};
use crate::{BusinessId, Error};

/// What saving cost, per event.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub struct SaveCost {
    /// Bytes written per event, compactions included.
    pub bytes_per_event: f64,
    /// The median time of one save (an append and its `fdatasync`).
    pub median: Duration,
    /// The mean time of one save, compactions included.
    pub mean: Duration,
    /// The size of a snapshot of the whole state.
    pub snapshot_bytes: usize,
}

/// Saves `events` events over a state of `chats` chats in a checkpoint file
/// under `dir`, and measures.
///
/// # Errors
/// When the file cannot be written.
#[doc(hidden)]
pub async fn measure_saves(chats: usize, events: usize, dir: &Path) -> Result<SaveCost, Error> {
    let checkpoint = FileCheckpoint::new(dir.join(format!("cost-{chats}.state")));
    let _ = std::fs::remove_file(checkpoint.path());
    let cost = measure_saves_in(&checkpoint, chats, events).await;
    let _ = std::fs::remove_file(checkpoint.path());
    cost
}

/// The same in any checkpoint (a fresh one: its records are replaced).
///
/// # Errors
/// When the checkpoint cannot be written.
#[doc(hidden)]
pub async fn measure_saves_in(
    checkpoint: &impl Checkpoint,
    chats: usize,
    events: usize,
) -> Result<SaveCost, Error> {
    let records = checkpoint.open(BusinessId::from(1)).await?;
    let mut journal = Journal::loaded(&records);
    let now = Utc::now();
    let mut state = State::new(1, false);
    state.start_pending = false;
    state.start = Some((now - TimeDelta::days(1)).fixed_offset());
    for id in 0..chats as u64 {
        state.chats.insert(
            10_000 + id,
            Mark {
                status: "WAITING_FOR_CUSTOMER".to_owned(),
                updated_at: (now - TimeDelta::hours(1)).fixed_offset(),
                last_message_id: Some(1_000_000 + id),
                recheck: false,
                status_changes: 0,
            },
        );
    }
    let snapshot = journal.record(&mut state, now, true);
    let snapshot_bytes = match &snapshot {
        Record::Replace(bytes) | Record::Append(bytes) => bytes.len(),
    };
    snapshot.write(checkpoint).await?;
    let mut written = 0usize;
    let mut times = Vec::with_capacity(events);
    let mut rng = fastrand::Rng::with_seed(chats as u64);
    for event in 0..events as u64 {
        // A buyer's message in a random chat, taken.
        let id = 10_000 + rng.u64(0..chats.max(1) as u64);
        if let Some(mark) = state.chats.get_mut(&id) {
            mark.last_message_id = Some(10_000_000 + event);
            mark.status = "WAITING_FOR_PARTNER".to_owned();
            mark.updated_at = now.fixed_offset();
        }
        journal.touch(id);
        let started = Instant::now();
        let record = journal.record(&mut state, now, false);
        written += match &record {
            Record::Replace(bytes) | Record::Append(bytes) => bytes.len() + 1,
        };
        record.write(checkpoint).await?;
        times.push(started.elapsed());
    }
    checkpoint.close();
    let mean = times.iter().sum::<Duration>() / u32::try_from(events.max(1)).unwrap_or(1);
    times.sort_unstable();
    Ok(SaveCost {
        bytes_per_event: written as f64 / events.max(1) as f64,
        median: times.get(times.len() / 2).copied().unwrap_or_default(),
        mean,
        snapshot_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::MemoryCheckpoint;
    use super::*;

    #[tokio::test]
    async fn the_figures_are_what_was_saved() {
        let checkpoint = MemoryCheckpoint::new();
        let began = Instant::now();
        let cost = measure_saves_in(&checkpoint, 30, 40).await.unwrap();
        let elapsed = began.elapsed();
        let records = checkpoint.open(BusinessId::from(1)).await.unwrap();
        // 30 chats of about 130 bytes: one snapshot, then 40 deltas.
        assert_eq!(records.len(), 41);
        assert_eq!(cost.snapshot_bytes, records[0].len());
        let written: usize = records[1..].iter().map(|r| r.len() + 1).sum();
        assert!((cost.bytes_per_event - written as f64 / 40.0).abs() < 1e-9);
        assert!(cost.median > Duration::ZERO && cost.mean > Duration::ZERO);
        assert!(cost.mean * 40 <= elapsed, "{:?} {elapsed:?}", cost.mean);

        // The state saved: the chats as set up, the events' marks on top.
        let state = State::from_records(&records, 1).unwrap().unwrap();
        let now = Utc::now();
        let start = state.start.unwrap().to_utc();
        assert!((start - (now - TimeDelta::days(1))).num_seconds().abs() < 60);
        let ids: Vec<u64> = state.chats.keys().copied().collect();
        assert_eq!(ids, (10_000..10_030).collect::<Vec<_>>());
        let mut taken = 0;
        for (id, mark) in &state.chats {
            let last = mark.last_message_id.unwrap();
            let age = now - mark.updated_at.to_utc();
            if last >= 10_000_000 {
                assert!((10_000_000..10_000_040).contains(&last), "{last}");
                assert_eq!(mark.status, "WAITING_FOR_PARTNER");
                assert!(age < TimeDelta::minutes(1), "{age}");
                taken += 1;
            } else {
                assert_eq!(last, 1_000_000 + id - 10_000);
                assert!(
                    (age - TimeDelta::hours(1)).num_seconds().abs() < 60,
                    "{age}"
                );
            }
        }
        assert!(taken > 5, "{taken}");
        // The last event's mark is the last written.
        assert!(
            state
                .chats
                .values()
                .any(|m| m.last_message_id == Some(10_000_039))
        );

        // One event: its save is the median.
        let cost = measure_saves_in(&MemoryCheckpoint::new(), 3, 1)
            .await
            .unwrap();
        assert!(cost.median > Duration::ZERO);
        assert_eq!(cost.median, cost.mean);
    }
}
