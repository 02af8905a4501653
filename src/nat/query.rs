//! A NAT question as the user asks it (a pod, a port, an address, or an external address),
//! answered from typed views, and the read strategy behind it on live servers: walk once
//! without NAT rows to learn the routers on the path, fetch only their rules, then only the
//! Southbound flows of the candidate rules ([`super::load`]).

use super::{inbound, outbound, Answer, NotFound};
use crate::db::nb::NbDb;
use crate::db::sb::SbDb;
use crate::db::{Conditions, DbKind, TableSpec};
use crate::ovsdb::{Client, Condition};
use crate::topology::build::port_ips;
use crate::topology::focus::find_port;
use serde_json::json;
use std::net::IpAddr;

/// Who the question is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A pod as NAMESPACE/NAME.
    Pod(String),
    /// A logical switch port by name.
    Lsp(String),
    /// A pod's address.
    Ip(IpAddr),
    /// Inbound: which DNAT takes this external address.
    External(IpAddr),
}

/// The question: who, and toward (or, inbound, from) where.
#[derive(Debug, Clone)]
pub struct Question {
    pub who: Who,
    /// Where the packet goes [default: an address outside every cluster network].
    pub dst: Option<IpAddr>,
    /// Inbound: where the packet comes from [default: as `dst`].
    pub src: Option<IpAddr>,
}

/// Why a question has no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pod, port or address does not exist, or no path leads anywhere.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    NoPort(#[from] crate::topology::focus::NotFound),
    /// The port exists but has no address to ask about.
    #[error("port {0} has no IP address in its addresses; give --ip")]
    NoAddress(String),
}

impl Error {
    /// The answer is "no": nothing by that name or address.
    pub fn is_not_found(&self) -> bool {
        !matches!(self, Error::NoAddress(_))
    }
}

/// An address outside every cluster network, of `near`'s family.
fn outside(near: IpAddr) -> IpAddr {
    if near.is_ipv4() {
        "8.8.8.8".parse().expect("constant")
    } else {
        "2001:4860:4860::8888".parse().expect("constant")
    }
}

/// The answer from the views read.
pub fn answer(q: &Question, nb: &NbDb, sb: Option<&SbDb>) -> Result<Answer, Error> {
    if let Who::External(ext) = q.who {
        return Ok(inbound(nb, sb, ext, q.src.unwrap_or_else(|| outside(ext))));
    }
    let (src, lsp) = match &q.who {
        Who::Pod(name) | Who::Lsp(name) => {
            let p = find_port(nb, name)?;
            let ip = port_ips(p).iter().find_map(|i| i.split('/').next()?.parse::<IpAddr>().ok());
            (ip.ok_or_else(|| Error::NoAddress(p.name.clone()))?, Some(p.name.clone()))
        }
        Who::Ip(ip) => (*ip, find_port(nb, &ip.to_string()).ok().map(|p| p.name.clone())),
        Who::External(_) => unreachable!("answered above"),
    };
    Ok(outbound(nb, sb, src, q.dst.unwrap_or_else(|| outside(src)), lsp.as_deref())?)
}

/// From database files (read whole): the whole Northbound, and from the Southbound only the
/// datapaths and the NAT stages' logical flows.
pub fn file_tables(kind: DbKind) -> Vec<TableSpec> {
    match kind {
        DbKind::Ovs => vec![],
        DbKind::Nb => crate::db::nb::TABLES.to_vec(),
        DbKind::Sb => {
            let mut v: Vec<TableSpec> = crate::db::sb::TABLES
                .iter()
                .filter(|t| t.table == "Datapath_Binding")
                .copied()
                .collect();
            v.extend_from_slice(crate::db::sb::LOGICAL_FLOWS);
            v
        }
    }
}

/// The monitor conditions that go with [`file_tables`] on a live server read whole.
pub fn file_conditions(kind: DbKind) -> Conditions {
    let mut c = Conditions::new();
    if kind == DbKind::Sb {
        let stage = |s: &str| Condition::includes("external_ids", json!(["map", [["stage-name", s]]]));
        c.insert("Logical_Flow", vec![stage("lr_out_snat"), stage("lr_in_dnat")]);
    }
    c
}

/// Which database a targeted read failed on.
#[derive(Debug)]
pub struct ReadError {
    pub kind: DbKind,
    pub error: crate::ovsdb::Error,
}

