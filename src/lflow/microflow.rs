//! A packet with its logical metadata (a "microflow", as ovn-trace calls it), and the OVN match
//! language evaluated on it — the one evaluator ovnscope has.
//!
//! A concrete microflow (the pipeline executor's) has every field set (zero unless set), as in
//! ovn-trace, so a match is true or false. A partial one ([`Microflow::known`], built from
//! [`super::packet::Packet`] for `nat` and `explain`) knows only some fields; a clause about the
//! others is `Unknown`, as is anything ovnscope does not model (a field, an address set, a
//! constant form) — reported by name, never guessed. Negation follows OVN: `!` is pushed down to the
//! comparisons, and a field's prerequisite (`ip4` for `ip4.src`) is added un-negated, so
//! `ip4.src != 10.0.0.1` is false for an IPv6 packet.

use super::expr::{parse, Expr, Op, Truth, Value};
use super::symtab::{resolve, Base, FieldRef, Resolved};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::rc::Rc;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Microflow {
    /// Logical ports by name (ovn-trace keeps tunnel keys; names are what flows compare).
    pub inport: String,
    pub outport: String,
    regs: [u32; 16],
    vals: BTreeMap<Base, u128>,
    /// The logical flow that last changed each header a capture shows (`ip.src`, `eth.dst`,
    /// …), so a disagreement with a capture can name it.
    pub writers: BTreeMap<String, Writer>,
    /// The fields that are known; `None`: all of them (a concrete packet).
    pub known: Option<BTreeSet<Base>>,
    /// `inport` / `outport` are not known (a partial packet).
    pub unknown_ports: (bool, bool),
}

/// A logical flow, as named in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub datapath: String,
    pub stage: String,
    pub uuid: String,
    pub match_: String,
}

/// The headers a capture shows, as the pipeline has them at an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub src_mac: String,
    pub dst_mac: String,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub ttl: Option<u8>,
}

impl Headers {
    /// (field, value) pairs, by the names `writers` uses.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let o = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        vec![
            ("eth.src", self.src_mac.clone()),
            ("eth.dst", self.dst_mac.clone()),
            ("ip.src", o(self.src.map(|a| a.to_string()))),
            ("ip.dst", o(self.dst.map(|a| a.to_string()))),
            ("ip.ttl", o(self.ttl.map(|t| t.to_string()))),
        ]
    }
}

impl std::fmt::Display for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} > {}", self.src_mac, self.dst_mac)?;
        if let (Some(s), Some(d)) = (self.src, self.dst) {
            write!(f, ", {s} > {d}")?;
        }
        if let Some(t) = self.ttl {
            write!(f, ", ttl {t}")?;
        }
        Ok(())
    }
}

/// What a match may refer to besides the packet.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub address_sets: &'a BTreeMap<String, Vec<String>>,
    /// Southbound port groups; per-datapath groups are named `<datapath key>_<name>`.
    pub port_groups: &'a BTreeMap<String, Vec<String>>,
    pub datapath_key: i64,
    /// Ports `is_chassis_resident()` answers true for (ovn-trace: every port that exists);
    /// `None`: residency is not known.
    pub resident: Option<&'a BTreeSet<String>>,
}

fn mask(width: u32) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

pub fn parse_mac(s: &str) -> Option<u128> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    parts
        .iter()
        .try_fold(0u128, |acc, p| Some(acc << 8 | u8::from_str_radix(p, 16).ok()? as u128))
}

fn ip_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// Formats `v` the way OVN prints a value of that field (addresses, MACs, else decimal).
pub fn format_value(f: FieldRef, v: u128) -> String {
    let whole = f.lo == 0 && f.width == f.base.width();
    match (f.base, whole) {
        (Base::EthSrc | Base::EthDst | Base::ArpSha | Base::ArpTha, true) => {
            let b: Vec<String> = (0..6).rev().map(|i| format!("{:02x}", (v >> (8 * i)) & 0xff)).collect();
            b.join(":")
        }
        (b, true) if b.ip_family() == Some(4) => std::net::Ipv4Addr::from(v as u32).to_string(),
        (b, true) if b.ip_family() == Some(6) => std::net::Ipv6Addr::from(v).to_string(),
        (Base::Reg(_) | Base::XReg(_) | Base::XXReg(_), _) if f.width == 32 && v > 0xffff => std::net::Ipv4Addr::from(v as u32).to_string(),
        _ => v.to_string(),
    }
}

