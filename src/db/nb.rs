//! The OVN Northbound database: the logical network as the CMS (ovn-kubernetes) wrote it.

use super::{load::TableSpec, Loaded, RowView};
use std::collections::BTreeMap;
use uuid::Uuid;

pub const TABLES: &[TableSpec] = &[
    TableSpec {
        table: "NB_Global",
        columns: &["name", "options", "external_ids", "nb_cfg", "sb_cfg", "hv_cfg"],
    },
    TableSpec {
        table: "Logical_Switch",
        columns: &["name", "ports", "acls", "load_balancer", "other_config", "external_ids"],
    },
    TableSpec {
        table: "Logical_Switch_Port",
        columns: &[
            "name",
            "type",
            "addresses",
            "dynamic_addresses",
            "port_security",
            "options",
            "external_ids",
            "parent_name",
            "tag",
            "up",
            "enabled",
            "ha_chassis_group",
        ],
    },
    TableSpec {
        table: "Logical_Router",
        columns: &[
            "name",
            "ports",
            "static_routes",
            "policies",
            "nat",
            "load_balancer",
            "options",
            "external_ids",
            "enabled",
        ],
    },
    TableSpec {
        table: "Logical_Router_Port",
        columns: &[
            "name",
            "mac",
            "networks",
            "peer",
            "options",
            "gateway_chassis",
            "ha_chassis_group",
            "external_ids",
            "enabled",
        ],
    },
    TableSpec {
        table: "Logical_Router_Static_Route",
        columns: &[
            "ip_prefix",
            "nexthop",
            "output_port",
            "policy",
            "route_table",
            "options",
            "external_ids",
        ],
    },
    TableSpec {
        table: "Logical_Router_Policy",
        columns: &["priority", "match", "action", "nexthop", "nexthops", "options", "external_ids"],
    },
    TableSpec {
        table: "NAT",
        columns: &[
            "type",
            "external_ip",
            "external_mac",
            "external_port_range",
            "logical_ip",
            "logical_port",
            "gateway_port",
            "allowed_ext_ips",
            "exempted_ext_ips",
            "options",
            "external_ids",
            "match",
            "priority",
        ],
    },
    TableSpec {
        table: "Load_Balancer",
        columns: &["name", "vips", "protocol", "options", "external_ids"],
    },
    TableSpec {
        table: "Gateway_Chassis",
        columns: &["name", "chassis_name", "priority", "options", "external_ids"],
    },
    TableSpec {
        table: "HA_Chassis_Group",
        columns: &["name", "ha_chassis", "external_ids"],
    },
    TableSpec {
        table: "HA_Chassis",
        columns: &["chassis_name", "priority", "external_ids"],
    },
    TableSpec {
        table: "ACL",
        columns: &["name", "priority", "direction", "match", "action", "log", "options", "external_ids"],
    },
    TableSpec {
        table: "Port_Group",
        columns: &["name", "ports", "acls", "external_ids"],
    },
    TableSpec {
        table: "Address_Set",
        columns: &["name", "addresses", "external_ids"],
    },
];

type Map = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct Switch {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
    pub acls: Vec<Uuid>,
    pub load_balancers: Vec<Uuid>,
    pub other_config: Map,
    pub external_ids: Map,
}

