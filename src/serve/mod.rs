//! `ovnscope serve`: one node's zone over JSON-RPC 2.0 (jsonrpsee, HTTP and WebSocket).
//!
//! It keeps a live cache of the zone's Open_vSwitch, Northbound and Southbound tables
//! ([`crate::db::cache`]: `monitor_cond_since`, reconnect with backoff, resync without loss or
//! ghosts) and answers the commands' questions from it with the commands' own code, so a
//! document from serve is the document the CLI prints with `--format json` ([`rpc`]). This
//! layer sits above `cli/` for that reason; `main.rs` starts it.

pub mod listen;
pub mod rpc;

use crate::cli::serve::ServeArgs;
use crate::cli::{Failure, Outcome, UsageError};
use crate::db::cache::{Cache, Zone};
use crate::db::DbKind;
use std::sync::Arc;
use std::time::Duration;

/// Runs the server until the process is stopped.
pub fn run(a: ServeArgs) -> Result<Outcome, Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(serve(a))
}

async fn serve(a: ServeArgs) -> Result<Outcome, Failure> {
    if a.db.must_gather.is_some() || a.db.cluster.is_some() || a.db.serve.is_some() || a.db.kube || a.db.node.is_some() {
        return Err(
            UsageError("serve reads one zone's live databases: give --ovs-db/--nb-db/--sb-db (or the default sockets)".into()).into(),
        );
    }
    let listen = listen::Listen::parse(&a.listen).map_err(UsageError)?;
    let tls_files = crate::ovsdb::tls::TlsFiles {
        private_key: a.tls_key.clone(),
        certificate: a.tls_cert.clone(),
        ca_cert: a.tls_client_ca.clone(),
    };
    let tls = match &a.tls_cert {
        Some(_) => Some(Arc::new(crate::ovsdb::tls::server_config(&tls_files).map_err(UsageError)?)),
        None => None,
    };
    if !listen.is_local() && tls.is_none() && !a.allow_remote {
        return Err(UsageError(format!(
            "--listen {}: not a loopback address; serve listens on loopback (reached by port-forward) unless given TLS (--tls-cert/--tls-key/--tls-client-ca) or --allow-remote",
            a.listen
        ))
        .into());
    }
    let env = |k: &str| std::env::var(k).ok();
    let mut caches = vec![];
    for c in a.db.choose(&env) {
        if !c.is_live() {
            if c.method.starts_with("file:") {
                return Err(UsageError(format!(
                    "{}: serve keeps live databases current; a file: does not change",
                    c.kind.option()
                ))
                .into());
            }
            eprintln!(
                "note: skipping {} (no {}); pass its --*-db option to read it",
                c.kind.db_name(),
                c.method
            );
            continue;
        }
        crate::ovsdb::Method::parse_list(&c.method).map_err(|e| UsageError(format!("{}: {e}", c.kind.option())))?;
        caches.push(Cache::spawn(c.kind, &c.method, rpc::cached_tables(c.kind), a.db.options()));
    }
    if caches.is_empty() {
        return Err(crate::cli::dbopts::NoDatabase("serve found none of the default sockets".into()).into());
    }
    let zone = Zone { caches };
    // A first read before listening, so that the first questions have answers; a database that
    // is down is retried in the background (status says so).
    for c in &zone.caches {
        if !c.synced(Duration::from_secs(10)).await {
            let why = c.read(|s| s.last_error.clone()).unwrap_or_default();
            eprintln!(
                "warning: {} ({}) is not read yet, retrying in the background: {why}",
                c.kind.db_name(),
                c.method
            );
        }
    }
    let listener = listen::Listener::bind(&listen)
        .await
        .map_err(|e| Failure::Unreachable(anyhow::anyhow!("cannot listen on {}: {e}", a.listen)))?;
    eprintln!("ovnscope serve: listening on {}", listener.url(tls.is_some()));
    if a.db.verbose {
        for c in &zone.caches {
            spawn_progress(c.clone());
        }
    }
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(a.max_request_bytes)
        .max_response_body_size(a.max_response_bytes)
        .max_connections(a.max_connections)
        .build();
    let ctx = rpc::Context {
        zone,
        questions: Arc::new(tokio::sync::Semaphore::new(a.max_concurrent.max(1))),
    };
    listen::run(listener, rpc::module(ctx).into(), config, tls).await;
    Ok(Outcome::Answer(String::new()))
}

/// `--verbose`: one line per resynchronisation and per lost connection.
fn spawn_progress(c: Cache) {
    let kind: DbKind = c.kind;
    tokio::spawn(async move {
        let mut rx = c.changes();
        let (mut syncs, mut connected) = (0, false);
        while rx.changed().await.is_ok() {
            let (s, conn, err) = c.read(|s| (s.syncs, s.connected, s.last_error.clone()));
            if s != syncs {
                eprintln!("ovnscope serve: {} synchronised (#{s})", kind.db_name());
            } else if connected && !conn {
                eprintln!("ovnscope serve: {} lost: {}", kind.db_name(), err.unwrap_or_default());
            }
            (syncs, connected) = (s, conn);
        }
    });
}
