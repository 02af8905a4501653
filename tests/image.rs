//! The Debian "nettools" image, built for real (scripts/nettools-image.sh: debootstrap base,
//! Debian packages, ovnscope from this checkout) and run with podman: every tool of the package
//! list answers inside; ovnscope inside reads the lab's recorded databases mounted read-only and
//! says what it says on the host; and the guide's container-to-container exercise runs on two
//! real containers sharing one network namespace — an HTTP server in one, curl in the other, a
//! capture on `lo` — explained by ovnscope inside, checked against tcpdump reading the same file.
//!
//! Needs root (podman, debootstrap) and Debian's package registry; skipped with a message where
//! podman cannot run (not root).

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const F: [&str; 4] = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"];
const U: [&str; 4] = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman").args(F).args(args).output().expect("podman")
}

fn ok(args: &[&str]) -> String {
    let o = podman(args);
    assert!(
        o.status.success(),
        "podman {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `bash -c SCRIPT` in a fresh container of `image` with no network, plus `extra` run options.
fn run(image: &str, extra: &[&str], script: &str) -> String {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend(U);
    a.extend(extra);
    a.extend([image, "-c", script]);
    ok(&a)
}

/// The package list's (debian package, command) pairs.
fn commands() -> Vec<(String, String)> {
    std::fs::read_to_string(root().join("packaging/nettools-packages.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c[1].to_string(), c[2].to_string())
        })
        .collect()
}

/// Removes the named containers (ours) when the test ends, however it ends.
struct Containers(Vec<&'static str>);
impl Drop for Containers {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = podman(&["rm", "-f", "-t", "0", c]);
        }
    }
}

fn main() {
    if !nix_root() {
        eprintln!("image: skipped (needs root for podman and debootstrap)");
        return;
    }
    let t = std::time::Instant::now();
    let built = Command::new(root().join("scripts/nettools-image.sh")).output().unwrap();
    assert!(
        built.status.success(),
        "nettools-image.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let image = String::from_utf8_lossy(&built.stdout).trim().to_string();
    eprintln!("image: {image} built in {:.1} s", t.elapsed().as_secs_f64());

    // Every tool of the list, by the command it provides; the Debian package too.
    let list = commands();
    let mut script = String::new();
    for (pkg, cmd) in &list {
        script += &format!(
            "dpkg-query -W -f='${{Status}}' {pkg} 2>/dev/null | grep -q 'install ok installed' || echo \"missing package {pkg}\"\n"
        );
        if cmd != "-" {
            script += &format!("command -v {cmd} >/dev/null || echo \"missing command {cmd} ({pkg})\"\n");
        }
    }
    script += "test -f /usr/share/bash-completion/bash_completion || echo 'missing bash-completion'\n";
    script += "test -s /usr/share/bash-completion/completions/ovnscope || echo 'missing ovnscope completions'\n";
    script += "test -s /usr/local/share/man/man1/ovnscope.1 || echo 'missing ovnscope man page'\n";
    script += "for p in ovnscope kubectl-ovnscope oc-ovnscope; do command -v $p >/dev/null || echo \"missing $p\"; done\n";
    let missing = run(&image, &[], &script);
    assert_eq!(missing, "", "the image lacks tools of the list");
    // A few of them actually run (not only present).
    let versions = run(
        &image,
        &[],
        "tcpdump --version 2>&1 | head -1; tshark --version | head -1; conntrack --version; dot -V 2>&1; ovnscope --version",
    );
    for want in ["tcpdump version", "TShark", "conntrack v", "dot - graphviz", "ovnscope "] {
        assert!(versions.contains(want), "{want} in {versions}");
    }

    // ovnscope inside reads the lab's recorded databases mounted read-only: the answer is the
    // host's.
    let demo = root().join("demo");
    let dbs = [
        "--ovs-db",
        "file:/data/conf.db",
        "--nb-db",
        "file:/data/ovnnb_db.db",
        "--sb-db",
        "file:/data/ovnsb_db.db",
    ];
    let inside = run(
        &image,
        &["-v", &format!("{}:/data:ro", demo.display())],
        &format!(
            "ovnscope show {} && touch /data/x 2>/dev/null && echo WRITABLE || true",
            dbs.join(" ")
        ),
    );
    let host = Command::new(env!("CARGO_BIN_EXE_ovnscope"))
        .arg("show")
        .args(dbs.map(|a| a.replace("/data/", "demo/")))
        .current_dir(root())
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&host.stdout).replace("demo/", "/data/");
    assert!(!inside.contains("WRITABLE"), "the mount is read-only");
    assert_eq!(inside, host);

    container_to_container(&image);
}

fn nix_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// The guide's first exercise: two containers of one "pod" (a shared network namespace, their
/// own PID namespaces and filesystems), HTTP over loopback, captured on `lo` and explained.
fn container_to_container(image: &str) {
    let (c1, c2) = ("ovnscope-test-c1", "ovnscope-test-c2");
    let _ = podman(&["rm", "-f", "-t", "0", c1, c2]);
    let _cleanup = Containers(vec![c2, c1]);
    let out = tempfile::tempdir().unwrap();
    let vol = format!("{}:/out", out.path().display());
    let start = |name: &str, net: &str| {
        let mut a = vec!["run", "-d", "--privileged", "--network", net, "--name", name, "-v", &vol];
        a.extend(U);
        a.extend([image, "-c", "sleep 300"]);
        ok(&a);
    };
    start(c1, "none");
    start(c2, &format!("container:{c1}"));
    let exec = |c: &str, script: &str| ok(&["exec", c, "bash", "-c", script]);
    // One network namespace, two PID namespaces, two filesystems — as the guide shows them.
    let ns = |c: &str, kind: &str| exec(c, &format!("readlink /proc/1/ns/{kind}")).trim().to_string();
    assert_eq!(ns(c1, "net"), ns(c2, "net"), "one network namespace");
    assert_ne!(ns(c1, "pid"), ns(c2, "pid"), "each its own PID namespace");
    assert_ne!(ns(c1, "mnt"), ns(c2, "mnt"), "each its own filesystem");
    exec(c1, "touch /tmp/only-in-c1");
    assert_eq!(
        exec(c2, "test -e /tmp/only-in-c1 && echo shared || echo separate").trim(),
        "separate"
    );
    assert!(
        exec(c2, "ip -o addr show lo").contains("127.0.0.1/8"),
        "lo is up in the shared namespace"
    );

    // The capture on lo and the server in c1, curl from c2.
    exec(
        c1,
        "tcpdump --immediate-mode -U -i lo -w /out/lo.pcap 'tcp port 8080' >/dev/null 2>/out/tcpdump.err & echo $! > /out/tcpdump.pid",
    );
    exec(
        c1,
        "python3 -m http.server 8080 --bind 127.0.0.1 >/dev/null 2>&1 & echo $! > /out/server.pid",
    );
    // Ready when each says so (tcpdump "listening on", the server accepting).
    exec(
        c1,
        "for i in $(seq 50); do grep -q 'listening on' /out/tcpdump.err && break; sleep 0.1; done",
    );
    let body = exec(
        c2,
        "for i in $(seq 50); do curl -sf http://127.0.0.1:8080/ && break; sleep 0.1; done",
    );
    assert!(body.contains("Directory listing"), "{body}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    exec(c1, "kill -INT $(cat /out/tcpdump.pid) $(cat /out/server.pid); sleep 0.5");

    let doc: Value = serde_json::from_str(&exec(c1, "ovnscope explain --capture lo=/out/lo.pcap -f json")).unwrap();
    let labels: Vec<String> = doc["conversations"][0]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no conversation: {doc:#}\n{}", exec(c1, "cat /out/tcpdump.err; ls -l /out")))
        .iter()
        .map(|e| e["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        &labels[..3],
        ["handshake: SYN", "handshake: SYN-ACK", "handshake: ACK"],
        "{labels:?}"
    );
    assert!(labels.iter().any(|x| x.starts_with("request: GET / HTTP/1.1")), "{labels:?}");
    assert!(labels.iter().any(|x| x.starts_with("response: HTTP/1.0 200 OK")), "{labels:?}");
    assert!(labels.iter().any(|x| x.starts_with("teardown: FIN")), "{labels:?}");
    // As many packets as tcpdump reads back from the same file, on the host.
    let read = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(out.path().join("lo.pcap"))
        .output()
        .unwrap();
    let n = String::from_utf8_lossy(&read.stdout).lines().count();
    assert_eq!(labels.len(), n, "{labels:?}");
    let text = exec(c1, "ovnscope explain --capture lo=/out/lo.pcap");
    std::fs::write(out.path().join("explain.txt"), &text).unwrap();
    eprintln!("image: container-to-container explained:\n{text}");
}
