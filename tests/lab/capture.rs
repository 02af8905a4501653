//! `ovnscope capture` live in the lab's namespaces: a ping captured at three points, explained,
//! and written to a pcapng that tcpdump reads back, with the explanations as comments.

use crate::common::dataplane_turn;
use crate::lab;
use std::process::{Command, Stdio};

pub fn live_capture_explained_and_written() {
    let _turn = dataplane_turn();
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.pcapng");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovnscope"))
        .args([
            "capture",
            "--nb-db",
            &l.nb_sock(),
            "-f",
            "json",
            "--filter",
            "icmp",
            "--count",
            "6",
            "--duration",
            "15",
            "-w",
        ])
        .arg(&out)
        .args(["--point", &format!("pod:network-trace/nettools-pod-2=eth0@{}", l.ns("pod2"))])
        .args(["--point", &format!("ens2f0np0=ens2f0np0@{}", l.ns("worker-1"))])
        .args(["--point", &format!("bastion-out=ens3@{}", l.ns("bastion"))])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut err, progress) = crate::common::wait_ready(&mut child, "capturing on 3 point(s)");
    let ping = Command::new("ip")
        .args(["netns", "exec", &l.ns("pod2"), "ping", "-c", "1", "-W", "3", "203.0.113.8"])
        .output()
        .unwrap();
    assert!(ping.status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{progress}{rest}");
    // Progress as packets arrive: one line per packet, then the file.
    assert_eq!(rest.lines().filter(|l| l.contains("icmp echo")).count(), 6, "{rest}");
    assert!(rest.contains("wrote 6 packets to"), "{rest}");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let packets = doc["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 2);
    let fwd = packets.iter().find(|p| p["key"]["forward"] == true).unwrap();
    let nic = fwd["rows"].as_array().unwrap().iter().find(|r| r["point"] == "ens2f0np0").unwrap();
    let nat_uuid = l
        .nbctl(&["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.44"])
        .trim()
        .to_string();
    assert!(nic["by"].as_array().unwrap().iter().any(|b| b == nat_uuid.as_str()), "{nic}");
    // tcpdump reads the pcapng back: six packets, the addresses of each point.
    let r = Command::new("tcpdump").args(["-nn", "-r"]).arg(&out).output().unwrap();
    let text = String::from_utf8(r.stdout).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    for s in [
        "10.128.2.44 > 203.0.113.8",
        "198.18.0.9 > 203.0.113.8",
        "198.51.100.29 > 203.0.113.8",
        "203.0.113.8 > 10.128.2.44",
    ] {
        assert!(text.contains(s), "{s} in {text}");
    }
    // Each packet carries its explanation as a pcapng comment; each point is an interface.
    let bytes = std::fs::read(&out).unwrap();
    let hay = String::from_utf8_lossy(&bytes);
    assert!(
        hay.contains("ovnscope: icmp echo") && hay.contains("SNAT 10.128.2.44 → 198.18.0.9"),
        "comments"
    );
    assert!(
        hay.contains("pod:network-trace/nettools-pod-2") && hay.contains("bastion-out"),
        "interface names"
    );

    // Errors: a malformed point is a usage error; an interface that does not exist, exit 3.
    let (code, _, _) = l.ovnscope(&["capture", "--nb-db", &l.nb_sock(), "--point", "nothing"]);
    assert_eq!(code, 2);
    let (code, _, err) = l.ovnscope(&[
        "capture",
        "--nb-db",
        &l.nb_sock(),
        "--point",
        &format!("x=nosuch0@{}", l.ns("pod2")),
        "--count",
        "1",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot capture at point x") && err.contains("nosuch0"), "{err}");
    // One good point and one in a namespace that does not exist: the command stops cleanly,
    // naming the bad one (no hang, the good one's capture ended).
    let (code, _, err) = l.ovnscope(&[
        "capture",
        "--nb-db",
        &l.nb_sock(),
        "--point",
        &format!("good=eth0@{}", l.ns("pod2")),
        "--point",
        "bad=eth0@ovst-nosuchns",
        "--duration",
        "30",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("cannot capture at point bad") && err.contains("no network namespace ovst-nosuchns"),
        "{err}"
    );
}

/// `capture --pod … --to <a pod on worker-2> --probe icmp` in the centralised lab: the points
/// include the underlay NIC the geneve frames leave by (the physical port of the node's own
/// underlay bridge, as ovs-vsctl lists it), and the echoes seen there carry the VNI the
/// prediction names.
pub fn capture_chooses_the_underlay_toward_another_node() {
    let _turn = dataplane_turn();
    let l = lab();
    let out = Command::new(env!("CARGO_BIN_EXE_ovnscope"))
        .args(l.with_dbs(
            "capture",
            &[
                "--pod",
                "network-trace/nettools-dual-pod",
                "--to",
                "10.128.4.5",
                "--probe",
                "icmp",
                "-f",
                "json",
            ],
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let ports = l.vsctl(&["list-ports", "br-phy"]);
    let nic = ports.lines().next().unwrap().trim().to_string();
    assert!(err.contains(&format!("  underlay:{nic}={nic}@{}  (", l.ns("worker-1"))), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let args = l.with_dbs(
        "trace",
        &["--from", "network-trace/nettools-dual-pod", "--to", "10.128.4.5", "-f", "json"],
    );
    let predicted = l.ovnscope_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let vni = predicted["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "tunnel")
        .unwrap()["vni"]
        .clone();
    let seen: Vec<&serde_json::Value> = j["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["key"]["forward"] == true)
        .flat_map(|p| {
            p["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["point"] == format!("underlay:{nic}") && r["seen"] == true)
        })
        .collect();
    assert!(!seen.is_empty(), "{j:#}");
    for r in seen {
        assert_eq!(r["vni"], vni, "{r:#}");
    }
}
