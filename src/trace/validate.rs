//! `explain --validate`: each captured packet is run through the Southbound pipeline from the
//! logical port where it was first seen, and what the pipeline sends out is compared with what
//! the next capture point saw. A disagreement names the logical flow behind the expected value
//! (the flow that last set that header), so "who rewrote it?" has an answer on both sides.

use crate::capture::correlate::{inner, Journey};
use crate::capture::decode::{Frame, L4};
use crate::db::nb::NbDb;
use crate::db::ovs::OvsDb;
use crate::lflow::exec::{Executor, Node, Trace};
use crate::lflow::microflow::{Headers, Writer};
use crate::lflow::packet::{L4Text, MicroflowText};
use std::collections::BTreeMap;

/// One header that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub field: String,
    pub expected: String,
    pub observed: String,
    /// The logical flow that set the expected value; `None` when no flow changed that header
    /// (the packet kept what it had at the first point).
    pub lflow: Option<Writer>,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub packet: String,
    /// The capture point the pipeline starts from, and its logical port.
    pub from: Option<String>,
    pub inport: Option<String>,
    /// The microflow run (give it to `ovnscope trace --microflow` or `ovn-trace`).
    pub microflow: Option<String>,
    pub verdicts: Vec<String>,
    /// The next capture point that saw the packet, and the pipeline output compared with it.
    pub next: Option<String>,
    pub output: Option<String>,
    pub expected: Option<Headers>,
    pub observed: Option<Headers>,
    /// Over the next point and the later ones.
    pub status: Status,
    pub mismatches: Vec<Mismatch>,
    /// The capture points after the next one that stand for an output of the same run (a
    /// logical port, or a tunnel): seen as the pipeline says, or not seen where it drops.
    pub later: Vec<LaterCheck>,
}

/// One later capture point against the same pipeline run.
#[derive(Debug, Clone)]
pub struct LaterCheck {
    pub point: String,
    pub output: Option<String>,
    pub status: Status,
    pub mismatches: Vec<Mismatch>,
}

/// What a packet's check came to; shown (and in JSON written) as the words `agrees`,
/// `disagrees`, `not checked: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Agrees,
    /// A later point that did not see the packet, where the pipeline does not send it.
    AgreesUnseen,
    Disagrees,
    /// Why the packet could not be checked.
    NotChecked(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Agrees => f.write_str("agrees"),
            Status::AgreesUnseen => f.write_str("agrees (not seen, and the pipeline does not send it there)"),
            Status::Disagrees => f.write_str("disagrees"),
            Status::NotChecked(why) => write!(f, "not checked: {why}"),
        }
    }
}

/// Where capture points are looked up: each zone's Northbound and (if read) Open_vSwitch
/// database — one zone, or every zone of a cluster.
pub struct Places<'a> {
    pub zones: Vec<(&'a NbDb, Option<&'a OvsDb>)>,
}

impl Places<'_> {
    /// The point is a pod's eth0 or an interface of an Open_vSwitch database read: inside OVN
    /// as far as ovnscope can tell (a bastion's interface is not). Without any Open_vSwitch
    /// database nothing can be ruled out, so every point counts as inside.
    pub fn in_ovn(&self, point: &str) -> bool {
        let mut read = self.zones.iter().filter_map(|(_, ovs)| *ovs).peekable();
        point.starts_with("pod:") || read.peek().is_none() || read.any(|o| o.interfaces.values().any(|i| i.name == point))
    }

    /// The logical port a capture point stands for, in whichever zone has it.
    pub fn logical_port(&self, point: &str) -> Option<String> {
        self.zones.iter().find_map(|(nb, ovs)| logical_port(point, nb, *ovs))
    }
}

