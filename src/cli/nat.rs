//! `ovnscope nat`: which NAT rule applies to a pod (or an external IP), where, and why.

use super::dbopts::{cluster_file_zones, load_all_where, load_zones, DbArgs, DbError, Zone};
use super::{Failure, Format, Outcome, UsageError};
use crate::db::cluster::ZoneSpec;
use crate::db::{DbKind, Views};
use crate::nat::query::{self, Question, Who};
use crate::topology::focus::find_port;
use crate::wire;
use clap::{ArgGroup, Args};
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

impl NatArgs {
    fn question(&self) -> Question {
        let who = match (&self.pod, &self.lsp, self.ip, self.external_ip) {
            (Some(p), ..) => Who::Pod(p.clone()),
            (_, Some(l), ..) => Who::Lsp(l.clone()),
            (_, _, Some(ip), _) => Who::Ip(ip),
            (.., Some(e)) => Who::External(e),
            _ => unreachable!("clap requires one of them"),
        };
        Question {
            who,
            dst: self.dst,
            src: self.src,
        }
    }
}

/// A cluster: the zone that holds the pod (or the address, or for inbound the NAT rule with
/// that external address) answers.
async fn cluster(a: &NatArgs, q: &Question, zones: Vec<Zone>) -> Result<Outcome, Failure> {
    let views: Vec<(String, Views)> = zones.into_iter().map(|z| (z.name, Views::from_loaded(&z.loaded))).collect();
    let holds = |v: &Views| {
        let Some(nb) = v.nb.as_ref() else { return false };
        match &q.who {
            Who::Pod(p) | Who::Lsp(p) => find_port(nb, p).is_ok(),
            Who::Ip(ip) => find_port(nb, &ip.to_string()).is_ok(),
            Who::External(e) => nb.nats.values().any(|n| n.external_ip.parse::<IpAddr>().ok() == Some(*e)),
        }
    };
    let Some((zone, v)) = views.iter().find(|(_, v)| holds(v)) else {
        let names: Vec<&str> = views.iter().map(|(n, _)| n.as_str()).collect();
        let what = match &q.who {
            Who::Pod(p) | Who::Lsp(p) => p.clone(),
            Who::Ip(ip) | Who::External(ip) => ip.to_string(),
        };
        return Err(Failure::NotFound(format!(
            "no zone of the cluster ({}) holds {what:?}",
            names.join(", ")
        )));
    };
    super::warn(&v.warnings);
    let nb = v.nb.as_ref().expect("a zone that holds it has a Northbound");
    let answer = query::answer(q, nb, v.sb.as_ref())?;
    Ok(Outcome::Answer(render(a, &answer, Some((zone, views.len())))?))
}

/// A cluster of live zones: find the zone with one select each, then ask only that zone, with
/// the targeted reads of one zone. `None` when no zone's select finds it.
async fn located(a: &NatArgs, q: &Question, zones: &[ZoneSpec]) -> Result<Option<Outcome>, Failure> {
    let connects = zones.iter().map(|z| {
        let m = z.method(DbKind::Nb).expect("a cluster zone has nb=");
        a.db.connect(DbKind::Nb, m)
    });
    let mut clients = vec![];
    for (z, c) in zones.iter().zip(futures::future::join_all(connects).await) {
        clients.push(c.map_err(|e| Failure::from(e).in_zone(&z.name))?);
    }
    let Some(i) = query::locate(q, &clients).await.map_err(|(i, e)| {
        let m = zones[i].method(DbKind::Nb).unwrap_or_default();
        Failure::from(DbError::wrap(DbKind::Nb, m)(e)).in_zone(&zones[i].name)
    })?
    else {
        return Ok(None);
    };
    let z = &zones[i];
    let sb_client = match z.method(DbKind::Sb) {
        Some(m) => Some(a.db.connect(DbKind::Sb, m).await.map_err(|e| Failure::from(e).in_zone(&z.name))?),
        None => None,
    };
    let (nb, sb, warnings) = query::read_targeted(q, &clients[i], sb_client.as_ref()).await.map_err(|e| {
        let m = z.method(e.kind).unwrap_or_default();
        Failure::from(DbError::wrap(e.kind, m)(e.error)).in_zone(&z.name)
    })?;
    super::warn(&warnings);
    let answer = query::answer(q, &nb, sb.as_ref())?;
    Ok(Some(Outcome::Answer(render(a, &answer, Some((&z.name, zones.len())))?)))
}

fn render(a: &NatArgs, answer: &crate::nat::Answer, zone: Option<(&str, usize)>) -> Result<String, Failure> {
    Ok(match a.format {
        Format::Json => {
            let mut doc = wire::nat::Answer::from(answer);
            doc.zone = zone.map(|(z, _)| z.to_string());
            wire::pretty(&doc)?
        }
        Format::Text => match zone {
            Some((z, n)) => format!("Zone {z} (of {n})\n{}", answer.to_text()),
            None => answer.to_text(),
        },
    })
}

pub async fn run(a: NatArgs) -> Result<Outcome, Failure> {
    let q = a.question();
    if let Some(zones) = cluster_file_zones(&a.db)? {
        let live = |m: &str| !m.starts_with("file:");
        if zones
            .iter()
            .all(|z| z.method(DbKind::Nb).is_some_and(live) && z.method(DbKind::Sb).is_none_or(live))
        {
            if let Some(out) = located(&a, &q, &zones).await? {
                return Ok(out);
            }
        }
    }
    if let Some(zones) = load_zones(&a.db, &query::file_tables, &query::file_conditions).await? {
        return cluster(&a, &q, zones).await;
    }
    // Live servers get targeted reads; files and must-gathers are read whole.
    let (nb, sb, warnings) = match (a.db.live(DbKind::Nb), a.db.any_file()) {
        (Some(nb_method), false) => {
            let sb_method = a.db.live(DbKind::Sb);
            let nb_client = a.db.connect(DbKind::Nb, &nb_method).await?;
            let sb_client = match &sb_method {
                Some(m) => Some(a.db.connect(DbKind::Sb, m).await?),
                None => None,
            };
            query::read_targeted(&q, &nb_client, sb_client.as_ref()).await.map_err(|e| {
                let method = if e.kind == DbKind::Nb {
                    &nb_method
                } else {
                    sb_method.as_ref().unwrap_or(&nb_method)
                };
                DbError::wrap(e.kind, method)(e.error)
            })?
        }
        _ => {
            let loaded = load_all_where(&a.db, &query::file_tables, &query::file_conditions).await?;
            let v = Views::from_loaded(&loaded);
            let nb =
                v.nb.ok_or_else(|| UsageError("ovnscope nat needs the Northbound database (--nb-db)".into()))?;
            (nb, v.sb, v.warnings)
        }
    };
    super::warn(&warnings);
    let answer = query::answer(&q, &nb, sb.as_ref())?;
    Ok(Outcome::Answer(render(&a, &answer, None)?))
}
