//! Running one flow's actions: a short dispatch over the statement kinds, one method per kind.
//!
//! Each method returns what the rest of the flow's actions should do ([`Flow`]) or why the
//! statement cannot be carried out; the dispatch turns that reason into an
//! [`Node::Unmodelled`] naming the statement, so no branch ever claims a result it did not
//! compute.

use super::calls::call_note;
use super::fields::{is_register, move_field, moved, nested_packet, read, read_port, reject_kind, shown, write, Value};
use super::{ct_string, field, port_name, Executor, Node, Pipeline};
use crate::db::sb::LogicalFlow;
use crate::lflow::actions::{Action, Stmt};
use crate::lflow::expr::{self, Truth};
use crate::lflow::microflow::{format_value, parse_mac, Context, Microflow, Writer};
use crate::lflow::symtab::{resolve, Base, Resolved, CT_DNAT, CT_SNAT, CT_TRK};
use std::net::IpAddr;
use uuid::Uuid;

/// What the remaining actions of a flow do after one statement.
pub(super) enum Flow {
    /// Go on with the next statement.
    Continue,
    /// This branch ended here (what ended it is already in the output).
    Stop,
}

/// Why a statement cannot be carried out (becomes the text of a [`Node::Unmodelled`]).
type Why = String;

/// Where a flow's actions run: its datapath, table and pipeline, and the flow itself.
pub(super) struct At<'f> {
    pub dp: Uuid,
    pub table: i64,
    pub egress: bool,
    pub lf: &'f LogicalFlow,
    /// Credited with every header the flow's statements change.
    pub writer: Writer,
}

