//! The match evaluator against ovn-trace's choices, on the same Southbound.
//!
//! ovn-trace's detailed output names, table by table, the logical flow the packet took. Two
//! things follow for ovnscope's three-valued evaluator, given what is known of the packet at
//! that step: the flow ovn-trace took must not evaluate to false, and no flow of a higher
//! priority in the same datapath and stage (as `ovn-sbctl lflow-list` lists them) may evaluate
//! to true — otherwise ovnscope would have chosen a different flow than OVN. Fields ovnscope
//! does not model (registers, ct state, MACs, TTL) come out unknown, which is allowed; the
//! counts of decided answers are printed as the agreement rate.

use ovnscope::lflow::{expr::parse, Packet, Truth};
use serde_json::Value;
use std::collections::BTreeMap;

/// One table step of an ovn-trace run, with what was known of the packet when it matched.
#[derive(Debug)]
pub struct Step {
    pub datapath: String,
    pub stage: String,
    pub priority: i64,
    pub matched: String,
    pub uuid8: String,
    pub packet: Packet,
}

/// Reads ovn-trace's detailed output. The packet starts as `start`; the port names come from
/// each `ingress(...)`/`egress(...)` header and from `outport = "…"` actions; a NAT or
/// load-balancer action makes the rewritten address unknown from then on (ovn-trace assumes a
/// conntrack state we do not copy).
pub fn steps(text: &str, start: &Packet) -> Vec<Step> {
    let mut pkt = start.clone();
    let mut dp = String::new();
    let mut out = vec![];
    // The pipeline headers open at each indentation: a table line belongs to the last header
    // not deeper than itself (after a nested `arp { … }` the outer pipeline goes on, as OVN
    // 26.03's `arp { … }; next;` does).
    let mut open: Vec<(usize, String, Option<String>, Option<String>)> = vec![];
    for line in text.lines() {
        let t = line.trim();
        let indent = line.len() - line.trim_start().len();
        let header = t.strip_prefix("ingress(").or_else(|| t.strip_prefix("egress("));
        if let Some(h) = header {
            let attr = |k: &str| {
                h.split(&format!("{k}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(str::to_string)
            };
            dp = attr("dp").unwrap_or_default();
            pkt.inport = attr("inport");
            pkt.outport = attr("outport");
            while open.last().is_some_and(|o| o.0 >= indent) {
                open.pop();
            }
            open.push((indent, dp.clone(), pkt.inport.clone(), pkt.outport.clone()));
            continue;
        }
        // " 13. lr_in_ip_routing (northd.c:10388): MATCH, priority 69, uuid 86a49ca7"
        let numbered = t
            .split_once(". ")
            .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if let Some((_, rest)) = numbered.filter(|_| t.contains(", uuid ")) {
            // Table numbers are right-aligned in 2 columns: " 0." sits one column in.
            let mut closed = false;
            while open.len() > 1 && open.last().is_some_and(|o| o.0 > indent + 1) {
                open.pop();
                closed = true;
            }
            if let (true, Some(o)) = (closed, open.last()) {
                dp = o.1.clone();
                pkt.inport = o.2.clone();
                pkt.outport = o.3.clone();
            }
            let stage = rest.split_whitespace().next().unwrap_or_default().to_string();
            let body = rest.split_once("): ").map_or("", |(_, b)| b);
            let (m, tail) = body.rsplit_once(", priority ").unwrap_or((body, ""));
            let (prio, uuid) = tail.split_once(", uuid ").unwrap_or((tail, ""));
            out.push(Step {
                datapath: dp.clone(),
                stage,
                priority: prio.trim().parse().unwrap_or(-1),
                matched: m.to_string(),
                uuid8: uuid.trim().to_string(),
                packet: pkt.clone(),
            });
            continue;
        }
        if let Some(p) = t.strip_prefix("outport = \"") {
            pkt.outport = p.split('"').next().map(str::to_string);
        }
        if t.ends_with('{') {
            // A nested action (icmp4 {...}, arp {...}) describes a new packet: know nothing.
            let (i, o) = (pkt.inport.take(), pkt.outport.take());
            pkt = Packet {
                inport: i,
                outport: o,
                address_sets: std::mem::take(&mut pkt.address_sets),
                port_groups: std::mem::take(&mut pkt.port_groups),
                ..Packet::default()
            };
        }
        // Only a NAT action with an address (`ct_snat_in_czone(10.46.44.118)`, `ct_lb_mark(backends=…)`)
        // rewrites; the bare forms un-NAT existing connections, and ovn-trace assumes none
        // ("so no change").
        let nat_arg = !t.contains("so no change") && t.split("/*").next().is_some_and(|a| a.contains('('));
        if nat_arg && t.starts_with("ct_snat") || t.starts_with("ip4.src") || t.starts_with("ip6.src") {
            pkt.src = None;
            pkt.ints.retain(|k, _| !k.ends_with(".src"));
        }
        if nat_arg && (t.starts_with("ct_dnat") || t.starts_with("ct_lb")) || t.starts_with("ip4.dst") || t.starts_with("ip6.dst") {
            pkt.dst = None;
            pkt.ints.retain(|k, _| !k.ends_with(".dst"));
        }
        for (field, slot) in [("eth.src", &mut pkt.eth_src), ("eth.dst", &mut pkt.eth_dst)] {
            if let Some(rest) = t.strip_prefix(field) {
                *slot = rest
                    .strip_prefix(" = ")
                    .and_then(|v| v.strip_suffix(';'))
                    .filter(|v| v.len() == 17 && v.split(':').count() == 6)
                    .map(str::to_ascii_lowercase);
            }
        }
        if t.contains("<->") {
            pkt.eth_src = None;
            pkt.eth_dst = None;
            pkt.src = None;
            pkt.dst = None;
        }
        if t == "ip.ttl--;" {
            if let Some(ttl) = pkt.ints.get_mut("ip.ttl") {
                *ttl = ttl.saturating_sub(1);
            }
        } else {
            let assigned: Vec<String> = pkt.ints.keys().filter(|k| t.starts_with(k.as_str())).cloned().collect();
            for k in assigned {
                pkt.ints.remove(&k);
            }
        }
    }
    out
}

/// The integer fields a microflow sets (`ip.ttl==64 && tcp.dst==80`), as known to the packet.
pub fn known_ints(microflow: &str, p: &mut Packet) {
    for clause in microflow.split("&&") {
        if let Some((f, v)) = clause.split_once("==") {
            let (f, v) = (f.trim(), v.trim());
            let n = v
                .strip_prefix("0x")
                .map_or_else(|| v.parse().ok(), |h| u128::from_str_radix(h, 16).ok());
            if let (Some(n), false) = (n, f.starts_with("eth.") || f.starts_with("ip4.") || f.starts_with("ip6.")) {
                p.ints.insert(f.to_string(), n);
            }
        }
    }
}

/// `ovn-sbctl lflow-list` as (datapath, stage) → [(priority, match)]. A datapath is filed
/// under the name lflow-list prints and under `aliases` (datapath uuid → `external_ids:name2`,
/// the name ovn-trace prints when a CMS such as Neutron sets one).
pub fn lflow_list(text: &str, aliases: &BTreeMap<String, String>) -> BTreeMap<(String, String), Vec<(i64, String)>> {
    let mut dps: Vec<String> = vec![];
    let mut map: BTreeMap<(String, String), Vec<(i64, String)>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Datapath: \"") {
            let (name, tail) = rest.split_once('"').unwrap_or((rest, ""));
            let uuid = tail.split_once('(').and_then(|(_, r)| r.split(')').next()).unwrap_or_default();
            dps = std::iter::once(name.to_string()).chain(aliases.get(uuid).cloned()).collect();
            continue;
        }
        let t = line.trim();
        let (Some(stage), Some(prio), Some(m)) = (
            t.split_once('(')
                .and_then(|(_, r)| r.split(')').next())
                .map(|s| s.trim().to_string()),
            t.split_once("priority=")
                .and_then(|(_, r)| r.split(',').next())
                .and_then(|p| p.trim().parse().ok()),
            t.split_once(", match=(")
                .and_then(|(_, r)| r.rsplit_once("), action=("))
                .map(|(m, _)| m.to_string()),
        ) else {
            continue;
        };
        for dp in &dps {
            map.entry((dp.clone(), stage.clone())).or_default().push((prio, m.clone()));
        }
    }
    map
}

