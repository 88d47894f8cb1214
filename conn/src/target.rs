//! Parsing `-addr` into a [`Target`], accepting the forms grpc-go and
//! grpc_health_probe users write, and working out the `:authority` grpc-go
//! would send for each.

use std::path::PathBuf;

/// Where to connect, parsed from the `-addr` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP host (name, IPv4 or IPv6 literal without brackets) and port.
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A unix domain socket path.
    Unix {
        /// Filesystem path of the socket.
        path: PathBuf,
    },
}

/// Why `-addr` could not be parsed. Displays as one line naming the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address \"{input}\": {reason}")]
pub struct TargetError {
    /// The address as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Which transport security an address's scheme asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeSecurity {
    /// No scheme, or one that says nothing about TLS (`dns:`, `unix:`).
    Unspecified,
    /// `http://`: plaintext, so `-tls` contradicts it.
    Plaintext,
    /// `https://`: TLS is on even without `-tls`.
    Tls,
}

impl Target {
    /// Parses an address: `host:port`, `:port` (localhost), `[v6]:port`,
    /// `dns:///host:port`, `passthrough:///host:port`, `unix:relative`,
    /// `unix:/abs`, `unix:///abs`, `http://host[:port]`,
    /// `https://host[:port]`.
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        Self::parse_with_security(input).map(|(target, _)| target)
    }

    /// Like [`Target::parse`], also saying whether the scheme asks for TLS
    /// (`https://` implies `-tls`).
    pub fn parse_with_security(input: &str) -> Result<(Target, SchemeSecurity), TargetError> {
        let err = |reason: &str| TargetError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(err("empty address (expected host:port)"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("contains whitespace"));
        }
        if input.starts_with("unix-abstract:") || input.starts_with("vsock:") {
            return Err(err(
                "abstract unix sockets and vsock are not supported (use unix:/path)",
            ));
        }
        if let Some(rest) = input.strip_prefix("unix:") {
            let path = match rest.strip_prefix("//") {
                // unix:///abs has an empty authority; grpc-go rejects any other.
                Some(after) if after.starts_with('/') => after,
                Some(_) => {
                    return Err(err(
                        "unix:// needs an absolute path (unix:///path) or use unix:path",
                    ));
                }
                None => rest,
            };
            if path.is_empty() {
                return Err(err("missing socket path after unix:"));
            }
            return Ok((
                Target::Unix {
                    path: PathBuf::from(path),
                },
                SchemeSecurity::Unspecified,
            ));
        }
        let (rest, default_port, security) = if let Some(rest) = input.strip_prefix("https://") {
            (
                trim_url_path(rest).map_err(err)?,
                Some(443),
                SchemeSecurity::Tls,
            )
        } else if let Some(rest) = input.strip_prefix("http://") {
            (
                trim_url_path(rest).map_err(err)?,
                Some(80),
                SchemeSecurity::Plaintext,
            )
        } else if let Some(rest) = strip_resolver_scheme(input, "dns")
            .or_else(|| strip_resolver_scheme(input, "passthrough"))
        {
            (rest.map_err(err)?, None, SchemeSecurity::Unspecified)
        } else if let Some((scheme, _)) = input.split_once("://") {
            return Err(err(&format!(
                "unsupported scheme \"{scheme}\" (use host:port, dns:///, unix:, http:// or https://)"
            )));
        } else {
            (input, None, SchemeSecurity::Unspecified)
        };
        let (host, port) = split_host_port(rest, default_port).map_err(|r| err(&r))?;
        Ok((Target::Tcp { host, port }, security))
    }

    /// The `:authority` grpc-go sends for this target: `host:port` (with
    /// brackets for IPv6, without an IPv6 zone, which only means something
    /// on this host), and `localhost` for unix sockets.
    pub fn default_authority(&self) -> String {
        match self {
            Target::Tcp { host, port } => {
                let host = host.split_once('%').map_or(host.as_str(), |(ip, _)| ip);
                format!("{}:{port}", bracket_if_v6(host))
            }
            Target::Unix { .. } => "localhost".to_owned(),
        }
    }
}

