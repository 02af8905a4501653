//! Uses of the logical-flow pipeline ([`crate::lflow`]): path prediction, capture explanation
//! and validation, and OpenFlow cookie annotation (detrace).

pub mod detrace;
pub mod explain;
pub mod path;
pub mod validate;
