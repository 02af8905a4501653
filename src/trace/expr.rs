//! The OVN logical-flow match language (ovn-sb(5) "Logical_Flow match") parsed into an AST, and
//! [`Packet`]: what `nat` and `explain` know of a packet (addresses, protocol, some headers).
//!
//! Evaluation is three-valued and done by the one evaluator, on the partial microflow a packet
//! stands for ([`super::microflow`]): a clause about a field the packet does not carry (or a
//! construct not modelled) is `Unknown`, never guessed, and the caller says so. `&&` and `||`
//! combine unknowns the Kleene way, so `ip4.src == X && <unknown>` is still `False` when the
//! source differs.

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(u128),
    /// An address or a network (`10.0.0.0/8`; a bare address is a /32 or /128).
    Net(IpNet),
    Str(String),
    /// `$name`: an address set.
    AddrSet(String),
    /// `@name`: a port group.
    PortGroup(String),
    Mac(String),
    /// `value/mask` on an integer field (`tcp.flags == 0x2/0x2`): a bit-wise match.
    Masked {
        value: u128,
        mask: u128,
    },
    /// A constant form that parses but is not evaluated (a masked MAC, a non-contiguous
    /// netmask); comparisons with it are `Unknown`, by name.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Bool(bool),
    /// A bare field used as a boolean (`ip4`, `tcp`, `ct.new`).
    Field(String),
    /// `field op {values}` (a single value is a set of one).
    Cmp {
        field: String,
        op: Op,
        values: Vec<Value>,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `is_chassis_resident("port")`.
    Resident(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse match {input:?} at byte {at}: {reason}")]
pub struct ParseError {
    pub input: String,
    pub at: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = vec![];
    let err = |at: usize, reason: &str| ParseError {
        input: s.into(),
        at,
        reason: reason.into(),
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = s[i + 2..].find("*/").ok_or_else(|| err(i, "unterminated comment"))?;
                i += end + 4;
            }
            b'(' => {
                out.push((start, Tok::LParen));
                i += 1
            }
            b')' => {
                out.push((start, Tok::RParen));
                i += 1
            }
            b'{' => {
                out.push((start, Tok::LBrace));
                i += 1
            }
            b'}' => {
                out.push((start, Tok::RBrace));
                i += 1
            }
            b',' => {
                out.push((start, Tok::Comma));
                i += 1
            }
            b'"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(err(start, "unterminated string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            // The escaped character may be multi-byte; i + 1 is a boundary ('\\' is ASCII).
                            let ch = s[i + 1..].chars().next().ok_or_else(|| err(i, "dangling escape"))?;
                            v.push(ch);
                            i += 1 + ch.len_utf8();
                        }
                        Some(_) => {
                            let ch = s[i..].chars().next().expect("in bounds");
                            v.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((start, Tok::Str(v)));
            }
            b'&' | b'|' | b'=' | b'!' | b'<' | b'>' => {
                // Bytes, not a str slice: the next byte may be inside a multi-byte character.
                let op = match (c, b.get(i + 1).copied()) {
                    (b'&', Some(b'&')) => "&&",
                    (b'|', Some(b'|')) => "||",
                    (b'=', Some(b'=')) => "==",
                    (b'!', Some(b'=')) => "!=",
                    (b'<', Some(b'=')) => "<=",
                    (b'>', Some(b'=')) => ">=",
                    _ => match c {
                        b'!' => "!",
                        b'<' => "<",
                        b'>' => ">",
                        _ => return Err(err(i, "unexpected character")),
                    },
                };
                i += op.len();
                out.push((start, Tok::Op(op)));
            }
            _ if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'$' | b'@' | b'/' | b'[' | b']') => {
                // Identifiers (ip4.src, reg0[1], $set), numbers, addresses, CIDRs and MACs.
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b':' | b'$' | b'@' | b'/' | b'[' | b']' | b'-'))
                {
                    i += 1;
                }
                let w = &s[start..i];
                let tok = if c.is_ascii_digit() {
                    Tok::Num(w.into())
                } else {
                    Tok::Ident(w.into())
                };
                out.push((start, tok));
            }
            _ => return Err(err(i, "unexpected character")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> ParseError {
        let at = self.toks.get(self.pos).map_or(self.input.len(), |t| t.0);
        ParseError {
            input: self.input.into(),
            at,
            reason: reason.into(),
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.1.clone());
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(&Tok::Op("||")) {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.pop().expect("one") } else { Expr::Or(v) })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut v = vec![self.unary()?];
        while self.peek() == Some(&Tok::Op("&&")) {
            self.pos += 1;
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 { v.pop().expect("one") } else { Expr::And(v) })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        match self.next() {
            Some(Tok::Op("!")) => Ok(Expr::Not(Box::new(self.unary()?))),
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(self.err("expected ')'")),
                }
            }
            Some(Tok::Num(n)) if n == "1" || n == "0" => Ok(Expr::Bool(n == "1")),
            Some(Tok::Ident(id)) if id == "is_chassis_resident" => {
                if self.next() != Some(Tok::LParen) {
                    return Err(self.err("expected '(' after is_chassis_resident"));
                }
                let Some(Tok::Str(port)) = self.next() else {
                    return Err(self.err("expected a port name"));
                };
                if self.next() != Some(Tok::RParen) {
                    return Err(self.err("expected ')'"));
                }
                Ok(Expr::Resident(port))
            }
            Some(Tok::Ident(field)) => {
                let op = match self.peek() {
                    Some(Tok::Op("==")) => Op::Eq,
                    Some(Tok::Op("!=")) => Op::Ne,
                    Some(Tok::Op("<")) => Op::Lt,
                    Some(Tok::Op("<=")) => Op::Le,
                    Some(Tok::Op(">")) => Op::Gt,
                    Some(Tok::Op(">=")) => Op::Ge,
                    _ => return Ok(Expr::Field(field)),
                };
                self.pos += 1;
                let values = if self.peek() == Some(&Tok::LBrace) {
                    self.pos += 1;
                    let mut v = vec![];
                    loop {
                        match self.peek() {
                            Some(Tok::RBrace) => {
                                self.pos += 1;
                                break;
                            }
                            Some(Tok::Comma) => self.pos += 1,
                            _ => v.push(self.value()?),
                        }
                    }
                    v
                } else {
                    vec![self.value()?]
                };
                Ok(Expr::Cmp { field, op, values })
            }
            _ => Err(self.err("expected a field, '!', '(' or a constant")),
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::Str(s)),
            Some(Tok::Ident(s)) if s.starts_with('$') => Ok(Value::AddrSet(s[1..].into())),
            Some(Tok::Ident(s)) if s.starts_with('@') => Ok(Value::PortGroup(s[1..].into())),
            Some(Tok::Num(s)) | Some(Tok::Ident(s)) => parse_const(&s).ok_or_else(|| self.err(format!("bad constant {s:?}"))),
            _ => Err(self.err("expected a value")),
        }
    }
}

