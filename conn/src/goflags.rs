//! Go `flag`-package argument syntax, translated for clap.
//!
//! `grpc_health_probe` is a Go program, so the scripts and pod specs we must
//! keep working spell flags the Go way: `-addr=host:1`, `-addr host:1`,
//! `--addr=host:1`, booleans as `-tls` or `-tls=false`, and a later string
//! flag replacing an earlier one. clap cannot parse single-dash long flags,
//! so [`normalize`] rewrites such an argv into clap's `--name=value` form
//! first. Both binaries call it with their own [`FlagSpec`], so they accept
//! the same syntax.
//!
//! The rules are Go's: a boolean never consumes the next argument and takes
//! `=true/false/1/0/t/f/T/F/TRUE/FALSE/True/False`; a value flag takes the
//! rest after `=` or else the next argument whatever it looks like; parsing
//! stops at `--` or at the first argument that is not a flag; an unknown flag
//! is `flag provided but not defined: -x`.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// The flags one binary accepts, by Go name (without dashes).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlagSpec<'a> {
    /// Boolean flags: `-name`, `-name=false`. Emitted once, as `--name`, and
    /// only when the last occurrence says true, because clap's boolean
    /// switches take no value.
    pub bools: &'a [&'a str],
    /// Value flags where, as in Go, the last occurrence wins.
    pub values: &'a [&'a str],
    /// Value flags that accumulate (`-rpc-header`, `-service`).
    pub repeated: &'a [&'a str],
    /// Alternative spellings mapped to the canonical name, e.g. `("o",
    /// "output")`, so that "last one wins" sees both as one flag.
    pub aliases: &'a [(&'a str, &'a str)],
}

/// Why an argv could not be read, worded as Go's flag package words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A flag that no spec lists.
    #[error("flag provided but not defined: -{0}")]
    Unknown(String),
    /// A value flag at the end of argv.
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    /// A boolean given a value Go's `strconv.ParseBool` refuses.
    #[error("invalid boolean value \"{value}\" for -{name}: parse error")]
    BadBool {
        /// The flag's name.
        name: String,
        /// What was given.
        value: String,
    },
    /// `---x`, `-=x` and similar.
    #[error("bad flag syntax: {0}")]
    Syntax(String),
}

/// What a flag name resolves to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Value,
    Repeated,
}

impl<'a> FlagSpec<'a> {
    /// The canonical name (borrowed from the spec, not from argv) and kind.
    fn lookup(&self, name: &str) -> Option<(&'a str, Kind)> {
        let canonical = self
            .aliases
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, target)| *target);
        let find = |list: &'a [&'a str]| list.iter().copied().find(|n| *n == canonical);
        if let Some(n) = find(self.bools) {
            Some((n, Kind::Bool))
        } else if let Some(n) = find(self.values) {
            Some((n, Kind::Value))
        } else {
            find(self.repeated).map(|n| (n, Kind::Repeated))
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn long_flag(name: &str, value: Option<&OsStr>) -> OsString {
    let mut flag = OsString::from("--");
    flag.push(name);
    if let Some(value) = value {
        flag.push("=");
        flag.push(value);
    }
    flag
}

/// Splits `arg` (without its leading dashes) at the first `=`. Works on the
/// raw bytes so that a non-UTF-8 value (a path) survives.
fn split_name_value(arg: &OsStr) -> (OsString, Option<OsString>) {
    let bytes = arg.as_encoded_bytes();
    match bytes.iter().position(|b| *b == b'=') {
        // `=` is ASCII, so both halves are still valid OS strings.
        Some(at) => (
            os_from_bytes(&bytes[..at]),
            Some(os_from_bytes(&bytes[at + 1..])),
        ),
        None => (arg.to_owned(), None),
    }
}

#[cfg(unix)]
fn os_from_bytes(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes).to_owned()
}

#[cfg(not(unix))]
fn os_from_bytes(bytes: &[u8]) -> OsString {
    OsString::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The dashes and name of a flag argument, without its `=value`.
fn bytes_lossy(bytes: &[u8], dashes: usize) -> String {
    let end = bytes.iter().position(|b| *b == b'=').unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end.max(dashes)]).into_owned()
}

/// An unknown "name" that cannot be a flag name (`-authorization: Bearer
/// x`, a pasted header) is shown only up to its first character that no
/// flag name has: the rest may be a credential.
fn flag_name_only(name: &str) -> String {
    match name.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        Some(at) => format!("{}…", &name[..at]),
        None => name.to_owned(),
    }
}

