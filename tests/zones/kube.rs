//! `--kube` and the `kubectl ovnscope` plugin against a stand-in Kubernetes API server.
//!
//! No Debian or crates.io package ships kube-apiserver, so this stand-in (plain HTTP on
//! loopback) serves what the real one would for these calls: the node list with
//! OVN-Kubernetes's annotations and the `ovnscope serve` pods of the DaemonSet, built from
//! k8s-openapi types, and `pods/portforward` as a WebSocket upgrade speaking
//! `v4.channel.k8s.io` (a data and an error channel per port, each opened by a frame with the
//! port number, then data frames with the channel byte first). The "pods" are the real serve
//! processes of `serve.rs`, one per zone of the lab; the answers are compared with reading the
//! zones directly.

use super::{lab, ZONES};
use k8s_openapi::api::core::v1::{Node, NodeSpec, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Requests the stand-in saw: (method, path with query).
type Log = Arc<Mutex<Vec<(String, String)>>>;

struct StandIn {
    kubeconfig: std::path::PathBuf,
    log: Log,
}

static STAND_IN: OnceLock<StandIn> = OnceLock::new();

fn node(name: &str, id: u32, subnet: &str) -> Node {
    let ann: BTreeMap<String, String> = [
        ("k8s.ovn.org/zone-name", name.to_string()),
        ("k8s.ovn.org/node-id", id.to_string()),
        ("k8s.ovn.org/node-subnets", json!({"default": [subnet]}).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(ann),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        ..Default::default()
    }
}

/// A running pod on `node`, as the API lists it.
fn running_pod(name: &str, ns: &str, labels: &[(&str, &str)], annotations: &[(&str, String)], node: &str, ip: Option<&str>) -> Pod {
    let map = |kv: Vec<(String, String)>| (!kv.is_empty()).then(|| kv.into_iter().collect());
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: map(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            annotations: map(annotations.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            pod_ips: ip.map(|ip| vec![k8s_openapi::api::core::v1::PodIP { ip: ip.into() }]),
            ..Default::default()
        }),
    }
}

fn serve_pod(node: &str) -> Pod {
    running_pod(
        &format!("ovnscope-serve-{node}"),
        "ovnscope",
        &[("app", "ovnscope-serve")],
        &[],
        node,
        None,
    )
}

/// A workload pod of the lab as the API shows it: its node, its IP, and the
/// `k8s.ovn.org/pod-networks` annotation OVN-Kubernetes writes (MAC 0a:58 + the IP's bytes).
fn workload_pod(lsp: &str, node: &str, ip: &str) -> Pod {
    let name = lsp.split_once('_').map(|(_, n)| n).unwrap_or(lsp);
    let o: Vec<u8> = ip.split('.').map(|b| b.parse().unwrap()).collect();
    let mac = format!("0a:58:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]);
    let gw = format!("{}.{}.{}.1", o[0], o[1], o[2]);
    let net = json!({"default": {"ip_addresses": [format!("{ip}/23")], "mac_address": mac, "gateway_ips": [gw],
        "ip_address": format!("{ip}/23"), "gateway_ip": gw, "role": "primary"}});
    running_pod(
        name,
        "network-trace",
        &[],
        &[("k8s.ovn.org/pod-networks", net.to_string())],
        node,
        Some(ip),
    )
}

/// OVN-Kubernetes's node pod on `node` (OpenShift's namespace and label).
fn ovnkube_node_pod(node: &str) -> Pod {
    running_pod(
        &format!("ovnkube-node-{node}"),
        "openshift-ovn-kubernetes",
        &[("app", "ovnkube-node")],
        &[],
        node,
        None,
    )
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
}

/// Starts the stand-in (once) in its own thread; returns it.
fn stand_in() -> &'static StandIn {
    STAND_IN.get_or_init(|| {
        // Pod name -> the real serve it stands for.
        let targets: BTreeMap<String, String> = super::serve::serves()
            .into_iter()
            .map(|(z, url)| (format!("ovnscope-serve-{z}"), url.trim_start_matches("http://").to_string()))
            .collect();
        let mut nodes: Vec<Value> = ZONES
            .iter()
            .enumerate()
            .map(|(i, z)| serde_json::to_value(node(z, i as u32 + 2, &format!("10.128.{}.0/23", 2 * (i + 1)))).unwrap())
            .collect();
        // A node the DaemonSet has not reached (yet): left out with a warning.
        nodes.push(serde_json::to_value(node("worker-4", 5, "10.128.8.0/23")).unwrap());
        let pods: Vec<Value> = ZONES.iter().map(|z| serde_json::to_value(serve_pod(z)).unwrap()).collect();
        let ovnk: Vec<Value> = ZONES.iter().map(|z| serde_json::to_value(ovnkube_node_pod(z)).unwrap()).collect();
        let workloads: BTreeMap<String, Value> = super::PODS
            .iter()
            .map(|(zone, _, lsp, ip, _)| {
                let p = workload_pod(lsp, zone, ip);
                (p.metadata.name.clone().unwrap(), serde_json::to_value(p).unwrap())
            })
            .collect();
        let log: Log = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                let state = Arc::new(Routes {
                    nodes: list("NodeList", nodes),
                    serve_pods: list("PodList", pods),
                    ovnk_pods: list("PodList", ovnk),
                    workloads,
                    targets,
                    log: log2,
                });
                loop {
                    let (s, _) = l.accept().await.unwrap();
                    tokio::spawn(handle(s, state.clone()));
                }
            });
        });
        let addr = rx.recv().unwrap();
        let kubeconfig = lab().dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: http://{addr}\nusers:\n- name: admin\n  user:\n    token: stand-in\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: admin\n    namespace: default\ncurrent-context: lab\n"
            ),
        )
        .unwrap();
        StandIn { kubeconfig, log }
    })
}

