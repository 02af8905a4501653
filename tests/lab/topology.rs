//! `ovnscope topology` against the real tools on the live lab, the committed graphs/, and
//! readability at scale.

use crate::lab;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn graph(args: &[&str]) -> Value {
    let l = lab();
    let ovs = l.ovs_sock();
    let nb = l.nb_sock();
    let sb = l.sb_sock();
    let mut a = vec!["topology", "--ovs-db", &ovs, "-f", "json"];
    a.extend(["--nb-db", &nb, "--sb-db", &sb]);
    a.extend(args);
    l.ovnscope_json(&a)
}

fn edges<'a>(g: &'a Value, kind: &str) -> Vec<(&'a str, &'a str, &'a Value)> {
    g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| (e["from"].as_str().unwrap(), e["to"].as_str().unwrap(), e))
        .collect()
}

fn lines(s: String) -> BTreeSet<String> {
    s.lines().map(str::to_string).collect()
}

pub fn physical_graph_matches_ovs_vsctl() {
    let l = lab();
    let g = graph(&["--view", "physical", "--expand"]);
    let nodes: BTreeMap<&str, &Value> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    // Bridges and their interfaces.
    let bridges = lines(l.vsctl(&["list-br"]));
    let ours: BTreeSet<String> = nodes
        .values()
        .filter(|n| n["kind"] == "bridge")
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ours, bridges);
    let port_of = edges(&g, "port_of");
    for b in &bridges {
        // list-ifaces omits the bridge's own internal interface; ovnscope draws it.
        let mut want = lines(l.vsctl(&["list-ifaces", b]));
        want.insert(b.clone());
        let got: BTreeSet<String> = port_of
            .iter()
            .filter(|(_, to, _)| *to == format!("bridge:worker-1:{b}"))
            .map(|(from, _, _)| from.rsplit(':').next().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "interfaces of {b}");
    }
    // Patch pairs: each pair once, both names as ovs-vsctl reports them.
    let patches: Value =
        serde_json::from_str(&l.vsctl(&["-f", "json", "--columns=name,options", "find", "Interface", "type=patch"])).unwrap();
    let mut want = BTreeSet::new();
    for row in patches["data"].as_array().unwrap() {
        let name = row[0].as_str().unwrap().to_string();
        let peer = row[1][1].as_array().unwrap().iter().find(|kv| kv[0] == "peer").unwrap()[1]
            .as_str()
            .unwrap()
            .to_string();
        let mut pair = [name, peer];
        pair.sort();
        want.insert(pair);
    }
    let got: BTreeSet<[String; 2]> = edges(&g, "patch_peer")
        .iter()
        .map(|(a, b, _)| {
            let mut p = [a.rsplit(':').next().unwrap().to_string(), b.rsplit(':').next().unwrap().to_string()];
            p.sort();
            p
        })
        .collect();
    assert_eq!(got, want);
    // Tunnels: ovs-vsctl's geneve interfaces and their remote_ip, ending at the SB chassis that owns that encap IP.
    let tun: Value = serde_json::from_str(&l.vsctl(&["-f", "json", "--columns=name,options", "find", "Interface", "type=geneve"])).unwrap();
    let encaps: Value = serde_json::from_str(&l.sbctl(&["-f", "json", "--columns=chassis_name,ip", "list", "Encap"])).unwrap();
    let owner: BTreeMap<String, String> = encaps["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[1].as_str().unwrap().to_string(), r[0].as_str().unwrap().to_string()))
        .collect();
    let ours = edges(&g, "tunnel");
    assert_eq!(ours.len(), tun["data"].as_array().unwrap().len());
    for row in tun["data"].as_array().unwrap() {
        let name = row[0].as_str().unwrap();
        let remote = row[1][1].as_array().unwrap().iter().find(|kv| kv[0] == "remote_ip").unwrap()[1]
            .as_str()
            .unwrap();
        let e = ours.iter().find(|(from, _, _)| *from == format!("iface:worker-1:{name}")).unwrap();
        assert_eq!(e.2["remote_ip"], remote);
        assert_eq!(e.1, format!("chassis:{}", owner[remote]));
        assert_eq!(e.2["local_ip"], "172.31.255.1");
    }
}

/// (container, member) name pairs.
type Pairs = BTreeSet<(String, String)>;

/// `ovn-nbctl show`: switches with their ports (and router-port peers), routers with theirs.
fn nbctl_show(text: &str) -> (Pairs, Pairs, Pairs) {
    let (mut ls, mut lr, mut peer) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut cur: Option<(bool, String)> = None;
    let mut port = String::new();
    for line in text.lines() {
        let t = line.trim();
        let name_in_parens = || t.split('(').nth(1).map(|x| x.trim_end_matches(')').to_string());
        if line.starts_with("switch ") {
            cur = Some((true, name_in_parens().unwrap()));
        } else if line.starts_with("router ") {
            cur = Some((false, name_in_parens().unwrap()));
        } else if let Some(p) = t.strip_prefix("port ") {
            port = p.to_string();
            match &cur {
                Some((true, s)) => ls.insert((s.clone(), port.clone())),
                Some((false, r)) => lr.insert((r.clone(), port.clone())),
                None => false,
            };
        } else if let Some(rp) = t.strip_prefix("router-port: ") {
            peer.insert((port.clone(), rp.to_string()));
        }
    }
    (ls, lr, peer)
}

