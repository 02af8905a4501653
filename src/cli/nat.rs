//! `ovnscope nat`: which NAT rule applies to a pod (or an external IP), where, and why.

use super::dbopts::{load_all_where, DbArgs};
use super::topology::Views;
use super::{exit, Format, UsageError};
use crate::db::nb::NbDb;
use crate::db::sb::SbDb;
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

/// The answer from views, or the exit code when the pod/address does not exist.
fn answer(a: &NatArgs, nb: &NbDb, sb: Option<&SbDb>) -> anyhow::Result<Result<nat::Answer, i32>> {
    let default_dst = |src: IpAddr| -> IpAddr {
        if src.is_ipv4() {
            "8.8.8.8".parse().expect("constant")
        } else {
            "2001:4860:4860::8888".parse().expect("constant")
        }
    };
    if let Some(ext) = a.external_ip {
        return Ok(Ok(nat::inbound(nb, sb, ext, a.src.unwrap_or_else(|| default_dst(ext)))));
    }
    let (src, lsp) = match (&a.pod, &a.lsp, a.ip) {
        (Some(q), _, _) | (_, Some(q), _) => {
            let p = match find_port(nb, q) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("ovnscope: {e}");
                    return Ok(Err(exit::NO));
                }
            };
            let ip = port_ips(p).iter().find_map(|i| i.split('/').next()?.parse::<IpAddr>().ok());
            let ip = ip.ok_or_else(|| UsageError(format!("port {} has no IP address in its addresses; give --ip", p.name)))?;
            (ip, Some(p.name.clone()))
        }
        (_, _, Some(ip)) => (ip, find_port(nb, &ip.to_string()).ok().map(|p| p.name.clone())),
        _ => unreachable!("clap requires one of them"),
    };
    match nat::outbound(nb, sb, src, a.dst.unwrap_or_else(|| default_dst(src)), lsp.as_deref()) {
        Ok(x) => Ok(Ok(x)),
        Err(e) => {
            eprintln!("ovnscope: {e}");
            Ok(Err(exit::NO))
        }
    }
}

/// Live servers: three small conditional reads instead of whole databases (see nat::load).
async fn targeted(a: &NatArgs, nb_method: &str, sb_method: Option<&str>) -> anyhow::Result<(NbDb, Option<SbDb>, Vec<String>)> {
    use crate::nat::load::{nb_nats, nb_topology, sb_evidence, Who};
    let opts = a.db.options();
    let db_err = super::dbopts::DbError::wrap;
    let nb_client = crate::ovsdb::connect(nb_method, &opts)
        .await
        .map_err(db_err(DbKind::Nb, nb_method))?;
    let port_name = a.pod.as_ref().map(|p| p.replacen('/', "_", 1)).or_else(|| a.lsp.clone());
    let who = match (&port_name, a.ip, a.external_ip) {
        (Some(p), _, _) => Who::Port(p),
        (_, _, Some(e)) => Who::External(e),
        (_, Some(ip), _) => Who::Ip(ip),
        _ => unreachable!("clap requires one of them"),
    };
    let mut nb_loaded = nb_topology(&nb_client, &who).await.map_err(db_err(DbKind::Nb, nb_method))?;
    let mut nb = NbDb::from_loaded(&nb_loaded);
    // Walk once without NAT rows to learn the routers on the path, then fetch their rules.
    if a.external_ip.is_none() {
        if let Ok(Ok(first)) = answer(a, &nb, None) {
            let routers: Vec<&str> = first.path.iter().map(|h| h.router.as_str()).collect();
            nb_nats(&nb_client, &mut nb_loaded, &routers)
                .await
                .map_err(db_err(DbKind::Nb, nb_method))?;
            nb = NbDb::from_loaded(&nb_loaded);
        }
    }
    let mut sb = None;
    if let Some(m) = sb_method {
        // Each candidate rule's flows, looked for on its own router.
        let pairs: Vec<(uuid::Uuid, uuid::Uuid)> = match answer(a, &nb, None)? {
            Ok(ans) => ans
                .candidates
                .iter()
                .chain(ans.applies.iter())
                .filter_map(|c| Some((nb.routers.values().find(|r| r.name == c.router)?.uuid, c.uuid.parse().ok()?)))
                .collect(),
            Err(_) => vec![],
        };
        let sb_client = crate::ovsdb::connect(m, &opts).await.map_err(db_err(DbKind::Sb, m))?;
        sb = Some(sb_evidence(&sb_client, &pairs).await.map_err(db_err(DbKind::Sb, m))?);
    }
    Ok((nb, sb, nb_loaded.warnings))
}

pub async fn run(a: NatArgs) -> anyhow::Result<i32> {
    let env = |k: &str| std::env::var(k).ok();
    // Live servers get targeted reads; files and must-gathers are read whole.
    let live = |c: &super::dbopts::Choice| {
        !c.method.starts_with("file:") && !matches!(&c.origin, super::dbopts::Origin::Default(p) if !p.exists())
    };
    let choices = if a.db.must_gather.is_none() { a.db.choose(&env) } else { vec![] };
    let nb_choice = choices.iter().find(|c| c.kind == DbKind::Nb && live(c));
    let sb_choice = choices.iter().find(|c| c.kind == DbKind::Sb && live(c));
    let (nb, sb, warnings) = match nb_choice {
        Some(n) if sb_choice.is_none_or(|s| !s.method.starts_with("file:")) && choices.iter().all(|c| !c.method.starts_with("file:")) => {
            targeted(&a, &n.method, sb_choice.map(|s| s.method.as_str())).await?
        }
        _ => {
            let loaded = load_all_where(&a.db, &specs, &conditions).await?;
            let v = Views::from_loaded(&loaded);
            let nb =
                v.nb.ok_or_else(|| UsageError("ovnscope nat needs the Northbound database (--nb-db)".into()))?;
            (nb, v.sb, v.warnings)
        }
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let answer = match answer(&a, &nb, sb.as_ref())? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let out = match a.format {
        Format::Json => serde_json::to_string_pretty(&answer)? + "\n",
        Format::Text => answer.to_text(),
    };
    super::print(&out)?;
    Ok(exit::OK)
}
