//! Asking a live Southbound only for what one trace needs.
//!
//! ovn-trace reads the whole Southbound and parses every logical flow before tracing one
//! packet (13.8 s and 1.3 GiB at 13k pods, perf-baseline). A trace touches a handful of
//! datapaths; this reads those: the small shared tables whole (address sets, port groups, load
//! balancers, FDB, datapath groups), then the inport's binding, then per datapath its bindings,
//! multicast groups, MAC bindings and logical flows (its own and its groups'), by plain
//! selects. The executor runs on what is loaded and says which datapath or peer port it is
//! missing; those are fetched and the run repeated until nothing is missing. A small
//! Southbound (a few datapaths, a lab) is read whole instead: there the round trips would
//! cost more than the bytes.

use super::exec::{Executor, Options, Trace};
use crate::db::sb::SbDb;
use crate::db::{fetch_into, select_into, start_live, Conditions, DbKind, Loaded, RowView, TableSpec};
use crate::ovsdb::{Client, Condition, Result};
use serde_json::json;
use std::collections::BTreeSet;
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
    groups: BTreeSet<Uuid>,
    /// Selects sent (for the report).
    pub rounds: usize,
    /// Few enough datapaths that reading everything is cheaper than reading as needed.
    small: bool,
}

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
            let all: Vec<TableSpec> = ["Port_Binding", "Multicast_Group", "MAC_Binding", "Logical_Flow"]
                .into_iter()
                .map(spec)
                .collect();
            fetch_into(client, &mut loaded, &all, &Conditions::new()).await?;
        }
        Ok(LiveSb {
            client,
            loaded,
            datapaths: BTreeSet::new(),
            groups: BTreeSet::new(),
            rounds: 1,
            small,
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

    /// The datapaths of these ports, from the bindings read so far (their rows only: a whole
    /// `SbDb` is built once per run, not for each look-up).
    fn datapaths_of(&self, ports: &[String]) -> Vec<Uuid> {
        RowView::all(&self.loaded.snapshot, "Port_Binding")
            .filter(|p| ports.contains(&p.str("logical_port")))
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
        // The datapath groups were read whole at the start; only their rows are looked at.
        let groups: Vec<Uuid> = RowView::all(&self.loaded.snapshot, "Logical_DP_Group")
            .filter(|g| !self.groups.contains(&g.uuid) && g.uuids("datapaths").iter().any(|d| dps.contains(d)))
            .map(|g| g.uuid)
            .collect();
        self.groups.extend(groups.iter().copied());
        let mut sel: Vec<(&'static str, Vec<Condition>)> = vec![];
        for d in &dps {
            sel.push(("Datapath_Binding", vec![Condition::eq("_uuid", u(d))]));
            sel.push(("Port_Binding", vec![Condition::eq("datapath", u(d))]));
            sel.push(("Multicast_Group", vec![Condition::eq("datapath", u(d))]));
            sel.push(("MAC_Binding", vec![Condition::eq("datapath", u(d))]));
            sel.push(("Logical_Flow", vec![Condition::eq("logical_datapath", u(d))]));
        }
        for g in &groups {
            sel.push(("Logical_Flow", vec![Condition::eq("logical_dp_group", u(g))]));
        }
        let specs: Vec<TableSpec> = ["Datapath_Binding", "Port_Binding", "Multicast_Group", "MAC_Binding", "Logical_Flow"]
            .into_iter()
            .map(spec)
            .collect();
        self.rounds += 1;
        select_into(self.client, &mut self.loaded, &specs, &sel).await
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
        let Some(dp) = self.datapaths_of(std::slice::from_ref(&inport)).pop() else {
            return Ok(Err(super::Error::UnknownPort(inport)));
        };
        self.datapaths(&[dp]).await?;
        loop {
            let sb = SbDb::from_loaded(&self.loaded);
            let run = Executor::partial(&sb, opts, self.datapaths.clone()).and_then(|ex| {
                let flow = ex.microflow(microflow)?;
                Ok((ex.run(&flow)?, ex.missing()))
            });
            let (trace, (dps, ports)) = match run {
                Ok(x) => x,
                Err(e) => return Ok(Err(e)),
            };
            if dps.is_empty() && ports.is_empty() {
                return Ok(Ok(trace));
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