/// The packet's header knowledge, without the address sets and port groups.
fn brief(p: &Packet) -> String {
    format!(
        "src {:?} dst {:?} inport {:?} outport {:?} proto {:?} eth {:?} > {:?} {:?}",
        p.src, p.dst, p.inport, p.outport, p.proto, p.eth_src, p.eth_dst, p.ints
    )
}

/// Tallies of one comparison; `contradictions` must stay empty.
#[derive(Debug, Default)]
pub struct Agreement {
    pub taken_true: usize,
    pub taken_unknown: usize,
    pub higher_false: usize,
    pub higher_unknown: usize,
    /// Why answers were unknown (the first unmodelled thing each one met), with counts.
    pub unknown_because: BTreeMap<String, usize>,
    pub contradictions: Vec<String>,
}

impl Agreement {
    /// Adds one ovn-trace run's steps, checked against the datapaths' flow tables.
    pub fn add(&mut self, steps: &[Step], flows: &BTreeMap<(String, String), Vec<(i64, String)>>) {
        assert!(!steps.is_empty(), "ovn-trace took no step");
        for s in steps {
            match s.packet.eval(&parse(&s.matched).unwrap()) {
                Truth::True => self.taken_true += 1,
                Truth::Unknown(r) => {
                    self.taken_unknown += 1;
                    *self.unknown_because.entry(r).or_default() += 1;
                }
                Truth::False => self.contradictions.push(format!(
                    "{} {} {}: ovn-trace took {:?}, ovnscope evaluates it false for {}",
                    s.datapath,
                    s.stage,
                    s.uuid8,
                    s.matched,
                    brief(&s.packet)
                )),
            }
            let table = flows
                .get(&(s.datapath.clone(), s.stage.clone()))
                .unwrap_or_else(|| panic!("lflow-list has no {} {}", s.datapath, s.stage));
            for (prio, m) in table.iter().filter(|(p, _)| *p > s.priority) {
                match s.packet.eval(&parse(m).unwrap()) {
                    Truth::False => self.higher_false += 1,
                    Truth::Unknown(r) => {
                        self.higher_unknown += 1;
                        *self.unknown_because.entry(r).or_default() += 1;
                    }
                    Truth::True => self.contradictions.push(format!(
                        "{} {}: ovn-trace took priority {} ({}), ovnscope finds priority {prio} {m:?} true for {}",
                        s.datapath,
                        s.stage,
                        s.priority,
                        s.uuid8,
                        brief(&s.packet)
                    )),
                }
            }
        }
    }