thread_local! {
    static PREDICATES: RefCell<HashMap<&'static str, Rc<Expr>>> = RefCell::new(HashMap::new());
}

/// Predicates and prerequisites are fixed strings of the field table; parse each once.
fn predicate(p: &'static str) -> Rc<Expr> {
    PREDICATES.with(|m| {
        m.borrow_mut()
            .entry(p)
            .or_insert_with(|| Rc::new(parse(p).expect("the field table's predicates parse")))
            .clone()
    })
}

/// A constant as (value, mask) alternatives for a field of `width` bits.
fn alternatives(f: FieldRef, v: &Value, ctx: &Context, out: &mut Vec<(u128, u128)>) -> Result<(), String> {
    let full = mask(f.width);
    match v {
        Value::Int(n) => out.push((*n, full)),
        Value::Masked { value, mask } => out.push((*value, *mask)),
        Value::Mac(m) => out.push((parse_mac(m).ok_or_else(|| format!("MAC {m}"))?, full)),
        Value::Net(n) => {
            let fam = if n.addr().is_ipv4() { 4 } else { 6 };
            match f.base.ip_family() {
                Some(want) if want != fam => {} // an address of the other family never matches
                _ => {
                    let bits = if fam == 4 { 32 } else { 128 };
                    let m = mask(bits) & !mask(bits - n.prefix_len() as u32);
                    out.push((ip_bits(n.addr()), m & full));
                }
            }
        }
        Value::Other(s) => {
            let (a, b) = s.split_once('/').ok_or_else(|| format!("constant {s}"))?;
            match (parse_mac(a), parse_mac(b), a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
                (Some(v), Some(m), _, _) => out.push((v, m)),
                (_, _, Ok(v), Ok(m)) => out.push((ip_bits(v), ip_bits(m))),
                _ => return Err(format!("constant {s}")),
            }
        }
        Value::AddrSet(name) => {
            let set = ctx.address_sets.get(name).ok_or_else(|| format!("address set ${name}"))?;
            for member in set {
                let c = super::expr::parse_value(member).ok_or_else(|| format!("address {member:?} in ${name}"))?;
                alternatives(f, &c, ctx, out)?;
            }
        }
        Value::Str(s) => return Err(format!("a string {s:?} compared with a field")),
        Value::PortGroup(g) => return Err(format!("port group @{g} compared with a field")),
    }
    Ok(())
}

fn negate(op: Op) -> Op {
    match op {
        Op::Eq => Op::Ne,
        Op::Ne => Op::Eq,
        Op::Lt => Op::Ge,
        Op::Ge => Op::Lt,
        Op::Le => Op::Gt,
        Op::Gt => Op::Le,
    }
}

fn and(a: Truth, b: impl FnOnce() -> Truth) -> Truth {
    match a {
        Truth::False => Truth::False,
        Truth::True => b(),
        Truth::Unknown(r) => match b() {
            Truth::False => Truth::False,
            _ => Truth::Unknown(r),
        },
    }
}

impl Microflow {
    /// A concrete packet satisfying match `m`, with no address sets, port groups or residents
    /// (for tests).
    #[cfg(test)]
    pub(crate) fn of_match(m: &str) -> Microflow {
        let (a, b, c) = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
        let ctx = Context {
            address_sets: &a,
            port_groups: &b,
            datapath_key: 0,
            resident: Some(&c),
        };
        let mut f = Microflow::default();
        f.satisfy(&parse(m).unwrap(), &ctx).unwrap();
        f
    }

    /// A packet of which nothing is known yet (see [`Microflow::learn`]).
    pub fn partial() -> Microflow {
        Microflow {
            known: Some(BTreeSet::new()),
            unknown_ports: (true, true),
            ..Default::default()
        }
    }

    /// Whether `b` is known (always, for a concrete packet).
    pub fn is_known(&self, b: Base) -> bool {
        self.known.as_ref().is_none_or(|k| k.contains(&b))
    }

    /// Sets a field and marks it known (building a partial packet).
    pub fn learn(&mut self, f: FieldRef, v: u128) {
        self.set(f, v);
        if let Some(k) = &mut self.known {
            k.insert(f.base);
        }
    }

