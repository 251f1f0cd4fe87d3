//! What the CLI's tests share: a session in a fresh directory (its state, its
//! per-user config home) that runs `convox` as a terminal would, the example
//! app's convox.yml, and command lines written as one string.

// Tests fail loudly on unexpected input: unwrapping is how they say so.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use convox_aws::{AwsBackend, AwsBackendBuilder};
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

/// A fresh, empty directory under the system's temporary one, named after
/// the test binary's `prefix` and `name`.
pub fn fresh_dir(prefix: &str, name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("convox-{prefix}-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A convox.yml holding `text`, in a fresh directory of its own (named after
/// the test binary); its path.
pub fn temp_file(text: &str) -> String {
    let path = fresh_dir(env!("CARGO_CRATE_NAME"), "yml").join("convox.yml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs `convox ARGS…` in `env`; returns (exit code, stdout, stderr).
pub fn convox_in(env: &Environment, args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("convox").chain(args.iter().copied());
    let code = run_in(env, argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Runs `convox ARGS…` in a fresh directory of its own (named after the test
/// binary), removed after; returns (exit code, stdout, stderr).
pub fn convox(args: &[&str]) -> (i32, String, String) {
    let dir = fresh_dir(env!("CARGO_CRATE_NAME"), "run");
    let result = convox_in(&env_in(&dir), args);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `convox check FILE -r r -a a WORDS…`: the convox.yml `file` on a rack and
/// an app that ask nothing of it.
pub fn check_plain(file: &str, tail: &str) -> (i32, String, String) {
    convox(&argv(&["check", file, "-r", "r", "-a", "a"], tail))
}

/// Runs a command that must succeed in `env`; returns (stdout, stderr).
pub fn ok_in(env: &Environment, args: &[&str]) -> (String, String) {
    let (code, out, err) = convox_in(env, args);
    assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    (out, err)
}

/// A command line's words, as a shell splits `line` at white space.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `head` as given (a path may hold a space), then the words of `tail`.
pub fn argv<'a>(head: &[&'a str], tail: &'a str) -> Vec<&'a str> {
    head.iter().copied().chain(words(tail)).collect()
}

/// A rack name unique to this run (the process and the clock), starting with
/// `prefix`: the emulator's account outlives a test run.
pub fn unique_rack(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{}x{}", std::process::id(), nanos % 100_000)
}

/// The global flags that point `convox` at the AWS emulator at `endpoint`,
/// with the rack's certificate authority in the file `ca`.
pub fn on_aws<'a>(endpoint: &'a str, ca: &'a str) -> [&'a str; 6] {
    ["--backend", "aws", "--endpoint-url", endpoint, "--ca", ca]
}

/// A runtime and the AWS backend on the emulator at `endpoint`: what a test
/// does at the console, beside the command line.
pub fn aws_on(endpoint: &str) -> (tokio::runtime::Runtime, AwsBackend) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let aws = rt
        .block_on(
            AwsBackendBuilder::from_env()
                .with_endpoint_url(endpoint)
                .build(),
        )
        .unwrap();
    (rt, aws)
}

/// The emulator's default VPC, found the way a user would.
pub fn default_vpc(rt: &tokio::runtime::Runtime, aws: &AwsBackend) -> String {
    rt.block_on(aws.default_vpc())
        .unwrap()
        .expect("moto has a default VPC")
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
        Session {
            dir: fresh_dir(prefix, name),
        }
    }

    /// A fresh directory holding the example app's convox.yml.
    pub fn project(prefix: &str, name: &str) -> Self {
        let s = Session::new(prefix, name);
        std::fs::copy(backend_yml(), s.dir.join("convox.yml")).unwrap();
        s
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
        let argv: Vec<&str> = ["--state", state.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let env = vars
            .iter()
            .fold(env_in(&self.dir), |env, (k, v)| env.with_var(k, v));
        convox_in(&env, &argv)
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(&[], args)
    }

    /// [`Session::ok`] with more environment variables (`CONVOX_NOW`, say).
    pub fn ok_with(&self, vars: &[(&str, &str)], args: &[&str]) -> String {
        self.ok_both_with(vars, args).0
    }

    /// Runs a command that must succeed; returns its stdout and stderr.
    pub fn ok_both(&self, args: &[&str]) -> (String, String) {
        self.ok_both_with(&[], args)
    }

    /// [`Session::ok_both`] with more environment variables.
    pub fn ok_both_with(&self, vars: &[(&str, &str)], args: &[&str]) -> (String, String) {
        let (code, out, err) = self.convox_with(vars, args);
        assert_eq!(code, 0, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        (out, err)
    }

    /// Runs a command that must be refused (exit 1); returns its stderr.
    pub fn refused(&self, args: &[&str]) -> String {
        let (code, out, err) = self.convox(args);
        assert_eq!(code, 1, "convox {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        err
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
