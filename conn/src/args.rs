//! The connection flags both binaries flatten into their clap arguments
//! ([`ConnArgs`]), and their validation into [`ConnectOptions`], with
//! grpc_health_probe's rules and wording.

use std::path::PathBuf;
use std::time::Duration;

use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey};

use crate::duration::{format_go_duration, parse_go_duration};
use crate::error::UsageError;
use crate::options::{ConnectOptions, Header, TlsOptions};
use crate::target::{SchemeSecurity, Target};
use crate::tls;

/// The connection flags shared by `grpc-probe` and `channelz-tui`.
///
/// Long names only: Go-style single-dash flags are normalised before clap
/// sees them (`crate::goflags`).
#[derive(Clone, clap::Args)]
pub struct ConnArgs {
    /// Server address: host:port, :port, [v6]:port, dns:///host:port,
    /// unix:path, unix:///abs/path, http://host:port or https://host:port
    /// (https implies --tls)
    // The text is also --help's, where `[v6]` must stay as it is.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "ADDR")]
    pub addr: Option<String>,
    /// Use TLS (default: plaintext)
    #[arg(long)]
    pub tls: bool,
    /// (with --tls) PEM file of CA certificates to verify the server with
    /// (default: the system trust store)
    #[arg(long, value_name = "FILE")]
    pub tls_ca_cert: Option<PathBuf>,
    /// (with --tls) PEM client certificate for mTLS (needs --tls-client-key)
    #[arg(long, value_name = "FILE")]
    pub tls_client_cert: Option<PathBuf>,
    /// (with --tls) PEM private key of the client certificate
    #[arg(long, value_name = "FILE")]
    pub tls_client_key: Option<PathBuf>,
    /// (with --tls) do not verify the server certificate (INSECURE)
    #[arg(long)]
    pub tls_no_verify: bool,
    /// (with --tls) name to verify the server certificate against, also sent as SNI
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Metadata sent with every RPC, as 'name: value' (repeatable; names
    /// ending in -bin carry binary values)
    #[arg(long = "rpc-header", value_name = "NAME: VALUE")]
    pub rpc_header: Vec<String>,
    /// User agent sent to the server
    #[arg(long, value_name = "UA")]
    pub user_agent: Option<String>,
    /// Compress requests with gzip and accept gzip responses
    #[arg(long)]
    pub gzip: bool,
    /// Time allowed to connect: TCP, TLS and the server's HTTP/2 SETTINGS together
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_go_duration)]
    pub connect_timeout: Duration,
    /// :authority to send (default: the address's host:port; localhost for unix sockets)
    #[arg(long, value_name = "AUTHORITY")]
    pub authority: Option<String>,
}

impl Default for ConnArgs {
    fn default() -> Self {
        Self {
            addr: None,
            tls: false,
            tls_ca_cert: None,
            tls_client_cert: None,
            tls_client_key: None,
            tls_no_verify: false,
            tls_server_name: None,
            rpc_header: Vec::new(),
            user_agent: None,
            gzip: false,
            connect_timeout: Duration::from_secs(1),
            authority: None,
        }
    }
}

// By hand: `rpc_header` values may be bearer tokens and must never be
// printed, not even in a debug dump of the parsed flags.
impl std::fmt::Debug for ConnArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self
            .rpc_header
            .iter()
            .map(|h| {
                h.split_once(':')
                    .map_or("<malformed>", |(name, _)| name.trim())
            })
            .collect();
        f.debug_struct("ConnArgs")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("tls_ca_cert", &self.tls_ca_cert)
            .field("tls_client_cert", &self.tls_client_cert)
            .field("tls_client_key", &self.tls_client_key)
            .field("tls_no_verify", &self.tls_no_verify)
            .field("tls_server_name", &self.tls_server_name)
            .field("rpc_header_names", &header_names)
            .field("user_agent", &self.user_agent)
            .field("gzip", &self.gzip)
            .field("connect_timeout", &format_go_duration(self.connect_timeout))
            .field("authority", &self.authority)
            .finish()
    }
}

