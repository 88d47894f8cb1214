//! Turning raw Channelz fields into what an operator reads: "never" for
//! unset times, relative ages, addresses, decoded `TCP_INFO` and socket
//! options, certificate subjects, SANs and expiry, and a severity guess for
//! `CT_UNKNOWN` trace events.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grpc_toolkit_proto::channelz::v1::{
    Address, SocketOption, SocketOptionLinger, SocketOptionTcpInfo, SocketOptionTimeout, address,
    channel_connectivity_state::State, channel_trace_event::Severity,
};
use prost::Message;

/// A protobuf timestamp as a `SystemTime`; `None` for "never": absent, or at
/// or before the Unix epoch (grpc-go and grpc-java send epoch 0, grpc-go
/// also 0001-01-01).
pub fn time_of(ts: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    let ts = ts?;
    if ts.seconds < 0 || (ts.seconds == 0 && ts.nanos <= 0) {
        return None;
    }
    let nanos = u32::try_from(ts.nanos.clamp(0, 999_999_999)).unwrap_or(0);
    UNIX_EPOCH.checked_add(Duration::new(u64::try_from(ts.seconds).ok()?, nanos))
}

/// "3s ago", "5m ago", "in 2h" or "never", relative to `now`.
pub fn ago(ts: Option<&prost_types::Timestamp>, now: SystemTime) -> String {
    match time_of(ts) {
        None => "never".to_string(),
        Some(t) => relative(t, now),
    }
}

/// A time relative to `now`, in the largest whole unit.
pub fn relative(t: SystemTime, now: SystemTime) -> String {
    match now.duration_since(t) {
        Ok(d) => format!("{} ago", short_duration(d)),
        Err(e) => format!("in {}", short_duration(e.duration())),
    }
}

/// "850ms", "12s", "5m", "3h", "2d".
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        format!("{}ms", d.as_millis())
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// The connectivity state name, e.g. `READY`.
pub fn state_name(state: i32) -> &'static str {
    State::try_from(state).map_or("UNKNOWN", |s| s.as_str_name())
}

/// The trace severity an event should be coloured with. Newer C-core builds
/// send every event as `CT_UNKNOWN`, so for those the description decides.
pub fn effective_severity(severity: i32, description: &str) -> Severity {
    match Severity::try_from(severity) {
        Ok(Severity::CtUnknown) | Err(_) => {
            let d = description.to_lowercase();
            if [
                "fail",
                "error",
                "transient_failure",
                "unavailable",
                "refused",
                "reset",
            ]
            .iter()
            .any(|k| d.contains(k))
            {
                Severity::CtError
            } else if ["warn", "shutdown", "idle", "goaway", "backoff", "retry"]
                .iter()
                .any(|k| d.contains(k))
            {
                Severity::CtWarning
            } else {
                Severity::CtUnknown
            }
        }
        Ok(s) => s,
    }
}

/// An address as `ip:port`, `[v6]:port`, `unix:path` or the other name.
pub fn address(a: Option<&Address>) -> String {
    match a.and_then(|a| a.address.as_ref()) {
        None => String::new(),
        Some(address::Address::TcpipAddress(t)) => {
            let ip = match t.ip_address.len() {
                4 => <[u8; 4]>::try_from(t.ip_address.as_slice())
                    .ok()
                    .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                16 => <[u8; 16]>::try_from(t.ip_address.as_slice())
                    .ok()
                    .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
                _ => None,
            };
            match ip {
                Some(IpAddr::V6(v6)) => format!("[{v6}]:{}", t.port),
                Some(ip) => format!("{ip}:{}", t.port),
                None if t.ip_address.is_empty() => format!("*:{}", t.port),
                None => format!("<{} address bytes>:{}", t.ip_address.len(), t.port),
            }
        }
        Some(address::Address::UdsAddress(u)) => format!("unix:{}", u.filename),
        Some(address::Address::OtherAddress(o)) => o.name.clone(),
    }
}

/// `TCP_INFO` decoded from a socket option, when the option carries it.
pub fn tcp_info(option: &SocketOption) -> Option<SocketOptionTcpInfo> {
    let any = option.additional.as_ref()?;
    if !any
        .type_url
        .ends_with("grpc.channelz.v1.SocketOptionTcpInfo")
    {
        return None;
    }
    SocketOptionTcpInfo::decode(any.value.as_slice()).ok()
}

/// The TCP_INFO fields an operator looks at, as one line.
pub fn tcp_info_summary(t: &SocketOptionTcpInfo) -> String {
    format!(
        "rtt {:.1}ms ±{:.1}ms, cwnd {}, retransmits {} (total {}), lost {}, unacked {}, mss {}, pmtu {}, rto {}ms",
        f64::from(t.tcpi_rtt) / 1000.0,
        f64::from(t.tcpi_rttvar) / 1000.0,
        t.tcpi_snd_cwnd,
        t.tcpi_retransmits,
        t.tcpi_retrans,
        t.tcpi_lost,
        t.tcpi_unacked,
        t.tcpi_snd_mss,
        t.tcpi_pmtu,
        t.tcpi_rto / 1000,
    )
}

