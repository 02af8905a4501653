//! Path prediction and the OVN match language. For now: the expression parser and an evaluator
//! over the few fields a routing or NAT question knows (addresses, ports, protocol).

pub mod detrace;
pub mod explain;
pub mod expr;
pub mod path;
