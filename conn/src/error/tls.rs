//! TLS failures in words: rustls reports many of them as a `Debug` dump
//! (`InvalidCertificate(Other(OtherError(CaUsedAsEndEntity)))`); these
//! turn each into the [`ConnectError`] a caller matches on, with a line an
//! operator understands (an expired certificate gives its dates, a name
//! mismatch lists the names the certificate covers), and decide when a
//! reset after the handshake is really a rejected client certificate.

use std::io;

use rustls::CertificateError;
use rustls::pki_types::ServerName;

use super::der::algorithm_name;
use super::{ConnectError, io_text};

/// The server's certificate failed verification: a name mismatch, or a
/// chain we do not trust, with the reason in words. rustls's own text for
/// most of these is a `Debug` dump (`Other(OtherError(CaUsedAsEndEntity))`),
/// which tells an operator nothing.
pub(crate) fn certificate_error(err: &CertificateError, name: &ServerName<'_>) -> ConnectError {
    use CertificateError as C;
    match err {
        C::NotValidForNameContext { presented, .. } => ConnectError::TlsNameMismatch {
            name: name.to_str().into_owned(),
            detail: valid_for(presented),
        },
        C::NotValidForName => ConnectError::TlsNameMismatch {
            name: name.to_str().into_owned(),
            detail: "the certificate does not name it".to_owned(),
        },
        other => ConnectError::TlsUntrusted {
            detail: untrusted_reason(other),
        },
    }
}

/// "certificate is only valid for localhost, 127.0.0.1 or ::1". webpki
/// lists the names as `Debug` (`DnsName("localhost")`, `IpAddress(::1)`);
/// an operator wants the names.
fn valid_for(presented: &[String]) -> String {
    let names: Vec<String> = presented.iter().filter_map(|n| host_name(n)).collect();
    match names.as_slice() {
        [] => "the certificate names no hosts in its subjectAltName".to_owned(),
        [one] => format!("certificate is only valid for {one}"),
        [all_but_last @ .., last] => format!(
            "certificate is only valid for {} or {last}",
            all_but_last.join(", ")
        ),
    }
}

/// `DnsName("localhost")` → `localhost`, `IpAddress(0::1)` → `::1` (webpki
/// does not shorten IPv6 addresses); names that cannot match a host (a
/// directory name, an email address) → `None`.
fn host_name(debug: &str) -> Option<String> {
    if let Some(ip) = debug
        .strip_prefix("IpAddress(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return Some(
            ip.parse::<std::net::IpAddr>()
                .map_or_else(|_| ip.to_owned(), |ip| ip.to_string()),
        );
    }
    ["DnsName(", "UniformResourceIdentifier("]
        .iter()
        .find_map(|prefix| debug.strip_prefix(prefix)?.strip_suffix(')'))
        .map(|inner| inner.trim_matches('"').to_owned())
}

/// Why a chain is not trusted, as a short phrase that follows "server
/// certificate is not trusted: ".
fn untrusted_reason(err: &CertificateError) -> String {
    use CertificateError as C;
    match err {
        C::UnknownIssuer => "issued by an unknown certificate authority".to_owned(),
        C::ExpiredContext { time, not_after } => format!(
            "expired at {} (current time {})",
            utc(not_after.as_secs()),
            utc(time.as_secs())
        ),
        // rustls also says this when notAfter is before notBefore.
        C::Expired => "expired".to_owned(),
        C::NotValidYetContext { time, not_before } => format!(
            "not valid until {} (current time {})",
            utc(not_before.as_secs()),
            utc(time.as_secs())
        ),
        C::NotValidYet => "not valid yet".to_owned(),
        C::InvalidPurposeContext {
            required,
            presented,
        } => {
            let presented: Vec<String> = presented.iter().map(purpose_name).collect();
            format!(
                "not for {}: its extended key usage allows only {}",
                purpose_name(required),
                presented.join(", ")
            )
        }
        C::InvalidPurpose => "not for server authentication (extended key usage)".to_owned(),
        C::BadSignature => "bad signature: not signed by its issuer's key".to_owned(),
        C::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id,
            ..
        } => match algorithm_name(signature_algorithm_id) {
            Some(name) => format!("signed with an unsupported algorithm ({name})"),
            None => "signed with an unsupported algorithm".to_owned(),
        },
        #[allow(deprecated)] // still returned by older verifiers
        C::UnsupportedSignatureAlgorithm => "signed with an unsupported algorithm".to_owned(),
        C::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id,
            ..
        } => match algorithm_name(signature_algorithm_id) {
            Some(name) => format!("its signature algorithm ({name}) does not fit its issuer's key"),
            None => "its signature algorithm does not fit its issuer's key".to_owned(),
        },
        C::Revoked => "revoked".to_owned(),
        C::UnknownRevocationStatus => "its revocation status is unknown".to_owned(),
        C::ExpiredRevocationListContext { time, next_update } => format!(
            "the certificate revocation list expired at {} (current time {})",
            utc(next_update.as_secs()),
            utc(time.as_secs())
        ),
        C::ExpiredRevocationList => "the certificate revocation list expired".to_owned(),
        C::BadEncoding => "malformed certificate (invalid DER encoding)".to_owned(),
        C::UnhandledCriticalExtension => "it has an unsupported critical extension".to_owned(),
        C::InvalidOcspResponse => "its stapled OCSP response is invalid".to_owned(),
        C::ApplicationVerificationFailure => "rejected by the certificate verifier".to_owned(),
        // webpki's errors that rustls has no variant for; their text is
        // webpki's variant name.
        C::Other(other) => webpki_reason(&other.0.to_string()),
        other => readable(&other.to_string()),
    }
}

