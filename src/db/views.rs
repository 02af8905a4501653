//! The three typed views of whatever was loaded, and the table sets the commands ask for.
//!
//! A command names which tables it needs from each database (a [`TableSpec`] list per
//! [`DbKind`]); the loader reads only those, and [`Views`] types what came back.

use super::{nb::NbDb, ovs::OvsDb, sb::SbDb, DbKind, Loaded, TableSpec};

/// The typed views of the databases read, and the schema warnings the reads produced.
pub struct Views {
    pub ovs: Option<OvsDb>,
    pub nb: Option<NbDb>,
    pub sb: Option<SbDb>,
    pub warnings: Vec<String>,
}

impl Views {
    pub fn from_loaded(loaded: &[Loaded]) -> Views {
        let find = |k| loaded.iter().find(|l| l.kind == k);
        Views {
            ovs: find(DbKind::Ovs).map(OvsDb::from_loaded),
            nb: find(DbKind::Nb).map(NbDb::from_loaded),
            sb: find(DbKind::Sb).map(SbDb::from_loaded),
            warnings: loaded.iter().flat_map(|l| l.warnings.iter().cloned()).collect(),
        }
    }
}

/// Every table the typed views know (`show`, `topology`), without the logical flows.
pub fn everything(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Ovs => super::ovs::TABLES.to_vec(),
        DbKind::Nb => super::nb::TABLES.to_vec(),
        DbKind::Sb => super::sb::TABLES.to_vec(),
    }
}

/// What a path prediction (`trace --from`) looks at: [`everything`], but of the Southbound
/// only the chassis, their encaps, the datapaths, the MAC bindings, and where each port is
/// bound with its tunnel key.
pub fn prediction(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Sb => {
            let mut v: Vec<TableSpec> = super::sb::TABLES
                .iter()
                .filter(|t| matches!(t.table, "Chassis" | "Encap" | "Datapath_Binding" | "MAC_Binding"))
                .copied()
                .collect();
            v.push(TableSpec {
                table: "Port_Binding",
                columns: &["logical_port", "chassis", "datapath", "tunnel_key"],
            });
            v
        }
        k => everything(k),
    }
}

/// What `show` prints: [`everything`], but of the Southbound only the chassis, their encaps
/// and which ports are bound where (Port_Binding's other columns are most of its bytes on a
/// large cluster, and `show` prints none of them).
pub fn inventory(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Sb => {
            let mut v: Vec<TableSpec> = super::sb::TABLES
                .iter()
                .filter(|t| matches!(t.table, "Chassis" | "Encap"))
                .copied()
                .collect();
            v.push(TableSpec {
                table: "Port_Binding",
                columns: &["logical_port", "chassis"],
            });
            v
        }
        k => everything(k),
    }
}

/// Only the Northbound, which names OVN objects (`explain`, `capture` without validation).
pub fn northbound(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Nb => super::nb::TABLES.to_vec(),
        _ => vec![],
    }
}

/// Only what the pipeline executor needs from the Southbound (logical flows and the tables
/// they refer to); nothing from the other databases.
pub fn pipeline(kind: DbKind) -> Vec<TableSpec> {
    if kind != DbKind::Sb {
        return vec![];
    }
    let mut v = super::sb::TABLES.to_vec();
    v.extend_from_slice(super::sb::LOGICAL_FLOWS);
    v.extend_from_slice(super::sb::PIPELINE);
    v.sort_by_key(|t| t.table);
    v.dedup_by_key(|t| t.table);
    v
}

/// [`everything`] plus what the pipeline executor needs (`explain --validate`, `trace --lflows`
/// from a file).
pub fn with_pipeline(kind: DbKind) -> Vec<TableSpec> {
    let mut v = everything(kind);
    v.extend(pipeline(kind));
    v.sort_by_key(|t| t.table);
    v.dedup_by_key(|t| t.table);
    v
}