fn parse_int(s: &str) -> Option<u128> {
    match s.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_const(s: &str) -> Option<Value> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(Value::Net(n));
    }
    if let Some((v, m)) = s.split_once('/') {
        if let (Some(value), Some(mask)) = (parse_int(v), parse_int(m)) {
            return Some(Value::Masked { value, mask });
        }
        if let (Ok(a), Ok(m)) = (v.parse::<IpAddr>(), m.parse::<IpAddr>()) {
            return Some(IpNet::with_netmask(a, m).map_or_else(|_| Value::Other(s.into()), Value::Net));
        }
        if v.len() == 17 && m.len() == 17 && v.split(':').count() == 6 {
            return Some(Value::Other(s.to_ascii_lowercase()));
        }
        return None;
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(Value::Net(IpNet::from(a)));
    }
    if s.len() == 17 && s.split(':').count() == 6 {
        return Some(Value::Mac(s.to_ascii_lowercase()));
    }
    parse_int(s).map(Value::Int)
}

/// Parses one constant as a match would (an address-set member, an action's argument).
pub fn parse_value(s: &str) -> Option<Value> {
    parse_const(s.trim())
}

/// Parses a match expression.
pub fn parse(s: &str) -> Result<Expr, ParseError> {
    let toks = lex(s)?;
    if toks.is_empty() {
        return Ok(Expr::Bool(true));
    }
    let mut p = Parser { toks, pos: 0, input: s };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err("unexpected token after the expression"));
    }
    Ok(e)
}

/// Three-valued truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// Depends on something not known; the reason names it.
    Unknown(String),
}

