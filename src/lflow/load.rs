//! Asking a live Southbound only for what one trace needs.
//!
//! ovn-trace reads the whole Southbound and parses every logical flow before tracing one
//! packet (13.8 s and 1.3 GiB at 13k pods, perf-baseline). A trace touches a handful of
//! datapaths; this reads those: the small shared tables whole (address sets, port groups, load
//! balancers, FDB, datapath groups), then the inport's binding, then per datapath its bindings,
//! multicast groups, MAC bindings and logical flows (its own; the datapath groups' flows all at
//! once, the first time; a router's without the per-neighbour flows, see [`Neighbour`]), by
//! plain selects. The executor runs on what is loaded and says which datapath, peer port or
//! neighbour flow it is missing; those are fetched and the run repeated until nothing is
//! missing. A small
//! Southbound (a few datapaths, a lab) is read whole instead: there the round trips would
//! cost more than the bytes.

use super::exec::{Executor, Neighbour, Options, Trace};
use crate::db::sb::SbDb;
use crate::db::{fetch_into, select_into, start_live, Conditions, DbKind, Loaded, RowView, TableSpec};
use crate::ovsdb::{Client, Condition, Result};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

fn spec(table: &str) -> TableSpec {
    *crate::db::sb::TABLES
        .iter()
        .chain(crate::db::sb::LOGICAL_FLOWS)
        .chain(crate::db::sb::PIPELINE)
        .find(|t| t.table == table)
        .expect("known SB table")
}

/// What has been read so far.
pub struct LiveSb<'c> {
    client: &'c Client,
    pub loaded: Loaded,
    datapaths: BTreeSet<Uuid>,
    /// The flows of every datapath group have been read.
    groups_read: bool,
    /// Selects sent (for the report).
    pub rounds: usize,
    /// Few enough datapaths that reading everything is cheaper than reading as needed.
    small: bool,
    /// Router datapaths read without their per-neighbour `lr_in_arp_resolve` flows (see
    /// [`Neighbour`]), with that stage's table; and the neighbour flows asked for.
    sparse: HashMap<Uuid, i64>,
    asked: BTreeSet<Neighbour>,
}

const ARP_RESOLVE: &str = "lr_in_arp_resolve";

fn stage_is(stage: &str) -> Condition {
    Condition::includes("external_ids", json!(["map", [["stage-name", stage]]]))
}

/// The tables read for the datapaths a packet reaches (whole, on a small Southbound).
const PER_DATAPATH: &[&str] = &[
    "Port_Binding",
    "Multicast_Group",
    "MAC_Binding",
    "Static_MAC_Binding",
    "Logical_Flow",
];

/// Up to this many datapaths, the whole Southbound is read at once.
const SMALL: usize = 16;

