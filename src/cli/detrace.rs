//! `ovnscope detrace`: annotate `ovs-appctl ofproto/trace` or `ovs-ofctl dump-flows` output
//! (standard input) with the logical flows and Northbound rows behind each OpenFlow cookie.

use super::dbopts::{load_all, DbArgs};
use super::{Failure, Outcome, UsageError};
use crate::db::Views;
use crate::trace::detrace;
use clap::Args;
use std::io::Read;

#[derive(Debug, Args)]
pub struct DetraceArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

pub async fn run(a: DetraceArgs) -> Result<Outcome, Failure> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let v = Views::from_loaded(&load_all(&a.db, &detrace::tables).await?);
    super::warn(&v.warnings);
    let sb =
        v.sb.as_ref()
            .ok_or_else(|| UsageError("detrace needs the Southbound database (--sb-db)".into()))?;
    let idx = detrace::Index::new(sb, v.nb.as_ref());
    Ok(Outcome::Answer(detrace::annotate_text(&input, &idx)))
}