/// The logical switch port a capture point stands for: `pod:NS/NAME` (the pod's port), or an
/// OVS interface bound to a port (`external_ids:iface-id`).
pub fn logical_port(point: &str, nb: &NbDb, ovs: Option<&OvsDb>) -> Option<String> {
    if let Some(pod) = point.strip_prefix("pod:") {
        let pod = pod.split('(').next().unwrap_or(pod);
        return crate::topology::focus::find_port(nb, pod).ok().map(|p| p.name.clone());
    }
    ovs?.interfaces
        .values()
        .find(|i| i.name == point)
        .and_then(|i| i.iface_id())
        .map(str::to_string)
}

fn observed(f: &Frame) -> Headers {
    Headers {
        src_mac: f.src_mac.clone().unwrap_or_default(),
        dst_mac: f.dst_mac.clone().unwrap_or_default(),
        src: f.src,
        dst: f.dst,
        ttl: f.ttl,
    }
}

/// The ovn-trace microflow for a captured frame entering at `inport`.
pub fn microflow_of(inport: &str, f: &Frame) -> Option<String> {
    let (src, dst) = (f.src?, f.dst?);
    let (eth_src, eth_dst) = match (&f.src_mac, &f.dst_mac) {
        (Some(s), Some(d)) => (Some(s.clone()), Some(d.clone())),
        _ => (None, None),
    };
    let l4 = match f.l4.as_ref()? {
        L4::Echo { request, .. } => L4Text::Echo { request: *request },
        L4::Icmp { icmp_type, code } => L4Text::Icmp {
            kind: *icmp_type,
            code: *code,
        },
        L4::Tcp { sport, dport, flags, .. } => L4Text::Tcp {
            src: *sport,
            dst: *dport,
            flags: tcp_flag_bits(flags),
        },
        L4::Udp { sport, dport, .. } => L4Text::Udp { src: *sport, dst: *dport },
        L4::Other { .. } => return None,
    };
    let m = MicroflowText {
        inport: inport.to_string(),
        eth_src,
        eth_dst,
        src,
        dst,
        ttl: f.ttl,
        l4,
    };
    Some(m.to_string())
}

/// tcpdump's flag letters as TCP header bits.
fn tcp_flag_bits(flags: &str) -> u16 {
    flags.chars().fold(0u16, |b, c| {
        b | match c {
            'F' => 1,
            'S' => 2,
            'R' => 4,
            'P' => 8,
            '.' => 16,
            _ => 0,
        }
    })
}

/// Where a packet leaves a pipeline: a port (its type) with the headers and who set them.
type Exit = (String, String, Headers, BTreeMap<String, Writer>);

/// Every output of a trace, and every egress pipeline's start toward a port (kind
/// `egress-start`: what a geneve tunnel carries, the egress running on the far chassis).
fn outputs(t: &Trace) -> Vec<Exit> {
    fn walk(nodes: &[Node], zone: &Option<String>, out: &mut Vec<Exit>) {
        for n in nodes {
            match n {
                Node::Output {
                    port,
                    kind,
                    headers,
                    changed_by,
                } => out.push((port.clone(), kind.clone(), headers.clone(), changed_by.clone())),
                Node::Pipeline {
                    kind,
                    outport: Some(p),
                    entry: Some(h),
                    children,
                    zone: z,
                    ..
                } if *kind == crate::lflow::Pipeline::Egress => {
                    // Who set each header: as at the first output below (an egress change
                    // would be credited there, but none is compared at the start).
                    let mut inner = vec![];
                    walk(children, z, &mut inner);
                    let w = inner.first().map(|o| o.3.clone()).unwrap_or_default();
                    // An egress in another zone than the one around it: the packet crossed there.
                    let crossed = z.is_some() && zone.is_some() && z != zone;
                    out.push((
                        p.clone(),
                        if crossed { "tunnel-start" } else { "egress-start" }.into(),
                        h.clone(),
                        w,
                    ));
                    out.extend(inner);
                }
                Node::Pipeline { children, zone: z, .. } => walk(children, if z.is_some() { z } else { zone }, out),
                Node::Table { children, .. } | Node::Transform { children, .. } => walk(children, zone, out),
                _ => {}
            }
        }
    }
    let mut v = vec![];
    walk(&t.nodes, &None, &mut v);
    v
}