/// Rewrites a Go-style argv into clap's `--name=value` form.
///
/// `args` is the whole argv; the first element (the program name) is passed
/// through untouched. `-h`, `-help` and `--help` become `--help`. Arguments
/// after the end of the flags are kept after a `--`, so clap reports them as
/// unexpected rather than reading them as flags (Go would not read them as
/// flags either).
pub fn normalize<'a, I, A>(args: I, spec: &FlagSpec<'a>) -> Result<Vec<OsString>, FlagError>
where
    I: IntoIterator<Item = A>,
    A: Into<OsString>,
{
    let mut args = args.into_iter().map(Into::into);
    let mut out = Vec::new();
    out.extend(args.next());

    // Last-wins flags are collected by name and emitted at the end; order
    // between different flags does not matter to clap.
    let mut bools: BTreeMap<&'a str, bool> = BTreeMap::new();
    let mut values: BTreeMap<&'a str, OsString> = BTreeMap::new();
    let mut repeated: Vec<OsString> = Vec::new();
    let mut help = false;
    let mut rest: Vec<OsString> = Vec::new();

    while let Some(arg) = args.next() {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            rest.extend(args.by_ref());
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            rest.push(arg);
            rest.extend(args.by_ref());
            break;
        }
        let dashes = if bytes[1] == b'-' { 2 } else { 1 };
        let body = os_from_bytes(&bytes[dashes..]);
        let (name, inline) = split_name_value(&body);
        let name = name.to_string_lossy().into_owned();
        if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
            // Go prints the whole argument; its value may be a header's
            // (`---rpc-header=authorization: Bearer …`), so not here.
            let shown = match inline {
                Some(_) => format!("{}=…", &bytes_lossy(bytes, dashes)[..]),
                None => arg.to_string_lossy().into_owned(),
            };
            return Err(FlagError::Syntax(shown));
        }
        if name == "h" || name == "help" {
            help = true;
            continue;
        }
        let Some((canonical, kind)) = spec.lookup(&name) else {
            return Err(FlagError::Unknown(flag_name_only(&name)));
        };
        match kind {
            Kind::Bool => {
                let on = match &inline {
                    None => true,
                    Some(value) => {
                        let text = value.to_string_lossy();
                        parse_go_bool(&text).ok_or_else(|| FlagError::BadBool {
                            name: name.clone(),
                            value: text.into_owned(),
                        })?
                    }
                };
                bools.insert(canonical, on);
            }
            Kind::Value | Kind::Repeated => {
                let value = match inline {
                    Some(value) => value,
                    None => args.next().ok_or(FlagError::MissingValue(name.clone()))?,
                };
                if kind == Kind::Value {
                    values.insert(canonical, value);
                } else {
                    repeated.push(long_flag(canonical, Some(&value)));
                }
            }
        }
    }

    if help {
        out.push(OsString::from("--help"));
    }
    for (name, on) in bools {
        if on {
            out.push(long_flag(name, None));
        }
    }
    for (name, value) in values {
        out.push(long_flag(name, Some(&value)));
    }
    out.extend(repeated);
    if !rest.is_empty() {
        out.push(OsString::from("--"));
        out.extend(rest);
    }
    Ok(out)
}

/// The Go flag spec of a clap command, read from clap's own definition, so
/// that a flag added to `ConnArgs` (or to a binary's own arguments) is
/// accepted Go-style without a list kept by hand. `--help` is left out:
/// [`normalize`] handles it itself.
pub fn spec_of(command: &clap::Command) -> OwnedFlagSpec {
    use clap::ArgAction;
    let mut spec = OwnedFlagSpec::default();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        match arg.get_action() {
            ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count | ArgAction::Version => {
                spec.bools.push(long.to_owned())
            }
            ArgAction::Append => spec.repeated.push(long.to_owned()),
            ArgAction::Set => spec.values.push(long.to_owned()),
            _ => continue,
        }
        if let Some(short) = arg.get_short() {
            spec.aliases.push((short.to_string(), long.to_owned()));
        }
        for alias in arg.get_all_aliases().into_iter().flatten() {
            spec.aliases.push((alias.to_owned(), long.to_owned()));
        }
    }
    spec
}

/// Owned storage behind a [`FlagSpec`] built at run time by [`spec_of`].
#[derive(Debug, Default, Clone)]
pub struct OwnedFlagSpec {
    /// Flags that take no value (`-tls`, `-tls=false`).
    pub bools: Vec<String>,
    /// Flags that take one value; the last one given wins.
    pub values: Vec<String>,
    /// Flags that take a value and may repeat.
    pub repeated: Vec<String>,
    /// Other names (short flags, aliases) and the long name each means.
    pub aliases: Vec<(String, String)>,
}

