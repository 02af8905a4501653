//! `ovnscope explain`: recorded captures explained hop by hop.

use super::dbopts::{load_all, load_zones, DbArgs};
use super::{Failure, Format, Outcome, UsageError};
use crate::capture::decode::Observation;
use crate::capture::file;
use crate::db::nb::NbDb;
use crate::db::{views, Conditions, Views};
use crate::trace::connections;
use crate::trace::report::{self, Report};
use crate::wire;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// A capture file and where it was taken, in path order (the direction of the first packet):
    /// an OVS interface name, pod:NS/NAME for a pod's eth0, or any label for a point outside OVN
    /// (e.g. bastion-in=bastion-eth1.pcap). pcap or pcapng, Ethernet.
    #[arg(long = "capture", value_name = "POINT=FILE", required = true)]
    pub captures: Vec<String>,
    /// Also run each packet through the Southbound logical flows from the first capture point
    /// at a logical port (pod:NS/NAME, or the pod's host veth with --ovs-db), and compare what
    /// the pipeline sends out with what the next capture point saw; a disagreement names the
    /// logical flow behind the expected value. Needs --nb-db and --sb-db.
    #[arg(long)]
    pub validate: bool,
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// What names the OVN objects in a report: one zone's databases, or each zone's Northbound.
pub enum Names {
    Zone(Box<Views>),
    Cluster(Vec<(String, Views)>),
}

/// The databases a report needs: with `validate`, the Northbound, the Southbound with its
/// logical flows, and the Open_vSwitch one if given (to tie host veths to ports); without,
/// the Northbound if there is one (it names NAT rules and router ports; without one the
/// changes are still shown) — of every zone, for a cluster.
pub async fn report_names(db: &DbArgs, validate: bool) -> Result<Names, Failure> {
    let tables = if validate { views::with_pipeline } else { views::northbound };
    if let Some(zones) = load_zones(db, &tables, &|_| Conditions::new()).await? {
        let zones: Vec<(String, Views)> = zones.into_iter().map(|z| (z.name, Views::from_loaded(&z.loaded))).collect();
        for (z, v) in &zones {
            let w: Vec<String> = v.warnings.iter().map(|w| format!("zone {z}: {w}")).collect();
            super::warn(&w);
            if validate && (v.nb.is_none() || v.sb.is_none()) {
                return Err(UsageError(format!("--validate needs every zone's nb= and sb= (zone {z} lacks one)")).into());
            }
        }
        return Ok(Names::Cluster(zones));
    }
    if validate {
        let views = Views::from_loaded(&load_all(db, &views::with_pipeline).await?);
        super::warn(&views.warnings);
        if views.nb.is_none() || views.sb.is_none() {
            return Err(UsageError("--validate needs the Northbound and Southbound databases (--nb-db, --sb-db)".into()).into());
        }
        return Ok(Names::Zone(Box::new(views)));
    }
    match load_all(db, &views::northbound).await {
        Ok(l) => Ok(Names::Zone(Box::new(Views::from_loaded(&l)))),
        Err(Failure::Unreachable(e)) if e.is::<super::dbopts::NoDatabase>() => {
            eprintln!("note: no Northbound database to name the OVN objects; give --nb-db (a live server or file:) for that");
            Ok(Names::Zone(Box::new(Views::from_loaded(&[]))))
        }
        Err(e) => Err(e),
    }
}

/// The report on `observations` at `points`, validated against the flows when asked; the
/// answer is "no" when a packet disagrees with them.
pub fn answer(
    points: &[String],
    observations: Vec<Observation>,
    names: &Names,
    validate: bool,
    format: Format,
    conntrack: &[connections::Table],
) -> Result<(Outcome, Report), Failure> {
    let mut r = match names {
        Names::Zone(views) => {
            let validation = match (validate, views.nb.as_ref(), views.sb.as_ref()) {
                (true, Some(nb), Some(sb)) => Some(report::validation(points, &observations, nb, sb, views.ovs.as_ref())?),
                _ => None,
            };
            Report::build(points, observations, views.nb.as_ref(), validation)
        }
        Names::Cluster(zones) => {
            let refs: Vec<(String, &NbDb)> = zones.iter().filter_map(|(z, v)| Some((z.clone(), v.nb.as_ref()?))).collect();
            let validation = match validate {
                true => {
                    let dbs: Vec<report::ZoneDbs> = zones
                        .iter()
                        .filter_map(|(z, v)| {
                            Some(report::ZoneDbs {
                                name: z,
                                nb: v.nb.as_ref()?,
                                sb: v.sb.as_ref()?,
                                ovs: v.ovs.as_ref(),
                            })
                        })
                        .collect();
                    Some(report::validation_zones(points, &observations, &dbs)?)
                }
                false => None,
            };
            Report::build_zones(points, observations, &refs, validation)
        }
    };
    connections::cite(&mut r.packets, conntrack);
    let output = render(&r, format)?;
    let outcome = if r.disagrees() {
        Outcome::No { output, reason: None }
    } else {
        Outcome::Answer(output)
    };
    Ok((outcome, r))
}

fn render(r: &Report, format: Format) -> Result<String, Failure> {
    for u in &r.unknown_points {
        eprintln!("note: capture point {u} names no pod in the Northbound database; its rows are shown, but no OVN object is tied to it");
    }
    Ok(match format {
        Format::Json => wire::pretty(&wire::explain::Report::from(r))?,
        Format::Text => r.to_text(),
    })
}

pub async fn run(a: ExplainArgs) -> Result<Outcome, Failure> {
    let mut points: Vec<String> = vec![];
    let mut observations = vec![];
    for c in &a.captures {
        let (point, path) = c
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--capture {c:?}: expected POINT=FILE")))?;
        if points.iter().any(|p| p == point) {
            return Err(UsageError(format!("--capture: point {point} given twice")).into());
        }
        let path = PathBuf::from(path);
        let p = point.to_string();
        observations.extend(tokio::task::spawn_blocking(move || file::read(&path, &p)).await??);
        points.push(point.to_string());
    }
    let names = report_names(&a.db, a.validate).await?;
    // Recorded captures: the tables' entries now would not be the ones of then.
    Ok(answer(&points, observations, &names, a.validate, a.format, &[])?.0)
}
