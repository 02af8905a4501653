//! The database options every command takes, and how a database is chosen when none is given.
//!
//! Like the OVS tools: `--ovs-db/--nb-db/--sb-db METHOD`, the `OVN_NB_DB` / `OVN_SB_DB`
//! environment variables, and the default sockets under `$OVS_RUNDIR` / `$OVN_RUNDIR`
//! (`/var/run/openvswitch`, `/var/run/ovn`). When any `--*-db` option is given, only the
//! databases named on the command line are read, so a section is absent when its database
//! was not asked for.

use super::{Failure, UsageError};
use crate::db::{load_file, load_live_where, mustgather, remote, Conditions, DbKind, Loaded, TableSpec};
use crate::ovsdb::{self, Method};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Open_vSwitch database: unix:PATH, tcp:IP:PORT [default: unix:$OVS_RUNDIR/db.sock or /var/run/openvswitch/db.sock]
    #[arg(long, value_name = "METHOD")]
    pub ovs_db: Option<String>,
    /// OVN Northbound database [env: OVN_NB_DB; default: unix:$OVN_RUNDIR/ovnnb_db.sock or /var/run/ovn/ovnnb_db.sock]
    #[arg(long, value_name = "METHOD")]
    pub nb_db: Option<String>,
    /// OVN Southbound database [env: OVN_SB_DB; default: unix:$OVN_RUNDIR/ovnsb_db.sock or /var/run/ovn/ovnsb_db.sock]
    #[arg(long, value_name = "METHOD")]
    pub sb_db: Option<String>,
    /// Read the NB/SB database files of a must-gather (its directory, the
    /// network_logs/ovnk_database_store.tar.gz, or a directory of database files) instead of servers.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["ovs_db", "nb_db", "sb_db"])]
    pub must_gather: Option<PathBuf>,
    /// The node: with --must-gather, whose databases to read (without it, every node's: the
    /// whole cluster); for topology, whose own objects to draw.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// The whole cluster, one zone (node) per line of FILE: `NAME nb=METHOD sb=METHOD
    /// [ovs=METHOD]` or `NAME serve=URL`, `#` comments. OpenShift 4.14+ runs one OVN zone per node.
    /// [env: OVNSCOPE_CLUSTER, used when no --*-db or --must-gather is given]
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ovs_db", "nb_db", "sb_db", "must_gather"])]
    pub cluster: Option<PathBuf>,
    /// Read the zone from the cache of an `ovnscope serve` (http://HOST:PORT, https://HOST:PORT
    /// with -p/-c/-C, or unix:PATH; e.g. a `kubectl port-forward` to the DaemonSet's pod)
    /// instead of from its databases.
    #[arg(long, value_name = "URL", conflicts_with_all = ["ovs_db", "nb_db", "sb_db", "must_gather", "cluster"])]
    pub serve: Option<String>,
    /// Find the zones through the Kubernetes API (kubeconfig or in-cluster): each node's
    /// `ovnscope serve` pod (manifests/ovnscope-serve.yaml), reached by port-forward. Implied
    /// when run as `kubectl ovnscope` / `oc ovnscope` without database options.
    #[arg(long, conflicts_with_all = ["ovs_db", "nb_db", "sb_db", "must_gather", "cluster", "serve"])]
    pub kube: bool,
    /// With --kube: the kubeconfig context [default: the current one].
    #[arg(long, value_name = "NAME", requires = "kube")]
    pub context: Option<String>,
    /// With --kube: the namespace of the serve DaemonSet.
    #[arg(long, value_name = "NS", default_value = "ovnscope")]
    pub kube_namespace: String,
    /// The zone as `ovnscope serve` holds it in memory: set by serve for the questions it
    /// answers, never on the command line.
    #[arg(skip)]
    pub cached: Option<crate::db::cache::Zone>,
    /// Private key for ssl: methods (PEM), as in the OVS tools.
    #[arg(short = 'p', long = "private-key", value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// Certificate for ssl: methods (PEM); ovsdb-server requires one from its clients.
    #[arg(short = 'c', long = "certificate", value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// CA certificate that signed the server's certificate (PEM). Host names are not checked,
    /// like OVS.
    #[arg(short = 'C', long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Seconds to wait for any one reply from a server.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Log each OVSDB request on standard error as its reply arrives: server, method, tables,
    /// bytes sent and received, milliseconds — where a slow answer's time goes. (`serve -v`
    /// also prints the address it listens on and each resynchronisation.)
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// Where a chosen method came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env(&'static str),
    /// A default socket; skipped with a note when it does not exist.
    Default(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub kind: DbKind,
    pub method: String,
    pub origin: Origin,
}

