//! The JSON ovnscope prints (`--format json`), and later serves: one documented schema per
//! command, kept apart from the domain types so a rename inside ovnscope never changes what
//! scripts read.
//!
//! Every document starts with `"schema": N`, the version of that command's document
//! ([`VERSION`]); within a version a field is never renamed or removed, and one is added only
//! as an optional member that older readers can ignore (e.g. `zone` when a cluster answered);
//! the README ("JSON output") points here. Each wire type is built from the domain by a `From`
//! conversion, field by field, and can be read back with `deny_unknown_fields`: the tests read
//! every command's real output back into these types, so a field that is not declared here
//! fails, and the snapshots of `tests/snapshots.rs` show any change to the output for review.
//!
//! | command | document |
//! |---|---|
//! | `show` | [`show::Show`] |
//! | `show --focus`, `topology --focus` | [`topology::Chain`] |
//! | `topology` | [`topology::Graph`] |
//! | `nat` | [`nat::Answer`] |
//! | `trace` | [`trace::Prediction`] (with `pipeline` for `--lflows`) |
//! | `trace --microflow` | [`trace::Pipeline`] |
//! | `explain`, `capture` | [`explain::Report`] |

pub mod conntrack;
pub mod explain;
pub mod nat;
pub mod show;
pub mod topology;
pub mod trace;

/// The version of every document's schema (they move together until one has to move alone).
pub const VERSION: u32 = 1;

/// A document as printed: pretty JSON and a final newline.
pub fn pretty<T: serde::Serialize>(doc: &T) -> Result<String, serde_json::Error> {
    Ok(serde_json::to_string_pretty(doc)? + "\n")
}
