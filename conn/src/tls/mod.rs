//! The rustls client configuration: trust roots (a CA file, else the OS
//! store, else bundled Mozilla roots), the mTLS identity and the
//! verification name. [`client_auth`] records what the server did about our
//! certificate, [`no_verify`] is `-tls-no-verify`; rustls's failures are
//! put into words in `crate::error::tls`.

mod anchor_leaf;
/// The three `ServerCertVerifier` methods that check the handshake
/// signatures with `self.provider`'s algorithms: every verifier of ours
/// checks them the same way, whatever it decides about the chain.
macro_rules! handshake_signatures_checked_by_the_provider {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}
use handshake_signatures_checked_by_the_provider;

mod client_auth;
mod no_verify;

pub(crate) use client_auth::{ClientAuthSeen, recording_client_auth, session_cache};
use no_verify::SkipChainAndName;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::UsageError;
use crate::options::TlsOptions;

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

/// The most a TLS file may hold: a CA bundle with every public root is
/// about 250 KB.
const MAX_FILE_BYTES: usize = 1 << 20;

/// How often a named pipe with no data yet is looked at again.
const PIPE_POLL: Duration = Duration::from_millis(5);

/// Reads a TLS file whole, within `deadline` and [`MAX_FILE_BYTES`].
///
/// Symlinks are followed (Kubernetes mounts Secrets as symlinks into a
/// `..data` folder). Regular files and named pipes are read; a pipe without
/// blocking, polled until its writer closes it or the deadline passes, and
/// its content is kept for the process's later connections (a pipe can be
/// read once). Devices, sockets and directories are refused: `/dev/zero`
/// never ends and `/dev/urandom` never has a PEM block.
pub(crate) fn read_file(path: &Path, flag: &str, deadline: Instant) -> Result<Vec<u8>, UsageError> {
    let fail = |reason: &str| {
        UsageError::new(format!(
            "cannot read {flag} file \"{}\": {reason}",
            path.display()
        ))
    };
    let kind = std::fs::metadata(path)
        .map_err(|e| cannot_read(flag, path, &e))?
        .file_type();
    let pipe = is_pipe(&kind);
    if !kind.is_file() && !pipe {
        return Err(fail(if kind.is_dir() {
            "it is a directory, not a file"
        } else if is_socket(&kind) {
            "it is a socket, not a file"
        } else {
            "it is a device, not a file"
        }));
    }
    let mut cache = PIPES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, bytes)) = cache.iter().find(|(p, _)| p == path) {
        return Ok(bytes.clone());
    }
    // Without O_NONBLOCK, opening a pipe waits for a writer forever.
    let mut file = open_nonblocking(path).map_err(|e| cannot_read(flag, path, &e))?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match file.read(&mut chunk) {
            // A pipe with no writer yet reads as empty: wait for one.
            Ok(0) if !pipe || !bytes.is_empty() => break,
            Ok(0) => {}
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(fail("it is larger than 1 MiB"));
                }
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cannot_read(flag, path, &e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(fail(
                "the pipe was not closed by its writer in time (-connect-timeout, --timeout)",
            ));
        }
        std::thread::sleep(PIPE_POLL.min(deadline - now));
    }
    if pipe {
        cache.push((path.to_owned(), bytes.clone()));
    }
    Ok(bytes)
}

/// What each named pipe gave, for the connections after the first.
static PIPES: Mutex<Vec<(std::path::PathBuf, Vec<u8>)>> = Mutex::new(Vec::new());

#[cfg(unix)]
fn is_pipe(kind: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(kind)
}

#[cfg(unix)]
fn is_socket(kind: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_socket(kind)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn is_pipe(_: &std::fs::FileType) -> bool {
    false
}

#[cfg(not(unix))]
fn is_socket(_: &std::fs::FileType) -> bool {
    false
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Reads every certificate in a PEM file.
pub(crate) fn load_certs(
    path: &Path,
    flag: &str,
    deadline: Instant,
) -> Result<Vec<CertificateDer<'static>>, UsageError> {
    let bytes = read_file(path, flag, deadline)?;
    let certs = rustls_pemfile::certs(&mut bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cannot_read(flag, path, &e))?;
    if certs.is_empty() {
        return Err(UsageError::new(format!(
            "no PEM certificates found in {flag} file \"{}\"",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path, deadline: Instant) -> Result<PrivateKeyDer<'static>, UsageError> {
    let flag = "-tls-client-key";
    let bytes = read_file(path, flag, deadline)?;
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|e| cannot_read(flag, path, &e))?
        .ok_or_else(|| {
            UsageError::new(format!(
                "no PEM private key found in {flag} file \"{}\"",
                path.display()
            ))
        })
}

fn cannot_read(flag: &str, path: &Path, err: &std::io::Error) -> UsageError {
    let reason = match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => crate::error::io_text(err),
    };
    UsageError::new(format!(
        "cannot read {flag} file \"{}\": {reason}",
        path.display()
    ))
}

/// Loads every file the options name, so bad files are a usage error
/// before any connection attempt; reading them all ends by `deadline`.
pub(crate) fn check_files(tls: &TlsOptions, deadline: Instant) -> Result<(), UsageError> {
    if let Some(ca) = &tls.ca_file {
        let certs = load_certs(ca, "-tls-ca-cert", deadline)?;
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(UsageError::new(format!(
                "no usable CA certificates in -tls-ca-cert file \"{}\"",
                ca.display()
            )));
        }
    }
    client_identity(tls, deadline)?;
    Ok(())
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(tls: &TlsOptions, deadline: Instant) -> Result<Option<Identity>, UsageError> {
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => Ok(Some((
            load_certs(cert, "-tls-client-cert", deadline)?,
            load_key(key, deadline)?,
        ))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(UsageError::new(
            "specified -tls-client-cert without specifying -tls-client-key",
        )),
        (None, Some(_)) => Err(UsageError::new(
            "specified -tls-client-key without specifying -tls-client-cert",
        )),
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

/// Builds the client config, reading its files by `deadline`; `Err` is a
/// one-line reason naming the flag.
pub(crate) fn client_config(
    tls: &TlsOptions,
    deadline: Instant,
) -> Result<(rustls::ClientConfig, TrustSource), UsageError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| UsageError::new(format!("TLS setup failed: {e}")))?;
    let (builder, source) = if tls.insecure_skip_verify {
        let verifier = Arc::new(SkipChainAndName { provider });
        (
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier),
            TrustSource::Unverified,
        )
    } else if let Some(ca) = &tls.ca_file {
        let anchors = load_certs(ca, "-tls-ca-cert", deadline)?;
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(anchors.iter().cloned());
        let verifier = Arc::new(anchor_leaf::AnchorLeaf {
            roots: Arc::new(store),
            provider,
            anchors,
        });
        (
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier),
            TrustSource::CaFile,
        )
    } else {
        let (store, source) = system_roots();
        (builder.with_root_certificates(store.clone()), *source)
    };
    let mut config = match client_identity(tls, deadline)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            UsageError::new(format!(
                "invalid -tls-client-cert/-tls-client-key pair: {e}"
            ))
        })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((config, source))
}

/// The name sent as SNI and checked against the certificate: the
/// `-tls-server-name`, else the host part of the authority (grpc-go's rule).
pub(crate) fn server_name(
    tls: &TlsOptions,
    authority: &str,
) -> Result<ServerName<'static>, UsageError> {
    let name = match &tls.server_name {
        Some(name) => name.clone(),
        None => host_of_authority(authority),
    };
    ServerName::try_from(name.clone())
        .map_err(|_| UsageError::new(format!("\"{name}\" is not a valid TLS server name")))
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
