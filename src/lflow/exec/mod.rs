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

mod actions;
mod calls;
mod fields;
#[doc(hidden)]
pub mod fixture;
mod tree;

pub use fixture::two_switches;
pub use tree::{Node, Pipeline, Step, TextNames, Trace};

use super::actions::{self as lang, Action, Stmt};
use super::expr::{self, Expr, Truth};
use super::microflow::{Context, Microflow};
use super::symtab::{resolve, FieldRef, Resolved, CT_EST, CT_TRK};
use super::Error;
use crate::db::sb::{LogicalFlow, SbDb};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::rc::Rc;
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Successive connection-tracking states for `ct_next` and friends (`--ct`), as
    /// `ct.*` names separated by `|`; after the list, `est|trk` (as ovn-trace).
    pub ct: Vec<String>,
    /// The backend a load balancer picks (`--lb-dst IP[:PORT]`); default: the first listed.
    pub lb_dst: Option<LbDst>,
    /// Keep a connection table across runs ([`crate::lflow::conntrack`]): what earlier packets
    /// committed decides a later packet's state and a reply's un-NAT, instead of ovn-trace's
    /// fixed default. (`ct` states still come first.)
    pub conntrack: bool,
    /// Skip the flows that use chassis template variables, as ovn-trace does (it never fills
    /// them); by default they are expanded with the values of the inport's chassis, as that
    /// chassis's ovn-controller does.
    pub ovn_trace_compat: bool,
    /// The datapath the microflow is traced in (ovn-trace's positional DATAPATH): its name,
    /// `name2`, or at least 4 hex digits of its Southbound or Northbound UUID. The inport must
    /// be one of its ports.
    pub datapath: Option<String>,
    /// The ID `select()` takes when it is one of the choices (ovn-trace `--select-id`).
    pub select_id: Option<u16>,
    /// ovn-trace `--no-friendly-names`: the text names datapaths by Northbound UUID and keeps
    /// names that end in a UUID whole (by default they are cut as ovn-trace cuts them).
    pub no_friendly_names: bool,
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
    chassis: Option<Uuid>,
    /// `external_ids:name` (northd copies OpenStack's `neutron:port_name` there): ovn-trace's
    /// friendly name for the port.
    name2: Option<String>,
}

/// Behaviour of ovn-trace that changed between OVN releases, keyed on the Southbound schema.
#[derive(Debug, Clone, Copy)]
pub(super) struct Generation {
    /// 24.03+ (schema 20.33.0): `ct_commit_nat` is written with its zone.
    pub zoned_commit_nat: bool,
    /// 25.09+ (schema 21.5.0): every conntrack action fills the connection's original tuple.
    pub fills_ct_tuple: bool,
}

impl Generation {
    fn of(sb: &SbDb) -> Generation {
        Generation {
            zoned_commit_nat: sb.schema_at_least((20, 33, 0)),
            fills_ct_tuple: sb.schema_at_least((21, 5, 0)),
        }
    }
}

/// (datapath, egress?, table number).
type TableKey = (Uuid, bool, i64);

struct Compiled<'a> {
    flow: &'a LogicalFlow,
    matcher: Result<Expr, String>,
    stmts: Vec<Stmt>,
    omit: bool,
    /// The chassis template variables the flow uses, as expanded (`^NODEIP = 198.18.0.9`).
    templates: Option<String>,
    /// Not considered at all (`--ovn-trace-compat` and a flow with template variables; a
    /// flow naming an address set the Southbound does not have).
    skip: bool,
    /// The address sets the match names that the Southbound does not have: ovn-controller
    /// cannot parse the flow, so it installs nothing for it (and ovn-trace skips it too).
    unknown_sets: Vec<String>,
}

/// `text` with every `^NAME` of `vars` replaced by its value, and the names replaced (or left,
/// when `vars` lacks them: ovn-controller then reads them as the literal string).
fn expand_templates<'t>(
    text: &'t str,
    vars: Option<&BTreeMap<String, String>>,
) -> (std::borrow::Cow<'t, str>, Vec<(String, Option<String>)>) {
    // Nearly every flow has none: no copy for those (a table is compiled flow by flow).
    if !text.contains('^') {
        return (std::borrow::Cow::Borrowed(text), vec![]);
    }
    let mut out = String::with_capacity(text.len());
    let mut used = vec![];
    let mut rest = text;
    while let Some(i) = rest.find('^') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let n = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..n];
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            out.push('^');
            rest = after;
            continue;
        }
        let value = vars.and_then(|v| v.get(name)).cloned();
        match &value {
            Some(v) => out.push_str(v),
            None => {
                out.push('^');
                out.push_str(name);
            }
        }
        if !used.iter().any(|(u, _)| u == name) {
            used.push((name.to_string(), value));
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    (std::borrow::Cow::Owned(out), used)
}

