//! Live capture on several interfaces at once, in process: libpcap (the `pcap` crate) opens
//! each point in a thread of its own that has joined the point's network namespace (`setns`
//! through nix), so no tcpdump is needed at run time and libpcap's drop counters are ours to
//! report. The unsafe FFI stays inside the pcap crate; this crate forbids unsafe code.

use super::decode::{decode_or_blank, Observation};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Where to capture: a name for the point, an interface, an optional network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub name: String,
    pub iface: String,
    pub netns: Option<String>,
}

impl Point {
    /// `NAME=IFACE[@NETNS]`.
    pub fn parse(s: &str) -> Option<Point> {
        let (name, rest) = s.split_once('=')?;
        let (iface, netns) = match rest.split_once('@') {
            Some((i, n)) => (i, Some(n.to_string())),
            None => (rest, None),
        };
        (!name.is_empty() && !iface.is_empty()).then(|| Point {
            name: name.into(),
            iface: iface.into(),
            netns,
        })
    }
}

/// A captured frame with its raw bytes (kept for the pcapng output).
pub struct Captured {
    pub point: usize,
    pub obs: Observation,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot capture at point {point}: {msg}")]
    Open { point: String, msg: String },
    #[error("capture on {point} failed: {msg}")]
    Capture { point: String, msg: String },
}

/// What libpcap counted at one point when it stopped (`pcap_stats`): so a packet "not seen"
/// is never a silent buffer overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointStats {
    pub point: String,
    /// Packets handed to ovnscope (after the filter).
    pub captured: u64,
    /// Packets the filter passed, as the kernel counted them (libpcap's `ps_recv`).
    pub received: u32,
    /// Dropped because the capture buffer was full (`ps_drop`).
    pub dropped: u32,
    /// Dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u32,
}

/// Running captures, one thread per point; stopping ends and joins exactly those threads.
pub struct Session {
    stop: Arc<AtomicBool>,
    /// libpcap's own way out of a blocking read (with TPACKET_V3 a read waits for packets, not
    /// for its timeout, so a quiet interface would never look at `stop`).
    breaks: Vec<pcap::BreakLoop>,
    threads: Vec<std::thread::JoinHandle<Option<PointStats>>>,
    pub rx: mpsc::Receiver<Result<Captured, LiveError>>,
}

/// How long a read waits before looking whether to stop.
const READ_TIMEOUT_MS: i32 = 100;
/// The kernel buffer per point (tcpdump's default is 2 MiB).
const BUFFER_BYTES: i32 = 8 << 20;

/// Opens one libpcap capture at `p`, inside its network namespace (this thread only).
fn open(p: &Point, filter: Option<&str>) -> Result<pcap::Capture<pcap::Active>, String> {
    if let Some(ns) = &p.netns {
        super::netns::open(ns).and_then(|h| h.enter()).map_err(|e| e.to_string())?;
    }
    let hint = |e: pcap::Error| {
        let m = e.to_string();
        let m = format!("interface {}: {m}", p.iface);
        if m.contains("ermission") || m.contains("not permitted") {
            format!("{m}; capture needs root (CAP_NET_RAW)")
        } else if m.contains("No such device") || m.contains("doesn't exist") {
            format!(
                "{m}; `ip{} link` lists the interfaces there",
                p.netns.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default()
            )
        } else {
            m
        }
    };
    let mut cap = pcap::Capture::from_device(p.iface.as_str())
        .map_err(hint)?
        .promisc(true)
        .snaplen(65535)
        .immediate_mode(true)
        .timeout(READ_TIMEOUT_MS)
        .buffer_size(BUFFER_BYTES)
        .open()
        .map_err(hint)?;
    if let Some(f) = filter {
        cap.filter(f, true).map_err(|e| format!("filter {f:?}: {e}"))?;
    }
    Ok(cap)
}

