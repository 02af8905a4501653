//! Conformance with `ovn-trace` wherever OVN's own test suite goes.
//!
//! Every test of the installed OVN's `tests/ovn.at` and `tests/ovn-northd.at` (read from an OVN
//! git repository at the tag of the installed version) that runs `ovn-trace` is replayed on
//! real servers of that generation: a fresh Northbound and Southbound `ovsdb-server` and
//! `ovn-northd` per test, the test's own `ovn-nbctl`/`ovn-sbctl` setup run by bash (hypervisor,
//! packet and wait helpers stand in as no-ops: only the databases matter to a trace). Each time
//! the test runs `ovn-trace`, a wrapper runs the real `ovn-trace` and `ovnscope trace
//! --ovn-trace-compat` with the same arguments on the same Southbound, and the runner compares
//! the two texts (bar ovn-trace's `# ` flow line, which OVS's own formatter writes).
//!
//!   OVN_SRC=<ovn git repository> cargo bench --bench conformance [-- FILTER]
//!   OVNLAB_OVN=25.03 OVN_SRC=… cargo bench --bench conformance
//!
//! Prints the figure (microflows that agree, of those replayed), every difference grouped by
//! its first differing line, and writes the whole report (each microflow, both texts) to
//! `$CARGO_TARGET_DIR/conformance-<version>.txt`. Skips, saying why, without `OVN_SRC`.

#[path = "support/atfile.rs"]
mod atfile;
#[path = "../tests/support/generation.rs"]
mod generation;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FILES: &[&str] = &["ovn.at", "ovn-northd.at", "system-ovn.at"];

