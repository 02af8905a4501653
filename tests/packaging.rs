//! The Containerfile and the OpenShift manifests, checked without a container engine or a
//! cluster: the image carries every tool of the tracing guide and ovnscope itself; every
//! manifest parses strictly into the Kubernetes API types (an unknown field is an error) and its
//! pieces are wired together (selectors, ports, volumes, ConfigMaps).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, PodSpec, Service, ServiceAccount};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The tools of the guide's Fedora "nettools" image (its Containerfile's package list).
const GUIDE_TOOLS: &[&str] = &[
    "tcpdump",
    "wireshark-cli",
    "conntrack-tools",
    "iproute",
    "iputils",
    "bind-utils",
    "net-tools",
    "bridge-utils",
    "ethtool",
    "curl",
    "wget",
    "nmap-ncat",
    "iperf3",
    "nmap",
    "traceroute",
    "telnet",
    "socat",
    "iftop",
    "iotop",
    "htop",
    "mtr",
    "procps-ng",
    "lsof",
    "strace",
    "bash-completion",
    "vim",
    "less",
];

fn read(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn image_has_every_guide_tool_graphviz_and_ovnscope() {
    let list: Vec<String> = read("packaging/nettools-packages.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        // Fedora's name (the column this Containerfile installs); each line also names the
        // Debian package and a command it provides.
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cols.len(), 3, "fedora debian command: {l}");
            cols[0].to_string()
        })
        .collect();
    for t in GUIDE_TOOLS.iter().chain(&["graphviz", "python3"]) {
        assert!(list.iter().any(|p| p == t), "packaging/nettools-packages.txt lacks {t}");
    }
    let cf = read("Containerfile");
    // The list is installed as a whole, from the one file.
    assert!(cf.contains("COPY packaging/nettools-packages.txt /tmp/nettools-packages.txt"));
    assert!(cf.contains("awk '!/^#/ && NF {print $1}' /tmp/nettools-packages.txt | xargs dnf -y install"));
    // Multi-stage: ovnscope is compiled, then copied into the runtime image with its plugin
    // names, completions and man page.
    assert!(cf.contains("cargo build --release --locked --bin ovnscope"));
    assert!(cf.contains("install -D -m 0755 target/release/ovnscope /out/usr/local/bin/ovnscope"));
    assert!(cf.contains("COPY --from=build /out/ /"));
    for s in ["kubectl-ovnscope", "oc-ovnscope", "completions bash", "ovnscope man"] {
        assert!(cf.contains(s), "{s}");
    }
    // Base images pinned by tag.
    let froms: Vec<&str> = cf.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2);
    for f in froms {
        let image = f.split_whitespace().nth(1).unwrap();
        let tag = image.rsplit_once(':').map(|x| x.1).unwrap_or("");
        assert!(!tag.is_empty() && tag != "latest" && !tag.contains('/'), "{f} is not pinned by tag");
    }
}

/// OpenShift's Route (route.openshift.io/v1), which k8s-openapi does not have: the fields the
/// manifests use, and nothing else.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Route {
    api_version: String,
    kind: String,
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    spec: RouteSpec,
}
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RouteSpec {
    to: RouteTarget,
    port: Option<RoutePort>,
    tls: Option<RouteTls>,
    host: Option<String>,
}
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteTarget {
    kind: String,
    name: String,
    weight: Option<i32>,
}
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RoutePort {
    target_port: Value,
}
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RouteTls {
    termination: String,
    insecure_edge_termination_policy: Option<String>,
}

/// Parses into `T` and back: the round trip must give the same document, so a field the type
/// does not know (a typo, a wrong level) is an error instead of being dropped silently.
fn strict<T: DeserializeOwned + Serialize>(doc: &Value, file: &str) -> T {
    let t: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{file}: {} {}: {e}", doc["kind"], doc["metadata"]["name"]));
    let back = serde_json::to_value(&t).unwrap();
    assert_eq!(
        prune(&back),
        prune(doc),
        "{file}: {} {} has fields its type does not know",
        doc["kind"],
        doc["metadata"]["name"]
    );
    t
}

