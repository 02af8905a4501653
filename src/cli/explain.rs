//! `ovnscope explain`: recorded captures explained hop by hop.

use super::dbopts::{load_all, DbArgs, NoDatabase};
use super::topology::Views;
use super::{exit, Format, UsageError};
use crate::capture::{conversation, correlate, file};
use crate::db::{DbKind, TableSpec};
use crate::trace::explain;
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

fn specs(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Nb => crate::db::nb::TABLES.to_vec(),
        _ => vec![],
    }
}

/// The databases `--validate` needs (Northbound, Southbound with its logical flows, and the
/// Open_vSwitch one if given, to tie host veths to ports).
pub async fn validation_views(db: &DbArgs) -> anyhow::Result<Views> {
    let views = Views::from_loaded(&load_all(db, &validate_specs).await?);
    views.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
    if views.nb.is_none() || views.sb.is_none() {
        return Err(UsageError("--validate needs the Northbound and Southbound databases (--nb-db, --sb-db)".into()).into());
    }
    Ok(views)
}

/// Each captured packet against the logical flows (see `trace::validate`).
pub fn validation(
    points: &[String],
    observations: &[crate::capture::decode::Observation],
    views: &Views,
) -> anyhow::Result<Vec<crate::trace::validate::Validation>> {
    let (Some(nb), Some(sb)) = (views.nb.as_ref(), views.sb.as_ref()) else {
        return Err(UsageError("--validate needs the Northbound and Southbound databases".into()).into());
    };
    // A connection table across the packets, so replies are un-NATed as the forward packets
    // were NATed.
    let opts = crate::lflow::exec::Options {
        conntrack: true,
        ..Default::default()
    };
    let ex = crate::lflow::exec::Executor::new(sb, &opts)?;
    let journeys = crate::capture::correlate::correlate(points, observations.to_vec());
    Ok(crate::trace::validate::validate(&journeys, nb, views.ovs.as_ref(), &ex))
}

/// Exit 1 ("no") when any packet disagrees with the logical flows.
pub fn validation_exit(checks: &[crate::trace::validate::Validation]) -> i32 {
    if checks.iter().any(|c| c.status == "disagrees") {
        exit::NO
    } else {
        exit::OK
    }
}

fn validate_specs(kind: DbKind) -> Vec<TableSpec> {
    let mut v = super::topology::all_specs(kind);
    if kind == DbKind::Sb {
        v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
        v.extend_from_slice(crate::db::sb::PIPELINE);
    }
    v
}

pub async fn run(a: ExplainArgs) -> anyhow::Result<i32> {
    let mut points = vec![];
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
    if a.validate {
        let views = validation_views(&a.db).await?;
        let nb = views.nb.as_ref().expect("checked when loaded");
        let checks = validation(&points, &observations, &views)?;
        let (out, _) = report(&points, observations, Some(nb), a.format, Some(&checks))?;
        super::print(&out)?;
        return Ok(validation_exit(&checks));
    }
    // The Northbound explains NAT rules and router ports; without one the changes are still shown.
    let nb = match load_all(&a.db, &specs).await {
        Ok(l) => Views::from_loaded(&l).nb,
        Err(e) if e.is::<NoDatabase>() => {
            eprintln!("note: no Northbound database to name the OVN objects; give --nb-db (a live server or file:) for that");
            None
        }
        Err(e) => return Err(e),
    };
    let (out, _) = report(&points, observations, nb.as_ref(), a.format, None)?;
    super::print(&out)?;
    Ok(exit::OK)
}

/// The explanation of captured observations (shared by `explain` and `capture`): packets hop
/// by hop across the points, and the TCP conversations at the first point that saw any.
pub fn report(
    points: &[String],
    observations: Vec<crate::capture::decode::Observation>,
    nb: Option<&crate::db::nb::NbDb>,
    format: Format,
    validation: Option<&[crate::trace::validate::Validation]>,
) -> anyhow::Result<(String, Vec<explain::Explained>)> {
    let tcp_point = points.iter().find(|p| {
        observations.iter().any(|o| {
            &o.point == *p
                && matches!(
                    crate::capture::correlate::inner(&o.frame).l4,
                    Some(crate::capture::decode::L4::Tcp { .. })
                )
        })
    });
    let convs = tcp_point.map(|p| conversation::conversations(p, &observations)).unwrap_or_default();
    // A `pod:NS/NAME` point that names no pod in the Northbound is marked, not guessed at.
    let unknown: Vec<&String> = match nb {
        Some(nb) => points
            .iter()
            .filter(|p| {
                p.strip_prefix("pod:")
                    .map(|q| q.split('(').next().unwrap_or(q))
                    .is_some_and(|q| crate::topology::focus::find_port(nb, q).is_err())
            })
            .collect(),
        None => vec![],
    };
    for u in &unknown {
        eprintln!("note: capture point {u} names no pod in the Northbound database; its rows are shown, but no OVN object is tied to it");
    }
    let journeys = correlate::correlate(points, observations);
    let explained = explain::explain(&journeys, nb);
    let out = match format {
        Format::Json => {
            let mut j = serde_json::json!({"points": points, "unknown_points": unknown, "packets": explained, "conversations": convs});
            if let Some(v) = validation {
                j["validation"] = serde_json::to_value(v)?;
            }
            serde_json::to_string_pretty(&j)? + "\n"
        }
        Format::Text => {
            // With one capture point there is no hop to explain; the conversation says it all.
            let multi: Vec<explain::Explained> = explained.iter().filter(|e| e.rows.len() > 1).cloned().collect();
            let mut s = explain::to_text(&multi) + &conversation::to_text(&convs);
            if let Some(v) = validation {
                if !s.ends_with("\n\n") {
                    s.push('\n');
                }
                s += &crate::trace::validate::to_text(v);
            }
            s
        }
    };
    Ok((out, explained))
}
