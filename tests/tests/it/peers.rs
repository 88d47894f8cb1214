//! Health and Channelz against the three real peers (Python grpcio, Node
//! grpc-js, Go grpc-go), through the shared connection layer
//! (`grpc_toolkit_conn`) that both tools use: the toolkit must work with the
//! servers operators run, not only with tonic.
//!
//! Every test runs once per peer kind; a peer that cannot start skips the
//! test locally and fails it with `CI=true` (see `testkit::peers`).

use std::path::Path;
use std::time::Duration;

use grpc_toolkit_conn::{self as conn, ConnArgs, Connection};
use grpc_toolkit_proto::channelz::v1::{
    GetSocketRequest, GetSubchannelRequest, GetTopChannelsRequest,
};
use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use grpc_toolkit_proto::health::v1::{HealthCheckRequest, HealthListRequest};
use testkit::peers::{Peer, PeerKind, PeerOptions, install, or_skip, start_or_skip};

/// Generous: the peers share two cores with the whole test suite.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to a peer through the shared layer, from the same flags the
/// tools take (`--addr <peer.addr()>` and `--connect-timeout`).
async fn connect(peer: &Peer) -> Connection {
    connect_with(peer, ConnArgs::default()).await
}

/// Like [`connect`], with more flags (`addr` and the timeout are filled in).
async fn connect_with(peer: &Peer, flags: ConnArgs) -> Connection {
    let flags = ConnArgs {
        addr: Some(peer.addr()),
        connect_timeout: TIMEOUT,
        ..flags
    };
    let options = flags
        .to_options("grpc-toolkit-tests")
        .unwrap_or_else(|e| panic!("{} peer: bad flags {flags:?}: {e}", peer.kind()));
    conn::connect(&options).await.unwrap_or_else(|e| {
        panic!(
            "{} peer: cannot connect to {}: {e}",
            peer.kind(),
            peer.addr()
        )
    })
}

async fn check(conn: &Connection, service: &str) -> Result<ServingStatus, tonic::Code> {
    let request = conn.request(
        HealthCheckRequest {
            service: service.to_owned(),
        },
        Some(TIMEOUT),
    );
    let response = conn::call(Some(TIMEOUT), conn.health().check(request)).await;
    response
        .map(|r| r.into_inner().status())
        .map_err(|e| e.code())
}

