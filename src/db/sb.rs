//! The OVN Southbound database: chassis, bindings and the logical flows ovn-northd computed.

use super::{load::TableSpec, Loaded, RowView};
use std::collections::BTreeMap;
use std::net::IpAddr;
use uuid::Uuid;

/// Tables for the inventory (what `show` needs); Logical_Flow is large and asked for separately.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        table: "SB_Global",
        columns: &["options", "nb_cfg", "external_ids"],
    },
    TableSpec {
        table: "Chassis",
        columns: &["name", "hostname", "encaps", "other_config", "external_ids"],
    },
    TableSpec {
        table: "Encap",
        columns: &["type", "ip", "options", "chassis_name"],
    },
    TableSpec {
        table: "Datapath_Binding",
        columns: &["tunnel_key", "external_ids", "nb_uuid", "type"],
    },
    TableSpec {
        table: "Port_Binding",
        columns: &[
            "logical_port",
            "type",
            "datapath",
            "tunnel_key",
            "chassis",
            "options",
            "mac",
            "parent_port",
            "tag",
            "up",
            "external_ids",
            "port_security",
        ],
    },
    TableSpec {
        table: "MAC_Binding",
        columns: &["logical_port", "ip", "mac", "datapath"],
    },
    TableSpec {
        table: "Static_MAC_Binding",
        columns: &["logical_port", "ip", "mac", "datapath", "override_dynamic_mac"],
    },
];

/// What the pipeline executor needs besides the logical flows: groups a flow may output to,
/// the sets and groups its matches name, load balancers (hairpin checks) and learned MACs.
pub const PIPELINE: &[TableSpec] = &[
    TableSpec {
        table: "Multicast_Group",
        columns: &["datapath", "name", "tunnel_key", "ports"],
    },
    TableSpec {
        table: "Address_Set",
        columns: &["name", "addresses"],
    },
    TableSpec {
        table: "Port_Group",
        columns: &["name", "ports"],
    },
    TableSpec {
        table: "Load_Balancer",
        columns: &["name", "vips", "protocol", "datapaths", "options"],
    },
    TableSpec {
        table: "FDB",
        columns: &["mac", "dp_key", "port_key"],
    },
    TableSpec {
        table: "Chassis_Template_Var",
        columns: &["chassis", "variables"],
    },
];

pub const LOGICAL_FLOWS: &[TableSpec] = &[
    TableSpec {
        table: "Logical_Flow",
        columns: &[
            "logical_datapath",
            "logical_dp_group",
            "pipeline",
            "table_id",
            "priority",
            "match",
            "actions",
            "external_ids",
        ],
    },
    TableSpec {
        table: "Logical_DP_Group",
        columns: &["datapaths"],
    },
];

type Map = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct Chassis {
    pub uuid: Uuid,
    pub name: String,
    pub hostname: String,
    pub encaps: Vec<Uuid>,
    pub other_config: Map,
    pub external_ids: Map,
}

#[derive(Debug, Clone)]
pub struct Encap {
    pub uuid: Uuid,
    pub kind: String,
    pub ip: String,
    pub options: Map,
    pub chassis_name: String,
}

#[derive(Debug, Clone)]
pub struct Datapath {
    pub uuid: Uuid,
    /// The geneve VNI of packets on this datapath.
    pub tunnel_key: i64,
    pub external_ids: Map,
    /// 25.09+: the Northbound switch or router it implements, as a column.
    pub nb_uuid: Option<Uuid>,
    /// 25.09+: `logical-switch` or `logical-router`, as a column.
    pub kind: Option<String>,
}

impl Datapath {
    /// The view of a `Datapath_Binding` row.
    pub fn of_row(r: RowView<'_>) -> Datapath {
        Datapath {
            uuid: r.uuid,
            tunnel_key: r.int("tunnel_key").unwrap_or(0),
            external_ids: r.map("external_ids"),
            nb_uuid: r.uuid("nb_uuid"),
            kind: r.opt_str("type"),
        }
    }

    /// The logical switch or router name (`external_ids:name`).
    pub fn name(&self) -> &str {
        self.external_ids.get("name").map(String::as_str).unwrap_or("")
    }

    /// The Northbound switch or router it implements: `external_ids:logical-router` /
    /// `logical-switch` as northd has always written them, else 25.09's `nb_uuid`.
    pub fn nb_object(&self) -> Option<Uuid> {
        ["logical-router", "logical-switch"]
            .iter()
            .find_map(|k| self.external_ids.get(*k).and_then(|v| v.parse().ok()))
            .or(self.nb_uuid)
    }

