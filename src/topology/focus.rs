//! `--focus`: the whole chain for one pod, from its switch port down to the NIC's chassis and
//! up to the gateway router and the NAT rules that name it.

use super::build::{local_chassis, pod_identity, port_ips};
use crate::db::nb::{NbDb, SwitchPort};
use crate::db::ovs::OvsDb;
use crate::db::sb::SbDb;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub struct PortInfo {
    pub name: String,
    pub uuid: String,
    pub switch: Option<String>,
    pub mac: Option<String>,
    pub ips: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct IfaceInfo {
    pub name: String,
    pub uuid: String,
    /// The host-side ifindex: the N in the pod's `eth0@ifN`.
    pub ifindex: Option<i64>,
    pub ofport: Option<i64>,
    pub attached_mac: Option<String>,
    pub bridge: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NatInfo {
    pub uuid: String,
    pub kind: String,
    pub external_ip: String,
    pub logical_ip: String,
    /// `exact` (the pod's own address) or `cidr` (a prefix that contains it).
    pub matched: &'static str,
}

#[derive(Debug, Clone)]
pub struct Chain {
    pub query: String,
    pub namespace: String,
    pub pod: String,
    pub port: PortInfo,
    pub interface: Option<IfaceInfo>,
    pub chassis: Option<String>,
    pub encap_ips: Vec<String>,
    pub gateway_router: Option<String>,
    pub nat: Vec<NatInfo>,
    pub notes: Vec<String>,
}

/// The query matched no logical switch port.
#[derive(Debug, thiserror::Error)]
#[error("no pod, logical switch port or address matches {query:?}{hint}")]
pub struct NotFound {
    pub query: String,
    pub hint: String,
}

/// How a NAT rule's `logical_ip` covers a port address, as the chain's JSON names it.
fn covers(net: &str, ip: &str) -> Option<&'static str> {
    crate::lflow::covers(net, ip.parse().ok()?).map(|c| c.as_str())
}

/// Finds the switch port for `ns/pod`, an IP address, or a port name.
pub fn find_port<'a>(nb: &'a NbDb, query: &str) -> Result<&'a SwitchPort, NotFound> {
    let by_name = |n: &str| nb.switch_ports.values().find(|p| p.name == n);
    let found = if let Some((ns, pod)) = query.split_once('/') {
        by_name(&format!("{ns}_{pod}"))
    } else if query.parse::<IpAddr>().is_ok() {
        nb.switch_ports
            .values()
            .find(|p| port_ips(p).iter().any(|a| a.split('/').next() == Some(query)))
    } else {
        by_name(query)
    };
    found.ok_or_else(|| {
        let needle = query.rsplit('/').next().unwrap_or(query);
        let mut close: Vec<&str> = nb
            .switch_ports
            .values()
            .map(|p| p.name.as_str())
            .filter(|n| n.contains(needle))
            .take(5)
            .collect();
        close.sort();
        NotFound {
            query: query.into(),
            hint: if close.is_empty() {
                "; give NAMESPACE/POD, an IP address, or a logical switch port name".into()
            } else {
                format!("; close: {}", close.join(", "))
            },
        }
    })
}

