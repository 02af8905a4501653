//! Reading one row's columns as Rust values, with the schema's defaults for columns the update
//! left out and "unset" for columns the schema does not have.

use crate::ovsdb::proto::{Atom, Datum, Row, Snapshot};
use std::borrow::Cow;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A row of a snapshot, read by column name.
#[derive(Clone, Copy)]
pub struct RowView<'a> {
    pub snap: &'a Snapshot,
    pub table: &'a str,
    pub uuid: Uuid,
    pub row: &'a Row,
}

impl<'a> RowView<'a> {
    /// All rows of a table.
    pub fn all(snap: &'a Snapshot, table: &'a str) -> impl Iterator<Item = RowView<'a>> + 'a {
        snap.rows(table).map(move |(u, row)| RowView {
            snap,
            table,
            uuid: *u,
            row,
        })
    }

    /// The column's value; `None` when the schema has no such column.
    pub fn datum(&self, col: &str) -> Option<Cow<'a, Datum>> {
        if let Some(d) = self.row.columns.get(col) {
            return Some(Cow::Borrowed(d));
        }
        let ty = &self.snap.schema.table(self.table)?.column(col)?.ty;
        Some(Cow::Owned(Datum::default_for(ty)))
    }

    pub fn has_column(&self, col: &str) -> bool {
        self.snap.schema.table(self.table).and_then(|t| t.column(col)).is_some()
    }

    fn first(&self, col: &str) -> Option<Atom> {
        self.datum(col).and_then(|d| d.first().cloned())
    }

    /// A string column (empty when unset or absent).
    pub fn str(&self, col: &str) -> String {
        self.opt_str(col).unwrap_or_default()
    }
    /// An optional string column.
    pub fn opt_str(&self, col: &str) -> Option<String> {
        self.first(col).and_then(|a| a.as_str().map(str::to_string))
    }
    pub fn int(&self, col: &str) -> Option<i64> {
        self.first(col).and_then(|a| a.as_i64())
    }
    pub fn bool(&self, col: &str) -> Option<bool> {
        self.first(col).and_then(|a| a.as_bool())
    }
    pub fn uuid(&self, col: &str) -> Option<Uuid> {
        self.first(col).and_then(|a| a.as_uuid())
    }
    /// A set of strings.
    pub fn strs(&self, col: &str) -> Vec<String> {
        self.datum(col)
            .map(|d| d.as_set().iter().filter_map(|a| a.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
    /// A set of uuids (references).
    pub fn uuids(&self, col: &str) -> Vec<Uuid> {
        self.datum(col)
            .map(|d| d.as_set().iter().filter_map(Atom::as_uuid).collect())
            .unwrap_or_default()
    }
    /// A map rendered with string keys and values (integer keys/values as text).
    pub fn map(&self, col: &str) -> BTreeMap<String, String> {
        self.datum(col)
            .map(|d| d.as_map().iter().map(|(k, v)| (k.to_plain_string(), v.to_plain_string())).collect())
            .unwrap_or_default()
    }
    /// A map from string keys to uuids (e.g. `HA_Chassis_Group` users).
    pub fn uuid_map(&self, col: &str) -> BTreeMap<String, Uuid> {
        self.datum(col)
            .map(|d| {
                d.as_map()
                    .iter()
                    .filter_map(|(k, v)| Some((k.to_plain_string(), v.as_uuid()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}
