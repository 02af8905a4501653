//! The OVSDB protocol (RFC 7047 and the ovsdb-server(7) extensions). Knows nothing about OVN.

pub mod client;
pub mod error;
pub mod file;
pub mod method;
pub mod proto;
pub mod prune;
pub mod tls;
pub mod unixctl;

pub use client::{connect, Client, Condition, Monitor, MonitorRequest, Options, Select, Since};
pub use error::{Error, Result};
pub use method::Method;
