//! TCP conversations at one capture point, with their lifecycle labelled: handshake, request
//! and response (with the HTTP request/status line when there is one), data, teardown.

use super::correlate::inner;
use super::decode::{Observation, L4};
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub struct Event {
    pub number: usize,
    pub from_client: bool,
    pub flags: String,
    pub payload_len: usize,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub point: String,
    pub client: String,
    pub server: String,
    pub events: Vec<Event>,
}

/// (client address and port, server address and port).
type Ends = ((IpAddr, u16), (IpAddr, u16));

/// The conversations seen at `point`, in order of first packet.
pub fn conversations(point: &str, observations: &[Observation]) -> Vec<Conversation> {
    // (ends, conversation, handshake completed)
    let mut out: Vec<(Ends, Conversation, bool)> = vec![];
    for o in observations.iter().filter(|o| o.point == point) {
        let f = inner(&o.frame);
        let (
            Some(src),
            Some(dst),
            Some(L4::Tcp {
                sport,
                dport,
                flags,
                payload_len,
                http,
                ..
            }),
        ) = (f.src, f.dst, f.l4.as_ref())
        else {
            continue;
        };
        let a = (src, *sport);
        let b = (dst, *dport);
        let idx = out.iter().position(|(k, _, _)| *k == (a, b) || *k == (b, a));
        let idx = match idx {
            Some(i) => i,
            None => {
                // The client is who sends the first SYN; without one, the ephemeral (higher) port.
                let client_is_src = flags.contains('S') && !flags.contains('.') || (!flags.contains('S') && sport > dport);
                let (c, s) = if client_is_src { (a, b) } else { (b, a) };
                let fmt = |x: (IpAddr, u16)| format!("{}:{}", x.0, x.1);
                out.push((
                    (c, s),
                    Conversation {
                        point: point.into(),
                        client: fmt(c),
                        server: fmt(s),
                        events: vec![],
                    },
                    false,
                ));
                out.len() - 1
            }
        };
        let (key, conv, established) = &mut out[idx];
        let from_client = (src, *sport) == key.0;
        let label = if flags.contains('R') {
            "reset: RST".to_string()
        } else if flags.contains('S') && !flags.contains('.') {
            "handshake: SYN".into()
        } else if flags.contains('S') {
            "handshake: SYN-ACK".into()
        } else if flags.contains('F') {
            format!(
                "teardown: FIN{}",
                if *payload_len > 0 {
                    format!(" with {payload_len} bytes")
                } else {
                    String::new()
                }
            )
        } else if let Some(line) = http {
            format!("{}: {line} ({payload_len} bytes)", if from_client { "request" } else { "response" })
        } else if *payload_len > 0 {
            format!("{} data ({payload_len} bytes)", if from_client { "request" } else { "response" })
        } else if !*established && from_client {
            *established = true;
            "handshake: ACK".into()
        } else {
            "ACK".into()
        };
        conv.events.push(Event {
            number: o.number,
            from_client,
            flags: flags.clone(),
            payload_len: *payload_len,
            label,
        });
    }
    out.into_iter().map(|(_, c, _)| c).collect()
}

pub fn to_text(convs: &[Conversation]) -> String {
    let mut o = String::new();
    for c in convs {
        o += &format!("tcp {} → {} (at {})\n", c.client, c.server, c.point);
        for e in &c.events {
            o += &format!(
                "  {:>4}  {}  [{:<3}]  {}\n",
                e.number,
                if e.from_client { "→" } else { "←" },
                e.flags,
                e.label
            );
        }
        o.push('\n');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::decode::decode_ethernet;
    use etherparse::PacketBuilder;

    fn seg(from_client: bool, flags: &str, payload: &[u8], n: usize) -> Observation {
        let (s, d, sp, dp) = if from_client {
            ([127, 0, 0, 1], [127, 0, 0, 1], 41234, 8080)
        } else {
            ([127, 0, 0, 1], [127, 0, 0, 1], 8080, 41234)
        };
        let mut b = PacketBuilder::ethernet2([0; 6], [0; 6]).ipv4(s, d, 64).tcp(sp, dp, 1000, 65535);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('.') {
            b = b.ack(1);
        }
        if flags.contains('F') {
            b = b.fin();
        }
        if flags.contains('P') {
            b = b.psh();
        }
        let mut v = vec![];
        b.write(&mut v, payload).unwrap();
        Observation {
            point: "lo".into(),
            ts: std::time::Duration::ZERO,
            number: n,
            frame: decode_ethernet(&v).unwrap(),
        }
    }

    #[test]
    fn http_over_loopback_lifecycle() {
        let obs = vec![
            seg(true, "S", b"", 1),
            seg(false, "S.", b"", 2),
            seg(true, ".", b"", 3),
            seg(true, "P.", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 4),
            seg(false, ".", b"", 5),
            seg(false, "P.", b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n", 6),
            seg(false, "F.", b"", 7),
            seg(true, "F.", b"", 8),
            seg(false, ".", b"", 9),
        ];
        let c = conversations("lo", &obs);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].client, "127.0.0.1:41234");
        let labels: Vec<&str> = c[0].events.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "handshake: SYN",
                "handshake: SYN-ACK",
                "handshake: ACK",
                "request: GET / HTTP/1.1 (27 bytes)",
                "ACK",
                "response: HTTP/1.0 200 OK (30 bytes)",
                "teardown: FIN",
                "teardown: FIN",
                "ACK"
            ]
        );
    }
}
