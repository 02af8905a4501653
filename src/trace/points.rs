//! Where to capture a pod's traffic, from the model and the host: the predicted path's
//! capturable points (the pod's eth0, its host veth, the NIC the traffic leaves by, the
//! destination pod), each placed in the network namespace that holds it — the pod's found by
//! its address, the node's as the namespace its ovs-vswitchd runs in.

use super::path::Prediction;
use crate::capture::live::Point;
use crate::capture::netns;
use std::net::IpAddr;

/// A capture point and why it was chosen.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub point: Point,
    pub why: String,
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// The namespace whose interface holds `ip`: the only one, or, when several do (labs side by
/// side), the one whose name shares the most with the node's.
fn holder(ip: IpAddr, node: Option<&str>) -> Result<(Option<String>, String), String> {
    let mut found = netns::find_addresses(ip);
    match found.len() {
        0 => Err(format!(
            "no network namespace here has an interface with {ip}; is this the pod's node?"
        )),
        1 => Ok(found.remove(0)),
        _ => {
            let Some(node) = node else {
                let names: Vec<String> = found
                    .iter()
                    .map(|(n, i)| format!("{i}@{}", n.as_deref().unwrap_or("(this one)")))
                    .collect();
                return Err(format!(
                    "several network namespaces have {ip} ({}); capture with --point instead",
                    names.join(", ")
                ));
            };
            found.sort_by_key(|(n, _)| std::cmp::Reverse(n.as_deref().map_or(0, |n| common_prefix(n, node))));
            Ok(found.remove(0))
        }
    }
}

/// The points of `p` that can be captured, placed; the node's namespace is `node` (`None`:
/// where ovnscope runs). Points that cannot be captured by name are said so in `notes`.
pub fn choose(p: &Prediction, node: Option<&str>) -> Result<(Vec<Chosen>, Vec<String>), String> {
    let mut out = vec![];
    let mut notes = vec![];
    let at = |ns: &Option<String>| ns.as_deref().map(|n| format!(" in netns {n}")).unwrap_or_default();
    for x in &p.points {
        match x.kind {
            "pod-eth0" => {
                let ip = if out.is_empty() { x.src } else { x.dst };
                let (ns, iface) = holder(ip, node)?;
                out.push(Chosen {
                    why: format!("{}: the interface holding {ip}{}", x.note, at(&ns)),
                    point: Point {
                        name: x.name.clone(),
                        iface,
                        netns: ns,
                    },
                });
            }
            "host-veth" | "nic" => {
                let ns = node.map(str::to_string);
                out.push(Chosen {
                    why: format!("{}{}", x.note, at(&ns)),
                    point: Point {
                        name: x.name.clone(),
                        iface: x.name.clone(),
                        netns: ns,
                    },
                });
            }
            "tunnel" => notes.push(format!(
                "{} is an OVS tunnel port, not a capturable interface; add --point NAME=IFACE[@NETNS] for the underlay NIC",
                x.name
            )),
            _ => {}
        }
    }
    Ok((out, notes))
}
