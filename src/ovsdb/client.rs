//! The async OVSDB client: a cloneable [`Client`] handle plus a [`Connection`] task that owns
//! the stream, in the manner of tokio-postgres.
//!
//! The connection matches replies to requests by id (so calls can run concurrently), answers
//! the server's `echo` probes itself, sends its own `echo` on idle TCP (ovsdb-server drops a
//! TCP client that stays silent for two probe intervals) and routes `update2`/`update3`
//! notifications to the monitor that asked for them. It works over any `AsyncRead +
//! AsyncWrite`, so unix, tcp and later TLS or a `kubectl exec` stream all share it.
//!
//! Read-only by construction: the only calls are `list_dbs`, `get_schema`, `echo`,
//! `monitor_cond`, `monitor_cancel` and `transact` built from [`Select`] operations with an
//! `abort` appended, so nothing can ever commit.

use super::error::{Error, Result};
use super::method::Method;
use super::proto::framing::{parse_frame, FrameError, FrameScanner, DEFAULT_MAX_MESSAGE};
use super::proto::message::Message;
use super::proto::schema::DatabaseSchema;
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder, Framed};

/// Any byte stream a connection can run over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why the codec stopped.
#[derive(Debug)]
pub enum CodecError {
    Io(std::io::Error),
    Frame(FrameError),
    /// End of stream inside a message.
    Truncated(usize),
}

impl From<std::io::Error> for CodecError {
    fn from(e: std::io::Error) -> Self {
        CodecError::Io(e)
    }
}

/// tokio-util codec over the sans-I/O [`FrameScanner`]: JSON values in, [`Message`]s out.
#[derive(Debug)]
pub struct OvsdbCodec {
    scanner: FrameScanner,
    /// Bytes of the last frame decoded and of the last message encoded (for the request log).
    last_in: usize,
    last_out: usize,
}

impl OvsdbCodec {
    pub fn new(max_message: usize) -> Self {
        OvsdbCodec {
            scanner: FrameScanner::new(max_message),
            last_in: 0,
            last_out: 0,
        }
    }
}

impl Decoder for OvsdbCodec {
    type Item = Value;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, CodecError> {
        let offset = self.scanner.stream_offset();
        match self.scanner.scan(src).map_err(CodecError::Frame)? {
            None => Ok(None),
            Some((skip, end)) => {
                let frame = src.split_to(end);
                self.last_in = end - skip;
                parse_frame(&frame[skip..], offset + skip as u64)
                    .map(Some)
                    .map_err(CodecError::Frame)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, CodecError> {
        match self.decode(src)? {
            Some(v) => Ok(Some(v)),
            None if src.iter().any(|b| !b.is_ascii_whitespace()) => Err(CodecError::Truncated(src.len())),
            None => Ok(None),
        }
    }
}

impl Encoder<Message> for OvsdbCodec {
    type Error = CodecError;
    fn encode(&mut self, item: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        let bytes = item.to_bytes();
        self.last_out = bytes.len();
        dst.extend_from_slice(&bytes);
        Ok(())
    }
}

/// Options for a connection.
#[derive(Debug, Clone)]
pub struct Options {
    /// Send our own `echo` after this much silence, and give up after twice as much.
    /// `None` = never (the OVS default for unix sockets).
    pub probe_interval: Option<Duration>,
    /// How long one call may wait for its reply.
    pub call_timeout: Duration,
    pub max_message: usize,
    /// Key, certificate and CA for `ssl:` methods.
    pub tls: super::tls::TlsFiles,
    /// One line per request on standard error when its reply arrives ([`request_line`]).
    pub log_requests: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            probe_interval: None,
            call_timeout: Duration::from_secs(120),
            max_message: DEFAULT_MAX_MESSAGE,
            tls: Default::default(),
            log_requests: false,
        }
    }
}

/// A change notification for one monitor: the `<table-updates2>` of an `update2` (or the third
/// parameter of an `update3`).
#[derive(Debug, Clone)]
pub struct Update {
    pub method: String,
    /// The transaction an `update3` ends at: what `monitor_cond_since` resumes from.
    pub txn: Option<String>,
    pub table_updates: Value,
}

/// The answer to `monitor_cond_since`.
pub struct Since {
    /// The updates are relative to the transaction asked for (else they are everything).
    pub found: bool,
    /// The transaction the updates end at.
    pub last_txn: String,
    pub updates: Value,
    pub monitor: Monitor,
}

/// The notifications of one monitor. Ends when the monitor is cancelled or the connection closes.
pub struct Monitor {
    pub id: String,
    rx: mpsc::UnboundedReceiver<Update>,
}

impl Monitor {
    /// The next update, or `None` once the monitor ended.
    pub async fn next(&mut self) -> Option<Update> {
        self.rx.recv().await
    }
    /// An update that is already waiting, without blocking.
    pub fn try_next(&mut self) -> Option<Update> {
        self.rx.try_recv().ok()
    }
}

struct Call {
    method: String,
    params: Vec<Value>,
    reply: oneshot::Sender<Result<Value>>,
    /// Registered before the request is written, so no update can race past it.
    monitor: Option<(String, mpsc::UnboundedSender<Update>)>,
}

/// A cloneable handle; every call goes to the [`Connection`] task.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::UnboundedSender<Call>,
    peer: Arc<str>,
    ended: Arc<Mutex<Option<String>>>,
    next_monitor: Arc<AtomicU64>,
    timeout: Duration,
}

