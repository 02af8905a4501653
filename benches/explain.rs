//! `ovnscope explain` on a large capture against `tcpdump -nn -r FILE > /dev/null` on the same
//! file, in one run: packets per second. The capture is 200,000 ICMP echo requests and replies
//! (distinct id/seq), written once to /tmp; explain reads, decodes, correlates and explains
//! every packet (no database, so no OVN names), tcpdump decodes and prints every packet.
//! Only under `cargo bench --bench explain`.

#[path = "support/ratio.rs"]
mod ratio;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use std::process::{Command, Stdio};
use std::time::Duration;

const PACKETS: usize = 200_000;

fn make(path: &std::path::Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::with_header(
        f,
        PcapHeader {
            datalink: pcap_file::DataLink::ETHERNET,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..PACKETS {
        let (id, seq) = ((i / 65536) as u16 + 1, (i % 65536) as u16);
        let request = i % 2 == 0;
        let mut v = vec![];
        let b = etherparse::PacketBuilder::ethernet2([0x0a, 0x58, 0x0a, 0x80, 0x02, 0x2b], [0x0a, 0x58, 0x0a, 0x80, 0x02, 0x01]);
        if request {
            b.ipv4([10, 128, 2, 43], [203, 0, 113, 8], 64)
                .icmpv4_echo_request(id, seq / 2)
                .write(&mut v, &[0u8; 56])
                .unwrap();
        } else {
            b.ipv4([203, 0, 113, 8], [10, 128, 2, 43], 61)
                .icmpv4_echo_reply(id, seq / 2)
                .write(&mut v, &[0u8; 56])
                .unwrap();
        }
        w.write_packet(&PcapPacket::new(Duration::from_micros(i as u64), v.len() as u32, &v))
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("skipped: the explain benchmark runs only under `cargo bench --bench explain`");
        return;
    }
    let path = std::path::PathBuf::from("/tmp/ovnscope-bench-explain.pcap");
    if !path.exists() {
        make(&path);
    }
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    let capture = format!("pod={}", path.display());
    let mut g = c.benchmark_group("explain_200k_packets");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PACKETS as u64));
    g.bench_function("ovnscope_explain", |b| {
        b.iter(|| {
            // No database: the default sockets are absent, so explain runs without OVN names.
            let st = Command::new(bin)
                .args(["explain", "--capture", &capture])
                .env_remove("OVN_NB_DB")
                .env_remove("OVN_RUNDIR")
                .env_remove("OVS_RUNDIR")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        })
    });
    g.bench_function("tcpdump_-nn_-r", |b| {
        b.iter(|| {
            assert!(Command::new("tcpdump")
                .args(["-nn", "-r"])
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success())
        })
    });
    g.finish();
    ratio::report("explain_200k_packets", &[("ovnscope_explain", "tcpdump_-nn_-r")]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
