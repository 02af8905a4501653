//! The one in-memory picture of a database that every layer above reads: rows by table and
//! uuid, decoded by schema. It is filled from a live `monitor_cond` (initial rows, then
//! `update2` notifications) or from a `transact` select, and later from database files.

use super::datum::{Datum, DatumError};
use super::schema::{DatabaseSchema, TableSchema};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// One row: only the columns that were sent. A column of the schema that is absent has its
/// default value (`initial`/`insert` in update2 omit columns equal to the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub columns: BTreeMap<String, Datum>,
}

/// All rows of one database.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub schema: Arc<DatabaseSchema>,
    pub tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
}

/// An update that does not fit the schema or the current rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad update for {table}{}: {reason}", .row.map(|u| format!(" row {u}")).unwrap_or_default())]
pub struct UpdateError {
    pub table: String,
    pub row: Option<Uuid>,
    pub reason: String,
}

fn table_schema<'a>(schema: &'a DatabaseSchema, table: &str) -> Result<&'a TableSchema, UpdateError> {
    schema.table(table).ok_or_else(|| UpdateError {
        table: table.to_string(),
        row: None,
        reason: format!("table is not in schema {} {}", schema.name, schema.version),
    })
}

/// Decodes a row object `{column: datum, …}` by the table's schema.
pub fn decode_row(ts: &TableSchema, table: &str, uuid: Option<Uuid>, v: &Value) -> Result<Row, UpdateError> {
    let obj = v.as_object().ok_or_else(|| UpdateError {
        table: table.into(),
        row: uuid,
        reason: format!("row is not an object: {v}"),
    })?;
    let mut row = Row::default();
    for (c, val) in obj {
        let col = ts.column(c).ok_or_else(|| UpdateError {
            table: table.into(),
            row: uuid,
            reason: format!("unknown column {c:?}"),
        })?;
        let d = Datum::from_json(&col.ty, val).map_err(|DatumError(e)| UpdateError {
            table: table.into(),
            row: uuid,
            reason: format!("column {c}: {e}"),
        })?;
        row.columns.insert(c.clone(), d);
    }
    Ok(row)
}

fn parse_uuid(table: &str, s: &str) -> Result<Uuid, UpdateError> {
    Uuid::parse_str(s).map_err(|e| UpdateError {
        table: table.into(),
        row: None,
        reason: format!("bad row uuid {s:?}: {e}"),
    })
}

