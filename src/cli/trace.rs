//! `ovnscope trace`: the predicted path of a packet, with expected headers where one could capture.

use super::dbopts::{load_all, DbArgs};
use super::topology::{all_specs, Views};
use super::{exit, Format, UsageError};
use crate::db::DbKind;
use crate::topology::focus::find_port;
use crate::trace::path;
use clap::Args;
use std::net::IpAddr;

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The source: NAMESPACE/POD, a pod IP, or a logical switch port.
    #[arg(long, value_name = "POD|IP|LSP")]
    pub from: String,
    /// The destination address.
    #[arg(long, value_name = "IP")]
    pub to: IpAddr,
    /// Also show the Southbound logical flows of the key steps (switching, routing, next-hop
    /// resolution, NAT), with their uuids, as ovn-trace would list them for those stages.
    #[arg(long)]
    pub lflows: bool,
    /// The TTL the packet leaves the pod with.
    #[arg(long, default_value_t = 64)]
    pub ttl: u8,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub async fn run(a: TraceArgs) -> anyhow::Result<i32> {
    let with_flows = |k: DbKind| {
        let mut v = all_specs(k);
        if a.lflows && k == DbKind::Sb {
            v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
        }
        v
    };
    let loaded = load_all(&a.db, &with_flows).await?;
    let v = Views::from_loaded(&loaded);
    v.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    let nb =
        v.nb.as_ref()
            .ok_or_else(|| UsageError("ovnscope trace needs the Northbound database (--nb-db)".into()))?;
    let port = match find_port(nb, &a.from) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ovnscope: {e}");
            return Ok(exit::NO);
        }
    };
    let p = match path::predict(v.ovs.as_ref(), nb, v.sb.as_ref(), port, a.to, a.ttl) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ovnscope: {e}");
            return Ok(exit::NO);
        }
    };
    let out = match a.format {
        Format::Json => serde_json::to_string_pretty(&p)? + "\n",
        Format::Text => p.to_text(),
    };
    super::print(&out)?;
    Ok(exit::OK)
}