impl ConnArgs {
    /// Validates the flags into ready-to-use options. `default_user_agent`
    /// is used when `--user-agent` is absent (each binary has its own).
    /// TLS files are read here, so a missing or malformed file is a usage
    /// error, not a connection failure.
    pub fn to_options(&self, default_user_agent: &str) -> Result<ConnectOptions, UsageError> {
        self.to_options_within(default_user_agent, self.connect_timeout)
    }

    /// [`ConnArgs::to_options`], with the TLS files read within `limit` as
    /// well as within the connect timeout (a named pipe is waited for no
    /// longer than the smaller; a probe passes its `--timeout`).
    pub fn to_options_within(
        &self,
        default_user_agent: &str,
        limit: Duration,
    ) -> Result<ConnectOptions, UsageError> {
        let files_by = std::time::Instant::now() + self.connect_timeout.min(limit);
        let addr = match self.addr.as_deref() {
            None | Some("") => return Err(UsageError::new("-addr not specified")),
            Some(addr) => addr,
        };
        let (target, security) =
            Target::parse_with_security(addr).map_err(|e| UsageError::new(e.to_string()))?;
        // tokio has no unix sockets on Windows: say so before dialing, as
        // a usage error (exit 1), rather than fail the check as if the
        // server were down.
        #[cfg(not(unix))]
        if let Target::Unix { .. } = target {
            return Err(UsageError::new(format!(
                "unix socket targets are not supported on Windows (specified: \"{addr}\")"
            )));
        }
        if self.connect_timeout.is_zero() {
            return Err(UsageError::new(format!(
                "-connect-timeout must be greater than zero (specified: {})",
                format_go_duration(self.connect_timeout)
            )));
        }
        if self.tls && security == SchemeSecurity::Plaintext {
            return Err(UsageError::new(format!(
                "specified -tls with the plaintext address \"{addr}\" (use https:// or drop http://)"
            )));
        }
        let tls_on = self.tls || security == SchemeSecurity::Tls;
        if !tls_on {
            let set = [
                ("-tls-no-verify", self.tls_no_verify),
                ("-tls-ca-cert", self.tls_ca_cert.is_some()),
                ("-tls-client-cert", self.tls_client_cert.is_some()),
                ("-tls-client-key", self.tls_client_key.is_some()),
                ("-tls-server-name", self.tls_server_name.is_some()),
            ];
            if let Some((flag, _)) = set.iter().find(|(_, on)| *on) {
                return Err(UsageError::new(format!(
                    "specified {flag} without specifying -tls"
                )));
            }
        }
        match (&self.tls_client_cert, &self.tls_client_key) {
            (Some(_), None) => {
                return Err(UsageError::new(
                    "specified -tls-client-cert without specifying -tls-client-key",
                ));
            }
            (None, Some(_)) => {
                return Err(UsageError::new(
                    "specified -tls-client-key without specifying -tls-client-cert",
                ));
            }
            _ => {}
        }
        if self.tls_no_verify && self.tls_ca_cert.is_some() {
            return Err(UsageError::new(
                "cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)",
            ));
        }
        if self.tls_no_verify && self.tls_server_name.is_some() {
            return Err(UsageError::new(
                "cannot specify -tls-server-name with -tls-no-verify (server name would not be used)",
            ));
        }
        let authority = match &self.authority {
            Some(authority) => {
                if authority.parse::<http::uri::Authority>().is_err() || authority.contains('@') {
                    return Err(UsageError::new(format!(
                        "invalid -authority \"{authority}\" (expected host or host:port)"
                    )));
                }
                authority.clone()
            }
            None => target.default_authority(),
        };
        let tls = if tls_on {
            let tls = TlsOptions {
                ca_file: self.tls_ca_cert.clone(),
                client_cert: self.tls_client_cert.clone(),
                client_key: self.tls_client_key.clone(),
                server_name: self.tls_server_name.clone(),
                insecure_skip_verify: self.tls_no_verify,
            };
            tls::check_files(&tls, files_by)?;
            tls::server_name(&tls, &authority)
                .map_err(|e| UsageError::new(format!("invalid -tls-server-name: {e}")))?;
            Some(tls)
        } else {
            None
        };
        let headers = self
            .rpc_header
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let user_agent = self
            .user_agent
            .clone()
            .unwrap_or_else(|| default_user_agent.to_owned());
        if http::HeaderValue::from_str(&user_agent).is_err() {
            return Err(UsageError::new(
                "invalid -user-agent: must be printable ASCII",
            ));
        }
        Ok(ConnectOptions {
            target,
            authority,
            tls,
            headers,
            user_agent,
            gzip: self.gzip,
            connect_timeout: self.connect_timeout,
        })
    }
}