/// The task that owns the stream. Spawn [`Connection::run`]; it ends when every [`Client`] is
/// dropped or the connection fails.
pub struct Connection<S> {
    framed: Framed<S, OvsdbCodec>,
    rx: mpsc::UnboundedReceiver<Call>,
    pending: HashMap<u64, (String, oneshot::Sender<Result<Value>>)>,
    monitors: HashMap<String, mpsc::UnboundedSender<Update>>,
    next_id: u64,
    peer: Arc<str>,
    ended: Arc<Mutex<Option<String>>>,
    probe: Option<Duration>,
    /// With [`Options::log_requests`]: per pending request, what it asked (method and tables),
    /// bytes sent, and when.
    log: Option<HashMap<u64, (String, usize, Instant)>>,
}

/// What a request asks, for the log: the method and the tables it names.
fn request_summary(method: &str, params: &[Value]) -> String {
    let tables: Vec<String> = match method {
        "transact" => params
            .iter()
            .skip(1)
            .filter_map(|op| {
                let t = op.get("table")?.as_str()?;
                let op = op.get("op")?.as_str()?;
                Some(if op == "select" { t.to_string() } else { format!("{op} {t}") })
            })
            .collect(),
        m if m.starts_with("monitor") && m != "monitor_cancel" => params
            .get(2)
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        _ => vec![],
    };
    let db = params.first().and_then(Value::as_str).filter(|_| method != "echo");
    let mut s = method.to_string();
    if let Some(db) = db {
        s += &format!(" {db}");
    }
    if !tables.is_empty() {
        s += &format!(" [{}]", tables.join(", "));
    }
    s
}

/// One line of the request log.
pub fn request_line(peer: &str, what: &str, sent: usize, received: usize, ms: f64, error: bool) -> String {
    format!(
        "ovnscope: ovsdb {peer}: {what}: {sent} B sent, {received} B received, {ms:.1} ms{}",
        if error { " (error)" } else { "" }
    )
}

/// Builds a client and its connection over an already-open stream.
pub fn over_stream<S: Stream>(stream: S, peer: &str, opts: &Options) -> (Client, Connection<S>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let peer: Arc<str> = Arc::from(peer);
    let ended = Arc::new(Mutex::new(None));
    let client = Client {
        tx,
        peer: peer.clone(),
        ended: ended.clone(),
        next_monitor: Arc::new(AtomicU64::new(0)),
        timeout: opts.call_timeout,
    };
    let conn = Connection {
        framed: Framed::new(stream, OvsdbCodec::new(opts.max_message)),
        rx,
        pending: HashMap::new(),
        monitors: HashMap::new(),
        next_id: 0,
        peer,
        ended,
        probe: opts.probe_interval,
        log: opts.log_requests.then(HashMap::new),
    };
    (client, conn)
}