    pub fn get_base(&self, b: Base) -> u128 {
        match b {
            Base::Reg(n) => self.regs[n as usize] as u128,
            Base::XReg(n) => (self.regs[2 * n as usize] as u128) << 32 | self.regs[2 * n as usize + 1] as u128,
            Base::XXReg(n) => (0..4).fold(0u128, |acc, i| acc << 32 | self.regs[4 * n as usize + i] as u128),
            _ => self.vals.get(&b).copied().unwrap_or(0),
        }
    }

    pub fn set_base(&mut self, b: Base, v: u128) {
        let v = v & mask(b.width());
        match b {
            Base::Reg(n) => self.regs[n as usize] = v as u32,
            Base::XReg(n) => {
                self.regs[2 * n as usize] = (v >> 32) as u32;
                self.regs[2 * n as usize + 1] = v as u32;
            }
            Base::XXReg(n) => {
                for i in 0..4 {
                    self.regs[4 * n as usize + i] = (v >> (32 * (3 - i))) as u32;
                }
            }
            _ => {
                if v == 0 {
                    self.vals.remove(&b);
                } else {
                    self.vals.insert(b, v);
                }
            }
        }
    }

    pub fn get(&self, f: FieldRef) -> u128 {
        (self.get_base(f.base) >> f.lo) & mask(f.width)
    }

    pub fn set(&mut self, f: FieldRef, v: u128) {
        let m = mask(f.width) << f.lo;
        let old = self.get_base(f.base);
        self.set_base(f.base, (old & !m) | ((v << f.lo) & m));
    }

    /// Zeroes every register (ovn-trace does so between a datapath's ingress and egress
    /// pipelines); the logical ports are kept.
    pub fn clear_registers(&mut self) {
        self.regs = [0; 16];
    }

    /// Forgets the connection-tracking state (`ct_clear`).
    pub fn clear_conntrack(&mut self) {
        for b in [
            Base::CtState,
            Base::CtMark,
            Base::CtLabel,
            Base::CtNwDst,
            Base::CtIp6Dst,
            Base::CtTpDst,
            Base::CtNwSrc,
            Base::CtIp6Src,
            Base::CtNwProto,
            Base::CtTpSrc,
        ] {
            self.vals.remove(&b);
        }
    }

    pub fn ip(&self) -> Option<(IpAddr, IpAddr)> {
        match self.get_base(Base::EthType) {
            0x800 => Some((
                IpAddr::from(std::net::Ipv4Addr::from(self.get_base(Base::NwSrc) as u32)),
                IpAddr::from(std::net::Ipv4Addr::from(self.get_base(Base::NwDst) as u32)),
            )),
            0x86dd => Some((
                IpAddr::from(std::net::Ipv6Addr::from(self.get_base(Base::Ip6Src))),
                IpAddr::from(std::net::Ipv6Addr::from(self.get_base(Base::Ip6Dst))),
            )),
            _ => None,
        }
    }

    pub fn eval(&self, e: &Expr, ctx: &Context) -> Truth {
        self.eval_neg(e, false, ctx)
    }