fn default_socket(kind: DbKind, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let (var, dir, file) = match kind {
        DbKind::Ovs => ("OVS_RUNDIR", "/var/run/openvswitch", "db.sock"),
        DbKind::Nb => ("OVN_RUNDIR", "/var/run/ovn", "ovnnb_db.sock"),
        DbKind::Sb => ("OVN_RUNDIR", "/var/run/ovn", "ovnsb_db.sock"),
    };
    PathBuf::from(env(var).filter(|v| !v.is_empty()).unwrap_or_else(|| dir.into())).join(file)
}

impl DbArgs {
    fn flag(&self, kind: DbKind) -> Option<&String> {
        match kind {
            DbKind::Ovs => self.ovs_db.as_ref(),
            DbKind::Nb => self.nb_db.as_ref(),
            DbKind::Sb => self.sb_db.as_ref(),
        }
    }

    /// Which databases to read, from flags, else environment, else default sockets.
    pub fn choose(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<Choice> {
        if DbKind::ALL.iter().any(|k| self.flag(*k).is_some()) {
            return DbKind::ALL
                .iter()
                .filter_map(|k| {
                    self.flag(*k).map(|m| Choice {
                        kind: *k,
                        method: m.clone(),
                        origin: Origin::Flag,
                    })
                })
                .collect();
        }
        DbKind::ALL
            .iter()
            .map(|&kind| {
                let var = match kind {
                    DbKind::Nb => Some("OVN_NB_DB"),
                    DbKind::Sb => Some("OVN_SB_DB"),
                    DbKind::Ovs => None,
                };
                if let Some(m) = var.and_then(|v| env(v).filter(|m| !m.is_empty()).map(|m| (v, m))) {
                    return Choice {
                        kind,
                        method: m.1,
                        origin: Origin::Env(m.0),
                    };
                }
                let p = default_socket(kind, env);
                Choice {
                    kind,
                    method: format!("unix:{}", p.display()),
                    origin: Origin::Default(p),
                }
            })
            .collect()
    }

    pub fn options(&self) -> ovsdb::Options {
        ovsdb::Options {
            call_timeout: Duration::from_secs(self.timeout.max(1)),
            tls: ovsdb::tls::TlsFiles {
                private_key: self.private_key.clone(),
                certificate: self.certificate.clone(),
                ca_cert: self.ca_cert.clone(),
            },
            log_requests: self.verbose,
            ..Default::default()
        }
    }
}

/// An error while reading one database, with the option that chose it.
#[derive(Debug, thiserror::Error)]
#[error("{kind_name} ({option} {method}): {error}")]
pub struct DbError {
    pub kind_name: &'static str,
    pub option: &'static str,
    pub method: String,
    pub error: ovsdb::Error,
}

impl DbError {
    /// Wraps errors of one database read (for `map_err`).
    pub fn wrap(kind: DbKind, method: &str) -> impl Fn(ovsdb::Error) -> DbError + '_ {
        move |error| DbError {
            kind_name: kind.db_name(),
            option: kind.option(),
            method: method.to_string(),
            error,
        }
    }
}

impl DbArgs {
    /// The live server chosen for `kind` (by flag, environment or an existing default
    /// socket), or `None` when it is a file, a must-gather or absent: the cue for a targeted
    /// read.
    pub fn live(&self, kind: DbKind) -> Option<String> {
        if self.must_gather.is_some() || self.from_serve() {
            return None;
        }
        let env = |k: &str| std::env::var(k).ok();
        self.choose(&env)
            .into_iter()
            .find(|c| c.kind == kind && c.is_live())
            .map(|c| c.method)
    }

    /// Some chosen database is a file (`file:`), so questions are answered from whole reads.
    pub fn any_file(&self) -> bool {
        let env = |k: &str| std::env::var(k).ok();
        self.must_gather.is_some() || self.from_serve() || self.choose(&env).iter().any(|c| c.method.starts_with("file:"))
    }

    /// The zone is read from a serve's cache (`--serve`, or serve answering itself): whole
    /// snapshots, as from files.
    pub fn from_serve(&self) -> bool {
        self.serve.is_some() || self.cached.is_some() || self.kube
    }

    /// No database named in any way (flags, must-gather, cluster, serve, kube).
    pub fn names_nothing(&self) -> bool {
        self.ovs_db.is_none()
            && self.nb_db.is_none()
            && self.sb_db.is_none()
            && self.must_gather.is_none()
            && self.cluster.is_none()
            && self.serve.is_none()
            && !self.kube
    }

