//! The functions a flow's action assigns from (`reg0[15] = check_in_port_sec()`,
//! `lookup_arp`, `get_fdb`, `chk_lb_hairpin`, …) and the Southbound lookups behind them
//! (MAC bindings, FDB, port security, load balancer VIPs), with the notes ovn-trace prints.

use super::fields::{read_port, shown, Value};
use super::{field, Executor, Node};
use crate::db::sb::{MacBinding, SbLoadBalancer};
use crate::lflow::microflow::{format_value, parse_mac, Microflow};
use crate::lflow::symtab::{Base, CT_DNAT, CT_TRK};
use std::net::IpAddr;
use uuid::Uuid;

impl Executor<'_> {
    /// The neighbour binding the datapath uses for `ip` behind `port` (ovn-trace, and so
    /// `--ovn-trace-compat`, reads only learned ones).
    pub(super) fn mac_binding(&self, dp: Uuid, port: &str, ip: &str) -> Option<&MacBinding> {
        let want = ip.parse::<IpAddr>().ok()?;
        self.sb.neighbour(port, want, Some(dp), self.options.ovn_trace_compat)
    }

    /// Functions whose result is assigned (`reg0[15] = check_in_port_sec()`); `Ok(None)`:
    /// ovn-trace leaves the destination as it was.
    pub(super) fn call(&self, dp: Uuid, flow: &Microflow, func: &str, args: &[String]) -> Result<Option<Value>, String> {
        let bit = |b: bool| Some(Value::Bits(u128::from(b), 1));
        let arg = |i: usize| args.get(i).map(String::as_str).ok_or_else(|| format!("{func}: missing argument"));
        Ok(match func {
            "check_in_port_sec" | "check_out_port_sec" => {
                let out = func == "check_out_port_sec";
                let name = if out { &flow.outport } else { &flow.inport };
                let port = self.ports.get(name).ok_or_else(|| format!("{func}: unknown port {name:?}"))?;
                bit(!port_security_allows(&port.security, flow, out))
            }
            "get_fdb" => {
                let mac = flow.get(field(arg(0)?)?);
                let key = self.dp_keys.get(&dp).copied().unwrap_or(0);
                let port = self
                    .sb
                    .fdb
                    .iter()
                    .find(|e| e.dp_key == key && parse_mac(&e.mac.to_ascii_lowercase()) == Some(mac))
                    .map(|e| e.port_key);
                Some(Value::Port(
                    port.and_then(|k| self.port_by_key.get(&(dp, k))).cloned().unwrap_or_default(),
                ))
            }
            "lookup_fdb" => {
                let port = read_port(flow, arg(0)?)?;
                let mac = flow.get(field(arg(1)?)?);
                let key = self.dp_keys.get(&dp).copied().unwrap_or(0);
                let pkey = self.ports.get(&port).map(|p| p.key);
                bit(self
                    .sb
                    .fdb
                    .iter()
                    .any(|e| e.dp_key == key && Some(e.port_key) == pkey && parse_mac(&e.mac.to_ascii_lowercase()) == Some(mac)))
            }
            "lookup_arp" | "lookup_nd" | "lookup_arp_ip" | "lookup_nd_ip" => {
                let port = read_port(flow, arg(0)?)?;
                let f = field(arg(1)?)?;
                let ip = format_value(f, flow.get(f));
                let want_mac = if func.ends_with("_ip") {
                    None
                } else {
                    Some(flow.get(field(arg(2)?)?))
                };
                let found = ip
                    .parse::<IpAddr>()
                    .ok()
                    .and_then(|want| self.sb.neighbour(&port, want, None, self.options.ovn_trace_compat));
                bit(found.is_some_and(|m| want_mac.is_none_or(|w| parse_mac(&m.mac.to_ascii_lowercase()) == Some(w))))
            }
            "chk_lb_hairpin" | "chk_lb_hairpin_reply" => bit(self.lb_hairpin(flow, func == "chk_lb_hairpin")),
            "put_dhcp_opts" | "put_dhcpv6_opts" | "put_nd_ra_opts" | "dhcp_relay_req_chk" | "dhcp_relay_resp_chk" => bit(true),
            "dns_lookup" => bit(false),
            "check_pkt_larger" | "chk_ecmp_nh_mac" | "chk_ecmp_nh" | "chk_lb_aff" => None,
            // 26.03's ls_in_ct_extract: the connection's protocol and original destination port,
            // which for the connection this packet starts are its own (ovn-trace then matches
            // `reg1[16..23] == 6 && reg1[0..15] == 80` in ls_in_lb).
            "ct_proto" => Some(Value::Bits(flow.get_base(Base::IpProto), 8)),
            // 25.09's ct_state_save(): the conntrack state's low 8 bits, 0 when not tracked.
            "ct_state_save" => {
                let st = flow.get_base(Base::CtState);
                Some(Value::Bits(if st & CT_TRK != 0 { st & 0xff } else { 0 }, 8))
            }
            "ct_tp_dst" => {
                let ct = flow.get_base(Base::CtTpDst);
                Some(Value::Bits(if ct != 0 { ct } else { flow.get_base(Base::TpDst) }, 16))
            }
            _ => return Err(format!("function {func}() is not modelled")),
        })
    }

    /// ovn-trace's hairpin check: the packet was DNATed to its own source, for a VIP of a
    /// Southbound load balancer, on the VIP's port.
    fn lb_hairpin(&self, flow: &Microflow, orig: bool) -> bool {
        let Some((src, dst)) = flow.ip() else { return false };
        let port = if orig {
            flow.get_base(Base::CtTpDst)
        } else {
            flow.get_base(Base::TpDst)
        };
        flow.get_base(Base::CtState) & CT_DNAT != 0 && src == dst && self.lb_vip(flow, port).is_some()
    }

    /// The load-balancer VIP a connection was sent to, and its load balancer: its address is the
    /// connection's original destination of the packet's family (`ct_nw_dst`, or `ct_ip6_dst` for
    /// IPv6, as ovn-trace reads them) and its port `port` (0: a VIP without one). When several
    /// VIPs share the address, the one on that port — as ovn-controller's hairpin flows match
    /// both; ovn-trace takes the first VIP of the address in its table's hash order and then
    /// checks the port.
    pub(super) fn lb_vip(&self, flow: &Microflow, port: u128) -> Option<(IpAddr, &SbLoadBalancer)> {
        let (_, dst) = flow.ip()?;
        let ct_dst = if dst.is_ipv6() {
            IpAddr::from(std::net::Ipv6Addr::from(flow.get_base(Base::CtIp6Dst)))
        } else {
            IpAddr::from(std::net::Ipv4Addr::from(flow.get_base(Base::CtNwDst) as u32))
        };
        // A template load balancer's VIP (`^NODEIP:^NODEPORT`) is the chassis's values, as
        // ovn-controller expands it for its hairpin flows; ovn-trace never expands it.
        let templates = self.templates.borrow();
        let vars = templates.as_ref().filter(|_| !self.options.ovn_trace_compat).map(|(_, v)| v);
        self.sb.load_balancers.values().find_map(|lb| {
            lb.vips.keys().find_map(|k| {
                let k = super::expand_templates(k, vars).0;
                let (a, p) = match k.rsplit_once(':') {
                    Some((a, p)) if !a.contains(':') || a.ends_with(']') => (a.trim_matches(['[', ']']), p.parse::<u128>().ok()),
                    _ => (&*k, None),
                };
                let ip = a.parse::<IpAddr>().ok()?;
                (ip == ct_dst && p.unwrap_or(0) == port).then_some((ip, lb))
            })
        })
    }
}

