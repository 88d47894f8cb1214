//! A tiny markdown fence scanner for the tested doc examples (issue #21
//! item 2): the fenced code blocks of a doc file, each with its file:line, so
//! a test can run every example of a kind and name the one that drifted.
//! No crate (trycmd or a markdown parser would cost compile time for a few
//! dozen lines); bounded, since a doc is input like any other.

use std::path::Path;

/// Docs bigger than this are refused rather than scanned: ours are a few
/// hundred lines, so a huge one means the wrong file.
const MAX_BYTES: usize = 4 << 20;
/// At most this many blocks per file, for the same reason.
const MAX_BLOCKS: usize = 1000;

/// One fenced code block.
#[derive(Debug, Clone)]
pub struct Block {
    /// The doc's path as the test names it (e.g. `exporter/README.md`).
    pub file: String,
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The info string's first word (`yaml`, `sh`, ...; empty if none).
    pub lang: String,
    /// The lines between the fences, each ending in `\n`.
    pub body: String,
}

impl Block {
    /// `file:line`, for failure messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// The fenced blocks of `text` (``` or ~~~ fences, possibly indented, as in
/// list items); an unclosed fence runs to the end, as CommonMark says.
pub fn blocks(file: &str, text: &str) -> Vec<Block> {
    assert!(text.len() <= MAX_BYTES, "{file}: over {MAX_BYTES} bytes");
    let mut out = Vec::new();
    // (fence, opening line, lang, body) of the block being read.
    let mut open: Option<(String, usize, String, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let fence: String = trimmed
            .chars()
            .take_while(|&c| c == '`' || c == '~')
            .collect();
        let is_fence = fence.len() >= 3 && fence.chars().all(|c| c == fence.as_bytes()[0] as char);
        match open.as_mut() {
            None if is_fence => {
                let lang = trimmed[fence.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                open = Some((fence, index + 1, lang, String::new()));
            }
            None => {}
            Some((start, _, _, _))
                if is_fence && fence.starts_with(start.as_str()) && trimmed.trim() == fence =>
            {
                if let Some((_, line, lang, body)) = open.take() {
                    out.push(Block {
                        file: file.to_string(),
                        line,
                        lang,
                        body,
                    });
                }
            }
            Some((_, _, _, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
        assert!(out.len() <= MAX_BLOCKS, "{file}: over {MAX_BLOCKS} blocks");
    }
    if let Some((_, line, lang, body)) = open {
        out.push(Block {
            file: file.to_string(),
            line,
            lang,
            body,
        });
    }
    out
}

/// The blocks of the doc at `workspace_root/rel` (`rel` as written in
/// failure messages).
pub fn blocks_of(workspace_root: &Path, rel: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(workspace_root.join(rel))
        .unwrap_or_else(|err| panic!("{rel}: {err}"));
    blocks(rel, &text)
}

/// Whether a YAML block is a Kubernetes manifest or a pod spec fragment.
pub fn is_kubernetes(block: &Block) -> bool {
    let yaml = block.lang == "yaml" || block.lang == "yml";
    yaml && block.body.lines().any(|l| {
        l.starts_with("apiVersion:") || l.starts_with("kind:") || l.starts_with("containers:")
    })
}

/// The flags a doc's tables name: the backticked words starting with `-` in
/// the first cell of each table row (`| -addr |`, `` | `--wait DURATION` | ``),
/// cut at a space or `=`, with the row's file:line.
pub fn table_flags(file: &str, text: &str) -> Vec<(String, String)> {
    assert!(text.len() <= MAX_BYTES, "{file}: over {MAX_BYTES} bytes");
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some(row) = line.trim_start().strip_prefix('|') else {
            continue;
        };
        let first = row.split('|').next().unwrap_or("");
        // Backticked spans are the odd pieces of a split at '`'.
        for span in first.split('`').skip(1).step_by(2) {
            if !span.starts_with('-') || span.starts_with("--- ") {
                continue;
            }
            let flag = span.split([' ', '=']).next().unwrap_or("");
            if flag.len() > 1
                && flag
                    .trim_start_matches('-')
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                out.push((format!("{file}:{}", index + 1), flag.to_string()));
            }
        }
    }
    out
}

/// The flags a doc names in running text: each backticked span that starts
/// with `-` (`` `--fleet` ``, `` `-interval 2s` ``), its first word cut at
/// `=`, with its file:line. Spans inside fenced blocks are not running
/// text and are left out.
pub fn inline_flags(file: &str, text: &str) -> Vec<(String, String)> {
    assert!(text.len() <= MAX_BYTES, "{file}: over {MAX_BYTES} bytes");
    let fenced: Vec<(usize, usize)> = blocks(file, text)
        .iter()
        .map(|b| (b.line, b.line + b.body.lines().count() + 1))
        .collect();
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if fenced.iter().any(|&(a, b)| (a..=b).contains(&number)) {
            continue;
        }
        for span in line.split('`').skip(1).step_by(2) {
            let flag = span.split([' ', '=']).next().unwrap_or("");
            let name = flag.trim_start_matches('-');
            if flag.starts_with('-')
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !name.ends_with('-')
            {
                out.push((format!("{file}:{number}"), flag.to_string()));
            }
        }
    }
    out
}

/// Whether `help` names `flag` as a whole word (so `-o` is not found inside
/// `-output`).
pub fn help_names(help: &str, flag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    help.match_indices(flag).any(|(at, _)| {
        let before = help[..at].chars().next_back();
        let after = help[at + flag.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Every doc of the repository: the `*.md` files under `root`, as paths
/// relative to it with `/` separators, sorted; outside `target/` (build
/// output and installed peers), `docs-pending/` (text waiting for the
/// lead), `node_modules/` and hidden directories. Bounded in depth and
/// count like the scanner.
pub fn doc_files(root: &Path) -> Vec<String> {
    const SKIP: [&str; 3] = ["target", "docs-pending", "node_modules"];
    let mut out = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if depth < 12 && !name.starts_with('.') && !SKIP.contains(&name.as_str()) {
                    dirs.push((path, rel, depth + 1));
                }
            } else if name.ends_with(".md") {
                out.push(rel);
            }
        }
        assert!(
            out.len() <= MAX_BLOCKS,
            "over {MAX_BLOCKS} docs under {root:?}"
        );
    }
    out.sort();
    out
}

/// Whether a block holds shell commands.
pub fn is_shell(block: &Block) -> bool {
    matches!(
        block.lang.as_str(),
        "sh" | "bash" | "shell" | "console" | "zsh"
    )
}

/// One command line of a shell block.
#[derive(Debug, Clone)]
pub struct ShLine {
    /// `file:line` of the line in its doc.
    pub at: String,
    /// The line as written, without a leading `$ ` and a `# comment` tail.
    pub text: String,
    /// Its words ([`words`]; the first command's, for a pipeline), or
    /// `None` when it needs a shell.
    pub words: Option<Vec<String>>,
    /// The words of each command it pipes into (`… | jq -c '.time'`).
    pub piped: Vec<Vec<String>>,
}

impl ShLine {
    /// The program: the first word after any `NAME=value` assignments.
    pub fn program(&self) -> Option<&str> {
        self.args_from_program().first().map(String::as_str)
    }

    /// The program's base name (`target/release/grpc-probe` is `grpc-probe`).
    pub fn program_name(&self) -> Option<&str> {
        self.program().and_then(|p| p.rsplit('/').next())
    }

    /// The `NAME=value` assignments before the program.
    pub fn env(&self) -> Vec<(String, String)> {
        let words = self.words.as_deref().unwrap_or_default();
        words
            .iter()
            .take_while(|w| is_assignment(w))
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The program and its arguments (the words after the assignments).
    pub fn args_from_program(&self) -> &[String] {
        let words = self.words.as_deref().unwrap_or_default();
        let skip = words.iter().take_while(|w| is_assignment(w)).count();
        &words[skip..]
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// The command lines of a shell block: blank and `#` comment lines left
/// out, a `$ ` prompt and a ` # comment` tail (outside quotes) cut.
pub fn sh_lines(block: &Block) -> Vec<ShLine> {
    let mut out = Vec::new();
    for (offset, raw) in block.body.lines().enumerate() {
        let line = raw.trim();
        let line = line.strip_prefix("$ ").unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let text = cut_comment(line).trim().to_string();
        let mut commands = pipeline(&text).unwrap_or_default().into_iter();
        let words = commands.next();
        out.push(ShLine {
            at: format!("{}:{}", block.file, block.line + 1 + offset),
            words,
            piped: commands.collect(),
            text,
        });
    }
    out
}

/// `line` without a ` #…` tail that starts outside quotes.
fn cut_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..at],
            _ => {}
        }
        previous = c;
    }
    line
}

/// The words of a simple command: split at spaces, with `'…'` and `"…"`
/// quoting (no escapes inside `'…'`; `\"` and `\\` inside `"…"`). `None`
/// when the line uses what only a shell does: a pipe, a redirection, `;`,
/// `&`, a `$` expansion, a backtick, a subshell, a backslash outside
/// quotes, or an unclosed quote. Those lines need a human or an allow-list.
pub fn words(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    out.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\') => w.push(c),
                            c => {
                                w.push('\\');
                                w.push(c);
                            }
                        },
                        '$' | '`' => return None,
                        c => w.push(c),
                    }
                }
            }
            '|' | '<' | '>' | ';' | '&' | '$' | '`' | '(' | ')' | '\\' => return None,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    Some(out)
}

