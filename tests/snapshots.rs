//! Every command's text and JSON on the recorded lab (`demo/`: the lab's database files and a
//! five-point capture of one ping with an `ofproto/trace` of it, all from the same lab run),
//! run through the real binary. No root, no lab: it runs anywhere.
//!
//! - Each output is an insta snapshot (`tests/snapshots/`), so any change to what ovnscope
//!   prints is a reviewed change (`cargo insta review`, or `INSTA_UPDATE=always` and a diff).
//! - Each JSON document is read back into its wire type (`ovnscope::wire`, with
//!   `deny_unknown_fields`) and written again: it must come back identical, so the output has
//!   no field the documented schema does not declare, and carries the schema version.
//! - Each exit code of the README's table is produced by a real invocation (4, a bug, by the
//!   unit test of `cli::outcome`: no input produces it).

use ovnscope::wire;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::process::Command;

const POD: &str = "network-trace/nettools-dual-pod";
const VETH: &str = "3d7acf9c39c52c2";
const MICROFLOW: &str = r#"inport == "network-trace_nettools-dual-pod" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.8 && ip.ttl == 64 && icmp4.type == 8"#;

fn dbs() -> Vec<String> {
    [
        "--ovs-db",
        "file:demo/conf.db",
        "--nb-db",
        "file:demo/ovnnb_db.db",
        "--sb-db",
        "file:demo/ovnsb_db.db",
    ]
    .map(String::from)
    .to_vec()
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn run(args: &[&str], stdin: Option<&Path>) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ovnscope"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("OVN_NB_DB")
        .env_remove("OVN_SB_DB")
        .env("OVS_RUNDIR", "/nonexistent/ovs")
        .env("OVN_RUNDIR", "/nonexistent/ovn");
    if let Some(p) = stdin {
        c.stdin(std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).expect("stdin file"));
    }
    let o = c.output().expect("run ovnscope");
    Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8(o.stdout).expect("utf-8 stdout"),
        err: String::from_utf8(o.stderr).expect("utf-8 stderr"),
    }
}

/// `args` on the demo databases.
fn on_demo(args: &[&str]) -> Run {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend(dbs());
    let refs: Vec<&str> = v.iter().map(String::as_str).collect();
    run(&refs, None)
}

/// The document reads back into `T` and writes out unchanged, with the schema version.
fn reads_back<T: DeserializeOwned + Serialize>(json: &str) {
    let original: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
    assert_eq!(original["schema"], wire::VERSION, "schema version in {json:.200}");
    // A trace tree nests a table per step: deeper than serde_json's default limit.
    let mut de = serde_json::Deserializer::from_str(json);
    de.disable_recursion_limit();
    let typed: T = T::deserialize(&mut de).unwrap_or_else(|e| panic!("not the documented schema: {e}\n{json:.400}"));
    let again = serde_json::to_value(&typed).expect("serialise");
    assert_eq!(again, original, "the document has fields its wire type does not declare");
}

fn ok(r: &Run) -> &str {
    assert_eq!(r.code, 0, "exit {}: {}", r.code, r.err);
    &r.out
}

#[test]
fn show() {
    insta::assert_snapshot!("show_text", ok(&on_demo(&["show"])));
    let j = on_demo(&["show", "-f", "json"]);
    reads_back::<wire::show::Show>(ok(&j));
    insta::assert_snapshot!("show_json", j.out);
}

#[test]
fn focus() {
    for cmd in ["show", "topology"] {
        insta::assert_snapshot!(format!("{cmd}_focus_text"), ok(&on_demo(&[cmd, "--focus", POD])));
        let j = on_demo(&[cmd, "--focus", POD, "-f", "json"]);
        reads_back::<wire::topology::Chain>(ok(&j));
        insta::assert_snapshot!(format!("{cmd}_focus_json"), j.out);
    }
    insta::assert_snapshot!("topology_focus_dot", ok(&on_demo(&["topology", "--focus", POD, "-f", "dot"])));
}