/// What ovn-trace notes for a lookup's result.
pub(super) fn call_note(func: &str, v: &Value, flow: &Microflow) -> Option<Node> {
    let found = matches!(v, Value::Bits(1, _));
    let dst = shown(flow, "eth.dst");
    let text = match func {
        "lookup_arp" | "lookup_nd" if found => format!("/* MAC binding to {dst} found. */"),
        "lookup_arp_ip" | "lookup_nd_ip" if found => "/* MAC binding found. */".into(),
        "lookup_arp" | "lookup_nd" | "lookup_arp_ip" | "lookup_nd_ip" => "/* lookup failed - No MAC binding. */".into(),
        "lookup_fdb" if found => format!("/* MAC lookup for {dst} found in FDB. */"),
        "lookup_fdb" => "/* lookup mac failed in mac learning table. */".into(),
        "dns_lookup" => {
            return Some(Node::Error {
                text: "*** dns_lookup action not implemented".into(),
            })
        }
        _ => return None,
    };
    Some(Node::Note { text })
}

/// ovn-trace's port-security rules: the L2 address first, then the IP addresses for the
/// packet's family; a port without port security allows everything.
fn port_security_allows(entries: &[String], f: &Microflow, out: bool) -> bool {
    if entries.is_empty() {
        return true;
    }
    let mac = f.get_base(if out { Base::EthDst } else { Base::EthSrc });
    for e in entries {
        let mut words = e.split_whitespace();
        let Some(m) = words.next().and_then(|m| parse_mac(&m.to_ascii_lowercase())) else {
            continue;
        };
        if m != mac {
            continue;
        }
        let addrs: Vec<IpAddr> = words.filter_map(|w| w.split('/').next().and_then(|a| a.parse().ok())).collect();
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = addrs.iter().partition(|a| a.is_ipv4());
        return match f.get_base(Base::EthType) {
            0x800 => {
                if addrs.is_empty() {
                    return true;
                }
                let (src, dst) = f.ip().expect("IPv4");
                if out {
                    !v4.is_empty() && (v4.contains(&dst) || dst == IpAddr::from([255, 255, 255, 255]) || dst.is_multicast())
                } else {
                    v4.contains(&src)
                        || (f.get_base(Base::IpProto) == 17
                            && f.get_base(Base::TpSrc) == 68
                            && f.get_base(Base::TpDst) == 67
                            && src.is_unspecified()
                            && dst == IpAddr::from([255, 255, 255, 255]))
                }
            }
            0x86dd => {
                if addrs.is_empty() {
                    return true;
                }
                let (src, dst) = f.ip().expect("IPv6");
                let lla = link_local(m);
                if out {
                    !v6.is_empty() && (v6.contains(&dst) || dst == lla || dst.is_multicast())
                } else {
                    v6.contains(&src) || src == lla
                }
            }
            0x806 if !out => {
                f.get_base(Base::ArpSha) == m
                    && (v4.is_empty() || v4.contains(&IpAddr::from(std::net::Ipv4Addr::from(f.get_base(Base::NwSrc) as u32))))
            }
            _ => true,
        };
    }
    false
}

/// The EUI-64 link-local address of a MAC.
fn link_local(mac: u128) -> IpAddr {
    let b: Vec<u8> = (0..6).rev().map(|i| ((mac >> (8 * i)) & 0xff) as u8).collect();
    let iid = [b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..].copy_from_slice(&iid);
    IpAddr::from(a)
}
