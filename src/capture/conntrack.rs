//! Connection-tracking entries, from either place they live:
//! - the OVS userspace datapath, as `dpctl/dump-conntrack` prints them:
//!   `proto,orig=(src=…,dst=…,sport=…,dport=…),reply=(…),zone=N,timeout=S,protoinfo=(state=…)`
//!   (zone 0 is not printed; an entry without `zone=` is in zone 0);
//! - the kernel's table of a network namespace (a kernel-datapath node, a bastion that
//!   MASQUERADEs), through ctnetlink with the `conntrack` crate (a maintained, pure-Rust
//!   netlink dump, so no `conntrack -L` text is parsed).

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One direction of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The rest as written: `sport`/`dport` for TCP/UDP, `id`/`type`/`code` for ICMP.
    pub fields: BTreeMap<String, String>,
}

impl Tuple {
    fn port(&self, k: &str) -> Option<u16> {
        self.fields.get(k).and_then(|v| v.parse().ok())
    }
    pub fn sport(&self) -> Option<u16> {
        self.port("sport")
    }
    pub fn dport(&self) -> Option<u16> {
        self.port("dport")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `icmp`, `tcp`, `udp`, …
    pub proto: String,
    pub orig: Tuple,
    /// What the reply is expected to look like: where it differs from `orig` reversed, the
    /// connection is NATed.
    pub reply: Tuple,
    pub zone: u16,
    pub timeout: Option<u32>,
    pub mark: Option<String>,
    pub labels: Option<String>,
    /// The protocol state (`ESTABLISHED`, `TIME_WAIT`, …) where the datapath tracks one.
    pub state: Option<String>,
}

impl Entry {
    /// The source rewrite the reply direction shows (SNAT): original source → new source.
    pub fn snat(&self) -> Option<(IpAddr, IpAddr)> {
        (self.reply.dst != self.orig.src).then_some((self.orig.src, self.reply.dst))
    }

    /// The destination rewrite (DNAT, a load balancer): original destination → new one.
    pub fn dnat(&self) -> Option<(IpAddr, IpAddr)> {
        (self.reply.src != self.orig.dst).then_some((self.orig.dst, self.reply.src))
    }
}

/// A line that is not an entry.
#[derive(Debug, thiserror::Error)]
#[error("conntrack entry {line}: {reason} in {text:?}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
    pub text: String,
}

/// `k=v` pairs at the top level of `s`, a value possibly `( … )` with nested pairs.
fn pairs(s: &str) -> Vec<(&str, &str)> {
    let mut out = vec![];
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

fn tuple(v: &str) -> Result<Tuple, String> {
    let inner = v
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or("a tuple is not in parentheses")?;
    let mut fields: BTreeMap<String, String> = pairs(inner).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut addr = |k: &str| -> Result<IpAddr, String> {
        let v = fields.remove(k).ok_or(format!("no {k}="))?;
        v.parse().map_err(|_| format!("{k}={v} is not an address"))
    };
    Ok(Tuple {
        src: addr("src")?,
        dst: addr("dst")?,
        fields,
    })
}

/// Every entry of a dump.
pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let mut out = vec![];
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let err = |reason: String| ParseError {
            line: i + 1,
            reason,
            text: line.to_string(),
        };
        let mut proto = None;
        let (mut orig, mut reply) = (None, None);
        let mut e = Entry {
            proto: String::new(),
            orig: Tuple {
                src: IpAddr::from([0, 0, 0, 0]),
                dst: IpAddr::from([0, 0, 0, 0]),
                fields: BTreeMap::new(),
            },
            reply: Tuple {
                src: IpAddr::from([0, 0, 0, 0]),
                dst: IpAddr::from([0, 0, 0, 0]),
                fields: BTreeMap::new(),
            },
            zone: 0,
            timeout: None,
            mark: None,
            labels: None,
            state: None,
        };
        for (k, v) in pairs(line.trim()) {
            match k {
                "orig" => orig = Some(tuple(v).map_err(&err)?),
                "reply" => reply = Some(tuple(v).map_err(&err)?),
                "zone" => e.zone = v.parse().map_err(|_| err(format!("zone={v}")))?,
                "timeout" => e.timeout = v.parse().ok(),
                "mark" => e.mark = Some(v.to_string()),
                "labels" => e.labels = Some(v.to_string()),
                "protoinfo" => {
                    e.state = v
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .split(',')
                        .find_map(|p| p.strip_prefix("state="))
                        .map(str::to_string)
                }
                p if v.is_empty() && proto.is_none() => proto = Some(p.to_string()),
                _ => {}
            }
        }
        e.proto = proto.ok_or_else(|| err("no protocol".into()))?;
        e.orig = orig.ok_or_else(|| err("no orig=".into()))?;
        e.reply = reply.ok_or_else(|| err("no reply=".into()))?;
        out.push(e);
    }
    Ok(out)
}

