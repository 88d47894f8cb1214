//! TLS material made at run time with rcgen (no checked-in keys): a CA, a
//! server certificate for `localhost`, `127.0.0.1` and `::1`, a client
//! certificate from the same CA, and a *foreign* CA with its own client
//! certificate, all written as PEM files into a temporary directory that
//! lives as long as the [`TestPki`]. [`ServerCertSpec`] makes server
//! certificates that are wrong on purpose (expired, a CA certificate, the
//! wrong key usage, a broken signature) for tests of how clients report them.
//! [`TestPki::tls_args`] and its kin put the files on a command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use rcgen::ExtendedKeyUsagePurpose;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tempfile::TempDir;

/// One certificate authority, its leaf certificates, and their PEM files.
pub struct TestPki {
    dir: TempDir,
    ca: Authority,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
    text: PathText,
}

/// The PEM files' paths as text, kept so that the command-line helpers
/// ([`TestPki::tls_args`] and its kin) can lend them out.
struct PathText {
    ca: String,
    foreign_ca: String,
    client_cert: String,
    client_key: String,
    foreign_client_cert: String,
    foreign_client_key: String,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

const CA: &str = "ca.pem";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server-key.pem";
const CLIENT_CERT: &str = "client.pem";
const CLIENT_KEY: &str = "client-key.pem";
const FOREIGN_CA: &str = "foreign-ca.pem";
const FOREIGN_CLIENT_CERT: &str = "foreign-client.pem";
const FOREIGN_CLIENT_KEY: &str = "foreign-client-key.pem";

struct Authority {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

fn authority(name: &str) -> Authority {
    let key = KeyPair::generate().expect("generate a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign the CA");
    Authority {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate signed by `ca`: (cert DER, cert PEM, key PKCS#8 DER, key PEM).
fn leaf(
    ca: &Authority,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (CertificateDer<'static>, String, Vec<u8>, String) {
    let key = KeyPair::generate().expect("generate a leaf key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&key, &ca.issuer).expect("sign the leaf");
    (
        cert.der().clone(),
        cert.pem(),
        key.serialize_der(),
        key.serialize_pem(),
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestPki {
    /// Generates everything and writes the PEM files. Panics (it is a test
    /// helper) only if the temp directory cannot be written.
    pub fn generate() -> TestPki {
        let dir = tempfile::Builder::new()
            .prefix("grpc-toolkit-pki")
            .tempdir()
            .expect("create a temp dir for TLS material");
        let ca = authority("grpc-toolkit test CA");
        let foreign = authority("grpc-toolkit foreign CA");
        let (server_der, server_pem, server_key_der, server_key_pem) = leaf(
            &ca,
            "localhost",
            &["localhost", "127.0.0.1", "::1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (_, client_pem, _, client_key_pem) = leaf(
            &ca,
            "grpc-toolkit test client",
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let (_, foreign_client_pem, _, foreign_client_key_pem) = leaf(
            &foreign,
            "grpc-toolkit foreign client",
            &["foreign.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        for (name, pem) in [
            (CA, &ca.pem),
            (SERVER_CERT, &server_pem),
            (SERVER_KEY, &server_key_pem),
            (CLIENT_CERT, &client_pem),
            (CLIENT_KEY, &client_key_pem),
            (FOREIGN_CA, &foreign.pem),
            (FOREIGN_CLIENT_CERT, &foreign_client_pem),
            (FOREIGN_CLIENT_KEY, &foreign_client_key_pem),
        ] {
            std::fs::write(dir.path().join(name), pem).expect("write a PEM file");
        }
        let text = |name: &str| {
            let path = dir.path().join(name);
            path.to_str().expect("temp paths are UTF-8").to_owned()
        };
        let text = PathText {
            ca: text(CA),
            foreign_ca: text(FOREIGN_CA),
            client_cert: text(CLIENT_CERT),
            client_key: text(CLIENT_KEY),
            foreign_client_cert: text(FOREIGN_CLIENT_CERT),
            foreign_client_key: text(FOREIGN_CLIENT_KEY),
        };
        TestPki {
            dir,
            ca_der: ca.der.clone(),
            ca,
            server_der,
            server_key_der,
            text,
        }
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA certificate that signed the server and client certificates.
    pub fn ca_cert(&self) -> PathBuf {
        self.path(CA)
    }

    /// The server certificate (SANs `localhost`, `127.0.0.1`, `::1`).
    pub fn server_cert(&self) -> PathBuf {
        self.path(SERVER_CERT)
    }

    /// The server certificate's private key.
    pub fn server_key(&self) -> PathBuf {
        self.path(SERVER_KEY)
    }

    /// A client certificate signed by [`TestPki::ca_cert`].
    pub fn client_cert(&self) -> PathBuf {
        self.path(CLIENT_CERT)
    }

    /// The client certificate's private key.
    pub fn client_key(&self) -> PathBuf {
        self.path(CLIENT_KEY)
    }

    /// A CA that signed nothing the server uses: as `-tls-ca-cert` it makes
    /// the server untrusted.
    pub fn foreign_ca_cert(&self) -> PathBuf {
        self.path(FOREIGN_CA)
    }

    /// A client certificate from the foreign CA, which an mTLS server rejects.
    pub fn foreign_client_cert(&self) -> PathBuf {
        self.path(FOREIGN_CLIENT_CERT)
    }

    /// The foreign client certificate's private key.
    pub fn foreign_client_key(&self) -> PathBuf {
        self.path(FOREIGN_CLIENT_KEY)
    }

    /// `args` followed by `-tls -tls-ca-cert CA`: a `grpc-probe` or
    /// `channelz-tui` command line (they share their connection flags)
    /// that trusts this PKI's servers.
    pub fn tls_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        [args, &["-tls", "-tls-ca-cert", &self.text.ca]].concat()
    }

    /// `args` followed by `-tls -tls-ca-cert FOREIGN_CA`: TLS trusting only
    /// a CA that signed nothing this PKI's servers present.
    pub fn untrusted_tls_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        [args, &["-tls", "-tls-ca-cert", &self.text.foreign_ca]].concat()
    }

    /// [`TestPki::tls_args`] with `-tls-client-cert` and `-tls-client-key`
    /// naming [`TestPki::client_cert`], which this PKI's mTLS servers accept.
    pub fn mtls_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let text = &self.text;
        self.tls_args_presenting(args, &text.client_cert, &text.client_key)
    }

    /// [`TestPki::tls_args`] with the foreign client certificate and key
    /// ([`TestPki::foreign_client_cert`]), which this PKI's mTLS servers
    /// reject.
    pub fn foreign_mtls_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let text = &self.text;
        self.tls_args_presenting(args, &text.foreign_client_cert, &text.foreign_client_key)
    }

    fn tls_args_presenting<'a>(
        &'a self,
        args: &[&'a str],
        cert: &'a str,
        key: &'a str,
    ) -> Vec<&'a str> {
        let client = ["-tls-client-cert", cert, "-tls-client-key", key];
        [&self.tls_args(args), &client[..]].concat()
    }

    fn builder_versions(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier> {
        ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("ring supports TLS 1.2 and 1.3")
    }

    fn finish(
        &self,
        builder: rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>,
    ) -> Arc<ServerConfig> {
        serve_cert(
            builder,
            self.server_der.clone(),
            self.server_key_der.clone(),
        )
    }

    /// A TLS server config (TLS 1.2 and 1.3, ALPN h2, no client
    /// certificates) presenting a certificate made to `spec`, and that
    /// certificate's PEM file.
    pub fn server_with(&self, spec: &ServerCertSpec) -> CustomServerCert {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let key = KeyPair::generate().expect("generate a server key");
        let names = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let mut params = CertificateParams::new(names).expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        if let Some((year, month, day)) = spec.not_before {
            params.not_before = rcgen::date_time_ymd(year, month, day);
        }
        if let Some((year, month, day)) = spec.not_after {
            params.not_after = rcgen::date_time_ymd(year, month, day);
        }
        params.extended_key_usages = vec![spec.usage.clone()];
        let cert = if spec.self_signed_ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.self_signed(&key).expect("self-sign")
        } else if spec.ca_signed_by_pki {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.signed_by(&key, &self.ca.issuer).expect("sign")
        } else {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.signed_by(&key, &self.ca.issuer).expect("sign")
        };
        let mut der = cert.der().to_vec();
        match spec.flaw {
            None => {}
            Some(SignatureFlaw::Corrupt) => {
                // The last byte belongs to the signature's `s` value.
                if let Some(last) = der.last_mut() {
                    *last ^= 1;
                }
            }
            Some(SignatureFlaw::UnsupportedAlgorithm) => relabel_ecdsa_sha256_as_sha224(&mut der),
        }
        let pem = pem_certificate(&der);
        let path = self.path(&format!(
            "custom-server-{}.pem",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, pem).expect("write a PEM file");
        CustomServerCert {
            config: serve_cert(
                self.builder_versions(rustls::ALL_VERSIONS)
                    .with_no_client_auth(),
                CertificateDer::from(der),
                key.serialize_der(),
            ),
            cert: path,
        }
    }

    /// A TLS server config (TLS 1.2 and 1.3, ALPN h2), no client certificates.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.finish(
            self.builder_versions(rustls::ALL_VERSIONS)
                .with_no_client_auth(),
        )
    }

    /// An mTLS server config that requires a client certificate from
    /// [`TestPki::ca_cert`].
    pub fn mtls_server_config(&self) -> Arc<ServerConfig> {
        self.mtls_with_versions(rustls::ALL_VERSIONS)
    }

    /// [`TestPki::mtls_server_config`] limited to TLS 1.2, where a rejected
    /// client certificate fails the handshake itself rather than the first
    /// read after it.
    pub fn mtls_server_config_tls12(&self) -> Arc<ServerConfig> {
        self.mtls_with_versions(&[&rustls::version::TLS12])
    }

    fn mtls_with_versions(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ServerConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .expect("the generated CA parses");
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("a client verifier over one root");
        self.finish(
            self.builder_versions(versions)
                .with_client_cert_verifier(verifier),
        )
    }
}

fn serve_cert(
    builder: rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>,
    cert: CertificateDer<'static>,
    key_der: Vec<u8>,
) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der));
    let mut config = builder
        .with_single_cert(vec![cert], key)
        .expect("the server key matches its certificate");
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// A server certificate for [`TestPki::server_with`], by default as good as
/// [`TestPki::server_cert`]: signed by the PKI's CA, valid now, for
/// `localhost`, `127.0.0.1` and `::1`, extended key usage serverAuth. Each
/// method makes it wrong in one way.
#[must_use]
#[derive(Debug, Clone)]
pub struct ServerCertSpec {
    not_before: Option<(i32, u8, u8)>,
    not_after: Option<(i32, u8, u8)>,
    usage: ExtendedKeyUsagePurpose,
    self_signed_ca: bool,
    ca_signed_by_pki: bool,
    flaw: Option<SignatureFlaw>,
}

#[derive(Debug, Clone, Copy)]
enum SignatureFlaw {
    Corrupt,
    UnsupportedAlgorithm,
}

impl Default for ServerCertSpec {
    fn default() -> Self {
        ServerCertSpec {
            not_before: None,
            not_after: None,
            usage: ExtendedKeyUsagePurpose::ServerAuth,
            self_signed_ca: false,
            ca_signed_by_pki: false,
            flaw: None,
        }
    }
}

impl ServerCertSpec {
    /// The good certificate's twin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Not valid before this day, 00:00:00 UTC.
    pub fn not_before(mut self, year: i32, month: u8, day: u8) -> Self {
        self.not_before = Some((year, month, day));
        self
    }

    /// Not valid after this day, 00:00:00 UTC.
    pub fn not_after(mut self, year: i32, month: u8, day: u8) -> Self {
        self.not_after = Some((year, month, day));
        self
    }

    /// The one extended key usage it allows.
    pub fn usage(mut self, usage: ExtendedKeyUsagePurpose) -> Self {
        self.usage = usage;
        self
    }

    /// Self-signed with basicConstraints CA:TRUE (what `openssl req -x509`
    /// makes by default), not signed by the PKI's CA: give
    /// [`CustomServerCert::cert`] as `-tls-ca-cert` to trust it.
    pub fn self_signed_ca(mut self) -> Self {
        self.self_signed_ca = true;
        self
    }

    /// basicConstraints CA:TRUE, signed by the PKI's CA: a CA certificate
    /// served as the server's own, which only its issuer is an anchor for.
    pub fn ca_signed_by_pki(mut self) -> Self {
        self.ca_signed_by_pki = true;
        self
    }

    /// One bit of the signature flipped after signing.
    pub fn corrupt_signature(mut self) -> Self {
        self.flaw = Some(SignatureFlaw::Corrupt);
        self
    }

    /// Labelled as signed with ecdsa-with-SHA224, which rustls does not
    /// verify (the bytes are still the ECDSA-SHA256 signature).
    pub fn unsupported_signature_algorithm(mut self) -> Self {
        self.flaw = Some(SignatureFlaw::UnsupportedAlgorithm);
        self
    }
}

/// What [`TestPki::server_with`] made.
#[derive(Debug)]
pub struct CustomServerCert {
    /// The server config presenting the certificate.
    pub config: Arc<ServerConfig>,
    /// The certificate's PEM file (in the PKI's directory).
    pub cert: PathBuf,
}

/// ecdsa-with-SHA256 and ecdsa-with-SHA224 have OIDs of the same length, so
/// swapping one for the other keeps every DER length right. A certificate
/// names its algorithm twice (in the signed part and next to the
/// signature); both must agree or it is malformed rather than unsupported.
fn relabel_ecdsa_sha256_as_sha224(der: &mut [u8]) {
    const SHA256: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let mut found = 0;
    let mut i = 0;
    while i + SHA256.len() <= der.len() {
        if der[i..i + SHA256.len()] == SHA256 {
            der[i + SHA256.len() - 1] = 0x01;
            found += 1;
            i += SHA256.len();
        } else {
            i += 1;
        }
    }
    assert_eq!(
        found, 2,
        "an ECDSA-SHA256 certificate names its algorithm twice"
    );
}

/// DER → PEM, 64 base64 characters a line.
fn pem_certificate(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_encoding_matches_rcgen() {
        let key = KeyPair::generate().expect("generate a key");
        // Three lengths of DER mod 3 over a few names, for every padding.
        for names in [vec![], vec!["a".to_owned()], vec!["ab".to_owned()]] {
            let cert = CertificateParams::new(names)
                .expect("parameters")
                .self_signed(&key)
                .expect("self-sign");
            assert_eq!(
                pem_certificate(cert.der()),
                cert.pem().replace("\r\n", "\n")
            );
        }
    }
}
