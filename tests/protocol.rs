//! The protocol core in layers: property tests of the framer and datums, and an in-process
//! fake server for faults a real ovsdb-server cannot produce (garbage, a connection cut in the
//! middle of a message, stalls, out-of-order replies).

use ovnscope::ovsdb::client::{over_stream, Options};
use ovnscope::ovsdb::proto::schema::{AtomicType, BaseType, ColumnType};
use ovnscope::ovsdb::proto::{Atom, Datum, Framer};
use ovnscope::ovsdb::Error;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// What a real server sends: replies, an echo probe, update2 notifications with strings that
/// contain braces, brackets, quotes and escapes, and non-ASCII text.
fn sample_stream() -> (Vec<u8>, Vec<Value>) {
    let msgs = vec![
        json!({"id": 0, "result": ["OVN_Northbound", "_Server"], "error": null}),
        json!({"id": "echo", "method": "echo", "params": []}),
        json!({"id": null, "method": "update2", "params": ["m", {"ACL": {"8f0a1c2e-0000-4000-8000-000000000001": {"insert": {
            "match": "ip4.src == {10.0.0.1, 10.0.0.2} && inport == \"p}{\\\"x\"", "name": "déjà-vu ]["}}}}]}),
        json!({"id": 2, "error": {"error": "unknown database", "details": "get_schema: \"nosuch\""}}),
        json!({"id": 3, "result": [{"rows": [{"a": "\\\\", "b": "\u{1F600}"}]}, {"error": "aborted"}], "error": null}),
    ];
    let mut bytes = vec![];
    for (i, m) in msgs.iter().enumerate() {
        bytes.extend(serde_json::to_vec(m).unwrap());
        if i % 2 == 1 {
            bytes.extend(b"\n "); // ovsdb-server accepts whitespace between messages; so do we
        }
    }
    (bytes, msgs)
}

fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Value> {
    let mut f = Framer::default();
    let mut out = vec![];
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let c = c.clamp(last, bytes.len());
        f.feed(&bytes[last..c]);
        last = c;
        while let Some(v) = f.next_message().unwrap() {
            out.push(v);
        }
    }
    assert_eq!(f.pending(), 0);
    out
}

#[test]
fn every_single_split_point_gives_the_same_messages() {
    let (bytes, msgs) = sample_stream();
    for i in 0..=bytes.len() {
        assert_eq!(decode_in_pieces(&bytes, &[i]), msgs, "split at byte {i}");
    }
}

#[test]
fn byte_by_byte_gives_the_same_messages() {
    let (bytes, msgs) = sample_stream();
    let cuts: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(decode_in_pieces(&bytes, &cuts), msgs);
}

