//! Offline database files read natively, compared with what a real ovsdb-server serving the
//! same file reports (`ovsdb-client dump`), and `show` on a file equal to `show` on the server.

use crate::common::{plain, Served};
use crate::lab;
use ovnscope::db::RowView;
use ovnscope::ovsdb::file::read_path;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const REAL_NB: &str = "../shared/data/real/neutron-ovnnb_db.db";

fn real_nb() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(REAL_NB);
    if p.exists() {
        Some(p)
    } else {
        println!("skipped: {} is not here (a clone outside the workplace)", p.display());
        None
    }
}

/// Sets sorted, so element order (uuids sort differently in C) does not matter.
fn norm(v: Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut a: Vec<Value> = a.into_iter().map(norm).collect();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, norm(v))).collect()),
        other => other,
    }
}

type Tables = BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>;

/// `ovsdb-client dump` of a database: table → uuid → column → plain value (non-ephemeral columns).
fn dump(method: &str, db: &str, skip: &dyn Fn(&str, &str) -> bool) -> Tables {
    let out = Command::new("ovsdb-client")
        .args(["-f", "json", "dump", method, db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // One JSON object per table, one per line.
    let mut tables = Tables::new();
    for line in String::from_utf8(out.stdout).unwrap().lines().filter(|l| !l.trim().is_empty()) {
        let t: Value = serde_json::from_str(line).unwrap();
        let name = t["caption"].as_str().unwrap().trim_end_matches(" table").to_string();
        let heads: Vec<String> = serde_json::from_value(t["headings"].clone()).unwrap();
        let rows = tables.entry(name.clone()).or_default();
        for row in t["data"].as_array().unwrap() {
            let cols: BTreeMap<String, Value> = heads
                .iter()
                .cloned()
                .zip(row.as_array().unwrap().iter().map(|v| norm(plain(v))))
                .collect();
            let uuid = cols["_uuid"].as_str().unwrap().to_string();
            rows.insert(
                uuid,
                cols.into_iter().filter(|(c, _)| !c.starts_with('_') && !skip(&name, c)).collect(),
            );
        }
    }
    tables
}

/// Our replay of a file in the same shape, every schema column filled (defaults included).
fn replay(path: &Path, skip: &dyn Fn(&str, &str) -> bool) -> (Tables, Vec<String>) {
    let f = read_path(path).unwrap_or_else(|e| panic!("{e}"));
    let mut tables = Tables::new();
    for (tname, ts) in &f.snapshot.schema.tables {
        let rows = tables.entry(tname.clone()).or_default();
        for r in RowView::all(&f.snapshot, tname) {
            let cols = ts
                .columns
                .keys()
                .filter(|c| !skip(tname, c))
                .map(|c| (c.clone(), norm(plain(&r.datum(c).unwrap().to_json()))))
                .collect();
            rows.insert(r.uuid.to_string(), cols);
        }
    }
    (tables, f.warnings)
}

fn assert_same(ours: &Tables, theirs: &Tables, what: &str) {
    let tables: Vec<&String> = theirs.keys().collect();
    for t in tables {
        let (o, e) = (ours.get(t).cloned().unwrap_or_default(), &theirs[t]);
        assert_eq!(o.len(), e.len(), "{what}: table {t} row count");
        for (u, row) in e {
            assert_eq!(o.get(u), Some(row), "{what}: {t} row {u}");
        }
    }
}

fn no_skip(_: &str, _: &str) -> bool {
    false
}

pub fn real_nb_file_equals_ovsdb_client_dump() {
    let Some(real) = real_nb() else { return };
    let served = Served::new(&real);
    let theirs = dump(&served.sock, "OVN_Northbound", &no_skip);
    let (ours, warnings) = replay(&real, &no_skip);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_same(&ours, &theirs, "real NB");
    assert_eq!(ours["Logical_Switch"].len(), 68);
    assert_eq!(ours["NAT"].len(), 66);
}

pub fn show_on_a_file_equals_show_on_the_server() {
    let Some(real) = real_nb() else { return };
    let served = Served::new(&real);
    let l = lab();
    let mut live = l.ovnscope_json(&["show", "--nb-db", &served.sock, "-f", "json"]);
    let gz = served.dir.path().join("copy.db.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c '{}' > '{}'", real.display(), gz.display()))
        .status()
        .unwrap();
    assert!(st.success());
    for f in [real.clone(), gz] {
        let mut off = l.ovnscope_json(&["show", "--nb-db", &format!("file:{}", f.display()), "-f", "json"]);
        assert_eq!(off["nb"]["source"], format!("file:{}", f.display()));
        off["nb"]["source"] = Value::Null;
        live["nb"]["source"] = Value::Null;
        assert_eq!(off, live, "{}", f.display());
    }
    assert_eq!(live["warnings"].as_array().unwrap().len(), 5, "older schema: {}", live["warnings"]);
}

/// Each record of a standalone/clustered file: (offset, header+body length).
fn record_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = vec![];
    let mut at = 0;
    while at < bytes.len() {
        let nl = at + bytes[at..].iter().position(|b| *b == b'\n').unwrap();
        let len: usize = std::str::from_utf8(&bytes[at..nl])
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        spans.push((at, nl + 1 - at + len));
        at = nl + 1 + len;
    }
    spans
}

