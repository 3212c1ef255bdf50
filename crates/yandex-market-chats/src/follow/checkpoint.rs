//! Where a follower keeps its place: a small trait, an in-memory and a file
//! implementation, and the state they hold (JSON, versioned).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Keeps a follower's state between runs: what it has delivered, so that a
/// new stream continues where the last one stopped.
///
/// The state is opaque bytes (JSON) that the follower writes and checks; an
/// implementation only stores them. `save` must be durable when it returns
/// and replace the previous state whole (never a half-written one). One
/// follower per checkpoint: two streams saving to the same place overwrite
/// each other.
///
/// ```
/// use yandex_market_chats::Error;
/// use yandex_market_chats::follow::Checkpoint;
///
/// /// Keeps the state in a database row, say.
/// struct Row(Option<Vec<u8>>);
///
/// impl Checkpoint for Row {
///     fn load(&mut self) -> Result<Option<Vec<u8>>, Error> {
///         Ok(self.0.clone())
///     }
///     fn save(&mut self, state: &[u8]) -> Result<(), Error> {
///         self.0 = Some(state.to_vec());
///         Ok(())
///     }
/// }
/// ```
pub trait Checkpoint: Send + 'static {
    /// The saved state; `None` when there is none yet (a fresh start).
    ///
    /// # Errors
    /// When the state cannot be read ([`Error::Checkpoint`]).
    fn load(&mut self) -> Result<Option<Vec<u8>>, Error>;

    /// Replaces the saved state with `state`, durably.
    ///
    /// # Errors
    /// When it cannot be written ([`Error::Checkpoint`]).
    fn save(&mut self, state: &[u8]) -> Result<(), Error>;
}

/// The default checkpoint: in memory, so a new stream from the same
/// [`FollowQuery`](super::FollowQuery) starts afresh.
#[derive(Clone, Debug, Default)]
pub struct MemoryCheckpoint {
    state: Option<Vec<u8>>,
}

impl MemoryCheckpoint {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Checkpoint for MemoryCheckpoint {
    fn load(&mut self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.state.clone())
    }

    fn save(&mut self, state: &[u8]) -> Result<(), Error> {
        self.state = Some(state.to_vec());
        Ok(())
    }
}

/// A checkpoint in a file, written atomically: a temporary file beside it,
/// `fsync`, rename, `fsync` of the folder. A missing file is a fresh start;
/// a file that is not a follower's state is an error, never a silent
/// restart from scratch.
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
}

impl FileCheckpoint {
    /// A checkpoint at `path`. Does no I/O.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, what: &str, error: std::io::Error) -> Error {
        Error::Checkpoint {
            message: format!("cannot {what} {}: {error}", self.path.display()),
        }
    }
}

impl Checkpoint for FileCheckpoint {
    fn load(&mut self) -> Result<Option<Vec<u8>>, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error("read", e)),
        }
    }

    fn save(&mut self, state: &[u8]) -> Result<(), Error> {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkpoint".to_owned());
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(state)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            // The rename itself is durable once the folder is synced.
            if let Ok(folder) = std::fs::File::open(dir) {
                let _ = folder.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            self.error("write", e)
        })
    }
}

/// What identifies a follower's state, so a foreign file is refused.
const FORMAT: &str = "yandex-market-chats/follow";
const VERSION: u32 = 1;

/// A follower's place, as saved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    format: String,
    version: u32,
    pub business_id: u64,
    /// "From now": only what happens after this is delivered. `None`: from
    /// the beginning.
    pub start: Option<DateTime<FixedOffset>>,
    /// Whether the first listing was done (the first cycle's `NewChat`
    /// events are for chats created after `start` only).
    pub listed_once: bool,
    /// Every chat the follower knows, by id.
    pub chats: BTreeMap<u64, Mark>,
}

/// What the follower knows of one chat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// The status delivered last (wire form).
    pub status: String,
    /// `updatedAt` as of the last complete read of the chat.
    pub updated_at: DateTime<FixedOffset>,
    /// The last message delivered or passed over; `None` before the first
    /// read of its history.
    pub last_message_id: Option<u64>,
    /// Read again on the next cycle even if `updatedAt` stays the same: it
    /// changed within a second of the last read, and `updatedAt` has
    /// one-second resolution.
    #[serde(default)]
    pub recheck: bool,
}

impl State {
    pub(crate) fn new(business_id: u64, start: Option<DateTime<FixedOffset>>) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            business_id,
            start,
            listed_once: false,
            chats: BTreeMap::new(),
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
        if value.get("version").and_then(serde_json::Value::as_u64) != Some(u64::from(VERSION)) {
            return Err(refuse(format!("a version other than {VERSION}")));
        }
        let state: Self =
            serde_json::from_value(value).map_err(|e| refuse(format!("corrupt ({e})")))?;
        if state.business_id != business_id {
            return Err(refuse(format!(
                "it belongs to business {}, not {business_id}",
                state.business_id
            )));
        }
        Ok(state)
    }
}
