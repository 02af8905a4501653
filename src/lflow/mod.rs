//! The OVN logical-flow language and its executor: the match language (`expr`), OVN's field
//! table (`symtab`), concrete and partly known packets (`microflow`, `packet`), the action
//! language (`actions`), a connection table across runs (`conntrack`), the Southbound
//! pipeline executor that runs a microflow like `ovn-trace` (`exec`), and the targeted
//! Southbound reader that feeds it only the datapaths a packet reaches (`load`).
//!
//! It imports only `db` (the Southbound view) below it; `nat`, `trace` and `render` use it.
//! The language files (`expr`, `symtab`, `microflow`, `packet`, `actions`, `conntrack`)
//! import nothing outside `lflow`.

pub mod actions;
pub mod conntrack;
mod error;
pub mod exec;
pub mod expr;
pub mod flowfmt;
pub mod load;
pub mod microflow;
pub mod packet;
pub mod symtab;

pub use error::Error;
pub use exec::{Executor, LbDst, Node, Options, Pipeline, Step, Trace};
pub use expr::{Expr, ParseError, Truth};
pub use packet::{contains, covers, net, Cover, Packet};
