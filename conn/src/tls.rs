//! The rustls client configuration: trust roots (a CA file, else the OS
//! store, else bundled Mozilla roots), the mTLS identity, the verification
//! name, and `-tls-no-verify`, which skips the chain and name checks but
//! still checks the handshake signatures. Also puts rustls's failures into
//! words (`certificate_error`, `handshake_detail`): its own text for
//! many of them is a `Debug` dump.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, ResolvesClientCert, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::TlsOptions;
use crate::error::ConnectError;

/// Where the trust roots came from, for `-v` output and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustSource {
    /// The `-tls-ca-cert` file.
    CaFile,
    /// The operating system store (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured).
    System,
    /// Bundled Mozilla roots, because the system store was empty.
    BundledMozilla,
    /// `-tls-no-verify`: no roots are consulted.
    Unverified,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate in a PEM file.
pub(crate) fn load_certs(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = File::open(path).map_err(|e| cannot_read(flag, path, &e))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cannot_read(flag, path, &e))?;
    if certs.is_empty() {
        return Err(format!(
            "no PEM certificates found in {flag} file \"{}\"",
            path.display()
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let flag = "-tls-client-key";
    let file = File::open(path).map_err(|e| cannot_read(flag, path, &e))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| cannot_read(flag, path, &e))?
        .ok_or_else(|| {
            format!(
                "no PEM private key found in {flag} file \"{}\"",
                path.display()
            )
        })
}

fn cannot_read(flag: &str, path: &Path, err: &std::io::Error) -> String {
    let reason = match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => err.to_string(),
    };
    format!("cannot read {flag} file \"{}\": {reason}", path.display())
}

/// Loads every file the options name, so bad files are a usage error
/// before any connection attempt.
pub(crate) fn check_files(tls: &TlsOptions) -> Result<(), String> {
    if let Some(ca) = &tls.ca_file {
        let certs = load_certs(ca, "-tls-ca-cert")?;
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!(
                "no usable CA certificates in -tls-ca-cert file \"{}\"",
                ca.display()
            ));
        }
    }
    client_identity(tls)?;
    Ok(())
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(tls: &TlsOptions) -> Result<Option<Identity>, String> {
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => Ok(Some((
            load_certs(cert, "-tls-client-cert")?,
            load_key(key)?,
        ))),
        (None, None) => Ok(None),
        (Some(_), None) => {
            Err("specified -tls-client-cert without specifying -tls-client-key".into())
        }
        (None, Some(_)) => {
            Err("specified -tls-client-key without specifying -tls-client-cert".into())
        }
    }
}

/// The OS trust store, loaded once per process; bundled Mozilla roots when
/// it is empty (a `FROM scratch` image has no `/etc/ssl`).
fn system_roots() -> &'static (Arc<RootCertStore>, TrustSource) {
    static ROOTS: OnceLock<(Arc<RootCertStore>, TrustSource)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        // Unreadable entries are skipped, as OpenSSL does; only an empty
        // result changes what we trust.
        let native = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(native.certs);
        if store.is_empty() {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            (Arc::new(store), TrustSource::BundledMozilla)
        } else {
            (Arc::new(store), TrustSource::System)
        }
    })
}

/// Where the roots that verify the server come from under these options
/// (loading the system store once, if it is the one in use).
pub fn trust_source(tls: &TlsOptions) -> TrustSource {
    if tls.insecure_skip_verify {
        TrustSource::Unverified
    } else if tls.ca_file.is_some() {
        TrustSource::CaFile
    } else {
        system_roots().1
    }
}

/// Builds the client config; `Err` is a one-line reason naming the flag.
pub(crate) fn client_config(
    tls: &TlsOptions,
) -> Result<(rustls::ClientConfig, TrustSource), String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let (builder, source) = if tls.insecure_skip_verify {
        let verifier = Arc::new(SkipChainAndName { provider });
        (
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier),
            TrustSource::Unverified,
        )
    } else if let Some(ca) = &tls.ca_file {
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(load_certs(ca, "-tls-ca-cert")?);
        (builder.with_root_certificates(store), TrustSource::CaFile)
    } else {
        let (store, source) = system_roots();
        (builder.with_root_certificates(store.clone()), *source)
    };
    let mut config = match client_identity(tls)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("invalid -tls-client-cert/-tls-client-key pair: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((config, source))
}

/// What one TLS handshake showed about client authentication, recorded by
/// [`RecordingResolver`]. Under TLS 1.3 the server judges our certificate
/// after our handshake has finished and rejects it with an alert followed
/// by a close; if its TCP reset overtakes the alert, all we read is
/// "connection reset". Knowing that the server asked for a certificate
/// (and whether we offered one) is what tells that reset apart from a
/// server that merely went away.
#[derive(Debug, Default)]
pub(crate) struct ClientAuthSeen {
    requested: AtomicBool,
    offered: AtomicBool,
    accepted: AtomicBool,
}

impl ClientAuthSeen {
    /// The server sent a CertificateRequest.
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// We answered it with a certificate whose key can sign with one of the
    /// schemes the server accepts (otherwise rustls sends an empty one).
    pub(crate) fn offered(&self) -> bool {
        self.offered.load(Ordering::Acquire)
    }

