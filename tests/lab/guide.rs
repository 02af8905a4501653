//! The README's tracing guide stays true: every command in it is run on this lab and its
//! output compared with the README's (uuids, ICMP ids, ifindexes and ofports normalised, as they
//! differ between labs). Regenerate the README with scripts/guide.sh.

use crate::common::dataplane_turn;
use crate::lab;
use std::process::Command;

fn normalise(s: &str) -> String {
    let rules = [
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID"),
        (r"\b[0-9a-f]{8}\b", "HEX8"),
        (r"echo id \d+", "echo id N"),
        (r"ifindex \d+", "ifindex N"),
        (r"eth0@if\d+", "eth0@ifN"),
        (r"ofport \d+", "ofport N"),
    ];
    let mut out = s.to_string();
    for (re, to) in rules {
        out = regex::Regex::new(re).unwrap().replace_all(&out, to).into_owned();
    }
    out.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim_end().to_string()
}

/// (command, expected output) of each guide block.
fn blocks(readme: &str) -> Vec<(String, String)> {
    let re = regex::Regex::new(r"(?s)<!-- guide -->\n```\n(.*?)```\n<!-- /guide -->").unwrap();
    re.captures_iter(readme)
        .map(|c| {
            let body = c.get(1).unwrap().as_str();
            let (first, rest) = body.split_once('\n').unwrap_or((body, ""));
            (
                first.strip_prefix("$ ").expect("a guide block starts with $ command").to_string(),
                rest.to_string(),
            )
        })
        .collect()
}

pub fn readme_guide_matches_the_lab() {
    let _turn = dataplane_turn();
    let l = lab();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = blocks(&readme);
    assert!(blocks.len() >= 5, "guide blocks found: {}", blocks.len());
    // The captures the explain block reads, taken as scripts/guide.sh takes them.
    let dir = tempfile::tempdir().unwrap();
    let veth = l.veth_of("network-trace_nettools-dual-pod");
    let caps = [
        (l.ns("pod1"), "eth0".to_string(), "pod", "icmp"),
        (l.ns("worker-1"), veth, "veth", "icmp and host 10.128.2.43"),
        (
            l.ns("worker-1"),
            "ens2f0np0".into(),
            "nic",
            "icmp and host 198.18.0.9 and host 203.0.113.8",
        ),
        (
            l.ns("bastion"),
            "eth1".into(),
            "bastion-in",
            "icmp and host 198.18.0.9 and host 203.0.113.8",
        ),
        (l.ns("bastion"), "ens3".into(), "bastion-out", "icmp and host 203.0.113.8"),
    ];
    let mut children = vec![];
    for (ns, iface, name, filter) in &caps {
        children.push(crate::common::tcpdump_two(
            ns,
            iface,
            &dir.path().join(format!("{name}.pcap")),
            filter,
        ));
    }
    let ping = Command::new("ip")
        .args(["netns", "exec", &l.ns("pod1"), "ping", "-c", "1", "-W", "2", "203.0.113.8"])
        .output()
        .unwrap();
    assert!(ping.status.success());
    for c in children {
        c.wait_with_output().unwrap();
    }
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_ovnscope")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for (cmd, want) in blocks {
        let cmd_here = cmd.replace("/tmp/ovnscope-guide", &dir.path().display().to_string());
        let out = Command::new("sh")
            .arg("-c")
            .arg(&cmd_here)
            .envs(l.env())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        let got = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            normalise(&got),
            normalise(&want),
            "README guide drifted for `{cmd}`: run scripts/guide.sh"
        );
    }
}
