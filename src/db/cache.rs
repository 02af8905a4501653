//! A database kept current in memory: what `ovnscope serve` answers from.
//!
//! One `monitor_cond_since` per database (ovsdb-server(7) §4.1.15) fills the rows and then
//! applies every `update3`. When the connection drops or the server restarts, the task
//! reconnects with exponential backoff and asks to resume after the last transaction it saw:
//! a server that still has the history (a clustered database) sends only what changed and it
//! is applied to the rows held; otherwise (a standalone database, a new schema, a bad update)
//! the server sends everything and the held rows are *replaced*, never merged, so a row
//! deleted while the cache was away cannot linger (a ghost) and none added can be missed.
//! Echo probes run every 5 s on every transport, as OVS clients do on TCP, so a server that
//! stops answering is noticed even over a unix socket.

use super::{load::plan, DbKind, Loaded, TableSpec};
use crate::ovsdb::proto::Snapshot;
use crate::ovsdb::{self, MonitorRequest};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The first wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the cache holds and how it got there.
#[derive(Debug, Default)]
pub struct State {
    /// The rows, once the first synchronisation finished.
    pub loaded: Option<Loaded>,
    pub connected: bool,
    /// Completed synchronisations (the first one, then one per reconnect).
    pub syncs: u64,
    /// Of those, how many resumed from history instead of replacing every row.
    pub resumed: u64,
    /// Update notifications applied since the start.
    pub updates: u64,
    pub last_txn: Option<String>,
    pub last_error: Option<String>,
}

/// A handle on one database's cache; clones share it.
#[derive(Clone)]
pub struct Cache {
    pub kind: DbKind,
    pub method: String,
    state: Arc<RwLock<State>>,
    /// Bumped on every change (a sync or an update), for subscriptions.
    changes: watch::Receiver<u64>,
}

impl Cache {
    /// Starts keeping `specs` of database `kind` at `method` current; returns at once (the
    /// first synchronisation runs in the background: see [`Cache::synced`]).
    pub fn spawn(kind: DbKind, method: &str, specs: Vec<TableSpec>, mut opts: ovsdb::Options) -> Cache {
        opts.probe_interval.get_or_insert(Duration::from_secs(5));
        let state = Arc::new(RwLock::new(State::default()));
        let (tx, rx) = watch::channel(0u64);
        let task = Task {
            kind,
            method: method.to_string(),
            specs,
            opts,
            state: state.clone(),
            changes: tx,
        };
        tokio::spawn(task.run());
        Cache {
            kind,
            method: method.to_string(),
            state,
            changes: rx,
        }
    }

    /// Reads the state under the lock (keep `f` short: updates wait for it).
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Waits until the first synchronisation finished, or `timeout` passed.
    pub async fn synced(&self, timeout: Duration) -> bool {
        let mut rx = self.changes.clone();
        let deadline = Instant::now() + timeout;
        loop {
            if self.read(|s| s.loaded.is_some()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
                return self.read(|s| s.loaded.is_some());
            }
        }
    }

    /// A receiver that sees every change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// A copy of the tables `specs` names (whole rows), as a command would have loaded them,
    /// with the schema warnings for `specs`; `None` before the first synchronisation.
    pub fn loaded_for(&self, specs: &[TableSpec]) -> Option<Loaded> {
        self.read(|s| {
            let l = s.loaded.as_ref()?;
            let mut snapshot = Snapshot::new(l.snapshot.schema.clone());
            for spec in specs {
                if let Some(t) = l.snapshot.tables.get(spec.table) {
                    snapshot.tables.insert(spec.table.to_string(), t.clone());
                }
            }
            let (_, warnings) = plan(&snapshot.schema, specs);
            Some(Loaded {
                kind: l.kind,
                source: l.source.clone(),
                snapshot,
                warnings,
            })
        })
    }
}

struct Task {
    kind: DbKind,
    method: String,
    specs: Vec<TableSpec>,
    opts: ovsdb::Options,
    state: Arc<RwLock<State>>,
    changes: watch::Sender<u64>,
}