    /// A router's datapath: `external_ids:logical-router`, else 25.09's `type` column.
    pub fn is_router(&self) -> bool {
        self.external_ids.contains_key("logical-router") || self.kind.as_deref() == Some("logical-router")
    }
}

#[derive(Debug, Clone)]
pub struct PortBinding {
    pub uuid: Uuid,
    pub logical_port: String,
    pub kind: String,
    pub datapath: Option<Uuid>,
    pub tunnel_key: i64,
    pub chassis: Option<Uuid>,
    pub options: Map,
    pub mac: Vec<String>,
    pub parent_port: Option<String>,
    pub tag: Option<i64>,
    pub up: Option<bool>,
    pub external_ids: Map,
    /// `MAC [IP...]` strings, checked by `check_in_port_sec()`/`check_out_port_sec()`.
    pub port_security: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MulticastGroup {
    pub uuid: Uuid,
    pub datapath: Option<Uuid>,
    pub name: String,
    pub tunnel_key: i64,
    pub ports: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct SbLoadBalancer {
    pub uuid: Uuid,
    pub name: String,
    /// `VIP[:port]` → `backend[:port],...`.
    pub vips: Map,
    pub protocol: Option<String>,
    /// `options:hairpin_snat_ip` (northd copies the Northbound's): the addresses, one per
    /// family, a backend that reaches itself through a VIP is SNATed to instead of the VIP
    /// (OVN-Kubernetes sets `169.254.169.5 fd69::5` on every service).
    pub hairpin_snat_ips: Vec<IpAddr>,
}

#[derive(Debug, Clone)]
pub struct Fdb {
    pub mac: String,
    pub dp_key: i64,
    pub port_key: i64,
}

#[derive(Debug, Clone)]
pub struct MacBinding {
    pub uuid: Uuid,
    pub logical_port: String,
    pub ip: String,
    pub mac: String,
    pub datapath: Option<Uuid>,
    /// The priority ovn-controller gives the binding's flows (controller/lflow.c
    /// `consider_neighbor_flow`): a learned one 100; a `Static_MAC_Binding` 150 when it
    /// overrides learned ones (`override_dynamic_mac`), else 50.
    pub priority: u8,
}

impl MacBinding {
    /// A row of `Static_MAC_Binding` (set by the CMS), not one ovn-controller learned.
    pub fn is_static(&self) -> bool {
        self.priority != 100
    }
}

#[derive(Debug, Clone)]
pub struct LogicalFlow {
    pub uuid: Uuid,
    pub logical_datapath: Option<Uuid>,
    pub logical_dp_group: Option<Uuid>,
    /// `ingress` or `egress`.
    pub pipeline: String,
    pub table_id: i64,
    pub priority: i64,
    pub match_: String,
    pub actions: String,
    pub external_ids: Map,
}

impl LogicalFlow {
    /// The stage name (`external_ids:stage-name`), stable across OVN releases unlike `table_id`.
    pub fn stage(&self) -> &str {
        self.external_ids.get("stage-name").map(String::as_str).unwrap_or("")
    }
}

/// The whole Southbound view.
#[derive(Debug, Clone, Default)]
pub struct SbDb {
    pub options: Map,
    pub chassis: BTreeMap<Uuid, Chassis>,
    pub encaps: BTreeMap<Uuid, Encap>,
    pub datapaths: BTreeMap<Uuid, Datapath>,
    pub port_bindings: BTreeMap<Uuid, PortBinding>,
    pub mac_bindings: BTreeMap<Uuid, MacBinding>,
    pub logical_flows: BTreeMap<Uuid, LogicalFlow>,
    pub dp_groups: BTreeMap<Uuid, Vec<Uuid>>,
    pub multicast_groups: BTreeMap<Uuid, MulticastGroup>,
    pub address_sets: BTreeMap<String, Vec<String>>,
    pub port_groups: BTreeMap<String, Vec<String>>,
    pub load_balancers: BTreeMap<Uuid, SbLoadBalancer>,
    pub fdb: Vec<Fdb>,
    /// Chassis template variables (`^NAME` in flows), by chassis name: ovn-controller on each
    /// chassis expands them with its own values.
    pub template_vars: BTreeMap<String, Map>,
    /// On for a partial read: [`SbDb::binding`] notes the ports it did not find.
    pub demand: super::Demand<String>,
    /// The server's (or file's) schema version, `21.5.0` for OVN 25.09: behaviour that changed
    /// between releases of the tools we agree with is keyed on it.
    pub schema_version: String,
}

fn rows<'a, T>(l: &'a Loaded, table: &'a str, f: impl Fn(RowView<'a>) -> T + 'a) -> BTreeMap<Uuid, T> {
    RowView::all(&l.snapshot, table).map(|r| (r.uuid, f(r))).collect()
}

