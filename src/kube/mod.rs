//! The cluster through the Kubernetes API, from a laptop: which nodes there are and which OVN
//! zone each runs (OVN-Kubernetes's node annotations), which `ovnscope serve` pod of the
//! DaemonSet runs on each, and a local port-forward to each of those pods, so the rest of
//! ovnscope reads every zone from its serve (`serve=` zones) as if it listened here.
//!
//! Without the DaemonSet there is a fallback that needs nothing installed: each node's
//! `ovnkube-node` pod already holds the zone's databases, so a local listener per database
//! carries every connection over `exec` into its `nbdb`/`sbdb` container running `socat` as a
//! stdio relay to the database's unix socket, and ovnscope speaks OVSDB over that stream as
//! over any other (targeted reads included) — one exec per connection, not one per question.
//!
//! The client is kube-rs (kubeconfig, or the in-cluster service account, found as kubectl finds
//! them). Only `get`/`list` and `pods/portforward` go to the API server — read-only, like
//! everything else; RBAC (`manifests/ovnscope-serve.yaml`, Role `ovnscope-user`) allows exactly
//! that.

use crate::db::cluster::ZoneSpec;
use ::kube::api::{Api, ListParams};
use k8s_openapi::api::core::v1::{Node, Pod};
use std::collections::BTreeMap;

/// Where the DaemonSet runs and what it listens on (manifests/ovnscope-serve.yaml).
#[derive(Debug, Clone)]
pub struct Options {
    /// The kubeconfig context; `None`: the current one (or in-cluster).
    pub context: Option<String>,
    pub namespace: String,
    pub selector: String,
    pub port: u16,
    /// The fallback: where OVN-Kubernetes runs its node pods, which label selects them, and
    /// where the databases' sockets are inside their containers.
    pub ovnk_namespace: String,
    pub ovnk_selector: String,
    pub ovnk_sockets: [(crate::db::DbKind, &'static str, &'static str); 2],
}

impl Default for Options {
    fn default() -> Self {
        Options {
            context: None,
            namespace: "ovnscope".into(),
            selector: "app=ovnscope-serve".into(),
            port: 7470,
            // OpenShift's names (upstream OVN-Kubernetes: namespace ovn-kubernetes, name=ovnkube-node).
            ovnk_namespace: "openshift-ovn-kubernetes".into(),
            ovnk_selector: "app=ovnkube-node".into(),
            ovnk_sockets: [
                (crate::db::DbKind::Nb, "nbdb", "/var/run/ovn/ovnnb_db.sock"),
                (crate::db::DbKind::Sb, "sbdb", "/var/run/ovn/ovnsb_db.sock"),
            ],
        }
    }
}

/// Why the cluster could not be read through the API.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no Kubernetes configuration: {0}\n  hint: set KUBECONFIG or log in (oc login / kubectl config use-context)")]
    Config(String),
    #[error("the Kubernetes API: {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: ::kube::Error,
    },
    #[error(
        "no ovnscope serve pod runs in namespace {namespace} (selector {selector}), and no ovnkube-node pod in {ovnk} to exec into\n  hint: oc apply -f manifests/ovnscope-serve.yaml"
    )]
    NoServe { namespace: String, selector: String, ovnk: String },
    #[error("cannot open a local port for the port-forward: {0}")]
    Local(std::io::Error),
}

/// One node as OVN-Kubernetes annotates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `k8s.ovn.org/zone-name` (interconnect: the node's own name); the node name without it.
    pub zone: String,
    /// `k8s.ovn.org/node-id`.
    pub node_id: Option<u32>,
    /// `k8s.ovn.org/node-subnets`, e.g. `{"default":["10.128.2.0/23"]}`.
    pub subnets: Vec<String>,
}

impl NodeInfo {
    pub fn from_node(n: &Node) -> NodeInfo {
        let name = n.metadata.name.clone().unwrap_or_default();
        let ann = n.metadata.annotations.clone().unwrap_or_default();
        let subnets = ann
            .get("k8s.ovn.org/node-subnets")
            .and_then(|s| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(s).ok())
            .and_then(|m| m.get("default").cloned())
            .map(|v| match v {
                // Older releases wrote one string, newer a list.
                serde_json::Value::String(s) => vec![s],
                serde_json::Value::Array(a) => a.into_iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                _ => vec![],
            })
            .unwrap_or_default();
        NodeInfo {
            zone: ann.get("k8s.ovn.org/zone-name").cloned().unwrap_or_else(|| name.clone()),
            node_id: ann.get("k8s.ovn.org/node-id").and_then(|s| s.parse().ok()),
            subnets,
            name,
        }
    }
}

/// A pod as the API shows it: where it runs and its addresses as OVN-Kubernetes assigned them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub node: Option<String>,
    /// `status.podIPs`.
    pub ips: Vec<String>,
    /// `k8s.ovn.org/pod-networks` of the default network: `ip_addresses` and `mac_address`.
    pub ovn_ips: Vec<String>,
    pub ovn_mac: Option<String>,
}

