//! OVSDB values (RFC 7047 §5.1), decoded by the column's schema type.
//!
//! The wire notation is ambiguous on its own: `["uuid","…"]` and `["set",[…]]` are both
//! two-element arrays, a set of one element is sent as the bare atom, and an unset optional
//! column is `["set",[]]`. Only the column type says what was meant, so decoding always takes
//! the [`ColumnType`].

use super::schema::{AtomicType, BaseType, ColumnType};
use serde_json::{json, Value};
use std::cmp::Ordering;
use uuid::Uuid;

/// One atomic value.
#[derive(Debug, Clone)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        use Atom::*;
        fn rank(a: &Atom) -> u8 {
            match a {
                Integer(_) => 0,
                Real(_) => 1,
                Boolean(_) => 2,
                String(_) => 3,
                Uuid(_) => 4,
            }
        }
        match (self, other) {
            (Integer(a), Integer(b)) => a.cmp(b),
            (Real(a), Real(b)) => a.total_cmp(b),
            (Boolean(a), Boolean(b)) => a.cmp(b),
            (String(a), String(b)) => a.cmp(b),
            (Uuid(a), Uuid(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl Atom {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as a user would write it (strings unquoted).
    pub fn to_plain_string(&self) -> String {
        match self {
            Atom::Integer(i) => i.to_string(),
            Atom::Real(r) => r.to_string(),
            Atom::Boolean(b) => b.to_string(),
            Atom::String(s) => s.clone(),
            Atom::Uuid(u) => u.to_string(),
        }
    }

    pub fn default_for(t: AtomicType) -> Atom {
        match t {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid::nil()),
        }
    }

    /// Decodes one atom of the given base type.
    pub fn from_json(base: &BaseType, v: &Value) -> Result<Atom, DatumError> {
        let err = || DatumError(format!("expected {:?}, got {}", base.atomic, short(v)));
        Ok(match base.atomic {
            AtomicType::Integer => Atom::Integer(match v {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                    .ok_or_else(err)?,
                _ => return Err(err()),
            }),
            AtomicType::Real => Atom::Real(v.as_f64().ok_or_else(err)?),
            AtomicType::Boolean => Atom::Boolean(v.as_bool().ok_or_else(err)?),
            AtomicType::String => Atom::String(v.as_str().ok_or_else(err)?.to_string()),
            AtomicType::Uuid => match v.as_array().map(Vec::as_slice) {
                Some([Value::String(tag), Value::String(u)]) if tag == "uuid" => {
                    Atom::Uuid(Uuid::parse_str(u).map_err(|e| DatumError(format!("bad uuid {u:?}: {e}")))?)
                }
                _ => return Err(err()),
            },
        })
    }

    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
        }
    }
}

/// A column value: a set of atoms (scalars are sets of one) or a map. Both kept sorted and
/// without duplicates, so equality is the OVSDB notion of equality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    Set(Vec<Atom>),
    Map(Vec<(Atom, Atom)>),
}

/// A value that does not fit its column type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DatumError(pub String);

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.floor_char_boundary(60)])
    } else {
        s
    }
}

impl Datum {
    pub fn empty_set() -> Self {
        Datum::Set(vec![])
    }
    pub fn scalar(a: Atom) -> Self {
        Datum::Set(vec![a])
    }

    /// The value a column has when nothing was written to it (RFC 7047 §5.1: empty for
    /// `min = 0`, otherwise the atom's default).
    pub fn default_for(ty: &ColumnType) -> Self {
        if ty.min == 0 {
            if ty.is_map() {
                Datum::Map(vec![])
            } else {
                Datum::Set(vec![])
            }
        } else {
            let k = Atom::default_for(ty.key.atomic);
            match &ty.value {
                Some(v) => Datum::Map(vec![(k, Atom::default_for(v.atomic))]),
                None => Datum::Set(vec![k]),
            }
        }
    }

