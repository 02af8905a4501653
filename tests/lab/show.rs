//! `ovnscope show --format json` against ovs-vsctl, ovn-nbctl and ovn-sbctl, field by field.

use crate::common::{as_list, as_opt, sorted_strings, Lab};
use crate::lab;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn by_name(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap().to_string(), x.clone()))
        .collect()
}

pub fn ovs_section_matches_ovs_vsctl() {
    let l = lab();
    let doc = l.ovnscope_json(&["show", "--ovs-db", &l.ovs_sock(), "-f", "json"]);
    let ovs = &doc["ovs"];
    let sys = &l.list(Lab::vsctl, "Open_vSwitch", &["external_ids", "ovs_version"])[0];
    assert_eq!(ovs["system_id"], sys["external_ids"]["system-id"]);
    assert_eq!(ovs["ovs_version"], sys["ovs_version"]);

    let bridges = l.list(Lab::vsctl, "Bridge", &["_uuid", "name", "datapath_type", "fail_mode", "ports"]);
    let ports: BTreeMap<String, _> = l
        .list(Lab::vsctl, "Port", &["_uuid", "name", "interfaces", "tag"])
        .into_iter()
        .map(|p| (p["_uuid"].as_str().unwrap().to_string(), p))
        .collect();
    let ifaces: BTreeMap<String, _> = l
        .list(
            Lab::vsctl,
            "Interface",
            &["_uuid", "name", "type", "options", "ofport", "ifindex", "external_ids", "error"],
        )
        .into_iter()
        .map(|i| (i["_uuid"].as_str().unwrap().to_string(), i))
        .collect();
    let ours = by_name(&ovs["bridges"]);
    assert_eq!(ours.len(), bridges.len());
    assert!(
        ours.contains_key("br-int") && ours.contains_key("br-ex") && ours.contains_key("br-phy"),
        "{:?}",
        ours.keys()
    );
    for b in &bridges {
        let name = b["name"].as_str().unwrap();
        let o = &ours[name];
        assert_eq!(o["uuid"], b["_uuid"], "{name}");
        assert_eq!(o["datapath_type"], b["datapath_type"], "{name}");
        assert_eq!(o["fail_mode"], as_opt(&b["fail_mode"]), "{name}");
        let want_ports = sorted_strings(as_list(&b["ports"]).iter().map(|u| ports[u.as_str().unwrap()]["name"].clone()));
        let got_ports = by_name(&o["ports"]);
        assert_eq!(got_ports.keys().cloned().collect::<Vec<_>>(), want_ports, "{name} ports");
        for pu in as_list(&b["ports"]) {
            let p = &ports[pu.as_str().unwrap()];
            let gp = &got_ports[p["name"].as_str().unwrap()];
            assert_eq!(gp["uuid"], p["_uuid"]);
            assert_eq!(gp["tag"], as_opt(&p["tag"]));
            let got_ifaces = by_name(&gp["interfaces"]);
            assert_eq!(got_ifaces.len(), as_list(&p["interfaces"]).len());
            for iu in as_list(&p["interfaces"]) {
                let i = &ifaces[iu.as_str().unwrap()];
                let gi = &got_ifaces[i["name"].as_str().unwrap()];
                let ctx = i["name"].as_str().unwrap();
                assert_eq!(gi["uuid"], i["_uuid"], "{ctx}");
                assert_eq!(gi["type"], i["type"], "{ctx}");
                assert_eq!(gi["options"], i["options"], "{ctx}");
                assert_eq!(gi["ofport"], as_opt(&i["ofport"]), "{ctx}");
                assert_eq!(gi["ifindex"], as_opt(&i["ifindex"]), "{ctx}");
                assert_eq!(
                    gi["iface_id"],
                    i["external_ids"].get("iface-id").cloned().unwrap_or(Value::Null),
                    "{ctx}"
                );
                assert_eq!(gi["error"], as_opt(&i["error"]), "{ctx}");
            }
        }
    }
    // Facts of the lab's construction: a geneve tunnel to worker-2 and a patch pair to br-ex.
    let br_int = by_name(&ours["br-int"]["ports"]);
    let tunnel = &br_int["ovn-worker-0"]["interfaces"][0];
    assert_eq!(tunnel["type"], "geneve");
    assert_eq!(tunnel["options"]["remote_ip"], "172.31.255.2");
    assert_eq!(
        br_int["patch-br-int-to-br-ex_worker-1"]["interfaces"][0]["options"]["peer"],
        "patch-br-ex_worker-1-to-br-int"
    );
}