fn connect_hint(m: &Method, e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match (m, e.kind()) {
        (Method::Unix(_), NotFound) => {
            "\n  hint: no such socket. Is ovsdb-server running, and is this its path? Give the right one with --ovs-db/--nb-db/--sb-db unix:PATH (for the lab: eval \"$(lab/ovnlab env)\")".into()
        }
        (_, PermissionDenied) => "\n  hint: permission denied; run as root or as a user that may open the socket".into(),
        (_, ConnectionRefused) => "\n  hint: nothing is listening there; check the server's --remote (punix:/ptcp:) or the Connection table".into(),
        (_, TimedOut) => "\n  hint: no answer; check the address, port and firewall".into(),
        (Method::Ssl { .. }, InvalidData) => {
            "\n  hint: check that -C is the CA that signed the server's certificate, and that the server trusts the CA of -c (OVS requires client certificates)".into()
        }
        _ => String::new(),
    }
}

/// A TCP connection as every client of ovnscope makes one: 10 s to connect, no Nagle.
pub async fn tcp(host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    match tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect((host, port))).await {
        Ok(r) => r.inspect(|s| {
            let _ = s.set_nodelay(true);
        }),
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out after 10 s")),
    }
}

/// Connects to the first reachable member of a method string and spawns the connection task.
pub async fn connect(method: &str, opts: &Options) -> Result<Client> {
    let members = Method::parse_list(method)?;
    let mut last = None;
    for m in &members {
        let res: std::io::Result<Box<dyn Stream>> = match m {
            Method::Unix(p) => tokio::net::UnixStream::connect(p).await.map(|s| Box::new(s) as Box<dyn Stream>),
            Method::Tcp { host, port } => tcp(host, *port).await.map(|s| Box::new(s) as Box<dyn Stream>),
            Method::Ssl { host, port } => {
                let config = super::tls::client_config(&opts.tls).map_err(|reason| Error::Unsupported {
                    method: m.to_string(),
                    reason,
                })?;
                let name = super::tls::server_name(host).map_err(|reason| Error::BadMethod {
                    method: m.to_string(),
                    reason,
                })?;
                match tcp(host, *port).await {
                    Ok(s) => {
                        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
                        match tokio::time::timeout(Duration::from_secs(10), connector.connect(name, s)).await {
                            Ok(Ok(t)) => Ok(Box::new(t) as Box<dyn Stream>),
                            Ok(Err(e)) => Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("TLS handshake failed: {e}"),
                            )),
                            Err(_) => Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "TLS handshake timed out after 10 s",
                            )),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Method::File(_) => {
                return Err(Error::Unsupported {
                    method: m.to_string(),
                    reason: "file: is an offline database file, not a server".into(),
                })
            }
        };
        match res {
            Ok(stream) => {
                let mut o = opts.clone();
                if o.probe_interval.is_none() && m.needs_probes() {
                    o.probe_interval = Some(Duration::from_secs(5));
                }
                let (client, conn) = over_stream(stream, &m.to_string(), &o);
                tokio::spawn(conn.run());
                return Ok(client);
            }
            Err(e) => {
                let hint = connect_hint(m, &e);
                last = Some(Error::Connect {
                    method: m.to_string(),
                    io: e,
                    hint,
                });
            }
        }
    }
    Err(last.expect("parse_list returns at least one member"))
}