impl Task {
    fn write<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let r = f(&mut self.state.write().unwrap_or_else(|p| p.into_inner()));
        self.changes.send_modify(|n| *n += 1);
        r
    }

    async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let syncs = self.state.read().unwrap_or_else(|p| p.into_inner()).syncs;
            let err = self.session().await;
            let synced = self.write(|s| {
                s.connected = false;
                s.last_error = Some(err.to_string());
                s.syncs > syncs
            });
            // A session that synchronised was a good one: the server is back, so the next
            // attempt starts from the shortest wait again.
            if synced {
                backoff = MIN_BACKOFF;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: synchronise, then apply updates until it ends. Always ends in an error
    /// (the reason the connection is gone).
    async fn session(&self) -> ovsdb::Error {
        match self.session_inner().await {
            Ok(e) | Err(e) => e,
        }
    }

    async fn session_inner(&self) -> Result<ovsdb::Error, ovsdb::Error> {
        let db = self.kind.db_name();
        let client = ovsdb::connect(&self.method, &self.opts).await?;
        let schema = Arc::new(client.get_schema(db).await?);
        let (tables, warnings) = plan(&schema, &self.specs);
        let requests: BTreeMap<String, MonitorRequest> = tables
            .into_iter()
            .map(|(t, cols)| {
                (
                    t,
                    MonitorRequest {
                        columns: Some(cols),
                        conditions: vec![],
                    },
                )
            })
            .collect();
        // Resume only over rows of the same schema (a server upgraded in between starts afresh).
        let resume = {
            let s = self.state.read().unwrap_or_else(|p| p.into_inner());
            s.loaded.as_ref().filter(|l| *l.snapshot.schema == *schema).and(s.last_txn.clone())
        };
        let since = client.monitor_cond_since(db, &requests, resume.as_deref()).await?;
        let mut monitor = since.monitor;
        let applied = self.write(|s| {
            let resumed = since.found && resume.is_some() && s.loaded.is_some();
            if resumed {
                let l = s.loaded.as_mut().expect("checked");
                l.snapshot.apply_update2(&since.updates)?;
                s.resumed += 1;
            } else {
                let mut snapshot = Snapshot::new(schema.clone());
                snapshot.apply_update2(&since.updates)?;
                s.loaded = Some(Loaded {
                    kind: self.kind,
                    source: client.peer().to_string(),
                    snapshot,
                    warnings: warnings.clone(),
                });
            }
            s.last_txn = Some(since.last_txn.clone());
            s.connected = true;
            s.last_error = None;
            s.syncs += 1;
            Ok::<_, crate::ovsdb::proto::UpdateError>(())
        });
        if let Err(e) = applied {
            self.write(|s| s.last_txn = None);
            return Err(e.into());
        }
        while let Some(u) = monitor.next().await {
            let applied = self.write(|s| {
                let l = s.loaded.as_mut().expect("synchronised above");
                l.snapshot.apply_update2(&u.table_updates)?;
                if let Some(t) = u.txn {
                    s.last_txn = Some(t);
                }
                s.updates += 1;
                Ok::<_, crate::ovsdb::proto::UpdateError>(())
            });
            if let Err(e) = applied {
                // The rows may be half-updated: the next session replaces them all.
                self.write(|s| s.last_txn = None);
                return Err(e.into());
            }
        }
        Ok(ovsdb::Error::Closed {
            peer: client.peer().to_string(),
            detail: client.ended_reason().map(|r| format!(": {r}")).unwrap_or_default(),
        })
    }
}

/// The caches of one zone's databases (those `serve` was given), answering as one source.
#[derive(Clone, Default)]
pub struct Zone {
    pub caches: Vec<Cache>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.caches.iter().map(|c| (c.kind, &c.method))).finish()
    }
}

impl Zone {
    pub fn get(&self, kind: DbKind) -> Option<&Cache> {
        self.caches.iter().find(|c| c.kind == kind)
    }

    /// What a command asking for `specs` would have loaded, from the caches; an error names a
    /// database it needs that has not synchronised yet.
    pub fn loaded(&self, specs: &dyn Fn(DbKind) -> Vec<TableSpec>) -> Result<Vec<Loaded>, String> {
        let mut out = vec![];
        for c in &self.caches {
            let s = specs(c.kind);
            if s.is_empty() {
                continue;
            }
            match c.loaded_for(&s) {
                Some(l) => out.push(l),
                None => {
                    let why = c
                        .read(|st| st.last_error.clone())
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default();
                    return Err(format!("{} ({}) has not been read yet{why}", c.kind.db_name(), c.method));
                }
            }
        }
        Ok(out)
    }
}
