//! `ovnscope trace` predictions against what tcpdump sees: the headers at the node NIC for a
//! packet to the internet, and the geneve VNI and OVN port keys on the underlay for a packet
//! to the pod on worker-2.

use crate::common::dataplane_turn;
use crate::lab;
use serde_json::Value;
use std::process::{Command, Stdio};

/// Runs tcpdump (-e -vv, one packet) in a namespace while `send` runs; returns its text.
fn seen(ns: &str, iface: &str, filter: &str, send: impl FnOnce()) -> String {
    let mut c = Command::new("ip")
        .args([
            "netns", "exec", ns, "tcpdump", "-l", "-nn", "-e", "-vv", "-i", iface, "-c", "1", filter,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::common::wait_ready(&mut c, "listening on");
    send();
    String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
}

fn predict(to: &str) -> Value {
    predict_with(to, &[])
}

/// `ovnscope trace --from <the dual pod> --to TO -f json`, plus `extra` options.
fn predict_with(to: &str, extra: &[&str]) -> Value {
    let l = lab();
    let (ovs, nb, sb) = (l.ovs_sock(), l.nb_sock(), l.sb_sock());
    let mut args = vec![
        "trace",
        "--ovs-db",
        &ovs,
        "--nb-db",
        &nb,
        "--sb-db",
        &sb,
        "--from",
        "network-trace/nettools-dual-pod",
        "--to",
        to,
        "-f",
        "json",
    ];
    args.extend_from_slice(extra);
    l.ovnscope_json(&args)
}

fn point<'a>(p: &'a Value, kind: &str) -> &'a Value {
    p["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} point: {p:#}"))
}

pub fn predicted_headers_match_tcpdump() {
    let _turn = dataplane_turn();
    let l = lab();
    let ping = |to: &'static str| {
        move || {
            let _ = Command::new("ip")
                .args(["netns", "exec", &lab().ns("pod1"), "ping", "-c", "1", "-W", "2", to])
                .output();
        }
    };
    // Learn the bastion's MAC first (the prediction reads it from MAC_Binding).
    ping("203.0.113.8")();
    let p = predict("203.0.113.8");
    let nic = point(&p, "nic");
    assert_eq!(nic["name"], "ens2f0np0");
    let text = seen(&l.ns("worker-1"), "ens2f0np0", "icmp[icmptype] == icmp-echo", ping("203.0.113.8"));
    let want = format!(
        "{} > {}, ethertype IPv4",
        nic["src_mac"].as_str().unwrap(),
        nic["dst_mac"].as_str().unwrap()
    );
    assert!(text.contains(&want), "{want} in:\n{text}");
    assert!(text.contains(&format!("ttl {},", nic["ttl"])), "ttl {} in:\n{text}", nic["ttl"]);
    assert!(
        text.contains(&format!("{} > 203.0.113.8: ICMP echo request", nic["src"].as_str().unwrap())),
        "{text}"
    );
    // The first two points are the pod's eth0 and its host veth, with the pod's own headers.
    assert_eq!(point(&p, "pod-eth0")["src"], "10.128.2.43");
    assert_eq!(point(&p, "host-veth")["ttl"], 64);

    // Across nodes: the underlay frame, decoded by tcpdump.
    let p = predict("10.128.4.5");
    let tun = point(&p, "tunnel");
    assert_eq!(tun["name"], "ovn-worker-0");
    let text = seen(&l.ns("worker-1"), "ovl-ul-w1", "udp port 6081", ping("10.128.4.5"));
    assert!(
        text.contains(&format!("vni 0x{:x},", tun["vni"].as_i64().unwrap())),
        "vni {} in:\n{text}",
        tun["vni"]
    );
    let data = format!(
        "data {:04x}{:04x}",
        tun["ingress_port_key"].as_i64().unwrap(),
        tun["egress_port_key"].as_i64().unwrap()
    );
    assert!(text.contains(&data), "{data} in:\n{text}");
    let inner = format!(
        "{} > {}, ethertype IPv4",
        tun["src_mac"].as_str().unwrap(),
        tun["dst_mac"].as_str().unwrap()
    );
    assert!(text.contains(&inner), "{inner} in:\n{text}");
    assert!(text.contains(&format!("ttl {},", tun["ttl"])));
    // The VNI is the destination switch's Southbound tunnel key.
    let key = l.sbctl(&[
        "--bare",
        "--columns=tunnel_key",
        "find",
        "Datapath_Binding",
        "external_ids:name=worker-2",
    ]);
    assert_eq!(tun["vni"].as_i64().unwrap().to_string(), key.trim());

    // Same switch: switched, not routed (TTL unchanged), as ping reports.
    let p = predict("10.128.2.44");
    assert!(p["nat"]["exit"].as_str().unwrap().contains("same switch"));
    let out = Command::new("ip")
        .args(["netns", "exec", &l.ns("pod1"), "ping", "-c", "1", "-W", "2", "10.128.2.44"])
        .output()
        .unwrap();
    let reply_ttl = String::from_utf8(out.stdout)
        .unwrap()
        .split("ttl=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let last = p["points"].as_array().unwrap().last().unwrap();
    assert_eq!(last["ttl"].to_string(), reply_ttl, "the reply crosses the same (zero) routers");
}

