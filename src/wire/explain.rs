//! `explain --format json` and `capture --format json`: the points, each packet hop by hop,
//! the TCP conversations, and with `--validate` each packet against the logical flows.

use super::trace::{Headers, Writer};
use crate::capture::conversation;
use crate::trace::{explain, report, validate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema: u32,
    /// The capture points in path order.
    pub points: Vec<String>,
    /// `pod:NS/NAME` points that name no pod in the Northbound.
    pub unknown_points: Vec<String>,
    pub packets: Vec<Packet>,
    pub conversations: Vec<Conversation>,
    /// With `--validate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub validation: Option<Vec<Validation>>,
}

/// One packet (one direction of one exchange) across the points.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    pub key: Key,
    pub rows: Vec<Row>,
    /// "lost between A and B" when the packet stops being seen.
    pub lost: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// `icmp echo id 7866 seq 1`, `tcp 10.128.2.43:40000 > 203.0.113.8:80`, …
    pub what: String,
    /// The direction the exchange starts in (echo request, TCP from the client).
    pub forward: bool,
}

/// The packet at one capture point.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub point: String,
    pub seen: bool,
    /// Packet number in that point's file.
    pub number: Option<usize>,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub ttl: Option<u8>,
    /// Geneve VNI when the packet was seen encapsulated.
    pub vni: Option<u32>,
    pub what: String,
    /// The OVN rows that explain the change (NAT uuids, router names, port names).
    pub by: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    pub point: String,
    pub client: String,
    pub server: String,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub number: usize,
    pub from_client: bool,
    pub flags: String,
    pub payload_len: usize,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    pub packet: String,
    /// The capture point the pipeline starts from, and its logical port.
    pub from: Option<String>,
    pub inport: Option<String>,
    /// The microflow run (give it to `ovnscope trace --microflow` or `ovn-trace`).
    pub microflow: Option<String>,
    pub verdicts: Vec<String>,
    /// The next capture point that saw the packet, and the pipeline output compared with it.
    pub next: Option<String>,
    pub output: Option<String>,
    pub expected: Option<Headers>,
    pub observed: Option<Headers>,
    /// `agrees`, `disagrees`, or `not checked: …`.
    pub status: String,
    pub mismatches: Vec<Mismatch>,
    pub later: Vec<LaterCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mismatch {
    pub field: String,
    pub expected: String,
    pub observed: String,
    /// The logical flow that set the expected value.
    pub lflow: Option<Writer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaterCheck {
    pub point: String,
    pub output: Option<String>,
    pub status: String,
    pub mismatches: Vec<Mismatch>,
}

fn mismatches(ms: &[validate::Mismatch]) -> Vec<Mismatch> {
    ms.iter()
        .map(|m| Mismatch {
            field: m.field.clone(),
            expected: m.expected.clone(),
            observed: m.observed.clone(),
            lflow: m.lflow.as_ref().map(Writer::from),
        })
        .collect()
}

impl From<&explain::Explained> for Packet {
    fn from(e: &explain::Explained) -> Packet {
        Packet {
            key: Key {
                what: e.key.what.clone(),
                forward: e.key.forward,
            },
            rows: e
                .rows
                .iter()
                .map(|r| Row {
                    point: r.point.clone(),
                    seen: r.seen,
                    number: r.number,
                    src: r.src.map(|a| a.to_string()),
                    dst: r.dst.map(|a| a.to_string()),
                    src_mac: r.src_mac.clone(),
                    dst_mac: r.dst_mac.clone(),
                    ttl: r.ttl,
                    vni: r.vni,
                    what: r.what.clone(),
                    by: r.by.clone(),
                })
                .collect(),
            lost: e.lost.clone(),
        }
    }
}

impl From<&conversation::Conversation> for Conversation {
    fn from(c: &conversation::Conversation) -> Conversation {
        Conversation {
            point: c.point.clone(),
            client: c.client.clone(),
            server: c.server.clone(),
            events: c
                .events
                .iter()
                .map(|e| Event {
                    number: e.number,
                    from_client: e.from_client,
                    flags: e.flags.clone(),
                    payload_len: e.payload_len,
                    label: e.label.clone(),
                })
                .collect(),
        }
    }
}

impl From<&validate::Validation> for Validation {
    fn from(v: &validate::Validation) -> Validation {
        Validation {
            packet: v.packet.clone(),
            from: v.from.clone(),
            inport: v.inport.clone(),
            microflow: v.microflow.clone(),
            verdicts: v.verdicts.clone(),
            next: v.next.clone(),
            output: v.output.clone(),
            expected: v.expected.as_ref().map(Headers::from),
            observed: v.observed.as_ref().map(Headers::from),
            status: v.status.to_string(),
            mismatches: mismatches(&v.mismatches),
            later: v
                .later
                .iter()
                .map(|c| LaterCheck {
                    point: c.point.clone(),
                    output: c.output.clone(),
                    status: c.status.to_string(),
                    mismatches: mismatches(&c.mismatches),
                })
                .collect(),
        }
    }
}

impl From<&report::Report> for Report {
    fn from(r: &report::Report) -> Report {
        Report {
            schema: super::VERSION,
            points: r.points.clone(),
            unknown_points: r.unknown_points.clone(),
            packets: r.packets.iter().map(Packet::from).collect(),
            conversations: r.conversations.iter().map(Conversation::from).collect(),
            validation: r.validation.as_ref().map(|v| v.iter().map(Validation::from).collect()),
        }
    }
}