impl<'a> Executor<'a> {
    pub(super) fn at<'f>(&self, dp: Uuid, table: i64, egress: bool, lf: &'f LogicalFlow) -> At<'f> {
        At {
            dp,
            table,
            egress,
            lf,
            writer: Writer {
                datapath: self.dp_name(dp),
                stage: lf.stage().into(),
                uuid: lf.uuid.to_string(),
                match_: lf.match_.clone(),
            },
        }
    }

    /// Runs `stmts` in order on `flow`; each statement's text, then what it caused, goes to
    /// `out`. An empty action list is a drop (as in OVN).
    pub(super) fn actions(&self, at: &At, stmts: &[Stmt], flow: &mut Microflow, out: &mut Vec<Node>) {
        if stmts.is_empty() {
            out.push(Node::Action { text: "drop;".into() });
            out.push(self.drop_node(at));
            return;
        }
        for s in stmts {
            out.push(Node::Action {
                text: echoed(s, self.generation.zoned_commit_nat),
            });
            let before = flow.header_values();
            match self.action(at, s, flow, out) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => return,
                Err(why) => {
                    out.push(Node::Unmodelled {
                        stage: at.lf.stage().into(),
                        what: format!("{}: {why}", s.text),
                    });
                    return;
                }
            }
            // `next` and `output` carry the packet on (changing it there, credited there).
            if !matches!(s.action, Action::Next { .. } | Action::Output) {
                flow.note_writes(&before, &at.writer);
            }
        }
        // Actions that end without sending the packet anywhere drop it (OVN 24.03+ writes an
        // ACL drop as register clears and a `/* drop */` comment): the verdict says so, the
        // text, like ovn-trace's, shows nothing more.
        let goes_on = stmts.iter().any(|s| match &s.action {
            Action::Next { .. }
            | Action::Output
            | Action::Drop
            | Action::CtNext
            | Action::CtNat { .. }
            | Action::CtLb { .. }
            | Action::CtCommitZone { .. }
            | Action::Nested { .. }
            | Action::Unmodelled(_) => true,
            // select() resubmits to the next table, like ct_next.
            Action::Call { func, .. } => func == "select",
            _ => false,
        });
        if !goes_on {
            out.push(self.drop_node(at));
        }
    }

    /// One statement: the method for its kind.
    fn action(&self, at: &At, s: &Stmt, flow: &mut Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
        match &s.action {
            Action::Next { egress, table } => self.next(at, *egress, *table, flow, out),
            Action::Output => {
                self.output(at.dp, flow, at.egress, out);
                Ok(Flow::Continue)
            }
            Action::Drop => {
                out.push(self.drop_node(at));
                Ok(Flow::Continue)
            }
            Action::Load { dst, value } => self.load_action(at, &s.text, dst, value, flow, out),
            Action::Move { dst, src } => move_action(dst, src, flow, out),
            Action::Exchange { a, b } => exchange(a, b, flow, out),
            Action::DecTtl => Ok(dec_ttl(flow, out)),
            Action::CtNext => Ok(self.ct_next(at, flow, out)),
            Action::CtNat { dst, in_czone, addr } => Ok(self.ct_nat(at, *dst, *in_czone, *addr, flow, out)),
            Action::CtLb { mark, backends } => Ok(self.ct_lb(at, *mark, backends, flow, out)),
            Action::CtCommitZone { nat, dnat } => Ok(self.ct_commit_zone(at, *nat, *dnat, flow, out)),
            Action::CtCommit => {
                if let Some(t) = &self.conntrack {
                    t.borrow_mut().commit(&self.dp_name(at.dp), flow);
                }
                Ok(Flow::Continue)
            }
            // 25.03, a transit router's learned neighbour: ovn-controller sends the packet to
            // every remote chassis of the router (so each learns the binding); ovn-trace notes it.
            Action::NoEffect(name) if name == "flood_remote" => {
                out.push(Node::Note {
                    text: "/* Flood to all remote chassis */".into(),
                });
                Ok(Flow::Continue)
            }
            Action::NoEffect(name) if name == "ct_snat_to_vip" => {
                self.ct_snat_to_vip(flow, out);
                Ok(Flow::Continue)
            }
            Action::NoEffect(_) => Ok(Flow::Continue),
            Action::Mirror { port } => {
                self.mirror(at, port, flow, out);
                Ok(Flow::Continue)
            }
            Action::Log {
                name, verdict, severity, ..
            } => {
                out.push(Node::Transform {
                    what: format!(
                        "LOG: ACL name={}, direction={}, verdict={verdict}, severity={severity}, packet=\"{}\"",
                        name.as_deref().unwrap_or("<unnamed>"),
                        if at.egress { "OUT" } else { "IN" },
                        self.ovs_flow(flow)
                    ),
                    detail: None,
                    children: vec![],
                });
                Ok(Flow::Continue)
            }
            Action::CtClear => {
                flow.clear_conntrack();
                Ok(Flow::Continue)
            }
            Action::GetMac { port, ip } => self.get_mac(at, port, ip, flow, out),
            Action::Call { dst, func, args } => self.call_action(at, dst, func, args, flow, out),
            Action::Nested { kind, body } => Ok(self.nested(at, kind, body, flow, out)),
            Action::Unmodelled(name) => {
                out.push(Node::Unmodelled {
                    stage: at.lf.stage().into(),
                    what: format!("action {name} ({}) is not modelled", s.text),
                });
                Ok(Flow::Stop)
            }
        }
    }

    fn drop_node(&self, at: &At) -> Node {
        Node::Drop {
            stage: at.lf.stage().into(),
            uuid: at.lf.uuid.to_string(),
        }
    }

    /// `next;` continues in this pipeline; `next(pipeline=…)` into the other one opens it.
    fn next(&self, at: &At, egress: Option<bool>, table: Option<i64>, flow: &mut Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
        let next_table = table.unwrap_or(at.table + 1);
        match egress {
            Some(e) if e != at.egress => {
                let mut kids = vec![];
                self.trace(at.dp, flow, next_table, e, &mut kids);
                out.push(Node::Pipeline {
                    zone: self.zone.clone(),
                    entry: None,
                    kind: Pipeline::of(e),
                    datapath: self.dp_name(at.dp),
                    inport: (!e).then(|| flow.inport.clone()),
                    outport: e.then(|| flow.outport.clone()),
                    children: kids,
                });
            }
            _ => self.trace(at.dp, flow, next_table, at.egress, out),
        }
        Ok(Flow::Continue)
    }

    fn load_action(&self, at: &At, text: &str, dst: &str, value: &str, flow: &mut Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
        self.load(flow, dst, value, &self.context(at.dp))?;
        if !is_register(dst) {
            out.push(Node::Modify { text: text.to_string() });
        }
        Ok(Flow::Continue)
    }

    /// `dst = constant;`: a port name into a port, a number/address/MAC into a field (only
    /// when the field exists in this packet, like OpenFlow's set-field).
    fn load(&self, flow: &mut Microflow, dst: &str, value: &str, ctx: &Context) -> Result<(), Why> {
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

    /// `ct_next;`: a fork with the next connection-tracking state.
    fn ct_next(&self, at: &At, flow: &Microflow, out: &mut Vec<Node>) -> Flow {
        let (state, note) = self.next_ct_state(at.dp, flow);
        let mut ct = flow.clone();
        ct.set_base(Base::CtState, state);
        let what = format!("ct_next(ct_state={}{note})", ct_string(state));
        self.fill_ct_tuple(&mut ct, flow);
        out.push(self.fork(at, ct, what, None));
        Flow::Continue
    }

    /// `ct_commit_to_zone(Z)` / `ct_commit_nat`: the packet, tracked (taking the next `--ct`
    /// state if it was not), goes on in the next table, as ovn-trace forks it; ovn-trace assumes
    /// `ct_commit_nat` finds no connection to un-NAT and says so.
    fn ct_commit_zone(&self, at: &At, nat: bool, dnat: bool, flow: &Microflow, out: &mut Vec<Node>) -> Flow {
        let mut ct = flow.clone();
        let mut what = if nat {
            "ct_commit_nat /* assuming no un-nat entry, so no change */".to_string()
        } else {
            format!("ct_commit_to_zone({})", if dnat { "dnat" } else { "snat" })
        };
        if ct.get_base(Base::CtState) & CT_TRK == 0 {
            let (state, note) = self.next_ct_state(at.dp, flow);
            ct.set_base(Base::CtState, ct.get_base(Base::CtState) | state);
            what += note;
        }
        if let Some(t) = &self.conntrack {
            t.borrow_mut().commit(&self.dp_name(at.dp), &ct);
        }
        self.fill_ct_tuple(&mut ct, flow);
        out.push(self.fork(at, ct, what, None));
        Flow::Continue
    }

    /// `ct_snat_to_vip`: a backend that reached itself through a VIP is SNATed so that it sees
    /// the connection come from elsewhere. ovn-controller commits it in the SNAT zone with the
    /// load balancer's `hairpin_snat_ip` of the packet's family, else the VIP, and the packet goes
    /// on with that source (lflow.c, `add_lb_ct_snat_hairpin_vip_flow`). ovn-trace only notes
    /// the VIP and changes nothing, which `--ovn-trace-compat` keeps; otherwise the source is
    /// rewritten, so later matches and the headers shown are the datapath's.
    fn ct_snat_to_vip(&self, flow: &mut Microflow, out: &mut Vec<Node>) {
        let Some((vip, lb)) = self.lb_vip(flow, flow.get_base(Base::CtTpDst)) else {
            return;
        };
        if self.options.ovn_trace_compat {
            out.push(Node::Action {
                text: format!("/* nat(src={vip}) */"),
            });
            return;
        }
        let to = lb
            .hairpin_snat_ips
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == vip.is_ipv4())
            .unwrap_or(vip);
        let text = if to == vip {
            format!("/* nat(src={vip}) */")
        } else {
            format!(
                "/* nat(src={to}): hairpin_snat_ip of load balancer {}, not the VIP {vip} ovn-trace names */",
                lb.name
            )
        };
        out.push(Node::Action { text });
        flow.set_ip(false, to);
    }

    /// `ct_snat`/`ct_dnat` (+`_in_czone`), with an address (a NAT) or without (un-NAT of a
    /// reply, from the connection table when one is kept).
    fn ct_nat(&self, at: &At, dst: bool, in_czone: bool, addr: Option<IpAddr>, flow: &Microflow, out: &mut Vec<Node>) -> Flow {
        if !dst && addr.is_none() && self.l3gateway.contains(&at.dp) && self.conntrack.is_none() {
            // ovn-trace: "ct_snat;" has no visible effect in a gateway router.
            return Flow::Continue;
        }
        let before = flow.header_values();
        let d = if dst { "dst" } else { "src" };
        let mut ct = flow.clone();
        // ovn-trace (23.03 to 26.03) writes `ct_dnatin_czone`, without the underscore; the
        // compatible text does too.
        let czone = match (in_czone, self.options.ovn_trace_compat) {
            (false, _) => "",
            (true, false) => "_in_czone",
            (true, true) => "in_czone",
        };
        let mut what = format!("ct_{}nat{czone}", &d[..1]);
        let dp_name = self.dp_name(at.dp);
        let unnat = match (addr, &self.conntrack) {
            (None, Some(t)) => t.borrow().unnat(&dp_name, flow, dst),
            _ => None,
        };
        match (addr, unnat) {
            (Some(a), _) => {
                what += &format!("(ip{}.{d}={a})", if a.is_ipv4() { 4 } else { 6 });
                ct.set_ip(dst, a);
                if let Some(t) = &self.conntrack {
                    t.borrow_mut().commit_nat(&dp_name, flow, &ct, dst);
                }
                let st = ct.get_base(Base::CtState) | if dst { CT_DNAT } else { CT_SNAT };
                ct.set_base(Base::CtState, st);
            }
            (None, Some(back)) => {
                // A reply of a connection this datapath NATed: undone.
                let state = self.next_ct_state(at.dp, flow).0;
                ct = back;
                ct.set_base(Base::CtState, state);
                let (s, t) = ct.ip().expect("un-NAT of an IP packet");
                what += &format!(" /* un-{}nat of a connection seen: {s} > {t} */", &d[..1]);
            }
            (None, None) => what += &format!(" /* assuming no un-{}nat entry, so no change */", &d[..1]),
        }
        if ct.get_base(Base::CtState) & CT_TRK == 0 {
            let (state, note) = self.next_ct_state(at.dp, flow);
            ct.set_base(Base::CtState, ct.get_base(Base::CtState) | state);
            what += note;
        }
        ct.note_writes(&before, &at.writer);
        self.fill_ct_tuple(&mut ct, flow);
        out.push(self.fork(at, ct, what, None));
        Flow::Continue
    }

    /// `ct_lb`/`ct_lb_mark`: DNAT to the backend `--lb-dst` names (else the first of the
    /// packet's family), or the un-DNAT of a load-balanced connection seen before.
    fn ct_lb(&self, at: &At, mark: bool, backends: &[(IpAddr, Option<u16>)], flow: &Microflow, out: &mut Vec<Node>) -> Flow {
        let before = flow.header_values();
        let mut ct = flow.clone();
        let mut what = if mark { "ct_lb_mark" } else { "ct_lb" }.to_string();
        let mut detail = None;
        if let Some((src, dst)) = flow.ip() {
            let same_family = |a: &IpAddr| a.is_ipv4() == src.is_ipv4();
            let pick = match self.lb_dst {
                Some(want) if backends.is_empty() && same_family(&want.ip) => Some((want.ip, want.port)),
                Some(want) => backends
                    .iter()
                    .find(|(a, p)| *a == want.ip && want.port.is_none_or(|w| *p == Some(w)))
                    .copied(),
                None => None,
            }
            .or_else(|| backends.iter().find(|(a, _)| same_family(a)).copied());
            if let Some((ip, port)) = pick {
                if dst.is_ipv6() {
                    ct.set_base(Base::CtIp6Dst, flow.get_base(Base::Ip6Dst));
                } else {
                    ct.set_base(Base::CtNwDst, flow.get_base(Base::NwDst));
                }
                ct.set_ip(true, ip);
                ct.set_base(Base::CtTpDst, flow.get_base(Base::TpDst));
                if let Some(p) = port {
                    ct.set_base(Base::TpDst, p as u128);
                }
                ct.set_base(Base::CtState, ct.get_base(Base::CtState) | CT_DNAT);
                if let Some(t) = &self.conntrack {
                    t.borrow_mut().commit_nat(&self.dp_name(at.dp), flow, &ct, true);
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
                .and_then(|t| t.borrow().unnat(&self.dp_name(at.dp), flow, true))
            {
                ct = back;
                detail = Some("un-DNAT of a load-balanced connection seen".into());
            }
            let (state, note) = self.next_ct_state(at.dp, flow);
            ct.set_base(Base::CtState, ct.get_base(Base::CtState) | state);
            what += note;
        }
        ct.note_writes(&before, &at.writer);
        self.fill_ct_tuple(&mut ct, flow);
        out.push(self.fork(at, ct, what, detail));
        Flow::Continue
    }

    /// The connection's original tuple after a conntrack action, as ovn-trace 25.09+ fills it
    /// (from the packet as it was before the action; OVS then shows `ct_nw_src`… in the flow
    /// text of a `LOG:` line). Older ovn-trace leaves the tuple alone, so for an older
    /// Southbound (schema before 21.5.0) this does nothing and the text stays theirs.
    fn fill_ct_tuple(&self, ct: &mut Microflow, before: &Microflow) {
        if !self.generation.fills_ct_tuple {
            return;
        }
        let copy = |ct: &mut Microflow, to: Base, from: Base| ct.set_base(to, before.get_base(from));
        copy(ct, Base::CtNwProto, Base::IpProto);
        match before.get_base(Base::EthType) {
            0x0800 => {
                copy(ct, Base::CtNwSrc, Base::NwSrc);
                copy(ct, Base::CtNwDst, Base::NwDst);
            }
            0x86dd => {
                copy(ct, Base::CtIp6Src, Base::Ip6Src);
                copy(ct, Base::CtIp6Dst, Base::Ip6Dst);
            }
            _ => {}
        }
        copy(ct, Base::CtTpSrc, Base::TpSrc);
        copy(ct, Base::CtTpDst, Base::TpDst);
    }

    /// A connection-tracking fork: the changed packet continues in the next table (ovn-trace
    /// then runs the flow's remaining actions on the original packet).
    fn fork(&self, at: &At, mut ct: Microflow, what: String, detail: Option<String>) -> Node {
        let mut kids = vec![];
        self.trace(at.dp, &mut ct, at.table + 1, at.egress, &mut kids);
        Node::Transform {
            what,
            detail,
            children: kids,
        }
    }

    /// `mirror("port")`: as ovn-trace 26.03 runs it, a clone whose outport is the mirror port
    /// (its inport none, the other registers kept) runs this datapath's egress pipeline from
    /// its first table; a port not on this datapath is omitted, said in ovn-trace 26.03's words
    /// (its "taget" typo included, so compat text stays identical).
    fn mirror(&self, at: &At, port: &str, flow: &Microflow, out: &mut Vec<Node>) {
        if self.ports.get(port).is_none_or(|p| p.datapath != at.dp) {
            out.push(Node::Error {
                text: "/* omitting output because no taget port found. */".into(),
            });
            return;
        }
        let mut copy = flow.clone();
        copy.inport = String::new();
        copy.outport = port.to_string();
        let mut kids = vec![];
        self.trace(at.dp, &mut copy, 0, true, &mut kids);
        out.push(Node::Transform {
            what: "clone".into(),
            detail: None,
            children: kids,
        });
    }

    /// `get_arp`/`get_nd`: eth.dst from the port's MAC binding for the address (or zero).
    fn get_mac(&self, at: &At, port: &str, ip: &str, flow: &mut Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
        let port = read_port(flow, port)?;
        let f = field(ip)?;
        let ip = format_value(f, flow.get(f));
        let binding = self.mac_binding(at.dp, &port, &ip);
        let mac = binding.map(|m| m.mac.to_ascii_lowercase());
        out.push(Node::Note {
            text: match &mac {
                Some(m) => format!("/* MAC binding to {m}. */"),
                None => "/* No MAC binding. */".into(),
            },
        });
        if let Some(b) = binding.filter(|b| b.is_static()) {
            out.push(Node::Note {
                text: format!(
                    "/* Static_MAC_Binding {ip} on {port}{}; ovn-trace reads only learned bindings */",
                    if b.priority > 100 { ", overriding learned ones" } else { "" }
                ),
            });
        }
        flow.set_base(Base::EthDst, mac.as_deref().and_then(parse_mac).unwrap_or(0));
        out.push(Node::Modify {
            text: format!("eth.dst = {}", shown(flow, "eth.dst")),
        });
        Ok(Flow::Continue)
    }

    /// `dst = func(args);`
    fn call_action(&self, at: &At, dst: &str, func: &str, args: &[String], flow: &mut Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
        if func == "select" {
            return self.select(at, dst, args, flow, out);
        }
        if let Some(v) = self.call(at.dp, flow, func, args)? {
            if let Some(n) = call_note(func, &v, flow) {
                out.push(n);
            }
            write(flow, dst, v.clone())?;
            if let Some(opts) = put_opts_shown(func, args) {
                if func != "put_nd_ra_opts" {
                    out.push(Node::Error {
                        text: "/* We assume that this packet is DHCPDISCOVER or DHCPREQUEST. */".into(),
                    });
                }
                out.push(Node::Modify { text: opts });
                if !is_register(dst) {
                    out.push(Node::Modify {
                        text: format!("{dst} = 1"),
                    });
                }
            }
            // ovn-trace shows what these write (its other functions write silently).
            let shown = func.starts_with("chk_lb_hairpin") || func == "ct_proto" || func == "ct_tp_dst";
            match (v, func) {
                (Value::Bits(b, _), _) if shown => out.push(Node::Modify {
                    text: format!("{dst} = {b}"),
                }),
                // ovn-trace 25.09+ notes the saved state as a comment.
                (Value::Bits(b, _), "ct_state_save") => out.push(Node::Action {
                    text: format!("/* {dst} = {b}; */"),
                }),
                _ => {}
            }
        }
        Ok(Flow::Continue)
    }

    /// `dst = select(ID[=WEIGHT], …);` (ECMP routes, load-balancer groups): the packet goes on
    /// to the next table with one ID in `dst`, as ovn-trace forks it. OVN picks by a hash of the
    /// packet, which no trace knows; `--select-id N` picks N (as ovn-trace's option does),
    /// else the first listed, said so (ovn-trace picks at random).
    fn select(&self, at: &At, dst: &str, args: &[String], flow: &Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
        let ids = args
            .iter()
            .map(|a| a.split('=').next().unwrap_or("").trim().parse::<u128>())
            .collect::<Result<Vec<u128>, _>>()
            .map_err(|_| format!("select() arguments {args:?}"))?;
        let asked = self.options.select_id.map(u128::from).filter(|id| ids.contains(id));
        let id = asked.or(ids.first().copied()).ok_or("select() with nothing to select")?;
        let mut f = flow.clone();
        write(&mut f, dst, Value::Bits(id, 16))?;
        let why = if asked.is_some() {
            ""
        } else {
            " /* the first listed: OVN picks by a hash of the packet. Use --select-id to specify. */"
        };
        out.push(self.fork(at, f, format!("select: {dst} = {id}{why}"), None));
        Ok(Flow::Continue)
    }

    /// `icmp4 { … }`, `reject { … }`, `arp { … }`, `clone { … }`, …: the body runs on the new
    /// packet, in a fork of its own.
    fn nested(&self, at: &At, kind: &str, body: &[Stmt], flow: &Microflow, out: &mut Vec<Node>) -> Flow {
        let Some(mut nf) = nested_packet(kind, flow) else {
            return Flow::Continue; // ovn-trace: a reject of a reject is not sent (no recirculation)
        };
        nf.note_writes(&flow.header_values(), &at.writer);
        let mut kids = vec![];
        self.actions(at, body, &mut nf, &mut kids);
        let what = match kind {
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
        Flow::Continue
    }
}

/// What ovn-trace shows for `put_dhcp_opts(…)`, `put_dhcpv6_opts(…)` and `put_nd_ra_opts(…)`:
/// the call with each option as `name = value` (a set in braces, `, ` between items).
fn put_opts_shown(func: &str, args: &[String]) -> Option<String> {
    if !matches!(func, "put_dhcp_opts" | "put_dhcpv6_opts" | "put_nd_ra_opts") {
        return None;
    }
    let opts: Vec<String> = args
        .iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => {
                let v = v.trim();
                let v = match v.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                    Some(items) => format!("{{{}}}", items.split(',').map(str::trim).collect::<Vec<_>>().join(", ")),
                    None => v.to_string(),
                };
                format!("{} = {v}", k.trim())
            }
            None => a.trim().to_string(),
        })
        .collect();
    Some(format!("{func}({})", opts.join(", ")))
}