#[test]
fn topology() {
    for view in ["physical", "logical", "full"] {
        insta::assert_snapshot!(format!("topology_{view}_text"), ok(&on_demo(&["topology", "--view", view])));
        insta::assert_snapshot!(
            format!("topology_{view}_dot"),
            ok(&on_demo(&["topology", "--view", view, "-f", "dot"]))
        );
        let j = on_demo(&["topology", "--view", view, "-f", "json"]);
        reads_back::<wire::topology::Graph>(ok(&j));
        insta::assert_snapshot!(format!("topology_{view}_json"), j.out);
    }
}

#[test]
fn nat() {
    for (name, who) in [
        ("pod", ["--pod", POD]),
        ("ip", ["--ip", "10.128.2.44"]),
        ("external", ["--external-ip", "198.18.0.9"]),
    ] {
        insta::assert_snapshot!(format!("nat_{name}_text"), ok(&on_demo(&["nat", who[0], who[1]])));
        let j = on_demo(&["nat", who[0], who[1], "-f", "json"]);
        reads_back::<wire::nat::Answer>(ok(&j));
        insta::assert_snapshot!(format!("nat_{name}_json"), j.out);
    }
}

#[test]
fn trace() {
    let cases: [(&str, &[&str]); 3] = [
        ("path", &["--from", POD, "--to", "203.0.113.8"]),
        ("lflows", &["--from", POD, "--to", "203.0.113.8", "--lflows"]),
        (
            "tcp_across_nodes",
            &["--from", POD, "--to", "10.128.4.5", "--proto", "tcp", "--lflows"],
        ),
    ];
    for (name, args) in cases {
        let mut a = vec!["trace"];
        a.extend_from_slice(args);
        insta::assert_snapshot!(format!("trace_{name}_text"), ok(&on_demo(&a)));
        a.extend(["-f", "json"]);
        let j = on_demo(&a);
        reads_back::<wire::trace::Prediction>(ok(&j));
        insta::assert_snapshot!(format!("trace_{name}_json"), j.out);
    }
    let sb = ["--sb-db", "file:demo/ovnsb_db.db"];
    let m = run(&["trace", "--microflow", MICROFLOW, sb[0], sb[1]], None);
    insta::assert_snapshot!("trace_microflow_text", ok(&m));
    let m = run(&["trace", "--microflow", MICROFLOW, "--minimal", sb[0], sb[1]], None);
    insta::assert_snapshot!("trace_microflow_minimal", ok(&m));
    let j = run(&["trace", "--microflow", MICROFLOW, "-f", "json", sb[0], sb[1]], None);
    reads_back::<wire::trace::Pipeline>(ok(&j));
    insta::assert_snapshot!("trace_microflow_json", j.out);
}

/// The five points of the guide's ping, in path order.
fn captures() -> Vec<String> {
    let c = "demo/captures";
    [
        format!("pod:{POD}={c}/pod.pcap"),
        format!("{VETH}={c}/veth.pcap"),
        format!("ens2f0np0={c}/nic.pcap"),
        format!("bastion-in={c}/bastion-in.pcap"),
        format!("bastion-out={c}/bastion-out.pcap"),
    ]
    .into_iter()
    .flat_map(|p| ["--capture".to_string(), p])
    .collect()
}

#[test]
fn explain() {
    for validate in [false, true] {
        let mut a = vec!["explain".to_string()];
        if validate {
            a.push("--validate".into());
        }
        a.extend(captures());
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let name = if validate { "explain_validate" } else { "explain" };
        insta::assert_snapshot!(format!("{name}_text"), ok(&on_demo(&refs)));
        let mut j = refs.clone();
        j.extend(["-f", "json"]);
        let j = on_demo(&j);
        reads_back::<wire::explain::Report>(ok(&j));
        if validate {
            // The reply first seen at the bastion (outside OVN) is checked from the NIC, where it
            // enters OVN, and agrees.
            let v: serde_json::Value = serde_json::from_str(&j.out).unwrap();
            let statuses: Vec<&str> = v["validation"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["status"].as_str().unwrap())
                .collect();
            assert_eq!(statuses, ["agrees", "agrees"], "{}", j.out);
            assert_eq!(v["validation"][1]["from"], "ens2f0np0");
        }
        insta::assert_snapshot!(format!("{name}_json"), j.out);
    }
}