/// The commands of a pipeline (`a | b`), each as [`words`]; `None` if
/// any needs a shell, or for `||` or an empty command.
pub fn pipeline(line: &str) -> Option<Vec<Vec<String>>> {
    let mut parts = Vec::new();
    let (mut quote, mut start) = (None, 0);
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '|') => {
                parts.push(&line[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&line[start..]);
    let commands: Option<Vec<Vec<String>>> = parts.into_iter().map(words).collect();
    commands.filter(|c| c.iter().all(|w| !w.is_empty()))
}

/// The programs a documented line may pipe into: filters a checker can run
/// on its own (`jq` parses its program on any input).
pub const PIPE_FILTERS: [&str; 1] = ["jq"];

/// The shell lines of every doc under `root` ([`doc_files`]).
pub fn all_sh_lines(root: &Path) -> Vec<ShLine> {
    doc_files(root)
        .iter()
        .flat_map(|rel| blocks_of(root, rel))
        .filter(is_shell)
        .flat_map(|b| sh_lines(&b))
        .collect()
}

/// The tests that run or check the doc examples, by name, so the coverage
/// test ([`checkers_of_line`], [`checkers_of_block`]) and each checker agree
/// on what is whose.
pub mod checker {
    /// `channelz-tui …`, `grpc-probe …`, `grpc_health_probe …` lines.
    pub const TOOL_LINES: &str =
        "grpc-toolkit-tests --test it doc_examples::sh_example_lines_parse";
    /// `cargo …` lines: packages, targets, features, filters, run arguments.
    pub const CARGO_LINES: &str =
        "grpc-toolkit-tests --test it doc_examples::cargo_example_lines_name_real_targets";
    /// `cargo run -p grpc-exporter …` and `curl …` lines, run.
    pub const EXPORTER_LINES: &str = "grpc-exporter --test it docs::curl_example_lines_answer";
    /// `cargo run -p channelz-tui -- --demo`, run in a terminal.
    pub const TUI_DEMO: &str = "channelz-tui --test process readme_demo_line_runs";
    /// `cargo run -p tonic-channelz --example …`, run.
    pub const CHANNELZ_EXAMPLES: &str =
        "tonic-channelz --test examples the_readme_example_lines_run";
    /// `skopeo …`, `sha256sum …`, `install …` lines: names against release/.
    pub const RELEASE_LINES: &str =
        "grpc-toolkit-tests --test it doc_examples::release_example_lines_match_release";
    /// `bash X.sh …` and `X.sh …` lines: the script exists, parses, takes the arguments.
    pub const SCRIPT_LINES: &str =
        "grpc-toolkit-tests --test it doc_examples::script_example_lines_hold";
    /// The peers' by-hand command lines (`target/peers/…`), started.
    pub const PEER_LINES: &str =
        "grpc-toolkit-tests --test it doc_examples::peer_example_lines_start";
    /// `` ```yaml `` blocks: exporter configs (`modules:`): `--config.check`.
    pub const EXPORTER_CONFIG: &str =
        "grpc-exporter --test it docs::exporter_config_blocks_pass_config_check";
    /// `` ```yaml `` blocks: Prometheus configs and rules: promtool.
    pub const PROMETHEUS: &str = "grpc-exporter --test it docs::prometheus_blocks_pass_promtool";
    /// `` ```yaml `` blocks: Kubernetes manifests: parsed, and their probe commands too.
    pub const KUBERNETES: &str = "grpc-exporter --test it docs::kubernetes_blocks_parse_as_yaml \
         + grpc-toolkit-tests --test it doc_examples::kubernetes_probe_commands_parse";
    /// `` ```rust `` blocks of a README its crate includes as doctests.
    pub const DOCTEST: &str = "cargo test --doc (the crate's lib includes the README)";
    /// The recording format's grammar (`` ```text ``, `preamble = …`): the bytes of a real recording.
    pub const RECORD_FORMAT: &str =
        "grpc-toolkit-tests --test it doc_examples::record_format_block_matches_a_recording";
    /// `` ```json `` blocks of channelz-tui's fleet `--json` (`"members"`, `[...]` elisions).
    pub const FLEET_JSON: &str =
        "grpc-toolkit-tests --test it doc_examples::fleet_json_example_matches_a_run";
    /// `` ```json `` blocks of channelz-tui's `xds` section (`"clientScope"`): the keys of
    /// a real `--json` of the grpcio xDS peer at every level.
    pub const XDS_JSON: &str =
        "grpc-toolkit-tests --test it tui_xds::json_shows_every_status_of_the_grpcio_peer";
    /// `` ```json `` blocks of `grpc-probe --json`: the same shape and values as a real run.
    pub const PROBE_JSON: &str =
        "grpc-toolkit-tests --test it doc_examples::probe_json_example_matches_a_run";
}

/// Whether `words` (a `cargo …` line's) run package `package`'s binary or
/// example (`cargo run … -p package`).
pub fn is_cargo_run_of(words: &[String], package: &str) -> bool {
    let before_args = words.split(|w| w == "--").next().unwrap_or_default();
    words.get(1).is_some_and(|w| w == "run")
        && before_args
            .windows(2)
            .any(|pair| pair[0] == "-p" && pair[1] == package)
}

/// The arguments after `--` of a `cargo run` line.
pub fn cargo_run_args(words: &[String]) -> &[String] {
    match words.iter().position(|w| w == "--") {
        Some(at) => &words[at + 1..],
        None => &[],
    }
}

/// The tests that check a shell line; empty when none does.
pub fn checkers_of_line(line: &ShLine) -> Vec<&'static str> {
    let words = line.args_from_program();
    let Some(name) = line.program_name() else {
        return Vec::new();
    };
    let filters_known = line
        .piped
        .iter()
        .all(|c| PIPE_FILTERS.contains(&c[0].as_str()));
    if !filters_known {
        return Vec::new();
    }
    match name {
        "grpc-probe" | "grpc_health_probe" | "channelz-tui" => vec![checker::TOOL_LINES],
        "cargo" => {
            let mut out = vec![checker::CARGO_LINES];
            if is_cargo_run_of(words, "grpc-exporter") {
                out.push(checker::EXPORTER_LINES);
            }
            if is_cargo_run_of(words, "channelz-tui") && cargo_run_args(words) == ["--demo"] {
                out.push(checker::TUI_DEMO);
            }
            if is_cargo_run_of(words, "tonic-channelz") && words.iter().any(|w| w == "--example") {
                out.push(checker::CHANNELZ_EXAMPLES);
            }
            out
        }
        "curl" => vec![checker::EXPORTER_LINES],
        "skopeo" | "sha256sum" | "install" => vec![checker::RELEASE_LINES],
        _ if script_of(words).is_some() => vec![checker::SCRIPT_LINES],
        _ if peer_program(words).is_some() => vec![checker::PEER_LINES],
        _ => Vec::new(),
    }
}

