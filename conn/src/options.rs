//! What a connection is made from: [`ConnectOptions`] (built from the
//! shared flags by `ConnArgs::to_options`, or by hand when embedding),
//! its TLS part and the metadata headers.

use std::path::PathBuf;
use std::time::Duration;

use crate::target::Target;

/// TLS settings; present only when TLS is on.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file of CA certificates; `None` uses the system trust store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mTLS (needs `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub client_key: Option<PathBuf>,
    /// Name to verify the server certificate against (and send as SNI).
    pub server_name: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// One metadata header to send with every RPC.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower-cased header name.
    pub name: String,
    /// The value; never printed (it may be a token). For a name ending in
    /// `-bin` these are the literal bytes, base64-encoded on the wire.
    pub value: String,
}

// Debug by hand: a header value may be a bearer token and must never reach
// a log line, not even with `-v`.
impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: <redacted>", self.name)
    }
}

/// Everything needed to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The parsed target.
    pub target: Target,
    /// The `:authority` to send.
    pub authority: String,
    /// `Some` when TLS is on.
    pub tls: Option<TlsOptions>,
    /// Metadata sent with every RPC.
    pub headers: Vec<Header>,
    /// The `user-agent` prefix; the server sees `"{user_agent} tonic/0.14.x"`.
    pub user_agent: String,
    /// Compress requests with gzip and accept gzip responses.
    pub gzip: bool,
    /// Bounds TCP connect, TLS handshake and the wait for SETTINGS together.
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// Plaintext options for `target` with the defaults of the flags (1s
    /// connect timeout, no headers): handy for tests and embedding.
    pub fn plaintext(target: Target, user_agent: &str) -> Self {
        Self {
            authority: target.default_authority(),
            target,
            tls: None,
            headers: Vec::new(),
            user_agent: user_agent.to_owned(),
            gzip: false,
            connect_timeout: Duration::from_secs(1),
        }
    }
}
