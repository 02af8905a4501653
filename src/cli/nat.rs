//! `ovnscope nat`: which NAT rule applies to a pod (or an external IP), where, and why.

use super::dbopts::{load_all_where, DbArgs};
use super::topology::Views;
use super::{exit, Format, UsageError};
use crate::db::{Conditions, DbKind, TableSpec};
use crate::nat;
use crate::ovsdb::Condition;
use crate::topology::build::port_ips;
use crate::topology::focus::find_port;
use clap::{ArgGroup, Args};
use serde_json::json;
use std::net::IpAddr;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("who").required(true).args(["ip", "pod", "lsp", "external_ip"])))]
pub struct NatArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The pod's IP address.
    #[arg(long, value_name = "IP")]
    pub ip: Option<IpAddr>,
    /// The pod, as NAMESPACE/NAME.
    #[arg(long, value_name = "NS/NAME")]
    pub pod: Option<String>,
    /// The pod's logical switch port.
    #[arg(long, value_name = "NAME")]
    pub lsp: Option<String>,
    /// Inbound: which DNAT takes this external address.
    #[arg(long, value_name = "IP")]
    pub external_ip: Option<IpAddr>,
    /// Where the packet goes [default: an address outside every cluster network, 8.8.8.8].
    #[arg(long, value_name = "IP")]
    pub dst: Option<IpAddr>,
    /// Inbound: where the packet comes from (for allowed/exempted external IPs) [default: 8.8.8.8].
    #[arg(long, value_name = "IP")]
    pub src: Option<IpAddr>,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Only what the question needs: the whole (small) logical topology from the Northbound, and
/// from the Southbound only the datapaths and the NAT stages' logical flows.
fn specs(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Ovs => vec![],
        DbKind::Nb => crate::db::nb::TABLES.to_vec(),
        DbKind::Sb => {
            let mut v: Vec<TableSpec> = crate::db::sb::TABLES
                .iter()
                .filter(|t| t.table == "Datapath_Binding")
                .copied()
                .collect();
            v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
            v
        }
    }
}

fn conditions(kind: DbKind) -> Conditions {
    let mut c = Conditions::new();
    if kind == DbKind::Sb {
        let stage = |s: &str| Condition::includes("external_ids", json!(["map", [["stage-name", s]]]));
        c.insert("Logical_Flow", vec![stage("lr_out_snat"), stage("lr_in_dnat")]);
    }
    c
}

pub async fn run(a: NatArgs) -> anyhow::Result<i32> {
    let loaded = load_all_where(&a.db, &specs, &conditions).await?;
    let v = Views::from_loaded(&loaded);
    for w in &v.warnings {
        eprintln!("warning: {w}");
    }
    let nb =
        v.nb.as_ref()
            .ok_or_else(|| UsageError("ovnscope nat needs the Northbound database (--nb-db)".into()))?;
    let outside = |ip: &str| -> IpAddr {
        let cand: IpAddr = ip.parse().expect("constant");
        cand
    };
    let answer = if let Some(ext) = a.external_ip {
        nat::inbound(nb, v.sb.as_ref(), ext, a.src.unwrap_or_else(|| outside("8.8.8.8")))
    } else {
        let (src, lsp) = match (&a.pod, &a.lsp, a.ip) {
            (Some(q), _, _) | (_, Some(q), _) => {
                let p = match find_port(nb, q) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("ovnscope: {e}");
                        return Ok(exit::NO);
                    }
                };
                let ip = port_ips(p).iter().find_map(|i| i.split('/').next()?.parse::<IpAddr>().ok());
                let ip = ip.ok_or_else(|| UsageError(format!("port {} has no IP address in its addresses; give --ip", p.name)))?;
                (ip, Some(p.name.clone()))
            }
            (_, _, Some(ip)) => (ip, find_port(nb, &ip.to_string()).ok().map(|p| p.name.clone())),
            _ => unreachable!("clap requires one of them"),
        };
        let dst = a.dst.unwrap_or_else(|| {
            if src.is_ipv4() {
                outside("8.8.8.8")
            } else {
                outside("2001:4860:4860::8888")
            }
        });
        match nat::outbound(nb, v.sb.as_ref(), src, dst, lsp.as_deref()) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("ovnscope: {e}");
                return Ok(exit::NO);
            }
        }
    };
    let out = match a.format {
        Format::Json => serde_json::to_string_pretty(&answer)? + "\n",
        Format::Text => answer.to_text(),
    };
    super::print(&out)?;
    Ok(exit::OK)
}
