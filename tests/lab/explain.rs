//! `ovnscope explain` on real captures: one ping from a pod, tcpdump at five points (pod eth0,
//! host veth, node NIC, bastion inside, bastion outside), compared with what tcpdump itself
//! reads from the same files and with the NAT rule ovn-nbctl reports.

use crate::common::dataplane_turn;
use crate::lab;
use serde_json::Value;
use std::process::{Command, Stdio};

/// (src, dst) of the echo request and the echo reply in a file, as tcpdump reads them.
fn tcpdump_read(file: &std::path::Path) -> Vec<(String, String, String)> {
    let out = Command::new("tcpdump").args(["-nn", "-r"]).arg(file).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let ip = l.split(" IP ").nth(1)?;
            let (src, rest) = ip.split_once(" > ")?;
            let (dst, rest) = rest.split_once(": ")?;
            let kind = if rest.contains("echo request") { "request" } else { "reply" };
            Some((kind.to_string(), src.to_string(), dst.to_string()))
        })
        .collect()
}

pub fn ping_explained_hop_by_hop() {
    let _turn = dataplane_turn();
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let veth = l.veth_of("network-trace_nettools-pod-2");
    let points = [
        ("pod:network-trace/nettools-pod-2", l.ns("pod2"), "eth0".to_string(), "icmp"),
        (veth.as_str(), l.ns("worker-1"), veth.clone(), "icmp and host 10.128.2.44"),
        (
            "ens2f0np0",
            l.ns("worker-1"),
            "ens2f0np0".into(),
            "icmp and host 198.18.0.9 and host 203.0.113.8",
        ),
        (
            "bastion-in",
            l.ns("bastion"),
            "eth1".into(),
            "icmp and host 198.18.0.9 and host 203.0.113.8",
        ),
        ("bastion-out", l.ns("bastion"), "ens3".into(), "icmp and host 203.0.113.8"),
    ];
    let mut children = vec![];
    let mut args = vec!["explain".to_string(), "--nb-db".into(), l.nb_sock(), "-f".into(), "json".into()];
    for (i, (point, ns, iface, filter)) in points.iter().enumerate() {
        let f = dir.path().join(format!("{i}.pcap"));
        children.push(crate::common::tcpdump_two(ns, iface, &f, filter));
        args.extend(["--capture".into(), format!("{point}={}", f.display())]);
    }
    let ping = Command::new("ip")
        .args(["netns", "exec", &l.ns("pod2"), "ping", "-c", "1", "-W", "3", "203.0.113.8"])
        .output()
        .unwrap();
    assert!(ping.status.success());
    for c in children {
        c.wait_with_output().unwrap();
    }
    let doc = l.ovnscope_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let packets = doc["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 2, "one echo request and its reply: {doc:#}");
    let nat_uuid = l
        .nbctl(&["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.44"])
        .trim()
        .to_string();
    for p in packets {
        let forward = p["key"]["forward"].as_bool().unwrap();
        let rows = p["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 5);
        assert!(p["lost"].is_null());
        for r in rows {
            // Every address equals what tcpdump reads from that point's file.
            let i = points.iter().position(|pt| pt.0 == r["point"]).unwrap();
            let theirs = tcpdump_read(&dir.path().join(format!("{i}.pcap")));
            let kind = if forward { "request" } else { "reply" };
            let (_, src, dst) = theirs
                .iter()
                .find(|t| t.0 == kind)
                .unwrap_or_else(|| panic!("{kind} at {}: {theirs:?}", r["point"]));
            assert_eq!(
                (r["src"].as_str().unwrap(), r["dst"].as_str().unwrap()),
                (src.as_str(), dst.as_str()),
                "{}",
                r["point"]
            );
        }
        let by_point = |name: &str| rows.iter().find(|r| r["point"] == name).unwrap();
        let nic = by_point("ens2f0np0");
        let outside = by_point("bastion-out");
        if forward {
            assert_eq!(by_point("pod:network-trace/nettools-pod-2")["what"], "original packet");
            assert_eq!(by_point(&veth)["what"], "unchanged", "a veth is a pipe");
            let what = nic["what"].as_str().unwrap();
            assert!(
                what.starts_with("SNAT 10.128.2.44 → 198.18.0.9") && what.contains("on GR_worker-1"),
                "{what}"
            );
            assert!(what.contains("routed by ovn_cluster_router → GR_worker-1"), "{what}");
            assert!(
                nic["by"].as_array().unwrap().contains(&Value::from(nat_uuid.as_str())),
                "the NAT row ovn-nbctl finds: {nic}"
            );
            assert_eq!(by_point("bastion-in")["what"], "unchanged");
            assert!(outside["what"].as_str().unwrap().contains("rewritten outside OVN"), "{outside}");
            assert_eq!(outside["src"], "198.51.100.29");
        } else {
            let veth_row = by_point(&veth);
            let what = veth_row["what"].as_str().unwrap();
            assert!(what.starts_with("un-SNAT (reply) 198.18.0.9 → 10.128.2.44"), "{what}");
            assert!(what.contains("routed by GR_worker-1 → ovn_cluster_router"), "{what}");
        }
    }

    // The logical flows, executed for the captured request, against the NIC's capture.
    let pod_and_nic: Vec<String> = args
        .iter()
        .filter(|a| a.starts_with("pod:") || a.starts_with("ens2f0np0="))
        .cloned()
        .collect();
    let veth_capture = args.iter().find(|a| a.starts_with(&format!("{veth}="))).unwrap();
    crate::validate::validation_agrees_then_names_the_changed_snat(l, &pod_and_nic, veth_capture);

    // A point where the packet never arrives: "lost between".
    let empty = dir.path().join("empty.pcap");
    let st = Command::new("ip")
        .args(["netns", "exec", &l.ns("internet"), "timeout", "1", "tcpdump", "-i", "eth0", "-w"])
        .arg(&empty)
        .args(["icmp and host 192.168.255.255"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success() || empty.exists());
    let mut a2 = args.clone();
    a2.extend(["--capture".into(), format!("nowhere={}", empty.display())]);
    let doc = l.ovnscope_json(&a2.iter().map(String::as_str).collect::<Vec<_>>());
    let fwd = doc["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"]["forward"] == true)
        .unwrap();
    assert_eq!(fwd["lost"], "lost between bastion-out and nowhere");

    // A pod point that names no pod in the model is marked as such.
    let mut a3 = args.clone();
    a3.extend(["--capture".into(), format!("pod:network-trace/ghost={}", empty.display())]);
    let doc = l.ovnscope_json(&a3.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(doc["unknown_points"], serde_json::json!(["pod:network-trace/ghost"]));

    // A damaged file: a clear error and exit 3, no panic.
    let bytes = std::fs::read(dir.path().join("2.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let (code, _, err) = l.ovnscope(&["explain", "--nb-db", &l.nb_sock(), "--capture", &format!("nic={}", cut.display())]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is cut off or damaged") && err.contains("packet 2"), "{err}");
    let (code, _, err) = l.ovnscope(&["explain", "--capture", "x=/etc/hostname"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
}

/// The validation of the packet that entered at capture point `from`.
fn validation_from<'a>(doc: &'a Value, from: &str) -> &'a Value {
    doc["validation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["from"] == from)
        .unwrap_or_else(|| panic!("no packet validated from {from}: {doc:#}"))
}

/// Runs `ovnscope capture` (JSON) on `points` while `traffic` runs; returns its document.
fn capture_json(points: &[String], filter: &str, secs: &str, traffic: impl FnOnce()) -> Value {
    capture_json_with(points, filter, secs, &[], traffic)
}

/// [`capture_json`] with more options (`--validate`).
fn capture_json_with(points: &[String], filter: &str, secs: &str, extra: &[&str], traffic: impl FnOnce()) -> Value {
    let l = lab();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ovnscope"));
    cmd.args([
        "capture",
        "--nb-db",
        &l.nb_sock(),
        "-f",
        "json",
        "--filter",
        filter,
        "--duration",
        secs,
    ]);
    for p in points {
        cmd.args(["--point", p]);
    }
    cmd.args(extra);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut err, progress) = crate::common::wait_ready(&mut child, "capturing on");
    traffic();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{progress}{rest}");
    serde_json::from_slice(&o.stdout).unwrap()
}

fn http_server(ns: &str, bind: &str) -> std::process::Child {
    let c = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            bind,
            "--directory",
            "/usr/share/doc/iproute2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        let ok = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "python3",
                "-c",
                &format!("import socket; socket.create_connection(('{bind}', 8080), 1)"),
            ])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if ok {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    c
}

fn fetch(ns: &str, url: &str) {
    let st = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "python3",
            "-c",
            &format!("import urllib.request; assert urllib.request.urlopen('{url}', timeout=5).status == 200"),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "GET {url}");
}

fn labels(doc: &Value) -> Vec<String> {
    doc["conversations"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["label"].as_str().unwrap().to_string())
        .collect()
}

/// The guide's container-to-container case: two processes of one pod talk over loopback;
/// the lifecycle is labelled and nothing reaches the host veth.
pub fn container_to_container_over_loopback() {
    let _turn = dataplane_turn();
    let l = lab();
    let mut srv = http_server(&l.ns("pod1"), "127.0.0.1");
    let veth = l.veth_of("network-trace_nettools-dual-pod");
    let points = vec![format!("pod-lo=lo@{}", l.ns("pod1")), format!("{veth}={veth}@{}", l.ns("worker-1"))];
    let doc = capture_json(&points, "tcp port 8080", "4", || fetch(&l.ns("pod1"), "http://127.0.0.1:8080/"));
    let _ = srv.kill();
    let _ = srv.wait();
    let got = labels(&doc);
    assert_eq!(&got[..3], ["handshake: SYN", "handshake: SYN-ACK", "handshake: ACK"], "{got:?}");
    assert!(got.iter().any(|x| x.starts_with("request: GET / HTTP/1.1")), "{got:?}");
    assert!(got.iter().any(|x| x.starts_with("response: HTTP/1.0 200 OK")), "{got:?}");
    // Teardown: the server's FIN, then the client's FIN or a reset (Python's client may reset,
    // and when it resets before the server's FIN is sent, the reset is all there is).
    assert!(
        got.iter().any(|x| x.starts_with("teardown: FIN") || x.starts_with("reset")),
        "{got:?}"
    );
    assert!(
        got.last()
            .is_some_and(|x| x.starts_with("teardown") || x.starts_with("reset") || x == "ACK"),
        "{got:?}"
    );
    assert_eq!(doc["conversations"][0]["server"], "127.0.0.1:8080");
    // Not one of these packets reached the host veth: loopback stays in the pod.
    for p in doc["packets"].as_array().unwrap() {
        let veth_row = p["rows"].as_array().unwrap().iter().find(|r| r["point"] == veth.as_str()).unwrap();
        assert_eq!(veth_row["seen"], false);
    }
    // ovnscope trace says the same, from the model alone.
    let t = l.ovnscope_json(&[
        "trace",
        "--nb-db",
        &l.nb_sock(),
        "--from",
        "network-trace/nettools-dual-pod",
        "--to",
        "10.128.2.43",
        "-f",
        "json",
    ]);
    assert!(t["nat"]["exit"]
        .as_str()
        .unwrap()
        .contains("stays inside the pod's network namespace"));
}

/// A TCP exchange from a pod to the internet host, across both SNATs.
pub fn tcp_exchange_pod_to_internet() {
    let _turn = dataplane_turn();
    let l = lab();
    let mut srv = http_server(&l.ns("internet"), "203.0.113.8");
    let points = vec![
        format!("pod:network-trace/nettools-pod-2=eth0@{}", l.ns("pod2")),
        format!("ens2f0np0=ens2f0np0@{}", l.ns("worker-1")),
        format!("bastion-out=ens3@{}", l.ns("bastion")),
    ];
    let doc = capture_json(&points, "tcp port 8080", "4", || fetch(&l.ns("pod2"), "http://203.0.113.8:8080/"));
    let _ = srv.kill();
    let _ = srv.wait();
    let got = labels(&doc);
    assert_eq!(&got[..3], ["handshake: SYN", "handshake: SYN-ACK", "handshake: ACK"], "{got:?}");
    assert!(got.iter().any(|x| x.starts_with("request: GET / HTTP/1.1")));
    let nat_uuid = l
        .nbctl(&["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.44"])
        .trim()
        .to_string();
    // The SYN: SNATed by that rule at the NIC, MASQUERADEd outside OVN at the bastion.
    let syn = doc["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"]["what"].as_str().unwrap().ends_with("[S]"))
        .unwrap();
    let rows = syn["rows"].as_array().unwrap();
    assert_eq!(rows[0]["src"], "10.128.2.44");
    assert_eq!(rows[1]["src"], "198.18.0.9");
    assert!(
        rows[1]["by"].as_array().unwrap().iter().any(|b| b == nat_uuid.as_str()),
        "{}",
        rows[1]
    );
    assert_eq!(rows[2]["src"], "198.51.100.29");
    assert!(rows[2]["what"].as_str().unwrap().contains("outside OVN"));
}

/// Pod to pod across the geneve tunnel; then an ACL that drops it on worker-2, located
/// between the underlay and the destination pod.
pub fn pod_to_pod_across_geneve_and_a_drop() {
    let _turn = dataplane_turn();
    let l = lab();
    let points = vec![
        format!("pod:network-trace/nettools-dual-pod=eth0@{}", l.ns("pod1")),
        format!("underlay=ovl-ul-w1@{}", l.ns("worker-1")),
        format!("pod:network-trace/nettools-w2=eth0@{}", l.ns("pod3")),
    ];
    let ping = || {
        let _ = Command::new("ip")
            .args(["netns", "exec", &lab().ns("pod1"), "ping", "-c", "1", "-W", "2", "10.128.4.5"])
            .output();
    };
    let sb = l.sb_sock();
    let validate = ["--sb-db", sb.as_str(), "--validate"];
    let doc = capture_json_with(&points, "icmp or udp port 6081", "3", &validate, ping);
    // The logical flows agree with the tunnel: what worker-2's egress pipeline starts with.
    let v = validation_from(&doc, "pod:network-trace/nettools-dual-pod");
    assert_eq!(
        (&v["status"], &v["next"], &v["output"]),
        (
            &Value::from("agrees"),
            &Value::from("underlay"),
            &Value::from("network-trace_nettools-w2")
        ),
        "{v:#}"
    );
    assert_eq!(v["verdicts"], serde_json::json!(["output network-trace_nettools-w2"]));
    // …and with the destination pod's capture, the same run's output to its port.
    assert_eq!(v["later"][0]["point"], "pod:network-trace/nettools-w2", "{v:#}");
    assert_eq!(v["later"][0]["status"], "agrees", "{v:#}");
    assert_eq!(v["later"][0]["output"], "network-trace_nettools-w2");
    let req = doc["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"]["forward"] == true)
        .expect("the echo request");
    let rows = req["rows"].as_array().unwrap();
    let key = l.sbctl(&[
        "--bare",
        "--columns=tunnel_key",
        "find",
        "Datapath_Binding",
        "external_ids:name=worker-2",
    ]);
    assert_eq!(
        rows[1]["vni"].as_i64().unwrap().to_string(),
        key.trim(),
        "geneve VNI = worker-2's tunnel key"
    );
    assert!(
        rows[1]["what"].as_str().unwrap().contains("routed by ovn_cluster_router"),
        "{}",
        rows[1]
    );
    assert_eq!(rows[2]["what"], "unchanged");
    assert!(req["lost"].is_null());
    // A to-lport ACL on worker-2 drops it after the tunnel, on worker-2.
    let acl = l.nbctl(&[
        "--id=@a",
        "create",
        "ACL",
        "priority=1001",
        "direction=to-lport",
        "match=\"ip4.dst == 10.128.4.5 && icmp4\"",
        "action=drop",
        "--",
        "add",
        "Logical_Switch",
        "worker-2",
        "acls",
        "@a",
    ]);
    l.nbctl(&["--wait=hv", "sync"]);
    let doc = capture_json_with(&points, "icmp or udp port 6081", "4", &validate, ping);
    l.nbctl(&["remove", "Logical_Switch", "worker-2", "acls", acl.trim()]);
    // The tunnel still agrees (the ACL applies after it, on worker-2), and the pipeline's
    // verdict is the drop.
    let v = validation_from(&doc, "pod:network-trace/nettools-dual-pod");
    assert_eq!(v["status"], "agrees", "{v:#}");
    assert_eq!(v["verdicts"], serde_json::json!(["drop"]), "{v:#}");
    // Not seen at the destination pod, where the pipeline does not send it: consistent.
    assert!(v["later"][0]["status"].as_str().unwrap().starts_with("agrees (not seen"), "{v:#}");
    l.nbctl(&["--wait=hv", "sync"]);
    let req = doc["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"]["forward"] == true)
        .expect("the echo request");
    let lost = req["lost"].as_str().unwrap_or_default();
    assert!(
        lost.starts_with("lost between underlay and pod:network-trace/nettools-w2"),
        "{req:#}"
    );
    // The model names the ACL ovn-nbctl created, and the stage that applies it.
    assert!(
        lost.contains(&format!("dropped by ACL {} (to-lport, priority 1001", acl.trim())) && lost.contains("stage ls_out_acl"),
        "{lost}"
    );
}

