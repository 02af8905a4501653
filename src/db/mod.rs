//! Typed, read-only views of the three databases, built from one [`Snapshot`] each.
//!
//! Only the columns ovnscope uses are asked for. Schemas drift between OVS/OVN releases, so a
//! wanted column that the server's schema lacks is treated as unset and reported once as a
//! warning; columns we do not know are never requested and so never get in the way.

pub mod cache;
pub mod cluster;
pub mod demand;
pub mod load;
pub mod mustgather;
pub mod nb;
pub mod ovs;
pub mod remote;
pub mod row;
pub mod sb;
pub mod views;

pub use demand::Demand;
pub use load::{fetch_into, load_file, load_live, load_live_where, select_into, start_live, Conditions, Loaded, TableSpec};
pub use row::RowView;
pub use views::Views;

/// The three databases ovnscope reads, with their OVSDB names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Ovs,
    Nb,
    Sb,
}

impl DbKind {
    pub const ALL: [DbKind; 3] = [DbKind::Ovs, DbKind::Nb, DbKind::Sb];

    pub fn db_name(self) -> &'static str {
        match self {
            DbKind::Ovs => "Open_vSwitch",
            DbKind::Nb => "OVN_Northbound",
            DbKind::Sb => "OVN_Southbound",
        }
    }

    /// The command-line option that selects this database.
    pub fn option(self) -> &'static str {
        match self {
            DbKind::Ovs => "--ovs-db",
            DbKind::Nb => "--nb-db",
            DbKind::Sb => "--sb-db",
        }
    }
}
