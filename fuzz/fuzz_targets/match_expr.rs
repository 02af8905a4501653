//! The match-expression parser and evaluator must turn any text into either an
//! expression or a `ParseError`, and evaluating a parsed expression must never panic:
//! match strings come from Southbound rows we do not control.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovnscope::lflow::{expr::parse, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(e) = parse(s) else { return };
    let mut p = Packet {
        src: "10.128.0.5".parse().ok(),
        dst: "fd00::1".parse().ok(),
        inport: Some("pod-a".into()),
        outport: Some("rtos-node".into()),
        proto: Some("tcp".into()),
        ..Packet::default()
    };
    p.address_sets.insert("as".into(), vec!["10.0.0.0/8".into(), "junk".into()]);
    p.port_groups.insert("pg".into(), vec!["pod-a".into()]);
    let _ = p.eval(&e);
    p.resident = Some(vec!["pod-a".into()]);
    let _ = p.eval(&e);
});
