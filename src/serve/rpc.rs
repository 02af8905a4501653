//! The JSON-RPC 2.0 methods serve answers, all from its cache:
//!
//! | method | params | result |
//! |---|---|---|
//! | `status` | none | each database: method, connected, syncs, updates, rows per table |
//! | `rows` | `{"db": "nb", "tables": {"NAT": ["logical_ip", …]}}` | those rows and the schema (`null` if this serve does not read that database): what `--serve`/`serve=` read |
//! | `show`, `topology`, `nat`, `trace`, `explain`, `conntrack` | the command's arguments, as on the command line: `["--pod", "ns/name"]` or `{"args": [...]}`; for `explain`, `"files": {NAME: BASE64}` uploads captures that `--capture POINT=NAME` names | the command's `--format json` document (with `--format text`/`dot` among the arguments: the output as a string) |
//! | `subscribe` (WebSocket) | `{"command": "nat", "args": [...]}` | a subscription; each notification `answer` is the document again whenever it changes |
//!
//! A question that fails gets error code −32000 − its exit code (−32001 "no" / not found,
//! −32002 usage, −32003 unreachable, −32004 internal) with `{"exit_code": N}` as data.

use crate::cli::{self, Failure, Outcome};
use crate::db::cache::Zone;
use crate::db::{remote, DbKind, TableSpec};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Context {
    pub zone: Zone,
    /// Questions computed at once.
    pub questions: Arc<Semaphore>,
}

fn invalid(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, msg.into(), None::<()>)
}

fn failure(f: &Failure) -> ErrorObjectOwned {
    let code = f.exit_code();
    ErrorObjectOwned::owned(-32000 - code, f.to_string(), Some(json!({"exit_code": code})))
}

/// A question as sent: its arguments, and for `explain` the capture files it uploads.
#[derive(Default)]
struct Asked {
    args: Vec<String>,
    /// Name → contents.
    files: Vec<(String, Vec<u8>)>,
}

/// The question's arguments: a list of strings, or `{"args": [...], "files": {NAME: BASE64}}`,
/// or nothing.
fn asked(p: &Params<'_>) -> Result<Asked, ErrorObjectOwned> {
    let v: Option<Value> = p.parse().map_err(|e| invalid(format!("params: {e}")))?;
    let (list, files) = match v {
        None | Some(Value::Null) => return Ok(Asked::default()),
        Some(Value::Array(a)) => (a, serde_json::Map::new()),
        Some(Value::Object(mut o)) => {
            let files = match o.remove("files") {
                None => serde_json::Map::new(),
                Some(Value::Object(f)) => f,
                Some(_) => return Err(invalid("params: files is an object of NAME: base64 contents")),
            };
            match o.remove("args") {
                Some(Value::Array(a)) if o.is_empty() => (a, files),
                _ => return Err(invalid("params: expected the arguments as a list of strings, or {\"args\": [...]}")),
            }
        }
        Some(_) => return Err(invalid("params: expected the arguments as a list of strings")),
    };
    let args = list
        .into_iter()
        .map(|a| match a {
            Value::String(s) => Ok(s),
            other => Err(invalid(format!("params: argument {other} is not a string"))),
        })
        .collect::<Result<_, _>>()?;
    let mut out = vec![];
    for (name, b64) in files {
        use base64::Engine;
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(invalid(format!("params: file name {name:?} must be a plain name")));
        }
        let data = b64
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or_else(|| invalid(format!("params: file {name} is not base64")))?;
        out.push((name, data));
    }
    Ok(Asked { args, files: out })
}

/// Writes the uploaded files into `dir` and points every `--capture POINT=NAME` there. A
/// capture that names anything but an uploaded file is refused: serve reads no file of its
/// node on a caller's behalf.
fn place_files(a: Asked, dir: &std::path::Path) -> Result<Vec<String>, ErrorObjectOwned> {
    for (name, data) in &a.files {
        std::fs::write(dir.join(name), data).map_err(|e| failure(&Failure::Internal(anyhow::anyhow!("cannot store {name}: {e}"))))?;
    }
    let mut out = vec![];
    let mut args = a.args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, value) = match arg.strip_prefix("--capture=") {
            Some(v) => ("--capture", Some(v.to_string())),
            None if arg == "--capture" => ("--capture", args.next()),
            None => {
                out.push(arg);
                continue;
            }
        };
        let v = value.ok_or_else(|| invalid("--capture needs POINT=NAME"))?;
        let (point, file) = v
            .split_once('=')
            .ok_or_else(|| invalid(format!("--capture {v}: expected POINT=NAME")))?;
        if !a.files.iter().any(|(n, _)| n == file) {
            return Err(invalid(format!(
                "--capture {v}: {file} is not among the uploaded files; serve explains uploaded captures only (params.files)"
            )));
        }
        out.extend([flag.to_string(), format!("{point}={}", dir.join(file).display())]);
    }
    Ok(out)
}

/// Runs one question on its own thread (the commands are CPU work, and some hold values that
/// cannot cross threads), at most [`Context::questions`] at once.
async fn ask(ctx: &Context, command: &str, args: Vec<String>) -> Result<Value, ErrorObjectOwned> {
    let cmd = cli::serve::question(command, &args).map_err(|f| failure(&f))?;
    let _permit = ctx.questions.acquire().await.map_err(|_| invalid("serve is stopping"))?;
    let zone = ctx.zone.clone();
    let r = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(cli::serve::answer(cmd, zone))
    })
    .await
    .map_err(|e| failure(&Failure::Internal(anyhow::anyhow!("the question panicked: {e}"))))?;
    let text = match r {
        Ok(Outcome::Answer(t)) | Ok(Outcome::No { output: t, .. }) => t,
        Err(f) => return Err(failure(&f)),
    };
    // A JSON document as JSON; text or DOT (asked for with --format) as one string.
    let mut de = serde_json::Deserializer::from_str(&text);
    de.disable_recursion_limit();
    let doc: Result<Value, _> = serde::Deserialize::deserialize(&mut de);
    Ok(match doc {
        Ok(v) if de.end().is_ok() => v,
        _ => Value::String(text),
    })
}

