//! What connecting showed besides success: how long the dial and the TLS
//! handshake took, and, under TLS, the negotiated version and the server's
//! certificate chain. Exporters report these as metrics (phase durations,
//! certificate expiry, TLS version); the CLI tools ignore them.

use std::time::Duration;

use rustls::pki_types::CertificateDer;

/// Facts about how a [`Connection`](crate::Connection) was established.
/// Only with the crate feature `handshake` (the exporter turns it on; the
/// probe leaves it off, as its size is a feature).
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// Resolving (if the target is a name) and opening the TCP or unix socket.
    pub dial: Duration,
    /// `Some` when the connection uses TLS.
    pub tls: Option<TlsHandshake>,
}

/// What a completed TLS handshake negotiated.
#[derive(Debug, Clone)]
pub struct TlsHandshake {
    /// How long the handshake took, from the ClientHello to the server's
    /// Finished.
    pub duration: Duration,
    /// The negotiated version as Go's `crypto/tls` names it (`TLS 1.2`,
    /// `TLS 1.3`), the spelling blackbox_exporter's series carry.
    pub version: &'static str,
    /// The server's chain as it sent it, leaf first (DER).
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

impl TlsHandshake {
    /// Collects what a finished rustls client connection negotiated.
    pub(crate) fn from_connection(
        connection: &rustls::ClientConnection,
        duration: Duration,
    ) -> Self {
        let version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
            _ => "unknown",
        };
        Self {
            duration,
            version,
            peer_certificates: connection
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
        }
    }
}