/// The flow that ended the pipeline (a drop or an unmatched table), for "the pipeline drops
/// it, yet the packet was seen further on".
fn dropper(t: &Trace) -> Option<String> {
    fn walk(nodes: &[Node], last: &mut Option<String>, found: &mut Option<String>) {
        for n in nodes {
            match n {
                Node::Table {
                    uuid,
                    stage,
                    match_,
                    children,
                    ..
                } => {
                    *last = Some(format!("{uuid} ({stage}, match {match_:?})"));
                    walk(children, last, found);
                }
                Node::Drop { .. } if found.is_none() => *found = last.clone(),
                Node::NoMatch { stage, .. } if found.is_none() => *found = Some(format!("no flow matched in {stage}")),
                Node::Pipeline { children, .. } | Node::Transform { children, .. } => walk(children, last, found),
                _ => {}
            }
        }
    }
    let (mut last, mut found) = (None, None);
    walk(&t.nodes, &mut last, &mut found);
    found
}

/// Validates each journey: pipeline from the first point at a logical port, compared with the
/// next point that saw the packet. Forward packets go first, so an executor keeping a
/// connection table (`Options::conntrack`) has what they committed when their replies come;
/// a reply seen first where a forward packet left OVN (the NIC) enters at that localnet port.
pub fn validate<'e, 'a: 'e>(journeys: &[Journey], places: &Places, executor: &dyn Fn(&str) -> Option<&'e Executor<'a>>) -> Vec<Validation> {
    let mut order: Vec<usize> = (0..journeys.len()).collect();
    order.sort_by_key(|&i| !journeys[i].key.forward);
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    let mut out: Vec<Option<Validation>> = vec![None; journeys.len()];
    for i in order {
        let (v, exit) = validate_one(&journeys[i], places, executor, &entries);
        if let Some((point, port)) = exit {
            entries.insert(point, port);
        }
        out[i] = Some(v);
    }
    out.into_iter().flatten().collect()
}

