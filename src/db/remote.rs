//! A zone's databases read from an `ovnscope serve` instead of from the servers themselves:
//! the `rows` method's format (both ends) and a small JSON-RPC 2.0 client over HTTP/1.1.
//!
//! The rows travel as a `select` returns them (`_uuid` plus the columns asked for, datums in
//! RFC 7047 notation) with the serve's schema, so the client rebuilds the same [`Loaded`] a
//! direct read of the same tables would give, warnings included: every command then answers
//! from it exactly as it does from a live server or a file. The client speaks over any byte
//! stream (TCP, a unix socket, a Kubernetes port-forward), so one code path serves them all.

use super::{load::plan, DbKind, Loaded, TableSpec};
use crate::ovsdb::client::Stream;
use crate::ovsdb::proto::{DatabaseSchema, Snapshot};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;

/// Why a serve could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("bad serve address {0:?}: expected http://HOST:PORT, https://HOST:PORT or unix:PATH")]
    BadUrl(String),
    #[error("cannot reach ovnscope serve at {url}: {reason}\n  hint: is `ovnscope serve` running there (or the port-forward to it)?")]
    Connect { url: String, reason: String },
    #[error("ovnscope serve at {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// The serve answered with a JSON-RPC error.
    #[error("ovnscope serve at {url} answered {method} with error {code}: {message}")]
    Rpc {
        url: String,
        method: String,
        code: i64,
        message: String,
    },
}

/// Where a serve listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp {
        host: String,
        port: u16,
    },
    /// TLS with a client certificate (`-p/-c/-C`), for a serve started with `--tls-*`.
    Tls {
        host: String,
        port: u16,
    },
    Unix(std::path::PathBuf),
}

impl Address {
    pub fn parse(url: &str) -> Result<Address, RemoteError> {
        let bad = || RemoteError::BadUrl(url.to_string());
        if let Some(p) = url.strip_prefix("unix:") {
            return if p.is_empty() { Err(bad()) } else { Ok(Address::Unix(p.into())) };
        }
        let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return Err(bad()),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = crate::ovsdb::method::host_port(url, rest).map_err(|_| bad())?;
        Ok(if tls {
            Address::Tls { host, port }
        } else {
            Address::Tcp { host, port }
        })
    }
}

/// The `rows` answer for `tables` (table → columns) of one cached database.
pub fn encode(loaded: &Loaded, tables: &[(String, Vec<String>)]) -> Value {
    let mut rows = serde_json::Map::new();
    for (t, cols) in tables {
        let list: Vec<Value> = loaded
            .snapshot
            .rows(t)
            .map(|(uuid, row)| {
                let mut o = serde_json::Map::new();
                o.insert("_uuid".into(), json!(["uuid", uuid.to_string()]));
                for c in cols {
                    if let Some(d) = row.columns.get(c) {
                        o.insert(c.clone(), d.to_json());
                    }
                }
                Value::Object(o)
            })
            .collect();
        rows.insert(t.clone(), Value::Array(list));
    }
    json!({
        "db": loaded.kind,
        "source": loaded.source,
        "schema": loaded.snapshot.schema.to_json(),
        "rows": rows,
    })
}

/// The `rows` request for `specs` of database `kind`.
pub fn request(kind: DbKind, specs: &[TableSpec]) -> Value {
    let tables: serde_json::Map<String, Value> = specs.iter().map(|s| (s.table.to_string(), json!(s.columns))).collect();
    json!({"db": kind, "tables": tables})
}

/// Rebuilds what a direct read of `specs` would have loaded from a `rows` answer.
pub fn decode(answer: &Value, kind: DbKind, specs: &[TableSpec]) -> Result<Loaded, String> {
    let schema = DatabaseSchema::from_json(answer.get("schema").ok_or("no schema in the answer")?).map_err(|e| e.to_string())?;
    if schema.name != kind.db_name() {
        return Err(format!("asked for {} but got {}", kind.db_name(), schema.name));
    }
    let mut snapshot = Snapshot::new(Arc::new(schema));
    let rows = answer.get("rows").and_then(Value::as_object).ok_or("no rows in the answer")?;
    for (t, list) in rows {
        let list = list.as_array().ok_or_else(|| format!("rows of {t} are not an array"))?;
        snapshot.insert_selected(t, list).map_err(|e| e.to_string())?;
    }
    let (_, warnings) = plan(&snapshot.schema, specs);
    Ok(Loaded {
        kind,
        source: answer.get("source").and_then(Value::as_str).unwrap_or_default().to_string(),
        snapshot,
        warnings,
    })
}

