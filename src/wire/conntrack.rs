//! `conntrack --format json`: the datapath's entries, each zone named by its OVN owner.

use crate::capture::conntrack::EventKind;
use crate::trace::connections::{Explained, Owner};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conntrack {
    pub schema: u32,
    /// The control socket the entries came from.
    pub source: String,
    /// Every zone ovn-controller assigned on this chassis: number → owner.
    pub zones: BTreeMap<String, String>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub proto: String,
    pub zone: u16,
    /// `logical port NAME`, `ROUTER SNAT zone`, `ROUTER DNAT zone`; `null`: not an OVN zone.
    pub owner: Option<String>,
    pub orig: Tuple,
    pub reply: Tuple,
    /// The NAT the entry shows and the rule behind it.
    pub nat: Option<String>,
    pub state: Option<String>,
    pub timeout: Option<u32>,
    pub mark: Option<String>,
    pub labels: Option<String>,
    /// Addresses of the entry that are pods': address → NAMESPACE/NAME.
    pub pods: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tuple {
    pub src: String,
    pub dst: String,
    /// `sport`/`dport`, or `id`/`type`/`code`, as the datapath wrote them.
    pub fields: BTreeMap<String, String>,
}

fn tuple(t: &crate::capture::conntrack::Tuple) -> Tuple {
    Tuple {
        src: t.src.to_string(),
        dst: t.dst.to_string(),
        fields: t.fields.clone(),
    }
}

impl Conntrack {
    pub fn new(source: &str, zones: &BTreeMap<u16, Owner>, all: &[Explained]) -> Conntrack {
        Conntrack {
            schema: super::VERSION,
            source: source.to_string(),
            zones: zones.iter().map(|(z, o)| (z.to_string(), o.to_string())).collect(),
            entries: all.iter().map(Entry::from).collect(),
        }
    }
}

impl From<&Explained> for Entry {
    fn from(x: &Explained) -> Entry {
        Entry {
            proto: x.entry.proto.clone(),
            zone: x.entry.zone,
            owner: x.owner.as_ref().map(|o| o.to_string()),
            orig: tuple(&x.entry.orig),
            reply: tuple(&x.entry.reply),
            nat: x.nat.clone(),
            state: x.entry.state.clone(),
            timeout: x.entry.timeout,
            mark: x.entry.mark.clone(),
            labels: x.entry.labels.clone(),
            pods: x.pods.iter().map(|(ip, p)| (ip.to_string(), p.clone())).collect(),
        }
    }
}

/// `conntrack --follow --format json`: one of these per line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub schema: u32,
    /// `new`, `update` or `destroy`.
    pub event: String,
    pub entry: Entry,
}

impl Event {
    pub fn new(kind: EventKind, x: &Explained) -> Event {
        Event {
            schema: super::VERSION,
            event: kind.tag().to_lowercase(),
            entry: Entry::from(x),
        }
    }
}
