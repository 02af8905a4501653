//! `ovnscope detrace`: annotate `ovs-appctl ofproto/trace` or `ovs-ofctl dump-flows` output
//! (standard input) with the logical flows and Northbound rows behind each OpenFlow cookie.

use super::dbopts::{load_all, DbArgs};
use super::topology::Views;
use super::{exit, UsageError};
use crate::db::{DbKind, TableSpec};
use crate::trace::detrace;
use clap::Args;
use std::io::Read;

#[derive(Debug, Args)]
pub struct DetraceArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

fn specs(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Ovs => vec![],
        DbKind::Nb => crate::db::nb::TABLES.to_vec(),
        DbKind::Sb => {
            let mut v = crate::db::sb::TABLES.to_vec();
            v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
            v
        }
    }
}

pub async fn run(a: DetraceArgs) -> anyhow::Result<i32> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let loaded = load_all(&a.db, &specs).await?;
    let v = Views::from_loaded(&loaded);
    v.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    let sb =
        v.sb.as_ref()
            .ok_or_else(|| UsageError("detrace needs the Southbound database (--sb-db)".into()))?;
    let idx = detrace::Index::new(sb, v.nb.as_ref());
    super::print(&detrace::annotate_text(&input, &idx))?;
    Ok(exit::OK)
}
