//! The Southbound logical-flow pipeline, executed on a microflow the way `ovn-trace` does:
//! per datapath an ingress and an egress pipeline of tables, the highest-priority matching flow
//! of each table, its actions run in order, and the crossing from one datapath into its peer
//! through patch ports. Connection tracking is modelled explicitly: each `ct_next`/`ct_*nat`/
//! `ct_lb` forks the packet with the next state of a list (default `est|trk`, like
//! `ovn-trace --ct`).
//!
//! Stages are named by `external_ids:stage-name`, never by table number. Anything the executor
//! does not model (a field, an action, a match it cannot decide) stops that branch with an
//! [`Node::Unmodelled`] naming it; a verdict is never claimed that was not computed.

use super::actions::{self, Action, Stmt};
use super::expr::{self, Expr, Truth};
use super::microflow::{format_value, parse_mac, Context, Headers, Microflow, Writer};
use super::symtab::{resolve, Base, FieldRef, Resolved, CT_DNAT, CT_EST, CT_SNAT, CT_TRK};
use crate::db::sb::{LogicalFlow, SbDb};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::rc::Rc;
use uuid::Uuid;

/// One node of a trace, as ovn-trace's detailed output nests them.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "node", rename_all = "snake_case")]
pub enum Node {
    /// Entering a datapath's ingress or egress pipeline, or fanning out to a multicast group.
    Pipeline {
        kind: String,
        datapath: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        inport: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        outport: Option<String>,
        /// For an egress pipeline: the headers as it starts — what a geneve tunnel carries
        /// when the egress runs on the destination's chassis.
        #[serde(skip_serializing_if = "Option::is_none")]
        entry: Option<Headers>,
        children: Vec<Node>,
    },
    /// The flow a table matched; `children` are its actions in order, each followed by what
    /// it caused.
    Table {
        datapath: String,
        pipeline: String,
        table: i64,
        stage: String,
        priority: i64,
        #[serde(rename = "match")]
        match_: String,
        uuid: String,
        /// Where in ovn-northd the flow comes from (`external_ids:source`), as ovn-trace shows it.
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// Other flows of the same priority that also match (OVN picks one of them; so do we).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tied_with: Vec<String>,
        children: Vec<Node>,
    },
    /// No flow of the table matches: the packet is dropped there.
    NoMatch {
        datapath: String,
        pipeline: String,
        table: i64,
        stage: String,
    },
    /// A fork with changed headers or state (`ct_next(ct_state=new|trk)`, `ct_snat(…)`,
    /// `icmp4`, `clone`), continuing in `children`.
    Transform {
        what: String,
        /// What the fork chose that its title does not say (a load balancer's backend).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        children: Vec<Node>,
    },
    /// One action of the flow, in order among what it caused.
    Action {
        text: String,
    },
    /// A comment (`/* MAC binding to … */`).
    Note {
        text: String,
    },
    /// A header change (`ip.ttl--`, `eth.dst = …`; registers and ports are not listed) or the
    /// final `output("port")`, as ovn-trace's summary and minimal forms show them.
    Modify {
        text: String,
    },
    /// The packet leaves through a port (a patch port is followed by the peer's pipeline).
    Output {
        port: String,
        kind: String,
        /// The headers as they leave (MACs, addresses, TTL).
        headers: Headers,
        /// The logical flow that last changed each header on the way.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        changed_by: BTreeMap<String, Writer>,
    },
    Drop {
        stage: String,
        uuid: String,
    },
    Error {
        text: String,
    },
    /// Something the executor does not model; the branch stops here.
    Unmodelled {
        stage: String,
        what: String,
    },
}

/// How to resolve what ovn-trace leaves to the user.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Successive connection-tracking states for `ct_next` and friends (`--ct`), as
    /// `ct.*` names separated by `|`; after the list, `est|trk` (as ovn-trace).
    pub ct: Vec<String>,
    /// The backend a load balancer picks (`--lb-dst`); default: the first listed.
    pub lb_dst: Option<IpAddr>,
    /// Keep a connection table across runs ([`super::conntrack`]): what earlier packets
    /// committed decides a later packet's state and a reply's un-NAT, instead of ovn-trace's
    /// fixed default. (`ct` states still come first.)
    pub conntrack: bool,
}

struct Port {
    datapath: Uuid,
    key: i64,
    kind: String,
    peer: Option<String>,
    /// The `peer` option as written (its binding may not be read yet, see `partial`).
    peer_name: Option<String>,
    distributed: Option<String>,
    security: Vec<String>,
}

/// (datapath, egress?, table number).
type TableKey = (Uuid, bool, i64);

struct Compiled<'a> {
    flow: &'a LogicalFlow,
    matcher: Result<Expr, String>,
    stmts: Vec<Stmt>,
    omit: bool,
}

/// The executor over one Southbound database.
pub struct Executor<'a> {
    sb: &'a SbDb,
    dp_names: HashMap<Uuid, String>,
    dp_keys: HashMap<Uuid, i64>,
    l3gateway: BTreeSet<Uuid>,
    ports: HashMap<String, Port>,
    port_by_key: HashMap<(Uuid, i64), String>,
    /// (datapath, group name) → member ports, sorted by name as ovn-trace does.
    mcgroups: HashMap<(Uuid, String), Vec<String>>,
    flows: HashMap<TableKey, Vec<&'a LogicalFlow>>,
    compiled: RefCell<HashMap<TableKey, Rc<Vec<Compiled<'a>>>>>,
    resident: BTreeSet<String>,
    ct: RefCell<VecDeque<u128>>,
    lb_dst: Option<IpAddr>,
    steps: RefCell<usize>,
    conntrack: Option<RefCell<super::conntrack::Conntrack>>,
    /// With a partly read Southbound ([`super::load`]): the datapaths whose flows are here,
    /// and what a run reached that is not.
    loaded: Option<BTreeSet<Uuid>>,
    missing: RefCell<(BTreeSet<Uuid>, BTreeSet<String>)>,
}

/// A whole trace: the tree plus what it came to.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub microflow: String,
    pub nodes: Vec<Node>,
}

/// One table step, flattened from the tree in the order ovn-trace prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub datapath: String,
    pub stage: String,
    pub priority: i64,
    pub uuid: String,
}

/// The inport a typed-in microflow names (which datapath it starts in).
pub fn inport_of(text: &str) -> Result<String, String> {
    let e = expr::parse(text).map_err(|e| e.to_string())?;
    let empty = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
    let ctx = Context {
        address_sets: &empty.0,
        port_groups: &empty.1,
        datapath_key: 0,
        resident: Some(&empty.2),
    };
    let mut f = Microflow::default();
    // Address sets are not known here; the inport is all that is wanted.
    let _ = f.satisfy(&e, &ctx);
    if f.inport.is_empty() {
        return Err(format!("the microflow {text:?} names no inport (inport == \"PORT\")"));
    }
    Ok(f.inport)
}

/// A flow is omitted from the output when it matches everything and only goes to the next
/// table (ovn-trace prints none of those either).
fn omittable(m: &Result<Expr, String>, stmts: &[Stmt], table: i64) -> bool {
    matches!(m, Ok(Expr::Bool(true)))
        && matches!(stmts, [Stmt { action: Action::Next { egress: None, table: t }, .. }] if t.is_none_or(|t| t == table + 1))
}

fn parse_ct(s: &str) -> Result<u128, String> {
    let mut v = 0;
    for name in s.split(['|', ',', '+']).map(str::trim).filter(|n| !n.is_empty()) {
        let bit = super::symtab::CT_BITS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("unknown connection-tracking flag {name:?} (use new, est, rel, rpl, inv, trk, snat, dnat)"))?;
        v |= 1 << bit.1;
    }
    Ok(v)
}

fn ct_string(state: u128) -> String {
    let names: Vec<&str> = super::symtab::CT_BITS
        .iter()
        .filter(|(_, b)| state & (1 << b) != 0)
        .map(|(n, _)| *n)
        .collect();
    names.join("|")
}

fn field(name: &str) -> Result<FieldRef, String> {
    match resolve(name)? {
        Resolved::Field(f) => Ok(f),
        _ => Err(format!("{name} is not a field")),
    }
}

/// What ovn-trace calls the port (`none` is key 0: no port).
fn port_name(p: &str) -> &str {
    if p == "none" {
        ""
    } else {
        p
    }
}