/// A router's `lr_in_arp_resolve` holds one flow per address behind each of its ports (13.5k on
/// the cluster router of a 13k-pod cluster, 80 % of its flows), all at priority 100 and all
/// written by northd as `outport == "PORT" && reg0 == IPV4` or `… && xxreg0 == IPV6`. A packet
/// entering that table can match only the one whose text names its own outport and next hop,
/// so a live trace reads the table without them and then asks for exactly those two texts
/// ([`crate::lflow::load`]); when neither exists it reads them all, so the table the run sees is
/// the whole table but for flows of that form that cannot match.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Neighbour {
    pub datapath: Uuid,
    /// The flow's match for this packet: the IPv4 form, the IPv6 form, or (when the packet's
    /// `eth.type` is neither) both.
    pub matches: Vec<String>,
}

impl Neighbour {
    fn of(dp: Uuid, flow: &Microflow) -> Self {
        use crate::lflow::symtab::Base;
        let v4 = std::net::Ipv4Addr::from(flow.get_base(Base::Reg(0)) as u32);
        let v6 = std::net::Ipv6Addr::from(flow.get_base(Base::XXReg(0)));
        let out = &flow.outport;
        let v4 = format!("outport == \"{out}\" && reg0 == {v4}");
        let v6 = format!("outport == \"{out}\" && xxreg0 == {v6}");
        Neighbour {
            datapath: dp,
            matches: match flow.get_base(Base::EthType) {
                0x0800 => vec![v4],
                0x86dd => vec![v6],
                _ => vec![v4, v6],
            },
        }
    }
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
    lb_dst: Option<LbDst>,
    steps: RefCell<usize>,
    /// The text's names, worked out over every port once per executor (not per run: explain
    /// runs one trace per packet).
    text_names: std::cell::OnceCell<tree::TextNames>,
    conntrack: Option<RefCell<crate::lflow::conntrack::Conntrack>>,
    /// With a partly read Southbound ([`crate::lflow::load`]): the datapaths whose flows are here,
    /// and what a run reached that is not.
    loaded: Option<BTreeSet<Uuid>>,
    missing: RefCell<(BTreeSet<Uuid>, BTreeSet<String>)>,
    /// Router datapaths whose per-neighbour `lr_in_arp_resolve` flows were not read (see
    /// [`Neighbour`]), with that stage's table number; and the ones a run asked for.
    sparse: HashMap<Uuid, i64>,
    neighbours: RefCell<BTreeSet<Neighbour>>,
    /// In a cluster: this executor's zone, the others, and the executors built for them as
    /// packets cross the transit switch.
    zone: Option<String>,
    cluster: Option<Rc<Cluster<'a>>>,
    siblings: RefCell<HashMap<String, Rc<Executor<'a>>>>,
    options: Options,
    /// The chassis this run's flows are expanded for (the inport's) and its template variables.
    templates: RefCell<Option<(String, BTreeMap<String, String>)>>,
    /// What the tools of this Southbound's generation do, read once from its schema version.
    pub(super) generation: Generation,
}

/// A load balancer backend as `--lb-dst` names it, as ovn-trace takes it: `IP`, `IP:PORT` or
/// `[IPv6]:PORT`; without a port, any of that address's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbDst {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl std::str::FromStr for LbDst {
    type Err = String;
    fn from_str(s: &str) -> Result<LbDst, String> {
        let bad = || format!("{s:?} is not IP, IP:PORT or [IPv6]:PORT");
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(LbDst { ip, port: None });
        }
        let (ip, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| bad())?;
        Ok(LbDst {
            ip,
            port: Some(port.parse().map_err(|_| bad())?),
        })
    }
}

/// The Southbound of every zone of a cluster, by zone name (OVN interconnect: one zone per
/// node, tied by the transit switch).
pub struct Cluster<'a> {
    pub zones: Vec<(String, &'a SbDb)>,
}

