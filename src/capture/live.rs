//! Live capture on several interfaces at once. Each point is captured by tcpdump (libpcap),
//! started inside the point's network namespace with `ip netns exec` when one is named, writing
//! pcap to a pipe that is decoded as it arrives. Using tcpdump keeps namespace switching and
//! capture privileges where admins already expect them, and needs no unsafe code here.

use super::decode::{decode_or_blank, Observation};
use pcap_file::pcap::PcapReader;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
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
    #[error("cannot start tcpdump for point {point}: {io}; install tcpdump and run as root (capture needs CAP_NET_RAW)")]
    Spawn { point: String, io: std::io::Error },
    #[error("capture on {point} failed: {msg}")]
    Capture { point: String, msg: String },
}

/// Running captures; stopping kills exactly the tcpdump processes started here, by PID.
pub struct Session {
    children: Vec<Child>,
    pub rx: mpsc::Receiver<Result<Captured, LiveError>>,
}

/// Starts one tcpdump per point. Returns once every one reports that it is listening.
pub fn start(points: &[Point], filter: Option<&str>) -> Result<Session, LiveError> {
    let (tx, rx) = mpsc::channel();
    let mut children = vec![];
    for (i, p) in points.iter().enumerate() {
        let mut cmd = match &p.netns {
            // A namespace known only by a path (a pod's, through one of its processes).
            Some(ns) if ns.contains('/') => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={ns}")).arg("tcpdump");
                c
            }
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "tcpdump"]);
                c
            }
            None => Command::new("tcpdump"),
        };
        cmd.args(["-U", "-n", "-i", &p.iface, "-w", "-"]);
        if let Some(f) = filter {
            cmd.arg(f);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|io| LiveError::Spawn { point: p.name.clone(), io })?;
        // tcpdump says "listening on …" on stderr when the capture is armed, or why not.
        let stderr = child.stderr.take().expect("piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut r = std::io::BufReader::new(stderr);
            let mut line = String::new();
            let mut sent = false;
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if !sent && (line.contains("listening on") || line.contains("tcpdump:") || line.contains("Cannot")) {
                    let _ = ready_tx.send(line.trim().to_string());
                    sent = line.contains("listening on");
                    if !sent {
                        break;
                    }
                }
                line.clear();
            }
            if !sent {
                let _ = ready_tx.send(line.trim().to_string());
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) if l.contains("listening on") => {}
            Ok(l) => {
                let _ = child.kill();
                return Err(LiveError::Capture {
                    point: p.name.clone(),
                    msg: if l.is_empty() { "tcpdump exited".into() } else { l },
                });
            }
            Err(_) => {
                let _ = child.kill();
                return Err(LiveError::Capture {
                    point: p.name.clone(),
                    msg: "tcpdump did not start within 10 s".into(),
                });
            }
        }
        let stdout = child.stdout.take().expect("piped");
        let tx = tx.clone();
        let name = p.name.clone();
        std::thread::spawn(move || {
            let mut r = match PcapReader::new(stdout) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(LiveError::Capture {
                        point: name,
                        msg: e.to_string(),
                    }));
                    return;
                }
            };
            let mut n = 0;
            while let Some(pkt) = r.next_packet() {
                let Ok(pkt) = pkt else { break };
                n += 1;
                let frame = decode_or_blank(&pkt.data);
                let obs = Observation {
                    point: name.clone(),
                    ts: pkt.timestamp,
                    number: n,
                    frame,
                };
                if tx
                    .send(Ok(Captured {
                        point: i,
                        obs,
                        data: pkt.data.into_owned(),
                    }))
                    .is_err()
                {
                    break;
                }
            }
        });
        children.push(child);
    }
    Ok(Session { children, rx })
}

impl Session {
    /// Stops every capture this session started.
    pub fn stop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
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
