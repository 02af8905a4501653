//! `trace --ovs`: under each logical flow of a trace, the OpenFlow flows it became on the bridge,
//! as `ovn-trace --ovs` shows them. ovn-controller sets an OpenFlow flow's cookie to the first
//! 32 bits of the logical flow's UUID, so the flows are asked for by cookie.
//!
//! OpenFlow is not OVSDB and ovnscope does not speak it: the flows come from `ovs-ofctl
//! dump-flows` (a read; the same formatter ovn-trace uses prints them), the one place this
//! module touches the system.

use crate::lflow::{Node, Trace};
use std::collections::HashMap;
use std::process::Command;

/// Where ovn-trace looks by default: the integration bridge's management socket.
pub fn default_remote() -> String {
    let rundir = std::env::var("OVS_RUNDIR").unwrap_or_else(|_| "/var/run/openvswitch".into());
    format!("unix:{rundir}/br-int.mgmt")
}

/// What went wrong asking the bridge: the command and its own words.
#[derive(Debug, thiserror::Error)]
#[error("cannot read OpenFlow flows from {remote}: {why} (is ovs-vswitchd running there? give the bridge's socket with --ovs=unix:PATH/br-int.mgmt)")]
pub struct Error {
    pub remote: String,
    pub why: String,
}

/// Puts, first under each table step of `t`, the OpenFlow flows whose cookie is its logical
/// flow's, or `*** no OpenFlow flows` (ovn-trace's words) when the bridge has none.
pub fn annotate(t: &mut Trace, remote: &str) -> Result<(), Error> {
    let mut cache: HashMap<String, Vec<String>> = HashMap::new();
    annotate_nodes(&mut t.nodes, remote, &mut cache)
}

fn annotate_nodes(nodes: &mut [Node], remote: &str, cache: &mut HashMap<String, Vec<String>>) -> Result<(), Error> {
    for n in nodes {
        match n {
            Node::Table { uuid, children, .. } => {
                let cookie: String = uuid.chars().take(8).collect();
                if !cache.contains_key(&cookie) {
                    let flows = dump(remote, &cookie)?;
                    cache.insert(cookie.clone(), flows);
                }
                annotate_nodes(children, remote, cache)?;
                let flows = &cache[&cookie];
                let mut first: Vec<Node> = if flows.is_empty() {
                    vec![Node::Error {
                        text: "*** no OpenFlow flows".into(),
                    }]
                } else {
                    flows.iter().map(|f| Node::Action { text: f.clone() }).collect()
                };
                first.append(children);
                *children = first;
            }
            Node::Pipeline { children, .. } | Node::Transform { children, .. } => annotate_nodes(children, remote, cache)?,
            _ => {}
        }
    }
    Ok(())
}

/// The bridge's flows with this cookie, as `ovs-ofctl` prints them (OpenFlow 1.5, port numbers
/// rather than names, as ovn-trace prints them).
fn dump(remote: &str, cookie: &str) -> Result<Vec<String>, Error> {
    let err = |why: String| Error {
        remote: remote.to_string(),
        why,
    };
    let out = Command::new("ovs-ofctl")
        .args([
            "-O",
            "OpenFlow15",
            "--no-names",
            "dump-flows",
            remote,
            &format!("cookie=0x{cookie}/-1"),
        ])
        .output()
        .map_err(|e| err(format!("ovs-ofctl: {e} (it comes with Open vSwitch: openvswitch-common)")))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(flows_of(&String::from_utf8_lossy(&out.stdout)))
}

/// The flow lines of a `dump-flows` reply (its `OFPST_FLOW reply` header line left out).
fn flows_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines_without_the_header() {
        let text = "OFPST_FLOW reply (OF1.5) (xid=0x2):\n cookie=0x1f2e3d4c, duration=1.5s, table=8, n_packets=0, n_bytes=0, priority=50,metadata=0x1 actions=resubmit(,9)\n";
        assert_eq!(
            flows_of(text),
            ["cookie=0x1f2e3d4c, duration=1.5s, table=8, n_packets=0, n_bytes=0, priority=50,metadata=0x1 actions=resubmit(,9)"]
        );
        assert!(flows_of("OFPST_FLOW reply (OF1.5) (xid=0x2):\n").is_empty());
    }
}