    fn eval_neg(&self, e: &Expr, neg: bool, ctx: &Context) -> Truth {
        match e {
            Expr::Bool(b) => Truth::from_bool(*b != neg),
            Expr::Not(x) => self.eval_neg(x, !neg, ctx),
            // Under a negation, De Morgan: a conjunction becomes a disjunction.
            Expr::And(v) | Expr::Or(v) => {
                let conj = matches!(e, Expr::And(_)) != neg;
                let mut unknown = None;
                for x in v {
                    match (self.eval_neg(x, neg, ctx), conj) {
                        (Truth::False, true) => return Truth::False,
                        (Truth::True, false) => return Truth::True,
                        (Truth::Unknown(r), _) => unknown = unknown.or(Some(r)),
                        _ => {}
                    }
                }
                unknown.map_or(Truth::from_bool(conj), Truth::Unknown)
            }
            Expr::Resident(port) => match ctx.resident {
                Some(r) => Truth::from_bool(r.contains(port) != neg),
                None => Truth::Unknown(format!("is_chassis_resident(\"{port}\")")),
            },
            Expr::Field(name) => match resolve(name) {
                Err(r) => Truth::Unknown(r),
                Ok(Resolved::Predicate(p)) => self.eval_neg(&predicate(p), neg, ctx),
                Ok(Resolved::Port { .. }) => Truth::Unknown(format!("{name} used as a boolean")),
                Ok(Resolved::Field(f)) if !self.is_known(f.base) => self.with_prereq(f, ctx, Truth::Unknown(format!("field {name}"))),
                Ok(Resolved::Field(f)) => {
                    let set = if f.width == 1 { self.get(f) == 1 } else { self.get(f) != 0 };
                    self.with_prereq(f, ctx, Truth::from_bool(set != neg))
                }
            },
            Expr::Cmp { field, op, values } => {
                let op = if neg { negate(*op) } else { *op };
                match resolve(field) {
                    Err(r) => Truth::Unknown(r),
                    Ok(Resolved::Predicate(_)) => Truth::Unknown(format!("predicate {field} compared with a value")),
                    Ok(Resolved::Port { out }) if (if out { self.unknown_ports.1 } else { self.unknown_ports.0 }) => {
                        Truth::Unknown(format!("field {field}"))
                    }
                    Ok(Resolved::Port { out }) => {
                        let port = if out { &self.outport } else { &self.inport };
                        let mut hit = false;
                        for v in values {
                            match v {
                                // "none" is OVN's name for "no port" (key 0).
                                Value::Str(s) => hit |= (if s == "none" { "" } else { s.as_str() }) == port,
                                Value::PortGroup(g) => {
                                    let scoped = format!("{}_{g}", ctx.datapath_key);
                                    match ctx.port_groups.get(&scoped).or_else(|| ctx.port_groups.get(g)) {
                                        Some(ports) => hit |= ports.contains(port),
                                        None => return Truth::Unknown(format!("port group @{g}")),
                                    }
                                }
                                other => return Truth::Unknown(format!("{field} compared with {other:?}")),
                            }
                        }
                        match op {
                            Op::Eq => Truth::from_bool(hit),
                            Op::Ne => Truth::from_bool(!hit),
                            _ => Truth::Unknown(format!("{field} with an ordering operator")),
                        }
                    }
                    Ok(Resolved::Field(f)) if !self.is_known(f.base) => self.with_prereq(f, ctx, Truth::Unknown(format!("field {field}"))),
                    Ok(Resolved::Field(f)) => {
                        let have = self.get(f);
                        let mut alts = vec![];
                        for v in values {
                            if let Err(r) = alternatives(f, v, ctx, &mut alts) {
                                return Truth::Unknown(r);
                            }
                        }
                        let hit = alts.iter().any(|(v, m)| have & m == v & m);
                        let t = match (op, alts.as_slice()) {
                            (Op::Eq, _) => Truth::from_bool(hit),
                            (Op::Ne, _) => Truth::from_bool(!hit),
                            (Op::Lt, [(n, _)]) => Truth::from_bool(have < *n),
                            (Op::Le, [(n, _)]) => Truth::from_bool(have <= *n),
                            (Op::Gt, [(n, _)]) => Truth::from_bool(have > *n),
                            (Op::Ge, [(n, _)]) => Truth::from_bool(have >= *n),
                            _ => Truth::Unknown(format!("{field}: an ordering operator with a set")),
                        };
                        self.with_prereq(f, ctx, t)
                    }
                }
            }
        }
    }

    fn with_prereq(&self, f: FieldRef, ctx: &Context, t: Truth) -> Truth {
        match f.prereq {
            Some(p) => and(self.eval_neg(&predicate(p), false, ctx), || t),
            None => t,
        }
    }