/// One capture point of an ICMP ping: no hop and no TCP conversation, and the text says so
/// instead of printing nothing.
#[test]
fn explain_one_point() {
    let r = on_demo(&["explain", "--capture", &format!("pod:{POD}=demo/captures/pod.pcap")]);
    insta::assert_snapshot!("explain_one_point_text", ok(&r));
}

#[test]
fn detrace() {
    let r = run(
        &["detrace", "--nb-db", "file:demo/ovnnb_db.db", "--sb-db", "file:demo/ovnsb_db.db"],
        Some(Path::new("demo/captures/ofproto-trace.txt")),
    );
    insta::assert_snapshot!("detrace", ok(&r));
}

/// Exit 1: the answer is "no" — nothing by that name, or a capture that disagrees with the
/// logical flows (the host veth's capture passed off as the NIC's: no SNAT where the flows
/// say there is one).
#[test]
fn exit_1_no() {
    for args in [
        vec!["nat", "--pod", "x/y"],
        vec!["topology", "--focus", "x/y"],
        vec!["show", "--focus", "x/y"],
        vec!["trace", "--from", "x/y", "--to", "1.1.1.1"],
    ] {
        let r = on_demo(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.err);
        assert_eq!(
            r.err,
            "ovnscope: no pod, logical switch port or address matches \"x/y\"; give NAMESPACE/POD, an IP address, or a logical switch port name\n",
            "{args:?}: the same miss is worded the same way by every command"
        );
        assert!(r.out.is_empty());
    }
    let r = run(
        &[
            "trace",
            "--microflow",
            r#"inport == "nope" && ip4"#,
            "--sb-db",
            "file:demo/ovnsb_db.db",
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("is not a logical port of this Southbound"), "{}", r.err);
    let c = "demo/captures";
    let r = on_demo(&[
        "explain",
        "--validate",
        "--capture",
        &format!("pod:{POD}={c}/pod.pcap"),
        "--capture",
        &format!("ens2f0np0={c}/veth.pcap"),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("disagrees"), "{}", r.out);
    insta::assert_snapshot!("explain_validate_disagrees", r.out);
}

/// Exit 2: the command line is wrong.
#[test]
fn exit_2_usage() {
    for (args, says) in [
        (vec!["show", "--nb-db", "bogus:x"], "--nb-db: bad database method \"bogus:x\""),
        (
            vec!["trace", "--microflow", "inport == \"p\" &&", "--sb-db", "file:demo/ovnsb_db.db"],
            "ovnscope: error:",
        ),
        (
            vec![
                "trace",
                "--microflow",
                MICROFLOW,
                "--ct",
                "bogus",
                "--sb-db",
                "file:demo/ovnsb_db.db",
            ],
            "unknown connection-tracking flag \"bogus\"",
        ),
        (vec!["explain", "--capture", "no-equals-sign"], "expected POINT=FILE"),
        (
            vec!["show", "--node", "worker-1", "--nb-db", "file:demo/ovnnb_db.db"],
            "--node selects a node of a --must-gather",
        ),
        (vec!["nat"], "required"),
    ] {
        let r = run(&args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.err);
        assert!(r.err.contains(says), "{args:?}: {}", r.err);
    }
}

/// Exit 3: a database or file cannot be reached or read.
#[test]
fn exit_3_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    let whole = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/captures/pod.pcap")).unwrap();
    std::fs::write(&cut, &whole[..whole.len() - 10]).unwrap();
    let cut_arg = format!("pod:{POD}={}", cut.display());
    for (args, says) in [
        (vec!["show", "--nb-db", "file:/nonexistent.db"], "cannot open /nonexistent.db"),
        (vec!["show"], "no database to read"),
        (
            vec!["show", "--nb-db", "unix:/nonexistent.sock"],
            "cannot connect to unix:/nonexistent.sock",
        ),
        (
            vec!["explain", "--nb-db", "file:demo/ovnnb_db.db", "--capture", &cut_arg],
            "is cut off or damaged",
        ),
        (
            vec!["show", "--nb-db", "file:demo/captures/pod.pcap"],
            "OVN_Northbound (--nb-db file:demo/captures/pod.pcap)",
        ),
    ] {
        let r = run(&args, None);
        assert_eq!(r.code, 3, "{args:?}: {}", r.err);
        assert!(r.err.contains(says), "{args:?}: {}", r.err);
    }
}
