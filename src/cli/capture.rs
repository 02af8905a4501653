//! `ovnscope capture`: live capture at several points, explained as packets arrive, with a
//! pcapng that carries one interface per point and each packet's explanation as a comment.

use super::dbopts::{load_all, DbArgs, NoDatabase};
use super::topology::Views;
use super::{exit, Format, UsageError};
use crate::capture::correlate::inner;
use crate::capture::decode::L4;
use crate::capture::live::{self, Point};
use crate::db::{DbKind, TableSpec};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// A capture point in path order: NAME=IFACE, or NAME=IFACE@NETNS to capture inside a
    /// network namespace (e.g. pod:ns/pod=eth0@<pod netns>, ens2f0np0=ens2f0np0).
    #[arg(long = "point", value_name = "NAME=IFACE[@NETNS]", required = true)]
    pub points: Vec<String>,
    /// A BPF filter applied at every point (tcpdump syntax), e.g. "icmp or tcp port 8080".
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// Stop after this many packets in all (across points).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Stop after this many seconds [default: 10 when --count is not given].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Write every packet to this pcapng: one interface per point, the explanation as a comment.
    #[arg(long, short = 'w', value_name = "OUT.pcapng")]
    pub write: Option<PathBuf>,
    /// Also check each packet against the Southbound logical flows, as `explain --validate`
    /// does (needs --nb-db and --sb-db); exit 1 when one disagrees.
    #[arg(long)]
    pub validate: bool,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

fn nb_specs(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Nb => crate::db::nb::TABLES.to_vec(),
        _ => vec![],
    }
}

fn one_line(o: &crate::capture::decode::Observation) -> String {
    let f = inner(&o.frame);
    let ip = |a: Option<std::net::IpAddr>| a.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
    let l4 = match &f.l4 {
        Some(L4::Echo { request, id, seq }) => format!("icmp echo {} id {id} seq {seq}", if *request { "request" } else { "reply" }),
        Some(L4::Tcp { sport, dport, flags, .. }) => format!("tcp {sport} > {dport} [{flags}]"),
        Some(L4::Udp { sport, dport, .. }) => format!("udp {sport} > {dport}"),
        Some(other) => format!("{other:?}"),
        None => "non-IP".into(),
    };
    format!(
        "[{}] {} > {} {l4} ttl {}",
        o.point,
        ip(f.src),
        ip(f.dst),
        f.ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into())
    )
}

pub async fn run(a: CaptureArgs) -> anyhow::Result<i32> {
    let points: Vec<Point> = a
        .points
        .iter()
        .map(|p| Point::parse(p).ok_or_else(|| UsageError(format!("--point {p:?}: expected NAME=IFACE or NAME=IFACE@NETNS"))))
        .collect::<Result<_, _>>()?;
    // With --validate, everything the pipeline needs is read before capturing starts.
    let views = if a.validate {
        Some(super::explain::validation_views(&a.db).await?)
    } else {
        None
    };
    let nb = match &views {
        Some(v) => v.nb.clone(),
        None => match load_all(&a.db, &nb_specs).await {
            Ok(l) => Views::from_loaded(&l).nb,
            Err(e) if e.is::<NoDatabase>() => {
                eprintln!("note: no Northbound database to name the OVN objects; give --nb-db for that");
                None
            }
            Err(e) => return Err(e),
        },
    };
    let duration = a
        .duration
        .map(Duration::from_secs_f64)
        .or(if a.count.is_none() { Some(Duration::from_secs(10)) } else { None });
    let (count, filter, pts) = (a.count, a.filter.clone(), points.clone());
    let captured = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<live::Captured>> {
        let mut s = live::start(&pts, filter.as_deref())?;
        eprintln!(
            "capturing on {} point(s){}…",
            pts.len(),
            duration.map(|d| format!(" for {:.1} s", d.as_secs_f64())).unwrap_or_default()
        );
        let start = Instant::now();
        let mut got = vec![];
        loop {
            if count.is_some_and(|c| got.len() >= c) || duration.is_some_and(|d| start.elapsed() >= d) {
                break;
            }
            let wait = duration
                .map(|d| d.saturating_sub(start.elapsed()))
                .unwrap_or(Duration::from_millis(200))
                .min(Duration::from_millis(200));
            match s.rx.recv_timeout(wait) {
                Ok(Ok(c)) => {
                    eprintln!("{:>5} {}", got.len() + 1, one_line(&c.obs));
                    got.push(c);
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        s.stop();
        Ok(got)
    })
    .await??;
    let names: Vec<String> = points.iter().map(|p| p.name.clone()).collect();
    let observations: Vec<_> = captured.iter().map(|c| c.obs.clone()).collect();
    let checks = match &views {
        Some(v) => Some(super::explain::validation(&names, &observations, v)?),
        None => None,
    };
    let (out, explained) = super::explain::report(&names, observations, nb.as_ref(), a.format, checks.as_deref())?;
    if let Some(path) = &a.write {
        let mut what: BTreeMap<(String, usize), String> = BTreeMap::new();
        for e in &explained {
            for r in e.rows.iter().filter(|r| r.seen) {
                what.insert(
                    (r.point.clone(), r.number.unwrap_or(0)),
                    format!(
                        "ovnscope: {} ({}) at {}: {}",
                        e.key.what,
                        if e.key.forward { "forward" } else { "reply" },
                        r.point,
                        r.what
                    ),
                );
            }
        }
        let packets: Vec<_> = captured
            .iter()
            .map(|c| {
                (
                    c.point,
                    c.obs.ts,
                    c.data.clone(),
                    what.get(&(c.obs.point.clone(), c.obs.number)).cloned().unwrap_or_default(),
                )
            })
            .collect();
        live::write_pcapng(path, &points, &packets).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {} packets to {}", packets.len(), path.display());
    }
    super::print(&out)?;
    Ok(checks.as_deref().map_or(exit::OK, super::explain::validation_exit))
}