    fn set_from(mut v: Vec<Atom>) -> Self {
        v.sort();
        v.dedup();
        Datum::Set(v)
    }

    fn map_from(mut v: Vec<(Atom, Atom)>) -> Self {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        Datum::Map(v)
    }

    /// Decodes a column value by its type.
    pub fn from_json(ty: &ColumnType, v: &Value) -> Result<Datum, DatumError> {
        if let Some(vt) = &ty.value {
            let pairs = match v.as_array().map(Vec::as_slice) {
                Some([Value::String(tag), Value::Array(p)]) if tag == "map" => p,
                _ => return Err(DatumError(format!("expected [\"map\",[…]], got {}", short(v)))),
            };
            let mut out = Vec::with_capacity(pairs.len());
            for p in pairs {
                match p.as_array().map(Vec::as_slice) {
                    Some([k, val]) => out.push((Atom::from_json(&ty.key, k)?, Atom::from_json(vt, val)?)),
                    _ => return Err(DatumError(format!("bad map pair {}", short(p)))),
                }
            }
            return Ok(Datum::map_from(out));
        }
        if let Some([Value::String(tag), Value::Array(elems)]) = v.as_array().map(Vec::as_slice) {
            if tag == "set" {
                let atoms = elems.iter().map(|e| Atom::from_json(&ty.key, e)).collect::<Result<Vec<_>, _>>()?;
                return Ok(Datum::set_from(atoms));
            }
        }
        Ok(Datum::Set(vec![Atom::from_json(&ty.key, v)?]))
    }

