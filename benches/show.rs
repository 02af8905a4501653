//! `ovnscope show` on the generated 13k-pod cluster (`benches/support/scale.rs`) against the C
//! pair admins run, `ovn-nbctl show` + `ovn-sbctl show`, and the Southbound alone against
//! `ovn-sbctl show`: whole processes from a shell, the servers up before timing, medians of 7,
//! with the ratio. Only under `cargo bench --bench show`.

#[path = "support/scale.rs"]
#[allow(dead_code)] // info() is for the benches that name a pod
mod scale;

use std::process::Command;
use std::time::{Duration, Instant};

fn median(cmd: &str) -> Duration {
    let mut v: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
            let d = t.elapsed();
            assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
            d
        })
        .collect();
    v.sort();
    v[3]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("skipped: the show benchmark runs only under `cargo bench --bench show`");
        return;
    }
    let Some(d) = scale::scale_dir() else { return };
    let nb = format!("unix:{}", d.join("nb.sock").display());
    let sb = format!("unix:{}", d.join("sb.sock").display());
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    println!("question            ovnscope    C tools    ratio (C / ovnscope)");
    for (what, ours, theirs) in [
        (
            "show (NB + SB)",
            format!("{bin} show --nb-db {nb} --sb-db {sb} >/dev/null"),
            format!("ovn-nbctl --db={nb} show >/dev/null; ovn-sbctl --db={sb} show >/dev/null"),
        ),
        (
            "show (SB only)",
            format!("{bin} show --sb-db {sb} >/dev/null"),
            format!("ovn-sbctl --db={sb} show >/dev/null"),
        ),
    ] {
        let (a, b) = (median(&ours), median(&theirs));
        println!(
            "{what:<18} {:>7.0} ms  {:>7.0} ms    {:.2}x",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
}
