//! The connection layer that `grpc-probe` and `channelz-tui` share.
//!
//! Both binaries accept the same connection flags ([`ConnArgs`]), turn them
//! into [`ConnectOptions`], and call [`connect`]. A [`Connection`] is only
//! handed out once the server's first HTTP/2 SETTINGS frame has arrived
//! (grpc-go's READY), so every failure before that point is a
//! [`ConnectError`] and never looks like a failed RPC.
//!
//! SKELETON: the signatures below are the contract other modules code
//! against; the bodies are being written.

use std::path::PathBuf;
use std::time::Duration;

/// Where to connect, parsed from the `-addr` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP host (name, IPv4 or IPv6 literal without brackets) and port.
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A unix domain socket path.
    Unix {
        /// Filesystem path of the socket.
        path: PathBuf,
    },
}

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
    /// The value; never printed (it may be a token).
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
    /// The `user-agent` prefix.
    pub user_agent: String,
    /// Compress requests with gzip and accept gzip responses.
    pub gzip: bool,
    /// Bounds TCP connect, TLS handshake and the wait for SETTINGS together.
    pub connect_timeout: Duration,
}

/// Why a connection could not be established.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Placeholder until the layer lands.
    #[error("not implemented yet")]
    Todo,
}

/// An open, READY connection to one server.
#[derive(Debug, Clone)]
pub struct Connection {
    channel: tonic::transport::Channel,
}

impl Connection {
    /// The tonic channel to build clients on.
    pub fn channel(&self) -> tonic::transport::Channel {
        self.channel.clone()
    }
}

/// Connects and waits for the server's SETTINGS frame.
pub async fn connect(_options: &ConnectOptions) -> Result<Connection, ConnectError> {
    Err(ConnectError::Todo)
}
