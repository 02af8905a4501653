//! Loading a snapshot of the columns a view needs, live from a server.

use super::DbKind;
use crate::ovsdb::proto::{DatabaseSchema, Snapshot};
use crate::ovsdb::{Client, Condition, MonitorRequest, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The columns wanted from one table.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

/// A snapshot plus what did not fit the schema.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub kind: DbKind,
    /// Where it came from: the method string.
    pub source: String,
    pub snapshot: Snapshot,
    pub warnings: Vec<String>,
}

impl Loaded {
    /// An empty snapshot of the same database and schema, to select a few rows into without
    /// asking the server for its schema again.
    pub fn empty_like(&self) -> Loaded {
        Loaded {
            kind: self.kind,
            source: self.source.clone(),
            snapshot: Snapshot::new(self.snapshot.schema.clone()),
            warnings: vec![],
        }
    }
}

/// Columns newer than the oldest schema ovnscope reads (OVN 23.03): on an older server they are
/// simply unset, so their absence is not worth a warning (Northbound NAT `match`/`priority`,
/// OVN 24.09; Southbound `Datapath_Binding.nb_uuid` and `type`, 25.09).
pub const NEWER: &[(&str, &str)] = &[
    ("NAT", "match"),
    ("NAT", "priority"),
    ("Datapath_Binding", "nb_uuid"),
    ("Datapath_Binding", "type"),
];

/// Which of the wanted tables and columns the schema has, and warnings for the rest: one line
/// per table, naming the schema version so the user knows it is an older or newer release.
pub fn plan(schema: &DatabaseSchema, specs: &[TableSpec]) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut plan = BTreeMap::new();
    let mut warnings = vec![];
    for spec in specs {
        let Some(ts) = schema.table(spec.table) else {
            warnings.push(format!(
                "{} {}: no table {} (treated as empty)",
                schema.name, schema.version, spec.table
            ));
            continue;
        };
        let (have, mut missing): (Vec<&str>, Vec<&str>) = spec.columns.iter().partition(|c| ts.column(c).is_some());
        missing.retain(|c| !NEWER.contains(&(spec.table, *c)));
        if !missing.is_empty() {
            warnings.push(format!(
                "{} {}: table {} has no column {} (treated as unset)",
                schema.name,
                schema.version,
                spec.table,
                missing.join(", ")
            ));
        }
        plan.insert(spec.table.to_string(), have.into_iter().map(str::to_string).collect());
    }
    (plan, warnings)
}

/// Reads the wanted tables through one `monitor_cond` (the same path a long-running watch
/// uses), applies the initial rows, and cancels the monitor.
pub async fn load_live(client: &Client, kind: DbKind, specs: &[TableSpec]) -> Result<Loaded> {
    load_live_where(client, kind, specs, &Conditions::new()).await
}

/// Per-table monitor conditions (ORed by the server), for questions that need only some rows.
pub type Conditions = BTreeMap<&'static str, Vec<Condition>>;

/// Like [`load_live`], asking the server only for the rows that match `conds` in the tables
/// named there (all rows elsewhere).
pub async fn load_live_where(client: &Client, kind: DbKind, specs: &[TableSpec], conds: &Conditions) -> Result<Loaded> {
    let mut loaded = start_live(client, kind).await?;
    fetch_into(client, &mut loaded, specs, conds).await?;
    Ok(loaded)
}

/// Reads the wanted tables from an offline database file (`file:PATH`). Blocking: call it from
/// `spawn_blocking`. The file's own schema decides which wanted columns exist, exactly as a
/// live server's would.
pub fn load_file(path: &std::path::Path, kind: DbKind, specs: &[TableSpec]) -> Result<Loaded> {
    let keep = specs
        .iter()
        .map(|t| (t.table.to_string(), Some(t.columns.iter().map(|c| c.to_string()).collect())))
        .collect();
    let f = crate::ovsdb::file::read_path_keeping(path, Some(keep))?;
    let name = &f.snapshot.schema.name;
    if name != kind.db_name() {
        return Err(crate::ovsdb::Error::WrongDatabase {
            path: path.display().to_string(),
            found: name.clone(),
            wanted: kind.db_name().into(),
        });
    }
    let (_, mut warnings) = plan(&f.snapshot.schema, specs);
    warnings.splice(0..0, f.warnings);
    Ok(Loaded {
        kind,
        source: format!("file:{}", path.display()),
        snapshot: f.snapshot,
        warnings,
    })
}

/// An empty view of a live database, to be filled table by table with [`fetch_into`] when a
/// question needs only a few rows.
pub async fn start_live(client: &Client, kind: DbKind) -> Result<Loaded> {
    let schema = Arc::new(client.get_schema(kind.db_name()).await?);
    Ok(Loaded {
        kind,
        source: client.peer().to_string(),
        snapshot: Snapshot::new(schema),
        warnings: vec![],
    })
}

/// Adds the rows of `specs` tables that match `conds` (ORed per table; a table without
/// conditions is read whole) to `loaded`, through one conditional monitor.
pub async fn fetch_into(client: &Client, loaded: &mut Loaded, specs: &[TableSpec], conds: &Conditions) -> Result<()> {
    let (plan, warnings) = plan(&loaded.snapshot.schema, specs);
    for w in warnings {
        if !loaded.warnings.contains(&w) {
            loaded.warnings.push(w);
        }
    }
    let requests: BTreeMap<String, MonitorRequest> = plan
        .into_iter()
        .map(|(t, cols)| {
            let conditions = conds.get(t.as_str()).cloned().unwrap_or_default();
            (
                t,
                MonitorRequest {
                    columns: Some(cols),
                    conditions,
                },
            )
        })
        .collect();
    if requests.is_empty() {
        return Ok(());
    }
    let (initial, monitor) = client.monitor_cond(loaded.kind.db_name(), &requests).await?;
    loaded.snapshot.apply_update2(&initial)?;
    client.monitor_cancel(monitor).await
}

/// Adds the rows that each `(table, conditions)` select returns (conditions ANDed), all in one
/// read-only transaction. Cheaper than a conditional monitor for a few rows of a big table:
/// ovsdb-server answers a select without setting up monitor state.
pub async fn select_into(
    client: &Client,
    loaded: &mut Loaded,
    specs: &[TableSpec],
    selects: &[(&'static str, Vec<Condition>)],
) -> Result<()> {
    if selects.is_empty() {
        return Ok(());
    }
    let (plan, warnings) = plan(&loaded.snapshot.schema, specs);
    for w in warnings {
        if !loaded.warnings.contains(&w) {
            loaded.warnings.push(w);
        }
    }
    let ops: Vec<crate::ovsdb::Select> = selects
        .iter()
        .filter_map(|(t, conds)| {
            let mut cols = plan.get(*t)?.clone();
            cols.push("_uuid".into());
            Some(crate::ovsdb::Select {
                table: (*t).into(),
                conditions: conds.clone(),
                columns: Some(cols),
            })
        })
        .collect();
    let results = client.select(loaded.kind.db_name(), &ops).await?;
    for (op, rows) in ops.iter().zip(results) {
        loaded.snapshot.insert_selected(&op.table, &rows)?;
    }
    Ok(())
}
