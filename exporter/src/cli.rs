//! Command-line flags, with blackbox_exporter's names where they mean the
//! same (so a unit file or a Deployment carries over), parsed by clap into
//! [`Args`] and validated into [`Settings`]; every rule violation is one
//! line naming the flag, and exit status 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::log;

/// The default port: 9115 is blackbox_exporter's, and during a migration
/// both run side by side on one host (same config, same targets), so ours
/// must differ; 9116 is snmp_exporter's, another common neighbour. 9913 is
/// in the exporters' range (9100-9999) and not used by any exporter we
/// know to run beside blackbox.
pub const DEFAULT_PORT: u16 = 9913;

/// The raw flags.
#[derive(Debug, Parser)]
#[command(
    name = "grpc-exporter",
    version,
    about = "Prometheus exporter for gRPC health and Channelz (blackbox_exporter-compatible /probe)"
)]
pub struct Args {
    /// Configuration file (blackbox_exporter's format).
    #[arg(
        long = "config.file",
        default_value = "blackbox.yml",
        value_name = "FILE"
    )]
    pub config_file: PathBuf,
    /// Check the configuration file and exit (0 when valid, 1 otherwise).
    #[arg(long = "config.check")]
    pub config_check: bool,
    /// Address to listen on; repeat for several (":9913" is every interface).
    #[arg(long = "web.listen-address", value_name = "ADDR")]
    pub listen_addresses: Vec<String>,
    /// exporter-toolkit web config: TLS and basic auth for our endpoints.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// The URL under which the exporter is reached (behind a proxy).
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,
    /// Prefix of every route; defaults to the path of --web.external-url.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    pub route_prefix: Option<String>,
    /// Accepted for blackbox_exporter compatibility and refused: see the message.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,
    /// Seconds subtracted from Prometheus's scrape timeout.
    #[arg(long = "timeout-offset", default_value_t = 0.5, value_name = "SECONDS")]
    pub timeout_offset: f64,
    /// Only log at this level or above: debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: String,
    /// Log format: logfmt or json.
    #[arg(long = "log.format", default_value = "logfmt")]
    pub log_format: String,
    /// How many recent probes `/` and `/logs` keep.
    #[arg(long = "history.limit", default_value_t = 100)]
    pub history_limit: usize,
    /// Probes (and Channelz scrapes) running at once; more are answered 503.
    #[arg(long = "probe.max-concurrent", default_value_t = 256)]
    pub max_concurrent: usize,
}

/// Validated settings, ready to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file.
    pub config_file: PathBuf,
    /// `--config.check`.
    pub config_check: bool,
    /// Where to listen.
    pub listen: Vec<SocketAddr>,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
    /// Route prefix, `/` or `/x/y` (no trailing slash).
    pub route_prefix: String,
    /// `--timeout-offset`.
    pub timeout_offset: f64,
    /// `--log.level`.
    pub log_level: log::Level,
    /// `--log.format`.
    pub log_format: log::Format,
    /// `--history.limit`.
    pub history_limit: usize,
    /// `--probe.max-concurrent`.
    pub max_concurrent: usize,
    /// Longest a client may take to send its request headers.
    pub header_read_timeout: Duration,
}

/// A flag's value broke a rule: print it and exit 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses a listen address: `:9913`, `host:port`, `[v6]:port`.
pub fn parse_listen(text: &str) -> Result<Vec<SocketAddr>, UsageError> {
    let bad = || {
        UsageError(format!(
            "invalid --web.listen-address \"{text}\" (expected [host]:port)"
        ))
    };
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| bad())?;
        // Every interface, both families where the kernel allows.
        return Ok(vec![SocketAddr::from((
            std::net::Ipv6Addr::UNSPECIFIED,
            port,
        ))]);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|_| bad())?.collect();
    addrs.into_iter().next().map(|a| vec![a]).ok_or_else(bad)
}

