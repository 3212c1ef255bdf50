//! The file operations behind a checkpoint in a file: an exclusive lock held
//! while a follower stream lives, reading, and replacing the file atomically
//! and durably. Synchronous (std only): the follower calls them from
//! `spawn_blocking`.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::Error;

/// How many names a write tries for its temporary file before giving up.
/// Random 64-bit names collide only when someone planted files there.
const TEMPORARY_ATTEMPTS: usize = 8;

/// An exclusive claim on a checkpoint file, held while a follower stream
/// lives: an OS lock (`File::try_lock`, `flock` on Unix, `LockFileEx` on
/// Windows) on the sidecar file `<path>.lock` (created 0600 if missing, never
/// removed: removing a lock file races with another stream opening it).
/// Dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
}

impl FileLock {
    /// Takes the lock of the checkpoint at `path`. Fails at once (no
    /// waiting) when another stream, in this process or another, holds it.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when another follower stream holds it, or the
    /// lock file cannot be opened or locked.
    pub(crate) fn try_acquire(path: &Path) -> Result<FileLock, Error> {
        let lock_path = lock_path(path);
        let error = |e: io::Error| Error::Checkpoint {
            message: format!(
                "cannot lock {} ({}): {e}",
                path.display(),
                lock_path.display()
            ),
        };
        // Never truncated, never written: only locked. A symlink planted
        // there is followed by the open, but nothing is written through it.
        let file = private(OpenOptions::new().read(true).write(true).create(true))
            .truncate(false)
            .open(&lock_path)
            .map_err(error)?;
        match file.try_lock() {
            Ok(()) => Ok(FileLock { file }),
            Err(TryLockError::WouldBlock) => Err(Error::Checkpoint {
                message: format!(
                    "cannot use {}: another follower stream (in this process or another) uses it; \
                     one follower per checkpoint (its lock is {})",
                    path.display(),
                    lock_path.display()
                ),
            }),
            Err(TryLockError::Error(e)) => Err(error(e)),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases it too; unlocking first also releases it
        // when the descriptor was duplicated (a fork, say).
        let _ = self.file.unlock();
    }
}

/// `<path>.lock`, without a lossy conversion of the name.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Files this module creates are the owner's only (0600) on Unix.
fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Reads the file: `Ok(None)` when it does not exist.
///
/// # Errors
/// [`Error::Checkpoint`] when it exists but cannot be read.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Checkpoint {
            message: format!("cannot read {}: {e}", path.display()),
        }),
    }
}

/// Appends `record` and a newline to the file (created 0600 if missing),
/// and syncs the data: one small write per event.
pub(crate) fn append_line(path: &Path, record: &[u8]) -> Result<(), Error> {
    let append = || -> io::Result<()> {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        let mut line = Vec::with_capacity(record.len() + 1);
        line.extend_from_slice(record);
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_data()
    };
    append().map_err(|e| Error::Checkpoint {
        message: format!("cannot append to {}: {e}", path.display()),
    })
}

/// How a checkpoint file must be mended before the next append, so that
/// the append starts a line of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TailRepair {
    /// A file of the previous format (one document, no newline): add one.
    Newline,
    /// A torn last line: cut the file to this length.
    Truncate(u64),
}

/// What the file read as `bytes` needs before an append, if anything.
pub(crate) fn tail_repair(bytes: &[u8]) -> Option<TailRepair> {
    if bytes.last().is_none_or(|b| *b == b'\n') {
        return None;
    }
    Some(match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => TailRepair::Truncate(end as u64 + 1),
        None => TailRepair::Newline,
    })
}

/// Mends the file's end (see [`TailRepair`]); done before the first append,
/// never at open: a file that is not a follower's is left as it was.
pub(crate) fn repair_tail(path: &Path, repair: TailRepair) -> Result<(), Error> {
    let mend = || -> io::Result<()> {
        let file = match repair {
            TailRepair::Truncate(len) => {
                let file = OpenOptions::new().write(true).open(path)?;
                file.set_len(len)?;
                file
            }
            TailRepair::Newline => {
                let mut file = OpenOptions::new().append(true).open(path)?;
                file.write_all(b"\n")?;
                file
            }
        };
        file.sync_data()
    };
    mend().map_err(|e| Error::Checkpoint {
        message: format!("cannot repair the end of {}: {e}", path.display()),
    })
}