fn status(ctx: &Context) -> Value {
    let dbs: Vec<Value> = ctx
        .zone
        .caches
        .iter()
        .map(|c| {
            c.read(|s| {
                let rows: serde_json::Map<String, Value> = s
                    .loaded
                    .as_ref()
                    .map(|l| l.snapshot.tables.iter().map(|(t, r)| (t.clone(), json!(r.len()))).collect())
                    .unwrap_or_default();
                json!({
                    "db": c.kind,
                    "method": c.method,
                    "connected": s.connected,
                    "synchronised": s.loaded.is_some(),
                    "syncs": s.syncs,
                    "resumed": s.resumed,
                    "updates": s.updates,
                    "last_txn": s.last_txn,
                    "last_error": s.last_error,
                    "rows": rows,
                })
            })
        })
        .collect();
    json!({"schema": crate::wire::VERSION, "version": env!("CARGO_PKG_VERSION"), "databases": dbs})
}

fn rows(ctx: &Context, p: &Params<'_>) -> Result<Value, ErrorObjectOwned> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Req {
        db: DbKind,
        tables: std::collections::BTreeMap<String, Vec<String>>,
    }
    let req: Req = p.parse().map_err(|e| {
        invalid(format!(
            "rows: expected {{\"db\": \"nb\"|\"sb\"|\"ovs\", \"tables\": {{TABLE: [COLUMN, …]}}}}: {e}"
        ))
    })?;
    let Some(cache) = ctx.zone.get(req.db) else {
        return Ok(Value::Null);
    };
    let tables: Vec<(String, Vec<String>)> = req.tables.into_iter().collect();
    cache
        .read(|s| s.loaded.as_ref().map(|l| remote::encode(l, &tables)))
        .ok_or_else(|| {
            let why = cache.read(|s| s.last_error.clone()).unwrap_or_default();
            failure(&Failure::Unreachable(anyhow::anyhow!(
                "{} has not been read yet {why}",
                req.db.db_name()
            )))
        })
}

fn message(v: &Value) -> SubscriptionMessage {
    serde_json::value::to_raw_value(v).expect("a JSON value serialises").into()
}

/// Sends the answer to `command args` now and again whenever it changes, until the client
/// unsubscribes or goes away. Changes arriving together are answered once (50 ms).
async fn subscription(ctx: Arc<Context>, pending: PendingSubscriptionSink, command: String, args: Vec<String>) {
    let first = ask(&ctx, &command, args.clone()).await;
    let sink = match first {
        Err(e) => {
            pending.reject(e).await;
            return;
        }
        Ok(v) => {
            let Ok(sink) = pending.accept().await else { return };
            let msg = message(&v);
            if sink.send(msg).await.is_err() {
                return;
            }
            (sink, v)
        }
    };
    let (sink, mut last) = sink;
    let mut changes: Vec<_> = ctx.zone.caches.iter().map(|c| c.changes()).collect();
    loop {
        let any = futures::future::select_all(changes.iter_mut().map(|rx| Box::pin(rx.changed())));
        tokio::select! {
            _ = sink.closed() => return,
            (r, _, _) = any => if r.is_err() { return },
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        for rx in &mut changes {
            rx.borrow_and_update();
        }
        let now = match ask(&ctx, &command, args.clone()).await {
            Ok(v) => v,
            Err(e) => json!({"error": {"code": e.code(), "message": e.message()}}),
        };
        if now != last {
            let msg = message(&now);
            if sink.send(msg).await.is_err() {
                return;
            }
            last = now;
        }
    }
}

/// The module of every method.
pub fn module(ctx: Context) -> RpcModule<Context> {
    let mut m = RpcModule::new(ctx);
    m.register_method("status", |_, ctx, _| status(ctx)).expect("unique name");
    m.register_method("rows", |p, ctx, _| rows(ctx, &p)).expect("unique name");
    for &q in cli::serve::QUESTIONS {
        m.register_async_method(q, move |p, ctx, _| async move {
            let a = asked(&p)?;
            if a.files.is_empty() && q != "explain" {
                return ask(&ctx, q, a.args).await;
            }
            // Uploaded captures live as long as the question.
            let dir = tempfile::tempdir().map_err(|e| failure(&Failure::Internal(e.into())))?;
            let args = place_files(a, dir.path())?;
            ask(&ctx, q, args).await
        })
        .expect("unique name");
    }
    m.register_subscription("subscribe", "answer", "unsubscribe", |p, pending, ctx, _| async move {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Req {
            command: String,
            #[serde(default)]
            args: Vec<String>,
        }
        match p.parse::<Req>() {
            Ok(r) => subscription(ctx, pending, r.command, r.args).await,
            Err(e) => {
                pending
                    .reject(invalid(format!(
                        "subscribe: expected {{\"command\": \"nat\", \"args\": [...]}}: {e}"
                    )))
                    .await
            }
        }
    })
    .expect("unique name");
    m
}

/// The tables serve keeps of each database: everything a command reads.
pub fn cached_tables(kind: DbKind) -> Vec<TableSpec> {
    crate::db::views::with_pipeline(kind)
}
