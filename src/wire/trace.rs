//! `trace --format json`: the predicted path (capture points with the headers expected at
//! each, the NAT answer for the same packet, the key logical flows), and with `--lflows` or
//! `--microflow` the executed pipeline: the microflow, the verdicts, the table steps and the
//! whole trace tree as ovn-trace nests it.

use super::nat;
use crate::lflow::{self, microflow};
use crate::trace::path;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    pub schema: u32,
    pub from: String,
    pub to: String,
    pub points: Vec<Point>,
    /// The NAT answer for the same packet (path, rule, evidence).
    pub nat: nat::Embedded,
    /// With `--lflows`: the logical flows of the key steps, from the executed pipeline.
    pub lflows: Vec<LflowStep>,
    pub warnings: Vec<String>,
    /// With `--lflows`: the executed pipeline.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pipeline: Option<PipelineBody>,
}

/// A capture point on the predicted path and the headers a capture there shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// What to pass to `explain --capture`, or a description of a point inside OVN.
    pub name: String,
    /// `pod-eth0`, `pod-lo`, `host-veth`, `router`, `nic`, `tunnel`.
    pub kind: String,
    pub capturable: bool,
    pub src_mac: Option<String>,
    pub dst_mac: Option<String>,
    pub src: String,
    pub dst: String,
    pub ttl: u8,
    /// Geneve VNI (the Datapath_Binding tunnel key) and port keys on the underlay.
    pub vni: Option<i64>,
    pub ingress_port_key: Option<i64>,
    pub egress_port_key: Option<i64>,
    pub note: String,
}

/// A logical flow that implements one step of the predicted path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LflowStep {
    pub datapath: String,
    pub pipeline: String,
    pub stage: String,
    pub table_id: i64,
    pub priority: i64,
    #[serde(rename = "match")]
    pub match_: String,
    pub actions: String,
    pub uuid: String,
    /// Which decision of the path it implements.
    pub why: String,
}

/// `trace --microflow`: the version, then the pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipeline {
    pub schema: u32,
    #[serde(flatten)]
    pub body: PipelineBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineBody {
    /// The microflow as given (or built from the predicted packet).
    pub microflow: String,
    /// The packet as the executor understood it (ovn-trace's first line).
    pub packet: String,
    /// Where each branch ended: `output PORT`, `drop`, `no match in STAGE`, …
    pub verdicts: Vec<String>,
    pub steps: Vec<Step>,
    pub trace: Vec<Node>,
}

/// One table step, in the order ovn-trace prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The zone, when the run spans a cluster's zones.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zone: Option<String>,
    pub datapath: String,
    pub stage: String,
    pub priority: i64,
    pub uuid: String,
}

/// A packet's headers as a capture would show them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headers {
    pub src_mac: String,
    pub dst_mac: String,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub ttl: Option<u8>,
}

/// The logical flow that last set a header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Writer {
    pub datapath: String,
    pub stage: String,
    pub uuid: String,
    #[serde(rename = "match")]
    pub match_: String,
}

