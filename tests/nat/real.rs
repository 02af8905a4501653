//! The real Northbound file (OpenShift on OpenStack, OVN 20.09 schema, a router with a
//! distributed gateway port), with a Southbound that a real ovn-northd computes from it:
//! ovnscope's answer for pod addresses against ovn-trace's lr_out_snat step.

use crate::common::Served;
use crate::{lab, trace_snat};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn ctl(prog: &str, db: &str, args: &[&str]) -> String {
    let out = Command::new(prog)
        .arg(format!("--db={db}"))
        .arg("--timeout=120")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{prog} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `<ctl> -f json list TABLE` as objects (values in wire notation, plain for strings).
fn list(prog: &str, db: &str, table: &str, cols: &str) -> Vec<BTreeMap<String, Value>> {
    let v: Value = serde_json::from_str(&ctl(prog, db, &["-f", "json", &format!("--columns={cols}"), "list", table])).unwrap();
    let heads: Vec<String> = serde_json::from_value(v["headings"].clone()).unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            heads
                .iter()
                .cloned()
                .zip(r.as_array().unwrap().iter().map(crate::common::plain))
                .collect()
        })
        .collect()
}

fn strs(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

pub fn real_nb_answers_match_ovn_trace() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/neutron-ovnnb_db.db");
    if !real.exists() {
        println!("skipped: {} is not here", real.display());
        return;
    }
    let nb = Served::new(&real);
    let sb = Served::empty_sb();
    let _northd = crate::common::Northd::start(&nb, &sb);
    ctl("ovn-nbctl", &nb.sock, &["--wait=sb", "sync"]);

    // The router, its distributed gateway port, and a MAC binding for the default route's next
    // hop, so that ovn-trace gets past ARP resolution.
    let routers = list("ovn-nbctl", &nb.sock, "Logical_Router", "_uuid,name");
    assert_eq!(routers.len(), 1);
    let lr_uuid = routers[0]["_uuid"].as_str().unwrap().to_string();
    let lrps = list("ovn-nbctl", &nb.sock, "Logical_Router_Port", "name,mac,networks,gateway_chassis");
    let dgp = lrps
        .iter()
        .find(|p| !strs(&p["gateway_chassis"]).is_empty())
        .expect("a distributed gateway port");
    let dgp_name = dgp["name"].as_str().unwrap();
    let routes = list("ovn-nbctl", &nb.sock, "Logical_Router_Static_Route", "ip_prefix,nexthop");
    let gw = routes.iter().find(|r| r["ip_prefix"] == "0.0.0.0/0").unwrap()["nexthop"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(gw, "10.46.44.126");
    crate::common::add_mac_binding(
        &sb.sock,
        &format!("external_ids:logical-router={lr_uuid}"),
        dgp_name,
        &gw,
        "fa:16:3e:00:00:7e",
    );

    // Pods: VIF ports with a 10.128/14 address, on switches the router serves.
    let lrp_mac: BTreeMap<String, String> = lrps
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["mac"].as_str().unwrap().to_string()))
        .collect();
    let lsps = list("ovn-nbctl", &nb.sock, "Logical_Switch_Port", "_uuid,name,type,addresses,options");
    let switches = list("ovn-nbctl", &nb.sock, "Logical_Switch", "name,ports");
    let mut pods = vec![];
    for s in &switches {
        let ports: Vec<&BTreeMap<String, Value>> = strs(&s["ports"])
            .iter()
            .filter_map(|u| lsps.iter().find(|p| p["_uuid"] == u.as_str()))
            .collect();
        let Some(rp) = ports
            .iter()
            .find(|p| p["type"] == "router")
            .and_then(|p| p["options"]["router-port"].as_str())
        else {
            continue;
        };
        for p in ports.iter().filter(|p| p["type"] == "") {
            let addr = strs(&p["addresses"]).into_iter().next().unwrap_or_default();
            let f: Vec<&str> = addr.split_whitespace().collect();
            if f.len() == 2 && f[1].starts_with("10.12") {
                pods.push((
                    s["name"].as_str().unwrap().to_string(),
                    p["name"].as_str().unwrap().to_string(),
                    f[0].to_string(),
                    f[1].to_string(),
                    lrp_mac[rp].clone(),
                ));
            }
        }
    }
    pods.sort();
    assert!(pods.len() >= 12, "pods found: {}", pods.len());
    let l = lab();
    let (mut agree, mut asked) = (0, 0);
    let mut differences = vec![];
    for (i, (ls, lsp, mac, ip, rmac)) in pods.iter().enumerate().step_by(pods.len() / 12) {
        let flow = format!("inport==\"{lsp}\" && eth.src=={mac} && eth.dst=={rmac} && ip4.src=={ip} && ip4.dst==8.8.8.8 && ip.ttl==64 && icmp4.type==8 && icmp4.code==0");
        let tr = trace_snat(&sb.sock, ls, &flow);
        // Live for most, offline (file:) for every third, on the same data.
        let nbm = if i % 3 == 0 {
            format!("file:{}", real.display())
        } else {
            nb.sock.clone()
        };
        let ans = l.ovnscope_json(&[
            "nat", "--nb-db", &nbm, "--sb-db", &sb.sock, "--lsp", lsp, "--dst", "8.8.8.8", "-f", "json",
        ]);
        asked += 1;
        let ours = &ans["applies"];
        let ok = match &tr {
            Some(t) => {
                // northd 23.03 writes ct_snat_in_czone on this distributed router, 25.03 ct_snat.
                !ours.is_null()
                    && ["ct_snat_in_czone", "ct_snat"]
                        .iter()
                        .any(|a| t.action == format!("{a}({});", ours["external_ip"].as_str().unwrap()))
                    && ours["lflow"]["actions"].as_str() == Some(t.action.as_str())
                    && ours["lflow"]["uuid"].as_str().is_some_and(|u| u.starts_with(&t.uuid8))
                    && ours["priority"] == t.priority
            }
            None => ours.is_null(),
        };
        if ok {
            agree += 1;
        } else {
            differences.push(format!("{lsp} {ip}: ovn-trace {tr:?}, ovnscope {}", ours));
        }
    }
    println!("real NB: {agree}/{asked} pod addresses agree with ovn-trace");
    assert!(agree >= 10 && differences.is_empty(), "{differences:#?}");

    // The match evaluator against every table step ovn-trace takes, and the pipeline executor
    // against ovn-trace's whole run (path, detailed and minimal text), for ICMP from up to 20
    // pods and TCP and UDP from the first 5 (see tests/lab/agreement.rs).
    let name2: BTreeMap<String, String> = list("ovn-sbctl", &sb.sock, "Datapath_Binding", "_uuid,external_ids")
        .iter()
        .filter_map(|d| Some((d["_uuid"].as_str()?.to_string(), d["external_ids"]["name2"].as_str()?.to_string())))
        .collect();
    let flows = crate::agreement::lflow_list(&ctl("ovn-sbctl", &sb.sock, &["lflow-list"]), &name2);
    let sets = list("ovn-sbctl", &sb.sock, "Address_Set", "name,addresses");
    let groups = list("ovn-sbctl", &sb.sock, "Port_Group", "name,ports");
    let base = ovnscope::lflow::Packet {
        address_sets: crate::agreement::named_lists(sets.iter().map(|r| (&r["name"], &r["addresses"]))),
        port_groups: crate::agreement::named_lists(groups.iter().map(|r| (&r["name"], &r["ports"]))),
        ..Default::default()
    };
    let mut total = crate::agreement::Agreement::default();
    let mut packets = 0;
    let (mut identical, mut pipeline_differences) = (0, vec![]);
    for (i, (ls, lsp, mac, ip, rmac)) in pods.iter().take(20).enumerate() {
        let l4s: &[(&str, &str)] = if i < 5 {
            &[
                ("icmp4", "icmp4.type==8 && icmp4.code==0"),
                ("tcp", "tcp.src==40000 && tcp.dst==443 && tcp.flags==2"),
                ("udp", "udp.src==40000 && udp.dst==53"),
            ]
        } else {
            &[("icmp4", "icmp4.type==8 && icmp4.code==0")]
        };
        for (proto, l4) in l4s {
            let flow = format!(
                "inport==\"{lsp}\" && eth.src=={mac} && eth.dst=={rmac} && ip4.src=={ip} && ip4.dst==8.8.8.8 && ip.ttl==64 && {l4}"
            );
            let out = Command::new("ovn-trace")
                .arg(format!("--db={}", sb.sock))
                .arg(ls)
                .arg(&flow)
                .output()
                .unwrap();
            assert!(out.status.success(), "ovn-trace: {}", String::from_utf8_lossy(&out.stderr));
            let mut start = base.clone();
            start.src = ip.parse().ok();
            start.dst = "8.8.8.8".parse().ok();
            start.proto = Some(proto.to_string());
            start.eth_src = Some(mac.to_ascii_lowercase());
            start.eth_dst = Some(rmac.to_ascii_lowercase());
            crate::agreement::known_ints(&flow, &mut start);
            let text = String::from_utf8_lossy(&out.stdout);
            total.add(&crate::agreement::steps(&text, &start), &flows);
            packets += 1;
            // The pipeline executor: the same (datapath, stage, uuid) sequence and verdicts.
            match crate::agreement::compare(l, &sb.sock, ls, &flow, &[], i < 3, Some(&text)) {
                None => identical += 1,
                Some(d) => pipeline_differences.push(format!("{lsp} {proto}: {d}")),
            }
        }
    }
    println!("{}", total.report(&format!("real NB, {packets} packets")));
    println!("real NB: pipeline executor vs ovn-trace: {identical}/{packets} packets identical (steps and verdicts; detailed and minimal text for the first 9)");
    assert!(pipeline_differences.is_empty(), "{pipeline_differences:#?}");
    assert!(packets >= 20, "packets: {packets}");
    assert!(total.contradictions.is_empty(), "{:#?}", total.contradictions);

    let flows: Vec<(String, String)> = list("ovn-sbctl", &sb.sock, "Logical_Flow", "_uuid,match")
        .iter()
        .map(|f| {
            (
                f["_uuid"].as_str().unwrap().to_string(),
                f["match"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    crate::agreement::assert_all_matches_parse("real NB", &flows, 500);
}
