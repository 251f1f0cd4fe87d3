//! What the CLI's tests share: a session in a fresh directory (its state, its
//! per-user config home) that runs `convox` as a terminal would, and the
//! example app's convox.yml.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use convox_examples::{Environment, run_in};
use serde_json::Value;

/// The example app's convox.yml.
pub fn backend_yml() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("backend/convox.yml")
        .display()
        .to_string()
}

/// `dir` as the working directory, with `dir/config` as the per-user config
/// home (where the rack's CA goes) and no `CONVOX_*` variables.
pub fn env_in(dir: &Path) -> Environment {
    let config = dir.join("config");
    Environment::in_dir(dir).with_var("XDG_CONFIG_HOME", config.to_str().unwrap())
}

/// A terminal session: a fresh directory holding the state and the CA,
/// removed at the end.
pub struct Session {
    /// The session's directory.
    pub dir: PathBuf,
}

impl Session {
    /// A fresh directory named after the test binary's `prefix` and `name`.
    pub fn new(prefix: &str, name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("convox-{prefix}-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Session { dir }
    }

    /// The mock's state file.
    pub fn state(&self) -> PathBuf {
        self.dir.join(".convox/state.json")
    }

    /// Runs `convox --state … ARGS…` in the session's directory; returns
    /// (exit code, stdout, stderr).
    pub fn convox(&self, args: &[&str]) -> (i32, String, String) {
        self.convox_with(&[], args)
    }

    /// [`Session::convox`] with more environment variables.
    pub fn convox_with(&self, vars: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let state = self.state().display().to_string();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let argv = ["convox", "--state", state.as_str()]
            .into_iter()
            .chain(args.iter().copied());
        let env = vars
            .iter()
            .fold(env_in(&self.dir), |env, (k, v)| env.with_var(k, v));
        let code = run_in(&env, argv, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(&[], args)
    }

    /// [`Session::ok`] with more environment variables (`CONVOX_NOW`, say).
    pub fn ok_with(&self, vars: &[(&str, &str)], args: &[&str]) -> String {
        let (code, out, err) = self.convox_with(vars, args);
        assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    /// The mock's state, as JSON.
    pub fn read_state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state()).unwrap()).unwrap()
    }

    /// Replaces the mock's state, as someone with console access would.
    pub fn write_state(&self, state: &Value) {
        std::fs::write(self.state(), serde_json::to_string_pretty(state).unwrap()).unwrap();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
