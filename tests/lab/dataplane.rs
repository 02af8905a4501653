//! The lab's dataplane is real: a ping from the pod leaves the node NIC SNATed by OVN to the
//! GR's address and leaves the bastion MASQUERADEd, as tcpdump sees it.

use crate::lab;
use std::process::{Child, Command, Stdio};

/// tcpdump in a lab namespace, ready when it says "listening on".
fn tcpdump(ns: &str, iface: &str) -> Child {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "tcpdump", "-l", "-nn", "-i", iface, "-c", "2", "icmp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::common::wait_ready(&mut child, "listening on");
    child
}

pub fn ping_from_pod_crosses_both_snats() {
    let _turn = crate::common::dataplane_turn();
    let l = lab();
    let nic = tcpdump(&l.ns("worker-1"), "ens2f0np0");
    let outside = tcpdump(&l.ns("bastion"), "ens3");
    let ping = Command::new("ip")
        .args(["netns", "exec", &l.ns("pod1"), "ping", "-c", "1", "-W", "3", "203.0.113.8"])
        .output()
        .unwrap();
    assert!(ping.status.success(), "{}", String::from_utf8_lossy(&ping.stdout));
    let nic = String::from_utf8(nic.wait_with_output().unwrap().stdout).unwrap();
    let outside = String::from_utf8(outside.wait_with_output().unwrap().stdout).unwrap();
    assert!(nic.contains("IP 198.18.0.9 > 203.0.113.8: ICMP echo request"), "node NIC:\n{nic}");
    assert!(nic.contains("IP 203.0.113.8 > 198.18.0.9: ICMP echo reply"), "node NIC:\n{nic}");
    assert!(
        outside.contains("IP 198.51.100.29 > 203.0.113.8: ICMP echo request"),
        "beyond the bastion:\n{outside}"
    );
    assert!(!nic.contains("10.128.2.43"), "the pod address must not leak past OVN");
}
