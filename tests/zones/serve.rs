//! `ovnscope serve`, one real process per zone of the interconnect lab: the CLI's fan-out over
//! the serves answers like the zones read directly, the served rows equal what `ovn-nbctl`
//! lists (also across 100 crashes and restarts of a zone's ovsdb-server under a writer), bad
//! requests get JSON-RPC errors while the server goes on, and a WebSocket subscription streams
//! a pod's NAT answer as `ovn-nbctl` changes it.

use super::{lab, ZONES};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Serve {
    zone: &'static str,
    url: String,
    child: Child,
}

static SERVES: OnceLock<Mutex<Vec<Serve>>> = OnceLock::new();

/// Starts `ovnscope serve` for a zone on a free loopback port; returns once it listens.
fn start(zone: &'static str, extra: &[&str]) -> Serve {
    let l = lab();
    let (ovs, nb, sb) = (l.ovs(zone), l.nb(zone), l.sb(zone));
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--ovs-db", &ovs, "--nb-db", &nb, "--sb-db", &sb];
    args.extend_from_slice(extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovnscope"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ovnscope serve");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut url = None;
    let mut seen = String::new();
    for _ in 0..20 {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen += &line;
        if let Some(u) = line.trim().strip_prefix("ovnscope serve: listening on ") {
            url = Some(u.to_string());
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("serve for {zone} did not start: {seen}"));
    // Keep draining its standard error so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });
    Serve { zone, url, child }
}

/// The three serves of the lab, started once.
pub fn serves() -> Vec<(&'static str, String)> {
    let m = SERVES.get_or_init(|| Mutex::new(ZONES.iter().map(|z| start(z, &[])).collect()));
    m.lock().unwrap().iter().map(|s| (s.zone, s.url.clone())).collect()
}

/// Stops every serve this file started (by its PID, through `Child`).
pub fn stop_all() {
    if let Some(m) = SERVES.get() {
        for s in m.lock().unwrap().iter_mut() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}

fn url_of(zone: &str) -> String {
    serves().into_iter().find(|(z, _)| *z == zone).unwrap().1
}

/// One HTTP/1.1 exchange with raw bytes; returns (status, body).
fn http(url: &str, body: &[u8]) -> (u16, String) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A JSON-RPC call; the whole response object.
fn rpc(url: &str, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let (status, body) = http(url, req.to_string().as_bytes());
    assert_eq!(status, 200, "{method}: HTTP {status}: {body}");
    let mut de = serde_json::Deserializer::from_str(&body);
    de.disable_recursion_limit();
    serde::Deserialize::deserialize(&mut de).unwrap_or_else(|e| panic!("{method}: {e}: {body:.300}"))
}

fn result(url: &str, method: &str, params: Value) -> Value {
    let r = rpc(url, method, params);
    r.get("result").cloned().unwrap_or_else(|| panic!("{method}: {r}"))
}

fn serve_cluster_file() -> String {
    let path = lab().dir.join("serve-cluster");
    let text: String = serves().iter().map(|(z, u)| format!("{z} serve={u}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Every command, over the cluster: `--cluster` naming the serves prints exactly what
/// `--cluster` naming the zones' databases prints (text, JSON and DOT), and one zone read with
/// `--serve` is that zone read directly.
pub fn fan_out_over_serves_answers_like_the_zones() {
    let l = lab();
    let via = serve_cluster_file();
    let direct = l.cluster_file();
    let questions: Vec<Vec<&str>> = vec![
        vec!["show"],
        vec!["show", "-f", "json"],
        vec!["show", "--focus", "network-trace/nettools-w3"],
        vec!["topology"],
        vec!["topology", "-f", "json"],
        vec!["topology", "-f", "dot", "--view", "physical"],
        vec!["topology", "--focus", "10.128.4.5", "-f", "json"],
        vec!["nat", "--pod", "network-trace/nettools-dual-pod", "-f", "json"],
        vec!["nat", "--ip", "10.128.6.7"],
        vec!["nat", "--external-ip", "198.18.0.10", "-f", "json"],
        vec!["nat", "--external-ip", "198.18.0.10"],
        vec!["nat", "--lsp", "network-trace_nettools-w2", "--dst", "10.128.6.7"],
        vec!["trace", "--from", "network-trace/nettools-dual-pod", "--to", "10.128.6.7", "-f", "json"],
        vec!["trace", "--from", "network-trace/nettools-w2", "--to", "203.0.113.8", "--lflows"],
        vec![
            "trace",
            "--microflow",
            "inport == \"network-trace_nettools-w3\" && eth.src == 0a:58:0a:80:06:07 && eth.dst == 0a:58:0a:80:06:01 && ip4.src == 10.128.6.7 && ip4.dst == 10.128.2.43 && ip.ttl == 64 && icmp4.type == 8",
            "-f",
            "json",
        ],
    ];
    for q in &questions {
        let (c1, a, e1) = l.ovnscope(&[&q[..], &["--cluster", &via]].concat());
        let (c2, b, e2) = l.ovnscope(&[&q[..], &["--cluster", &direct]].concat());
        assert_eq!((c1, c2), (0, 0), "{q:?}: via serve: {e1}\ndirect: {e2}");
        assert!(
            a == b,
            "{q:?}: the serves answer differently from the zones:\n{a:.2000}\n---\n{b:.2000}"
        );
        assert!(!a.trim().is_empty(), "{q:?}: empty answer");
    }
    // A pod no zone holds: "no" (exit 1) with the same message either way.
    let a = l.ovnscope(&["nat", "--pod", "nope/none", "--cluster", &via]);
    let b = l.ovnscope(&["nat", "--pod", "nope/none", "--cluster", &direct]);
    assert_eq!(a.0, 1, "{a:?}");
    assert_eq!(a, b);
    for z in ZONES {
        let url = url_of(z);
        for q in [vec!["show", "-f", "json"], vec!["topology", "-f", "json"]] {
            let a = l.json(&[&q[..], &["--serve", &url]].concat());
            let b = l.zone_json(q[0], z, &q[1..]);
            assert_eq!(a, b, "{z}: {q:?}");
        }
    }
    // A serve that is not there: exit 3, and the message names it.
    let (code, _, err) = l.ovnscope(&["show", "--serve", "http://127.0.0.1:9"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot reach ovnscope serve at http://127.0.0.1:9"), "{err}");
}

/// The question methods answer with the CLI's own `--format json` document of that zone, and
/// the NAT they name is the rule `ovn-nbctl lr-nat-list` shows for the pod.
pub fn questions_over_json_rpc_are_the_cli_documents() {
    let l = lab();
    for (zone, _, lsp, ip, _) in super::PODS {
        let url = url_of(zone);
        let pod = lsp.replacen('_', "/", 1);
        let served = result(&url, "nat", json!(["--pod", pod]));
        assert_eq!(served, l.zone_json("nat", zone, &["--pod", &pod, "-f", "json"]), "{pod}");
        let listed = l.nbctl(zone, &["lr-nat-list", &format!("GR_{zone}")]);
        let rule = listed
            .lines()
            .find(|line| line.split_whitespace().nth(2) == Some(ip))
            .unwrap_or_else(|| panic!("lr-nat-list has no rule for {ip}: {listed}"));
        let external = rule.split_whitespace().nth(1).unwrap();
        assert!(
            served.to_string().contains(&format!("\"{external}\"")),
            "{pod}: {rule} not in {served}"
        );
        let show = result(&url, "show", json!({"args": []}));
        assert_eq!(show, l.zone_json("show", zone, &["-f", "json"]));
        let topo = result(&url, "topology", json!(["--view", "logical"]));
        assert_eq!(topo, l.zone_json("topology", zone, &["--view", "logical", "-f", "json"]));
        let trace = result(&url, "trace", json!(["--from", pod, "--to", "203.0.113.8"]));
        assert_eq!(
            trace,
            l.zone_json("trace", zone, &["--from", &pod, "--to", "203.0.113.8", "-f", "json"])
        );
    }
    // The rows themselves: every NAT row and switch port of each zone, as ovn-nbctl lists them.
    for z in ZONES {
        let (nat, lsp) = served_rows(&url_of(z));
        assert_eq!(nat, nbctl_set(z, "NAT", "_uuid"), "{z}: NAT rows");
        assert_eq!(lsp, nbctl_set(z, "Logical_Switch_Port", "name"), "{z}: switch ports");
        let status = result(&url_of(z), "status", json!([]));
        for db in status["databases"].as_array().unwrap() {
            assert_eq!(db["connected"], json!(true), "{z}: {db}");
        }
    }
}

/// (NAT uuids, switch port names) as a serve holds them.
fn served_rows(url: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let r = result(
        url,
        "rows",
        json!({"db": "nb", "tables": {"NAT": ["logical_ip"], "Logical_Switch_Port": ["name"]}}),
    );
    let nat = r["rows"]["NAT"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["_uuid"][1].as_str().unwrap().to_string())
        .collect();
    let lsp = r["rows"]["Logical_Switch_Port"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap().to_string())
        .collect();
    (nat, lsp)
}

fn nbctl_set(zone: &str, table: &str, column: &str) -> BTreeSet<String> {
    lab()
        .nbctl(zone, &["--bare", &format!("--columns={column}"), "list", table])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Malformed JSON, an unknown method, bad parameters, an oversized body and a client that
/// sends half a request and stalls: each gets its error (or is left waiting alone), and the
/// server keeps answering. A non-loopback plaintext listener is refused.
pub fn bad_requests_get_errors_and_serve_goes_on() {
    let l = lab();
    let url = url_of("worker-1");
    let code = |r: &Value| r["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {r}"));
    let (status, body) = http(&url, b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
    assert_eq!(status, 200);
    assert_eq!(code(&serde_json::from_str(&body).unwrap()), -32700, "{body}");
    assert_eq!(code(&rpc(&url, "no_such_method", json!([]))), -32601);
    assert_eq!(code(&rpc(&url, "nat", json!([1, 2]))), -32602);
    let bogus = rpc(&url, "nat", json!(["--bogus"]));
    assert_eq!(code(&bogus), -32002, "a usage error: exit code 2");
    assert!(bogus["error"]["message"].as_str().unwrap().contains("--bogus"), "{bogus}");
    let named = rpc(&url, "show", json!(["--nb-db", "unix:/etc/passwd"]));
    assert_eq!(code(&named), -32002, "{named}");
    let missing = rpc(&url, "nat", json!(["--pod", "nope/none"]));
    assert_eq!(code(&missing), -32001, "not found: exit code 1, {missing}");
    assert_eq!(code(&rpc(&url, "rows", json!({"db": "nowhere"}))), -32602);
    // 17 MiB against the 16 MiB default.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":[\"{}\"]}}",
        "x".repeat(17 << 20)
    );
    let (status, _) = http(&url, big.as_bytes());
    assert_eq!(status, 413, "an oversized body is refused");
    // A slow client holds its connection; others are served meanwhile.
    let addr = url.strip_prefix("http://").unwrap();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"jsonrpc\"")
        .unwrap();
    let t = Instant::now();
    let s = result(&url, "status", json!([]));
    assert!(s["databases"].as_array().is_some_and(|d| d.len() == 3), "{s}");
    assert!(t.elapsed() < Duration::from_secs(10), "a stalled client held up another");
    drop(slow);
    assert_eq!(result(&url, "status", json!([]))["schema"], json!(1));
    // Safe by default: plaintext on a non-loopback address needs --allow-remote.
    let (code, _, err) = l.ovnscope(&["serve", "--listen", "0.0.0.0:0", "--nb-db", &l.nb("worker-1")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
}

/// `explain` over JSON-RPC with the captures uploaded (base64 in `files`): the document is the
/// CLI's for the same files against the same zone; a file name with a slash is refused.
pub fn explain_over_json_rpc_with_uploaded_captures() {
    use base64::Engine;
    let l = lab();
    let url = url_of("worker-1");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/captures");
    let points = [
        ("pod:network-trace/nettools-dual-pod", "pod.pcap"),
        ("ens2f0np0", "nic.pcap"),
        ("bastion-out", "bastion-out.pcap"),
    ];
    let files: serde_json::Map<String, Value> = points
        .iter()
        .map(|(_, f)| {
            (
                f.to_string(),
                json!(base64::engine::general_purpose::STANDARD.encode(std::fs::read(demo.join(f)).unwrap())),
            )
        })
        .collect();
    let mut args = vec![];
    let mut cli = vec![];
    for (p, f) in points {
        args.extend(["--capture".to_string(), format!("{p}={f}")]);
        cli.extend(["--capture".to_string(), format!("{p}={}", demo.join(f).display())]);
    }
    let served = result(&url, "explain", json!({"args": args, "files": files}));
    let cli: Vec<&str> = cli.iter().map(String::as_str).chain(["-f", "json"]).collect();
    assert_eq!(served, l.zone_json("explain", "worker-1", &cli));
    assert!(
        served.to_string().contains("198.18.0.9") || served.to_string().contains("203.0.113.8"),
        "{served}"
    );
    let bad = rpc(
        &url,
        "explain",
        json!({"args": ["--capture", "x=../etc"], "files": {"../etc": "AA=="}}),
    );
    assert_eq!(bad["error"]["code"], json!(-32602), "{bad}");
    // Nothing but uploads: a path on the serve's node is refused, with or without other uploads.
    let pod = demo.join("pod.pcap").display().to_string();
    for params in [
        json!(["--capture", format!("pod={pod}")]),
        json!({"args": ["--capture", format!("pod={pod}")], "files": files.clone()}),
    ] {
        let r = rpc(&url, "explain", params);
        assert_eq!(r["error"]["code"], json!(-32602), "{r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("uploaded captures only"), "{r}");
    }
}

/// `conntrack` through serve: after a real ping, the node's entries for the pod (read from the
/// ovs-vswitchd next to serve's Open_vSwitch socket) are the ones the CLI lists for that zone,
/// zone owners included; serve refuses to be pointed at another socket or namespace.
pub fn conntrack_over_json_rpc_is_the_nodes() {
    let l = lab();
    let url = url_of("worker-1");
    super::ping(&l.ns("pod1"), "203.0.113.8");
    let served = result(&url, "conntrack", json!(["--pod", "network-trace/nettools-dual-pod"]));
    // The CLI finds ovs-vswitchd's socket next to --ovs-db unix:DIR/db.sock the same way.
    let cli = l.zone_json("conntrack", "worker-1", &["--pod", "network-trace/nettools-dual-pod", "-f", "json"]);
    let key = |j: &Value| -> BTreeSet<String> {
        j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {} {} {}", e["zone"], e["owner"], e["orig"]["src"], e["orig"]["dst"]))
            .collect()
    };
    assert!(!key(&served).is_empty(), "the ping's entries: {served}");
    assert_eq!(key(&served), key(&cli));
    for bad in [
        json!(["--unixctl", "/run/other.ctl"]),
        json!(["--kernel"]),
        json!(["--netns", "x"]),
        json!(["--follow", "--duration", "1"]),
    ] {
        let r = rpc(&url, "conntrack", bad.clone());
        assert_eq!(r["error"]["code"], json!(-32002), "{bad}: {r}");
    }
}

/// A TLS listener that, like ovsdb-server, requires a client certificate: `--serve https://…`
/// with `-p/-c/-C` reads the zone exactly as directly; a client certificate from another CA,
/// or none, or plain HTTP, gets nothing, and the serve goes on.
pub fn tls_listener_requires_client_certificates() {
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    super::certs::make(d);
    let f = |n: &str| d.join(n).display().to_string();
    let (sk, sc, ca) = (f("server.key"), f("server.crt"), f("ca.crt"));
    let mut serve = start("worker-2", &["--tls-cert", &sc, "--tls-key", &sk, "--tls-client-ca", &ca]);
    assert!(serve.url.starts_with("https://127.0.0.1:"), "{}", serve.url);
    let tls = |who: &str| -> (i32, String, String) {
        let (key, cert) = (f(&format!("{who}.key")), f(&format!("{who}.crt")));
        l.ovnscope(&["show", "-f", "json", "--serve", &serve.url, "-p", &key, "-c", &cert, "-C", &ca])
    };
    let (code, out, err) = tls("client");
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, l.zone_json("show", "worker-2", &["-f", "json"]));
    // A client certificate signed by a CA the serve does not trust.
    let (code, _, err) = tls("stranger");
    assert_eq!(code, 3, "{err}");
    let plain = serve.url.replace("https://", "http://");
    let (code, _, err) = l.ovnscope(&["show", "--serve", &plain]);
    assert_eq!(code, 3, "plain HTTP to a TLS listener: {err}");
    let (code, _, err) = l.ovnscope(&["show", "--serve", &serve.url]);
    assert_eq!(code, 3, "no client certificate: {err}");
    assert!(err.contains("-p PRIVATE-KEY"), "{err}");
    assert_eq!(tls("client").0, 0, "still serving");
    let _ = serve.child.kill();
    let _ = serve.child.wait();
}

/// WebSocket: `subscribe` to a pod's NAT answer; `ovn-nbctl lr-nat-add` of a dnat_and_snat for
/// the pod changes it (now two rules tie, the ones `lr-nat-list` shows), deleting it changes it
/// back.
pub fn a_subscription_streams_the_answer_as_the_database_changes() {
    let l = lab();
    let url = url_of("worker-3");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use tokio_util::compat::TokioAsyncReadCompatExt;
        let addr = url.strip_prefix("http://").unwrap().to_string();
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut client = soketto::handshake::Client::new(tcp.compat(), &addr, "/");
        match client.handshake().await.unwrap() {
            soketto::handshake::ServerResponse::Accepted { .. } => {}
            other => panic!("websocket refused: {other:?}"),
        }
        let (mut tx, mut rx) = client.into_builder().finish();
        let sub = json!({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
            "params": {"command": "nat", "args": ["--ip", "10.128.6.7"]}});
        tx.send_text(sub.to_string()).await.unwrap();
        tx.flush().await.unwrap();
        let ack = recv(&mut rx).await;
        assert!(ack.get("result").is_some(), "the subscription id first: {ack}");
        let first = recv(&mut rx).await;
        assert_eq!(first["method"], json!("answer"), "{first}");
        let before = json!(first_external(&first["params"]["result"]));
        assert_eq!(before, json!("198.18.0.11"), "worker-3's per-pod SNAT: {first}");
        l.nbctl(
            "worker-3",
            &["lr-nat-add", "GR_worker-3", "dnat_and_snat", "198.18.0.99", "10.128.6.7"],
        );
        let changed = recv(&mut rx).await;
        let listed = l.nbctl("worker-3", &["lr-nat-list", "GR_worker-3"]);
        l.nbctl("worker-3", &["lr-nat-del", "GR_worker-3", "dnat_and_snat", "198.18.0.99"]);
        // Both rules match 10.128.6.7/32 at the same priority: the new answer is the tie, its
        // candidates the rules lr-nat-list shows for the pod.
        let after = &changed["params"]["result"];
        assert_eq!(
            after["tie"].as_array().map(Vec::len),
            Some(2),
            "the answer after lr-nat-add: {changed}"
        );
        let mut named: Vec<&str> = after["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["external_ip"].as_str())
            .collect();
        named.sort();
        let mut listed: Vec<&str> = listed
            .lines()
            .filter(|line| line.split_whitespace().nth(2) == Some("10.128.6.7"))
            .filter_map(|line| line.split_whitespace().nth(1))
            .collect();
        listed.sort();
        assert_eq!(named, listed, "{changed}");
        let back = recv(&mut rx).await;
        assert_eq!(json!(first_external(&back["params"]["result"])), before, "after lr-nat-del: {back}");
    });
}

/// The next WebSocket message, as JSON (within 15 s).
async fn recv<T: futures::AsyncRead + futures::AsyncWrite + Unpin>(rx: &mut soketto::connection::Receiver<T>) -> Value {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), rx.receive_data(&mut buf))
        .await
        .expect("a message in time")
        .expect("a websocket message");
    serde_json::from_slice(&buf).expect("JSON")
}

/// The external IP the NAT answer chose (the rule that `applies`).
fn first_external(answer: &Value) -> String {
    answer
        .pointer("/applies/external_ip")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no rule applies in {answer}"))
        .to_string()
}

/// 100 crashes and restarts of worker-3's Northbound ovsdb-server (SIGKILL, then the same
/// command line), while a writer adds and removes NAT rules and switch ports with `ovn-nbctl`:
/// after every resynchronisation the served rows are exactly what `ovn-nbctl list` shows —
/// none lost, none ghost.
pub fn resync_after_100_restarts_loses_and_ghosts_nothing() {
    let l = lab();
    let zone = "worker-3";
    let url = url_of(zone);
    l.nbctl(zone, &["lr-add", "restart-probe", "--", "ls-add", "restart-sw"]);
    let stop = Arc::new(AtomicBool::new(false));
    let pause = Arc::new(AtomicBool::new(false));
    let idle = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, pause, idle, writes) = (stop.clone(), pause.clone(), idle.clone(), writes.clone());
        let db = format!("--db={}", l.nb(zone));
        std::thread::spawn(move || {
            let mut n: u32 = 0;
            while !stop.load(Ordering::SeqCst) {
                if pause.load(Ordering::SeqCst) {
                    idle.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                idle.store(false, Ordering::SeqCst);
                n += 1;
                let ip = |k: u32| format!("10.200.{}.{}", (k / 250) % 250, k % 250 + 1);
                let mut ops = vec![
                    vec![
                        "lr-nat-add".to_string(),
                        "restart-probe".into(),
                        "snat".into(),
                        format!("203.0.113.{}", n % 200 + 1),
                        ip(n),
                    ],
                    vec!["lsp-add".into(), "restart-sw".into(), format!("probe-{n}")],
                ];
                if n > 3 {
                    ops.push(vec!["lr-nat-del".into(), "restart-probe".into(), "snat".into(), ip(n - 3)]);
                    ops.push(vec!["lsp-del".into(), format!("probe-{}", n - 3)]);
                }
                for op in ops {
                    // Fails while the server is down; the next round writes again.
                    let ok = Command::new("ovn-nbctl")
                        .arg(&db)
                        .arg("--timeout=2")
                        .args(&op)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                    if ok {
                        writes.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        })
    };
    let syncs = || {
        let s = result(&url, "status", json!([]));
        let nb = s["databases"].as_array().unwrap().iter().find(|d| d["db"] == "nb").unwrap().clone();
        (nb["syncs"].as_u64().unwrap(), nb["connected"].as_bool().unwrap())
    };
    let (mut lost, mut ghost, mut resyncs) = (0usize, 0usize, 0u64);
    let t = Instant::now();
    for round in 0..100 {
        let (before, _) = syncs();
        l.script_args(&["restart-db", zone, "nb"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while syncs().0 <= before {
            assert!(Instant::now() < deadline, "round {round}: serve did not resynchronise");
            std::thread::sleep(Duration::from_millis(10));
        }
        resyncs += 1;
        // Quiesce the writer, then the cache must converge on what ovn-nbctl lists.
        pause.store(true, Ordering::SeqCst);
        while !idle.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let want = (nbctl_set(zone, "NAT", "_uuid"), nbctl_set(zone, "Logical_Switch_Port", "name"));
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = served_rows(&url);
        while got != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            got = served_rows(&url);
        }
        lost += want.0.difference(&got.0).count() + want.1.difference(&got.1).count();
        ghost += got.0.difference(&want.0).count() + got.1.difference(&want.1).count();
        pause.store(false, Ordering::SeqCst);
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let (_, connected) = syncs();
    eprintln!(
        "restart test: 100 restarts, {resyncs} resyncs, {} writes by ovn-nbctl, {lost} lost, {ghost} ghost, {:.1} s",
        writes.load(Ordering::SeqCst),
        t.elapsed().as_secs_f64()
    );
    l.nbctl(zone, &["lr-del", "restart-probe", "--", "ls-del", "restart-sw"]);
    assert!(connected);
    assert!(writes.load(Ordering::SeqCst) > 100, "the writer wrote between restarts");
    assert_eq!((lost, ghost), (0, 0), "rows lost / ghost after resyncs");
    // And after the clean-up, the cache follows again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while served_rows(&url).1.iter().any(|p| p.starts_with("probe-")) {
        assert!(Instant::now() < deadline, "the clean-up never reached the cache");
        std::thread::sleep(Duration::from_millis(20));
    }
}
