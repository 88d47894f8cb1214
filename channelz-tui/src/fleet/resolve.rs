//! From the command line's names to members: without `--fleet` each ADDR
//! is one member; with it, each TCP name becomes one member per address it
//! resolves to.
//!
//! Resolution goes through a [`Resolver`] so that tests can make a name
//! answer with several loopback addresses, and change the answer between
//! intervals, without editing `/etc/hosts`; the default asks the system
//! (tokio's `lookup_host`), as the one-target dashboard's dial does.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use grpc_toolkit_conn::{ConnectOptions, Target};

use super::{FleetName, MAX_MEMBERS_PER_NAME};

/// The future of one lookup.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// A lookup function: `(host, port)` to IPs.
type LookupFn = dyn Fn(&str, u16) -> Lookup + Send + Sync;

/// How a host name becomes addresses: `(host, port)` to IPs.
#[derive(Clone)]
pub struct Resolver(Arc<LookupFn>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::system()
    }
}

impl Resolver {
    /// The system's resolver (`getaddrinfo`, through tokio).
    pub fn system() -> Self {
        Resolver::new(|host, port| {
            let host = host.to_owned();
            Box::pin(async move {
                let addrs = tokio::net::lookup_host((host.as_str(), port)).await?;
                // Bounded here too: the system may answer with anything.
                Ok(addrs
                    .take(MAX_MEMBERS_PER_NAME + 1)
                    .map(|a| a.ip())
                    .collect())
            })
        })
    }

    /// A resolver from a function (tests: fixed or changing answers).
    pub fn new(f: impl Fn(&str, u16) -> Lookup + Send + Sync + 'static) -> Self {
        Resolver(Arc::new(f))
    }

    /// Looks `host` up.
    pub fn lookup(&self, host: &str, port: u16) -> Lookup {
        (self.0)(host, port)
    }
}

/// One member: a server process to poll. Two members are the same when
/// they have the same address from the same name.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its address (`10.0.0.7:50051`, `[fd00::7]:50051`), or the ADDR
    /// itself when it is not resolved: what identifies it on screen and in
    /// JSON (`"member"`).
    pub address: String,
    /// The ADDR it came from (`"name"`).
    pub name: String,
    /// How to dial it: the name's options with the target swapped for the
    /// address, the authority (hence SNI and certificate name) kept.
    pub options: ConnectOptions,
}

/// What resolving one name gave.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The ADDR.
    pub name: String,
    /// Its members, in address order; empty on failure.
    pub members: Vec<Member>,
    /// Why there are none (lookup failed, no addresses), or a note (cut at
    /// [`MAX_MEMBERS_PER_NAME`]).
    pub problem: Option<String>,
    /// The lookup itself failed (error or timeout), as opposed to
    /// answering with no addresses.
    pub lookup_failed: bool,
}

/// Resolves every name (all at once; each bounded by `timeout`).
pub async fn resolve_all(
    names: &[FleetName],
    resolve: bool,
    resolver: &Resolver,
    timeout: Duration,
) -> Vec<Resolution> {
    let lookups = names
        .iter()
        .map(|n| resolve_one(n, resolve, resolver, timeout));
    futures_util::future::join_all(lookups).await
}

async fn resolve_one(
    name: &FleetName,
    resolve: bool,
    resolver: &Resolver,
    timeout: Duration,
) -> Resolution {
    let whole = |problem| Resolution {
        name: name.name.clone(),
        members: vec![Member {
            address: name.name.clone(),
            name: name.name.clone(),
            options: name.options.clone(),
        }],
        problem,
        lookup_failed: false,
    };
    let Target::Tcp { host, port } = &name.options.target else {
        // A unix socket is one process.
        return whole(None);
    };
    if !resolve || host.parse::<IpAddr>().is_ok() {
        return whole(None);
    }
    let looked_up = tokio::time::timeout(timeout, resolver.lookup(host, *port)).await;
    let failed = |problem: String, lookup_failed| Resolution {
        name: name.name.clone(),
        members: Vec::new(),
        problem: Some(problem),
        lookup_failed,
    };
    let ips = match looked_up {
        Err(_) => {
            return failed(
                format!("cannot resolve {host}: no answer within {timeout:?}"),
                true,
            );
        }
        Ok(Err(e)) => return failed(format!("cannot resolve {host}: {e}"), true),
        Ok(Ok(ips)) => ips,
    };
    let mut unique: BTreeSet<IpAddr> = BTreeSet::new();
    let mut cut = false;
    for ip in ips {
        if unique.len() == MAX_MEMBERS_PER_NAME && !unique.contains(&ip) {
            cut = true;
            break;
        }
        unique.insert(ip);
    }
    if unique.is_empty() {
        return failed(format!("{host} resolves to no addresses"), false);
    }
    let members = unique
        .into_iter()
        .map(|ip| {
            let target = Target::Tcp {
                host: ip.to_string(),
                port: *port,
            };
            let address = target.default_authority();
            let mut options = name.options.clone();
            options.target = target;
            Member {
                address,
                name: name.name.clone(),
                options,
            }
        })
        .collect();
    Resolution {
        name: name.name.clone(),
        members,
        problem: cut.then(|| {
            format!("{host} resolves to more than {MAX_MEMBERS_PER_NAME} addresses; the rest are not watched")
        }),
        lookup_failed: false,
    }
}

