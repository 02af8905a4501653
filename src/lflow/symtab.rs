//! The OVN logical field table: what each name in a match or an action refers to — a bit range
//! of a packet or metadata field (with the prerequisite OVN adds), a predicate defined by
//! another expression, or a logical port.
//!
//! This follows `ovn-sb(5)` and OVN's own table (`lib/logical-fields.c`): registers overlap
//! (`xxreg0` is `reg0..reg3`, `reg0` its top 32 bits), `flags` is a register, ICMP type/code
//! share the transport-port fields and ARP addresses share the IPv4 ones, exactly as in an
//! OpenFlow flow. A name not in the table is reported by name, never guessed.

/// A stored field of the microflow. Registers are kept as sixteen 32-bit words; the wider
/// views (`xreg`, `xxreg`) are composed from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Base {
    EthSrc,
    EthDst,
    EthType,
    VlanTci,
    IpProto,
    IpDscp,
    IpEcn,
    IpTtl,
    IpFrag,
    /// `ip4.src`, `arp.spa`.
    NwSrc,
    /// `ip4.dst`, `arp.tpa`.
    NwDst,
    Ip6Src,
    Ip6Dst,
    Ip6Label,
    /// `tcp.src`, `udp.src`, `sctp.src`, `icmp4.type`, `icmp6.type`.
    TpSrc,
    /// `tcp.dst`, `udp.dst`, `sctp.dst`, `icmp4.code`, `icmp6.code`.
    TpDst,
    TcpFlags,
    ArpOp,
    ArpSha,
    ArpTha,
    NdTarget,
    CtState,
    CtMark,
    CtLabel,
    /// The original destination of a load-balanced connection (`ct_lb` sets it).
    CtNwDst,
    /// The same, for IPv6.
    CtIp6Dst,
    CtTpDst,
    /// The rest of the connection's original tuple, which only ovn-trace 25.09+ fills (and
    /// OVS's flow text then shows).
    CtNwSrc,
    CtIp6Src,
    CtNwProto,
    CtTpSrc,
    Reg(u8),
    XReg(u8),
    XXReg(u8),
}

impl Base {
    pub fn width(self) -> u32 {
        match self {
            Base::EthSrc | Base::EthDst | Base::ArpSha | Base::ArpTha => 48,
            Base::EthType | Base::VlanTci | Base::TpSrc | Base::TpDst | Base::ArpOp | Base::CtTpDst | Base::CtTpSrc => 16,
            Base::IpProto | Base::IpTtl | Base::CtState | Base::CtNwProto => 8,
            Base::IpDscp => 6,
            Base::IpEcn | Base::IpFrag => 2,
            Base::TcpFlags => 12,
            Base::Ip6Label => 20,
            Base::NwSrc | Base::NwDst | Base::CtMark | Base::CtNwDst | Base::CtNwSrc | Base::Reg(_) => 32,
            Base::XReg(_) => 64,
            Base::Ip6Src | Base::Ip6Dst | Base::NdTarget | Base::CtLabel | Base::CtIp6Dst | Base::CtIp6Src | Base::XXReg(_) => 128,
        }
    }

    /// Fields holding an address, so a CIDR constant is a prefix match on them.
    pub fn ip_family(self) -> Option<u8> {
        match self {
            Base::NwSrc | Base::NwDst | Base::CtNwDst | Base::CtNwSrc => Some(4),
            Base::Ip6Src | Base::Ip6Dst | Base::NdTarget | Base::CtIp6Dst | Base::CtIp6Src => Some(6),
            _ => None,
        }
    }
}

/// What a name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sym {
    /// Bits `lo .. lo+width` of `base`, valid only when `prereq` holds.
    Field {
        base: Base,
        lo: u32,
        width: u32,
        prereq: Option<&'static str>,
    },
    /// Shorthand for an expression (`ip4` is `eth.type == 0x800`).
    Predicate(&'static str),
    /// `inport` / `outport`: logical ports, compared by name.
    Port { out: bool },
}

const fn f(base: Base, prereq: Option<&'static str>) -> Sym {
    Sym::Field {
        base,
        lo: 0,
        width: 0,
        prereq,
    }
}

const fn sub(base: Base, lo: u32, width: u32, prereq: Option<&'static str>) -> Sym {
    Sym::Field { base, lo, width, prereq }
}