/// A webpki error name (its `Display` is its `Debug`) in words.
fn webpki_reason(name: &str) -> String {
    let reason = match name {
        "CaUsedAsEndEntity" => {
            "it is a CA certificate (basicConstraints CA:TRUE), not a server certificate"
        }
        "EndEntityUsedAsCa" => {
            "it was issued by a certificate that is not a CA (no basicConstraints CA:TRUE)"
        }
        "CertDistrusted" => "its key is explicitly distrusted",
        "PathLenConstraintViolated" => "its chain is longer than an issuer's pathLenConstraint",
        "NameConstraintViolation" => "it violates its issuer's name constraints",
        "EmptyEkuExtension" => "its extended key usage extension is empty",
        "UnsupportedCertVersion" => "it is not an X.509 v3 certificate",
        "UnsupportedCriticalExtension" => "it has an unsupported critical extension",
        "MalformedExtensions" => "its extensions are malformed",
        "ExtensionValueInvalid" => "it has an invalid extension",
        "InvalidSerialNumber" => "its serial number is invalid",
        "MalformedDnsIdentifier" => "it holds a malformed DNS name",
        "SignatureAlgorithmMismatch" => "its two signature algorithm fields differ",
        "MaximumPathDepthExceeded"
        | "MaximumPathBuildCallsExceeded"
        | "MaximumSignatureChecksExceeded"
        | "MaximumNameConstraintComparisonsExceeded" => {
            "its chain is too long or complex to verify"
        }
        _ => return readable(name),
    };
    reason.to_owned()
}

/// `ServerAuth` → `server authentication`; any other purpose by its OID.
fn purpose_name(purpose: &rustls::ExtendedKeyPurpose) -> String {
    match purpose {
        rustls::ExtendedKeyPurpose::Other(arcs) => {
            let oid = arcs
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(".");
            let name = match oid.as_str() {
                "1.3.6.1.5.5.7.3.3" => "code signing",
                "1.3.6.1.5.5.7.3.4" => "email protection",
                "1.3.6.1.5.5.7.3.8" => "time stamping",
                "1.3.6.1.5.5.7.3.9" => "OCSP signing",
                _ => return oid,
            };
            format!("{name} ({oid})")
        }
        known => known.to_string(),
    }
}

/// What went wrong in a TLS handshake (other than the certificate checks),
/// in words: rustls prints several of these with `Debug`.
pub(crate) fn handshake_detail(err: &rustls::Error) -> String {
    match err {
        rustls::Error::AlertReceived(alert) => {
            format!("server sent fatal alert {}", alert_name(alert))
        }
        rustls::Error::PeerIncompatible(why) => {
            format!("server is incompatible: {}", readable(&format!("{why:?}")))
        }
        rustls::Error::PeerMisbehaved(why) => {
            format!("server misbehaved: {}", readable(&format!("{why:?}")))
        }
        rustls::Error::InvalidMessage(why) => {
            format!(
                "received a corrupt TLS message: {}",
                readable(&format!("{why:?}"))
            )
        }
        rustls::Error::InvalidCertificate(cert) => format!(
            "server certificate is not trusted: {}",
            untrusted_reason(cert)
        ),
        rustls::Error::InvalidCertRevocationList(why) => format!(
            "invalid certificate revocation list: {}",
            readable(&format!("{why:?}"))
        ),
        rustls::Error::InconsistentKeys(why) => format!(
            "certificate and key do not match: {}",
            readable(&format!("{why:?}"))
        ),
        other => readable(&other.to_string()),
    }
}

