//! The OVSDB client against real ovsdb-servers: monitors, schemas, `_Server`, read-only wire
//! traffic, and echo probes on idle TCP.

use crate::common::{as_list, plain, rt, Lab};
use crate::lab;
use ovnscope::db::{load_live, DbKind};
use ovnscope::ovsdb::client::{over_stream, Options};
use ovnscope::ovsdb::proto::{DatabaseSchema, Framer, SchemaDiff, Snapshot};
use ovnscope::ovsdb::{connect, Condition, MonitorRequest, Select};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The server's NAT rows and GR_worker-1's `nat` column, as ovn-nbctl reports them.
/// (NAT rows as (uuid, type, external_ip, logical_ip), the router's `nat` column).
type NatView = (Vec<(String, String, String, String)>, Vec<String>);

fn server_nat_view(l: &Lab) -> NatView {
    let mut rows: Vec<_> = l
        .list(Lab::nbctl, "NAT", &["_uuid", "type", "external_ip", "logical_ip"])
        .into_iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap().to_string();
            (s("_uuid"), s("type"), s("external_ip"), s("logical_ip"))
        })
        .collect();
    rows.sort();
    let gr = l
        .list(Lab::nbctl, "Logical_Router", &["name", "nat"])
        .into_iter()
        .find(|r| r["name"] == "GR_worker-1")
        .unwrap();
    let mut nat: Vec<String> = as_list(&gr["nat"]).iter().map(|u| u.as_str().unwrap().to_string()).collect();
    nat.sort();
    (rows, nat)
}

fn our_nat_view(s: &Snapshot) -> NatView {
    let mut rows: Vec<_> = s
        .rows("NAT")
        .map(|(u, r)| {
            let c = |k: &str| {
                r.columns
                    .get(k)
                    .and_then(|d| d.first())
                    .and_then(|a| a.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            (u.to_string(), c("type"), c("external_ip"), c("logical_ip"))
        })
        .collect();
    rows.sort();
    let (_, gr) = s.rows("Logical_Router").next().expect("monitor selects GR_worker-1 only");
    let mut nat: Vec<String> = gr.columns["nat"]
        .as_set()
        .iter()
        .map(|a| a.as_uuid().unwrap().to_string())
        .collect();
    nat.sort();
    (rows, nat)
}

pub fn monitor_follows_lr_nat_add_and_del() {
    let l = lab();
    rt().block_on(async {
        let client = connect(&format!("tcp:127.0.0.1:{}", l.nb_port), &Options::default()).await.unwrap();
        let schema = Arc::new(client.get_schema("OVN_Northbound").await.unwrap());
        let mut reqs = BTreeMap::new();
        reqs.insert(
            "NAT".to_string(),
            MonitorRequest {
                columns: Some(vec!["type".into(), "external_ip".into(), "logical_ip".into()]),
                conditions: vec![],
            },
        );
        reqs.insert(
            "Logical_Router".to_string(),
            MonitorRequest {
                columns: Some(vec!["name".into(), "nat".into()]),
                conditions: vec![Condition::eq("name", json!("GR_worker-1"))],
            },
        );
        let (initial, mut mon) = client.monitor_cond("OVN_Northbound", &reqs).await.unwrap();
        let mut snap = Snapshot::new(schema);
        snap.apply_update2(&initial).unwrap();
        assert_eq!(our_nat_view(&snap), server_nat_view(l));
        assert_eq!(snap.len("Logical_Router"), 1, "where name == GR_worker-1");

        for change in [
            vec!["lr-nat-add", "GR_worker-1", "snat", "198.18.0.9", "10.128.3.99"],
            vec!["lr-nat-del", "GR_worker-1", "snat", "10.128.3.99"],
        ] {
            let before = snap.len("NAT");
            l.nbctl(&change);
            // Apply updates until the row count moved, then compare with the server.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while snap.len("NAT") == before {
                let u = tokio::time::timeout_at(deadline, mon.next())
                    .await
                    .expect("an update2 within 10 s")
                    .expect("monitor open");
                assert_eq!(u.method, "update2");
                snap.apply_update2(&u.table_updates).unwrap();
            }
            while let Some(u) = mon.try_next() {
                snap.apply_update2(&u.table_updates).unwrap();
            }
            assert_eq!(our_nat_view(&snap), server_nat_view(l), "after {change:?}");
        }
        assert_eq!(snap.len("NAT"), 2);
    });
}

pub fn live_schemas_match_the_committed_files() {
    let l = lab();
    rt().block_on(async {
        for (method, file) in [
            (l.ovs_sock(), "vswitch.ovsschema"),
            (l.nb_sock(), "ovn-nb.ovsschema"),
            (l.sb_sock(), "ovn-sb.ovsschema"),
        ] {
            // The committed files are the system's (23.03 / OVS 3.1); another generation is
            // compared with the schema files its own packages ship.
            let path = match crate::generation::current().as_str() {
                "23.03" => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(file),
                _ if file == "vswitch.ovsschema" => crate::generation::ovs_share().join(file),
                _ => crate::generation::ovn_share().join(file),
            };
            let committed = DatabaseSchema::from_json(&serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()).unwrap();
            let client = connect(&method, &Options::default()).await.unwrap();
            let live = client.get_schema(&committed.name).await.unwrap();
            let diff = SchemaDiff::between(&committed, &live);
            println!(
                "{} {} (live {}) vs {file}: {diff:?}",
                committed.name, committed.version, live.version
            );
            assert_eq!(live.version, committed.version);
            assert!(diff.is_empty(), "{diff:?}");
        }
    });
}

pub fn list_dbs_and_server_database_match_ovsdb_client() {
    let l = lab();
    rt().block_on(async {
        for method in [l.nb_sock(), l.sb_sock(), l.ovs_sock()] {
            let client = connect(&method, &Options::default()).await.unwrap();
            let mut ours = client.list_dbs().await.unwrap();
            ours.sort();
            let mut theirs: Vec<String> = l.run("ovsdb-client", &["list-dbs", &method]).lines().map(str::to_string).collect();
            theirs.sort();
            assert_eq!(ours, theirs, "{method}");
            let server = client.server_databases().await.unwrap();
            let dump: Value = serde_json::from_str(&l.run(
                "ovsdb-client",
                &[
                    "-f",
                    "json",
                    "dump",
                    &method,
                    "_Server",
                    "Database",
                    "name",
                    "model",
                    "connected",
                    "leader",
                ],
            ))
            .unwrap();
            let heads: Vec<String> = serde_json::from_value(dump["headings"].clone()).unwrap();
            let mut want: Vec<(String, String, bool, bool)> = dump["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    let get = |k: &str| plain(&row[heads.iter().position(|h| h == k).unwrap()]);
                    (
                        get("name").as_str().unwrap().into(),
                        get("model").as_str().unwrap().into(),
                        get("connected").as_bool().unwrap(),
                        get("leader").as_bool().unwrap(),
                    )
                })
                .collect();
            let mut got: Vec<_> = server
                .iter()
                .map(|d| (d.name.clone(), d.model.clone(), d.connected, d.leader))
                .collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{method}");
        }
    });
}

