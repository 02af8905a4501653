//! `ovnscope nat` against OVN itself: for each case the rule ovnscope names is the one whose
//! `ct_snat` ovn-trace shows (same lr_out_snat logical flow), and the source address tcpdump sees
//! on the node's NIC. Lab variants are built by changing NAT rules with ovn-nbctl, one case
//! after the other, on a lab of its own (one chassis). Then the same on the real Northbound
//! file with a Southbound computed by a real ovn-northd.

#[path = "../lab/agreement.rs"]
mod agreement;
#[path = "../lab/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../support/generation.rs"]
mod generation;
mod real;

use common::Lab;
use libtest_mimic::{Arguments, Trial};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

static LAB: OnceLock<Lab> = OnceLock::new();

fn lab() -> &'static Lab {
    LAB.get().expect("lab is up")
}

/// What ovn-trace says happened in lr_out_snat: the flow's uuid prefix and its action.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSnat {
    pub uuid8: String,
    pub priority: i64,
    pub action: String,
}

/// Runs ovn-trace (detailed) and returns the lr_out_snat step.
pub fn trace_snat(sb: &str, datapath: &str, microflow: &str) -> Option<TraceSnat> {
    let out = Command::new("ovn-trace")
        .arg(format!("--db={sb}"))
        .arg(datapath)
        .arg(microflow)
        .output()
        .unwrap();
    assert!(out.status.success(), "ovn-trace: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let i = lines.iter().position(|l| l.contains(". lr_out_snat"))?;
    let l = lines[i];
    let uuid8 = l.rsplit("uuid ").next()?.trim().to_string();
    let priority = l.split(", priority ").nth(1)?.split(',').next()?.trim().parse().ok()?;
    Some(TraceSnat {
        uuid8,
        priority,
        action: lines.get(i + 1)?.trim().to_string(),
    })
}

fn pod_flow(lsp: &str, mac: &str, ip: &str, dst: &str) -> String {
    format!("inport==\"{lsp}\" && eth.src=={mac} && eth.dst==0a:58:0a:80:02:01 && ip4.src=={ip} && ip4.dst=={dst} && ip.ttl==64 && icmp4.type==8 && icmp4.code==0")
}

fn tcpdump_src(l: &Lab, pod_ns: &str, dst: &str) -> String {
    let mut child: Child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &l.ns("worker-1"),
            "tcpdump",
            "-l",
            "-nn",
            "-i",
            "ens2f0np0",
            "-c",
            "1",
            &format!("icmp[icmptype] == icmp-echo and dst host {dst}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("listening on") {
        assert!(err.read_line(&mut seen).unwrap() > 0, "tcpdump: {seen}");
    }
    // The reply may not come back (an address the bastion cannot answer); the request is what counts.
    let _ = Command::new("ip")
        .args(["netns", "exec", &l.ns(pod_ns), "ping", "-c", "1", "-W", "1", dst])
        .output()
        .unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    out.split(" IP ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("tcpdump saw nothing: {out}"))
        .to_string()
}

fn nat(l: &Lab, args: &[&str]) -> Value {
    let nb = l.nb_sock();
    let sb = l.sb_sock();
    let mut a = vec!["nat", "--nb-db", &nb, "--sb-db", &sb, "-f", "json"];
    a.extend(args);
    l.ovnscope_json(&a)
}

/// One case: ovnscope's answer, ovn-trace's lr_out_snat step, tcpdump's source, all agreeing.
fn check(pod: &str, lsp: &str, mac: &str, ip: &str, dst: &str, want_src: &str) -> Value {
    let l = lab();
    let ans = nat(l, &["--pod", pod, "--dst", dst]);
    let tr = trace_snat(&l.sb_sock(), "worker-1", &pod_flow(lsp, mac, ip, dst));
    let seen = tcpdump_src(l, if lsp.ends_with("dual-pod") { "pod1" } else { "pod2" }, dst);
    assert_eq!(seen, want_src, "tcpdump on the NIC");
    assert_eq!(ans["translated"], want_src, "ovnscope: {ans:#}");
    match &ans["applies"] {
        Value::Null if ans["tie"].as_array().unwrap().is_empty() => {
            // No SNAT: ovn-trace matches no lr_out_snat flow, or one that does not ct_snat.
            assert!(
                tr.as_ref().is_none_or(|t| !t.action.contains("ct_snat")),
                "ovn-trace {tr:?} but ovnscope says no SNAT"
            );
        }
        Value::Null => {}
        applies => {
            let tr = tr.expect("ovn-trace reaches lr_out_snat");
            assert_eq!(tr.action, format!("ct_snat({});", applies["external_ip"].as_str().unwrap()));
            assert!(
                applies["lflow"]["uuid"].as_str().unwrap().starts_with(&tr.uuid8),
                "{tr:?} vs {applies:#}"
            );
            assert_eq!(applies["lflow"]["priority"], tr.priority);
            assert_eq!(applies["priority"], tr.priority);
        }
    }
    ans
}

fn nbctl(args: &[&str]) -> String {
    lab().nbctl(args).trim().to_string()
}

fn sync() {
    nbctl(&["--wait=hv", "sync"]);
}

const P1: (&str, &str, &str, &str) = (
    "network-trace/nettools-dual-pod",
    "network-trace_nettools-dual-pod",
    "0a:58:0a:80:02:2b",
    "10.128.2.43",
);
const P2: (&str, &str, &str, &str) = (
    "network-trace/nettools-pod-2",
    "network-trace_nettools-pod-2",
    "0a:58:0a:80:02:2c",
    "10.128.2.44",
);
const INTERNET: &str = "203.0.113.8";

/// The lab as built: a per-pod /32 SNAT for each pod.
fn per_pod_rule() {
    let a = check(P1.0, P1.1, P1.2, P1.3, INTERNET, "198.18.0.9");
    assert_eq!(a["applies"]["logical_ip"], P1.3);
    assert_eq!(a["applies"]["router"], "GR_worker-1");
    let path: Vec<&str> = a["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["router"].as_str().unwrap())
        .collect();
    assert_eq!(path, vec!["ovn_cluster_router", "GR_worker-1"]);
}

/// A node-wide CIDR rule next to the /32s; then a pod covered only by it; then no rule at all;
/// then a dnat_and_snat next to a snat (a tie); then exempted_ext_ips.
fn variants() {
    let cidr = "10.128.2.0/23";
    nbctl(&["lr-nat-add", "GR_worker-1", "snat", "198.18.0.99", cidr]);
    sync();
    let a = check(P1.0, P1.1, P1.2, P1.3, INTERNET, "198.18.0.9");
    assert_eq!(a["applies"]["priority"], 33);
    let cands = a["candidates"].as_array().unwrap();
    assert!(
        cands
            .iter()
            .any(|c| c["logical_ip"] == cidr && c["priority"] == 24 && c["why_not"].as_str().unwrap().contains("below")),
        "{a:#}"
    );

    // Only the CIDR rule covers pod 2.
    nbctl(&["lr-nat-del", "GR_worker-1", "snat", P2.3]);
    sync();
    let a = check(P2.0, P2.1, P2.2, P2.3, INTERNET, "198.18.0.99");
    assert_eq!(a["applies"]["logical_ip"], cidr);
    assert_eq!(a["applies"]["priority"], 24);

    // No rule at all for pod 2: it leaves with its own address.
    nbctl(&["lr-nat-del", "GR_worker-1", "snat", cidr]);
    sync();
    let a = check(P2.0, P2.1, P2.2, P2.3, INTERNET, P2.3);
    assert!(a["applies"].is_null());
    let (code, text, _) = lab().ovnscope(&["nat", "--nb-db", &lab().nb_sock(), "--pod", P2.0, "--dst", INTERNET]);
    assert_eq!(code, 0);
    assert!(
        text.starts_with(&format!(
            "{} ({}) leaves with its own IP toward {INTERNET}: no SNAT on GR_worker-1",
            P2.0, P2.3
        )),
        "{text}"
    );

    // A dnat_and_snat for pod 1 next to its snat: both at priority 33, a tie OVN leaves undefined.
    nbctl(&["lr-nat-add", "GR_worker-1", "dnat_and_snat", "198.18.0.50", P1.3]);
    sync();
    let l = lab();
    let a = nat(l, &["--pod", P1.0, "--dst", INTERNET]);
    let tie: Vec<String> = a["tie"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(tie.len(), 2, "{a:#}");
    assert!(a["applies"].is_null());
    assert!(a["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("undefined")));
    // What OVN does is one of the tied rules: ovn-trace's flow and tcpdump's source.
    let tr = trace_snat(&l.sb_sock(), "worker-1", &pod_flow(P1.1, P1.2, P1.3, INTERNET)).unwrap();
    let tied: Vec<&Value> = a["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| tie.contains(&c["uuid"].as_str().unwrap().to_string()))
        .collect();
    assert!(
        tied.iter().any(|c| c["lflow"]["uuid"].as_str().unwrap().starts_with(&tr.uuid8)),
        "{tr:?}"
    );
    let seen = tcpdump_src(l, "pod1", INTERNET);
    assert!(tied.iter().any(|c| c["external_ip"] == seen.as_str()), "tcpdump saw {seen}");
    nbctl(&["lr-nat-del", "GR_worker-1", "dnat_and_snat", "198.18.0.50"]);

    // Inbound: the dnat_and_snat's external IP is DNATed to the pod (back before it is removed).
    nbctl(&["lr-nat-add", "GR_worker-1", "dnat_and_snat", "198.18.0.50", P1.3]);
    sync();
    let a = nat(l, &["--external-ip", "198.18.0.50"]);
    assert_eq!(a["applies"]["logical_ip"], P1.3);
    assert_eq!(a["applies"]["lflow"]["stage"], "lr_in_dnat");
    assert_eq!(a["query"]["lsp"], P1.1);
    let listed = nbctl(&["lr-nat-list", "GR_worker-1"]);
    assert!(listed
        .lines()
        .any(|line| line.starts_with("dnat_and_snat") && line.contains("198.18.0.50") && line.contains(P1.3)));
    nbctl(&["lr-nat-del", "GR_worker-1", "dnat_and_snat", "198.18.0.50"]);
    sync();

    // exempted_ext_ips on pod 1's rule: toward an exempted address no SNAT at all (the bypass
    // flow outranks the rule); toward another address the rule applies.
    let set = nbctl(&["create", "Address_Set", "name=exempt_internet", &format!("addresses={INTERNET}")]);
    let rule = nbctl(&["--bare", "--columns=_uuid", "find", "NAT", &format!("logical_ip={}", P1.3)]);
    nbctl(&["set", "NAT", &rule, &format!("exempted_ext_ips={set}")]);
    sync();
    let a = check(P1.0, P1.1, P1.2, P1.3, INTERNET, P1.3);
    let c = a["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["uuid"] == rule.as_str())
        .unwrap()
        .clone();
    assert!(c["why_not"].as_str().unwrap().contains("exempted_ext_ips exempt_internet"));
    let tr = trace_snat(&l.sb_sock(), "worker-1", &pod_flow(P1.1, P1.2, P1.3, INTERNET)).unwrap();
    assert_eq!((tr.priority, tr.action.as_str()), (35, "next;"));
    assert!(
        c["lflow"]["uuid"].as_str().unwrap().starts_with(&tr.uuid8),
        "the bypass flow is the evidence"
    );
    let a = check(P1.0, P1.1, P1.2, P1.3, "198.51.100.254", "198.18.0.9");
    assert_eq!(a["applies"]["uuid"], rule.as_str());
    nbctl(&["clear", "NAT", &rule, "exempted_ext_ips"]);
    nbctl(&["destroy", "Address_Set", &set]);
    nbctl(&["lr-nat-add", "GR_worker-1", "snat", "198.18.0.9", P2.3]);
    sync();
}

/// Pod addresses that exist nowhere, and a pod on a switch with no way out.
fn not_found_and_offline() {
    let l = lab();
    let (code, _, err) = l.ovnscope(&["nat", "--nb-db", &l.nb_sock(), "--pod", "network-trace/nope"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = l.ovnscope(&["nat", "--nb-db", &l.nb_sock(), "--ip", "192.168.77.7"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no logical switch holds 192.168.77.7"), "{err}");
    // Offline: the same answer from the database files.
    let live = nat(l, &["--pod", P1.0, "--dst", INTERNET]);
    let nb = format!("file:{}", l.dir.join("ovn/ovnnb_db.db").display());
    let sb = format!("file:{}", l.dir.join("ovn/ovnsb_db.db").display());
    let off = l.ovnscope_json(&[
        "nat", "--nb-db", &nb, "--sb-db", &sb, "--pod", P1.0, "--dst", INTERNET, "-f", "json",
    ]);
    assert_eq!(off["applies"], live["applies"]);
}

/// A live answer is read by the walk's own demand (`nat --pod/--lsp/--ip`: only the rows the walk
/// looks at) or by the topology plus the path's rules (`--external-ip`); a database file is read
/// whole. For every switch port of the lab with an address, toward the internet, another pod,
/// the node and an address on no network, asked by port and by address, and for every NAT
/// rule's external address inbound, the live JSON is the file's, byte for byte; toward the
/// internet, the rule applied is the one `ovn-nbctl find NAT` lists for the address.
fn targeted_equals_whole() {
    let l = lab();
    let nb = format!("file:{}", l.dir.join("ovn/ovnnb_db.db").display());
    let sb = format!("file:{}", l.dir.join("ovn/ovnsb_db.db").display());
    let whole = |args: &[&str]| {
        let mut a = vec!["nat", "--nb-db", &nb, "--sb-db", &sb, "-f", "json"];
        a.extend(args);
        l.ovnscope_json(&a)
    };
    // The ports and addresses as ovn-nbctl lists them.
    let ports = nbctl(&[
        "--bare",
        "--columns=name,addresses",
        "--format=csv",
        "--no-headings",
        "list",
        "Logical_Switch_Port",
    ]);
    let mut asked = 0;
    let dsts = [INTERNET, P2.3, "172.18.0.2", "10.128.2.1"];
    for line in ports.lines() {
        let Some((name, addrs)) = line.split_once(',') else { continue };
        let Some(ip) = addrs
            .trim_matches('"')
            .split_whitespace()
            .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        else {
            continue;
        };
        // Ground truth for the internet-bound case: the /32 SNAT rule ovn-nbctl finds for this
        // address, when there is exactly one, is the one the targeted answer applies.
        let rules = nbctl(&["--bare", "--columns=_uuid", "find", "NAT", "type=snat", &format!("logical_ip={ip}")]);
        let rules: Vec<&str> = rules.split_whitespace().collect();
        for dst in dsts {
            for who in [["--lsp", name], ["--ip", ip]] {
                let q = [who[0], who[1], "--dst", dst];
                let live = nat(l, &q);
                assert_eq!(live, whole(&q), "nat {q:?}: live (targeted) vs file (whole)");
                if let ([rule], true) = (rules.as_slice(), dst == INTERNET) {
                    assert_eq!(live["applies"]["uuid"], *rule, "nat {q:?} vs ovn-nbctl find NAT");
                }
                asked += 1;
            }
        }
    }
    let externals = nbctl(&["--bare", "--columns=external_ip", "list", "NAT"]);
    let mut externals: Vec<&str> = externals.split_whitespace().collect();
    externals.sort();
    externals.dedup();
    for e in &externals {
        let q = ["--external-ip", *e];
        assert_eq!(nat(l, &q), whole(&q), "nat {q:?}: live vs file");
        asked += 1;
    }
    assert!(
        asked > 4 * dsts.len(),
        "only {asked} questions: the lab has fewer ports than it should"
    );
    eprintln!("{asked} NAT questions: the targeted live answer is the whole-file answer");
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test("lab::per_pod_rule", || {
            per_pod_rule();
            Ok(())
        }),
        Trial::test("lab::variants", || {
            variants();
            Ok(())
        }),
        Trial::test("lab::not_found_and_offline", || {
            not_found_and_offline();
            Ok(())
        }),
        Trial::test("lab::targeted_equals_whole", || {
            targeted_equals_whole();
            Ok(())
        }),
        Trial::test("real::real_nb_answers_match_ovn_trace", || {
            real::real_nb_answers_match_ovn_trace();
            Ok(())
        }),
    ];
    if args.list {
        libtest_mimic::run(&args, trials).exit();
    }
    // OVNLAB_OVN=25.03 runs the suite on that generation, in a lab of its own.
    let generation = generation::select();
    let newer = generation != "23.03";
    let new = Lab {
        dir: PathBuf::from(if newer {
            format!("/tmp/ovnscope-nat-lab-{generation}")
        } else {
            "/tmp/ovnscope-nat-lab".into()
        }),
        prefix: if newer { "ovsm" } else { "ovsn" }.into(),
        nb_port: if newer { 17651 } else { 17641 },
        sb_port: if newer { 17652 } else { 17642 },
        worker2: false,
    };
    new.script("up");
    LAB.set(new).ok();
    // The cases change the lab's NAT rules one after the other.
    let mut args = args;
    args.test_threads = Some(1);
    let conclusion = libtest_mimic::run(&args, trials);
    if std::env::var_os("OVNSCOPE_KEEP_LAB").is_none() {
        lab().script("down");
    }
    conclusion.exit();
}