    /// The wire notation (one-element sets as the bare atom, as OVS writes them).
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => s[0].to_json(),
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!(["map", m.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()]),
        }
    }

    /// Applies an `update2` `modify` diff (ovsdb-server(7) §4.1.14) for a composite column:
    /// set elements in the diff are toggled; for maps, a key that is absent is added, a key with
    /// the same value is removed, and a key with a different value is replaced.
    pub fn apply_diff(&mut self, diff: &Datum) -> Result<(), DatumError> {
        match (self, diff) {
            (Datum::Set(cur), Datum::Set(d)) => {
                for a in d {
                    match cur.binary_search(a) {
                        Ok(i) => {
                            cur.remove(i);
                        }
                        Err(i) => cur.insert(i, a.clone()),
                    }
                }
                Ok(())
            }
            (Datum::Map(cur), Datum::Map(d)) => {
                for (k, v) in d {
                    match cur.binary_search_by(|(ck, _)| ck.cmp(k)) {
                        Ok(i) if &cur[i].1 == v => {
                            cur.remove(i);
                        }
                        Ok(i) => cur[i].1 = v.clone(),
                        Err(i) => cur.insert(i, (k.clone(), v.clone())),
                    }
                }
                Ok(())
            }
            _ => Err(DatumError("diff kind does not match the column (set vs map)".into())),
        }
    }

    pub fn as_set(&self) -> &[Atom] {
        match self {
            Datum::Set(s) => s,
            Datum::Map(_) => &[],
        }
    }
    pub fn as_map(&self) -> &[(Atom, Atom)] {
        match self {
            Datum::Map(m) => m,
            Datum::Set(_) => &[],
        }
    }
    /// The single atom of a scalar or a set optional column that is set.
    pub fn first(&self) -> Option<&Atom> {
        self.as_set().first()
    }
    /// A map value by string key.
    pub fn get(&self, key: &str) -> Option<&Atom> {
        self.as_map().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::proto::schema::{AtomicType::*, BaseType};

    fn bt(a: AtomicType) -> BaseType {
        BaseType {
            atomic: a,
            ref_table: None,
        }
    }
    fn set_of(a: AtomicType) -> ColumnType {
        ColumnType {
            key: bt(a),
            value: None,
            min: 0,
            max: None,
        }
    }
    fn optional(a: AtomicType) -> ColumnType {
        ColumnType {
            key: bt(a),
            value: None,
            min: 0,
            max: Some(1),
        }
    }
    fn smap() -> ColumnType {
        ColumnType {
            key: bt(String),
            value: Some(bt(String)),
            min: 0,
            max: None,
        }
    }
    const U1: &str = "18bb26ec-0000-4000-8000-000000000001";
    const U2: &str = "d2e183c9-0000-4000-8000-000000000002";

    #[test]
    fn one_element_set_is_the_bare_atom() {
        let d = Datum::from_json(&set_of(Uuid), &json!(["uuid", U1])).unwrap();
        assert_eq!(d.as_set().len(), 1);
        assert_eq!(d.to_json(), json!(["uuid", U1]));
        let two = Datum::from_json(&set_of(Uuid), &json!(["set", [["uuid", U2], ["uuid", U1]]])).unwrap();
        assert_eq!(two.as_set()[0].as_uuid().unwrap().to_string(), U1, "kept sorted");
    }

    #[test]
    fn optional_columns() {
        assert_eq!(
            Datum::from_json(&optional(String), &json!(["set", []])).unwrap(),
            Datum::empty_set()
        );
        assert_eq!(
            Datum::from_json(&optional(String), &json!("k8s-node1"))
                .unwrap()
                .first()
                .unwrap()
                .as_str(),
            Some("k8s-node1")
        );
        assert_eq!(
            Datum::from_json(&optional(Integer), &json!(["set", [5]]))
                .unwrap()
                .first()
                .unwrap()
                .as_i64(),
            Some(5)
        );
    }

    #[test]
    fn maps() {
        let m = Datum::from_json(&smap(), &json!(["map", [["stateless", "false"], ["a", "b"]]])).unwrap();
        assert_eq!(m.get("stateless").unwrap().as_str(), Some("false"));
        assert_eq!(m.as_map()[0].0.as_str(), Some("a"));
        assert_eq!(Datum::from_json(&smap(), &json!(["map", []])).unwrap(), Datum::Map(vec![]));
        assert!(Datum::from_json(&smap(), &json!({"a": "b"})).is_err());
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(Datum::from_json(&ColumnType::scalar(Integer), &json!("x")).is_err());
        assert!(Datum::from_json(&ColumnType::scalar(Uuid), &json!(["uuid", "nope"])).is_err());
        assert!(Datum::from_json(&ColumnType::scalar(Uuid), &json!(["named-uuid", "x"])).is_err());
        assert!(Datum::from_json(&ColumnType::scalar(Boolean), &json!(1)).is_err());
    }

    #[test]
    fn set_diff_toggles() {
        let ty = set_of(Uuid);
        let mut d = Datum::from_json(&ty, &json!(["uuid", U1])).unwrap();
        let diff = Datum::from_json(&ty, &json!(["uuid", U2])).unwrap();
        d.apply_diff(&diff).unwrap();
        assert_eq!(d.as_set().len(), 2, "same JSON adds …");
        d.apply_diff(&diff).unwrap();
        assert_eq!(d.as_set().len(), 1, "… and then removes");
    }

    #[test]
    fn map_diff_per_key() {
        let ty = smap();
        let mut d = Datum::from_json(&ty, &json!(["map", [["a", "1"], ["b", "2"]]])).unwrap();
        let diff = Datum::from_json(&ty, &json!(["map", [["a", "1"], ["b", "3"], ["c", "4"]]])).unwrap();
        d.apply_diff(&diff).unwrap();
        assert_eq!(d, Datum::from_json(&ty, &json!(["map", [["b", "3"], ["c", "4"]]])).unwrap());
    }

    #[test]
    fn defaults() {
        assert_eq!(Datum::default_for(&ColumnType::scalar(Integer)), Datum::scalar(Atom::Integer(0)));
        assert_eq!(Datum::default_for(&optional(String)), Datum::empty_set());
        assert_eq!(Datum::default_for(&smap()), Datum::Map(vec![]));
    }
}
