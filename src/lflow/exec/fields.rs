//! Reading and writing a microflow's fields and ports the way OVN's actions do (loads, moves,
//! exchanges, with ovn-trace's way of printing moved values), and the packets nested actions
//! make (`icmp4 { … }`, `reject`, `arp`, `nd_ns`, …).

use crate::lflow::microflow::{format_value, parse_mac, Microflow};
use crate::lflow::symtab::{resolve, Base, Resolved};
use std::net::IpAddr;

/// Registers (and the logical ports, which live in registers) are not header changes.
pub(super) fn is_register(name: &str) -> bool {
    match resolve(name) {
        Ok(Resolved::Port { .. }) => true,
        Ok(Resolved::Field(f)) => matches!(f.base, Base::Reg(_) | Base::XReg(_) | Base::XXReg(_)),
        _ => false,
    }
}

/// How ovn-trace prints a moved value: by the source — a register or a part of a field in
/// hexadecimal, a whole address field as an address.
pub(super) fn moved(src: &str, value_as_dst: &str) -> String {
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
pub(super) fn shown(flow: &Microflow, name: &str) -> String {
    match resolve(name) {
        Ok(Resolved::Field(f)) => format_value(f, flow.get(f)),
        Ok(Resolved::Port { out }) => format!("\"{}\"", if out { &flow.outport } else { &flow.inport }),
        _ => "?".into(),
    }
}

pub(super) fn read_port(flow: &Microflow, name: &str) -> Result<String, String> {
    match resolve(name)? {
        Resolved::Port { out } => Ok(if out { flow.outport.clone() } else { flow.inport.clone() }),
        _ => Err(format!("{name} is not a port")),
    }
}

/// A field's bits or a port's name.
pub(super) fn read(flow: &Microflow, name: &str) -> Result<Value, String> {
    match resolve(name)? {
        Resolved::Port { out } => Ok(Value::Port(if out { flow.outport.clone() } else { flow.inport.clone() })),
        Resolved::Field(f) => Ok(Value::Bits(flow.get(f), f.width)),
        Resolved::Predicate(_) => Err(format!("{name} is a predicate")),
    }
}

#[derive(Debug, Clone)]
pub(super) enum Value {
    Bits(u128, u32),
    Port(String),
}

pub(super) fn write(flow: &mut Microflow, name: &str, v: Value) -> Result<(), String> {
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

pub(super) fn move_field(flow: &mut Microflow, dst: &str, src: &str) -> Result<(), String> {
    let v = read(flow, src)?;
    if let (Value::Bits(_, w), Ok(Resolved::Field(d))) = (&v, resolve(dst)) {
        if *w != d.width {
            return Err(format!("{src} ({w} bits) and {dst} ({} bits) differ in width", d.width));
        }
    }
    write(flow, dst, v)
}

/// The packet a nested action describes (ovn-trace's rules), or `None` when it is not sent.
pub(super) fn nested_packet(kind: &str, f: &Microflow) -> Option<Microflow> {
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

pub(super) fn reject_kind(f: &Microflow) -> &'static str {
    match (f.get_base(Base::IpProto), f.get_base(Base::EthType) == 0x86dd) {
        (6, _) => "tcp_reset",
        (132, _) => "sctp_abort",
        (_, true) => "icmp6",
        _ => "icmp4",
    }
}