async fn tcp(url: &str, host: &str, port: u16) -> Result<tokio::net::TcpStream, RemoteError> {
    crate::ovsdb::client::tcp(host, port).await.map_err(|e| RemoteError::Connect {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// Calls `method` with `params` on the serve at `url` and returns its result; `opts` gives the
/// timeout for the whole exchange and, for `https://`, the `-p/-c/-C` files.
pub async fn call(url: &str, method: &str, params: Value, opts: &crate::ovsdb::Options) -> Result<Value, RemoteError> {
    let timeout = opts.call_timeout;
    let addr = Address::parse(url)?;
    let connect_err = |e: String| RemoteError::Connect {
        url: url.to_string(),
        reason: e,
    };
    let (stream, host): (Box<dyn Stream>, String) = match &addr {
        Address::Tcp { host, port } => (Box::new(tcp(url, host, *port).await?), format!("{host}:{port}")),
        Address::Tls { host, port } => {
            let config = crate::ovsdb::tls::client_config(&opts.tls).map_err(connect_err)?;
            let name = crate::ovsdb::tls::server_name(host).map_err(connect_err)?;
            let s = tcp(url, host, *port).await?;
            let t = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, s)
                .await
                .map_err(|e| {
                    connect_err(format!(
                        "TLS handshake failed: {e} (is -C the CA of the serve's certificate, and does the serve trust -c?)"
                    ))
                })?;
            (Box::new(t), format!("{host}:{port}"))
        }
        Address::Unix(p) => (
            Box::new(tokio::net::UnixStream::connect(p).await.map_err(|e| connect_err(e.to_string()))?),
            "localhost".into(),
        ),
    };
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let proto = |reason: String| RemoteError::Protocol {
        url: url.to_string(),
        reason,
    };
    let exchange = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| proto(format!("HTTP handshake: {e}")))?;
        tokio::spawn(conn);
        let req = hyper::Request::post("/")
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| proto(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(|e| proto(format!("HTTP request: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| proto(format!("HTTP body: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(proto(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes))));
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| proto(format!("no answer to {method} within {} s", timeout.as_secs())))??;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| proto(format!("the answer is not JSON: {e}")))?;
    if let Some(e) = v.get("error") {
        return Err(RemoteError::Rpc {
            url: url.to_string(),
            method: method.to_string(),
            code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: e.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
        });
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| proto("the answer has neither result nor error".into()))
}

/// Reads `specs` of every database from the serve at `url`, concurrently; the databases that
/// serve does not read are left out.
pub async fn load_zone(
    url: &str,
    specs: &dyn Fn(DbKind) -> Vec<TableSpec>,
    opts: &crate::ovsdb::Options,
) -> Result<Vec<Loaded>, RemoteError> {
    let wanted: Vec<(DbKind, Vec<TableSpec>)> = DbKind::ALL.iter().map(|k| (*k, specs(*k))).filter(|(_, s)| !s.is_empty()).collect();
    let reads = wanted.iter().map(|(k, s)| load(url, *k, s, opts));
    let mut out = vec![];
    for r in futures::future::join_all(reads).await {
        out.extend(r?);
    }
    Ok(out)
}

/// Reads `specs` of database `kind` from the serve at `url`; `None` when that serve does not
/// read this database (its result is `null`).
pub async fn load(url: &str, kind: DbKind, specs: &[TableSpec], opts: &crate::ovsdb::Options) -> Result<Option<Loaded>, RemoteError> {
    let answer = call(url, "rows", request(kind, specs), opts).await?;
    if answer.is_null() {
        return Ok(None);
    }
    decode(&answer, kind, specs).map(Some).map_err(|reason| RemoteError::Protocol {
        url: url.to_string(),
        reason: format!("rows of {}: {reason}", kind.db_name()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            Address::parse("http://127.0.0.1:7470/").unwrap(),
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 7470
            }
        );
        assert_eq!(
            Address::parse("http://[::1]:80").unwrap(),
            Address::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(Address::parse("unix:/run/o.sock").unwrap(), Address::Unix("/run/o.sock".into()));
        assert_eq!(
            Address::parse("https://10.0.0.5:7470").unwrap(),
            Address::Tls {
                host: "10.0.0.5".into(),
                port: 7470
            }
        );
        for bad in ["127.0.0.1:7470", "http://host", "http://:80", "http://h:0", "unix:", "ftp://h:1"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }
}
