//! What `nat` and `explain` know of a packet: some fields, the rest unknown. It is evaluated
//! as a partial [`Microflow`] by the one evaluator ([`super::microflow`]), so a partly known
//! packet and a concrete microflow can never disagree on what a match means. The one CIDR
//! helper of the crate lives here too, because every "is this address in that network" above
//! `db/` is a match question.

use super::expr::{Expr, Truth};
use super::microflow::Microflow;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// An address or a network as OVN writes them in a NAT rule, a route or a port's networks
/// (`10.128.2.43`, `10.128.0.0/14`, `fd00::1`), as a network.
pub fn net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// How a written address or network covers an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// The address itself (or a host prefix, /32 or /128, of it).
    Exact,
    /// A wider network that holds it.
    Cidr,
}

impl Cover {
    pub fn as_str(self) -> &'static str {
        match self {
            Cover::Exact => "exact",
            Cover::Cidr => "cidr",
        }
    }
}

/// Whether (and how) `net` covers `ip`; `None` when it does not or does not parse.
pub fn covers(net_text: &str, ip: IpAddr) -> Option<Cover> {
    let n = net(net_text)?;
    if !n.contains(&ip) {
        return None;
    }
    Some(if n.prefix_len() == n.max_prefix_len() {
        Cover::Exact
    } else {
        Cover::Cidr
    })
}

/// `ip` is `net` or inside it.
pub fn contains(net_text: &str, ip: IpAddr) -> bool {
    covers(net_text, ip).is_some()
}

/// A packet to trace, written as an ovn-trace microflow (`inport == "p" && eth.src == … &&
/// ip4.src == … && icmp4.type == 8 …`): the one writer of microflow text, for a predicted
/// packet (`trace --lflows`) and a captured one (`explain --validate`).
#[derive(Debug, Clone)]
pub struct MicroflowText {
    pub inport: String,
    pub eth_src: Option<String>,
    pub eth_dst: Option<String>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: Option<u8>,
    pub l4: L4Text,
}

/// The transport header of a [`MicroflowText`].
#[derive(Debug, Clone, Copy)]
pub enum L4Text {
    Echo { request: bool },
    Icmp { kind: u8, code: u8 },
    Tcp { src: u16, dst: u16, flags: u16 },
    Udp { src: u16, dst: u16 },
}

impl std::fmt::Display for MicroflowText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v4 = self.src.is_ipv4();
        let ip = if v4 { "ip4" } else { "ip6" };
        write!(f, "inport == \"{}\"", self.inport)?;
        if let Some(s) = &self.eth_src {
            write!(f, " && eth.src == {s}")?;
        }
        if let Some(d) = &self.eth_dst {
            write!(f, " && eth.dst == {d}")?;
        }
        write!(f, " && {ip}.src == {} && {ip}.dst == {}", self.src, self.dst)?;
        if let Some(t) = self.ttl {
            write!(f, " && ip.ttl == {t}")?;
        }
        let icmp = if v4 { "icmp4" } else { "icmp6" };
        match self.l4 {
            L4Text::Echo { request } => {
                let t = match (v4, request) {
                    (true, true) => 8,
                    (true, false) => 0,
                    (false, true) => 128,
                    (false, false) => 129,
                };
                write!(f, " && {icmp}.type == {t} && {icmp}.code == 0")
            }
            L4Text::Icmp { kind, code } => write!(f, " && {icmp}.type == {kind} && {icmp}.code == {code}"),
            L4Text::Tcp { src, dst, flags } => write!(f, " && tcp.src == {src} && tcp.dst == {dst} && tcp.flags == {flags}"),
            L4Text::Udp { src, dst } => write!(f, " && udp.src == {src} && udp.dst == {dst}"),
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
    pub fn microflow(&self) -> Microflow {
        use super::symtab::{resolve, Base, FieldRef, Resolved};
        let mut f = Microflow::partial();
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
            if let Some(v) = mac.as_deref().and_then(crate::lflow::microflow::parse_mac) {
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
        let ctx = crate::lflow::microflow::Context {
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
    use crate::lflow::expr::parse;

    fn pkt(src: &str, dst: &str) -> Packet {
        Packet {
            src: src.parse().ok(),
            dst: dst.parse().ok(),
            inport: Some("rtos-worker-1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn addresses_and_networks_cover_as_written() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(covers("10.128.2.43", ip("10.128.2.43")), Some(Cover::Exact));
        assert_eq!(covers("10.128.2.43/32", ip("10.128.2.43")), Some(Cover::Exact));
        assert_eq!(covers("10.128.0.0/14", ip("10.128.2.43")), Some(Cover::Cidr));
        assert_eq!(covers("10.128.0.0/14", ip("10.132.0.1")), None);
        assert_eq!(covers("fd00::/64", ip("fd00::1")), Some(Cover::Cidr));
        assert_eq!(covers("not an address", ip("10.0.0.1")), None);
        assert!(!contains("10.128.2.44", ip("10.128.2.43")));
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
}