/// The ids of all top channels, walking every page as the dashboard does,
/// and the number of pages that took.
async fn top_channel_ids(kind: PeerKind, conn: &Connection, max_results: i64) -> (Vec<i64>, usize) {
    let mut channelz = conn.channelz_client();
    let mut ids = Vec::new();
    let mut start = 0;
    for pages in 1..100 {
        let request = conn.request(
            GetTopChannelsRequest {
                start_channel_id: start,
                max_results,
            },
            Some(TIMEOUT),
        );
        let page = conn::call(Some(TIMEOUT), channelz.get_top_channels(request))
            .await
            .unwrap_or_else(|e| panic!("{kind} peer: GetTopChannels from {start}: {e}"))
            .into_inner();
        ids.extend(
            page.channel
                .iter()
                .filter_map(|c| c.r#ref.as_ref())
                .map(|r| r.channel_id),
        );
        if page.end {
            return (ids, pages);
        }
        start = ids
            .last()
            .unwrap_or_else(|| panic!("{kind} peer: empty page without end"))
            + 1;
    }
    panic!("{kind} peer: paging does not end: {ids:?}");
}

async fn health_check_follows_set_status(kind: PeerKind) {
    let Some(mut peer) = start_or_skip(kind, PeerOptions::default()).await else {
        return;
    };
    let conn = connect(&peer).await;

    assert_eq!(
        check(&conn, "").await,
        Ok(ServingStatus::Serving),
        "{kind} peer"
    );
    peer.set_status("", ServingStatus::NotServing)
        .await
        .expect("set the server status");
    assert_eq!(
        check(&conn, "").await,
        Ok(ServingStatus::NotServing),
        "{kind} peer"
    );

    let echo = "toolkit.test.Echo";
    peer.set_status(echo, ServingStatus::Serving)
        .await
        .expect("add a service");
    assert_eq!(
        check(&conn, echo).await,
        Ok(ServingStatus::Serving),
        "{kind} peer"
    );
    peer.set_status(echo, ServingStatus::NotServing)
        .await
        .expect("change it");
    assert_eq!(
        check(&conn, echo).await,
        Ok(ServingStatus::NotServing),
        "{kind} peer"
    );

    let unknown = check(&conn, "toolkit.test.Missing").await;
    assert_eq!(unknown, Err(tonic::Code::NotFound), "{kind} peer");
}

async fn health_watch_sees_changes(kind: PeerKind) {
    let Some(mut peer) = start_or_skip(kind, PeerOptions::default()).await else {
        return;
    };
    let conn = connect(&peer).await;
    let watched = "toolkit.test.Watched";
    peer.set_status(watched, ServingStatus::Serving)
        .await
        .expect("add a service");

    let request = conn.request(
        HealthCheckRequest {
            service: watched.to_owned(),
        },
        None,
    );
    let mut stream = conn::call(Some(TIMEOUT), conn.health().watch(request))
        .await
        .unwrap_or_else(|e| panic!("{kind} peer: Watch: {e}"))
        .into_inner();
    let mut next = async || {
        let message = tokio::time::timeout(TIMEOUT, stream.message()).await;
        let message = message.unwrap_or_else(|_| panic!("{kind} peer: no watch update"));
        message.expect("stream ok").expect("stream open").status()
    };
    assert_eq!(
        next().await,
        ServingStatus::Serving,
        "{kind} peer: first watch message"
    );
    peer.set_status(watched, ServingStatus::NotServing)
        .await
        .expect("change it");
    assert_eq!(
        next().await,
        ServingStatus::NotServing,
        "{kind} peer: after the change"
    );
}

/// List is newer than the servicer of grpcio-health-checking 1.85 (pinned)
/// and than grpc-go 1.33 (Debian 12's): those answer UNIMPLEMENTED, as many
/// deployed servers do, and the tools must handle that as well. A newer
/// Debian's grpc-go may implement it, so only its answer, when there is
/// one, is checked. The Node peer's health service (ours) implements it.
async fn health_list_shows_every_service(kind: PeerKind) {
    let Some(mut peer) = start_or_skip(kind, PeerOptions::default()).await else {
        return;
    };
    let conn = connect(&peer).await;
    peer.set_status("toolkit.test.Down", ServingStatus::NotServing)
        .await
        .expect("add a service");

    let request = conn.request(HealthListRequest {}, Some(TIMEOUT));
    let listed = conn::call(Some(TIMEOUT), conn.health().list(request)).await;
    let unimplemented = matches!(&listed, Err(e) if e.code() == tonic::Code::Unimplemented);
    match kind {
        PeerKind::Python => {
            assert!(
                unimplemented,
                "grpcio-health-checking 1.85 has no List: {listed:?}"
            );
            return;
        }
        PeerKind::Go if unimplemented => return,
        PeerKind::Go | PeerKind::Node => {}
    }
    let statuses = listed
        .unwrap_or_else(|e| panic!("{kind} peer: List: {e}"))
        .into_inner()
        .statuses;
    let status = |name: &str| statuses.get(name).map(|r| r.status());
    assert_eq!(
        status(""),
        Some(ServingStatus::Serving),
        "{kind} peer: {statuses:?}"
    );
    assert_eq!(
        status("toolkit.test.Down"),
        Some(ServingStatus::NotServing),
        "{kind} peer"
    );
    assert_eq!(status("toolkit.test.Missing"), None, "{kind} peer");
}

async fn channelz_shows_live_channels(kind: PeerKind) {
    let Some(peer) = start_or_skip(kind, PeerOptions::default()).await else {
        return;
    };
    let conn = connect(&peer).await;
    let mut channelz = conn.channelz_client();

    let request = conn.request(
        GetTopChannelsRequest {
            start_channel_id: 0,
            max_results: 0,
        },
        Some(TIMEOUT),
    );
    let page = conn::call(Some(TIMEOUT), channelz.get_top_channels(request))
        .await
        .unwrap_or_else(|e| panic!("{kind} peer: GetTopChannels: {e}"))
        .into_inner();
    assert!(!page.channel.is_empty(), "{kind} peer: no top channels");

    // The peer's own client channels made successful calls and one call for
    // an unknown service, which fails with NOT_FOUND.
    let data: Vec<_> = page
        .channel
        .iter()
        .filter_map(|c| c.data.as_ref())
        .collect();
    assert!(
        data.iter().any(|d| d.calls_succeeded > 0),
        "{kind} peer: no succeeded calls"
    );
    assert!(
        data.iter().any(|d| d.calls_failed > 0),
        "{kind} peer: no failed calls"
    );

    let busiest = page
        .channel
        .iter()
        .max_by_key(|c| c.data.as_ref().map_or(0, |d| d.calls_started))
        .expect("a channel");
    let subchannel_ref = busiest.subchannel_ref.first().unwrap_or_else(|| {
        panic!("{kind} peer: the busiest channel has no subchannel: {busiest:?}")
    });
    let request = conn.request(
        GetSubchannelRequest {
            subchannel_id: subchannel_ref.subchannel_id,
        },
        Some(TIMEOUT),
    );
    let subchannel = conn::call(Some(TIMEOUT), channelz.get_subchannel(request))
        .await
        .unwrap_or_else(|e| panic!("{kind} peer: GetSubchannel: {e}"))
        .into_inner()
        .subchannel
        .expect("a subchannel");
    let sub_data = subchannel.data.expect("subchannel data");
    assert!(
        sub_data.calls_started > 0,
        "{kind} peer: subchannel with no calls"
    );
    let socket_ref = subchannel
        .socket_ref
        .first()
        .unwrap_or_else(|| panic!("{kind} peer: subchannel without socket"));

    let request = conn.request(
        GetSocketRequest {
            socket_id: socket_ref.socket_id,
            summary: false,
        },
        Some(TIMEOUT),
    );
    let socket = conn::call(Some(TIMEOUT), channelz.get_socket(request))
        .await
        .unwrap_or_else(|e| panic!("{kind} peer: GetSocket: {e}"))
        .into_inner()
        .socket
        .expect("a socket");
    let socket_data = socket.data.expect("socket data");
    assert!(
        socket_data.streams_started > 0,
        "{kind} peer: socket with no streams"
    );
    assert!(
        socket.remote.is_some(),
        "{kind} peer: socket without remote address"
    );
}

async fn channelz_pages_through_many_channels(kind: PeerKind) {
    const EXTRA: usize = 60;
    let options = PeerOptions {
        channels: EXTRA,
        ..PeerOptions::default()
    };
    let Some(peer) = start_or_skip(kind, options).await else {
        return;
    };
    let conn = connect(&peer).await;
    let (ids, _) = top_channel_ids(kind, &conn, 0).await;
    assert!(
        ids.len() > EXTRA,
        "{kind} peer: {} channels for {} created",
        ids.len(),
        EXTRA + 1
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{kind} peer: ids not increasing: {ids:?}"
    );

    // Small pages must walk to the same list. grpcio's servicer passes only
    // start_channel_id to C-core, which ignores max_results and pages 100.
    let (small_page_ids, pages) = top_channel_ids(kind, &conn, 20).await;
    assert_eq!(
        small_page_ids, ids,
        "{kind} peer: pages of 20 list other channels"
    );
    if kind != PeerKind::Python {
        assert!(
            pages >= ids.len().div_ceil(20),
            "{kind} peer: {pages} pages of 20 for {}",
            ids.len()
        );
    }
}

/// The peer behind `conn` answers the overall health check SERVING and
/// lists at least one top channel over Channelz.
async fn assert_serving_with_channels(kind: PeerKind, conn: &Connection) {
    assert_eq!(
        check(conn, "").await,
        Ok(ServingStatus::Serving),
        "{kind} peer"
    );
    assert!(
        !top_channel_ids(kind, conn, 0).await.0.is_empty(),
        "{kind} peer: no channels"
    );
}

async fn health_and_channelz_over_a_unix_socket(kind: PeerKind) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let socket = dir.path().join("peer.sock");
    let options = PeerOptions {
        unix: Some(socket.clone()),
        ..PeerOptions::default()
    };
    let Some(peer) = start_or_skip(kind, options).await else {
        return;
    };
    assert_eq!(peer.addr(), format!("unix:{}", socket.display()));
    let conn = connect(&peer).await;
    assert_serving_with_channels(kind, &conn).await;
}