/// Empty objects/arrays and nulls removed, as serialisers differ in emitting them.
fn prune(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), prune(v)))
                .filter(|(_, v)| !matches!(v, Value::Null) && v != &Value::Object(Default::default()))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(prune).collect()),
        other => other.clone(),
    }
}

#[derive(Default)]
struct Parsed {
    config_maps: Vec<ConfigMap>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    routes: Vec<Route>,
    pods: Vec<Pod>,
    daemonsets: Vec<DaemonSet>,
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    roles: Vec<k8s_openapi::api::rbac::v1::Role>,
    role_bindings: Vec<k8s_openapi::api::rbac::v1::RoleBinding>,
}

fn parse(file: &str) -> Parsed {
    let text = read(&format!("manifests/{file}"));
    let mut p = Parsed::default();
    for d in serde_yaml::Deserializer::from_str(&text) {
        let doc: Value = serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap();
        match doc["kind"].as_str().unwrap() {
            "ConfigMap" => p.config_maps.push(strict(&doc, file)),
            "Deployment" => p.deployments.push(strict(&doc, file)),
            "Service" => p.services.push(strict(&doc, file)),
            "Route" => p.routes.push(strict(&doc, file)),
            "Pod" => p.pods.push(strict(&doc, file)),
            "DaemonSet" => p.daemonsets.push(strict(&doc, file)),
            "Namespace" => p.namespaces.push(strict(&doc, file)),
            "ServiceAccount" => p.service_accounts.push(strict(&doc, file)),
            "Role" => p.roles.push(strict(&doc, file)),
            "RoleBinding" => p.role_bindings.push(strict(&doc, file)),
            other => panic!("{file}: unexpected kind {other}"),
        }
    }
    p
}

/// Every volumeMount names a volume of the pod; every configMap volume a ConfigMap we ship.
fn check_volumes(spec: &PodSpec, config_maps: &[String], what: &str) {
    let vols: Vec<&str> = spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
    for c in spec.containers.iter() {
        for m in c.volume_mounts.iter().flatten() {
            assert!(vols.contains(&m.name.as_str()), "{what}: mount {} has no volume", m.name);
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            assert!(
                config_maps.contains(&cm.name),
                "{what}: volume {} needs ConfigMap {}",
                v.name,
                cm.name
            );
        }
    }
}

fn labels(m: &Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    m.clone().unwrap_or_default()
}

