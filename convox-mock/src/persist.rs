//! JSON persistence: a [`MockBackend`]'s state saved to a file and read back, so
//! that a command-line session persists between processes.

use std::path::{Path, PathBuf};

use crate::mock::MockBackend;
use crate::state::State;

/// Why the mock's state could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
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

    /// Saves the state at `path`, replacing the file whole (written beside it,
    /// then renamed) so that an interrupted save never leaves half a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), StateError> {
        let path = path.as_ref();
        let json = self.to_json()?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let io = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}
