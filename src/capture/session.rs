//! One live capture run: start every point, collect packets until the count or the duration
//! is reached, report each as it arrives, stop exactly what was started.

use super::correlate::inner;
use super::decode::{Observation, L4};
use super::live::{self, Captured, LiveError, Point, PointStats};
use std::time::{Duration, Instant};

/// When a run stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// After this many packets in all (across points).
    pub count: Option<usize>,
    /// After this long.
    pub duration: Option<Duration>,
}

/// What a run captured, and what libpcap counted at each point.
pub struct Run {
    pub packets: Vec<Captured>,
    pub stats: Vec<PointStats>,
}

/// Captures at `points` until `limits`; `on_packet` sees each packet as it arrives (its
/// running number from 1), `on_start` once every point listens.
pub fn run(
    points: &[Point],
    filter: Option<&str>,
    limits: Limits,
    on_start: &mut dyn FnMut(),
    on_packet: &mut dyn FnMut(usize, &Captured),
) -> Result<Run, LiveError> {
    let mut s = live::start(points, filter)?;
    on_start();
    let start = Instant::now();
    let mut got: Vec<Captured> = vec![];
    loop {
        if limits.count.is_some_and(|c| got.len() >= c) || limits.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let wait = limits
            .duration
            .map(|d| d.saturating_sub(start.elapsed()))
            .unwrap_or(Duration::from_millis(200))
            .min(Duration::from_millis(200));
        match s.rx.recv_timeout(wait) {
            Ok(Ok(c)) => {
                on_packet(got.len() + 1, &c);
                got.push(c);
            }
            Ok(Err(e)) => {
                s.stop();
                return Err(e);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let stats = s.stop();
    // Packets that arrived between the last look and the stop are kept too.
    while let Ok(Ok(c)) = s.rx.try_recv() {
        if limits.count.is_some_and(|n| got.len() >= n) {
            break;
        }
        on_packet(got.len() + 1, &c);
        got.push(c);
    }
    Ok(Run { packets: got, stats })
}

/// libpcap's counts per point, one line each, for standard error.
pub fn stats_text(stats: &[PointStats]) -> String {
    let mut s = String::new();
    for p in stats {
        s += &format!(
            "  {}: {} captured; libpcap: {} received, {} dropped (buffer full), {} dropped by the interface\n",
            p.point, p.captured, p.received, p.dropped, p.if_dropped
        );
    }
    s
}

/// One line per packet for progress: `[point] src > dst proto … ttl N`.
pub fn one_line(o: &Observation) -> String {
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
