//! A trace as ovn-trace prints it: the detailed form (every table, action and note, laid out
//! by ovn-trace's indentation rule) and the minimal form (`--minimal`: header changes, forks
//! and where the packet went).

use crate::lflow::exec::{Node, Pipeline, TextNames, Trace};

/// ovn-trace's detailed form, laid out by its rule: a node is set in one level (its
/// children two) unless it is the last of its list and not a leaf — so a table's actions
/// sit under it while the table its `next;` leads to continues at the same column.
pub fn detailed(t: &Trace) -> String {
    let mut s = format!("# {}\n", t.microflow);
    fn leaf(n: &Node) -> bool {
        !matches!(
            n,
            Node::Table { .. } | Node::Pipeline { .. } | Node::Transform { .. } | Node::NoMatch { .. }
        )
    }
    // Names are replaced line by line, so a title's underline is as long as the title shown.
    fn line(s: &mut String, names: &TextNames, level: usize, text: &str, title: bool) {
        let text = names.apply(text.to_string());
        if title {
            s.push('\n');
        }
        s.push_str(&format!("{}{text}\n", " ".repeat(level * 4)));
        if title {
            s.push_str(&format!("{}{}\n", " ".repeat(level * 4), "-".repeat(text.chars().count())));
        }
    }
    fn walk(nodes: &[Node], names: &TextNames, level: usize, always_indent: bool, s: &mut String) {
        for (i, n) in nodes.iter().enumerate() {
            let more = usize::from(i + 1 != nodes.len() || always_indent || leaf(n));
            let at = level + more;
            match n {
                Node::Pipeline { kind, children, .. } => {
                    line(s, names, at, &pipeline_title(n), true);
                    walk(children, names, at + more, *kind == Pipeline::Multicast, s);
                }
                Node::Table {
                    table,
                    stage,
                    priority,
                    match_,
                    uuid,
                    source,
                    tied_with,
                    children,
                    ..
                } => {
                    let src = source.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
                    line(
                        s,
                        names,
                        at,
                        &format!("{table:2}. {stage}{src}: {match_}, priority {priority}, uuid {}", &uuid[..8]),
                        false,
                    );
                    if !tied_with.is_empty() {
                        let short: Vec<&str> = tied_with.iter().map(|u| &u[..8]).collect();
                        line(
                            s,
                            names,
                            at + 1,
                            &format!("/* tied with {} at the same priority; OVN picks one */", short.join(", ")),
                            false,
                        );
                    }
                    walk(children, names, at + more, false, s);
                }
                Node::NoMatch { table, stage, .. } => line(s, names, at, &format!("{table:2}. {stage}: no match (implicit drop)"), false),
                Node::Transform { what, children, .. } => {
                    line(s, names, at, what, true);
                    walk(children, names, at + more, false, s);
                }
                Node::Action { text } | Node::Note { text } | Node::Error { text } => line(s, names, at, text, false),
                Node::Output { port, kind, .. } => line(s, names, at, &format!("/* output to \"{port}\", type \"{kind}\" */"), false),
                Node::Unmodelled { stage, what } => line(s, names, at, &format!("*** not modelled: stage {stage}: {what}"), false),
                Node::Drop { .. } | Node::Modify { .. } => {}
            }
        }
    }
    walk(&t.nodes, &t.text_names, 0, false, &mut s);
    s
}

/// ovn-trace's summary form (`--summary`): its tree with the tables (and header changes)
/// replaced by what they contain, one node per line, a block per pipeline and fork; `next(…)`
/// actions left out; every node but an action ends in `;`. ovnscope's own notes (ties,
/// template variables) are not in it.
pub fn summary(t: &Trace) -> String {
    let mut s = format!("# {}\n", t.microflow);
    /// The nodes as ovn-trace's summary sees them: tables and header changes spliced into
    /// their parents. `(text, is an action, children)`.
    fn pruned<'n>(nodes: &'n [Node], out: &mut Vec<(String, bool, &'n [Node])>) {
        for n in nodes {
            match n {
                Node::Table { children, .. } => pruned(children, out),
                Node::NoMatch { .. } | Node::Modify { .. } | Node::Drop { .. } => {}
                Node::Pipeline { children, .. } => out.push((pipeline_title(n), false, children)),
                Node::Transform { what, children, .. } => out.push((what.clone(), false, children)),
                Node::Action { text } => out.push((text.clone(), true, &[])),
                // ovn-trace writes its output comments as output nodes, its other comments as actions.
                Node::Note { text }
                    if text.starts_with("/* Replacing type")
                        || text.starts_with("/* omitting output")
                        || text.starts_with("/* Flood to all remote chassis") =>
                {
                    out.push((text.clone(), false, &[]))
                }
                Node::Note { text } if text.starts_with("/* chassis template variables") => {}
                Node::Note { text } => out.push((text.clone(), true, &[])),
                Node::Error { text } => out.push((text.clone(), false, &[])),
                Node::Output { port, kind, .. } => out.push((format!("/* output to \"{port}\", type \"{kind}\" */"), false, &[])),
                Node::Unmodelled { stage, what } => out.push((format!("*** not modelled: stage {stage}: {what}"), false, &[])),
            }
        }
    }
    fn walk(nodes: &[Node], level: usize, s: &mut String) {
        let mut list = vec![];
        pruned(nodes, &mut list);
        for (text, action, children) in list {
            if action && text.starts_with("next(") {
                continue;
            }
            let pad = "    ".repeat(level);
            s.push_str(&pad);
            s.push_str(&text);
            let mut inner = String::new();
            walk(children, level + 1, &mut inner);
            if !inner.is_empty() {
                s.push_str(" {\n");
                s.push_str(&inner);
                s.push_str(&pad);
                s.push('}');
            }
            if !action {
                s.push(';');
            }
            s.push('\n');
        }
    }
    walk(&t.nodes, 0, &mut s);
    t.text_names.apply(s)
}