/// The logical flag bits (`flags.*`) as OVN numbers them in register 10 (include/ovn/
/// logical-fields.h, the same bits from 24.03 to 26.03; 23.03 has the first five).
const FLAG_BITS: &[(&str, u32)] = &[
    ("loopback", 0),
    ("force_snat_for_dnat", 2),
    ("force_snat_for_lb", 3),
    ("skip_snat_for_lb", 9),
    ("use_snat_zone", 11),
    ("localnet", 15),
    ("tunnel_rx", 16),
    ("icmp_snat", 17),
    ("from_ctrl", 19),
    // 25.03: a gateway router committing every connection (`options:ct-commit-all`) carries
    // the unSNAT zone's verdict to its egress pipeline in these two.
    ("unsnat_new", 20),
    ("unsnat_not_tracked", 21),
    // 26.03: an IGMP packet ovn-controller injected back, and a packet already sampled.
    ("igmp_loopback", 22),
    ("pkt_sampled", 23),
];

/// The connection-tracking state bits (`ct.*`), as the kernel numbers them.
pub const CT_BITS: &[(&str, u32)] = &[
    ("new", 0),
    ("est", 1),
    ("rel", 2),
    ("rpl", 3),
    ("inv", 4),
    ("trk", 5),
    ("snat", 6),
    ("dnat", 7),
];

pub const CT_NEW: u128 = 1;
pub const CT_EST: u128 = 1 << 1;
pub const CT_TRK: u128 = 1 << 5;
pub const CT_SNAT: u128 = 1 << 6;
pub const CT_DNAT: u128 = 1 << 7;

/// `ct_mark.*` subfields. Since 24.09 OVN also keeps the ACL sampling stage and collector and
/// whether an ACL allows established traffic there (positions as ovn-controller 25.03 installs
/// them: CT_MARK[4..5], [6], [16..23]).
const CT_MARK_BITS: &[(&str, u32, u32)] = &[
    ("blocked", 0, 1),
    ("natted", 1, 1),
    ("skip_snat", 2, 1),
    ("force_snat", 3, 1),
    ("obs_stage", 4, 2),
    ("allow_established", 6, 1),
    ("obs_collector_id", 16, 8),
    ("ecmp_reply_port", 16, 16),
];

