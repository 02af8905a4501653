//! Offline replay of a database file versus what people do today: copy the file, start
//! ovsdb-server on it, `ovsdb-client dump`, stop the server. Same file, same run.
//!
//! Uses the real Northbound file in `../shared/data/real/` (3.0 MB, 7,214 records); skipped
//! with a note when it is absent or ovsdb-server is not installed.

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
    while Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
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
    g.bench_function("copy+ovsdb-server+ovsdb-client_dump", |b| {
        b.iter(|| ovsdb_server_dump(&file, dir.path()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