impl<'a> Executor<'a> {
    pub fn new(sb: &'a SbDb, opts: &Options) -> Result<Self, String> {
        let dp_names = sb
            .datapaths
            .values()
            .map(|d| {
                let name = d.external_ids.get("name2").cloned().unwrap_or_else(|| d.name().to_string());
                (d.uuid, if name.is_empty() { d.uuid.to_string() } else { name })
            })
            .collect();
        let dp_keys = sb.datapaths.values().map(|d| (d.uuid, d.tunnel_key)).collect();
        let mut ports: HashMap<String, Port> = HashMap::new();
        let mut l3gateway = BTreeSet::new();
        for pb in sb.port_bindings.values() {
            let Some(dp) = pb.datapath else { continue };
            if pb.kind == "l3gateway" {
                l3gateway.insert(dp);
            }
            ports.insert(
                pb.logical_port.clone(),
                Port {
                    datapath: dp,
                    key: pb.tunnel_key,
                    kind: pb.kind.clone(),
                    peer: None,
                    peer_name: pb.options.get("peer").cloned(),
                    distributed: (pb.kind == "chassisredirect")
                        .then(|| pb.options.get("distributed-port").cloned())
                        .flatten(),
                    security: pb.port_security.clone(),
                },
            );
        }
        // A patch (or gateway router) port and the port its `peer` option names are each
        // other's peer; ovn-trace 23.03 crosses both kinds.
        for pb in sb.port_bindings.values().filter(|p| p.kind == "patch" || p.kind == "l3gateway") {
            if let Some(peer) = pb.options.get("peer").filter(|p| ports.contains_key(*p)) {
                let peer = peer.clone();
                ports.get_mut(&peer).expect("checked").peer = Some(pb.logical_port.clone());
                ports.get_mut(&pb.logical_port).expect("bound").peer = Some(peer);
            }
        }
        let port_by_key = ports.iter().map(|(n, p)| ((p.datapath, p.key), n.clone())).collect();
        let by_uuid: HashMap<Uuid, &str> = sb.port_bindings.values().map(|p| (p.uuid, p.logical_port.as_str())).collect();
        let mut mcgroups = HashMap::new();
        for g in sb.multicast_groups.values() {
            let Some(dp) = g.datapath else { continue };
            let mut members: Vec<String> = g
                .ports
                .iter()
                .filter_map(|u| by_uuid.get(u).map(|s| s.to_string()))
                .filter(|n| ports.get(n).is_some_and(|p| p.datapath == dp))
                .collect();
            members.sort();
            mcgroups.insert((dp, g.name.clone()), members);
        }
        let mut flows: HashMap<TableKey, Vec<&LogicalFlow>> = HashMap::new();
        for f in sb.logical_flows.values() {
            let dps: Vec<Uuid> = match (f.logical_datapath, f.logical_dp_group) {
                (Some(d), _) => vec![d],
                (None, Some(g)) => sb.dp_groups.get(&g).cloned().unwrap_or_default(),
                _ => vec![],
            };
            for d in dps {
                flows.entry((d, f.pipeline == "egress", f.table_id)).or_default().push(f);
            }
        }
        for v in flows.values_mut() {
            // Highest priority first; ties in uuid order, so a run is repeatable.
            v.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.uuid.cmp(&b.uuid)));
        }
        let ct = opts.ct.iter().map(|s| parse_ct(s)).collect::<Result<VecDeque<_>, _>>()?;
        Ok(Executor {
            sb,
            dp_names,
            dp_keys,
            l3gateway,
            resident: ports.keys().cloned().collect(),
            ports,
            port_by_key,
            mcgroups,
            flows,
            compiled: RefCell::new(HashMap::new()),
            ct: RefCell::new(ct),
            lb_dst: opts.lb_dst,
            steps: RefCell::new(0),
            conntrack: opts.conntrack.then(Default::default),
            loaded: None,
            missing: RefCell::new(Default::default()),
        })
    }

    /// An executor over a Southbound of which only the flows of `loaded` datapaths were read;
    /// a run that reaches another datapath, or a peer port whose binding is not here, stops
    /// there and names it in [`Executor::missing`].
    pub fn partial(sb: &'a SbDb, opts: &Options, loaded: BTreeSet<Uuid>) -> Result<Self, String> {
        let mut ex = Self::new(sb, opts)?;
        ex.loaded = Some(loaded);
        Ok(ex)
    }

    /// The datapaths and peer ports the last run needed but were not read.
    pub fn missing(&self) -> (Vec<Uuid>, Vec<String>) {
        let m = self.missing.borrow();
        (m.0.iter().copied().collect(), m.1.iter().cloned().collect())
    }

    /// The datapath a port belongs to.
    pub fn datapath_of(&self, port: &str) -> Option<Uuid> {
        self.ports.get(port).map(|p| p.datapath)
    }

    fn dp_name(&self, dp: Uuid) -> String {
        self.dp_names.get(&dp).cloned().unwrap_or_else(|| dp.to_string())
    }

    fn context(&self, dp: Uuid) -> Context<'_> {
        Context {
            address_sets: &self.sb.address_sets,
            port_groups: &self.sb.port_groups,
            datapath_key: self.dp_keys.get(&dp).copied().unwrap_or(0),
            resident: Some(&self.resident),
        }
    }

    fn table(&self, dp: Uuid, egress: bool, table: i64) -> Rc<Vec<Compiled<'a>>> {
        let key = (dp, egress, table);
        if let Some(c) = self.compiled.borrow().get(&key) {
            return c.clone();
        }
        let compiled: Vec<Compiled<'a>> = self
            .flows
            .get(&key)
            .map(|v| {
                v.iter()
                    .map(|f| {
                        let matcher = expr::parse(&f.match_).map_err(|e| e.to_string());
                        let stmts = actions::parse(&f.actions);
                        let omit = omittable(&matcher, &stmts, table);
                        Compiled {
                            flow: f,
                            matcher,
                            stmts,
                            omit,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rc = Rc::new(compiled);
        self.compiled.borrow_mut().insert(key, rc.clone());
        rc
    }

    fn next_ct_state(&self, dp: Uuid, flow: &Microflow) -> (u128, &'static str) {
        if let Some(s) = self.ct.borrow_mut().pop_front() {
            return (s, "");
        }
        match &self.conntrack {
            Some(t) => (t.borrow().state(&self.dp_name(dp), flow), " /* from the connections seen */"),
            // ovn-trace's default: an established connection.
            None => (CT_TRK | CT_EST, " /* default (use --ct to customize) */"),
        }
    }

    /// Traces a microflow entering at its `inport` (which names the datapath).
    pub fn run(&self, flow: &Microflow) -> Result<Trace, String> {
        let dp = self
            .datapath_of(&flow.inport)
            .ok_or_else(|| format!("unknown logical port {:?} (the microflow's inport)", flow.inport))?;
        let mut f = flow.clone();
        let mut children = vec![];
        self.trace(dp, &mut f, 0, false, &mut children);
        Ok(Trace {
            microflow: flow.headers(),
            nodes: vec![Node::Pipeline {
                entry: None,
                kind: "ingress".into(),
                datapath: self.dp_name(dp),
                inport: Some(flow.inport.clone()),
                outport: None,
                children,
            }],
        })
    }

    /// Parses a typed-in microflow (`inport == "p" && ip4.src == … && tcp.dst == 80`).
    pub fn microflow(&self, text: &str) -> Result<Microflow, String> {
        let e = expr::parse(text).map_err(|e| e.to_string())?;
        let mut f = Microflow::default();
        // Satisfy with an empty context first to learn the inport, then with its datapath's.
        let empty = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
        let probe = Context {
            address_sets: &empty.0,
            port_groups: &empty.1,
            datapath_key: 0,
            resident: Some(&empty.2),
        };
        f.satisfy(&e, &probe).or_else(|_| f.satisfy(&e, &self.context(Uuid::nil())))?;
        let dp = self
            .datapath_of(&f.inport)
            .ok_or_else(|| format!("the microflow's inport {:?} is not a logical port", f.inport))?;
        if f.eval(&e, &self.context(dp)) != Truth::True {
            return Err(format!("cannot build a packet that satisfies {text:?}"));
        }
        Ok(f)
    }

    fn trace(&self, dp: Uuid, flow: &mut Microflow, mut table: i64, egress: bool, out: &mut Vec<Node>) {
        let pipeline = if egress { "egress" } else { "ingress" };
        if self.loaded.as_ref().is_some_and(|l| !l.contains(&dp)) {
            self.missing.borrow_mut().0.insert(dp);
            out.push(Node::Unmodelled {
                stage: pipeline.into(),
                what: format!("datapath {} not read yet", self.dp_name(dp)),
            });
            return;
        }
        let ctx = self.context(dp);
        loop {
            {
                let mut n = self.steps.borrow_mut();
                *n += 1;
                if *n > 10_000 {
                    out.push(Node::Error {
                        text: "*** more than 10000 tables: a loop?".into(),
                    });
                    return;
                }
            }
            let flows = self.table(dp, egress, table);
            let stage_of = || {
                flows
                    .first()
                    .map(|c| c.flow.stage().to_string())
                    .unwrap_or_else(|| format!("{pipeline} table {table}"))
            };
            let mut chosen: Option<&Compiled> = None;
            let mut tied = vec![];
            for c in flows.iter() {
                if chosen.is_some_and(|ch| ch.flow.priority != c.flow.priority) {
                    break;
                }
                let t = match &c.matcher {
                    Ok(m) => flow.eval(m, &ctx),
                    Err(e) => Truth::Unknown(format!("a match that does not parse ({e})")),
                };
                match t {
                    Truth::True if chosen.is_none() => chosen = Some(c),
                    Truth::True => tied.push(c.flow.uuid.to_string()),
                    Truth::False => {}
                    Truth::Unknown(why) => {
                        out.push(Node::Unmodelled {
                            stage: stage_of(),
                            what: format!("flow {} (priority {}) cannot be decided: {why}", c.flow.uuid, c.flow.priority),
                        });
                        return;
                    }
                }
            }
            let Some(c) = chosen else {
                out.push(Node::NoMatch {
                    datapath: self.dp_name(dp),
                    pipeline: pipeline.into(),
                    table,
                    stage: stage_of(),
                });
                return;
            };
            if c.omit && tied.is_empty() {
                table += 1;
                continue;
            }
            let mut children = vec![];
            self.actions(dp, &c.stmts, flow, table, egress, c.flow, &mut children);
            out.push(Node::Table {
                datapath: self.dp_name(dp),
                pipeline: pipeline.into(),
                table,
                stage: c.flow.stage().to_string(),
                priority: c.flow.priority,
                match_: c.flow.match_.clone(),
                uuid: c.flow.uuid.to_string(),
                source: c.flow.external_ids.get("source").cloned(),
                tied_with: tied,
                children,
            });
            return;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn actions(&self, dp: Uuid, stmts: &[Stmt], flow: &mut Microflow, table: i64, egress: bool, lf: &LogicalFlow, out: &mut Vec<Node>) {
        if stmts.is_empty() {
            out.push(Node::Action { text: "drop;".into() });
            out.push(Node::Drop {
                stage: lf.stage().into(),
                uuid: lf.uuid.to_string(),
            });
            return;
        }
        let ctx = self.context(dp);
        let unmodelled = |what: String| Node::Unmodelled {
            stage: lf.stage().into(),
            what,
        };
        let writer = Writer {
            datapath: self.dp_name(dp),
            stage: lf.stage().into(),
            uuid: lf.uuid.to_string(),
            match_: lf.match_.clone(),
        };
        for s in stmts {
            out.push(Node::Action {
                text: format!("{};", s.text),
            });
            let before = flow.header_values();
            // A statement that cannot be carried out stops this branch, naming it.
            macro_rules! or_stop {
                ($r:expr) => {
                    match $r {
                        Ok(v) => v,
                        Err(e) => {
                            out.push(unmodelled(format!("{}: {e}", s.text)));
                            return;
                        }
                    }
                };
            }
            match &s.action {
                Action::Next { egress: e, table: t } => {
                    let next_table = t.unwrap_or(table + 1);
                    match e {
                        Some(e) if *e != egress => {
                            let mut kids = vec![];
                            self.trace(dp, flow, next_table, *e, &mut kids);
                            out.push(Node::Pipeline {
                                entry: None,
                                kind: if *e { "egress" } else { "ingress" }.into(),
                                datapath: self.dp_name(dp),
                                inport: (!e).then(|| flow.inport.clone()),
                                outport: e.then(|| flow.outport.clone()),
                                children: kids,
                            });
                        }
                        _ => self.trace(dp, flow, next_table, egress, out),
                    }
                }
                Action::Output => self.output(dp, flow, egress, out),
                Action::Drop => out.push(Node::Drop {
                    stage: lf.stage().into(),
                    uuid: lf.uuid.to_string(),
                }),
                Action::Load { dst, value } => {
                    or_stop!(self.load(flow, dst, value, &ctx));
                    if !is_register(dst) {
                        out.push(Node::Modify { text: s.text.clone() });
                    }
                }
                Action::Move { dst, src } => {
                    or_stop!(move_field(flow, dst, src));
                    if !is_register(dst) {
                        out.push(Node::Modify {
                            text: format!("{dst} = {}", moved(src, &shown(flow, dst))),
                        });
                    }
                }
                Action::Exchange { a, b } => {
                    let (va, vb) = (or_stop!(read(flow, a)), or_stop!(read(flow, b)));
                    or_stop!(write(flow, a, vb));
                    or_stop!(write(flow, b, va));
                    for (f, from) in [(a, b), (b, a)] {
                        if !is_register(f) {
                            out.push(Node::Modify {
                                text: format!("{f} = {}", moved(from, &shown(flow, f))),
                            });
                        }
                    }
                }
                Action::DecTtl => {
                    if flow.ip().is_none() {
                        out.push(Node::Error {
                            text: "*** TTL decrement of non-IP packet".into(),
                        });
                    } else if flow.get_base(Base::IpTtl) == 0 {
                        out.push(Node::Error {
                            text: "*** TTL underflow".into(),
                        });
                    } else {
                        flow.set_base(Base::IpTtl, flow.get_base(Base::IpTtl) - 1);
                        out.push(Node::Modify { text: "ip.ttl--".into() });
                    }
                }
                Action::CtNext => {
                    let (state, note) = self.next_ct_state(dp, flow);
                    let mut ct = flow.clone();
                    ct.set_base(Base::CtState, state);
                    let what = format!("ct_next(ct_state={}{note})", ct_string(state));
                    out.push(self.fork(dp, ct, table, egress, what, None));
                }
                Action::CtNat { dst, in_czone, addr } => {
                    if !dst && addr.is_none() && self.l3gateway.contains(&dp) && self.conntrack.is_none() {
                        // ovn-trace: "ct_snat;" has no visible effect in a gateway router.
                        continue;
                    }
                    let d = if *dst { "dst" } else { "src" };
                    let mut ct = flow.clone();
                    let mut what = format!("ct_{}nat{}", &d[..1], if *in_czone { "_in_czone" } else { "" });
                    let dp_name = self.dp_name(dp);
                    let unnat = match (addr, &self.conntrack) {
                        (None, Some(t)) => t.borrow().unnat(&dp_name, flow, *dst),
                        _ => None,
                    };
                    match (addr, unnat) {
                        (Some(a), _) => {
                            what += &format!("(ip{}.{d}={a})", if a.is_ipv4() { 4 } else { 6 });
                            ct.set_ip(*dst, *a);
                            if let Some(t) = &self.conntrack {
                                t.borrow_mut().commit_nat(&dp_name, flow, &ct, *dst);
                            }
                            let st = ct.get_base(Base::CtState) | if *dst { CT_DNAT } else { CT_SNAT };
                            ct.set_base(Base::CtState, st);
                        }
                        (None, Some(back)) => {
                            // A reply of a connection this datapath NATed: undone.
                            let state = self.next_ct_state(dp, flow).0;
                            ct = back;
                            ct.set_base(Base::CtState, state);
                            let (s, t) = ct.ip().expect("un-NAT of an IP packet");
                            what += &format!(" /* un-{}nat of a connection seen: {s} > {t} */", &d[..1]);
                        }
                        (None, None) => what += &format!(" /* assuming no un-{}nat entry, so no change */", &d[..1]),
                    }
                    if ct.get_base(Base::CtState) & CT_TRK == 0 {
                        let (state, note) = self.next_ct_state(dp, flow);
                        ct.set_base(Base::CtState, ct.get_base(Base::CtState) | state);
                        what += note;
                    }
                    ct.note_writes(&before, &writer);
                    out.push(self.fork(dp, ct, table, egress, what, None));
                }
                Action::CtLb { mark, backends } => {
                    let mut ct = flow.clone();
                    let mut what = if *mark { "ct_lb_mark" } else { "ct_lb" }.to_string();
                    let mut detail = None;
                    if let Some((src, dst)) = flow.ip() {
                        let same_family = |a: &IpAddr| a.is_ipv4() == src.is_ipv4();
                        let pick = match self.lb_dst {
                            Some(want) if backends.is_empty() && same_family(&want) => Some((want, None)),
                            Some(want) => backends.iter().find(|(a, _)| *a == want).copied(),
                            None => None,
                        }
                        .or_else(|| backends.iter().find(|(a, _)| same_family(a)).copied());
                        if let Some((ip, port)) = pick {
                            let (nw, ip6) = (Base::CtNwDst, dst.is_ipv6());
                            if !ip6 {
                                ct.set_base(nw, flow.get_base(Base::NwDst));
                            }
                            ct.set_ip(true, ip);
                            ct.set_base(Base::CtTpDst, flow.get_base(Base::TpDst));
                            if let Some(p) = port {
                                ct.set_base(Base::TpDst, p as u128);
                            }
                            ct.set_base(Base::CtState, ct.get_base(Base::CtState) | CT_DNAT);
                            if let Some(t) = &self.conntrack {
                                t.borrow_mut().commit_nat(&self.dp_name(dp), flow, &ct, true);
                            }
                            detail = Some(format!(
                                "backend {ip}{}{}",
                                port.map(|p| format!(":{p}")).unwrap_or_default(),
                                if self.lb_dst.is_none() && backends.len() > 1 {
                                    " (the first listed; --lb-dst chooses)"
                                } else {
                                    ""
                                }
                            ));
                        } else if !backends.is_empty() {
                            out.push(Node::Error {
                                text: "*** no load balancing destination (use --lb-dst)".into(),
                            });
                        } else if let Some(back) = self
                            .conntrack
                            .as_ref()
                            .and_then(|t| t.borrow().unnat(&self.dp_name(dp), flow, true))
                        {
                            ct = back;
                            detail = Some("un-DNAT of a load-balanced connection seen".into());
                        }
                        let (state, note) = self.next_ct_state(dp, flow);
                        ct.set_base(Base::CtState, ct.get_base(Base::CtState) | state);
                        what += note;
                    }
                    ct.note_writes(&before, &writer);
                    out.push(self.fork(dp, ct, table, egress, what, detail));
                }
                Action::CtCommit => {
                    if let Some(t) = &self.conntrack {
                        t.borrow_mut().commit(&self.dp_name(dp), flow);
                    }
                }
                Action::NoEffect(_) => {}
                Action::CtClear => flow.clear_conntrack(),
                Action::GetMac { port, ip } => {
                    let port = or_stop!(read_port(flow, port));
                    let f = or_stop!(field(ip));
                    let ip = format_value(f, flow.get(f));
                    let mac = self.mac_binding(dp, &port, &ip);
                    out.push(Node::Note {
                        text: match &mac {
                            Some(m) => format!("/* MAC binding to {m}. */"),
                            None => "/* No MAC binding. */".into(),
                        },
                    });
                    flow.set_base(Base::EthDst, mac.as_deref().and_then(parse_mac).unwrap_or(0));
                    out.push(Node::Modify {
                        text: format!("eth.dst = {}", shown(flow, "eth.dst")),
                    });
                }
                Action::Call { dst, func, args } => {
                    if let Some(v) = or_stop!(self.call(dp, flow, func, args)) {
                        if let Some(n) = call_note(func, &v, flow) {
                            out.push(n);
                        }
                        or_stop!(write(flow, dst, v.clone()));
                        if let (true, Value::Bits(b, _)) = (func.starts_with("chk_lb_hairpin"), v) {
                            out.push(Node::Modify {
                                text: format!("{dst} = {b}"),
                            });
                        }
                    }
                }
                Action::Nested { kind, body } => {
                    let Some(mut nf) = nested_packet(kind, flow) else {
                        continue; // ovn-trace: a reject of a reject is not sent (no recirculation)
                    };
                    nf.note_writes(&before, &writer);
                    let mut kids = vec![];
                    self.actions(dp, body, &mut nf, table, egress, lf, &mut kids);
                    let what = match kind.as_str() {
                        "reject" => reject_kind(flow).to_string(),
                        "icmp4_error" => "icmp4".into(),
                        "icmp6_error" => "icmp6".into(),
                        "nd_na_router" => "nd_na".into(),
                        k => k.to_string(),
                    };
                    out.push(Node::Transform {
                        what,
                        detail: None,
                        children: kids,
                    });
                }
                Action::Unmodelled(name) => {
                    out.push(unmodelled(format!("action {name} ({}) is not modelled", s.text)));
                    return;
                }
            }
            // `next` and `output` carry the packet on (changing it there, credited there).
            if !matches!(s.action, Action::Next { .. } | Action::Output) {
                flow.note_writes(&before, &writer);
            }
        }
    }

    /// A connection-tracking fork: the changed packet continues in the next table (ovn-trace
    /// then runs the flow's remaining actions on the original packet).
    fn fork(&self, dp: Uuid, mut ct: Microflow, table: i64, egress: bool, what: String, detail: Option<String>) -> Node {
        let mut kids = vec![];
        self.trace(dp, &mut ct, table + 1, egress, &mut kids);
        Node::Transform {
            what,
            detail,
            children: kids,
        }
    }

    fn load(&self, flow: &mut Microflow, dst: &str, value: &str, ctx: &Context) -> Result<(), String> {
        match resolve(dst)? {
            Resolved::Port { out } => {
                let name = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or_else(|| format!("{dst} = {value}: not a port name"))?;
                if out {
                    flow.outport = port_name(name).into();
                } else {
                    flow.inport = port_name(name).into();
                }
                Ok(())
            }
            Resolved::Field(f) => {
                let v = match expr::parse_value(value) {
                    Some(expr::Value::Int(n)) => n,
                    Some(expr::Value::Mac(m)) => parse_mac(&m).ok_or("bad MAC")?,
                    Some(expr::Value::Net(n)) if n.prefix_len() == n.max_prefix_len() => match n.addr() {
                        IpAddr::V4(a) => u32::from(a) as u128,
                        IpAddr::V6(a) => u128::from(a),
                    },
                    _ => return Err(format!("value {value} is not modelled")),
                };
                // Like OpenFlow set-field: only when the field exists in this packet.
                let ok = match f.prereq {
                    Some(p) => flow.eval(&expr::parse(p).map_err(|e| e.to_string())?, ctx) == Truth::True,
                    None => true,
                };
                if ok {
                    flow.set(f, v);
                }
                Ok(())
            }
            Resolved::Predicate(_) => Err(format!("cannot assign to {dst}")),
        }
    }

    fn mac_binding(&self, dp: Uuid, port: &str, ip: &str) -> Option<String> {
        let want = ip.parse::<IpAddr>().ok()?;
        self.sb
            .mac_bindings
            .values()
            .find(|m| m.logical_port == port && m.datapath.is_none_or(|d| d == dp) && m.ip.parse::<IpAddr>().ok() == Some(want))
            .map(|m| m.mac.to_ascii_lowercase())
    }

    /// Functions whose result is assigned (`reg0[15] = check_in_port_sec()`); `Ok(None)`:
    /// ovn-trace leaves the destination as it was.
    fn call(&self, dp: Uuid, flow: &Microflow, func: &str, args: &[String]) -> Result<Option<Value>, String> {
        let bit = |b: bool| Some(Value::Bits(u128::from(b), 1));
        let arg = |i: usize| args.get(i).map(String::as_str).ok_or_else(|| format!("{func}: missing argument"));
        Ok(match func {
            "check_in_port_sec" | "check_out_port_sec" => {
                let out = func == "check_out_port_sec";
                let name = if out { &flow.outport } else { &flow.inport };
                let port = self.ports.get(name).ok_or_else(|| format!("{func}: unknown port {name:?}"))?;
                bit(!port_security_allows(&port.security, flow, out))
            }
            "get_fdb" => {
                let mac = flow.get(field(arg(0)?)?);
                let key = self.dp_keys.get(&dp).copied().unwrap_or(0);
                let port = self
                    .sb
                    .fdb
                    .iter()
                    .find(|e| e.dp_key == key && parse_mac(&e.mac.to_ascii_lowercase()) == Some(mac))
                    .map(|e| e.port_key);
                Some(Value::Port(
                    port.and_then(|k| self.port_by_key.get(&(dp, k))).cloned().unwrap_or_default(),
                ))
            }
            "lookup_fdb" => {
                let port = read_port(flow, arg(0)?)?;
                let mac = flow.get(field(arg(1)?)?);
                let key = self.dp_keys.get(&dp).copied().unwrap_or(0);
                let pkey = self.ports.get(&port).map(|p| p.key);
                bit(self
                    .sb
                    .fdb
                    .iter()
                    .any(|e| e.dp_key == key && Some(e.port_key) == pkey && parse_mac(&e.mac.to_ascii_lowercase()) == Some(mac)))
            }
            "lookup_arp" | "lookup_nd" | "lookup_arp_ip" | "lookup_nd_ip" => {
                let port = read_port(flow, arg(0)?)?;
                let f = field(arg(1)?)?;
                let ip = format_value(f, flow.get(f));
                let want_mac = if func.ends_with("_ip") {
                    None
                } else {
                    Some(flow.get(field(arg(2)?)?))
                };
                let want = ip.parse::<IpAddr>().ok();
                bit(self.sb.mac_bindings.values().any(|m| {
                    m.logical_port == port
                        && m.ip.parse::<IpAddr>().ok() == want
                        && want_mac.is_none_or(|w| parse_mac(&m.mac.to_ascii_lowercase()) == Some(w))
                }))
            }
            "chk_lb_hairpin" | "chk_lb_hairpin_reply" => bit(self.lb_hairpin(flow, func == "chk_lb_hairpin")),
            "put_dhcp_opts" | "put_dhcpv6_opts" | "put_nd_ra_opts" | "dhcp_relay_req_chk" | "dhcp_relay_resp_chk" => bit(true),
            "dns_lookup" => bit(false),
            "check_pkt_larger" | "chk_ecmp_nh_mac" | "chk_ecmp_nh" | "chk_lb_aff" => None,
            _ => return Err(format!("function {func}() is not modelled")),
        })
    }

    /// ovn-trace's hairpin check: the packet was DNATed to its own source, for a VIP of a
    /// Southbound load balancer, on the VIP's port.
    fn lb_hairpin(&self, flow: &Microflow, orig: bool) -> bool {
        let Some((src, dst)) = flow.ip() else { return false };
        let ct_dst = IpAddr::from(std::net::Ipv4Addr::from(flow.get_base(Base::CtNwDst) as u32));
        let vip = self.sb.load_balancers.values().flat_map(|lb| lb.vips.keys()).find_map(|k| {
            let (a, p) = match k.rsplit_once(':') {
                Some((a, p)) if !a.contains(':') || a.ends_with(']') => (a.trim_matches(['[', ']']), p.parse::<u128>().ok()),
                _ => (k.as_str(), None),
            };
            (a.parse::<IpAddr>().ok() == Some(ct_dst)).then_some(p.unwrap_or(0))
        });
        let Some(vip_port) = vip else { return false };
        let port = if orig {
            flow.get_base(Base::CtTpDst)
        } else {
            flow.get_base(Base::TpDst)
        };
        flow.get_base(Base::CtState) & CT_DNAT != 0 && src == dst && vip_port == port
    }

    fn output(&self, dp: Uuid, flow: &mut Microflow, egress: bool, out: &mut Vec<Node>) {
        let name = flow.outport.clone();
        if name.is_empty() {
            out.push(Node::Error {
                text: "*** output to null logical port".into(),
            });
            return;
        }
        let port = self.ports.get(&name).filter(|p| p.datapath == dp);
        let group = self.mcgroups.get(&(dp, name.clone()));
        if port.is_none() && group.is_none() {
            out.push(Node::Error {
                text: format!("*** unknown port or multicast group {name:?}"),
            });
        }
        if egress {
            let peer = port.and_then(|p| p.peer.as_ref());
            if let (None, Some(want), true) = (peer, port.and_then(|p| p.peer_name.as_ref()), self.loaded.is_some()) {
                // A patch port whose peer's binding was not read yet.
                if matches!(port.map(|p| p.kind.as_str()), Some("patch" | "l3gateway")) {
                    self.missing.borrow_mut().1.insert(want.clone());
                    out.push(Node::Unmodelled {
                        stage: "egress".into(),
                        what: format!("peer port {want} not read yet"),
                    });
                    return;
                }
            }
            if peer.is_none() {
                out.push(Node::Modify {
                    text: format!("output(\"{name}\")"),
                });
            }
            out.push(Node::Output {
                port: name.clone(),
                kind: port.map(|p| p.kind.clone()).unwrap_or_default(),
                headers: flow.header_values(),
                changed_by: flow.writers.clone(),
            });
            if let Some(peer) = peer {
                let Some(pdp) = self.datapath_of(peer) else { return };
                let mut nf = flow.clone();
                nf.inport = peer.clone();
                nf.outport = String::new();
                let mut kids = vec![];
                self.trace(pdp, &mut nf, 0, false, &mut kids);
                out.push(Node::Pipeline {
                    entry: None,
                    kind: "ingress".into(),
                    datapath: self.dp_name(pdp),
                    inport: Some(peer.clone()),
                    outport: None,
                    children: kids,
                });
            }
            return;
        }
        let mut ef = flow.clone();
        ef.clear_registers();
        let loopback = flow.get(field("flags.loopback").expect("known")) == 1;
        if let Some(members) = group {
            let mut fan = vec![];
            for m in members {
                let mut kids = vec![];
                if *m != flow.inport || loopback {
                    let mut mf = ef.clone();
                    mf.outport = m.clone();
                    self.trace(dp, &mut mf, 0, true, &mut kids);
                } else {
                    kids.push(Node::Note {
                        text: "/* omitting output because inport == outport && !flags.loopback */".into(),
                    });
                }
                fan.push(Node::Pipeline {
                    entry: Some(ef.header_values()),
                    kind: "egress".into(),
                    datapath: self.dp_name(dp),
                    inport: Some(flow.inport.clone()),
                    outport: Some(m.clone()),
                    children: kids,
                });
            }
            out.push(Node::Pipeline {
                entry: None,
                kind: "multicast".into(),
                datapath: self.dp_name(dp),
                inport: None,
                outport: Some(name),
                children: fan,
            });
            return;
        }
        let mut out_name = name.clone();
        if let Some(p) = port.filter(|p| p.kind == "chassisredirect") {
            match p.distributed.as_ref().filter(|d| self.datapath_of(d) == Some(dp)) {
                Some(d) => {
                    out.push(Node::Note {
                        text: format!("/* Replacing type \"chassisredirect\" outport \"{name}\" with distributed port \"{d}\". */"),
                    });
                    out_name = d.clone();
                    ef.outport = d.clone();
                }
                None => {
                    out.push(Node::Error {
                        text: format!("*** output to type \"chassisredirect\" port \"{name}\" with no or invalid distributed port"),
                    });
                    return;
                }
            }
        }
        if port.is_some() && out_name != flow.inport || loopback {
            let entry = Some(ef.header_values());
            let mut kids = vec![];
            self.trace(dp, &mut ef, 0, true, &mut kids);
            out.push(Node::Pipeline {
                entry,
                kind: "egress".into(),
                datapath: self.dp_name(dp),
                inport: Some(flow.inport.clone()),
                outport: Some(out_name),
                children: kids,
            });
        } else {
            out.push(Node::Note {
                text: "/* omitting output because inport == outport && !flags.loopback */".into(),
            });
        }
    }
}

/// What ovn-trace notes for a lookup's result.
fn call_note(func: &str, v: &Value, flow: &Microflow) -> Option<Node> {
    let found = matches!(v, Value::Bits(1, _));
    let dst = shown(flow, "eth.dst");
    let text = match func {
        "lookup_arp" | "lookup_nd" if found => format!("/* MAC binding to {dst} found. */"),
        "lookup_arp_ip" | "lookup_nd_ip" if found => "/* MAC binding found. */".into(),
        "lookup_arp" | "lookup_nd" | "lookup_arp_ip" | "lookup_nd_ip" => "/* lookup failed - No MAC binding. */".into(),
        "lookup_fdb" if found => format!("/* MAC lookup for {dst} found in FDB. */"),
        "lookup_fdb" => "/* lookup mac failed in mac learning table. */".into(),
        "dns_lookup" => {
            return Some(Node::Error {
                text: "*** dns_lookup action not implemented".into(),
            })
        }
        _ => return None,
    };
    Some(Node::Note { text })
}

/// Registers (and the logical ports, which live in registers) are not header changes.
fn is_register(name: &str) -> bool {
    match resolve(name) {
        Ok(Resolved::Port { .. }) => true,
        Ok(Resolved::Field(f)) => matches!(f.base, Base::Reg(_) | Base::XReg(_) | Base::XXReg(_)),
        _ => false,
    }
}

/// How ovn-trace prints a moved value: by the source — a register or a part of a field in
/// hexadecimal, a whole address field as an address.
fn moved(src: &str, value_as_dst: &str) -> String {
    match resolve(src) {
        Ok(Resolved::Field(f)) if matches!(f.base, Base::Reg(_) | Base::XReg(_) | Base::XXReg(_)) || f.width != f.base.width() => {
            let v = value_as_dst
                .parse::<IpAddr>()
                .map(|a| match a {
                    IpAddr::V4(a) => u32::from(a) as u128,
                    IpAddr::V6(a) => u128::from(a),
                })
                .ok()
                .or_else(|| parse_mac(value_as_dst))
                .or_else(|| value_as_dst.parse().ok())
                .unwrap_or(0);
            if v == 0 {
                "0".into()
            } else {
                format!("{v:#x}")
            }
        }
        _ => value_as_dst.to_string(),
    }
}

/// A field's value as OVN prints it.
fn shown(flow: &Microflow, name: &str) -> String {
    match resolve(name) {
        Ok(Resolved::Field(f)) => format_value(f, flow.get(f)),
        Ok(Resolved::Port { out }) => format!("\"{}\"", if out { &flow.outport } else { &flow.inport }),
        _ => "?".into(),
    }
}

fn read_port(flow: &Microflow, name: &str) -> Result<String, String> {
    match resolve(name)? {
        Resolved::Port { out } => Ok(if out { flow.outport.clone() } else { flow.inport.clone() }),
        _ => Err(format!("{name} is not a port")),
    }
}

/// A field's bits or a port's name.
fn read(flow: &Microflow, name: &str) -> Result<Value, String> {
    match resolve(name)? {
        Resolved::Port { out } => Ok(Value::Port(if out { flow.outport.clone() } else { flow.inport.clone() })),
        Resolved::Field(f) => Ok(Value::Bits(flow.get(f), f.width)),
        Resolved::Predicate(_) => Err(format!("{name} is a predicate")),
    }
}

#[derive(Debug, Clone)]
enum Value {
    Bits(u128, u32),
    Port(String),
}

fn write(flow: &mut Microflow, name: &str, v: Value) -> Result<(), String> {
    match (resolve(name)?, v) {
        (Resolved::Port { out }, Value::Port(p)) => {
            if out {
                flow.outport = p;
            } else {
                flow.inport = p;
            }
            Ok(())
        }
        (Resolved::Field(f), Value::Bits(b, _)) => {
            flow.set(f, b);
            Ok(())
        }
        (dst, v) => Err(format!("cannot write {v:?} to {dst:?}")),
    }
}

fn move_field(flow: &mut Microflow, dst: &str, src: &str) -> Result<(), String> {
    let v = read(flow, src)?;
    if let (Value::Bits(_, w), Ok(Resolved::Field(d))) = (&v, resolve(dst)) {
        if *w != d.width {
            return Err(format!("{src} ({w} bits) and {dst} ({} bits) differ in width", d.width));
        }
    }
    write(flow, dst, v)
}

/// The packet a nested action describes (ovn-trace's rules), or `None` when it is not sent.
fn nested_packet(kind: &str, f: &Microflow) -> Option<Microflow> {
    let mut n = f.clone();
    let swap = |n: &mut Microflow| {
        let (es, ed) = (f.get_base(Base::EthSrc), f.get_base(Base::EthDst));
        n.set_base(Base::EthSrc, ed);
        n.set_base(Base::EthDst, es);
        for (a, b) in [(Base::NwSrc, Base::NwDst), (Base::Ip6Src, Base::Ip6Dst)] {
            let (x, y) = (f.get_base(a), f.get_base(b));
            n.set_base(a, y);
            n.set_base(b, x);
        }
    };
    let v6 = f.get_base(Base::EthType) == 0x86dd;
    match kind {
        "icmp4" | "icmp4_error" | "icmp6" | "icmp6_error" => {
            let six = kind.starts_with("icmp6");
            n.set_base(Base::IpProto, if six { 58 } else { 1 });
            n.set_base(Base::IpTtl, 255);
            n.set_base(Base::TpSrc, if six { 1 } else { 3 });
            n.set_base(Base::TpDst, 1);
        }
        "reject" => {
            let proto = f.get_base(Base::IpProto);
            if proto == 6 || proto == 132 {
                if f.get_base(Base::TcpFlags) == 4 {
                    return None;
                }
                swap(&mut n);
                n.set_base(Base::IpProto, 6);
                n.set_base(Base::IpTtl, 255);
                n.set_base(Base::TcpFlags, 4);
            } else {
                let unreach = if v6 { 1 } else { 3 };
                if f.get_base(Base::TpSrc) == unreach && matches!(proto, 1 | 58) {
                    return None;
                }
                swap(&mut n);
                n.set_base(Base::IpProto, if v6 { 58 } else { 1 });
                n.set_base(Base::IpTtl, 255);
                n.set_base(Base::TpSrc, unreach);
                n.set_base(Base::TpDst, 1);
            }
        }
        "tcp_reset" | "sctp_abort" => {
            n.set_base(Base::IpProto, if kind == "tcp_reset" { 6 } else { 132 });
            n.set_base(Base::IpTtl, 255);
            n.set_base(Base::TcpFlags, 4);
        }
        "arp" => {
            for b in [Base::IpFrag, Base::IpDscp, Base::IpEcn, Base::IpTtl, Base::TcpFlags] {
                n.set_base(b, 0);
            }
            n.set_base(Base::EthType, 0x806);
            n.set_base(Base::ArpOp, 1);
            n.set_base(Base::ArpSha, f.get_base(Base::EthSrc));
            n.set_base(Base::ArpTha, 0);
        }
        "nd_na" | "nd_na_router" => {
            n.set_base(Base::EthSrc, f.get_base(Base::EthDst));
            n.set_base(Base::EthDst, f.get_base(Base::EthSrc));
            n.set_base(Base::Ip6Dst, f.get_base(Base::Ip6Src));
            n.set_base(Base::Ip6Src, f.get_base(Base::NdTarget));
            n.set_base(Base::TpSrc, 136);
            n.set_base(Base::ArpSha, 0);
            n.set_base(Base::ArpTha, f.get_base(Base::EthDst));
        }
        "nd_ns" => {
            // Solicited-node multicast for the destination, as an Ethernet address.
            let d = f.get_base(Base::Ip6Dst);
            n.set_base(Base::EthDst, 0x3333_ff00_0000 | (d & 0xff_ffff));
            n.set_base(Base::TpSrc, 135);
            n.set_base(Base::ArpSha, 0);
            n.set_base(Base::ArpTha, f.get_base(Base::EthDst));
        }
        _ => {} // clone, trigger_event: the same packet
    }
    Some(n)
}

fn reject_kind(f: &Microflow) -> &'static str {
    match (f.get_base(Base::IpProto), f.get_base(Base::EthType) == 0x86dd) {
        (6, _) => "tcp_reset",
        (132, _) => "sctp_abort",
        (_, true) => "icmp6",
        _ => "icmp4",
    }
}

/// ovn-trace's port-security rules: the L2 address first, then the IP addresses for the
/// packet's family; a port without port security allows everything.
fn port_security_allows(entries: &[String], f: &Microflow, out: bool) -> bool {
    if entries.is_empty() {
        return true;
    }
    let mac = f.get_base(if out { Base::EthDst } else { Base::EthSrc });
    for e in entries {
        let mut words = e.split_whitespace();
        let Some(m) = words.next().and_then(|m| parse_mac(&m.to_ascii_lowercase())) else {
            continue;
        };
        if m != mac {
            continue;
        }
        let addrs: Vec<IpAddr> = words.filter_map(|w| w.split('/').next().and_then(|a| a.parse().ok())).collect();
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = addrs.iter().partition(|a| a.is_ipv4());
        return match f.get_base(Base::EthType) {
            0x800 => {
                if addrs.is_empty() {
                    return true;
                }
                let (src, dst) = f.ip().expect("IPv4");
                if out {
                    !v4.is_empty() && (v4.contains(&dst) || dst == IpAddr::from([255, 255, 255, 255]) || dst.is_multicast())
                } else {
                    v4.contains(&src)
                        || (f.get_base(Base::IpProto) == 17
                            && f.get_base(Base::TpSrc) == 68
                            && f.get_base(Base::TpDst) == 67
                            && src.is_unspecified()
                            && dst == IpAddr::from([255, 255, 255, 255]))
                }
            }
            0x86dd => {
                if addrs.is_empty() {
                    return true;
                }
                let (src, dst) = f.ip().expect("IPv6");
                let lla = link_local(m);
                if out {
                    !v6.is_empty() && (v6.contains(&dst) || dst == lla || dst.is_multicast())
                } else {
                    v6.contains(&src) || src == lla
                }
            }
            0x806 if !out => {
                f.get_base(Base::ArpSha) == m
                    && (v4.is_empty() || v4.contains(&IpAddr::from(std::net::Ipv4Addr::from(f.get_base(Base::NwSrc) as u32))))
            }
            _ => true,
        };
    }
    false
}

/// The EUI-64 link-local address of a MAC.
fn link_local(mac: u128) -> IpAddr {
    let b: Vec<u8> = (0..6).rev().map(|i| ((mac >> (8 * i)) & 0xff) as u8).collect();
    let iid = [b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..].copy_from_slice(&iid);
    IpAddr::from(a)
}

/// `ingress(dp="…", inport="…")`, `egress(…, outport="…")`, `multicast(dp="…", mcgroup="…")`.
fn pipeline_title(n: &Node) -> String {
    let Node::Pipeline {
        kind,
        datapath,
        inport,
        outport,
        ..
    } = n
    else {
        return String::new();
    };
    let mut t = format!("{kind}(dp=\"{datapath}\"");
    if let Some(i) = inport {
        t += &format!(", inport=\"{i}\"");
    }
    if let Some(o) = outport {
        t += &format!(", {}=\"{o}\"", if kind == "multicast" { "mcgroup" } else { "outport" });
    }
    t + ")"
}

impl Trace {
    /// The table steps in the order ovn-trace prints them.
    pub fn steps(&self) -> Vec<Step> {
        fn walk(nodes: &[Node], out: &mut Vec<Step>) {
            for n in nodes {
                match n {
                    Node::Table {
                        datapath,
                        stage,
                        priority,
                        uuid,
                        children,
                        ..
                    } => {
                        out.push(Step {
                            datapath: datapath.clone(),
                            stage: stage.clone(),
                            priority: *priority,
                            uuid: uuid.clone(),
                        });
                        walk(children, out);
                    }
                    Node::Pipeline { children, .. } | Node::Transform { children, .. } => walk(children, out),
                    _ => {}
                }
            }
        }
        let mut v = vec![];
        walk(&self.nodes, &mut v);
        v
    }

    /// Where each branch ended: `output PORT`, `drop`, `no match in STAGE`, an error or what
    /// was not modelled. Patch ports, which continue into the peer, are not endings.
    pub fn verdicts(&self) -> Vec<String> {
        fn walk(nodes: &[Node], out: &mut Vec<String>) {
            for (i, n) in nodes.iter().enumerate() {
                match n {
                    Node::Output { port, .. } => {
                        let continues = matches!(nodes.get(i + 1), Some(Node::Pipeline { kind, .. }) if kind == "ingress");
                        if !continues {
                            out.push(format!("output {port}"));
                        }
                    }
                    Node::Drop { .. } => out.push("drop".into()),
                    Node::NoMatch { stage, .. } => out.push(format!("no match in {stage}")),
                    Node::Error { text } => out.push(text.clone()),
                    Node::Unmodelled { stage, what } => out.push(format!("not modelled in {stage}: {what}")),
                    Node::Table { children, .. } | Node::Pipeline { children, .. } | Node::Transform { children, .. } => {
                        walk(children, out)
                    }
                    Node::Note { .. } | Node::Modify { .. } | Node::Action { .. } => {}
                }
            }
        }
        let mut v = vec![];
        walk(&self.nodes, &mut v);
        v
    }

    /// ovn-trace's detailed form, laid out by its rule: a node is set in one level (its
    /// children two) unless it is the last of its list and not a leaf — so a table's actions
    /// sit under it while the table its `next;` leads to continues at the same column.
    pub fn to_detailed(&self) -> String {
        let mut s = format!("# {}\n", self.microflow);
        fn leaf(n: &Node) -> bool {
            !matches!(
                n,
                Node::Table { .. } | Node::Pipeline { .. } | Node::Transform { .. } | Node::NoMatch { .. }
            )
        }
        fn line(s: &mut String, level: usize, text: &str, title: bool) {
            if title {
                s.push('\n');
            }
            s.push_str(&format!("{}{text}\n", " ".repeat(level * 4)));
            if title {
                s.push_str(&format!("{}{}\n", " ".repeat(level * 4), "-".repeat(text.chars().count())));
            }
        }
        fn walk(nodes: &[Node], level: usize, always_indent: bool, s: &mut String) {
            for (i, n) in nodes.iter().enumerate() {
                let more = usize::from(i + 1 != nodes.len() || always_indent || leaf(n));
                let at = level + more;
                match n {
                    Node::Pipeline { kind, children, .. } => {
                        line(s, at, &pipeline_title(n), true);
                        walk(children, at + more, kind == "multicast", s);
                    }
                    Node::Table {
                        table,
                        stage,
                        priority,
                        match_,
                        uuid,
                        source,
                        tied_with,
                        children,
                        ..
                    } => {
                        let src = source.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
                        line(
                            s,
                            at,
                            &format!("{table:2}. {stage}{src}: {match_}, priority {priority}, uuid {}", &uuid[..8]),
                            false,
                        );
                        if !tied_with.is_empty() {
                            let short: Vec<&str> = tied_with.iter().map(|u| &u[..8]).collect();
                            line(
                                s,
                                at + 1,
                                &format!("/* tied with {} at the same priority; OVN picks one */", short.join(", ")),
                                false,
                            );
                        }
                        walk(children, at + more, false, s);
                    }
                    Node::NoMatch { table, stage, .. } => line(s, at, &format!("{table:2}. {stage}: no match (implicit drop)"), false),
                    Node::Transform { what, children, .. } => {
                        line(s, at, what, true);
                        walk(children, at + more, false, s);
                    }
                    Node::Action { text } | Node::Note { text } | Node::Error { text } => line(s, at, text, false),
                    Node::Output { port, kind, .. } => line(s, at, &format!("/* output to \"{port}\", type \"{kind}\" */"), false),
                    Node::Unmodelled { stage, what } => line(s, at, &format!("*** not modelled: stage {stage}: {what}"), false),
                    Node::Drop { .. } | Node::Modify { .. } => {}
                }
            }
        }
        walk(&self.nodes, 0, false, &mut s);
        s
    }

    /// The minimal form (ovn-trace --minimal): header changes, forks and where the packet
    /// went; each output carries the headers it leaves with as a comment.
    pub fn to_minimal(&self) -> String {
        let mut s = format!("# {}\n", self.microflow);
        fn walk(nodes: &[Node], depth: usize, s: &mut String) {
            for n in nodes {
                let pad = "    ".repeat(depth);
                match n {
                    Node::Table { children, .. } | Node::Pipeline { children, .. } => walk(children, depth, s),
                    Node::Transform { what, children, .. } if children.is_empty() => s.push_str(&format!("{pad}{what};\n")),
                    Node::Transform { what, children, .. } => {
                        s.push_str(&format!("{pad}{what} {{\n"));
                        walk(children, depth + 1, s);
                        s.push_str(&format!("{pad}}};\n"));
                    }
                    Node::Modify { text } => s.push_str(&format!("{pad}{text};\n")),
                    Node::Output { headers, .. } => {
                        if s.ends_with(");\n") {
                            s.truncate(s.len() - 1);
                            s.push_str(&format!(" /* {headers} */\n"));
                        }
                    }
                    Node::Error { text } => s.push_str(&format!("{pad}{text};\n")),
                    Node::Unmodelled { stage, what } => s.push_str(&format!("{pad}*** not modelled: stage {stage}: {what};\n")),
                    Node::Drop { .. } | Node::NoMatch { .. } | Node::Note { .. } | Node::Action { .. } => {}
                }
            }
        }
        walk(&self.nodes, 0, &mut s);
        s
    }
}

/// A Southbound of two switches joined by a patch pair — `a` (ports p1, pa) and `b` (pb, p2) —
/// with the given flows (datapath, pipeline, table, priority, match, actions); stage names are
/// `<dp>_<pipeline>_<table>`. For tests and the fuzz target.
#[doc(hidden)]
pub fn two_switches(flows: &[(&str, &str, i64, i64, &str, &str)]) -> SbDb {
    use crate::db::sb::{Datapath, PortBinding};
    let mut sb = SbDb::default();
    let dp = |n: u128| Uuid::from_u128(n);
    for (n, name) in [(1, "a"), (2, "b")] {
        sb.datapaths.insert(
            dp(n),
            Datapath {
                uuid: dp(n),
                tunnel_key: n as i64,
                external_ids: [("name".to_string(), name.to_string())].into(),
            },
        );
    }
    for (i, (name, d, kind, peer)) in [
        ("p1", 1, "", None),
        ("pa", 1, "patch", Some("pb")),
        ("pb", 2, "patch", Some("pa")),
        ("p2", 2, "", None),
    ]
    .into_iter()
    .enumerate()
    {
        let u = Uuid::from_u128(100 + i as u128);
        sb.port_bindings.insert(
            u,
            PortBinding {
                uuid: u,
                logical_port: name.into(),
                kind: kind.into(),
                datapath: Some(dp(d)),
                tunnel_key: i as i64 + 1,
                chassis: None,
                options: peer.map(|p| [("peer".to_string(), p.to_string())].into()).unwrap_or_default(),
                mac: vec![],
                parent_port: None,
                tag: None,
                up: None,
                external_ids: Default::default(),
                port_security: vec![],
            },
        );
    }
    for (i, (d, pipeline, table, prio, m, a)) in flows.iter().enumerate() {
        let u = Uuid::from_u128(1000 + i as u128);
        sb.logical_flows.insert(
            u,
            LogicalFlow {
                uuid: u,
                logical_datapath: Some(dp(if *d == "a" { 1 } else { 2 })),
                logical_dp_group: None,
                pipeline: pipeline.to_string(),
                table_id: *table,
                priority: *prio,
                match_: m.to_string(),
                actions: a.to_string(),
                external_ids: [("stage-name".to_string(), format!("{d}_{pipeline}_{table}"))].into(),
            },
        );
    }
    sb
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sb: &SbDb, opts: &Options, m: &str) -> Trace {
        let ex = Executor::new(sb, opts).unwrap();
        ex.run(&ex.microflow(m).unwrap()).unwrap()
    }

    const PKT: &str = r#"inport == "p1" && ip4.src == 10.0.0.1 && ip4.dst == 10.0.0.2 && ip.ttl == 64 && udp.dst == 53"#;

    #[test]
    fn crosses_patch_ports_and_ends_at_a_port() {
        let sb = two_switches(&[
            ("a", "ingress", 0, 50, "ip4", r#"ip.ttl--; outport = "pa"; output;"#),
            ("a", "egress", 0, 0, "1", "output;"),
            ("b", "ingress", 0, 0, "1", r#"outport = "p2"; output;"#),
            ("b", "egress", 0, 0, "1", "output;"),
        ]);
        let t = run(&sb, &Options::default(), PKT);
        assert_eq!(t.verdicts(), vec!["output p2"]);
        let dps: Vec<String> = t.steps().iter().map(|s| s.datapath.clone()).collect();
        assert_eq!(dps, ["a", "a", "b", "b"]);
        assert!(t.to_minimal().contains("ip.ttl--;\noutput(\"p2\"); /* "), "{}", t.to_minimal());
    }

    /// The JSON the README documents: node tags and their members.
    #[test]
    fn json_schema_is_as_documented() {
        let sb = two_switches(&[
            ("a", "ingress", 0, 50, "ip4", r#"ip.ttl--; outport = "pa"; output;"#),
            ("a", "egress", 0, 0, "1", "output;"),
            ("b", "ingress", 0, 0, "1", r#"outport = "p2"; output;"#),
            ("b", "egress", 0, 0, "1", "output;"),
        ]);
        let t = run(&sb, &Options::default(), PKT);
        let j = serde_json::to_value(&t.nodes).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let p = &j[0];
        assert_eq!(p["node"], "pipeline");
        assert_eq!(keys(p), ["children", "datapath", "inport", "kind", "node"]);
        let table = &p["children"][0];
        assert_eq!(
            keys(table),
            ["children", "datapath", "match", "node", "pipeline", "priority", "stage", "table", "uuid"]
        );
        assert_eq!(table["children"][0], serde_json::json!({"node": "action", "text": "ip.ttl--;"}));
        assert_eq!(table["children"][1], serde_json::json!({"node": "modify", "text": "ip.ttl--"}));
        let s = serde_json::to_string(&j).unwrap();
        for member in [
            r#""node":"output""#,
            r#""headers":{"src_mac""#,
            r#""changed_by":{"ip.ttl":{"datapath":"a""#,
            r#""entry":{"#,
        ] {
            assert!(s.contains(member), "{member} in {s}");
        }
    }

    #[test]
    fn unmodelled_things_are_named_not_guessed() {
        let sb1 = two_switches(&[("a", "ingress", 0, 0, "1", "frobnicate(1); next;")]);
        assert_eq!(
            run(&sb1, &Options::default(), PKT).verdicts(),
            vec!["not modelled in a_ingress_0: action frobnicate (frobnicate(1)) is not modelled"]
        );
        // A higher-priority flow that cannot be decided stops the table: no verdict is claimed.
        let sb2 = two_switches(&[
            ("a", "ingress", 0, 100, "quantum.spin == 1", "drop;"),
            ("a", "ingress", 0, 0, "1", "drop;"),
        ]);
        let v = run(&sb2, &Options::default(), PKT).verdicts();
        assert!(
            v[0].starts_with("not modelled in a_ingress_0: flow ") && v[0].ends_with("cannot be decided: field quantum.spin"),
            "{v:?}"
        );
    }

    #[test]
    fn no_match_ties_and_conntrack_states() {
        let sb1 = two_switches(&[("a", "ingress", 0, 10, "tcp", "next;")]);
        assert_eq!(run(&sb1, &Options::default(), PKT).verdicts(), vec!["no match in a_ingress_0"]);
        let sb2 = two_switches(&[("a", "ingress", 0, 10, "udp", "drop;"), ("a", "ingress", 0, 10, "ip4", "drop;")]);
        let t = run(&sb2, &Options::default(), PKT);
        assert!(
            matches!(&t.nodes[0], Node::Pipeline { children, .. } if matches!(&children[0], Node::Table { tied_with, .. } if tied_with.len() == 1))
        );
        // ct_next forks with the next state of --ct, then ovn-trace's default est|trk.
        let sb3 = two_switches(&[
            ("a", "ingress", 0, 0, "1", "ct_next;"),
            ("a", "ingress", 1, 10, "ct.new", r#"outport = "p1"; ct_next;"#),
            ("a", "ingress", 1, 5, "ct.est", "drop;"),
            ("a", "ingress", 2, 0, "ct.est && !ct.new", "reject { output; };"),
        ]);
        let t = run(
            &sb3,
            &Options {
                ct: vec!["new|trk".into()],
                ..Default::default()
            },
            PKT,
        );
        let d = t.to_detailed();
        assert!(
            d.contains("ct_next(ct_state=new|trk)") && d.contains("ct_next(ct_state=est|trk /* default (use --ct to customize) */)"),
            "{d}"
        );
        // reject of UDP is an ICMP port unreachable back to the sender (loopback, so sent to p1).
        assert!(d.contains("\nicmp4\n"), "{d}");
        assert!(t.to_minimal().contains("icmp4 {"), "{}", t.to_minimal());
        assert_eq!(run(&sb3, &Options::default(), PKT).verdicts(), vec!["drop"]);
        assert!(Executor::new(
            &sb3,
            &Options {
                ct: vec!["bogus".into()],
                ..Default::default()
            }
        )
        .is_err());
    }
}
