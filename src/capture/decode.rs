//! Decoding one frame into the fields that change (or must not change) along a path.

use etherparse::{Icmpv4Type, Icmpv6Type, LinkSlice, NetSlice, SlicedPacket, TransportSlice};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

/// The transport part, with what identifies the same packet across NAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "proto", rename_all = "snake_case")]
pub enum L4 {
    /// ICMP echo: id and sequence survive SNAT (lab-facts §3a).
    Echo {
        request: bool,
        id: u16,
        seq: u16,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
    },
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: String,
        payload_len: usize,
        /// The first line of an HTTP request or response carried in this segment.
        http: Option<String>,
    },
    Udp {
        sport: u16,
        dport: u16,
        payload_digest: u64,
    },
    Other {
        protocol: u8,
    },
}

/// OVN's Geneve metadata: the datapath (VNI) and the logical ingress/egress port keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Geneve {
    pub vni: u32,
    pub ingress_port_key: Option<u16>,
    pub egress_port_key: Option<u16>,
    /// The encapsulated frame.
    pub inner: Box<Frame>,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub ttl: Option<u8>,
    pub ip_id: Option<u16>,
    pub l4: Option<L4>,
    pub geneve: Option<Geneve>,
}

/// A frame seen at a capture point at a time.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub point: String,
    #[serde(serialize_with = "ser_ts")]
    pub ts: Duration,
    /// Index of the packet in its file (1-based, as Wireshark numbers them).
    pub number: usize,
    #[serde(flatten)]
    pub frame: Frame,
}

