//! What can go wrong before a trace starts: the microflow or `--ct` text is malformed, or it
//! names a port this Southbound does not have. Inside a run nothing is an error: what cannot
//! be carried out becomes an [`super::exec::Node::Unmodelled`] in the trace.

use super::expr::ParseError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The microflow's text is not an OVN match expression.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// No packet satisfies the microflow (e.g. `ip4.src == 1.1.1.1 && ip4.src == 2.2.2.2`),
    /// or it uses something a microflow cannot say (the reason).
    #[error("{}", unsatisfiable(.text, .why.as_deref()))]
    Unsatisfiable { text: String, why: Option<String> },
    /// The microflow names no `inport`, so there is no datapath to start in.
    #[error("the microflow {0:?} names no inport (inport == \"PORT\")")]
    NoInport(String),
    /// A `--ct` flag that is not a connection-tracking state.
    #[error("unknown connection-tracking flag {0:?} (use new, est, rel, rpl, inv, trk, snat, dnat)")]
    CtFlag(String),
    /// The microflow's inport is not a logical port of this Southbound.
    #[error("the microflow's inport {0:?} is not a logical port of this Southbound database")]
    UnknownPort(String),
    /// The DATAPATH argument names no datapath (ovn-trace's own words).
    #[error("unknown datapath \"{0}\"")]
    UnknownDatapath(String),
    /// The microflow's inport is on another datapath than the DATAPATH argument.
    #[error("the microflow's inport {port:?} is not a port of datapath {datapath:?}")]
    PortNotInDatapath { port: String, datapath: String },
}

impl Error {
    /// The user's text is wrong (exit 2): fix the command line.
    pub fn is_usage(&self) -> bool {
        !self.is_not_found()
    }

    /// The text is fine but the database has no such object (the answer is "no", exit 1).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::UnknownPort(_) | Error::UnknownDatapath(_))
    }
}

fn unsatisfiable(text: &str, why: Option<&str>) -> String {
    match why {
        Some(w) => w.to_string(),
        None => format!("cannot build a packet that satisfies {text:?}"),
    }
}
