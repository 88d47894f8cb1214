//! Logging in Prometheus's two formats (`--log.format logfmt|json`) at a
//! level (`--log.level`), to stderr, and into a probe's own buffer for
//! `&debug=true` and `/logs?id=`.
//!
//! No secret ever reaches a line: callers pass metadata names at most,
//! never values, and errors from the connection layer never carry them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::SystemTime;

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
    let ts = grpc_toolkit_conn::rfc3339(SystemTime::now());
    let mut all: Vec<(&str, &str)> = vec![("time", &ts), ("level", level.name()), ("msg", msg)];
    all.extend_from_slice(fields);
    let mut line = String::new();
    match format {
        Format::Logfmt => {
            for (i, (k, v)) in all.iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                let quote = v.is_empty() || v.contains([' ', '"', '=', '\\']) || v.contains('\n');
                if quote {
                    let _ = write!(line, "{k}={v:?}");
                } else {
                    let _ = write!(line, "{k}={v}");
                }
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

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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

/// A probe's own log: every line at every level is kept (for `debug=true`
/// and `/logs`); stderr gets the lines the process level lets through.
#[derive(Debug, Default, Clone)]
pub struct ProbeLog {
    lines: Vec<String>,
    context: Vec<(String, String)>,
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
        }
    }

    /// Records a line.
    pub fn line(&mut self, level: Level, msg: &str, fields: &[(&str, &str)]) {
        let mut all: Vec<(&str, &str)> = self
            .context
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(fields);
        self.lines
            .push(format_line(settings().format, level, msg, &all));
        // Probe lines reach stderr at debug only, as blackbox's
        // `--log.prober` default does: a failing target must not flood it.
        log(Level::Debug, msg, &all);
    }

    /// The lines so far, newline-terminated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(line);
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
}
