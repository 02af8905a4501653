//! The OVN logical-flow action language (ovn-sb(5) "Logical_Flow actions"), parsed into the
//! statements the pipeline executor runs.
//!
//! Every statement keeps its text. A statement whose form is not recognised is kept as
//! [`Action::Unmodelled`] with its name, so the executor can say "stage X uses action Y, not
//! modelled" instead of guessing.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `next;`, `next(N);`, `next(pipeline=egress, table=N);`
    Next {
        egress: Option<bool>,
        table: Option<i64>,
    },
    Output,
    Drop,
    /// `field = constant;` (the constant as written: a number, address, MAC or port name).
    Load {
        dst: String,
        value: String,
    },
    /// `field = field;`
    Move {
        dst: String,
        src: String,
    },
    /// `a <-> b;`
    Exchange {
        a: String,
        b: String,
    },
    /// `ip.ttl--;`
    DecTtl,
    CtNext,
    /// `ct_snat`, `ct_dnat`, `…_in_czone`, with or without an address.
    CtNat {
        dst: bool,
        in_czone: bool,
        addr: Option<IpAddr>,
    },
    /// `ct_lb` / `ct_lb_mark`, with the backends it may choose from.
    CtLb {
        mark: bool,
        backends: Vec<(IpAddr, Option<u16>)>,
    },
    /// `ct_commit` in any form (it changes no header ovn-trace follows).
    CtCommit,
    /// `ct_commit_to_zone(dnat|snat)` (24.09) and `ct_commit_nat[(dnat|snat)]`: a commit that,
    /// like `ct_next`, goes on in the next table with the packet tracked. `dnat`: the zone
    /// (`ct_commit_nat` without one is the DNAT zone, as OVN parses it).
    CtCommitZone {
        nat: bool,
        dnat: bool,
    },
    CtClear,
    /// `get_arp(port, ip)` / `get_nd(port, ip)`: eth.dst from MAC_Binding.
    GetMac {
        port: String,
        ip: String,
    },
    /// `dst = function(args);` (`check_in_port_sec()`, `get_fdb(eth.dst)`, `lookup_arp(…)`).
    Call {
        dst: String,
        func: String,
        args: Vec<String>,
    },
    /// `icmp4 { … };`, `arp { … };`, `clone { … };`, `tcp_reset { … };`
    Nested {
        kind: String,
        body: Vec<Stmt>,
    },
    /// `log(name="…", verdict=…, severity=…, meter="…")`: an ACL's logging, which ovn-trace
    /// shows as a `LOG:` line with the packet as it is there.
    Log {
        name: Option<String>,
        verdict: String,
        severity: String,
        meter: Option<String>,
    },
    /// `mirror("port")` (OVN 26.03): a copy of the packet goes out through the mirror port.
    Mirror {
        port: String,
    },
    /// Actions ovn-trace notes but that change nothing it follows (`put_arp`, …).
    NoEffect(String),
    /// Not modelled, by name.
    Unmodelled(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub text: String,
    pub action: Action,
}

/// Actions that change nothing the executor follows (as in ovn-trace).
const NO_EFFECT: &[&str] = &[
    "put_arp",
    "put_nd",
    "handle_svc_check",
    "set_queue",
    "set_meter",
    "trigger_event",
    "put_fdb",
    "bind_vport",
    "igmp",
    "handle_dhcpv6_reply",
    "commit_ecmp_nh",
    "commit_lb_aff",
    "sample",
    "mac_cache_use",
    "fwd_group",
    "ct_snat_to_vip",
    "ovn_field_load",
    "put_nd_ra_opts",
    "dhcp6_reply",
    "bfd_msg",
    "mcast_flood",
    "flood_remote",
];

const NESTED: &[&str] = &[
    "icmp4",
    "icmp4_error",
    "icmp6",
    "icmp6_error",
    "arp",
    "nd_na",
    "nd_na_router",
    "nd_ns",
    "tcp_reset",
    "sctp_abort",
    "reject",
    "clone",
    "ct_commit",
    "trigger_event",
];