    /// Makes `e` true where it says how (`field == constant`, conjunctions, predicates, the
    /// first branch of a disjunction not yet true): how ovn-trace turns a typed-in microflow
    /// into a packet, prerequisites included.
    pub fn satisfy(&mut self, e: &Expr, ctx: &Context) -> Result<(), String> {
        match e {
            Expr::Bool(true) => Ok(()),
            Expr::And(v) => v.iter().try_for_each(|x| self.satisfy(x, ctx)),
            Expr::Or(v) => {
                if v.iter().any(|x| self.eval(x, ctx) == Truth::True) {
                    return Ok(());
                }
                self.satisfy(v.first().ok_or("empty disjunction")?, ctx)
            }
            Expr::Field(name) => match resolve(name)? {
                Resolved::Predicate(p) => self.satisfy(&predicate(p), ctx),
                Resolved::Field(f) if f.width == 1 => {
                    self.satisfy_prereq(f, ctx)?;
                    self.set(f, 1);
                    Ok(())
                }
                _ => Err(format!("cannot make {name} true")),
            },
            Expr::Cmp { field, op: Op::Eq, values } if values.len() == 1 => match resolve(field)? {
                Resolved::Port { out } => match &values[0] {
                    Value::Str(s) if out => {
                        self.outport = s.clone();
                        Ok(())
                    }
                    Value::Str(s) => {
                        self.inport = s.clone();
                        Ok(())
                    }
                    v => Err(format!("{field} == {v:?}")),
                },
                Resolved::Field(f) => {
                    self.satisfy_prereq(f, ctx)?;
                    let mut alts = vec![];
                    alternatives(f, &values[0], ctx, &mut alts)?;
                    let [(v, m)] = alts.as_slice() else {
                        return Err(format!("{field}: not a single value"));
                    };
                    let old = self.get(f);
                    self.set(f, (old & !m) | (v & m));
                    Ok(())
                }
                Resolved::Predicate(_) => Err(format!("predicate {field} compared with a value")),
            },
            // `field == {a, b}` (a predicate such as `nd` expands to one): true already, or
            // made true with the first value, as a disjunction is.
            Expr::Cmp { field, op: Op::Eq, values } if values.len() > 1 => {
                let whole = Expr::Cmp {
                    field: field.clone(),
                    op: Op::Eq,
                    values: values.clone(),
                };
                if self.eval(&whole, ctx) == Truth::True {
                    return Ok(());
                }
                self.satisfy(
                    &Expr::Cmp {
                        field: field.clone(),
                        op: Op::Eq,
                        values: vec![values[0].clone()],
                    },
                    ctx,
                )
            }
            other => Err(format!("a microflow is a conjunction of field == value; not {other:?}")),
        }
    }

    fn satisfy_prereq(&mut self, f: FieldRef, ctx: &Context) -> Result<(), String> {
        match f.prereq {
            Some(p) if self.eval(&predicate(p), ctx) != Truth::True => self.satisfy(&predicate(p), ctx),
            _ => Ok(()),
        }
    }

    /// Sets a whole address field from an address (`ct_snat(198.18.0.9)`, `ct_lb` backends).
    pub fn set_ip(&mut self, dst: bool, a: IpAddr) {
        let b = match (a, dst) {
            (IpAddr::V4(_), false) => Base::NwSrc,
            (IpAddr::V4(_), true) => Base::NwDst,
            (IpAddr::V6(_), false) => Base::Ip6Src,
            (IpAddr::V6(_), true) => Base::Ip6Dst,
        };
        self.set_base(b, ip_bits(a));
    }

    pub fn header_values(&self) -> Headers {
        let mac = |b| {
            format_value(
                FieldRef {
                    base: b,
                    lo: 0,
                    width: 48,
                    prereq: None,
                },
                self.get_base(b),
            )
        };
        let ip = self.ip();
        Headers {
            src_mac: mac(Base::EthSrc),
            dst_mac: mac(Base::EthDst),
            src: ip.map(|i| i.0),
            dst: ip.map(|i| i.1),
            ttl: ip.map(|_| self.get_base(Base::IpTtl) as u8),
        }
    }

    /// Records `w` as the writer of every header that differs from `before`.
    pub fn note_writes(&mut self, before: &Headers, w: &Writer) {
        let now = self.header_values();
        for ((field, a), (_, b)) in before.fields().into_iter().zip(now.fields()) {
            if a != b {
                self.writers.insert(field.to_string(), w.clone());
            }
        }
    }