/// One node of the trace tree, tagged by `node`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "node", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// Entering a datapath's `ingress` or `egress` pipeline, or a `multicast` fan-out.
    Pipeline {
        kind: String,
        datapath: String,
        /// The zone whose flows run here, when the run spans a cluster's zones.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        zone: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        inport: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        outport: Option<String>,
        /// For an egress pipeline: the headers as it starts (what a geneve tunnel carries).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        entry: Option<Headers>,
        children: Vec<Node>,
    },
    /// The flow a table matched; `children` are its actions, each followed by what it caused.
    Table {
        datapath: String,
        pipeline: String,
        table: i64,
        stage: String,
        priority: i64,
        #[serde(rename = "match")]
        match_: String,
        uuid: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        source: Option<String>,
        /// Other flows of the same priority that also match.
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        tied_with: Vec<String>,
        children: Vec<Node>,
    },
    /// No flow of the table matches: the packet is dropped there.
    NoMatch {
        datapath: String,
        pipeline: String,
        table: i64,
        stage: String,
    },
    /// A fork with changed headers or state (`ct_next(…)`, `ct_snat(…)`, `icmp4`, …).
    Transform {
        what: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        detail: Option<String>,
        children: Vec<Node>,
    },
    Action {
        text: String,
    },
    Note {
        text: String,
    },
    /// A header change or the final `output("port")`.
    Modify {
        text: String,
    },
    /// The packet leaves through a port.
    Output {
        port: String,
        kind: String,
        headers: Headers,
        #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
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

impl From<&microflow::Headers> for Headers {
    fn from(h: &microflow::Headers) -> Headers {
        Headers {
            src_mac: h.src_mac.clone(),
            dst_mac: h.dst_mac.clone(),
            src: h.src.map(|a| a.to_string()),
            dst: h.dst.map(|a| a.to_string()),
            ttl: h.ttl,
        }
    }
}

impl From<&microflow::Writer> for Writer {
    fn from(w: &microflow::Writer) -> Writer {
        Writer {
            datapath: w.datapath.clone(),
            stage: w.stage.clone(),
            uuid: w.uuid.clone(),
            match_: w.match_.clone(),
        }
    }
}

impl From<&lflow::Node> for Node {
    fn from(n: &lflow::Node) -> Node {
        use lflow::Node as N;
        let kids = |c: &[N]| c.iter().map(Node::from).collect();
        match n {
            N::Pipeline {
                kind,
                datapath,
                zone,
                inport,
                outport,
                entry,
                children,
            } => Node::Pipeline {
                kind: kind.to_string(),
                datapath: datapath.clone(),
                zone: zone.clone(),
                inport: inport.clone(),
                outport: outport.clone(),
                entry: entry.as_ref().map(Headers::from),
                children: kids(children),
            },
            N::Table {
                datapath,
                pipeline,
                table,
                stage,
                priority,
                match_,
                uuid,
                source,
                tied_with,
                children,
            } => Node::Table {
                datapath: datapath.clone(),
                pipeline: pipeline.to_string(),
                table: *table,
                stage: stage.clone(),
                priority: *priority,
                match_: match_.clone(),
                uuid: uuid.clone(),
                source: source.clone(),
                tied_with: tied_with.clone(),
                children: kids(children),
            },
            N::NoMatch {
                datapath,
                pipeline,
                table,
                stage,
            } => Node::NoMatch {
                datapath: datapath.clone(),
                pipeline: pipeline.to_string(),
                table: *table,
                stage: stage.clone(),
            },
            N::Transform { what, detail, children } => Node::Transform {
                what: what.clone(),
                detail: detail.clone(),
                children: kids(children),
            },
            N::Action { text } => Node::Action { text: text.clone() },
            N::Note { text } => Node::Note { text: text.clone() },
            N::Modify { text } => Node::Modify { text: text.clone() },
            N::Output {
                port,
                kind,
                headers,
                changed_by,
            } => Node::Output {
                port: port.clone(),
                kind: kind.clone(),
                headers: headers.into(),
                changed_by: changed_by.iter().map(|(k, w)| (k.clone(), w.into())).collect(),
            },
            N::Drop { stage, uuid } => Node::Drop {
                stage: stage.clone(),
                uuid: uuid.clone(),
            },
            N::Error { text } => Node::Error { text: text.clone() },
            N::Unmodelled { stage, what } => Node::Unmodelled {
                stage: stage.clone(),
                what: what.clone(),
            },
        }
    }
}

impl PipelineBody {
    pub fn new(t: &lflow::Trace, microflow: &str) -> PipelineBody {
        PipelineBody {
            microflow: microflow.to_string(),
            packet: t.microflow.clone(),
            verdicts: t.verdicts(),
            steps: t
                .steps()
                .into_iter()
                .map(|s| Step {
                    zone: s.zone,
                    datapath: s.datapath,
                    stage: s.stage,
                    priority: s.priority,
                    uuid: s.uuid,
                })
                .collect(),
            trace: t.nodes.iter().map(Node::from).collect(),
        }
    }
}

impl Pipeline {
    pub fn new(t: &lflow::Trace, microflow: &str) -> Pipeline {
        Pipeline {
            schema: super::VERSION,
            body: PipelineBody::new(t, microflow),
        }
    }
}

impl Prediction {
    pub fn new(p: &path::Prediction, pipeline: Option<(&lflow::Trace, &str)>) -> Prediction {
        Prediction {
            schema: super::VERSION,
            from: p.from.clone(),
            to: p.to.to_string(),
            points: p
                .points
                .iter()
                .map(|x| Point {
                    name: x.name.clone(),
                    kind: x.kind.to_string(),
                    capturable: x.capturable,
                    src_mac: x.src_mac.clone(),
                    dst_mac: x.dst_mac.clone(),
                    src: x.src.to_string(),
                    dst: x.dst.to_string(),
                    ttl: x.ttl,
                    vni: x.vni,
                    ingress_port_key: x.ingress_port_key,
                    egress_port_key: x.egress_port_key,
                    note: x.note.clone(),
                })
                .collect(),
            nat: (&p.nat).into(),
            lflows: p
                .lflows
                .iter()
                .map(|l| LflowStep {
                    datapath: l.datapath.clone(),
                    pipeline: l.pipeline.clone(),
                    stage: l.stage.clone(),
                    table_id: l.table_id,
                    priority: l.priority,
                    match_: l.match_.clone(),
                    actions: l.actions.clone(),
                    uuid: l.uuid.clone(),
                    why: l.why.clone(),
                })
                .collect(),
            warnings: p.warnings.clone(),
            pipeline: pipeline.map(|(t, m)| PipelineBody::new(t, m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lflow::exec::fixture::{crossing, run, PKT};
    use crate::lflow::Options;

    /// The JSON the README documents: node tags and their members.
    #[test]
    fn json_schema_is_as_documented() {
        let sb = crossing();
        let t = run(&sb, &Options::default(), PKT);
        let j = serde_json::to_value(t.nodes.iter().map(Node::from).collect::<Vec<_>>()).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let p = &j[0];
        assert_eq!(p["node"], "pipeline");
        assert_eq!(keys(p), ["children", "datapath", "inport", "kind", "node"]);
        let table = &p["children"][0];
        assert_eq!(
            keys(table),
            ["children", "datapath", "match", "node", "pipeline", "priority", "stage", "table", "uuid"]
        );
        assert_eq!(table["children"][0], serde_json::json!({"node": "action", "text": "ip.ttl--;"}));
        assert_eq!(table["children"][1], serde_json::json!({"node": "modify", "text": "ip.ttl--"}));
        let s = serde_json::to_string(&j).unwrap();
        for member in [
            r#""node":"output""#,
            r#""headers":{"src_mac""#,
            r#""changed_by":{"ip.ttl":{"datapath":"a""#,
            r#""entry":{"#,
        ] {
            assert!(s.contains(member), "{member} in {s}");
        }
    }
}