/// The members to watch after a resolution, and each name's problem.
/// A name whose lookup failed keeps the members it had: a DNS hiccup is
/// not every pod gone. A name that resolved to no addresses has none.
pub fn merge(
    resolutions: Vec<Resolution>,
    previous: &[Member],
) -> (Vec<Member>, Vec<(String, String)>) {
    let mut members = Vec::new();
    let mut problems = Vec::new();
    for r in resolutions {
        if r.lookup_failed {
            members.extend(previous.iter().filter(|m| m.name == r.name).cloned());
        }
        members.extend(r.members);
        if let Some(p) = r.problem {
            problems.push((r.name, p));
        }
    }
    (members, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(addr: &str) -> FleetName {
        let target = Target::parse(addr).expect("parses");
        FleetName {
            name: addr.into(),
            options: ConnectOptions::plaintext(target, "test"),
        }
    }

    fn fixed(ips: &'static [&'static str]) -> Resolver {
        Resolver::new(move |_, _| {
            let ips = ips.iter().map(|ip| ip.parse().expect("ip")).collect();
            Box::pin(async move { Ok(ips) })
        })
    }

    #[tokio::test]
    async fn a_name_becomes_one_member_per_address_keeping_its_authority() {
        let names = [name("dns:///app.ns.svc:50051")];
        let r = resolve_all(
            &names,
            true,
            &fixed(&["127.0.0.2", "127.0.0.1", "127.0.0.2", "::1"]),
            Duration::from_secs(1),
        )
        .await;
        let addrs: Vec<&str> = r[0].members.iter().map(|m| m.address.as_str()).collect();
        assert_eq!(addrs, ["127.0.0.1:50051", "127.0.0.2:50051", "[::1]:50051"]);
        for m in &r[0].members {
            assert_eq!(m.options.authority, "app.ns.svc:50051");
            assert_eq!(m.name, "dns:///app.ns.svc:50051");
        }
        assert!(r[0].problem.is_none());
    }

    #[tokio::test]
    async fn without_fleet_or_for_an_ip_the_addr_is_the_member() {
        let names = [name("app:1"), name("127.0.0.1:2"), name("unix:/tmp/s")];
        let r = resolve_all(&names, false, &fixed(&["10.0.0.1"]), Duration::from_secs(1)).await;
        let addrs: Vec<&str> = r.iter().map(|r| r.members[0].address.as_str()).collect();
        assert_eq!(addrs, ["app:1", "127.0.0.1:2", "unix:/tmp/s"]);
        let r = resolve_all(&names[1..], true, &fixed(&[]), Duration::from_secs(1)).await;
        assert_eq!(r[0].members[0].address, "127.0.0.1:2");
    }

    #[tokio::test]
    async fn failures_and_huge_answers_are_said_and_bounded() {
        let names = [name("app:1")];
        let r = resolve_all(&names, true, &fixed(&[]), Duration::from_secs(1)).await;
        assert!(r[0].members.is_empty());
        assert!(
            r[0].problem
                .as_deref()
                .unwrap_or("")
                .contains("no addresses")
        );
        let many = Resolver::new(|_, _| {
            let ips = (0..5_000u32)
                .map(|i| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)))
                .collect();
            Box::pin(async move { Ok(ips) })
        });
        let r = resolve_all(&names, true, &many, Duration::from_secs(1)).await;
        assert_eq!(r[0].members.len(), MAX_MEMBERS_PER_NAME);
        assert!(
            r[0].problem
                .as_deref()
                .unwrap_or("")
                .contains("more than 1000")
        );
        let hung = Resolver::new(|_, _| Box::pin(std::future::pending()));
        let r = resolve_all(&names, true, &hung, Duration::from_millis(50)).await;
        assert!(r[0].problem.as_deref().unwrap_or("").contains("no answer"));
    }
}
