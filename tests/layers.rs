//! The layers of DESIGN.md, enforced: every `use crate::…`, `super::…` and inline `crate::…`
//! path in `src/` is resolved to the file it names, and the test fails on
//! - an import from a higher layer into a lower one (ranks below),
//! - a cycle between files (a module's `mod.rs` re-exporting its own children is structure,
//!   not a dependency, and is not counted),
//! - the logical-flow language files reaching outside `lflow/` (and `expr.rs` reaching
//!   anything in the crate).
//!
//! Std only: it reads the sources as text. Comments are skipped; test modules are not, so a
//! test that reaches up a layer is an upward import too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lower ranks may be imported by higher ones, never the reverse. Equal ranks may not import
/// each other (they are independent layers), except inside one module.
const RANKS: &[(&str, u32)] = &[
    ("ovsdb", 0),
    ("db", 1),
    ("capture", 1),
    ("lflow", 2),
    ("topology", 3),
    ("render", 4),
    ("nat", 4),
    ("trace", 5),
    ("wire", 6),
    ("kube", 6),
    ("cli", 7),
    ("serve", 8),
];

/// Files of the logical-flow language: they import only inside `lflow/`.
const LANGUAGE: &[&str] = &[
    "lflow/expr",
    "lflow/symtab",
    "lflow/microflow",
    "lflow/packet",
    "lflow/actions",
    "lflow/conntrack",
];

/// A module path (`["lflow", "exec"]`) for each source file.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