#[derive(Debug, Clone)]
pub struct SwitchPort {
    pub uuid: Uuid,
    pub name: String,
    /// `""` (a VIF such as a pod), `router`, `localnet`, `remote`, `patch`, …
    pub kind: String,
    pub addresses: Vec<String>,
    pub dynamic_addresses: Option<String>,
    pub port_security: Vec<String>,
    pub options: Map,
    pub external_ids: Map,
    pub parent_name: Option<String>,
    pub tag: Option<i64>,
    pub up: Option<bool>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Router {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
    pub static_routes: Vec<Uuid>,
    pub policies: Vec<Uuid>,
    pub nat: Vec<Uuid>,
    pub load_balancers: Vec<Uuid>,
    pub options: Map,
    pub external_ids: Map,
    pub enabled: Option<bool>,
}

impl Router {
    /// A gateway router is bound to one chassis by `options:chassis`.
    pub fn gateway_chassis(&self) -> Option<&str> {
        self.options.get("chassis").map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct RouterPort {
    pub uuid: Uuid,
    pub name: String,
    pub mac: String,
    pub networks: Vec<String>,
    pub peer: Option<String>,
    pub options: Map,
    pub gateway_chassis: Vec<Uuid>,
    pub ha_chassis_group: Option<Uuid>,
    pub external_ids: Map,
}

#[derive(Debug, Clone)]
pub struct StaticRoute {
    pub uuid: Uuid,
    pub ip_prefix: String,
    pub nexthop: String,
    pub output_port: Option<String>,
    /// `dst-ip` (the default when unset) or `src-ip`.
    pub policy: Option<String>,
    pub route_table: String,
    pub options: Map,
    pub external_ids: Map,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub uuid: Uuid,
    pub priority: i64,
    pub match_: String,
    pub action: String,
    pub nexthop: Option<String>,
    pub nexthops: Vec<String>,
    pub options: Map,
    pub external_ids: Map,
}

#[derive(Debug, Clone)]
pub struct Nat {
    pub uuid: Uuid,
    /// `snat`, `dnat` or `dnat_and_snat`.
    pub kind: String,
    pub external_ip: String,
    pub external_mac: Option<String>,
    pub external_port_range: String,
    pub logical_ip: String,
    pub logical_port: Option<String>,
    pub gateway_port: Option<Uuid>,
    pub allowed_ext_ips: Option<Uuid>,
    pub exempted_ext_ips: Option<Uuid>,
    pub options: Map,
    pub external_ids: Map,
    /// 24.09+: more match for the rule's flows (empty: none, and on older schemas).
    pub match_: String,
    /// 24.09+: the rule's priority, which counts only with a `match`.
    pub priority: i64,
}

#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub uuid: Uuid,
    pub name: String,
    pub vips: Map,
    pub protocol: Option<String>,
    pub options: Map,
    pub external_ids: Map,
}

#[derive(Debug, Clone)]
pub struct GatewayChassis {
    pub uuid: Uuid,
    pub name: String,
    pub chassis_name: String,
    pub priority: i64,
}

#[derive(Debug, Clone)]
pub struct HaChassisGroup {
    pub uuid: Uuid,
    pub name: String,
    pub ha_chassis: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct HaChassis {
    pub uuid: Uuid,
    pub chassis_name: String,
    pub priority: i64,
}

#[derive(Debug, Clone)]
pub struct Acl {
    pub uuid: Uuid,
    pub name: Option<String>,
    pub priority: i64,
    pub direction: String,
    pub match_: String,
    pub action: String,
    pub log: bool,
    pub external_ids: Map,
}

#[derive(Debug, Clone)]
pub struct PortGroup {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
    pub acls: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct AddressSet {
    pub uuid: Uuid,
    pub name: String,
    pub addresses: Vec<String>,
}

/// The whole Northbound view.
#[derive(Debug, Clone, Default)]
pub struct NbDb {
    pub name: Option<String>,
    pub global_options: Map,
    pub switches: BTreeMap<Uuid, Switch>,
    pub switch_ports: BTreeMap<Uuid, SwitchPort>,
    pub routers: BTreeMap<Uuid, Router>,
    pub router_ports: BTreeMap<Uuid, RouterPort>,
    pub static_routes: BTreeMap<Uuid, StaticRoute>,
    pub policies: BTreeMap<Uuid, Policy>,
    pub nats: BTreeMap<Uuid, Nat>,
    pub load_balancers: BTreeMap<Uuid, LoadBalancer>,
    pub gateway_chassis: BTreeMap<Uuid, GatewayChassis>,
    pub ha_chassis_groups: BTreeMap<Uuid, HaChassisGroup>,
    pub ha_chassis: BTreeMap<Uuid, HaChassis>,
    pub acls: BTreeMap<Uuid, Acl>,
    pub port_groups: BTreeMap<Uuid, PortGroup>,
    pub address_sets: BTreeMap<Uuid, AddressSet>,
}

fn rows<'a, T>(l: &'a Loaded, table: &'a str, f: impl Fn(RowView<'a>) -> T + 'a) -> BTreeMap<Uuid, T> {
    RowView::all(&l.snapshot, table).map(|r| (r.uuid, f(r))).collect()
}

impl NbDb {
    pub fn from_loaded(l: &Loaded) -> Self {
        let global = RowView::all(&l.snapshot, "NB_Global").next();
        NbDb {
            name: global.and_then(|g| g.opt_str("name")).filter(|n| !n.is_empty()),
            global_options: global.map(|g| g.map("options")).unwrap_or_default(),
            switches: rows(l, "Logical_Switch", |r| Switch {
                uuid: r.uuid,
                name: r.str("name"),
                ports: r.uuids("ports"),
                acls: r.uuids("acls"),
                load_balancers: r.uuids("load_balancer"),
                other_config: r.map("other_config"),
                external_ids: r.map("external_ids"),
            }),
            switch_ports: rows(l, "Logical_Switch_Port", |r| SwitchPort {
                uuid: r.uuid,
                name: r.str("name"),
                kind: r.str("type"),
                addresses: r.strs("addresses"),
                dynamic_addresses: r.opt_str("dynamic_addresses"),
                port_security: r.strs("port_security"),
                options: r.map("options"),
                external_ids: r.map("external_ids"),
                parent_name: r.opt_str("parent_name"),
                tag: r.int("tag"),
                up: r.bool("up"),
                enabled: r.bool("enabled"),
            }),
            routers: rows(l, "Logical_Router", |r| Router {
                uuid: r.uuid,
                name: r.str("name"),
                ports: r.uuids("ports"),
                static_routes: r.uuids("static_routes"),
                policies: r.uuids("policies"),
                nat: r.uuids("nat"),
                load_balancers: r.uuids("load_balancer"),
                options: r.map("options"),
                external_ids: r.map("external_ids"),
                enabled: r.bool("enabled"),
            }),
            router_ports: rows(l, "Logical_Router_Port", |r| RouterPort {
                uuid: r.uuid,
                name: r.str("name"),
                mac: r.str("mac"),
                networks: r.strs("networks"),
                peer: r.opt_str("peer"),
                options: r.map("options"),
                gateway_chassis: r.uuids("gateway_chassis"),
                ha_chassis_group: r.uuid("ha_chassis_group"),
                external_ids: r.map("external_ids"),
            }),
            static_routes: rows(l, "Logical_Router_Static_Route", |r| StaticRoute {
                uuid: r.uuid,
                ip_prefix: r.str("ip_prefix"),
                nexthop: r.str("nexthop"),
                output_port: r.opt_str("output_port"),
                policy: r.opt_str("policy"),
                route_table: r.str("route_table"),
                options: r.map("options"),
                external_ids: r.map("external_ids"),
            }),
            policies: rows(l, "Logical_Router_Policy", |r| Policy {
                uuid: r.uuid,
                priority: r.int("priority").unwrap_or(0),
                match_: r.str("match"),
                action: r.str("action"),
                nexthop: r.opt_str("nexthop"),
                nexthops: r.strs("nexthops"),
                options: r.map("options"),
                external_ids: r.map("external_ids"),
            }),
            nats: rows(l, "NAT", |r| Nat {
                uuid: r.uuid,
                kind: r.str("type"),
                external_ip: r.str("external_ip"),
                external_mac: r.opt_str("external_mac"),
                external_port_range: r.str("external_port_range"),
                logical_ip: r.str("logical_ip"),
                logical_port: r.opt_str("logical_port"),
                gateway_port: r.uuid("gateway_port"),
                allowed_ext_ips: r.uuid("allowed_ext_ips"),
                exempted_ext_ips: r.uuid("exempted_ext_ips"),
                options: r.map("options"),
                external_ids: r.map("external_ids"),
                match_: r.str("match"),
                priority: r.int("priority").unwrap_or(0),
            }),
            load_balancers: rows(l, "Load_Balancer", |r| LoadBalancer {
                uuid: r.uuid,
                name: r.str("name"),
                vips: r.map("vips"),
                protocol: r.opt_str("protocol"),
                options: r.map("options"),
                external_ids: r.map("external_ids"),
            }),
            gateway_chassis: rows(l, "Gateway_Chassis", |r| GatewayChassis {
                uuid: r.uuid,
                name: r.str("name"),
                chassis_name: r.str("chassis_name"),
                priority: r.int("priority").unwrap_or(0),
            }),
            ha_chassis_groups: rows(l, "HA_Chassis_Group", |r| HaChassisGroup {
                uuid: r.uuid,
                name: r.str("name"),
                ha_chassis: r.uuids("ha_chassis"),
            }),
            ha_chassis: rows(l, "HA_Chassis", |r| HaChassis {
                uuid: r.uuid,
                chassis_name: r.str("chassis_name"),
                priority: r.int("priority").unwrap_or(0),
            }),
            acls: rows(l, "ACL", |r| Acl {
                uuid: r.uuid,
                name: r.opt_str("name"),
                priority: r.int("priority").unwrap_or(0),
                direction: r.str("direction"),
                match_: r.str("match"),
                action: r.str("action"),
                log: r.bool("log").unwrap_or(false),
                external_ids: r.map("external_ids"),
            }),
            port_groups: rows(l, "Port_Group", |r| PortGroup {
                uuid: r.uuid,
                name: r.str("name"),
                ports: r.uuids("ports"),
                acls: r.uuids("acls"),
            }),
            address_sets: rows(l, "Address_Set", |r| AddressSet {
                uuid: r.uuid,
                name: r.str("name"),
                addresses: r.strs("addresses"),
            }),
        }
    }

