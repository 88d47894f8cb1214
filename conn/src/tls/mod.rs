//! The rustls client configuration: trust roots (a CA file, else the OS
//! store, else bundled Mozilla roots), the mTLS identity and the
//! verification name. [`client_auth`] records what the server did about our
//! certificate, [`no_verify`] is `-tls-no-verify`; rustls's failures are
//! put into words in `crate::error::tls`.

mod anchor_leaf;
mod client_auth;
mod no_verify;

pub(crate) use client_auth::{ClientAuthSeen, recording_client_auth, session_cache};
use no_verify::SkipChainAndName;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};
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
/// `..data` folder). Regular files are read; a named pipe is read without
/// blocking, polled until its writer closes it or the deadline passes,
/// and its content is kept for the process's later connections (a pipe
/// can be read once). Devices and sockets are refused: `/dev/zero` never
/// ends and `/dev/urandom` never has a PEM block.
pub(crate) fn read_file(path: &Path, flag: &str, deadline: Instant) -> Result<Vec<u8>, UsageError> {
    let metadata = std::fs::metadata(path).map_err(|e| cannot_read(flag, path, &e))?;
    let refuse = |what: &str| {
        UsageError::new(format!(
            "cannot read {flag} file \"{}\": it is {what}, not a file",
            path.display()
        ))
    };
    let kind = metadata.file_type();
    if kind.is_dir() {
        return Err(refuse("a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() || kind.is_block_device() {
            return Err(refuse("a device"));
        }
        if kind.is_socket() {
            return Err(refuse("a socket"));
        }
        if kind.is_fifo() {
            return pipe::read(path, flag, deadline);
        }
    }
    let too_large = || {
        UsageError::new(format!(
            "cannot read {flag} file \"{}\": it is larger than 1 MiB",
            path.display()
        ))
    };
    if metadata.len() > MAX_FILE_BYTES as u64 {
        return Err(too_large());
    }
    let file = File::open(path).map_err(|e| cannot_read(flag, path, &e))?;
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // The file may have grown since it was measured.
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot_read(flag, path, &e))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(unix)]
mod pipe {
    use std::fs::OpenOptions;
    use std::io::{ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Instant;

    use super::{MAX_FILE_BYTES, PIPE_POLL, cannot_read};
    use crate::duration::format_go_duration;
    use crate::error::UsageError;

    /// What each pipe gave, for the connections after the first.
    static READ: Mutex<Vec<(PathBuf, Arc<Vec<u8>>)>> = Mutex::new(Vec::new());

    pub(super) fn read(path: &Path, flag: &str, deadline: Instant) -> Result<Vec<u8>, UsageError> {
        let cached = READ
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, bytes)| bytes.clone());
        if let Some(bytes) = cached {
            return Ok(bytes.to_vec());
        }
        let started = Instant::now();
        // Without O_NONBLOCK, opening a pipe waits for a writer forever.
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| cannot_read(flag, path, &e))?;
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match file.read(&mut chunk) {
                // No writer (yet, or any more): done once something came.
                Ok(0) if !bytes.is_empty() => break,
                Ok(0) => {}
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    if bytes.len() > MAX_FILE_BYTES {
                        return Err(UsageError::new(format!(
                            "cannot read {flag} file \"{}\": the pipe gave more than 1 MiB",
                            path.display()
                        )));
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(cannot_read(flag, path, &e)),
            }
            if Instant::now() >= deadline {
                return Err(UsageError::new(format!(
                    "cannot read {flag} file \"{}\": the pipe was not closed by its writer within {}",
                    path.display(),
                    // The limit, to the millisecond (it was set a few
                    // microseconds before `started`).
                    format_go_duration(std::time::Duration::from_millis(
                        (deadline.saturating_duration_since(started).as_micros() as u64 + 500)
                            / 1000
                    ))
                )));
            }
            std::thread::sleep(PIPE_POLL.min(deadline - Instant::now()));
        }
        READ.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((path.to_owned(), Arc::new(bytes.clone())));
        Ok(bytes)
    }
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
        _ => crate::error::io::io_text(err),
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
