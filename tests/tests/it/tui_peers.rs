//! `channelz-tui`'s poller against real gRPC implementations: Python
//! (C-core), Node (grpc-js) and Go (grpc-go), each with Channelz on and
//! traffic. The channels, subchannels, sockets and servers each peer made
//! appear with their counts, and paging works over more entities than one
//! page holds.

use std::collections::HashSet;
use std::time::Duration;

use channelz_tui::model::{EntityId, Focus};
use channelz_tui::poll::{self, Api};
use grpc_toolkit_conn::{ConnectOptions, Target, connect};
use testkit::peers::{PeerKind, PeerOptions, start_or_skip};

/// More top channels than grpc-go's default page (50) and than the small
/// page size the test asks for.
const EXTRA_CHANNELS: usize = 60;

async fn api_for(addr: &str) -> Api {
    let target = Target::parse(addr).expect("peer address parses");
    let mut options = ConnectOptions::plaintext(target, "tui-peers-test");
    options.connect_timeout = Duration::from_secs(10);
    let conn = connect(&options).await.expect("peer accepts connections");
    Api::new(conn, Duration::from_secs(10))
}

/// Polls until `check` passes or 30s pass (peers make their traffic
/// asynchronously after they print their address).
async fn eventually<T, F, Fut>(mut attempt: F, what: &str) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

async fn check_peer(kind: PeerKind) {
    let Some(peer) = start_or_skip(
        kind,
        PeerOptions {
            channels: EXTRA_CHANNELS,
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let mut api = api_for(&peer.addr()).await;

    // Every top channel the peer made, with calls on at least one.
    let channels = eventually(
        || {
            let api = api.clone();
            async move {
                let channels = api
                    .top_channels(&poll::Budget::new(api.limits), &mut Vec::new())
                    .await
                    .map_err(|e| e.to_string())?;
                let called = channels
                    .iter()
                    .filter(|c| c.data.as_ref().is_some_and(|d| d.calls_started > 0))
                    .count();
                if channels.len() > EXTRA_CHANNELS && called > 0 {
                    Ok(channels)
                } else {
                    Err(format!(
                        "{} channels, {} with calls",
                        channels.len(),
                        called
                    ))
                }
            }
        },
        &format!("{kind}: top channels"),
    )
    .await;

    // Paging with a page much smaller than the list gives the same ids,
    // in order, without duplicates.
    api.page_size = 7;
    let paged = api
        .top_channels(&poll::Budget::new(api.limits), &mut Vec::new())
        .await
        .expect("paged GetTopChannels");
    let ids = |cs: &[grpc_toolkit_proto::channelz::v1::Channel]| {
        cs.iter()
            .map(|c| c.r#ref.as_ref().map_or(0, |r| r.channel_id))
            .collect::<Vec<_>>()
    };
    let paged_ids = ids(&paged);
    assert!(
        paged_ids.windows(2).all(|w| w[0] < w[1]),
        "{kind}: paged ids strictly increase: {paged_ids:?}"
    );
    let all: HashSet<i64> = ids(&channels).into_iter().collect();
    let missing: Vec<i64> = all
        .iter()
        .copied()
        .filter(|id| !paged_ids.contains(id))
        .collect();
    assert!(
        missing.len() <= 2,
        "{kind}: paging lost channels {missing:?}"
    );
    api.page_size = 500;

    // Servers, with the peer's listen socket and accepted connections.
    let servers = api
        .servers(&poll::Budget::new(api.limits), &mut Vec::new())
        .await
        .expect("GetServers");
    assert!(!servers.is_empty(), "{kind}: the peer's server is listed");
    let server_id = servers[0].r#ref.as_ref().map_or(0, |r| r.server_id);
    let msg = poll::overview(&api).await.expect("overview");
    let channelz_tui::msg::Msg::Overview {
        server_socket_counts,
        ..
    } = msg
    else {
        panic!("overview message");
    };
    let open: usize = server_socket_counts.iter().map(|(_, n)| n).sum();
    assert!(
        open > EXTRA_CHANNELS / 2,
        "{kind}: the peer's own channels show as server sockets ({open})"
    );

    // A channel with calls drills down to READY subchannels with sockets
    // that carried streams.
    let busy = channels
        .iter()
        .filter(|c| c.data.as_ref().is_some_and(|d| d.calls_started > 0))
        .map(|c| c.r#ref.as_ref().map_or(0, |r| r.channel_id))
        .collect::<Vec<_>>();
    let tree = api
        .focus(&Focus::Tree(busy.clone()))
        .await
        .expect("tree walk");
    assert!(
        !tree.subchannels.is_empty(),
        "{kind}: subchannels under {busy:?}"
    );
    assert!(
        tree.subchannels
            .iter()
            .any(|s| s.data.as_ref().is_some_and(|d| d.calls_started > 0)),
        "{kind}: a subchannel counted calls"
    );
    assert!(
        tree.sockets.iter().any(|s| s
            .data
            .as_ref()
            .is_some_and(|d| d.streams_started > 0 && d.messages_sent > 0)),
        "{kind}: a socket counted streams and messages"
    );

    // The server detail pages its sockets and fetches them.
    let details = api
        .focus(&Focus::Server {
            id: server_id,
            start: 0,
        })
        .await
        .expect("server focus");
    let (_, page) = details.server_sockets.first().expect("a page");
    assert!(
        !page.refs.is_empty(),
        "{kind}: GetServerSockets lists connections"
    );
    assert!(
        details.sockets.len() >= page.refs.len().min(1),
        "{kind}: server sockets fetched"
    );

    // And the whole snapshot resolves every subchannel the tree saw.
    let mut everything = channelz_tui::msg::Details::default();
    poll::everything(
        &api,
        &channels,
        &servers,
        &poll::Budget::new(api.limits),
        &mut everything,
    )
    .await
    .expect("snapshot");
    let subs: HashSet<EntityId> = everything
        .subchannels
        .iter()
        .filter_map(|s| s.r#ref.as_ref())
        .map(|r| EntityId::Subchannel(r.subchannel_id))
        .collect();
    for s in &tree.subchannels {
        let id = EntityId::Subchannel(s.r#ref.as_ref().map_or(0, |r| r.subchannel_id));
        assert!(subs.contains(&id), "{kind}: snapshot has {id:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_peer() {
    check_peer(PeerKind::Python).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_peer() {
    check_peer(PeerKind::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_peer() {
    check_peer(PeerKind::Go).await;
}
