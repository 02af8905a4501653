//! `ovnscope capture`: live capture at several points, explained as packets arrive, with a
//! pcapng that carries one interface per point and each packet's explanation as a comment.

use super::dbopts::DbArgs;
use super::{Failure, Format, Outcome, UsageError};
use crate::capture::live::{self, Point};
use crate::capture::session::{self, Limits};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

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

pub async fn run(a: CaptureArgs) -> Result<Outcome, Failure> {
    let points: Vec<Point> = a
        .points
        .iter()
        .map(|p| Point::parse(p).ok_or_else(|| UsageError(format!("--point {p:?}: expected NAME=IFACE or NAME=IFACE@NETNS"))))
        .collect::<Result<_, _>>()?;
    // Everything the report (and the pipeline, with --validate) needs is read before capturing.
    let names = super::explain::report_names(&a.db, a.validate).await?;
    let limits = Limits {
        count: a.count,
        duration: a
            .duration
            .map(Duration::from_secs_f64)
            .or(if a.count.is_none() { Some(Duration::from_secs(10)) } else { None }),
    };
    let (filter, pts) = (a.filter.clone(), points.clone());
    let captured = tokio::task::spawn_blocking(move || {
        let announce = || {
            eprintln!(
                "capturing on {} point(s){}…",
                pts.len(),
                limits
                    .duration
                    .map(|d| format!(" for {:.1} s", d.as_secs_f64()))
                    .unwrap_or_default()
            )
        };
        session::run(&pts, filter.as_deref(), limits, &mut { announce }, &mut |n, c| {
            eprintln!("{n:>5} {}", session::one_line(&c.obs))
        })
    })
    .await??;
    let point_names: Vec<String> = points.iter().map(|p| p.name.clone()).collect();
    let observations: Vec<_> = captured.iter().map(|c| c.obs.clone()).collect();
    let (outcome, report) = super::explain::answer(&point_names, observations, &names, a.validate, a.format)?;
    if let Some(path) = &a.write {
        let what = report.comments();
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
        live::write_pcapng(path, &points, &packets)
            .map_err(|e| Failure::Unreachable(anyhow::anyhow!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {} packets to {}", packets.len(), path.display());
    }
    Ok(outcome)
}
