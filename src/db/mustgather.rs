//! Finding each node's Northbound/Southbound database files in a must-gather.
//!
//! OpenShift 4.14+ (interconnect) has one NB and one SB per node; must-gather copies them as
//! `network_logs/ovnk_database_store/<ovnkube-node pod>_nbdb|_sbdb` and tars the folder to
//! `network_logs/ovnk_database_store.tar.gz`. Older clusters have `leader_nbdb.gz` /
//! `leader_sbdb.gz` from the RAFT leader. A file name only names the pod, so the node is taken
//! from the database itself when it says: `NB_Global` `name` or `options:name`, else the one
//! gateway router `GR_<node>`.

use crate::ovsdb::file::read_path;
use crate::ovsdb::proto::Snapshot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The database files of one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeDbs {
    pub node: String,
    /// How the node name was found.
    pub named_by: String,
    /// The file-name prefix (usually the ovnkube-node pod).
    pub prefix: String,
    pub nb: Option<PathBuf>,
    pub sb: Option<PathBuf>,
}

/// A must-gather opened for reading; archives are extracted to a temporary directory that
/// lives as long as this value.
#[derive(Debug)]
pub struct MustGather {
    pub source: PathBuf,
    pub nodes: Vec<NodeDbs>,
    _extracted: Vec<tempfile::TempDir>,
}

#[derive(Debug, thiserror::Error)]
pub enum MustGatherError {
    #[error("cannot read must-gather {path}: {io}")]
    Io { path: PathBuf, io: std::io::Error },
    #[error("no OVN database files found in {0} (looked for network_logs/ovnk_database_store.tar.gz, *_nbdb/*_sbdb, leader_nbdb.gz/leader_sbdb.gz, ovnnb_db.db/ovnsb_db.db)")]
    Nothing(PathBuf),
    #[error(transparent)]
    File(#[from] crate::ovsdb::file::FileError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MustGatherError + '_ {
    move |io| MustGatherError::Io { path: path.into(), io }
}

fn is_archive(p: &Path) -> bool {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    n.ends_with(".tar.gz") || n.ends_with(".tgz") || n.ends_with(".tar")
}

fn extract(archive: &Path) -> Result<tempfile::TempDir, MustGatherError> {
    let dir = tempfile::Builder::new().prefix("ovnscope-mg-").tempdir().map_err(io(archive))?;
    let f = std::fs::File::open(archive).map_err(io(archive))?;
    let name = archive.to_string_lossy();
    let reader: Box<dyn std::io::Read> = if name.ends_with(".tar") {
        Box::new(f)
    } else {
        Box::new(flate2::read::GzDecoder::new(f))
    };
    // `unpack` refuses entries that would land outside the directory.
    tar::Archive::new(reader).unpack(dir.path()).map_err(io(archive))?;
    Ok(dir)
}

/// (prefix, is_nb) for a database file name, or None.
fn classify(name: &str) -> Option<(String, bool)> {
    let base = name.strip_suffix(".gz").unwrap_or(name);
    for (suffix, nb) in [("_nbdb", true), ("_sbdb", false), ("nbdb", true), ("sbdb", false)] {
        if let Some(p) = base.strip_suffix(suffix) {
            return Some((p.trim_end_matches(['_', '-']).to_string(), nb));
        }
    }
    match base {
        "ovnnb_db.db" => Some((String::new(), true)),
        "ovnsb_db.db" => Some((String::new(), false)),
        _ => None,
    }
}

fn scan(
    dir: &Path,
    depth: u32,
    found: &mut BTreeMap<String, NodeDbs>,
    extracted: &mut Vec<tempfile::TempDir>,
) -> Result<(), MustGatherError> {
    if depth > 8 {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if p.is_dir() {
            scan(&p, depth + 1, found, extracted)?;
        } else if name.starts_with("ovnk_database_store") && is_archive(&p) {
            let d = extract(&p)?;
            scan(d.path(), depth + 1, found, extracted)?;
            extracted.push(d);
        } else if let Some((prefix, nb)) = classify(&name) {
            let prefix = if prefix.is_empty() {
                dir.file_name().and_then(|n| n.to_str()).unwrap_or("node").to_string()
            } else {
                prefix
            };
            let e = found.entry(prefix.clone()).or_insert_with(|| NodeDbs {
                node: prefix.clone(),
                named_by: "file name".into(),
                prefix,
                nb: None,
                sb: None,
            });
            if nb {
                e.nb = Some(p);
            } else {
                e.sb = Some(p);
            }
        }
    }
    Ok(())
}

/// The node a Northbound database belongs to, and how that was decided.
pub fn node_name(nb: &Snapshot) -> Option<(String, String)> {
    for (_, row) in nb.rows("NB_Global") {
        if let Some(n) = row
            .columns
            .get("name")
            .and_then(|d| d.first())
            .and_then(|a| a.as_str())
            .filter(|n| !n.is_empty())
        {
            return Some((n.to_string(), "NB_Global name".into()));
        }
        if let Some(n) = row.columns.get("options").and_then(|d| d.get("name")).and_then(|a| a.as_str()) {
            return Some((n.to_string(), "NB_Global options:name".into()));
        }
    }
    let grs: Vec<String> = nb
        .rows("Logical_Router")
        .filter_map(|(_, r)| r.columns.get("name")?.first()?.as_str()?.strip_prefix("GR_").map(str::to_string))
        .collect();
    match grs.as_slice() {
        [one] => Some((one.clone(), format!("gateway router GR_{one}"))),
        _ => None,
    }
}

/// Opens a must-gather directory, its `.tar.gz`, or a directory of database files.
pub fn open(path: &Path) -> Result<MustGather, MustGatherError> {
    let mut found = BTreeMap::new();
    let mut extracted = vec![];
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.is_dir() {
        scan(path, 0, &mut found, &mut extracted)?;
    } else if is_archive(path) {
        let d = extract(path)?;
        scan(d.path(), 0, &mut found, &mut extracted)?;
        extracted.push(d);
    } else {
        return Err(MustGatherError::Nothing(path.into()));
    }
    let mut nodes = vec![];
    for (_, mut n) in found {
        if let Some(nb) = &n.nb {
            if let Some((name, how)) = node_name(&read_path(nb)?.snapshot) {
                n.node = name;
                n.named_by = how;
            }
        }
        nodes.push(n);
    }
    if nodes.is_empty() {
        return Err(MustGatherError::Nothing(path.into()));
    }
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(MustGather {
        source: path.into(),
        nodes,
        _extracted: extracted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(classify("ovnkube-node-x7k2p_nbdb"), Some(("ovnkube-node-x7k2p".into(), true)));
        assert_eq!(classify("ovnkube-node-x7k2p_sbdb"), Some(("ovnkube-node-x7k2p".into(), false)));
        assert_eq!(classify("leader_nbdb.gz"), Some(("leader".into(), true)));
        assert_eq!(classify("ovnsb_db.db"), Some((String::new(), false)));
        assert_eq!(classify("ovnkube-node.log"), None);
    }
}