/// One journey; also where it left OVN through a localnet port (capture point, port).
fn validate_one<'e, 'a: 'e>(
    j: &Journey,
    places: &Places,
    executor: &dyn Fn(&str) -> Option<&'e Executor<'a>>,
    entries: &BTreeMap<String, String>,
) -> (Validation, Option<(String, String)>) {
    let mut v = Validation {
        packet: format!("{} ({})", j.key.what, if j.key.forward { "forward" } else { "reply" }),
        from: None,
        inport: None,
        microflow: None,
        verdicts: vec![],
        next: None,
        output: None,
        expected: None,
        observed: None,
        status: Status::NotChecked(String::new()),
        mismatches: vec![],
        later: vec![],
    };
    let seen: Vec<(usize, &crate::capture::decode::Observation)> =
        j.seen.iter().enumerate().filter_map(|(i, o)| o.as_ref().map(|o| (i, o))).collect();
    let port_of = |i: usize| places.logical_port(&j.points[i]).or_else(|| entries.get(&j.points[i]).cloned());
    let Some(&(si, start)) = seen.iter().find(|(i, o)| port_of(*i).is_some() && o.frame.geneve.is_none()) else {
        v.status =
            Status::NotChecked("no capture point at a logical port saw it (give pod:NS/NAME or the pod's host veth, with --ovs-db)".into());
        return (v, None);
    };
    // Points outside OVN before it (a bastion) are where the packet came from; a point in OVN
    // before it that stands for no port means the packet entered OVN somewhere unknown.
    if let Some(&(first, _)) = seen.iter().find(|(i, _)| *i < si && places.in_ovn(&j.points[*i])) {
        v.status = Status::NotChecked(format!(
            "it enters at {}, which is not a logical port (nor where a packet checked before left OVN)",
            j.points[first]
        ));
        return (v, None);
    }
    let inport = port_of(si).expect("found above");
    v.from = Some(j.points[si].clone());
    v.inport = Some(inport.clone());
    let Some(m) = microflow_of(&inport, &start.frame) else {
        v.status = Status::NotChecked("not an IP packet".into());
        return (v, None);
    };
    v.microflow = Some(m.clone());
    let Some(ex) = executor(&inport) else {
        v.status = Status::NotChecked(format!("no zone holds its inport {inport}"));
        return (v, None);
    };
    let trace = match ex.microflow(&m).and_then(|f| ex.run(&f)) {
        Ok(t) => t,
        Err(e) => {
            v.status = Status::NotChecked(e.to_string());
            return (v, None);
        }
    };
    v.verdicts = trace.verdicts();
    // Points at the inport itself (a pod's eth0 and its host veth) are before the pipeline.
    let Some(&(ni, next)) = seen.iter().find(|(i, _)| *i > si && port_of(*i).as_ref() != Some(&inport)) else {
        v.status = Status::NotChecked("no later capture point saw it".into());
        return (v, None);
    };
    v.next = Some(j.points[ni].clone());
    let frame = inner(&next.frame);
    v.observed = Some(observed(frame));
    let outs = outputs(&trace);
    let chosen = exit_for(&j.points[ni], Some(next), &outs, &inport, places, true).flatten();
    let Some((port, chosen_kind, expected, writers)) = chosen else {
        v.status = Status::Disagrees;
        v.mismatches.push(seen_but_not_sent(&trace, &j.points[ni]));
        return (v, None);
    };
    v.output = Some(port.clone());
    v.expected = Some(expected.clone());
    v.mismatches = compare(expected, &observed(frame), writers);
    v.later = later_checks(j, ni, &inport, &outs, &trace, places);
    let all_agree = v.mismatches.is_empty() && v.later.iter().all(|c| c.status != Status::Disagrees);
    v.status = if all_agree { Status::Agrees } else { Status::Disagrees };
    let exit = (chosen_kind == "localnet").then(|| (j.points[ni].clone(), port.clone()));
    (v, exit)
}

/// Headers that differ between what the pipeline sends and what a capture shows.
fn compare(expected: &Headers, obs: &Headers, writers: &BTreeMap<String, Writer>) -> Vec<Mismatch> {
    expected
        .fields()
        .into_iter()
        .zip(obs.fields())
        .filter(|((_, e), (_, o))| e != o)
        .map(|((field, e), (_, o))| Mismatch {
            field: field.into(),
            expected: e,
            observed: o,
            lflow: writers.get(field).cloned(),
        })
        .collect()
}

/// The pipeline exit a capture point stands for: its logical port's output; across a tunnel,
/// what the destination's egress pipeline starts with (that pipeline runs on the far chassis);
/// with `localnet`, a point at no logical port is the localnet port's (the node's NIC).
/// `Some(None)`: the point stands for an exit the run does not take; `None`: for nothing the
/// run can be compared with (the inport itself, a point outside OVN).
fn exit_for<'a>(
    point: &str,
    seen: Option<&crate::capture::decode::Observation>,
    outs: &'a [Exit],
    inport: &str,
    places: &Places,
    localnet: bool,
) -> Option<Option<&'a Exit>> {
    match places.logical_port(point) {
        Some(p) if p == inport => None,
        Some(p) => Some(outs.iter().find(|o| o.0 == p && o.1 != "egress-start" && o.1 != "tunnel-start")),
        // Between zones the wire carries what the far zone's egress starts with; within a zone,
        // what the destination's egress starts with.
        None if seen.is_some_and(|o| o.frame.geneve.is_some()) => Some(
            outs.iter()
                .find(|o| o.1 == "tunnel-start")
                .or_else(|| outs.iter().rfind(|o| o.1 == "egress-start")),
        ),
        None if localnet => Some(outs.iter().find(|o| o.1 == "localnet")),
        None => None,
    }
}