/// Removes `/* comments */` outside strings.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if in_str {
            out.push(c);
            if c == '\\' {
                if let Some((_, n)) = it.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push(c);
        } else if c == '/' && s[i + 1..].starts_with('*') {
            match s[i + 2..].find("*/") {
                Some(end) => {
                    let stop = i + 2 + end + 2;
                    while it.peek().is_some_and(|(j, _)| *j < stop) {
                        it.next();
                    }
                    out.push(' ');
                }
                None => break,
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits at `sep` where not inside quotes, parentheses or braces.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    let mut parts = vec![];
    let mut cur = String::new();
    for c in s.chars() {
        if in_str {
            cur.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
            // A block closes a statement even without its `;` (`ct_commit { } ; next;`
            // has one; `clone {…}; outport = …` too, but be lenient).
        }
    }
    parts.push(cur);
    parts
}

/// The position of a top-level `=` that is an assignment (not `==`, `<=`, `>=`, `!=`).
fn assignment_at(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let (mut depth, mut in_str) = (0i32, false);
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'"' => in_str = !in_str,
            b'(' | b'{' if !in_str => depth += 1,
            b')' | b'}' if !in_str => depth -= 1,
            b'=' if !in_str && depth == 0 => {
                let prev = if i > 0 { b[i - 1] } else { b' ' };
                let next = b.get(i + 1).copied().unwrap_or(b' ');
                if next != b'=' && !matches!(prev, b'=' | b'<' | b'>' | b'!') {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_field(s: &str) -> bool {
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
        && super::symtab::resolve(s).is_ok()
}

/// `name(args)` → (name, args text).
fn call(s: &str) -> Option<(&str, &str)> {
    let open = s.find('(')?;
    let name = s[..open].trim();
    let args = s[open + 1..].strip_suffix(')')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some((name, args))
}

fn backend(s: &str) -> Option<(IpAddr, Option<u16>)> {
    let s = s.trim();
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some((a, None));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once(']')?;
        return Some((a.parse().ok()?, p.strip_prefix(':').and_then(|p| p.parse().ok())));
    }
    let (a, p) = s.rsplit_once(':')?;
    Some((a.parse().ok()?, Some(p.parse().ok()?)))
}

fn statement(text: &str) -> Action {
    let t = text.trim();
    // A nested block: `kind { … }`.
    if let Some(open) = t.find('{').filter(|_| t.ends_with('}')) {
        let kind = t[..open].trim().to_string();
        let body = parse(&t[open + 1..t.len() - 1]);
        return match kind.as_str() {
            "ct_commit" => Action::CtCommit,
            k if NESTED.contains(&k) => Action::Nested { kind, body },
            _ => Action::Unmodelled(kind),
        };
    }
    if let Some((a, b)) = t.split_once("<->") {
        return Action::Exchange {
            a: a.trim().into(),
            b: b.trim().into(),
        };
    }
    if let Some(f) = t.strip_suffix("--") {
        return if f.trim() == "ip.ttl" {
            Action::DecTtl
        } else {
            Action::Unmodelled(t.into())
        };
    }
    if let Some(eq) = assignment_at(t) {
        let (dst, rhs) = (t[..eq].trim().to_string(), t[eq + 1..].trim());
        if let Some((func, args)) = call(rhs) {
            let args = split_top(args, ',')
                .into_iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            return Action::Call {
                dst,
                func: func.into(),
                args,
            };
        }
        if is_field(rhs) {
            return Action::Move { dst, src: rhs.into() };
        }
        return Action::Load { dst, value: rhs.into() };
    }
    let (name, args) = call(t).map_or((t, None), |(n, a)| (n, Some(a.trim())));
    match (name, args) {
        ("next", None) => Action::Next { egress: None, table: None },
        ("next", Some(a)) => {
            let (mut egress, mut table) = (None, None);
            for part in a.split(',') {
                match part.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    Some(("pipeline", v)) => egress = Some(v == "egress"),
                    Some(("table", v)) => table = v.parse().ok(),
                    None => table = part.trim().parse().ok(),
                    _ => return Action::Unmodelled(t.into()),
                }
            }
            Action::Next { egress, table }
        }
        ("output", None) => Action::Output,
        ("drop", None) => Action::Drop,
        ("ct_next", _) => Action::CtNext,
        ("ct_clear", None) => Action::CtClear,
        ("ct_commit" | "ct_commit_v1", _) => Action::CtCommit,
        ("ct_commit_to_zone" | "ct_commit_nat", a) => match (name, a) {
            ("ct_commit_nat", None) => Action::CtCommitZone { nat: true, dnat: true },
            (_, Some(z @ ("dnat" | "snat"))) => Action::CtCommitZone {
                nat: name == "ct_commit_nat",
                dnat: z == "dnat",
            },
            _ => Action::Unmodelled(t.into()),
        },
        ("ct_snat" | "ct_dnat" | "ct_snat_in_czone" | "ct_dnat_in_czone", _) => {
            let addr = match args.map(|a| a.split(',').next().unwrap_or("").trim()) {
                None | Some("") => None,
                Some(a) => match a.parse::<IpAddr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => return Action::Unmodelled(t.into()),
                },
            };
            Action::CtNat {
                dst: name.starts_with("ct_dnat"),
                in_czone: name.ends_with("in_czone"),
                addr,
            }
        }
        ("ct_lb" | "ct_lb_mark", _) => {
            let mut backends = vec![];
            if let Some(a) = args {
                for part in split_top(a, ';') {
                    let part = part.trim();
                    let list = part.strip_prefix("backends=").unwrap_or(part);
                    if part.contains('=') && !part.starts_with("backends=") {
                        continue; // hash_fields=…, ct_flag
                    }
                    for b in list.split(',').filter(|b| !b.trim().is_empty()) {
                        match backend(b) {
                            Some(x) => backends.push(x),
                            None => return Action::Unmodelled(t.into()),
                        }
                    }
                }
            }
            Action::CtLb {
                mark: name == "ct_lb_mark",
                backends,
            }
        }
        ("get_arp" | "get_nd", Some(a)) => match a.split_once(',') {
            Some((p, ip)) => Action::GetMac {
                port: p.trim().into(),
                ip: ip.trim().into(),
            },
            None => Action::Unmodelled(t.into()),
        },
        ("mirror", Some(a)) => match a.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
            Some(port) => Action::Mirror { port: port.into() },
            None => Action::Unmodelled(t.into()),
        },
        ("log", a) => log(a.unwrap_or("")).unwrap_or_else(|| Action::Unmodelled(t.into())),
        (n, _) if NO_EFFECT.contains(&n) => Action::NoEffect(n.into()),
        _ => Action::Unmodelled(name.into()),
    }
}