/// The source without comments (line comments and doc comments; block comments are rare
/// here and removed too).
fn strip_comments(src: &str) -> String {
    let mut out = String::new();
    let mut in_block = false;
    for line in src.lines() {
        let mut l = line.to_string();
        if in_block {
            match l.find("*/") {
                Some(i) => {
                    l = l[i + 2..].to_string();
                    in_block = false;
                }
                None => continue,
            }
        }
        if let Some(i) = l.find("/*") {
            if !l[..i].contains('"') {
                in_block = !l[i..].contains("*/");
                l.truncate(i);
            }
        }
        if let Some(i) = l.find("//") {
            // Not inside a string (a URL in a literal): only when no quote precedes it.
            if !l[..i].contains('"') {
                l.truncate(i);
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    match tree.find('{') {
        None => vec![tree.split(" as ").next().unwrap_or(tree).trim().to_string()],
        Some(i) => {
            let prefix = tree[..i].trim_end_matches("::").trim();
            let inner = &tree[i + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut parts = vec![];
            let (mut depth, mut start) = (0, 0);
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&inner[start..k]);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            parts.push(&inner[start..]);
            parts
                .into_iter()
                .filter(|p| !p.trim().is_empty())
                .flat_map(|p| {
                    expand(p)
                        .into_iter()
                        .map(|s| {
                            if s == "self" {
                                prefix.to_string()
                            } else {
                                format!("{prefix}::{s}")
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        }
    }
}

/// How many inline `mod name { … }` blocks enclose each byte offset of `code`.
fn inline_depths(code: &str) -> Vec<u8> {
    let bytes = code.as_bytes();
    let mut depths = vec![0u8; bytes.len() + 1];
    let (mut brace, mut open_mods): (i32, Vec<i32>) = (0, vec![]);
    let mut i = 0;
    while i < bytes.len() {
        if code.is_char_boundary(i) && code[i..].starts_with("mod ") && (i == 0 || !(bytes[i - 1] as char).is_alphanumeric()) {
            let rest = &code[i + 4..];
            let name_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if rest[name_len..].trim_start().starts_with('{') {
                open_mods.push(brace + 1);
            }
        }
        match bytes[i] {
            b'{' => brace += 1,
            b'}' => {
                if open_mods.last() == Some(&brace) {
                    open_mods.pop();
                }
                brace -= 1;
            }
            _ => {}
        }
        depths[i] = open_mods.len() as u8;
        i += 1;
    }
    depths
}

/// Every path a file refers to, as written (`crate::…`, `super::…`, `self::…`), with how
/// many inline modules enclose it.
fn references(src: &str) -> Vec<(String, u8)> {
    let code = strip_comments(src);
    let depth = inline_depths(&code);
    let mut refs = vec![];
    // use statements (possibly over several lines)
    let mut at = 0;
    while let Some(i) = code[at..].find("use ") {
        let start = at + i;
        at = start + 4;
        let before = code[..start].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = code[at..].find(';') else { break };
        let stmt = &code[at..at + end];
        if stmt.starts_with("crate::") || stmt.starts_with("super::") || stmt.starts_with("self::") {
            refs.extend(expand(stmt).into_iter().map(|p| (p, depth[start])));
        }
    }
    // inline paths
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(anchor) {
            let start = from + i;
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            refs.push((code[start..end].trim_end_matches(':').to_string(), depth[start]));
            from = end.max(start + anchor.len());
        }
    }
    refs
}

/// Resolves a written path, seen from `module`, to the deepest module that exists.
fn resolve(path: &str, module: &[String], inline: u8, modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            vec![]
        }
        Some(&"super") | Some(&"self") => {
            // `self` is the file's module, or the inline module the path sits in.
            let mut b = module.to_vec();
            b.extend((0..inline).map(|_| "{inline}".to_string()));
            while let Some(&s) = segs.first() {
                match s {
                    "self" => {
                        segs.remove(0);
                    }
                    "super" => {
                        segs.remove(0);
                        b.pop();
                    }
                    _ => break,
                }
            }
            if b.iter().any(|s| s == "{inline}") {
                return Some(module.to_vec()); // inside the file itself
            }
            b
        }
        _ => return None,
    };
    let mut best = None;
    if modules.contains(&base) {
        best = Some(base.clone());
    }
    for s in segs {
        base.push(s.to_string());
        if modules.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

struct Report {
    problems: Vec<String>,
    edges: usize,
}

fn rank(m: &[String]) -> Option<u32> {
    let top = m.first()?;
    RANKS.iter().find(|(n, _)| n == top).map(|(_, r)| *r)
}

/// Checks a set of (path under src/, text) files.
fn check(files: &[(PathBuf, String)]) -> Report {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(p, _)| module_of(p)).collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut problems = vec![];
    let mut edges = 0;
    for (path, text) in files {
        let me = module_of(path);
        let top_level_bin = path == Path::new("main.rs") || path == Path::new("lib.rs");
        for (r, inline) in references(text) {
            let Some(target) = resolve(&r, &me, inline, &modules) else {
                continue;
            };
            if target == me || top_level_bin {
                continue;
            }
            // A parent re-exporting or declaring its children is structure.
            if target.starts_with(&me) {
                continue;
            }
            edges += 1;
            graph.entry(me.clone()).or_default().insert(target.clone());
            let (a, b) = (rank(&me), rank(&target));
            let same_module = me.first() == target.first();
            if let (Some(a), Some(b)) = (a, b) {
                if !same_module && b >= a {
                    problems.push(format!(
                        "{} imports {} ({r}): layer {} may not use layer {}",
                        path.display(),
                        target.join("::"),
                        me[0],
                        target[0]
                    ));
                }
            }
            if target.is_empty() {
                continue;
            }
            let me_s = me.join("/");
            if LANGUAGE.contains(&me_s.as_str()) && target.first().map(String::as_str) != Some("lflow") {
                problems.push(format!(
                    "{} is the logical-flow language and may import only inside lflow/, not {r}",
                    path.display()
                ));
            }
            if me_s == "lflow/expr" {
                problems.push(format!(
                    "{} (the match parser) imports nothing in the crate, yet uses {r}",
                    path.display()
                ));
            }
        }
    }
    // Cycles between files, by depth-first search.
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        out: &mut Vec<String>,
    ) {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                0 => visit(m, g, state, stack, out),
                1 => {
                    let at = stack.iter().position(|x| x == m).unwrap_or(0);
                    let cycle: Vec<String> = stack[at..].iter().chain([m]).map(|x| x.join("::")).collect();
                    out.push(format!("import cycle: {}", cycle.join(" -> ")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            visit(n, &graph, &mut state, &mut vec![], &mut problems);
        }
    }
    Report { problems, edges }
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).expect("under src").to_path_buf();
            out.push((rel, std::fs::read_to_string(&p).expect("read")));
        }
    }
}

#[test]
fn no_upward_imports_and_no_cycles() {
    // OVNSCOPE_LAYERS_SRC checks another tree (e.g. an old revision) by hand.
    let root = std::env::var_os("OVNSCOPE_LAYERS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut files = vec![];
    sources(&root, &root, &mut files);
    let r = check(&files);
    assert!(
        r.edges > 100,
        "only {} imports found: is the parser still reading the sources?",
        r.edges
    );
    assert!(r.problems.is_empty(), "{}", r.problems.join("\n"));
}

/// The checker itself catches what it is for.
#[test]
fn an_upward_import_a_cycle_and_a_leaky_language_file_are_caught() {
    let f = |p: &str, t: &str| (PathBuf::from(p), t.to_string());
    let files = vec![
        f("db/mod.rs", "pub mod nb;\n"),
        f("db/nb.rs", "use crate::nat::Answer;\n"),
        f("nat/mod.rs", "use crate::db::nb::NbDb;\npub struct Answer;\n"),
        f("lflow/mod.rs", "pub mod expr;\npub mod microflow;\n"),
        f("lflow/expr.rs", "use super::microflow::Microflow; // a cycle\n"),
        f(
            "lflow/microflow.rs",
            "use super::{expr::{parse, Expr}};\nfn f() { crate::topology::x(); }\n",
        ),
        f("topology/mod.rs", "pub fn x() {}\n"),
    ];
    let r = check(&files).problems.join("\n");
    assert!(r.contains("db/nb.rs imports nat"), "{r}");
    assert!(
        r.contains("import cycle: lflow::expr -> lflow::microflow -> lflow::expr")
            || r.contains("import cycle: lflow::microflow -> lflow::expr -> lflow::microflow"),
        "{r}"
    );
    assert!(r.contains("lflow/microflow.rs is the logical-flow language"), "{r}");
    assert!(r.contains("lflow/expr.rs (the match parser) imports nothing"), "{r}");
    // Comments do not count.
    let quiet = check(&[
        f("db/mod.rs", "//! see crate::nat::Answer\n"),
        f("nat/mod.rs", "pub struct Answer;\n"),
    ]);
    assert!(quiet.problems.is_empty(), "{:?}", quiet.problems);
}
