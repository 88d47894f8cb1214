//! The rules of `ARCHITECTURE.md`, checked: which crate may depend on
//! which (through `cargo tree`), and that no two modules of a crate import
//! each other, directly or round a longer loop (by reading the sources).
//!
//! The module check reads the paths into the crate in each file of a
//! crate's `src/` (`crate::…`, and `super::…` / `self::…` resolved against
//! the file's place, groups read to any depth) and, for each module with
//! children (the crate root, `record/`, `error/`, …), looks for a cycle
//! among those children: a path from one child's subtree into a sibling's
//! is an edge between the two (a name the parent re-exports with
//! `pub use child::…` counts as that child). A parent's own file is the
//! facade that declares and re-exports its children, so it is not a source
//! of sibling edges. Test code is not architecture: a file's
//! `#[cfg(test)] mod tests` and modules declared only for tests
//! (fixtures, `record/tests.rs`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `record/fleet.rs` is `["record", "fleet"]`,
/// `record/mod.rs` is `["record"]`, the crate root is `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "mod.rs" => {}
        "lib.rs" | "main.rs" if parts.is_empty() => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// Strips `//` comments (doc comments included), so paths named in prose
/// are not taken for imports.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths one use tree (or plain path) names, each segment appended to
/// `prefix`: `a::{b, c::{d, e}}` names `a::b`, `a::c::d` and `a::c::e`.
fn use_tree(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0usize;
        let mut part = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_tree(&part, prefix, out);
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
        use_tree(&part, prefix, out);
        return;
    }
    let name: String = text.chars().take_while(|c| is_ident(*c)).collect();
    let mut path = prefix.to_vec();
    if !name.is_empty() && name != "self" {
        path.push(name.clone());
    }
    match text[name.len()..].strip_prefix("::") {
        Some(rest) if !name.is_empty() => use_tree(rest, &path, out),
        _ => out.push(path),
    }
}

/// Every path into the crate that `code` names, from the crate root:
/// `crate::…`, and `super::…` / `self::…` resolved against `here`, the
/// file's module path. Groups are read to any depth.
fn crate_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let Some(next) = rest.find(['c', 's']) else {
            break;
        };
        let start = at + next;
        at = start + 1;
        if code[..start].chars().last().is_some_and(is_ident) {
            continue; // e.g. `tonic_crate::`, not ours
        }
        let mut tail = &code[start..];
        let base: Vec<String> = if let Some(t) = tail.strip_prefix("crate::") {
            tail = t;
            Vec::new()
        } else if tail.starts_with("super::") || tail.starts_with("self::") {
            let mut base = here.to_vec();
            loop {
                if let Some(t) = tail.strip_prefix("super::") {
                    base.pop();
                    tail = t;
                } else if let Some(t) = tail.strip_prefix("self::") {
                    tail = t;
                } else {
                    break;
                }
            }
            base
        } else {
            continue;
        };
        use_tree(tail, &base, &mut found);
    }
    found
}

/// Names a module file re-exports (`pub use child::…`), mapped to the
/// child module they come from.
fn reexports(text: &str, children: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_only(text);
    for statement in code.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        if !children.contains(module) {
            continue;
        }
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.trim().rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    map
}

/// Module -> module edges among siblings, for each parent module of one
/// crate (the root is `[]`). A file's path into a sibling's subtree (its
/// own or an ancestor's sibling's) is an edge between the two children of
/// their common parent; a name the parent re-exports counts as the child it
/// comes from. A parent's own file is the facade that declares its
/// children, so it is no source of sibling edges.
type Graphs = BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>>;

fn module_graphs(krate: &str) -> Graphs {
    let src = workspace().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut file_of: BTreeMap<Vec<String>, PathBuf> = BTreeMap::new();
    for file in &files {
        // lib.rs wins over main.rs as the root.
        let path = module_path(&src, file);
        if !(path.is_empty() && file.ends_with("main.rs") && file_of.contains_key(&path)) {
            file_of.insert(path, file.clone());
        }
    }
    let children = |parent: &[String]| -> BTreeSet<String> {
        file_of
            .keys()
            .filter(|m| m.len() > parent.len() && m.starts_with(parent))
            .map(|m| m[parent.len()].clone())
            .collect()
    };
    let text_of = |path: &Vec<String>| {
        file_of
            .get(path)
            .map(|f| std::fs::read_to_string(f).expect("read source"))
            .unwrap_or_default()
    };
    // Modules declared only for tests (`#[cfg(test)] mod fixtures;`), and
    // everything under them.
    let test_only: Vec<Vec<String>> = file_of
        .keys()
        .filter(|m| {
            let Some((name, parent)) = m.split_last() else {
                return false;
            };
            text_of(&parent.to_vec()).contains(&format!("#[cfg(test)]\nmod {name};"))
        })
        .cloned()
        .collect();
    let mut graphs = Graphs::new();
    for (here, file) in &file_of {
        if test_only.iter().any(|t| here.starts_with(t)) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        let code = code_only(match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text,
        });
        for to in crate_paths(&code, here) {
            let common = here.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common >= here.len() || common >= to.len() {
                continue; // into its own subtree, or an ancestor's own item
            }
            let parent = here[..common].to_vec();
            let siblings = children(&parent);
            let name = &to[common];
            let target = if siblings.contains(name) {
                Some(name.clone())
            } else {
                reexports(&text_of(&parent), &siblings).get(name).cloned()
            };
            if let Some(target) = target.filter(|t| *t != here[common]) {
                graphs
                    .entry(parent)
                    .or_default()
                    .entry(here[common].clone())
                    .or_default()
                    .insert(target);
            }
        }
    }
    graphs
}