    /// Connects to the live server `method` of `kind`, naming the option in any error.
    pub async fn connect(&self, kind: DbKind, method: &str) -> Result<ovsdb::Client, DbError> {
        ovsdb::connect(method, &self.options()).await.map_err(DbError::wrap(kind, method))
    }
}

impl Choice {
    /// A server to talk to (not a file, not a default socket that does not exist).
    pub fn is_live(&self) -> bool {
        !self.method.starts_with("file:") && !matches!(&self.origin, Origin::Default(p) if !p.exists())
    }
}

/// The node of a must-gather to read: the one asked for, or the only one.
fn pick_node<'a>(mg: &'a mustgather::MustGather, want: Option<&str>) -> Result<&'a mustgather::NodeDbs, UsageError> {
    let list = || {
        mg.nodes
            .iter()
            .map(|n| {
                let f = |p: &Option<PathBuf>| {
                    p.as_ref()
                        .and_then(|p| p.file_name())
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or("-".into())
                };
                format!("\n  {}  (named by {}; nb {}, sb {})", n.node, n.named_by, f(&n.nb), f(&n.sb))
            })
            .collect::<String>()
    };
    match (want, mg.nodes.as_slice()) {
        (None, [one]) => Ok(one),
        (None, _) => Err(UsageError(format!(
            "{} holds the databases of {} nodes; this command reads one zone at a time (show, topology, nat and trace read them all): choose one with --node NAME:{}",
            mg.source.display(),
            mg.nodes.len(),
            list()
        ))),
        (Some(w), nodes) => nodes
            .iter()
            .find(|n| n.node == w || n.prefix == w)
            .ok_or_else(|| UsageError(format!("no node {w:?} in {}; it holds:{}", mg.source.display(), list()))),
    }
}

/// Nothing was named and no default socket exists.
#[derive(Debug, thiserror::Error)]
#[error(
    "no database to read: none of the default sockets exists ({0})\n  hint: give --ovs-db/--nb-db/--sb-db METHOD, \
     set OVN_NB_DB/OVN_SB_DB, or for the lab: eval \"$(lab/ovnlab env)\""
)]
pub struct NoDatabase(pub String);

/// Connects to and loads every chosen database concurrently. Default sockets that do not exist
/// are skipped with a note; anything asked for explicitly must work.
pub async fn load_all(args: &DbArgs, specs: &dyn Fn(DbKind) -> Vec<TableSpec>) -> Result<Vec<Loaded>, Failure> {
    load_all_where(args, specs, &|_| Conditions::new()).await
}

/// Like [`load_all`], with monitor conditions per database (live servers only; a file is read
/// whole and the caller filters).
pub async fn load_all_where(
    args: &DbArgs,
    specs: &dyn Fn(DbKind) -> Vec<TableSpec>,
    conds: &dyn Fn(DbKind) -> Conditions,
) -> Result<Vec<Loaded>, Failure> {
    if let Some(z) = &args.cached {
        return z.loaded(specs).map_err(|e| Failure::Unreachable(anyhow::anyhow!(e)));
    }
    if let Some(url) = &args.serve {
        return Ok(remote::load_zone(url, specs, &args.options()).await?);
    }
    if let Some(c) = &args.cluster {
        return Err(UsageError(format!(
            "--cluster {}: this command reads one zone at a time so far (show, topology, nat and trace read a whole cluster); give that zone's --nb-db/--sb-db/--ovs-db",
            c.display()
        ))
        .into());
    }
    let env = |k: &str| std::env::var(k).ok();
    // Keeps an extracted archive on disk until the files are read.
    let mut _must_gather = None;
    let choices = match &args.must_gather {
        None => args.choose(&env),
        Some(path) => {
            let p = path.clone();
            let mg = tokio::task::spawn_blocking(move || mustgather::open(&p)).await??;
            let n = pick_node(&mg, args.node.as_deref())?;
            let c = [(DbKind::Nb, &n.nb), (DbKind::Sb, &n.sb)]
                .into_iter()
                .filter_map(|(kind, f)| {
                    f.as_ref().map(|f| Choice {
                        kind,
                        method: format!("file:{}", f.display()),
                        origin: Origin::Flag,
                    })
                })
                .collect();
            _must_gather = Some(mg);
            c
        }
    };
    load_choices(args, choices, specs, conds).await
}

