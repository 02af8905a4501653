//! Which OVN generation a test binary runs on: `OVNLAB_OVN=25.03` (or 26.03) puts that
//! generation's tools first on PATH (scripts/ovn-generation.sh installed them), so the lab's
//! daemons and every real tool the tests compare with are that release's. Shared by the test
//! binaries that bring up a lab (`#[path]`-included).

use std::path::PathBuf;

fn cache() -> PathBuf {
    std::env::var_os("OVNSCOPE_OVN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ovnscope-ovn"))
}

/// Where the running generation keeps its OVN schemas (`ovn-nb.ovsschema`, `ovn-sb.ovsschema`).
pub fn ovn_share() -> PathBuf {
    match std::env::var("OVNLAB_OVN").ok().filter(|g| g != "23.03") {
        Some(g) => cache().join(g).join("root/usr/share/ovn"),
        None => PathBuf::from("/usr/share/ovn"),
    }
}

/// Where the running generation keeps its Open vSwitch schema (`vswitch.ovsschema`).
#[allow(dead_code)]
pub fn ovs_share() -> PathBuf {
    match std::env::var("OVNLAB_OVN").ok().filter(|g| g != "23.03") {
        Some(g) => cache().join(g).join("root/usr/share/openvswitch"),
        None => PathBuf::from("/usr/share/openvswitch"),
    }
}

/// The generation running (the system's "23.03" unless `OVNLAB_OVN` names another).
#[allow(dead_code)]
pub fn current() -> String {
    std::env::var("OVNLAB_OVN").unwrap_or_else(|_| "23.03".into())
}

/// The generation asked for ("23.03", the system's, by default); for a newer one, its tools
/// are put first on PATH. Panics with the fix when it is not installed.
pub fn select() -> String {
    let generation = std::env::var("OVNLAB_OVN").unwrap_or_else(|_| "23.03".into());
    if generation == "23.03" {
        return generation;
    }
    let bin = cache().join(&generation).join("bin");
    assert!(
        bin.join("ovn-trace").exists(),
        "OVN {generation} is not installed: scripts/ovn-generation.sh {generation}"
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    std::env::set_var("PATH", std::env::join_paths(dirs).unwrap());
    generation
}
