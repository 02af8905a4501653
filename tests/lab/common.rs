//! The lab, brought up once for this test binary by the project's own script, and helpers that
//! ask the real OVS/OVN tools (ground truth) and run the real ovnscope binary.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Lab {
    pub dir: PathBuf,
    pub prefix: String,
    pub nb_port: u16,
    pub sb_port: u16,
    pub worker2: bool,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Lab {
    /// Settings distinct from the demo lab's, so tests never disturb a lab a person is using.
    pub fn new() -> Lab {
        Lab {
            dir: PathBuf::from("/tmp/ovnscope-test-lab"),
            prefix: "ovst".into(),
            nb_port: 16641,
            sb_port: 16642,
            worker2: true,
        }
    }

    pub fn script(&self, verb: &str) -> Output {
        let out = Command::new(repo().join("lab/ovnlab"))
            .arg(verb)
            .envs(self.lab_env())
            .output()
            .expect("run lab/ovnlab");
        if !out.status.success() && verb != "status" {
            panic!(
                "lab/ovnlab {verb} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    fn lab_env(&self) -> Vec<(String, String)> {
        vec![
            ("OVNLAB_DIR".into(), self.dir.display().to_string()),
            ("OVNLAB_PREFIX".into(), self.prefix.clone()),
            ("OVNLAB_NB_PORT".into(), self.nb_port.to_string()),
            ("OVNLAB_SB_PORT".into(), self.sb_port.to_string()),
            ("LAB_WORKER2".into(), if self.worker2 { "1" } else { "0" }.into()),
            // This suite is written against the centralised shape (tests/zones runs the other).
            ("OVNLAB_SHAPE".into(), "central".into()),
        ]
    }

    /// The environment `lab/ovnlab env` prints, so the OVS/OVN tools reach this lab.
    pub fn env(&self) -> Vec<(String, String)> {
        let out = self.script("env");
        let mut env = self.lab_env();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            for kv in line.trim_start_matches("export ").split_whitespace() {
                if let Some((k, v)) = kv.split_once('=') {
                    env.push((k.into(), v.into()));
                }
            }
        }
        env
    }

    pub fn ovs_sock(&self) -> String {
        format!("unix:{}/ovs/db.sock", self.dir.display())
    }
    pub fn nb_sock(&self) -> String {
        format!("unix:{}/ovn/ovnnb_db.sock", self.dir.display())
    }
    pub fn sb_sock(&self) -> String {
        format!("unix:{}/ovn/ovnsb_db.sock", self.dir.display())
    }
    /// `cmd` against the lab's three databases, then `rest` (the arguments of most commands).
    pub fn with_dbs(&self, cmd: &str, rest: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec![
            cmd.into(),
            "--ovs-db".into(),
            self.ovs_sock(),
            "--nb-db".into(),
            self.nb_sock(),
            "--sb-db".into(),
            self.sb_sock(),
        ];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }

    pub fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Runs a tool with the lab environment; panics with its stderr on failure.
    pub fn run(&self, prog: &str, args: &[&str]) -> String {
        let out = Command::new(prog)
            .args(args)
            .envs(self.env())
            .output()
            .unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(
            out.status.success(),
            "{prog} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.ovs_sock());
        self.run("ovs-vsctl", &[&[db.as_str()], args].concat())
    }
    pub fn nbctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.nb_sock());
        self.run("ovn-nbctl", &[&[db.as_str()], args].concat())
    }
    pub fn sbctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.sb_sock());
        self.run("ovn-sbctl", &[&[db.as_str()], args].concat())
    }

    /// `<ctl> -f json --columns=… list TABLE`, as one object per row with plain JSON values.
    pub fn list(&self, ctl: fn(&Lab, &[&str]) -> String, table: &str, columns: &[&str]) -> Vec<Map<String, Value>> {
        let cols = format!("--columns={}", columns.join(","));
        let out = ctl(self, &["-f", "json", &cols, "list", table]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let headings: Vec<String> = serde_json::from_value(v["headings"].clone()).unwrap();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| headings.iter().cloned().zip(row.as_array().unwrap().iter().map(plain)).collect())
            .collect()
    }

    /// The host end of a pod's veth: the OVS interface bound to logical port `lsp`.
    pub fn veth_of(&self, lsp: &str) -> String {
        self.vsctl(&[
            "--bare",
            "--columns=name",
            "find",
            "Interface",
            &format!("external_ids:iface-id={lsp}"),
        ])
        .trim()
        .to_string()
    }

    /// Runs the real ovnscope binary.
    pub fn ovnscope(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ovnscope"))
            .args(args)
            .env_remove("OVN_NB_DB")
            .env_remove("OVN_SB_DB")
            .env_remove("OVS_RUNDIR")
            .env_remove("OVN_RUNDIR")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    pub fn ovnscope_json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.ovnscope(args);
        assert_eq!(code, 0, "ovnscope {args:?}: {err}");
        // A trace tree nests a table per step: deeper than serde_json's default limit of 128.
        let mut de = serde_json::Deserializer::from_str(&out);
        de.disable_recursion_limit();
        serde::Deserialize::deserialize(&mut de).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

/// OVSDB wire notation as the ctl tools print it → plain JSON: uuids as strings, sets as
/// arrays, maps as objects (written independently of ovnscope's own decoder).
pub fn plain(v: &Value) -> Value {
    match v.as_array().map(Vec::as_slice) {
        Some([Value::String(t), Value::String(u)]) if t == "uuid" => Value::String(u.clone()),
        Some([Value::String(t), Value::Array(items)]) if t == "set" => Value::Array(items.iter().map(plain).collect()),
        Some([Value::String(t), Value::Array(pairs)]) if t == "map" => Value::Object(
            pairs
                .iter()
                .map(|p| {
                    let k = match &p[0] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let v = match plain(&p[1]) {
                        Value::String(s) => Value::String(s),
                        other => Value::String(other.to_string()),
                    };
                    (k, v)
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// A set column as a list whatever its size (one-element sets print as the bare atom).
pub fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// An optional column: `[]` → null, `[x]`/x → x.
pub fn as_opt(v: &Value) -> Value {
    match v {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Array(a) if a.len() == 1 => a[0].clone(),
        other => other.clone(),
    }
}

pub fn sorted_strings(v: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut s: Vec<String> = v
        .into_iter()
        .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
        .collect();
    s.sort();
    s
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// An ovsdb-server of our own on a copy of a file, stopped (by PID) when dropped.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub sock: String,
    pid: u32,
}

impl Served {
    pub fn new(file: &Path) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("served.db");
        std::fs::copy(file, &db).unwrap();
        Self::start(dir, &db)
    }

    pub fn start(dir: tempfile::TempDir, db: &Path) -> Served {
        Self::start_with(dir, db, &[])
    }

    /// [`Served::start`] with more ovsdb-server options (another remote, TLS files).
    pub fn start_with(dir: tempfile::TempDir, db: &Path, extra: &[String]) -> Served {
        let d = dir.path();
        let sock = d.join("db.sock");
        let st = Command::new("ovsdb-server")
            .arg(db)
            .arg(format!("--remote=punix:{}", sock.display()))
            .args(extra)
            .arg(format!("--pidfile={}", d.join("s.pid").display()))
            .arg(format!("--unixctl={}", d.join("s.ctl").display()))
            .arg(format!("--log-file={}", d.join("s.log").display()))
            .args(["-vconsole:off", "--detach", "--no-chdir"])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let pid = std::fs::read_to_string(d.join("s.pid")).unwrap().trim().parse().unwrap();
        Served {
            sock: format!("unix:{}", sock.display()),
            dir,
            pid,
        }
    }

    pub fn ctl(&self) -> String {
        self.dir.path().join("s.ctl").display().to_string()
    }

    /// An empty Southbound of the installed schema, for an ovn-northd of our own to fill.
    pub fn empty_sb() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sb.db");
        assert!(Command::new("ovsdb-tool")
            .arg("create")
            .arg(&file)
            .arg(crate::generation::ovn_share().join("ovn-sb.ovsschema"))
            .status()
            .unwrap()
            .success());
        Served::start(dir, &file)
    }
}

/// Adds a MAC_Binding (what ovn-controller learns by ARP) to a Southbound, on the datapath
/// `ovn-sbctl find Datapath_Binding <selector>` names — so ARP resolution is not what a test
/// of a run through a northd of our own differs in.
pub fn add_mac_binding(sb: &str, datapath_selector: &str, port: &str, ip: &str, mac: &str) {
    let sbctl = |args: &[&str]| {
        let out = Command::new("ovn-sbctl").arg(format!("--db={sb}")).args(args).output().unwrap();
        assert!(out.status.success(), "ovn-sbctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let dp = sbctl(&["--bare", "--columns=_uuid", "find", "Datapath_Binding", datapath_selector]);
    sbctl(&[
        "create",
        "MAC_Binding",
        &format!("logical_port={port}"),
        &format!("ip={ip}"),
        &format!("mac=\"{mac}\""),
        &format!("datapath={}", dp.trim()),
    ]);
}

/// An ovn-northd of our own between two served databases, stopped (by PID) when dropped.
pub struct Northd {
    pid: u32,
}

impl Northd {
    pub fn start(nb: &Served, sb: &Served) -> Northd {
        let d = nb.dir.path();
        let pidfile = d.join("northd.pid");
        let st = Command::new("ovn-northd")
            .arg(format!("--ovnnb-db={}", nb.sock))
            .arg(format!("--ovnsb-db={}", sb.sock))
            .arg(format!("--pidfile={}", pidfile.display()))
            .arg(format!("--log-file={}", d.join("northd.log").display()))
            .arg(format!("--unixctl={}", d.join("northd.ctl").display()))
            .args(["-vconsole:off", "--detach", "--no-chdir"])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        Northd {
            pid: std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap(),
        }
    }
}

impl Drop for Northd {
    fn drop(&mut self) {
        stop(self.pid);
    }
}

fn stop(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        stop(self.pid);
    }
}

/// Tests that send traffic and capture it take turns, so one test's packets never land in
/// another's capture.
pub static DATAPLANE: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn dataplane_turn() -> std::sync::MutexGuard<'static, ()> {
    DATAPLANE.lock().unwrap_or_else(|p| p.into_inner())
}

/// tcpdump writing two packets matching `filter` to `file`, on `iface` in `ns`, ready when it
/// returns.
pub fn tcpdump_two(ns: &str, iface: &str, file: &Path, filter: &str) -> std::process::Child {
    let mut c = Command::new("ip")
        .args(["netns", "exec", ns, "tcpdump", "-U", "-i", iface, "-w"])
        .arg(file)
        .args(["-c", "2", filter])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&mut c, "listening on");
    c
}

/// Waits until a child (tcpdump, `ovnscope capture`) says on stderr that it is ready — the
/// line containing `marker` — and returns the rest of its stderr, with what was read so far.
pub fn wait_ready(child: &mut std::process::Child, marker: &str) -> (std::io::BufReader<std::process::ChildStderr>, String) {
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr piped"));
    let mut seen = String::new();
    while !seen.contains(marker) {
        assert!(err.read_line(&mut seen).unwrap() > 0, "exited before {marker:?}: {seen}");
    }
    (err, seen)
}
