//! Database schemas (RFC 7047 §3.2): just enough to decode datums by column type and to know
//! which columns a server has, so that typed views can tolerate older and newer schemas.

use serde_json::Value;
use std::collections::BTreeMap;

/// The five atomic types of OVSDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    pub fn name(self) -> &'static str {
        match self {
            AtomicType::Integer => "integer",
            AtomicType::Real => "real",
            AtomicType::Boolean => "boolean",
            AtomicType::String => "string",
            AtomicType::Uuid => "uuid",
        }
    }

    fn parse(s: &str) -> Result<Self, SchemaError> {
        Ok(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            other => return Err(SchemaError(format!("unknown atomic type {other:?}"))),
        })
    }
}

/// The key or value part of a column type.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseType {
    pub atomic: AtomicType,
    /// For uuid columns that reference another table.
    pub ref_table: Option<String>,
}

/// A column's type: a set of `min..=max` keys, or a map when `value` is present.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    pub key: BaseType,
    pub value: Option<BaseType>,
    pub min: u64,
    /// `None` = "unlimited".
    pub max: Option<u64>,
}

impl ColumnType {
    /// A scalar column of one atomic type (`min = max = 1`).
    pub fn scalar(atomic: AtomicType) -> Self {
        ColumnType {
            key: BaseType { atomic, ref_table: None },
            value: None,
            min: 1,
            max: Some(1),
        }
    }

    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// More than one element allowed: `update2` `modify` sends a diff for these columns
    /// (toggle set elements, per-key map changes) instead of the new value.
    pub fn is_composite(&self) -> bool {
        self.max.is_none_or(|m| m > 1)
    }

    /// "Optional": a set of zero or one element (`["set",[]]` when unset).
    pub fn is_optional(&self) -> bool {
        self.min == 0 && self.max == Some(1) && self.value.is_none()
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    pub ty: ColumnType,
    pub ephemeral: bool,
}

/// One table of a database.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnSchema>,
    pub is_root: bool,
}

impl TableSchema {
    /// The column's schema, including the implicit `_uuid` and `_version`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        static UUID: std::sync::OnceLock<ColumnSchema> = std::sync::OnceLock::new();
        match name {
            "_uuid" | "_version" => Some(UUID.get_or_init(|| ColumnSchema {
                ty: ColumnType::scalar(AtomicType::Uuid),
                ephemeral: false,
            })),
            _ => self.columns.get(name),
        }
    }
}

/// A database schema as `get_schema` returns it and as `.ovsschema` files hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSchema {
    pub name: String,
    pub version: String,
    pub cksum: Option<String>,
    pub tables: BTreeMap<String, TableSchema>,
}

/// A schema that does not follow RFC 7047 §3.2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema: {0}")]
pub struct SchemaError(pub String);

fn base_type(v: &Value) -> Result<BaseType, SchemaError> {
    match v {
        Value::String(s) => Ok(BaseType {
            atomic: AtomicType::parse(s)?,
            ref_table: None,
        }),
        Value::Object(o) => {
            let t = o
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| SchemaError("base type without \"type\"".into()))?;
            Ok(BaseType {
                atomic: AtomicType::parse(t)?,
                ref_table: o.get("refTable").and_then(Value::as_str).map(str::to_string),
            })
        }
        other => Err(SchemaError(format!("bad base type {other}"))),
    }
}

fn column_type(v: &Value) -> Result<ColumnType, SchemaError> {
    match v {
        Value::String(_) => Ok(ColumnType {
            key: base_type(v)?,
            value: None,
            min: 1,
            max: Some(1),
        }),
        Value::Object(o) => {
            let key = base_type(o.get("key").ok_or_else(|| SchemaError("column type without \"key\"".into()))?)?;
            let value = o.get("value").map(base_type).transpose()?;
            let min = o
                .get("min")
                .map(|m| m.as_u64().ok_or_else(|| SchemaError(format!("bad min {m}"))))
                .transpose()?
                .unwrap_or(1);
            let max = match o.get("max") {
                None => Some(1),
                Some(Value::String(s)) if s == "unlimited" => None,
                Some(m) => Some(m.as_u64().ok_or_else(|| SchemaError(format!("bad max {m}")))?),
            };
            Ok(ColumnType { key, value, min, max })
        }
        other => Err(SchemaError(format!("bad column type {other}"))),
    }
}

