//! JSON persistence: a [`MockBackend`]'s state saved to a file and read back, so
//! that a command-line session persists between processes.

use std::path::{Path, PathBuf};

use crate::mock::MockBackend;
use crate::state::State;

/// Why the mock's state could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("cannot access mock state file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is not mock state.
    #[error("mock state is not valid JSON of the expected shape")]
    Json(#[source] serde_json::Error),
}

impl MockBackend {
    /// The whole state as JSON (not the call counts or latency: they belong to
    /// one process).
    pub fn to_json(&self) -> Result<String, StateError> {
        self.with_state(|state| serde_json::to_string_pretty(state))
            .map_err(StateError::Json)
    }

    /// A backend holding the state in `json` (from [`MockBackend::to_json`]).
    pub fn from_json(json: &str) -> Result<Self, StateError> {
        serde_json::from_str(json)
            .map(Self::from_state)
            .map_err(StateError::Json)
    }

    /// Replaces this backend's state with the one in `json`.
    pub fn load_json(&self, json: &str) -> Result<(), StateError> {
        let state: State = serde_json::from_str(json).map_err(StateError::Json)?;
        self.with_state(|s| *s = state);
        Ok(())
    }

    /// A backend holding the state saved at `path`, or an empty one if there is
    /// no file there yet: the start of a command-line session.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(json) => Self::from_json(&json),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new()),
            Err(source) => Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Saves the state at `path`, replacing the file whole: written to a temp
    /// file of its own beside it, flushed to disk, then renamed over it, so that
    /// an interrupted save never leaves half a file and two saves never share a
    /// temp file. Does not lock: a process that reads, changes and saves the
    /// state holds a [`StateLock`] throughout ([`MockBackend::open_locked`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), StateError> {
        let path = path.as_ref();
        let json = self.to_json()?;
        replace(path, json.as_bytes()).map_err(|source| StateError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Locks the state file at `path` for this process (waiting while another
    /// holds it), then opens the state as [`MockBackend::open`] does: the start
    /// of a command-line session that may change it. Until the lock is dropped,
    /// no other process that locks the file reads or writes it, so that two
    /// sessions' read-modify-write never interleave and neither loses the
    /// other's changes.
    pub fn open_locked(path: impl AsRef<Path>) -> Result<(Self, StateLock), StateError> {
        let lock = StateLock::acquire(path.as_ref())?;
        let mock = Self::open(path)?;
        Ok((mock, lock))
    }
}

/// An exclusive advisory lock on a state file, held until dropped.
///
/// The lock is taken on a companion file, `{state}.lock`, never replaced: the
/// state file itself is replaced by every save, and a lock on a replaced file
/// would guard nothing. The operating system's advisory lock (`flock` on Unix,
/// `LockFileEx` on Windows) is released when the process ends, however it ends.
///
/// A state whose directory does not exist yet is not locked until it is first
/// saved, so that a command that fails before changing anything writes no
/// file at all; that first save then takes the lock and refuses if another
/// command created the state meanwhile (run again: it reads that state).
#[derive(Debug)]
pub struct StateLock {
    /// The lock file, once locked; the lock lives as long as it is open.
    file: std::sync::OnceLock<std::fs::File>,
    /// The state file it guards.
    path: PathBuf,
}

impl StateLock {
    /// Waits for and takes the lock on the state file at `path`; when its
    /// directory does not exist yet, nothing is created until the first save.
    pub fn acquire(path: &Path) -> Result<Self, StateError> {
        let lock = StateLock {
            file: std::sync::OnceLock::new(),
            path: path.to_path_buf(),
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_none_or(Path::exists) {
            lock.lock()?;
        }
        Ok(lock)
    }

    /// Takes the lock, creating the directory and the lock file if need be.
    fn lock(&self) -> Result<(), StateError> {
        if self.file.get().is_some() {
            return Ok(());
        }
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(name))
            .map_err(io)?;
        file.lock().map_err(io)?;
        let _ = self.file.set(file);
        Ok(())
    }

    /// The state file it guards.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves `mock`'s state to the guarded file ([`MockBackend::save`]),
    /// taking the lock first if the state did not exist when it was acquired.
    pub fn save(&self, mock: &MockBackend) -> Result<(), StateError> {
        if self.file.get().is_none() {
            self.lock()?;
            if self.path.exists() {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "another command created this state while this one ran; nothing was saved, run it again",
                    ),
                });
            }
        }
        mock.save(&self.path)
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first says so.
        if let Some(file) = self.file.get() {
            let _ = file.unlock();
        }
    }
}

/// Replaces `path` with `bytes`: a fresh temp file beside it (its name unique to
/// this process and call), synced, renamed over `path`, and the directory synced
/// so that the rename itself survives a crash.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}.{nanos}.{}.tmp",
        std::process::id(),
        SAVES.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