/// Tees everything the client writes, so the test can read what went on the wire.
struct Recorder<S> {
    inner: S,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorder<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorder<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.sent.lock().unwrap().extend_from_slice(&buf[..*n]);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub fn only_read_operations_go_on_the_wire() {
    let l = lab();
    let before = l.run("ovsdb-client", &["dump", &l.nb_sock(), "OVN_Northbound"]);
    let sent = Arc::new(Mutex::new(Vec::new()));
    rt().block_on(async {
        let path = l.nb_sock().trim_start_matches("unix:").to_string();
        let stream = tokio::net::UnixStream::connect(path).await.unwrap();
        let (client, conn) = over_stream(
            Recorder {
                inner: stream,
                sent: sent.clone(),
            },
            "nb",
            &Options::default(),
        );
        tokio::spawn(conn.run());
        // Everything the CLI does, plus every public call of the client.
        load_live(&client, DbKind::Nb, ovnscope::db::nb::TABLES).await.unwrap();
        client.list_dbs().await.unwrap();
        client.echo().await.unwrap();
        client.server_databases().await.unwrap();
        client
            .select("OVN_Northbound", &[Select::all("NAT"), Select::all("Logical_Router")])
            .await
            .unwrap();
        // What `ovnscope serve`'s cache sends on every (re)connect.
        let reqs = [(
            "NAT".to_string(),
            ovnscope::ovsdb::MonitorRequest {
                columns: None,
                conditions: vec![],
            },
        )]
        .into_iter()
        .collect();
        let since = client.monitor_cond_since("OVN_Northbound", &reqs, None).await.unwrap();
        client.monitor_cancel(since.monitor).await.unwrap();
    });
    // And a trace that reads the Southbound datapath by datapath (lflow::load), recorded on
    // the same wire log (the Southbound itself changes as ovn-controller reports, so only the
    // wire says it was not written).
    let rmac = l.nbctl(&["get", "Logical_Router_Port", "rtos-worker-1", "mac"]);
    let flow = format!(
        "inport==\"network-trace_nettools-dual-pod\" && eth.src==0a:58:0a:80:02:2b && eth.dst=={} && ip4.src==10.128.2.43 && ip4.dst==203.0.113.8 && ip.ttl==64 && icmp4.type==8 && icmp4.code==0",
        rmac.trim().trim_matches('"')
    );
    rt().block_on(async {
        let path = l.sb_sock().trim_start_matches("unix:").to_string();
        let stream = tokio::net::UnixStream::connect(path).await.unwrap();
        let (client, conn) = over_stream(
            Recorder {
                inner: stream,
                sent: sent.clone(),
            },
            "sb",
            &Options::default(),
        );
        tokio::spawn(conn.run());
        let mut live = ovnscope::lflow::load::LiveSb::start(&client, Some(false)).await.unwrap();
        let t = live.trace(&flow, &Default::default()).await.unwrap().unwrap();
        assert_eq!(t.verdicts(), vec!["output br-ex_worker-1"]);
        assert!(live.rounds > 3, "read in rounds: {}", live.rounds);
    });
    let mut f = Framer::default();
    f.feed(&sent.lock().unwrap());
    let mut methods = vec![];
    while let Some(m) = f.next_message().unwrap() {
        let method = m["method"].as_str().unwrap_or("(reply)").to_string();
        assert!(
            [
                "list_dbs",
                "get_schema",
                "echo",
                "monitor_cond",
                "monitor_cond_since",
                "monitor_cancel",
                "transact"
            ]
            .contains(&method.as_str()),
            "{method} is not a read operation"
        );
        if method == "transact" {
            let ops = m["params"].as_array().unwrap();
            let kinds: Vec<&str> = ops[1..].iter().map(|o| o["op"].as_str().unwrap()).collect();
            assert_eq!(kinds.last(), Some(&"abort"), "every transaction ends in abort");
            assert!(kinds[..kinds.len() - 1].iter().all(|k| *k == "select"), "{kinds:?}");
        }
        methods.push(method);
    }
    assert!(methods.contains(&"transact".to_string()) && methods.contains(&"monitor_cond".to_string()));
    assert_eq!(
        l.run("ovsdb-client", &["dump", &l.nb_sock(), "OVN_Northbound"]),
        before,
        "database unchanged"
    );
}

/// ovsdb-server probes an idle TCP client after 5 s and drops it 5 s later if it stays
/// silent; the connection answers, so a call after 11 s idle still works.
pub fn idle_tcp_connection_survives_server_probes() {
    let l = lab();
    rt().block_on(async {
        let opts = Options {
            probe_interval: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let client = connect(&format!("tcp:127.0.0.1:{}", l.sb_port), &opts).await.unwrap();
        client.list_dbs().await.unwrap();
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(client.list_dbs().await.unwrap().contains(&"OVN_Southbound".to_string()));
    });
    let log = std::fs::read_to_string(l.dir.join("ovn/ovnsb_db.log")).unwrap();
    assert!(
        !log.contains("no response to inactivity probe"),
        "server dropped an idle client:\n{log}"
    );
}

/// `-v` logs one line per OVSDB request with the bytes each way; socat relaying the same
/// connection (`socat -v`, which logs every chunk it passes) counts the same bytes in each
/// direction, and every logged method is a read.
pub fn request_log_counts_the_bytes_socat_relays() {
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let relay = dir.path().join("relay.sock");
    let log = std::fs::File::create(dir.path().join("socat.log")).unwrap();
    let mut socat = std::process::Command::new("socat")
        .args([
            "-v".to_string(),
            format!("UNIX-LISTEN:{}", relay.display()),
            format!("UNIX-CONNECT:{}", l.nb_sock().trim_start_matches("unix:")),
        ])
        .stderr(log)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if relay.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, out, err) = l.ovnscope(&["show", "-v", "--nb-db", &format!("unix:{}", relay.display())]);
    let _ = socat.wait(); // socat ends with the (single) connection
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("router"), "{out:.300}");
    let line = regex::Regex::new(r"^ovnscope: ovsdb unix:\S+: (\w+)[^:]*: (\d+) B sent, (\d+) B received, [\d.]+ ms$").unwrap();
    let (mut sent, mut received, mut methods) = (0u64, 0u64, vec![]);
    for l in err.lines().filter(|l| l.starts_with("ovnscope: ovsdb ")) {
        let c = line.captures(l).unwrap_or_else(|| panic!("a request line: {l:?}"));
        methods.push(c[1].to_string());
        sent += c[2].parse::<u64>().unwrap();
        received += c[3].parse::<u64>().unwrap();
    }
    assert!(methods.len() >= 2, "{err}");
    let reads = [
        "get_schema",
        "list_dbs",
        "transact",
        "monitor",
        "monitor_cond",
        "monitor_cond_since",
        "monitor_cancel",
        "echo",
    ];
    assert!(methods.iter().all(|m| reads.contains(&m.as_str())), "{methods:?}");
    // socat -v: "> DATE TIME length=N from=… to=…" before each chunk client → server, "<" the
    // way back (the chunk's data follows; JSON ends with no newline, so a header can follow
    // data on the same line).
    let relayed = std::fs::read_to_string(dir.path().join("socat.log")).unwrap();
    let header = regex::Regex::new(r"([<>]) \d{4}/\d\d/\d\d [\d:.]+\s+length=(\d+) from=").unwrap();
    let (mut to_server, mut to_client) = (0u64, 0u64);
    for c in header.captures_iter(&relayed) {
        let n: u64 = c[2].parse().unwrap();
        if &c[1] == ">" {
            to_server += n;
        } else {
            to_client += n;
        }
    }
    assert_eq!((sent, received), (to_server, to_client), "{err}");
}
