//! `show --format json`: one section per database read (absent when not read), with where it
//! came from and the database schema's name and version.

use crate::db::{nb::NbDb, ovs::OvsDb, sb::SbDb, DbKind, Loaded};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

type Map = BTreeMap<String, String>;

/// One zone's (or a centralised deployment's) document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Show {
    pub schema: u32,
    #[serde(flatten)]
    pub sections: Sections,
}

/// `show` over a cluster: each zone's sections, under its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub schema: u32,
    pub zones: Vec<Zone>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Zone {
    /// The zone's name (its node).
    pub zone: String,
    #[serde(flatten)]
    pub sections: Sections,
}

/// The sections of the databases read (absent when not read) and the schema warnings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ovs: Option<Ovs>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nb: Option<Nb>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sb: Option<Sb>,
    /// Wanted columns or tables the server's schema lacks.
    pub warnings: Vec<String>,
}

/// The database schema a section was read with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbSchema {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ovs {
    pub system_id: Option<String>,
    pub hostname: Option<String>,
    pub ovs_version: Option<String>,
    pub external_ids: Option<Map>,
    pub bridges: Vec<Bridge>,
    pub source: String,
    pub schema: DbSchema,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    pub uuid: String,
    pub name: String,
    pub datapath_type: String,
    pub fail_mode: Option<String>,
    pub ports: Vec<Port>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub uuid: String,
    pub name: String,
    pub tag: Option<i64>,
    pub interfaces: Vec<Interface>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub uuid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub options: Map,
    pub ofport: Option<i64>,
    pub ifindex: Option<i64>,
    pub iface_id: Option<String>,
    pub mac_in_use: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb {
    pub name: Option<String>,
    pub switches: Vec<Switch>,
    pub routers: Vec<Router>,
    pub source: String,
    pub schema: DbSchema,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub uuid: String,
    pub name: String,
    pub other_config: Map,
    pub ports: Vec<SwitchPort>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchPort {
    pub uuid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub addresses: Vec<String>,
    pub options: Map,
    pub parent_name: Option<String>,
    pub tag: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Router {
    pub uuid: String,
    pub name: String,
    /// The chassis a gateway router is pinned to (`options:chassis`).
    pub chassis: Option<String>,
    pub options: Map,
    pub ports: Vec<RouterPort>,
    pub nat: Vec<Nat>,
    pub static_routes: Vec<StaticRoute>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterPort {
    pub uuid: String,
    pub name: String,
    pub mac: String,
    pub networks: Vec<String>,
    pub peer: Option<String>,
    pub gateway_chassis: Vec<GatewayChassis>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayChassis {
    pub name: String,
    pub chassis_name: String,
    pub priority: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub external_ip: String,
    pub logical_ip: String,
    pub logical_port: Option<String>,
    pub external_mac: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    pub uuid: String,
    pub ip_prefix: String,
    pub nexthop: String,
    /// `dst-ip` (the default) or `src-ip`.
    pub policy: String,
    pub output_port: Option<String>,
    pub route_table: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sb {
    pub chassis: Vec<Chassis>,
    pub source: String,
    pub schema: DbSchema,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chassis {
    pub uuid: String,
    pub name: String,
    pub hostname: String,
    pub encaps: Vec<Encap>,
    /// The logical ports bound to this chassis.
    pub port_bindings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encap {
    #[serde(rename = "type")]
    pub kind: String,
    pub ip: String,
    pub options: Map,
}

impl Show {
    pub fn from_loaded(loaded: &[Loaded]) -> Show {
        Show {
            schema: super::VERSION,
            sections: Sections::from_loaded(loaded),
        }
    }
}

impl Cluster {
    /// Zones by name, with what was read of each.
    pub fn from_zones<'a>(zones: impl IntoIterator<Item = (&'a str, &'a [Loaded])>) -> Cluster {
        Cluster {
            schema: super::VERSION,
            zones: zones
                .into_iter()
                .map(|(name, loaded)| Zone {
                    zone: name.to_string(),
                    sections: Sections::from_loaded(loaded),
                })
                .collect(),
        }
    }
}

impl Sections {
    pub fn from_loaded(loaded: &[Loaded]) -> Sections {
        let mut doc = Sections {
            ovs: None,
            nb: None,
            sb: None,
            warnings: vec![],
        };
        for l in loaded {
            doc.warnings.extend(l.warnings.iter().cloned());
            let schema = DbSchema {
                name: l.snapshot.schema.name.clone(),
                version: l.snapshot.schema.version.clone(),
            };
            let source = l.source.clone();
            match l.kind {
                DbKind::Ovs => doc.ovs = Some(ovs(&OvsDb::from_loaded(l), source, schema)),
                DbKind::Nb => doc.nb = Some(nb(&NbDb::from_loaded(l), source, schema)),
                DbKind::Sb => doc.sb = Some(sb(&SbDb::from_loaded(l), source, schema)),
            }
        }
        doc
    }
}

fn ovs(o: &OvsDb, source: String, schema: DbSchema) -> Ovs {
    let sys = o.system.as_ref();
    Ovs {
        system_id: sys.and_then(|s| s.external_ids.get("system-id").cloned()),
        hostname: sys.and_then(|s| s.external_ids.get("hostname").cloned()),
        ovs_version: sys.and_then(|s| s.ovs_version.clone()),
        external_ids: sys.map(|s| s.external_ids.clone()),
        bridges: o
            .bridges_sorted()
            .iter()
            .map(|b| Bridge {
                uuid: b.uuid.to_string(),
                name: b.name.clone(),
                datapath_type: b.datapath_type.clone(),
                fail_mode: b.fail_mode.clone(),
                ports: o
                    .ports_of(b)
                    .iter()
                    .map(|p| Port {
                        uuid: p.uuid.to_string(),
                        name: p.name.clone(),
                        tag: p.tag,
                        interfaces: o
                            .interfaces_of(p)
                            .iter()
                            .map(|i| Interface {
                                uuid: i.uuid.to_string(),
                                name: i.name.clone(),
                                kind: i.kind.clone(),
                                options: i.options.clone(),
                                ofport: i.ofport,
                                ifindex: i.ifindex,
                                iface_id: i.iface_id().map(str::to_string),
                                mac_in_use: i.mac_in_use.clone(),
                                error: i.error.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        source,
        schema,
    }
}

fn nb(n: &NbDb, source: String, schema: DbSchema) -> Nb {
    Nb {
        name: n.name.clone(),
        switches: n
            .switches_sorted()
            .iter()
            .map(|s| Switch {
                uuid: s.uuid.to_string(),
                name: s.name.clone(),
                other_config: s.other_config.clone(),
                ports: n
                    .ports_of(s)
                    .iter()
                    .map(|p| SwitchPort {
                        uuid: p.uuid.to_string(),
                        name: p.name.clone(),
                        kind: p.kind.clone(),
                        addresses: p.addresses.clone(),
                        options: p.options.clone(),
                        parent_name: p.parent_name.clone(),
                        tag: p.tag,
                    })
                    .collect(),
            })
            .collect(),
        routers: n
            .routers_sorted()
            .iter()
            .map(|r| Router {
                uuid: r.uuid.to_string(),
                name: r.name.clone(),
                chassis: r.gateway_chassis().map(str::to_string),
                options: r.options.clone(),
                ports: n
                    .router_ports_of(r)
                    .iter()
                    .map(|p| RouterPort {
                        uuid: p.uuid.to_string(),
                        name: p.name.clone(),
                        mac: p.mac.clone(),
                        networks: p.networks.clone(),
                        peer: p.peer.clone(),
                        gateway_chassis: p
                            .gateway_chassis
                            .iter()
                            .filter_map(|g| n.gateway_chassis.get(g))
                            .map(|g| GatewayChassis {
                                name: g.name.clone(),
                                chassis_name: g.chassis_name.clone(),
                                priority: g.priority,
                            })
                            .collect(),
                    })
                    .collect(),
                nat: n
                    .nats_of(r)
                    .iter()
                    .map(|x| Nat {
                        uuid: x.uuid.to_string(),
                        kind: x.kind.clone(),
                        external_ip: x.external_ip.clone(),
                        logical_ip: x.logical_ip.clone(),
                        logical_port: x.logical_port.clone(),
                        external_mac: x.external_mac.clone(),
                    })
                    .collect(),
                static_routes: n
                    .routes_of(r)
                    .iter()
                    .map(|s| StaticRoute {
                        uuid: s.uuid.to_string(),
                        ip_prefix: s.ip_prefix.clone(),
                        nexthop: s.nexthop.clone(),
                        policy: s.policy.clone().unwrap_or_else(|| "dst-ip".into()),
                        output_port: s.output_port.clone(),
                        route_table: s.route_table.clone(),
                    })
                    .collect(),
            })
            .collect(),
        source,
        schema,
    }
}

fn sb(s: &SbDb, source: String, schema: DbSchema) -> Sb {
    Sb {
        chassis: s
            .chassis_sorted()
            .iter()
            .map(|c| Chassis {
                uuid: c.uuid.to_string(),
                name: c.name.clone(),
                hostname: c.hostname.clone(),
                encaps: s
                    .encaps_of(c)
                    .iter()
                    .map(|e| Encap {
                        kind: e.kind.clone(),
                        ip: e.ip.clone(),
                        options: e.options.clone(),
                    })
                    .collect(),
                port_bindings: s.bindings_on(c).into_iter().map(str::to_string).collect(),
            })
            .collect(),
        source,
        schema,
    }
}
