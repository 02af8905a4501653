//! The cluster as OpenShift 4.14+ runs it: the lab in interconnect shape (`OVNLAB_SHAPE=ic`,
//! three nodes, each its own OVN zone), brought up once, checked against the real tools in
//! each zone (`ovn-nbctl`, `ovn-sbctl`, `ovn-trace`, `tcpdump`, `ping`), and ovnscope read
//! across the zones: live through the lab's cluster file, and offline from a must-gather in
//! OpenShift's layout.

#[path = "../support/certs.rs"]
mod certs;
#[path = "../support/generation.rs"]
#[allow(dead_code)]
mod generation;
mod kube;
mod serve;

use libtest_mimic::{Arguments, Trial};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const ZONES: [&str; 3] = ["worker-1", "worker-2", "worker-3"];
/// (zone, netns suffix, logical switch port, IP, node id) of every pod the lab starts.
const PODS: [(&str, &str, &str, &str, u32); 4] = [
    ("worker-1", "pod1", "network-trace_nettools-dual-pod", "10.128.2.43", 2),
    ("worker-1", "pod2", "network-trace_nettools-pod-2", "10.128.2.44", 2),
    ("worker-2", "pod3", "network-trace_nettools-w2", "10.128.4.5", 3),
    ("worker-3", "pod4", "network-trace_nettools-w3", "10.128.6.7", 4),
];

struct Lab {
    dir: PathBuf,
    prefix: String,
}

static LAB: OnceLock<Lab> = OnceLock::new();

fn lab() -> &'static Lab {
    LAB.get().expect("lab is up")
}