/// The script a `bash X.sh …` or `X.sh …` line runs, with its arguments.
pub fn script_of(words: &[String]) -> Option<(&str, &[String])> {
    match words {
        [bash, script, args @ ..] if bash == "bash" && script.ends_with(".sh") => {
            Some((script.as_str(), args))
        }
        [script, args @ ..] if script.ends_with(".sh") => Some((script.as_str(), args)),
        _ => None,
    }
}

/// The peer program a by-hand peer line starts (a `tests/peers/` script run
/// by the venv's Python or by Node, or a binary under `target/peers/`).
pub fn peer_program(words: &[String]) -> Option<&str> {
    match words {
        [interpreter, script, ..]
            if matches!(
                interpreter.rsplit('/').next(),
                Some("python" | "python3" | "node")
            ) && script.starts_with("tests/peers/") =>
        {
            Some(script.as_str())
        }
        [binary, ..] if binary.starts_with("target/peers/") => Some(binary.as_str()),
        _ => None,
    }
}

/// Whether a YAML block is a grpc-exporter (blackbox) config.
pub fn is_exporter_config(block: &Block) -> bool {
    is_yaml(block) && block.body.lines().any(|l| l.starts_with("modules:"))
}

/// Whether a YAML block is a Prometheus config.
pub fn is_prometheus_config(block: &Block) -> bool {
    is_yaml(block)
        && block
            .body
            .lines()
            .any(|l| l.starts_with("scrape_configs:") || l.starts_with("global:"))
}

