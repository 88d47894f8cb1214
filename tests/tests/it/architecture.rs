//! The rules of `ARCHITECTURE.md`, checked: which crate may depend on
//! which (through `cargo tree`), and that no two modules of a crate import
//! each other, directly or round a longer loop (by reading the sources).
//!
//! The module check reads `crate::…` paths in each file of a crate's `src/`,
//! maps each to the top-level module it names (a name the crate root
//! re-exports with `pub use module::…` counts as that module), and looks for
//! a cycle among top-level modules. The crate root is the facade that
//! declares and re-exports modules, so it is not a source of edges; an item
//! defined in the root itself would be, and there are none by design.
//! Test code is not architecture: a file's `#[cfg(test)] mod tests` and
//! modules the root declares only for tests (fixtures) are left out.

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

/// The top-level module a file belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    match first.as_ref() {
        "lib.rs" | "main.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_owned()),
    }
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

/// Every first path segment after `crate::`, including each name in a
/// `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `tonic_crate::`, not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    found.push(name.to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

/// Names the root re-exports, mapped to the module they come from.
fn reexports(root: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_only(root);
    for statement in code.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        if !modules.contains(module) {
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

/// The edges module -> module of one crate.
fn module_graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let root = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src.join(name))
        .find(|path| path.exists())
        .expect("a crate root");
    let root_text = std::fs::read_to_string(&root).expect("read crate root");
    let reexported = reexports(&root_text, &modules);
    let test_only: BTreeSet<String> = modules
        .iter()
        .filter(|m| root_text.contains(&format!("#[cfg(test)]\nmod {m};")))
        .cloned()
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        if test_only.contains(&from) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        let code = code_only(match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text,
        });
        for name in crate_paths(&code) {
            let to = if modules.contains(&name) {
                Some(name)
            } else {
                reexported.get(&name).cloned()
            };
            if let Some(to) = to.filter(|to| *to != from) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
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
    assert_eq!(
        crate_paths("use crate::{error::X, tls};\nlet x = crate::output::f(); my_crate::no"),
        ["error", "tls", "output"]
    );
}

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
    ]
    .into_iter()
    .filter_map(|krate| {
        let cycle = find_cycle(&module_graph(krate))?;
        Some(format!("{krate}: {}", cycle.join(" -> ")))
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