/// A cycle in the graph, as the modules on it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_the_path_reader_reads_groups() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    assert_eq!(find_cycle(&graph), None);
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let paths = |code, here: &[&str]| {
        let here: Vec<String> = here.iter().map(|s| s.to_string()).collect();
        crate_paths(code, &here)
            .into_iter()
            .map(|p| p.join("::"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        paths(
            "use crate::{error::X, tls};\nlet x = crate::output::f(); my_crate::no",
            &[]
        ),
        ["error::X", "tls", "output::f"]
    );
    assert_eq!(
        paths(
            "use super::{reader::{Poll, self}, timeline::run};\nuse self::inner::Y;",
            &["record", "fleet"]
        ),
        [
            "record::reader::Poll",
            "record::reader",
            "record::timeline::run",
            "record::fleet::inner::Y"
        ]
    );
}

/// No two modules import each other, at any depth: top-level modules of a
/// crate, and the children of each module directory (`record/fleet.rs` and
/// `record/timeline.rs`, `error/io.rs` and `error/tls.rs`).
#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let cycles: Vec<String> = [
        "conn",
        "probe",
        "channelz-tui",
        "channelz",
        "proto",
        "exporter",
        "channelz-client",
        "tests",
    ]
    .into_iter()
    .flat_map(|krate| {
        module_graphs(krate)
            .into_iter()
            .filter_map(move |(parent, graph)| {
                let cycle = find_cycle(&graph)?;
                let at = if parent.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", parent.join("::"))
                };
                Some(format!("{krate}{at}: {}", cycle.join(" -> ")))
            })
    })
    .collect();
    assert!(cycles.is_empty(), "modules import each other: {cycles:#?}");
}

/// `cargo tree` of one package, one line per crate (and feature).
fn cargo_tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--prefix", "none"])
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What each package's normal dependency tree must and must not hold
/// (`cargo tree` prints `name vX` per crate and `name feature "f"` per
/// feature, so a trailing space or a `feature` names exactly one thing).
const DEPENDENCY_RULES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "channelz-tui",
        "normal",
        &["grpc-toolkit-conn ", "grpc-toolkit-channelz-client "],
        &["grpc-probe "],
    ),
    (
        "grpc-probe",
        "normal,features",
        &["grpc-toolkit-conn "],
        &[
            "ratatui ",
            "crossterm ",
            "tonic-channelz ",
            "grpc-exporter ",
            "prometheus-client ",
            "hyper feature \"server\"",
            "tonic feature \"server\"",
            "tonic feature \"router\"",
            "grpc-toolkit-channelz-client ",
            // CSDS and the envoy messages: only the dashboard and the
            // exporter read xDS state.
            "grpc-toolkit-proto feature \"xds\"",
        ],
    ),
    (
        "grpc-toolkit-channelz-client",
        "normal,features",
        &["grpc-toolkit-conn ", "grpc-toolkit-proto "],
        &[
            "ratatui ",
            "crossterm ",
            "grpc-probe ",
            "channelz-tui ",
            "grpc-exporter ",
            "tonic-channelz ",
            "hyper feature \"server\"",
            "tonic feature \"server\"",
            "tonic feature \"router\"",
        ],
    ),
    (
        "grpc-toolkit-conn",
        "normal",
        &["grpc-toolkit-proto "],
        &[
            "grpc-probe ",
            "channelz-tui ",
            "tonic-channelz ",
            "ratatui ",
        ],
    ),
    (
        "grpc-exporter",
        "normal",
        &["grpc-toolkit-conn ", "grpc-toolkit-channelz-client "],
        &["grpc-probe ", "channelz-tui ", "ratatui ", "crossterm "],
    ),
    (
        "tonic-channelz",
        "normal",
        &["grpc-toolkit-proto "],
        &["grpc-toolkit-conn ", "grpc-probe ", "ratatui "],
    ),
];

#[test]
fn crates_depend_only_as_architecture_md_allows() {
    for (package, edges, required, banned) in DEPENDENCY_RULES {
        let tree = cargo_tree(&["-p", package, "-e", edges]);
        for name in *required {
            assert!(tree.contains(name), "{package} should link {name}: {tree}");
        }
        for name in *banned {
            assert!(!tree.contains(name), "{package} links {name}");
        }
    }
}
