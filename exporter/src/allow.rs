//! The target allow-list (our extension, top-level `allowed_targets` in the
//! config file): without one the exporter reaches any target it is asked
//! for, as blackbox_exporter does; with one, a probe must match an entry.
//!
//! Entries are CIDRs (`10.0.0.0/8`, `fd00::/8`), matched against the
//! address actually dialed after resolution, so a DNS name cannot smuggle a
//! forbidden address in; host patterns (`*.svc.cluster.local`,
//! `api.example.com`), matched against the name as written; and unix socket
//! paths (`unix:/run/grpc/*.sock`). `*` matches any run of characters.

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
                Entry::Host(item.to_ascii_lowercase())
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
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|entry| match entry {
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
        let path = path.to_string_lossy();
        self.entries.iter().any(|entry| match entry {
            Entry::Unix(pattern) => glob(pattern, &path),
            _ => false,
        })
    }
}

fn in_cidr(addr: IpAddr, net: IpAddr, prefix: u8) -> bool {
    // An IPv4-mapped v6 address is its v4 address for matching.
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
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
