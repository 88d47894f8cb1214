//! What the server did about our client certificate, recorded during the
//! handshake. Under TLS 1.3 a server judges the certificate after our
//! handshake has finished, so its rejection arrives as an alert or a reset
//! on our first read; knowing whether it asked for a certificate, whether
//! we offered one, and whether a resumed session proves it was accepted
//! lets `error::tls::blame_client_auth` name the real cause.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::SignatureScheme;

use crate::error::tls::ClientAuthFacts;
use rustls::client::{ClientSessionStore, ResolvesClientCert, Resumption};
use rustls::pki_types::ServerName;

/// What one TLS handshake showed about client authentication, recorded by
/// [`RecordingResolver`]. Under TLS 1.3 the server judges our certificate
/// after our handshake has finished and rejects it with an alert followed
/// by a close; if its TCP reset overtakes the alert, all we read is
/// "connection reset". Knowing that the server asked for a certificate
/// (and whether we offered one) is what tells that reset apart from a
/// server that merely went away.
#[derive(Debug, Default)]
pub(crate) struct ClientAuthSeen {
    requested: AtomicBool,
    offered: AtomicBool,
    accepted: AtomicBool,
}

impl ClientAuthSeen {
    /// The server sent a CertificateRequest.
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// We answered it with a certificate whose key can sign with one of the
    /// schemes the server accepts (otherwise rustls sends an empty one).
    pub(crate) fn offered(&self) -> bool {
        self.offered.load(Ordering::Acquire)
    }

    /// The server is known to have accepted the client side of the
    /// handshake: a TLS 1.2 handshake completed (the server judges the
    /// certificate before its Finished), or a TLS 1.3 session ticket
    /// arrived (servers send those after the client's Finished once client
    /// authentication has passed). A later failure is then not about the
    /// certificate.
    pub(crate) fn accepted(&self) -> bool {
        self.accepted.load(Ordering::Acquire)
    }

    /// The facts, for the error wording (`crate::error::tls`).
    pub(crate) fn facts(&self) -> ClientAuthFacts {
        ClientAuthFacts {
            requested: self.requested(),
            offered: self.offered(),
            accepted: self.accepted(),
        }
    }

    pub(crate) fn accept(&self) {
        self.accepted.store(true, Ordering::Release);
    }
}

/// Delegates to the shared session cache, noting in a per-connection
/// [`ClientAuthSeen`] that a TLS 1.3 session ticket arrived.
#[derive(Debug)]
struct RecordingStore {
    inner: Arc<dyn ClientSessionStore>,
    seen: Arc<ClientAuthSeen>,
}

impl ClientSessionStore for RecordingStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.seen.accept();
        self.inner.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

/// The session cache one [`Dialer`](crate::transport::Dialer) shares
/// between its connections (rustls's default size).
pub(crate) fn session_cache() -> Arc<dyn ClientSessionStore> {
    Arc::new(rustls::client::ClientSessionMemoryCache::new(256))
}

/// Wraps the configured client certificate resolver, which rustls calls
/// only when the server sends a CertificateRequest, to record that request
/// and our answer in a per-connection [`ClientAuthSeen`].
#[derive(Debug)]
struct RecordingResolver {
    inner: Arc<dyn ResolvesClientCert>,
    seen: Arc<ClientAuthSeen>,
}

impl ResolvesClientCert for RecordingResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let chosen = self.inner.resolve(root_hint_subjects, sigschemes);
        // The same test rustls applies before sending the certificate.
        let usable = chosen
            .as_ref()
            .is_some_and(|key| key.key.choose_scheme(sigschemes).is_some());
        self.seen.offered.store(usable, Ordering::Release);
        self.seen.requested.store(true, Ordering::Release);
        chosen
    }

    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

/// A copy of `config` for one connection, whose client certificate
/// resolver and session store (over the shared `sessions`) record into the
/// returned [`ClientAuthSeen`].
pub(crate) fn recording_client_auth(
    config: &rustls::ClientConfig,
    sessions: &Arc<dyn ClientSessionStore>,
) -> (rustls::ClientConfig, Arc<ClientAuthSeen>) {
    let seen = Arc::new(ClientAuthSeen::default());
    let mut config = config.clone();
    config.client_auth_cert_resolver = Arc::new(RecordingResolver {
        inner: config.client_auth_cert_resolver.clone(),
        seen: seen.clone(),
    });
    config.resumption = Resumption::store(Arc::new(RecordingStore {
        inner: sessions.clone(),
        seen: seen.clone(),
    }));
    (config, seen)
}
