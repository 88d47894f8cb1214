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
}