/// (datapath, stage, uuid prefix) of every logical flow ovn-trace's detailed output shows.
fn ovn_trace_steps(l: &crate::common::Lab, flow: &str) -> std::collections::BTreeSet<(String, String, String)> {
    let out = l.run("ovn-trace", &[&format!("--db={}", l.sb_sock()), "worker-1", flow]);
    crate::agreement::steps(&out, &Default::default())
        .into_iter()
        .map(|s| (s.datapath, s.stage, s.uuid8))
        .collect()
}

/// A live prediction reads the Northbound by the walk's own demand and the Southbound's
/// bindings only (`--read-flows as-needed`; `auto` does so above 16 switches); from the database
/// files everything is read. For each pod and destination
/// (the internet, the pod on worker-2, the other pod on the switch, the node's gateway, an
/// address on no network, the pod itself) the two answers are the same JSON.
pub fn live_prediction_equals_the_files() {
    let l = lab();
    let (ovs, nb, sb) = (l.ovs_sock(), l.nb_sock(), l.sb_sock());
    let nb_file = format!("file:{}", l.dir.join("ovn/ovnnb_db.db").display());
    let sb_file = format!("file:{}", l.dir.join("ovn/ovnsb_db.db").display());
    let mut n = 0;
    for from in ["network-trace/nettools-dual-pod", "network-trace/nettools-pod-2", "10.128.2.44"] {
        for to in [
            "203.0.113.8",
            "10.128.4.5",
            "10.128.2.44",
            "10.128.2.1",
            "198.51.100.77",
            "10.128.2.43",
        ] {
            let q = |nb: &str, sb: &str, how: &str| {
                l.ovnscope_json(&[
                    "trace",
                    "--ovs-db",
                    &ovs,
                    "--nb-db",
                    nb,
                    "--sb-db",
                    sb,
                    "--from",
                    from,
                    "--to",
                    to,
                    "--read-flows",
                    how,
                    "-f",
                    "json",
                ])
            };
            // The lab is small, so `auto` reads it whole; `as-needed` forces the reads by demand.
            let live = q(&nb, &sb, "as-needed");
            assert!(live["points"].as_array().is_some_and(|p| !p.is_empty()), "{from} → {to}: {live:#}");
            assert_eq!(live, q(&nb, &sb, "auto"), "{from} → {to}: live by demand vs live whole");
            assert_eq!(
                live,
                q(&nb_file, &sb_file, "auto"),
                "{from} → {to}: live (targeted) vs files (whole)"
            );
            n += 1;
        }
    }
    eprintln!("{n} predictions: live = files");
}

/// `trace --lflows`: the pod's packet, built from the prediction (MACs, addresses, TTL,
/// protocol), run through the logical flows takes exactly ovn-trace's path for that microflow,
/// and every key-step flow it names is one ovn-trace takes — for a packet to the internet,
/// across the tunnel, and on one switch.
pub fn key_lflows_are_the_ones_ovn_trace_takes() {
    let l = lab();
    for (to, min_steps, proto) in [("203.0.113.8", 7, "tcp"), ("10.128.4.5", 3, "udp"), ("10.128.2.44", 1, "icmp")] {
        let ours = predict_with(to, &["--lflows", "--proto", proto]);
        let microflow = ours["pipeline"]["microflow"].as_str().unwrap();
        assert!(microflow.contains(&format!("ip4.dst == {to}")), "{microflow}");
        if let Some(d) = crate::agreement::compare(l, &l.sb_sock(), "worker-1", microflow, &[], false, None) {
            panic!("{to}: {d}");
        }
        let text = l
            .ovnscope(&[
                "trace",
                "--nb-db",
                &l.nb_sock(),
                "--sb-db",
                &l.sb_sock(),
                "--from",
                "network-trace/nettools-dual-pod",
                "--to",
                to,
                "--lflows",
            ])
            .1;
        assert!(
            text.contains("Logical flows, table by table") && text.contains("verdict: output "),
            "{text}"
        );
        let theirs = ovn_trace_steps(l, microflow);
        let steps = ours["lflows"].as_array().unwrap();
        assert!(steps.len() >= min_steps, "{to}: {steps:#?}");
        for s in steps {
            let key = (
                s["datapath"].as_str().unwrap().to_string(),
                s["stage"].as_str().unwrap().to_string(),
                s["uuid"].as_str().unwrap()[..8].to_string(),
            );
            assert!(theirs.contains(&key), "{to}: {key:?} is not a step of ovn-trace: {theirs:#?}");
        }
    }
}

