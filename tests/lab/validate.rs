//! `explain --validate` on a real capture: the pipeline's output agrees with what the node's
//! NIC saw; after the SNAT rule is changed (on our own ovn-northd, from the lab's Northbound),
//! the disagreement names the lr_out_snat logical flow that ovn-sbctl finds for the new rule.

use crate::common::{Lab, Northd, Served};
use serde_json::Value;
use std::path::Path;

fn validation(l: &Lab, nb: &str, sb: &str, captures: &[String]) -> (i32, Value) {
    validation_with(l, &["--nb-db", nb, "--sb-db", sb], captures)
}

fn validation_with(l: &Lab, dbs: &[&str], captures: &[String]) -> (i32, Value) {
    let mut args = vec!["explain", "--validate", "-f", "json"];
    args.extend_from_slice(dbs);
    for c in captures {
        args.extend(["--capture", c.as_str()]);
    }
    let (code, out, err) = l.ovnscope(&args);
    assert!(code == 0 || code == 1, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (code, doc["validation"].clone())
}

/// The echo request's (`forward`) or reply's validation.
fn of(all: &Value, direction: &str) -> Value {
    all.as_array()
        .unwrap()
        .iter()
        .find(|v| v["packet"].as_str().unwrap().ends_with(&format!("({direction})")))
        .cloned()
        .unwrap_or_else(|| panic!("no {direction} packet in {all:#}"))
}

/// `captures` are `POINT=FILE` of one ping from pod-2 to 203.0.113.8, the first at the pod's
/// eth0 and the next at worker-1's NIC; `veth` the same ping at the pod's host veth.
pub fn validation_agrees_then_names_the_changed_snat(l: &Lab, captures: &[String], veth: &str) {
    let localnet = l.nbctl(&["--bare", "--columns=name", "find", "Logical_Switch_Port", "type=localnet"]);
    let external_ip = l
        .nbctl(&["--bare", "--columns=external_ip", "find", "NAT", "logical_ip=10.128.2.44"])
        .trim()
        .trim_matches('"')
        .to_string();
    let (code, all) = validation(l, &l.nb_sock(), &l.sb_sock(), captures);
    let v = of(&all, "forward");
    assert_eq!((code, v["status"].as_str().unwrap()), (0, "agrees"), "{v:#}");
    assert_eq!(v["output"].as_str().unwrap(), localnet.trim(), "{v:#}");
    assert_eq!(v["expected"]["src"], external_ip, "the pipeline's SNAT = ovn-nbctl's rule: {v:#}");
    assert_eq!(v["expected"], v["observed"]);
    // The reply enters where the request left (the localnet port) and is un-SNATed by the
    // connection the request committed, back to the pod.
    let r = of(&all, "reply");
    assert_eq!(r["status"], "agrees", "{r:#}");
    assert_eq!(r["inport"].as_str().unwrap(), localnet.trim());
    assert_eq!(r["output"], "network-trace_nettools-pod-2");
    assert_eq!(r["expected"]["dst"], "10.128.2.44", "{r:#}");
    // From the host veth instead, which the Open_vSwitch database ties to the pod's port.
    let from_veth = [veth.to_string(), captures[1].clone()];
    let ovs = l.ovs_sock();
    let (code, all) = validation_with(l, &["--ovs-db", &ovs, "--nb-db", &l.nb_sock(), "--sb-db", &l.sb_sock()], &from_veth);
    let v = of(&all, "forward");
    assert_eq!((code, v["status"].as_str().unwrap()), (0, "agrees"), "{all:#}");
    assert_eq!(v["inport"], "network-trace_nettools-pod-2", "{v:#}");
    assert_eq!(v["from"].as_str().unwrap(), veth.split('=').next().unwrap());

    // A capture at the pod that saw nothing, after the veth: the request starts at the veth;
    // the reply reaches the veth as the flows say, and the flows deliver it on to the pod's
    // port — where it was not seen: that disagreement is reported (exit 1).
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pcap");
    let header: [u8; 24] = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    std::fs::write(&empty, header).unwrap();
    let pod = captures[0].split('=').next().unwrap();
    let three = [format!("{pod}={}", empty.display()), veth.to_string(), captures[1].clone()];
    let (code, all) = validation_with(l, &["--ovs-db", &ovs, "--nb-db", &l.nb_sock(), "--sb-db", &l.sb_sock()], &three);
    assert_eq!(code, 1, "{all:#}");
    assert_eq!(of(&all, "forward")["status"], "agrees", "{all:#}");
    let r = of(&all, "reply");
    assert_eq!(r["status"], "disagrees", "{r:#}");
    assert_eq!(r["next"].as_str().unwrap(), veth.split('=').next().unwrap());
    assert!(r["mismatches"].as_array().unwrap().is_empty(), "the veth agrees: {r:#}");
    assert_eq!(r["later"][0]["point"], pod);
    assert_eq!(r["later"][0]["mismatches"][0]["observed"], format!("not seen at {pod}"));

    // The same capture against a Northbound where that rule now says 198.18.0.99.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/ovnnb_db.db");
    let nb = Served::new(&demo);
    let sb = Served::empty_sb();
    let _northd = Northd::start(&nb, &sb);
    let ctl = |prog: &str, db: &str, args: &[&str]| {
        let mut a = vec![format!("--db={db}")];
        a.extend(args.iter().map(|s| s.to_string()));
        l.run(prog, &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    ctl("ovn-nbctl", &nb.sock, &["lr-nat-del", "GR_worker-1", "snat", "10.128.2.44"]);
    ctl(
        "ovn-nbctl",
        &nb.sock,
        &["lr-nat-add", "GR_worker-1", "snat", "198.18.0.99", "10.128.2.44"],
    );
    ctl("ovn-nbctl", &nb.sock, &["--wait=sb", "sync"]);
    // The next hop's MAC, learned in the lab, so ARP resolution is not what differs.
    crate::common::add_mac_binding(
        &sb.sock,
        "external_ids:name=GR_worker-1",
        "rtoe-GR_worker-1",
        "198.18.0.1",
        "52:54:00:b0:00:01",
    );
    let flow = ctl(
        "ovn-sbctl",
        &sb.sock,
        &[
            "--bare",
            "--columns=_uuid",
            "find",
            "Logical_Flow",
            "actions=\"ct_snat(198.18.0.99);\"",
        ],
    );
    let (code, all) = validation(l, &nb.sock, &sb.sock, captures);
    let v = of(&all, "forward");
    assert_eq!((code, v["status"].as_str().unwrap()), (1, "disagrees"), "{v:#}");
    let m = v["mismatches"].as_array().unwrap();
    assert_eq!(m.len(), 1, "only the source address differs: {v:#}");
    assert_eq!(m[0]["field"], "ip.src");
    assert_eq!(m[0]["expected"], "198.18.0.99");
    assert_eq!(m[0]["observed"], external_ip);
    assert_eq!(m[0]["lflow"]["stage"], "lr_out_snat");
    assert_eq!(
        m[0]["lflow"]["uuid"].as_str().unwrap(),
        flow.trim(),
        "the flow ovn-sbctl finds for the new rule"
    );
    assert_eq!(m[0]["lflow"]["datapath"], "GR_worker-1");
}
