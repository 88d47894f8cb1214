//! `-tls-no-verify`: accept any certificate chain and name, as
//! grpc_health_probe's `InsecureSkipVerify` does, but still check the
//! handshake signatures, so the peer must hold the key of the certificate
//! it shows.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// `-tls-no-verify`: any chain and any name are accepted, but the server
/// must still prove it holds the key of the certificate it sent, so the
/// handshake is not trivially forgeable by a passive party.
#[derive(Debug)]
pub(super) struct SkipChainAndName {
    pub(super) provider: Arc<CryptoProvider>,
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

    super::handshake_signatures_checked_by_the_provider!();
}