/// Every match in the lab's Southbound was written by ovn-northd and compiled by
/// ovn-controller, so it is valid OVN syntax: the match-expression parser must read all of
/// them (this OVN release's stages, not a hand-picked sample).
pub fn every_lflow_match_northd_wrote_parses() {
    let flows: Vec<(String, String)> = lab()
        .list(crate::common::Lab::sbctl, "Logical_Flow", &["_uuid", "match"])
        .iter()
        .map(|f| {
            (
                f["_uuid"].as_str().unwrap().to_string(),
                f["match"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    crate::agreement::assert_all_matches_parse("lab", &flows, 100);
}

/// The match evaluator never contradicts ovn-trace on the lab's Southbound: for ICMP, TCP and
/// UDP to the internet, ICMP to a pod on the other node and to a pod on the same node, every
/// flow ovn-trace takes is not false and no higher-priority flow it skipped is true.
pub fn evaluator_agrees_with_ovn_trace() {
    use crate::agreement::{lflow_list, named_lists, steps, Agreement};
    let l = lab();
    let flows = lflow_list(&l.sbctl(&["lflow-list"]), &Default::default());
    let rmac = l
        .nbctl(&["get", "Logical_Router_Port", "rtos-worker-1", "mac"])
        .trim()
        .trim_matches('"')
        .to_string();
    let lsps = l.list(crate::common::Lab::nbctl, "Logical_Switch_Port", &["addresses"]);
    let mac_of = |ip: &str| {
        lsps.iter()
            .filter_map(|p| p["addresses"].as_str())
            .find(|a| a.split_whitespace().nth(1) == Some(ip))
            .map(|a| a.split_whitespace().next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no port has {ip}"))
    };
    let sets = l.list(crate::common::Lab::sbctl, "Address_Set", &["name", "addresses"]);
    let groups = l.list(crate::common::Lab::sbctl, "Port_Group", &["name", "ports"]);
    let base = ovnscope::lflow::Packet {
        src: "10.128.2.43".parse().ok(),
        address_sets: named_lists(sets.iter().map(|r| (&r["name"], &r["addresses"]))),
        port_groups: named_lists(groups.iter().map(|r| (&r["name"], &r["ports"]))),
        ..Default::default()
    };
    let mut total = Agreement::default();
    let cases = [
        ("203.0.113.8", rmac.clone(), "icmp4", "icmp4.type==8 && icmp4.code==0"),
        ("203.0.113.8", rmac.clone(), "tcp", "tcp.src==40000 && tcp.dst==80 && tcp.flags==2"),
        ("203.0.113.8", rmac.clone(), "udp", "udp.src==40000 && udp.dst==53"),
        ("10.128.4.5", rmac.clone(), "icmp4", "icmp4.type==8 && icmp4.code==0"),
        ("10.128.2.44", mac_of("10.128.2.44"), "icmp4", "icmp4.type==8 && icmp4.code==0"),
    ];
    for (dst, dmac, proto, l4) in cases {
        let flow = format!(
            "inport==\"network-trace_nettools-dual-pod\" && eth.src==0a:58:0a:80:02:2b && eth.dst=={dmac} && ip4.src==10.128.2.43 && ip4.dst=={dst} && ip.ttl==64 && {l4}"
        );
        let text = l.run("ovn-trace", &[&format!("--db={}", l.sb_sock()), "worker-1", &flow]);
        let mut start = base.clone();
        start.dst = dst.parse().ok();
        start.proto = Some(proto.into());
        start.eth_src = Some("0a:58:0a:80:02:2b".into());
        start.eth_dst = Some(dmac.clone());
        crate::agreement::known_ints(&flow, &mut start);
        let s = steps(&text, &start);
        assert!(s.len() >= 3, "{dst} {proto}: {text}");
        total.add(&s, &flows);
    }
    println!("{}", total.report("lab, 5 packets"));
    assert!(total.contradictions.is_empty(), "{:#?}", total.contradictions);
    assert!(total.taken_true > 0 && total.higher_false > 0, "{}", total.report("lab"));
}
