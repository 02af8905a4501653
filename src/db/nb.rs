//! The OVN Northbound database: the logical network as the CMS (ovn-kubernetes) wrote it.

use super::{load::TableSpec, Demand, Loaded, RowView};
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
    /// Off for a whole read; on for a partial one, where the lookups below note what they
    /// looked for and did not find (see [`Demand`]).
    pub demand: Demand,
}

/// A row (or a set of rows) a walk over a partial Northbound looked for and did not find:
/// what the next read must fetch. Each names the select that finds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lack {
    /// A switch port by uuid (a switch's `ports`, a port group's member).
    SwitchPort(Uuid),
    /// The switch whose `ports` include this port.
    SwitchOf(Uuid),
    /// The switch port whose `options:router-port` names this router port.
    SwitchPortTo(String),
    /// A router port by name.
    RouterPortNamed(String),
    /// A router port by uuid.
    RouterPort(Uuid),
    /// The router whose `ports` include this router port.
    RouterOf(Uuid),
    Route(Uuid),
    Policy(Uuid),
    Nat(Uuid),
    AddressSet(Uuid),
    AddressSetNamed(String),
    PortGroupNamed(String),
    SwitchNamed(String),
    /// Every switch port with this address in its `addresses`.
    SwitchPortsWithAddress(String),
    /// Every router port (one with a given address in its `networks` cannot be selected: the
    /// prefix length is not known).
    AllRouterPorts,
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
            demand: Demand::default(),
        }
    }

    /// Notes each address set (`$name`) and port group (`@name`) a match names (given as
    /// their names: this layer does not parse matches) that is not here, and each member port
    /// of a named group that is not.
    pub fn want_names(&self, address_sets: &[&str], port_groups: &[&str]) {
        if !self.demand.is_on() {
            return;
        }
        for &n in address_sets {
            if !self.address_sets.values().any(|a| a.name == n) {
                self.demand.note(|| Lack::AddressSetNamed(n.into()));
            }
        }
        for &n in port_groups {
            match self.port_groups.values().find(|g| g.name == n) {
                Some(g) => {
                    for u in g.ports.iter().filter(|u| !self.switch_ports.contains_key(u)) {
                        self.demand.note(|| Lack::SwitchPort(*u));
                    }
                }
                None => self.demand.note(|| Lack::PortGroupNamed(n.into())),
            }
        }
    }

    /// The switch that holds port `u`.
    pub fn switch_of(&self, u: Uuid) -> Option<&Switch> {
        let s = self.switches.values().find(|s| s.ports.contains(&u));
        if s.is_none() {
            self.demand.note(|| Lack::SwitchOf(u));
        }
        s
    }

    /// The switch port that attaches router port `lrp` (its `options:router-port`), and its
    /// switch.
    pub fn switch_port_to(&self, lrp: &str) -> Option<(&Switch, &SwitchPort)> {
        let Some(p) = self
            .switch_ports
            .values()
            .find(|p| p.options.get("router-port").map(String::as_str) == Some(lrp))
        else {
            self.demand.note(|| Lack::SwitchPortTo(lrp.into()));
            return None;
        };
        Some((self.switch_of(p.uuid)?, p))
    }

    pub fn switch_named(&self, name: &str) -> Option<&Switch> {
        let s = self.switches.values().find(|s| s.name == name);
        if s.is_none() {
            self.demand.note(|| Lack::SwitchNamed(name.into()));
        }
        s
    }

    /// The first switch port (in uuid order) with address `ip` in its `addresses`. Which is
    /// first depends on every such port, so a partial read always notes them all.
    pub fn switch_port_with_address(&self, ip: &str) -> Option<&SwitchPort> {
        self.demand.note(|| Lack::SwitchPortsWithAddress(ip.into()));
        let has = |p: &&SwitchPort| {
            p.addresses
                .iter()
                .any(|a| a.split_whitespace().skip(1).any(|i| i.split('/').next() == Some(ip)))
        };
        self.switch_ports.values().find(has)
    }

    /// The first router port (in uuid order) with address `ip` in its `networks`.
    pub fn router_port_with_address(&self, ip: &str) -> Option<&RouterPort> {
        self.demand.note(|| Lack::AllRouterPorts);
        self.router_ports
            .values()
            .find(|p| p.networks.iter().any(|n| n.split('/').next() == Some(ip)))
    }

    pub fn router_port_named(&self, name: &str) -> Option<&RouterPort> {
        let p = self.router_ports.values().find(|p| p.name == name);
        if p.is_none() {
            self.demand.note(|| Lack::RouterPortNamed(name.into()));
        }
        p
    }

    /// The router that holds router port `u`.
    pub fn router_of(&self, u: Uuid) -> Option<&Router> {
        let r = self.routers.values().find(|r| r.ports.contains(&u));
        if r.is_none() {
            self.demand.note(|| Lack::RouterOf(u));
        }
        r
    }

    /// Address set `u`, by uuid.
    pub fn address_set(&self, u: Uuid) -> Option<&AddressSet> {
        let a = self.address_sets.get(&u);
        if a.is_none() {
            self.demand.note(|| Lack::AddressSet(u));
        }
        a
    }

    /// A router's reroute policies, highest priority first.
    pub fn policies_of(&self, r: &Router) -> Vec<&Policy> {
        let mut v = self.present(&r.policies, &self.policies, Lack::Policy);
        v.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.match_.cmp(&b.match_)));
        v
    }

    /// The rows of `uuids` in `table`, noting the absent ones.
    fn present<'a, T>(&self, uuids: &[Uuid], table: &'a BTreeMap<Uuid, T>, lack: fn(Uuid) -> Lack) -> Vec<&'a T> {
        uuids
            .iter()
            .filter_map(|u| {
                let row = table.get(u);
                if row.is_none() {
                    self.demand.note(|| lack(*u));
                }
                row
            })
            .collect()
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
        let mut v = self.present(&s.ports, &self.switch_ports, Lack::SwitchPort);
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
        let mut v = self.present(&r.ports, &self.router_ports, Lack::RouterPort);
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A router's NAT rules, ordered by type, external IP, logical IP (like `lr-nat-list`).
    pub fn nats_of(&self, r: &Router) -> Vec<&Nat> {
        let mut v = self.present(&r.nat, &self.nats, Lack::Nat);
        v.sort_by(|a, b| (&a.kind, &a.external_ip, &a.logical_ip).cmp(&(&b.kind, &b.external_ip, &b.logical_ip)));
        v
    }

    pub fn routes_of(&self, r: &Router) -> Vec<&StaticRoute> {
        let mut v = self.present(&r.static_routes, &self.static_routes, Lack::Route);
        v.sort_by(|a, b| (&a.route_table, &a.ip_prefix, &a.nexthop).cmp(&(&b.route_table, &b.ip_prefix, &b.nexthop)));
        v
    }
}