impl Target {
    /// True for unix sockets, `localhost` and loopback IPs: targets grpc-go
    /// never sends through a proxy.
    pub fn is_local(&self) -> bool {
        match self {
            Target::Unix { .. } => true,
            Target::Tcp { host, .. } => {
                let host = host.split_once('%').map_or(host.as_str(), |(ip, _)| ip);
                host.eq_ignore_ascii_case("localhost")
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }

    /// The proxy variable (`HTTPS_PROXY` or `https_proxy`) that grpc-go
    /// would have honoured for this target and we ignore, so `-v` output
    /// can say so. `None` for local targets, which grpc-go never proxies.
    /// `NO_PROXY` is not consulted: this is a hint, not a decision.
    pub fn ignored_proxy_env(&self) -> Option<&'static str> {
        if self.is_local() {
            return None;
        }
        ["HTTPS_PROXY", "https_proxy"]
            .into_iter()
            .find(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp { host, port } => write!(f, "{}:{port}", bracket_if_v6(host)),
            Target::Unix { path } => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `[::1]` for an IPv6 literal, the host unchanged otherwise.
pub(crate) fn bracket_if_v6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `dns:///x` and `dns:x` → `x`; a DNS server authority (`dns://8.8.8.8/x`)
/// is refused because we resolve with the system resolver.
fn strip_resolver_scheme<'a>(
    input: &'a str,
    scheme: &str,
) -> Option<Result<&'a str, &'static str>> {
    let rest = input.strip_prefix(scheme)?.strip_prefix(':')?;
    Some(match rest.strip_prefix("//") {
        Some(after) => match after.strip_prefix('/') {
            Some(endpoint) => Ok(endpoint),
            None => Err(
                "a resolver authority (dns://server/host:port) is not supported; use dns:///host:port",
            ),
        },
        None => Ok(rest),
    })
}

/// `host:port/` → `host:port`; anything after the slash is an HTTP path,
/// which a gRPC target cannot carry.
fn trim_url_path(rest: &str) -> Result<&str, &'static str> {
    match rest.split_once('/') {
        None => Ok(rest),
        Some((authority, "")) => Ok(authority),
        Some(_) => Err("a gRPC address cannot have a path"),
    }
}

fn split_host_port(hostport: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("missing ']' after the IPv6 address".to_owned());
        };
        // A link-local address needs its zone (`fe80::1%eth0`), as Go
        // accepts it; the system resolver turns the zone into a scope id.
        // In a URL the zone's `%` is itself escaped (`[fe80::1%25eth0]`,
        // RFC 6874), and grpc-go unescapes the host: `%25lo` is zone `lo`.
        // A bare `%25` stays the interface index 25.
        let (ip, zone) = match host.split_once('%') {
            Some((ip, zone)) => (ip, Some(zone)),
            None => (host, None),
        };
        let escaped = zone.is_some_and(|z| z.len() > 2 && z.starts_with("25"));
        let zone = zone.map(|z| if escaped { &z[2..] } else { z });
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("\"{ip}\" is not an IPv6 address"));
        }
        if let Some(zone) = zone {
            let name_like = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if zone.is_empty() || !zone.chars().all(name_like) {
                return Err(format!(
                    "\"{zone}\" is not a zone (an interface name or index, e.g. [fe80::1%eth0])"
                ));
            }
        }
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err("unexpected text after ']' (expected :port)".to_owned()),
        };
        let mut host = host.to_owned();
        if escaped {
            // `%25` → `%`: the `2` and `5` after the `%`.
            host.remove(ip.len() + 1);
            host.remove(ip.len() + 1);
        }
        (host, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err("IPv6 addresses need brackets, e.g. [::1]:50051".to_owned());
            }
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (hostport.to_owned(), None),
        }
    };
    let port = match (port, default_port) {
        (Some(port), _) => parse_port(port)?,
        (None, Some(default)) => default,
        (None, None) => return Err("missing port (expected host:port)".to_owned()),
    };
    let host = if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    };
    if host.contains(['/', '@', '[', ']', '?', '#']) {
        return Err(format!("\"{host}\" is not a host name"));
    }
    Ok((host, port))
}

fn parse_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 is not a port a server listens on".to_owned()),
        Ok(number) if !port.starts_with('+') => Ok(number),
        _ if port.is_empty() => Err("missing port after ':'".to_owned()),
        _ => Err(format!("\"{port}\" is not a port number (1-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed_in_display_and_authority() {
        let t = Target::Tcp {
            host: "::1".into(),
            port: 5,
        };
        assert_eq!(t.to_string(), "[::1]:5");
        assert_eq!(t.default_authority(), "[::1]:5");
    }

    #[test]
    fn ipv6_zones_are_accepted_and_left_out_of_the_authority() {
        let t = Target::parse("[fe80::1%eth0]:50051").expect("a zone id");
        assert_eq!(
            t,
            Target::Tcp {
                host: "fe80::1%eth0".into(),
                port: 50051
            }
        );
        assert_eq!(t.to_string(), "[fe80::1%eth0]:50051");
        assert_eq!(t.default_authority(), "[fe80::1]:50051");
        assert!(Target::parse("[::1%lo]:1").expect("lo").is_local());
        assert!(Target::parse("[fe80::1%25]:1").is_ok());
        // Issue 18 item 3: the URL escape of the zone's `%`, as grpc-go
        // unescapes it.
        for (input, host) in [
            ("[::1%25lo]:50051", "::1%lo"),
            ("[fe80::1%25eth0]:50051", "fe80::1%eth0"),
            ("dns:///[fe80::1%25eth0]:50051", "fe80::1%eth0"),
            ("http://[fe80::1%25eth0]", "fe80::1%eth0"),
            ("[fe80::1%25]:50051", "fe80::1%25"),
        ] {
            let Ok(Target::Tcp { host: got, .. }) = Target::parse(input) else {
                panic!("{input} does not parse");
            };
            assert_eq!(got, host, "{input}");
        }
        assert_eq!(
            Target::parse("[::1%25lo]:5")
                .expect("zone")
                .default_authority(),
            "[::1]:5"
        );
        for bad in ["[fe80::1%]:1", "[fe80::1%a/b]:1", "[nothex%eth0]:1"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_and_unix_targets_are_local() {
        let tcp = |host: &str| Target::Tcp {
            host: host.into(),
            port: 1,
        };
        assert!(tcp("localhost").is_local());
        assert!(tcp("127.0.0.2").is_local());
        assert!(tcp("::1").is_local());
        assert!(Target::Unix { path: "s".into() }.is_local());
        assert!(!tcp("10.0.0.1").is_local());
        assert!(!tcp("example.com").is_local());
        assert_eq!(tcp("::1").ignored_proxy_env(), None);
    }
}