/// Looks a name up (without a `[..]` subscript). `width == 0` in the answer means "the whole
/// base field".
pub fn lookup(name: &str) -> Option<Sym> {
    use Base::*;
    let reg = |prefix: &str| name.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok());
    if let Some(n) = reg("xxreg").filter(|n| *n < 4) {
        return Some(f(XXReg(n), None));
    }
    if let Some(n) = reg("xreg").filter(|n| *n < 8) {
        return Some(f(XReg(n), None));
    }
    if let Some(n) = reg("reg").filter(|n| *n < 16) {
        return Some(f(Reg(n), None));
    }
    if let Some(flag) = name.strip_prefix("flags.") {
        // 26.03: the 4-bit network id of lr_in_network_id (REG10[28..31]).
        if flag == "network_id" {
            return Some(sub(Reg(10), 28, 4, None));
        }
        return FLAG_BITS
            .iter()
            .find(|(n, _)| *n == flag)
            .map(|(_, bit)| sub(Reg(10), *bit, 1, None));
    }
    if let Some(bit) = name.strip_prefix("ct.") {
        return CT_BITS
            .iter()
            .find(|(n, _)| *n == bit)
            .map(|(n, b)| sub(CtState, *b, 1, if *n == "trk" { None } else { Some("ct.trk") }));
    }
    if let Some(m) = name.strip_prefix("ct_mark.") {
        return CT_MARK_BITS
            .iter()
            .find(|(n, _, _)| *n == m)
            .map(|(_, lo, w)| sub(CtMark, *lo, *w, None));
    }
    Some(match name {
        "inport" => Sym::Port { out: false },
        "outport" => Sym::Port { out: true },
        "flags" => f(Reg(10), None),
        "ct_state" => f(CtState, None),
        "ct_mark" => f(CtMark, None),
        "ct_label" => f(CtLabel, None),
        "ct_label.blocked" => sub(CtLabel, 0, 1, None),
        "ct_label.natted" => sub(CtLabel, 1, 1, None),
        "ct_label.ecmp_reply_eth" => sub(CtLabel, 32, 48, None),
        "ct_label.ecmp_reply_port" => sub(CtLabel, 80, 16, None),
        "ct_label.label" => sub(CtLabel, 96, 32, None),
        // 24.09+: the ACL's id and its sampling observation point (CT_LABEL[80..95], [96..127]).
        "ct_label.acl_id" => sub(CtLabel, 80, 16, None),
        "ct_label.obs_point_id" => sub(CtLabel, 96, 32, None),
        "ct_label.obs_unused" => sub(CtLabel, 0, 96, None),
        // 26.03: network functions (the connection was redirected through one, and which) and
        // the tunnel interface a connection came in on.
        "ct_label.nf" => sub(CtLabel, 7, 1, None),
        "ct_label.nf_id" => sub(CtLabel, 17, 8, None),
        "ct_label.tun_if" => sub(CtLabel, 8, 1, None),
        "ct_label.tun_if_id" => sub(CtLabel, 80, 16, None),
        "eth.src" => f(EthSrc, None),
        "eth.dst" => f(EthDst, None),
        "eth.type" => f(EthType, None),
        "eth.bcast" => Sym::Predicate("eth.dst == ff:ff:ff:ff:ff:ff"),
        "eth.mcast" => sub(EthDst, 40, 1, None),
        "eth.mcastv6" => Sym::Predicate("eth.dst[32..47] == 0x3333"),
        "vlan.tci" => f(VlanTci, None),
        // A 1-bit subfield, as OVN defines it: usable bare or compared (`vlan.present == 1`).
        "vlan.present" => sub(VlanTci, 12, 1, None),
        "vlan.pcp" => sub(VlanTci, 13, 3, Some("vlan.present")),
        "vlan.vid" => sub(VlanTci, 0, 12, Some("vlan.present")),
        "ip4" => Sym::Predicate("eth.type == 0x800"),
        "ip6" => Sym::Predicate("eth.type == 0x86dd"),
        "ip" => Sym::Predicate("ip4 || ip6"),
        "ip.proto" => f(IpProto, Some("ip")),
        "ip.dscp" => f(IpDscp, Some("ip")),
        "ip.ecn" => f(IpEcn, Some("ip")),
        "ip.ttl" => f(IpTtl, Some("ip")),
        "ip.frag" => f(IpFrag, Some("ip")),
        "ip.is_frag" => Sym::Predicate("ip.frag[0]"),
        "ip.later_frag" => Sym::Predicate("ip.frag[1]"),
        "ip.first_frag" => Sym::Predicate("ip.is_frag && !ip.later_frag"),
        "ip4.src" => f(NwSrc, Some("ip4")),
        "ip4.dst" => f(NwDst, Some("ip4")),
        "ip4.src_mcast" => Sym::Predicate("ip4.src[28..31] == 0xe"),
        "ip4.mcast" => Sym::Predicate("eth.mcast && ip4.dst[28..31] == 0xe"),
        "icmp4" => Sym::Predicate("ip4 && ip.proto == 1"),
        "icmp4.type" => f(TpSrc, Some("icmp4")),
        "icmp4.code" => f(TpDst, Some("icmp4")),
        "igmp" => Sym::Predicate("ip4.mcast && ip.proto == 2"),
        "ip6.src" => f(Ip6Src, Some("ip6")),
        "ip6.dst" => f(Ip6Dst, Some("ip6")),
        "ip6.label" => f(Ip6Label, Some("ip6")),
        "ip6.mcast_rsvd" => Sym::Predicate("ip6.dst[116..127] == 0xff0 && ip6.dst[0..111] == 0x0"),
        "ip6.mcast_all_nodes" => Sym::Predicate("ip6.dst == ff01::1 || ip6.dst == ff02::1"),
        "ip6.mcast_all_rtrs" => Sym::Predicate("ip6.dst == ff01::2 || ip6.dst == ff02::2 || ip6.dst == ff05::2"),
        "ip6.mcast_sol_node" => Sym::Predicate("ip6.dst == ff02::1:ff00:0000/104"),
        "ip6.mcast_flood" => {
            Sym::Predicate("eth.mcastv6 && (ip6.mcast_rsvd || ip6.mcast_all_nodes || ip6.mcast_all_rtrs || ip6.mcast_sol_node)")
        }
        "ip6.mcast" => Sym::Predicate("eth.mcastv6 && ip6.dst[120..127] == 0xff"),
        "icmp6" => Sym::Predicate("ip6 && ip.proto == 58"),
        "icmp6.type" => f(TpSrc, Some("icmp6")),
        "icmp6.code" => f(TpDst, Some("icmp6")),
        "icmp" => Sym::Predicate("icmp4 || icmp6"),
        "arp" => Sym::Predicate("eth.type == 0x806"),
        "arp.op" => f(ArpOp, Some("arp")),
        "arp.spa" => f(NwSrc, Some("arp")),
        "arp.tpa" => f(NwDst, Some("arp")),
        "arp.sha" => f(ArpSha, Some("arp")),
        "arp.tha" => f(ArpTha, Some("arp")),
        "rarp" => Sym::Predicate("eth.type == 0x8035"),
        "rarp.op" => f(ArpOp, Some("rarp")),
        "rarp.spa" => f(NwSrc, Some("rarp")),
        "rarp.tpa" => f(NwDst, Some("rarp")),
        "rarp.sha" => f(ArpSha, Some("rarp")),
        "rarp.tha" => f(ArpTha, Some("rarp")),
        "nd" => Sym::Predicate("icmp6.type == {135, 136} && icmp6.code == 0 && ip.ttl == 255"),
        "nd_ns" => Sym::Predicate("icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255"),
        "nd_ns_mcast" => Sym::Predicate("ip6.mcast && icmp6.type == 135 && icmp6.code == 0 && ip.ttl == 255"),
        "nd_na" => Sym::Predicate("icmp6.type == 136 && icmp6.code == 0 && ip.ttl == 255"),
        "nd_rs" => Sym::Predicate("icmp6.type == 133 && icmp6.code == 0 && ip.ttl == 255"),
        "nd_ra" => Sym::Predicate("icmp6.type == 134 && icmp6.code == 0 && ip.ttl == 255"),
        "nd.target" => f(NdTarget, Some("nd")),
        "nd.sll" => f(ArpSha, Some("nd_ns")),
        "nd.tll" => f(ArpTha, Some("nd_na")),
        "mldv1" => Sym::Predicate("eth.mcastv6 && ip6.src == fe80::/10 && icmp6.type == {130, 131, 132}"),
        "mldv2" => Sym::Predicate("eth.mcastv6 && ip6.dst == ff02::16 && icmp6.type == 143"),
        "tcp" => Sym::Predicate("ip.proto == 6"),
        "tcp.src" => f(TpSrc, Some("tcp")),
        "tcp.dst" => f(TpDst, Some("tcp")),
        "tcp.flags" => f(TcpFlags, Some("tcp")),
        "udp" => Sym::Predicate("ip.proto == 17"),
        "udp.src" => f(TpSrc, Some("udp")),
        "udp.dst" => f(TpDst, Some("udp")),
        "sctp" => Sym::Predicate("ip.proto == 132"),
        "sctp.src" => f(TpSrc, Some("sctp")),
        "sctp.dst" => f(TpDst, Some("sctp")),
        _ => return None,
    })
}

