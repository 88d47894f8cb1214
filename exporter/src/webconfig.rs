//! `--web.config.file` in the Prometheus exporter-toolkit format: TLS for
//! our own endpoints (`tls_server_config`) and basic auth with bcrypt
//! hashes (`basic_auth_users`).
//!
//! As exporter-toolkit does, verified credentials are cached (by a SHA-256
//! of user, hash and password, never the password itself) so a scrape
//! every 15 s does not pay ~50 ms of bcrypt each time, bcrypt comparisons
//! are serialised so a flood of bad passwords costs one core at most, and
//! an unknown user is compared against a dummy hash so timing does not say
//! which users exist.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The file's contents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// TLS for the listener.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// exporter-toolkit's HTTP options (headers are applied; `http2` is
    /// accepted and ignored: we serve HTTP/1.1, which every scraper speaks).
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// `user: bcrypt-hash`.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Server certificate (PEM).
    pub cert_file: PathBuf,
    /// Server key (PEM).
    pub key_file: PathBuf,
    /// Go's `crypto/tls` names, with Go's meaning: `NoClientCert` (default:
    /// no certificate is asked for), `RequestClientCert` (asked for, not
    /// required, not verified), `RequireAnyClientCert` (required, not
    /// verified), `VerifyClientCertIfGiven` (not required; verified against
    /// `client_ca_file` when sent), `RequireAndVerifyClientCert` (required
    /// and verified). exporter-toolkit's old alias `RequireClientCert` means
    /// `RequireAnyClientCert`.
    #[serde(default)]
    pub client_auth_type: Option<String>,
    /// CA for client certificates: verifies them in the `Verify*` modes (and
    /// is required there); only named to clients as a hint in
    /// `RequestClientCert` and `RequireAnyClientCert`; refused with
    /// `NoClientCert`, as exporter-toolkit does.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Accepted for compatibility; rustls speaks TLS 1.2 and 1.3 only.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub max_version: Option<String>,
    /// Accepted for compatibility; rustls's suites are used.
    #[serde(default)]
    pub cipher_suites: Option<Vec<String>>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub curve_preferences: Option<Vec<String>>,
    /// Accepted for compatibility.
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
}

