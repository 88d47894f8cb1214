//! CSDS in channelz-tui's JSON, recordings and fleet, against the real
//! grpcio xDS peer (`Peer::start_xds`) and the hostile CSDS server
//! (`testkit::hostile_csds`).

use std::time::{Duration, Instant};

use grpc_toolkit_channelz_client::csds::{self, Summary};
use testkit::hostile_csds::{HostileCsds, Mode, SCOPE, limits};

async fn connect(addr: &str) -> grpc_toolkit_conn::Connection {
    let options = grpc_toolkit_conn::ConnArgs {
        addr: Some(addr.to_owned()),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    }
    .to_options("grpc-toolkit-tests")
    .expect("flags");
    grpc_toolkit_conn::connect(&options).await.expect("connect")
}

/// The hostile server's modes reach the reader as they say: text past
/// the bound is cut, resources past the bound are counted, an oversized
/// answer is an error, undecodable payloads are the fallback, and a hang
/// ends at the deadline.
#[tokio::test]
async fn the_hostile_csds_server_modes_reach_the_reader() {
    let fetch = |mode: Mode| async move {
        let server = HostileCsds::new(mode).start().await;
        let conn = connect(server.addr()).await;
        csds::fetch(&conn, Duration::from_secs(2)).await
    };

    let status = fetch(Mode::ControlBytes).await.unwrap().unwrap();
    let scope = &status.scopes[0];
    assert!(scope.client_scope.starts_with(SCOPE));
    assert_eq!(scope.client_scope.chars().count(), limits::MAX_TEXT);
    assert!(
        scope
            .resources
            .iter()
            .all(|r| r.name.chars().count() <= limits::MAX_TEXT)
    );
    assert!(scope.resources.iter().any(|r| r.failure.is_some()));

    let many = limits::MAX_RESOURCES + 7;
    let status = fetch(Mode::ManyResources(many)).await.unwrap().unwrap();
    assert_eq!(status.scopes[0].resources.len(), limits::MAX_RESOURCES);
    assert_eq!(status.dropped, 7);

    let error = fetch(Mode::HugePayload).await.unwrap_err();
    // tonic's decoder refuses it before reading it all (OUT_OF_RANGE).
    assert_eq!(error.code(), tonic::Code::OutOfRange, "{error}");

    let status = fetch(Mode::UnknownAny).await.unwrap().unwrap();
    assert!(
        status.scopes[0]
            .resources
            .iter()
            .all(|r| matches!(r.summary, Summary::Other { .. })),
        "{status:#?}"
    );

    let started = Instant::now();
    let error = fetch(Mode::Hang).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::DeadlineExceeded, "{error}");
    assert!(started.elapsed() < Duration::from_secs(4));
}
