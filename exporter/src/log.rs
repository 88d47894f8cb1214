//! Logging in Prometheus's two formats (`--log.format logfmt|json`) at a
//! level (`--log.level`), to stderr, and into a probe's own buffer for
//! `&debug=true` and `/logs?id=`.
//!
//! No secret ever reaches a line: callers pass metadata names at most,
//! never values, and errors from the connection layer never carry them.
//! A target can still echo a module's metadata back (`invalid token
//! s3cr3t` in its grpc-message, a service name in a List answer), so a
//! probe's log and series pass through [`Secrets::hide`] as well.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::SystemTime;

use grpc_toolkit_conn::escape::escape;

/// A log level, in `--log.level`'s spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warn`.
    Warn,
    /// `error`.
    Error,
}

impl Level {
    /// Parses `debug`, `info`, `warn`, `error`.
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `key=value` pairs.
    Logfmt,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    level: Level,
    format: Format,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the process-wide level and format; the first call wins.
pub fn init(level: Level, format: Format) {
    let _ = SETTINGS.set(Settings { level, format });
}

fn settings() -> Settings {
    *SETTINGS.get_or_init(|| Settings {
        level: Level::Info,
        format: Format::Logfmt,
    })
}

/// Formats one line (without the newline).
pub fn format_line(format: Format, level: Level, msg: &str, fields: &[(&str, &str)]) -> String {
    format_line_at(format, SystemTime::now(), level, msg, fields)
}

/// Formats one line stamped `at` (without the newline).
fn format_line_at(
    format: Format,
    at: SystemTime,
    level: Level,
    msg: &str,
    fields: &[(&str, &str)],
) -> String {
    let ts = grpc_toolkit_conn::rfc3339(at);
    let mut all: Vec<(&str, &str)> = vec![("time", &ts), ("level", level.name()), ("msg", msg)];
    all.extend_from_slice(fields);
    let mut line = String::new();
    match format {
        Format::Logfmt => {
            for (i, (k, v)) in all.iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                let _ = write!(line, "{k}=");
                push_logfmt(&mut line, v);
            }
        }
        Format::Json => {
            line.push('{');
            for (i, (k, v)) in all.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{}:{}", json_string(k), json_string(v));
            }
            line.push('}');
        }
    }
    line
}

/// A logfmt value: bare when it is plain, else quoted with `\\` and `\"`
/// escaped; either way every control, bidi or invisible character is a
/// visible escape (`\x1b`), so a value from the network cannot move a
/// terminal's cursor, colour it, or start a line of its own. Escaping the
/// backslash first keeps the two apart: `\\x1b` was the server's text.
fn push_logfmt(line: &mut String, value: &str) {
    let escaped = escape(value);
    let plain = !value.is_empty()
        && matches!(escaped, Cow::Borrowed(_))
        && !value.contains([' ', '"', '=', '\\']);
    if plain {
        line.push_str(value);
        return;
    }
    line.push('"');
    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
    line.push_str(&escape(&quoted));
    line.push('"');
}

/// A JSON string. Besides what JSON requires (`"`, `\\`, C0 controls),
/// DEL, C1 controls and the bidi and invisible characters [`escape`]
/// names are written as `\uXXXX`: the decoded text is unchanged, but the
/// line is safe on a terminal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut buf = [0u8; 4];
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if matches!(escape(c.encode_utf8(&mut buf)), Cow::Owned(_)) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True when lines at `level` reach stderr.
fn enabled(level: Level) -> bool {
    level >= settings().level
}

/// Writes a line to stderr when `level` is enabled.
pub fn log(level: Level, msg: &str, fields: &[(&str, &str)]) {
    let s = settings();
    if level < s.level {
        return;
    }
    let line = format_line(s.format, level, msg, fields);
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// What is shown instead of a secret.
pub const HIDDEN: &str = "<hidden>";

/// The shortest text [`Secrets`] hides: a shorter value (`1`, `on`) would
/// blank every digit or word it happens to match, and is no secret.
const MIN_SECRET_CHARS: usize = 4;

/// A module's metadata values, to be hidden wherever a target repeats
/// them: each value whole, and each of its words (a target that rejects
/// `authorization: Bearer s3cr3t` may echo the token alone), except the
/// HTTP authentication scheme's name.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

// By hand: the values are the secrets.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({})", self.0.len())
    }
}

impl Secrets {
    /// The values of a module's `metadata`.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a String>) -> Secrets {
        let mut all: Vec<String> = Vec::new();
        for value in values {
            let words = value.split(|c: char| c.is_whitespace() || c == ',');
            for part in std::iter::once(value.as_str()).chain(words) {
                let scheme = ["bearer", "basic", "token", "digest"]
                    .iter()
                    .any(|s| part.eq_ignore_ascii_case(s));
                if part.chars().count() >= MIN_SECRET_CHARS
                    && !scheme
                    && !all.iter().any(|a| a == part)
                {
                    all.push(part.to_owned());
                }
            }
        }
        // Longest first: a value is hidden whole before its words are.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(all)
    }

    /// `text` with every secret replaced by [`HIDDEN`]; borrowed when none
    /// is in it.
    pub fn hide<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), HIDDEN));
            }
        }
        out
    }
}

