//! The rustls client configuration: trust roots (a CA file, else the OS
//! store, else bundled Mozilla roots), the mTLS identity, the verification
//! name, and `-tls-no-verify`, which skips the chain and name checks but
//! still checks the handshake signatures.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionStore, ResolvesClientCert, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::TlsOptions;

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

/// The session cache one [`Dialer`](super::transport::Dialer) shares
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

    #[test]
    fn host_of_authority_strips_port_and_brackets() {
        assert_eq!(host_of_authority("example.com:443"), "example.com");
        assert_eq!(host_of_authority("[::1]:50051"), "::1");
        assert_eq!(host_of_authority("localhost"), "localhost");
        assert_eq!(host_of_authority("127.0.0.1:1"), "127.0.0.1");
    }
}