impl<'a> Cluster<'a> {
    /// The zone in which `port` is a local port (the router-type transit-switch port `tstor-N`
    /// is a patch in N's own zone and `remote` everywhere else), other than `not`.
    fn zone_of_local_port(&self, port: &str, not: &str) -> Option<(&str, &'a SbDb)> {
        self.zones
            .iter()
            .filter(|(z, _)| z != not)
            .find(|(_, sb)| sb.port_bindings.values().any(|p| p.logical_port == port && p.kind != "remote"))
            .map(|(z, sb)| (z.as_str(), *sb))
    }
}

/// The inport a typed-in microflow names (which datapath it starts in).
pub fn inport_of(text: &str) -> Result<String, Error> {
    let e = expr::parse(text)?;
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
        return Err(Error::NoInport(text.to_string()));
    }
    Ok(f.inport)
}

/// A flow is omitted from the output when it matches everything and only goes to the next
/// table (ovn-trace prints none of those either).
fn omittable(m: &Result<Expr, String>, stmts: &[Stmt], table: i64) -> bool {
    matches!(m, Ok(Expr::Bool(true)))
        && matches!(stmts, [Stmt { action: Action::Next { egress: None, table: t }, .. }] if t.is_none_or(|t| t == table + 1))
}

/// A `--ct` state: flags separated by `,`, `|`, `+` or spaces; `trk` is always set, as
/// ovn-trace sets it "even if not listed".
fn parse_ct(s: &str) -> Result<u128, Error> {
    let mut v = CT_TRK;
    for name in s.split(['|', ',', '+', ' ']).map(str::trim).filter(|n| !n.is_empty()) {
        let bit = super::symtab::CT_BITS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::CtFlag(name.to_string()))?;
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
    pub fn new(sb: &'a SbDb, opts: &Options) -> Result<Self, Error> {
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
                    chassis: pb.chassis,
                    name2: pb.external_ids.get("name").filter(|n| !n.is_empty()).cloned(),
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
            text_names: std::cell::OnceCell::new(),
            conntrack: opts.conntrack.then(Default::default),
            loaded: None,
            missing: RefCell::new(Default::default()),
            sparse: HashMap::new(),
            neighbours: RefCell::new(BTreeSet::new()),
            zone: None,
            cluster: None,
            siblings: RefCell::new(HashMap::new()),
            options: opts.clone(),
            templates: RefCell::new(None),
            generation: Generation::of(sb),
        })
    }

    /// Expands template variables for the chassis `inport` is bound to (none: left as they are);
    /// a different chassis than the last run's recompiles the tables.
    fn use_chassis_of(&self, inport: &str) {
        let now = self
            .ports
            .get(inport)
            .and_then(|p| p.chassis)
            .and_then(|c| self.sb.chassis.get(&c))
            .and_then(|c| self.sb.template_vars.get(&c.name).map(|v| (c.name.clone(), v.clone())));
        if *self.templates.borrow() != now {
            self.compiled.borrow_mut().clear();
            *self.templates.borrow_mut() = now;
        }
    }

    /// An executor for `zone` of `cluster`: a packet sent to a `remote` port continues, as on
    /// the wire, in the zone where that port is local — the transit switch's egress pipeline
    /// and what follows run with that zone's flows (ovn-trace stops at the remote port).
    pub fn in_cluster(cluster: Rc<Cluster<'a>>, zone: &str, opts: &Options) -> Result<Self, Error> {
        let sb = cluster
            .zones
            .iter()
            .find(|(z, _)| z == zone)
            .map(|(_, sb)| *sb)
            .ok_or_else(|| Error::UnknownPort(format!("zone {zone}")))?;
        let mut ex = Self::new(sb, opts)?;
        ex.zone = Some(zone.to_string());
        ex.cluster = Some(cluster);
        Ok(ex)
    }

    /// The zone of the cluster in which `port` is a logical port (where a microflow starts).
    pub fn zone_of_port(cluster: &Cluster<'_>, port: &str) -> Option<String> {
        cluster
            .zones
            .iter()
            .find(|(_, sb)| {
                sb.port_bindings
                    .values()
                    .any(|p| (p.logical_port == port || p.external_ids.get("name").is_some_and(|n| n == port)) && p.kind != "remote")
            })
            .map(|(z, _)| z.clone())
    }

    /// The executor of another zone, built once.
    fn sibling(&self, zone: &str) -> Option<Rc<Executor<'a>>> {
        if let Some(e) = self.siblings.borrow().get(zone) {
            return Some(e.clone());
        }
        let cluster = self.cluster.clone()?;
        let mut opts = self.options.clone();
        opts.ct.clear();
        let ex = Rc::new(Executor::in_cluster(cluster, zone, &opts).ok()?);
        self.siblings.borrow_mut().insert(zone.to_string(), ex.clone());
        Some(ex)
    }

    /// An executor over a Southbound of which only the flows of `loaded` datapaths were read;
    /// a run that reaches another datapath, or a peer port whose binding is not here, stops
    /// there and names it in [`Executor::missing`].
    pub fn partial(sb: &'a SbDb, opts: &Options, loaded: BTreeSet<Uuid>) -> Result<Self, Error> {
        let mut ex = Self::new(sb, opts)?;
        ex.loaded = Some(loaded);
        Ok(ex)
    }

    /// Like [`Executor::partial`], where on the router datapaths of `sparse` (datapath →
    /// `lr_in_arp_resolve`'s table) only some of the per-neighbour flows were read: a run that
    /// enters that table names the flow it needs in [`Executor::neighbours`].
    pub fn sparse(sb: &'a SbDb, opts: &Options, loaded: BTreeSet<Uuid>, sparse: HashMap<Uuid, i64>) -> Result<Self, Error> {
        let mut ex = Self::partial(sb, opts, loaded)?;
        ex.sparse = sparse;
        Ok(ex)
    }

    /// The per-neighbour flows the last run entered a sparse table for.
    pub fn neighbours(&self) -> Vec<Neighbour> {
        self.neighbours.borrow().iter().cloned().collect()
    }

    /// The datapaths and peer ports the last run needed but were not read.
    pub fn missing(&self) -> (Vec<Uuid>, Vec<String>) {
        let m = self.missing.borrow();
        (m.0.iter().copied().collect(), m.1.iter().cloned().collect())
    }

    /// The logical port `name` names in a microflow, as ovn-trace finds it: the port of that
    /// name, else the one port whose `name2` (binding `external_ids:name`) it is, else the one
    /// whose binding UUID, or name read as a UUID, starts with it (4 hex digits or more).
    pub fn find_port(&self, name: &str) -> Option<String> {
        if self.ports.contains_key(name) {
            return None;
        }
        let one = |hits: Vec<&str>| match hits[..] {
            [one] => Some(one.to_string()),
            _ => None,
        };
        let bindings = || self.sb.port_bindings.values();
        let by_name2: Vec<&str> = bindings()
            .filter(|p| p.external_ids.get("name").is_some_and(|n| n == name))
            .map(|p| p.logical_port.as_str())
            .collect();
        if !by_name2.is_empty() {
            return one(by_name2);
        }
        let want: String = name.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        if want.len() < 4 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let prefix = |u: Uuid| u.simple().to_string().starts_with(&want);
        one(bindings()
            .filter(|p| prefix(p.uuid) || p.logical_port.parse::<Uuid>().is_ok_and(prefix))
            .map(|p| p.logical_port.as_str())
            .collect())
    }

    /// The datapath `name` names, as ovn-trace finds it: by `external_ids:name` or `name2`,
    /// else by a prefix (4 hex digits or more) of exactly one Southbound or Northbound UUID.
    pub fn find_datapath(&self, name: &str) -> Result<Uuid, Error> {
        let dps = || self.sb.datapaths.values();
        if let Some(d) = dps().find(|d| d.name() == name || d.external_ids.get("name2").is_some_and(|n| n == name)) {
            return Ok(d.uuid);
        }
        let prefix = |u: Uuid| {
            let hex = u.simple().to_string();
            let want: String = name.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
            want.len() >= 4 && hex.starts_with(&want)
        };
        let hits: Vec<Uuid> = dps()
            .filter(|d| prefix(d.uuid) || d.nb_object().is_some_and(prefix))
            .map(|d| d.uuid)
            .collect();
        match hits[..] {
            [one] => Ok(one),
            _ => Err(Error::UnknownDatapath(name.to_string())),
        }
    }

    /// What ovn-trace's text calls ports and datapaths (`--friendly-names`, or not).
    fn compute_text_names(&self) -> tree::TextNames {
        let mut names = tree::TextNames::default();
        let friendly = !self.options.no_friendly_names;
        if friendly {
            for (p, port) in &self.ports {
                let short = tree::shorten_uuid(port.name2.as_deref().unwrap_or(p));
                if short != *p {
                    names.ports.insert(p.clone(), short);
                }
            }
        }
        for d in self.sb.datapaths.values() {
            let name = self.dp_name(d.uuid);
            let text = if friendly {
                tree::shorten_uuid(&name)
            } else {
                d.nb_object().unwrap_or(d.uuid).to_string()
            };
            if text != name {
                names.datapaths.insert(name, text);
            }
        }
        names
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
                        let templates = self.templates.borrow();
                        let vars = templates.as_ref().map(|(_, v)| v);
                        let (m, mut used) = expand_templates(&f.match_, vars);
                        let (a, used_a) = expand_templates(&f.actions, vars);
                        for u in used_a {
                            if !used.iter().any(|(n, _)| *n == u.0) {
                                used.push(u);
                            }
                        }
                        let mut matcher = expr::parse(&m).map_err(|e| e.to_string());
                        let undefined: Vec<&str> = used.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| n.as_str()).collect();
                        if !undefined.is_empty() {
                            let on = templates
                                .as_ref()
                                .map(|(c, _)| format!("chassis {c}"))
                                .unwrap_or_else(|| "the inport's chassis (none found)".into());
                            matcher = Err(format!(
                                "it uses chassis template variable(s) ^{} that {on} does not define",
                                undefined.join(", ^")
                            ));
                        }
                        let unknown_sets: Vec<String> = matcher
                            .as_ref()
                            .map(|m| {
                                m.address_sets()
                                    .into_iter()
                                    .filter(|n| !self.sb.address_sets.contains_key(*n))
                                    .map(|n| format!("${n}"))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let stmts = lang::parse(&a);
                        let omit = omittable(&matcher, &stmts, table);
                        let note = (!used.is_empty()).then(|| {
                            let vals: Vec<String> = used
                                .iter()
                                .map(|(n, v)| format!("^{n} = {}", v.as_deref().unwrap_or("?")))
                                .collect();
                            format!(
                                "chassis template variables of {}: {}; ovn-trace skips this flow (it never fills them)",
                                templates.as_ref().map(|(c, _)| c.as_str()).unwrap_or("?"),
                                vals.join(", ")
                            )
                        });
                        Compiled {
                            flow: f,
                            matcher,
                            stmts,
                            omit: omit && note.is_none(),
                            skip: (note.is_some() && self.options.ovn_trace_compat) || !unknown_sets.is_empty(),
                            unknown_sets,
                            templates: note,
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

    /// `flow` as OVS writes a flow (ovn-trace's first line and `LOG:` packet), its logical
    /// ports by tunnel key in registers 14 and 15 as ovn-trace keeps them.
    pub(super) fn ovs_flow(&self, flow: &Microflow) -> String {
        let key = |p: &str| self.ports.get(p).map_or(0, |p| p.key as u32);
        super::flowfmt::ovs_flow(flow, key(&flow.inport), key(&flow.outport))
    }

    /// Traces a microflow entering at its `inport` (which names the datapath).
    pub fn run(&self, flow: &Microflow) -> Result<Trace, Error> {
        let dp = self
            .datapath_of(&flow.inport)
            .ok_or_else(|| Error::UnknownPort(flow.inport.clone()))?;
        self.use_chassis_of(&flow.inport);
        let mut f = flow.clone();
        let mut children = vec![];
        self.trace(dp, &mut f, 0, false, &mut children);
        Ok(Trace {
            // ovn-trace's first line is OVS's text of the flow; ovnscope's own is the headers.
            microflow: if self.options.ovn_trace_compat {
                self.ovs_flow(flow)
            } else {
                flow.headers()
            },
            text_names: self.text_names.get_or_init(|| self.compute_text_names()).clone(),
            nodes: vec![Node::Pipeline {
                zone: self.zone.clone(),
                entry: None,
                kind: Pipeline::Ingress,
                datapath: self.dp_name(dp),
                inport: Some(flow.inport.clone()),
                outport: None,
                children,
            }],
        })
    }

    /// Parses a typed-in microflow (`inport == "p" && ip4.src == … && tcp.dst == 80`).
    pub fn microflow(&self, text: &str) -> Result<Microflow, Error> {
        let mut e = expr::parse(text)?;
        e.resolve_ports(&|name| self.find_port(name));
        let mut f = Microflow::default();
        // Satisfy with an empty context first to learn the inport, then with its datapath's.
        let empty = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
        let probe = Context {
            address_sets: &empty.0,
            port_groups: &empty.1,
            datapath_key: 0,
            resident: Some(&empty.2),
        };
        f.satisfy(&e, &probe)
            .or_else(|_| f.satisfy(&e, &self.context(Uuid::nil())))
            .map_err(|why| Error::Unsatisfiable {
                text: text.to_string(),
                why: Some(why),
            })?;
        let dp = self.datapath_of(&f.inport).ok_or_else(|| Error::UnknownPort(f.inport.clone()))?;
        if let Some(name) = &self.options.datapath {
            let named = self.find_datapath(name)?;
            if named != dp {
                return Err(Error::PortNotInDatapath {
                    port: f.inport.clone(),
                    datapath: name.clone(),
                });
            }
        }
        if f.eval(&e, &self.context(dp)) != Truth::True {
            return Err(Error::Unsatisfiable {
                text: text.to_string(),
                why: None,
            });
        }
        Ok(f)
    }

    fn trace(&self, dp: Uuid, flow: &mut Microflow, mut table: i64, egress: bool, out: &mut Vec<Node>) {
        let pipeline = Pipeline::of(egress);
        if self.loaded.as_ref().is_some_and(|l| !l.contains(&dp)) {
            self.missing.borrow_mut().0.insert(dp);
            out.push(Node::Unmodelled {
                stage: pipeline.to_string(),
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
            if !egress && self.sparse.get(&dp) == Some(&table) {
                self.neighbours.borrow_mut().insert(Neighbour::of(dp, flow));
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
            let mut uninstalled = vec![];
            for c in flows.iter() {
                if chosen.is_some_and(|ch| ch.flow.priority != c.flow.priority) {
                    break;
                }
                if !c.unknown_sets.is_empty() {
                    uninstalled.push(c);
                }
                if c.skip {
                    continue;
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
                    pipeline,
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
            if !self.options.ovn_trace_compat {
                for u in uninstalled {
                    children.push(Node::Note {
                        text: format!(
                            "/* skipped flow {} (priority {}): it names {}, which the Southbound does not have, so ovn-controller installs nothing for it */",
                            u.flow.uuid,
                            u.flow.priority,
                            u.unknown_sets.join(", ")
                        ),
                    });
                }
            }
            if let Some(t) = &c.templates {
                children.push(Node::Note {
                    text: format!("/* {t} */"),
                });
            }
            self.actions(&self.at(dp, table, egress, c.flow), &c.stmts, flow, &mut children);
            out.push(Node::Table {
                datapath: self.dp_name(dp),
                pipeline,
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

    /// `output;`: in an ingress pipeline, into the egress pipeline toward the outport (or each
    /// member of a multicast group); in an egress pipeline, out of the port (and, for a patch
    /// port, into the peer's ingress).
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
            self.leave(flow, &name, port, out);
        } else {
            self.to_egress(dp, flow, name, port, group, out);
        }
    }

    /// The end of an egress pipeline: the packet leaves through `name`.
    fn leave(&self, flow: &Microflow, name: &str, port: Option<&Port>, out: &mut Vec<Node>) {
        let peer = port.and_then(|p| p.peer.as_ref());
        if let (None, Some(want), true) = (peer, port.and_then(|p| p.peer_name.as_ref()), self.loaded.is_some()) {
            // A patch port whose peer's binding was not read yet.
            if matches!(port.map(|p| p.kind.as_str()), Some("patch" | "l3gateway")) {
                self.missing.borrow_mut().1.insert(want.clone());
                out.push(Node::Unmodelled {
                    stage: Pipeline::Egress.to_string(),
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
            port: name.to_string(),
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
                zone: self.zone.clone(),
                entry: None,
                kind: Pipeline::Ingress,
                datapath: self.dp_name(pdp),
                inport: Some(peer.clone()),
                outport: None,
                children: kids,
            });
        }
    }

    /// From an ingress pipeline into the egress one toward `name`: a multicast group fans out,
    /// a chassisredirect port becomes its distributed port.
    fn to_egress(
        &self,
        dp: Uuid,
        flow: &mut Microflow,
        name: String,
        port: Option<&Port>,
        group: Option<&Vec<String>>,
        out: &mut Vec<Node>,
    ) {
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
                    zone: self.zone.clone(),
                    entry: Some(ef.header_values()),
                    kind: Pipeline::Egress,
                    datapath: self.dp_name(dp),
                    inport: Some(flow.inport.clone()),
                    outport: Some(m.clone()),
                    children: kids,
                });
            }
            out.push(Node::Pipeline {
                zone: self.zone.clone(),
                entry: None,
                kind: Pipeline::Multicast,
                datapath: self.dp_name(dp),
                inport: None,
                outport: Some(name),
                children: fan,
            });
            return;
        }
        if let (Some(p), Some(cluster)) = (port.filter(|p| p.kind == "remote"), &self.cluster) {
            if let Some(node) = self.cross(cluster, p, flow, &ef, &name) {
                out.push(node);
                return;
            }
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
                zone: self.zone.clone(),
                entry,
                kind: Pipeline::Egress,
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

    /// A packet sent to a remote port crosses to the zone where the port is local, as geneve
    /// carries it: the datapath (the transit switch, by its key), the logical inport and outport,
    /// and the headers; no registers and no connection state. The egress pipeline runs there.
    fn cross(&self, cluster: &Cluster<'a>, port: &Port, flow: &Microflow, ef: &Microflow, name: &str) -> Option<Node> {
        let here = self.zone.as_deref().unwrap_or_default();
        let (zone, _) = cluster.zone_of_local_port(name, here)?;
        let there = self.sibling(zone)?;
        let dp = there.datapath_of(name)?;
        if there.dp_keys.get(&dp) != Some(&self.dp_keys.get(&port.datapath).copied().unwrap_or(-1)) {
            return None; // not the same transit switch on both sides: the wire would not join them
        }
        let mut wf = ef.clone();
        wf.clear_conntrack();
        let entry = Some(wf.header_values());
        let mut kids = vec![Node::Note {
            text: format!(
                "/* geneve to zone {zone}: VNI {}, ingress port key {}, egress port key {} */",
                self.dp_keys.get(&port.datapath).copied().unwrap_or_default(),
                self.ports.get(&flow.inport).map(|p| p.key).unwrap_or_default(),
                port.key
            ),
        }];
        there.trace(dp, &mut wf, 0, true, &mut kids);
        Some(Node::Pipeline {
            zone: Some(zone.to_string()),
            entry,
            kind: Pipeline::Egress,
            datapath: there.dp_name(dp),
            inport: Some(flow.inport.clone()),
            outport: Some(name.to_string()),
            children: kids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{run, two_switches, PKT};
    use super::*;

    #[test]
    fn template_variables_expand_with_the_chassis_values() {
        let vars = BTreeMap::from([
            ("NODEIP".to_string(), "198.18.0.9".to_string()),
            ("NODEPORT".to_string(), "30080".to_string()),
        ]);
        let (text, used) = expand_templates("ip4.dst == ^NODEIP && tcp.dst == ^NODEPORT && ^NODEIP", Some(&vars));
        assert_eq!(text, "ip4.dst == 198.18.0.9 && tcp.dst == 30080 && 198.18.0.9");
        assert_eq!(
            used,
            vec![
                ("NODEIP".into(), Some("198.18.0.9".into())),
                ("NODEPORT".into(), Some("30080".into()))
            ]
        );
        // Undefined on this chassis: left as written (ovn-controller reads it as a literal).
        let (text, used) = expand_templates("reg1 = ^VIP;", None);
        assert_eq!((text.as_ref(), used), ("reg1 = ^VIP;", vec![("VIP".into(), None)]));
        // A caret that starts no name is not a variable.
        let (text, used) = expand_templates("a ^ b ^1", Some(&vars));
        assert_eq!((text.as_ref(), used), ("a ^ b ^1", vec![]));
    }

    #[test]
    fn ct_states_are_tracked_and_lb_dst_takes_a_port() {
        assert_eq!(parse_ct("new").unwrap(), parse_ct("new|trk").unwrap());
        assert_eq!(ct_string(parse_ct("est rpl").unwrap()), "est|rpl|trk");
        let d = |s: &str| s.parse::<LbDst>();
        assert_eq!(d("10.0.0.1").unwrap().port, None);
        assert_eq!(d("10.0.0.1:8080").unwrap().port, Some(8080));
        assert_eq!(d("[fd00::1]:80").unwrap().ip, "fd00::1".parse::<IpAddr>().unwrap());
        assert!(d("10.0.0.1:http").is_err() && d("nope").is_err());
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
}