/// Connects to and loads `choices` concurrently; default sockets that do not exist are
/// skipped with a note.
async fn load_choices(
    args: &DbArgs,
    choices: Vec<Choice>,
    specs: &dyn Fn(DbKind) -> Vec<TableSpec>,
    conds: &dyn Fn(DbKind) -> Conditions,
) -> Result<Vec<Loaded>, Failure> {
    let mut tasks = vec![];
    let mut skipped = vec![];
    for c in choices {
        if specs(c.kind).is_empty() {
            continue; // the command does not need this database
        }
        if let Origin::Default(p) = &c.origin {
            if !p.exists() {
                skipped.push(format!("{} (no {})", c.kind.db_name(), p.display()));
                continue;
            }
        }
        // Validate early so a typo is a usage error naming the option.
        let members = Method::parse_list(&c.method).map_err(|e| UsageError(format!("{}: {e}", c.kind.option())))?;
        let file = match members.as_slice() {
            [Method::File(p)] => Some(p.clone()),
            m if m.iter().any(|x| matches!(x, Method::File(_))) => {
                return Err(UsageError(format!("{}: file: cannot be combined with other methods", c.kind.option())).into())
            }
            _ => None,
        };
        let opts = args.options();
        let spec = specs(c.kind);
        let cond = conds(c.kind);
        tasks.push(tokio::spawn(async move {
            let res = match file {
                Some(path) => tokio::task::spawn_blocking(move || load_file(&path, c.kind, &spec))
                    .await
                    .expect("file reader panicked"),
                None => {
                    async {
                        let client = ovsdb::connect(&c.method, &opts).await?;
                        load_live_where(&client, c.kind, &spec, &cond).await
                    }
                    .await
                }
            };
            res.map_err(|error| DbError {
                kind_name: c.kind.db_name(),
                option: c.kind.option(),
                method: c.method.clone(),
                error,
            })
        }));
    }
    if tasks.is_empty() {
        return Err(NoDatabase(skipped.join(", ")).into());
    }
    for s in &skipped {
        eprintln!("note: skipping {s}; pass its --*-db option to read it");
    }
    let mut out = vec![];
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// The zones of `--cluster FILE` (or `OVNSCOPE_CLUSTER` when no other database option is
/// given), or of `--kube`: every node's serve, found through the API.
pub async fn cluster_zones(args: &DbArgs) -> Result<Option<Vec<crate::db::cluster::ZoneSpec>>, Failure> {
    Ok(cluster_zones_for(args, None).await?.map(|(z, _)| z))
}

/// [`cluster_zones`] for a question about pod `NS/NAME`: with `--kube`, the pod is looked up
/// through the API first, which names the zone of its node (the second value; its addresses
/// as OVN-Kubernetes annotated them are noted), so only that zone need be asked.
#[allow(clippy::type_complexity)]
pub async fn cluster_zones_for(
    args: &DbArgs,
    pod: Option<&str>,
) -> Result<Option<(Vec<crate::db::cluster::ZoneSpec>, Option<String>)>, Failure> {
    if args.kube {
        let o = crate::kube::Options {
            context: args.context.clone(),
            namespace: args.kube_namespace.clone(),
            ..Default::default()
        };
        let on_node = match pod.and_then(|p| p.split_once('/')) {
            Some((ns, name)) => match crate::kube::pod(&o, ns, name).await? {
                Some(info) => {
                    eprintln!(
                        "note: pod {ns}/{name} runs on node {} ({}{})",
                        info.node.as_deref().unwrap_or("?"),
                        if info.ovn_ips.is_empty() {
                            "no k8s.ovn.org/pod-networks".to_string()
                        } else {
                            format!("k8s.ovn.org/pod-networks {}", info.ovn_ips.join(", "))
                        },
                        info.ovn_mac.as_deref().map(|m| format!(", MAC {m}")).unwrap_or_default()
                    );
                    info.node
                }
                None => {
                    return Err(Failure::NotFound(format!(
                        "no pod {ns}/{name} in the cluster (the Kubernetes API has none)"
                    )))
                }
            },
            None => None,
        };
        let found = crate::kube::discover(&o).await?;
        for w in &found.warnings {
            eprintln!("warning: {w}");
        }
        let zone = on_node
            .and_then(|node| found.nodes.iter().find(|n| n.name == node).map(|n| n.zone.clone()))
            .filter(|z| found.zones.iter().any(|s| &s.name == z));
        return Ok(Some((found.zones, zone)));
    }
    let flags = args.ovs_db.is_some() || args.nb_db.is_some() || args.sb_db.is_some() || args.from_serve();
    let from_env = std::env::var_os("OVNSCOPE_CLUSTER").filter(|v| !v.is_empty()).map(PathBuf::from);
    let (Some(file), false, None) = (args.cluster.clone().or(from_env), flags, &args.must_gather) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Failure::Unreachable(anyhow::anyhow!("cannot read the cluster file {}: {e}", file.display())))?;
    let zones = crate::db::cluster::parse(&text, &file.display().to_string()).map_err(|e| UsageError(e.to_string()))?;
    Ok(Some((zones, None)))
}