impl<'c> LiveSb<'c> {
    /// The shared tables, whole (small even at scale); `whole`: everything, `None`: decide by
    /// the number of datapaths.
    pub async fn start(client: &'c Client, whole: Option<bool>) -> Result<LiveSb<'c>> {
        let mut loaded = start_live(client, DbKind::Sb).await?;
        let shared: Vec<TableSpec> = [
            "Address_Set",
            "Port_Group",
            "Load_Balancer",
            "FDB",
            "Logical_DP_Group",
            "Chassis_Template_Var",
            "Chassis",
        ]
        .into_iter()
        .map(spec)
        .collect();
        let mut with_dps = shared.clone();
        with_dps.push(spec("Datapath_Binding"));
        fetch_into(client, &mut loaded, &with_dps, &Conditions::new()).await?;
        let small = whole.unwrap_or_else(|| RowView::all(&loaded.snapshot, "Datapath_Binding").count() <= SMALL);
        if small {
            let all: Vec<TableSpec> = PER_DATAPATH.iter().copied().map(spec).collect();
            fetch_into(client, &mut loaded, &all, &Conditions::new()).await?;
        }
        Ok(LiveSb {
            client,
            loaded,
            datapaths: BTreeSet::new(),
            groups_read: false,
            rounds: 1,
            small,
            sparse: HashMap::new(),
            asked: BTreeSet::new(),
        })
    }

    /// Port bindings by name (the inport; a peer in a datapath not read yet).
    async fn ports(&mut self, names: &[String]) -> Result<()> {
        let sel: Vec<(&'static str, Vec<Condition>)> = names
            .iter()
            .map(|n| ("Port_Binding", vec![Condition::eq("logical_port", json!(n))]))
            .collect();
        self.rounds += 1;
        select_into(self.client, &mut self.loaded, &[spec("Port_Binding")], &sel).await
    }

    /// The binding a microflow names by its friendly name (`external_ids:name`), as ovn-trace
    /// allows; asked only when no port has the name, as the server scans every binding for it.
    async fn port_by_name2(&mut self, name: &str) -> Result<()> {
        let sel = [(
            "Port_Binding",
            vec![Condition::includes("external_ids", json!(["map", [["name", name]]]))],
        )];
        self.rounds += 1;
        select_into(self.client, &mut self.loaded, &[spec("Port_Binding")], &sel).await
    }

    /// The datapaths of these ports, from the bindings read so far (their rows only: a whole
    /// `SbDb` is built once per run, not for each look-up).
    fn datapaths_of(&self, ports: &[String]) -> Vec<Uuid> {
        RowView::all(&self.loaded.snapshot, "Port_Binding")
            .filter(|p| ports.contains(&p.str("logical_port")) || p.map("external_ids").get("name").is_some_and(|n| ports.contains(n)))
            .filter_map(|p| p.uuid("datapath"))
            .collect()
    }

    /// Everything of these datapaths the executor uses.
    async fn datapaths(&mut self, dps: &[Uuid]) -> Result<()> {
        let dps: Vec<Uuid> = dps.iter().filter(|d| self.datapaths.insert(**d)).copied().collect();
        if dps.is_empty() {
            return Ok(());
        }
        let u = |d: &Uuid| json!(["uuid", d.to_string()]);
        let routers: Vec<Uuid> = RowView::all(&self.loaded.snapshot, "Datapath_Binding")
            .filter(|d| dps.contains(&d.uuid) && crate::db::sb::Datapath::of_row(*d).is_router())
            .map(|d| d.uuid)
            .collect();
        let mut sel: Vec<(&'static str, Vec<Condition>)> = vec![];
        for d in &dps {
            let on_dp = || Condition::eq("logical_datapath", u(d));
            sel.push(("Datapath_Binding", vec![Condition::eq("_uuid", u(d))]));
            sel.push(("Port_Binding", vec![Condition::eq("datapath", u(d))]));
            sel.push(("Multicast_Group", vec![Condition::eq("datapath", u(d))]));
            sel.push(("MAC_Binding", vec![Condition::eq("datapath", u(d))]));
            sel.push(("Static_MAC_Binding", vec![Condition::eq("datapath", u(d))]));
            if routers.contains(d) {
                // All but the per-neighbour flows (priority 100 of lr_in_arp_resolve).
                let arp = stage_is(ARP_RESOLVE);
                sel.push((
                    "Logical_Flow",
                    vec![on_dp(), Condition::excludes("external_ids", arp.value.clone())],
                ));
                sel.push(("Logical_Flow", vec![on_dp(), arp, Condition::ne("priority", json!(100))]));
            } else {
                sel.push(("Logical_Flow", vec![on_dp()]));
            }
        }
        if !self.groups_read {
            // The flows shared through datapath groups, all at once: one scan of the table
            // (1.3k flows, 0.7 MB at 13k pods) where one select per group a datapath is in
            // costs a scan each (the first switch of a trace is in 16 groups).
            self.groups_read = true;
            sel.push(("Logical_Flow", vec![Condition::ne("logical_dp_group", json!(["set", []]))]));
        }
        let specs: Vec<TableSpec> = std::iter::once("Datapath_Binding")
            .chain(PER_DATAPATH.iter().copied())
            .map(spec)
            .collect();
        self.rounds += 1;
        select_into(self.client, &mut self.loaded, &specs, &sel).await?;
        // The stage's table number, from any of its flows read (northd numbers the stages the
        // same on every router); without one, the routers' neighbour flows are read whole.
        let table = RowView::all(&self.loaded.snapshot, "Logical_Flow")
            .find(|f| f.str("pipeline") == "ingress" && f.map("external_ids").get("stage-name").map(String::as_str) == Some(ARP_RESOLVE))
            .and_then(|f| f.int("table_id"));
        match table {
            Some(t) => self.sparse.extend(routers.iter().map(|d| (*d, t))),
            None => self.whole_neighbours(&routers).await?,
        }
        Ok(())
    }

    /// Every per-neighbour flow of these routers.
    async fn whole_neighbours(&mut self, routers: &[Uuid]) -> Result<()> {
        if routers.is_empty() {
            return Ok(());
        }
        let sel: Vec<(&'static str, Vec<Condition>)> = routers
            .iter()
            .map(|d| {
                (
                    "Logical_Flow",
                    vec![
                        Condition::eq("logical_datapath", json!(["uuid", d.to_string()])),
                        stage_is(ARP_RESOLVE),
                        Condition::eq("priority", json!(100)),
                    ],
                )
            })
            .collect();
        for d in routers {
            self.sparse.remove(d);
        }
        self.rounds += 1;
        select_into(self.client, &mut self.loaded, &[spec("Logical_Flow")], &sel).await
    }

    /// The neighbour flows a run asked for, by their exact match; a router where one is not
    /// there (a next hop northd wrote no flow for, or in another form) gets all of them.
    async fn neighbour_flows(&mut self, wanted: Vec<Neighbour>) -> Result<()> {
        let mut sel: Vec<(&'static str, Vec<Condition>)> = vec![];
        for n in &wanted {
            for m in &n.matches {
                sel.push((
                    "Logical_Flow",
                    vec![
                        Condition::eq("logical_datapath", json!(["uuid", n.datapath.to_string()])),
                        Condition::eq("match", json!(m)),
                        Condition::eq("priority", json!(100)),
                        stage_is(ARP_RESOLVE),
                    ],
                ));
            }
        }
        self.rounds += 1;
        select_into(self.client, &mut self.loaded, &[spec("Logical_Flow")], &sel).await?;
        let found = |n: &Neighbour| {
            RowView::all(&self.loaded.snapshot, "Logical_Flow")
                .any(|f| f.uuid("logical_datapath") == Some(n.datapath) && n.matches.contains(&f.str("match")))
        };
        let mut whole: Vec<Uuid> = wanted.iter().filter(|n| !found(n)).map(|n| n.datapath).collect();
        whole.sort();
        whole.dedup();
        self.asked.extend(wanted);
        self.whole_neighbours(&whole).await
    }

    /// Runs `microflow` through the pipeline, reading what it reaches as it goes. The outer
    /// error is the database's; the inner one a problem with the microflow or options.
    pub async fn trace(&mut self, microflow: &str, opts: &Options) -> Result<std::result::Result<Trace, super::Error>> {
        if self.small {
            let sb = SbDb::from_loaded(&self.loaded);
            return Ok(Executor::new(&sb, opts).and_then(|ex| ex.run(&ex.microflow(microflow)?)));
        }
        let inport = match super::exec::inport_of(microflow) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        self.ports(std::slice::from_ref(&inport)).await?;
        if self.datapaths_of(std::slice::from_ref(&inport)).is_empty() {
            self.port_by_name2(&inport).await?;
        }
        let Some(dp) = self.datapaths_of(std::slice::from_ref(&inport)).pop() else {
            return Ok(Err(super::Error::UnknownPort(inport)));
        };
        self.datapaths(&[dp]).await?;
        loop {
            let sb = SbDb::from_loaded(&self.loaded);
            let run = Executor::sparse(&sb, opts, self.datapaths.clone(), self.sparse.clone()).and_then(|ex| {
                let flow = ex.microflow(microflow)?;
                Ok((ex.run(&flow)?, ex.missing(), ex.neighbours()))
            });
            let (trace, (dps, ports), neighbours) = match run {
                Ok(x) => x,
                Err(e) => return Ok(Err(e)),
            };
            let neighbours: Vec<Neighbour> = neighbours.into_iter().filter(|n| !self.asked.contains(n)).collect();
            if dps.is_empty() && ports.is_empty() && neighbours.is_empty() {
                return Ok(Ok(trace));
            }
            if !neighbours.is_empty() {
                self.neighbour_flows(neighbours).await?;
                if dps.is_empty() && ports.is_empty() {
                    continue;
                }
            }
            let before = self.datapaths.len();
            if !ports.is_empty() {
                self.ports(&ports).await?;
            }
            let mut want = dps;
            want.extend(self.datapaths_of(&ports));
            self.datapaths(&want).await?;
            if self.datapaths.len() == before {
                // Nothing new could be read (a peer that does not exist): this is the answer.
                return Ok(Ok(trace));
            }
        }
    }
}