/// A point saw the packet where the run does not send it.
fn seen_but_not_sent(trace: &Trace, point: &str) -> Mismatch {
    Mismatch {
        field: "path".into(),
        expected: match dropper(trace) {
            Some(d) => format!("the pipeline drops it: {d}"),
            None => format!("the pipeline does not send it there (verdicts: {})", trace.verdicts().join("; ")),
        },
        observed: format!("seen at {point}"),
        lflow: None,
    }
}

/// The points after `ni` that stand for an output of the run: each logical port is delivered
/// to or not as the pipeline says; a tunnel carries what the destination's egress starts
/// with. Other points (outside OVN, as far as ovnscope can tell) are left out.
fn later_checks(j: &Journey, ni: usize, inport: &str, outs: &[Exit], trace: &Trace, places: &Places) -> Vec<LaterCheck> {
    let mut checks = vec![];
    for k in ni + 1..j.points.len() {
        let point = &j.points[k];
        let seen = j.seen[k].as_ref();
        let Some(exit) = exit_for(point, seen, outs, inport, places, false) else {
            continue;
        };
        let mut c = LaterCheck {
            point: point.clone(),
            output: exit.map(|e| e.0.clone()),
            status: Status::Agrees,
            mismatches: vec![],
        };
        match (exit, seen) {
            (Some((_, _, expected, writers)), Some(o)) => c.mismatches = compare(expected, &observed(inner(&o.frame)), writers),
            (Some((port, ..)), None) => c.mismatches.push(Mismatch {
                field: "path".into(),
                expected: format!("the pipeline delivers it to {port}"),
                observed: format!("not seen at {point}"),
                lflow: None,
            }),
            (None, Some(_)) => c.mismatches.push(seen_but_not_sent(trace, point)),
            (None, None) => c.status = Status::AgreesUnseen,
        }
        if !c.mismatches.is_empty() {
            c.status = Status::Disagrees;
        }
        checks.push(c);
    }
    checks
}

pub fn to_text(all: &[Validation]) -> String {
    let mut s = String::new();
    let agree = all.iter().filter(|v| v.status == Status::Agrees).count();
    let disagree = all.iter().filter(|v| v.status == Status::Disagrees).count();
    s += &format!(
        "Validation against the logical flows: {agree} agree, {disagree} disagree, {} not checked\n",
        all.len() - agree - disagree
    );
    for v in all {
        s += &format!("\n{}: {}", v.packet, v.status);
        if let (Some(f), Some(n)) = (&v.from, &v.next) {
            s += &format!(" ({f} → {n}");
            if let Some(o) = &v.output {
                s += &format!(", pipeline output {o}");
            }
            s += ")";
        }
        s += "\n";
        mismatch_lines(&mut s, &v.mismatches, "  ");
        for c in &v.later {
            s += &format!("  then {}: {}", c.point, c.status);
            if let Some(o) = &c.output {
                s += &format!(" (pipeline output {o})");
            }
            s += "\n";
            mismatch_lines(&mut s, &c.mismatches, "    ");
        }
    }
    s
}

fn mismatch_lines(s: &mut String, ms: &[Mismatch], pad: &str) {
    for m in ms {
        *s += &format!("{pad}{}: logical flows say {}, capture shows {}\n", m.field, m.expected, m.observed);
        match &m.lflow {
            Some(w) => {
                *s += &format!(
                    "{pad}  set by lflow {} ({} {}, match {:?})\n",
                    w.uuid, w.datapath, w.stage, w.match_
                )
            }
            None if m.field != "path" => *s += &format!("{pad}  no logical flow changed it\n"),
            None => {}
        }
    }
}
