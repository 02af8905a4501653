//! The pipeline executor against ovn-trace on the same Southbound: the sequence of
//! (datapath, stage, lflow uuid) and the verdicts must be the same, packet by packet.

use crate::agreement::compare;
use crate::common::{Northd, Served};
use crate::lab;
use std::path::Path;

fn pod_flow(dmac: &str, dst: &str, l4: &str) -> String {
    format!(
        "inport==\"network-trace_nettools-dual-pod\" && eth.src==0a:58:0a:80:02:2b && eth.dst=={dmac} && ip4.src==10.128.2.43 && ip4.dst=={dst} && ip.ttl==64 && {l4}"
    )
}

const ICMP: &str = "icmp4.type==8 && icmp4.code==0";
const TCP: &str = "tcp.src==40000 && tcp.dst==80 && tcp.flags==2";
const UDP: &str = "udp.src==40000 && udp.dst==53";

/// The lab as it runs: pod → internet (ICMP, TCP, UDP), pod → pod on the same node and
/// across nodes. Then, on a Southbound our own ovn-northd computes from the lab's Northbound
/// with a load balancer and a dropping ACL added: pod → service VIP (backend chosen with
/// --lb-dst on both sides), a packet the ACL drops, and the first cases again.
pub fn executor_agrees_with_ovn_trace() {
    let l = lab();
    let rmac = l
        .nbctl(&["get", "Logical_Router_Port", "rtos-worker-1", "mac"])
        .trim()
        .trim_matches('"')
        .to_string();
    let pod2_mac = l
        .nbctl(&["get", "Logical_Switch_Port", "network-trace_nettools-pod-2", "addresses"])
        .trim()
        .trim_matches(['[', ']', '"'])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let base = [
        ("pod → internet, ICMP", pod_flow(&rmac, "203.0.113.8", ICMP)),
        ("pod → internet, TCP", pod_flow(&rmac, "203.0.113.8", TCP)),
        ("pod → internet, UDP", pod_flow(&rmac, "203.0.113.8", UDP)),
        ("pod → pod, one node", pod_flow(&pod2_mac, "10.128.2.44", ICMP)),
        ("pod → pod, across nodes", pod_flow(&rmac, "10.128.4.5", TCP)),
    ];
    let mut differences = vec![];
    let mut n = 0;
    for (what, flow) in &base {
        n += 1;
        if let Some(d) = compare(l, &l.sb_sock(), "worker-1", flow, &[], true, None) {
            differences.push(format!("live lab, {what}: {d}"));
        }
    }

    // Our own northd on a copy of the lab's Northbound, with a service and an ACL.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/ovnnb_db.db");
    let nb = Served::new(&demo);
    let sb = Served::empty_sb();
    let _northd = Northd::start(&nb, &sb);
    let nbctl = |args: &[&str]| {
        let mut a = vec![format!("--db={}", nb.sock)];
        a.extend(args.iter().map(|s| s.to_string()));
        l.run("ovn-nbctl", &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    nbctl(&["lb-add", "svc-web", "172.30.0.100:80", "10.128.4.5:8080,10.128.2.44:8080", "tcp"]);
    nbctl(&["ls-lb-add", "worker-1", "svc-web"]);
    nbctl(&[
        "acl-add",
        "worker-2",
        "to-lport",
        "1001",
        "ip4.dst == 10.128.4.5 && udp.dst == 9999",
        "drop",
    ]);
    nbctl(&["--wait=sb", "sync"]);
    let mut cases: Vec<(&str, String, Vec<&str>)> = base.iter().map(|(w, f)| (*w, f.clone(), vec![])).collect();
    let vip = pod_flow(&rmac, "172.30.0.100", TCP);
    cases.push((
        "pod → service VIP (backend across nodes)",
        vip.clone(),
        vec!["--lb-dst", "10.128.4.5"],
    ));
    cases.push(("pod → service VIP (backend on the node)", vip, vec!["--lb-dst", "10.128.2.44"]));
    cases.push((
        "a packet the ACL drops",
        pod_flow(&rmac, "10.128.4.5", "udp.src==40000 && udp.dst==9999"),
        vec![],
    ));
    for (what, flow, extra) in &cases {
        n += 1;
        if let Some(d) = compare(l, &sb.sock, "worker-1", flow, extra, true, None) {
            differences.push(format!("own northd with LB and ACL, {what}: {d}"));
        }
    }
    // A live server read datapath by datapath as the packet reaches them, the same read
    // whole, and the file: the same run each way.
    let file = format!("file:{}", sb.dir.path().join("sb.db").display());
    for (_, flow, extra) in &cases {
        let run = |db: &str, how: &str| {
            let mut args = vec![
                "trace",
                "--sb-db",
                db,
                "--microflow",
                flow.as_str(),
                "--read-flows",
                how,
                "-f",
                "json",
            ];
            args.extend_from_slice(extra);
            let j = l.ovnscope_json(&args);
            (j["steps"].clone(), j["verdicts"].clone())
        };
        let as_needed = run(&sb.sock, "as-needed");
        assert_eq!(as_needed, run(&sb.sock, "all"), "{flow}");
        assert_eq!(as_needed, run(&file, "auto"), "{flow}");
    }
    // The ACL case really ends in a drop, and the VIP case really reaches the backend.
    let acl = l.ovnscope_json(&["trace", "--sb-db", &sb.sock, "--microflow", &cases[7].1, "-f", "json"]);
    assert!(
        acl["verdicts"].as_array().unwrap().iter().any(|v| v == "drop"),
        "{}",
        acl["verdicts"]
    );
    // ls_out_acl; since OVN 24.03 ls_out_acl_eval.
    assert!(
        acl["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["stage"].as_str().is_some_and(|st| st.starts_with("ls_out_acl"))),
        "{acl}"
    );
    let lb = l.ovnscope_json(&[
        "trace",
        "--sb-db",
        &sb.sock,
        "--microflow",
        &cases[5].1,
        "--lb-dst",
        "10.128.4.5",
        "-f",
        "json",
    ]);
    assert_eq!(lb["verdicts"], serde_json::json!(["output network-trace_nettools-w2"]), "{lb}");
    println!(
        "pipeline executor vs ovn-trace on the lab: {}/{n} packets identical",
        n - differences.len()
    );
    assert!(differences.is_empty(), "{differences:#?}");
}