/// The kernel's table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Netns(#[from] super::netns::NetnsError),
    #[error("cannot dump the kernel's connection tracking{ns}: {error}; this needs root (CAP_NET_ADMIN) and the nf_conntrack module")]
    Dump { ns: String, error: String },
    #[error("cannot follow the kernel's connection tracking{ns}: {error}; this needs root (CAP_NET_ADMIN) and the nf_conntrack module")]
    Events { ns: String, error: String },
    /// The kernel dropped events a slow reader had not taken.
    #[error("events were lost: the kernel's buffer overflowed (ENOBUFS), as conntrack -E warns")]
    Lost,
}

fn proto_name(n: Option<u8>) -> String {
    match n {
        Some(1) => "icmp".into(),
        Some(6) => "tcp".into(),
        Some(17) => "udp".into(),
        Some(58) => "icmpv6".into(),
        Some(132) => "sctp".into(),
        Some(x) => x.to_string(),
        None => "unknown".into(),
    }
}

fn kernel_tuple(t: &::conntrack::model::IpTuple) -> Option<Tuple> {
    let mut fields = BTreeMap::new();
    if let Some(p) = &t.proto {
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                fields.insert(k.to_string(), v);
            }
        };
        put("sport", p.src_port.map(|x| x.to_string()));
        put("dport", p.dst_port.map(|x| x.to_string()));
        put("id", p.icmp_id.or(p.icmpv6_id).map(|x| x.to_string()));
        put("type", p.icmp_type.or(p.icmpv6_type).map(|x| x.to_string()));
        put("code", p.icmp_code.or(p.icmpv6_code).map(|x| x.to_string()));
    }
    Some(Tuple {
        src: t.src?,
        dst: t.dst?,
        fields,
    })
}

/// TCP states as `conntrack -L` and the OVS datapath name them.
fn tcp_state(s: &::conntrack::model::TcpState) -> String {
    use ::conntrack::model::TcpState as S;
    match s {
        S::SynSent | S::SynSent2 => "SYN_SENT",
        S::SynRecv => "SYN_RECV",
        S::Established => "ESTABLISHED",
        S::FinWait => "FIN_WAIT",
        S::CloseWait => "CLOSE_WAIT",
        S::LastAck => "LAST_ACK",
        S::TimeWait => "TIME_WAIT",
        S::Close => "CLOSE",
        _ => "NONE",
    }
    .to_string()
}

fn entry_of(f: &::conntrack::model::Flow) -> Option<Entry> {
    let (Some(orig), Some(reply)) = (f.origin.as_ref().and_then(kernel_tuple), f.reply.as_ref().and_then(kernel_tuple)) else {
        return None;
    };
    Some(Entry {
        proto: proto_name(
            f.origin
                .as_ref()
                .and_then(|o| o.proto.as_ref())
                .and_then(|p| p.number.map(u8::from)),
        ),
        orig,
        reply,
        zone: f.zone.unwrap_or(0),
        timeout: f.timeout.map(|t| t.as_secs() as u32),
        mark: f.mark.filter(|m| *m != 0).map(|m| m.to_string()),
        labels: None,
        state: f
            .proto_info
            .as_ref()
            .and_then(|p| p.tcp.as_ref())
            .and_then(|t| t.state.as_ref())
            .map(tcp_state),
    })
}

/// A netlink error as people read it: the errno the kernel answered (`Nlmsgerr { error: -1 …`
/// is "Operation not permitted"), else the error as the crate words it.
fn netlink_text(e: &str) -> String {
    e.find("error: -")
        .and_then(|i| {
            let digits: String = e[i + 8..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<i32>().ok()
        })
        .map(|errno| std::io::Error::from_raw_os_error(errno).to_string())
        .unwrap_or_else(|| e.to_string())
}

/// The kernel's entries in network namespace `netns` (`None`: where ovnscope runs).
pub fn kernel(netns: Option<&str>) -> Result<Vec<Entry>, KernelError> {
    let flows =
        super::netns::run_in(netns, || ::conntrack::Conntrack::connect().and_then(|c| c.dump()))?.map_err(|e| KernelError::Dump {
            ns: netns.map(|n| format!(" in {n}")).unwrap_or_default(),
            error: netlink_text(&e.to_string()),
        })?;
    Ok(flows.iter().filter_map(entry_of).collect())
}

/// What happened to an entry, in `conntrack -E`'s words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    New,
    Update,
    Destroy,
}

