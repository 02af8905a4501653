//! `ovnscope explain` on real captures: one ping from a pod, tcpdump at five points (pod eth0,
//! host veth, node NIC, bastion inside, bastion outside), compared with what tcpdump itself
//! reads from the same files and with the NAT rule ovn-nbctl reports.

use crate::lab;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn capture(ns: &str, iface: &str, file: &std::path::Path, filter: &str) -> Child {
    let mut c = Command::new("ip")
        .args(["netns", "exec", ns, "tcpdump", "-U", "-i", iface, "-w"])
        .arg(file)
        .args(["-c", "2", filter])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(c.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("listening on") {
        assert!(err.read_line(&mut seen).unwrap() > 0, "tcpdump: {seen}");
    }
    c
}

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
    let _turn = crate::common::dataplane_turn();
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let veth = l
        .vsctl(&[
            "--bare",
            "--columns=name",
            "find",
            "Interface",
            "external_ids:iface-id=network-trace_nettools-pod-2",
        ])
        .trim()
        .to_string();
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
        children.push(capture(ns, iface, &f, filter));
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
