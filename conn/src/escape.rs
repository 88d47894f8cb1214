//! Text from the network made safe to print on a terminal or in a log.
//!
//! A server chooses the bytes of its status messages, service names,
//! channel targets and trace events. Printed raw, ESC and C1 controls
//! drive the terminal (colours, cursor moves, window titles), BEL rings,
//! NUL and DEL confuse log tools, a newline forges a line a log matcher
//! believes, and bidi controls (U+202E) show text in another order than
//! it is. [`escape`] turns each such character into a visible sequence
//! (`\x1b`, `\u{202e}`), so what is printed is what was sent, and
//! [`escape_cut`] also cuts long text with a marker. JSON output needs
//! none of this: JSON's own escaping is exact.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as itself: C0 controls (tab and
/// newline included), DEL, C1 controls, and the bidi and format controls
/// that reorder or hide text.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{061c}')
}

/// `text` with every [`is_unsafe`] character written as `\xNN` (below
/// U+0100) or `\u{NNNN}`; borrowed when nothing needed escaping.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// [`escape`], keeping at most `max_chars` characters of `text` and
/// marking the cut with `…(N more bytes)`.
pub fn escape_cut(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => escape(text),
        Some((at, _)) => {
            let mut out = escape(&text[..at]).into_owned();
            let _ = write!(out, "…({} more bytes)", text.len() - at);
            Cow::Owned(out)
        }
    }
}

fn push_escaped(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
    } else if u32::from(c) < 0x100 {
        let _ = write!(out, "\\x{:02x}", u32::from(c));
    } else {
        let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_become_visible() {
        assert_eq!(
            escape("a\u{1b}[31mb\u{7}\u{0}\u{7f}\u{9b}c"),
            "a\\x1b[31mb\\x07\\x00\\x7f\\x9bc"
        );
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("x\ny: SERVING"), "x\\x0ay: SERVING");
        for c in [
            '\u{200e}', '\u{200f}', '\u{202a}', '\u{2066}', '\u{2069}', '\u{061c}',
        ] {
            assert!(!escape(&c.to_string()).contains(c), "{c:?}");
        }
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(escape("dns:///höst:443 ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_text_is_cut_with_a_marker() {
        assert_eq!(escape_cut("abcdef", 3), "abc…(3 more bytes)");
        assert_eq!(escape_cut("abc", 3), "abc");
        assert_eq!(escape_cut("\u{1b}bc", 2), "\\x1bb…(1 more bytes)");
    }
}