impl EventKind {
    pub fn tag(self) -> &'static str {
        match self {
            EventKind::New => "NEW",
            EventKind::Update => "UPDATE",
            EventKind::Destroy => "DESTROY",
        }
    }
}

/// One change to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub entry: Entry,
}

/// ctnetlink's multicast groups (linux/netfilter/nfnetlink.h: NFNLGRP_CONNTRACK_NEW,
/// _UPDATE, _DESTROY).
const EVENT_GROUPS: [u32; 3] = [1, 2, 3];
/// IPCTNL_MSG_CT_DELETE in subsystem NFNL_SUBSYS_CTNETLINK (1): what a DESTROY comes as.
const CT_DELETE: u16 = (1 << 8) | 2;

/// The kernel's table changes as they happen, like `conntrack -E`: a thread of its own joins
/// `netns`, subscribes to ctnetlink's event groups and sends every event until the receiver is
/// dropped. Returns once it is subscribed, so traffic started after this is seen whole. The
/// kernel drops events a slow reader has not taken (ENOBUFS); that is sent as
/// [`KernelError::Lost`] and following goes on, as `conntrack -E` does.
pub fn kernel_events(netns: Option<&str>) -> Result<tokio::sync::mpsc::UnboundedReceiver<Result<Event, KernelError>>, KernelError> {
    use ::conntrack::attributes::ConntrackAttr;
    use ::conntrack::decoders::AttrDecoder;
    use ::conntrack::message::CtNetlinkMessage;
    use neli::consts::{nl::NlmF, socket::NlFamily};
    use neli::genl::Genlmsghdr;
    use neli::nl::{NlPayload, Nlmsghdr};
    use neli::socket::synchronous::NlSocketHandle;
    use neli::utils::Groups;

    let ns = netns.map(super::netns::open).transpose()?;
    let where_ = netns.map(|n| format!(" in {n}")).unwrap_or_default();
    let ended = KernelError::Events {
        ns: where_.clone(),
        error: "the event thread ended before subscribing".into(),
    };
    // Unbounded, so the kernel's socket is drained as fast as it fills (its own buffer is the
    // bound that matters: ENOBUFS below); the tokio end lets the caller wait with a deadline.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let subscribed = ns.as_ref().map_or(Ok(()), |n| n.enter()).map_err(KernelError::from).and_then(|()| {
            NlSocketHandle::connect(NlFamily::Netfilter, Some(0), Groups::new_groups(&EVENT_GROUPS)).map_err(|e| KernelError::Events {
                ns: where_.clone(),
                error: e.to_string(),
            })
        });
        let socket = match subscribed {
            Ok(s) => {
                let _ = s.set_recv_buffer_size(4 << 20);
                let _ = ready_tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        loop {
            let batch = match socket.recv::<CtNetlinkMessage, Genlmsghdr<u8, ConntrackAttr>>() {
                Ok((batch, _)) => batch,
                Err(neli::err::SocketError::Io(e)) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                    if tx.send(Err(KernelError::Lost)).is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    let _ = tx.send(Err(KernelError::Events {
                        ns: where_.clone(),
                        error: e.to_string(),
                    }));
                    return;
                }
            };
            for m in batch {
                let m: Nlmsghdr<CtNetlinkMessage, Genlmsghdr<u8, ConntrackAttr>> = match m {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = tx.send(Err(KernelError::Events {
                            ns: where_.clone(),
                            error: format!("an event that does not decode: {e}"),
                        }));
                        continue;
                    }
                };
                let NlPayload::Payload(g) = m.nl_payload() else { continue };
                let Ok(flow) = ::conntrack::model::Flow::decode(g.attrs().get_attr_handle()) else {
                    continue;
                };
                let Some(entry) = entry_of(&flow) else { continue };
                let code: u16 = (*m.nl_type()).into();
                // A new entry comes with NLM_F_CREATE (conntrack-tools tells NEW from UPDATE so).
                let kind = if code == CT_DELETE {
                    EventKind::Destroy
                } else if m.nl_flags().contains(NlmF::CREATE) {
                    EventKind::New
                } else {
                    EventKind::Update
                };
                if tx.send(Ok(Event { kind, entry })).is_err() {
                    return;
                }
            }
        }
    });
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ended),
    }
}

