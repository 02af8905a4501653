//! `ovnscope show`: the inventory of the three databases, in the spirit of `ovs-vsctl show`,
//! `ovn-nbctl show` and `ovn-sbctl show`, or as JSON.

use super::dbopts::{load_all, load_zones, DbArgs, Zone};
use super::{Failure, Format, Outcome, UsageError};
use crate::db::{views, Conditions, Views};
use crate::wire::{self, show::Sections, show::Show};
use clap::Args;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Instead of everything: one pod's chain (NAMESPACE/POD, an IP address or a logical switch
    /// port), as `topology --focus` prints it.
    #[arg(long, value_name = "POD|IP|LSP")]
    pub focus: Option<String>,
}

pub async fn run(a: ShowArgs) -> Result<Outcome, Failure> {
    if a.db.node.is_some() && a.db.must_gather.is_none() {
        return Err(UsageError("show: --node selects a node of a --must-gather".into()).into());
    }
    // `--focus` follows a pod through every table; the inventory needs less of the Southbound.
    let tables = if a.focus.is_some() { views::everything } else { views::inventory };
    if let Some(zones) = load_zones(&a.db, &tables, &|_| Conditions::new()).await? {
        return cluster(&a, &zones);
    }
    let loaded = load_all(&a.db, &tables).await?;
    if let Some(q) = &a.focus {
        let v = Views::from_loaded(&loaded);
        super::warn(&v.warnings);
        let (text, _) = super::topology::focus_output(&v, q, a.format == Format::Json)?;
        return Ok(Outcome::Answer(text));
    }
    let doc = Show::from_loaded(&loaded);
    super::warn(&doc.sections.warnings);
    Ok(Outcome::Answer(match a.format {
        Format::Json => wire::pretty(&doc)?,
        Format::Text => to_text(&doc.sections),
    }))
}

