//! TLS material made at run time with rcgen (no checked-in keys): a CA, a
//! server certificate for `localhost`, `127.0.0.1` and `::1`, a client
//! certificate from the same CA, and a *foreign* CA with its own client
//! certificate, all written as PEM files into a temporary directory that
//! lives as long as the [`TestPki`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tempfile::TempDir;

/// One certificate authority, its leaf certificates, and their PEM files.
pub struct TestPki {
    dir: TempDir,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
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
        TestPki {
            dir,
            ca_der: ca.der,
            server_der,
            server_key_der,
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
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let mut config = builder
            .with_single_cert(vec![self.server_der.clone()], key)
            .expect("the server key matches its certificate");
        config.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(config)
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