impl Truth {
    pub(crate) fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

/// What is known about a packet (and its context) for evaluation.
#[derive(Debug, Clone, Default)]
pub struct Packet {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub inport: Option<String>,
    pub outport: Option<String>,
    /// `tcp`, `udp`, `icmp4`, …
    pub proto: Option<String>,
    /// Address sets by name.
    pub address_sets: BTreeMap<String, Vec<String>>,
    /// Port groups by name (port names).
    pub port_groups: BTreeMap<String, Vec<String>>,
    /// Ports resident on the chassis in question; `None` = residency is not known.
    pub resident: Option<Vec<String>>,
    /// Ethernet addresses, lower case (`None` = not known, e.g. for a predicted path before
    /// ARP resolution).
    pub eth_src: Option<String>,
    pub eth_dst: Option<String>,
    /// Integer fields that are known (`ip.ttl`, `tcp.dst`, `icmp4.type`, …), by OVN field name.
    pub ints: BTreeMap<String, u128>,
}

impl Packet {
    /// The partial microflow this packet is: what it says is known, the rest unknown.
    pub fn microflow(&self) -> super::microflow::Microflow {
        use super::symtab::{resolve, Base, FieldRef, Resolved};
        let mut f = super::microflow::Microflow::partial();
        let whole = |base: Base| FieldRef {
            base,
            lo: 0,
            width: base.width(),
            prereq: None,
        };
        let family = self.src.or(self.dst);
        if let Some(a) = family {
            f.learn(whole(Base::EthType), if a.is_ipv4() { 0x800 } else { 0x86dd });
        }
        for (addr, dst) in [(self.src, false), (self.dst, true)] {
            if let Some(a) = addr {
                f.set_ip(dst, a);
                let base = match (a.is_ipv4(), dst) {
                    (true, false) => Base::NwSrc,
                    (true, true) => Base::NwDst,
                    (false, false) => Base::Ip6Src,
                    (false, true) => Base::Ip6Dst,
                };
                f.learn(whole(base), f.get_base(base));
            }
        }
        let proto = match self.proto.as_deref() {
            Some("tcp") => Some(6),
            Some("udp") => Some(17),
            Some("sctp") => Some(132),
            Some("icmp4") => Some(1),
            Some("icmp6") => Some(58),
            Some("icmp") => family.map(|a| if a.is_ipv4() { 1 } else { 58 }),
            _ => None,
        };
        if let Some(p) = proto {
            f.learn(whole(Base::IpProto), p);
        }
        for (mac, base) in [(&self.eth_src, Base::EthSrc), (&self.eth_dst, Base::EthDst)] {
            if let Some(v) = mac.as_deref().and_then(super::microflow::parse_mac) {
                f.learn(whole(base), v);
            }
        }
        for (name, v) in &self.ints {
            if let Ok(Resolved::Field(r)) = resolve(name) {
                f.learn(r, *v);
            }
        }
        f.inport = self.inport.clone().unwrap_or_default();
        f.outport = self.outport.clone().unwrap_or_default();
        f.unknown_ports = (self.inport.is_none(), self.outport.is_none());
        f
    }

