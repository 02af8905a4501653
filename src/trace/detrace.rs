//! OpenFlow cookies → logical flows, as `ovn-detrace` does, without Python: the cookie of an
//! OpenFlow flow that ovn-controller installed is the first 32 bits of the Southbound row it
//! came from (a Logical_Flow, or a Port_Binding for port-specific flows), and a logical flow's
//! `stage-hint` is the first 32 bits of the Northbound row behind it.

use crate::db::nb::NbDb;
use crate::db::sb::SbDb;
use crate::db::{DbKind, TableSpec};
use std::collections::HashMap;
use uuid::Uuid;

/// What annotation reads: the Northbound (its rows name what a flow came from) and the
/// Southbound's bindings and logical flows.
pub fn tables(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Ovs => vec![],
        DbKind::Nb => crate::db::nb::TABLES.to_vec(),
        DbKind::Sb => {
            let mut v = crate::db::sb::TABLES.to_vec();
            v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
            v
        }
    }
}

fn prefix(u: &Uuid) -> u32 {
    u.as_fields().0
}

/// Lookup tables by 32-bit prefix.
pub struct Index<'a> {
    sb: &'a SbDb,
    nb: Option<&'a NbDb>,
    flows: HashMap<u32, Vec<&'a crate::db::sb::LogicalFlow>>,
    bindings: HashMap<u32, Vec<&'a crate::db::sb::PortBinding>>,
    nb_rows: HashMap<u32, Vec<String>>,
}

impl<'a> Index<'a> {
    pub fn new(sb: &'a SbDb, nb: Option<&'a NbDb>) -> Self {
        let mut flows: HashMap<u32, Vec<_>> = HashMap::new();
        for f in sb.logical_flows.values() {
            flows.entry(prefix(&f.uuid)).or_default().push(f);
        }
        let mut bindings: HashMap<u32, Vec<_>> = HashMap::new();
        for b in sb.port_bindings.values() {
            bindings.entry(prefix(&b.uuid)).or_default().push(b);
        }
        let mut nb_rows: HashMap<u32, Vec<String>> = HashMap::new();
        if let Some(nb) = nb {
            let mut add = |u: &Uuid, s: String| nb_rows.entry(prefix(u)).or_default().push(s);
            for n in nb.nats.values() {
                add(
                    &n.uuid,
                    format!(
                        "NAT: type {} external IP {} logical IP {} ({})",
                        n.kind, n.external_ip, n.logical_ip, n.uuid
                    ),
                );
            }
            for a in nb.acls.values() {
                add(
                    &a.uuid,
                    format!(
                        "ACL: {} priority {} match ({}) action {} ({})",
                        a.direction, a.priority, a.match_, a.action, a.uuid
                    ),
                );
            }
            for p in nb.switch_ports.values() {
                add(&p.uuid, format!("Logical_Switch_Port: {} ({})", p.name, p.uuid));
            }
            for p in nb.router_ports.values() {
                add(
                    &p.uuid,
                    format!("Logical_Router_Port: {} {} {} ({})", p.name, p.mac, p.networks.join(" "), p.uuid),
                );
            }
            for r in nb.static_routes.values() {
                add(
                    &r.uuid,
                    format!("Logical_Router_Static_Route: {} via {} ({})", r.ip_prefix, r.nexthop, r.uuid),
                );
            }
            for p in nb.policies.values() {
                add(
                    &p.uuid,
                    format!(
                        "Logical_Router_Policy: priority {} match ({}) action {} ({})",
                        p.priority, p.match_, p.action, p.uuid
                    ),
                );
            }
            for l in nb.load_balancers.values() {
                add(&l.uuid, format!("Load_Balancer: {} ({} VIPs) ({})", l.name, l.vips.len(), l.uuid));
            }
            for s in nb.switches.values() {
                add(&s.uuid, format!("Logical_Switch: {} ({})", s.name, s.uuid));
            }
            for r in nb.routers.values() {
                add(&r.uuid, format!("Logical_Router: {} ({})", r.name, r.uuid));
            }
        }
        Index {
            sb,
            nb,
            flows,
            bindings,
            nb_rows,
        }
    }

