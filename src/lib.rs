//! ovnscope: explain OVN-Kubernetes networking from the OVSDB databases.
//!
//! Layers (arrows point down only): `cli` → `db` → `ovsdb`. `ovsdb::proto` is the sans-I/O
//! protocol core; `ovsdb::client` drives it over tokio; `db` turns snapshots into typed,
//! schema-tolerant views of the Open_vSwitch, OVN_Northbound and OVN_Southbound databases.
#![forbid(unsafe_code)]

pub mod capture;
pub mod cli;
pub mod db;
pub mod kube;
pub mod lflow;
pub mod nat;
pub mod ovsdb;
pub mod render;
pub mod serve;
pub mod topology;
pub mod trace;
pub mod wire;