/// The records of a checkpoint file: one per line. A last line without its
/// newline was cut short by a crash and is left out, unless it is the
/// whole file (the previous version wrote one JSON document without one).
pub(crate) fn records(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // After a final newline, `split` yields an empty piece: nothing there.
    let tail = lines.pop().unwrap_or_default();
    let mut records: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    if !tail.is_empty() {
        if records.is_empty() {
            records.push(tail.to_vec());
        } else {
            tracing::warn!(
                path = %path.display(),
                "the checkpoint's last record was cut short (a crash during a save): left out"
            );
        }
    }
    if records.iter().any(Vec::is_empty) {
        return Err(Error::Checkpoint {
            message: format!(
                "{} holds an empty record: not a follower's checkpoint",
                path.display()
            ),
        });
    }
    Ok(records)
}

/// Replaces the file with `bytes` atomically and durably: a temporary file in
/// the same folder named `.{file name}.{16 random hex digits}.tmp`, created
/// with `create_new` (never follows or reuses an existing path; another name
/// on `AlreadyExists`, a few times) and mode 0600 on Unix, written,
/// `sync_all`, renamed over the target, then the folder synced (Unix only;
/// Windows cannot open a folder as a file). Any failure up to and including
/// the rename removes the temporary file and leaves the old file whole.
///
/// # Errors
/// [`Error::Checkpoint`] ("cannot write <path>: <why>"). After a failure of
/// the final folder sync the new contents are in place but may not survive
/// a power cut.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_with(
        path,
        bytes,
        || fastrand::u64(..),
        |file, bytes| file.write_all(bytes),
    )
}

/// [`write_atomically`] with the names of the temporary file (`random`, a
/// source of 64-bit numbers) and the writing of the bytes (`write`) given,
/// so that tests can make it collide or fail midway.
fn write_with(
    path: &Path,
    bytes: &[u8],
    random: impl FnMut() -> u64,
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<(), Error> {
    let error = |e: io::Error| Error::Checkpoint {
        message: format!("cannot write {}: {e}", path.display()),
    };
    let Some(name) = path.file_name() else {
        return Err(error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        )));
    };
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let (mut file, temporary) = create_temporary(folder, name, random).map_err(error)?;
    let replace = || -> io::Result<()> {
        write(&mut file, bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)
    };
    if let Err(e) = replace() {
        let _ = std::fs::remove_file(&temporary);
        return Err(error(e));
    }
    sync_folder(folder).map_err(|e| Error::Checkpoint {
        message: format!(
            "cannot write {}: syncing its folder {}: {e}",
            path.display(),
            folder.display()
        ),
    })
}

