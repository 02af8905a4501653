//! The trace tree an execution produces, as ovn-trace's detailed output nests it, and what it
//! comes to (the table steps in order, where each branch ended). Rendering it as ovn-trace's
//! text is [`crate::render::lflow`]'s job; its JSON is the tree as serialised here.

use crate::lflow::microflow::{Headers, Writer};
use std::collections::BTreeMap;

/// Which pipeline a node runs in: a datapath's ingress or egress, or the fan-out of a
/// multicast group into one egress per member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    Ingress,
    Egress,
    Multicast,
}

impl Pipeline {
    /// The pipeline a logical flow's table belongs to.
    pub fn of(egress: bool) -> Pipeline {
        if egress {
            Pipeline::Egress
        } else {
            Pipeline::Ingress
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Pipeline::Ingress => "ingress",
            Pipeline::Egress => "egress",
            Pipeline::Multicast => "multicast",
        }
    }
}

impl std::fmt::Display for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node of a trace, as ovn-trace's detailed output nests them.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Entering a datapath's ingress or egress pipeline, or fanning out to a multicast group.
    Pipeline {
        kind: Pipeline,
        datapath: String,
        /// The zone whose flows run here, when the run spans the zones of a cluster.
        zone: Option<String>,
        inport: Option<String>,
        outport: Option<String>,
        /// For an egress pipeline: the headers as it starts — what a geneve tunnel carries
        /// when the egress runs on the destination's chassis.
        entry: Option<Headers>,
        children: Vec<Node>,
    },
    /// The flow a table matched; `children` are its actions in order, each followed by what
    /// it caused.
    Table {
        datapath: String,
        pipeline: Pipeline,
        table: i64,
        stage: String,
        priority: i64,
        match_: String,
        uuid: String,
        /// Where in ovn-northd the flow comes from (`external_ids:source`), as ovn-trace shows it.
        source: Option<String>,
        /// Other flows of the same priority that also match (OVN picks one of them; so do we).
        tied_with: Vec<String>,
        children: Vec<Node>,
    },
    /// No flow of the table matches: the packet is dropped there.
    NoMatch {
        datapath: String,
        pipeline: Pipeline,
        table: i64,
        stage: String,
    },
    /// A fork with changed headers or state (`ct_next(ct_state=new|trk)`, `ct_snat(…)`,
    /// `icmp4`, `clone`), continuing in `children`.
    Transform {
        what: String,
        /// What the fork chose that its title does not say (a load balancer's backend).
        detail: Option<String>,
        children: Vec<Node>,
    },
    /// One action of the flow, in order among what it caused.
    Action {
        text: String,
    },
    /// A comment (`/* MAC binding to … */`).
    Note {
        text: String,
    },
    /// A header change (`ip.ttl--`, `eth.dst = …`; registers and ports are not listed) or the
    /// final `output("port")`, as ovn-trace's summary and minimal forms show them.
    Modify {
        text: String,
    },
    /// The packet leaves through a port (a patch port is followed by the peer's pipeline).
    Output {
        port: String,
        kind: String,
        /// The headers as they leave (MACs, addresses, TTL).
        headers: Headers,
        /// The logical flow that last changed each header on the way.
        changed_by: BTreeMap<String, Writer>,
    },
    Drop {
        stage: String,
        uuid: String,
    },
    Error {
        text: String,
    },
    /// Something the executor does not model; the branch stops here.
    Unmodelled {
        stage: String,
        what: String,
    },
}

#[derive(Debug, Clone)]
pub struct Trace {
    pub microflow: String,
    pub nodes: Vec<Node>,
    /// What ovn-trace's text calls the ports and datapaths whose names it changes (the JSON
    /// keeps the names; only the text forms use these).
    pub text_names: TextNames,
}

/// ovn-trace's `--friendly-names` (its default) and `--no-friendly-names` for the text forms:
/// friendly, a name that ends in a UUID is cut to that UUID's first 6 digits
/// (`provnet-42b85d…` → `provnet-42b85d`); not friendly, a datapath is its Northbound UUID. Only
/// the names that change are kept.
#[derive(Debug, Clone, Default)]
pub struct TextNames {
    pub ports: std::collections::BTreeMap<String, String>,
    pub datapaths: std::collections::BTreeMap<String, String>,
}

