//! Framing + datum decoding throughput on a multi-megabyte Southbound `monitor_cond` reply.
//!
//! The reply is synthetic but shaped like a real one: Logical_Flow rows as ovn-northd 23.03
//! writes them (match/actions text, external_ids with stage-name/source/stage-hint, a datapath
//! reference), decoded against the committed OVN_Southbound schema. It is fed to the framer in
//! 64 KiB reads, as a socket delivers it, then applied to a snapshot.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ovnscope::ovsdb::proto::{DatabaseSchema, Framer, Snapshot};
use serde_json::{json, Value};
use std::sync::Arc;

fn uuid(i: u64, salt: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (i * 2654435761 + salt) as u32,
        i % 0xffff,
        salt % 0xfff,
        i % 0xfff,
        i * 7919
    )
}

fn sb_reply(flows: u64) -> Vec<u8> {
    let mut rows = serde_json::Map::new();
    for i in 0..flows {
        let dp = uuid(i % 300, 1);
        let m = format!(
            "inport == \"network-trace_pod-{i}\" && eth.src == {{0a:58:0a:80:{:02x}:{:02x}}} && ip4.src == {{10.128.{}.{}}}",
            i % 256,
            (i / 256) % 256,
            i % 250,
            i % 200
        );
        rows.insert(
            uuid(i, 2),
            json!({"initial": {
                "logical_datapath": ["uuid", dp],
                "pipeline": if i % 2 == 0 { "ingress" } else { "egress" },
                "table_id": (i % 30) as i64,
                "priority": (i % 120) as i64,
                "match": m,
                "actions": "reg0[0] = 1; ct_snat(198.18.0.9); next;",
                "external_ids": ["map", [["source", "northd.c:13906"], ["stage-hint", format!("{:08x}", i)], ["stage-name", "lr_out_snat"]]]
            }}),
        );
    }
    let reply = json!({"id": 7, "result": {"Logical_Flow": Value::Object(rows)}, "error": null});
    serde_json::to_vec(&reply).unwrap()
}

fn bench(c: &mut Criterion) {
    let schema_text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/ovn-sb.ovsschema")).unwrap();
    let schema = Arc::new(DatabaseSchema::from_json(&serde_json::from_str(&schema_text).unwrap()).unwrap());
    let bytes = sb_reply(60_000);
    eprintln!("Southbound monitor reply: {:.1} MB, 60000 logical flows", bytes.len() as f64 / 1e6);
    let mut g = c.benchmark_group("sb_monitor_reply");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("framing", |b| {
        b.iter(|| {
            let mut f = Framer::default();
            let mut n = 0;
            for chunk in bytes.chunks(64 * 1024) {
                f.feed(chunk);
                while f.next_message().unwrap().is_some() {
                    n += 1;
                }
            }
            assert_eq!(n, 1);
        })
    });
    g.bench_function("framing+datums", |b| {
        b.iter(|| {
            let mut f = Framer::default();
            let mut snap = Snapshot::new(schema.clone());
            for chunk in bytes.chunks(64 * 1024) {
                f.feed(chunk);
                while let Some(v) = f.next_message().unwrap() {
                    snap.apply_update2(&v["result"]).unwrap();
                }
            }
            assert_eq!(snap.len("Logical_Flow"), 60_000);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