    fn dp_name(&self, u: &Uuid) -> String {
        self.sb
            .datapaths
            .get(u)
            .map(|d| format!("\"{}\" ({u})", d.name()))
            .unwrap_or_else(|| u.to_string())
    }

    /// The annotation lines for one cookie.
    pub fn annotate(&self, cookie: u32) -> Vec<String> {
        let mut out = vec![];
        for f in self.flows.get(&cookie).into_iter().flatten() {
            let dir = if f.pipeline == "ingress" { "ingress" } else { "egress" };
            match (f.logical_datapath, f.logical_dp_group) {
                (Some(dp), _) => out.push(format!("  * Logical datapath: {} [{dir}]", self.dp_name(&dp))),
                (None, Some(g)) => {
                    out.push("  * Logical datapaths:".into());
                    for dp in self.sb.dp_groups.get(&g).into_iter().flatten() {
                        out.push(format!("  *     {} [{dir}]", self.dp_name(dp)));
                    }
                }
                _ => {}
            }
            out.push(format!(
                "  * Logical flow: table={} ({}), priority={}, match=({}), actions=({})",
                f.table_id,
                f.stage(),
                f.priority,
                f.match_,
                f.actions
            ));
            if let Some(h) = f.external_ids.get("stage-hint").and_then(|h| u32::from_str_radix(h, 16).ok()) {
                for r in self.nb_rows.get(&h).into_iter().flatten() {
                    out.push(format!("     * {r}"));
                }
            }
        }
        for b in self.bindings.get(&cookie).into_iter().flatten() {
            if let Some(dp) = b.datapath {
                out.push(format!("  * Logical datapath: {}", self.dp_name(&dp)));
            }
            out.push(format!(
                "  * Port Binding: logical_port \"{}\", tunnel_key {}",
                b.logical_port, b.tunnel_key
            ));
        }
        let _ = self.nb;
        out
    }
}

/// The cookie on a line of `ofproto/trace` (`cookie 0x…`) or `dump-flows` (`cookie=0x…`).
pub fn cookie_of(line: &str) -> Option<u32> {
    let i = line.find("cookie")?;
    let rest = line[i + 6..].trim_start_matches([' ', '=']);
    let hex = rest.strip_prefix("0x")?;
    let digits: String = hex.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    // dump-flows prints 64-bit cookies; ovn-controller puts the 32-bit prefix in the low bits.
    u64::from_str_radix(&digits, 16).ok().map(|v| v as u32).filter(|v| *v != 0)
}

/// Annotates every line that carries a cookie, after that line (ofproto/trace prints the
/// flow's actions after it, so the annotation goes after the actions of that step).
pub fn annotate_text(input: &str, idx: &Index) -> String {
    let mut out = String::new();
    let mut pending: Vec<String> = vec![];
    let dump_flows = input.lines().any(|l| l.contains(" cookie=0x"));
    for line in input.lines() {
        let starts_step = cookie_of(line).is_some() || line.trim().is_empty() || line.starts_with("bridge(");
        if !dump_flows && starts_step {
            for p in pending.drain(..) {
                out.push_str(&p);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
        if let Some(c) = cookie_of(line) {
            let lines = idx.annotate(c);
            if dump_flows {
                for l in lines {
                    out.push_str(&l);
                    out.push('\n');
                }
            } else {
                pending = lines;
            }
        }
    }
    for p in pending {
        out.push_str(&p);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cookie_of;

    #[test]
    fn cookies() {
        assert_eq!(cookie_of(" 0. in_port=2, priority 100, cookie 0x69706b33"), Some(0x69706b33));
        assert_eq!(cookie_of(" cookie=0xace845d7, duration=1.2s, table=45"), Some(0xace845d7));
        assert_eq!(cookie_of(" cookie=0x0, duration=1s"), None);
        assert_eq!(cookie_of("no cookie here"), None);
    }
}