/// ovn-trace's shortening: a name whose last 36 characters are a UUID keeps 6 of its digits.
pub fn shorten_uuid(name: &str) -> String {
    const UUID_LEN: usize = 36;
    let n = name.len();
    let is_uuid = n >= UUID_LEN
        && name.is_char_boundary(n - UUID_LEN)
        && name[n - UUID_LEN..].chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if is_uuid {
        name[..n - (UUID_LEN - 6)].to_string()
    } else {
        name.to_string()
    }
}

impl TextNames {
    /// `text` with each quoted port name replaced (as ovn-trace rewrites the string tokens of
    /// matches and actions) and each `dp="…"` datapath.
    pub fn apply(&self, text: String) -> String {
        if self.ports.is_empty() && self.datapaths.is_empty() {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(open) = rest.find('"') {
            let Some(len) = rest[open + 1..].find('"') else { break };
            let inner = &rest[open + 1..open + 1 + len];
            let is_dp = rest[..open].ends_with("dp=");
            let named = if is_dp { self.datapaths.get(inner) } else { self.ports.get(inner) };
            out.push_str(&rest[..=open]);
            out.push_str(named.map(String::as_str).unwrap_or(inner));
            out.push('"');
            rest = &rest[open + len + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// One table step, flattened from the tree in the order ovn-trace prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The zone, when the run spans the zones of a cluster.
    pub zone: Option<String>,
    pub datapath: String,
    pub stage: String,
    pub priority: i64,
    pub uuid: String,
}

impl Trace {
    /// The table steps in the order ovn-trace prints them.
    pub fn steps(&self) -> Vec<Step> {
        fn walk(nodes: &[Node], zone: &Option<String>, out: &mut Vec<Step>) {
            for n in nodes {
                match n {
                    Node::Table {
                        datapath,
                        stage,
                        priority,
                        uuid,
                        children,
                        ..
                    } => {
                        out.push(Step {
                            zone: zone.clone(),
                            datapath: datapath.clone(),
                            stage: stage.clone(),
                            priority: *priority,
                            uuid: uuid.clone(),
                        });
                        walk(children, zone, out);
                    }
                    Node::Pipeline { children, zone: z, .. } => walk(children, if z.is_some() { z } else { zone }, out),
                    Node::Transform { children, .. } => walk(children, zone, out),
                    _ => {}
                }
            }
        }
        let mut v = vec![];
        walk(&self.nodes, &None, &mut v);
        v
    }

    /// Where each branch ended: `output PORT`, `drop`, `no match in STAGE`, an error or what
    /// was not modelled. Patch ports, which continue into the peer, are not endings.
    pub fn verdicts(&self) -> Vec<String> {
        fn walk(nodes: &[Node], out: &mut Vec<String>) {
            for (i, n) in nodes.iter().enumerate() {
                match n {
                    Node::Output { port, .. } => {
                        let continues = matches!(
                            nodes.get(i + 1),
                            Some(Node::Pipeline {
                                kind: Pipeline::Ingress,
                                ..
                            })
                        );
                        if !continues {
                            out.push(format!("output {port}"));
                        }
                    }
                    Node::Drop { .. } => out.push("drop".into()),
                    Node::NoMatch { stage, .. } => out.push(format!("no match in {stage}")),
                    Node::Error { text } => out.push(text.clone()),
                    Node::Unmodelled { stage, what } => out.push(format!("not modelled in {stage}: {what}")),
                    Node::Table { children, .. } | Node::Pipeline { children, .. } | Node::Transform { children, .. } => {
                        walk(children, out)
                    }
                    Node::Note { .. } | Node::Modify { .. } | Node::Action { .. } => {}
                }
            }
        }
        let mut v = vec![];
        walk(&self.nodes, &mut v);
        v
    }
}