fn route_prefix(args: &Args) -> Result<String, UsageError> {
    let from_url = args.external_url.as_deref().map(|url| {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.find('/').map_or("/", |i| &rest[i..]).to_owned()
    });
    let prefix = args
        .route_prefix
        .clone()
        .or(from_url)
        .unwrap_or_else(|| "/".to_owned());
    if !prefix.starts_with('/') {
        return Err(UsageError(format!(
            "invalid --web.route-prefix \"{prefix}\" (must start with /)"
        )));
    }
    let trimmed = prefix.trim_end_matches('/');
    Ok(if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    })
}

impl TryFrom<Args> for Settings {
    type Error = UsageError;

    fn try_from(args: Args) -> Result<Settings, UsageError> {
        if args.systemd_socket {
            return Err(UsageError(
                "--web.systemd-socket is not supported: grpc-exporter does not take sockets from systemd; use --web.listen-address".to_owned(),
            ));
        }
        let log_level = log::Level::parse(&args.log_level).ok_or_else(|| {
            UsageError(format!(
                "invalid --log.level \"{}\" (expected debug, info, warn or error)",
                args.log_level
            ))
        })?;
        let log_format = match args.log_format.as_str() {
            "logfmt" => log::Format::Logfmt,
            "json" => log::Format::Json,
            other => {
                return Err(UsageError(format!(
                    "invalid --log.format \"{other}\" (expected logfmt or json)"
                )));
            }
        };
        if !args.timeout_offset.is_finite() || args.timeout_offset < 0.0 {
            return Err(UsageError(format!(
                "invalid --timeout-offset {} (expected seconds >= 0)",
                args.timeout_offset
            )));
        }
        if args.max_concurrent == 0 {
            return Err(UsageError(
                "invalid --probe.max-concurrent 0 (expected at least 1)".to_owned(),
            ));
        }
        let texts = if args.listen_addresses.is_empty() {
            vec![format!(":{DEFAULT_PORT}")]
        } else {
            args.listen_addresses.clone()
        };
        let mut listen = Vec::new();
        for text in &texts {
            listen.extend(parse_listen(text)?);
        }
        Ok(Settings {
            route_prefix: route_prefix(&args)?,
            config_file: args.config_file,
            config_check: args.config_check,
            listen,
            web_config_file: args.web_config_file,
            timeout_offset: args.timeout_offset,
            log_level,
            log_format,
            history_limit: args.history_limit,
            max_concurrent: args.max_concurrent,
            header_read_timeout: Duration::from_secs(10),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, UsageError> {
        let mut all = vec!["grpc-exporter"];
        all.extend_from_slice(args);
        Settings::try_from(Args::try_parse_from(all).map_err(|e| UsageError(e.to_string()))?)
    }

    #[test]
    fn blackbox_flag_names() {
        let s = settings(&[
            "--config.file=x.yml",
            "--web.listen-address=127.0.0.1:1",
            "--web.listen-address",
            ":2",
            "--timeout-offset=1.5",
            "--log.level=debug",
            "--log.format=json",
            "--web.external-url=http://h/ex/",
        ])
        .expect("valid");
        assert_eq!(s.listen.len(), 2);
        assert_eq!(s.timeout_offset, 1.5);
        assert_eq!(s.route_prefix, "/ex");
        assert_eq!(s.log_format, log::Format::Json);
        let d = settings(&[]).expect("defaults");
        assert_eq!(d.listen[0].port(), DEFAULT_PORT);
        assert_eq!(d.route_prefix, "/");
    }

    #[test]
    fn refusals_name_the_flag() {
        let e = settings(&["--web.systemd-socket"]).expect_err("refused");
        assert!(e.0.contains("--web.systemd-socket"), "{e}");
        assert!(
            settings(&["--log.level=loud"])
                .expect_err("bad")
                .0
                .contains("--log.level")
        );
        assert!(
            settings(&["--log.format=xml"])
                .expect_err("bad")
                .0
                .contains("--log.format")
        );
        assert!(
            settings(&["--web.listen-address=nope"])
                .expect_err("bad")
                .0
                .contains("--web.listen-address")
        );
        assert!(
            settings(&["--timeout-offset=-1"])
                .expect_err("bad")
                .0
                .contains("--timeout-offset")
        );
        assert!(
            settings(&["--web.route-prefix=x"])
                .expect_err("bad")
                .0
                .contains("--web.route-prefix")
        );
    }
}