/// A socket option's value: the readable `value`, or what `additional`
/// decodes to (timeouts, linger, TCP_INFO), or the Any's type.
pub fn option_value(option: &SocketOption) -> String {
    if let Some(t) = tcp_info(option) {
        return tcp_info_summary(&t);
    }
    let mut parts = Vec::new();
    if !option.value.is_empty() {
        parts.push(option.value.clone());
    }
    if let Some(any) = &option.additional {
        if any
            .type_url
            .ends_with("grpc.channelz.v1.SocketOptionTimeout")
        {
            if let Ok(t) = SocketOptionTimeout::decode(any.value.as_slice()) {
                parts.push(format!("timeout {}", proto_duration(t.duration.as_ref())));
            }
        } else if any
            .type_url
            .ends_with("grpc.channelz.v1.SocketOptionLinger")
        {
            if let Ok(l) = SocketOptionLinger::decode(any.value.as_slice()) {
                parts.push(format!(
                    "linger {} {}",
                    if l.active { "on" } else { "off" },
                    proto_duration(l.duration.as_ref())
                ));
            }
        } else {
            parts.push(format!("({})", any.type_url));
        }
    }
    parts.join(" ")
}

fn proto_duration(d: Option<&prost_types::Duration>) -> String {
    match d {
        None => "unset".to_string(),
        Some(d) => {
            let ms = d
                .seconds
                .saturating_mul(1000)
                .saturating_add(i64::from(d.nanos) / 1_000_000);
            format!("{ms}ms")
        }
    }
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject distinguished name.
    pub subject: String,
    /// The issuer distinguished name.
    pub issuer: String,
    /// DNS names, IPs and URIs from subjectAltName.
    pub sans: Vec<String>,
    /// notAfter.
    pub not_after: SystemTime,
}

/// Parses one DER certificate; `Err` says why it is not one.
pub fn certificate(der: &[u8]) -> Result<CertSummary, String> {
    use x509_parser::prelude::*;
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .ok()
                            .map(|a| IpAddr::from(a).to_string()),
                        16 => <[u8; 16]>::try_from(*b)
                            .ok()
                            .map(|a| IpAddr::from(a).to_string()),
                        _ => None,
                    };
                    sans.push(format!("IP:{}", ip.unwrap_or_else(|| "?".into())));
                }
                GeneralName::RFC822Name(e) => sans.push(format!("email:{e}")),
                other => sans.push(other.to_string()),
            }
        }
    }
    let secs = cert.validity().not_after.timestamp();
    let not_after = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH
    };
    Ok(CertSummary {
        subject: grpc_toolkit_conn::escape::escape(&cert.subject().to_string()).into_owned(),
        issuer: grpc_toolkit_conn::escape::escape(&cert.issuer().to_string()).into_owned(),
        sans,
        not_after,
    })
}

/// RFC 3339 UTC rendering of a time, second precision.
pub fn rfc3339(t: SystemTime) -> String {
    grpc_toolkit_conn::rfc3339_utc(t.duration_since(UNIX_EPOCH).unwrap_or_default(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_zero_and_year_one_are_never() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            ago(
                Some(&prost_types::Timestamp {
                    seconds: 0,
                    nanos: 0
                }),
                now
            ),
            "never"
        );
        // grpc-go's zero time.Time: 0001-01-01T00:00:00Z.
        let year_one = prost_types::Timestamp {
            seconds: -62_135_596_800,
            nanos: 0,
        };
        assert_eq!(ago(Some(&year_one), now), "never");
        assert_eq!(ago(None, now), "never");
        let recent = prost_types::Timestamp {
            seconds: 999_990,
            nanos: 0,
        };
        assert_eq!(ago(Some(&recent), now), "10s ago");
    }

    #[test]
    fn unknown_severity_is_guessed_from_keywords() {
        assert_eq!(
            effective_severity(0, "Subchannel connection failed"),
            Severity::CtError
        );
        assert_eq!(
            effective_severity(0, "Channel switched to IDLE"),
            Severity::CtWarning
        );
        assert_eq!(
            effective_severity(0, "Channel created"),
            Severity::CtUnknown
        );
        assert_eq!(effective_severity(1, "connection failed"), Severity::CtInfo);
    }

    #[test]
    fn addresses_render_like_an_operator_writes_them() {
        let v4 = Address {
            address: Some(address::Address::TcpipAddress(address::TcpIpAddress {
                ip_address: vec![127, 0, 0, 1],
                port: 50051,
            })),
        };
        assert_eq!(address(Some(&v4)), "127.0.0.1:50051");
        let mut v6 = vec![0; 16];
        v6[15] = 1;
        let v6 = Address {
            address: Some(address::Address::TcpipAddress(address::TcpIpAddress {
                ip_address: v6,
                port: 443,
            })),
        };
        assert_eq!(address(Some(&v6)), "[::1]:443");
        assert_eq!(address(None), "");
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn tcp_info_is_decoded_from_the_any() {
        let info = SocketOptionTcpInfo {
            tcpi_rtt: 1500,
            tcpi_snd_cwnd: 10,
            tcpi_retransmits: 2,
            ..Default::default()
        };
        let option = SocketOption {
            name: "TCP_INFO".into(),
            value: String::new(),
            additional: Some(prost_types::Any {
                type_url: "type.googleapis.com/grpc.channelz.v1.SocketOptionTcpInfo".into(),
                value: info.encode_to_vec(),
            }),
        };
        let text = option_value(&option);
        assert!(text.starts_with("rtt 1.5ms"), "{text}");
        assert!(text.contains("cwnd 10"), "{text}");
        assert!(text.contains("retransmits 2"), "{text}");
    }

    #[test]
    fn certificates_show_subject_sans_and_expiry() {
        let c = certificate(&crate::fixtures::certificate()).expect("parses");
        assert!(c.subject.contains("rcgen"), "{}", c.subject);
        assert_eq!(
            c.sans,
            vec!["DNS:localhost".to_string(), "IP:127.0.0.1".to_string()]
        );
        assert_eq!(rfc3339(c.not_after), "4096-01-01T00:00:00Z");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(certificate(b"nope").is_err());
    }
}
