//! Integration tests against a real OVN lab (real ovsdb-server, ovn-northd, ovs-vswitchd,
//! ovn-controller from Debian packages), brought up once by `lab/ovnlab` and torn down at the
//! end. Every expectation comes from the real tools (`ovs-vsctl`, `ovn-nbctl`, `ovn-sbctl`,
//! `tcpdump`) on the same lab, or from a fact of the lab's construction.

mod agreement;
mod capture;
#[path = "../support/certs.rs"]
mod certs;
mod common;
mod dataplane;
mod detrace;
mod errors;
mod explain;
#[path = "../support/generation.rs"]
#[allow(dead_code)]
mod generation;
mod guide;
mod offline;
mod pipeline;
mod protocol;
mod show;
mod tls;
mod topology;
mod trace;
mod validate;

use common::Lab;
use libtest_mimic::{Arguments, Trial};
use std::sync::OnceLock;

static LAB: OnceLock<Lab> = OnceLock::new();

pub fn lab() -> &'static Lab {
    LAB.get().expect("lab is up")
}

macro_rules! trials {
    ($($m:ident :: $f:ident),* $(,)?) => {
        vec![$(Trial::test(concat!(stringify!($m), "::", stringify!($f)), || { $m::$f(); Ok(()) })),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    // OVNLAB_OVN=25.03 (or 26.03): the lab's daemons and every real tool compared with come
    // from that generation.
    let generation = generation::select();
    eprintln!("lab: OVN generation {generation}");
    let trials = trials![
        show::ovs_section_matches_ovs_vsctl,
        show::nb_section_matches_ovn_nbctl,
        show::sb_section_matches_ovn_sbctl,
        show::sections_follow_the_options_given,
        show::defaults_come_from_the_environment_like_the_ovs_tools,
        show::text_output_reads_like_the_ctl_tools,
        protocol::monitor_follows_lr_nat_add_and_del,
        protocol::live_schemas_match_the_committed_files,
        protocol::list_dbs_and_server_database_match_ovsdb_client,
        protocol::only_read_operations_go_on_the_wire,
        protocol::request_log_counts_the_bytes_socat_relays,
        protocol::idle_tcp_connection_survives_server_probes,
        dataplane::ping_from_pod_crosses_both_snats,
        errors::missing_socket,
        errors::wrong_database_on_the_socket,
        errors::bad_method_is_a_usage_error,
        errors::refused_tcp_port,
        offline::real_nb_file_equals_ovsdb_client_dump,
        offline::show_on_a_file_equals_show_on_the_server,
        offline::torn_and_corrupt_files,
        offline::clustered_file_equals_live_server,
        offline::lab_files_equal_their_servers,
        offline::must_gather_archive_per_node,
        offline::demo_files_match_a_fresh_lab_snapshot,
        topology::physical_graph_matches_ovs_vsctl,
        topology::logical_adjacency_matches_ovn_nbctl_show,
        topology::focus_chain_ifindex_is_the_pod_eth0_peer,
        topology::committed_graphs_are_current,
        topology::svg_and_missing_graphviz,
        topology::readable_at_scale,
        explain::ping_explained_hop_by_hop,
        explain::container_to_container_over_loopback,
        explain::tcp_exchange_pod_to_internet,
        explain::pod_to_pod_across_geneve_and_a_drop,
        explain::traceroute_probes_expire_at_the_right_router,
        explain::pod_to_pod_on_one_node_is_switched,
        trace::predicted_headers_match_tcpdump,
        trace::key_lflows_are_the_ones_ovn_trace_takes,
        trace::live_prediction_equals_the_files,
        trace::every_lflow_match_northd_wrote_parses,
        trace::evaluator_agrees_with_ovn_trace,
        pipeline::executor_agrees_with_ovn_trace,
        guide::readme_guide_matches_the_lab,
        capture::live_capture_explained_and_written,
        capture::capture_chooses_the_underlay_toward_another_node,
        detrace::cookies_annotated_like_ovn_detrace,
        tls::ssl_like_ovs,
    ];
    if args.list {
        libtest_mimic::run(&args, trials).exit();
    }
    let new = Lab::new();
    new.script("up");
    LAB.set(new).ok();
    let conclusion = libtest_mimic::run(&args, trials);
    if std::env::var_os("OVNSCOPE_KEEP_LAB").is_none() {
        lab().script("down");
    }
    conclusion.exit();
}