/// `http_server_config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted and ignored.
    #[serde(default)]
    pub http2: Option<bool>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Loads and checks the file (certificates are loaded too, so a bad path
/// fails at start rather than at the first connection).
pub fn load(path: &Path) -> Result<(WebConfig, Option<Arc<rustls::ServerConfig>>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {}", path.display(), e.kind()))?;
    let config: WebConfig = if text.trim().is_empty() {
        WebConfig::default()
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    for (user, hash) in &config.basic_auth_users {
        if !hash.starts_with("$2") {
            return Err(format!(
                "{}: basic_auth_users: the password of \"{user}\" is not a bcrypt hash",
                path.display()
            ));
        }
    }
    let tls = match &config.tls_server_config {
        Some(tls) => Some(Arc::new(
            server_tls(tls).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    Ok((config, tls))
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let file =
        File::open(path).map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn server_tls(tls: &TlsServerConfig) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&tls.cert_file)?;
    let key_file = File::open(&tls.key_file)
        .map_err(|e| format!("cannot read {}: {}", tls.key_file.display(), e.kind()))?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(key_file))
        .map_err(|e| format!("cannot read {}: {e}", tls.key_file.display()))?
        .ok_or_else(|| format!("no private key in {}", tls.key_file.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    // The names, the old alias, and which modes may or must have a
    // client_ca_file follow exporter-toolkit's `ConfigToTLSConfig` (v0.8,
    // which blackbox_exporter 0.23 is built with; today's release is the
    // same), except that the Verify* modes need client_ca_file here where
    // Go would fall back to the system roots.
    let auth = tls.client_auth_type.as_deref().unwrap_or("");
    let builder = match auth {
        "NoClientCert" | "" => {
            // exporter-toolkit: "Client CA's have been configured without a
            // Client Auth Policy"; a CA that would never be used is a mistake.
            if let Some(ca) = &tls.client_ca_file {
                return Err(format!(
                    "client_ca_file {} needs a client_auth_type other than NoClientCert",
                    ca.display()
                ));
            }
            builder.with_no_client_auth()
        }
        "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
            // Go sends the subjects of ClientCAs as hints in every mode that
            // asks for a certificate, and verifies nothing against them here.
            let hints = match &tls.client_ca_file {
                Some(ca) => client_roots(ca)?.subjects(),
                None => Vec::new(),
            };
            builder.with_client_cert_verifier(Arc::new(AnyClientCert {
                mandatory: auth != "RequestClientCert",
                hints,
                algorithms: provider.signature_verification_algorithms,
            }))
        }
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca = tls
                .client_ca_file
                .as_ref()
                .ok_or_else(|| format!("client_auth_type {auth} needs client_ca_file"))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(client_roots(ca)?),
                provider,
            );
            let verifier = if auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
        other => {
            return Err(format!(
                "client_auth_type \"{other}\" is not supported (use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn client_roots(ca: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    Ok(roots)
}

/// `RequestClientCert` (`mandatory: false`) and `RequireAnyClientCert`
/// (`mandatory: true`) with Go's `crypto/tls` meaning, which rustls has no
/// built-in verifier for: a certificate is asked for (required or not), and
/// one that is sent is **not validated** (no CA, expiry, or usage check);
/// the client must still prove it holds the certificate's key, since the
/// handshake's CertificateVerify signature is checked. Such a certificate
/// identifies nobody; use the `Verify*` modes to authenticate clients.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    /// The subjects of `client_ca_file`, if given: Go names its client CAs
    /// to the client in every mode that asks for a certificate.
    hints: Vec<rustls::DistinguishedName>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        // Go parses every certificate the client sends even in these modes,
        // and fails the handshake on one that does not parse.
        for der in std::iter::once(end_entity).chain(intermediates) {
            x509_parser::parse_x509_certificate(der).map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
            })?;
        }
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A bcrypt hash (at the default cost, like the users' hashes) of a
/// password nobody is asked for, compared against for unknown users.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("no such user", bcrypt::DEFAULT_COST).unwrap_or_default())
}

/// Basic-auth checking with the cache.
#[derive(Debug, Default)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
    bcrypt: Mutex<()>,
}

impl BasicAuth {
    /// Users from the web config; none means no auth.
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        BasicAuth {
            users,
            verified: Mutex::new(HashSet::new()),
            bcrypt: Mutex::new(()),
        }
    }

    /// True when auth is on.
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// What [`BasicAuth::allows`] says without a bcrypt comparison: auth
    /// off, a missing or malformed header, a password already verified.
    /// `None` when only bcrypt can tell (tens of milliseconds of CPU, which
    /// the server runs off the runtime's thread).
    pub fn quick(&self, header: Option<&str>) -> Option<bool> {
        if !self.enabled() {
            return Some(true);
        }
        let Some((user, password)) = header.and_then(decode_basic) else {
            return Some(false);
        };
        let hash = self.users.get(&user)?;
        let key = cache_key(&user, hash, &password);
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified.contains(&key).then_some(true)
    }

    /// Checks an `Authorization` header value.
    pub fn allows(&self, header: Option<&str>) -> bool {
        if !self.enabled() {
            return true;
        }
        let Some((user, password)) = header.and_then(decode_basic) else {
            return false;
        };
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.as_str(), true),
            None => (dummy_hash(), false),
        };
        let key = cache_key(&user, hash, &password);
        if known
            && self
                .verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
        {
            return true;
        }
        let ok = {
            let _one_at_a_time = self.bcrypt.lock().unwrap_or_else(|p| p.into_inner());
            bcrypt::verify(password.as_bytes(), hash).unwrap_or(false)
        };
        if ok && known {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
        }
        ok && known
    }
}

/// The verified-credentials cache's key: a SHA-256 of user, hash and
/// password, so the cache never holds a password.
fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(user.as_bytes());
    h.update([0]);
    h.update(hash.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    h.finalize().into()
}

fn decode_basic(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn bcrypt_users_and_cache() {
        let hash = bcrypt::hash("right", 4).expect("hash");
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_owned(), hash)]));
        assert!(auth.allows(Some(&header("alice", "right"))));
        assert!(auth.allows(Some(&header("alice", "right"))), "cached");
        assert!(!auth.allows(Some(&header("alice", "wrong"))));
        assert!(!auth.allows(Some(&header("bob", "right"))));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some("Bearer x")));
        assert!(BasicAuth::default().allows(None));
    }

    #[test]
    fn quick_answers_only_what_needs_no_bcrypt() {
        let hash = bcrypt::hash("right", 4).expect("hash");
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_owned(), hash)]));
        assert_eq!(auth.quick(Some(&header("alice", "right"))), None);
        assert!(auth.allows(Some(&header("alice", "right"))));
        assert_eq!(auth.quick(Some(&header("alice", "right"))), Some(true));
        assert_eq!(auth.quick(Some(&header("alice", "wrong"))), None);
        // Unknown users go to bcrypt too (the dummy hash), so timing does
        // not tell them apart.
        assert_eq!(auth.quick(Some(&header("bob", "right"))), None);
        assert_eq!(auth.quick(None), Some(false));
        assert_eq!(auth.quick(Some("Bearer x")), Some(false));
        assert_eq!(BasicAuth::default().quick(None), Some(true));
    }

    #[test]
    fn strict_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("web.yml");
        std::fs::write(&path, "basic_auth_users:\n  a: plain\n").expect("write");
        assert!(
            load(&path)
                .expect_err("plain")
                .contains("not a bcrypt hash")
        );
        std::fs::write(&path, "tls_server_confg: {}\n").expect("write");
        assert!(load(&path).expect_err("typo").contains("unknown field"));
    }

    /// `tls_server_config` with `extra` lines, in a file in the PKI's dir.
    fn tls_file(pki: &testkit::tls::TestPki, extra: &str) -> PathBuf {
        let path = pki.dir().join("web.yml");
        let text = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{extra}",
            pki.server_cert().display(),
            pki.server_key().display(),
        );
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn client_auth_types() {
        let pki = testkit::tls::TestPki::generate();
        let ca = format!("  client_ca_file: {}\n", pki.ca_cert().display());
        for mode in [
            "NoClientCert",
            "RequestClientCert",
            "RequireAnyClientCert",
            "RequireClientCert",
            "VerifyClientCertIfGiven",
            "RequireAndVerifyClientCert",
        ] {
            let with_ca = if mode == "NoClientCert" {
                ""
            } else {
                ca.as_str()
            };
            let path = tls_file(&pki, &format!("  client_auth_type: {mode}\n{with_ca}"));
            if let Err(e) = load(&path) {
                panic!("{mode}: {e}");
            }
        }
        for mode in ["RequestClientCert", "RequireAnyClientCert"] {
            let path = tls_file(&pki, &format!("  client_auth_type: {mode}\n"));
            if let Err(e) = load(&path) {
                panic!("{mode} without client_ca_file: {e}");
            }
        }

        let path = tls_file(&pki, "  client_auth_type: VerifyClientCert\n");
        let e = load(&path).expect_err("unknown");
        assert!(
            e.ends_with(
                "client_auth_type \"VerifyClientCert\" is not supported (use NoClientCert, \
                 RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or \
                 RequireAndVerifyClientCert)"
            ),
            "{e}"
        );
        // Go's names are case-sensitive, and so are we.
        let path = tls_file(&pki, "  client_auth_type: requestclientcert\n");
        assert!(load(&path).expect_err("case").contains("not supported"));

        // A CA with nothing to use it for, as exporter-toolkit refuses it.
        for auth in ["", "  client_auth_type: NoClientCert\n"] {
            let path = tls_file(&pki, &format!("{auth}{ca}"));
            let e = load(&path).expect_err("CA without a mode");
            assert!(e.contains("needs a client_auth_type"), "{e}");
        }
        let path = tls_file(&pki, "  client_auth_type: RequireAndVerifyClientCert\n");
        assert!(
            load(&path)
                .expect_err("no CA")
                .contains("needs client_ca_file")
        );
    }
}