impl<S: Stream> Connection<S> {
    /// Drives the connection until all clients are gone or it fails. The error is also
    /// reported to every waiting call.
    pub async fn run(mut self) -> Result<()> {
        let res = self.run_inner().await;
        let reason = match &res {
            Ok(()) => "connection closed by the client".to_string(),
            Err(e) => e.to_string(),
        };
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
        for (_, (method, tx)) in self.pending.drain() {
            let _ = tx.send(Err(Error::Closed {
                peer: self.peer.to_string(),
                detail: format!(" while waiting for the reply to {method}: {reason}"),
            }));
        }
        self.monitors.clear();
        res
    }

    async fn send(&mut self, msg: Message) -> Result<()> {
        self.framed.send(msg).await.map_err(|e| self.codec_error(e))
    }

    fn codec_error(&self, e: CodecError) -> Error {
        let peer = self.peer.to_string();
        match e {
            CodecError::Io(io) => Error::Io { peer, io },
            CodecError::Frame(error) => Error::Framing { peer, error },
            CodecError::Truncated(n) => Error::Closed {
                peer,
                detail: format!(" in the middle of a message ({n} bytes of it received)"),
            },
        }
    }

    async fn run_inner(&mut self) -> Result<()> {
        let mut last_rx = Instant::now();
        let mut probing = false;
        loop {
            let deadline = self.probe.map(|p| last_rx + if probing { p * 2 } else { p });
            tokio::select! {
                call = self.rx.recv() => {
                    let Some(call) = call else { return Ok(()) };
                    let id = self.next_id;
                    self.next_id += 1;
                    if let Some((mid, tx)) = call.monitor {
                        self.monitors.insert(mid, tx);
                    }
                    if call.method == "monitor_cancel" {
                        if let Some(Value::String(mid)) = call.params.first() {
                            self.monitors.remove(mid);
                        }
                    }
                    self.pending.insert(id, (call.method.clone(), call.reply));
                    let what = self.log.is_some().then(|| request_summary(&call.method, &call.params));
                    self.send(Message::Request { id: json!(id), method: call.method, params: call.params }).await?;
                    if let (Some(log), Some(what)) = (self.log.as_mut(), what) {
                        log.insert(id, (what, self.framed.codec().last_out, Instant::now()));
                    }
                }
                frame = self.framed.next() => {
                    let v = match frame {
                        None => return Err(Error::Closed { peer: self.peer.to_string(), detail: String::new() }),
                        Some(Err(e)) => return Err(self.codec_error(e)),
                        Some(Ok(v)) => v,
                    };
                    last_rx = Instant::now();
                    probing = false;
                    let msg = Message::from_value(v).map_err(|error| Error::Message { peer: self.peer.to_string(), error })?;
                    self.dispatch(msg).await?;
                }
                _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                    if probing {
                        let secs = self.probe.map_or(0, |p| p.as_secs() * 2);
                        return Err(Error::Timeout { peer: self.peer.to_string(), what: "our echo probe".into(), secs });
                    }
                    probing = true;
                    self.send(Message::Request { id: json!("echo"), method: "echo".into(), params: vec![] }).await?;
                }
            }
        }
    }

    /// The request log's line for the reply to `id`, when logging.
    fn log_reply(&mut self, id: &Value, error: bool) {
        let received = self.framed.codec().last_in;
        let Some(log) = self.log.as_mut() else { return };
        if let Some((what, sent, at)) = id.as_u64().and_then(|i| log.remove(&i)) {
            eprintln!(
                "{}",
                request_line(&self.peer, &what, sent, received, at.elapsed().as_secs_f64() * 1000.0, error)
            );
        }
    }

    async fn dispatch(&mut self, msg: Message) -> Result<()> {
        match msg {
            Message::Request { id, method, params } => {
                if method == "echo" {
                    self.send(Message::Reply {
                        id,
                        result: Value::Array(params),
                    })
                    .await?;
                } else {
                    self.send(Message::Error {
                        id,
                        error: json!("unknown method"),
                    })
                    .await?;
                }
            }
            Message::Notification { method, params } => {
                let (mid, txn, body) = match (method.as_str(), params.as_slice()) {
                    ("update" | "update2", [mid, body]) => (mid, None, body.clone()),
                    ("update3", [mid, txn, body]) => (mid, txn.as_str().map(str::to_string), body.clone()),
                    ("monitor_canceled", [mid]) => {
                        if let Some(m) = mid.as_str() {
                            self.monitors.remove(m);
                        }
                        return Ok(());
                    }
                    _ => return Ok(()), // locked/stolen and unknown notifications concern no call of ours
                };
                if let Some(tx) = mid.as_str().and_then(|m| self.monitors.get(m)) {
                    let _ = tx.send(Update {
                        method,
                        txn,
                        table_updates: body,
                    });
                }
            }
            Message::Reply { id, result } => {
                self.log_reply(&id, false);
                if let Some((_, tx)) = id.as_u64().and_then(|i| self.pending.remove(&i)) {
                    let _ = tx.send(Ok(result));
                }
                // Replies to our own "echo" probe, or to a call whose caller gave up, are dropped.
            }
            Message::Error { id, error } => {
                self.log_reply(&id, true);
                if let Some((method, tx)) = id.as_u64().and_then(|i| self.pending.remove(&i)) {
                    let _ = tx.send(Err(Error::Server {
                        peer: self.peer.to_string(),
                        method,
                        error,
                    }));
                }
            }
        }
        Ok(())
    }
}