struct Routes {
    nodes: Value,
    serve_pods: Value,
    ovnk_pods: Value,
    /// The lab's pods in namespace network-trace, by name.
    workloads: BTreeMap<String, Value>,
    /// Serve pod name -> the real serve's address.
    targets: BTreeMap<String, String>,
    log: Log,
}

type State = Arc<Routes>;

/// `%2F` and friends in a query value.
fn unescape(s: &str) -> String {
    let mut out = vec![];
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(s: tokio::net::TcpStream, state: State) {
    let mut r = BufReader::new(s);
    loop {
        let mut head = vec![];
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let mut first = head[0].split_whitespace();
        let (method, path) = (first.next().unwrap_or("").to_string(), first.next().unwrap_or("").to_string());
        let header = |name: &str| {
            head.iter().find_map(|h| {
                h.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_string())
            })
        };
        if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
            let mut body = vec![0; n];
            let _ = r.read_exact(&mut body).await;
        }
        state.log.lock().unwrap().push((method.clone(), path.clone()));
        let route = path.split('?').next().unwrap_or("");
        let query: Vec<(String, String)> = path
            .split_once('?')
            .map(|(_, q)| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), unescape(v)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(pod) = route
            .strip_prefix("/api/v1/namespaces/openshift-ovn-kubernetes/pods/")
            .and_then(|p| p.strip_suffix("/exec"))
        {
            let zone = pod.strip_prefix("ovnkube-node-").unwrap_or_default().to_string();
            let Some(key) = header("sec-websocket-key") else { return };
            let argv: Vec<String> = query.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
            return exec(r.into_inner(), &key, &zone, argv).await;
        }
        if let Some(pod) = route
            .strip_prefix("/api/v1/namespaces/ovnscope/pods/")
            .and_then(|p| p.strip_suffix("/portforward"))
        {
            let (Some(key), Some(target)) = (header("sec-websocket-key"), state.targets.get(pod)) else {
                return respond(r.into_inner(), 404, &json!({"kind": "Status", "status": "Failure", "code": 404})).await;
            };
            return portforward(r.into_inner(), &key, target.clone()).await;
        }
        let (code, body) = match (method.as_str(), route) {
            ("GET", "/api/v1/nodes") => (200, state.nodes.clone()),
            ("GET", r) if r.starts_with("/api/v1/namespaces/network-trace/pods/") => {
                match state.workloads.get(r.trim_start_matches("/api/v1/namespaces/network-trace/pods/")) {
                    Some(p) => (200, p.clone()),
                    None => (
                        404,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
                    ),
                }
            }
            ("GET", "/api/v1/namespaces/ovnscope/pods") if path.contains("labelSelector=app%3Dovnscope-serve") => {
                (200, state.serve_pods.clone())
            }
            // A namespace where the DaemonSet was never applied.
            ("GET", "/api/v1/namespaces/noserve/pods") => (200, list("PodList", vec![])),
            ("GET", "/api/v1/namespaces/openshift-ovn-kubernetes/pods") if path.contains("labelSelector=app%3Dovnkube-node") => {
                (200, state.ovnk_pods.clone())
            }
            _ => (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
            ),
        };
        let mut s = r.into_inner();
        let text = body.to_string();
        let reply = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if s.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
        r = BufReader::new(s);
    }
}

