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
    /// `NoClientCert` (default), `RequireAndVerifyClientCert`,
    /// `VerifyClientCertIfGiven`; the Go names.
    #[serde(default)]
    pub client_auth_type: Option<String>,
    /// CA for client certificates.
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
    let auth = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" | "" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca = tls
                .client_ca_file
                .as_ref()
                .ok_or_else(|| format!("client_auth_type {auth} needs client_ca_file"))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert).map_err(|e| e.to_string())?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
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
                "client_auth_type \"{other}\" is not supported (use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
        let key: [u8; 32] = {
            let mut h = Sha256::new();
            h.update(user.as_bytes());
            h.update([0]);
            h.update(hash.as_bytes());
            h.update([0]);
            h.update(password.as_bytes());
            h.finalize().into()
        };
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
}
