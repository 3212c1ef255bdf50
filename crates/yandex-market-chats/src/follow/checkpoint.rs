//! Where a follower keeps its place: an async trait (type-erased inside the
//! follower, like the limiter), an in-memory and a file implementation.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use super::file_store::{self, FileLock};
use crate::Error;

/// Keeps a follower's state between streams and runs: what it has
/// delivered, so that a new stream continues where the last one stopped.
///
/// The state is opaque bytes (versioned JSON) that the follower writes and
/// checks; an implementation only stores them. A checkpoint serves one
/// stream at a time: [`open`](Checkpoint::open) claims it (and fails while
/// another stream holds it), [`close`](Checkpoint::close) gives it back.
/// `save` must be durable when it resolves and replace the previous state
/// whole (never a half-written one).
///
/// ```
/// use std::sync::Mutex;
///
/// use yandex_market_chats::Error;
/// use yandex_market_chats::follow::Checkpoint;
///
/// /// Keeps the state in a database row, say.
/// #[derive(Default)]
/// struct Row {
///     row: Mutex<Option<Vec<u8>>>,
/// }
///
/// impl Checkpoint for Row {
///     async fn open(&self) -> Result<Option<Vec<u8>>, Error> {
///         Ok(self.row.lock().unwrap().clone())
///     }
///     async fn save(&self, state: Vec<u8>) -> Result<(), Error> {
///         *self.row.lock().unwrap() = Some(state);
///         Ok(())
///     }
///     fn close(&self) {}
/// }
/// ```
pub trait Checkpoint: Send + Sync + 'static {
    /// Claims the checkpoint for one stream and reads the saved state;
    /// `None` when there is none yet (a fresh start).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when another stream holds it, or when the
    /// state cannot be read.
    fn open(&self) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Replaces the saved state with `state`, durably.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when it cannot be written.
    fn save(&self, state: Vec<u8>) -> impl Future<Output = Result<(), Error>> + Send;

    /// Gives the claim back (the stream was dropped). Must not block.
    fn close(&self);
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Checkpoint`] with its futures boxed, so a follower can hold any one.
pub(crate) trait DynCheckpoint: Send + Sync {
    fn open(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>>;
    fn save(&self, state: Vec<u8>) -> BoxFuture<'_, Result<(), Error>>;
    fn close(&self);
}

impl<C: Checkpoint> DynCheckpoint for C {
    fn open(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        Box::pin(Checkpoint::open(self))
    }
    fn save(&self, state: Vec<u8>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(Checkpoint::save(self, state))
    }
    fn close(&self) {
        Checkpoint::close(self);
    }
}

pub(crate) type SharedCheckpoint = Arc<dyn DynCheckpoint>;

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
    state: Option<Vec<u8>>,
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
    async fn open(&self) -> Result<Option<Vec<u8>>, Error> {
        let mut memory = self.lock();
        if memory.claimed {
            return Err(in_use("this in-memory checkpoint"));
        }
        memory.claimed = true;
        Ok(memory.state.clone())
    }

    async fn save(&self, state: Vec<u8>) -> Result<(), Error> {
        self.lock().state = Some(state);
        Ok(())
    }

    fn close(&self) {
        self.lock().claimed = false;
    }
}

/// A checkpoint in a file, written atomically and off the async threads: a
/// temporary file beside it (a fresh unpredictable name, created new, mode
/// 0600), `fsync`, rename, `fsync` of the folder. A missing file is a fresh
/// start; a file that is not a follower's state is an error, never a silent
/// restart from scratch.
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
}

impl FileCheckpoint {
    /// A checkpoint at `path`. Does no I/O.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Arc::default(),
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
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
    async fn open(&self) -> Result<Option<Vec<u8>>, Error> {
        if self
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Err(in_use(&self.path.display().to_string()));
        }
        let path = self.path.clone();
        let (lock, state) = blocking(move || {
            let lock = FileLock::try_acquire(&path)?;
            Ok((lock, file_store::read(&path)?))
        })
        .await?;
        let mut held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_some() {
            return Err(in_use(&self.path.display().to_string()));
        }
        *held = Some(Arc::new(lock));
        Ok(state)
    }

    async fn save(&self, state: Vec<u8>) -> Result<(), Error> {
        let path = self.path.clone();
        let lock = self
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        blocking(move || {
            let written = file_store::write_atomically(&path, &state);
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
