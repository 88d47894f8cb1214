//! Text from the network (a server's grpc-message, the service names of a
//! List answer) and the user's own arguments, made safe to print on a
//! terminal or in a log line.
//!
//! A terminal obeys ESC sequences, BEL rings, NUL and DEL confuse log
//! shippers, a newline lets a server forge a line of its own (`x\nstatus:
//! SERVING` reads as two lines to a log matcher), and bidi overrides
//! reorder what a reader sees. Each such character is written as a visible
//! escape instead (`\x1b`, `\n`, `\u{202e}`); everything else, including
//! the backslash, is kept as it is, so escaping twice changes nothing.
//!
//! Only for text: JSON output needs no more than JSON's own escaping, and
//! must stay exact.

use std::borrow::Cow;

/// The marker that ends a cut text, before the count of characters left
/// out.
pub const CUT_MARKER: &str = "…";

/// Whether `c` must not reach a terminal as itself.
fn is_unsafe(c: char) -> bool {
    matches!(c,
        // C0 controls (NUL, BEL, BS, TAB, LF, CR, ESC, ...) and DEL.
        '\u{0}'..='\u{1f}' | '\u{7f}'
        // C1 controls (NEL, CSI, OSC, ...), which some terminals obey.
        | '\u{80}'..='\u{9f}'
        // Bidi marks, embeddings, overrides and isolates.
        | '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        // Zero-width characters, line and paragraph separators, BOM:
        // invisible, or a line break to some readers.
        | '\u{200b}'..='\u{200d}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
    )
}

/// `\x1b` for ASCII, `\u{202e}` beyond; by hand, as the formatting
/// machinery costs more binary than the job.
fn push_escaped(out: &mut String, c: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |n: u32| char::from(HEX[(n & 0xf) as usize]);
    let n = c as u32;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ if n < 0x80 => {
            out.push_str("\\x");
            out.push(hex(n >> 4));
            out.push(hex(n));
        }
        _ => {
            out.push_str("\\u{");
            let digits = (32 - n.leading_zeros()).div_ceil(4);
            for shift in (0..digits).rev() {
                out.push(hex(n >> (shift * 4)));
            }
            out.push('}');
        }
    }
}

/// `text` with every control, bidi and invisible line-breaking character
/// written as a visible escape; borrowed when there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(is_unsafe) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`escape`] of at most the first `max_chars` characters of `text`; a
/// longer text ends with [`CUT_MARKER`] and how many characters were left
/// out (`…[+1200 chars]`), so a reader knows it was cut.
pub fn escape_cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => escape(text).into_owned(),
        Some((at, _)) => {
            let left_out = text[at..].chars().count();
            format!("{}{CUT_MARKER}[+{left_out} chars]", escape(&text[..at]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in ["", "status: SERVING", "naïve ünïcode ✓ 日本", "back\\slash"] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn controls_and_bidi_become_visible_escapes() {
        assert_eq!(escape("a\u{1b}[31mred"), "a\\x1b[31mred");
        assert_eq!(
            escape("bell\u{7}nul\u{0}del\u{7f}"),
            "bell\\x07nul\\x00del\\x7f"
        );
        assert_eq!(escape("x\nstatus: SERVING\r"), "x\\nstatus: SERVING\\r");
        assert_eq!(escape("tab\there"), "tab\\there");
        assert_eq!(escape("csi\u{9b}nel\u{85}"), "csi\\u{9b}nel\\u{85}");
        assert_eq!(escape("\u{202e}evil\u{202c}"), "\\u{202e}evil\\u{202c}");
        assert_eq!(
            escape("\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}"),
            "\\u{2066}\\u{2067}\\u{2068}\\u{2069}\\u{200e}\\u{200f}\\u{61c}"
        );
        assert_eq!(escape("l\u{2028}p\u{2029}"), "l\\u{2028}p\\u{2029}");
    }

    #[test]
    fn every_escaped_character_is_gone_from_the_output() {
        let all: String = (0u32..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|c| is_unsafe(*c))
            .collect();
        let escaped = escape(&all);
        assert!(!escaped.chars().any(is_unsafe), "{escaped}");
        assert!(escaped.is_ascii());
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        let once = escape("a\u{1b}b\nc\u{202e}").into_owned();
        assert_eq!(escape(&once), once);
    }

    #[test]
    fn long_text_is_cut_with_a_marker_on_a_character_boundary() {
        assert_eq!(escape_cut("short", 10), "short");
        assert_eq!(escape_cut("exactly10!", 10), "exactly10!");
        assert_eq!(escape_cut("ééééé", 2), "éé…[+3 chars]");
        assert_eq!(escape_cut("\u{1b}\u{1b}\u{1b}", 1), "\\x1b…[+2 chars]");
        let long = "x".repeat(10_000);
        assert_eq!(escape_cut(&long, 4), "xxxx…[+9996 chars]");
    }
}