    pub fn report(&self, what: &str) -> String {
        let taken = self.taken_true + self.taken_unknown;
        let higher = self.higher_false + self.higher_unknown;
        let mut why: Vec<(&String, &usize)> = self.unknown_because.iter().collect();
        why.sort_by(|a, b| b.1.cmp(a.1));
        let why: Vec<String> = why.iter().take(6).map(|(r, n)| format!("{r} ×{n}")).collect();
        format!(
            "{what}: flows ovn-trace took: {}/{taken} evaluated true, rest unknown; higher-priority flows it skipped: {}/{higher} evaluated false, rest unknown; {} contradictions; unknown mostly because of {}",
            self.taken_true,
            self.higher_false,
            self.contradictions.len(),
            why.join(", ")
        )
    }
}

/// Name → members from `<ctl> list` rows (`Address_Set` name/addresses, `Port_Group`
/// name/ports), as the evaluator takes them.
pub fn named_lists<'a>(rows: impl IntoIterator<Item = (&'a Value, &'a Value)>) -> BTreeMap<String, Vec<String>> {
    rows.into_iter()
        .map(|(name, members)| {
            let members = crate::common::as_list(members)
                .iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect();
            (name.as_str().unwrap().to_string(), members)
        })
        .collect()
}

/// Every match an ovn-northd wrote is valid OVN syntax (ovn-controller compiles them), so
/// ovnscope's parser must read every one of `flows` ((uuid, match) pairs, more than `min`).
pub fn assert_all_matches_parse(what: &str, flows: &[(String, String)], min: usize) {
    assert!(flows.len() > min, "{what}: logical flows: {}", flows.len());
    let rejected: Vec<String> = flows
        .iter()
        .filter_map(|(uuid, m)| parse(m).err().map(|e| format!("{uuid} {m:?}: {e}")))
        .collect();
    println!(
        "{what}: {} of {} logical-flow matches parse",
        flows.len() - rejected.len(),
        flows.len()
    );
    assert!(
        rejected.is_empty(),
        "{} rejected: {:#?}",
        rejected.len(),
        &rejected[..rejected.len().min(20)]
    );
}