pub fn logical_adjacency_matches_ovn_nbctl_show() {
    let l = lab();
    let g = graph(&["--view", "logical", "--expand"]);
    let (ls, lr, peer) = nbctl_show(&l.nbctl(&["show"]));
    let member = edges(&g, "member");
    let strip = |s: &str| s.split_once(':').unwrap().1.to_string();
    let got_ls: BTreeSet<_> = member
        .iter()
        .filter(|(_, to, _)| to.starts_with("ls:"))
        .map(|(a, b, _)| (strip(b), strip(a)))
        .collect();
    let got_lr: BTreeSet<_> = member
        .iter()
        .filter(|(_, to, _)| to.starts_with("lr:"))
        .map(|(a, b, _)| (strip(b), strip(a)))
        .collect();
    let got_peer: BTreeSet<_> = edges(&g, "router_peer").iter().map(|(a, b, _)| (strip(a), strip(b))).collect();
    assert_eq!(got_ls, ls);
    assert_eq!(got_lr, lr);
    assert_eq!(got_peer, peer);
    assert_eq!(
        (ls.len(), lr.len(), peer.len()),
        (9, 5, 5),
        "the lab as built: 9 switch ports, 5 router ports, 5 peers"
    );
}

pub fn focus_chain_ifindex_is_the_pod_eth0_peer() {
    let l = lab();
    for (ns, pod, netns) in [
        ("network-trace", "nettools-dual-pod", "pod1"),
        ("network-trace", "nettools-pod-2", "pod2"),
    ] {
        let q = format!("{ns}/{pod}");
        let chain = graph(&["--focus", &q]);
        let out = Command::new("ip")
            .args(["netns", "exec", &l.ns(netns), "ip", "-o", "link", "show", "eth0"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        // "2: eth0@if6: <BROADCAST,…"
        let peer: i64 = text.split("eth0@if").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
        assert_eq!(chain["interface"]["ifindex"], peer, "{q}: {text}");
        let vs: Value = serde_json::from_str(&l.vsctl(&[
            "-f",
            "json",
            "--columns=name,ofport",
            "find",
            "Interface",
            &format!("external_ids:iface-id={ns}_{pod}"),
        ]))
        .unwrap();
        assert_eq!(chain["interface"]["name"], vs["data"][0][0]);
        assert_eq!(chain["interface"]["ofport"], vs["data"][0][1]);
        assert_eq!(chain["interface"]["bridge"], "br-int");
        assert_eq!(chain["chassis"], "worker-1");
        assert_eq!(chain["gateway_router"], "GR_worker-1");
        let nat = chain["nat"].as_array().unwrap();
        assert_eq!(nat.len(), 1);
        assert_eq!(nat[0]["external_ip"], "198.18.0.9");
        // The same NAT row as lr-nat-list reports for this pod's address.
        let ip = chain["port"]["ips"][0].as_str().unwrap();
        assert!(l
            .nbctl(&["lr-nat-list", "GR_worker-1"])
            .lines()
            .any(|line| line.contains(ip) && line.contains("198.18.0.9")));
        // Also offered by show, with the same answer.
        let via_show = l.ovnscope_json(&[
            "show",
            "--ovs-db",
            &l.ovs_sock(),
            "--nb-db",
            &l.nb_sock(),
            "--sb-db",
            &l.sb_sock(),
            "--focus",
            &q,
            "-f",
            "json",
        ]);
        assert_eq!(via_show, chain);
    }
    // The worker-2 pod has no interface in worker-1's database; the chain says where it is bound.
    let far = graph(&["--focus", "10.128.4.5"]);
    assert_eq!(far["chassis"], "worker-2");
    assert!(far["interface"].is_null());
    let (code, _, err) = l.ovnscope(&["topology", "--nb-db", &l.nb_sock(), "--focus", "network-trace/nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no pod, logical switch port or address matches"), "{err}");
}

/// Volatile values normalised: ofports are assigned by ovs-vswitchd in the order ports appear.
fn normalise(dot: &str) -> String {
    let mut out = String::new();
    for line in dot.lines() {
        let mut l = line.to_string();
        while let Some(i) = l.find("ofport ") {
            let rest = &l[i + 7..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            l = format!("{}OFPORT{}", &l[..i], &rest[digits..]);
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

pub fn committed_graphs_are_current() {
    let l = lab();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("graphs");
    for view in ["physical", "logical", "full"] {
        let (code, dot, err) = l.ovnscope(&[
            "topology",
            "--view",
            view,
            "-f",
            "dot",
            "--ovs-db",
            &l.ovs_sock(),
            "--nb-db",
            &l.nb_sock(),
            "--sb-db",
            &l.sb_sock(),
        ]);
        assert_eq!(code, 0, "{err}");
        let committed = std::fs::read_to_string(dir.join(format!("lab-{view}.dot"))).unwrap();
        assert_eq!(
            normalise(&dot),
            normalise(&committed),
            "graphs/lab-{view}.dot is stale: run scripts/graphs.sh"
        );
        let svg = std::fs::read_to_string(dir.join(format!("lab-{view}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("edges"), "legend in graphs/lab-{view}.svg");
    }
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/neutron-ovnnb_db.db");
    if real.exists() {
        let (code, dot, err) = l.ovnscope(&[
            "topology",
            "--view",
            "logical",
            "-f",
            "dot",
            "--nb-db",
            &format!("file:{}", real.display()),
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            dot,
            std::fs::read_to_string(dir.join("real-nb-logical.dot")).unwrap(),
            "graphs/real-nb-logical.dot is stale"
        );
    }
}

pub fn svg_and_missing_graphviz() {
    let l = lab();
    let (code, svg, err) = l.ovnscope(&["topology", "--nb-db", &l.nb_sock(), "--view", "logical", "-f", "svg"]);
    assert_eq!(code, 0, "{err}");
    assert!(svg.starts_with("<?xml") && svg.contains("GR_worker&#45;1"), "svg");
    let out = Command::new(env!("CARGO_BIN_EXE_ovnscope"))
        .args(["topology", "--nb-db", &l.nb_sock(), "-f", "svg"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("needs graphviz's `dot` program") && err.contains("--format dot"),
        "{err}"
    );
}

/// 150 pod veths on br-int and 150 pods on one switch: collapsed into one box each, listed with --expand.
pub fn readable_at_scale() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |prog: &str, args: &[&str]| {
        let out = Command::new(prog).args(args).output().unwrap();
        assert!(out.status.success(), "{prog} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ovs = d.join("conf.db");
    let nb = d.join("nb.db");
    run(
        "ovsdb-tool",
        &["create", ovs.to_str().unwrap(), "/usr/share/openvswitch/vswitch.ovsschema"],
    );
    run("ovsdb-tool", &["create", nb.to_str().unwrap(), "/usr/share/ovn/ovn-nb.ovsschema"]);
    // Fill them through the real ctl tools (ovsdb-server only, no vswitchd: --no-wait).
    let served_ovs = crate::common::Served::start(tempfile::tempdir().unwrap(), &ovs);
    let served_nb = crate::common::Served::start(tempfile::tempdir().unwrap(), &nb);
    let mut vs = vec![
        "--no-wait".to_string(),
        format!("--db={}", served_ovs.sock),
        "init".into(),
        "--".into(),
        "add-br".into(),
        "br-int".into(),
    ];
    let mut nbc = vec![format!("--db={}", served_nb.sock), "ls-add".into(), "worker-9".into()];
    for i in 0..150 {
        let lsp = format!("ns{}_pod-{i}", i % 7);
        vs.extend(["--".into(), "add-port".into(), "br-int".into(), format!("veth{i:05}")]);
        vs.extend([
            "--".into(),
            "set".into(),
            "Interface".into(),
            format!("veth{i:05}"),
            format!("external_ids:iface-id={lsp}"),
        ]);
        nbc.extend(["--".into(), "lsp-add".into(), "worker-9".into(), lsp.clone()]);
        nbc.extend([
            "--".into(),
            "lsp-set-addresses".into(),
            lsp.clone(),
            format!("0a:58:0a:80:12:{:02x} 10.128.18.{i}", i),
        ]);
        nbc.extend([
            "--".into(),
            "set".into(),
            "Logical_Switch_Port".into(),
            lsp,
            format!("external_ids:namespace=ns{}", i % 7),
            "external_ids:pod=true".into(),
        ]);
    }
    run("ovs-vsctl", &vs.iter().map(String::as_str).collect::<Vec<_>>());
    run("ovn-nbctl", &nbc.iter().map(String::as_str).collect::<Vec<_>>());
    let l = lab();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "topology".to_string(),
            "--ovs-db".into(),
            served_ovs.sock.clone(),
            "--nb-db".into(),
            served_nb.sock.clone(),
            "-f".into(),
            "json".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let collapsed = l.ovnscope_json(&args(&[]).iter().map(String::as_str).collect::<Vec<_>>());
    let groups: Vec<&Value> = collapsed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "group")
        .collect();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(groups.iter().all(|g| g["count"] == 150));
    assert!(collapsed["nodes"].as_array().unwrap().len() < 20, "a drawing a person can read");
    let expanded = l.ovnscope_json(&args(&["--expand"]).iter().map(String::as_str).collect::<Vec<_>>());
    let pods = expanded["nodes"].as_array().unwrap().iter().filter(|n| n["kind"] == "pod").count();
    assert_eq!(pods, 150);
    // The collapsed SVG renders (graphviz accepts our DOT).
    let (code, svg, err) = l.ovnscope(
        &args(&[])
            .iter()
            .map(String::as_str)
            .map(|a| if a == "json" { "svg" } else { a })
            .collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(svg.contains("150 pod veths") && svg.contains("150 pods"));
}
