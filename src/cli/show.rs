//! `ovnscope show`: the inventory of the three databases, in the spirit of `ovs-vsctl show`,
//! `ovn-nbctl show` and `ovn-sbctl show`, or as JSON.

use super::dbopts::{load_all, DbArgs};
use super::{Failure, Format, Outcome, UsageError};
use crate::db::{nb::NbDb, ovs::OvsDb, sb::SbDb, views, DbKind, Loaded, Views};
use clap::Args;
use serde_json::{json, Value};
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
    let loaded = load_all(&a.db, &views::everything).await?;
    if let Some(q) = &a.focus {
        let v = Views::from_loaded(&loaded);
        super::warn(&v.warnings);
        let (text, _) = super::topology::focus_output(&v, q, a.format == Format::Json)?;
        return Ok(Outcome::Answer(text));
    }
    let doc = to_json(&loaded);
    for w in doc["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
    Ok(Outcome::Answer(match a.format {
        Format::Json => serde_json::to_string_pretty(&doc)? + "\n",
        Format::Text => to_text(&doc),
    }))
}

fn map_json(m: &BTreeMap<String, String>) -> Value {
    json!(m)
}

/// The documented JSON schema of `show` (README "show --format json").
pub fn to_json(loaded: &[Loaded]) -> Value {
    let mut doc = serde_json::Map::new();
    let mut warnings = vec![];
    for l in loaded {
        warnings.extend(l.warnings.iter().cloned());
        let schema = &l.snapshot.schema;
        let section = match l.kind {
            DbKind::Ovs => ovs_json(&OvsDb::from_loaded(l)),
            DbKind::Nb => nb_json(&NbDb::from_loaded(l)),
            DbKind::Sb => sb_json(&SbDb::from_loaded(l)),
        };
        let mut section = section.as_object().cloned().unwrap_or_default();
        section.insert("source".into(), json!(l.source));
        section.insert("schema".into(), json!({"name": schema.name, "version": schema.version}));
        doc.insert(format!("{:?}", l.kind).to_lowercase(), Value::Object(section));
    }
    doc.insert("warnings".into(), json!(warnings));
    Value::Object(doc)
}