/// A connection's identity across two readings of a table without events (the OVS userspace
/// datapath's): its protocol, zone and original direction.
fn key(e: &Entry) -> (&str, u16, &Tuple) {
    (&e.proto, e.zone, &e.orig)
}

/// The events between two readings of a table: entries that appeared (NEW), changed state or
/// reply (UPDATE; a timeout counting down is no change) or went (DESTROY). Changes that came
/// and went between the readings are not seen — the userspace datapath has no event channel.
pub fn diff(before: &[Entry], now: &[Entry]) -> Vec<Event> {
    let old: std::collections::HashMap<_, _> = before.iter().map(|e| (key(e), e)).collect();
    let new: std::collections::HashMap<_, _> = now.iter().map(|e| (key(e), e)).collect();
    let mut out = vec![];
    for e in now {
        match old.get(&key(e)) {
            None => out.push(Event {
                kind: EventKind::New,
                entry: e.clone(),
            }),
            Some(o) if o.state != e.state || o.reply != e.reply || o.mark != e.mark || o.labels != e.labels => out.push(Event {
                kind: EventKind::Update,
                entry: e.clone(),
            }),
            Some(_) => {}
        }
    }
    for e in before {
        if !new.contains_key(&key(e)) {
            out.push(Event {
                kind: EventKind::Destroy,
                entry: e.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snat_ping_in_three_zones() {
        let dump = "icmp,orig=(src=10.128.2.43,dst=203.0.113.8,id=2401,type=8,code=0),reply=(src=203.0.113.8,dst=198.18.0.9,id=2401,type=0,code=0),timeout=29\n\
icmp,orig=(src=10.128.2.43,dst=203.0.113.8,id=2401,type=8,code=0),reply=(src=203.0.113.8,dst=10.128.2.43,id=2401,type=0,code=0),zone=17,timeout=29\n\
tcp,orig=(src=10.128.2.43,dst=203.0.113.8,sport=40000,dport=80),reply=(src=203.0.113.8,dst=198.18.0.9,sport=80,dport=40000),zone=3,mark=2,protoinfo=(state=TIME_WAIT)\n";
        let e = parse(dump).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].zone, 0);
        assert_eq!(e[0].snat(), Some(("10.128.2.43".parse().unwrap(), "198.18.0.9".parse().unwrap())));
        assert_eq!(e[1].snat(), None);
        assert_eq!(e[1].zone, 17);
        assert_eq!(e[2].state.as_deref(), Some("TIME_WAIT"));
        assert_eq!(e[2].orig.sport(), Some(40000));
        assert_eq!(e[2].mark.as_deref(), Some("2"));
    }

    #[test]
    fn damage_is_named() {
        for (bad, says) in [
            ("icmp,orig=(src=1.2.3.4),reply=(src=1.2.3.4,dst=1.2.3.5)", "no dst="),
            (
                "tcp,orig=(src=x,dst=1.2.3.4),reply=(src=1.2.3.4,dst=1.2.3.5)",
                "src=x is not an address",
            ),
            ("tcp,reply=(src=1.2.3.4,dst=1.2.3.5)", "no orig="),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn two_readings_give_new_update_destroy() {
        let t = |state: &str, timeout: u32, sport: u16| {
            parse(&format!(
                "tcp,orig=(src=10.128.2.43,dst=203.0.113.8,sport={sport},dport=80),reply=(src=203.0.113.8,dst=198.18.0.9,sport=80,dport={sport}),zone=3,timeout={timeout},protoinfo=(state={state})"
            ))
            .unwrap()
            .remove(0)
        };
        let before = vec![t("SYN_SENT", 30, 40000), t("ESTABLISHED", 100, 40001), t("TIME_WAIT", 5, 40002)];
        // 40000 moved on; 40001 only counted its timeout down; 40002 went; 40003 came.
        let now = vec![
            t("ESTABLISHED", 86399, 40000),
            t("ESTABLISHED", 99, 40001),
            t("SYN_SENT", 30, 40003),
        ];
        let got: Vec<(EventKind, u16, Option<String>)> = diff(&before, &now)
            .into_iter()
            .map(|e| (e.kind, e.entry.orig.sport().unwrap(), e.entry.state))
            .collect();
        assert_eq!(
            got,
            vec![
                (EventKind::Update, 40000, Some("ESTABLISHED".into())),
                (EventKind::New, 40003, Some("SYN_SENT".into())),
                (EventKind::Destroy, 40002, Some("TIME_WAIT".into())),
            ]
        );
        assert!(diff(&now, &now).is_empty());
    }
}
