//! `ovnscope trace --lflows` against `ovn-trace` on the same Southbound, in one run: the same
//! question ("which path and which logical flows does this pod's packet to the internet
//! take?") asked of the lab, each as a whole process. ovnscope also reads the Open_vSwitch and
//! Northbound databases and names the physical hops; ovn-trace prints every table step.
//! The lab is this bench's own (prefix ovnb, ports 26641/26642), brought up and down here.
//! Only under `cargo bench --bench trace`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn lab(verb: &str) -> Output {
    let out = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab/ovnlab"))
        .arg(verb)
        .envs([
            ("OVNLAB_DIR", "/tmp/ovnscope-bench-lab"),
            ("OVNLAB_PREFIX", "ovnb"),
            ("OVNLAB_NB_PORT", "26641"),
            ("OVNLAB_SB_PORT", "26642"),
        ])
        .output()
        .expect("run lab/ovnlab");
    assert!(out.status.success(), "lab/ovnlab {verb}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn bench(c: &mut Criterion) {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("skipped: the trace benchmark runs only under `cargo bench --bench trace`");
        return;
    }
    lab("up");
    let dir = "/tmp/ovnscope-bench-lab";
    let (ovs, nb, sb) = (
        format!("unix:{dir}/ovs/db.sock"),
        format!("unix:{dir}/ovn/ovnnb_db.sock"),
        format!("unix:{dir}/ovn/ovnsb_db.sock"),
    );
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    let ours = || {
        let out = Command::new(bin)
            .args(["trace", "--ovs-db", &ovs, "--nb-db", &nb, "--sb-db", &sb])
            .args([
                "--from",
                "network-trace/nettools-dual-pod",
                "--to",
                "203.0.113.8",
                "--lflows",
                "-f",
                "json",
            ])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout.len() > 100);
    };
    let flow = "inport==\"network-trace_nettools-dual-pod\" && eth.src==0a:58:0a:80:02:2b && eth.dst==0a:58:0a:80:02:01 && ip4.src==10.128.2.43 && ip4.dst==203.0.113.8 && ip.ttl==64 && icmp4.type==8 && icmp4.code==0";
    let theirs = || {
        let out = Command::new("ovn-trace")
            .args([&format!("--db={sb}"), "worker-1", flow])
            .output()
            .unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("lr_out_snat"));
    };
    // Both must work before they are timed.
    ours();
    theirs();
    let mut g = c.benchmark_group("trace_pod_to_internet");
    g.sample_size(20);
    g.bench_function("ovnscope_trace_lflows", |b| b.iter(ours));
    g.bench_function("ovn_trace", |b| b.iter(theirs));
    g.finish();
    lab("down");
}

criterion_group!(benches, bench);
criterion_main!(benches);
