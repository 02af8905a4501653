//! `ovnscope nat` on a large generated cluster, against what admins run today, in one run:
//! `ovn-nbctl lr-nat-list GR_<node> | grep <pod-ip>` and `ovn-nbctl find NAT logical_ip=<ip>`.
//!
//! The databases come from `../shared/tools/scale/scale-lab.sh build L 120 110` (13,200 pods,
//! 13,200 NAT rules, 79k logical flows), served by real ovsdb-servers. Set
//! `OVNSCOPE_SCALE=/path/to/SCALE/L` to use an existing build (its nb.sock/sb.sock must be up);
//! otherwise the bench builds one under /tmp/ovnscope-scale (about a minute). Only runs under
//! `cargo bench` (it is skipped when `cargo test` runs benches once as tests).

#[path = "support/scale.rs"]
mod scale;

#[path = "support/ratio.rs"]
mod ratio;

use criterion::{criterion_group, criterion_main, Criterion};
use std::process::Command;

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

fn bench(c: &mut Criterion) {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("skipped: the NAT benchmark runs only under `cargo bench --bench nat`");
        return;
    }
    let Some(d) = scale::scale_dir() else { return };
    let info = scale::info(&d);
    eprintln!("scale info: {info}");
    let s = |a: &str, b: &str| {
        info[a][b]
            .as_str()
            .unwrap_or_else(|| panic!("info.json has no {a}.{b}: {info}"))
            .to_string()
    };
    let (pod, ip, gr) = (s("pod0", "lsp"), s("pod0", "ip"), format!("GR_{}", s("pod0", "node")));
    let nb = format!("unix:{}", d.join("nb.sock").display());
    let sb = format!("unix:{}", d.join("sb.sock").display());
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    let ns_pod = pod.replacen('_', "/", 1);
    // The answer must be the same rule the C tools list.
    let ours = Command::new(bin)
        .args(["nat", "--nb-db", &nb, "--sb-db", &sb, "--pod", &ns_pod, "-f", "json"])
        .output()
        .unwrap();
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    let ours: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
    let listed = String::from_utf8(sh(&format!("ovn-nbctl --db={nb} --no-leader-only lr-nat-list {gr} | grep -wF {ip}")).stdout).unwrap();
    assert!(
        listed.contains(ours["applies"]["external_ip"].as_str().unwrap()),
        "{listed} vs {ours}"
    );
    let mut g = c.benchmark_group("nat_answer_13k_pods");
    g.sample_size(10);
    g.bench_function("ovnscope_nat_with_lflow_evidence", |b| {
        b.iter(|| {
            assert!(Command::new(bin)
                .args(["nat", "--nb-db", &nb, "--sb-db", &sb, "--pod", &ns_pod])
                .output()
                .unwrap()
                .status
                .success())
        })
    });
    g.bench_function("ovnscope_nat_nb_only", |b| {
        b.iter(|| {
            assert!(Command::new(bin)
                .args(["nat", "--nb-db", &nb, "--pod", &ns_pod])
                .output()
                .unwrap()
                .status
                .success())
        })
    });
    g.bench_function("ovnscope_nat_by_ip", |b| {
        b.iter(|| {
            assert!(Command::new(bin)
                .args(["nat", "--nb-db", &nb, "--sb-db", &sb, "--ip", &ip])
                .output()
                .unwrap()
                .status
                .success())
        })
    });
    g.bench_function("ovn-nbctl_lr-nat-list_grep", |b| {
        b.iter(|| {
            assert!(
                sh(&format!("ovn-nbctl --db={nb} --no-leader-only lr-nat-list {gr} | grep -wF {ip}"))
                    .status
                    .success()
            )
        })
    });
    g.bench_function("ovn-nbctl_find_NAT", |b| {
        b.iter(|| {
            assert!(sh(&format!(
                "ovn-nbctl --db={nb} --no-leader-only --bare --columns=_uuid,external_ip find NAT logical_ip={ip}"
            ))
            .status
            .success())
        })
    });
    // The floor: the one select that finds the rule, as a process (what any client pays).
    let q_nat = format!(r#"["OVN_Northbound",{{"op":"select","table":"NAT","where":[["logical_ip","==","{ip}"]]}}]"#);
    g.bench_function("ovsdb-client_one_select", |b| {
        b.iter(|| {
            assert!(Command::new("ovsdb-client")
                .args(["transact", &nb, &q_nat])
                .output()
                .unwrap()
                .status
                .success())
        })
    });
    g.finish();
    ratio::report(
        "nat_answer_13k_pods",
        &[
            ("ovnscope_nat_with_lflow_evidence", "ovn-nbctl_find_NAT"),
            ("ovnscope_nat_nb_only", "ovn-nbctl_find_NAT"),
            ("ovnscope_nat_by_ip", "ovn-nbctl_find_NAT"),
            ("ovnscope_nat_with_lflow_evidence", "ovn-nbctl_lr-nat-list_grep"),
            ("ovnscope_nat_nb_only", "ovsdb-client_one_select"),
            ("ovnscope_nat_with_lflow_evidence", "ovsdb-client_one_select"),
        ],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
