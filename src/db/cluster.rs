//! A cluster as ovnscope reads it: a list of zones, each one node's Northbound and Southbound
//! (and, where reachable, its Open_vSwitch database). OpenShift 4.14+ runs one zone per node
//! (interconnect); a centralised deployment is the special case of one zone.
//!
//! The zones come from a must-gather (every node it holds), or from a cluster file — one line
//! per zone, the way `ovn-nbctl --db` users already write methods:
//!
//! ```text
//! # zone     databases (nb= sb= ovs=, any of them; METHOD as in --nb-db)
//! worker-1   nb=unix:/var/run/ovn-ic/ovnnb_db.sock sb=unix:/var/run/ovn-ic/ovnsb_db.sock
//! worker-2   nb=file:/tmp/mg/worker-2_nbdb sb=file:/tmp/mg/worker-2_sbdb
//! worker-3   serve=http://127.0.0.1:7471   # that node's `ovnscope serve` (e.g. a port-forward)
//! ```
//!
//! A `serve=` zone is read from the cache of the `ovnscope serve` running next to its
//! databases, instead of from the databases themselves.

use super::DbKind;

/// One zone's databases, as methods (`unix:`, `tcp:`, `ssl:`, `file:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    pub name: String,
    pub dbs: Vec<(DbKind, String)>,
    /// Read every database of the zone from this `ovnscope serve` (`http://HOST:PORT`,
    /// `unix:PATH`) instead.
    pub serve: Option<String>,
}

impl ZoneSpec {
    pub fn method(&self, kind: DbKind) -> Option<&str> {
        self.dbs.iter().find(|(k, _)| *k == kind).map(|(_, m)| m.as_str())
    }
}

/// A line of a cluster file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{source_name} line {line}: {reason}\n  hint: one zone per line: NAME nb=METHOD sb=METHOD [ovs=METHOD], or NAME serve=URL")]
pub struct ClusterFileError {
    pub source_name: String,
    pub line: usize,
    pub reason: String,
}

/// Parses a cluster file (`source_name` is for messages).
pub fn parse(text: &str, source_name: &str) -> Result<Vec<ZoneSpec>, ClusterFileError> {
    let mut zones: Vec<ZoneSpec> = vec![];
    for (i, raw) in text.lines().enumerate() {
        let err = |reason: String| ClusterFileError {
            source_name: source_name.to_string(),
            line: i + 1,
            reason,
        };
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().expect("a non-empty line has a word").to_string();
        if name.contains('=') {
            return Err(err(format!("{name:?} is not a zone name (the line starts with the zone)")));
        }
        if zones.iter().any(|z| z.name == name) {
            return Err(err(format!("zone {name} is listed twice")));
        }
        let mut dbs = vec![];
        let mut serve = None;
        for w in words {
            if let Some(url) = w.strip_prefix("serve=") {
                if url.is_empty() || serve.replace(url.to_string()).is_some() {
                    return Err(err(format!("serve= of zone {name} is empty or given twice")));
                }
                continue;
            }
            let (key, method) = w
                .split_once('=')
                .ok_or_else(|| err(format!("{w:?}: expected nb=METHOD, sb=METHOD, ovs=METHOD or serve=URL")))?;
            let kind = match key {
                "nb" => DbKind::Nb,
                "sb" => DbKind::Sb,
                "ovs" => DbKind::Ovs,
                other => return Err(err(format!("unknown database {other:?} (nb, sb or ovs)"))),
            };
            if dbs.iter().any(|(k, _)| *k == kind) {
                return Err(err(format!("{key}= given twice for zone {name}")));
            }
            if method.is_empty() {
                return Err(err(format!("{key}= has no method")));
            }
            dbs.push((kind, method.to_string()));
        }
        if serve.is_some() && !dbs.is_empty() {
            return Err(err(format!(
                "zone {name}: serve= reads every database of the zone; drop its nb=/sb=/ovs="
            )));
        }
        if serve.is_none() && !dbs.iter().any(|(k, _)| *k == DbKind::Nb) {
            return Err(err(format!("zone {name} has no nb= database (or serve=)")));
        }
        dbs.sort_by_key(|(k, _)| *k);
        zones.push(ZoneSpec { name, dbs, serve });
    }
    if zones.is_empty() {
        return Err(ClusterFileError {
            source_name: source_name.to_string(),
            line: 0,
            reason: "no zones".into(),
        });
    }
    Ok(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_one_per_line_with_comments() {
        let z = parse(
            "# the lab\nworker-1 nb=unix:/a/nb.sock sb=unix:/a/sb.sock ovs=unix:/a/db.sock\n\n worker-2   sb=file:/b/sb nb=file:/b/nb # offline\n",
            "c",
        )
        .unwrap();
        assert_eq!(z.len(), 2);
        assert_eq!(z[0].method(DbKind::Ovs), Some("unix:/a/db.sock"));
        assert_eq!(z[0].serve, None);
        let s = parse("w3 serve=http://127.0.0.1:7471\n", "c").unwrap();
        assert_eq!(s[0].serve.as_deref(), Some("http://127.0.0.1:7471"));
        assert_eq!(z[1].name, "worker-2");
        assert_eq!(
            z[1].dbs,
            vec![(DbKind::Nb, "file:/b/nb".to_string()), (DbKind::Sb, "file:/b/sb".to_string())]
        );
    }

    #[test]
    fn mistakes_name_the_line() {
        for (text, says) in [
            ("w1 nb=unix:/x\nw1 nb=unix:/y\n", "line 2: zone w1 is listed twice"),
            ("w1 sb=unix:/x\n", "line 1: zone w1 has no nb= database"),
            ("w1 nb=unix:/x vs=unix:/y\n", "unknown database \"vs\""),
            ("w1 nb=unix:/x sb\n", "\"sb\": expected nb=METHOD"),
            ("nb=unix:/x\n", "is not a zone name"),
            ("# nothing\n", "no zones"),
            ("w1 serve=http://h:1 nb=unix:/x\n", "drop its nb="),
            ("w1 serve=\n", "serve= of zone w1 is empty"),
        ] {
            let e = parse(text, "c").unwrap_err().to_string();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
