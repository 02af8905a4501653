//! The generated 13k-pod cluster the scale benches share: `../shared/tools/scale/scale-lab.sh
//! build L 120 110` (13,200 pods, 13,200 NAT rules, 79k logical flows), served by real
//! ovsdb-servers. `OVNSCOPE_SCALE=/path/to/SCALE/L` uses an existing build (its sockets must be
//! up); otherwise one is built under /tmp/ovnscope-scale (about a minute) or restarted there.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn scale_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("OVNSCOPE_SCALE") {
        return Some(PathBuf::from(d));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/scale/scale-lab.sh");
    if !script.exists() {
        eprintln!("skipped: {} is missing", script.display());
        return None;
    }
    let d = PathBuf::from("/tmp/ovnscope-scale/L");
    if !d.join("info.json").exists() {
        let st = Command::new(&script)
            .args(["build", "L", "120", "110"])
            .env("SCALE", "/tmp/ovnscope-scale")
            .status()
            .unwrap();
        assert!(st.success());
    } else {
        Command::new(&script)
            .args(["up", "L"])
            .env("SCALE", "/tmp/ovnscope-scale")
            .status()
            .unwrap();
    }
    Some(d)
}

/// `info.json` of the build: the first pod, nodes, a load balancer.
pub fn info(d: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(d.join("info.json")).unwrap()).unwrap()
}
