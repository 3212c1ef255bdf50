//! Where a follower keeps its place: an async trait (type-erased inside the
//! follower, like the limiter), an in-memory and a file implementation.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use super::file_store::{self, FileLock, TailRepair};
use crate::{BusinessId, Error};

/// Keeps a follower's state between streams and runs: what it has
/// delivered, so that a new stream continues where the last one stopped.
///
/// The state is a list of opaque records (versioned JSON) that the follower
/// writes and checks; an implementation only stores them, in order. After
/// each event taken, the follower [appends](Checkpoint::append) one small
/// record with what changed; now and then it [replaces](Checkpoint::replace)
/// them all with one record of the whole state (a compaction), so a save
/// costs what changed, not the size of the state.
///
/// A checkpoint serves one stream at a time: [`open`](Checkpoint::open)
/// claims it for one business's follower (and fails, or waits, while
/// another stream holds it) and returns the records; [`close`](Checkpoint::close) gives it back. `append` and
/// `replace` must be durable when they resolve; `replace` must be atomic
/// (the old records or the new one, never a mix). A record whose append
/// was cut short by a crash may be left out by `open`: its event comes
/// again.
///
/// ```
/// use std::sync::Mutex;
///
/// use yandex_market_chats::follow::Checkpoint;
/// use yandex_market_chats::{BusinessId, Error};
///
/// /// Keeps the records in a database table, say.
/// #[derive(Default)]
/// struct Table {
///     rows: Mutex<Vec<Vec<u8>>>,
/// }
///
/// impl Checkpoint for Table {
///     async fn open(&self, _business_id: BusinessId) -> Result<Vec<Vec<u8>>, Error> {
///         Ok(self.rows.lock().unwrap().clone())
///     }
///     async fn append(&self, record: Vec<u8>) -> Result<(), Error> {
///         self.rows.lock().unwrap().push(record);
///         Ok(())
///     }
///     async fn replace(&self, record: Vec<u8>) -> Result<(), Error> {
///         *self.rows.lock().unwrap() = vec![record];
///         Ok(())
///     }
///     fn close(&self) {}
/// }
/// ```
pub trait Checkpoint: Send + Sync + 'static {
    /// Claims the checkpoint for one stream following `business_id` and
    /// reads the saved records in order; none for a fresh start. (A store
    /// shared by several businesses keys its records by it; the records
    /// themselves are checked against it too.)
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when another stream holds it, or when the
    /// records cannot be read.
    fn open(
        &self,
        business_id: BusinessId,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, Error>> + Send;

    /// Adds `record` after the others, durably.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it cannot be written.
    fn append(&self, record: Vec<u8>) -> impl Future<Output = Result<(), Error>> + Send;

    /// Replaces every record with `record`, atomically and durably.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it cannot be written.
    fn replace(&self, record: Vec<u8>) -> impl Future<Output = Result<(), Error>> + Send;

    /// Whether this stream still holds the claim, checked before each
    /// cycle: a store shared by replicas says no once another took over,
    /// and the stream ends before it calls the API. By default, always.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the claim was lost.
    fn holds(&self) -> impl Future<Output = Result<(), Error>> + Send {
        std::future::ready(Ok(()))
    }

    /// Gives the claim back (the stream was dropped). Must not block.
    fn close(&self);
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Checkpoint`] with its futures boxed, so a follower can hold any one.
pub(crate) trait DynCheckpoint: Send + Sync {
    fn open(&self, business_id: BusinessId) -> BoxFuture<'_, Result<Vec<Vec<u8>>, Error>>;
    fn append(&self, record: Vec<u8>) -> BoxFuture<'_, Result<(), Error>>;
    fn replace(&self, record: Vec<u8>) -> BoxFuture<'_, Result<(), Error>>;
    fn holds(&self) -> BoxFuture<'_, Result<(), Error>>;
    fn close(&self);
}

impl<C: Checkpoint> DynCheckpoint for C {
    fn open(&self, business_id: BusinessId) -> BoxFuture<'_, Result<Vec<Vec<u8>>, Error>> {
        Box::pin(Checkpoint::open(self, business_id))
    }
    fn append(&self, record: Vec<u8>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Checkpoint::append(self, record))
    }
    fn replace(&self, record: Vec<u8>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Checkpoint::replace(self, record))
    }
    fn holds(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Checkpoint::holds(self))
    }
    fn close(&self) {
        Checkpoint::close(self);
    }
}

pub(crate) type SharedCheckpoint = Arc<dyn DynCheckpoint>;

pub(crate) use super::state::Record;

impl Record {
    /// Writes it to `checkpoint`.
    pub(crate) async fn write(self, checkpoint: &dyn DynCheckpoint) -> Result<(), Error> {
        match self {
            Self::Append(bytes) => checkpoint.append(bytes).await,
            Self::Replace(bytes) => checkpoint.replace(bytes).await,
        }
    }
}

/// The error of a checkpoint another stream holds.
fn in_use(what: &str) -> Error {
    Error::Checkpoint {
        message: format!(
            "{what} is in use by another follower stream; one stream per checkpoint \
             (drop the first stream, or give each its own checkpoint)"
        ),
    }
}

/// The default checkpoint: in memory. Clones share it, so a new stream from
/// the same [`FollowQuery`](super::FollowQuery) (or a clone) continues where
/// the last one stopped, once that one is dropped.
#[derive(Clone, Debug, Default)]
pub struct MemoryCheckpoint {
    inner: Arc<Mutex<Memory>>,
}

#[derive(Debug, Default)]
struct Memory {
    records: Vec<Vec<u8>>,
    claimed: bool,
}

impl MemoryCheckpoint {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Checkpoint for MemoryCheckpoint {
    async fn open(&self, _business_id: BusinessId) -> Result<Vec<Vec<u8>>, Error> {
        let mut memory = self.lock();
        if memory.claimed {
            return Err(in_use("this in-memory checkpoint"));
        }
        memory.claimed = true;
        Ok(memory.records.clone())
    }

    async fn append(&self, record: Vec<u8>) -> Result<(), Error> {
        self.lock().records.push(record);
        Ok(())
    }

    async fn replace(&self, record: Vec<u8>) -> Result<(), Error> {
        self.lock().records = vec![record];
        Ok(())
    }

    fn close(&self) {
        self.lock().claimed = false;
    }
}

/// A checkpoint in a file, written off the async threads: one record per
/// line. An append adds a line and syncs it (`fdatasync`); a replace (a
/// compaction) writes a temporary file beside it (a fresh unpredictable
/// name, created new, mode 0600), `fsync`, rename, `fsync` of the folder. A
/// last line cut short by a crash is left out (its event comes again). A
/// missing file is a fresh start; a file that is not a follower's state is
/// an error, never a silent restart from scratch. A checkpoint file written
/// by the previous version (one JSON document) is read.
///
/// One stream at a time: while a stream uses it, an OS lock on
/// `<path>.lock` makes a second stream (in this process or another) fail
/// with [`Error::Checkpoint`].
///
/// ```
/// use yandex_market_chats::follow::FileCheckpoint;
///
/// let checkpoint = FileCheckpoint::new("chats.state"); // no I/O yet
/// # let _ = checkpoint;
/// ```
#[derive(Clone, Debug)]
pub struct FileCheckpoint {
    path: PathBuf,
    /// Held while a stream uses the file; a save in flight holds a clone,
    /// so the lock outlives a dropped stream until its last write lands.
    lock: Arc<Mutex<Option<Arc<FileLock>>>>,
    /// What the file's end needs before the next append.
    repair: Arc<Mutex<Option<TailRepair>>>,
}

impl FileCheckpoint {
    /// A checkpoint at `path`. Does no I/O.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Arc::default(),
            repair: Arc::default(),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock this stream holds, for a write to keep until it lands.
    fn held(&self) -> Option<Arc<FileLock>> {
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(Error::Checkpoint {
            message: format!("the checkpoint's file task failed: {e}"),
        })
    })
}

