//! Reading pcap and pcapng files (pure Rust, so offline files need no libpcap).

use super::decode::{decode_or_blank, Observation};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open capture {path}: {io}")]
    Open { path: PathBuf, io: std::io::Error },
    #[error("{path} is not a pcap or pcapng file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: packet {number} is cut off or damaged ({reason}); the {number_before} packets before it were read — was the capture stopped mid-write? Re-capture, or cut the file with editcap")]
    Truncated {
        path: PathBuf,
        number: usize,
        number_before: usize,
        reason: String,
    },
    #[error("{path}: link type {link} is not supported; capture on a specific interface (Ethernet), not on \"any\"")]
    LinkType { path: PathBuf, link: String },
}

/// Reads every frame of a capture file as observations at `point`.
pub fn read(path: &Path, point: &str) -> Result<Vec<Observation>, CaptureError> {
    let mut f = std::fs::File::open(path).map_err(|io| CaptureError::Open { path: path.into(), io })?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic).map_err(|_| CaptureError::Format {
        path: path.into(),
        reason: "shorter than a file header".into(),
    })?;
    let f = std::fs::File::open(path).map_err(|io| CaptureError::Open { path: path.into(), io })?;
    let mut out = vec![];
    let push = |out: &mut Vec<Observation>, ts, data: &[u8]| {
        let number = out.len() + 1;
        let frame = decode_or_blank(data);
        out.push(Observation {
            point: point.into(),
            ts,
            number,
            frame,
        });
    };
    let truncated = |n: usize, e: pcap_file::PcapError| CaptureError::Truncated {
        path: path.into(),
        number: n + 1,
        number_before: n,
        reason: e.to_string(),
    };
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut r = PcapNgReader::new(f).map_err(|e| CaptureError::Format {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let mut links: Vec<DataLink> = vec![];
        while let Some(b) = r.next_block() {
            match b.map_err(|e| truncated(out.len(), e))? {
                Block::InterfaceDescription(i) => links.push(i.linktype),
                Block::EnhancedPacket(p) => {
                    let link = links.get(p.interface_id as usize).copied();
                    if link != Some(DataLink::ETHERNET) {
                        return Err(CaptureError::LinkType {
                            path: path.into(),
                            link: format!("{link:?}"),
                        });
                    }
                    push(&mut out, p.timestamp, &p.data);
                }
                Block::SimplePacket(p) => push(&mut out, std::time::Duration::ZERO, &p.data),
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(f).map_err(|e| CaptureError::Format {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let link = r.header().datalink;
        if link != DataLink::ETHERNET {
            return Err(CaptureError::LinkType {
                path: path.into(),
                link: format!("{link:?}"),
            });
        }
        while let Some(p) = r.next_packet() {
            let p = p.map_err(|e| truncated(out.len(), e))?;
            push(&mut out, p.timestamp, &p.data);
        }
    }
    Ok(out)
}
