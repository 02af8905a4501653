//! Parsing a database file's records into JSON while leaving out the tables and columns nobody
//! asked for: they are skipped as they are read (`serde::de::IgnoredAny`: checked, not built),
//! so a question about NAT rules does not build a tree for every port binding of a 45 MB
//! Southbound. Only transactions are pruned — the schema, and a record's other members, are
//! read whole — so the result replays exactly as the whole record would for the rows and
//! columns kept.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The tables to keep, each with the columns to keep (`None`: all of them).
pub type Keep = BTreeMap<String, Option<BTreeSet<String>>>;

/// Where in a record the parser is: what a JSON object there holds.
#[derive(Clone, Copy)]
pub enum At {
    /// A standalone file's transaction: `{TABLE: {UUID: ROW|null}, "_date": …}`.
    Txn,
    /// A clustered file's record: its `data`/`prev_data` member is `[schema, transaction]`.
    Cluster,
}

/// Parses one record, pruned by `keep`.
pub fn parse(body: &[u8], at: At, keep: &Keep) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = Seed { at: Some(at), keep }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// A value at `at` (`None`: an ordinary value, read whole).
struct Seed<'k> {
    at: Option<At>,
    keep: &'k Keep,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.at {
            None => serde::Deserialize::deserialize(d),
            Some(at) => d.deserialize_any(RecordVisitor { at, keep: self.keep }),
        }
    }
}

struct RecordVisitor<'k> {
    at: At,
    keep: &'k Keep,
}

impl<'de> Visitor<'de> for RecordVisitor<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OVSDB file record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = m.next_key::<String>()? {
            let v = match self.at {
                At::Txn if k.starts_with('_') => m.next_value::<Value>()?,
                At::Txn => match self.keep.get(&k) {
                    None => {
                        m.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    Some(None) => m.next_value::<Value>()?,
                    Some(Some(cols)) => m.next_value_seed(Rows { cols, row: false })?,
                },
                At::Cluster if k == "data" || k == "prev_data" => m.next_value_seed(Data { keep: self.keep })?,
                At::Cluster => m.next_value::<Value>()?,
            };
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
    // Anything else is not a record this parser prunes: kept as it is, for the reader's own
    // checks to judge.
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Value, A::Error> {
        let mut out = vec![];
        while let Some(v) = s.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// A clustered record's `[schema-or-null, transaction-or-null]`.
struct Data<'k> {
    keep: &'k Keep,
}

impl<'de> DeserializeSeed<'de> for Data<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(DataVisitor { keep: self.keep })
    }
}

struct DataVisitor<'k> {
    keep: &'k Keep,
}

impl<'de> Visitor<'de> for DataVisitor<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[schema, transaction]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Value, A::Error> {
        let mut out = vec![];
        if let Some(schema) = s.next_element::<Value>()? {
            out.push(schema);
            if let Some(txn) = s.next_element_seed(Seed {
                at: Some(At::Txn),
                keep: self.keep,
            })? {
                out.push(txn);
            }
        }
        while let Some(v) = s.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Value, A::Error> {
        serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(m))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// One table's `{UUID: ROW|null}` (`row: false`), or one row (`row: true`), each row with only
/// `cols`.
struct Rows<'k> {
    cols: &'k BTreeSet<String>,
    row: bool,
}

impl<'de> DeserializeSeed<'de> for Rows<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(RowsVisitor {
            cols: self.cols,
            row: self.row,
        })
    }
}

/// `row: false`: the table's map of rows; `true`: one row's map of columns.
struct RowsVisitor<'k> {
    cols: &'k BTreeSet<String>,
    row: bool,
}

impl<'de> Visitor<'de> for RowsVisitor<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if self.row { "a row" } else { "a table's rows" })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = m.next_key::<String>()? {
            if self.row {
                if k.starts_with('_') || self.cols.contains(&k) {
                    out.insert(k, m.next_value::<Value>()?);
                } else {
                    m.next_value::<IgnoredAny>()?;
                }
            } else {
                let row = m.next_value_seed(Rows {
                    cols: self.cols,
                    row: true,
                })?;
                out.insert(k, row);
            }
        }
        Ok(Value::Object(out))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Value, A::Error> {
        serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(s))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keep() -> Keep {
        let mut k = Keep::new();
        k.insert("NAT".into(), Some(["logical_ip".to_string()].into_iter().collect()));
        k.insert("NB_Global".into(), None);
        k
    }

    #[test]
    fn a_transaction_keeps_only_what_was_asked() {
        let txn = json!({
            "_date": 1, "_comment": "x",
            "NAT": {"u1": {"logical_ip": "10.0.0.1", "external_ip": "1.2.3.4"}, "u2": null},
            "Logical_Switch_Port": {"u3": {"name": "p"}},
            "NB_Global": {"u4": {"options": ["map", []], "name": "n"}}
        });
        let got = parse(txn.to_string().as_bytes(), At::Txn, &keep()).unwrap();
        assert_eq!(
            got,
            json!({"_date": 1, "_comment": "x", "NAT": {"u1": {"logical_ip": "10.0.0.1"}, "u2": null},
                   "NB_Global": {"u4": {"options": ["map", []], "name": "n"}}})
        );
    }

    #[test]
    fn a_clustered_record_prunes_its_data_only() {
        let rec = json!({"term": 2, "index": 7, "data": [null, {"NAT": {"u1": {"external_ip": "1.2.3.4"}}, "ACL": {}}], "eid": "e"});
        let got = parse(rec.to_string().as_bytes(), At::Cluster, &keep()).unwrap();
        assert_eq!(got, json!({"term": 2, "index": 7, "data": [null, {"NAT": {"u1": {}}}], "eid": "e"}));
        let header = json!({"name": "OVN_Northbound", "prev_data": [{"name": "schema"}, {"ACL": {"u": {}}}], "prev_index": 3});
        let got = parse(header.to_string().as_bytes(), At::Cluster, &keep()).unwrap();
        assert_eq!(
            got,
            json!({"name": "OVN_Northbound", "prev_data": [{"name": "schema"}, {}], "prev_index": 3})
        );
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        for bad in ["{", "{\"NAT\": {\"u\": {\"logical_ip\": }}}", "[1,", "{} x"] {
            assert!(parse(bad.as_bytes(), At::Txn, &keep()).is_err(), "{bad}");
        }
    }
}