impl SbDb {
    /// The binding of logical port `name` (noted when absent from a partial read).
    pub fn binding(&self, name: &str) -> Option<&PortBinding> {
        let b = self.port_bindings.values().find(|b| b.logical_port == name);
        if b.is_none() {
            self.demand.note(|| name.to_string());
        }
        b
    }

    /// The neighbour binding of `ip` behind `port` (on datapath `dp` when given) that
    /// ovn-controller's flows use: the highest-priority one, learned or static; `learned_only`:
    /// only what ovn-controller learned (all that ovn-trace reads).
    pub fn neighbour(&self, port: &str, ip: IpAddr, dp: Option<Uuid>, learned_only: bool) -> Option<&MacBinding> {
        self.mac_bindings
            .values()
            .filter(|m| !(learned_only && m.is_static()))
            .filter(|m| m.logical_port == port && m.ip.parse::<IpAddr>().ok() == Some(ip))
            .filter(|m| dp.is_none_or(|dp| m.datapath.is_none_or(|d| d == dp)))
            .max_by_key(|m| m.priority)
    }

    /// Whether the schema is at least `want` (major, minor, patch); an unreadable version is
    /// taken as older.
    pub fn schema_at_least(&self, want: (u32, u32, u32)) -> bool {
        let mut v = self.schema_version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
        let have = (v.next().unwrap_or(0), v.next().unwrap_or(0), v.next().unwrap_or(0));
        have >= want
    }

    pub fn from_loaded(l: &Loaded) -> Self {
        SbDb {
            schema_version: l.snapshot.schema.version.clone(),
            options: RowView::all(&l.snapshot, "SB_Global")
                .next()
                .map(|g| g.map("options"))
                .unwrap_or_default(),
            chassis: rows(l, "Chassis", |r| Chassis {
                uuid: r.uuid,
                name: r.str("name"),
                hostname: r.str("hostname"),
                encaps: r.uuids("encaps"),
                other_config: r.map("other_config"),
                external_ids: r.map("external_ids"),
            }),
            encaps: rows(l, "Encap", |r| Encap {
                uuid: r.uuid,
                kind: r.str("type"),
                ip: r.str("ip"),
                options: r.map("options"),
                chassis_name: r.str("chassis_name"),
            }),
            datapaths: rows(l, "Datapath_Binding", Datapath::of_row),
            port_bindings: rows(l, "Port_Binding", |r| PortBinding {
                uuid: r.uuid,
                logical_port: r.str("logical_port"),
                kind: r.str("type"),
                datapath: r.uuid("datapath"),
                tunnel_key: r.int("tunnel_key").unwrap_or(0),
                chassis: r.uuid("chassis"),
                options: r.map("options"),
                mac: r.strs("mac"),
                parent_port: r.opt_str("parent_port"),
                tag: r.int("tag"),
                up: r.bool("up"),
                external_ids: r.map("external_ids"),
                port_security: r.strs("port_security"),
            }),
            mac_bindings: ["MAC_Binding", "Static_MAC_Binding"]
                .into_iter()
                .flat_map(|table| {
                    rows(l, table, move |r| MacBinding {
                        uuid: r.uuid,
                        logical_port: r.str("logical_port"),
                        ip: r.str("ip"),
                        mac: r.str("mac"),
                        datapath: r.uuid("datapath"),
                        priority: match (table, r.bool("override_dynamic_mac").unwrap_or(false)) {
                            ("MAC_Binding", _) => 100,
                            (_, true) => 150,
                            (_, false) => 50,
                        },
                    })
                })
                .collect(),
            logical_flows: rows(l, "Logical_Flow", |r| LogicalFlow {
                uuid: r.uuid,
                logical_datapath: r.uuid("logical_datapath"),
                logical_dp_group: r.uuid("logical_dp_group"),
                pipeline: r.str("pipeline"),
                table_id: r.int("table_id").unwrap_or(0),
                priority: r.int("priority").unwrap_or(0),
                match_: r.str("match"),
                actions: r.str("actions"),
                external_ids: r.map("external_ids"),
            }),
            dp_groups: rows(l, "Logical_DP_Group", |r| r.uuids("datapaths")),
            multicast_groups: rows(l, "Multicast_Group", |r| MulticastGroup {
                uuid: r.uuid,
                datapath: r.uuid("datapath"),
                name: r.str("name"),
                tunnel_key: r.int("tunnel_key").unwrap_or(0),
                ports: r.uuids("ports"),
            }),
            address_sets: RowView::all(&l.snapshot, "Address_Set")
                .map(|r| (r.str("name"), r.strs("addresses")))
                .collect(),
            port_groups: RowView::all(&l.snapshot, "Port_Group")
                .map(|r| (r.str("name"), r.strs("ports")))
                .collect(),
            load_balancers: rows(l, "Load_Balancer", |r| SbLoadBalancer {
                uuid: r.uuid,
                name: r.str("name"),
                vips: r.map("vips"),
                protocol: r.opt_str("protocol"),
                hairpin_snat_ips: r
                    .map("options")
                    .get("hairpin_snat_ip")
                    .map(|v| v.split_whitespace().filter_map(|a| a.parse().ok()).collect())
                    .unwrap_or_default(),
            }),
            fdb: RowView::all(&l.snapshot, "FDB")
                .map(|r| Fdb {
                    mac: r.str("mac"),
                    dp_key: r.int("dp_key").unwrap_or(0),
                    port_key: r.int("port_key").unwrap_or(0),
                })
                .collect(),
            template_vars: RowView::all(&l.snapshot, "Chassis_Template_Var")
                .map(|r| (r.str("chassis"), r.map("variables")))
                .collect(),
            demand: Default::default(),
        }
    }

