//! Rendering: DOT (written directly; graphviz's `dot` turns it into SVG) and text trees.

pub mod dot;
pub mod lflow;
pub mod tree;
