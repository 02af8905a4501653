//! Path prediction and the OVN logical-flow languages: the match and action parsers, one
//! evaluator (three-valued on partly known packets, two-valued on concrete microflows), and a
//! pipeline executor.

pub mod actions;
pub mod conntrack;
pub mod detrace;
pub mod explain;
pub mod expr;
pub mod load;
pub mod microflow;
pub mod path;
pub mod pipeline;
pub mod symtab;
pub mod validate;