pub fn torn_and_corrupt_files() {
    let Some(real) = real_nb() else { return };
    let bytes = std::fs::read(&real).unwrap();
    let spans = record_spans(&bytes);
    assert_eq!(
        spans.len(),
        7214,
        "7,214 records (the schema and 7,213 transactions), as `grep -c ^OVSDB` counts"
    );
    let dir = tempfile::tempdir().unwrap();
    let l = lab();

    // Torn: the last record cut in half. ovsdb-server itself serves the state before it.
    let (last_at, last_len) = *spans.last().unwrap();
    let torn = dir.path().join("torn.db");
    std::fs::write(&torn, &bytes[..last_at + last_len / 2]).unwrap();
    let served = Served::new(&torn);
    let theirs = dump(&served.sock, "OVN_Northbound", &no_skip);
    drop(served);
    let (ours, warnings) = replay(&torn, &no_skip);
    assert_same(&ours, &theirs, "torn file");
    assert!(
        warnings.len() == 1 && warnings[0].contains("record 7214") && warnings[0].contains("torn write"),
        "{warnings:?}"
    );
    let (code, _, err) = l.ovnscope(&["show", "--nb-db", &format!("file:{}", torn.display())]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("torn write"), "{err}");

    // Corrupt: one byte flipped inside record 100's JSON.
    let (at, len) = spans[99];
    let mut bad = bytes.clone();
    bad[at + len - 10] ^= 0x01;
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, &bad).unwrap();
    let (code, out, err) = l.ovnscope(&["show", "--nb-db", &format!("file:{}", corrupt.display())]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains(&format!("record 100 at byte {at}")) && err.contains("SHA-1 mismatch"),
        "{err}"
    );

    // Not a database at all, a missing file, and the wrong database for the option.
    let (code, _, err) = l.ovnscope(&["show", "--nb-db", "file:/etc/hostname"]);
    assert_eq!(code, 3);
    assert!(err.contains("not an OVSDB database file"), "{err}");
    let (code, _, err) = l.ovnscope(&["show", "--nb-db", "file:/nonexistent.db"]);
    assert_eq!(code, 3);
    assert!(err.contains("cannot open /nonexistent.db"), "{err}");
    let (code, _, err) = l.ovnscope(&["show", "--sb-db", &format!("file:{}", real.display())]);
    assert_eq!(code, 3);
    assert!(err.contains("holds database \"OVN_Northbound\", not \"OVN_Southbound\""), "{err}");
}