/// Writes a self-signed certificate for `localhost` and its key.
fn write_localhost_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write the certificate");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write the key");
    (cert, key)
}

async fn health_and_channelz_over_tls(kind: PeerKind) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (cert, key) = write_localhost_cert(dir.path());
    let options = PeerOptions {
        tls: Some((cert.clone(), key)),
        ..PeerOptions::default()
    };
    let Some(peer) = start_or_skip(kind, options).await else {
        return;
    };
    let flags = ConnArgs {
        tls: true,
        tls_ca_cert: Some(cert),
        tls_server_name: Some("localhost".to_owned()),
        ..ConnArgs::default()
    };
    let conn = connect_with(&peer, flags).await;
    assert_serving_with_channels(kind, &conn).await;
}

/// `--gzip` compresses requests and accepts compressed responses; every
/// peer must decode them (the Go peer registers grpc-go's gzip codec, which
/// a grpc-go server needs for that).
async fn health_and_channelz_with_gzip(kind: PeerKind) {
    let Some(peer) = start_or_skip(kind, PeerOptions::default()).await else {
        return;
    };
    let flags = ConnArgs {
        gzip: true,
        ..ConnArgs::default()
    };
    let conn = connect_with(&peer, flags).await;
    assert_serving_with_channels(kind, &conn).await;
}

