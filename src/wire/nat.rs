//! `nat --format json`: the question, the routers on the path, the rule that applies (or
//! none, or a tie), every rule considered and why it does not decide, with the Southbound
//! flow behind each.

use crate::nat;
use serde::{Deserialize, Serialize};

/// The document: the version, then the answer's body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub schema: u32,
    /// The zone (node) that answered, when the question was asked of a cluster.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zone: Option<String>,
    #[serde(flatten)]
    pub body: Embedded,
}

/// The body of [`Answer`] without the version, as `trace` embeds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embedded {
    pub query: Query,
    pub path: Vec<Hop>,
    /// Where the walk ended: `leaves the cluster via …`, `delivered on …`, `dropped …`.
    pub exit: String,
    pub applies: Option<Candidate>,
    /// The address the packet carries after the routers on the path.
    pub translated: Option<String>,
    /// Rules tied at the top priority (OVN leaves the winner undefined).
    pub tie: Vec<String>,
    pub candidates: Vec<Candidate>,
    pub reasoning: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub src: String,
    pub dst: String,
    pub lsp: Option<String>,
    pub pod: Option<String>,
    pub switch: Option<String>,
    /// `outbound` (which SNAT) or `inbound` (which DNAT for an external IP).
    pub direction: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    pub router: String,
    pub gateway: bool,
    pub inport: Option<String>,
    pub outport: Option<String>,
    pub nexthop: Option<String>,
    /// The route or policy that decided, in words.
    pub decided_by: String,
    pub priority: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub external_ip: String,
    pub logical_ip: String,
    pub logical_port: Option<String>,
    pub router: String,
    /// The source ports SNAT picks from (`external_port_range`), when the rule limits them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_port_range: Option<String>,
    /// The priority of the flow northd writes for it (`null` when northd writes none).
    pub priority: Option<i64>,
    pub lflow: Option<Flow>,
    /// Why this rule does not decide (`null` for the one that applies).
    pub why_not: Option<String>,
}

/// The Southbound flow that implements a rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub uuid: String,
    pub stage: String,
    pub table_id: i64,
    pub priority: i64,
    #[serde(rename = "match")]
    pub match_: String,
    pub actions: String,
}

impl From<&nat::Candidate> for Candidate {
    fn from(c: &nat::Candidate) -> Candidate {
        Candidate {
            uuid: c.uuid.clone(),
            kind: c.kind.clone(),
            external_ip: c.external_ip.clone(),
            logical_ip: c.logical_ip.clone(),
            logical_port: c.logical_port.clone(),
            router: c.router.clone(),
            external_port_range: c.port_range.clone(),
            priority: c.priority,
            lflow: c.lflow.as_ref().map(|f| Flow {
                uuid: f.uuid.clone(),
                stage: f.stage.clone(),
                table_id: f.table_id,
                priority: f.priority,
                match_: f.match_.clone(),
                actions: f.actions.clone(),
            }),
            why_not: c.why_not.clone(),
        }
    }
}

impl From<&nat::Answer> for Embedded {
    fn from(a: &nat::Answer) -> Embedded {
        let q = &a.query;
        Embedded {
            query: Query {
                src: q.src.to_string(),
                dst: q.dst.to_string(),
                lsp: q.lsp.clone(),
                pod: q.pod.clone(),
                switch: q.switch.clone(),
                direction: q.direction.to_string(),
            },
            path: a
                .path
                .iter()
                .map(|h| Hop {
                    router: h.router.clone(),
                    gateway: h.gateway,
                    inport: h.inport.clone(),
                    outport: h.outport.clone(),
                    nexthop: h.nexthop.clone(),
                    decided_by: h.decided_by.clone(),
                    priority: h.priority,
                })
                .collect(),
            exit: a.exit.clone(),
            applies: a.applies.as_ref().map(Candidate::from),
            translated: a.translated.clone(),
            tie: a.tie.clone(),
            candidates: a.candidates.iter().map(Candidate::from).collect(),
            reasoning: a.reasoning.clone(),
            warnings: a.warnings.clone(),
        }
    }
}

impl From<&nat::Answer> for Answer {
    fn from(a: &nat::Answer) -> Answer {
        Answer {
            schema: super::VERSION,
            zone: None,
            body: a.into(),
        }
    }
}