    pub fn chassis_sorted(&self) -> Vec<&Chassis> {
        let mut v: Vec<&Chassis> = self.chassis.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn encaps_of(&self, c: &Chassis) -> Vec<&Encap> {
        let mut v: Vec<&Encap> = c.encaps.iter().filter_map(|u| self.encaps.get(u)).collect();
        v.sort_by(|a, b| (&a.kind, &a.ip).cmp(&(&b.kind, &b.ip)));
        v
    }

    /// Logical port names bound to a chassis, sorted.
    pub fn bindings_on(&self, c: &Chassis) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .port_bindings
            .values()
            .filter(|p| p.chassis == Some(c.uuid))
            .map(|p| p.logical_port.as_str())
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbour_is_the_binding_ovn_controller_ranks_first() {
        let mut sb = SbDb::default();
        for (n, mac, priority) in [
            (1, "aa:00:00:00:00:01", 100),
            (2, "aa:00:00:00:00:02", 150),
            (3, "aa:00:00:00:00:03", 50),
        ] {
            sb.mac_bindings.insert(
                Uuid::from_u128(n),
                MacBinding {
                    uuid: Uuid::from_u128(n),
                    logical_port: "p".into(),
                    ip: "10.0.0.1".into(),
                    mac: mac.into(),
                    datapath: None,
                    priority,
                },
            );
        }
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mac = |sb: &SbDb, learned_only| sb.neighbour("p", ip, None, learned_only).map(|m| m.mac.clone());
        assert_eq!(
            mac(&sb, false).as_deref(),
            Some("aa:00:00:00:00:02"),
            "an overriding static binding"
        );
        assert_eq!(mac(&sb, true).as_deref(), Some("aa:00:00:00:00:01"), "learned only (ovn-trace)");
        sb.mac_bindings.remove(&Uuid::from_u128(2));
        assert_eq!(
            mac(&sb, false).as_deref(),
            Some("aa:00:00:00:00:01"),
            "a learned binding beats a plain static one"
        );
        sb.mac_bindings.remove(&Uuid::from_u128(1));
        assert_eq!(mac(&sb, false).as_deref(), Some("aa:00:00:00:00:03"));
        assert_eq!(mac(&sb, true), None);
        assert_eq!(sb.neighbour("q", ip, None, false).map(|m| m.uuid), None);
    }

    #[test]
    fn nb_object_and_kind_from_external_ids_else_the_25_09_columns() {
        let u = Uuid::from_u128(7);
        let old = Datapath {
            uuid: Uuid::from_u128(1),
            tunnel_key: 1,
            external_ids: [("logical-router".to_string(), u.to_string())].into(),
            nb_uuid: None,
            kind: None,
        };
        assert_eq!(old.nb_object(), Some(u));
        assert!(old.is_router());
        let new = Datapath {
            external_ids: Default::default(),
            nb_uuid: Some(u),
            kind: Some("logical-router".into()),
            ..old.clone()
        };
        assert_eq!(new.nb_object(), Some(u));
        assert!(new.is_router());
        let switch = Datapath {
            kind: Some("logical-switch".into()),
            ..new.clone()
        };
        assert!(!switch.is_router());
    }
}