proptest! {
    #[test]
    fn any_set_of_split_points_gives_the_same_messages(mut cuts in proptest::collection::vec(0usize..2000, 0..40)) {
        let (bytes, msgs) = sample_stream();
        cuts.sort();
        prop_assert_eq!(decode_in_pieces(&bytes, &cuts), msgs);
    }

    #[test]
    fn arbitrary_strings_survive_framing(s in any::<String>(), n in 1usize..5) {
        let msgs: Vec<Value> = (0..n).map(|i| json!({"id": i, "result": [s.clone(), {"k": s.clone()}], "error": null})).collect();
        let bytes: Vec<u8> = msgs.iter().flat_map(|m| serde_json::to_vec(m).unwrap()).collect();
        let cuts: Vec<usize> = (0..bytes.len()).step_by(7).collect();
        prop_assert_eq!(decode_in_pieces(&bytes, &cuts), msgs);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut f = Framer::default();
        f.feed(&bytes);
        for _ in 0..50 {
            match f.next_message() { Ok(Some(_)) => {}, _ => break }
        }
    }

    #[test]
    fn set_and_map_datums_round_trip(ints in proptest::collection::vec(any::<i64>(), 0..6),
                                     pairs in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..6)) {
        let set_ty = ColumnType { key: BaseType { atomic: AtomicType::Integer, ref_table: None }, value: None, min: 0, max: None };
        let d = Datum::from_json(&set_ty, &json!(["set", ints])).unwrap();
        prop_assert_eq!(Datum::from_json(&set_ty, &d.to_json()).unwrap(), d.clone());
        let mut sorted = ints.clone(); sorted.sort(); sorted.dedup();
        prop_assert_eq!(d.as_set().iter().map(|a| a.as_i64().unwrap()).collect::<Vec<_>>(), sorted);

        let map_ty = ColumnType { key: BaseType { atomic: AtomicType::String, ref_table: None },
            value: Some(BaseType { atomic: AtomicType::String, ref_table: None }), min: 0, max: None };
        let m = Datum::from_json(&map_ty, &json!(["map", pairs.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()])).unwrap();
        prop_assert_eq!(Datum::from_json(&map_ty, &m.to_json()).unwrap(), m.clone());
        // A diff applied twice is the identity for sets (toggle) …
        let mut twice = d.clone();
        twice.apply_diff(&d).unwrap();
        prop_assert_eq!(twice, Datum::Set(vec![]));
        // … and for maps, applying the same pairs again removes them.
        let mut m2 = m.clone();
        m2.apply_diff(&m).unwrap();
        prop_assert_eq!(m2, Datum::Map(vec![]));
        let _ = Atom::Integer(0);
    }
}

// ---------------------------------------------------------------------------------------------
// Fault injection with an in-process fake server.

async fn read_request(s: &mut DuplexStream, framer: &mut Framer) -> Value {
    loop {
        if let Some(v) = framer.next_message().unwrap() {
            return v;
        }
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "client closed");
        framer.feed(&buf[..n]);
    }
}

fn client_with(server: impl FnOnce(DuplexStream) -> tokio::task::JoinHandle<()>, opts: Options) -> ovnscope::ovsdb::Client {
    let (a, b) = tokio::io::duplex(1 << 20);
    let (client, conn) = over_stream(a, "fake:server", &opts);
    tokio::spawn(conn.run());
    drop(server(b));
    client
}

#[tokio::test]
async fn garbage_from_the_server_is_a_clear_error() {
    let client = client_with(
        |mut s| {
            tokio::spawn(async move {
                let mut f = Framer::default();
                let _ = read_request(&mut s, &mut f).await;
                s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await.unwrap();
                tokio::time::sleep(Duration::from_secs(5)).await;
            })
        },
        Options::default(),
    );
    let e = client.list_dbs().await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Closed { .. }), "{e:?}");
    assert!(
        msg.contains("malformed data") && msg.contains("byte 0x48 (H)") && msg.contains("offset 0"),
        "{msg}"
    );
}