impl Checkpoint for FileCheckpoint {
    async fn open(&self, _business_id: BusinessId) -> Result<Vec<Vec<u8>>, Error> {
        if self
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Err(in_use(&self.path.display().to_string()));
        }
        let path = self.path.clone();
        let (lock, state, repair) = blocking(move || {
            let lock = FileLock::try_acquire(&path)?;
            let (records, repair) = match file_store::read(&path)? {
                Some(bytes) => (
                    file_store::records(&path, &bytes)?,
                    file_store::tail_repair(&bytes),
                ),
                None => (Vec::new(), None),
            };
            Ok((lock, records, repair))
        })
        .await?;
        let mut held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_some() {
            return Err(in_use(&self.path.display().to_string()));
        }
        *held = Some(Arc::new(lock));
        *self.repair.lock().unwrap_or_else(PoisonError::into_inner) = repair;
        Ok(state)
    }

    async fn append(&self, record: Vec<u8>) -> Result<(), Error> {
        let path = self.path.clone();
        let lock = self.held();
        let repair = self
            .repair
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        blocking(move || {
            if let Some(repair) = repair {
                file_store::repair_tail(&path, repair)?;
            }
            let written = file_store::append_line(&path, &record);
            drop(lock);
            written
        })
        .await
    }

    async fn replace(&self, mut record: Vec<u8>) -> Result<(), Error> {
        let path = self.path.clone();
        let lock = self.held();
        // A whole new file: nothing to mend.
        self.repair
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        record.push(b'\n');
        blocking(move || {
            let written = file_store::write_atomically(&path, &record);
            drop(lock);
            written
        })
        .await
    }

    fn close(&self) {
        self.lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

#[cfg(test)]
mod tests {
    use super::super::file_store::tests::Scratch;
    use super::*;

    fn bytes(records: &[&str]) -> Vec<Vec<u8>> {
        records.iter().map(|r| r.as_bytes().to_vec()).collect()
    }

    /// What every checkpoint promises, through the follower's boxed view:
    /// one stream at a time, appends after what was there, a replace
    /// instead of everything, all of it back at the next open.
    async fn keeps_records(checkpoint: &dyn DynCheckpoint, second: &dyn DynCheckpoint) {
        let business = BusinessId::from(1u64);
        assert!(checkpoint.open(business).await.unwrap().is_empty());
        let refused = second.open(business).await.unwrap_err().to_string();
        assert!(refused.contains("another follower stream"), "{refused}");
        checkpoint.holds().await.unwrap();
        Record::Append(b"a".to_vec())
            .write(checkpoint)
            .await
            .unwrap();
        Record::Append(b"b".to_vec())
            .write(checkpoint)
            .await
            .unwrap();
        checkpoint.close();
        assert_eq!(second.open(business).await.unwrap(), bytes(&["a", "b"]));
        Record::Replace(b"c".to_vec()).write(second).await.unwrap();
        second.append(b"d".to_vec()).await.unwrap();
        second.close();
        assert_eq!(checkpoint.open(business).await.unwrap(), bytes(&["c", "d"]));
        checkpoint.replace(b"e".to_vec()).await.unwrap();
        checkpoint.close();
        assert_eq!(second.open(business).await.unwrap(), bytes(&["e"]));
        second.close();
    }

    #[tokio::test]
    async fn a_memory_checkpoint_keeps_records_and_its_clones_share_it() {
        let checkpoint = MemoryCheckpoint::new();
        keeps_records(&checkpoint, &checkpoint.clone()).await;
    }

    #[tokio::test]
    async fn a_file_checkpoint_keeps_records_one_stream_at_a_time() {
        let scratch = Scratch::new("checkpoint");
        let path = scratch.path("chats.state");
        let checkpoint = FileCheckpoint::new(&path);
        assert_eq!(checkpoint.path(), path);
        // Another handle on the same file stands for another process.
        keeps_records(&checkpoint, &FileCheckpoint::new(&path)).await;
        assert_eq!(std::fs::read(&path).unwrap(), b"e\n");
        // A clone is the same checkpoint: in use while the first holds it.
        Checkpoint::open(&checkpoint, BusinessId::from(1u64))
            .await
            .unwrap();
        // What a write keeps until it lands is the lock this stream holds.
        let held = checkpoint.held().expect("held while open");
        assert!(Arc::ptr_eq(
            &held,
            checkpoint.lock.lock().unwrap().as_ref().unwrap()
        ));
        assert!(
            Checkpoint::open(&checkpoint.clone(), BusinessId::from(1u64))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_torn_line_is_cut_before_the_next_append_and_an_old_file_gets_its_newline() {
        let scratch = Scratch::new("checkpoint-tail");
        let business = BusinessId::from(1u64);
        for (before, records, after) in [
            ("aaaa\nb\ntorn", &["aaaa", "b"][..], "aaaa\nb\nc\n"),
            ("{\"old\":1}", &["{\"old\":1}"][..], "{\"old\":1}\nc\n"),
            ("a\n", &["a"][..], "a\nc\n"),
        ] {
            let path = scratch.path("tail.state");
            std::fs::write(&path, before).unwrap();
            let checkpoint = FileCheckpoint::new(&path);
            assert_eq!(
                Checkpoint::open(&checkpoint, business).await.unwrap(),
                bytes(records)
            );
            // Opening alone changes nothing.
            assert_eq!(std::fs::read(&path).unwrap(), before.as_bytes());
            Checkpoint::append(&checkpoint, b"c".to_vec())
                .await
                .unwrap();
            Checkpoint::append(&checkpoint, b"d".to_vec())
                .await
                .unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                format!("{after}d\n").as_bytes()
            );
            Checkpoint::close(&checkpoint);
        }
        // After a replace there is nothing left to mend.
        let path = scratch.path("replaced.state");
        std::fs::write(&path, "aaaaaaaa\ntorn").unwrap();
        let checkpoint = FileCheckpoint::new(&path);
        Checkpoint::open(&checkpoint, business).await.unwrap();
        Checkpoint::replace(&checkpoint, b"c".to_vec())
            .await
            .unwrap();
        Checkpoint::append(&checkpoint, b"d".to_vec())
            .await
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"c\nd\n");
    }
}
