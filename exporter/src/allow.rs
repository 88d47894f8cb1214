//! The target allow-list (our extension, top-level `allowed_targets` in the
//! config file): without one the exporter reaches any target it is asked
//! for, as blackbox_exporter does; with one, a probe must match an entry.
//!
//! Entries are CIDRs (`10.0.0.0/8`, `fd00::/8`), matched against the
//! address actually dialed after resolution, so a DNS name cannot smuggle a
//! forbidden address in; host patterns (`*.svc.cluster.local`,
//! `api.example.com`), matched against the name as written; and unix socket
//! paths (`unix:/run/grpc/*.sock`). `*` matches any run of characters.
//!
//! Every spelling of one address must get one answer, so both sides are
//! put in one form before matching: names lower case without the root's
//! trailing dot; an IPv4-mapped IPv6 address (entry or target) as its IPv4
//! address; a pattern made only of digits, dots and `*` (`10.0.*`, an
//! address glob) matched against the address dialed, never the name as
//! written (else `10.0.0.1.attacker.example` would pass it, and `0xa.1`,
//! which the resolver reads as 10.0.0.1, would not); and a socket path
//! with a `..` component refused outright (`/run/grpc/../x.sock` would
//! match `/run/grpc/*.sock`).

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Cidr { net: IpAddr, prefix: u8 },
    Host(String),
    Unix(String),
}

/// A parsed allow-list; empty allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
    source: Vec<String>,
}

impl Serialize for AllowList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl AllowList {
    /// Parses the entries as written in the config.
    pub fn parse(items: &[String]) -> Result<AllowList, String> {
        let mut entries = Vec::new();
        for item in items {
            let entry = if let Some(path) = item.strip_prefix("unix:") {
                Entry::Unix(path.to_owned())
            } else if let Some((net, prefix)) = item.split_once('/') {
                let net: IpAddr = net
                    .parse()
                    .map_err(|_| format!("allowed_targets: \"{item}\" is not a CIDR"))?;
                let max = if net.is_ipv4() { 32 } else { 128 };
                let prefix: u8 =
                    prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
                        format!("allowed_targets: bad prefix length in \"{item}\"")
                    })?;
                Entry::Cidr { net, prefix }
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                let prefix = if ip.is_ipv4() { 32 } else { 128 };
                Entry::Cidr { net: ip, prefix }
            } else if item.is_empty() {
                return Err("allowed_targets: empty entry".to_owned());
            } else {
                Entry::Host(name_form(item))
            };
            let entry = match entry {
                // `::ffff:10.0.0.0/104` is `10.0.0.0/8`: targets are
                // matched in their IPv4 form.
                Entry::Cidr {
                    net: IpAddr::V6(v6),
                    prefix,
                } if prefix >= 96 && v6.to_ipv4_mapped().is_some() => Entry::Cidr {
                    net: IpAddr::V4(
                        v6.to_ipv4_mapped()
                            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                    ),
                    prefix: prefix - 96,
                },
                entry => entry,
            };
            entries.push(entry);
        }
        Ok(AllowList {
            entries,
            source: items.to_vec(),
        })
    }

    /// True when no list is configured (everything is allowed).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a TCP target may be dialed: its host matches a host
    /// pattern, or the address to dial is inside a CIDR.
    pub fn allows_tcp(&self, host: &str, addr: Option<IpAddr>) -> bool {
        if self.is_empty() {
            return true;
        }
        let host = name_form(host);
        let addr = addr.map(v4_form);
        let dialed = addr.map(|a| a.to_string());
        self.entries.iter().any(|entry| match entry {
            Entry::Host(pattern) if is_address_glob(pattern) => {
                dialed.as_deref().is_some_and(|text| glob(pattern, text))
            }
            Entry::Host(pattern) => glob(pattern, &host),
            Entry::Cidr { net, prefix } => addr.is_some_and(|a| in_cidr(a, *net, *prefix)),
            Entry::Unix(_) => false,
        })
    }

    /// Whether a unix socket may be dialed.
    pub fn allows_unix(&self, path: &Path) -> bool {
        if self.is_empty() {
            return true;
        }
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return false;
        }
        let path = path.to_string_lossy();
        self.entries.iter().any(|entry| match entry {
            Entry::Unix(pattern) => glob(pattern, &path),
            _ => false,
        })
    }
}

