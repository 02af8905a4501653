//! Live capture throughput: ovnscope's in-process libpcap capture and tcpdump on the same
//! interface at the same time, during a bounded burst in the lab (a flood ping of 20,000
//! echoes from pod1 to pod2 on the same node, through OVS: 40,000 frames at pod1's eth0).
//! Both capture the whole burst; the bench reports what each captured and what libpcap says
//! each dropped, and the ratio ovnscope/tcpdump (1.00 = kept up as well as tcpdump).
//!
//! Needs the demo lab up (`lab/ovnlab up`) and root. Only under `cargo bench --bench capture`.

use std::process::{Command, Stdio};
use std::time::Duration;

const ECHOES: u32 = 20_000;

fn number_before(text: &str, what: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_suffix(what).and_then(|n| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no `N {what}` in {text}"))
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("skipped: the capture benchmark runs only under `cargo bench --bench capture`");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(format!("{root}/lab/ovnlab")).arg("status").output().unwrap();
    if !status.status.success() || String::from_utf8_lossy(&status.stdout).contains("not running") {
        eprintln!("capture bench: the demo lab is not running; `lab/ovnlab up` first");
        return;
    }
    let prefix = std::env::var("OVNLAB_PREFIX").unwrap_or_else(|_| "ovnlab".into());
    let (ns, iface) = (format!("{prefix}-pod1"), "eth0");
    let exe = format!(
        "{}/release/ovnscope",
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"))
    );
    let build = Command::new("cargo")
        .args(["build", "--release", "--bin", "ovnscope"])
        .status()
        .unwrap();
    assert!(build.success());
    for run in 1..=3 {
        let dump = Command::new("ip")
            .args(["netns", "exec", &ns, "tcpdump", "-n", "-i", iface, "-w", "/dev/null", "icmp"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let ours = Command::new(&exe)
            .args([
                "capture",
                "--point",
                &format!("p={iface}@{ns}"),
                "--filter",
                "icmp",
                "--duration",
                "20",
                "-f",
                "json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let t = std::time::Instant::now();
        let ping = Command::new("ip")
            .args(["netns", "exec", &ns, "ping", "-q", "-f", "-c", &ECHOES.to_string(), "10.128.2.44"])
            .output()
            .unwrap();
        assert!(ping.status.success(), "{}", String::from_utf8_lossy(&ping.stderr));
        let rate = 2.0 * ECHOES as f64 / t.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_secs(1));
        assert!(Command::new("kill")
            .args(["-INT", &dump.id().to_string()])
            .status()
            .unwrap()
            .success());
        let o = dump.wait_with_output().unwrap();
        let theirs = String::from_utf8_lossy(&o.stderr).to_string();
        let o = ours.wait_with_output().unwrap();
        let mine = String::from_utf8_lossy(&o.stderr).to_string();
        let line = mine
            .lines()
            .find(|l| l.trim_start().starts_with("p: "))
            .unwrap_or_else(|| panic!("no libpcap counts: {}", &mine[mine.len().saturating_sub(500)..]))
            .to_string();
        let n = |s: &str| -> u64 { s.split_whitespace().find_map(|w| w.parse().ok()).unwrap() };
        let captured = n(&line);
        let dropped = n(line.split("received,").nth(1).unwrap());
        let t_captured = number_before(&theirs, "packets captured");
        let t_dropped = number_before(&theirs, "packets dropped by kernel");
        println!(
            "run {run}: {} echoes ({rate:.0} frames/s at the point) → ovnscope captured {captured} (libpcap dropped {dropped}), tcpdump captured {t_captured} (dropped {t_dropped}); ratio {:.3}",
            ECHOES,
            captured as f64 / t_captured as f64
        );
    }
}