#[test]
fn http_service_is_wired() {
    let p = parse("http-svc.yaml");
    let cms: Vec<String> = p.config_maps.iter().map(|c| c.metadata.name.clone().unwrap()).collect();
    assert_eq!(cms, vec!["static-content", "nginx-config"]);
    let d = &p.deployments[0];
    assert_eq!(d.metadata.name.as_deref(), Some("static-server"));
    let spec = d.spec.as_ref().unwrap();
    let tmpl_labels = labels(&spec.template.metadata.as_ref().unwrap().labels);
    for (k, v) in labels(&spec.selector.match_labels) {
        assert_eq!(tmpl_labels.get(&k), Some(&v), "Deployment selector matches its pod labels");
    }
    let pod = spec.template.spec.as_ref().unwrap();
    check_volumes(pod, &cms, "static-server");
    let container_ports: Vec<(String, i32)> = pod
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| (p.name.clone().unwrap_or_default(), p.container_port))
        .collect();
    let svc = &p.services[0];
    assert_eq!(svc.metadata.name.as_deref(), Some("static-server"));
    let ss = svc.spec.as_ref().unwrap();
    assert_eq!(ss.type_.as_deref(), Some("ClusterIP"));
    for (k, v) in ss.selector.clone().unwrap() {
        assert_eq!(tmpl_labels.get(&k), Some(&v), "Service selects the Deployment's pods");
    }
    let svc_ports = ss.ports.clone().unwrap();
    for sp in &svc_ports {
        let target = serde_json::to_value(sp.target_port.as_ref().unwrap()).unwrap();
        let ok = match &target {
            Value::String(n) => container_ports.iter().any(|(name, _)| name == n),
            Value::Number(n) => container_ports.iter().any(|(_, p)| i64::from(*p) == n.as_i64().unwrap()),
            _ => false,
        };
        assert!(ok, "Service port {target} matches a container port {container_ports:?}");
    }
    assert_eq!(p.routes.len(), 2);
    let mut tls = vec![];
    for r in &p.routes {
        assert_eq!(r.api_version, "route.openshift.io/v1");
        assert_eq!(r.kind, "Route");
        assert_eq!((r.spec.to.kind.as_str(), r.spec.to.name.as_str()), ("Service", "static-server"));
        let tp = &r.spec.port.as_ref().unwrap().target_port;
        assert!(
            svc_ports
                .iter()
                .any(|sp| sp.name.as_ref().map(|n| Value::String(n.clone())).as_ref() == Some(tp)),
            "Route port {tp} names a Service port"
        );
        tls.push(r.spec.tls.as_ref().map(|t| t.termination.clone()));
    }
    assert_eq!(tls, vec![None, Some("edge".to_string())], "one HTTP and one HTTPS Route");
}

#[test]
fn dual_container_pod() {
    let p = parse("dual-container.yaml");
    assert_eq!(p.namespaces[0].metadata.name.as_deref(), Some("network-trace"));
    let pod = &p.pods[0];
    assert_eq!(pod.metadata.name.as_deref(), Some("nettools-dual-pod"));
    assert_eq!(pod.metadata.namespace.as_deref(), Some("network-trace"));
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.containers.len(), 2);
    let image = &spec.containers[0].image;
    assert!(
        spec.containers.iter().all(|c| &c.image == image),
        "both containers run the nettools image"
    );
    let cmds: Vec<Vec<String>> = spec.containers.iter().map(|c| c.command.clone().unwrap()).collect();
    assert_eq!(cmds[0], vec!["python3", "-m", "http.server", "8080"]);
    assert_eq!(spec.containers[0].working_dir.as_deref(), Some("/tmp"));
    assert_eq!(cmds[1], vec!["sleep", "infinity"]);
    assert!(spec
        .containers
        .iter()
        .all(|c| c.security_context.as_ref().and_then(|s| s.privileged) == Some(true)));
    assert_eq!(spec.containers[0].ports.as_ref().unwrap()[0].container_port, 8080);
}

/// Mount path → mounted read-only, for one container.
fn read_only_mounts(c: &k8s_openapi::api::core::v1::Container) -> BTreeMap<String, bool> {
    c.volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.mount_path.clone(), m.read_only == Some(true)))
        .collect()
}

/// A DaemonSet's pod template, after checking that its selector selects it.
fn daemonset_pod(ds: &DaemonSet) -> &PodSpec {
    let spec = ds.spec.as_ref().unwrap();
    let tmpl = &spec.template;
    for (k, v) in labels(&spec.selector.match_labels) {
        assert_eq!(labels(&tmpl.metadata.as_ref().unwrap().labels).get(&k), Some(&v));
    }
    tmpl.spec.as_ref().unwrap()
}