impl PodInfo {
    pub fn from_pod(p: &Pod) -> PodInfo {
        let ann = p.metadata.annotations.clone().unwrap_or_default();
        let net = ann
            .get("k8s.ovn.org/pod-networks")
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            .and_then(|v| v.get("default").cloned())
            .unwrap_or_default();
        let ovn_ips = match (net.get("ip_addresses"), net.get("ip_address")) {
            (Some(serde_json::Value::Array(a)), _) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            // Releases before dual-stack wrote one address.
            (_, Some(serde_json::Value::String(s))) => vec![s.clone()],
            _ => vec![],
        };
        PodInfo {
            node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            ips: p
                .status
                .as_ref()
                .and_then(|s| s.pod_ips.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.ip)
                .collect(),
            ovn_ips,
            ovn_mac: net.get("mac_address").and_then(|m| m.as_str()).map(str::to_string),
        }
    }
}

/// Looks up pod `ns/name` through the API.
pub async fn pod(o: &Options, ns: &str, name: &str) -> Result<Option<PodInfo>, KubeError> {
    let client = client(o).await?;
    let api: Api<Pod> = Api::namespaced(client, ns);
    match api.get_opt(name).await {
        Ok(p) => Ok(p.as_ref().map(PodInfo::from_pod)),
        Err(source) => Err(KubeError::Api {
            what: format!("get pod {ns}/{name}"),
            source,
        }),
    }
}

/// The cluster as the API shows it, each zone reachable at a local address.
#[derive(Debug)]
pub struct Discovered {
    pub nodes: Vec<NodeInfo>,
    /// One `serve=` zone per node that runs a serve pod, in node order.
    pub zones: Vec<ZoneSpec>,
    /// Nodes without a serve pod, and the like.
    pub warnings: Vec<String>,
}

async fn client(o: &Options) -> Result<::kube::Client, KubeError> {
    let config = match &o.context {
        Some(ctx) => ::kube::Config::from_kubeconfig(&::kube::config::KubeConfigOptions {
            context: Some(ctx.clone()),
            ..Default::default()
        })
        .await
        .map_err(|e| KubeError::Config(e.to_string()))?,
        None => ::kube::Config::infer().await.map_err(|e| KubeError::Config(e.to_string()))?,
    };
    ::kube::Client::try_from(config).map_err(|e| KubeError::Config(e.to_string()))
}

/// Lists the nodes and the serve pods, and opens a local port-forward to each pod. The
/// forwards run on the current runtime for as long as it lives.
pub async fn discover(o: &Options) -> Result<Discovered, KubeError> {
    let client = client(o).await?;
    let api_err = |what: &str| {
        let what = what.to_string();
        move |source| KubeError::Api { what, source }
    };
    let nodes: Vec<NodeInfo> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_err("list nodes"))?
        .items
        .iter()
        .map(NodeInfo::from_node)
        .collect();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &o.namespace);
    let serve_pods = running_on_nodes(&pods_api, &o.selector, &o.namespace).await?;
    let mut zones = vec![];
    let mut warnings = vec![];
    if serve_pods.is_empty() {
        // No DaemonSet: exec into OVN-Kubernetes's own node pods.
        let ovnk: Api<Pod> = Api::namespaced(client, &o.ovnk_namespace);
        let node_pods = running_on_nodes(&ovnk, &o.ovnk_selector, &o.ovnk_namespace).await?;
        if node_pods.is_empty() {
            return Err(KubeError::NoServe {
                namespace: o.namespace.clone(),
                selector: o.selector.clone(),
                ovnk: o.ovnk_namespace.clone(),
            });
        }
        warnings.push(format!(
            "no ovnscope serve pods in {}: reading each zone by exec into its ovnkube-node pod (socat in nbdb/sbdb)",
            o.namespace
        ));
        for n in &nodes {
            let Some(pod) = node_pods.get(&n.name) else {
                warnings.push(format!("node {} (zone {}) has no ovnkube-node pod: left out", n.name, n.zone));
                continue;
            };
            let mut dbs = vec![];
            for (kind, container, socket) in &o.ovnk_sockets {
                let argv = vec!["socat".to_string(), "STDIO".into(), format!("UNIX-CONNECT:{socket}")];
                dbs.push((*kind, relay_exec(ovnk.clone(), pod.clone(), container.to_string(), argv).await?));
            }
            zones.push(ZoneSpec {
                name: n.zone.clone(),
                dbs,
                serve: None,
            });
        }
        return Ok(Discovered { nodes, zones, warnings });
    }
    for n in &nodes {
        let Some(pod) = serve_pods.get(&n.name) else {
            warnings.push(format!("node {} (zone {}) runs no ovnscope serve pod: left out", n.name, n.zone));
            continue;
        };
        let url = forward(pods_api.clone(), pod.clone(), o.port).await?;
        zones.push(ZoneSpec {
            name: n.zone.clone(),
            dbs: vec![],
            serve: Some(url),
        });
    }
    Ok(Discovered { nodes, zones, warnings })
}

