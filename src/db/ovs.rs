//! The Open_vSwitch database: the switch, its bridges, ports and interfaces.

use super::{load::TableSpec, Loaded, RowView};
use std::collections::BTreeMap;
use uuid::Uuid;

pub const TABLES: &[TableSpec] = &[
    TableSpec {
        table: "Open_vSwitch",
        columns: &["bridges", "external_ids", "other_config", "ovs_version", "db_version"],
    },
    TableSpec {
        table: "Bridge",
        columns: &["name", "ports", "datapath_type", "fail_mode", "external_ids", "other_config"],
    },
    TableSpec {
        table: "Port",
        columns: &["name", "interfaces", "tag", "external_ids", "other_config"],
    },
    TableSpec {
        table: "Interface",
        columns: &[
            "name",
            "type",
            "options",
            "ofport",
            "ifindex",
            "external_ids",
            "mac_in_use",
            "error",
            "status",
            "link_state",
        ],
    },
];

#[derive(Debug, Clone, Default)]
pub struct OpenVSwitch {
    pub uuid: Uuid,
    pub bridges: Vec<Uuid>,
    pub external_ids: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
    pub ovs_version: Option<String>,
    pub db_version: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Bridge {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
    pub datapath_type: String,
    pub fail_mode: Option<String>,
    pub external_ids: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Port {
    pub uuid: Uuid,
    pub name: String,
    pub interfaces: Vec<Uuid>,
    pub tag: Option<i64>,
    pub external_ids: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Interface {
    pub uuid: Uuid,
    pub name: String,
    /// `""`/`system`, `internal`, `patch`, `geneve`, … (ovs-vswitchd.conf.db(5)).
    pub kind: String,
    pub options: BTreeMap<String, String>,
    /// Assigned by ovs-vswitchd; -1 means the interface could not be added (see `error`).
    pub ofport: Option<i64>,
    /// The kernel ifindex in vswitchd's namespace: the N of a pod's `eth0@ifN`.
    pub ifindex: Option<i64>,
    pub external_ids: BTreeMap<String, String>,
    pub mac_in_use: Option<String>,
    pub error: Option<String>,
    pub status: BTreeMap<String, String>,
    pub link_state: Option<String>,
}

impl Interface {
    /// The OVN logical port this interface is bound to (`external_ids:iface-id`).
    pub fn iface_id(&self) -> Option<&str> {
        self.external_ids.get("iface-id").map(String::as_str)
    }
}

/// The whole Open_vSwitch view.
#[derive(Debug, Clone, Default)]
pub struct OvsDb {
    pub system: Option<OpenVSwitch>,
    pub bridges: BTreeMap<Uuid, Bridge>,
    pub ports: BTreeMap<Uuid, Port>,
    pub interfaces: BTreeMap<Uuid, Interface>,
}

impl OvsDb {
    pub fn from_loaded(l: &Loaded) -> Self {
        let s = &l.snapshot;
        let system = RowView::all(s, "Open_vSwitch").next().map(|r| OpenVSwitch {
            uuid: r.uuid,
            bridges: r.uuids("bridges"),
            external_ids: r.map("external_ids"),
            other_config: r.map("other_config"),
            ovs_version: r.opt_str("ovs_version"),
            db_version: r.opt_str("db_version"),
        });
        let bridges = RowView::all(s, "Bridge")
            .map(|r| {
                (
                    r.uuid,
                    Bridge {
                        uuid: r.uuid,
                        name: r.str("name"),
                        ports: r.uuids("ports"),
                        datapath_type: r.str("datapath_type"),
                        fail_mode: r.opt_str("fail_mode"),
                        external_ids: r.map("external_ids"),
                        other_config: r.map("other_config"),
                    },
                )
            })
            .collect();
        let ports = RowView::all(s, "Port")
            .map(|r| {
                (
                    r.uuid,
                    Port {
                        uuid: r.uuid,
                        name: r.str("name"),
                        interfaces: r.uuids("interfaces"),
                        tag: r.int("tag"),
                        external_ids: r.map("external_ids"),
                        other_config: r.map("other_config"),
                    },
                )
            })
            .collect();
        let interfaces = RowView::all(s, "Interface")
            .map(|r| {
                (
                    r.uuid,
                    Interface {
                        uuid: r.uuid,
                        name: r.str("name"),
                        kind: r.str("type"),
                        options: r.map("options"),
                        ofport: r.int("ofport"),
                        ifindex: r.int("ifindex"),
                        external_ids: r.map("external_ids"),
                        mac_in_use: r.opt_str("mac_in_use"),
                        error: r.opt_str("error"),
                        status: r.map("status"),
                        link_state: r.opt_str("link_state"),
                    },
                )
            })
            .collect();
        OvsDb {
            system,
            bridges,
            ports,
            interfaces,
        }
    }

    /// The bridges in name order.
    pub fn bridges_sorted(&self) -> Vec<&Bridge> {
        let mut v: Vec<&Bridge> = self.bridges.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A bridge's ports in name order (dangling references skipped).
    pub fn ports_of(&self, b: &Bridge) -> Vec<&Port> {
        let mut v: Vec<&Port> = b.ports.iter().filter_map(|u| self.ports.get(u)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn interfaces_of(&self, p: &Port) -> Vec<&Interface> {
        let mut v: Vec<&Interface> = p.interfaces.iter().filter_map(|u| self.interfaces.get(u)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}
