//! `ovnscope detrace` against `ovn-detrace` on the same `ofproto/trace` of a pod's packet:
//! the same logical flow for every OpenFlow cookie.

use crate::lab;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

fn pipe(cmd: &mut Command, input: &str) -> String {
    let mut c = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The "Logical flow:" lines, with quotes removed: ovn-detrace 23.03 drops the closing quote
/// of a port name in a match (`inport == "rtos-worker-1)`), ovnscope prints the match as is.
fn flow_lines(s: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in s.lines().filter(|l| l.trim_start().starts_with("* Logical flow:")) {
        *m.entry(l.trim().replace('"', "")).or_default() += 1;
    }
    m
}

pub fn cookies_annotated_like_ovn_detrace() {
    let l = lab();
    let veth = l.veth_of("network-trace_nettools-dual-pod");
    let ofport = l.vsctl(&["get", "Interface", &veth, "ofport"]);
    let flow = format!("in_port={},icmp,dl_src=0a:58:0a:80:02:2b,dl_dst=0a:58:0a:80:02:01,nw_src=10.128.2.43,nw_dst=203.0.113.8,nw_ttl=64,icmp_type=8,icmp_code=0", ofport.trim());
    let trace = l.run("ovs-appctl", &["ofproto/trace", "br-int", &flow]);
    assert!(trace.contains("cookie 0x"));
    let ours = pipe(
        Command::new(env!("CARGO_BIN_EXE_ovnscope")).args(["detrace", "--nb-db", &l.nb_sock(), "--sb-db", &l.sb_sock()]),
        &trace,
    );
    // ovn-detrace is Python and needs the system interpreter's `ovs` package (python3-openvswitch).
    let theirs = pipe(
        Command::new("/usr/bin/python3")
            .arg("/usr/bin/ovn-detrace")
            .arg(format!("--ovnnb={}", l.nb_sock()))
            .arg(format!("--ovnsb={}", l.sb_sock())),
        &trace,
    );
    let (a, b) = (flow_lines(&ours), flow_lines(&theirs));
    assert!(b.len() > 20, "ovn-detrace annotated {} flows", b.len());
    let only_ours: Vec<_> = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).collect();
    let only_theirs: Vec<_> = b.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "ours only: {only_ours:#?}\ntheirs only: {only_theirs:#?}"
    );
    // And the Northbound row behind the SNAT flow.
    let nat = l.nbctl(&["--bare", "--columns=_uuid", "find", "NAT", "logical_ip=10.128.2.43"]);
    assert!(
        ours.contains(&format!(
            "NAT: type snat external IP 198.18.0.9 logical IP 10.128.2.43 ({})",
            nat.trim()
        )),
        "{ours}"
    );
}