/// A clustered database made by ovsdb-tool create-cluster, changed through a real server with a
/// compaction in between, read offline, equals the server's view.
pub fn clustered_file_equals_live_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let raft = format!("unix:{}", dir.path().join("raft.sock").display());
    let st = Command::new("ovsdb-tool")
        .arg("create-cluster")
        .arg(&db)
        .arg("/usr/share/ovn/ovn-nb.ovsschema")
        .arg(&raft)
        .status()
        .unwrap();
    assert!(st.success());
    let served = Served::start(dir, &db);
    let nbctl = |args: &[&str]| {
        let out = Command::new("ovn-nbctl")
            .arg(format!("--db={}", served.sock))
            .arg("--timeout=20")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    nbctl(&["init"]);
    nbctl(&["lr-add", "GR_a", "--", "set", "Logical_Router", "GR_a", "options:chassis=a"]);
    for i in 1..=20 {
        nbctl(&["lr-nat-add", "GR_a", "snat", "198.18.0.9", &format!("10.128.2.{i}")]);
    }
    let st = Command::new("ovs-appctl")
        .args(["-t", &served.ctl(), "ovsdb-server/compact"])
        .status()
        .unwrap();
    assert!(st.success());
    for i in 1..=5 {
        nbctl(&["lr-nat-del", "GR_a", "snat", &format!("10.128.2.{i}")]);
    }
    nbctl(&["set", "Logical_Router", "GR_a", "options:lb_force_snat_ip=router_ip"]);
    nbctl(&["ls-add", "worker-1"]);
    let theirs = dump(&served.sock, "OVN_Northbound", &no_skip);
    let copy = served.dir.path().join("copy.db");
    std::fs::copy(&db, &copy).unwrap();
    let f = read_path(&copy).unwrap();
    assert_eq!(f.format, ovnscope::ovsdb::file::Format::Clustered);
    let (ours, _) = replay(&copy, &no_skip);
    assert_same(&ours, &theirs, "clustered NB");
    assert_eq!(ours["NAT"].len(), 15);
}

/// The lab's own database files (standalone NB, SB and Open_vSwitch) against their servers.
/// Ephemeral columns are not in files, so they are left out of the comparison.
pub fn lab_files_equal_their_servers() {
    let l = lab();
    for (file, method, db) in [
        (l.dir.join("ovn/ovnnb_db.db"), l.nb_sock(), "OVN_Northbound"),
        (l.dir.join("ovn/ovnsb_db.db"), l.sb_sock(), "OVN_Southbound"),
        (l.dir.join("ovs/conf.db"), l.ovs_sock(), "Open_vSwitch"),
    ] {
        let schema = read_path(&file).unwrap().snapshot.schema;
        let skip = |t: &str, c: &str| schema.table(t).and_then(|ts| ts.column(c)).is_some_and(|col| col.ephemeral);
        // The lab is live: take the dump, copy the file, and dump again until nothing moved.
        let mut tries = 0;
        loop {
            let before = dump(&method, db, &skip);
            let copy = tempfile::NamedTempFile::new().unwrap();
            std::fs::copy(&file, copy.path()).unwrap();
            let after = dump(&method, db, &skip);
            if before != after && tries < 5 {
                tries += 1;
                continue;
            }
            let (ours, _) = replay(copy.path(), &skip);
            assert_same(&ours, &after, db);
            break;
        }
    }
}