/// One run's path: the (datapath, stage, lflow uuid prefix) of every table step in order, and
/// where each branch ended (`output PORT`, `drop`, `no match in STAGE`, `*** error`).
#[derive(Debug, PartialEq, Eq)]
pub struct Path {
    pub steps: Vec<(String, String, String)>,
    pub verdicts: Vec<String>,
}

/// The path from ovn-trace's detailed output.
pub fn ovn_trace_path(text: &str) -> Path {
    let steps = steps(text, &Packet::default())
        .into_iter()
        .map(|s| (s.datapath, s.stage, s.uuid8))
        .collect();
    let raw: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let lines: Vec<&str> = raw.iter().map(|l| l.trim()).collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    // A table whose actions send the packet nowhere (no next, output, drop, conntrack or
    // nested action: OVN 24.03+ writes an ACL drop as register clears) drops it, and ovn-trace
    // prints no line for that.
    let goes_nowhere = |i: usize| {
        let head = indent(raw[i]);
        let acts: Vec<&str> = raw[i + 1..].iter().take_while(|l| indent(l) > head).map(|l| l.trim()).collect();
        let moves = [
            "next",
            "output",
            "drop",
            "ct_",
            "clone",
            "arp",
            "icmp",
            "nd_",
            "reject",
            "tcp_reset",
            "*** ",
        ];
        !acts.iter().any(|a| moves.iter().any(|m| a.starts_with(m)))
    };
    let is_table = |l: &str| l.split_once(". ").is_some_and(|(n, _)| n.parse::<u32>().is_ok()) && l.contains(", uuid ");
    let mut verdicts = vec![];
    for (i, l) in lines.iter().enumerate() {
        if is_table(l) && goes_nowhere(i) {
            verdicts.push("drop".into());
            continue;
        }
        if let Some(rest) = l.strip_prefix("/* output to \"") {
            let crossing = lines.get(i + 1).is_some_and(|n| n.starts_with("ingress("));
            if !crossing {
                verdicts.push(format!("output {}", rest.split('"').next().unwrap_or_default()));
            }
        } else if *l == "drop;" {
            verdicts.push("drop".into());
        } else if let Some((head, _)) = l.split_once(": no match (implicit drop)") {
            let stage = head.split_once(". ").map_or(head, |(_, s)| s);
            verdicts.push(format!("no match in {stage}"));
        } else if l.starts_with("*** ") {
            verdicts.push(l.to_string());
        }
    }
    Path { steps, verdicts }
}