#[test]
fn node_debug_daemonset() {
    let p = parse("ovnscope-node-debug.yaml");
    let pod = daemonset_pod(&p.daemonsets[0]);
    assert_eq!(pod.host_network, Some(true));
    assert_eq!(pod.host_pid, Some(true));
    assert_eq!(pod.service_account_name.as_deref(), p.service_accounts[0].metadata.name.as_deref());
    // Tolerates every taint: an operator Exists toleration without a key.
    assert!(pod
        .tolerations
        .iter()
        .flatten()
        .any(|t| t.operator.as_deref() == Some("Exists") && t.key.is_none()));
    check_volumes(pod, &[], "ovnscope-node-debug");
    let c = &pod.containers[0];
    let mounts = read_only_mounts(c);
    for path in ["/var/run/openvswitch", "/var/run/ovn", "/var/run/ovn-ic", "/etc/ovn"] {
        assert_eq!(mounts.get(path), Some(&true), "{path} mounted read-only");
    }
    // Every mount is a hostPath volume.
    assert!(pod.volumes.iter().flatten().all(|v| v.host_path.is_some()));
    let env: BTreeMap<String, String> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(env["OVN_NB_DB"], "unix:/var/run/ovn-ic/ovnnb_db.sock");
    assert!(env["OVN_SB_DB"].starts_with("unix:/var/run/ovn-ic/"));
}

/// The serve DaemonSet: its command line is one `ovnscope serve` accepts, it listens on the
/// pod's loopback only (no host network), the socket directories are mounted read-only and
/// are where its database options point, and RBAC is the least that works: the pods' service
/// account may only use the privileged SCC, users may only list pods and port-forward to them.
#[test]
fn serve_daemonset_is_loopback_only_with_the_least_rbac() {
    let p = parse("ovnscope-serve.yaml");
    let ds = &p.daemonsets[0];
    let pod = daemonset_pod(ds);
    assert_ne!(pod.host_network, Some(true), "on the host network, loopback would be the node's");
    assert_eq!(pod.automount_service_account_token, Some(false), "serve never calls the API");
    check_volumes(pod, &[], "ovnscope-serve");
    let c = &pod.containers[0];
    let argv: Vec<String> = c.command.iter().flatten().chain(c.args.iter().flatten()).cloned().collect();
    let cli = <ovnscope::cli::Cli as clap::Parser>::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let ovnscope::cli::Command::Serve(a) = cli.command else {
        panic!("{argv:?} is not ovnscope serve")
    };
    let listen: std::net::SocketAddr = a.listen.parse().unwrap();
    assert!(listen.ip().is_loopback(), "--listen {listen}");
    assert!(!a.allow_remote && a.tls_cert.is_none());
    let mounts = read_only_mounts(c);
    for m in [a.db.ovs_db.as_deref(), a.db.nb_db.as_deref(), a.db.sb_db.as_deref()] {
        let path = m
            .and_then(|m| m.strip_prefix("unix:"))
            .expect("every database named, as a unix socket");
        let dir = Path::new(path).parent().unwrap().display().to_string();
        assert_eq!(mounts.get(&dir), Some(&true), "{path}: its directory is mounted read-only");
    }
    let sec = c.security_context.as_ref().unwrap();
    assert_eq!(sec.allow_privilege_escalation, Some(false));
    assert_eq!(sec.read_only_root_filesystem, Some(true));
    assert_ne!(sec.privileged, Some(true));
    assert_eq!(
        sec.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
    // RBAC: every binding names a Role of this file and a subject that exists.
    let sa = pod.service_account_name.as_deref().unwrap();
    assert!(p.service_accounts.iter().any(|s| s.metadata.name.as_deref() == Some(sa)));
    let rules = |name: &str| -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
        let r = p
            .roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no Role {name}"));
        r.rules
            .iter()
            .flatten()
            .map(|r| {
                (
                    r.resources.clone().unwrap_or_default(),
                    r.verbs.clone(),
                    r.resource_names.clone().unwrap_or_default(),
                )
            })
            .collect()
    };
    let mut granted = BTreeMap::new();
    for b in &p.role_bindings {
        assert_eq!(b.role_ref.kind, "Role", "no ClusterRole: nothing beyond the namespace");
        for s in b.subjects.iter().flatten() {
            granted.insert((s.kind.clone(), s.name.clone()), rules(&b.role_ref.name));
        }
    }
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        granted[&("ServiceAccount".to_string(), sa.to_string())],
        vec![(v(&["securitycontextconstraints"]), v(&["use"]), v(&["privileged"]))]
    );
    let users: Vec<_> = granted
        .iter()
        .filter(|((k, _), _)| k != "ServiceAccount")
        .map(|(_, r)| r.clone())
        .collect();
    assert_eq!(
        users,
        vec![vec![
            (v(&["pods"]), v(&["get", "list"]), vec![]),
            (v(&["pods/portforward"]), v(&["create"]), vec![])
        ]]
    );
    let ns = p.namespaces[0].metadata.name.clone();
    assert_eq!(ds.metadata.namespace, ns);
}

