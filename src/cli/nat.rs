//! `ovnscope nat`: which NAT rule applies to a pod (or an external IP), where, and why.

use super::dbopts::{cluster_zones_for, load_all_where, load_zones, DbArgs, DbError, Zone};
use super::{Failure, Format, Outcome, UsageError};
use crate::db::cluster::ZoneSpec;
use crate::db::{remote, DbKind, Views};
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
    /// The question as `nat`'s own arguments (what a serve is asked), in `format`.
    fn argv(&self, format: &str) -> Vec<String> {
        let mut v = vec![];
        let mut add = |flag: &str, val: Option<String>| {
            if let Some(val) = val {
                v.extend([flag.to_string(), val]);
            }
        };
        add("--ip", self.ip.map(|i| i.to_string()));
        add("--pod", self.pod.clone());
        add("--lsp", self.lsp.clone());
        add("--external-ip", self.external_ip.map(|i| i.to_string()));
        add("--dst", self.dst.map(|i| i.to_string()));
        add("--src", self.src.map(|i| i.to_string()));
        add("--format", Some(format.to_string()));
        v
    }

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

/// A cluster of serves: every serve answers the question from its cache, in parallel; the
/// first zone (in the cluster's order) that holds the pod, address or rule answers. When the
/// Kubernetes API already named the pod's zone (`only`), only that serve is asked.
async fn asked(a: &NatArgs, all: &[ZoneSpec], only: Option<&str>) -> Result<Outcome, Failure> {
    let opts = a.db.options();
    let mut asked_zones: Vec<&ZoneSpec> = all.iter().filter(|z| only.is_none_or(|o| o == z.name)).collect();
    // Inbound is answered by every zone ("not DNATed"): only the zones that have a rule with
    // that external IP are asked, as when the zones are read directly.
    if let Some(e) = a.external_ip {
        let req = serde_json::json!({"db": "nb", "tables": {"NAT": ["external_ip"]}});
        let url = |z: &ZoneSpec| z.serve.clone().unwrap_or_default();
        let rows = futures::future::join_all(asked_zones.iter().map(|z| {
            let (u, req, opts) = (url(z), req.clone(), &opts);
            async move { remote::call(&u, "rows", req, opts).await }
        }))
        .await;
        let mut holds = vec![];
        for r in rows {
            let v = r?;
            holds.push(v["rows"]["NAT"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|n| n["external_ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) == Some(e))
            }));
        }
        let mut h = holds.into_iter();
        asked_zones.retain(|_| h.next().unwrap_or(false));
    }
    let zones = asked_zones;
    let json = a.format == Format::Json;
    let argv = a.argv(if json { "json" } else { "text" });
    let calls = zones.iter().map(|z| {
        let url = z.serve.as_deref().expect("every zone is a serve");
        remote::call(url, "nat", serde_json::json!(argv), &opts)
    });
    let answers = futures::future::join_all(calls).await;
    for (z, r) in zones.iter().zip(answers) {
        match r {
            Ok(v) => {
                let text = if json {
                    let mut doc: wire::nat::Answer = serde_json::from_value(v)
                        .map_err(|e| Failure::Unreachable(anyhow::anyhow!("zone {}: the serve's nat answer: {e}", z.name)))?;
                    doc.zone = Some(z.name.clone());
                    wire::pretty(&doc)?
                } else {
                    let body = v.as_str().unwrap_or_default();
                    format!("Zone {} (of {})\n{body}", z.name, all.len())
                };
                return Ok(Outcome::Answer(text));
            }
            // This zone does not hold it (the question's "no"); ask the next.
            Err(remote::RemoteError::Rpc { code: -32001, .. }) => continue,
            Err(e) => return Err(Failure::from(e).in_zone(&z.name)),
        }
    }
    let names: Vec<&str> = all.iter().map(|z| z.name.as_str()).collect();
    let q = a.question();
    let what = match &q.who {
        Who::Pod(p) | Who::Lsp(p) => p.clone(),
        Who::Ip(ip) | Who::External(ip) => ip.to_string(),
    };
    Err(Failure::NotFound(format!(
        "no zone of the cluster ({}) holds {what:?}",
        names.join(", ")
    )))
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
    if let Some((zones, pods_zone)) = cluster_zones_for(&a.db, a.pod.as_deref()).await? {
        if zones.iter().all(|z| z.serve.is_some()) {
            return asked(&a, &zones, pods_zone.as_deref()).await;
        }
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
