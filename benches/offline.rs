//! Offline replay of a database file versus what people do today: copy the file, start
//! ovsdb-server on it, `ovsdb-client dump`, stop the server. Same file, same run. Both as the
//! library reader in-process and as a whole `ovnscope show` process, so the ratio that counts
//! (process against processes) is in the same run.
//!
//! The server counts as stopped when it has exited (a zombie): on some machines PID 1 reaps
//! orphaned `--detach`ed daemons only about once a second, and waiting for `/proc/PID` to vanish
//! timed that reaper, not ovsdb-server (the anchor read a quantised 2.0 s).
//!
//! Uses the real Northbound file in `../shared/data/real/` (3.0 MB, 7,214 records); skipped
//! with a note when it is absent or ovsdb-server is not installed.

#[path = "support/ratio.rs"]
mod ratio;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use std::process::{Command, Stdio};

fn ovsdb_server_dump(file: &Path, dir: &Path) {
    let db = dir.join("b.db");
    std::fs::copy(file, &db).unwrap();
    let sock = dir.join("b.sock");
    let pidf = dir.join("b.pid");
    let st = Command::new("ovsdb-server")
        .arg(&db)
        .arg(format!("--remote=punix:{}", sock.display()))
        .arg(format!("--pidfile={}", pidf.display()))
        .arg(format!("--unixctl={}", dir.join("b.ctl").display()))
        .args(["-vconsole:off", "-vfile:off", "--detach", "--no-chdir"])
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new("ovsdb-client")
        .arg("dump")
        .arg(format!("unix:{}", sock.display()))
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success() && !out.stdout.is_empty());
    let pid: u32 = std::fs::read_to_string(&pidf).unwrap().trim().parse().unwrap();
    Command::new("kill").arg(pid.to_string()).status().unwrap();
    while running(pid) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Whether `pid` still runs: gone, or exited and waiting to be reaped (state `Z`), is not.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself hold spaces.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn bench(c: &mut Criterion) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/neutron-ovnnb_db.db");
    if !file.exists() || Command::new("ovsdb-server").arg("--version").output().is_err() {
        eprintln!("skipped: {} or ovsdb-server is missing", file.display());
        return;
    }
    let size = std::fs::metadata(&file).unwrap().len();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("replay_real_nb_3MB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size));
    g.bench_function("ovnscope_file_reader", |b| {
        b.iter(|| ovnscope::ovsdb::file::read_path(&file).unwrap())
    });
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    let db = format!("file:{}", file.display());
    g.bench_function("ovnscope_show_process", |b| {
        b.iter(|| {
            let out = Command::new(bin).args(["show", "--nb-db", &db]).output().unwrap();
            assert!(out.status.success() && !out.stdout.is_empty());
        })
    });
    g.bench_function("copy+ovsdb-server+ovsdb-client_dump", |b| {
        b.iter(|| ovsdb_server_dump(&file, dir.path()))
    });
    g.finish();
    ratio::report(
        "replay_real_nb_3MB",
        &[("ovnscope_show_process", "copy+ovsdb-server+ovsdb-client_dump")],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