/// The minimal form (ovn-trace --minimal): header changes, forks and where the packet
/// went; each output carries the headers it leaves with as a comment.
pub fn minimal(t: &Trace) -> String {
    minimal_text(t, true)
}

/// [`minimal`]; `headers`: after each `output(…)`, the headers it leaves with as a comment
/// (ovnscope's addition; ovn-trace prints none).
pub fn minimal_text(t: &Trace, headers: bool) -> String {
    let mut s = format!("# {}\n", t.microflow);
    fn walk(nodes: &[Node], depth: usize, s: &mut String, headers_on: bool) {
        for n in nodes {
            let pad = "    ".repeat(depth);
            match n {
                Node::Table { children, .. } | Node::Pipeline { children, .. } => walk(children, depth, s, headers_on),
                Node::Transform { what, children, .. } => {
                    // As ovn-trace prunes: a branch whose children print nothing is `X;`.
                    let mut inner = String::new();
                    walk(children, depth + 1, &mut inner, headers_on);
                    if inner.is_empty() {
                        s.push_str(&format!("{pad}{what};\n"));
                    } else {
                        s.push_str(&format!("{pad}{what} {{\n{inner}{pad}}};\n"));
                    }
                }
                Node::Modify { text } => s.push_str(&format!("{pad}{text};\n")),
                Node::Output { headers, .. } => {
                    if headers_on && s.ends_with(");\n") {
                        s.truncate(s.len() - 1);
                        s.push_str(&format!(" /* {headers} */\n"));
                    }
                }
                Node::Error { text } => s.push_str(&format!("{pad}{text};\n")),
                Node::Unmodelled { stage, what } => s.push_str(&format!("{pad}*** not modelled: stage {stage}: {what};\n")),
                Node::Drop { .. } | Node::NoMatch { .. } | Node::Note { .. } | Node::Action { .. } => {}
            }
        }
    }
    walk(&t.nodes, 0, &mut s, headers);
    t.text_names.apply(s)
}

fn pipeline_title(n: &Node) -> String {
    let Node::Pipeline {
        kind,
        datapath,
        zone,
        inport,
        outport,
        ..
    } = n
    else {
        return String::new();
    };
    let mut t = format!("{kind}(dp=\"{datapath}\"");
    if let Some(i) = inport {
        t += &format!(", inport=\"{i}\"");
    }
    if let Some(o) = outport {
        t += &format!(", {}=\"{o}\"", if *kind == Pipeline::Multicast { "mcgroup" } else { "outport" });
    }
    if let Some(z) = zone {
        t += &format!(", zone=\"{z}\"");
    }
    t + ")"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lflow::exec::fixture::{crossing, run, two_switches, PKT};
    use crate::lflow::exec::{Executor, Node, Options};

    #[test]
    fn crosses_patch_ports_and_ends_at_a_port() {
        let sb = crossing();
        let t = run(&sb, &Options::default(), PKT);
        assert_eq!(t.verdicts(), vec!["output p2"]);
        let dps: Vec<String> = t.steps().iter().map(|s| s.datapath.clone()).collect();
        assert_eq!(dps, ["a", "a", "b", "b"]);
        assert!(minimal(&t).contains("ip.ttl--;\noutput(\"p2\"); /* "), "{}", minimal(&t));
    }

    #[test]
    fn no_match_ties_and_conntrack_states() {
        let sb1 = two_switches(&[("a", "ingress", 0, 10, "tcp", "next;")]);
        assert_eq!(run(&sb1, &Options::default(), PKT).verdicts(), vec!["no match in a_ingress_0"]);
        let sb2 = two_switches(&[("a", "ingress", 0, 10, "udp", "drop;"), ("a", "ingress", 0, 10, "ip4", "drop;")]);
        let t = run(&sb2, &Options::default(), PKT);
        assert!(
            matches!(&t.nodes[0], Node::Pipeline { children, .. } if matches!(&children[0], Node::Table { tied_with, .. } if tied_with.len() == 1))
        );
        // ct_next forks with the next state of --ct, then ovn-trace's default est|trk.
        let sb3 = two_switches(&[
            ("a", "ingress", 0, 0, "1", "ct_next;"),
            ("a", "ingress", 1, 10, "ct.new", r#"outport = "p1"; ct_next;"#),
            ("a", "ingress", 1, 5, "ct.est", "drop;"),
            ("a", "ingress", 2, 0, "ct.est && !ct.new", "reject { output; };"),
        ]);
        let t = run(
            &sb3,
            &Options {
                ct: vec!["new|trk".into()],
                ..Default::default()
            },
            PKT,
        );
        let d = detailed(&t);
        assert!(
            d.contains("ct_next(ct_state=new|trk)") && d.contains("ct_next(ct_state=est|trk /* default (use --ct to customize) */)"),
            "{d}"
        );
        // reject of UDP is an ICMP port unreachable back to the sender (loopback, so sent to p1).
        assert!(d.contains("\nicmp4\n"), "{d}");
        // Its egress has no flow (an implicit drop, which --minimal prints nothing for), so the
        // branch is `icmp4;`, as ovn-trace prunes it.
        assert!(minimal(&t).contains("icmp4;\n"), "{}", minimal(&t));
        assert_eq!(run(&sb3, &Options::default(), PKT).verdicts(), vec!["drop"]);
        assert!(Executor::new(
            &sb3,
            &Options {
                ct: vec!["bogus".into()],
                ..Default::default()
            }
        )
        .is_err());
    }
}
