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
//! Each question is also asked through `ovnscope serve` (one per zone, started before timing
//! like the ovsdb-servers, answering from its cache): `--cluster` naming the serves instead of
//! the sockets. So three columns: the zones read afresh, the serves' caches, the C-tool loop
//! (the lower bound of the exec-per-node loop `ovnkube-trace` runs through the API).
//!
//! Prints the median of 9 runs of each and the ratios. Only under `cargo bench --bench zones`.

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

// The serves are killed and waited for at the end (clippy cannot follow them there).
#[allow(clippy::zombie_processes)]
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
    let zone_lines: Vec<&str> = all.lines().filter(|l| !l.starts_with('#')).collect();
    // One serve per zone, each reading that zone's Northbound.
    let mut serves: Vec<(std::process::Child, String)> = zone_lines
        .iter()
        .map(|l| {
            let nb = l.split_whitespace().nth(1).unwrap().trim_start_matches("nb=");
            let mut c = Command::new(bin)
                .args(["serve", "--listen", "127.0.0.1:0", "--nb-db", nb])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut err = std::io::BufReader::new(c.stderr.take().unwrap());
            let mut line = String::new();
            loop {
                line.clear();
                assert!(std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0, "serve did not start");
                if let Some(u) = line.trim().strip_prefix("ovnscope serve: listening on ") {
                    let u = u.to_string();
                    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
                    break (c, u);
                }
            }
        })
        .collect();
    println!("zones  question                         afresh       serve cache   ovn-nbctl loop   loop/serve  afresh/serve");
    for n in [5usize, 10, 30] {
        let lines: Vec<&str> = zone_lines.iter().copied().take(n).collect();
        let file = format!("{dir}/cluster-{n}");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let via = format!("{dir}/cluster-serve-{n}");
        let text: String = lines
            .iter()
            .zip(&serves)
            .map(|(l, (_, u))| format!("{} serve={u}\n", l.split_whitespace().next().unwrap()))
            .collect();
        std::fs::write(&via, text).unwrap();
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
        // The serves answer exactly what the zones answer.
        for q in [format!("nat --ip {ip} -f json"), "topology --view logical -f json".to_string()] {
            let a = sh(&format!("{bin} {q} --cluster {file}"));
            let b = sh(&format!("{bin} {q} --cluster {via}"));
            assert!(a.status.success() && a.stdout == b.stdout, "{q}: serve and zones differ");
        }
        for (what, a, b) in [
            (
                "which zone + NAT rule for an IP",
                format!("nat --ip {ip}"),
                loop_nat.clone() + " >/dev/null",
            ),
            ("whole logical topology", "topology --view logical -f json".to_string(), loop_show),
        ] {
            let fresh = median(&format!("{bin} {a} --cluster {file} >/dev/null"));
            let cache = median(&format!("{bin} {a} --cluster {via} >/dev/null"));
            let tools = median(&b);
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "{n:>5}  {what:<32} {:>8.1} ms  {:>8.1} ms  {:>10.1} ms      {:>6.2}x  {:>8.2}x",
                ms(fresh),
                ms(cache),
                ms(tools),
                tools.as_secs_f64() / cache.as_secs_f64(),
                fresh.as_secs_f64() / cache.as_secs_f64()
            );
        }
    }
    for (c, _) in &mut serves {
        let _ = c.kill();
        let _ = c.wait();
    }
}