impl Snapshot {
    pub fn new(schema: Arc<DatabaseSchema>) -> Self {
        Snapshot {
            schema,
            tables: BTreeMap::new(),
        }
    }

    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&Uuid, &Row)> {
        self.tables.get(table).into_iter().flat_map(|t| t.iter())
    }

    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, BTreeMap::len)
    }

    /// Applies `<table-updates2>` (the `monitor_cond` reply or one `update2` notification).
    pub fn apply_update2(&mut self, updates: &Value) -> Result<(), UpdateError> {
        let tables = updates.as_object().ok_or_else(|| UpdateError {
            table: String::new(),
            row: None,
            reason: "table-updates2 is not an object".into(),
        })?;
        for (table, rows) in tables {
            let ts = table_schema(&self.schema, table)?;
            let rows = rows.as_object().ok_or_else(|| UpdateError {
                table: table.clone(),
                row: None,
                reason: "rows are not an object".into(),
            })?;
            let data = self.tables.entry(table.clone()).or_default();
            for (uuid_s, upd) in rows {
                let uuid = parse_uuid(table, uuid_s)?;
                let err = |reason: String| UpdateError {
                    table: table.clone(),
                    row: Some(uuid),
                    reason,
                };
                let (kind, body) = match upd.as_object().map(|o| o.iter().next()) {
                    Some(Some((k, b))) if upd.as_object().is_some_and(|o| o.len() == 1) => (k.as_str(), b),
                    _ => {
                        return Err(err(format!(
                            "row update must have exactly one of initial/insert/delete/modify: {upd}"
                        )))
                    }
                };
                match kind {
                    "initial" | "insert" => {
                        data.insert(uuid, decode_row(ts, table, Some(uuid), body)?);
                    }
                    "delete" => {
                        data.remove(&uuid);
                    }
                    "modify" => {
                        let diff = decode_row(ts, table, Some(uuid), body)?;
                        let row = data
                            .get_mut(&uuid)
                            .ok_or_else(|| err("modify for a row that does not exist".into()))?;
                        for (c, d) in diff.columns {
                            let ty = &ts.column(&c).expect("decode_row checked the column").ty;
                            if ty.is_composite() {
                                let cur = row.columns.entry(c.clone()).or_insert_with(|| Datum::default_for(ty));
                                cur.apply_diff(&d).map_err(|e| err(format!("column {c}: {e}")))?;
                            } else {
                                row.columns.insert(c, d);
                            }
                        }
                    }
                    other => return Err(err(format!("unknown row update kind {other:?}"))),
                }
            }
        }
        Ok(())
    }

    /// Applies one transaction record of a database file (ovsdb(5) "Standalone Format"):
    /// `{table: {uuid: row-or-null}}` plus `_date`/`_comment`. A null row deletes; a row that
    /// exists is modified (new values of the changed columns, or, when the record carries
    /// `"_is_diff": true` as OVS 2.15+ writes, diffs for set and map columns as in update2); any
    /// other row is inserted with defaults for the columns left out.
    pub fn apply_file_txn(&mut self, txn: &Value) -> Result<(), UpdateError> {
        let obj = txn.as_object().ok_or_else(|| UpdateError {
            table: String::new(),
            row: None,
            reason: "transaction record is not an object".into(),
        })?;
        let is_diff = obj.get("_is_diff").and_then(Value::as_bool).unwrap_or(false);
        for (table, rows) in obj {
            if table.starts_with('_') {
                continue; // _date, _comment, _is_diff
            }
            let ts = table_schema(&self.schema, table)?;
            let rows = rows.as_object().ok_or_else(|| UpdateError {
                table: table.clone(),
                row: None,
                reason: "rows are not an object".into(),
            })?;
            let data = self.tables.entry(table.clone()).or_default();
            for (uuid_s, row) in rows {
                let uuid = parse_uuid(table, uuid_s)?;
                if row.is_null() {
                    if data.remove(&uuid).is_none() {
                        return Err(UpdateError {
                            table: table.clone(),
                            row: Some(uuid),
                            reason: "transaction deletes a row that does not exist".into(),
                        });
                    }
                    continue;
                }
                let new = decode_row(ts, table, Some(uuid), row)?;
                match data.get_mut(&uuid) {
                    None => {
                        data.insert(uuid, new);
                    }
                    Some(cur) => {
                        for (c, d) in new.columns {
                            let ty = &ts.column(&c).expect("decode_row checked the column").ty;
                            if is_diff && ty.is_composite() {
                                let slot = cur.columns.entry(c.clone()).or_insert_with(|| Datum::default_for(ty));
                                slot.apply_diff(&d).map_err(|e| UpdateError {
                                    table: table.clone(),
                                    row: Some(uuid),
                                    reason: format!("column {c}: {e}"),
                                })?;
                            } else {
                                cur.columns.insert(c, d);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds rows from a `select` result; each row must carry `_uuid`.
    pub fn insert_selected(&mut self, table: &str, rows: &[Value]) -> Result<(), UpdateError> {
        let ts = table_schema(&self.schema, table)?;
        let data = self.tables.entry(table.to_string()).or_default();
        for r in rows {
            let mut row = decode_row(ts, table, None, r)?;
            let uuid = row
                .columns
                .remove("_uuid")
                .and_then(|d| d.first().and_then(|a| a.as_uuid()))
                .ok_or_else(|| UpdateError {
                    table: table.into(),
                    row: None,
                    reason: "selected row has no _uuid".into(),
                })?;
            data.insert(uuid, row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nat_schema() -> Arc<DatabaseSchema> {
        Arc::new(
            DatabaseSchema::from_json(&json!({"name": "OVN_Northbound", "version": "7.0.0", "tables": {
                "NAT": {"columns": {
                    "external_ip": {"type": "string"}, "logical_ip": {"type": "string"}, "type": {"type": "string"},
                    "options": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}},
                "Logical_Router": {"isRoot": true, "columns": {
                    "name": {"type": "string"},
                    "nat": {"type": {"key": {"type": "uuid", "refTable": "NAT"}, "min": 0, "max": "unlimited"}}}}
            }}))
            .unwrap(),
        )
    }

    const LR: &str = "2fa2783e-0000-4000-8000-000000000000";
    const N1: &str = "18bb26ec-0000-4000-8000-000000000001";
    const N2: &str = "3e499b11-0000-4000-8000-000000000002";

    /// The sequence seen on the wire in lab-facts §3(f): lr-nat-add, then lr-nat-del.
    #[test]
    fn update2_insert_then_delete_with_set_toggles() {
        let mut s = Snapshot::new(nat_schema());
        s.apply_update2(&json!({
            "NAT": {N1: {"initial": {"external_ip": "198.18.0.9", "logical_ip": "10.128.2.44", "type": "snat"}}},
            "Logical_Router": {LR: {"initial": {"name": "GR_worker-1", "nat": ["uuid", N1]}}}
        }))
        .unwrap();
        let add = json!({
            "NAT": {N2: {"insert": {"external_ip": "198.18.0.9", "logical_ip": "10.128.3.99", "type": "snat"}}},
            "Logical_Router": {LR: {"modify": {"nat": ["uuid", N2]}}}
        });
        s.apply_update2(&add).unwrap();
        let lr = Uuid::parse_str(LR).unwrap();
        assert_eq!(s.row("Logical_Router", &lr).unwrap().columns["nat"].as_set().len(), 2);
        assert_eq!(s.len("NAT"), 2);
        s.apply_update2(&json!({
            "NAT": {N2: {"delete": null}},
            "Logical_Router": {LR: {"modify": {"nat": ["uuid", N2]}}}
        }))
        .unwrap();
        let nat = &s.row("Logical_Router", &lr).unwrap().columns["nat"];
        assert_eq!(nat.as_set().len(), 1);
        assert_eq!(nat.first().unwrap().as_uuid().unwrap().to_string(), N1);
        assert_eq!(s.len("NAT"), 1);
    }

    #[test]
    fn modify_of_absent_map_column_starts_from_default() {
        let mut s = Snapshot::new(nat_schema());
        s.apply_update2(&json!({"NAT": {N1: {"insert": {"type": "snat"}}}})).unwrap();
        s.apply_update2(&json!({"NAT": {N1: {"modify": {"options": ["map", [["stateless", "true"]]], "type": "dnat"}}}}))
            .unwrap();
        let r = s.row("NAT", &Uuid::parse_str(N1).unwrap()).unwrap();
        assert_eq!(r.columns["options"].get("stateless").unwrap().as_str(), Some("true"));
        assert_eq!(r.columns["type"].first().unwrap().as_str(), Some("dnat"));
    }

    /// The records `ovsdb-server` 3.1 wrote for lr-add, two lr-nat-add and a `set` of options
    /// (copied from a real file, uuids shortened to the test's).
    #[test]
    fn file_transactions_with_diffs() {
        let mut s = Snapshot::new(nat_schema());
        s.apply_file_txn(&json!({"_date": 1, "Logical_Router": {LR: {"name": "R1"}}, "_is_diff": true, "_comment": "lr-add"}))
            .unwrap();
        for (n, ip) in [(N1, "10.0.0.1"), (N2, "10.0.0.2")] {
            s.apply_file_txn(&json!({"NAT": {n: {"external_ip": "1.1.1.1", "logical_ip": ip, "type": "snat"}},
                "Logical_Router": {LR: {"nat": ["uuid", n]}}, "_is_diff": true}))
                .unwrap();
        }
        let lr = Uuid::parse_str(LR).unwrap();
        assert_eq!(s.row("Logical_Router", &lr).unwrap().columns["nat"].as_set().len(), 2, "diffs add");
        s.apply_file_txn(&json!({"NAT": {N1: null}, "Logical_Router": {LR: {"nat": ["uuid", N1]}}, "_is_diff": true}))
            .unwrap();
        assert_eq!(s.row("Logical_Router", &lr).unwrap().columns["nat"].as_set().len(), 1, "and remove");
        // Without _is_diff (files from before OVS 2.15) a modified column holds its new value.
        s.apply_file_txn(&json!({"Logical_Router": {LR: {"nat": ["set", []]}}})).unwrap();
        assert!(s.row("Logical_Router", &lr).unwrap().columns["nat"].as_set().is_empty());
        assert!(s.apply_file_txn(&json!({"NAT": {N1: null}})).is_err(), "deleting a missing row");
    }

    #[test]
    fn bad_updates_are_errors() {
        let mut s = Snapshot::new(nat_schema());
        assert!(s.apply_update2(&json!({"Nope": {}})).is_err());
        assert!(s.apply_update2(&json!({"NAT": {N1: {"modify": {"type": "x"}}}})).is_err());
        assert!(s.apply_update2(&json!({"NAT": {N1: {"insert": {"bogus": 1}}}})).is_err());
        assert!(s.apply_update2(&json!({"NAT": {"not-a-uuid": {"insert": {}}}})).is_err());
        assert!(s.apply_update2(&json!({"NAT": {N1: {"upsert": {}}}})).is_err());
    }
}