/// A peer that cannot start is an error naming why, with its stderr, not a
/// hang: here it cannot listen on a socket in a missing directory.
async fn a_peer_that_cannot_listen_is_a_clear_error(kind: PeerKind) {
    if or_skip(install(kind).await).is_none() {
        return;
    }
    let options = PeerOptions {
        unix: Some("/nonexistent-grpc-toolkit-dir/peer.sock".into()),
        ..PeerOptions::default()
    };
    let error = Peer::start(kind, options)
        .await
        .expect_err("no peer can listen there");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{kind} peer: exited before printing its address")),
        "{message}"
    );
    assert!(message.contains("cannot listen on"), "{message}");
}

macro_rules! for_each_peer {
    ($($test:ident),* $(,)?) => {
        mod python {
            $(#[tokio::test] async fn $test() { super::$test(super::PeerKind::Python).await })*
        }
        mod node {
            $(#[tokio::test] async fn $test() { super::$test(super::PeerKind::Node).await })*
        }
        mod go {
            $(#[tokio::test] async fn $test() { super::$test(super::PeerKind::Go).await })*
        }
    };
}

for_each_peer!(
    health_check_follows_set_status,
    health_watch_sees_changes,
    health_list_shows_every_service,
    channelz_shows_live_channels,
    channelz_pages_through_many_channels,
    health_and_channelz_over_a_unix_socket,
    health_and_channelz_over_tls,
    health_and_channelz_with_gzip,
    a_peer_that_cannot_listen_is_a_clear_error,
);