/// A must-gather laid out as OpenShift's gather_network_logs_basics lays it (per-node
/// `<pod>_nbdb`/`<pod>_sbdb` in network_logs/ovnk_database_store.tar.gz), made with tar(1)
/// from the lab's files and the real NB file as a second node.
pub fn must_gather_archive_per_node() {
    let Some(real) = real_nb() else { return };
    let l = lab();
    let mg = tempfile::tempdir().unwrap();
    let store = mg.path().join("registry-ocp-must-gather/network_logs/ovnk_database_store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(l.dir.join("ovn/ovnnb_db.db"), store.join("ovnkube-node-x7k2p_nbdb")).unwrap();
    std::fs::copy(l.dir.join("ovn/ovnsb_db.db"), store.join("ovnkube-node-x7k2p_sbdb")).unwrap();
    std::fs::copy(&real, store.join("ovnkube-node-zz9q1_nbdb")).unwrap();
    let archive = store.parent().unwrap().join("ovnk_database_store.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(store.parent().unwrap())
        .arg("-czf")
        .arg(&archive)
        .arg("ovnk_database_store")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&store).unwrap();

    // A file that is not a must-gather: exit 3 with what was looked for.
    let (code, _, err) = l.ovnscope(&["show", "--must-gather", "/etc/hostname"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no OVN database files found"), "{err}");
    // Two nodes: without --node, the whole cluster, one zone per node, each as it is alone; an
    // unknown --node is a usage error that lists them and how each was named.
    for path in [mg.path().to_path_buf(), archive.clone()] {
        let p = path.display().to_string();
        let all = l.ovnscope_json(&["show", "--must-gather", &p, "-f", "json"]);
        let zones: Vec<&str> = all["zones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z["zone"].as_str().unwrap())
            .collect();
        assert_eq!(zones, ["ovnkube-node-zz9q1", "worker-1"], "zones by name");
        let mut one = l.ovnscope_json(&["show", "--must-gather", &p, "--node", "worker-1", "-f", "json"]);
        let mut zone = all["zones"][1].clone();
        for d in [&mut one, &mut zone] {
            let o = d.as_object_mut().unwrap();
            o.remove("schema");
            o.remove("zone");
            d["nb"]["source"] = Value::Null;
            d["sb"]["source"] = Value::Null;
        }
        assert_eq!(one, zone);
        let (code, _, err) = l.ovnscope(&["show", "--must-gather", &p, "--node", "nope"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("worker-1  (named by gateway router GR_worker-1; nb ovnkube-node-x7k2p_nbdb, sb ovnkube-node-x7k2p_sbdb)"),
            "{err}"
        );
        assert!(
            err.contains("ovnkube-node-zz9q1  (named by file name; nb ovnkube-node-zz9q1_nbdb, sb -)"),
            "{err}"
        );
    }
    // The node's view from the archive equals the live servers' view.
    let mut off = l.ovnscope_json(&[
        "show",
        "--must-gather",
        &archive.display().to_string(),
        "--node",
        "worker-1",
        "-f",
        "json",
    ]);
    let mut live = l.ovnscope_json(&["show", "--nb-db", &l.nb_sock(), "--sb-db", &l.sb_sock(), "-f", "json"]);
    for d in [&mut off, &mut live] {
        d["nb"]["source"] = Value::Null;
        d["sb"]["source"] = Value::Null;
    }
    assert_eq!(off, live);
    // By pod prefix too; an unknown node is a usage error.
    let pod = l.ovnscope_json(&[
        "show",
        "--must-gather",
        &mg.path().display().to_string(),
        "--node",
        "ovnkube-node-zz9q1",
        "-f",
        "json",
    ]);
    assert_eq!(pod["nb"]["switches"].as_array().unwrap().len(), 68);
    assert!(pod.get("sb").is_none());
    let (code, _, err) = l.ovnscope(&["show", "--must-gather", &archive.display().to_string(), "--node", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("no node \"nope\""), "{err}");
}

/// `show --format json` without the values that change on every `up` (uuids, kernel ifindex,
/// MACs of OVS taps, ofports of ports added concurrently) and without the source.
fn stable(mut doc: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                // ovn-remote names the lab's run directory, which differs between labs.
                for k in ["uuid", "ifindex", "mac_in_use", "ofport", "source", "ovn-remote"] {
                    o.remove(k);
                }
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut doc);
    doc
}

/// The recorded databases in demo/ (scripts/demo.sh's offline default) still describe what
/// the lab builds: regenerate them with `lab/ovnlab snapshot` and compare.
pub fn demo_files_match_a_fresh_lab_snapshot() {
    if crate::generation::current() != "23.03" {
        eprintln!("skipped: demo/ records the system's OVN 23.03 lab, not this generation's");
        return;
    }
    let l = lab();
    let fresh = tempfile::tempdir().unwrap();
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/ovnlab"))
        .arg("snapshot")
        .arg(fresh.path())
        .envs(l.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let show = |d: &Path| {
        stable(l.ovnscope_json(&[
            "show",
            "--ovs-db",
            &format!("file:{}", d.join("conf.db").display()),
            "--nb-db",
            &format!("file:{}", d.join("ovnnb_db.db").display()),
            "--sb-db",
            &format!("file:{}", d.join("ovnsb_db.db").display()),
            "-f",
            "json",
        ]))
    };
    assert_eq!(
        show(&demo),
        show(fresh.path()),
        "demo/ is stale: run `lab/ovnlab up && lab/ovnlab snapshot demo`"
    );
}