#[test]
fn a_typo_in_a_manifest_is_caught() {
    let doc: Value = serde_json::to_value(
        serde_yaml::from_str::<serde_yaml::Value>(
            "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {app: x}, ports: [{port: 80}]}\n",
        )
        .unwrap(),
    )
    .unwrap();
    let r = std::panic::catch_unwind(|| strict::<Service>(&doc, "typo.yaml"));
    assert!(r.is_err(), "an unknown field (selectr) must fail");
}

#[test]
fn completions_man_version_and_plugin_names() {
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    let run = |exe: &str, args: &[&str]| {
        let out = std::process::Command::new(exe).args(args).output().unwrap();
        assert!(out.status.success(), "{exe} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    for (shell, marker) in [
        ("bash", "complete -F _ovnscope"),
        ("zsh", "#compdef ovnscope"),
        ("fish", "complete -c ovnscope"),
    ] {
        let s = run(bin, &["completions", shell]);
        assert!(s.contains(marker), "{shell}");
        for sub in ["show", "topology", "nat"] {
            assert!(s.contains(sub), "{shell} completes {sub}");
        }
    }
    let man = run(bin, &["man"]);
    assert!(man.contains(".TH ovnscope 1") && man.contains("Exit codes"), "man page");
    // --version carries the git revision (the build's, or "unknown revision" outside git).
    let v = run(bin, &["--version"]);
    assert!(v.starts_with(&format!("ovnscope {} (", env!("CARGO_PKG_VERSION"))), "{v}");
    // Installed as a kubectl/oc plugin, it names itself the way it is invoked.
    let dir = tempfile::tempdir().unwrap();
    for plugin in ["kubectl-ovnscope", "oc-ovnscope"] {
        let p = dir.path().join(plugin);
        std::fs::copy(bin, &p).unwrap();
        let help = run(p.to_str().unwrap(), &["nat", "--help"]);
        let invoked = plugin.replace('-', " ");
        assert!(help.contains(&format!("Usage: {invoked} nat")), "{help}");
        assert!(run(p.to_str().unwrap(), &["--version"]).starts_with(plugin));
    }
}

/// `serve` reads one zone's live databases: its help offers none of the other sources, and
/// each is refused with a usage error (exit 2) naming what to give instead.
#[test]
fn serve_help_offers_only_what_serve_takes() {
    let bin = env!("CARGO_BIN_EXE_ovnscope");
    let help = std::process::Command::new(bin).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for hidden in ["--must-gather", "--cluster", "--serve ", "--kube", "--context", "--node"] {
        assert!(!help.contains(hidden), "{hidden} in serve --help:\n{help}");
    }
    for shown in ["--ovs-db", "--nb-db", "--sb-db", "--listen", "--tls-cert"] {
        assert!(help.contains(shown), "{shown} missing from serve --help");
    }
    for refused in [&["--kube"][..], &["--cluster", "/nonexistent"], &["--node", "worker-1"]] {
        let o = std::process::Command::new(bin).arg("serve").args(refused).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "serve {refused:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("serve reads one zone's live databases"),
            "serve {refused:?}"
        );
    }
}
