//! Asking a live server only for what a NAT question needs.
//!
//! On a 13k-pod cluster the Northbound's NAT and switch-port tables and the Southbound's
//! logical flows are most of the bytes; a NAT answer needs the rows its path walk looks at, the
//! NAT rows of the routers on that path, and the few logical flows whose `stage-hint` names those
//! rules. So:
//!
//! 1. a port or an address ([`nb_demanded`]): the walk itself decides — it runs on what has been
//!    read, notes what it lacked, and those rows are fetched by plain selects, until it lacks
//!    nothing new (the NAT rows of the routers it reaches included). Inbound, or an address in no
//!    switch's subnet ([`nb_topology`]): the topology by one monitor, the switch ports the
//!    question needs, then, after a first walk, the NAT rows of the routers on the path
//!    ([`nb_nats`]);
//! 2. the Southbound datapaths of those routers and the logical flows whose `stage-hint` is
//!    one of those rules ([`sb_evidence`]).

use crate::db::nb::{Lack, NbDb};
use crate::db::sb::SbDb;
use crate::db::Demand;
use crate::db::{fetch_into, select_into, start_live, Conditions, DbKind, TableSpec};
use crate::ovsdb::{Client, Condition, Result};
use serde_json::json;
use std::net::IpAddr;

/// Who the question is about.
pub enum Who<'a> {
    /// A logical switch port name (from `--lsp`, or `ns_pod` from `--pod`).
    Port(&'a str),
    /// An address: every switch port is read (a port cannot be selected by address).
    Ip(IpAddr),
    /// Inbound: NAT rules with this external address.
    External(IpAddr),
}

fn spec(table: &'static str) -> TableSpec {
    *crate::db::nb::TABLES.iter().find(|t| t.table == table).expect("known NB table")
}

/// Logical_Router without its `nat` column (13k uuids on a big cluster): phase 2 reads it for
/// the routers on the path only.
const ROUTER_TOPOLOGY: TableSpec = TableSpec {
    table: "Logical_Router",
    columns: &["name", "ports", "static_routes", "policies", "options", "external_ids", "enabled"],
};

fn topology_specs() -> Vec<TableSpec> {
    let mut v: Vec<TableSpec> = [
        "NB_Global",
        "Logical_Switch",
        "Logical_Router_Port",
        "Logical_Router_Static_Route",
        "Logical_Router_Policy",
        "Gateway_Chassis",
        "HA_Chassis_Group",
        "Address_Set",
    ]
    .into_iter()
    .map(spec)
    .collect();
    v.push(ROUTER_TOPOLOGY);
    v
}

/// Phase 1 for a port or an address: only the rows the walk itself looks at. The port (or the
/// switch whose `other_config:subnet` holds the address) is read first; then `walk` runs on
/// what has been read, noting each row it looked for and did not find ([`Lack`]); those rows
/// are fetched, all in one transaction, and the walk runs again, until it lacks nothing new.
/// Every lookup the walk makes goes through [`NbDb`]'s noting methods, so it ends on exactly
/// the rows a walk over the whole database uses: on a 13k-pod cluster some 500 rows in about
/// fifteen small round trips instead of a 1.2 MB topology read, and none of them grows with the
/// number of pods (the pod's own switch's ports, one node's NAT rules, the cluster router's
/// per-node routes).
/// `None` when the address is in no switch's subnet (not OVN-Kubernetes): the caller reads the
/// topology whole.
pub async fn nb_demanded(client: &Client, who: &Who<'_>, walk: impl Fn(&NbDb)) -> Result<Option<crate::db::Loaded>> {
    let Some(mut r) = NbReader::start(client, who).await? else {
        return Ok(None);
    };
    r.fill(walk).await?;
    Ok(Some(r.loaded))
}

/// The state of a read by demand ([`nb_demanded`]), for a caller that walks with other
/// databases read the same way between fills (`trace --from`: the Southbound's bindings).
pub struct NbReader<'c> {
    client: &'c Client,
    pub loaded: crate::db::Loaded,
    asked: std::collections::BTreeSet<Lack>,
    addresses: Option<Vec<String>>,
}