/// One `where` clause: `[column, function, value]` (RFC 7047 §5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: &'static str,
    pub value: Value,
}

impl Condition {
    pub fn eq(column: &str, value: Value) -> Self {
        Condition {
            column: column.into(),
            function: "==",
            value,
        }
    }
    pub fn includes(column: &str, value: Value) -> Self {
        Condition {
            column: column.into(),
            function: "includes",
            value,
        }
    }
    pub fn ne(column: &str, value: Value) -> Self {
        Condition {
            column: column.into(),
            function: "!=",
            value,
        }
    }
    /// For a map: none of the given key-value pairs is in the column.
    pub fn excludes(column: &str, value: Value) -> Self {
        Condition {
            column: column.into(),
            function: "excludes",
            value,
        }
    }
    fn to_json(&self) -> Value {
        json!([self.column, self.function, self.value])
    }
}

/// A `select` operation: the only kind of operation ovnscope ever puts in a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub table: String,
    /// ANDed (unlike monitor conditions, which are ORed).
    pub conditions: Vec<Condition>,
    /// `None` = every column.
    pub columns: Option<Vec<String>>,
}

impl Select {
    pub fn all(table: &str) -> Self {
        Select {
            table: table.into(),
            conditions: vec![],
            columns: None,
        }
    }
    fn to_json(&self) -> Value {
        let mut op =
            json!({"op": "select", "table": self.table, "where": self.conditions.iter().map(Condition::to_json).collect::<Vec<_>>()});
        if let Some(c) = &self.columns {
            op["columns"] = json!(c);
        }
        op
    }
}

/// What to monitor in one table (`<monitor-cond-request>`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorRequest {
    /// `None` = every column.
    pub columns: Option<Vec<String>>,
    /// ORed: a row is sent if it matches any clause. Empty = every row.
    pub conditions: Vec<Condition>,
}

/// A row of the `_Server.Database` table (ovsdb-server(5)).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServerDatabase {
    pub name: String,
    pub model: String,
    pub connected: bool,
    pub leader: bool,
}

