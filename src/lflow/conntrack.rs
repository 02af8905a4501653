//! A connection table for the pipeline executor, learned from the packets it has run: what
//! `ct_commit` and the NAT actions committed, per datapath (OVN gives each datapath its own
//! conntrack zone). It answers what ovn-trace asks the user for with `--ct`: the state a later
//! packet has (a reply of a known connection, an established one, or new), and the un-NAT a
//! reply gets from `ct_snat;` / `ct_dnat;` / `ct_lb_mark;` without arguments.
//!
//! ICMP is matched by addresses alone (a microflow has no echo id); TCP, UDP and SCTP by
//! addresses and ports.

use super::microflow::Microflow;
use super::symtab::{Base, CT_DNAT, CT_EST, CT_NEW, CT_SNAT, CT_TRK};
use std::net::IpAddr;

const CT_RPL: u128 = 1 << 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tuple {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
}

impl Tuple {
    fn of(f: &Microflow) -> Option<Tuple> {
        let (src, dst) = f.ip()?;
        let proto = f.get_base(Base::IpProto) as u8;
        let ports = matches!(proto, 6 | 17 | 132);
        let port = |b| if ports { f.get_base(b) as u16 } else { 0 };
        Some(Tuple {
            src,
            dst,
            proto,
            sport: port(Base::TpSrc),
            dport: port(Base::TpDst),
        })
    }

    fn reversed(self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..self
        }
    }
}

/// One committed connection: as it came, and as it left after NAT.
#[derive(Debug, Clone)]
struct Entry {
    datapath: String,
    orig: Tuple,
    nat: Tuple,
    /// Which NAT was applied (state bits `ct.snat`/`ct.dnat`), 0 for none.
    nat_bits: u128,
}

#[derive(Debug, Clone, Default)]
pub struct Conntrack {
    entries: Vec<Entry>,
}

impl Conntrack {
    fn find(&self, dp: &str, t: Tuple) -> Option<(&Entry, bool)> {
        self.entries.iter().find_map(|e| {
            if e.datapath != dp {
                return None;
            }
            if t == e.orig || t == e.nat {
                Some((e, false))
            } else if t == e.nat.reversed() || t == e.orig.reversed() {
                Some((e, true))
            } else {
                None
            }
        })
    }

    /// The state `ct_next` (and a NAT action's implicit tracking) gives a packet in `dp`.
    pub fn state(&self, dp: &str, f: &Microflow) -> u128 {
        match Tuple::of(f).and_then(|t| self.find(dp, t)) {
            Some((e, true)) => CT_TRK | CT_EST | CT_RPL | e.nat_bits,
            Some((e, false)) => CT_TRK | CT_EST | e.nat_bits,
            None => CT_TRK | CT_NEW,
        }
    }

    /// Commits the packet's connection in `dp` as it is now (`ct_commit`), unless known.
    pub fn commit(&mut self, dp: &str, f: &Microflow) {
        if let Some(t) = Tuple::of(f) {
            if self.find(dp, t).is_none() {
                self.entries.push(Entry {
                    datapath: dp.into(),
                    orig: t,
                    nat: t,
                    nat_bits: 0,
                });
            }
        }
    }

    /// Commits a NAT: `before` is the packet as it came, `after` as the NAT left it.
    pub fn commit_nat(&mut self, dp: &str, before: &Microflow, after: &Microflow, dnat: bool) {
        let (Some(orig), Some(nat)) = (Tuple::of(before), Tuple::of(after)) else {
            return;
        };
        self.entries.retain(|e| !(e.datapath == dp && e.orig == orig));
        self.entries.push(Entry {
            datapath: dp.into(),
            orig,
            nat,
            nat_bits: if dnat { CT_DNAT } else { CT_SNAT },
        });
    }

    /// The un-NAT a reply gets in `dp`: the packet rewritten back (the reply of a SNATed
    /// connection gets the original source as its destination, of a DNATed one the original
    /// destination as its source), or `None` when no committed NAT of that kind matches.
    pub fn unnat(&self, dp: &str, f: &Microflow, dnat: bool) -> Option<Microflow> {
        let t = Tuple::of(f)?;
        let e = self
            .entries
            .iter()
            .find(|e| e.datapath == dp && e.nat_bits == if dnat { CT_DNAT } else { CT_SNAT } && t == e.nat.reversed())?;
        let mut out = f.clone();
        let back = e.orig.reversed();
        out.set_ip(false, back.src);
        out.set_ip(true, back.dst);
        if matches!(t.proto, 6 | 17 | 132) {
            out.set_base(Base::TpSrc, back.sport as u128);
            out.set_base(Base::TpDst, back.dport as u128);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(m: &str) -> Microflow {
        Microflow::of_match(m)
    }

    #[test]
    fn a_snat_is_undone_for_the_reply_in_its_own_zone() {
        let mut ct = Conntrack::default();
        let fwd = flow("ip4.src == 10.128.2.43 && ip4.dst == 203.0.113.8 && tcp.src == 40000 && tcp.dst == 80");
        assert_eq!(ct.state("GR", &fwd), CT_TRK | CT_NEW);
        let mut out = fwd.clone();
        out.set_ip(false, "198.18.0.9".parse().unwrap());
        ct.commit_nat("GR", &fwd, &out, false);
        let reply = flow("ip4.src == 203.0.113.8 && ip4.dst == 198.18.0.9 && tcp.src == 80 && tcp.dst == 40000");
        assert_eq!(ct.state("GR", &reply), CT_TRK | CT_EST | CT_RPL | CT_SNAT);
        assert_eq!(ct.state("other", &reply), CT_TRK | CT_NEW, "another datapath is another zone");
        let back = ct.unnat("GR", &reply, false).unwrap();
        assert_eq!(back.ip(), Some(("203.0.113.8".parse().unwrap(), "10.128.2.43".parse().unwrap())));
        assert!(ct.unnat("GR", &reply, true).is_none(), "no DNAT was committed");
        assert_eq!(ct.state("GR", &fwd), CT_TRK | CT_EST | CT_SNAT);
    }
}