impl<'c> NbReader<'c> {
    /// The first rows: the port by name, or the switch whose subnet holds the address (`None`
    /// when there is none).
    pub async fn start(client: &'c Client, who: &Who<'_>) -> Result<Option<NbReader<'c>>> {
        let mut nb = start_live(client, DbKind::Nb).await?;
        let lsp = |c: Vec<Condition>| ("Logical_Switch_Port", c);
        let mut first = vec![("NB_Global", vec![])];
        match who {
            Who::Port(name) => first.push(lsp(vec![Condition::eq("name", json!(name))])),
            Who::Ip(ip) => {
                // The switch whose subnet holds the address (OVN-Kubernetes writes
                // other_config:subnet): a select of two columns of every switch, one per node.
                let probe = crate::ovsdb::Select {
                    table: "Logical_Switch".into(),
                    conditions: vec![],
                    columns: Some(vec!["_uuid".into(), "other_config".into()]),
                };
                let rows = client.select(DbKind::Nb.db_name(), std::slice::from_ref(&probe)).await?;
                let holder = rows.first().into_iter().flatten().find_map(|row| {
                    let subnets = row.get("other_config")?.as_array()?.get(1)?.as_array()?.iter().find_map(|kv| {
                        let kv = kv.as_array()?;
                        (kv.first()?.as_str()? == "subnet").then(|| kv.get(1)?.as_str())?
                    })?;
                    subnets
                        .split_whitespace()
                        .any(|n| crate::lflow::contains(n, *ip))
                        .then(|| row.get("_uuid").cloned())?
                });
                let Some(holder) = holder else { return Ok(None) };
                first.push(("Logical_Switch", vec![Condition::eq("_uuid", holder)]));
            }
            Who::External(_) => unreachable!("inbound reads by nb_topology"),
        }
        select_into(client, &mut nb, crate::db::nb::TABLES, &first).await?;
        Ok(Some(NbReader {
            client,
            loaded: nb,
            asked: Default::default(),
            addresses: None,
        }))
    }

    /// Walks and fetches what the walk lacked, until it lacks nothing new.
    pub async fn fill(&mut self, walk: impl Fn(&NbDb)) -> Result<()> {
        let client = self.client;
        for _ in 0..64 {
            let mut view = NbDb::from_loaded(&self.loaded);
            view.demand = Demand::on();
            walk(&view);
            let lacks: Vec<Lack> = view.demand.take().into_iter().filter(|l| !self.asked.contains(l)).collect();
            if lacks.is_empty() {
                break;
            }
            let mut selects: Vec<(&'static str, Vec<Condition>)> = vec![];
            for lack in &lacks {
                match lack {
                    Lack::SwitchPortsWithAddress(ip) => {
                        // A port cannot be selected by one of its addresses, but it can by the whole
                        // `addresses` entry ("MAC IP…"): every port's entries are read once (one
                        // column, 0.6 MB at 13k pods), then the ports holding the address by entry.
                        if self.addresses.is_none() {
                            self.addresses = Some(address_entries(client).await?);
                        }
                        let has = |e: &&String| e.split_whitespace().skip(1).any(|i| i.split('/').next() == Some(ip.as_str()));
                        for e in self.addresses.iter().flatten().filter(has) {
                            selects.push(("Logical_Switch_Port", vec![Condition::includes("addresses", json!(e))]));
                        }
                    }
                    other => selects.extend(select_for(other)),
                }
            }
            select_into(client, &mut self.loaded, crate::db::nb::TABLES, &selects).await?;
            self.asked.extend(lacks);
        }
        Ok(())
    }
}

/// How many logical switches there are (one `_uuid` column: cheap at any size), to tell a
/// small Northbound, cheaper read whole, from a cluster's.
pub async fn switch_count(client: &Client) -> Result<usize> {
    let probe = crate::ovsdb::Select {
        table: "Logical_Switch".into(),
        conditions: vec![],
        columns: Some(vec!["_uuid".into()]),
    };
    let rows = client.select(DbKind::Nb.db_name(), std::slice::from_ref(&probe)).await?;
    Ok(rows.first().map_or(0, Vec::len))
}