/// The path from `ovnscope trace --microflow … -f json` (or the `pipeline` member of
/// `trace --lflows -f json`).
pub fn ovnscope_path(j: &Value) -> Path {
    Path {
        steps: j["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("no steps in {j}"))
            .iter()
            .map(|s| {
                (
                    s["datapath"].as_str().unwrap().to_string(),
                    s["stage"].as_str().unwrap().to_string(),
                    s["uuid"].as_str().unwrap()[..8].to_string(),
                )
            })
            .collect(),
        verdicts: j["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect(),
    }
}

/// ovn-trace prints a name that contains a uuid with the uuid cut to 6 hex digits
/// ("friendly names": `provnet-42b85dcc-4feb-…` becomes `provnet-42b85d`); ovnscope's text does
/// too, its JSON keeps names whole. This applies the shortening to the JSON's names so the
/// steps can be compared with ovn-trace's text.
pub fn shorten_uuids(s: &str) -> String {
    let b = s.as_bytes();
    let is_uuid = |w: &[u8]| {
        w.len() == 36
            && w.iter().enumerate().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push_str(&s[i..i + 6]);
            i += 36;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The first place two paths part, described; `None` when they are the same (names compared
/// the way ovn-trace prints them).
pub fn path_difference(ours: &Path, theirs: &Path) -> Option<String> {
    let ours = &Path {
        steps: ours
            .steps
            .iter()
            .map(|(d, s, u)| (shorten_uuids(d), s.clone(), u.clone()))
            .collect(),
        verdicts: ours.verdicts.iter().map(|v| shorten_uuids(v)).collect(),
    };
    if let Some(i) = (0..ours.steps.len().max(theirs.steps.len())).find(|&i| ours.steps.get(i) != theirs.steps.get(i)) {
        return Some(format!(
            "step {i}: ovnscope {:?}, ovn-trace {:?} (ovnscope then {:?})",
            ours.steps.get(i),
            theirs.steps.get(i),
            ours.verdicts
        ));
    }
    (ours.verdicts != theirs.verdicts).then(|| format!("verdicts: ovnscope {:?}, ovn-trace {:?}", ours.verdicts, theirs.verdicts))
}

/// The lines of a detailed or minimal trace after the first (ovn-trace prints the microflow
/// as an OpenFlow match there, ovnscope as headers), without ovnscope's closing verdict line
/// and its header comments on outputs.
fn body(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter(|l| !l.starts_with("verdict: "))
        .map(|l| match l.find("); /* ") {
            Some(i) => l[..i + 2].to_string(),
            // A title's underline follows the title's length, which uuid shortening changes.
            None if !l.is_empty() && l.trim_start().chars().all(|c| c == '-') => "---".to_string(),
            // ovn-trace 23.03 misspells the transformation `ct_snatin_czone(…)`.
            None => l.replace("natin_czone", "nat_in_czone"),
        })
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .skip_while(|l| l.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// Runs both tools on one microflow and returns the difference, if any: the path as data
/// (steps and verdicts), then the detailed and minimal texts line by line.
/// `texts: false` compares only the path (each ovn-trace run on a large Southbound costs
/// about half a second); `detailed` is ovn-trace's detailed output when the caller has it.
pub fn compare(
    l: &crate::common::Lab,
    sb: &str,
    dp: &str,
    flow: &str,
    extra: &[&str],
    texts: bool,
    detailed: Option<&str>,
) -> Option<String> {
    let ovn_trace = |form: &str| {
        let mut args = vec![format!("--db={sb}"), form.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(dp.to_string());
        args.push(flow.to_string());
        l.run("ovn-trace", &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let ovnscope = |more: &[&str]| {
        let mut args = vec!["trace", "--sb-db", sb, "--microflow", flow];
        args.extend_from_slice(extra);
        args.extend_from_slice(more);
        let (code, out, err) = l.ovnscope(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let detailed = detailed.map_or_else(|| ovn_trace("--detailed"), str::to_string);
    let theirs = ovn_trace_path(&detailed);
    // A trace tree nests a table per step: deeper than serde_json's default limit of 128.
    let json = ovnscope(&["-f", "json"]);
    let mut de = serde_json::Deserializer::from_str(&json);
    de.disable_recursion_limit();
    let ours = ovnscope_path(&serde::Deserialize::deserialize(&mut de).unwrap_or_else(|e| panic!("{e}: {json:.500}")));
    assert!(theirs.steps.len() >= 3, "ovn-trace took {} steps for {flow}", theirs.steps.len());
    if let Some(d) = path_difference(&ours, &theirs) {
        return Some(format!("{flow}: {d}"));
    }
    if !texts {
        return None;
    }
    // The names as ovn-trace writes them too: cut to 6 digits of a UUID they end in, or with
    // --no-friendly-names datapaths by Northbound UUID.
    for (form, theirs, ours) in [
        ("detailed", detailed, ovnscope(&[])),
        ("minimal", ovn_trace("--minimal"), ovnscope(&["--minimal"])),
        (
            "no-friendly-names",
            ovn_trace("--no-friendly-names"),
            ovnscope(&["--no-friendly-names"]),
        ),
    ] {
        let (t, o) = (body(&theirs), body(&ours));
        if let Some(i) = (0..t.len().max(o.len())).find(|&i| t.get(i) != o.get(i)) {
            return Some(format!(
                "{flow}: {form} text, line {}: ovn-trace {:?}, ovnscope {:?}",
                i + 2,
                t.get(i),
                o.get(i)
            ));
        }
    }
    None
}