impl OwnedFlagSpec {
    /// Normalises `argv` against this spec (see [`normalize`]).
    pub fn normalize<I, A>(&self, argv: I) -> Result<Vec<OsString>, FlagError>
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        fn strs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        let (bools, values, repeated) =
            (strs(&self.bools), strs(&self.values), strs(&self.repeated));
        let aliases: Vec<(&str, &str)> = self
            .aliases
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        normalize(
            argv,
            &FlagSpec {
                bools: &bools,
                values: &values,
                repeated: &repeated,
                aliases: &aliases,
            },
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const SPEC: FlagSpec<'static> = FlagSpec {
        bools: &["tls", "v", "json"],
        values: &["addr", "connect-timeout", "output"],
        repeated: &["service", "rpc-header"],
        aliases: &[("o", "output")],
    };

    fn norm(args: &[&str]) -> Result<Vec<String>, FlagError> {
        let argv = std::iter::once("prog").chain(args.iter().copied());
        normalize(argv, &SPEC).map(|v| {
            v.into_iter()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
    }

    #[test]
    fn every_go_spelling_of_a_value_flag_is_accepted() {
        for argv in [
            &["-addr=h:1"][..],
            &["-addr", "h:1"],
            &["--addr=h:1"],
            &["--addr", "h:1"],
        ] {
            assert_eq!(norm(argv).unwrap(), ["--addr=h:1"], "{argv:?}");
        }
    }

    #[test]
    fn a_value_flag_takes_the_next_argument_even_if_it_looks_like_a_flag() {
        assert_eq!(
            norm(&["-rpc-header", "-x: y"]).unwrap(),
            ["--rpc-header=-x: y"]
        );
    }

    #[test]
    fn booleans_take_go_values_and_never_consume_the_next_argument() {
        assert_eq!(
            norm(&["-tls", "-addr", "a"]).unwrap(),
            ["--tls", "--addr=a"]
        );
        for yes in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(norm(&[&format!("-tls={yes}")]).unwrap(), ["--tls"]);
        }
        for no in ["0", "f", "F", "false", "FALSE", "False"] {
            assert!(norm(&[&format!("-tls={no}")]).unwrap().is_empty());
        }
        // A boolean followed by a bare word: the word ends the flags.
        assert_eq!(norm(&["-tls", "false"]).unwrap(), ["--tls", "--", "false"]);
    }

    #[test]
    fn the_last_boolean_and_the_last_value_win() {
        assert!(norm(&["-tls", "-tls=false"]).unwrap().is_empty());
        assert_eq!(norm(&["-addr=a", "-addr=b"]).unwrap(), ["--addr=b"]);
        assert_eq!(
            norm(&["-o", "text", "--output=json"]).unwrap(),
            ["--output=json"]
        );
    }

    #[test]
    fn repeated_flags_accumulate_in_order() {
        assert_eq!(
            norm(&["-service=a", "-service", "b", "--service="]).unwrap(),
            ["--service=a", "--service=b", "--service="]
        );
    }

    #[test]
    fn errors_are_worded_as_go_words_them() {
        assert_eq!(
            norm(&["-x"]).unwrap_err().to_string(),
            "flag provided but not defined: -x"
        );
        assert_eq!(
            norm(&["-addr"]).unwrap_err().to_string(),
            "flag needs an argument: -addr"
        );
        assert_eq!(
            norm(&["-tls=yes"]).unwrap_err().to_string(),
            "invalid boolean value \"yes\" for -tls: parse error"
        );
        // Go prints the value too; it may be a header's, so not here.
        assert_eq!(
            norm(&["---addr=a"]).unwrap_err().to_string(),
            "bad flag syntax: ---addr=…"
        );
        assert_eq!(
            norm(&["---rpc-header=authorization: Bearer t"])
                .unwrap_err()
                .to_string(),
            "bad flag syntax: ---rpc-header=…"
        );
        assert_eq!(
            norm(&["-authorization: Bearer t"]).unwrap_err().to_string(),
            "flag provided but not defined: -authorization…"
        );
        // A boolean given a value through the next argument is not a thing
        // in Go, so `-addr=` empty is a value, not a syntax error.
        assert_eq!(norm(&["-addr="]).unwrap(), ["--addr="]);
    }

    #[test]
    fn flags_stop_at_double_dash_and_at_the_first_bare_word() {
        assert_eq!(
            norm(&["-tls", "--", "-addr=a"]).unwrap(),
            ["--tls", "--", "-addr=a"]
        );
        assert_eq!(
            norm(&["stray", "-addr=a"]).unwrap(),
            ["--", "stray", "-addr=a"]
        );
    }

    #[test]
    fn help_in_any_spelling_reaches_clap() {
        for h in ["-h", "-help", "--help"] {
            assert_eq!(norm(&[h]).unwrap(), ["--help"]);
        }
    }
}