/// Starts one capture per point, in process with libpcap: each in a thread of its own that
/// joins the point's network namespace (named, or a `/proc/PID/ns/net` path), with the BPF
/// filter compiled by libpcap. Returns once every point is open; if one cannot be opened, the
/// others are stopped and the error names it.
pub fn start(points: &[Point], filter: Option<&str>) -> Result<Session, LiveError> {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let mut session = Session {
        stop: stop.clone(),
        breaks: vec![],
        threads: vec![],
        rx,
    };
    for (i, p) in points.iter().enumerate() {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (p, filter, tx, stop) = (p.clone(), filter.map(String::from), tx.clone(), stop.clone());
        session.threads.push(std::thread::spawn(move || {
            let mut cap = match open(&p, filter.as_deref()) {
                Ok(mut c) => {
                    let _ = ready_tx.send(Ok(c.breakloop_handle()));
                    c
                }
                Err(msg) => {
                    let _ = ready_tx.send(Err(LiveError::Open {
                        point: p.name.clone(),
                        msg,
                    }));
                    return None;
                }
            };
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                match cap.next_packet() {
                    Ok(pkt) => {
                        n += 1;
                        let ts = Duration::new(pkt.header.ts.tv_sec as u64, pkt.header.ts.tv_usec as u32 * 1000);
                        let obs = Observation {
                            point: p.name.clone(),
                            ts,
                            number: n,
                            frame: decode_or_blank(pkt.data),
                        };
                        let data = pkt.data.to_vec();
                        if tx.send(Ok(Captured { point: i, obs, data })).is_err() {
                            break;
                        }
                    }
                    Err(pcap::Error::TimeoutExpired) => {}
                    // pcap_breakloop: stop() asked.
                    Err(pcap::Error::NoMorePackets) => break,
                    Err(e) => {
                        let _ = tx.send(Err(LiveError::Capture {
                            point: p.name.clone(),
                            msg: e.to_string(),
                        }));
                        break;
                    }
                }
            }
            let st = cap.stats().ok()?;
            Some(PointStats {
                point: p.name.clone(),
                captured: n as u64,
                received: st.received,
                dropped: st.dropped,
                if_dropped: st.if_dropped,
            })
        }));
        match ready_rx.recv() {
            Ok(Ok(b)) => session.breaks.push(b),
            Ok(Err(e)) => {
                session.stop();
                return Err(e);
            }
            Err(_) => {
                session.stop();
                return Err(LiveError::Open {
                    point: points[i].name.clone(),
                    msg: "the capture thread ended before opening".into(),
                });
            }
        }
    }
    Ok(session)
}

impl Session {
    /// Stops every capture this session started; what libpcap counted at each point that ran.
    pub fn stop(&mut self) -> Vec<PointStats> {
        self.stop.store(true, Ordering::Relaxed);
        for b in self.breaks.drain(..) {
            b.breakloop();
        }
        self.threads.drain(..).filter_map(|t| t.join().ok().flatten()).collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes a pcapng with one interface per point and the explanation of each packet as its
/// comment, so Wireshark shows it.
pub fn write_pcapng(
    path: &std::path::Path,
    points: &[Point],
    packets: &[(usize, std::time::Duration, Vec<u8>, String)],
) -> std::io::Result<()> {
    use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
    use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
    use pcap_file::pcapng::PcapNgWriter;
    use std::borrow::Cow;
    let to_io = |e: pcap_file::PcapError| std::io::Error::other(e.to_string());
    let f = std::fs::File::create(path)?;
    let mut w = PcapNgWriter::new(f).map_err(to_io)?;
    for p in points {
        let mut idb = InterfaceDescriptionBlock::new(pcap_file::DataLink::ETHERNET, 0);
        idb.options.push(InterfaceDescriptionOption::IfName(Cow::Owned(p.name.clone())));
        let desc = format!(
            "{}{}",
            p.iface,
            p.netns.as_ref().map(|n| format!(" in netns {n}")).unwrap_or_default()
        );
        idb.options.push(InterfaceDescriptionOption::IfDescription(Cow::Owned(desc)));
        // pcap-file writes packet timestamps in nanoseconds: say so (the default is microseconds).
        idb.options.push(InterfaceDescriptionOption::IfTsResol(9));
        w.write_pcapng_block(idb).map_err(to_io)?;
    }
    for (point, ts, data, comment) in packets {
        let mut epb = EnhancedPacketBlock {
            interface_id: *point as u32,
            timestamp: *ts,
            original_len: data.len() as u32,
            data: Cow::Borrowed(data),
            options: vec![],
        };
        if !comment.is_empty() {
            epb.options.push(EnhancedPacketOption::Comment(Cow::Owned(comment.clone())));
        }
        w.write_pcapng_block(epb).map_err(to_io)?;
    }
    Ok(())
}
