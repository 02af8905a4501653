//! Uses of the logical-flow pipeline ([`crate::lflow`]): path prediction, capture explanation
//! and validation (and the report that joins them for `explain` and `capture`), and OpenFlow
//! cookie annotation (detrace, and the flows under each step for `trace --ovs`).

pub mod connections;
pub mod detrace;
pub mod explain;
pub mod openflow;
pub mod path;
pub mod points;
pub mod report;
pub mod validate;