/// Live servers: three small conditional reads instead of whole databases (see
/// [`super::load`]). Returns the views and the schema warnings.
pub async fn read_targeted(
    q: &Question,
    nb_client: &Client,
    sb_client: Option<&Client>,
) -> Result<(NbDb, Option<SbDb>, Vec<String>), ReadError> {
    use super::load::{nb_demanded, nb_nats, nb_topology, sb_evidence, Who as Read};
    let on = |kind| move |error| ReadError { kind, error };
    let port_name = match &q.who {
        Who::Pod(p) => Some(p.replacen('/', "_", 1)),
        Who::Lsp(p) => Some(p.clone()),
        _ => None,
    };
    let read = match (&port_name, &q.who) {
        (Some(p), _) => Read::Port(p),
        (_, Who::External(e)) => Read::External(*e),
        (_, Who::Ip(ip)) => Read::Ip(*ip),
        _ => unreachable!("a port name for Pod and Lsp"),
    };
    // A port or an address: the walk decides what is read. Inbound (and an address in no
    // switch's subnet): the topology, then the routers on the path and their rules.
    // The Southbound's schema is asked for meanwhile (its connection is otherwise idle).
    let nb_walk = async {
        match read {
            Read::External(_) => Ok(None),
            _ => {
                nb_demanded(nb_client, &read, |nb| {
                    let _ = answer(q, nb, None);
                })
                .await
            }
        }
    };
    let sb_start = async {
        match sb_client {
            Some(c) => Some(crate::db::start_live(c, DbKind::Sb).await),
            None => None,
        }
    };
    let (demanded, sb_start) = futures::join!(nb_walk, sb_start);
    let demanded = demanded.map_err(on(DbKind::Nb))?;
    let (nb_loaded, nb) = match demanded {
        Some(l) => {
            let nb = NbDb::from_loaded(&l);
            (l, nb)
        }
        None => {
            let mut l = nb_topology(nb_client, &read).await.map_err(on(DbKind::Nb))?;
            let mut nb = NbDb::from_loaded(&l);
            // Walk once without NAT rows to learn the routers on the path, then fetch their rules.
            if !matches!(q.who, Who::External(_)) {
                if let Ok(first) = answer(q, &nb, None) {
                    let routers: Vec<&str> = first.path.iter().map(|h| h.router.as_str()).collect();
                    nb_nats(nb_client, &mut l, &routers).await.map_err(on(DbKind::Nb))?;
                    nb = NbDb::from_loaded(&l);
                }
            }
            (l, nb)
        }
    };
    let mut sb = None;
    if let (Some(client), Some(sb_loaded)) = (sb_client, sb_start) {
        let sb_loaded = sb_loaded.map_err(on(DbKind::Sb))?;
        // Each candidate rule's flows, looked for on its own router.
        let pairs = match answer(q, &nb, None) {
            Ok(ans) => evidence_pairs(&nb, &ans),
            Err(_) => vec![],
        };
        sb = Some(sb_evidence(client, sb_loaded, &pairs).await.map_err(on(DbKind::Sb))?);
    }
    Ok((nb, sb, nb_loaded.warnings))
}

/// The (router, rule) pairs whose logical flows are an answer's evidence: every candidate rule
/// and the one that applies, each on its own router ([`super::load::sb_evidence`]).
pub fn evidence_pairs(nb: &NbDb, ans: &Answer) -> Vec<(uuid::Uuid, uuid::Uuid)> {
    ans.candidates
        .iter()
        .chain(ans.applies.iter())
        .filter_map(|c| Some((nb.routers.values().find(|r| r.name == c.router)?.uuid, c.uuid.parse().ok()?)))
        .collect()
}

/// Which of the live zones holds the subject of `q`, by one small select per zone, all at
/// once: the switch port by name (`--pod`, `--lsp`), or a NAT rule by logical (`--ip`) or
/// external (`--external-ip`) address — instead of reading every zone. `Ok(None)` when no zone
/// answers (an address without a rule is then looked for by reading the zones).
pub async fn locate(q: &Question, clients: &[Client]) -> Result<Option<usize>, (usize, crate::ovsdb::Error)> {
    use crate::ovsdb::Select;
    let select = match &q.who {
        Who::Pod(p) => Select {
            table: "Logical_Switch_Port".into(),
            conditions: vec![Condition::eq("name", json!(p.replacen('/', "_", 1)))],
            columns: Some(vec!["name".into()]),
        },
        Who::Lsp(p) => Select {
            table: "Logical_Switch_Port".into(),
            conditions: vec![Condition::eq("name", json!(p))],
            columns: Some(vec!["name".into()]),
        },
        Who::Ip(ip) => Select {
            table: "NAT".into(),
            conditions: vec![Condition::eq("logical_ip", json!(ip.to_string()))],
            columns: Some(vec!["logical_ip".into()]),
        },
        Who::External(ip) => Select {
            table: "NAT".into(),
            conditions: vec![Condition::eq("external_ip", json!(ip.to_string()))],
            columns: Some(vec!["external_ip".into()]),
        },
    };
    let asks = clients.iter().map(|c| c.select("OVN_Northbound", std::slice::from_ref(&select)));
    let answers = futures::future::join_all(asks).await;
    for (i, a) in answers.into_iter().enumerate() {
        match a {
            Ok(rows) if rows.first().is_some_and(|r| !r.is_empty()) => return Ok(Some(i)),
            Ok(_) => {}
            Err(e) => return Err((i, e)),
        }
    }
    Ok(None)
}