    /// Address sets by name, as a match expression's `$name` refers to them.
    pub fn address_set_map(&self) -> BTreeMap<String, Vec<String>> {
        self.address_sets.values().map(|a| (a.name.clone(), a.addresses.clone())).collect()
    }

    /// Port groups by name with their port names, as a match expression's `@name` refers to them.
    pub fn port_group_map(&self) -> BTreeMap<String, Vec<String>> {
        self.port_groups
            .values()
            .map(|g| {
                (
                    g.name.clone(),
                    g.ports
                        .iter()
                        .filter_map(|u| self.switch_ports.get(u))
                        .map(|p| p.name.clone())
                        .collect(),
                )
            })
            .collect()
    }

    pub fn switches_sorted(&self) -> Vec<&Switch> {
        let mut v: Vec<&Switch> = self.switches.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
        v
    }

    pub fn routers_sorted(&self) -> Vec<&Router> {
        let mut v: Vec<&Router> = self.routers.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.uuid.cmp(&b.uuid)));
        v
    }

    pub fn ports_of(&self, s: &Switch) -> Vec<&SwitchPort> {
        let mut v: Vec<&SwitchPort> = s.ports.iter().filter_map(|u| self.switch_ports.get(u)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The ports of the switch called `name` (none when there is no such switch).
    pub fn ports_of_named_switch(&self, name: &str) -> Vec<&SwitchPort> {
        self.switches
            .values()
            .find(|s| s.name == name)
            .map(|s| self.ports_of(s))
            .unwrap_or_default()
    }

    pub fn router_ports_of(&self, r: &Router) -> Vec<&RouterPort> {
        let mut v: Vec<&RouterPort> = r.ports.iter().filter_map(|u| self.router_ports.get(u)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A router's NAT rules, ordered by type, external IP, logical IP (like `lr-nat-list`).
    pub fn nats_of(&self, r: &Router) -> Vec<&Nat> {
        let mut v: Vec<&Nat> = r.nat.iter().filter_map(|u| self.nats.get(u)).collect();
        v.sort_by(|a, b| (&a.kind, &a.external_ip, &a.logical_ip).cmp(&(&b.kind, &b.external_ip, &b.logical_ip)));
        v
    }

    pub fn routes_of(&self, r: &Router) -> Vec<&StaticRoute> {
        let mut v: Vec<&StaticRoute> = r.static_routes.iter().filter_map(|u| self.static_routes.get(u)).collect();
        v.sort_by(|a, b| (&a.route_table, &a.ip_prefix, &a.nexthop).cmp(&(&b.route_table, &b.ip_prefix, &b.nexthop)));
        v
    }
}