/// Traceroute-style UDP probes with TTL 1 and 2: each is lost after the host veth, and the
/// model names the router where its TTL runs out — the same router whose port address sends
/// the ICMP time-exceeded that tcpdump sees in the pod.
pub fn traceroute_probes_expire_at_the_right_router() {
    let _turn = dataplane_turn();
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let veth = l.veth_of("network-trace_nettools-pod-2");
    let pod_pcap = dir.path().join("pod.pcap");
    let pod_cap = crate::common::tcpdump_two(&l.ns("pod2"), "eth0", &pod_pcap, "icmp[icmptype] == icmp-timxceed");
    let points = vec![
        format!("pod=eth0@{}", l.ns("pod2")),
        format!("{veth}={veth}@{}", l.ns("worker-1")),
        format!("ens2f0np0=ens2f0np0@{}", l.ns("worker-1")),
    ];
    let probe = || {
        let py = "import socket\nfor ttl, port in ((1, 33434), (2, 33435)):\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)\n    s.sendto(b'ovnscope-probe', ('203.0.113.8', port))\n";
        let st = Command::new("ip")
            .args(["netns", "exec", &lab().ns("pod2"), "python3", "-c", py])
            .status()
            .unwrap();
        assert!(st.success());
    };
    let doc = capture_json(&points, "udp and (port 33434 or port 33435)", "3", probe);
    pod_cap.wait_with_output().unwrap();
    let lost = |port: u16| -> String {
        let p = doc["packets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"]["what"].as_str().unwrap().starts_with(&format!("udp dport {port} ")))
            .unwrap_or_else(|| panic!("probe {port}: {doc:#}"));
        p["lost"]
            .as_str()
            .unwrap_or_else(|| panic!("probe {port} not lost: {p:#}"))
            .to_string()
    };
    let (l1, l2) = (lost(33434), lost(33435));
    assert!(
        l1.starts_with(&format!("lost between {veth} and ens2f0np0")) && l1.contains("expires at ovn_cluster_router"),
        "{l1}"
    );
    assert!(
        l2.starts_with(&format!("lost between {veth} and ens2f0np0")) && l2.contains("expires at GR_worker-1"),
        "{l2}"
    );
    // What OVN really did: ICMP time exceeded from a port of each of those routers.
    let out = Command::new("tcpdump").args(["-nn", "-r"]).arg(&pod_pcap).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let senders: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(" IP ").nth(1)?.split(' ').next().map(str::to_string))
        .collect();
    assert_eq!(senders.len(), 2, "{text}");
    for (sender, router) in senders.iter().zip(["ovn_cluster_router", "GR_worker-1"]) {
        let owner = l.nbctl(&[
            "--bare",
            "--columns=name",
            "find",
            "Logical_Router_Port",
            &format!("networks{{>=}}\"{sender}/16\""),
        ]);
        let owner23 = l.nbctl(&[
            "--bare",
            "--columns=name",
            "find",
            "Logical_Router_Port",
            &format!("networks{{>=}}\"{sender}/23\""),
        ]);
        let port = format!("{}{}", owner.trim(), owner23.trim());
        let lr = l.nbctl(&[
            "--bare",
            "--columns=name",
            "find",
            "Logical_Router",
            &format!(
                "ports{{>=}}{}",
                l.nbctl(&["--bare", "--columns=_uuid", "find", "Logical_Router_Port", &format!("name={port}")])
                    .trim()
            ),
        ]);
        assert_eq!(lr.trim(), router, "time exceeded from {sender} ({port})");
    }
}