#[tokio::test]
async fn malformed_json_inside_a_message_names_it() {
    let client = client_with(
        |mut s| {
            tokio::spawn(async move {
                let mut f = Framer::default();
                let _ = read_request(&mut s, &mut f).await;
                s.write_all(br#"{"id":0,"result":[tru]}"#).await.unwrap();
                tokio::time::sleep(Duration::from_secs(5)).await;
            })
        },
        Options::default(),
    );
    let msg = client.list_dbs().await.unwrap_err().to_string();
    assert!(msg.contains("malformed JSON"), "{msg}");
}

#[tokio::test]
async fn a_connection_cut_mid_message_is_reported_as_such() {
    let client = client_with(
        |mut s| {
            tokio::spawn(async move {
                let mut f = Framer::default();
                let _ = read_request(&mut s, &mut f).await;
                s.write_all(br#"{"id":0,"result":["OVN_Nor"#).await.unwrap();
                drop(s);
            })
        },
        Options::default(),
    );
    let msg = client.list_dbs().await.unwrap_err().to_string();
    assert!(
        msg.contains("closed the connection") && msg.contains("in the middle of a message"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_stalled_server_times_out() {
    let client = client_with(
        |s| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(s);
            })
        },
        Options {
            call_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    );
    let e = client.list_dbs().await.unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
}

#[tokio::test]
async fn a_valid_json_message_that_is_not_json_rpc_is_rejected() {
    let client = client_with(
        |mut s| {
            tokio::spawn(async move {
                let mut f = Framer::default();
                let _ = read_request(&mut s, &mut f).await;
                s.write_all(br#"{"jsonrpc":"2.0","id":0,"result":[]}"#).await.unwrap();
                tokio::time::sleep(Duration::from_secs(5)).await;
            })
        },
        Options::default(),
    );
    let msg = client.list_dbs().await.unwrap_err().to_string();
    assert!(msg.contains("unexpected member \"jsonrpc\""), "{msg}");
}

/// The server's echo is answered with its params; replies are matched by id even when they
/// arrive in the opposite order; string and object errors are both understood.
#[tokio::test]
async fn echo_out_of_order_replies_and_error_shapes() {
    let (tx, rx) = tokio::sync::oneshot::channel::<Value>();
    let client = client_with(
        |mut s| {
            tokio::spawn(async move {
                let mut f = Framer::default();
                let a = read_request(&mut s, &mut f).await;
                let b = read_request(&mut s, &mut f).await;
                let c = read_request(&mut s, &mut f).await;
                s.write_all(br#"{"id":"echo","method":"echo","params":["x",1]}"#).await.unwrap();
                let echo_reply = read_request(&mut s, &mut f).await;
                tx.send(echo_reply).unwrap();
                let by_method = |m: &str| [&a, &b, &c].into_iter().find(|r| r["method"] == m).unwrap()["id"].clone();
                let replies = [
                    json!({"id": by_method("get_schema"), "error": {"error": "unknown database", "details": "nope"}}),
                    json!({"id": by_method("echo"), "result": ["ovnscope"], "error": null}),
                    json!({"id": by_method("list_dbs"), "result": ["A", "B"], "error": null}),
                ];
                for r in replies {
                    s.write_all(&serde_json::to_vec(&r).unwrap()).await.unwrap();
                }
                // get_schema's unknown-database error makes the client ask list_dbs once more.
                let again = read_request(&mut s, &mut f).await;
                s.write_all(&serde_json::to_vec(&json!({"id": again["id"], "result": ["A", "B"], "error": null})).unwrap())
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(5)).await;
            })
        },
        Options::default(),
    );
    let (dbs, echo, schema) = tokio::join!(client.list_dbs(), client.echo(), client.get_schema("nope"));
    assert_eq!(dbs.unwrap(), vec!["A", "B"]);
    echo.unwrap();
    let e = schema.unwrap_err();
    assert!(matches!(e, Error::NoSuchDatabase { .. }), "{e:?}");
    assert!(e.to_string().contains("it serves: A, B"), "{e}");
    assert_eq!(rx.await.unwrap(), json!({"result": ["x", 1], "error": null, "id": "echo"}));
}

/// On an idle connection with probes on, the client sends its own echo, and gives up when the
/// server never answers.
#[tokio::test]
async fn idle_probe_and_give_up() {
    let (tx, rx) = tokio::sync::oneshot::channel::<Value>();
    let client = client_with(
        |mut s| {
            tokio::spawn(async move {
                let mut f = Framer::default();
                let probe = read_request(&mut s, &mut f).await;
                tx.send(probe).unwrap();
                tokio::time::sleep(Duration::from_secs(30)).await;
            })
        },
        Options {
            probe_interval: Some(Duration::from_millis(200)),
            ..Default::default()
        },
    );
    let probe = rx.await.unwrap();
    assert_eq!(probe, json!({"method": "echo", "params": [], "id": "echo"}));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let msg = client.list_dbs().await.unwrap_err().to_string();
    assert!(msg.contains("did not answer our echo probe"), "{msg}");
}