/// The running pods `selector` picks in a namespace, by node.
async fn running_on_nodes(api: &Api<Pod>, selector: &str, namespace: &str) -> Result<BTreeMap<String, String>, KubeError> {
    let pods = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|source| KubeError::Api {
            what: format!("list pods in {namespace}"),
            source,
        })?;
    let mut on_node = BTreeMap::new();
    for p in &pods.items {
        let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        if let (true, Some(node), Some(name)) = (running, p.spec.as_ref().and_then(|s| s.node_name.clone()), p.metadata.name.clone()) {
            on_node.insert(node, name);
        }
    }
    Ok(on_node)
}

/// A local listener (`tcp:127.0.0.1:PORT`) whose every connection is carried over an exec of
/// `argv` (a stdio relay) in `container` of `pod`.
async fn relay_exec(pods: Api<Pod>, pod: String, container: String, argv: Vec<String>) -> Result<String, KubeError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(KubeError::Local)?;
    let method = format!("tcp:{}", listener.local_addr().map_err(KubeError::Local)?);
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (pods, pod, container, argv) = (pods.clone(), pod.clone(), container.clone(), argv.clone());
            tokio::spawn(async move {
                let params = ::kube::api::AttachParams::default()
                    .container(container)
                    .stdin(true)
                    .stdout(true)
                    .stderr(false);
                let mut p = match pods.exec(&pod, argv, &params).await {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("ovnscope: exec in pod {pod}: {e}");
                        return;
                    }
                };
                let (Some(mut stdin), Some(mut stdout)) = (p.stdin(), p.stdout()) else {
                    return;
                };
                let (mut from, mut to) = conn.into_split();
                let up = async {
                    let _ = tokio::io::copy(&mut from, &mut stdin).await;
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut stdin).await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut stdout, &mut to).await;
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut to).await;
                };
                tokio::join!(up, down);
                p.abort();
            });
        }
    });
    Ok(method)
}

/// A local listener whose every connection is carried to `port` of `pod` by a port-forward
/// through the API server (one forward per connection, as `kubectl port-forward` does).
async fn forward(pods: Api<Pod>, pod: String, port: u16) -> Result<String, KubeError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(KubeError::Local)?;
    let url = format!("http://{}", listener.local_addr().map_err(KubeError::Local)?);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (pods, pod) = (pods.clone(), pod.clone());
            tokio::spawn(async move {
                let mut pf = match pods.portforward(&pod, &[port]).await {
                    Ok(pf) => pf,
                    Err(e) => {
                        eprintln!("ovnscope: port-forward to pod {pod}: {e}");
                        return;
                    }
                };
                if let Some(mut stream) = pf.take_stream(port) {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut stream).await;
                }
                pf.abort();
            });
        }
    });
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_networks_annotation_as_ovn_kubernetes_writes_it() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "w3", "namespace": "network-trace", "annotations": {
                "k8s.ovn.org/pod-networks": "{\"default\":{\"ip_addresses\":[\"10.128.6.7/23\"],\"mac_address\":\"0a:58:0a:80:06:07\",\"gateway_ips\":[\"10.128.6.1\"],\"ip_address\":\"10.128.6.7/23\",\"gateway_ip\":\"10.128.6.1\",\"role\":\"primary\"}}"
            }},
            "spec": {"nodeName": "worker-3", "containers": []},
            "status": {"podIPs": [{"ip": "10.128.6.7"}]}
        }))
        .unwrap();
        assert_eq!(
            PodInfo::from_pod(&p),
            PodInfo {
                node: Some("worker-3".into()),
                ips: vec!["10.128.6.7".into()],
                ovn_ips: vec!["10.128.6.7/23".into()],
                ovn_mac: Some("0a:58:0a:80:06:07".into()),
            }
        );
    }

    #[test]
    fn node_annotations_as_ovn_kubernetes_writes_them() {
        let n: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "worker-2", "annotations": {
                "k8s.ovn.org/zone-name": "worker-2",
                "k8s.ovn.org/node-id": "3",
                "k8s.ovn.org/node-subnets": "{\"default\":[\"10.128.4.0/23\"]}"
            }}
        }))
        .unwrap();
        assert_eq!(
            NodeInfo::from_node(&n),
            NodeInfo {
                name: "worker-2".into(),
                zone: "worker-2".into(),
                node_id: Some(3),
                subnets: vec!["10.128.4.0/23".into()]
            }
        );
        let old: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "w", "annotations": {"k8s.ovn.org/node-subnets": "{\"default\":\"10.128.0.0/23\"}"}}
        }))
        .unwrap();
        let i = NodeInfo::from_node(&old);
        assert_eq!((i.zone.as_str(), i.subnets), ("w", vec!["10.128.0.0/23".to_string()]));
    }
}