impl Client {
    /// The peer's method string, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Sends one call and waits for its reply. Crate-private on purpose: the public methods
    /// below are the only operations ovnscope puts on the wire, all of them reads (see the
    /// module docs), so "read-only" is a property of the type, not a convention.
    ///
    /// ```compile_fail
    /// // Not reachable from outside the ovsdb layer: no write can be sent.
    /// async fn write(c: &ovnscope::ovsdb::Client) {
    ///     let _ = c.call("transact", vec![]).await;
    /// }
    /// ```
    pub(super) async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.call_inner(method, params, None).await
    }

    async fn call_inner(
        &self,
        method: &str,
        params: Vec<Value>,
        monitor: Option<(String, mpsc::UnboundedSender<Update>)>,
    ) -> Result<Value> {
        let (reply, rx) = oneshot::channel();
        let closed = || {
            let why = self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
            Error::Closed {
                peer: self.peer.to_string(),
                detail: if why.is_empty() { String::new() } else { format!(": {why}") },
            }
        };
        self.tx
            .send(Call {
                method: method.into(),
                params,
                reply,
                monitor,
            })
            .map_err(|_| closed())?;
        match tokio::time::timeout(self.timeout, rx).await {
            Err(_) => Err(Error::Timeout {
                peer: self.peer.to_string(),
                what: method.into(),
                secs: self.timeout.as_secs(),
            }),
            Ok(Err(_)) => Err(closed()),
            Ok(Ok(r)) => r,
        }
    }

    fn reply_error(&self, method: &str, reason: impl Into<String>) -> Error {
        Error::Reply {
            peer: self.peer.to_string(),
            method: method.into(),
            reason: reason.into(),
        }
    }

    pub async fn echo(&self) -> Result<()> {
        let r = self.call("echo", vec![json!("ovnscope")]).await?;
        if r != json!(["ovnscope"]) {
            return Err(self.reply_error("echo", format!("expected [\"ovnscope\"], got {r}")));
        }
        Ok(())
    }

    /// Why the connection ended, once it has (the server closed it, a probe went unanswered…).
    pub fn ended_reason(&self) -> Option<String> {
        self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn list_dbs(&self) -> Result<Vec<String>> {
        let r = self.call("list_dbs", vec![]).await?;
        serde_json::from_value(r.clone()).map_err(|_| self.reply_error("list_dbs", format!("expected an array of names, got {r}")))
    }

    /// The schema of `db`; an unknown database is reported with the ones the server has.
    pub async fn get_schema(&self, db: &str) -> Result<DatabaseSchema> {
        match self.call("get_schema", vec![json!(db)]).await {
            Ok(v) => Ok(DatabaseSchema::from_json(&v)?),
            Err(Error::Server { error, .. }) if super::proto::message::describe_error(&error).starts_with("unknown database") => {
                // ovsdb-server's own `_Server` (listed since OVS 3.2 or so) is no answer to "which
                // database did you mean".
                let available = self
                    .list_dbs()
                    .await
                    .map(|l| l.into_iter().filter(|d| !d.starts_with('_')).collect::<Vec<_>>().join(", "))
                    .unwrap_or_else(|_| "?".into());
                Err(Error::NoSuchDatabase {
                    peer: self.peer.to_string(),
                    db: db.into(),
                    available,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `select` operations in one transaction that ends in `abort`, so it can never commit.
    /// Returns the rows of each select, in order.
    pub async fn select(&self, db: &str, selects: &[Select]) -> Result<Vec<Vec<Value>>> {
        let mut params = vec![json!(db)];
        params.extend(selects.iter().map(Select::to_json));
        params.push(json!({"op": "abort"}));
        let r = self.call("transact", params).await?;
        let results = r.as_array().ok_or_else(|| self.reply_error("transact", "result is not an array"))?;
        let mut out = Vec::with_capacity(selects.len());
        for (i, s) in selects.iter().enumerate() {
            let res = results
                .get(i)
                .ok_or_else(|| self.reply_error("transact", "fewer results than operations"))?;
            if let Some(rows) = res.get("rows").and_then(Value::as_array) {
                out.push(rows.clone());
            } else {
                let error = if res.get("error").is_some() {
                    res.clone()
                } else {
                    json!(format!("select on {} returned {res}", s.table))
                };
                return Err(Error::Server {
                    peer: self.peer.to_string(),
                    method: format!("transact (select on {})", s.table),
                    error,
                });
            }
        }
        Ok(out)
    }

    /// Starts a conditional monitor. Returns the initial `<table-updates2>` and the stream of
    /// later updates. Conditions within a table are ORed by the server.
    pub async fn monitor_cond(&self, db: &str, requests: &BTreeMap<String, MonitorRequest>) -> Result<(Value, Monitor)> {
        let (id, reqs, tx, rx) = self.monitor_setup(requests);
        let initial = self
            .call_inner("monitor_cond", vec![json!(db), json!(id), reqs], Some((id.clone(), tx)))
            .await?;
        if !initial.is_object() {
            return Err(self.reply_error("monitor_cond", "initial contents are not an object"));
        }
        Ok((initial, Monitor { id, rx }))
    }

    /// Starts a conditional monitor that resumes after transaction `last_txn` (ovsdb-server(7)
    /// §4.1.15): when the server still has the history since then (`found`), the updates are
    /// only what changed and apply to the rows already held; otherwise they are the whole
    /// contents and replace them. Notifications arrive as `update3`, each naming the
    /// transaction it ends at.
    pub async fn monitor_cond_since(&self, db: &str, requests: &BTreeMap<String, MonitorRequest>, last_txn: Option<&str>) -> Result<Since> {
        let (id, reqs, tx, rx) = self.monitor_setup(requests);
        let zero = "00000000-0000-0000-0000-000000000000";
        let r = self
            .call_inner(
                "monitor_cond_since",
                vec![json!(db), json!(id), reqs, json!(last_txn.unwrap_or(zero))],
                Some((id.clone(), tx)),
            )
            .await?;
        let bad = || self.reply_error("monitor_cond_since", format!("expected [found, last-txn-id, updates], got {r}"));
        let [found, txn, updates] = r.as_array().map(Vec::as_slice).ok_or_else(bad)? else {
            return Err(bad());
        };
        let (Some(found), Some(txn), true) = (found.as_bool(), txn.as_str(), updates.is_object()) else {
            return Err(bad());
        };
        Ok(Since {
            found,
            last_txn: txn.to_string(),
            updates: updates.clone(),
            monitor: Monitor { id, rx },
        })
    }

    #[allow(clippy::type_complexity)]
    fn monitor_setup(
        &self,
        requests: &BTreeMap<String, MonitorRequest>,
    ) -> (String, Value, mpsc::UnboundedSender<Update>, mpsc::UnboundedReceiver<Update>) {
        let id = format!("ovnscope-{}", self.next_monitor.fetch_add(1, Ordering::Relaxed));
        let mut reqs = serde_json::Map::new();
        for (table, r) in requests {
            let mut o = json!({});
            if let Some(c) = &r.columns {
                o["columns"] = json!(c);
            }
            if !r.conditions.is_empty() {
                o["where"] = Value::Array(r.conditions.iter().map(Condition::to_json).collect());
            }
            reqs.insert(table.clone(), json!([o]));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        (id, Value::Object(reqs), tx, rx)
    }

    pub async fn monitor_cancel(&self, monitor: Monitor) -> Result<()> {
        self.call("monitor_cancel", vec![json!(monitor.id)]).await.map(|_| ())
    }

    /// The `_Server.Database` rows: which databases this server has and their state.
    pub async fn server_databases(&self) -> Result<Vec<ServerDatabase>> {
        let sel = Select {
            table: "Database".into(),
            conditions: vec![],
            columns: Some(vec!["name".into(), "model".into(), "connected".into(), "leader".into()]),
        };
        let rows = self.select("_Server", &[sel]).await?.remove(0);
        Ok(rows
            .iter()
            .map(|r| ServerDatabase {
                name: r["name"].as_str().unwrap_or_default().into(),
                model: r["model"].as_str().unwrap_or_default().into(),
                connected: r["connected"].as_bool().unwrap_or(false),
                leader: r["leader"].as_bool().unwrap_or(false),
            })
            .collect())
    }
}
