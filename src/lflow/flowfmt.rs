//! A microflow as Open vSwitch writes a flow (`flow_format()`: `icmp,reg14=0x1,vlan_tci=0x0000,
//! dl_src=…,nw_src=…,nw_ttl=64,…`), because that is the text ovn-trace prints on its first line
//! and inside an ACL's `LOG:` line — the only places where its output is OVS's, not OVN's.
//!
//! The rules are OVS's (lib/flow.c `flow_format`, `flow_wildcards_init_for_packet`;
//! lib/match.c `match_format`): a field is shown when it exists for the packet's type, the
//! packet-context fields (registers, metadata, conntrack state, in_port …) only when not zero,
//! in match_format's order, with its protocol keyword (`tcp`, `icmp6`, `arp`) standing for the
//! Ethernet type and IP protocol. ovn-trace keeps the logical ports in registers 14 and 15
//! (their tunnel keys) and never sets `metadata`; the conntrack tuple fields are shown by OVS
//! only once `ct_nw_proto` is set, which ovn-trace before 25.09 never does (from 25.09 each
//! conntrack action fills the tuple, and so does the executor on a Southbound of that age).

use super::microflow::Microflow;
use super::symtab::{Base, CT_BITS};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The TCP flag names OVS prints, by bit (`packet_tcp_flag_to_string`).
const TCP_FLAGS: &[(u32, &str)] = &[
    (0x001, "fin"),
    (0x002, "syn"),
    (0x004, "rst"),
    (0x008, "psh"),
    (0x010, "ack"),
    (0x020, "urg"),
    (0x040, "ece"),
    (0x080, "cwr"),
    (0x100, "ns"),
    (0x200, "[200]"),
    (0x400, "[400]"),
    (0x800, "[800]"),
];

/// OVS's `format_flags` with `|`: names from the lowest bit up, `0` for none.
fn flags(v: u32, name: impl Fn(u32) -> Option<&'static str>) -> String {
    if v == 0 {
        return "0".into();
    }
    let mut names = vec![];
    let mut bad = 0;
    for bit in (0..32).map(|i| 1u32 << i).filter(|b| v & b != 0) {
        match name(bit) {
            Some(n) => names.push(n.to_string()),
            None => bad |= bit,
        }
    }
    if bad != 0 {
        names.push(format!("{bad:#x}"));
    }
    names.join("|")
}