/// A field reference with its subscript resolved: `reg8[0..15]`, `ct.new`, `ip4.dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef {
    pub base: Base,
    pub lo: u32,
    pub width: u32,
    pub prereq: Option<&'static str>,
}

/// What a written name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    Field(FieldRef),
    Predicate(&'static str),
    Port { out: bool },
}

/// Resolves `name` or `name[i]` or `name[lo..hi]`; `Err` names what is not known.
pub fn resolve(text: &str) -> Result<Resolved, String> {
    let (name, subscript) = match text.split_once('[') {
        Some((n, rest)) => (n, Some(rest.strip_suffix(']').ok_or_else(|| format!("field {text}"))?)),
        None => (text, None),
    };
    let sym = lookup(name).ok_or_else(|| format!("field {name}"))?;
    let (base, lo, width, prereq) = match (sym, subscript) {
        (Sym::Predicate(p), None) => return Ok(Resolved::Predicate(p)),
        (Sym::Port { out }, None) => return Ok(Resolved::Port { out }),
        (Sym::Field { base, lo, width, prereq }, _) => (base, lo, if width == 0 { base.width() } else { width }, prereq),
        _ => return Err(format!("field {text}")),
    };
    let Some(s) = subscript else {
        return Ok(Resolved::Field(FieldRef { base, lo, width, prereq }));
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a.trim().parse::<u32>(), b.trim().parse::<u32>()),
        None => (s.trim().parse::<u32>(), s.trim().parse::<u32>()),
    };
    match (a, b) {
        (Ok(a), Ok(b)) if a <= b && b < width => Ok(Resolved::Field(FieldRef {
            base,
            lo: lo + a,
            width: b - a + 1,
            prereq,
        })),
        _ => Err(format!("subscript of {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_overlap_like_ovn() {
        let r = |s: &str| match resolve(s).unwrap() {
            Resolved::Field(f) => (f.base, f.lo, f.width),
            other => panic!("{other:?}"),
        };
        assert_eq!(r("reg8[0..15]"), (Base::Reg(8), 0, 16));
        assert_eq!(r("xxreg0[0..47]"), (Base::XXReg(0), 0, 48));
        assert_eq!(r("flags.loopback"), (Base::Reg(10), 0, 1));
        // include/ovn/logical-fields.h, 24.03 to 26.03.
        assert_eq!(r("flags.localnet"), (Base::Reg(10), 15, 1));
        assert_eq!(r("flags.tunnel_rx"), (Base::Reg(10), 16, 1));
        assert_eq!(r("flags.unsnat_not_tracked"), (Base::Reg(10), 21, 1));
        assert_eq!(r("ct.est"), (Base::CtState, 1, 1));
        assert_eq!(r("icmp4.type"), (Base::TpSrc, 0, 16));
        assert_eq!(resolve("ip4"), Ok(Resolved::Predicate("eth.type == 0x800")));
        assert_eq!(resolve("outport"), Ok(Resolved::Port { out: true }));
        assert_eq!(resolve("bogus.field"), Err("field bogus.field".into()));
        assert_eq!(resolve("reg0[40]"), Err("subscript of reg0[40]".into()));
    }
}