async fn respond(mut s: tokio::net::TcpStream, code: u16, body: &Value) {
    let text = body.to_string();
    let _ = s
        .write_all(
            format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
            .as_bytes(),
        )
        .await;
}

/// The kubelet's side of a port-forward, as the API server relays it: the upgrade, the two
/// opening frames with the port, then the bytes of one TCP connection to the pod's port.
type Ws = tokio_util::compat::Compat<tokio::net::TcpStream>;

/// The server's half of the WebSocket upgrade, with the subprotocol kube-rs asks for.
async fn upgrade(mut s: tokio::net::TcpStream, key: &str) -> Option<(soketto::connection::Sender<Ws>, soketto::connection::Receiver<Ws>)> {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    use tokio_util::compat::TokioAsyncReadCompatExt;
    let accept = base64::engine::general_purpose::STANDARD.encode(Sha1::digest(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.ok()?;
    let mut b = soketto::connection::Builder::new(s.compat(), soketto::connection::Mode::Server);
    b.set_max_message_size(64 << 20);
    Some(b.finish())
}

/// The kubelet's side of an exec with stdin and stdout, as the API server relays it: the
/// command runs for real here, with the container's /var/run/ovn/ mapped to the zone's run
/// directory of the lab; its exit is reported on the status channel.
async fn exec(s: tokio::net::TcpStream, key: &str, zone: &str, argv: Vec<String>) {
    let Some((mut tx, rx)) = upgrade(s, key).await else { return };
    let run = lab().dir.join(zone).join("ovn").display().to_string() + "/";
    let argv: Vec<String> = argv.iter().map(|a| a.replace("/var/run/ovn/", &run)).collect();
    let Ok(mut child) = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
    else {
        return;
    };
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let up = pump_in(rx, stdin, 0);
    let down = async move {
        pump_out(stdout, &mut tx, 1).await;
        let status = json!({"metadata": {}, "status": "Success"}).to_string();
        let _ = tx.send_binary(&[&[3u8][..], status.as_bytes()].concat()).await;
        let _ = tx.close().await;
    };
    tokio::join!(up, down);
    let _ = child.wait().await;
}

/// The frames of `channel` arriving on the WebSocket, written to `to` (a stdin, a pod's
/// socket) until the client closes the channel (v5's close frame, 255) or the connection.
async fn pump_in<W: tokio::io::AsyncWrite + Unpin>(mut rx: soketto::connection::Receiver<Ws>, mut to: W, channel: u8) {
    let mut buf = vec![];
    loop {
        buf.clear();
        match rx.receive_data(&mut buf).await {
            Ok(_) if buf.first() == Some(&channel) => {
                if to.write_all(&buf[1..]).await.is_err() {
                    break;
                }
            }
            Ok(_) if buf.first() == Some(&255) => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown().await;
}

/// Everything `from` (a stdout, a pod's socket) gives, as frames of `channel`, until it ends.
async fn pump_out<R: tokio::io::AsyncRead + Unpin>(mut from: R, tx: &mut soketto::connection::Sender<Ws>, channel: u8) {
    let mut buf = vec![0u8; 65536];
    loop {
        match from.read(&mut buf[1..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf[0] = channel;
                if tx.send_binary(&buf[..n + 1]).await.is_err() || tx.flush().await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn portforward(s: tokio::net::TcpStream, key: &str, target: String) {
    let Some((mut tx, rx)) = upgrade(s, key).await else { return };
    let port = 7470u16.to_le_bytes();
    for ch in [0u8, 1] {
        if tx.send_binary(&[ch, port[0], port[1]]).await.is_err() {
            return;
        }
    }
    let _ = tx.flush().await;
    let Ok(pod) = tokio::net::TcpStream::connect(&target).await else {
        return;
    };
    let (from_pod, to_pod) = pod.into_split();
    let up = pump_in(rx, to_pod, 0);
    let down = async move {
        pump_out(from_pod, &mut tx, 0).await;
        let _ = tx.close().await;
    };
    tokio::join!(up, down);
}

fn ovnscope_kube(exe: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    lab().run_ovnscope(exe, args, &[("KUBECONFIG", stand_in().kubeconfig.as_os_str())])
}

/// `--kube` finds the three zones from the nodes' annotations and the serve pods, reaches each
/// serve through a port-forward, and answers every question as reading the zones directly
/// does; as the `kubectl-ovnscope` plugin it needs no flag at all. The node without a serve pod
/// is named in a warning. The API server saw only reads and port-forwards.
pub fn kube_finds_the_zones_and_port_forwards_to_each_serve() {
    let l = lab();
    let s = stand_in();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_ovnscope"));
    let direct = l.cluster_file();
    for q in [
        vec!["nat", "--pod", "network-trace/nettools-w3"],
        vec!["nat", "--ip", "10.128.2.44", "-f", "json"],
        vec!["show", "-f", "json"],
        vec!["trace", "--from", "network-trace/nettools-dual-pod", "--to", "10.128.4.5"],
    ] {
        let (code, out, err) = ovnscope_kube(bin, &[&q[..], &["--kube"]].concat());
        assert_eq!(code, 0, "{q:?}: {err}");
        assert!(err.contains("node worker-4 (zone worker-4) runs no ovnscope serve pod"), "{err}");
        let (_, want, _) = l.ovnscope(&[&q[..], &["--cluster", &direct]].concat());
        assert!(out == want, "{q:?} through the API differs:\n{out:.1500}\n---\n{want:.1500}");
    }
    // The pod itself through the API: its node names the one zone asked; its annotation is noted.
    let (code, _, err) = ovnscope_kube(bin, &["nat", "--kube", "--pod", "network-trace/nettools-w3"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "note: pod network-trace/nettools-w3 runs on node worker-3 (k8s.ovn.org/pod-networks 10.128.6.7/23, MAC 0a:58:0a:80:06:07)"
        ),
        "{err}"
    );
    let (code, _, err) = ovnscope_kube(bin, &["nat", "--kube", "--pod", "network-trace/nobody"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no pod network-trace/nobody in the cluster"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-ovnscope");
    std::os::unix::fs::symlink(bin, &plugin).unwrap();
    let (code, out, err) = ovnscope_kube(&plugin, &["topology", "--view", "logical", "-f", "json"]);
    assert_eq!(code, 0, "{err}");
    let (_, want, _) = l.ovnscope(&["topology", "--view", "logical", "-f", "json", "--cluster", &direct]);
    assert_eq!(out, want, "the plugin with no flags reads the cluster through the API");
    let log = s.log.lock().unwrap().clone();
    assert!(log.iter().all(|(m, _)| m == "GET"), "only reads: {log:?}");
    for z in ZONES {
        assert!(
            log.iter()
                .any(|(_, p)| p.starts_with(&format!("/api/v1/namespaces/ovnscope/pods/ovnscope-serve-{z}/portforward"))),
            "port-forward to {z}'s serve: {log:?}"
        );
    }
    // Without the DaemonSet: every zone's NB and SB read over exec into ovnkube-node (socat in
    // nbdb/sbdb, run for real by the stand-in against the lab's sockets), live and targeted.
    let sources = regex::Regex::new(r#""source": "[^"]*""#).unwrap();
    for q in [vec!["nat", "--pod", "network-trace/nettools-w3"], vec!["show", "-f", "json"]] {
        let (code, out, err) = ovnscope_kube(bin, &[&q[..], &["--kube", "--kube-namespace", "noserve"]].concat());
        assert_eq!(code, 0, "{q:?}: {err}");
        assert!(err.contains("reading each zone by exec into its ovnkube-node pod"), "{err}");
        // The OVS databases are not in ovnkube-node's database containers: compare NB + SB.
        let nb_sb: String = std::fs::read_to_string(&direct)
            .unwrap()
            .lines()
            .map(|line| {
                line.split_whitespace()
                    .filter(|w| !w.starts_with("ovs="))
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "\n"
            })
            .collect();
        let file = l.dir.join("cluster-nb-sb");
        std::fs::write(&file, nb_sb).unwrap();
        let (_, want, _) = l.ovnscope(&[&q[..], &["--cluster", file.to_str().unwrap()]].concat());
        // Only where each database was read from differs: the local end of the exec relay.
        let (out, want) = (
            sources.replace_all(&out, "\"source\": _"),
            sources.replace_all(&want, "\"source\": _"),
        );
        assert!(out == want, "{q:?} over exec differs:\n{out:.1500}\n---\n{want:.1500}");
    }
    let log = s.log.lock().unwrap().clone();
    for z in ZONES {
        for c in ["container=nbdb", "container=sbdb"] {
            assert!(
                log.iter().any(
                    |(_, p)| p.starts_with(&format!("/api/v1/namespaces/openshift-ovn-kubernetes/pods/ovnkube-node-{z}/exec"))
                        && p.contains(c)
                ),
                "exec into {z}'s {c}: {log:?}"
            );
        }
    }
    // A namespace without serve pods: exit 3, and the hint says how to deploy them.
    let (code, _, err) = ovnscope_kube(bin, &["show", "--kube", "--kube-namespace", "elsewhere"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("oc apply -f manifests/ovnscope-serve.yaml") || err.contains("elsewhere"),
        "{err}"
    );
}
