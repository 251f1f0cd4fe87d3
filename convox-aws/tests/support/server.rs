//! A moto server of a test's own, and moto's HTTP API on loopback.
//!
//! Most tests share the server `scripts/test.sh` starts, each in an account of
//! its own. A test that reads moto's request recorder cannot share: the recorder
//! is server-wide, and a download while other tests write to it can end in half a
//! line. Such a test starts its own server on a free loopback port, with its own
//! recording file, and stops it when the server value is dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::env::{SERVER_VAR, assert_loopback, required};

/// A running `moto_server` process, stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    child: Child,
    log: PathBuf,
    recording: PathBuf,
}

impl MotoServer {
    /// Starts the virtualenv's `moto_server` (`CONVOX_MOTO_SERVER`) on a free
    /// loopback port and waits until it answers. A port taken between choosing
    /// and binding it makes moto exit; then another port is tried.
    pub fn start(name: &str) -> MotoServer {
        MotoServer::start_with(name, &[])
    }

    /// [`MotoServer::start`], with `env` set for the server (such as
    /// `MOTO_ACM_VALIDATION_WAIT`, how long a requested certificate stays
    /// pending).
    pub fn start_with(name: &str, env: &[(&str, &str)]) -> MotoServer {
        let program = required(SERVER_VAR);
        let mut last = String::new();
        for _ in 0..3 {
            match MotoServer::try_start(&program, name, env) {
                Ok(server) => return server,
                Err(why) => last = why,
            }
        }
        panic!("moto_server ({program}) did not start: {last}");
    }

    fn try_start(program: &str, name: &str, env: &[(&str, &str)]) -> Result<MotoServer, String> {
        let port = free_port();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let stem = format!("moto-{name}-{}-{port}", std::process::id());
        let log = dir.join(format!("{stem}.log"));
        let recording = dir.join(format!("{stem}.recording"));
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        let mut server = MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            log,
            recording,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited ({status}): {}", server.log_text()));
            }
            if try_moto_api(&server.endpoint, "GET", "/moto-api/").is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("no answer within 30 s: {}", server.log_text()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(&self.recording);
    }
}

/// A port the kernel says is free on loopback now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A request to moto's own API on loopback, without an HTTP client crate: the
/// body of a 200 answer.
pub fn moto_api(endpoint: &str, method: &str, path: &str) -> String {
    try_moto_api(endpoint, method, path).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn try_moto_api(endpoint: &str, method: &str, path: &str) -> Result<String, String> {
    assert_loopback(endpoint);
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(host).map_err(|e| e.to_string())?;
    // HTTP/1.0: the answer is never chunked and ends when the server closes.
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let raw = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("answered {head}"));
    }
    Ok(body.to_string())
}