pub fn nb_section_matches_ovn_nbctl() {
    let l = lab();
    let doc = l.ovnscope_json(&["show", "--nb-db", &l.nb_sock(), "-f", "json"]);
    let nb = &doc["nb"];
    assert_eq!(nb["schema"]["name"], "OVN_Northbound");

    let lsps: BTreeMap<String, _> = l
        .list(Lab::nbctl, "Logical_Switch_Port", &["_uuid", "name", "type", "addresses"])
        .into_iter()
        .map(|p| (p["_uuid"].as_str().unwrap().to_string(), p))
        .collect();
    let switches = l.list(Lab::nbctl, "Logical_Switch", &["_uuid", "name", "ports"]);
    let ours = by_name(&nb["switches"]);
    assert_eq!(ours.len(), switches.len());
    for s in &switches {
        let o = &ours[s["name"].as_str().unwrap()];
        assert_eq!(o["uuid"], s["_uuid"]);
        let gp = by_name(&o["ports"]);
        assert_eq!(gp.len(), as_list(&s["ports"]).len());
        for pu in as_list(&s["ports"]) {
            let p = &lsps[pu.as_str().unwrap()];
            let g = &gp[p["name"].as_str().unwrap()];
            assert_eq!(g["uuid"], p["_uuid"]);
            assert_eq!(g["type"], p["type"]);
            assert_eq!(sorted_strings(as_list(&g["addresses"])), sorted_strings(as_list(&p["addresses"])));
        }
    }

    let lrps: BTreeMap<String, _> = l
        .list(Lab::nbctl, "Logical_Router_Port", &["_uuid", "name", "mac", "networks"])
        .into_iter()
        .map(|p| (p["_uuid"].as_str().unwrap().to_string(), p))
        .collect();
    let nats: BTreeMap<String, _> = l
        .list(Lab::nbctl, "NAT", &["_uuid", "type", "external_ip", "logical_ip"])
        .into_iter()
        .map(|n| (n["_uuid"].as_str().unwrap().to_string(), n))
        .collect();
    let routers = l.list(Lab::nbctl, "Logical_Router", &["_uuid", "name", "ports", "nat"]);
    let ours = by_name(&nb["routers"]);
    assert_eq!(ours.len(), routers.len());
    for r in &routers {
        let name = r["name"].as_str().unwrap();
        let o = &ours[name];
        assert_eq!(o["uuid"], r["_uuid"]);
        let gp = by_name(&o["ports"]);
        assert_eq!(gp.len(), as_list(&r["ports"]).len());
        for pu in as_list(&r["ports"]) {
            let p = &lrps[pu.as_str().unwrap()];
            let g = &gp[p["name"].as_str().unwrap()];
            assert_eq!(g["uuid"], p["_uuid"]);
            assert_eq!(g["mac"], p["mac"]);
            assert_eq!(sorted_strings(as_list(&g["networks"])), sorted_strings(as_list(&p["networks"])));
        }
        let mut want: Vec<Value> = as_list(&r["nat"])
            .iter()
            .map(|u| {
                let n = &nats[u.as_str().unwrap()];
                json!({"uuid": n["_uuid"], "type": n["type"], "external_ip": n["external_ip"], "logical_ip": n["logical_ip"]})
            })
            .collect();
        let mut got: Vec<Value> = o["nat"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| json!({"uuid": n["uuid"], "type": n["type"], "external_ip": n["external_ip"], "logical_ip": n["logical_ip"]}))
            .collect();
        want.sort_by_key(|v| v.to_string());
        got.sort_by_key(|v| v.to_string());
        assert_eq!(got, want, "{name} NAT");
    }
    // And in the form admins read: lr-nat-list's external/logical IP columns.
    let listed: Vec<(String, String, String)> = l
        .nbctl(&["lr-nat-list", "GR_worker-1"])
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    let mut got: Vec<(String, String, String)> = ours["GR_worker-1"]["nat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["type"].as_str().unwrap().into(),
                n["external_ip"].as_str().unwrap().into(),
                n["logical_ip"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    let mut listed = listed;
    listed.sort();
    assert_eq!(got, listed);
    assert_eq!(ours["GR_worker-1"]["chassis"], "worker-1");
}

pub fn sb_section_matches_ovn_sbctl() {
    let l = lab();
    let doc = l.ovnscope_json(&["show", "--sb-db", &l.sb_sock(), "-f", "json"]);
    let sb = &doc["sb"];
    let encaps: BTreeMap<String, _> = l
        .list(Lab::sbctl, "Encap", &["_uuid", "type", "ip"])
        .into_iter()
        .map(|e| (e["_uuid"].as_str().unwrap().to_string(), e))
        .collect();
    let bindings = l.list(Lab::sbctl, "Port_Binding", &["logical_port", "chassis"]);
    let chassis = l.list(Lab::sbctl, "Chassis", &["_uuid", "name", "hostname", "encaps"]);
    let ours = by_name(&sb["chassis"]);
    assert_eq!(ours.keys().cloned().collect::<Vec<_>>(), vec!["worker-1", "worker-2"]);
    for c in &chassis {
        let o = &ours[c["name"].as_str().unwrap()];
        assert_eq!(o["uuid"], c["_uuid"]);
        assert_eq!(o["hostname"], c["hostname"]);
        let mut want: Vec<Value> = as_list(&c["encaps"])
            .iter()
            .map(|u| {
                let e = &encaps[u.as_str().unwrap()];
                json!({"type": e["type"], "ip": e["ip"]})
            })
            .collect();
        let mut got: Vec<Value> = o["encaps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| json!({"type": e["type"], "ip": e["ip"]}))
            .collect();
        want.sort_by_key(|v| v.to_string());
        got.sort_by_key(|v| v.to_string());
        assert_eq!(got, want);
        let want_pb = sorted_strings(
            bindings
                .iter()
                .filter(|b| as_opt(&b["chassis"]) == c["_uuid"])
                .map(|b| b["logical_port"].clone()),
        );
        assert_eq!(sorted_strings(as_list(&o["port_bindings"])), want_pb);
    }
    assert!(as_list(&ours["worker-2"]["port_bindings"]).contains(&json!("network-trace_nettools-w2")));
}

pub fn sections_follow_the_options_given() {
    let l = lab();
    let doc = l.ovnscope_json(&[
        "show",
        "--nb-db",
        &l.nb_sock(),
        "--sb-db",
        &format!("tcp:127.0.0.1:{}", l.sb_port),
        "-f",
        "json",
    ]);
    assert!(doc.get("ovs").is_none(), "no --ovs-db, so no ovs section");
    assert!(doc.get("nb").is_some() && doc.get("sb").is_some());
    assert_eq!(doc["sb"]["source"], format!("tcp:127.0.0.1:{}", l.sb_port));
    assert_eq!(doc["warnings"], json!([]), "the lab runs the schemas ovnscope was written against");
}

pub fn defaults_come_from_the_environment_like_the_ovs_tools() {
    let l = lab();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ovnscope"))
        .args(["show", "-f", "json"])
        .envs(l.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ovs"]["source"], l.ovs_sock(), "OVS_RUNDIR/db.sock");
    assert_eq!(doc["nb"]["source"], l.nb_sock(), "OVN_NB_DB");
    assert_eq!(doc["sb"]["source"], l.sb_sock(), "OVN_SB_DB");
}

pub fn text_output_reads_like_the_ctl_tools() {
    let l = lab();
    let (code, out, err) = l.ovnscope(&["show", "--ovs-db", &l.ovs_sock(), "--nb-db", &l.nb_sock(), "--sb-db", &l.sb_sock()]);
    assert_eq!(code, 0, "{err}");
    // Every bridge and port ovs-vsctl lists, every switch/router ovn-nbctl lists, every chassis.
    for b in l.vsctl(&["list-br"]).lines() {
        assert!(out.contains(&format!("    Bridge {b}\n")), "bridge {b}");
        for p in l.vsctl(&["list-ports", b]).lines() {
            assert!(out.contains(&format!("        Port {p}\n")), "port {p}");
        }
    }
    for s in l.nbctl(&["ls-list"]).lines() {
        let (uuid, name) = s.split_once(' ').unwrap();
        assert!(out.contains(&format!("    switch {uuid} {name}\n")), "switch {s}");
    }
    for r in l.nbctl(&["lr-list"]).lines() {
        let (uuid, name) = r.split_once(' ').unwrap();
        assert!(out.contains(&format!("    router {uuid} {name}\n")), "router {r}");
    }
    for c in ["worker-1", "worker-2"] {
        assert!(out.contains(&format!("    Chassis {c}\n")));
    }
    assert!(out.contains("            external ip: \"198.18.0.9\"\n            logical ip: \"10.128.2.43\"\n"));
}