impl DatabaseSchema {
    pub fn from_json(v: &Value) -> Result<Self, SchemaError> {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| SchemaError("schema without \"name\"".into()))?;
        let version = v.get("version").and_then(Value::as_str).unwrap_or("").to_string();
        let tables_json = v
            .get("tables")
            .and_then(Value::as_object)
            .ok_or_else(|| SchemaError(format!("schema {name} has no \"tables\" object")))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in tables_json {
            let cols = t
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| SchemaError(format!("table {tname} has no \"columns\"")))?;
            let mut columns = BTreeMap::new();
            for (cname, c) in cols {
                let ty = column_type(
                    c.get("type")
                        .ok_or_else(|| SchemaError(format!("column {tname}.{cname} has no type")))?,
                )
                .map_err(|e| SchemaError(format!("column {tname}.{cname}: {}", e.0)))?;
                let ephemeral = c.get("ephemeral").and_then(Value::as_bool).unwrap_or(false);
                columns.insert(cname.clone(), ColumnSchema { ty, ephemeral });
            }
            let is_root = t.get("isRoot").and_then(Value::as_bool).unwrap_or(false);
            tables.insert(tname.clone(), TableSchema { columns, is_root });
        }
        Ok(DatabaseSchema {
            name: name.to_string(),
            version,
            cksum: v.get("cksum").and_then(Value::as_str).map(str::to_string),
            tables,
        })
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }

    /// The schema as RFC 7047 writes it, with what ovnscope keeps of it (types, `isRoot`,
    /// `ephemeral`; not enums or constraints): enough for [`DatabaseSchema::from_json`] to give
    /// back an equal schema, which is how `ovnscope serve` hands its schema to a client.
    pub fn to_json(&self) -> Value {
        fn base(b: &BaseType) -> Value {
            match &b.ref_table {
                None => Value::from(b.atomic.name()),
                Some(t) => serde_json::json!({"type": b.atomic.name(), "refTable": t}),
            }
        }
        let tables: serde_json::Map<String, Value> = self
            .tables
            .iter()
            .map(|(name, t)| {
                let columns: serde_json::Map<String, Value> = t
                    .columns
                    .iter()
                    .map(|(c, cs)| {
                        let ty = &cs.ty;
                        let mut o = serde_json::json!({
                            "key": base(&ty.key),
                            "min": ty.min,
                            "max": ty.max.map_or(Value::from("unlimited"), Value::from),
                        });
                        if let Some(v) = &ty.value {
                            o["value"] = base(v);
                        }
                        let mut col = serde_json::json!({ "type": o });
                        if cs.ephemeral {
                            col["ephemeral"] = Value::Bool(true);
                        }
                        (c.clone(), col)
                    })
                    .collect();
                (name.clone(), serde_json::json!({"columns": columns, "isRoot": t.is_root}))
            })
            .collect();
        let mut v = serde_json::json!({"name": self.name, "version": self.version, "tables": tables});
        if let Some(c) = &self.cksum {
            v["cksum"] = Value::from(c.as_str());
        }
        v
    }
}

/// Differences between two schemas of the same database, for humans and tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SchemaDiff {
    pub missing_tables: Vec<String>,
    pub extra_tables: Vec<String>,
    /// `table.column` present in `expected` but not in `actual`.
    pub missing_columns: Vec<String>,
    pub extra_columns: Vec<String>,
    /// `table.column` whose type differs.
    pub changed_columns: Vec<String>,
}

impl SchemaDiff {
    pub fn between(expected: &DatabaseSchema, actual: &DatabaseSchema) -> Self {
        let mut d = SchemaDiff::default();
        for (t, et) in &expected.tables {
            let Some(at) = actual.tables.get(t) else {
                d.missing_tables.push(t.clone());
                continue;
            };
            for (c, ec) in &et.columns {
                match at.columns.get(c) {
                    None => d.missing_columns.push(format!("{t}.{c}")),
                    Some(ac) if ac.ty != ec.ty => d.changed_columns.push(format!("{t}.{c}")),
                    _ => {}
                }
            }
            d.extra_columns.extend(
                at.columns
                    .keys()
                    .filter(|c| !et.columns.contains_key(*c))
                    .map(|c| format!("{t}.{c}")),
            );
        }
        d.extra_tables
            .extend(actual.tables.keys().filter(|t| !expected.tables.contains_key(*t)).cloned());
        d
    }

    pub fn is_empty(&self) -> bool {
        self.missing_tables.is_empty()
            && self.extra_tables.is_empty()
            && self.missing_columns.is_empty()
            && self.extra_columns.is_empty()
            && self.changed_columns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_column_types() {
        let s = DatabaseSchema::from_json(&json!({
            "name": "X", "version": "1.2.3",
            "tables": {"T": {"isRoot": true, "columns": {
                "a": {"type": "string"},
                "b": {"type": {"key": {"type": "uuid", "refTable": "U"}, "min": 0, "max": "unlimited"}},
                "c": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "d": {"type": {"key": "integer", "min": 0, "max": 1}, "ephemeral": true}
            }}}
        }))
        .unwrap();
        let t = s.table("T").unwrap();
        assert!(t.is_root);
        assert!(!t.column("a").unwrap().ty.is_composite());
        assert!(t.column("b").unwrap().ty.is_composite());
        assert_eq!(t.column("b").unwrap().ty.key.ref_table.as_deref(), Some("U"));
        assert!(t.column("c").unwrap().ty.is_map());
        assert!(t.column("d").unwrap().ty.is_optional());
        assert!(t.column("d").unwrap().ephemeral);
        assert_eq!(t.column("_uuid").unwrap().ty.key.atomic, AtomicType::Uuid);
    }

    #[test]
    fn bad_schema_is_an_error() {
        assert!(DatabaseSchema::from_json(&json!({"name": "X"})).is_err());
        assert!(DatabaseSchema::from_json(&json!({"name": "X", "tables": {"T": {"columns": {"a": {"type": "float"}}}}})).is_err());
    }

    #[test]
    fn to_json_reads_back_equal() {
        for f in ["ovn-nb.ovsschema", "ovn-sb.ovsschema", "vswitch.ovsschema"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(f);
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let s = DatabaseSchema::from_json(&v).unwrap();
            assert_eq!(DatabaseSchema::from_json(&s.to_json()).unwrap(), s, "{f}");
        }
    }
}