/// `log(…)`'s arguments as OVN parses them (lib/actions.c): any order, the last of a kind wins,
/// severity `info` unless given, a verdict required.
fn log(args: &str) -> Option<Action> {
    let (mut name, mut verdict, mut severity, mut meter) = (None, None, "info".to_string(), None);
    for part in split_top(args, ',') {
        let (k, v) = part.split_once('=')?;
        let v = v.trim();
        let quoted = || v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).map(str::to_string);
        match k.trim() {
            "name" => name = Some(quoted()?),
            "meter" => meter = Some(quoted()?),
            "verdict" if ["allow", "drop", "reject"].contains(&v) => verdict = Some(v.to_string()),
            "severity" if ["alert", "warning", "notice", "info", "debug"].contains(&v) => severity = v.into(),
            _ => return None,
        }
    }
    Some(Action::Log {
        name,
        verdict: verdict?,
        severity,
        meter,
    })
}

/// Parses a flow's actions; never fails (unrecognised statements are `Unmodelled`).
pub fn parse(actions: &str) -> Vec<Stmt> {
    let clean = strip_comments(actions);
    let mut out = vec![];
    for part in split_top(&clean, ';') {
        // `ct_commit { … } next;` (no `;` after a block) still separates at the block's end.
        let mut rest = part.trim();
        while let Some(close) = block_end(rest).filter(|&c| c + 1 < rest.len()) {
            let (block, tail) = rest.split_at(close + 1);
            out.push(Stmt {
                text: block.trim().into(),
                action: statement(block),
            });
            rest = tail.trim();
        }
        if !rest.is_empty() {
            out.push(Stmt {
                text: rest.into(),
                action: statement(rest),
            });
        }
    }
    out
}