/// A probe's own log: every line at every level is kept (for `debug=true`
/// and `/logs`); stderr gets the lines the process level lets through.
///
/// Lines are kept as their parts and formatted only when read
/// ([`ProbeLog::text`]): few probes' logs are ever read, and formatting
/// (timestamp, escaping, quoting) every line of every probe was ~5 % of a
/// probe's CPU (exporter/bench/profile.sh).
#[derive(Debug, Default, Clone)]
pub struct ProbeLog {
    lines: Vec<Line>,
    context: Vec<(String, String)>,
    secrets: Secrets,
}

/// One line's parts, its values already passed through [`Secrets::hide`].
#[derive(Debug, Clone)]
struct Line {
    at: SystemTime,
    level: Level,
    msg: String,
    fields: Vec<(String, String)>,
}

impl ProbeLog {
    /// A log whose lines carry `module` and `target`.
    pub fn new(module: &str, target: &str) -> ProbeLog {
        ProbeLog {
            lines: Vec::new(),
            context: vec![
                ("module".to_owned(), module.to_owned()),
                ("target".to_owned(), target.to_owned()),
            ],
            secrets: Secrets::default(),
        }
    }

    /// Hides these secrets in every line from now on.
    pub fn hide(&mut self, secrets: Secrets) {
        self.secrets = secrets;
    }

    /// Records a line.
    pub fn line(&mut self, level: Level, msg: &str, fields: &[(&str, &str)]) {
        let line = Line {
            at: SystemTime::now(),
            level,
            msg: msg.to_owned(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), self.secrets.hide(v).into_owned()))
                .collect(),
        };
        // Probe lines reach stderr at debug only, as blackbox's
        // `--log.prober` default does: a failing target must not flood it.
        if enabled(Level::Debug) {
            log(Level::Debug, msg, &self.all_fields(&line));
        }
        self.lines.push(line);
    }

    /// The context's fields, then the line's own.
    fn all_fields<'a>(&'a self, line: &'a Line) -> Vec<(&'a str, &'a str)> {
        self.context
            .iter()
            .chain(&line.fields)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The lines so far, newline-terminated.
    pub fn text(&self) -> String {
        let format = settings().format;
        let mut out = String::new();
        for line in &self.lines {
            let fields = self.all_fields(line);
            out.push_str(&format_line_at(
                format, line.at, line.level, &line.msg, &fields,
            ));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_and_json_quote() {
        let l = format_line(Format::Logfmt, Level::Info, "hello world", &[("k", "a=b")]);
        assert!(
            l.contains("level=info msg=\"hello world\" k=\"a=b\""),
            "{l}"
        );
        let j = format_line(Format::Json, Level::Warn, "x\"y", &[]);
        assert!(j.contains("\"msg\":\"x\\\"y\""), "{j}");
        assert!(j.starts_with('{') && j.ends_with('}'), "{j}");
    }

    /// Issue 18 item 4: text a server sent (a grpc-message, a service
    /// name) reaches stderr, `/logs` and the debug page through these
    /// lines; no control or bidi character may arrive raw, quoted or not.
    #[test]
    fn network_text_is_escaped_in_both_formats() {
        let hostile = "red\u{1b}[31m\rforged\u{7}\u{9b}1m\u{202e}x\u{7f}";
        for value in [hostile, "nospace\u{1b}[2J", "a\\x1b\u{1b}"] {
            let l = format_line(Format::Logfmt, Level::Error, "m", &[("err", value)]);
            let j = format_line(Format::Json, Level::Error, "m", &[("err", value)]);
            for line in [&l, &j] {
                assert!(
                    !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
                    "{line:?}"
                );
            }
            let back: String = serde_json::from_str::<serde_json::Value>(&j).expect("json")["err"]
                .as_str()
                .expect("string")
                .to_owned();
            assert_eq!(back, value, "JSON keeps the text exact");
        }
        let l = format_line(
            Format::Logfmt,
            Level::Error,
            "m",
            &[("err", "nospace\u{1b}[2J")],
        );
        assert!(l.ends_with(r#"err="nospace\x1b[2J""#), "{l}");
        let l = format_line(
            Format::Logfmt,
            Level::Error,
            "m",
            &[("err", "a\\x1b\u{1b}")],
        );
        assert!(l.ends_with(r#"err="a\\x1b\x1b""#), "{l}");
        let l = format_line(Format::Logfmt, Level::Info, "m", &[("k", "plain")]);
        assert!(l.ends_with(" k=plain"), "{l}");
    }
}