fn ser_ts<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// `aa:bb:cc:dd:ee:ff`, as OVN writes MACs. One allocation: this runs twice per packet (and
/// again per encapsulated frame), where a string per byte made it a fifth of explain's time.
pub fn mac(m: [u8; 6]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(17);
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

fn digest(data: &[u8]) -> u64 {
    // FNV-1a: a stable fingerprint of a payload, enough to match the same datagram across points.
    data.iter()
        .fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}

/// Geneve on UDP 6081: 8-byte header, then options; OVN's option (class 0x0102, type 0x80)
/// carries (ingress port key << 16) | egress port key (ovn-architecture(7)).
fn geneve(payload: &[u8]) -> Option<Geneve> {
    if payload.len() < 8 {
        return None;
    }
    let opt_len = usize::from(payload[0] & 0x3f) * 4;
    let proto = u16::from_be_bytes([payload[2], payload[3]]);
    let vni = u32::from_be_bytes([0, payload[4], payload[5], payload[6]]);
    let opts = payload.get(8..8 + opt_len)?;
    let (mut ingress, mut egress) = (None, None);
    let mut i = 0;
    while i + 4 <= opts.len() {
        let class = u16::from_be_bytes([opts[i], opts[i + 1]]);
        let typ = opts[i + 2];
        let len = usize::from(opts[i + 3] & 0x1f) * 4;
        if class == 0x0102 && typ & 0x7f == 0x00 && len >= 4 {
            if let Some(d) = opts.get(i + 4..i + 8) {
                ingress = Some(u16::from_be_bytes([d[0], d[1]]) & 0x7fff);
                egress = Some(u16::from_be_bytes([d[2], d[3]]));
            }
        }
        i += 4 + len;
    }
    if proto != 0x6558 {
        return None; // not Ethernet inside
    }
    let inner = decode_ethernet(payload.get(8 + opt_len..)?)?;
    Some(Geneve {
        vni,
        ingress_port_key: ingress,
        egress_port_key: egress,
        inner: Box::new(inner),
    })
}

/// A frame that could not be decoded still counts as a packet at its point: all fields unknown.
pub fn decode_or_blank(data: &[u8]) -> Frame {
    decode_ethernet(data).unwrap_or(Frame {
        src_mac: None,
        dst_mac: None,
        src: None,
        dst: None,
        ttl: None,
        ip_id: None,
        l4: None,
        geneve: None,
    })
}

/// The first line of an HTTP/1.x request or status line at the start of a segment.
fn http_line(p: &[u8]) -> Option<String> {
    let end = p.iter().position(|b| *b == b'\r' || *b == b'\n')?;
    let line = std::str::from_utf8(&p[..end]).ok()?;
    let methods = ["GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH ", "CONNECT "];
    (line.starts_with("HTTP/1.") || (methods.iter().any(|m| line.starts_with(m)) && line.contains(" HTTP/1."))).then(|| line.to_string())
}

/// Decodes an Ethernet frame; `None` when it is not even an Ethernet header.
pub fn decode_ethernet(data: &[u8]) -> Option<Frame> {
    let p = SlicedPacket::from_ethernet(data).ok()?;
    let (src_mac, dst_mac) = match &p.link {
        Some(LinkSlice::Ethernet2(e)) => (Some(mac(e.source())), Some(mac(e.destination()))),
        _ => (None, None),
    };
    let (src, dst, ttl, ip_id) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                Some(IpAddr::V4(h.source_addr())),
                Some(IpAddr::V4(h.destination_addr())),
                Some(h.ttl()),
                Some(h.identification()),
            )
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (
                Some(IpAddr::V6(h.source_addr())),
                Some(IpAddr::V6(h.destination_addr())),
                Some(h.hop_limit()),
                None,
            )
        }
        None => (None, None, None, None),
    };
    let mut gen = None;
    let l4 = match &p.transport {
        Some(TransportSlice::Icmpv4(i)) => Some(match i.icmp_type() {
            Icmpv4Type::EchoRequest(e) => L4::Echo {
                request: true,
                id: e.id,
                seq: e.seq,
            },
            Icmpv4Type::EchoReply(e) => L4::Echo {
                request: false,
                id: e.id,
                seq: e.seq,
            },
            _ => L4::Icmp {
                icmp_type: i.type_u8(),
                code: i.code_u8(),
            },
        }),
        Some(TransportSlice::Icmpv6(i)) => Some(match i.icmp_type() {
            Icmpv6Type::EchoRequest(e) => L4::Echo {
                request: true,
                id: e.id,
                seq: e.seq,
            },
            Icmpv6Type::EchoReply(e) => L4::Echo {
                request: false,
                id: e.id,
                seq: e.seq,
            },
            _ => L4::Icmp {
                icmp_type: i.type_u8(),
                code: i.code_u8(),
            },
        }),
        Some(TransportSlice::Tcp(t)) => {
            let mut f = String::new();
            for (on, c) in [(t.syn(), 'S'), (t.fin(), 'F'), (t.rst(), 'R'), (t.psh(), 'P'), (t.ack(), '.')] {
                if on {
                    f.push(c);
                }
            }
            Some(L4::Tcp {
                sport: t.source_port(),
                dport: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: f,
                payload_len: t.payload().len(),
                http: http_line(t.payload()),
            })
        }
        Some(TransportSlice::Udp(u)) => {
            if u.destination_port() == 6081 {
                gen = geneve(u.payload());
            }
            Some(L4::Udp {
                sport: u.source_port(),
                dport: u.destination_port(),
                payload_digest: digest(u.payload()),
            })
        }
        None => match &p.net {
            Some(NetSlice::Ipv4(v4)) => Some(L4::Other {
                protocol: v4.header().protocol().0,
            }),
            _ => None,
        },
    };
    Some(Frame {
        src_mac,
        dst_mac,
        src,
        dst,
        ttl,
        ip_id,
        l4,
        geneve: gen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn echo(src: [u8; 4], dst: [u8; 4], ttl: u8) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([0x0a, 0x58, 0x0a, 0x80, 0x02, 0x2b], [0x0a, 0x58, 0x0a, 0x80, 0x02, 0x01])
            .ipv4(src, dst, ttl)
            .icmpv4_echo_request(26085, 1);
        let mut v = vec![];
        b.write(&mut v, b"abcdefgh").unwrap();
        v
    }

    #[test]
    fn icmp_echo() {
        let f = decode_ethernet(&echo([10, 128, 2, 43], [203, 0, 113, 8], 64)).unwrap();
        assert_eq!(f.src, Some("10.128.2.43".parse().unwrap()));
        assert_eq!(f.ttl, Some(64));
        assert_eq!(f.src_mac.as_deref(), Some("0a:58:0a:80:02:2b"));
        assert_eq!(
            f.l4,
            Some(L4::Echo {
                request: true,
                id: 26085,
                seq: 1
            })
        );
    }

    #[test]
    fn geneve_with_ovn_option() {
        // Outer UDP to 6081 carrying Geneve: VNI 6, one OVN option 00010002, inner echo.
        let inner = echo([10, 128, 2, 43], [10, 128, 4, 5], 63);
        let mut g = vec![0x02, 0x00, 0x65, 0x58, 0x00, 0x00, 0x06, 0x00];
        g.extend([0x01, 0x02, 0x80, 0x01, 0x00, 0x01, 0x00, 0x02]);
        g.extend(&inner);
        let b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
            .ipv4([172, 31, 255, 1], [172, 31, 255, 2], 64)
            .udp(55371, 6081);
        let mut v = vec![];
        b.write(&mut v, &g).unwrap();
        let f = decode_ethernet(&v).unwrap();
        let gv = f.geneve.unwrap();
        assert_eq!((gv.vni, gv.ingress_port_key, gv.egress_port_key), (6, Some(1), Some(2)));
        assert_eq!(gv.inner.dst, Some("10.128.4.5".parse().unwrap()));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode_ethernet(&bytes);
            let _ = geneve(&bytes);
        }

        #[test]
        fn mac_is_lowercase_hex_pairs_with_colons(m in proptest::array::uniform6(proptest::num::u8::ANY)) {
            let want = format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
            proptest::prop_assert_eq!(mac(m), want);
        }
    }

    #[test]
    fn garbage_is_not_a_frame_and_does_not_panic() {
        assert!(decode_ethernet(&[1, 2, 3]).is_none());
        let frame = echo([1, 2, 3, 4], [5, 6, 7, 8], 1);
        for n in 0..=frame.len() {
            let _ = decode_ethernet(&frame[..n]);
        }
    }
}