    /// The server is known to have accepted the client side of the
    /// handshake: a TLS 1.2 handshake completed (the server judges the
    /// certificate before its Finished), or a TLS 1.3 session ticket
    /// arrived (servers send those after the client's Finished once client
    /// authentication has passed). A later failure is then not about the
    /// certificate.
    pub(crate) fn accepted(&self) -> bool {
        self.accepted.load(Ordering::Acquire)
    }

    pub(crate) fn accept(&self) {
        self.accepted.store(true, Ordering::Release);
    }
}

/// Delegates to the shared session cache, noting in a per-connection
/// [`ClientAuthSeen`] that a TLS 1.3 session ticket arrived.
#[derive(Debug)]
struct RecordingStore {
    inner: Arc<dyn ClientSessionStore>,
    seen: Arc<ClientAuthSeen>,
}

impl ClientSessionStore for RecordingStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.seen.accept();
        self.inner.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

/// The session cache one [`Dialer`](crate::transport::Dialer) shares
/// between its connections (rustls's default size).
pub(crate) fn session_cache() -> Arc<dyn ClientSessionStore> {
    Arc::new(rustls::client::ClientSessionMemoryCache::new(256))
}

/// Wraps the configured client certificate resolver, which rustls calls
/// only when the server sends a CertificateRequest, to record that request
/// and our answer in a per-connection [`ClientAuthSeen`].
#[derive(Debug)]
struct RecordingResolver {
    inner: Arc<dyn ResolvesClientCert>,
    seen: Arc<ClientAuthSeen>,
}

impl ResolvesClientCert for RecordingResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let chosen = self.inner.resolve(root_hint_subjects, sigschemes);
        // The same test rustls applies before sending the certificate.
        let usable = chosen
            .as_ref()
            .is_some_and(|key| key.key.choose_scheme(sigschemes).is_some());
        self.seen.offered.store(usable, Ordering::Release);
        self.seen.requested.store(true, Ordering::Release);
        chosen
    }

    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

/// A copy of `config` for one connection, whose client certificate
/// resolver and session store (over the shared `sessions`) record into the
/// returned [`ClientAuthSeen`].
pub(crate) fn recording_client_auth(
    config: &rustls::ClientConfig,
    sessions: &Arc<dyn ClientSessionStore>,
) -> (rustls::ClientConfig, Arc<ClientAuthSeen>) {
    let seen = Arc::new(ClientAuthSeen::default());
    let mut config = config.clone();
    config.client_auth_cert_resolver = Arc::new(RecordingResolver {
        inner: config.client_auth_cert_resolver.clone(),
        seen: seen.clone(),
    });
    config.resumption = Resumption::store(Arc::new(RecordingStore {
        inner: sessions.clone(),
        seen: seen.clone(),
    }));
    (config, seen)
}

/// The name sent as SNI and checked against the certificate: the
/// `-tls-server-name`, else the host part of the authority (grpc-go's rule).
pub(crate) fn server_name(
    tls: &TlsOptions,
    authority: &str,
) -> Result<ServerName<'static>, String> {
    let name = match &tls.server_name {
        Some(name) => name.clone(),
        None => host_of_authority(authority),
    };
    ServerName::try_from(name.clone())
        .map_err(|_| format!("\"{name}\" is not a valid TLS server name"))
}

/// `host:port` → `host`; `[::1]:443` → `::1`; `host` → `host`.
pub(crate) fn host_of_authority(authority: &str) -> String {
    if let Some((host, _)) = authority.strip_prefix('[').and_then(|r| r.split_once(']')) {
        return host.to_owned();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_owned()
        }
        _ => authority.to_owned(),
    }
}

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

/// The OID, and its name when it is a signature algorithm one meets in old
/// certificates, of a DER AlgorithmIdentifier's contents (the OID, then
/// any parameters).
fn algorithm_name(der: &[u8]) -> Option<String> {
    let oid = der_oid(der)?;
    let name = match oid.as_str() {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-sha256",
        "1.3.101.113" => "Ed448",
        _ => return Some(oid),
    };
    Some(format!("{name}, {oid}"))
}

/// A DER OBJECT IDENTIFIER at the start of `der`, dotted.
fn der_oid(der: &[u8]) -> Option<String> {
    let [0x06, len, rest @ ..] = der else {
        return None;
    };
    // Signature algorithm OIDs are short: the short length form only.
    if *len >= 0x80 {
        return None;
    }
    let body = rest.get(..usize::from(*len))?;
    if body.last().is_none_or(|last| last & 0x80 != 0) {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &byte in body {
        value = value.checked_mul(128)? | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let (&first, later) = arcs.split_first()?;
    let (a, b) = if first < 80 {
        (first / 40, first % 40)
    } else {
        (2, first - 80)
    };
    let mut text = format!("{a}.{b}");
    for arc in later {
        text.push('.');
        text.push_str(&arc.to_string());
    }
    Some(text)
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
    crate::rfc3339_utc(std::time::Duration::from_secs(secs), false)
}

/// `-tls-no-verify`: any chain and any name are accepted, but the server
/// must still prove it holds the key of the certificate it sent, so the
/// handshake is not trivially forgeable by a passive party.
#[derive(Debug)]
struct SkipChainAndName {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SkipChainAndName {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn host_of_authority_strips_port_and_brackets() {
        assert_eq!(host_of_authority("example.com:443"), "example.com");
        assert_eq!(host_of_authority("[::1]:50051"), "::1");
        assert_eq!(host_of_authority("localhost"), "localhost");
        assert_eq!(host_of_authority("127.0.0.1:1"), "127.0.0.1");
    }
}