fn mac(v: u128) -> String {
    let b = (v as u64).to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

/// The flow text of `f`, with `inport`/`outport` as the tunnel keys ovn-trace keeps in
/// registers 14 and 15 (0: none).
pub fn ovs_flow(f: &Microflow, inport: u32, outport: u32) -> String {
    let g = |b: Base| f.get_base(b);
    let mut s = String::new();
    let ct_state = g(Base::CtState) as u32;
    if ct_state != 0 {
        let name = |bit: u32| CT_BITS.iter().find(|(_, i)| 1 << i == bit).map(|(n, _)| *n);
        put(&mut s, &format!("ct_state={}", flags(ct_state, name)));
    }
    if g(Base::CtMark) != 0 {
        put(&mut s, &format!("ct_mark={:#x}", g(Base::CtMark)));
    }
    if g(Base::CtLabel) != 0 {
        put(&mut s, &format!("ct_label={:#x}", g(Base::CtLabel)));
    }
    let dl_type = g(Base::EthType) as u16;
    let proto = g(Base::IpProto) as u8;
    let (ip4, ip6, arp) = (dl_type == 0x0800, dl_type == 0x86dd, dl_type == 0x0806 || dl_type == 0x8035);
    // The connection's original tuple: only for a valid connection (lib/flow.h `is_ct_valid`:
    // a state bit that implies one, or tracked and not invalid) with a protocol, as
    // flow_format unmasks it otherwise; an ND packet has no IPv6 tuple.
    let ct_valid = ct_state & 0xcf != 0 || (ct_state & 0x20 != 0 && ct_state & 0x10 == 0);
    if ct_valid && g(Base::CtNwProto) != 0 && (ip4 || ip6) {
        let nd = ip6 && proto == 58 && g(Base::TpDst) == 0 && matches!(g(Base::TpSrc), 135 | 136);
        if ip4 {
            put(&mut s, &format!("ct_nw_src={}", Ipv4Addr::from(g(Base::CtNwSrc) as u32)));
            put(&mut s, &format!("ct_nw_dst={}", Ipv4Addr::from(g(Base::CtNwDst) as u32)));
        } else if !nd {
            put(&mut s, &format!("ct_ipv6_src={}", Ipv6Addr::from(g(Base::CtIp6Src))));
            put(&mut s, &format!("ct_ipv6_dst={}", Ipv6Addr::from(g(Base::CtIp6Dst))));
        }
        put(&mut s, &format!("ct_nw_proto={}", g(Base::CtNwProto)));
        put(&mut s, &format!("ct_tp_src={}", g(Base::CtTpSrc)));
        put(&mut s, &format!("ct_tp_dst={}", g(Base::CtTpDst)));
    }
    let keyword = match (dl_type, proto) {
        (0x0800, 1) => Some(("icmp", true)),
        (0x0800, 6) => Some(("tcp", true)),
        (0x0800, 17) => Some(("udp", true)),
        (0x0800, 132) => Some(("sctp", true)),
        (0x0800, _) => Some(("ip", false)),
        (0x86dd, 58) => Some(("icmp6", true)),
        (0x86dd, 6) => Some(("tcp6", true)),
        (0x86dd, 17) => Some(("udp6", true)),
        (0x86dd, 132) => Some(("sctp6", true)),
        (0x86dd, _) => Some(("ipv6", false)),
        (0x0806, _) => Some(("arp", false)),
        (0x8035, _) => Some(("rarp", false)),
        (0x8847, _) => Some(("mpls", false)),
        (0x8848, _) => Some(("mplsm", false)),
        _ => None,
    };
    if let Some((k, _)) = keyword {
        put(&mut s, k);
    }
    let skip_proto = keyword.is_some_and(|k| k.1);
    for i in 0..16u8 {
        let v = match i {
            14 => inport,
            15 => outport,
            _ => g(Base::Reg(i)) as u32,
        };
        if v != 0 {
            put(&mut s, &format!("reg{i}={v:#x}"));
        }
    }
    // The first VLAN header is always shown (a zero one too); behind a present one, the
    // (zero) next one.
    let tci = g(Base::VlanTci) as u16;
    if tci & 0x1000 != 0 {
        put(&mut s, &format!("dl_vlan={},dl_vlan_pcp={}", tci & 0x0fff, tci >> 13));
        put(&mut s, "vlan_tci1=0x0000");
    } else {
        put(&mut s, &format!("vlan_tci=0x{tci:04x}"));
    }
    put(&mut s, &format!("dl_src={}", mac(g(Base::EthSrc))));
    put(&mut s, &format!("dl_dst={}", mac(g(Base::EthDst))));
    if keyword.is_none() {
        put(&mut s, &format!("dl_type=0x{dl_type:04x}"));
    }
    let v4 = |b: Base| Ipv4Addr::from(g(b) as u32);
    if ip6 {
        put(&mut s, &format!("ipv6_src={}", Ipv6Addr::from(g(Base::Ip6Src))));
        put(&mut s, &format!("ipv6_dst={}", Ipv6Addr::from(g(Base::Ip6Dst))));
        put(&mut s, &format!("ipv6_label=0x{:05x}", g(Base::Ip6Label)));
    } else if arp {
        put(&mut s, &format!("arp_spa={}", v4(Base::NwSrc)));
        put(&mut s, &format!("arp_tpa={}", v4(Base::NwDst)));
        put(&mut s, &format!("arp_op={}", g(Base::ArpOp)));
        put(&mut s, &format!("arp_sha={}", mac(g(Base::ArpSha))));
        put(&mut s, &format!("arp_tha={}", mac(g(Base::ArpTha))));
    } else if ip4 {
        put(&mut s, &format!("nw_src={}", v4(Base::NwSrc)));
        put(&mut s, &format!("nw_dst={}", v4(Base::NwDst)));
    }
    if ip4 || ip6 {
        if !skip_proto {
            put(&mut s, &format!("nw_proto={proto}"));
        }
        put(&mut s, &format!("nw_tos={}", g(Base::IpDscp) << 2));
        put(&mut s, &format!("nw_ecn={}", g(Base::IpEcn)));
        put(&mut s, &format!("nw_ttl={}", g(Base::IpTtl)));
        let frag = g(Base::IpFrag);
        let frag_text = match (frag & 1 != 0, frag & 2 != 0) {
            (true, true) => "later",
            (true, false) => "first",
            (false, true) => "<error>",
            (false, false) => "no",
        };
        put(&mut s, &format!("nw_frag={frag_text}"));
        // No transport header in later fragments, nor for protocols OVS does not parse.
        let later = frag & 2 != 0;
        if !later && [1, 58, 6, 17, 132, 2].contains(&proto) {
            let (a, b) = (g(Base::TpSrc), g(Base::TpDst));
            if (ip4 && proto == 1) || (ip6 && proto == 58) {
                put(&mut s, &format!("icmp_type={a},icmp_code={b}"));
                if ip6 && b == 0 && (a == 135 || a == 136) {
                    put(&mut s, &format!("nd_target={}", Ipv6Addr::from(g(Base::NdTarget))));
                    put(&mut s, &format!("nd_sll={}", mac(g(Base::ArpSha))));
                    put(&mut s, &format!("nd_tll={}", mac(g(Base::ArpTha))));
                }
            } else {
                put(&mut s, &format!("tp_src={a},tp_dst={b}"));
            }
            if proto == 6 {
                let name = |bit: u32| TCP_FLAGS.iter().find(|(b, _)| *b == bit).map(|(_, n)| *n);
                put(&mut s, &format!("tcp_flags={}", flags(g(Base::TcpFlags) as u32, name)));
            }
        }
    }
    s.pop();
    s
}

fn put(s: &mut String, text: &str) {
    s.push_str(text);
    s.push(',');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(m: &str) -> Microflow {
        Microflow::of_match(m)
    }

    /// The texts ovn-trace 23.03 printed for these microflows in OVN's own test suite (the
    /// conformance runner's record).
    #[test]
    fn as_ovn_trace_prints_them() {
        let cases = [
            (
                r#"inport=="lp1" && eth.dst==f0:00:00:00:00:01 && eth.src==f0:00:00:00:00:55"#,
                "reg14=0x1,vlan_tci=0x0000,dl_src=f0:00:00:00:00:55,dl_dst=f0:00:00:00:00:01,dl_type=0x0000",
            ),
            (
                r#"inport == "lp1" && eth.src == f0:00:00:00:00:01 && eth.dst == ff:ff:ff:ff:ff:ff && arp.op == 1 && arp.sha == f0:00:00:00:00:01 && arp.tha == ff:ff:ff:ff:ff:ff && arp.spa == 192.168.0.1 && arp.tpa == 11.11.11.11"#,
                "arp,reg14=0x1,vlan_tci=0x0000,dl_src=f0:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=192.168.0.1,arp_tpa=11.11.11.11,arp_op=1,arp_sha=f0:00:00:00:00:01,arp_tha=ff:ff:ff:ff:ff:ff",
            ),
        ];
        for (m, want) in cases {
            assert_eq!(ovs_flow(&flow(m), 1, 0), want, "{m}");
        }
    }

    /// ovn-trace 26.03's `LOG:` packet after `ct_lb_mark` (lab zone, the ACL log test): the
    /// conntrack tuple between the context fields and the protocol keyword, the ICMP type and
    /// code as its ports.
    #[test]
    fn conntrack_tuple_as_ovn_trace_26_03_prints_it() {
        let mut f = flow("inport == \"p\" && eth.src == 0a:58:0a:80:02:2b && eth.dst == 0a:58:0a:80:02:01 && ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.99 && ip.ttl == 64 && icmp4.type == 8");
        f.set_base(Base::CtState, 0x21);
        f.set_base(Base::Reg(0), 0x287);
        for (b, v) in [
            (Base::CtNwSrc, 0x0a80022b),
            (Base::CtNwDst, 0xcb007163),
            (Base::CtNwProto, 1),
            (Base::CtTpSrc, 8),
        ] {
            f.set_base(b, v);
        }
        assert_eq!(
            ovs_flow(&f, 2, 0),
            "ct_state=new|trk,ct_nw_src=10.128.2.43,ct_nw_dst=203.0.113.99,ct_nw_proto=1,ct_tp_src=8,ct_tp_dst=0,icmp,reg0=0x287,reg14=0x2,vlan_tci=0x0000,dl_src=0a:58:0a:80:02:2b,dl_dst=0a:58:0a:80:02:01,nw_src=10.128.2.43,nw_dst=203.0.113.99,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=8,icmp_code=0"
        );
        // Not a valid connection (tracked but invalid): no tuple.
        f.set_base(Base::CtState, 0x30);
        assert!(!ovs_flow(&f, 2, 0).contains("ct_nw_src"));
    }

    /// OVS's rules for the fields a packet type has (flow_wildcards_init_for_packet), the
    /// keyword standing for dl_type and nw_proto, and the context fields only when set.
    #[test]
    fn fields_by_packet_type() {
        let mut f = flow("ip4.src == 10.0.0.2 && ip4.dst == 10.0.0.3 && ip.ttl == 64 && icmp4.type == 8");
        assert_eq!(
            ovs_flow(&f, 2, 0),
            "icmp,reg14=0x2,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=10.0.0.2,nw_dst=10.0.0.3,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=8,icmp_code=0"
        );
        f.set_base(Base::CtState, 0x21);
        f.set_base(Base::Reg(0), 0x281);
        f.set_base(Base::Reg(10), 0x10000);
        assert_eq!(
            ovs_flow(&f, 2, 3),
            "ct_state=new|trk,icmp,reg0=0x281,reg10=0x10000,reg14=0x2,reg15=0x3,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=10.0.0.2,nw_dst=10.0.0.3,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=8,icmp_code=0"
        );
        let t = flow("ip6.src == fd00::1 && ip6.dst == fd00::2 && tcp.dst == 80 && tcp.flags == 2");
        assert_eq!(
            ovs_flow(&t, 1, 0),
            "tcp6,reg14=0x1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,ipv6_src=fd00::1,ipv6_dst=fd00::2,ipv6_label=0x00000,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=syn"
        );
        let nd = flow("nd_ns && ip6.src == fe80::1 && nd.target == fd00::2");
        assert!(
            ovs_flow(&nd, 1, 0).ends_with("icmp_type=135,icmp_code=0,nd_target=fd00::2,nd_sll=00:00:00:00:00:00,nd_tll=00:00:00:00:00:00"),
            "{}",
            ovs_flow(&nd, 1, 0)
        );
        let other = flow("ip4 && ip.proto == 89");
        assert!(ovs_flow(&other, 1, 0).contains(",nw_proto=89,nw_tos=0,"));
        let vlan = flow("vlan.present && vlan.vid == 10");
        assert!(ovs_flow(&vlan, 1, 0).contains("dl_vlan=10,dl_vlan_pcp=0,vlan_tci1=0x0000,dl_src="));
    }
}
