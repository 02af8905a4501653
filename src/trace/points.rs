//! Where to capture a pod's traffic, from the model and the host: the predicted path's
//! capturable points (the pod's eth0, its host veth, the NIC the traffic leaves by, the
//! destination pod), each placed in the network namespace that holds it — the pod's found by
//! its address, the node's as the namespace its ovs-vswitchd runs in.

use super::path::Prediction;
use crate::capture::live::Point;
use crate::capture::netns;
use crate::db::ovs::OvsDb;
use crate::topology::build::iface_kind;
use crate::topology::IfaceKind;
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

/// The NIC geneve leaves by: the physical port of the bridge that carries the node's encap
/// address — a bridge of its own besides br-int (an underlay bridge, `br-phy` in the lab),
/// else the bridge the localnet network maps to (OpenShift's br-ex carries the node IP).
fn underlay_nic(ovs: &OvsDb) -> Option<(String, String)> {
    let ext = ovs.system.as_ref().map(|s| s.external_ids.clone()).unwrap_or_default();
    let int = ext.get("ovn-bridge").cloned().unwrap_or_else(|| "br-int".into());
    let mapped: Vec<String> = ext
        .get("ovn-bridge-mappings")
        .map(|m| m.split(',').filter_map(|x| x.split_once(':')).map(|(_, b)| b.to_string()).collect())
        .unwrap_or_default();
    let nic_of = |b: &crate::db::ovs::Bridge| {
        ovs.ports_of(b)
            .into_iter()
            .flat_map(|p| ovs.interfaces_of(p))
            .find(|i| iface_kind(i) == IfaceKind::System)
            .map(|i| (b.name.clone(), i.name.clone()))
    };
    let bridges = ovs.bridges_sorted();
    bridges
        .iter()
        .filter(|b| b.name != int && !mapped.contains(&b.name))
        .find_map(|b| nic_of(b))
        .or_else(|| bridges.iter().filter(|b| mapped.contains(&b.name)).find_map(|b| nic_of(b)))
}

/// The points of `p` that can be captured, placed; the node's namespace is `node` (`None`:
/// where ovnscope runs). Points that cannot be captured by name are said so in `notes`.
pub fn choose(p: &Prediction, ovs: Option<&OvsDb>, node: Option<&str>) -> Result<(Vec<Chosen>, Vec<String>), String> {
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
            "tunnel" => match ovs.and_then(underlay_nic) {
                Some((bridge, nic)) => {
                    let ns = node.map(str::to_string);
                    out.push(Chosen {
                        why: format!("the underlay NIC on {bridge}, where {} leaves as geneve{}", x.name, at(&ns)),
                        point: Point {
                            name: format!("underlay:{nic}"),
                            iface: nic,
                            netns: ns,
                        },
                    });
                }
                None => notes.push(format!(
                    "{} is an OVS tunnel port, not a capturable interface, and no underlay NIC was found; add --point NAME=IFACE[@NETNS]",
                    x.name
                )),
            },
            _ => {}
        }
    }
    Ok((out, notes))
}
