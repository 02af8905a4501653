//! The ratio a criterion bench measured, printed at its end: criterion reports each function's
//! time, not how ours compares with the C tool's in the same run, and that ratio is the number
//! that counts. Read from criterion's own estimates (`<target>/criterion/<group>/<fn>/new/`).

use std::path::PathBuf;

fn mean_ns(group: &str, function: &str) -> Result<f64, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let path = target.join("criterion").join(group).join(function).join("new/estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    v["mean"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{}: no mean.point_estimate", path.display()))
}

/// Prints `ours / theirs` for each pair of this group's functions (below 1: ovnscope faster).
pub fn report(group: &str, pairs: &[(&str, &str)]) {
    for (ours, theirs) in pairs {
        match (mean_ns(group, ours), mean_ns(group, theirs)) {
            (Ok(a), Ok(b)) => println!(
                "ratio {group}: {ours} / {theirs} = {:.3} ({:.1} ms / {:.1} ms, means)",
                a / b,
                a / 1e6,
                b / 1e6
            ),
            (Err(e), _) | (_, Err(e)) => println!("ratio {group}: {ours} / {theirs}: not measured ({e})"),
        }
    }
}
