//! Cluster-wide questions on a generated interconnect cluster (`scripts/ic-scale.sh`: one
//! real ovsdb-server per zone, 110 pods each), against what admins run today: a loop of
//! `ovn-nbctl` over the zones' sockets. Both sides are whole processes started from a shell in
//! the same run; the servers are up before timing starts and stay up. For 5, 10 and 30 zones:
//!
//! - "which zone holds IP X and which NAT rule applies": `ovnscope nat --cluster F --ip X`
//!   (zones read in parallel) vs `for each zone: ovn-nbctl find NAT logical_ip=X`;
//! - the whole cluster's logical topology: `ovnscope topology --cluster F --view logical -f json`
//!   vs `for each zone: ovn-nbctl show`.
//!
//! Prints the median of 9 runs of each and the ratio. Only under `cargo bench --bench zones`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

fn median(cmd: &str) -> Duration {
    let mut v: Vec<Duration> = (0..9)
        .map(|_| {
            let t = Instant::now();
            let o = sh(cmd);
            let d = t.elapsed();
            assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
            d
        })
        .collect();
    v.sort();
    v[4]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("skipped: the zone benchmark runs only under `cargo bench --bench zones`");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ic-scale.sh");
    let out = Command::new(&script).args(["up", "30", "110"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let all = std::fs::read_to_string(format!("{dir}/cluster")).unwrap();
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    println!("zones  question                         ovnscope     ovn-nbctl loop   ratio (loop / ovnscope)");
    for n in [5usize, 10, 30] {
        let lines: Vec<&str> = all.lines().filter(|l| !l.starts_with('#')).take(n).collect();
        let file = format!("{dir}/cluster-{n}");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let socks: Vec<String> = lines
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap().trim_start_matches("nb=").to_string())
            .collect();
        // A pod of the last zone: the worst case for a zone-by-zone search.
        let ip = format!("10.{}.{}.10", 128 + (n * 2) / 256, (n * 2) % 256);
        // Same answer on both sides.
        let ours = sh(&format!("{bin} nat --cluster {file} --ip {ip} -f json"));
        assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
        let ours: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
        let loop_nat = socks
            .iter()
            .map(|s| format!("ovn-nbctl --db={s} --bare --columns=_uuid find NAT logical_ip={ip}"))
            .collect::<Vec<_>>()
            .join("; ");
        let theirs = String::from_utf8(sh(&loop_nat).stdout).unwrap();
        assert_eq!(theirs.trim(), ours["applies"]["uuid"].as_str().unwrap(), "zones {n}");
        let loop_show = socks
            .iter()
            .map(|s| format!("ovn-nbctl --db={s} show >/dev/null"))
            .collect::<Vec<_>>()
            .join("; ");
        for (what, a, b) in [
            (
                "which zone + NAT rule for an IP",
                format!("{bin} nat --cluster {file} --ip {ip} >/dev/null"),
                loop_nat.clone() + " >/dev/null",
            ),
            (
                "whole logical topology",
                format!("{bin} topology --cluster {file} --view logical -f json >/dev/null"),
                loop_show,
            ),
        ] {
            let (x, y) = (median(&a), median(&b));
            println!(
                "{n:>5}  {what:<32} {:>8.1} ms  {:>10.1} ms      {:.2}x",
                x.as_secs_f64() * 1e3,
                y.as_secs_f64() * 1e3,
                y.as_secs_f64() / x.as_secs_f64()
            );
        }
    }
}
