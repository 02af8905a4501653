//! `ovnscope trace` against `ovn-trace` on the same Southbound, in one run, each as a whole
//! process:
//! - on the lab: the same microflow through the logical flows (`trace --microflow` vs
//!   `ovn-trace`, both the whole table-by-table run), and `trace --lflows` for the pod, which
//!   also reads the Open_vSwitch and Northbound databases and predicts the physical hops;
//! - on the real Northbound file with a Southbound our own ovn-northd computes (4.5k logical
//!   flows), the same microflow through both, when the file is here;
//! - on the generated 13k-pod cluster (79k logical flows, see support/scale.rs): a pod's
//!   packet to the internet, ovnscope reading only the datapaths it reaches, ovn-trace the
//!   whole Southbound.
//!
//! The lab is this bench's own (prefix ovnb, ports 26641/26642), brought up and down here.
//! Only under `cargo bench --bench trace`.

#[path = "../tests/lab/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../tests/support/generation.rs"]
#[allow(dead_code)]
mod generation;
#[path = "support/scale.rs"]
mod scale;

#[path = "support/ratio.rs"]
mod ratio;

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
            ("OVNLAB_SHAPE", "central"),
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
    let microflow = |sb: &str, flow: &str| {
        let out = Command::new(bin)
            .args(["trace", "--sb-db", sb, "--microflow", flow])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("verdict: output"));
    };
    // All must work before they are timed.
    ours();
    theirs();
    microflow(&sb, flow);
    let mut g = c.benchmark_group("trace_pod_to_internet");
    g.sample_size(20);
    g.bench_function("ovnscope_trace_microflow", |b| b.iter(|| microflow(&sb, flow)));
    g.bench_function("ovn_trace", |b| b.iter(theirs));
    g.bench_function("ovnscope_trace_lflows", |b| b.iter(ours));
    g.finish();
    ratio::report(
        "trace_pod_to_internet",
        &[("ovnscope_trace_microflow", "ovn_trace"), ("ovnscope_trace_lflows", "ovn_trace")],
    );
    lab("down");

    let real = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/neutron-ovnnb_db.db");
    if !real.exists() {
        eprintln!("skipped the real Northbound: {} is not here", real.display());
        return;
    }
    let nb = common::Served::new(&real);
    let sb = common::Served::empty_sb();
    let _northd = common::Northd::start(&nb, &sb);
    let st = Command::new("ovn-nbctl")
        .args([&format!("--db={}", nb.sock), "--wait=sb", "sync"])
        .status()
        .unwrap();
    assert!(st.success());
    let flow = "inport==\"04b8ea24-9c1b-4833-9833-b1fff5e08525\" && eth.src==fa:16:3e:d6:70:14 && eth.dst==fa:16:3e:e9:0e:68 && ip4.src==10.128.27.163 && ip4.dst==8.8.8.8 && ip.ttl==64 && tcp.src==40000 && tcp.dst==443 && tcp.flags==2";
    let theirs = || {
        let out = Command::new("ovn-trace")
            .args([&format!("--db={}", sb.sock), flow])
            .output()
            .unwrap();
        // No MAC binding for the next hop here: both end in the router's ARP request.
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("lr_in_arp_request"));
    };
    theirs();
    microflow(&sb.sock, flow);
    let mut g = c.benchmark_group("trace_real_nb");
    g.sample_size(10);
    g.bench_function("ovnscope_trace_microflow", |b| b.iter(|| microflow(&sb.sock, flow)));
    g.bench_function("ovn_trace", |b| b.iter(theirs));
    g.finish();
    ratio::report("trace_real_nb", &[("ovnscope_trace_microflow", "ovn_trace")]);

    let Some(d) = scale::scale_dir() else { return };
    let info = scale::info(&d);
    let s = |a: &str, b: &str| info[a][b].as_str().unwrap().to_string();
    let (sb, nb) = (
        format!("unix:{}", d.join("sb.sock").display()),
        format!("unix:{}", d.join("nb.sock").display()),
    );
    let out = Command::new("ovn-nbctl")
        .args([
            &format!("--db={nb}"),
            "--bare",
            "--columns=mac",
            "find",
            "Logical_Router_Port",
            &format!("name=rtos-{}", s("pod0", "node")),
        ])
        .output()
        .unwrap();
    let rmac = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let flow = format!(
        "inport==\"{}\" && eth.src=={} && eth.dst=={rmac} && ip4.src=={} && ip4.dst==203.0.113.8 && ip.ttl==64 && icmp4.type==8 && icmp4.code==0",
        s("pod0", "lsp"),
        s("pod0", "mac"),
        s("pod0", "ip")
    );
    let theirs = || {
        let out = Command::new("ovn-trace").args([&format!("--db={sb}"), &flow]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("lr_out_snat"));
    };
    let pod = s("pod0", "lsp").replacen('_', "/", 1);
    let from_args = [
        "trace",
        "--nb-db",
        &nb,
        "--sb-db",
        &sb,
        "--from",
        &pod,
        "--to",
        "203.0.113.8",
        "--lflows",
    ];
    let from = || {
        let out = Command::new(bin).args(from_args).stderr(Stdio::null()).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("lr_out_snat"));
    };
    microflow(&sb, &flow);
    theirs();
    from();
    // Peak memory, once each (criterion times only): GNU time's maximum resident set.
    let peak = |args: &[&str]| -> Option<u64> {
        let out = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%M")
            .args(args)
            .stdout(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stderr).lines().last()?.trim().parse().ok()
    };
    let ovn_trace_db = format!("--db={sb}");
    let peaks = [
        (
            "ovnscope trace --microflow",
            peak(&[bin, "trace", "--sb-db", &sb, "--microflow", &flow]),
        ),
        ("ovnscope trace --from --lflows", peak(&[&[bin][..], &from_args[..]].concat())),
        ("ovn-trace", peak(&["ovn-trace", &ovn_trace_db, &flow])),
    ];
    for (what, kb) in peaks {
        match kb {
            Some(kb) => println!("peak trace_13k_pods: {what}: {} MiB", kb / 1024),
            None => println!("peak trace_13k_pods: {what}: not measured (no /usr/bin/time)"),
        }
    }
    let mut g = c.benchmark_group("trace_13k_pods");
    g.sample_size(10);
    g.bench_function("ovnscope_trace_microflow", |b| b.iter(|| microflow(&sb, &flow)));
    g.bench_function("ovnscope_trace_from_lflows", |b| b.iter(from));
    g.bench_function("ovn_trace", |b| b.iter(theirs));
    g.finish();
    ratio::report(
        "trace_13k_pods",
        &[
            ("ovnscope_trace_microflow", "ovn_trace"),
            ("ovnscope_trace_from_lflows", "ovnscope_trace_microflow"),
        ],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