/// Whether a YAML block is a Prometheus rules file.
pub fn is_prometheus_rules(block: &Block) -> bool {
    is_yaml(block) && block.body.lines().any(|l| l.starts_with("groups:"))
}

fn is_yaml(block: &Block) -> bool {
    block.lang == "yaml" || block.lang == "yml"
}

/// Whether `doc` (a README at `dir/README.md`) is compiled as doctests:
/// its crate's `src/lib.rs` includes it and doctests are not off.
pub fn readme_is_doctested(root: &Path, doc: &str) -> bool {
    let Some(dir) = doc.strip_suffix("README.md") else {
        return false;
    };
    let dir = root.join(dir);
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    lib.contains("include_str!(\"../README.md\")")
        && !manifest
            .lines()
            .any(|l| l.split('#').next().unwrap_or("").replace(' ', "") == "doctest=false")
}

/// Every block of every doc under `root` that `checker` owns.
pub fn blocks_checked_by(root: &Path, checker: &'static str) -> Vec<Block> {
    doc_files(root)
        .iter()
        .flat_map(|rel| blocks_of(root, rel))
        .filter(|b| checkers_of_block(root, b).is_ok_and(|c| c.contains(&checker)))
        .collect()
}

/// The tests that check a block, or what in it nothing checks.
pub fn checkers_of_block(root: &Path, block: &Block) -> Result<Vec<&'static str>, String> {
    if is_shell(block) {
        let mut out = Vec::new();
        let mut unchecked = Vec::new();
        for line in sh_lines(block) {
            let found = checkers_of_line(&line);
            if line.words.is_none() || found.is_empty() {
                unchecked.push(format!("{}: {}", line.at, line.text));
            }
            for name in found {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        if !unchecked.is_empty() {
            return Err(format!("lines no test runs:\n  {}", unchecked.join("\n  ")));
        }
        if out.is_empty() {
            return Err("a shell block without a command".into());
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    if is_exporter_config(block) {
        out.push(checker::EXPORTER_CONFIG);
    }
    if is_prometheus_config(block) || is_prometheus_rules(block) {
        out.push(checker::PROMETHEUS);
    }
    if is_kubernetes(block) {
        out.push(checker::KUBERNETES);
    }
    let rust = block.lang == "rust" || block.lang.starts_with("rust,");
    if rust && !block.lang.contains("ignore") && readme_is_doctested(root, &block.file) {
        out.push(checker::DOCTEST);
    }
    if block.lang == "json" && block.body.contains("\"exit_code\"") {
        out.push(checker::PROBE_JSON);
    }
    if block.lang == "json" && block.body.contains("\"members\"") {
        out.push(checker::FLEET_JSON);
    }
    if block.lang == "json" && block.body.contains("\"clientScope\"") {
        out.push(checker::XDS_JSON);
    }
    if block.lang == "text" && block.body.trim_start().starts_with("preamble") {
        out.push(checker::RECORD_FORMAT);
    }
    if out.is_empty() {
        Err(format!("a ```{} block no test checks", block.lang))
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_with_line_and_lang() {
        let text = "# t\n```yaml\na: 1\n```\n\n  ~~~~sh extra\n  x\n  ```\n  ~~~~\n```\nopen";
        let found = blocks("d.md", text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!((found[0].line, found[0].lang.as_str()), (2, "yaml"));
        assert_eq!(found[0].body, "a: 1\n");
        assert_eq!((found[1].line, found[1].lang.as_str()), (6, "sh"));
        assert_eq!(
            found[1].body, "  x\n  ```\n",
            "a shorter or other fence does not close"
        );
        assert_eq!((found[2].line, found[2].body.as_str()), (10, "open\n"));
    }

    #[test]
    fn table_flags_and_whole_word_help() {
        let text =
            "| Flag | x |\n|---|---|\n| `-addr`, `--wait DURATION` | `-no` |\n| `-o json` | y |\n";
        let flags: Vec<_> = table_flags("d.md", text)
            .into_iter()
            .map(|(at, f)| format!("{at} {f}"))
            .collect();
        assert_eq!(flags, ["d.md:3 -addr", "d.md:3 --wait", "d.md:4 -o"]);
        assert!(help_names("  -o, --output <F>", "-o"));
        assert!(!help_names("  --output <F>", "-o"), "not inside --output");
        assert!(!help_names("  --gzip-level", "--gzip"));
    }
    #[test]
    fn shell_words_and_comments() {
        let block = Block {
            file: "d.md".into(),
            line: 1,
            lang: "sh".into(),
            body: "# intro\n$ curl 'http://h/p?a=1&b=#2'   # why\n\nA_B=x node p.js --n 6\nls | wc\necho \"a \\\"b\\\"\" c\n".into(),
        };
        let lines = sh_lines(&block);
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.at.as_str(), l.words.clone()))
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0].0, "d.md:3");
        assert_eq!(
            got[0].1.as_deref(),
            Some(&["curl".to_string(), "http://h/p?a=1&b=#2".to_string()][..])
        );
        assert_eq!(lines[1].program(), Some("node"));
        assert_eq!(lines[1].env(), [("A_B".to_string(), "x".to_string())]);
        assert_eq!(got[2].1.as_deref(), Some(&["ls".to_string()][..]));
        assert_eq!(lines[2].piped, [["wc".to_string()]]);
        assert_eq!(pipeline("a || b"), None);
        assert_eq!(pipeline("a > b"), None);
        assert_eq!(
            got[3].1.as_deref(),
            Some(&["echo".to_string(), "a \"b\"".to_string(), "c".to_string()][..])
        );
        assert_eq!(words("a 'open"), None);
    }

    #[test]
    fn inline_flags_outside_fences() {
        let text = "Use `--fleet` or `-interval 2s`, `--at=+5m`; not `cargo -p x`, `-tls-`.\n```sh\n`--inside`\n```\n";
        let flags: Vec<_> = inline_flags("d.md", text)
            .into_iter()
            .map(|(at, f)| format!("{at} {f}"))
            .collect();
        assert_eq!(flags, ["d.md:1 --fleet", "d.md:1 -interval", "d.md:1 --at"]);
    }
}
