//! The action parser, the microflow evaluator and the pipeline executor must survive any
//! logical flow: the input's first line is a match, the rest the actions of one flow (and of a
//! second one in the next table), run on a packet and on the microflow parsed from the match.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovnscope::lflow::exec::{two_switches, Executor, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (m, a) = s.split_once('\n').unwrap_or((s, "next;"));
    let _ = ovnscope::lflow::actions::parse(a);
    let sb = two_switches(&[
        ("a", "ingress", 0, 10, m, a),
        ("a", "ingress", 1, 0, "1", a),
        ("a", "egress", 0, 0, "1", "output;"),
        ("b", "ingress", 0, 0, "1", a),
    ]);
    let Ok(ex) = Executor::new(&sb, &Options::default()) else { return };
    for flow in [
        r#"inport == "p1" && ip4.src == 10.0.0.1 && ip4.dst == 10.0.0.2 && ip.ttl == 1 && tcp.dst == 80"#,
        r#"inport == "p1" && ip6.src == fd00::1 && icmp6.type == 128"#,
    ] {
        if let Ok(f) = ex.microflow(flow) {
            if let Ok(t) = ex.run(&f) {
                let _ = (ovnscope::render::lflow::detailed(&t), ovnscope::render::lflow::minimal(&t), t.verdicts(), t.steps());
            }
        }
    }
    let _ = ex.microflow(&format!("inport == \"p1\" && {m}")).map(|f| ex.run(&f));
});