pub fn focus(query: &str, ovs: Option<&OvsDb>, nb: &NbDb, sb: Option<&SbDb>) -> Result<Chain, NotFound> {
    let p = find_port(nb, query)?;
    let (namespace, pod) = pod_identity(p);
    let switch = nb.switches.values().find(|s| s.ports.contains(&p.uuid)).map(|s| s.name.clone());
    let ips: Vec<String> = port_ips(p);
    let mut notes = vec![];
    let port = PortInfo {
        name: p.name.clone(),
        uuid: p.uuid.to_string(),
        switch: switch.clone(),
        mac: p.addresses.first().and_then(|a| a.split_whitespace().next()).map(str::to_string),
        ips: ips.clone(),
    };
    // The OVS side: the interface whose iface-id names this port, on this database's chassis.
    let interface = ovs.and_then(|o| {
        let i = o.interfaces.values().find(|i| i.iface_id() == Some(p.name.as_str()))?;
        let bridge = o
            .bridges
            .values()
            .find(|b| {
                b.ports
                    .iter()
                    .filter_map(|pu| o.ports.get(pu))
                    .any(|port| port.interfaces.contains(&i.uuid))
            })
            .map(|b| b.name.clone());
        Some(IfaceInfo {
            name: i.name.clone(),
            uuid: i.uuid.to_string(),
            ifindex: i.ifindex,
            ofport: i.ofport,
            attached_mac: i.external_ids.get("attached_mac").cloned(),
            bridge,
        })
    });
    // The chassis: the Southbound binding says where the port is; else the OVS database's own.
    let sb_chassis = sb.and_then(|s| {
        let pb = s.port_bindings.values().find(|b| b.logical_port == p.name)?;
        s.chassis
            .get(&pb.chassis?)
            .map(|c| (c.name.clone(), s.encaps_of(c).iter().map(|e| e.ip.clone()).collect::<Vec<_>>()))
    });
    let (chassis, encap_ips) = match (sb_chassis, ovs) {
        (Some((c, ips)), _) => (Some(c), ips),
        (None, Some(o)) if interface.is_some() => {
            let ext = o.system.as_ref().map(|s| s.external_ids.clone()).unwrap_or_default();
            (
                Some(local_chassis(o)),
                ext.get("ovn-encap-ip").map(|i| vec![i.clone()]).unwrap_or_default(),
            )
        }
        _ => (None, vec![]),
    };
    if ovs.is_some() && interface.is_none() {
        notes.push(match &chassis {
            Some(c) => format!(
                "no OVS interface has iface-id {} in this Open_vSwitch database; the port is bound on chassis {c}",
                p.name
            ),
            None => format!("no OVS interface has iface-id {} in this Open_vSwitch database", p.name),
        });
    }
    // The gateway router pinned to that chassis (OVN-Kubernetes: GR_<node>).
    let gr = nb
        .routers_sorted()
        .into_iter()
        .find(|r| chassis.is_some() && r.gateway_chassis() == chassis.as_deref())
        .or_else(|| {
            switch
                .as_ref()
                .and_then(|s| nb.routers.values().find(|r| r.name == format!("GR_{s}")))
        });
    let mut nat = vec![];
    if let Some(gr) = gr {
        for n in nb.nats_of(gr) {
            if let Some(m) = ips.iter().find_map(|ip| covers(&n.logical_ip, ip.split('/').next().unwrap_or(ip))) {
                nat.push(NatInfo {
                    uuid: n.uuid.to_string(),
                    kind: n.kind.clone(),
                    external_ip: n.external_ip.clone(),
                    logical_ip: n.logical_ip.clone(),
                    matched: m,
                });
            }
        }
        if nat.is_empty() {
            notes.push(format!("no NAT rule on {} names {}", gr.name, ips.join(", ")));
        }
    } else {
        notes.push("no gateway router is pinned to the pod's chassis".into());
    }
    Ok(Chain {
        query: query.into(),
        namespace,
        pod,
        port,
        interface,
        chassis,
        encap_ips,
        gateway_router: gr.map(|r| r.name.clone()),
        nat,
        notes,
    })
}

impl Chain {
    /// The chain as an indented tree for people.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let mut depth = 0;
        let mut line = |s: String, o: &mut String| {
            if depth == 0 {
                o.push_str(&s);
            } else {
                o.push_str(&format!("{}└─ {s}", "   ".repeat(depth - 1)));
            }
            o.push('\n');
            depth += 1;
        };
        line(
            format!(
                "pod {}/{}  {}  {}",
                self.namespace,
                self.pod,
                self.port.ips.join(" "),
                self.port.mac.as_deref().unwrap_or("")
            ),
            &mut o,
        );
        line(
            format!(
                "switch port {} on switch {}",
                self.port.name,
                self.port.switch.as_deref().unwrap_or("?")
            ),
            &mut o,
        );
        if let Some(i) = &self.interface {
            let idx = i
                .ifindex
                .map(|n| format!("ifindex {n} (the pod's eth0@if{n})"))
                .unwrap_or_else(|| "ifindex ?".into());
            line(
                format!(
                    "OVS interface {}  {idx}  ofport {}",
                    i.name,
                    i.ofport.map(|p| p.to_string()).unwrap_or("?".into())
                ),
                &mut o,
            );
            line(format!("bridge {}", i.bridge.as_deref().unwrap_or("?")), &mut o);
        }
        if let Some(c) = &self.chassis {
            line(
                format!(
                    "chassis {c}{}",
                    if self.encap_ips.is_empty() {
                        String::new()
                    } else {
                        format!(" (encap {})", self.encap_ips.join(", "))
                    }
                ),
                &mut o,
            );
        }
        if let Some(gr) = &self.gateway_router {
            line(format!("gateway router {gr}"), &mut o);
            let pad = "   ".repeat(depth - 1);
            for n in &self.nat {
                o.push_str(&format!(
                    "{pad}└─ NAT {} {} ← {}  ({}, uuid {})\n",
                    n.kind, n.external_ip, n.logical_ip, n.matched, n.uuid
                ));
            }
        }
        for n in &self.notes {
            o.push_str(&format!("note: {n}\n"));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn nat_logical_ip_cover() {
        assert_eq!(covers("10.128.2.43", "10.128.2.43"), Some("exact"));
        assert_eq!(covers("10.128.2.43/32", "10.128.2.43"), Some("exact"));
        assert_eq!(covers("10.128.2.0/23", "10.128.3.7"), Some("cidr"));
        assert_eq!(covers("10.128.2.0/24", "10.128.3.7"), None);
        assert_eq!(covers("10.128.2.44", "10.128.2.43"), None);
        assert_eq!(covers("garbage", "10.128.2.43"), None);
    }
}