/// How long one test's replay may take before it is stopped (a wait loop for a hypervisor that
/// never comes).
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Stand-ins for the test suite's shell helpers (our own; the suite's would start hypervisors).
const PRELUDE: &str = r#"# ovnscope conformance replay: stand-ins for the OVN test suite's helpers.
HAVE_SCAPY=yes; HAVE_PYTHON3=yes; HAVE_OPENSSL=yes; IS_WIN32=no; IS_BSD=no
check() { "$@"; }; check_uuid() { "$@"; }
ovn_start() { :; }; net_add() { :; }; sim_add() { :; }; net_attach() { :; }
as() { [ $# -gt 1 ] || return 0; shift; "$@"; }
ovn_as() { [ $# -gt 1 ] || return 0; shift; "$@"; }
ovn_attach() { :; }; ovn_az_attach() { :; }
# ovn-trace as a daemon: its `trace` command is the one-shot ovn-trace (the same function).
ovs-appctl() { if [ "$1" = -t ] && [ "$2" = ovn-trace ] && [ "$3" = trace ]; then shift 3; ovn-trace "$@"; fi; }
ovn_trace_client() { shift; ovn-trace "$@" | sed '/^# /d'; }
ovs-vsctl() { :; }; ovs-ofctl() { :; }; ovs-dpctl() { :; }; ovn-appctl() { :; }
ovn-controller() { :; }; ovn-northd() { :; }; ovsdb-server() { :; }; ovsdb-tool() { :; }
ovn-ic() { :; }; ovn-ic-nbctl() { :; }; ovn-ic-sbctl() { :; }; ovs-pcap() { :; }
start_daemon() { :; }; on_exit() { :; }; kill() { :; }; pkill() { :; }; killall() { :; }
ip() { :; }; tcpdump() { :; }; ping() { :; }; nc() { :; }; iptables() { :; }; ip6tables() { :; }
sysctl() { :; }; modprobe() { :; }; ethtool() { :; }; tshark() { :; }
wait_for_ports_up() { :; }; wait_row_count() { :; }; check_row_count() { :; }
wait_column() { :; }; check_column() { :; }; sleep() { :; }
fmt_pkt() { echo 00; }
ip_to_hex() { printf "%02x%02x%02x%02x" "$@"; }
fetch_column() { local db=$1 table=$2 column=$3; shift 3; ovn-${db}ctl --bare --columns "$column" find "$table" "$@"; }
ovn-nbctl() { command ovn-nbctl --timeout=20 "${@//--wait=hv/--wait=sb}"; }
ovn-sbctl() { command ovn-sbctl --timeout=20 "$@"; }
ovn_trace() { ovn-trace "$@" | sed '/^# /d'; }
cd "$CONF_DIR/work" || exit 1
"#;

/// The `ovn-trace` the test calls: the real one, and ovnscope with the same arguments.
const WRAPPER: &str = r#"#!/bin/bash
for a in "$@"; do case $a in --detach) exit 0 ;; esac; done
d=$CONF_DIR/cases
mkdir -p "$d"
n=$(( $(ls "$d" | grep -c '\.args$') + 1 ))
command ovn-nbctl --timeout=20 --wait=sb sync >/dev/null 2>&1
printf '%s\0' "$@" >"$d/$n.args"
"$REAL_OVN_TRACE" "$@" >"$d/$n.theirs" 2>"$d/$n.theirs.err"; rc=$?
"$OVNSCOPE" trace --sb-db "$OVN_SB_DB" --ovn-trace-compat "$@" >"$d/$n.ours" 2>"$d/$n.ours.err"
echo $? >"$d/$n.ours.rc"
cat "$d/$n.theirs"; cat "$d/$n.theirs.err" >&2
exit $rc
"#;

/// One test's microflows, or why it could not be replayed.
type Replayed = Result<Vec<Case>, String>;

struct Case {
    test: String,
    args: Vec<String>,
    theirs: String,
    theirs_err: String,
    ours: String,
    ours_err: String,
    ours_rc: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Agree,
    /// ovn-trace printed an error (`unknown datapath`, `error parsing flow`) and ovnscope
    /// refused too.
    BothRefuse,
    /// ovnscope refused what ovn-trace traced: its first error line.
    OursError(String),
    /// ovnscope traced what ovn-trace refused.
    TheirsError(String),
    /// Both traced; the first line that differs (ovn-trace's, ovnscope's).
    Differ(String, String),
}

fn text_of(s: &str) -> Vec<&str> {
    s.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect()
}

fn judge(c: &Case) -> Verdict {
    // ovn-trace prints its refusals on standard output and exits 0.
    let first = text_of(&c.theirs).first().map(|l| l.to_string()).unwrap_or_default();
    let refused = ["error parsing flow", "unknown datapath", "unknown port", "microflow"]
        .iter()
        .any(|p| first.starts_with(p));
    if refused {
        return if c.ours_rc != 0 {
            Verdict::BothRefuse
        } else {
            Verdict::TheirsError(first)
        };
    }
    if c.ours_rc != 0 {
        let first = c.ours_err.lines().find(|l| !l.trim().is_empty()).unwrap_or("(nothing)");
        return Verdict::OursError(first.to_string());
    }
    let (t, o) = (text_of(&c.theirs), text_of(&c.ours));
    if t == o {
        return Verdict::Agree;
    }
    let k = t.iter().zip(&o).take_while(|(a, b)| a == b).count();
    Verdict::Differ(
        t.get(k).unwrap_or(&"(end)").trim().to_string(),
        o.get(k).unwrap_or(&"(end)").trim().to_string(),
    )
}

/// The test suite files at the installed version's tag (or from a source tree).
fn suite(src: &Path, version: &str) -> Result<Vec<(String, String)>, String> {
    let tag = format!("v{version}");
    FILES
        .iter()
        .map(|f| {
            let tree = src.join("tests").join(f);
            if tree.exists() {
                return std::fs::read_to_string(&tree)
                    .map(|t| (f.to_string(), t))
                    .map_err(|e| e.to_string());
            }
            let out = Command::new("git")
                .arg("-C")
                .arg(src)
                .args(["show", &format!("{tag}:tests/{f}")])
                .output()
                .map_err(|e| format!("git: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "{}: no tests/{f} at {tag} ({})",
                    src.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok((f.to_string(), String::from_utf8_lossy(&out.stdout).into_owned()))
        })
        .collect()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The daemons of one replay, stopped by PID when dropped.
struct Servers(PathBuf);

impl Servers {
    fn start(dir: &Path, share: &Path) -> Result<Self, String> {
        for (db, schema) in [("nb", "ovn-nb.ovsschema"), ("sb", "ovn-sb.ovsschema")] {
            let file = dir.join(format!("{db}.db"));
            run(Command::new("ovsdb-tool").arg("create").arg(&file).arg(share.join(schema)))?;
            run(Command::new("ovsdb-server")
                .arg(&file)
                .arg(format!("--remote=punix:{}/{db}.sock", dir.display()))
                .arg(format!("--pidfile={}/{db}.pid", dir.display()))
                .arg(format!("--unixctl={}/{db}.ctl", dir.display()))
                .arg(format!("--log-file={}/{db}.log", dir.display()))
                .args(["--detach", "--no-chdir", "-vconsole:off"]))?;
        }
        let s = Servers(dir.to_path_buf());
        run(Command::new("ovn-northd")
            .arg(format!("--ovnnb-db=unix:{}/nb.sock", dir.display()))
            .arg(format!("--ovnsb-db=unix:{}/sb.sock", dir.display()))
            .arg(format!("--pidfile={}/northd.pid", dir.display()))
            .arg(format!("--unixctl={}/northd.ctl", dir.display()))
            .arg(format!("--log-file={}/northd.log", dir.display()))
            .args(["--detach", "--no-chdir", "-vconsole:off"]))?;
        Ok(s)
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for d in ["northd", "nb", "sb"] {
            let pid = std::fs::read_to_string(self.0.join(format!("{d}.pid"))).unwrap_or_default();
            if let Ok(pid) = pid.trim().parse::<u32>() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

struct Env<'a> {
    base: &'a Path,
    share: PathBuf,
    shims: PathBuf,
    real_trace: PathBuf,
}

/// Replays one test; its microflows, or why it could not be replayed.
fn replay(env: &Env, n: usize, t: &atfile::Test, script: &str) -> Result<Vec<Case>, String> {
    let dir = env.base.join(format!("t{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("work")).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("test.sh"), format!("{PRELUDE}\n{script}")).map_err(|e| e.to_string())?;
    let servers = Servers::start(&dir, &env.share)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![env.shims.clone()];
    dirs.extend(std::env::split_paths(&path));
    let log = std::fs::File::create(dir.join("test.log")).map_err(|e| e.to_string())?;
    let mut child = Command::new("bash")
        .arg(dir.join("test.sh"))
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("CONF_DIR", &dir)
        .env("OVN_NB_DB", format!("unix:{}/nb.sock", dir.display()))
        .env("OVN_SB_DB", format!("unix:{}/sb.sock", dir.display()))
        .env("OVS_RUNDIR", &dir)
        .env("OVN_RUNDIR", &dir)
        .env("REAL_OVN_TRACE", &env.real_trace)
        .env("OVNSCOPE", env!("CARGO_BIN_EXE_ovnscope"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let timed_out = loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break false;
        }
        if start.elapsed() > TEST_TIMEOUT {
            // The script's own process group (it was started as its leader).
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            break true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(servers);
    let mut cases = vec![];
    let cd = dir.join("cases");
    for k in 1.. {
        let f = |ext: &str| std::fs::read_to_string(cd.join(format!("{k}.{ext}")));
        let Ok(args) = f("args") else { break };
        cases.push(Case {
            test: format!("{}:{} {}", t.file, t.line, t.name),
            args: args.split('\0').filter(|a| !a.is_empty()).map(String::from).collect(),
            theirs: f("theirs").unwrap_or_default(),
            theirs_err: f("theirs.err").unwrap_or_default(),
            ours: f("ours").unwrap_or_default(),
            ours_err: f("ours.err").unwrap_or_default(),
            ours_rc: f("ours.rc").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(-1),
        });
    }
    if timed_out && cases.is_empty() {
        return Err(format!("timed out after {} s", TEST_TIMEOUT.as_secs()));
    }
    Ok(cases)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("skipped: the conformance runner runs only under `cargo bench --bench conformance`");
        return;
    }
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let Some(src) = std::env::var_os("OVN_SRC").map(PathBuf::from) else {
        eprintln!(
            "conformance: skipped: set OVN_SRC to an OVN git repository with its release tags \
             (git clone https://github.com/ovn-org/ovn) or a source tree of the installed version"
        );
        return;
    };
    let generation = generation::select();
    let version = Command::new("ovn-nbctl").arg("--version").output().expect("ovn-nbctl --version");
    let version = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a version in ovn-nbctl --version")
        .to_string();
    let files = suite(&src, &version).unwrap_or_else(|e| panic!("conformance: {e}"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let base = std::env::temp_dir().join(format!("ovnscope-conformance-{version}"));
    let _ = std::fs::remove_dir_all(&base);
    let shims = base.join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let real_trace = String::from_utf8(Command::new("bash").args(["-c", "command -v ovn-trace"]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    std::fs::write(shims.join("ovn-trace"), WRAPPER).unwrap();
    run(Command::new("chmod").arg("755").arg(shims.join("ovn-trace"))).unwrap();
    let env = Env {
        base: &base,
        share: generation::ovn_share(),
        shims,
        real_trace: PathBuf::from(real_trace),
    };

    let mut tests = vec![];
    let mut not_replayable: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, text) in &files {
        for t in atfile::tests(file, text) {
            let uses = t.body.contains("ovn-trace") || t.body.contains("ovn_trace");
            if !uses || filter.as_ref().is_some_and(|f| !t.name.contains(f.as_str())) {
                continue;
            }
            if t.body.contains("ovn-ic-nbctl") || t.body.contains("ovn_start az") {
                not_replayable
                    .entry("several availability zones (ovn-ic)".into())
                    .or_default()
                    .push(t.name.clone());
                continue;
            }
            match atfile::shell(&t.body) {
                Ok(s) => tests.push((t, s)),
                Err(why) => not_replayable.entry(why).or_default().push(t.name.clone()),
            }
        }
    }
    eprintln!(
        "conformance: OVN {version} (generation {generation}), tests from {} at v{version}: {} tests to replay",
        src.display(),
        tests.len()
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Replayed)>> = Mutex::new(vec![]);
    let jobs: usize = std::env::var("CONFORMANCE_JOBS").ok().and_then(|j| j.parse().ok()).unwrap_or(2);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((t, script)) = tests.get(i) else { break };
                let r = replay(&env, i, t, script);
                eprintln!(
                    "  [{}/{}] {} — {}",
                    i + 1,
                    tests.len(),
                    t.name,
                    match &r {
                        Ok(c) => format!("{} microflows", c.len()),
                        Err(e) => format!("not replayed: {e}"),
                    }
                );
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let mut cases = vec![];
    for (i, r) in results {
        match r {
            Ok(c) => cases.extend(c),
            Err(e) => not_replayable.entry(e).or_default().push(tests[i].0.name.clone()),
        }
    }
    let verdicts: Vec<Verdict> = cases.iter().map(judge).collect();
    let count = |f: &dyn Fn(&Verdict) -> bool| verdicts.iter().filter(|v| f(v)).count();
    let agree = count(&|v| matches!(v, Verdict::Agree | Verdict::BothRefuse));
    let mut report = String::new();
    let _ = writeln!(
        report,
        "conformance: OVN {version} ({generation}): {agree}/{} microflows agree ({:.1} %) — {} same text, {} refused by both; \
         {} differ, {} refused by ovnscope only, {} refused by ovn-trace only; {} tests replayed in {:.0} s",
        cases.len(),
        100.0 * agree as f64 / cases.len().max(1) as f64,
        count(&|v| *v == Verdict::Agree),
        count(&|v| *v == Verdict::BothRefuse),
        count(&|v| matches!(v, Verdict::Differ(..))),
        count(&|v| matches!(v, Verdict::OursError(_))),
        count(&|v| matches!(v, Verdict::TheirsError(_))),
        tests.len(),
        started.elapsed().as_secs_f64()
    );
    let mut groups: BTreeMap<&Verdict, Vec<&Case>> = BTreeMap::new();
    for (v, c) in verdicts.iter().zip(&cases) {
        if !matches!(v, Verdict::Agree | Verdict::BothRefuse) {
            groups.entry(v).or_default().push(c);
        }
    }
    let _ = writeln!(report, "\ndifferences, by first differing line:");
    for (v, cs) in &groups {
        let what = match v {
            Verdict::Differ(t, o) => format!("ovn-trace: {t}\n      ovnscope:  {o}"),
            Verdict::OursError(e) => format!("ovnscope refused: {e}"),
            Verdict::TheirsError(e) => format!("ovn-trace refused: {e}"),
            _ => unreachable!(),
        };
        let _ = writeln!(report, "  {}× {what}", cs.len());
        let _ = writeln!(report, "      e.g. {} — ovn-trace {}", cs[0].test, shell_words(&cs[0].args));
    }
    let _ = writeln!(report, "\nnot replayed:");
    for (why, names) in &not_replayable {
        let _ = writeln!(report, "  {} tests: {why} (e.g. {})", names.len(), names[0]);
    }
    print!("{report}");
    let mut full = report.clone();
    for (v, c) in verdicts.iter().zip(&cases) {
        let _ = writeln!(
            full,
            "\n=== {:?} — {}\n$ ovn-trace {}\n--- ovn-trace\n{}{}--- ovnscope (exit {})\n{}{}",
            v,
            c.test,
            shell_words(&c.args),
            c.theirs,
            c.theirs_err,
            c.ours_rc,
            c.ours,
            c.ours_err
        );
    }
    let path = target.join(format!("conformance-{version}.txt"));
    match std::fs::write(&path, full) {
        Ok(()) => println!("\nevery microflow, both texts: {}", path.display()),
        Err(e) => eprintln!("conformance: cannot write {}: {e}", path.display()),
    }
}

fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=.:/,".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
