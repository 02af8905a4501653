//! The explanation of a set of captures, shared by `explain` (recorded) and `capture` (live):
//! packets hop by hop across the points, the TCP conversations at the first point that saw
//! any, the points that name no pod, and — when asked — each packet checked against the
//! logical flows.

use super::explain::{self, Explained};
use super::validate::{self, Status, Validation};
use crate::capture::conversation::{self, Conversation};
use crate::capture::correlate::{self, inner};
use crate::capture::decode::{Observation, L4};
use crate::db::nb::NbDb;
use crate::db::ovs::OvsDb;
use crate::db::sb::SbDb;
use crate::lflow::exec::{Cluster, Executor, Options};
use std::collections::BTreeMap;

/// Everything `explain` and `capture` say about a set of captures.
#[derive(Debug, Clone)]
pub struct Report {
    pub points: Vec<String>,
    /// `pod:NS/NAME` points that name no pod in the Northbound: their rows are shown, but no
    /// OVN object is tied to them.
    pub unknown_points: Vec<String>,
    pub packets: Vec<Explained>,
    pub conversations: Vec<Conversation>,
    pub validation: Option<Vec<Validation>>,
}

/// Each captured packet run through the logical flows from the first point at a logical port
/// (see [`validate`]), with one connection table across the packets, so replies are un-NATed
/// as the forward packets were NATed.
pub fn validation(
    points: &[String],
    observations: &[Observation],
    nb: &NbDb,
    sb: &SbDb,
    ovs: Option<&OvsDb>,
) -> Result<Vec<Validation>, crate::lflow::Error> {
    let ex = Executor::new(sb, &validation_options())?;
    let journeys = correlate::correlate(points, observations.to_vec());
    let places = validate::Places { zones: vec![(nb, ovs)] };
    Ok(validate::validate(&journeys, &places, &|_| Some(&ex)))
}

/// Validation keeps a connection table across the packets.
fn validation_options() -> Options {
    Options {
        conntrack: true,
        ..Default::default()
    }
}

/// [`validation`] over the zones of a cluster: each packet runs from its inport's zone and on
/// across the transit switch, as the wire carries it.
pub fn validation_zones(
    points: &[String],
    observations: &[Observation],
    zones: &[ZoneDbs<'_>],
) -> Result<Vec<Validation>, crate::lflow::Error> {
    let cluster = std::rc::Rc::new(Cluster {
        zones: zones.iter().map(|z| (z.name.to_string(), z.sb)).collect(),
    });
    let executors = zones
        .iter()
        .map(|z| Ok((z.name, Executor::in_cluster(cluster.clone(), z.name, &validation_options())?)))
        .collect::<Result<Vec<_>, crate::lflow::Error>>()?;
    let pick = |inport: &str| {
        let zone = Executor::zone_of_port(&cluster, inport)?;
        executors.iter().find(|(z, _)| *z == zone).map(|(_, e)| e)
    };
    let journeys = correlate::correlate(points, observations.to_vec());
    let places = validate::Places {
        zones: zones.iter().map(|z| (z.nb, z.ovs)).collect(),
    };
    Ok(validate::validate(&journeys, &places, &pick))
}

/// One zone's databases, for [`validation_zones`].
pub struct ZoneDbs<'a> {
    pub name: &'a str,
    pub nb: &'a NbDb,
    pub sb: &'a SbDb,
    pub ovs: Option<&'a OvsDb>,
}

impl Report {
    /// Correlates the observations across the points and explains them with the Northbound
    /// (when there is one).
    pub fn build(points: &[String], observations: Vec<Observation>, nb: Option<&NbDb>, validation: Option<Vec<Validation>>) -> Report {
        let zones: Vec<(String, &NbDb)> = nb.into_iter().map(|n| (String::new(), n)).collect();
        Report::build_zones(points, observations, &zones, validation)
    }

    /// Like [`Report::build`] over the zones of a cluster, each hop explained by its zone.
    pub fn build_zones(
        points: &[String],
        observations: Vec<Observation>,
        zones: &[(String, &NbDb)],
        validation: Option<Vec<Validation>>,
    ) -> Report {
        let tcp_point = points.iter().find(|p| {
            observations
                .iter()
                .any(|o| &o.point == *p && matches!(inner(&o.frame).l4, Some(L4::Tcp { .. })))
        });
        let conversations = tcp_point.map(|p| conversation::conversations(p, &observations)).unwrap_or_default();
        let unknown_points = match zones.is_empty() {
            false => points
                .iter()
                .filter(|p| {
                    p.strip_prefix("pod:")
                        .map(|q| q.split('(').next().unwrap_or(q))
                        .is_some_and(|q| zones.iter().all(|(_, nb)| crate::topology::focus::find_port(nb, q).is_err()))
                })
                .cloned()
                .collect(),
            true => vec![],
        };
        let journeys = correlate::correlate(points, observations);
        Report {
            points: points.to_vec(),
            unknown_points,
            packets: explain::explain_zones(&journeys, zones),
            conversations,
            validation,
        }
    }

    /// Some packet disagrees with the logical flows (the answer to `--validate` is "no").
    pub fn disagrees(&self) -> bool {
        self.validation.iter().flatten().any(|v| v.status == Status::Disagrees)
    }

    /// For people: packets with more than one point (with one point there is no hop to
    /// explain; the conversation says it all, or, without one, a line that says so), conversations,
    /// then the validation.
    pub fn to_text(&self) -> String {
        let multi: Vec<Explained> = self.packets.iter().filter(|e| e.rows.len() > 1).cloned().collect();
        let mut s = explain::to_text(&multi) + &conversation::to_text(&self.conversations);
        if s.is_empty() && !self.packets.is_empty() {
            // Nothing to print is not an answer: say what was seen and what would explain it.
            s = format!(
                "{} packet(s), each seen at one capture point only ({}): no hop to explain.\n\
                 Give a capture from a second point on the path (the host veth, the node's NIC, the other pod) to see where each packet changes; -f json lists every packet.\n",
                self.packets.len(),
                self.points.join(", ")
            );
        }
        if let Some(v) = &self.validation {
            if !s.ends_with("\n\n") {
                s.push('\n');
            }
            s += &validate::to_text(v);
        }
        s
    }

    /// Each seen packet's explanation by (point, packet number at that point), for the
    /// comments of a pcapng.
    pub fn comments(&self) -> BTreeMap<(String, usize), String> {
        let mut what = BTreeMap::new();
        for e in &self.packets {
            for r in e.rows.iter().filter(|r| r.seen) {
                what.insert(
                    (r.point.clone(), r.number.unwrap_or(0)),
                    format!(
                        "ovnscope: {} ({}) at {}: {}",
                        e.key.what,
                        if e.key.forward { "forward" } else { "reply" },
                        r.point,
                        r.what
                    ),
                );
            }
        }
        what
    }
}