/// A name as matched: lower case, without the trailing dot of a fully
/// qualified name (`API.Example.com.` is `api.example.com`).
fn name_form(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_ascii_lowercase()
}

/// An IPv4-mapped IPv6 address is its IPv4 address for matching.
fn v4_form(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// `10.0.*`, `192.168.1.*`: a pattern over addresses, not names.
fn is_address_glob(pattern: &str) -> bool {
    pattern.contains('*')
        && pattern
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '*'))
}

fn in_cidr(addr: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let addr = v4_form(addr);
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `*` matches any run of characters (including none); nothing else is special.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> AllowList {
        AllowList::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parse")
    }

    #[test]
    fn cidrs_hosts_and_paths() {
        let l = list(&[
            "10.0.0.0/8",
            "*.svc.cluster.local",
            "unix:/run/*.sock",
            "::1",
        ]);
        assert!(l.allows_tcp("x", Some("10.1.2.3".parse().expect("ip"))));
        assert!(!l.allows_tcp("x", Some("11.1.2.3".parse().expect("ip"))));
        assert!(l.allows_tcp("a.b.svc.cluster.local", None));
        assert!(!l.allows_tcp("svc.cluster.local.evil", None));
        assert!(l.allows_tcp("y", Some("::1".parse().expect("ip"))));
        assert!(l.allows_tcp("y", Some("::ffff:10.0.0.1".parse().expect("ip"))));
        assert!(l.allows_unix(Path::new("/run/app.sock")));
        assert!(!l.allows_unix(Path::new("/tmp/app.sock")));
        assert!(list(&[]).allows_tcp("anything", None));
    }

    /// Issue 18 item 4: one address, every spelling, one answer.
    #[test]
    fn every_spelling_of_an_address_gets_one_answer() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        let l = list(&["api.example.com", "10.0.*", "::ffff:192.168.0.0/112"]);
        // Names: case and the root's trailing dot.
        for host in ["api.example.com", "API.Example.COM", "api.example.com."] {
            assert!(l.allows_tcp(host, ip("203.0.113.1")), "{host}");
        }
        assert!(!l.allows_tcp("api.example.com.evil", ip("203.0.113.1")));
        // An address glob is matched against the address dialed: a name
        // that looks like it is not let through, and any spelling the
        // resolver reads as an address inside is.
        assert!(!l.allows_tcp("10.0.0.1.attacker.example", ip("169.254.169.254")));
        assert!(l.allows_tcp("0xa.0.0.1", ip("10.0.0.1")));
        assert!(l.allows_tcp("[::ffff:10.0.3.4]", ip("::ffff:10.0.3.4")));
        assert!(!l.allows_tcp("10.0.0.1", ip("11.0.0.1")));
        // A mapped entry covers the IPv4 address and its mapped form.
        assert!(l.allows_tcp("x", ip("192.168.3.4")));
        assert!(l.allows_tcp("x", ip("::ffff:192.168.3.4")));
        assert!(!l.allows_tcp("x", ip("192.169.0.1")));
        // `..` cannot climb out of an allowed directory.
        let u = list(&["unix:/run/grpc/*.sock"]);
        assert!(u.allows_unix(Path::new("/run/grpc/app.sock")));
        assert!(!u.allows_unix(Path::new("/run/grpc/../secret/app.sock")));
        assert!(!u.allows_unix(Path::new("/run/grpc/x/../../etc/app.sock")));
    }

    #[test]
    fn bad_entries() {
        assert!(AllowList::parse(&["10.0.0.0/33".to_owned()]).is_err());
        assert!(AllowList::parse(&["nonsense/8".to_owned()]).is_err());
        assert!(AllowList::parse(&[String::new()]).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abc"));
        assert!(glob("a*c", "ac"));
        assert!(!glob("a*c", "ab"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "a1b2c"));
    }
}