/// The alert's name as the TLS RFCs spell it: `CertificateRequired` →
/// `certificate_required`, `UnknownCA` → `unknown_ca`.
pub(crate) fn alert_name(alert: &rustls::AlertDescription) -> String {
    lower_words(&format!("{alert:?}"), '_')
}

/// `CaUsedAsEndEntity` → `ca`, `used`, `as`, ... joined by `separator`,
/// lower-cased.
fn lower_words(name: &str, separator: char) -> String {
    let mut words = String::with_capacity(name.len() + 8);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            words.push(separator);
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        words.push(c.to_ascii_lowercase());
    }
    words
}

/// Text that is a `Debug` dump (`Other(OtherError(CaUsedAsEndEntity))`,
/// `NoCipherSuitesInCommon`, `Thing { field: .. }`) as words (`ca used as
/// end entity`); each `": "`-separated part on its own, so a sentence that
/// ends in a variant name is mended too. Real sentences pass unchanged.
pub(crate) fn readable(text: &str) -> String {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ':' if depth == 0 && text[i + 1..].starts_with(' ') => {
                parts.push(readable_part(&text[start..i]));
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(readable_part(&text[start..]));
    parts.join(": ")
}

fn readable_part(text: &str) -> String {
    let mut rest = text.trim();
    // Wrappers that say nothing of their own.
    while let Some(inner) = ["Other(", "OtherError(", "General("]
        .iter()
        .find_map(|w| rest.strip_prefix(w).and_then(|r| r.strip_suffix(')')))
    {
        rest = inner.trim();
    }
    let (name, tail) = leading_name(rest);
    let debug_like = name.starts_with(|c: char| c.is_ascii_uppercase())
        && (tail.is_empty() || tail.starts_with('(') || tail.starts_with(" {"));
    if !debug_like {
        return rest.to_owned();
    }
    let mut words = camel_words(name);
    // `Thing(Inner)`: a unit variant inside says the specific part.
    if let Some(inner) = tail.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        let (inner_name, inner_tail) = leading_name(inner.trim());
        if inner_tail.is_empty()
            && inner_name != name
            && inner_name.starts_with(|c: char| c.is_ascii_uppercase())
        {
            words.push_str(": ");
            words.push_str(&camel_words(inner_name));
        }
    }
    words
}

fn leading_name(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// `CaUsedAsEndEntity` → `ca used as end entity`; a trailing `Context`
/// (rustls's name for "the same, with details") is dropped.
fn camel_words(name: &str) -> String {
    let name = name
        .strip_suffix("Context")
        .filter(|n| !n.is_empty())
        .unwrap_or(name);
    lower_words(name, ' ')
}

/// Seconds since the Unix epoch as RFC 3339 UTC (`2001-01-01T00:00:00Z`),
/// the form Go's x509 errors use.
fn utc(secs: u64) -> String {
    crate::rfc3339::rfc3339_utc(std::time::Duration::from_secs(secs), false)
}

pub(crate) fn rustls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Alerts a server sends when it does not accept our client certificate
/// (or wanted one and got none).
pub(crate) fn is_client_cert_alert(alert: &rustls::AlertDescription) -> bool {
    use rustls::AlertDescription as A;
    matches!(
        alert,
        A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateRequired
            | A::AccessDenied
    )
}

pub(crate) fn client_cert_alert(alert: &rustls::AlertDescription) -> ConnectError {
    // Whether we offered a certificate is filled in by
    // `blame_client_auth`, which knows what the handshake showed.
    ConnectError::TlsClientCertRejected {
        offered: false,
        alert: Some(alert_name(alert)),
    }
}

/// What one TLS handshake showed about client authentication (recorded by
/// `crate::tls::client_auth`), as plain facts for [`blame_client_auth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClientAuthFacts {
    /// The server sent a CertificateRequest.
    pub(crate) requested: bool,
    /// We answered it with a usable certificate.
    pub(crate) offered: bool,
    /// The server is known to have accepted the client side of the
    /// handshake (a TLS 1.2 handshake completed, or a TLS 1.3 session
    /// ticket arrived); a later failure is then not about the certificate.
    pub(crate) accepted: bool,
}

