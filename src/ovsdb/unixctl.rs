//! The OVS daemons' control socket (`ovs-appctl`): JSON-RPC 1.0 over a unix socket, the same
//! framing and messages as OVSDB, so the sans-I/O core serves both.
//!
//! Only read commands can be sent: [`Command`] lists them, so no code path can flush a table
//! or change a setting the way `ovs-appctl` can.

use super::proto::framing::{Framer, DEFAULT_MAX_MESSAGE};
use super::proto::message::Message;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The read-only commands ovnscope asks a daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `dpctl/dump-conntrack -s`: the datapath's connection-tracking entries, with timeouts.
    DumpConntrack,
}

impl Command {
    fn method_and_params(self) -> (&'static str, Vec<Value>) {
        match self {
            Command::DumpConntrack => ("dpctl/dump-conntrack", vec![json!("-s")]),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {path}: {io}; is the daemon running (ovs-vswitchd), and may this user open its control socket?")]
    Connect { path: PathBuf, io: std::io::Error },
    #[error("{path}: {what}")]
    Io { path: PathBuf, what: String },
    #[error("{path} answered {method} with an error: {error}")]
    Daemon { path: PathBuf, method: String, error: String },
    #[error("{path} did not answer {method} within {secs} s")]
    Timeout { path: PathBuf, method: String, secs: u64 },
}

/// Sends one read command to the control socket at `path`; the daemon's text answer.
pub async fn call(path: &Path, cmd: Command, timeout: Duration) -> Result<String, Error> {
    let (method, params) = cmd.method_and_params();
    let io = |what: String| Error::Io {
        path: path.to_path_buf(),
        what,
    };
    let work = async {
        let mut s = tokio::net::UnixStream::connect(path).await.map_err(|e| Error::Connect {
            path: path.to_path_buf(),
            io: e,
        })?;
        let req = json!({"method": method, "params": params, "id": 0});
        s.write_all(req.to_string().as_bytes()).await.map_err(|e| io(e.to_string()))?;
        let mut framer = Framer::new(DEFAULT_MAX_MESSAGE);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(v) = framer.next_message().map_err(|e| io(format!("malformed reply: {e}")))? {
                return match Message::from_value(v).map_err(|e| io(format!("invalid reply: {}", e.reason)))? {
                    Message::Reply { result, .. } => match result {
                        Value::String(text) => Ok(text),
                        other => Err(io(format!("{method} answered {other}, not text"))),
                    },
                    Message::Error { error, .. } => Err(Error::Daemon {
                        path: path.to_path_buf(),
                        method: method.into(),
                        error: error.as_str().map(str::to_string).unwrap_or_else(|| error.to_string()),
                    }),
                    other => Err(io(format!("unexpected message {other:?}"))),
                };
            }
            let n = s.read(&mut buf).await.map_err(|e| io(e.to_string()))?;
            if n == 0 {
                return Err(io(format!("closed the connection before answering {method}")));
            }
            framer.feed(&buf[..n]);
        }
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| Error::Timeout {
        path: path.to_path_buf(),
        method: method.into(),
        secs: timeout.as_secs(),
    })?
}

/// The control socket of `daemon` in `rundir`, as `ovs-appctl -t DAEMON` finds it: the
/// `DAEMON.<pid>.ctl` named by the pidfile.
pub fn socket_in(rundir: &Path, daemon: &str) -> Result<PathBuf, Error> {
    let pidfile = rundir.join(format!("{daemon}.pid"));
    let pid = std::fs::read_to_string(&pidfile).map_err(|e| Error::Io {
        path: pidfile.clone(),
        what: format!("cannot read the pidfile ({e}); give the control socket with --unixctl PATH"),
    })?;
    Ok(rundir.join(format!("{daemon}.{}.ctl", pid.trim())))
}