/// Every zone of a cluster, one after the other; `--focus` in the zone that holds the pod.
fn cluster(a: &ShowArgs, zones: &[Zone]) -> Result<Outcome, Failure> {
    if let Some(q) = &a.focus {
        let mut first_miss = None;
        for z in zones {
            let v = Views::from_loaded(&z.loaded);
            match super::topology::focus_output(&v, q, a.format == Format::Json) {
                Ok((text, _)) => return Ok(Outcome::Answer(text)),
                Err(e @ Failure::NotFound(_)) => {
                    first_miss.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        return Err(first_miss.unwrap_or_else(|| Failure::NotFound(format!("no zone holds {q:?}"))));
    }
    let doc = wire::show::Cluster::from_zones(zones.iter().map(|z| (z.name.as_str(), z.loaded.as_slice())));
    for z in &doc.zones {
        let w: Vec<String> = z.sections.warnings.iter().map(|w| format!("zone {}: {w}", z.zone)).collect();
        super::warn(&w);
    }
    Ok(Outcome::Answer(match a.format {
        Format::Json => wire::pretty(&doc)?,
        Format::Text => doc
            .zones
            .iter()
            .map(|z| {
                let body: String = to_text(&z.sections).lines().map(|l| format!("    {l}\n")).collect();
                format!("Zone {}\n{body}", z.zone)
            })
            .collect(),
    }))
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// `{k="v", …}`, or nothing for an empty map.
fn opt_map(m: &BTreeMap<String, String>) -> Option<String> {
    if m.is_empty() {
        return None;
    }
    Some(format!(
        "{{{}}}",
        m.iter().map(|(k, v)| format!("{k}={}", q(v))).collect::<Vec<_>>().join(", ")
    ))
}

/// Human text, section by section, from the JSON document (one source of truth for both).
pub fn to_text(doc: &Sections) -> String {
    let mut o = String::new();
    if let Some(ovs) = &doc.ovs {
        let _ = writeln!(o, "Open_vSwitch {} ({})", ovs.system_id.as_deref().unwrap_or_default(), ovs.source);
        for b in &ovs.bridges {
            let _ = writeln!(o, "    Bridge {}", b.name);
            if let Some(f) = &b.fail_mode {
                let _ = writeln!(o, "        fail_mode: {f}");
            }
            if !b.datapath_type.is_empty() {
                let _ = writeln!(o, "        datapath_type: {}", b.datapath_type);
            }
            for p in &b.ports {
                let _ = writeln!(o, "        Port {}", p.name);
                for i in &p.interfaces {
                    let mut extra = vec![];
                    if let Some(n) = i.ofport {
                        extra.push(format!("ofport {n}"));
                    }
                    if let Some(n) = i.ifindex.filter(|n| *n > 0) {
                        extra.push(format!("ifindex {n}"));
                    }
                    if let Some(id) = &i.iface_id {
                        extra.push(format!("iface-id {id}"));
                    }
                    let _ = writeln!(
                        o,
                        "            Interface {}{}",
                        i.name,
                        if extra.is_empty() {
                            String::new()
                        } else {
                            format!("  ({})", extra.join(", "))
                        }
                    );
                    if !i.kind.is_empty() {
                        let _ = writeln!(o, "                type: {}", i.kind);
                    }
                    if let Some(m) = opt_map(&i.options) {
                        let _ = writeln!(o, "                options: {m}");
                    }
                    if let Some(e) = &i.error {
                        let _ = writeln!(o, "                error: {}", q(e));
                    }
                }
            }
        }
        if let Some(v) = &ovs.ovs_version {
            let _ = writeln!(o, "    ovs_version: {}", q(v));
        }
    }
    if let Some(nb) = &doc.nb {
        let _ = writeln!(o, "OVN_Northbound ({})", nb.source);
        for sw in &nb.switches {
            let _ = writeln!(o, "    switch {} ({})", sw.uuid, sw.name);
            for p in &sw.ports {
                let _ = writeln!(o, "        port {}", p.name);
                if !p.kind.is_empty() {
                    let _ = writeln!(o, "            type: {}", p.kind);
                }
                if let Some(rp) = p.options.get("router-port") {
                    let _ = writeln!(o, "            router-port: {rp}");
                }
                let addrs: Vec<String> = p.addresses.iter().map(|a| q(a)).collect();
                if !addrs.is_empty() && p.kind != "router" {
                    let _ = writeln!(o, "            addresses: [{}]", addrs.join(", "));
                }
            }
        }
        for r in &nb.routers {
            let _ = writeln!(o, "    router {} ({})", r.uuid, r.name);
            if let Some(c) = &r.chassis {
                let _ = writeln!(o, "        chassis: {c}");
            }
            for p in &r.ports {
                let _ = writeln!(o, "        port {}", p.name);
                let _ = writeln!(o, "            mac: {}", q(&p.mac));
                let nets: Vec<String> = p.networks.iter().map(|n| q(n)).collect();
                let _ = writeln!(o, "            networks: [{}]", nets.join(", "));
                for g in &p.gateway_chassis {
                    let _ = writeln!(o, "            gateway chassis: {} (priority {})", g.chassis_name, g.priority);
                }
            }
            for n in &r.nat {
                let _ = writeln!(o, "        nat {}", n.uuid);
                let _ = writeln!(o, "            external ip: {}", q(&n.external_ip));
                let _ = writeln!(o, "            logical ip: {}", q(&n.logical_ip));
                if let Some(lp) = &n.logical_port {
                    let _ = writeln!(o, "            logical port: {}", q(lp));
                }
                let _ = writeln!(o, "            type: {}", q(&n.kind));
            }
            for rt in &r.static_routes {
                let _ = writeln!(
                    o,
                    "        route {} via {} {}{}",
                    rt.ip_prefix,
                    rt.nexthop,
                    rt.policy,
                    rt.output_port.as_ref().map(|p| format!(" {p}")).unwrap_or_default()
                );
            }
        }
    }
    if let Some(sb) = &doc.sb {
        let _ = writeln!(o, "OVN_Southbound ({})", sb.source);
        for c in &sb.chassis {
            let _ = writeln!(o, "    Chassis {}", c.name);
            let _ = writeln!(o, "        hostname: {}", c.hostname);
            for e in &c.encaps {
                let _ = writeln!(o, "        Encap {}", e.kind);
                let _ = writeln!(o, "            ip: {}", q(&e.ip));
                if let Some(m) = opt_map(&e.options) {
                    let _ = writeln!(o, "            options: {m}");
                }
            }
            for p in &c.port_bindings {
                let _ = writeln!(o, "        Port_Binding {p}");
            }
        }
    }
    o
}
