//! The same packet at several capture points, matched by what NAT leaves alone: ICMP echo id
//! and sequence, TCP sequence/acknowledgement numbers and flags, a UDP payload digest. Clocks
//! of different capture points need not agree, as nothing is matched by time.

use super::decode::{Frame, Observation, L4};
use serde::Serialize;

/// What identifies one packet across points, and its direction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Key {
    pub what: String,
    /// `true` for the direction the conversation starts in (echo request, TCP from the client).
    pub forward: bool,
}

/// The innermost frame: for a Geneve packet, the encapsulated one.
pub fn inner(f: &Frame) -> &Frame {
    match &f.geneve {
        Some(g) => inner(&g.inner),
        None => f,
    }
}

pub fn key(f: &Frame) -> Option<Key> {
    let f = inner(f);
    match f.l4.as_ref()? {
        L4::Echo { request, id, seq } => Some(Key {
            what: format!("icmp echo id {id} seq {seq}"),
            forward: *request,
        }),
        // A client usually talks from an ephemeral (higher) port to a service port.
        L4::Tcp {
            seq,
            ack,
            flags,
            sport,
            dport,
            ..
        } => Some(Key {
            what: format!("tcp seq {seq} ack {ack} [{flags}]"),
            forward: client_to_server(*sport, *dport),
        }),
        // Traceroute-style probes carry the same payload and differ in their port.
        L4::Udp {
            payload_digest,
            sport,
            dport,
        } => Some(Key {
            what: format!("udp dport {dport} payload {payload_digest:016x}"),
            // A traceroute probe goes to 33434 and up (its answer is ICMP, never UDP back),
            // whatever ephemeral port it leaves from — which may be the lower one.
            forward: TRACEROUTE_PORTS.contains(dport) || client_to_server(*sport, *dport),
        }),
        _ => None,
    }
}

/// traceroute(8)'s default destination ports: 33434 plus one per probe (30 hops × 3 probes).
const TRACEROUTE_PORTS: std::ops::RangeInclusive<u16> = 33434..=33534;

/// Which way a TCP/UDP packet goes: toward a well-known port (below 1024) from an unprivileged
/// one is client to server; otherwise the lower port is taken as the service's.
fn client_to_server(sport: u16, dport: u16) -> bool {
    match (sport < 1024, dport < 1024) {
        (false, true) => true,
        (true, false) => false,
        _ => dport < sport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_of_tcp_and_udp() {
        // (sport, dport, forward)
        for (s, d, want) in [
            (40000, 80, true),
            (80, 40000, false),
            (40000, 8080, true),
            (8080, 40000, false),
            (33000, 33434, true), // a traceroute probe from a lower ephemeral port
            (55000, 33435, true),
            (1023, 53, true), // both privileged: the lower port is the service
        ] {
            assert_eq!(client_to_server(s, d) || TRACEROUTE_PORTS.contains(&d), want, "{s} > {d}");
        }
    }
}

/// One packet's journey: one slot per capture point in path order (None = not seen there).
#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    pub key: Key,
    pub points: Vec<String>,
    pub seen: Vec<Option<Observation>>,
}

/// Groups observations by key. `points` is the path order for forward packets; replies are
/// shown in the reverse order. Journeys are sorted by first sighting.
pub fn correlate(points: &[String], observations: Vec<Observation>) -> Vec<Journey> {
    let mut out: Vec<Journey> = vec![];
    let mut index: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for o in observations {
        let Some(k) = key(&o.frame) else { continue };
        let i = *index.entry(k.clone()).or_insert_with(|| {
            let order: Vec<String> = if k.forward {
                points.to_vec()
            } else {
                points.iter().rev().cloned().collect()
            };
            out.push(Journey {
                key: k.clone(),
                seen: vec![None; order.len()],
                points: order,
            });
            out.len() - 1
        });
        let j = &mut out[i];
        if let Some(p) = j.points.iter().position(|p| p == &o.point) {
            // The first sighting at a point counts (a retransmission is the same packet again).
            if j.seen[p].is_none() {
                j.seen[p] = Some(o);
            }
        }
    }
    out.sort_by_cached_key(|j| j.seen.iter().flatten().map(|o| o.ts).min());
    out
}
