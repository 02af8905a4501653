//! A hand-built Southbound for the executor's unit tests and the `pipeline` fuzz target.

use super::{Executor, Options, Trace};
use crate::db::sb::{Datapath, LogicalFlow, PortBinding, SbDb};
use uuid::Uuid;

/// A Southbound of two switches joined by a patch pair — `a` (ports p1, pa) and `b` (pb, p2) —
/// with the given flows (datapath, pipeline, table, priority, match, actions); stage names are
/// `<dp>_<pipeline>_<table>`. For tests and the fuzz target.
#[doc(hidden)]
pub fn two_switches(flows: &[(&str, &str, i64, i64, &str, &str)]) -> SbDb {
    let mut sb = SbDb::default();
    let dp = |n: u128| Uuid::from_u128(n);
    for (n, name) in [(1, "a"), (2, "b")] {
        sb.datapaths.insert(
            dp(n),
            Datapath {
                uuid: dp(n),
                tunnel_key: n as i64,
                external_ids: [("name".to_string(), name.to_string())].into(),
                nb_uuid: None,
                kind: None,
            },
        );
    }
    for (i, (name, d, kind, peer)) in [
        ("p1", 1, "", None),
        ("pa", 1, "patch", Some("pb")),
        ("pb", 2, "patch", Some("pa")),
        ("p2", 2, "", None),
    ]
    .into_iter()
    .enumerate()
    {
        let u = Uuid::from_u128(100 + i as u128);
        sb.port_bindings.insert(
            u,
            PortBinding {
                uuid: u,
                logical_port: name.into(),
                kind: kind.into(),
                datapath: Some(dp(d)),
                tunnel_key: i as i64 + 1,
                chassis: None,
                options: peer.map(|p| [("peer".to_string(), p.to_string())].into()).unwrap_or_default(),
                mac: vec![],
                parent_port: None,
                tag: None,
                up: None,
                external_ids: Default::default(),
                port_security: vec![],
            },
        );
    }
    for (i, (d, pipeline, table, prio, m, a)) in flows.iter().enumerate() {
        let u = Uuid::from_u128(1000 + i as u128);
        sb.logical_flows.insert(
            u,
            LogicalFlow {
                uuid: u,
                logical_datapath: Some(dp(if *d == "a" { 1 } else { 2 })),
                logical_dp_group: None,
                pipeline: pipeline.to_string(),
                table_id: *table,
                priority: *prio,
                match_: m.to_string(),
                actions: a.to_string(),
                external_ids: [("stage-name".to_string(), format!("{d}_{pipeline}_{table}"))].into(),
            },
        );
    }
    sb
}

/// A UDP packet from `p1` of [`two_switches`].
pub const PKT: &str = r#"inport == "p1" && ip4.src == 10.0.0.1 && ip4.dst == 10.0.0.2 && ip.ttl == 64 && udp.dst == 53"#;

/// Runs microflow `m` on `sb` (panics on a bad fixture: for tests only).
pub fn run(sb: &SbDb, opts: &Options, m: &str) -> Trace {
    let ex = Executor::new(sb, opts).expect("fixture options");
    ex.run(&ex.microflow(m).expect("fixture microflow")).expect("fixture inport")
}

/// [`two_switches`] where an IPv4 packet from `p1` is routed (TTL −1) across the patch pair and
/// delivered to `p2`.
pub fn crossing() -> SbDb {
    two_switches(&[
        ("a", "ingress", 0, 50, "ip4", r#"ip.ttl--; outport = "pa"; output;"#),
        ("a", "egress", 0, 0, "1", "output;"),
        ("b", "ingress", 0, 0, "1", r#"outport = "p2"; output;"#),
        ("b", "egress", 0, 0, "1", "output;"),
    ])
}