/// Creates `.{name}.{16 hex digits}.tmp` in `folder` with `create_new`
/// (`O_CREAT | O_EXCL`: an existing file or symlink there, even a dangling
/// one, is never opened), trying another name when one exists.
fn create_temporary(
    folder: &Path,
    name: &std::ffi::OsStr,
    mut random: impl FnMut() -> u64,
) -> io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..TEMPORARY_ATTEMPTS {
        let mut temporary = OsString::from(".");
        temporary.push(name);
        temporary.push(format!(".{:016x}.tmp", random()));
        let temporary = folder.join(temporary);
        match private(OpenOptions::new().write(true).create_new(true)).open(&temporary) {
            Ok(file) => return Ok((file, temporary)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    let e = last.expect("at least one attempt");
    Err(io::Error::new(
        e.kind(),
        format!("no free name for a temporary file after {TEMPORARY_ATTEMPTS} attempts ({e})"),
    ))
}

/// Makes a rename in `folder` durable.
#[cfg(unix)]
fn sync_folder(folder: &Path) -> io::Result<()> {
    tolerate_unsupported(File::open(folder)?.sync_all())
}

/// A file system that cannot sync a folder (some network and FUSE ones)
/// says so with these errors: nothing more can be done, so not an error.
#[cfg(unix)]
fn tolerate_unsupported(synced: io::Result<()>) -> io::Result<()> {
    match synced {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    use super::*;

    /// A fresh folder under the system's temporary folder, removed on drop.
    pub(in crate::follow) struct Scratch(PathBuf);

    impl Scratch {
        pub(in crate::follow) fn new(test: &str) -> Self {
            let folder = std::env::temp_dir().join(format!(
                "ymc-file-store-{test}-{}-{:016x}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir(&folder).unwrap();
            Self(folder)
        }

        pub(in crate::follow) fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// The names in the folder, sorted.
        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn checkpoint_message(result: Result<impl std::fmt::Debug, Error>) -> String {
        match result {
            Err(Error::Checkpoint { message }) => message,
            other => panic!("expected Error::Checkpoint, got {other:?}"),
        }
    }

    #[test]
    fn a_second_lock_fails_while_the_first_is_held() {
        let scratch = Scratch::new("second-lock");
        let path = scratch.path("chats.state");

        let first = FileLock::try_acquire(&path).unwrap();
        let message = checkpoint_message(FileLock::try_acquire(&path));
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("another follower stream"), "{message}");

        drop(first);
        let again = FileLock::try_acquire(&path).unwrap();
        drop(again);

        // The lock file stays (removing it would race), and is private.
        assert!(lock_path(&path).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(lock_path(&path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        }
        // Locking never creates or touches the checkpoint itself.
        assert!(!path.exists());
    }

    /// `flock` locks belong to an open file description, not to a process:
    /// two separate opens of the lock file in one process conflict exactly
    /// as two processes would. (`lock_holds_across_processes` checks a real
    /// second process too.)
    #[test]
    fn the_lock_holds_against_another_open_of_the_file() {
        let scratch = Scratch::new("other-open");
        let path = scratch.path("chats.state");

        let held = FileLock::try_acquire(&path).unwrap();
        let other = File::options().write(true).open(lock_path(&path)).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(held);
        other.try_lock().unwrap();

        checkpoint_message(FileLock::try_acquire(&path));
        drop(other);
        FileLock::try_acquire(&path).unwrap();
    }

    /// Set in the child process of `lock_holds_across_processes`: the
    /// checkpoint path it locks.
    const CHILD_PATH: &str = "YANDEX_MARKET_CHATS_FILE_STORE_LOCK_CHILD";
    /// What the child prints once it holds the lock.
    const CHILD_READY: &str = "file-store-child-holds-the-lock";

    /// Not a test on its own (it returns at once): the child process of
    /// `lock_holds_across_processes`, which runs this test binary again with
    /// only this test. Holds the lock until its stdin closes.
    #[test]
    #[ignore = "run by lock_holds_across_processes in a child process"]
    fn lock_holder_child() {
        let Some(path) = std::env::var_os(CHILD_PATH) else {
            return;
        };
        let lock = FileLock::try_acquire(Path::new(&path)).unwrap();
        println!("{CHILD_READY}");
        io::stdout().flush().unwrap();
        let mut rest = Vec::new();
        io::stdin().read_to_end(&mut rest).unwrap();
        drop(lock);
    }

    #[test]
    fn lock_holds_across_processes() {
        let scratch = Scratch::new("processes");
        let path = scratch.path("chats.state");
        let module = module_path!().split_once("::").unwrap().1;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg(format!("{module}::lock_holder_child"))
            .args(["--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_PATH, &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = stdout
            .by_ref()
            .map(Result::unwrap)
            .any(|line| line.contains(CHILD_READY));
        if !ready {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!(
                "the child never held the lock: {:?}\n{stderr}",
                child.wait()
            );
        }

        let message = checkpoint_message(FileLock::try_acquire(&path));
        assert!(message.contains("another follower stream"), "{message}");

        drop(stdin); // the child releases and exits
        stdout.for_each(drop);
        assert!(child.wait().unwrap().success());
        FileLock::try_acquire(&path).unwrap();
    }

    #[test]
    fn read_of_a_missing_file_is_none_and_a_write_reads_back() {
        let scratch = Scratch::new("round-trip");
        let path = scratch.path("chats.state");
        assert_eq!(read(&path).unwrap(), None);

        write_atomically(&path, b"first").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"first"[..]));
        write_atomically(&path, b"second, longer").unwrap();
        assert_eq!(
            read(&path).unwrap().as_deref(),
            Some(&b"second, longer"[..])
        );
        write_atomically(&path, b"").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b""[..]));

        assert_eq!(scratch.names(), ["chats.state"]);
        // Anything but a missing file is an error, never a fresh start.
        let error = read(&scratch.0).unwrap_err().to_string();
        assert!(error.contains("cannot read"), "{error}");
    }

    #[test]
    #[cfg(unix)]
    fn a_folder_is_synced_and_only_an_unsupported_sync_is_tolerated() {
        let scratch = Scratch::new("sync-folder");
        sync_folder(&scratch.0).unwrap();
        assert!(sync_folder(&scratch.path("missing")).is_err());
        for kind in [io::ErrorKind::InvalidInput, io::ErrorKind::Unsupported] {
            assert!(tolerate_unsupported(Err(kind.into())).is_ok(), "{kind:?}");
        }
        let failed = tolerate_unsupported(Err(io::Error::other("EIO")));
        assert_eq!(failed.unwrap_err().to_string(), "EIO");
        assert!(tolerate_unsupported(Ok(())).is_ok());
    }

    #[test]
    fn a_missing_folder_is_reported_as_such_not_retried_as_a_taken_name() {
        let scratch = Scratch::new("no-folder");
        let error = write_atomically(&scratch.path("missing/chats.state"), b"x")
            .unwrap_err()
            .to_string();
        assert!(error.contains("No such file"), "{error}");
        assert!(!error.contains("no free name"), "{error}");
    }

    #[test]
    fn dropping_the_lock_releases_it_even_with_a_duplicated_descriptor() {
        let scratch = Scratch::new("lock-dup");
        let path = scratch.path("chats.state");
        let lock = FileLock::try_acquire(&path).unwrap();
        // A duplicate (as a fork leaves) shares the lock.
        let duplicate = lock.file.try_clone().unwrap();
        drop(lock);
        FileLock::try_acquire(&path).expect("released by the drop");
        drop(duplicate);
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let error = checkpoint_message(write_atomically(Path::new("/"), b"x"));
        assert!(error.contains("does not name a file"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_never_followed_and_the_file_is_private() {
        use std::os::unix::fs::{PermissionsExt, symlink};

        let scratch = Scratch::new("symlink");
        let path = scratch.path("chats.state");
        let victim = scratch.path("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        // The old predictable name, and the first two names the write will try.
        let pid_name = scratch.path(&format!(".chats.state.{}.tmp", std::process::id()));
        symlink(&victim, &pid_name).unwrap();
        let taken = |n: u64| scratch.path(&format!(".chats.state.{n:016x}.tmp"));
        symlink(&victim, taken(1)).unwrap();
        symlink(scratch.path("nowhere"), taken(2)).unwrap(); // dangling

        let mut names = [1, 2, 3].into_iter();
        let mut seen_mode = None;
        write_with(
            &path,
            b"new",
            || names.next().unwrap(),
            |file, bytes| {
                seen_mode = Some(file.metadata()?.permissions().mode());
                file.write_all(bytes)
            },
        )
        .unwrap();

        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!scratch.path("nowhere").exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let mode = seen_mode.unwrap();
        assert_eq!(mode & 0o077, 0, "temporary file mode {mode:o}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "final file mode {mode:o}");
        // The planted links are left alone, and nothing else is left behind.
        for link in [&pid_name, &taken(1), &taken(2)] {
            assert!(
                std::fs::symlink_metadata(link)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
        assert_eq!(scratch.names().len(), 5, "{:?}", scratch.names());

        // Every name taken: an error, the old file whole, the victim too.
        let message = checkpoint_message(write_with(
            &path,
            b"newer",
            || 1,
            |file, bytes| file.write_all(bytes),
        ));
        assert!(message.contains("no free name"), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_write_failing_midway_leaves_the_old_file_whole() {
        let scratch = Scratch::new("midway");
        let path = scratch.path("chats.state");
        let old = br#"{"format":"yandex-market-chats/follow","version":1}"#;
        write_atomically(&path, old).unwrap();

        let message = checkpoint_message(write_with(
            &path,
            b"a new state, never completed",
            || fastrand::u64(..),
            |file, bytes| {
                file.write_all(&bytes[..bytes.len() / 2])?;
                Err(io::Error::other("disk full"))
            },
        ));
        assert!(
            message.starts_with(&format!("cannot write {}: ", path.display())),
            "{message}"
        );
        assert!(message.contains("disk full"), "{message}");

        assert_eq!(std::fs::read(&path).unwrap(), old);
        assert_eq!(scratch.names(), ["chats.state"]);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        let scratch = Scratch::new("rename");
        // A non-empty folder where the file should be: the rename fails.
        let path = scratch.path("chats.state");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"x").unwrap();

        checkpoint_message(write_atomically(&path, b"state"));
        assert_eq!(scratch.names(), ["chats.state"]);
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"x");
    }
}