/// One zone of a cluster, read.
pub struct Zone {
    pub name: String,
    pub loaded: Vec<Loaded>,
}

/// The zones of the cluster the command line names — `--cluster FILE`, or a `--must-gather`
/// with several nodes and no `--node` — read concurrently; `None` when it names one zone.
pub async fn load_zones(
    args: &DbArgs,
    specs: &dyn Fn(DbKind) -> Vec<TableSpec>,
    conds: &dyn Fn(DbKind) -> Conditions,
) -> Result<Option<Vec<Zone>>, Failure> {
    let mut specs_list: Vec<crate::db::cluster::ZoneSpec>;
    let mut _must_gather = None;
    if let Some(zones) = cluster_zones(args).await? {
        specs_list = zones;
    } else if let (Some(path), None) = (&args.must_gather, &args.node) {
        let p = path.clone();
        let mg = tokio::task::spawn_blocking(move || mustgather::open(&p)).await??;
        if mg.nodes.len() < 2 {
            return Ok(None);
        }
        specs_list = mg
            .nodes
            .iter()
            .map(|n| crate::db::cluster::ZoneSpec {
                name: n.node.clone(),
                serve: None,
                dbs: [(DbKind::Nb, &n.nb), (DbKind::Sb, &n.sb)]
                    .into_iter()
                    .filter_map(|(k, f)| f.as_ref().map(|f| (k, format!("file:{}", f.display()))))
                    .collect(),
            })
            .collect();
        // By zone name, so every command lists them alike (a cluster file keeps its own order).
        specs_list.sort_by(|a, b| a.name.cmp(&b.name));
        _must_gather = Some(mg);
    } else {
        return Ok(None);
    }
    let mut reads = vec![];
    for z in &specs_list {
        let choices: Vec<Choice> = z
            .dbs
            .iter()
            .map(|(kind, method)| Choice {
                kind: *kind,
                method: method.clone(),
                origin: Origin::Flag,
            })
            .filter(|c| !specs(c.kind).is_empty())
            .collect();
        let serve = z.serve.as_deref();
        reads.push(async move {
            if let Some(url) = serve {
                return Ok(remote::load_zone(url, specs, &args.options()).await?);
            }
            if choices.is_empty() {
                return Ok(vec![]);
            }
            load_choices(args, choices, specs, conds).await
        });
    }
    let loaded = futures::future::join_all(reads).await;
    let mut zones = vec![];
    for (z, l) in specs_list.iter().zip(loaded) {
        let loaded = l.map_err(|e| e.in_zone(&z.name))?;
        zones.push(Zone {
            name: z.name.clone(),
            loaded,
        });
    }
    Ok(Some(zones))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(ovs: Option<&str>, nb: Option<&str>) -> DbArgs {
        DbArgs {
            ovs_db: ovs.map(Into::into),
            nb_db: nb.map(Into::into),
            sb_db: None,
            must_gather: None,
            node: None,
            private_key: None,
            certificate: None,
            ca_cert: None,
            timeout: 60,
            verbose: false,
            cluster: None,
            serve: None,
            cached: None,
            kube: false,
            context: None,
            kube_namespace: "ovnscope".into(),
        }
    }

    #[test]
    fn flags_select_only_what_was_named() {
        let c = args(None, Some("tcp:127.0.0.1:6641")).choose(&|_| Some("unix:/x".into()));
        assert_eq!(
            c,
            vec![Choice {
                kind: DbKind::Nb,
                method: "tcp:127.0.0.1:6641".into(),
                origin: Origin::Flag
            }]
        );
    }

    #[test]
    fn env_then_rundir_then_defaults() {
        let env = |k: &str| match k {
            "OVN_SB_DB" => Some("tcp:127.0.0.1:6642".to_string()),
            "OVS_RUNDIR" => Some("/tmp/lab/ovs".to_string()),
            _ => None,
        };
        let c = args(None, None).choose(&env);
        assert_eq!(c[0].method, "unix:/tmp/lab/ovs/db.sock");
        assert_eq!(c[1].method, "unix:/var/run/ovn/ovnnb_db.sock");
        assert_eq!(
            c[2],
            Choice {
                kind: DbKind::Sb,
                method: "tcp:127.0.0.1:6642".into(),
                origin: Origin::Env("OVN_SB_DB")
            }
        );
    }
}