    /// Evaluates a match on what is known of the packet (see `microflow`, the one evaluator).
    pub fn eval(&self, e: &Expr) -> Truth {
        let resident: Option<std::collections::BTreeSet<String>> = self.resident.as_ref().map(|r| r.iter().cloned().collect());
        let ctx = super::microflow::Context {
            address_sets: &self.address_sets,
            port_groups: &self.port_groups,
            datapath_key: 0,
            resident: resident.as_ref(),
        };
        self.microflow().eval(e, &ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(src: &str, dst: &str) -> Packet {
        Packet {
            src: src.parse().ok(),
            dst: dst.parse().ok(),
            inport: Some("rtos-worker-1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn ovn_kubernetes_policies() {
        let p = pkt("10.128.2.43", "203.0.113.8");
        let cases = [
            ("ip4.src == 10.128.0.0/14 && ip4.dst == 10.128.0.0/14", Truth::False),
            ("ip4.src == 10.128.0.0/14 && ip4.dst == 100.64.0.0/16", Truth::False),
            ("ip4.src == 10.128.2.43", Truth::True),
            (r#"inport == "rtos-worker-1" && ip4.dst == 172.18.0.2 /* worker-1 */"#, Truth::False),
            ("ip4.src == {10.128.2.43, 10.128.2.44} && ip4.dst != 10.0.0.0/8", Truth::True),
            (
                "ip && ip4.src == 10.128.2.43 && (!ct.trk || !ct.rpl)",
                Truth::Unknown("field ct.trk".into()),
            ),
            ("ip4.src == $a123 && ip4.dst == 1.2.3.4", Truth::False),
            ("ip4.src == $a123", Truth::Unknown("address set $a123".into())),
            ("ip6.src == fd00::1", Truth::False),
            ("1", Truth::True),
        ];
        for (m, want) in cases {
            assert_eq!(p.eval(&parse(m).unwrap()), want, "{m}");
        }
    }

    #[test]
    fn address_sets_and_residency() {
        let mut p = pkt("10.128.2.43", "203.0.113.8");
        p.address_sets.insert("exempt".into(), vec!["203.0.113.0/24".into()]);
        p.resident = Some(vec!["cr-lrp-1".into()]);
        assert_eq!(
            p.eval(&parse("ip4.dst == $exempt && is_chassis_resident(\"cr-lrp-1\")").unwrap()),
            Truth::True
        );
        assert_eq!(p.eval(&parse("is_chassis_resident(\"other\")").unwrap()), Truth::False);
    }

    proptest::proptest! {
        /// Any input: an AST or an error, never a panic (a stand-in for a fuzz target on stable Rust).
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,80}") {
            if let Ok(e) = parse(&s) {
                let _ = pkt("10.0.0.1", "10.0.0.2").eval(&e);
            }
        }

        /// Generated well-formed matches always parse and evaluate to a definite answer.
        #[test]
        fn generated_matches_parse(a in 0u8..=255, b in 0u8..=255, len in 8u8..=32, neg in proptest::bool::ANY) {
            let m = format!("{}ip4.src == 10.{a}.{b}.0/{len} && (ip4.dst != {{1.2.3.4, 5.6.7.8}} || inport == \"p\")", if neg { "!" } else { "" });
            let e = parse(&m).unwrap();
            proptest::prop_assert!(matches!(pkt("10.1.2.3", "9.9.9.9").eval(&e), Truth::True | Truth::False));
        }
    }

    #[test]
    fn an_unknown_address_is_unknown_not_absent() {
        // After a DNAT the destination is no longer known; the source still is.
        let p = Packet {
            src: "10.128.27.163".parse().ok(),
            ..Default::default()
        };
        let e = |m: &str| p.eval(&parse(m).unwrap());
        assert_eq!(e("ip4.dst == 0.0.0.0/0"), Truth::Unknown("field ip4.dst".into()));
        assert_eq!(e("ip6.dst == ::/0"), Truth::False);
        assert_eq!(e("ip4.src == 10.128.0.0/14"), Truth::True);
    }

    #[test]
    fn known_macs_integers_and_masks() {
        let mut p = pkt("10.128.2.43", "224.0.0.251");
        p.eth_src = Some("0a:58:0a:80:02:2b".into());
        p.eth_dst = Some("01:00:5e:00:00:fb".into());
        p.ints.insert("ip.ttl".into(), 1);
        p.address_sets.insert("svc_monitor_mac".into(), vec!["0A:58:0a:80:02:2b".into()]);
        p.ints.insert("tcp.flags".into(), 0x12);
        p.proto = Some("tcp".into());
        let cases = [
            ("eth.src == 0A:58:0a:80:02:2b", Truth::True),
            ("eth.dst == {0a:58:0a:80:02:01, ff:ff:ff:ff:ff:ff}", Truth::False),
            ("eth.dst == $svc_monitor_mac", Truth::False),
            ("eth.src == $svc_monitor_mac", Truth::True),
            ("eth.mcast && !eth.bcast && ip4.mcast", Truth::True),
            ("ip.ttl == {0, 1}", Truth::True),
            ("ip.ttl != {0, 1}", Truth::False),
            ("ip.ttl > 1", Truth::False),
            ("tcp.flags == 0x2/0x2", Truth::True),
            ("tcp.flags == 0x4/0x4", Truth::False),
            ("ip4.dst == 224.0.0.0/240.0.0.0", Truth::True),
            ("eth.src == 01:00:00:00:00:00/01:00:00:00:00:00", Truth::False),
            ("udp.dst == 53", Truth::False),
            ("tcp.dst == 80", Truth::Unknown("field tcp.dst".into())),
            // A field of a packet of another kind is absent, whatever the negation says.
            ("!(icmp4.type == 8)", Truth::False),
        ];
        for (m, want) in cases {
            assert_eq!(p.eval(&parse(m).unwrap()), want, "{m}");
        }
    }

    #[test]
    fn parse_errors_are_errors() {
        for bad in [
            "ip4.src ==",
            "(ip4.src == 1.2.3.4",
            "ip4.src == 1.2.3.4 )",
            "\"unterminated",
            "a == {1,",
            "&&",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
