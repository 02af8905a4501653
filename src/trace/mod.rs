//! Path prediction and the OVN logical-flow languages: the match parser, a three-valued
//! evaluator over partly known packets, and a pipeline executor over concrete microflows.

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