fn ovs_json(o: &OvsDb) -> Value {
    let sys = o.system.as_ref();
    json!({
        "system_id": sys.and_then(|s| s.external_ids.get("system-id")),
        "hostname": sys.and_then(|s| s.external_ids.get("hostname")),
        "ovs_version": sys.and_then(|s| s.ovs_version.clone()),
        "external_ids": sys.map(|s| map_json(&s.external_ids)),
        "bridges": o.bridges_sorted().iter().map(|b| json!({
            "uuid": b.uuid.to_string(),
            "name": b.name,
            "datapath_type": b.datapath_type,
            "fail_mode": b.fail_mode,
            "ports": o.ports_of(b).iter().map(|p| json!({
                "uuid": p.uuid.to_string(),
                "name": p.name,
                "tag": p.tag,
                "interfaces": o.interfaces_of(p).iter().map(|i| json!({
                    "uuid": i.uuid.to_string(),
                    "name": i.name,
                    "type": i.kind,
                    "options": map_json(&i.options),
                    "ofport": i.ofport,
                    "ifindex": i.ifindex,
                    "iface_id": i.iface_id(),
                    "mac_in_use": i.mac_in_use,
                    "error": i.error,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn nb_json(n: &NbDb) -> Value {
    json!({
        "name": n.name,
        "switches": n.switches_sorted().iter().map(|s| json!({
            "uuid": s.uuid.to_string(),
            "name": s.name,
            "other_config": map_json(&s.other_config),
            "ports": n.ports_of(s).iter().map(|p| json!({
                "uuid": p.uuid.to_string(),
                "name": p.name,
                "type": p.kind,
                "addresses": p.addresses,
                "options": map_json(&p.options),
                "parent_name": p.parent_name,
                "tag": p.tag,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "routers": n.routers_sorted().iter().map(|r| json!({
            "uuid": r.uuid.to_string(),
            "name": r.name,
            "chassis": r.gateway_chassis(),
            "options": map_json(&r.options),
            "ports": n.router_ports_of(r).iter().map(|p| json!({
                "uuid": p.uuid.to_string(),
                "name": p.name,
                "mac": p.mac,
                "networks": p.networks,
                "peer": p.peer,
                "gateway_chassis": p.gateway_chassis.iter().filter_map(|g| n.gateway_chassis.get(g))
                    .map(|g| json!({"name": g.name, "chassis_name": g.chassis_name, "priority": g.priority})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "nat": n.nats_of(r).iter().map(|x| json!({
                "uuid": x.uuid.to_string(),
                "type": x.kind,
                "external_ip": x.external_ip,
                "logical_ip": x.logical_ip,
                "logical_port": x.logical_port,
                "external_mac": x.external_mac,
            })).collect::<Vec<_>>(),
            "static_routes": n.routes_of(r).iter().map(|s| json!({
                "uuid": s.uuid.to_string(),
                "ip_prefix": s.ip_prefix,
                "nexthop": s.nexthop,
                "policy": s.policy.clone().unwrap_or_else(|| "dst-ip".into()),
                "output_port": s.output_port,
                "route_table": s.route_table,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn sb_json(s: &SbDb) -> Value {
    json!({
        "chassis": s.chassis_sorted().iter().map(|c| json!({
            "uuid": c.uuid.to_string(),
            "name": c.name,
            "hostname": c.hostname,
            "encaps": s.encaps_of(c).iter().map(|e| json!({"type": e.kind, "ip": e.ip, "options": map_json(&e.options)})).collect::<Vec<_>>(),
            "port_bindings": s.bindings_on(c),
        })).collect::<Vec<_>>(),
    })
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn opt_map(v: &Value) -> Option<String> {
    let o = v.as_object().filter(|o| !o.is_empty())?;
    Some(format!(
        "{{{}}}",
        o.iter()
            .map(|(k, v)| format!("{k}={}", q(v.as_str().unwrap_or_default())))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

fn arr<'a>(v: &'a Value, k: &str) -> impl Iterator<Item = &'a Value> {
    v[k].as_array().into_iter().flatten()
}

/// Human text, section by section, from the JSON document (one source of truth for both).
pub fn to_text(doc: &Value) -> String {
    let mut o = String::new();
    if let Some(ovs) = doc.get("ovs") {
        let _ = writeln!(o, "Open_vSwitch {} ({})", s(ovs, "system_id"), s(ovs, "source"));
        for b in arr(ovs, "bridges") {
            let _ = writeln!(o, "    Bridge {}", s(b, "name"));
            if let Some(f) = b["fail_mode"].as_str() {
                let _ = writeln!(o, "        fail_mode: {f}");
            }
            if !s(b, "datapath_type").is_empty() {
                let _ = writeln!(o, "        datapath_type: {}", s(b, "datapath_type"));
            }
            for p in arr(b, "ports") {
                let _ = writeln!(o, "        Port {}", s(p, "name"));
                for i in arr(p, "interfaces") {
                    let mut extra = vec![];
                    if let Some(n) = i["ofport"].as_i64() {
                        extra.push(format!("ofport {n}"));
                    }
                    if let Some(n) = i["ifindex"].as_i64().filter(|n| *n > 0) {
                        extra.push(format!("ifindex {n}"));
                    }
                    if let Some(id) = i["iface_id"].as_str() {
                        extra.push(format!("iface-id {id}"));
                    }
                    let _ = writeln!(
                        o,
                        "            Interface {}{}",
                        s(i, "name"),
                        if extra.is_empty() {
                            String::new()
                        } else {
                            format!("  ({})", extra.join(", "))
                        }
                    );
                    if !s(i, "type").is_empty() {
                        let _ = writeln!(o, "                type: {}", s(i, "type"));
                    }
                    if let Some(m) = opt_map(&i["options"]) {
                        let _ = writeln!(o, "                options: {m}");
                    }
                    if let Some(e) = i["error"].as_str() {
                        let _ = writeln!(o, "                error: {}", q(e));
                    }
                }
            }
        }
        if let Some(v) = ovs["ovs_version"].as_str() {
            let _ = writeln!(o, "    ovs_version: {}", q(v));
        }
    }
    if let Some(nb) = doc.get("nb") {
        let _ = writeln!(o, "OVN_Northbound ({})", s(nb, "source"));
        for sw in arr(nb, "switches") {
            let _ = writeln!(o, "    switch {} ({})", s(sw, "uuid"), s(sw, "name"));
            for p in arr(sw, "ports") {
                let _ = writeln!(o, "        port {}", s(p, "name"));
                if !s(p, "type").is_empty() {
                    let _ = writeln!(o, "            type: {}", s(p, "type"));
                }
                if let Some(rp) = p["options"]["router-port"].as_str() {
                    let _ = writeln!(o, "            router-port: {rp}");
                }
                let addrs: Vec<String> = arr(p, "addresses").filter_map(Value::as_str).map(q).collect();
                if !addrs.is_empty() && s(p, "type") != "router" {
                    let _ = writeln!(o, "            addresses: [{}]", addrs.join(", "));
                }
            }
        }
        for r in arr(nb, "routers") {
            let _ = writeln!(o, "    router {} ({})", s(r, "uuid"), s(r, "name"));
            if let Some(c) = r["chassis"].as_str() {
                let _ = writeln!(o, "        chassis: {c}");
            }
            for p in arr(r, "ports") {
                let _ = writeln!(o, "        port {}", s(p, "name"));
                let _ = writeln!(o, "            mac: {}", q(s(p, "mac")));
                let nets: Vec<String> = arr(p, "networks").filter_map(Value::as_str).map(q).collect();
                let _ = writeln!(o, "            networks: [{}]", nets.join(", "));
                for g in arr(p, "gateway_chassis") {
                    let _ = writeln!(
                        o,
                        "            gateway chassis: {} (priority {})",
                        s(g, "chassis_name"),
                        g["priority"]
                    );
                }
            }
            for n in arr(r, "nat") {
                let _ = writeln!(o, "        nat {}", s(n, "uuid"));
                let _ = writeln!(o, "            external ip: {}", q(s(n, "external_ip")));
                let _ = writeln!(o, "            logical ip: {}", q(s(n, "logical_ip")));
                if let Some(lp) = n["logical_port"].as_str() {
                    let _ = writeln!(o, "            logical port: {}", q(lp));
                }
                let _ = writeln!(o, "            type: {}", q(s(n, "type")));
            }
            for rt in arr(r, "static_routes") {
                let _ = writeln!(
                    o,
                    "        route {} via {} {}{}",
                    s(rt, "ip_prefix"),
                    s(rt, "nexthop"),
                    s(rt, "policy"),
                    rt["output_port"].as_str().map(|p| format!(" {p}")).unwrap_or_default()
                );
            }
        }
    }
    if let Some(sb) = doc.get("sb") {
        let _ = writeln!(o, "OVN_Southbound ({})", s(sb, "source"));
        for c in arr(sb, "chassis") {
            let _ = writeln!(o, "    Chassis {}", s(c, "name"));
            let _ = writeln!(o, "        hostname: {}", s(c, "hostname"));
            for e in arr(c, "encaps") {
                let _ = writeln!(o, "        Encap {}", s(e, "type"));
                let _ = writeln!(o, "            ip: {}", q(s(e, "ip")));
                if let Some(m) = opt_map(&e["options"]) {
                    let _ = writeln!(o, "            options: {m}");
                }
            }
            for p in arr(c, "port_bindings").filter_map(Value::as_str) {
                let _ = writeln!(o, "        Port_Binding {p}");
            }
        }
    }
    o
}