/// A statement as ovn-trace echoes it: its formatter's text (lib/actions.c `format_*`), not
/// the stored one — assignments spaced as `dst = value`, `log(…)` with its arguments in the
/// formatter's order and its default severity, and an empty nested block dropped
/// (`ct_commit { };` is `ct_commit;`, as OVN 26.03 writes it).
/// `zoned_commit_nat`: OVN 24.03+ (Southbound schema 20.33.0) formats `ct_commit_nat` with its
/// zone; 23.x wrote it bare.
fn echoed(s: &Stmt, zoned_commit_nat: bool) -> String {
    match &s.action {
        Action::Load { dst, value } => format!("{dst} = {value};"),
        Action::Move { dst, src } => format!("{dst} = {src};"),
        Action::Exchange { a, b } => format!("{a} <-> {b};"),
        Action::CtCommitZone { nat: true, .. } if !zoned_commit_nat => "ct_commit_nat;".into(),
        // OVN's formatter (24.03+) names the zone.
        Action::CtCommitZone { nat, dnat } => format!(
            "ct_commit_{}({});",
            if *nat { "nat" } else { "to_zone" },
            if *dnat { "dnat" } else { "snat" }
        ),
        Action::Call { dst, func, args } if put_opts_shown(func, args).is_some() => {
            format!("{dst} = {};", put_opts_shown(func, args).unwrap_or_default())
        }
        Action::Log {
            name,
            verdict,
            severity,
            meter,
        } => {
            let name = name.as_ref().map(|n| format!("name=\"{n}\", ")).unwrap_or_default();
            let meter = meter.as_ref().map(|m| format!(", meter=\"{m}\"")).unwrap_or_default();
            format!("log({name}verdict={verdict}, severity={severity}{meter});")
        }
        _ => {
            let text = &s.text;
            let text = match text.strip_suffix('}').map(str::trim_end).and_then(|t| t.strip_suffix('{')) {
                Some(head) if !head.trim().is_empty() && !head.contains('{') => head.trim_end(),
                _ => text,
            };
            format!("{text};")
        }
    }
}

/// `dst = src;`
fn move_action(dst: &str, src: &str, flow: &mut Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
    move_field(flow, dst, src)?;
    if !is_register(dst) {
        out.push(Node::Modify {
            text: format!("{dst} = {}", moved(src, &shown(flow, dst))),
        });
    }
    Ok(Flow::Continue)
}

/// `a <-> b;`
fn exchange(a: &str, b: &str, flow: &mut Microflow, out: &mut Vec<Node>) -> Result<Flow, Why> {
    let (va, vb) = (read(flow, a)?, read(flow, b)?);
    write(flow, a, vb)?;
    write(flow, b, va)?;
    for (f, from) in [(a, b), (b, a)] {
        if !is_register(f) {
            out.push(Node::Modify {
                text: format!("{f} = {}", moved(from, &shown(flow, f))),
            });
        }
    }
    Ok(Flow::Continue)
}

/// `ip.ttl--;` (an error node for a non-IP packet or a TTL of zero, as ovn-trace prints).
fn dec_ttl(flow: &mut Microflow, out: &mut Vec<Node>) -> Flow {
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
    Flow::Continue
}