/// Where a leading `kind { … }` block ends, if the text starts with one.
fn block_end(s: &str) -> Option<usize> {
    let open = s.find('{')?;
    if s[..open].contains(['(', '=', '"']) {
        return None;
    }
    let (mut depth, mut in_str) = (0, false);
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '"' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acts(s: &str) -> Vec<Action> {
        parse(s).into_iter().map(|s| s.action).collect()
    }

    #[test]
    fn ovn_kubernetes_actions() {
        assert_eq!(
            acts("ip.ttl--; reg8[0..15] = 0; reg0 = ip4.dst; reg1 = 100.64.0.1; eth.src = 0a:58:64:40:00:01; outport = \"rtoj-ovn_cluster_router\"; flags.loopback = 1; next;"),
            vec![
                Action::DecTtl,
                Action::Load { dst: "reg8[0..15]".into(), value: "0".into() },
                Action::Move { dst: "reg0".into(), src: "ip4.dst".into() },
                Action::Load { dst: "reg1".into(), value: "100.64.0.1".into() },
                Action::Load { dst: "eth.src".into(), value: "0a:58:64:40:00:01".into() },
                Action::Load { dst: "outport".into(), value: "\"rtoj-ovn_cluster_router\"".into() },
                Action::Load { dst: "flags.loopback".into(), value: "1".into() },
                Action::Next { egress: None, table: None },
            ]
        );
        assert_eq!(
            acts("ct_snat_in_czone(10.46.44.118);"),
            vec![Action::CtNat {
                dst: false,
                in_czone: true,
                addr: "10.46.44.118".parse().ok()
            }]
        );
        assert_eq!(
            acts("reg0[1] = 1; ct_lb_mark(backends=10.128.2.43:8080,10.128.4.5:8080; hash_fields=\"ip_dst,ip_src\");"),
            vec![
                Action::Load {
                    dst: "reg0[1]".into(),
                    value: "1".into()
                },
                Action::CtLb {
                    mark: true,
                    backends: vec![
                        ("10.128.2.43".parse().unwrap(), Some(8080)),
                        ("10.128.4.5".parse().unwrap(), Some(8080))
                    ]
                },
            ]
        );
        assert_eq!(
            acts("ct_commit { ct_mark.blocked = 0; ct_label.label = reg3; }; next;"),
            vec![Action::CtCommit, Action::Next { egress: None, table: None }]
        );
        assert_eq!(
            acts("eth.dst = eth.src; eth.src = xreg0[0..47]; arp.op = 2; /* ARP reply */ arp.tpa <-> arp.spa; outport = inport; output;")
                [..5],
            [
                Action::Move {
                    dst: "eth.dst".into(),
                    src: "eth.src".into()
                },
                Action::Move {
                    dst: "eth.src".into(),
                    src: "xreg0[0..47]".into()
                },
                Action::Load {
                    dst: "arp.op".into(),
                    value: "2".into()
                },
                Action::Exchange {
                    a: "arp.tpa".into(),
                    b: "arp.spa".into()
                },
                Action::Move {
                    dst: "outport".into(),
                    src: "inport".into()
                },
            ]
        );
        assert_eq!(
            acts("reg0[15] = check_in_port_sec(); next(pipeline=egress, table=3);"),
            vec![
                Action::Call {
                    dst: "reg0[15]".into(),
                    func: "check_in_port_sec".into(),
                    args: vec![]
                },
                Action::Next {
                    egress: Some(true),
                    table: Some(3)
                },
            ]
        );
        let icmp = acts("icmp4 {eth.dst <-> eth.src; icmp4.type = 11; /* Time exceeded */ ip.ttl = 254; output; };");
        assert!(
            matches!(&icmp[..], [Action::Nested { kind, body }] if kind == "icmp4" && body.len() == 4),
            "{icmp:?}"
        );
        assert_eq!(
            acts("ct_commit { } ; next; "),
            vec![Action::CtCommit, Action::Next { egress: None, table: None }]
        );
        assert_eq!(acts("frobnicate(1);"), vec![Action::Unmodelled("frobnicate".into())]);
        assert_eq!(
            acts("ct_commit_to_zone(snat); ct_commit_nat; ct_commit_nat(snat); ct_commit_to_zone;"),
            vec![
                Action::CtCommitZone { nat: false, dnat: false },
                Action::CtCommitZone { nat: true, dnat: true },
                Action::CtCommitZone { nat: true, dnat: false },
                Action::Unmodelled("ct_commit_to_zone".into()),
            ]
        );
        assert_eq!(acts("drop;"), vec![Action::Drop]);
    }
}