impl Lab {
    fn script(&self, verb: &str) -> String {
        self.script_args(&[verb])
    }
    fn script_args(&self, args: &[&str]) -> String {
        let verb = args.join(" ");
        let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/ovnlab"))
            .args(args)
            .env("OVNLAB_SHAPE", "ic")
            .env("OVNLAB_DIR", &self.dir)
            .env("OVNLAB_PREFIX", &self.prefix)
            .output()
            .expect("run lab/ovnlab");
        assert!(
            out.status.success(),
            "lab/ovnlab {verb}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn nb(&self, zone: &str) -> String {
        format!("unix:{}/{zone}/ovn/ovnnb_db.sock", self.dir.display())
    }
    fn sb(&self, zone: &str) -> String {
        format!("unix:{}/{zone}/ovn/ovnsb_db.sock", self.dir.display())
    }
    fn ovs(&self, zone: &str) -> String {
        format!("unix:{}/{zone}/ovs/db.sock", self.dir.display())
    }
    /// `cmd` against one zone's three databases, then `rest`.
    fn zone_args(&self, cmd: &str, zone: &str, rest: &[&str]) -> Vec<String> {
        let mut v = vec![
            cmd.into(),
            "--ovs-db".into(),
            self.ovs(zone),
            "--nb-db".into(),
            self.nb(zone),
            "--sb-db".into(),
            self.sb(zone),
        ];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }
    /// The standard output of `cmd` against one zone; it must succeed.
    fn zone_out(&self, cmd: &str, zone: &str, rest: &[&str]) -> String {
        let v = self.zone_args(cmd, zone, rest);
        let (code, out, err) = self.ovnscope(&v.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 0, "ovnscope {cmd} {rest:?}: {err}");
        out
    }
    /// [`Lab::json`] of `cmd` against one zone.
    fn zone_json(&self, cmd: &str, zone: &str, rest: &[&str]) -> Value {
        let v = self.zone_args(cmd, zone, rest);
        self.json(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }
    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }
    /// The control socket of a zone's ovs-vswitchd, as its pidfile names it.
    fn vswitchd_ctl(&self, zone: &str) -> String {
        let pid = std::fs::read_to_string(self.dir.join(zone).join("ovs/ovs-vswitchd.pid")).unwrap();
        self.dir
            .join(zone)
            .join(format!("ovs/ovs-vswitchd.{}.ctl", pid.trim()))
            .display()
            .to_string()
    }
    /// The node's OVS system-id (its chassis name).
    fn sysid(&self, zone: &str) -> String {
        let db = format!("--db={}", self.ovs(zone));
        self.run("ovs-vsctl", &[&db, "get", "Open_vSwitch", ".", "external_ids:system-id"])
            .trim()
            .trim_matches('"')
            .to_string()
    }
    fn cluster_file(&self) -> String {
        self.dir.join("cluster").display().to_string()
    }
    /// A tool's standard output; panics with its standard error on failure.
    fn run(&self, prog: &str, args: &[&str]) -> String {
        let out = Command::new(prog).args(args).output().unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(out.status.success(), "{prog} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
    fn nbctl(&self, zone: &str, args: &[&str]) -> String {
        let db = format!("--db={}", self.nb(zone));
        self.run("ovn-nbctl", &[&[db.as_str()], args].concat())
    }
    /// `ovn-nbctl` for a test's clean-up: best effort, a failure is not the test's verdict
    /// (what is undone may not have been made).
    fn nbctl_undo(&self, zone: &str, args: &[&str]) {
        let _ = Command::new("ovn-nbctl").arg(format!("--db={}", self.nb(zone))).args(args).status();
    }
    /// Sets chassis template variables for `zone`'s chassis; returns the row. The row is made
    /// once and never destroyed: ovn-controller 23.03 asserts (template_vars_update:
    /// `smap_count(local_templates) == 0`) when a chassis's row is destroyed and another one
    /// made, so a test's clean-up removes its keys ([`Lab::template_vars_undo`]).
    fn template_vars(&self, zone: &str, vars: &[(&str, &str)]) -> String {
        let chassis = self.sysid(zone);
        let row = self.nbctl(
            zone,
            &[
                "--bare",
                "--columns=_uuid",
                "find",
                "Chassis_Template_Var",
                &format!("chassis={chassis}"),
            ],
        );
        let row = row.trim().to_string();
        let sets = vars.iter().map(|(k, v)| format!("variables:{k}={v}"));
        let (verb, target) = if row.is_empty() {
            ("create", format!("chassis={chassis}"))
        } else {
            ("set", row.clone())
        };
        let args: Vec<String> = [verb.to_string(), "Chassis_Template_Var".into(), target]
            .into_iter()
            .chain(sets)
            .collect();
        let out = self.nbctl(zone, &args.iter().map(String::as_str).collect::<Vec<_>>());
        if row.is_empty() {
            out.trim().to_string()
        } else {
            row
        }
    }
    fn template_vars_undo(&self, zone: &str, row: &str, keys: &[&str]) {
        for k in keys {
            self.nbctl_undo(zone, &["remove", "Chassis_Template_Var", row, "variables", k]);
        }
    }
    fn sbctl(&self, zone: &str, args: &[&str]) -> String {
        let db = format!("--db={}", self.sb(zone));
        self.run("ovn-sbctl", &[&[db.as_str()], args].concat())
    }
    fn ovnscope(&self, args: &[&str]) -> (i32, String, String) {
        self.run_ovnscope(Path::new(env!("CARGO_BIN_EXE_ovnscope")), args, &[])
    }
    /// `exe` (ovnscope, or a plugin name for it) with no database from the environment, plus `env`.
    fn run_ovnscope(&self, exe: &Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> (i32, String, String) {
        let out = Command::new(exe)
            .args(args)
            .env_remove("OVN_NB_DB")
            .env_remove("OVN_SB_DB")
            .env_remove("OVNSCOPE_CLUSTER")
            .env("OVS_RUNDIR", "/nonexistent")
            .env("OVN_RUNDIR", "/nonexistent")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }
    fn json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.ovnscope(args);
        assert_eq!(code, 0, "ovnscope {args:?}: {err}");
        // A trace tree nests a table per step: deeper than serde_json's default limit of 128.
        let mut de = serde_json::Deserializer::from_str(&out);
        de.disable_recursion_limit();
        serde::Deserialize::deserialize(&mut de).unwrap_or_else(|e| panic!("{e}: {out:.300}"))
    }
}

/// tcpdump `-c N -vv` on an interface of a lab namespace while `act` runs.
fn tcpdump_during(ns: &str, iface: &str, filter: &str, count: usize, act: impl FnOnce()) -> String {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "timeout",
            "8",
            "tcpdump",
            "-nn",
            "-vv",
            "-l",
            "-i",
            iface,
            "-c",
            &count.to_string(),
            filter,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    act();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ping(from_ns: &str, to: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", from_ns, "ping", "-c", "1", "-W", "2", to])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ping {to} from {from_ns}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Each zone holds what OVN-Kubernetes writes there (ovn-ic.md §1–2), read with the real tools:
/// the zone's name, the transit switch with datapath key 16711683, one remote port per other
/// node bound to that node's remote chassis.
fn zones_are_built_as_ovn_kubernetes_builds_them() {
    let l = lab();
    for z in ZONES {
        assert_eq!(l.nbctl(z, &["get", "NB_Global", ".", "name"]).trim().trim_matches('"'), z);
        let key = l.sbctl(
            z,
            &[
                "--bare",
                "--columns=tunnel_key",
                "find",
                "Datapath_Binding",
                "external_ids:interconn-ts=transit_switch",
            ],
        );
        assert_eq!(key.trim(), "16711683", "zone {z}");
        for m in ZONES.iter().filter(|m| **m != z) {
            let kind = l.nbctl(z, &["get", "Logical_Switch_Port", &format!("tstor-{m}"), "type"]);
            assert_eq!(kind.trim(), "remote");
            let chassis = l.sbctl(
                z,
                &[
                    "--bare",
                    "--columns=chassis",
                    "find",
                    "Port_Binding",
                    &format!("logical_port=tstor-{m}"),
                ],
            );
            let host = l.sbctl(z, &["get", "Chassis", chassis.trim(), "hostname"]);
            assert_eq!(host.trim().trim_matches('"'), *m, "zone {z}: tstor-{m} is bound to {m}'s chassis");
            let remote = l.sbctl(z, &["get", "Chassis", chassis.trim(), "other_config:is-remote"]);
            assert_eq!(remote.trim().trim_matches('"'), "true");
        }
    }
}

/// A pod-to-pod ping across nodes, on the underlay: VNI 16711683 (the transit switch) and the
/// OVN option carrying (ingress, egress) = (source node id, destination node id); TTL 62 at the
/// far pod (two router hops, one per zone). ovnscope's decoding of the same capture agrees.
fn across_zones_on_the_wire() {
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("ul.pcap");
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &l.ns("underlay"),
            "timeout",
            "8",
            "tcpdump",
            "-U",
            "-i",
            "ul-worker-1",
            "-c",
            "2",
            "-w",
        ])
        .arg(&pcap)
        .arg("udp port 6081")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let reply = ping(&l.ns("pod1"), "10.128.4.5");
    assert!(child.wait_with_output().unwrap().status.success());
    assert!(reply.contains("ttl=62"), "{reply}");
    let text = l.run("tcpdump", &["-nn", "-vv", "-r", &pcap.display().to_string()]);
    assert!(text.contains("vni 0xff0003"), "{text}");
    assert!(
        text.contains("data 00020003"),
        "request: in tstor-worker-1 (2), out tstor-worker-2 (3)\n{text}"
    );
    assert!(text.contains("data 00030002"), "reply: in 3, out 2\n{text}");
    // ovnscope reads the same capture: the geneve VNI of both packets.
    let j = l.json(&["explain", "--capture", &format!("underlay={}", pcap.display()), "-f", "json"]);
    let vnis: Vec<i64> = j["packets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["rows"].as_array().unwrap().iter().filter_map(|r| r["vni"].as_i64()))
        .collect();
    assert_eq!(vnis, [16711683, 16711683], "{j:#}");
}

/// `show` over the cluster file: one zone per node, each exactly as `show` of that zone alone,
/// and each zone's switches and routers as that zone's `ovn-nbctl` lists them.
fn show_over_the_cluster_is_each_zone() {
    let l = lab();
    let all = l.json(&["show", "--cluster", &l.cluster_file(), "-f", "json"]);
    let zones = all["zones"].as_array().unwrap();
    assert_eq!(zones.iter().map(|z| z["zone"].as_str().unwrap()).collect::<Vec<_>>(), ZONES);
    for (z, doc) in ZONES.iter().zip(zones) {
        let mut one = l.zone_json("show", z, &["-f", "json"]);
        let mut mine = doc.clone();
        for d in [&mut one, &mut mine] {
            let o = d.as_object_mut().unwrap();
            o.remove("schema");
            o.remove("zone");
        }
        assert_eq!(one, mine, "zone {z}");
        for (table, key) in [("Logical_Switch", "switches"), ("Logical_Router", "routers")] {
            let mut want: Vec<String> = l
                .nbctl(z, &["--bare", "--columns=name", "list", table])
                .split_whitespace()
                .map(String::from)
                .collect();
            want.sort();
            let mut got: Vec<String> = doc["nb"][key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_string())
                .collect();
            got.sort();
            assert_eq!(got, want, "zone {z} {table}");
        }
    }
    // A zone that cannot be reached is named; a malformed cluster file names its line.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cluster");
    let text = std::fs::read_to_string(l.cluster_file()).unwrap() + "worker-9 nb=unix:/nonexistent/nb.sock\n";
    std::fs::write(&bad, text).unwrap();
    for cmd in ["show", "nat"] {
        let mut args = vec![cmd, "--cluster", bad.to_str().unwrap()];
        if cmd == "nat" {
            args.extend(["--pod", "network-trace/nettools-w2"]);
        }
        let (code, _, err) = l.ovnscope(&args);
        assert_eq!(code, 3, "{cmd}: {err}");
        assert!(
            err.contains("zone worker-9") && err.contains("/nonexistent/nb.sock"),
            "{cmd}: {err}"
        );
    }
    std::fs::write(&bad, "worker-1 nb=unix:/x\nworker-2 sb=unix:/y\n").unwrap();
    let (code, _, err) = l.ovnscope(&["show", "--cluster", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2: zone worker-2 has no nb= database"), "{err}");
    // The text groups by zone.
    let (code, text, err) = l.ovnscope(&["show", "--cluster", &l.cluster_file()]);
    assert_eq!(code, 0, "{err}");
    for z in ZONES {
        assert!(
            text.contains(&format!("\nZone {z}\n")) || text.starts_with(&format!("Zone {z}\n")),
            "{text:.300}"
        );
    }
}

/// `nat` for every pod of the cluster answers from the pod's own zone with the rule that zone's
/// `ovn-nbctl find NAT` names; tcpdump on the NIC sees the source it predicts. Toward a pod on
/// another node: no SNAT, which the far pod's capture confirms (it sees the pod's own address),
/// and ovn-trace in the source zone stops at the remote port ovnscope names.
fn nat_answers_from_each_pods_zone() {
    let l = lab();
    let cluster = l.cluster_file();
    for (zone, ns, lsp, ip, _) in PODS {
        let pod = lsp.replacen('_', "/", 1);
        let j = l.json(&["nat", "--cluster", &cluster, "--pod", &pod, "-f", "json"]);
        assert_eq!(j["zone"], zone, "{pod}");
        let want = l.nbctl(zone, &["--bare", "--columns=_uuid", "find", "NAT", &format!("logical_ip={ip}")]);
        assert_eq!(j["applies"]["uuid"].as_str().unwrap(), want.trim(), "{pod}");
        // By address on the zone's live server (only the pod's switch's ports are read) = by
        // address from the zone's file (read whole) = the rule ovn-nbctl finds.
        let live = l.json(&["nat", "--nb-db", &l.nb(zone), "--ip", ip, "-f", "json"]);
        let file = format!("file:{}", l.dir.join(zone).join("ovn/ovnnb_db.db").display());
        let whole = l.json(&["nat", "--nb-db", &file, "--ip", ip, "-f", "json"]);
        assert_eq!(live["applies"]["uuid"].as_str().unwrap(), want.trim(), "{ip}");
        assert_eq!(live, whole, "{ip}: live (the walk's demand) vs file (whole)");
        // By port, toward the internet and toward a pod in another zone (across the transit
        // switch's remote ports): live = file, the whole answer.
        for dst in ["203.0.113.8", "10.128.4.5", "10.128.6.7"] {
            let q = ["nat", "--lsp", lsp, "--dst", dst, "-f", "json"];
            let live = l.json(&[&q[..], &["--nb-db", &l.nb(zone)]].concat());
            let whole = l.json(&[&q[..], &["--nb-db", &file]].concat());
            assert_eq!(live, whole, "{lsp} → {dst}: live vs file");
        }
        let ext = j["translated"].as_str().unwrap().to_string();
        let seen = tcpdump_during(&l.ns(zone), "ens2f0np0", "icmp and dst host 203.0.113.8", 1, || {
            ping(&l.ns(ns), "203.0.113.8");
        });
        assert!(seen.contains(&format!("{ext} > 203.0.113.8")), "{pod} leaves as {ext}: {seen}");
    }
    let j = l.json(&[
        "nat",
        "--cluster",
        &cluster,
        "--pod",
        "network-trace/nettools-dual-pod",
        "--dst",
        "10.128.4.5",
        "-f",
        "json",
    ]);
    assert!(j["applies"].is_null(), "{j:#}");
    let exit = j["exit"].as_str().unwrap();
    assert!(exit.contains("zone worker-2") && exit.contains("tstor-worker-2"), "{exit}");
    let seen = tcpdump_during(&l.ns("pod3"), "eth0", "icmp[icmptype] == icmp-echo", 1, || {
        ping(&l.ns("pod1"), "10.128.4.5");
    });
    assert!(seen.contains("10.128.2.43 > 10.128.4.5"), "no SNAT between nodes: {seen}");
    let trace = l.run(
        "ovn-trace",
        &[
            &format!("--db={}", l.sb("worker-1")),
            "--minimal",
            r#"inport == "network-trace_nettools-dual-pod" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 10.128.4.5 && ip.ttl == 64 && icmp4.type == 8"#,
        ],
    );
    assert!(trace.contains("output(\"tstor-worker-2\")"), "{trace}");
    // Nothing by that name anywhere: "no", naming the zones looked in.
    let (code, _, err) = l.ovnscope(&["nat", "--cluster", &cluster, "--pod", "x/y"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no zone of the cluster (worker-1, worker-2, worker-3) holds"), "{err}");
}

/// A must-gather in OpenShift's layout (network_logs/ovnk_database_store.tar.gz holding
/// `<ovnkube-node pod>_nbdb` and `_sbdb` per node) is the same cluster offline: zones named
/// from NB_Global, `show` and `nat` equal to the live answers.
fn must_gather_is_the_same_cluster_offline() {
    let l = lab();
    let mg = tempfile::tempdir().unwrap();
    let store = mg.path().join("must-gather.local/network_logs/ovnk_database_store");
    std::fs::create_dir_all(&store).unwrap();
    for (i, z) in ZONES.iter().enumerate() {
        let pod = format!("ovnkube-node-{}", ["x7k2p", "b9w4q", "m3n8r"][i]);
        for (db, suffix) in [("ovnnb_db.db", "nbdb"), ("ovnsb_db.db", "sbdb")] {
            std::fs::copy(l.dir.join(z).join("ovn").join(db), store.join(format!("{pod}_{suffix}"))).unwrap();
        }
    }
    let archive = store.parent().unwrap().join("ovnk_database_store.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(store.parent().unwrap())
        .args(["-czf"])
        .arg(&archive)
        .arg("ovnk_database_store")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&store).unwrap();
    let mgp = mg.path().display().to_string();
    let off = l.json(&["show", "--must-gather", &mgp, "-f", "json"]);
    let zones: Vec<&str> = off["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["zone"].as_str().unwrap())
        .collect();
    assert_eq!(zones, ZONES);
    let live = l.json(&["show", "--cluster", &l.cluster_file(), "-f", "json"]);
    for (o, v) in off["zones"].as_array().unwrap().iter().zip(live["zones"].as_array().unwrap()) {
        let strip = |d: &Value| {
            let mut d = d.clone();
            d.as_object_mut().unwrap().remove("ovs");
            d["nb"]["source"] = Value::Null;
            d["sb"]["source"] = Value::Null;
            d
        };
        assert_eq!(strip(o), strip(v), "zone {}", o["zone"]);
    }
    for (_, _, lsp, _, _) in PODS {
        let pod = lsp.replacen('_', "/", 1);
        let mut a = l.json(&["nat", "--must-gather", &mgp, "--pod", &pod, "-f", "json"]);
        let mut b = l.json(&["nat", "--cluster", &l.cluster_file(), "--pod", &pod, "-f", "json"]);
        for d in [&mut a, &mut b] {
            d["warnings"] = Value::Null;
        }
        assert_eq!(a, b, "{pod}");
    }
    // trace across zones (Southbound only) and the logical topology: the same offline.
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 10.128.6.7 && ip.ttl == 64 && icmp4.type == 8";
    let a = l.json(&["trace", "--must-gather", &mgp, "--microflow", m, "-f", "json"]);
    let b = l.json(&["trace", "--cluster", &l.cluster_file(), "--microflow", m, "-f", "json"]);
    assert_eq!(a, b, "trace --microflow offline = live");
    // Without the Open_vSwitch databases (a must-gather has none), the live graph drawn from
    // the Northbound and Southbound only.
    let nb_sb: String = std::fs::read_to_string(l.cluster_file())
        .unwrap()
        .lines()
        .map(|line| line.split(" ovs=").next().unwrap().to_string() + "\n")
        .collect();
    let f = mg.path().join("cluster-nb-sb");
    std::fs::write(&f, nb_sb).unwrap();
    let a = l.json(&["topology", "--must-gather", &mgp, "--view", "logical", "-f", "json"]);
    let b = l.json(&["topology", "--cluster", f.to_str().unwrap(), "--view", "logical", "-f", "json"]);
    assert_eq!(a, b, "topology offline = live");
    // explain of a cross-node ping: the same offline.
    let caps = [("pod1", "pod1.pcap"), ("pod3", "pod3.pcap")].map(|(ns, file)| {
        let c = Command::new("ip")
            .args([
                "netns",
                "exec",
                &l.ns(ns),
                "timeout",
                "8",
                "tcpdump",
                "-U",
                "-i",
                "eth0",
                "-c",
                "2",
                "-w",
            ])
            .arg(mg.path().join(file))
            .arg("icmp")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (c, file)
    });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    ping(&l.ns("pod1"), "10.128.4.5");
    let mut points = vec![];
    for ((c, file), pod) in caps
        .into_iter()
        .zip(["network-trace/nettools-dual-pod", "network-trace/nettools-w2"])
    {
        assert!(c.wait_with_output().unwrap().status.success());
        points.extend(["--capture".to_string(), format!("pod:{pod}={}", mg.path().join(file).display())]);
    }
    let run = |db: [&str; 2]| {
        let mut args: Vec<&str> = vec!["explain", db[0], db[1], "-f", "json"];
        args.extend(points.iter().map(String::as_str));
        l.json(&args)
    };
    assert_eq!(
        run(["--must-gather", &mgp]),
        run(["--cluster", &l.cluster_file()]),
        "explain offline = live"
    );
}

/// (datapath, stage, lflow uuid prefix) of each table step in ovn-trace's detailed output.
fn ovn_trace_steps(text: &str) -> Vec<(String, String, String)> {
    let header = regex::Regex::new(r#"^\s*(?:ingress|egress)\(dp="([^"]+)""#).unwrap();
    let table = regex::Regex::new(r"^\s*\d+\. (\S+?)(?: \([^)]*\))?: .*, priority -?\d+, uuid ([0-9a-f]{8})$").unwrap();
    // A nested pipeline (an `arp { … }` or `clone { … }` block) is indented under its action;
    // when the outer pipeline goes on after it (26.03 does, after an ARP request), its steps
    // belong to the outer datapath again: headers are kept per indentation.
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut dps: Vec<(usize, String)> = vec![];
    let mut out = vec![];
    for l in text.lines() {
        if let Some(c) = header.captures(l) {
            let i = indent(l);
            dps.retain(|(j, _)| *j < i);
            dps.push((i, c[1].to_string()));
        } else if let Some(c) = table.captures(l) {
            let i = indent(l);
            dps.retain(|(j, _)| *j <= i);
            let dp = dps.last().map(|(_, d)| d.clone()).unwrap_or_default();
            out.push((dp, c[1].to_string(), c[2].to_string()));
        }
    }
    out
}

/// ovnscope's steps of one zone (from `trace --microflow -f json` over the cluster).
fn ovnscope_steps(j: &Value, zone: &str) -> Vec<(String, String, String)> {
    steps_where(j, |s| s["zone"] == zone)
}

/// (datapath, stage, lflow uuid prefix) of the steps of `trace -f json` that `keep` keeps.
fn steps_where(j: &Value, keep: impl Fn(&Value) -> bool) -> Vec<(String, String, String)> {
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| keep(s))
        .map(|s| {
            (
                s["datapath"].as_str().unwrap().to_string(),
                s["stage"].as_str().unwrap().to_string(),
                s["uuid"].as_str().unwrap()[..8].to_string(),
            )
        })
        .collect()
}

/// A trace across zones is one run: the source zone's flows up to the transit switch's ingress,
/// then — as geneve delivers it — the destination zone's from the transit switch's egress on.
/// Checked against ovn-trace in each zone, the second one started as ovnkube-trace does, from
/// `inport == "tstor-<source node>"` with the headers the packet has on the wire. The two
/// differences, by construction: ovn-trace runs the transit switch's egress in the source zone
/// (ovnscope: in the destination zone, where OVN runs it), and ovnkube-trace's second trace runs
/// the transit switch's ingress in the destination zone (OVN does not: the tunnel delivers to
/// the egress). Pod to internet stays in one zone and agrees step for step.
fn trace_across_zones_agrees_with_ovn_trace_in_each_zone() {
    let l = lab();
    let cluster = l.cluster_file();
    let cases = [
        (
            "worker-1",
            "network-trace_nettools-dual-pod",
            "0a:58:0a:80:02:2b",
            "0a:58:0a:80:02:01",
            "10.128.2.43",
            "worker-2",
            "10.128.4.5",
            "network-trace_nettools-w2",
            "icmp4.type == 8",
        ),
        (
            "worker-1",
            "network-trace_nettools-dual-pod",
            "0a:58:0a:80:02:2b",
            "0a:58:0a:80:02:01",
            "10.128.2.43",
            "worker-3",
            "10.128.6.7",
            "network-trace_nettools-w3",
            "tcp.src == 40000 && tcp.dst == 80 && tcp.flags == 2",
        ),
        (
            "worker-3",
            "network-trace_nettools-w3",
            "0a:58:0a:80:06:07",
            "0a:58:0a:80:06:01",
            "10.128.6.7",
            "worker-2",
            "10.128.4.5",
            "network-trace_nettools-w2",
            "udp.src == 40000 && udp.dst == 53",
        ),
    ];
    let id = |z: &str| ZONES.iter().position(|x| *x == z).unwrap() + 2;
    for (src_zone, lsp, mac, gw_mac, src, dst_zone, dst, dst_lsp, l4) in cases {
        let m = format!("inport == \"{lsp}\" && eth.src == {mac} && eth.dst == {gw_mac} && ip4.src == {src} && ip4.dst == {dst} && ip.ttl == 64 && {l4}");
        let ours = l.json(&["trace", "--cluster", &cluster, "--microflow", &m, "-f", "json"]);
        assert_eq!(ours["verdicts"], serde_json::json!([format!("output {dst_lsp}")]), "{m}");
        let a = ovn_trace_steps(&l.run("ovn-trace", &[&format!("--db={}", l.sb(src_zone)), &m]));
        let a_without_ts_egress: Vec<_> = a
            .iter()
            .filter(|(dp, st, _)| !(dp == "transit_switch" && st.starts_with("ls_out_")))
            .cloned()
            .collect();
        assert_eq!(ovnscope_steps(&ours, src_zone), a_without_ts_egress, "source zone {src_zone}: {m}");
        // The destination zone, from the headers at the crossing.
        let crossing = ours["trace"].to_string();
        assert!(
            crossing.contains(&format!(
                "geneve to zone {dst_zone}: VNI 16711683, ingress port key {}, egress port key {}",
                id(src_zone),
                id(dst_zone)
            )),
            "{crossing:.300}"
        );
        let m2 = format!(
            "inport == \"tstor-{src_zone}\" && eth.src == 0a:58:64:58:00:{:02x} && eth.dst == 0a:58:64:58:00:{:02x} && ip4.src == {src} && ip4.dst == {dst} && ip.ttl == 63 && {l4}",
            id(src_zone),
            id(dst_zone)
        );
        let b = ovn_trace_steps(&l.run("ovn-trace", &[&format!("--db={}", l.sb(dst_zone)), &m2]));
        let b_without_ts_ingress: Vec<_> = b
            .iter()
            .filter(|(dp, st, _)| !(dp == "transit_switch" && st.starts_with("ls_in_")))
            .cloned()
            .collect();
        assert_eq!(
            ovnscope_steps(&ours, dst_zone),
            b_without_ts_ingress,
            "destination zone {dst_zone}: {m2}"
        );
    }
    // A service VIP whose backend is on another node: load-balanced in the source zone
    // (ovn-trace --lb-dst), the backend's address on the wire, delivered in its zone.
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 172.30.0.10 && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == 80 && tcp.flags == 2";
    let ours = l.json(&[
        "trace",
        "--cluster",
        &cluster,
        "--microflow",
        m,
        "--lb-dst",
        "10.128.4.5",
        "-f",
        "json",
    ]);
    assert_eq!(ours["verdicts"], serde_json::json!(["output network-trace_nettools-w2"]), "{m}");
    let a = ovn_trace_steps(&l.run("ovn-trace", &[&format!("--db={}", l.sb("worker-1")), "--lb-dst=10.128.4.5:8080", m]));
    let a: Vec<_> = a
        .into_iter()
        .filter(|(dp, st, _)| !(dp == "transit_switch" && st.starts_with("ls_out_")))
        .collect();
    assert_eq!(ovnscope_steps(&ours, "worker-1"), a, "service VIP, source zone");
    let m2 = "inport == \"tstor-worker-1\" && eth.src == 0a:58:64:58:00:02 && eth.dst == 0a:58:64:58:00:03 && ip4.src == 10.128.2.43 && ip4.dst == 10.128.4.5 && ip.ttl == 63 && tcp.src == 40000 && tcp.dst == 8080 && tcp.flags == 2";
    let b = ovn_trace_steps(&l.run("ovn-trace", &[&format!("--db={}", l.sb("worker-2")), m2]));
    let b: Vec<_> = b
        .into_iter()
        .filter(|(dp, st, _)| !(dp == "transit_switch" && st.starts_with("ls_in_")))
        .collect();
    assert_eq!(ovnscope_steps(&ours, "worker-2"), b, "service VIP, backend's zone");
    // The headers ovnscope delivers are the ones the far pod captures.
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 10.128.4.5 && ip.ttl == 64 && icmp4.type == 8";
    let (code, text, err) = l.ovnscope(&["trace", "--cluster", &cluster, "--microflow", m, "--minimal"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(
            "output(\"network-trace_nettools-w2\"); /* 0a:58:0a:80:04:01 > 0a:58:0a:80:04:05, 10.128.2.43 > 10.128.4.5, ttl 62 */"
        ),
        "{text}"
    );
    let seen = tcpdump_during(&l.ns("pod3"), "eth0", "icmp[icmptype] == icmp-echo", 1, || {
        ping(&l.ns("pod1"), "10.128.4.5");
    });
    assert!(seen.contains("ttl 62") && seen.contains("10.128.2.43 > 10.128.4.5"), "{seen}");
    // Pod to internet, from each zone: one zone, ovn-trace's steps exactly.
    for (zone, _, lsp, ip, nid) in PODS {
        let mac = l.nbctl(zone, &["get", "Logical_Switch_Port", lsp, "addresses"]);
        let mac = mac
            .trim()
            .trim_matches(|c| c == '[' || c == ']' || c == '"')
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        let gw = format!("0a:58:0a:80:{:02x}:01", (nid - 1) * 2);
        let m = format!("inport == \"{lsp}\" && eth.src == {mac} && eth.dst == {gw} && ip4.src == {ip} && ip4.dst == 203.0.113.8 && ip.ttl == 64 && icmp4.type == 8");
        let ours = l.json(&["trace", "--cluster", &cluster, "--microflow", &m, "-f", "json"]);
        let theirs = ovn_trace_steps(&l.run("ovn-trace", &[&format!("--db={}", l.sb(zone)), &m]));
        assert_eq!(ovnscope_steps(&ours, zone), theirs, "{m}");
        assert_eq!(ours["verdicts"], serde_json::json!([format!("output br-ex_{zone}")]));
    }
}

/// `topology` over the cluster: one graph; the transit switch drawn once, its ports the
/// router-type `tstor-N` of each zone peered with that zone's `rtots-N` (as each zone's
/// `ovn-nbctl` has them); every zone's routers, under its name; and each node's geneve
/// tunnels (`ovs-vsctl`) reaching the other nodes' real chassis.
fn topology_over_the_cluster_is_one_graph() {
    let l = lab();
    let g = l.json(&["topology", "--cluster", &l.cluster_file(), "--view", "full", "-f", "json"]);
    let nodes = g["nodes"].as_array().unwrap();
    let edges = g["edges"].as_array().unwrap();
    let ts: Vec<&Value> = nodes
        .iter()
        .filter(|n| n["kind"] == "switch" && n["name"] == "transit_switch")
        .collect();
    assert_eq!(ts.len(), 1, "the transit switch is drawn once");
    let members: Vec<&str> = edges
        .iter()
        .filter(|e| e["kind"] == "member" && e["to"] == "ls:transit_switch")
        .map(|e| e["from"].as_str().unwrap())
        .collect();
    let want: Vec<String> = ZONES.iter().map(|z| format!("lsp:tstor-{z}")).collect();
    assert_eq!(members, want);
    for z in ZONES {
        assert_eq!(l.nbctl(z, &["lsp-get-type", &format!("tstor-{z}")]).trim(), "router");
        let opts = l.nbctl(z, &["lsp-get-options", &format!("tstor-{z}")]);
        let rtots = opts
            .split_whitespace()
            .find_map(|o| o.strip_prefix("router-port="))
            .unwrap()
            .to_string();
        let peer = format!("lrp:{rtots}@{z}");
        assert!(
            edges.iter().any(|e| e["kind"] == "router_peer"
                && ((e["from"] == format!("lsp:tstor-{z}") && e["to"] == peer)
                    || (e["to"] == format!("lsp:tstor-{z}") && e["from"] == peer))),
            "tstor-{z} ⇄ {peer}"
        );
        let mut routers: Vec<String> = l
            .nbctl(z, &["--bare", "--columns=name", "list", "Logical_Router"])
            .split_whitespace()
            .map(String::from)
            .collect();
        routers.sort();
        let mut mine: Vec<String> = nodes
            .iter()
            .filter(|n| n["kind"] == "router" && n["zone"] == z)
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        mine.sort();
        assert_eq!(mine, routers, "zone {z}");
        // Tunnels: each geneve interface of this node reaches the chassis whose encap IP is its
        // remote_ip, drawn as that node's own (local) chassis.
        let db = format!("--db={}", l.ovs(z));
        let opts = l.run(
            "ovs-vsctl",
            &[&db, "--bare", "--columns=options", "find", "Interface", "type=geneve"],
        );
        let remotes: Vec<&str> = opts
            .split_whitespace()
            .filter_map(|o| o.trim_end_matches(',').strip_prefix("remote_ip="))
            .map(|r| r.trim_matches(|c| c == '"' || c == '}'))
            .collect();
        assert_eq!(remotes.len(), 2, "{z}: {remotes:?}");
        for r in remotes {
            let e = edges
                .iter()
                .find(|e| e["kind"] == "tunnel" && e["remote_ip"] == r && e["from"].as_str().unwrap().contains(&l.sysid(z)))
                .unwrap_or_else(|| panic!("{z} → {r}"));
            let to = nodes.iter().find(|n| n["id"] == e["to"]).unwrap();
            assert_eq!(to["local"], true, "{z} → {r}: the far node's own chassis, not a remote stand-in");
            assert!(to["encap_ips"].as_array().unwrap().iter().any(|i| i == r));
        }
    }
}

/// A real ping across nodes captured at the source pod, on the underlay and at the far pod, and
/// explained over the cluster: the first hop by the source zone's router, the underlay frame as
/// the transit switch between the two nodes' `tstor` ports, the last hop by the far zone's
/// router. The VNI and port keys tcpdump decodes on the underlay are the ones the cross-zone
/// trace predicts for the same packet.
fn explain_across_zones_names_both_zones() {
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let cap = |ns: &str, iface: &str, file: &str, filter: &str| {
        Command::new("ip")
            .args(["netns", "exec", ns, "timeout", "8", "tcpdump", "-U", "-i", iface, "-c", "2", "-w"])
            .arg(dir.path().join(file))
            .arg(filter)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let caps = [
        cap(&l.ns("pod1"), "eth0", "pod1.pcap", "icmp"),
        cap(&l.ns("underlay"), "ul-worker-1", "ul.pcap", "udp port 6081"),
        cap(&l.ns("pod3"), "eth0", "pod3.pcap", "icmp"),
    ];
    std::thread::sleep(std::time::Duration::from_millis(1200));
    ping(&l.ns("pod1"), "10.128.4.5");
    for c in caps {
        assert!(c.wait_with_output().unwrap().status.success());
    }
    let f = |n: &str| dir.path().join(n).display().to_string();
    let args = [
        "explain".to_string(),
        "--cluster".into(),
        l.cluster_file(),
        "--capture".into(),
        format!("pod:network-trace/nettools-dual-pod={}", f("pod1.pcap")),
        "--capture".into(),
        format!("underlay={}", f("ul.pcap")),
        "--capture".into(),
        format!("pod:network-trace/nettools-w2={}", f("pod3.pcap")),
        "-f".into(),
        "json".into(),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let j = l.json(&refs);
    let fwd = &j["packets"][0];
    assert_eq!(fwd["key"]["forward"], true);
    let what = |i: usize| fwd["rows"][i]["what"].as_str().unwrap().to_string();
    assert!(
        what(1).contains("rtots-worker-1 of ovn_cluster_router [zone worker-1]"),
        "{}",
        what(1)
    );
    assert!(
        what(1).contains("over geneve VNI 16711683 = switch transit_switch, from tstor-worker-1 to tstor-worker-2"),
        "{}",
        what(1)
    );
    assert!(
        what(2).contains("routed by ovn_cluster_router") && what(2).contains("rtos-worker-2 of ovn_cluster_router [zone worker-2]"),
        "{}",
        what(2)
    );
    let reply = &j["packets"][1];
    assert!(
        reply["rows"][1]["what"]
            .as_str()
            .unwrap()
            .contains("from tstor-worker-2 to tstor-worker-1"),
        "{reply:#}"
    );
    // What tcpdump decodes on the underlay, and what the flows predict for the same packet.
    let text = l.run("tcpdump", &["-nn", "-vv", "-r", &f("ul.pcap")]);
    let vni = text
        .split("vni 0x")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .map(|h| u32::from_str_radix(h.trim(), 16).unwrap())
        .unwrap();
    let data = text
        .split("data ")
        .nth(1)
        .map(|r| r.split(']').next().unwrap().trim().to_string())
        .unwrap();
    let (ingress, egress) = (
        u32::from_str_radix(&data[..4], 16).unwrap(),
        u32::from_str_radix(&data[4..8], 16).unwrap(),
    );
    assert_eq!(fwd["rows"][1]["vni"], vni);
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 10.128.4.5 && ip.ttl == 64 && icmp4.type == 8";
    let (code, t, err) = l.ovnscope(&["trace", "--cluster", &l.cluster_file(), "--microflow", m]);
    assert_eq!(code, 0, "{err}");
    assert!(
        t.contains(&format!("VNI {vni}, ingress port key {ingress}, egress port key {egress}")),
        "tcpdump: vni {vni} data {data}\n{t}"
    );
    // The predicted path (no flows run): at each capturable point the headers tcpdump shows.
    let pred = l.json(&[
        "trace",
        "--cluster",
        &l.cluster_file(),
        "--from",
        "network-trace/nettools-dual-pod",
        "--to",
        "10.128.4.5",
        "-f",
        "json",
    ]);
    let point = |kind: &str, name_has: &str| -> Value {
        pred["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["kind"] == kind && p["name"].as_str().unwrap().contains(name_has))
            .unwrap_or_else(|| panic!("no {kind} point {name_has}: {pred:#}"))
            .clone()
    };
    // "SRC_MAC > DST_MAC, … ttl N" of the first frame tcpdump -e prints (the inner one for geneve).
    let seen = |file: &str, inner: bool| -> (String, String, u64) {
        let t = l.run("tcpdump", &["-e", "-nn", "-vv", "-c", "1", "-r", &f(file)]);
        let line = t
            .lines()
            .filter(|x| x.contains(" > ") && x.contains("ethertype"))
            .nth(usize::from(inner))
            .unwrap()
            .to_string();
        let macs: Vec<&str> = line
            .split_whitespace()
            .filter(|w| w.trim_end_matches(',').matches(':').count() == 5)
            .collect();
        let ttl = line.split("ttl ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
        (macs[0].to_string(), macs[1].trim_end_matches(',').to_string(), ttl)
    };
    for (p, file, inner) in [
        (point("pod-eth0", "nettools-dual-pod"), "pod1.pcap", false),
        (point("tunnel", ""), "ul.pcap", true),
        (point("pod-eth0", "nettools-w2"), "pod3.pcap", false),
    ] {
        let (src, dst, ttl) = seen(file, inner);
        assert_eq!(
            (
                p["src_mac"].as_str().unwrap(),
                p["dst_mac"].as_str().unwrap(),
                p["ttl"].as_u64().unwrap()
            ),
            (src.as_str(), dst.as_str(), ttl),
            "{file}: {p:#}"
        );
    }
    // --validate: each packet through both zones' flows, compared at the underlay (what the far
    // zone's egress starts with) and at the far pod; with the far pod's capture passed off as a
    // pod of the source zone, the flows do not send it there: "no", exit 1.
    let mut v = args.to_vec();
    v.insert(1, "--validate".into());
    let refs: Vec<&str> = v.iter().map(String::as_str).collect();
    let j = l.json(&refs);
    for c in j["validation"].as_array().unwrap() {
        assert_eq!(c["status"], "agrees", "{c:#}");
        assert_eq!(c["later"][0]["status"], "agrees", "{c:#}");
    }
    assert_eq!(j["validation"][0]["output"], "tstor-worker-2");
    let swapped: Vec<String> = v
        .iter()
        .map(|a| a.replace("pod:network-trace/nettools-w2=", "pod:network-trace/nettools-pod-2="))
        .collect();
    let refs: Vec<&str> = swapped.iter().map(String::as_str).collect();
    let (code, out, err) = l.ovnscope(&refs);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("\"status\": \"disagrees\""), "{out}");
    let tunnel = point("tunnel", "");
    assert_eq!(
        (
            tunnel["vni"].as_u64(),
            tunnel["ingress_port_key"].as_u64(),
            tunnel["egress_port_key"].as_u64()
        ),
        (Some(u64::from(vni)), Some(u64::from(ingress)), Some(u64::from(egress)))
    );
}

/// `capture` over the cluster: live points on two nodes and the underlay, explained by each
/// hop's zone as `explain` does.
fn capture_across_zones() {
    let l = lab();
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    let child = Command::new(bin)
        .args([
            "capture",
            "--cluster",
            &l.cluster_file(),
            "--point",
            &format!("pod:network-trace/nettools-dual-pod=eth0@{}", l.ns("pod1")),
            "--point",
            &format!("underlay=ul-worker-1@{}", l.ns("underlay")),
            "--point",
            &format!("pod:network-trace/nettools-w2=eth0@{}", l.ns("pod3")),
            "--filter",
            "icmp or udp port 6081",
            "--count",
            "6",
            "--duration",
            "8",
        ])
        .env_remove("OVNSCOPE_CLUSTER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    ping(&l.ns("pod1"), "10.128.4.5");
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("[zone worker-1]") && text.contains("[zone worker-2]"), "{text}");
    assert!(
        text.contains("over geneve VNI 16711683 = switch transit_switch, from tstor-worker-1 to tstor-worker-2"),
        "{text}"
    );
}

/// ovn-trace's own option semantics (issue #18): `--ct new` implies `trk` ("set automatically
/// even if not listed"), `--lb-dst` takes `IP:PORT`, and `vlan.present` is a 1-bit field that a
/// microflow may compare with a number. Each against ovn-trace on the same Southbound.
/// One column of the lr_out_snat flow northd wrote for NAT rule `nat_uuid` (by its stage-hint).
fn lr_out_snat_flow(l: &Lab, zone: &str, nat_uuid: &str, column: &str) -> String {
    let cols = format!("--columns={column}");
    let hint = format!("external_ids:stage-hint={}", &nat_uuid[..8]);
    l.sbctl(
        zone,
        &[
            "--bare",
            &cols,
            "find",
            "Logical_Flow",
            &hint,
            "external_ids:stage-name=lr_out_snat",
        ],
    )
    .trim()
    .to_string()
}

/// Runs `check`, then `restore` whatever `check` did (a failed assertion included), then
/// reports `check`'s failure: tests that change the shared lab leave it as they found it.
fn restoring(check: impl FnOnce(), restore: impl FnOnce()) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    restore();
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
}

/// OVN 24.09+ NAT rules with `match` and `priority` (on 23.03 the columns do not exist: skipped):
/// each rule's flow priority in ovnscope's answer is the one northd wrote into the Southbound
/// (300 + priority with a match; the prefix rule without), the pod's own SNAT still applies to
/// a question that leaves the protocol open, a `priority` without `match` changes nothing (a
/// tie), and a TCP 443 / UDP packet traced by ovnscope takes the rule ovn-trace takes, step for
/// step — and tcpdump on the node's NIC sees real packets leave with those sources.
fn nat_rules_with_match_and_priority_rank_as_northd_writes_them() {
    let l = lab();
    let z = "worker-1";
    let db = format!("--db={}", l.nb(z));
    if !Command::new("ovn-nbctl")
        .args([&db, "--columns=match", "list", "NAT"])
        .output()
        .unwrap()
        .status
        .success()
    {
        eprintln!("skipped: this OVN's NAT table has no match/priority (they came with 24.09)");
        return;
    }
    let mut added = vec![];
    for (ext, logical, m, prio) in [
        ("198.18.0.50", "10.128.2.0/23", Some("tcp.dst == 443"), 100),
        ("198.18.0.51", "10.128.2.43", Some("udp"), 5),
        ("198.18.0.52", "10.128.2.44", None, 500),
    ] {
        let mut args = vec![
            "--id=@n".to_string(),
            "create".into(),
            "NAT".into(),
            "type=snat".into(),
            format!("external_ip={ext}"),
            format!("logical_ip={logical}"),
            format!("priority={prio}"),
        ];
        if let Some(m) = m {
            args.push(format!("match=\"{m}\""));
        }
        args.extend([
            "--".into(),
            "add".into(),
            "Logical_Router".into(),
            format!("GR_{z}"),
            "nat".into(),
            "@n".into(),
        ]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        added.push(l.nbctl(z, &a).trim().to_string());
    }
    l.nbctl(z, &["--wait=hv", "sync"]);
    let flow_priority = |uuid: &str| -> i64 {
        let out = lr_out_snat_flow(l, z, uuid, "priority");
        out.parse().unwrap_or_else(|_| panic!("lr_out_snat flow of {uuid}: {out:?}"))
    };
    let check = || {
        let a = l.zone_json("nat", z, &["--pod", "network-trace/nettools-dual-pod", "-f", "json"]);
        assert_eq!(a["applies"]["external_ip"], "198.18.0.9", "{a}");
        for u in &added[..2] {
            let c = a["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["uuid"] == u.as_str())
                .unwrap_or_else(|| panic!("{u} in {a}"));
            assert_eq!(c["priority"].as_i64(), Some(flow_priority(u)), "{c}");
            assert!(c["why_not"].as_str().unwrap().starts_with("applies only when"), "{c}");
        }
        let b = l.zone_json("nat", z, &["--pod", "network-trace/nettools-pod-2", "-f", "json"]);
        assert_eq!(
            b["tie"].as_array().map(Vec::len),
            Some(2),
            "priority without match: still a tie at /32: {b}"
        );
        assert_eq!(flow_priority(&added[2]), 33);
        let sb = format!("--db={}", l.sb(z));
        for (l4, ext) in [
            ("tcp.src == 40000 && tcp.dst == 443 && tcp.flags == 2", "198.18.0.50"),
            ("udp.src == 40000 && udp.dst == 53", "198.18.0.51"),
        ] {
            let m = format!("inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.8 && ip.ttl == 64 && {l4}");
            let text = l.run("ovn-trace", &[&sb, "--ct=new", &m]);
            assert!(text.contains(&format!("ct_snat({ext})")), "ovn-trace takes {ext}: {text:.2000}");
            let ours = l.json(&["trace", "--sb-db", &l.sb(z), "--ct", "new", "--microflow", &m, "-f", "json"]);
            assert_eq!(ovnscope_steps_all(&ours), ovn_trace_steps(&text), "{l4}");
            assert!(
                ours["trace"].to_string().contains(&format!("ct_snat({ext})")),
                "ovnscope takes {ext}"
            );
        }
        // And the wire: a real TCP SYN to port 443 and a UDP datagram leave the node's NIC with
        // the source each rule gives, ICMP with the pod's own SNAT.
        for (filter, send, ext) in [
            (
                "tcp dst port 443",
                "timeout 2 bash -c '</dev/tcp/203.0.113.8/443' || true",
                "198.18.0.50",
            ),
            ("udp dst port 53", "echo x >/dev/udp/203.0.113.8/53", "198.18.0.51"),
            (
                "icmp and dst host 203.0.113.8",
                "ping -c1 -W2 203.0.113.8 >/dev/null || true",
                "198.18.0.9",
            ),
        ] {
            let seen = tcpdump_during(&l.ns(z), "ens2f0np0", filter, 1, || {
                let st = Command::new("ip")
                    .args(["netns", "exec", &l.ns("pod1"), "bash", "-c", send])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(st.success(), "{send}");
            });
            assert!(
                seen.contains(&format!("{ext}.")) || seen.contains(&format!("{ext} >")),
                "{filter}: tcpdump saw {seen:?}, not {ext}"
            );
        }
    };
    restoring(check, || {
        for u in &added {
            l.nbctl(z, &["remove", "Logical_Router", &format!("GR_{z}"), "nat", u]);
        }
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// `external_port_range` on the pod's SNAT rule: ovnscope's answer names the range, its flow
/// is the Southbound's `ct_snat(IP,LOW-HIGH)`, and tcpdump on the NIC sees real SYNs leave from
/// ports inside it.
fn snat_port_range_is_named_and_used_on_the_wire() {
    let l = lab();
    let z = "worker-1";
    let rule = l.nbctl(z, &["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.43"]);
    let rule = rule.trim();
    l.nbctl(z, &["set", "NAT", rule, "external_port_range=20000-20010"]);
    l.nbctl(z, &["--wait=hv", "sync"]);
    let check = || {
        let a = l.zone_json("nat", z, &["--pod", "network-trace/nettools-dual-pod", "-f", "json"]);
        assert_eq!(a["applies"]["external_port_range"], "20000-20010", "{a}");
        let actions = lr_out_snat_flow(l, z, rule, "actions");
        assert_eq!(actions, "ct_snat(198.18.0.9,20000-20010);");
        assert_eq!(a["applies"]["lflow"]["actions"].as_str(), Some(actions.as_str()));
        let (_, text, _) = l.ovnscope(
            &l.zone_args("nat", z, &["--pod", "network-trace/nettools-dual-pod"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        assert!(text.contains("leaves with 198.18.0.9 (source ports 20000-20010)"), "{text}");
        let seen = tcpdump_during(&l.ns(z), "ens2f0np0", "tcp dst port 443", 2, || {
            for _ in 0..2 {
                let _ = Command::new("ip")
                    .args([
                        "netns",
                        "exec",
                        &l.ns("pod1"),
                        "timeout",
                        "2",
                        "bash",
                        "-c",
                        "</dev/tcp/203.0.113.8/443",
                    ])
                    .stderr(Stdio::null())
                    .status();
            }
        });
        let re = regex::Regex::new(r"198\.18\.0\.9\.(\d+) > 203\.0\.113\.8\.443").unwrap();
        let ports: Vec<u32> = re.captures_iter(&seen).map(|c| c[1].parse().unwrap()).collect();
        assert!(!ports.is_empty(), "tcpdump saw no SYN from 198.18.0.9: {seen}");
        assert!(ports.iter().all(|p| (20000..=20010).contains(p)), "source ports {ports:?}");
    };
    restoring(check, || {
        l.nbctl(z, &["set", "NAT", rule, "external_port_range=\"\""]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

fn ovn_trace_option_semantics() {
    let l = lab();
    let sb = format!("--db={}", l.sb("worker-1"));
    let vip = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 172.30.0.10 && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == 80 && tcp.flags == 2";
    let theirs = ovn_trace_steps(&l.run("ovn-trace", &[&sb, "--ct=new", "--lb-dst=10.128.4.5:8080", vip]));
    assert!(
        theirs.iter().any(|(_, st, _)| st == "ls_in_pre_hairpin"),
        "ovn-trace's --ct new tracks: {theirs:?}"
    );
    let ours = l.json(&[
        "trace",
        "--sb-db",
        &l.sb("worker-1"),
        "--ct",
        "new",
        "--lb-dst",
        "10.128.4.5:8080",
        "--microflow",
        vip,
        "-f",
        "json",
    ]);
    assert_eq!(ovnscope_steps_all(&ours), theirs, "--ct new --lb-dst IP:PORT");
    let tree = ours["trace"].to_string();
    assert!(tree.contains("backend 10.128.4.5:8080"), "{tree:.300}");
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.8 && ip.ttl == 64 && icmp4.type == 8 && vlan.present == 0";
    let theirs = ovn_trace_steps(&l.run("ovn-trace", &[&sb, m]));
    let ours = l.json(&["trace", "--sb-db", &l.sb("worker-1"), "--microflow", m, "-f", "json"]);
    assert_eq!(ovnscope_steps_all(&ours), theirs, "vlan.present == 0");
}

/// A pod's ping to an address nothing on the lab owns (203.0.113.99), as an ovn-trace microflow.
const TO_99: &str = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.99 && ip.ttl == 64 && icmp4.type == 8";

/// A trace's text lines bar blank ones (with `--ovn-trace-compat` the first, OVS's text of the
/// flow, is ovn-trace's too).
fn trace_text(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// `ovn-trace ARGS` and `ovnscope trace --ovn-trace-compat ARGS` on zone `z`'s Southbound print
/// the same text; ovn-trace's lines.
fn same_as_ovn_trace(l: &Lab, z: &str, args: &[&str]) -> Vec<String> {
    let theirs = l.run("ovn-trace", &[&[format!("--db={}", l.sb(z)).as_str()], args].concat());
    let (rc, ours, err) = l.ovnscope(&[&["trace", "--sb-db", &l.sb(z), "--ovn-trace-compat"], args].concat());
    assert_eq!(rc, 0, "{args:?}: {err}");
    let (a, b) = (trace_text(&ours), trace_text(&theirs));
    if a != b {
        let at = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        panic!(
            "ovnscope trace --ovn-trace-compat {args:?}: line {at} differs\n  ovn-trace: {:?}\n  ovnscope:  {:?}\n--- ovn-trace\n{theirs}\n--- ovnscope\n{ours}",
            b.get(at),
            a.get(at)
        );
    }
    b
}

/// ovn-trace's own command line, and the texts where the conformance runner (benches/
/// conformance.rs) found ovnscope differing (issue #18), each against ovn-trace on the same
/// Southbound: `ovnscope trace --ovn-trace-compat [DATAPATH] MICROFLOW` with ovn-trace's flags
/// prints ovn-trace's text (bar the `# ` flow line, OVS's own formatter), one form alone or
/// several under their headings; an unknown DATAPATH is refused in ovn-trace's words; a flow
/// that names an address set the Southbound lacks is skipped, as ovn-controller never installs
/// it (ovnscope said "cannot be decided"); a conntrack branch whose packet is then dropped is
/// `ct_next(…);` in --minimal (ovnscope printed an empty block).
fn ovn_trace_command_line_and_texts() {
    let l = lab();
    let z = "worker-1";
    let sb = format!("--db={}", l.sb(z));
    let m = TO_99;
    let both = |args: &[&str]| same_as_ovn_trace(l, z, args);
    for args in [
        &[z, m][..],
        &["--minimal", z, m],
        &["--summary", m],
        &["--detailed", "--minimal", z, m],
        &["--ct=new", "--summary", "--minimal", z, m],
    ] {
        both(args);
    }
    // ovn-trace says it on standard output and exits 0; ovnscope on standard error, exit 1.
    let theirs = l.run("ovn-trace", &[&sb, "no-such-switch", m]);
    assert_eq!(theirs.trim(), "unknown datapath \"no-such-switch\"");
    let (rc, _, err) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "no-such-switch", m]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains(theirs.trim()), "{err}");
    let (rc, _, err) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "join", m]);
    assert_eq!(rc, 2, "the inport is not on datapath join: {err}");

    let unknown = "ip4.dst == 203.0.113.99 && ip4.src == $ovnscope_no_such_set";
    let known = "ip4.dst == 203.0.113.99";
    let check = || {
        l.nbctl(z, &["acl-add", z, "from-lport", "2000", unknown, "allow"]);
        l.nbctl(z, &["acl-add", z, "from-lport", "1999", known, "drop"]);
        l.nbctl(z, &["--wait=hv", "sync"]);
        let minimal = both(&["--ct=new", "--minimal", z, m]);
        assert!(
            minimal.iter().all(|l| !l.contains("not modelled") && !l.ends_with('{')),
            "{minimal:?}"
        );
        let detailed = both(&["--ct=new", z, m]);
        assert!(
            detailed.iter().any(|l| l.contains("ls_in_acl_eval") || l.contains("ls_in_acl")),
            "{detailed:?}"
        );
        let (_, ours, _) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "--ct=new", z, m]);
        assert!(
            ours.contains("$ovnscope_no_such_set, which the Southbound does not have"),
            "without --ovn-trace-compat the skipped flow is named: {ours}"
        );
    };
    restoring(check, || {
        l.nbctl_undo(z, &["acl-del", z, "from-lport", "2000", unknown]);
        l.nbctl_undo(z, &["acl-del", z, "from-lport", "1999", known]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// `trace --ovs`: under each logical flow, the OpenFlow flows it became on the node's br-int,
/// the same lines as `ovn-trace --ovs` prints on the same node (bar the statistics, which move
/// between the two reads); a bridge that cannot be reached is a clear error, exit 3.
fn trace_ovs_shows_the_openflow_flows_ovn_trace_shows() {
    let l = lab();
    let z = "worker-1";
    let rundir = format!("{}/{z}/ovs", l.dir.display());
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.8 && ip.ttl == 64 && icmp4.type == 8";
    let out = Command::new("ovn-trace")
        .args([&format!("--db={}", l.sb(z)), "--ovs", m])
        .env("OVS_RUNDIR", &rundir)
        .output()
        .unwrap();
    let theirs = String::from_utf8(out.stdout).unwrap();
    // The counters and ages change between two reads; the flows themselves do not.
    let stable = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("# ") && !l.trim().is_empty())
            .map(|l| {
                l.split(", ")
                    .filter(|f| {
                        !["duration=", "n_packets=", "n_bytes=", "idle_age=", "hard_age="]
                            .iter()
                            .any(|p| f.trim_start().starts_with(p))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
                    .trim_end()
                    .to_string()
            })
            .collect()
    };
    let cookies = theirs.lines().filter(|l| l.trim_start().starts_with("cookie=")).count();
    assert!(cookies > 10, "ovn-trace --ovs shows OpenFlow flows: {theirs:.3000}");
    let remote = format!("--ovs=unix:{rundir}/br-int.mgmt");
    let (rc, ours, err) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "--ovn-trace-compat", &remote, m]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(stable(&ours), stable(&theirs), "trace --ovs = ovn-trace --ovs");
    let (rc, _, err) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "--ovs=unix:/nonexistent/br-int.mgmt", m]);
    assert_eq!(rc, 3, "{err}");
    assert!(
        err.contains("cannot read OpenFlow flows from unix:/nonexistent/br-int.mgmt"),
        "{err}"
    );
    // A cluster's zones are on different nodes' bridges: refused, not ignored.
    let (rc, _, err) = l.ovnscope(&["trace", "--cluster", &l.cluster_file(), &remote, "--microflow", m]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("--ovs reads one node's bridge"), "{err}");
}

/// ECMP routes: the gateway router's `select()` between two next hops; with `--select-id`
/// ovnscope and ovn-trace take the same one, and print the same text, for each of the two
/// (the texts of the two differ: the next hop's ARP request asks for another address).
fn select_id_picks_the_ecmp_next_hop_ovn_trace_picks() {
    let l = lab();
    let z = "worker-1";
    let gr = format!("GR_{z}");
    let sb = format!("--db={}", l.sb(z));
    let m = TO_99;
    let check = || {
        for hop in ["198.18.0.1", "198.18.0.2"] {
            l.nbctl(z, &["--ecmp", "lr-route-add", &gr, "203.0.113.99/32", hop]);
        }
        l.nbctl(z, &["--wait=hv", "sync"]);
        let mut seen = vec![];
        for id in ["1", "2"] {
            let sel = format!("--select-id={id}");
            let theirs = l.run("ovn-trace", &[&sb, "--minimal", &sel, m]);
            assert!(theirs.contains(&format!("= {id}")), "ovn-trace selects {id}: {theirs}");
            let (rc, ours, err) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "--ovn-trace-compat", "--minimal", &sel, m]);
            assert_eq!(rc, 0, "{err}");
            assert_eq!(trace_text(&ours), trace_text(&theirs), "--select-id={id}");
            seen.push(trace_text(&theirs));
        }
        assert_ne!(seen[0], seen[1], "the two next hops are different paths");
        // The select() fork is where the packet goes on: no drop of the original after it.
        let j = l.json(&["trace", "--sb-db", &l.sb(z), "--select-id=2", "--microflow", m, "-f", "json"]);
        assert!(!j["verdicts"].as_array().unwrap().iter().any(|v| v == "drop"), "{}", j["verdicts"]);
        // Without --select-id ovnscope takes the first and says so (ovn-trace picks at random).
        let (_, ours, _) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "--minimal", m]);
        assert!(ours.contains("Use --select-id to specify."), "{ours}");
    };
    restoring(check, || {
        l.nbctl_undo(z, &["--if-exists", "lr-route-del", &gr, "203.0.113.99/32"]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// An ACL that logs (`ovn-nbctl --log`): ovn-trace prints a `LOG:` line with the packet in OVS's
/// flow text as it is at that ACL (registers, conntrack state, the ports' keys) and echoes the
/// `log(…)` action in its formatter's order; `ovnscope trace --ovn-trace-compat` prints the same
/// text, minimal and detailed, in the ingress and the egress ACL stage. (ovnscope printed
/// neither line before.)
fn acl_log_line_is_ovn_traces() {
    let l = lab();
    let z = "worker-1";
    let m = TO_99;
    let check = || {
        l.nbctl(
            z,
            &[
                "--log",
                "--name=ovnscope-log",
                "--severity=alert",
                "acl-add",
                z,
                "from-lport",
                "1001",
                "ip4.dst == 203.0.113.99",
                "allow-related",
            ],
        );
        l.nbctl(
            z,
            &[
                "--log",
                "--severity=notice",
                "acl-add",
                z,
                "to-lport",
                "1001",
                "ip4.src == 203.0.113.99",
                "allow-related",
            ],
        );
        l.nbctl(z, &["--wait=hv", "sync"]);
        let minimal = same_as_ovn_trace(l, z, &["--ct=new", "--minimal", z, m]);
        assert!(
            minimal.iter().any(|l| l
                .trim_start()
                .starts_with("LOG: ACL name=ovnscope-log, direction=IN, verdict=allow, severity=alert, packet=\"ct_state=new|trk,")
                && l.contains(",icmp,reg0=")),
            "ovn-trace logs the ACL: {minimal:?}"
        );
        let detailed = same_as_ovn_trace(l, z, &["--ct=new", z, m]);
        assert!(
            detailed.iter().any(|l| l.trim_start().starts_with("log(name=\"ovnscope-log\"")),
            "{detailed:?}"
        );
        // The reply direction, through the to-lport ACL (egress pipeline: direction OUT).
        let reply = "inport == \"stor-worker-1\" && eth.src == 0a:58:0a:80:02:01 && eth.dst == 0a:58:0a:80:02:2b && ip4.src == 203.0.113.99 && ip4.dst == 10.128.2.43 && ip.ttl == 64 && icmp4.type == 0";
        let back = same_as_ovn_trace(l, z, &["--ct=new", "--minimal", z, reply]);
        assert!(
            back.iter().any(|l| l
                .trim_start()
                .starts_with("LOG: ACL name=<unnamed>, direction=OUT, verdict=allow, severity=notice")),
            "{back:?}"
        );
    };
    restoring(check, || {
        for (dir, m) in [("from-lport", "ip4.dst == 203.0.113.99"), ("to-lport", "ip4.src == 203.0.113.99")] {
            l.nbctl_undo(z, &["acl-del", z, dir, "1001", m]);
        }
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// DHCP on a pod's port (`DHCP_Options`, `lsp-set-dhcpv4-options`): a DHCPDISCOVER traced by
/// ovn-trace shows its assumption and the `put_dhcp_opts(…)` it ran, options as OVN formats
/// them, then the reply it builds; ovnscope prints the same (it printed neither line before).
fn put_dhcp_opts_is_shown_as_ovn_trace_shows_it() {
    let l = lab();
    let z = "worker-1";
    let port = "network-trace_nettools-dual-pod";
    let discover = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == ff:ff:ff:ff:ff:ff && ip4.src == 0.0.0.0 && ip4.dst == 255.255.255.255 && ip.ttl == 64 && udp.src == 68 && udp.dst == 67";
    let uuid = l.nbctl(z, &["dhcp-options-create", "10.128.2.0/24"]);
    let uuid = if uuid.trim().is_empty() {
        l.nbctl(z, &["--bare", "--columns=_uuid", "find", "DHCP_Options", "cidr=\"10.128.2.0/24\""])
    } else {
        uuid
    };
    let uuid = uuid.trim().to_string();
    let check = || {
        l.nbctl(
            z,
            &[
                "dhcp-options-set-options",
                &uuid,
                "lease_time=3600",
                "router=10.128.2.1",
                "server_id=10.128.2.1",
                "server_mac=0a:58:0a:80:02:01",
                "dns_server={198.18.0.53,198.18.0.54}",
                "domain_name=\"cluster.local\"",
            ],
        );
        l.nbctl(z, &["lsp-set-dhcpv4-options", port, &uuid]);
        l.nbctl(z, &["--wait=hv", "sync"]);
        let minimal = same_as_ovn_trace(l, z, &["--minimal", z, discover]);
        assert!(
            minimal
                .iter()
                .any(|l| l.trim_start() == "/* We assume that this packet is DHCPDISCOVER or DHCPREQUEST. */;"),
            "{minimal:?}"
        );
        assert!(
            minimal
                .iter()
                .any(|l| l.trim_start().starts_with("put_dhcp_opts(offerip = 10.128.2.43, ")),
            "{minimal:?}"
        );
        same_as_ovn_trace(l, z, &[z, discover]);
    };
    restoring(check, || {
        l.nbctl_undo(z, &["lsp-set-dhcpv4-options", port]);
        l.nbctl_undo(z, &["dhcp-options-del", &uuid]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// A pod reaching itself through an IPv6 load-balancer VIP: after `ct_lb_mark` the hairpin
/// check finds the VIP by the connection's original IPv6 destination (`ct_ip6_dst`), as ovn-trace
/// does, so `chk_lb_hairpin()` is 1 and the packet is SNATed to the VIP and sent back out of
/// its own port — the same text as ovn-trace's. (ovnscope read only the IPv4 `ct_nw_dst` and
/// said 0.) The pod's port gets an IPv6 address for the test.
fn ipv6_hairpin_is_detected_as_ovn_trace_detects_it() {
    let l = lab();
    let z = "worker-1";
    let port = "network-trace_nettools-dual-pod";
    let addrs = "0a:58:0a:80:02:2b 10.128.2.43 fd00:10:128:2::2b";
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip6.src == fd00:10:128:2::2b && ip6.dst == fd99::99 && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == 80";
    let check = || {
        l.nbctl(z, &["lsp-set-addresses", port, addrs]);
        l.nbctl(z, &["lsp-set-port-security", port, addrs]);
        l.nbctl(
            z,
            &["lb-add", "ovnscope-hairpin6", "[fd99::99]:80", "[fd00:10:128:2::2b]:8080", "tcp"],
        );
        l.nbctl(z, &["ls-lb-add", z, "ovnscope-hairpin6"]);
        l.nbctl(z, &["--wait=hv", "sync"]);
        let minimal = same_as_ovn_trace(l, z, &["--ct=new", "--minimal", "--lb-dst=fd00:10:128:2::2b", z, m]);
        assert!(
            minimal.iter().any(|l| l.trim() == "reg0[6] = 1;"),
            "ovn-trace detects the hairpin: {minimal:?}"
        );
        same_as_ovn_trace(l, z, &["--ct=new", "--lb-dst=fd00:10:128:2::2b", z, m]);
    };
    restoring(check, || {
        l.nbctl_undo(z, &["--if-exists", "ls-lb-del", z, "ovnscope-hairpin6"]);
        l.nbctl_undo(z, &["--if-exists", "lb-del", "ovnscope-hairpin6"]);
        let v4 = "0a:58:0a:80:02:2b 10.128.2.43";
        l.nbctl_undo(z, &["lsp-set-addresses", port, v4]);
        l.nbctl_undo(z, &["lsp-set-port-security", port, v4]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// A pod reaching itself through a VIP, where two VIPs share the address (`10.96.0.50:80` →
/// the pod's 9080, `:81` → its 9081): on the wire (tcpdump in the pod) the SYN comes back to the
/// pod from the VIP — from the load balancer's `hairpin_snat_ip` once that is set, as
/// OVN-Kubernetes sets it on every service — and ovnscope's trace says the same for each port:
/// the hairpin found by the VIP of that port, the source it is SNATed to, the headers the pod
/// gets. (ovn-trace is no oracle here: it takes the first VIP of the address in its hash order,
/// and names the VIP even where `hairpin_snat_ip` is used.)
fn shared_vip_hairpin_is_snated_as_the_datapath_snats_it() {
    let l = lab();
    let z = "worker-1";
    let pod = "10.128.2.43";
    // Both load balancers exist before any traffic: OVS 3.1's userspace conntrack asserts
    // (conntrack.c, conn_update_state) when hairpin_snat_ip is set under live hairpin
    // connections, which would take the zone's ovs-vswitchd down.
    let cases = [
        ("ovnscope-shared", "10.96.0.50", None),
        ("ovnscope-shared-snat", "10.96.0.51", Some("169.254.169.5")),
    ];
    let check = || {
        for (lb, vip, snat) in cases {
            l.nbctl(z, &["lb-add", lb, &format!("{vip}:80"), &format!("{pod}:9080"), "tcp"]);
            l.nbctl(z, &["lb-add", lb, &format!("{vip}:81"), &format!("{pod}:9081"), "tcp"]);
            l.nbctl(z, &["ls-lb-add", z, lb]);
            if snat.is_some() {
                l.nbctl(
                    z,
                    &["set", "Load_Balancer", lb, r#"options:hairpin_snat_ip="169.254.169.5 fd69::5""#],
                );
            }
        }
        l.nbctl(z, &["--wait=hv", "sync"]);
        for (_, vip, snat) in cases {
            let src = snat.unwrap_or(vip);
            for (vport, backend) in [(80, 9080), (81, 9081)] {
                let seen = tcpdump_during(
                    &l.ns("pod1"),
                    "eth0",
                    &format!("tcp[tcpflags] & tcp-syn != 0 and dst port {backend}"),
                    1,
                    || {
                        let _ = Command::new("ip")
                            .args(["netns", "exec", &l.ns("pod1"), "socat", "-u", "/dev/null"])
                            .arg(format!("TCP:{vip}:{vport},connect-timeout=2"))
                            .output();
                    },
                );
                assert!(
                    seen.contains(&format!("{src}.")) && seen.contains(&format!("> {pod}.{backend}: Flags [S]")),
                    "{vip}:{vport}, hairpin_snat_ip {snat:?}: the pod gets its own SYN from {src}: {seen}"
                );
                let m = format!(
                    "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == {pod} && ip4.dst == {vip} && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == {vport} && tcp.flags == 2"
                );
                let trace = |extra: &[&str]| {
                    let lb_dst = format!("{pod}:{backend}");
                    let mut a = vec!["--microflow", &m, "--ct", "new", "--lb-dst", &lb_dst];
                    a.extend(extra);
                    l.zone_out("trace", z, &a)
                };
                let detailed = trace(&[]);
                assert!(
                    detailed.contains(&format!("/* nat(src={src})")),
                    "{vip}:{vport}: SNAT to {src}\n{detailed}"
                );
                let json = trace(&["-f", "json"]);
                assert!(
                    json.replace([' ', '\n'], "")
                        .contains(r#""ip.src":{"datapath":"worker-1","stage":"ls_in_nat_hairpin""#),
                    "{vip}:{vport}: the source's writer is the hairpin SNAT flow\n{json:.3000}"
                );
                let minimal = trace(&["--minimal"]);
                assert!(minimal.contains("reg0[6] = 1;"), "{vip}:{vport}: the hairpin is found\n{minimal}");
                assert!(
                    minimal.contains(&format!(
                        "output(\"network-trace_nettools-dual-pod\"); /* 0a:58:0a:80:02:01 > 0a:58:0a:80:02:2b, {src} > {pod}, ttl 64 */"
                    )),
                    "{vip}:{vport}: the headers tcpdump saw ({seen})\n{minimal}"
                );
            }
        }
        // The datapath's conntrack entries of those connections are named as hairpins, with the
        // load balancer each went through.
        let ctl = l.vswitchd_ctl(z);
        let j = l.zone_json(
            "conntrack",
            z,
            &["--pod", "network-trace/nettools-dual-pod", "--unixctl", &ctl, "-f", "json"],
        );
        for (lb, src) in [("ovnscope-shared", "10.96.0.50"), ("ovnscope-shared-snat", "169.254.169.5")] {
            let e = j["entries"]
                .as_array()
                .unwrap()
                .iter()
                // (The hairpinned packet is tracked again, un-NATed, in its egress zone.)
                .find(|e| e["reply"]["dst"] == src && e["nat"].is_string())
                .unwrap_or_else(|| panic!("an entry SNATed to {src}: {j:#}"));
            assert!(
                e["nat"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("hairpin, the backend reached itself through load balancer {lb}")),
                "{e:#}"
            );
        }
    };
    restoring(check, || {
        for (lb, _, _) in cases {
            l.nbctl_undo(z, &["--if-exists", "ls-lb-del", z, lb]);
            l.nbctl_undo(z, &["--if-exists", "lb-del", lb]);
        }
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// A gateway router committing every connection (`options:ct-commit-all`, 25.03) and a port
/// with `options:gateway_mtu` (which OVN-Kubernetes sets on the gateway router): from 25.03
/// northd writes `ct_commit_to_zone(dnat)`/`(snat)` into the router's pipelines (and, from
/// 25.09, `ct_state_save()` for the MTU check), and ovnscope's trace of a pod's packet to the
/// internet through that router is ovn-trace's text, every form and conntrack state.
fn gateway_router_commit_all_is_traced_as_ovn_trace_traces_it() {
    let l = lab();
    let z = "worker-1";
    let gr = "GR_worker-1";
    let check = || {
        // The router learns the next hop's MAC from real traffic, so the packet goes on past
        // the ARP request to the SNAT zone.
        ping(&l.ns("pod1"), "203.0.113.8");
        l.nbctl(z, &["set", "Logical_Router", gr, "options:ct-commit-all=true"]);
        l.nbctl(z, &["set", "Logical_Router_Port", "rtoe-GR_worker-1", "options:gateway_mtu=1400"]);
        l.nbctl(z, &["--wait=hv", "sync"]);
        let mut texts = vec![];
        for args in [
            &[z, TO_99][..],
            &["--minimal", z, TO_99],
            &["--summary", z, TO_99],
            &["--ct=new", "--ct=new", "--ct=new", "--ct=new", "--ct=new", z, TO_99],
            &["--ct=est", "--ct=est", "--ct=est", "--minimal", z, TO_99],
            // A related packet (an ICMP error's flow) is `ct_commit_nat` in the DNAT zone.
            &["--ct=rel", "--ct=rel", "--ct=rel", "--ct=rel", "--ct=rel", z, TO_99],
            &["--ct=rel", "--ct=rel", "--ct=rel", "--ct=rel", "--ct=rel", "--summary", z, TO_99],
        ] {
            texts.push(same_as_ovn_trace(l, z, args).join("\n"));
        }
        if generation::current() != "23.03" {
            // A new connection (every conntrack state `new`) is committed in the DNAT zone
            // (the pod's own SNAT rule then outranks the SNAT-zone commit, as northd ranks them).
            assert!(texts[3].contains("ct_commit_to_zone(dnat)"), "{}", texts[3]);
            assert!(texts[3].contains("ct_snat(ip4.src=198.18.0.9)"), "{}", texts[3]);
            assert!(texts[5].contains("ct_commit_nat(dnat);"), "{}", texts[5]);
        }
        if generation::current() == "26.03" {
            assert!(texts[0].contains("/* reg4[0..7] = 34; */"), "ct_state_save():\n{}", texts[0]);
        }
    };
    restoring(check, || {
        l.nbctl_undo(z, &["remove", "Logical_Router", gr, "options", "ct-commit-all"]);
        l.nbctl_undo(z, &["remove", "Logical_Router_Port", "rtoe-GR_worker-1", "options", "gateway_mtu"]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// A transit router (25.03+: a router in every zone with the same tunnel key, each port bound to
/// its node's chassis by `options:requested-chassis`, so in the other zones it is `remote`, as
/// OVN-Kubernetes builds layer-2 networks on 26.03): `tr` with port `tr-w1` on worker-1's chassis
/// and `tr-w2` on worker-2's, a switch behind each port with one port. A packet from worker-1's
/// switch to worker-2's is one run across the zones, the router's egress in the zone where its
/// port is local; checked against ovn-trace in each zone as for the transit switch: the source
/// zone's steps are ovn-trace's there bar the router's egress, the router's egress in the
/// destination zone runs the stages ovn-trace runs for it, and the destination switch's steps
/// are ovn-trace's in that zone from the router's port on. 23.03 has no remote router ports
/// (its northd binds every router port as a patch), so there the test has nothing to cross.
fn transit_router_across_zones_agrees_with_ovn_trace_in_each_zone() {
    if generation::current() == "23.03" {
        return;
    }
    let l = lab();
    let (z1, z2) = ("worker-1", "worker-2");
    let (c1, c2) = (l.sysid(z1), l.sysid(z2));
    let check = || {
        for z in [z1, z2] {
            l.nbctl(
                z,
                &[
                    "lr-add",
                    "tr",
                    "--",
                    "set",
                    "Logical_Router",
                    "tr",
                    "options:requested-tnl-key=70000",
                    "--",
                    "lrp-add",
                    "tr",
                    "tr-w1",
                    "0a:58:0a:c9:01:01",
                    "10.201.1.1/24",
                    "--",
                    "set",
                    "Logical_Router_Port",
                    "tr-w1",
                    &format!("options:requested-chassis={c1}"),
                    "options:requested-tnl-key=1",
                    "--",
                    "lrp-add",
                    "tr",
                    "tr-w2",
                    "0a:58:0a:c9:02:01",
                    "10.201.2.1/24",
                    "--",
                    "set",
                    "Logical_Router_Port",
                    "tr-w2",
                    &format!("options:requested-chassis={c2}"),
                    "options:requested-tnl-key=2",
                ],
            );
        }
        for (z, n, ip) in [(z1, 1, "10.201.1.5"), (z2, 2, "10.201.2.5")] {
            let (sw, rp, pod) = (format!("trsw-w{n}"), format!("trsw-w{n}-tr"), format!("trpod-w{n}"));
            let addrs = format!("0a:58:0a:c9:0{n}:05 {ip}");
            l.nbctl(
                z,
                &[
                    "ls-add",
                    &sw,
                    "--",
                    "lsp-add",
                    &sw,
                    &rp,
                    "--",
                    "lsp-set-type",
                    &rp,
                    "router",
                    "--",
                    "lsp-set-addresses",
                    &rp,
                    "router",
                    "--",
                    "lsp-set-options",
                    &rp,
                    &format!("router-port=tr-w{n}"),
                    "--",
                    "lsp-add",
                    &sw,
                    &pod,
                    "--",
                    "lsp-set-addresses",
                    &pod,
                    &addrs,
                ],
            );
        }
        l.nbctl(z1, &["--wait=sb", "sync"]);
        l.nbctl(z2, &["--wait=sb", "sync"]);
        for (z, remote) in [(z1, "tr-w2"), (z2, "tr-w1")] {
            let kind = l.sbctl(
                z,
                &[
                    "--bare",
                    "--columns=type",
                    "find",
                    "Port_Binding",
                    &format!("logical_port={remote}"),
                ],
            );
            assert_eq!(kind.trim(), "remote", "{z}: {remote} is bound on the other node");
        }
        // The neighbour worker-1's router learns (and floods to the other chassis) when the far
        // pod answers ARP; written here as ovn-controller writes it.
        let tr = l.sbctl(
            z1,
            &["--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=tr"],
        );
        l.sbctl(
            z1,
            &[
                "create",
                "MAC_Binding",
                "logical_port=tr-w2",
                "ip=10.201.2.5",
                "mac=\"0a:58:0a:c9:02:05\"",
                &format!("datapath={}", tr.trim()),
            ],
        );
        let m = "inport == \"trpod-w1\" && eth.src == 0a:58:0a:c9:01:05 && eth.dst == 0a:58:0a:c9:01:01 && ip4.src == 10.201.1.5 && ip4.dst == 10.201.2.5 && ip.ttl == 64 && icmp4.type == 8";
        let ours = l.json(&["trace", "--cluster", &l.cluster_file(), "--microflow", m, "-f", "json"]);
        assert_eq!(ours["verdicts"], serde_json::json!(["output trpod-w2"]), "{ours:#}");
        assert!(
            ours["trace"]
                .to_string()
                .contains("geneve to zone worker-2: VNI 70000, ingress port key 1, egress port key 2"),
            "{:.400}",
            ours["trace"]
        );
        let router_egress = |(dp, st, _): &(String, String, String)| dp == "tr" && st.starts_with("lr_out_");
        let a = ovn_trace_steps(&l.run("ovn-trace", &[&format!("--db={}", l.sb(z1)), m]));
        let a_bar_egress: Vec<_> = a.iter().filter(|s| !router_egress(s)).cloned().collect();
        assert_eq!(ovnscope_steps(&ours, z1), a_bar_egress, "source zone");
        let b_ours = ovnscope_steps(&ours, z2);
        let stages = |v: &[(String, String, String)]| v.iter().filter(|s| router_egress(s)).map(|s| s.1.clone()).collect::<Vec<_>>();
        assert_eq!(stages(&b_ours), stages(&a), "the router's egress, in the destination zone");
        let m2 = "inport == \"trsw-w2-tr\" && eth.src == 0a:58:0a:c9:02:01 && eth.dst == 0a:58:0a:c9:02:05 && ip4.src == 10.201.1.5 && ip4.dst == 10.201.2.5 && ip.ttl == 63 && icmp4.type == 8";
        let b = ovn_trace_steps(&l.run("ovn-trace", &[&format!("--db={}", l.sb(z2)), m2]));
        let b_switch: Vec<_> = b_ours.iter().filter(|s| !router_egress(s)).cloned().collect();
        assert_eq!(b_switch, b, "destination zone, from the router's port on");
        // The far pod's ARP reply: the router learns the neighbour and floods it to the other
        // chassis (`flood_remote`), every text form as ovn-trace's.
        let arp = "inport == \"trpod-w2\" && eth.src == 0a:58:0a:c9:02:05 && eth.dst == 0a:58:0a:c9:02:01 && arp.op == 2 && arp.sha == 0a:58:0a:c9:02:05 && arp.spa == 10.201.2.5 && arp.tha == 0a:58:0a:c9:02:01 && arp.tpa == 10.201.2.1";
        let detailed = same_as_ovn_trace(l, z2, &[arp]);
        assert!(detailed.iter().any(|l| l.trim() == "flood_remote;"), "{detailed:#?}");
        same_as_ovn_trace(l, z2, &["--summary", arp]);
        same_as_ovn_trace(l, z2, &["--minimal", arp]);
    };
    restoring(check, || {
        for z in [z1, z2] {
            l.nbctl_undo(z, &["--if-exists", "lr-del", "tr"]);
        }
        l.nbctl_undo(z1, &["--if-exists", "ls-del", "trsw-w1"]);
        l.nbctl_undo(z2, &["--if-exists", "ls-del", "trsw-w2"]);
        l.nbctl(z1, &["--wait=sb", "sync"]);
        l.nbctl(z2, &["--wait=sb", "sync"]);
    });
}

/// A `Static_MAC_Binding` for the gateway router's next hop (the CMS's own neighbour entry):
/// ovn-controller gives it priority 150 over a learned binding when it overrides learned ones,
/// 50 otherwise, and the datapath sends with the winner's MAC (tcpdump on the node's NIC,
/// filtering on the destination MAC); ovnscope's trace resolves the next hop the same way and
/// says the binding is static, while ovn-trace reads only learned bindings —
/// `--ovn-trace-compat` stays ovn-trace's text.
fn static_mac_binding_is_used_as_the_datapath_uses_it() {
    let l = lab();
    let z = "worker-1";
    let gw = "198.18.0.1";
    let fake = "52:54:00:b0:00:99";
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.8 && ip.ttl == 64 && icmp4.type == 8";
    let check = || {
        ping(&l.ns("pod1"), "203.0.113.8");
        let learned = l.sbctl(
            z,
            &[
                "--bare",
                "--columns=mac",
                "find",
                "MAC_Binding",
                "logical_port=rtoe-GR_worker-1",
                &format!("ip={gw}"),
            ],
        );
        let learned = learned.trim().to_string();
        assert!(!learned.is_empty(), "the router learned {gw}");
        l.nbctl(z, &["static-mac-binding-add", "rtoe-GR_worker-1", gw, fake]);
        let row = l.nbctl(
            z,
            &["--bare", "--columns=_uuid", "find", "Static_MAC_Binding", &format!("ip=\"{gw}\"")],
        );
        for (overrides, want) in [(true, fake), (false, learned.as_str())] {
            l.nbctl(
                z,
                &[
                    "set",
                    "Static_MAC_Binding",
                    row.trim(),
                    &format!("override_dynamic_mac={overrides}"),
                ],
            );
            l.nbctl(z, &["--wait=hv", "sync"]);
            let seen = tcpdump_during(&l.ns(z), "ens2f0np0", &format!("icmp and ether dst {want}"), 1, || {
                let _ = Command::new("ip")
                    .args(["netns", "exec", &l.ns("pod1"), "ping", "-c", "1", "-W", "2", "203.0.113.8"])
                    .output();
            });
            assert!(
                seen.contains("203.0.113.8"),
                "override {overrides}: the NIC sees the echo to {want}: {seen}"
            );
            let ours = l.zone_out("trace", z, &["--microflow", m, "--minimal"]);
            assert!(
                ours.contains(&format!("output(\"br-ex_worker-1\"); /* 52:54:00:c6:12:09 > {want}, ")),
                "override {overrides}: the MAC tcpdump saw\n{ours}"
            );
            let detailed = l.zone_out("trace", z, &["--microflow", m]);
            assert_eq!(
                detailed.contains("/* Static_MAC_Binding 198.18.0.1 on rtoe-GR_worker-1"),
                overrides,
                "{detailed}"
            );
            // ovn-trace, and so the compatible text, knows only the learned binding.
            let compat = same_as_ovn_trace(l, z, &[z, m]);
            assert!(
                compat.iter().any(|x| x.contains(&format!("/* MAC binding to {learned}. */"))),
                "{compat:#?}"
            );
        }
    };
    restoring(check, || {
        l.nbctl_undo(z, &["--if-exists", "static-mac-binding-del", "rtoe-GR_worker-1", gw]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// A port with OpenStack's `neutron:port_name` (northd copies it to the binding's
/// `external_ids:name`): ovn-trace names the port by it in every line, matches and actions
/// included; ovnscope's compat text does the same, and with `--no-friendly-names` both use the
/// port's own name. A microflow naming the port by that name (or a prefix of its binding's UUID)
/// is traced as ovn-trace traces it.
fn port_name2_is_ovn_traces_friendly_name() {
    let l = lab();
    let z = "worker-1";
    let port = "network-trace_nettools-dual-pod";
    let check = || {
        l.nbctl(
            z,
            &[
                "set",
                "Logical_Switch_Port",
                port,
                "external_ids:\"neutron:port_name\"=ovnscope-dual",
            ],
        );
        l.nbctl(z, &["--wait=hv", "sync"]);
        let text = same_as_ovn_trace(l, z, &[z, TO_99]);
        assert!(text.iter().any(|l| l.contains("inport=\"ovnscope-dual\"")), "{text:?}");
        let plain = same_as_ovn_trace(l, z, &["--no-friendly-names", z, TO_99]);
        assert!(plain.iter().all(|l| !l.contains("ovnscope-dual")), "{plain:?}");
        // A microflow may name the port by its friendly name, or by 4+ hex digits of its
        // binding's UUID: ovn-trace (given the datapath) traces the same packet either way.
        let binding = l.sbctl(
            z,
            &["--bare", "--columns=_uuid", "find", "Port_Binding", &format!("logical_port={port}")],
        );
        let by_name2 = TO_99.replace(port, "ovnscope-dual");
        let by_uuid = TO_99.replace(port, &binding.trim()[..8]);
        for m in [&by_name2, &by_uuid] {
            assert_eq!(same_as_ovn_trace(l, z, &[z, m])[1..], text[1..], "{m}");
        }
        // Without the datapath ovn-trace wants the port's own name ("unknown port");
        // ovnscope finds it all the same, reading the whole Southbound or only what the
        // packet reaches (by friendly name there: a UUID prefix is no condition a server takes).
        for (m, reads) in [(&by_name2, "all"), (&by_uuid, "all"), (&by_name2, "as-needed")] {
            let (rc, ours, err) = l.ovnscope(&["trace", "--sb-db", &l.sb(z), "--read-flows", reads, "--ovn-trace-compat", m]);
            assert_eq!(rc, 0, "{m}: {err}");
            assert_eq!(trace_text(&ours)[1..], text[1..], "{m}, --read-flows {reads}");
        }
    };
    restoring(check, || {
        l.nbctl_undo(z, &["remove", "Logical_Switch_Port", port, "external_ids", "\"neutron:port_name\""]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// Every step of a one-zone run.
fn ovnscope_steps_all(j: &Value) -> Vec<(String, String, String)> {
    steps_where(j, |_| true)
}

/// Compares our listing of a table that moves by itself (conntrack entries expire, other
/// tests' pings arrive) with the real tool's: the real tool lists it before and after ours, and
/// only when those two agree is ours held to them. A few tries, so an expiry that lands inside
/// the window is not taken for a difference; a real difference fails every try.
fn same_while_still<T: PartialEq + std::fmt::Debug>(mut theirs: impl FnMut() -> T, mut ours: impl FnMut() -> T) -> T {
    let mut last = None;
    for _ in 0..5 {
        let before = theirs();
        let got = ours();
        let after = theirs();
        if before == after {
            assert_eq!(got, before);
            return before;
        }
        last = Some((before, after));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    panic!("the real tool's listing never held still across one of ours: {last:?}");
}

/// `conntrack` on a node after a real ping to the internet: the entries of the pod are the ones
/// `ovs-appctl dpctl/dump-conntrack -s` prints, zone by zone; each zone's owner is the one
/// `ovs-vsctl get Bridge br-int external_ids` records (`ct-zone-<port>`, `ct-zone-<datapath>_snat`
/// with the datapath `ovn-sbctl` names); the SNAT entry is tied to the rule `ovn-nbctl` finds.
fn conntrack_entries_named_like_ovn_controller_records_them() {
    let l = lab();
    let z = "worker-1";
    ping(&l.ns("pod1"), "203.0.113.8");
    let ctl = l.vswitchd_ctl(z);
    // (proto, zone, orig src, orig dst, reply src, reply dst) of the pod's entries, read from
    // ovs-appctl's text by this test.
    let re =
        regex::Regex::new(r"^(\w+),orig=\(src=([^,]+),dst=([^,]+),.*?\),reply=\(src=([^,]+),dst=([^,]+),.*?\)(?:,zone=(\d+))?").unwrap();
    let theirs = || {
        let text = l.run("ovs-appctl", &["-t", &ctl, "dpctl/dump-conntrack", "-s"]);
        let mut want: Vec<(String, u64, String, String, String, String)> = text
            .lines()
            .filter_map(|line| re.captures(line))
            .map(|c| {
                (
                    c[1].to_string(),
                    c.get(6).map_or(0, |m| m.as_str().parse().unwrap()),
                    c[2].to_string(),
                    c[3].to_string(),
                    c[4].to_string(),
                    c[5].to_string(),
                )
            })
            .filter(|t| [&t.2, &t.3, &t.4, &t.5].iter().any(|a| *a == "10.128.2.43"))
            .collect();
        want.sort();
        want
    };
    let mut j = Value::Null;
    let ours = |j: &mut Value| {
        *j = l.zone_json(
            "conntrack",
            z,
            &["--pod", "network-trace/nettools-dual-pod", "--unixctl", &ctl, "-f", "json"],
        );
        let mut got: Vec<(String, u64, String, String, String, String)> = j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let s = |v: &Value| v.as_str().unwrap().to_string();
                (
                    s(&e["proto"]),
                    e["zone"].as_u64().unwrap(),
                    s(&e["orig"]["src"]),
                    s(&e["orig"]["dst"]),
                    s(&e["reply"]["src"]),
                    s(&e["reply"]["dst"]),
                )
            })
            .collect();
        got.sort();
        got
    };
    let want = same_while_still(theirs, || ours(&mut j));
    assert!(
        want.len() >= 3,
        "a ping to the internet is tracked in the pod's zone and the gateway router's: {want:?}"
    );
    // The documented schema, and nothing else.
    let typed: ovnscope::wire::conntrack::Conntrack = serde_json::from_value(j.clone()).expect("the conntrack schema");
    assert_eq!(serde_json::to_value(&typed).unwrap(), j);
    let ids = l.run(
        "ovs-vsctl",
        &[&format!("--db={}", l.ovs(z)), "get", "Bridge", "br-int", "external_ids"],
    );
    let zone_key = |n: u64| -> String {
        ids.trim_matches(|c| c == '{' || c == '}')
            .split(", ")
            .find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (v.trim_matches('"') == n.to_string()).then(|| k.trim_start_matches("ct-zone-").to_string())
            })
            .unwrap_or_else(|| panic!("zone {n} in {ids}"))
    };
    // Each datapath by Southbound uuid and by name: ovn-controller 23.03 keys a router's zones
    // by its datapath uuid, 25.03 by its name; 26.03 gives switches an SNAT zone too.
    let datapaths: Vec<(String, String)> = l
        .sbctl(z, &["--bare", "--columns=_uuid,external_ids", "list", "Datapath_Binding"])
        .split("\n\n")
        .filter_map(|row| {
            let mut lines = row.lines();
            let uuid = lines.next()?.trim().to_string();
            let name = lines
                .next()?
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("name="))?
                .to_string();
            Some((uuid, name))
        })
        .collect();
    assert!(datapaths.iter().any(|(_, n)| n == "GR_worker-1"), "{datapaths:?}");
    for e in j["entries"].as_array().unwrap() {
        let key = zone_key(e["zone"].as_u64().unwrap());
        let owner = e["owner"].as_str().unwrap();
        let dp = key.rsplit_once('_').and_then(|(dp, kind)| {
            let (_, name) = datapaths.iter().find(|(u, n)| u == dp || n == dp)?;
            ["snat", "dnat"]
                .contains(&kind)
                .then(|| format!("{name} {} zone", kind.to_uppercase()))
        });
        match dp {
            Some(want) => assert_eq!(owner, want, "zone {key}"),
            None => assert_eq!(owner, format!("logical port {key}")),
        }
    }
    let rule = l.nbctl(z, &["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.43"]);
    let snat = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reply"]["dst"] == "198.18.0.9" && e["orig"]["dst"] == "203.0.113.8")
        .expect("the SNAT entry");
    assert_eq!(
        snat["nat"].as_str().unwrap(),
        format!(
            "SNAT 10.128.2.43 → 198.18.0.9 by snat rule {} (logical_ip 10.128.2.43) on GR_worker-1",
            rule.trim()
        )
    );
    assert_eq!(snat["owner"], "GR_worker-1 SNAT zone");
    // The bastion's kernel table (its MASQUERADE of the node's SNAT address), as `conntrack -L`
    // lists it there.
    let theirs = || {
        let out = Command::new("ip")
            .args(["netns", "exec", &l.ns("bastion"), "conntrack", "-L", "-p", "icmp"])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut want: Vec<(String, String, String, String)> = listed
            .lines()
            .filter(|line| line.contains("src=198.18.0.9"))
            .map(|line| {
                let v: Vec<&str> = line
                    .split_whitespace()
                    .filter_map(|w| w.strip_prefix("src=").or_else(|| w.strip_prefix("dst=")))
                    .collect();
                (v[0].into(), v[1].into(), v[2].into(), v[3].into())
            })
            .collect();
        want.sort();
        want
    };
    let mut j = Value::Null;
    let ours = |j: &mut Value| {
        *j = l.json(&["conntrack", "--netns", &l.ns("bastion"), "--ip", "198.18.0.9", "-f", "json"]);
        let mut got: Vec<(String, String, String, String)> = j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["proto"] == "icmp")
            .map(|e| {
                let s = |v: &Value| v.as_str().unwrap().to_string();
                (
                    s(&e["orig"]["src"]),
                    s(&e["orig"]["dst"]),
                    s(&e["reply"]["src"]),
                    s(&e["reply"]["dst"]),
                )
            })
            .collect();
        got.sort();
        got
    };
    let want = same_while_still(theirs, || ours(&mut j));
    assert!(!want.is_empty(), "the bastion tracks the node's SNAT address");
    let masq = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reply"]["dst"] == "198.51.100.29")
        .unwrap();
    assert_eq!(masq["nat"], "SNAT 198.18.0.9 → 198.51.100.29 (no OVN NAT rule maps these)");
    let (code, _, err) = l.ovnscope(&["conntrack", "--netns", "ovsz-nope"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no network namespace ovsz-nope"), "{err}");
    // A control socket that is not there: a clear error, exit 3.
    let (code, _, err) = l.ovnscope(&["conntrack", "--ovs-db", &l.ovs(z), "--unixctl", "/nonexistent/ovs-vswitchd.1.ctl"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot connect to /nonexistent/ovs-vswitchd.1.ctl"), "{err}");
    // Without privileges (the same binary run as nobody): each way in is refused by the kernel
    // and the error says which privilege is missing, exit 3.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("ovnscope");
    std::fs::copy(env!("CARGO_BIN_EXE_ovnscope"), &exe).unwrap();
    let open = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    open(dir.path());
    open(&exe);
    let bastion = l.ns("bastion");
    for (args, says) in [
        (
            &["conntrack", "--kernel"][..],
            "cannot dump the kernel's connection tracking: Operation not permitted",
        ),
        (
            &["conntrack", "--kernel", "--follow", "--duration", "1"],
            "cannot follow the kernel's connection tracking",
        ),
        (&["conntrack", "--netns", &bastion], "this needs root (CAP_SYS_ADMIN)"),
        (
            &["capture", "--point", "x=lo", "--duration", "1"],
            "capture needs root (CAP_NET_RAW)",
        ),
    ] {
        let o = Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&exe)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A NodePort-style template load balancer (`^NODEIP:^NODEPORT`, values in
/// Chassis_Template_Var for the node's chassis, as OVN-Kubernetes writes them): real traffic
/// reaches the backend (tcpdump at the backend pod), and so does ovnscope's trace — each flow with
/// template variables says what it expanded and that ovn-trace skips it; ovn-trace cannot parse
/// those flows and misses the load balancer; `--ovn-trace-compat` reproduces ovn-trace step for
/// step.
fn template_load_balancer_reaches_the_backend_where_ovn_trace_skips_it() {
    let l = lab();
    let z = "worker-1";
    let chassis = l.sysid(z);
    let tv = l.template_vars(z, &[("NODEIP", "198.18.0.9"), ("NODEPORT", "30080")]);
    let lb = l.nbctl(
        z,
        &[
            "create",
            "Load_Balancer",
            "name=lb-nodeport-template",
            "protocol=tcp",
            "options:template=true",
            "options:address-family=ipv4",
            r#"vips:"^NODEIP:^NODEPORT"="10.128.2.44:8080""#,
        ],
    );
    let lb = lb.trim().to_string();
    l.nbctl(z, &["ls-lb-add", z, &lb]);
    l.nbctl(z, &["--wait=hv", "sync"]);
    let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 198.18.0.9 && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == 30080 && tcp.flags == 2";
    let trace = |extra: &[&str]| {
        let mut a = vec!["--microflow", m, "--ct", "new"];
        a.extend(extra);
        l.zone_out("trace", z, &a)
    };
    let ours = trace(&[]);
    let ours_minimal = trace(&["--minimal"]);
    // Real traffic: a SYN from the pod to the node port, as the backend pod sees it.
    let seen = tcpdump_during(&l.ns("pod2"), "eth0", "tcp[tcpflags] & tcp-syn != 0", 1, || {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &l.ns("pod1"),
                "socat",
                "-u",
                "/dev/null",
                "TCP:198.18.0.9:30080,connect-timeout=2",
            ])
            .output();
    });
    let theirs = Command::new("ovn-trace")
        .args([&format!("--db={}", l.sb(z)), "--ct=new", z, m])
        .output()
        .unwrap();
    let (theirs_out, theirs_err) = (
        String::from_utf8_lossy(&theirs.stdout).to_string(),
        String::from_utf8_lossy(&theirs.stderr).to_string(),
    );
    let compat = trace(&["--ovn-trace-compat"]);
    let compat_minimal = trace(&["--ovn-trace-compat", "--minimal"]);
    let theirs_minimal = l.run("ovn-trace", &[&format!("--db={}", l.sb(z)), "--ct=new", "--minimal", z, m]);
    l.nbctl(z, &["lb-del", lb.as_str()]);
    l.template_vars_undo(z, &tv, &["NODEIP", "NODEPORT"]);
    l.nbctl(z, &["--wait=hv", "sync"]);

    assert!(
        seen.contains("10.128.2.43.") && seen.contains("> 10.128.2.44.8080: Flags [S]"),
        "the backend gets the SYN: {seen}"
    );
    assert!(seen.contains("ttl 63"), "{seen}");
    assert!(ours.contains("verdict: output network-trace_nettools-pod-2"), "{ours}");
    assert!(
        ours_minimal.contains(
            "output(\"network-trace_nettools-pod-2\"); /* 0a:58:0a:80:02:01 > 0a:58:0a:80:02:2c, 10.128.2.43 > 10.128.2.44, ttl 63 */"
        ),
        "the headers tcpdump saw: {ours_minimal}"
    );
    assert!(ours.contains("ct_lb_mark(backends=10.128.2.44:8080);"), "{ours}");
    assert!(
        ours.contains(&format!(
            "/* chassis template variables of {chassis}: ^NODEIP = 198.18.0.9, ^NODEPORT = 30080; ovn-trace skips this flow (it never fills them) */"
        )),
        "{ours}"
    );
    // ovn-trace cannot parse the template flows and never reaches the backend.
    assert!(
        theirs_err.contains("^NODEIP") && theirs_err.contains("parsing expression failed"),
        "{theirs_err}"
    );
    assert!(!theirs_out.contains("network-trace_nettools-pod-2"), "{theirs_out}");
    // --ovn-trace-compat: ovn-trace's steps, one for one.
    let want = ovn_trace_steps(&theirs_out);
    assert!(!want.is_empty(), "{theirs_out}");
    assert_eq!(
        ovn_trace_steps(&compat),
        want,
        "ovnscope --ovn-trace-compat:\n{compat}\novn-trace:\n{theirs_out}"
    );
    assert!(!compat.contains("template variables"), "{compat}");
    // And its text is ovn-trace's, line for line, bar the first (the microflow as ovn-trace
    // writes it, an OpenFlow match).
    let body = |t: &str| t.trim_end().lines().skip(1).map(String::from).collect::<Vec<_>>();
    assert_eq!(
        body(&compat_minimal),
        body(&theirs_minimal),
        "ovnscope:\n{compat_minimal}\novn-trace:\n{theirs_minimal}"
    );
}

/// A pod reaching itself through a NodePort-style template load balancer (`^NODEIP:^NODEPORT`
/// → the pod's own 9090): ovn-controller expands the Southbound row's template VIP for its
/// hairpin flows, so the pod gets its SYN back from the VIP (tcpdump in the pod); ovnscope's
/// trace finds the hairpin by the expanded VIP and SNATs to it, as the datapath did.
fn template_load_balancer_hairpin_is_found_by_the_expanded_vip() {
    let l = lab();
    let z = "worker-1";
    let tv = l.template_vars(z, &[("NODEIP", "198.18.0.9"), ("NODEPORT", "30090")]);
    let lb = l.nbctl(
        z,
        &[
            "create",
            "Load_Balancer",
            "name=lb-nodeport-hairpin",
            "protocol=tcp",
            "options:template=true",
            "options:address-family=ipv4",
            r#"vips:"^NODEIP:^NODEPORT"="10.128.2.43:9090""#,
        ],
    );
    let lb = lb.trim().to_string();
    let check = || {
        l.nbctl(z, &["ls-lb-add", z, &lb]);
        l.nbctl(z, &["--wait=hv", "sync"]);
        let seen = tcpdump_during(&l.ns("pod1"), "eth0", "tcp[tcpflags] & tcp-syn != 0 and dst port 9090", 1, || {
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &l.ns("pod1"),
                    "socat",
                    "-u",
                    "/dev/null",
                    "TCP:198.18.0.9:30090,connect-timeout=2",
                ])
                .output();
        });
        assert!(
            seen.contains("198.18.0.9.") && seen.contains("> 10.128.2.43.9090: Flags [S]"),
            "the pod gets its own SYN from the VIP: {seen}"
        );
        let m = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 198.18.0.9 && ip.ttl == 64 && tcp.src == 40000 && tcp.dst == 30090 && tcp.flags == 2";
        let trace = |extra: &[&str]| {
            let mut a = vec!["--microflow", m, "--ct", "new", "--ct", "new"];
            a.extend(extra);
            l.zone_out("trace", z, &a)
        };
        let detailed = trace(&[]);
        assert!(detailed.contains("/* nat(src=198.18.0.9) */"), "{detailed}");
        let minimal = trace(&["--minimal"]);
        assert!(minimal.contains("reg0[6] = 1;"), "{minimal}");
        assert!(
            minimal.contains("output(\"network-trace_nettools-dual-pod\"); /* 0a:58:0a:80:02:01 > 0a:58:0a:80:02:2b, 198.18.0.9 > 10.128.2.43, ttl 64 */"),
            "the headers tcpdump saw ({seen})\n{minimal}"
        );
    };
    restoring(check, || {
        l.nbctl_undo(z, &["--if-exists", "ls-lb-del", z, &lb]);
        l.nbctl_undo(z, &["--if-exists", "lb-del", &lb]);
        l.template_vars_undo(z, &tv, &["NODEIP", "NODEPORT"]);
        l.nbctl(z, &["--wait=hv", "sync"]);
    });
}

/// `trace --summary --ovn-trace-compat` is `ovn-trace --summary` (and `--all` is `--all`), line
/// for line bar the first
/// (the microflow as ovn-trace writes it), for packets to the internet, to a pod on the same
/// node and to a pod on another node (to the transit switch).
fn summary_is_ovn_trace_summary() {
    let l = lab();
    let z = "worker-1";
    let from = "inport == \"network-trace_nettools-dual-pod\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip.ttl == 64";
    for rest in [
        "ip4.dst == 203.0.113.8 && icmp4.type == 8",
        "ip4.dst == 10.128.2.44 && tcp.src == 40000 && tcp.dst == 80 && tcp.flags == 2",
        "ip4.dst == 10.128.4.5 && udp.src == 40000 && udp.dst == 53",
    ] {
        let m = format!("{from} && {rest}");
        let ours = l.zone_out("trace", z, &["--microflow", &m, "--summary", "--ovn-trace-compat"]);
        let theirs = l.run("ovn-trace", &[&format!("--db={}", l.sb(z)), "--summary", &m]);
        let body = |t: &str| t.trim_end().lines().skip(1).map(String::from).collect::<Vec<_>>();
        assert!(body(&theirs).len() > 10, "{theirs}");
        assert_eq!(body(&ours), body(&theirs), "{rest}\novnscope:\n{ours}\novn-trace:\n{theirs}");
        // --all: the three forms under ovn-trace's headings, as ovn-trace --all prints them.
        let ours = l.zone_out("trace", z, &["--microflow", &m, "--all", "--ovn-trace-compat"]);
        let theirs = l.run("ovn-trace", &[&format!("--db={}", l.sb(z)), "--all", &m]);
        assert!(
            theirs.contains("# Summary trace.") && theirs.contains("# Minimal trace."),
            "{theirs}"
        );
        assert_eq!(body(&ours), body(&theirs), "--all {rest}\novnscope:\n{ours}\novn-trace:\n{theirs}");
    }
}

/// A conntrack entry's original and reply source and destination, from ovnscope's JSON.
fn four_addresses(x: &Value) -> Vec<String> {
    [&x["orig"]["src"], &x["orig"]["dst"], &x["reply"]["src"], &x["reply"]["dst"]]
        .map(|v| v.as_str().unwrap().to_string())
        .to_vec()
}

/// The state and the four addresses of an event line of `conntrack -E` (`[NEW] tcp 6 120 SYN_SENT
/// src=… dst=… sport=… dport=… [UNREPLIED] src=… dst=… …`), read by this test.
fn conntrack_e_line(line: &str) -> (String, String, Vec<String>) {
    let mut words = line.split_whitespace();
    let tag = words.next().unwrap().trim_matches(|c| c == '[' || c == ']').to_string();
    let rest: Vec<&str> = words.collect();
    let state = rest
        .iter()
        .find(|w| w.len() > 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(|w| w.to_string())
        .unwrap_or_default();
    let addrs = rest
        .iter()
        .filter_map(|w| w.strip_prefix("src=").or_else(|| w.strip_prefix("dst=")))
        .map(String::from)
        .collect();
    (tag, state, addrs)
}

/// `conntrack --follow`: a real TCP connection from a pod to the internet across the bastion.
/// In the bastion's kernel every event ovnscope streams — NEW SYN_SENT, the UPDATEs through
/// ESTABLISHED and TIME_WAIT, DESTROY — is the one `conntrack -E` prints there for the same
/// connection, in the same order, with the same tuples (the MASQUERADE in the reply). On the
/// node (the userspace datapath, read every 100 ms) the connection's entries appear as NEW in
/// the zones `ovs-appctl dpctl/dump-conntrack` lists them in, the SNAT tied to its rule.
fn conntrack_follow_streams_a_tcp_lifecycle_like_conntrack_e() {
    use std::io::BufRead;
    let l = lab();
    let z = "worker-1";
    let bastion = l.ns("bastion");
    // TIME_WAIT ends after 2 s in the bastion's namespace (its own sysctl), so DESTROY comes soon.
    l.run(
        "ip",
        &[
            "netns",
            "exec",
            &bastion,
            "sysctl",
            "-qw",
            "net.netfilter.nf_conntrack_tcp_timeout_time_wait=2",
        ],
    );
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &l.ns("internet"),
            "socat",
            "-u",
            "TCP-LISTEN:8081,reuseaddr",
            "OPEN:/dev/null",
        ])
        .spawn()
        .unwrap();
    let mut theirs = Command::new("ip")
        .args(["netns", "exec", &bastion, "conntrack", "-E", "-p", "tcp", "--orig-port-dst", "8081"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let exe = env!("CARGO_BIN_EXE_ovnscope");
    let follow = |args: &[String]| {
        let mut c = Command::new(exe)
            .args(args)
            .env("OVS_RUNDIR", "/nonexistent")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Subscribed (or its table first read) once it says so.
        let mut first = String::new();
        std::io::BufReader::new(c.stderr.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.starts_with("following "), "{first}");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let out = c.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (c, rx)
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (mut ours, lines) = follow(&s(&[
        "conntrack",
        "--netns",
        &bastion,
        "--ip",
        "203.0.113.8",
        "--follow",
        "--duration",
        "60",
        "-f",
        "json",
    ]));
    let (mut node, node_lines) = follow(&l.zone_args(
        "conntrack",
        z,
        &[
            "--pod",
            "network-trace/nettools-dual-pod",
            "--follow",
            "--duration",
            "60",
            "-f",
            "json",
        ],
    ));
    std::thread::sleep(std::time::Duration::from_millis(300));
    l.run(
        "ip",
        &[
            "netns",
            "exec",
            &l.ns("pod1"),
            "sh",
            "-c",
            "echo hello | socat -u - TCP:203.0.113.8:8081,connect-timeout=5",
        ],
    );
    let mut events: Vec<Value> = vec![];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(50);
    while !events.iter().any(|e| e["event"] == "destroy") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no DESTROY within 50 s: {events:#?}"));
        let e: Value = serde_json::from_str(&line).unwrap();
        let typed: ovnscope::wire::conntrack::Event = serde_json::from_value(e.clone()).expect("the event schema");
        assert_eq!(serde_json::to_value(&typed).unwrap(), e);
        if e["entry"]["orig"]["fields"]["dport"] != "8081" {
            continue;
        }
        if e["entry"]["state"] == "TIME_WAIT" {
            // The kernel sends DESTROY when it reaps the entry: its garbage collector (tens of
            // seconds here) or, at once, a dump that meets it expired — as `conntrack -L` does.
            std::thread::sleep(std::time::Duration::from_millis(2500));
            l.run("ip", &["netns", "exec", &bastion, "conntrack", "-L"]);
        }
        events.push(e);
    }
    let _ = ours.kill();
    let _ = ours.wait();
    // conntrack -E writes what it saw when it is told to stop.
    l.run("kill", &["-TERM", &theirs.id().to_string()]);
    let mut listed = String::new();
    std::io::Read::read_to_string(theirs.stdout.as_mut().unwrap(), &mut listed).unwrap();
    let _ = theirs.wait();
    let want: Vec<(String, String, Vec<String>)> = listed.lines().filter(|l| l.contains("dport=8081")).map(conntrack_e_line).collect();
    let got: Vec<(String, String, Vec<String>)> = events
        .iter()
        .map(|e| {
            let x = &e["entry"];
            (
                e["event"].as_str().unwrap().to_uppercase(),
                x["state"].as_str().unwrap_or_default().to_string(),
                four_addresses(x),
            )
        })
        .collect();
    assert_eq!(got, want, "conntrack -E:\n{listed}");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), ("NEW", "SYN_SENT"));
    assert!(
        got.iter().any(|g| g.1 == "ESTABLISHED") && got.iter().any(|g| g.1 == "TIME_WAIT"),
        "{got:?}"
    );
    assert_eq!(got[0].2[0], "198.18.0.9", "the node's SNAT address reaches the bastion");
    assert_eq!(got[0].2[3], "198.51.100.29", "the bastion MASQUERADEs");
    assert_eq!(
        events[0]["entry"]["nat"],
        "SNAT 198.18.0.9 → 198.51.100.29 (no OVN NAT rule maps these)"
    );

    // The node: what the userspace datapath holds for the connection, from ovs-appctl.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let ctl = l.vswitchd_ctl(z);
    let dump = l.run("ovs-appctl", &["-t", &ctl, "dpctl/dump-conntrack"]);
    let _ = node.kill();
    let _ = node.wait();
    let re = regex::Regex::new(
        r"^tcp,orig=\(src=([^,]+),dst=(203\.0\.113\.8),sport=\d+,dport=8081\),reply=\(src=([^,]+),dst=([^,]+),.*?\)(?:,zone=(\d+))?",
    )
    .unwrap();
    let mut want: Vec<(u64, Vec<String>)> = dump
        .lines()
        .filter_map(|line| re.captures(line))
        .map(|c| {
            (
                c.get(5).map_or(0, |m| m.as_str().parse().unwrap()),
                (1..=4).map(|i| c[i].to_string()).collect(),
            )
        })
        .collect();
    want.sort();
    let node_events: Vec<Value> = node_lines.try_iter().map(|l| serde_json::from_str(&l).unwrap()).collect();
    let mut got: Vec<(u64, Vec<String>)> = node_events
        .iter()
        // This test's connections only (to the internet host's 8081), as the dump is read.
        .filter(|e| e["event"] == "new" && e["entry"]["orig"]["fields"]["dport"] == "8081" && e["entry"]["orig"]["dst"] == "203.0.113.8")
        .map(|e| {
            let x = &e["entry"];
            (x["zone"].as_u64().unwrap(), four_addresses(x))
        })
        .collect();
    got.sort();
    assert!(want.len() >= 2, "the pod's zone and the gateway router's SNAT zone: {dump}");
    assert_eq!(got, want, "ovs-appctl dpctl/dump-conntrack:\n{dump}");
    let rule = l.nbctl(z, &["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.43"]);
    let snat = node_events
        .iter()
        .find(|e| e["event"] == "new" && e["entry"]["orig"]["fields"]["dport"] == "8081" && e["entry"]["reply"]["dst"] == "198.18.0.9")
        .expect("the SNAT entry's NEW");
    assert_eq!(snat["entry"]["owner"], "GR_worker-1 SNAT zone");
    assert!(snat["entry"]["nat"].as_str().unwrap().contains(rule.trim()), "{snat}");
    let _ = server.kill();
    let _ = server.wait();
}

/// `capture --pod … --to … --probe icmp`: the points chosen from the model and the host are the
/// ones the real tools name — the namespace whose eth0 `ip addr` shows the pod's address, the
/// veth `ovs-vsctl` binds to the pod's port (in the node's namespace, where its ovs-vswitchd
/// runs), the NIC of br-ex — and the probe's three echoes are explained end to end, the SNAT by
/// the rule `ovn-nbctl` finds.
fn capture_chooses_its_points_and_sends_the_probe() {
    let l = lab();
    let z = "worker-1";
    let veth = l.run(
        "ovs-vsctl",
        &[
            &format!("--db={}", l.ovs(z)),
            "--bare",
            "--columns=name",
            "find",
            "Interface",
            "external_ids:iface-id=network-trace_nettools-dual-pod",
        ],
    );
    let veth = veth.trim().to_string();
    // tcpdump on the same four interfaces at the same time, the oracle for what libpcap in
    // ovnscope sees there.
    let dir = tempfile::tempdir().unwrap();
    let oracle: Vec<(String, std::process::Child, PathBuf)> = [
        ("pod:network-trace/nettools-dual-pod", l.ns("pod1"), "eth0".to_string()),
        (veth.as_str(), l.ns(z), veth.clone()),
        ("ens2f0np0", l.ns(z), "ens2f0np0".to_string()),
        ("bastion-in", l.ns("bastion"), format!("eth-{z}")),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (point, ns, iface))| {
        let file = dir.path().join(format!("{i}.pcap"));
        let mut c = Command::new("ip")
            .args(["netns", "exec", &ns, "tcpdump", "-U", "-i", &iface, "-w"])
            .arg(&file)
            .arg("icmp")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(c.stderr.take().unwrap()), &mut line).unwrap();
        assert!(line.contains("listening on"), "{line}");
        (point.to_string(), c, file)
    })
    .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_ovnscope"))
        .args(l.zone_args(
            "capture",
            z,
            &[
                "--pod",
                "network-trace/nettools-dual-pod",
                "--to",
                "203.0.113.8",
                "--probe",
                "icmp",
                "--point",
                &format!("bastion-in=eth-{z}@{}", l.ns("bastion")),
                "--filter",
                "icmp",
                "-f",
                "json",
            ],
        ))
        .env_remove("OVNSCOPE_CLUSTER")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Per point: (source, destination, ICMP type, seq, TTL) of every packet, from tcpdump's
    // `-v` text and from ovnscope's progress lines; and libpcap's counters in ovnscope.
    let header =
        regex::Regex::new(r"ttl (?<ttl>\d+),.*\n\s+(?<src>\S+) > (?<dst>\S+): ICMP echo (?<kind>request|reply), id \d+, seq (?<seq>\d+)")
            .unwrap();
    let ours = regex::Regex::new(
        r"\[(?<point>.+?)\] (?<src>\S+) > (?<dst>\S+) icmp echo (?<kind>request|reply) id \d+ seq (?<seq>\d+) ttl (?<ttl>\d+)",
    )
    .unwrap();
    let fields = |m: regex::Captures| ["src", "dst", "kind", "seq", "ttl"].map(|k| m[k].to_string());
    for (point, mut c, file) in oracle {
        l.run("kill", &["-TERM", &c.id().to_string()]);
        let _ = c.wait();
        let text = l.run("tcpdump", &["-nn", "-v", "-r", &file.display().to_string()]);
        let mut want: Vec<[String; 5]> = header.captures_iter(&text).map(fields).collect();
        let mut got: Vec<[String; 5]> = ours.captures_iter(&err).filter(|m| m["point"] == point).map(fields).collect();
        want.sort();
        got.sort();
        assert_eq!(want.len(), 6, "three echoes and replies at {point}: {text}");
        assert_eq!(got, want, "at {point}");
        assert!(
            err.contains(&format!(
                "  {point}: 6 captured; libpcap: 6 received, 0 dropped (buffer full), 0 dropped by the interface"
            )),
            "{err}"
        );
    }
    let veth = veth.as_str();
    // `explain` of tcpdump's four files (taken by hand, as the guide does) gives capture's table:
    // the same packets, rows and explanations (bar the conntrack entries only a live run reads).
    let names = ["pod:network-trace/nettools-dual-pod", veth, "ens2f0np0", "bastion-in"];
    let mut args: Vec<String> = vec![];
    for (i, n) in names.iter().enumerate() {
        args.push("--capture".into());
        args.push(format!("{n}={}", dir.path().join(format!("{i}.pcap")).display()));
    }
    args.extend(["-f".to_string(), "json".to_string()]);
    let explained = l.zone_json("explain", z, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let captured: Value = serde_json::from_slice(&out.stdout).unwrap();
    let table = |doc: &Value| -> Vec<Vec<(String, String, String)>> {
        doc["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let what = r["what"].as_str().unwrap_or_default();
                        let what = what.split("; conntrack").next().unwrap().to_string();
                        (
                            r["point"].as_str().unwrap().to_string(),
                            format!("{} {} {}", r["src"], r["dst"], r["ttl"]),
                            what,
                        )
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(table(&explained), table(&captured));
    assert_eq!(explained["packets"].as_array().unwrap().len(), 6);
    let addr = l.run("ip", &["-n", &l.ns("pod1"), "-o", "-4", "addr", "show", "dev", "eth0"]);
    assert!(addr.contains("10.128.2.43/"), "{addr}");
    let node_links = l.run("ip", &["-n", &l.ns(z), "-o", "link", "show"]);
    assert!(
        node_links.contains(&format!(" {veth}@")) && node_links.contains(" ens2f0np0@"),
        "{node_links}"
    );
    for want in [
        format!("pod:network-trace/nettools-dual-pod=eth0@{}", l.ns("pod1")),
        format!("{veth}={veth}@{}", l.ns(z)),
        format!("ens2f0np0=ens2f0np0@{}", l.ns(z)),
    ] {
        assert!(err.contains(&format!("  {want}  (")), "chosen: {want}\n{err}");
    }
    assert!(err.contains("probe: ping 203.0.113.8: 3 packets transmitted, 3 received"), "{err}");
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["points"],
        serde_json::json!(["pod:network-trace/nettools-dual-pod", veth, "ens2f0np0", "bastion-in"])
    );
    let forward: Vec<&Value> = j["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["key"]["forward"] == true)
        .collect();
    assert_eq!(forward.len(), 3, "three echoes");
    let rule = l.nbctl(z, &["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.43"]);
    // The SNAT zone ovn-controller gave the gateway router: `ct-zone-<its datapath>_snat`, the
    // datapath by its Southbound uuid (23.03) or its name (25.03).
    let ids = l.run(
        "ovs-vsctl",
        &[&format!("--db={}", l.ovs(z)), "get", "Bridge", "br-int", "external_ids"],
    );
    let dp = l.sbctl(
        z,
        &[
            "--bare",
            "--columns=_uuid",
            "find",
            "Datapath_Binding",
            "external_ids:name=GR_worker-1",
        ],
    );
    let snat_zone = [dp.trim(), "GR_worker-1"]
        .iter()
        .find_map(|d| {
            let re = regex::Regex::new(&format!(r#"ct-zone-{d}_snat"?="?(\d+)"#)).unwrap();
            re.captures(&ids).map(|c| c[1].to_string())
        })
        .unwrap_or_else(|| panic!("no SNAT zone of GR_worker-1 in {ids}"));
    for p in forward {
        let nic = p["rows"][2]["what"].as_str().unwrap();
        assert!(nic.contains(&format!("by snat rule {}", &rule.trim()[..8])), "{nic}");
        // The entry that holds the SNAT, read from the node's datapath after the capture.
        assert!(
            nic.contains("ovs-vswitchd.") && nic.contains(&format!("): zone {snat_zone} = GR_worker-1 SNAT zone holds it")),
            "{nic}"
        );
        assert_eq!(p["rows"][3]["seen"], true, "seen at the bastion too");
    }
}

/// A namespace no one named (a pod's on a real node, held by its pause process) is found
/// through `/proc/PID/ns/net`: here one made with `ip netns add`, kept alive by a process, and
/// then unnamed with `ip netns delete`.
fn an_unnamed_namespace_is_found_through_its_process() {
    let name = "ovsz-hidden";
    let ip = |args: &[&str]| assert!(Command::new("ip").args(args).status().unwrap().success(), "ip {args:?}");
    // A leftover of an interrupted run goes first.
    let _ = Command::new("ip").args(["netns", "delete", name]).stderr(Stdio::null()).status();
    ip(&["netns", "add", name]);
    // Both ends of a veth inside it (no dummy module on every kernel): nothing leaves it.
    ip(&["-n", name, "link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    ip(&["-n", name, "addr", "add", "100.127.255.1/32", "dev", "d0"]);
    ip(&["-n", name, "link", "set", "d0", "up"]);
    let mut holder = Command::new("ip").args(["netns", "exec", name, "sleep", "60"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    ip(&["netns", "delete", name]);
    let found = ovnscope::capture::netns::find_addresses("100.127.255.1".parse().unwrap());
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(found.len(), 1, "{found:?}");
    let (ns, iface) = &found[0];
    assert_eq!(iface, "d0");
    let ns = ns.as_deref().unwrap();
    assert!(ns.starts_with("/proc/") && ns.ends_with("/ns/net"), "{ns}");
}

macro_rules! trials {
    ($($f:path),* $(,)?) => {
        vec![$(Trial::test(stringify!($f), || { $f(); Ok(()) })),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    let trials = trials![
        zones_are_built_as_ovn_kubernetes_builds_them,
        across_zones_on_the_wire,
        show_over_the_cluster_is_each_zone,
        nat_answers_from_each_pods_zone,
        must_gather_is_the_same_cluster_offline,
        trace_across_zones_agrees_with_ovn_trace_in_each_zone,
        topology_over_the_cluster_is_one_graph,
        explain_across_zones_names_both_zones,
        capture_across_zones,
        ovn_trace_option_semantics,
        ovn_trace_command_line_and_texts,
        trace_ovs_shows_the_openflow_flows_ovn_trace_shows,
        select_id_picks_the_ecmp_next_hop_ovn_trace_picks,
        acl_log_line_is_ovn_traces,
        put_dhcp_opts_is_shown_as_ovn_trace_shows_it,
        ipv6_hairpin_is_detected_as_ovn_trace_detects_it,
        shared_vip_hairpin_is_snated_as_the_datapath_snats_it,
        gateway_router_commit_all_is_traced_as_ovn_trace_traces_it,
        transit_router_across_zones_agrees_with_ovn_trace_in_each_zone,
        static_mac_binding_is_used_as_the_datapath_uses_it,
        template_load_balancer_hairpin_is_found_by_the_expanded_vip,
        port_name2_is_ovn_traces_friendly_name,
        nat_rules_with_match_and_priority_rank_as_northd_writes_them,
        snat_port_range_is_named_and_used_on_the_wire,
        conntrack_entries_named_like_ovn_controller_records_them,
        conntrack_follow_streams_a_tcp_lifecycle_like_conntrack_e,
        template_load_balancer_reaches_the_backend_where_ovn_trace_skips_it,
        summary_is_ovn_trace_summary,
        capture_chooses_its_points_and_sends_the_probe,
        an_unnamed_namespace_is_found_through_its_process,
        serve::fan_out_over_serves_answers_like_the_zones,
        serve::questions_over_json_rpc_are_the_cli_documents,
        serve::bad_requests_get_errors_and_serve_goes_on,
        serve::tls_listener_requires_client_certificates,
        serve::explain_over_json_rpc_with_uploaded_captures,
        serve::conntrack_over_json_rpc_is_the_nodes,
        serve::a_subscription_streams_the_answer_as_the_database_changes,
        serve::resync_after_100_restarts_loses_and_ghosts_nothing,
        kube::kube_finds_the_zones_and_port_forwards_to_each_serve,
    ];
    if args.list {
        libtest_mimic::run(&args, trials).exit();
    }
    // OVNLAB_OVN=25.03 (or 26.03) runs the whole suite on that OVN generation: the lab's
    // daemons and every real tool the tests compare with (ovn-nbctl, ovn-trace, …) come from it.
    let generation = generation::select();
    let l = if generation == "23.03" {
        Lab {
            dir: PathBuf::from("/tmp/ovnscope-test-ic"),
            prefix: "ovsz".into(),
        }
    } else {
        Lab {
            dir: PathBuf::from(format!("/tmp/ovnscope-test-ic-{generation}")),
            prefix: if generation == "25.03" { "ovsy" } else { "ovsx" }.into(),
        }
    };
    l.script("up");
    eprintln!(
        "zones: OVN {}",
        std::fs::read_to_string(l.dir.join("ovn-version"))
            .unwrap_or_default()
            .replace('\n', ", ")
    );
    LAB.set(l).ok();
    // Trials share the lab's traffic (tcpdump sees every ping), so they run one at a time.
    let mut args = args;
    args.test_threads = Some(1);
    let conclusion = libtest_mimic::run(&args, trials);
    serve::stop_all();
    if std::env::var_os("OVNSCOPE_KEEP_LAB").is_none() {
        lab().script("down");
    }
    conclusion.exit();
}