    /// The header fields a capture would show, for reports (`eth`, addresses, TTL, ports).
    pub fn headers(&self) -> String {
        let mut s = self.header_values().to_string();
        let (a, b) = (self.get_base(Base::TpSrc), self.get_base(Base::TpDst));
        match (self.ip().is_some(), self.get_base(Base::IpProto)) {
            (true, 6) => s += &format!(", tcp {a} > {b}"),
            (true, 17) => s += &format!(", udp {a} > {b}"),
            (true, 132) => s += &format!(", sctp {a} > {b}"),
            (true, 1 | 58) => s += &format!(", icmp type {a} code {b}"),
            _ => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(sets: &'a BTreeMap<String, Vec<String>>, none: &'a BTreeMap<String, Vec<String>>, res: &'a BTreeSet<String>) -> Context<'a> {
        Context {
            address_sets: sets,
            port_groups: none,
            datapath_key: 1,
            resident: Some(res),
        }
    }

    fn flow(m: &str) -> Microflow {
        Microflow::of_match(m)
    }

    #[test]
    fn a_microflow_gets_its_prerequisites() {
        let f = flow(r#"inport == "p1" && ip4.src == 10.128.2.43 && tcp.dst == 80 && ip.ttl == 64"#);
        assert_eq!(f.inport, "p1");
        assert_eq!(f.get_base(Base::EthType), 0x800);
        assert_eq!(f.get_base(Base::IpProto), 6);
        assert_eq!(f.get_base(Base::TpDst), 80);
        assert_eq!(
            f.headers(),
            "00:00:00:00:00:00 > 00:00:00:00:00:00, 10.128.2.43 > 0.0.0.0, ttl 64, tcp 0 > 80"
        );
    }

    #[test]
    fn negation_keeps_prerequisites() {
        let (mut sets, pg, res) = (BTreeMap::new(), BTreeMap::new(), BTreeSet::from(["cr-lrp".to_string()]));
        sets.insert("s".to_string(), vec!["10.0.0.0/8".to_string(), "fd00::1".to_string()]);
        let c = ctx(&sets, &pg, &res);
        let v4 = flow("ip4.src == 10.1.2.3 && ip4.dst == 203.0.113.8 && udp.dst == 53 && ip.ttl == 1");
        let v6 = flow("ip6.src == fd00::1 && icmp6.type == 128");
        let e = |f: &Microflow, m: &str| f.eval(&parse(m).unwrap(), &c);
        let cases = [
            ("ip4.src != 10.0.0.0/8", Truth::False, Truth::False),
            ("!(ip4.src == 10.0.0.0/8)", Truth::False, Truth::False),
            ("!ip4", Truth::False, Truth::True),
            ("!tcp", Truth::True, Truth::True),
            ("ip4.src == $s || ip6.src == $s", Truth::True, Truth::True),
            ("udp.dst == {53, 54} && ip.ttl == {0, 1}", Truth::True, Truth::False),
            ("ip.ttl > 1", Truth::False, Truth::False),
            ("!ct.est", Truth::False, Truth::False),
            ("!ct.trk", Truth::True, Truth::True),
            (
                "is_chassis_resident(\"cr-lrp\") && !is_chassis_resident(\"x\")",
                Truth::True,
                Truth::True,
            ),
            ("ip4.dst == 203.0.113.0/255.255.255.0", Truth::True, Truth::False),
            (
                "eth.dst == 00:00:00:00:00:00/01:00:00:00:00:00 && !eth.mcast",
                Truth::True,
                Truth::True,
            ),
            ("reg9[2..3] == 0 && xxreg0 == 0", Truth::True, Truth::True),
            (
                "nonesuch.field == 1",
                Truth::Unknown("field nonesuch.field".into()),
                Truth::Unknown("field nonesuch.field".into()),
            ),
        ];
        for (m, want4, want6) in cases {
            assert_eq!(e(&v4, m), want4, "v4 {m}");
            assert_eq!(e(&v6, m), want6, "v6 {m}");
        }
    }

    #[test]
    fn registers_compose() {
        let mut f = Microflow::default();
        let r = |s| match resolve(s).unwrap() {
            Resolved::Field(f) => f,
            _ => unreachable!(),
        };
        f.set(r("xxreg0[0..47]"), 0x0a58_0a80_0201);
        assert_eq!(f.get(r("reg3")), 0x0a80_0201);
        assert_eq!(f.get(r("reg2[0..15]")), 0x0a58);
        f.set(r("reg0"), 0x6440_0006);
        assert_eq!(format_value(r("reg0"), f.get(r("reg0"))), "100.64.0.6");
        assert_eq!(f.get(r("xreg0")) >> 32, 0x6440_0006);
    }
}