/// Pod to pod on one node: switched, not routed — every point sees the same headers.
pub fn pod_to_pod_on_one_node_is_switched() {
    let _turn = dataplane_turn();
    let l = lab();
    let (v1, v2) = (
        l.veth_of("network-trace_nettools-dual-pod"),
        l.veth_of("network-trace_nettools-pod-2"),
    );
    let points = vec![
        format!("pod1=eth0@{}", l.ns("pod1")),
        format!("{v1}={v1}@{}", l.ns("worker-1")),
        format!("{v2}={v2}@{}", l.ns("worker-1")),
        format!("pod2=eth0@{}", l.ns("pod2")),
    ];
    let doc = capture_json(&points, "icmp and host 10.128.2.44 and host 10.128.2.43", "3", || {
        let _ = Command::new("ip")
            .args(["netns", "exec", &lab().ns("pod1"), "ping", "-c", "1", "-W", "2", "10.128.2.44"])
            .output();
    });
    let packets = doc["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 2, "{doc:#}");
    for p in packets {
        let rows = p["rows"].as_array().unwrap();
        assert!(rows.iter().all(|r| r["seen"] == true), "{p:#}");
        assert!(rows[1..].iter().all(|r| r["what"] == "unchanged"), "switched, not routed: {p:#}");
        assert!(rows.iter().all(|r| r["ttl"] == 64), "no router decrements the TTL");
    }
}