/// Parses one `-rpc-header` the way grpc_health_probe does: split at the
/// first `:`, name lower-cased, value trimmed. The value is never part of
/// an error message.
pub fn parse_header(raw: &str) -> Result<Header, UsageError> {
    let Some((name, value)) = raw.split_once(':') else {
        return Err(UsageError::new(
            "invalid -rpc-header: expected 'name: value' (no ':' found)",
        ));
    };
    let name = name.trim().to_ascii_lowercase();
    let value = value.trim().to_owned();
    if name.is_empty() {
        return Err(UsageError::new(
            "invalid -rpc-header: empty name before ':'",
        ));
    }
    let header = Header { name, value };
    check_header(&header)?;
    Ok(header)
}

/// Whether a header can go on the wire as gRPC metadata; the message names
/// the header but never shows its value.
pub(crate) fn check_header(header: &Header) -> Result<(), UsageError> {
    let name = &header.name;
    if name.starts_with("grpc-") || matches!(name.as_str(), "te" | "content-type" | "connection") {
        return Err(UsageError::new(format!(
            "invalid -rpc-header \"{name}\": the name is reserved by gRPC"
        )));
    }
    if name.ends_with("-bin") {
        BinaryMetadataKey::from_bytes(name.as_bytes()).map_err(|_| bad_name())?;
    } else {
        AsciiMetadataKey::from_bytes(name.as_bytes()).map_err(|_| bad_name())?;
        // The gRPC spec allows printable ASCII only (tonic would also pass
        // bytes above 0x7f, which other implementations reject).
        let printable = header.value.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if !printable || AsciiMetadataValue::try_from(header.value.as_str()).is_err() {
            return Err(UsageError::new(format!(
                "invalid -rpc-header \"{name}\": the value must be printable ASCII (binary values need a name ending in -bin)"
            )));
        }
    }
    Ok(())
}

// The rejected name is not echoed: text before the first ':' that is not a
// valid name is as likely to be part of a pasted token as a typo.
fn bad_name() -> UsageError {
    UsageError::new(
        "invalid -rpc-header name: use letters, digits, '-', '_' and '.' before the ':'",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        conn: ConnArgs,
    }

    fn parse(argv: &[&str]) -> Result<ConnArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("t").chain(argv.iter().copied())).map(|c| c.conn)
    }

    #[test]
    fn flags_parse_with_defaults_and_go_durations() {
        let conn = parse(&["--addr", "h:1"]).expect("parses");
        assert_eq!(conn.connect_timeout, Duration::from_secs(1));
        let conn = parse(&[
            "--addr=h:1",
            "--connect-timeout=1.5s",
            "--rpc-header",
            "a: 1",
            "--rpc-header=b: 2",
            "--tls",
            "--gzip",
        ])
        .expect("parses");
        assert_eq!(conn.connect_timeout, Duration::from_millis(1500));
        assert_eq!(conn.rpc_header, ["a: 1", "b: 2"]);
        assert!(conn.tls && conn.gzip);
        let err = parse(&["--connect-timeout", "10"]).expect_err("no unit");
        assert!(err.to_string().contains("missing unit"), "{err}");
    }
}
