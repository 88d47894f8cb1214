//! A server certificate that is itself one of the `-tls-ca-cert` anchors.
//!
//! `openssl req -x509` with its defaults makes a self-signed certificate
//! with basicConstraints CA:TRUE. Pods verified with it as their own
//! `-tls-ca-cert` pass grpc_health_probe: Go's `x509.Verify` takes a leaf
//! found in the root pool as a chain of one, without looking at its
//! basicConstraints. webpki refuses any CA certificate as an end entity.
//! [`AnchorLeaf`] accepts such a leaf when it is byte-for-byte one of the
//! configured anchors, and keeps every other check: the validity period
//! (webpki checks it before it looks at basicConstraints, so the error it
//! returns for a CA leaf means the dates were fine), the name, the
//! extended key usage as Go checks it, and the handshake signature. A CA
//! certificate that is only *signed* by an anchor is still refused.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, RootCertStore};

/// webpki's checks, as rustls's `WebPkiServerVerifier` makes them (chain,
/// then name), with the one exception the module's text explains. Built
/// from rustls's free functions rather than around a `WebPkiServerVerifier`:
/// its builder brings CRL parsing into the binary, which a probe never uses.
#[derive(Debug)]
pub(super) struct AnchorLeaf {
    pub(super) roots: Arc<RootCertStore>,
    pub(super) provider: Arc<CryptoProvider>,
    /// The DER of every certificate in the `-tls-ca-cert` file.
    pub(super) anchors: Vec<CertificateDer<'static>>,
}

/// Whether rustls refused `err` only because the leaf is a CA certificate.
fn is_ca_used_as_end_entity(err: &rustls::Error) -> bool {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            format!("{other:?}").contains("CaUsedAsEndEntity")
        }
        _ => false,
    }
}

impl ServerCertVerifier for AnchorLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        let chain = rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        );
        match chain {
            Ok(()) => {}
            Err(err)
                if is_ca_used_as_end_entity(&err)
                    && self
                        .anchors
                        .iter()
                        .any(|a| a.as_ref() == end_entity.as_ref()) =>
            {
                if !allows_server_auth(end_entity.as_ref()) {
                    return Err(rustls::Error::InvalidCertificate(
                        CertificateError::InvalidPurpose,
                    ));
                }
            }
            Err(err) => return Err(err),
        }
        rustls::client::verify_server_name(&cert, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    super::handshake_signatures_checked_by_the_provider!();
}

/// The extendedKeyUsage extension's OID, 2.5.29.37, as DER.
const EKU_OID: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x25];
/// id-kp-serverAuth, 1.3.6.1.5.5.7.3.1.
const SERVER_AUTH: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// anyExtendedKeyUsage, 2.5.29.37.0.
const ANY_EKU: &[u8] = &[0x06, 0x04, 0x55, 0x1d, 0x25, 0x00];

/// Go's rule for the leaf: no extendedKeyUsage extension, or one that
/// lists serverAuth or anyExtendedKeyUsage. The certificate is the user's
/// own trust anchor, not the network's, so a walk to the extension's
/// OCTET STRING is enough.
fn allows_server_auth(der: &[u8]) -> bool {
    let Some(at) = der.windows(EKU_OID.len()).position(|w| w == EKU_OID) else {
        return true;
    };
    let mut rest = &der[at + EKU_OID.len()..];
    // An optional `critical` BOOLEAN.
    if let [0x01, 0x01, _, after @ ..] = rest {
        rest = after;
    }
    let value = match rest {
        [0x04, len, after @ ..] if *len < 0x80 => after.get(..usize::from(*len)),
        [0x04, 0x81, len, after @ ..] => after.get(..usize::from(*len)),
        _ => None,
    };
    let Some(value) = value else { return false };
    let lists = |oid: &[u8]| value.windows(oid.len()).any(|w| w == oid);
    lists(SERVER_AUTH) || lists(ANY_EKU)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_key_usage_follows_gos_rule() {
        // No extension at all.
        assert!(allows_server_auth(&[0x30, 0x03, 0x02, 0x01, 0x01]));
        let with = |critical: bool, oids: &[&[u8]]| {
            let list: Vec<u8> = oids.concat();
            let mut seq = vec![0x30, list.len() as u8];
            seq.extend(list);
            let mut ext = EKU_OID.to_vec();
            if critical {
                ext.extend([0x01, 0x01, 0xff]);
            }
            ext.extend([0x04, seq.len() as u8]);
            ext.extend(seq);
            ext
        };
        let client_auth: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
        assert!(allows_server_auth(&with(false, &[SERVER_AUTH])));
        assert!(allows_server_auth(&with(true, &[client_auth, SERVER_AUTH])));
        assert!(allows_server_auth(&with(false, &[ANY_EKU])));
        assert!(!allows_server_auth(&with(false, &[client_auth])));
        assert!(!allows_server_auth(&with(true, &[client_auth])));
    }
}