/// Gives a failure after a completed TLS handshake but before SETTINGS its
/// real cause when the server asked for a client certificate during the
/// handshake: a TLS 1.3 server that
/// rejects it sends an alert and closes, and its TCP reset (our HTTP/2
/// preface is unread in its socket) can overtake the alert, so a reset, a
/// close or an I/O error then means the same as the alert. Servers that did
/// not ask for a client certificate, or are known to have accepted it
/// (see [`ClientAuthFacts::accepted`]), keep `RESET` / `CLOSED` for a restart.
/// Also says whether we offered a certificate.
pub(crate) fn blame_client_auth(err: ConnectError, seen: Option<ClientAuthFacts>) -> ConnectError {
    let Some(seen) = seen else {
        return err;
    };
    match err {
        ConnectError::TlsClientCertRejected { alert, .. } => ConnectError::TlsClientCertRejected {
            offered: seen.offered,
            alert,
        },
        ConnectError::Closed { .. } | ConnectError::Reset { .. } | ConnectError::Io { .. }
            if seen.requested && !seen.accepted =>
        {
            ConnectError::TlsClientCertRejected {
                offered: seen.offered,
                alert: None,
            }
        }
        other => other,
    }
}

pub(crate) fn classify_tls_error(err: &io::Error, name: &ServerName<'_>) -> ConnectError {
    if let Some(tls_err) = rustls_error(err) {
        return match tls_err {
            rustls::Error::InvalidCertificate(cert) => certificate_error(cert, name),
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                ConnectError::TlsPlaintextServer
            }
            rustls::Error::AlertReceived(alert) if is_client_cert_alert(alert) => {
                client_cert_alert(alert)
            }
            other => ConnectError::Tls {
                detail: handshake_detail(other),
            },
        };
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => ConnectError::Closed {
            stage_text: "during the TLS handshake",
        },
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ConnectError::Reset {
            stage_text: "during the TLS handshake",
        },
        _ => ConnectError::Tls {
            detail: io_text(err),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;
    use std::sync::Arc;

    fn untrusted(err: CertificateError) -> String {
        let name = ServerName::try_from("example.com").expect("a valid name");
        let err = certificate_error(&err, &name);
        assert_eq!(err.code(), "TLS_UNTRUSTED", "{err}");
        err.to_string()
    }

    /// An error whose text is a webpki variant name, as rustls wraps them.
    #[derive(Debug)]
    struct Webpki(&'static str);
    impl std::fmt::Display for Webpki {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Webpki {}

    fn webpki(name: &'static str) -> CertificateError {
        CertificateError::Other(rustls::OtherError(Arc::new(Webpki(name))))
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    #[test]
    fn every_certificate_error_is_words_not_debug() {
        use CertificateError as C;
        use rustls::ExtendedKeyPurpose as P;
        let cases = [
            (
                C::ExpiredContext {
                    time: at(1_700_000_000),
                    not_after: at(978_307_200),
                },
                "expired at 2001-01-01T00:00:00Z (current time 2023-11-14T22:13:20Z)",
            ),
            (
                C::NotValidYetContext {
                    time: at(1_700_000_000),
                    not_before: at(7_258_118_400),
                },
                "not valid until 2200-01-01T00:00:00Z (current time 2023-11-14T22:13:20Z)",
            ),
            (C::Expired, "expired"),
            (C::NotValidYet, "not valid yet"),
            (
                C::UnknownIssuer,
                "issued by an unknown certificate authority",
            ),
            (
                webpki("CaUsedAsEndEntity"),
                "it is a CA certificate (basicConstraints CA:TRUE), not a server certificate",
            ),
            (
                webpki("EndEntityUsedAsCa"),
                "it was issued by a certificate that is not a CA (no basicConstraints CA:TRUE)",
            ),
            // A webpki error we have no words for yet.
            (webpki("SomeFutureProblem"), "some future problem"),
            (
                C::InvalidPurposeContext {
                    required: P::ServerAuth,
                    presented: vec![P::ClientAuth],
                },
                "not for server authentication: its extended key usage allows only client authentication",
            ),
            (
                C::InvalidPurposeContext {
                    required: P::ServerAuth,
                    presented: vec![P::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 3]), P::ClientAuth],
                },
                "not for server authentication: its extended key usage allows only \
                 code signing (1.3.6.1.5.5.7.3.3), client authentication",
            ),
            (
                C::InvalidPurpose,
                "not for server authentication (extended key usage)",
            ),
            (
                C::BadSignature,
                "bad signature: not signed by its issuer's key",
            ),
            (
                C::UnsupportedSignatureAlgorithmContext {
                    // sha1WithRSAEncryption, NULL parameters.
                    signature_algorithm_id: vec![
                        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05,
                        0x00,
                    ],
                    supported_algorithms: Vec::new(),
                },
                "signed with an unsupported algorithm (sha1WithRSAEncryption, 1.2.840.113549.1.1.5)",
            ),
            (
                C::UnsupportedSignatureAlgorithmContext {
                    signature_algorithm_id: vec![0x06, 0x03, 0x2b, 0x65, 0x7f],
                    supported_algorithms: Vec::new(),
                },
                "signed with an unsupported algorithm (1.3.101.127)",
            ),
            (
                C::UnsupportedSignatureAlgorithmContext {
                    signature_algorithm_id: vec![0x30],
                    supported_algorithms: Vec::new(),
                },
                "signed with an unsupported algorithm",
            ),
            (C::Revoked, "revoked"),
            (
                C::BadEncoding,
                "malformed certificate (invalid DER encoding)",
            ),
            (
                C::ExpiredRevocationListContext {
                    time: at(86_399),
                    next_update: at(0),
                },
                "the certificate revocation list expired at 1970-01-01T00:00:00Z \
                 (current time 1970-01-01T23:59:59Z)",
            ),
        ];
        for (err, want) in cases {
            let debug = format!("{err:?}");
            let got = untrusted(err);
            assert_eq!(
                got,
                format!("server certificate is not trusted: {want}"),
                "{debug}"
            );
        }
    }

    #[test]
    fn name_mismatch_keeps_its_code_and_says_what_the_certificate_covers() {
        let name = ServerName::try_from("api.example").expect("a valid name");
        let mismatch = |presented: &[&str]| {
            let err = certificate_error(
                &CertificateError::NotValidForNameContext {
                    expected: name.to_owned(),
                    presented: presented.iter().map(|n| (*n).to_owned()).collect(),
                },
                &name,
            );
            assert_eq!(err.code(), "TLS_NAME_MISMATCH");
            err.to_string()
        };
        assert_eq!(
            mismatch(&["DnsName(\"localhost\")"]),
            "server certificate is not valid for \"api.example\": \
             certificate is only valid for localhost"
        );
        assert_eq!(
            mismatch(&[
                "DnsName(\"localhost\")",
                "IpAddress(127.0.0.1)",
                "IpAddress(0::1)",
                "Unsupported(0x81)"
            ]),
            "server certificate is not valid for \"api.example\": \
             certificate is only valid for localhost, 127.0.0.1 or ::1"
        );
        assert_eq!(
            mismatch(&["DirectoryName"]),
            "server certificate is not valid for \"api.example\": \
             the certificate names no hosts in its subjectAltName"
        );
        let err = certificate_error(&CertificateError::NotValidForName, &name);
        assert_eq!(
            err.to_string(),
            "server certificate is not valid for \"api.example\": the certificate does not name it"
        );
    }

    #[test]
    fn handshake_failures_are_words_not_debug() {
        use rustls::{AlertDescription, Error, PeerIncompatible, PeerMisbehaved};
        let cases = [
            (
                Error::AlertReceived(AlertDescription::HandshakeFailure),
                "server sent fatal alert handshake_failure",
            ),
            (
                Error::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
                "server is incompatible: no cipher suites in common",
            ),
            (
                Error::PeerMisbehaved(PeerMisbehaved::SelectedUnofferedCipherSuite),
                "server misbehaved: selected unoffered cipher suite",
            ),
            (
                Error::InvalidCertificate(webpki("CaUsedAsEndEntity")),
                "server certificate is not trusted: \
                 it is a CA certificate (basicConstraints CA:TRUE), not a server certificate",
            ),
            (Error::DecryptError, "cannot decrypt peer's message"),
        ];
        for (err, want) in cases {
            assert_eq!(handshake_detail(&err), want, "{err:?}");
        }
    }

    #[test]
    fn debug_dumps_become_words_and_sentences_stay() {
        assert_eq!(
            readable("Other(OtherError(CaUsedAsEndEntity))"),
            "ca used as end entity"
        );
        assert_eq!(
            readable("invalid peer certificate: Other(OtherError(UnsupportedCertVersion))"),
            "invalid peer certificate: unsupported cert version"
        );
        assert_eq!(
            readable("UnsupportedSignatureAlgorithmContext { signature_algorithm_id: [6] }"),
            "unsupported signature algorithm"
        );
        assert_eq!(
            readable("PeerIncompatible(Tls12NotOffered)"),
            "peer incompatible: tls12 not offered"
        );
        assert_eq!(
            readable("Connection reset by peer"),
            "Connection reset by peer"
        );
        assert_eq!(
            readable("peer sent no certificates"),
            "peer sent no certificates"
        );
    }

    #[test]
    fn utc_is_rfc3339() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn alerts_are_named_as_the_rfcs_spell_them() {
        use rustls::AlertDescription as A;
        assert_eq!(alert_name(&A::CertificateRequired), "certificate_required");
        assert_eq!(alert_name(&A::UnknownCA), "unknown_ca");
        assert_eq!(alert_name(&A::BadCertificate), "bad_certificate");
    }
}