/// Every distinct `addresses` entry of every switch port.
async fn address_entries(client: &Client) -> Result<Vec<String>> {
    let probe = crate::ovsdb::Select {
        table: "Logical_Switch_Port".into(),
        conditions: vec![],
        columns: Some(vec!["addresses".into()]),
    };
    let rows = client.select(DbKind::Nb.db_name(), std::slice::from_ref(&probe)).await?;
    let mut out: Vec<String> = rows
        .first()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("addresses"))
        .flat_map(|v| match v.as_str() {
            Some(one) => vec![one.to_string()],
            // ["set", [...]]
            None => v
                .get(1)
                .and_then(|s| s.as_array())
                .map(|s| s.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The select that finds what a walk lacked (`None`: [`Lack::SwitchPortsWithAddress`], read by
/// entry in [`nb_demanded`]).
fn select_for(lack: &Lack) -> Option<(&'static str, Vec<Condition>)> {
    let uuid = |u: &uuid::Uuid| json!(["uuid", u.to_string()]);
    let by_uuid = |t: &'static str, u: &uuid::Uuid| (t, vec![Condition::eq("_uuid", uuid(u))]);
    let by_name = |t: &'static str, n: &str| (t, vec![Condition::eq("name", json!(n))]);
    Some(match lack {
        Lack::SwitchPort(u) => by_uuid("Logical_Switch_Port", u),
        Lack::SwitchOf(u) => ("Logical_Switch", vec![Condition::includes("ports", uuid(u))]),
        Lack::SwitchPortTo(lrp) => (
            "Logical_Switch_Port",
            vec![Condition::includes("options", json!(["map", [["router-port", lrp]]]))],
        ),
        Lack::RouterPortNamed(n) => by_name("Logical_Router_Port", n),
        Lack::RouterPort(u) => by_uuid("Logical_Router_Port", u),
        Lack::RouterOf(u) => ("Logical_Router", vec![Condition::includes("ports", uuid(u))]),
        Lack::Route(u) => by_uuid("Logical_Router_Static_Route", u),
        Lack::Policy(u) => by_uuid("Logical_Router_Policy", u),
        Lack::Nat(u) => by_uuid("NAT", u),
        Lack::AddressSet(u) => by_uuid("Address_Set", u),
        Lack::AddressSetNamed(n) => by_name("Address_Set", n),
        Lack::PortGroupNamed(n) => by_name("Port_Group", n),
        Lack::SwitchNamed(n) => by_name("Logical_Switch", n),
        Lack::AllRouterPorts => ("Logical_Router_Port", vec![]),
        Lack::SwitchPortsWithAddress(_) => return None,
    })
}

/// Phase 1 for inbound (and for an address outside every switch's subnet): the logical topology
/// (without switch ports) and the switch ports the question needs.
pub async fn nb_topology(client: &Client, who: &Who<'_>) -> Result<crate::db::Loaded> {
    let mut nb = start_live(client, DbKind::Nb).await?;
    // The switch ports are read by plain selects (one per condition, one transaction), the
    // rest of the topology by one monitor: at 13k pods ovsdb-server answers the selects in
    // ~30 ms where the same conditional monitor took ~76 ms. A select without conditions is
    // every port.
    let lsp = |c: Vec<Condition>| ("Logical_Switch_Port", c);
    let by_type = |kinds: &[&str]| kinds.iter().map(|k| lsp(vec![Condition::eq("type", json!(k))])).collect::<Vec<_>>();
    // A path walk needs the router, localnet and remote (interconnect) ports.
    let path_ports = ["router", "localnet", "remote"];
    let port_selects = match who {
        Who::Port(name) => {
            let mut v = by_type(&path_ports);
            v.push(lsp(vec![Condition::eq("name", json!(name))]));
            v
        }
        // Every port is read below.
        Who::Ip(_) => vec![],
        Who::External(ip) => {
            // Inbound needs no path: the NAT rows with that external address, their routers.
            let mut c = Conditions::new();
            c.insert("NAT", vec![Condition::eq("external_ip", json!(ip.to_string()))]);
            fetch_into(client, &mut nb, &[spec("NAT")], &c).await?;
            // The pod behind each rule: by the rule's logical_port when it names one; a rule
            // without one can only be matched by address, which needs every switch port.
            let view = NbDb::from_loaded(&nb);
            let ports: Option<Vec<String>> = view.nats.values().map(|n| n.logical_port.clone()).collect();
            match ports {
                Some(ports) => {
                    let mut v = by_type(&["router", "localnet"]);
                    v.extend(ports.iter().map(|p| lsp(vec![Condition::eq("name", json!(p))])));
                    v
                }
                None => vec![lsp(vec![])],
            }
        }
    };
    fetch_into(client, &mut nb, &topology_specs(), &Conditions::new()).await?;
    select_into(client, &mut nb, &[spec("Logical_Switch_Port")], &port_selects).await?;
    if let Who::Ip(_) = who {
        // Here only when no switch's subnet holds the address ([`nb_demanded`] reads the one
        // that does): a port cannot be selected by address, so every port is read.
        fetch_into(client, &mut nb, &[spec("Logical_Switch_Port")], &Conditions::new()).await?;
    }
    if let Who::External(_) = who {
        // The routers that own those rules, with their nat column (a reverse lookup: NAT is not
        // a root table and has no back reference).
        let nats: Vec<uuid::Uuid> = NbDb::from_loaded(&nb).nats.keys().copied().collect();
        let sel: Vec<(&'static str, Vec<Condition>)> = nats
            .iter()
            .map(|u| ("Logical_Router", vec![Condition::includes("nat", json!(["uuid", u.to_string()]))]))
            .collect();
        select_into(client, &mut nb, &[spec("Logical_Router")], &sel).await?;
    }
    Ok(nb)
}

/// Phase 2: the routers on the path with their `nat` column, then those NAT rows.
pub async fn nb_nats(client: &Client, nb: &mut crate::db::Loaded, routers: &[&str]) -> Result<()> {
    let sel: Vec<(&'static str, Vec<Condition>)> = routers
        .iter()
        .map(|r| ("Logical_Router", vec![Condition::eq("name", json!(r))]))
        .collect();
    select_into(client, nb, &[spec("Logical_Router")], &sel).await?;
    let view = NbDb::from_loaded(nb);
    let sel: Vec<(&'static str, Vec<Condition>)> = view
        .routers
        .values()
        .filter(|r| routers.contains(&r.name.as_str()))
        .flat_map(|r| r.nat.iter())
        .filter(|u| !view.nats.contains_key(u))
        .map(|u| ("NAT", vec![Condition::eq("_uuid", json!(["uuid", u.to_string()]))]))
        .collect();
    select_into(client, nb, &[spec("NAT")], &sel).await
}

/// Phase 3 (into `sb`, started by [`start_live`]): the datapaths of the routers and the logical
/// flows of the NAT rules, given as
/// (router uuid, rule uuid) pairs: each rule's flows are looked for on its own router only.
/// Plain selects, not a conditional monitor: on 79k logical flows ovsdb-server answers a
/// select in tens of milliseconds but takes hundreds to set up a conditional monitor
/// (measured at scale L); testing the datapath first makes its scan cheap.
pub async fn sb_evidence(client: &Client, mut sb: crate::db::Loaded, pairs: &[(uuid::Uuid, uuid::Uuid)]) -> Result<SbDb> {
    if pairs.is_empty() {
        return Ok(SbDb::from_loaded(&sb));
    }
    let mut routers: Vec<uuid::Uuid> = pairs.iter().map(|p| p.0).collect();
    routers.sort();
    routers.dedup();
    let mut specs: Vec<TableSpec> = crate::db::sb::TABLES
        .iter()
        .filter(|t| t.table == "Datapath_Binding")
        .copied()
        .collect();
    specs.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
    let dps: Vec<(&'static str, Vec<Condition>)> = routers
        .iter()
        .map(|u| {
            (
                "Datapath_Binding",
                vec![Condition::includes(
                    "external_ids",
                    json!(["map", [["logical-router", u.to_string()]]]),
                )],
            )
        })
        .collect();
    select_into(client, &mut sb, &specs, &dps).await?;
    let dp_of: std::collections::BTreeMap<String, uuid::Uuid> = SbDb::from_loaded(&sb)
        .datapaths
        .values()
        .filter_map(|d| Some((d.nb_object()?.to_string(), d.uuid)))
        .collect();
    let mut sel: Vec<(&'static str, Vec<Condition>)> = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for (r, u) in pairs {
        let Some(dp) = dp_of.get(&r.to_string()) else { continue };
        if !seen.insert((*dp, *u)) {
            continue;
        }
        sel.push((
            "Logical_Flow",
            vec![
                Condition::eq("logical_datapath", json!(["uuid", dp.to_string()])),
                Condition::includes("external_ids", json!(["map", [["stage-hint", &u.to_string()[..8]]]])),
            ],
        ));
    }
    select_into(client, &mut sb, &specs, &sel).await?;
    Ok(SbDb::from_loaded(&sb))
}
