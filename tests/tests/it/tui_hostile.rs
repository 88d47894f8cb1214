//! `channelz-tui` against Channelz servers that lie (issue 11, items 7-12):
//! cycles and shared refs, children that answer NOT_FOUND, pages that never
//! end or overflow, single methods answering UNIMPLEMENTED, fields without
//! a proto3 JSON form, and status messages full of terminal controls. Each
//! server is an in-process tonic `Channelz` with crafted answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use channelz_tui::json;
use channelz_tui::poll::{Api, Limits};
use grpc_toolkit_conn::{ConnectOptions, Target, connect};
use grpc_toolkit_proto::channelz::v1::*;
use prost::Message;
use serde_json::Value;
use testkit::channelz::{Hostile, Paging, channel};
use testkit::servers::TestServer;

async fn api(server: &TestServer, limits: Limits) -> Api {
    let addr: std::net::SocketAddr = server.addr().parse().expect("ip:port");
    let options = ConnectOptions::plaintext(
        Target::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        "tui-hostile-test",
    );
    Api::new(
        connect(&options).await.expect("connects"),
        Duration::from_secs(5),
    )
    .with_limits(limits)
}

/// A snapshot as a JSON document, in bounded time.
async fn snapshot(server: &TestServer, limits: Limits) -> Value {
    let api = api(server, limits).await;
    let snap = tokio::time::timeout(Duration::from_secs(20), json::take(&api))
        .await
        .expect("the snapshot ends")
        .expect("a snapshot");
    let mut text = Vec::new();
    snap.write_json("hostile", None, &mut text).expect("writes");
    assert!(text.len() < 1 << 20, "bounded output: {} bytes", text.len());
    serde_json::from_slice(&text).expect("one JSON document")
}

fn incomplete(doc: &Value) -> Vec<(String, String)> {
    doc["incomplete"]
        .as_array()
        .expect("an incomplete array")
        .iter()
        .map(|i| {
            (
                i["entity"].as_str().unwrap_or_default().to_owned(),
                i["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every entity, less the added keys, parses strictly as its message
/// (a `{"ref": …}` stand-in included); returns how many were checked.
fn check(value: &Value, name: &str) -> usize {
    testkit::channelz::check_entity(value, name, &mut |_| {})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_and_shared_refs_are_shown_once_and_reported() {
    // Top channels 1, 2 and 4 all reference each other; nested channel 5
    // lists itself, and its subchannel 3 lists itself too.
    let mut h = Hostile::default();
    for c in [
        channel(1, &[2, 4, 5], &[]),
        channel(2, &[1, 4], &[]),
        channel(4, &[1, 2], &[]),
        channel(5, &[5], &[3]),
    ] {
        h.channels.insert(c.r#ref.as_ref().unwrap().channel_id, c);
    }
    h.top = vec![1, 2, 4];
    h.subchannels.insert(
        3,
        Subchannel {
            r#ref: Some(SubchannelRef {
                subchannel_id: 3,
                name: String::new(),
            }),
            data: None,
            channel_ref: vec![],
            subchannel_ref: vec![SubchannelRef {
                subchannel_id: 3,
                name: String::new(),
            }],
            socket_ref: vec![],
        },
    );
    let server = h.start().await;
    let doc = snapshot(&server, Limits::default()).await;
    let channels = doc["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 3, "{doc}");
    let checked: usize = channels
        .iter()
        .map(|c| check(c, "grpc.channelz.v1.Channel"))
        .sum();
    assert!(
        checked < 20,
        "each entity once, refs for the rest: {checked}"
    );
    // Channel 1 shows channel 5 in full; top channels 2 and 4 as refs.
    let children = channels[0]["childChannels"].as_array().expect("children");
    assert_eq!(children[0], serde_json::json!({"ref": {"channelId": "2"}}));
    assert_eq!(children[2]["ref"]["channelId"], "5");
    assert!(
        children[2].get("data").is_some(),
        "5 in full: {}",
        children[2]
    );
    let cut = incomplete(&doc);
    assert!(
        cut.contains(&("channel 5".into(), "cycle".into())),
        "{cut:?}"
    );
    assert!(
        cut.contains(&("subchannel 3".into(), "cycle".into())),
        "{cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_that_answer_not_found_are_reported() {
    let mut h = Hostile::default();
    h.channels.insert(1, channel(1, &[66], &[77]));
    h.top = vec![1];
    let server = h.start().await;
    let doc = snapshot(&server, Limits::default()).await;
    let cut = incomplete(&doc);
    assert!(
        cut.contains(&("subchannel 77".into(), "not_found".into())),
        "{cut:?}"
    );
    assert!(
        cut.contains(&("channel 66".into(), "not_found".into())),
        "{cut:?}"
    );
    let c = &doc["channels"][0];
    assert_eq!(c["subchannels"][0]["ref"]["subchannelId"], "77", "{c}");
    check(c, "grpc.channelz.v1.Channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_ending_at_the_largest_id_stops_paging() {
    let h = Hostile {
        paging: Paging::Overflow,
        ..Default::default()
    };
    let calls = Arc::clone(&h.top_calls);
    let server = h.start().await;
    let doc = snapshot(&server, Limits::default()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one page, no overflow");
    assert_eq!(doc["channels"][0]["ref"]["channelId"], i64::MAX.to_string());
    let cut = incomplete(&doc);
    assert!(
        cut.contains(&("GetTopChannels".into(), "error".into())),
        "{cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pages_stop_at_max_pages() {
    let h = Hostile {
        paging: Paging::Endless,
        ..Default::default()
    };
    let calls = Arc::clone(&h.top_calls);
    let server = h.start().await;
    let addr = server.addr().to_owned();
    let run = testkit::bin::in_process(move |out, err| {
        channelz_tui::run_cli(
            ["channelz-tui", &addr, "--json", "--max-pages", "5"],
            out,
            err,
        )
        .code()
    })
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Five pages per snapshot in all: GetServers took one.
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let doc = run.json();
    assert_eq!(doc["channels"].as_array().map(Vec::len), Some(400));
    let cut = incomplete(&doc);
    assert!(
        cut.contains(&("GetTopChannels".into(), "limit".into())),
        "{cut:?}"
    );

    // --max-entities cuts inside a page.
    let server = Hostile {
        paging: Paging::Endless,
        ..Default::default()
    }
    .start()
    .await;
    let doc = snapshot(
        &server,
        Limits {
            max_pages: 1000,
            max_entities: 250,
        },
    )
    .await;
    assert_eq!(doc["channels"].as_array().map(Vec::len), Some(250));
    assert!(incomplete(&doc).contains(&("GetTopChannels".into(), "limit".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_missing_method_keeps_the_rest_of_the_snapshot() {
    let mut h = Hostile::default();
    h.channels.insert(1, channel(1, &[], &[3, 4]));
    h.top = vec![1];
    h.unimplemented = vec!["GetSubchannel", "GetServers"];
    let server = h.start().await;
    let doc = snapshot(&server, Limits::default()).await;
    assert_eq!(doc["channels"][0]["ref"]["channelId"], "1", "{doc}");
    assert_eq!(doc["channels"][0]["data"]["callsStarted"], "11");
    let cut = incomplete(&doc);
    assert!(
        cut.contains(&("GetSubchannel".into(), "unimplemented".into())),
        "{cut:?}"
    );
    assert!(
        cut.contains(&("GetServers".into(), "unimplemented".into())),
        "{cut:?}"
    );

    // GetServerSockets and GetSocket missing: the servers still show.
    let h = Hostile {
        servers: vec![Server {
            r#ref: Some(ServerRef {
                server_id: 8,
                name: "s".into(),
            }),
            data: None,
            listen_socket: vec![SocketRef {
                socket_id: 9,
                name: String::new(),
            }],
        }],
        unimplemented: vec!["GetServerSockets", "GetSocket"],
        ..Default::default()
    };
    let server = h.start().await;
    let doc = snapshot(&server, Limits::default()).await;
    assert_eq!(doc["servers"][0]["ref"]["serverId"], "8", "{doc}");
    let cut = incomplete(&doc);
    assert!(
        cut.contains(&("server 8".into(), "unimplemented".into())),
        "{cut:?}"
    );
    assert!(
        cut.contains(&("GetSocket".into(), "unimplemented".into())),
        "{cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_without_a_json_form_keep_the_entity() {
    let mut c = channel(1, &[], &[]);
    if let Some(d) = c.data.as_mut() {
        d.last_call_started_timestamp = Some(prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        });
    }
    let alts = prost_types::Any {
        type_url: "type.googleapis.com/grpc.gcp.AltsContext".into(),
        // A well-formed AltsContext: application_protocol "grpc".
        value: {
            let mut v = vec![0x0a, 4];
            v.extend_from_slice(b"grpc");
            v
        },
    };
    let timeout = SocketOptionTimeout {
        duration: Some(prost_types::Duration {
            seconds: i64::MAX,
            nanos: 0,
        }),
    };
    let socket = Socket {
        r#ref: Some(SocketRef {
            socket_id: 9,
            name: "alts".into(),
        }),
        data: Some(SocketData {
            streams_started: 3,
            option: vec![SocketOption {
                name: "SO_RCVTIMEO".into(),
                value: String::new(),
                additional: Some(prost_types::Any {
                    type_url: "type.googleapis.com/grpc.channelz.v1.SocketOptionTimeout".into(),
                    value: timeout.encode_to_vec(),
                }),
            }],
            ..Default::default()
        }),
        security: Some(Security {
            model: Some(security::Model::Other(security::OtherSecurity {
                name: "alts".into(),
                value: Some(alts),
            })),
        }),
        ..Default::default()
    };
    c.socket_ref = vec![SocketRef {
        socket_id: 9,
        name: "alts".into(),
    }];
    let mut h = Hostile::default();
    h.channels.insert(1, c);
    h.top = vec![1];
    h.sockets.insert(9, socket);
    let server = h.start().await;
    let doc = snapshot(&server, Limits::default()).await;
    let c = &doc["channels"][0];
    assert_eq!(c["ref"]["channelId"], "1", "the entity is kept: {c}");
    assert_eq!(c["data"]["callsStarted"], "11", "{c}");
    assert_eq!(c["unmapped"][0]["field"], "data.lastCallStartedTimestamp");
    assert_eq!(c["unmapped"][0]["seconds"], i64::MAX.to_string());
    let s = &c["sockets"][0];
    assert_eq!(s["ref"]["socketId"], "9", "{s}");
    assert_eq!(s["data"]["streamsStarted"], "3", "{s}");
    let fields: Vec<&str> = s["unmapped"]
        .as_array()
        .expect("unmapped")
        .iter()
        .filter_map(|u| u["field"].as_str())
        .collect();
    assert!(fields.contains(&"security.other.value"), "{s}");
    assert!(fields.contains(&"data.option[0].additional"), "{s}");
    check(c, "grpc.channelz.v1.Channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_text_on_stderr_is_escaped() {
    let evil = "boom\u{1b}]0;pwned\u{7}\u{1b}[2J\u{0}\u{7f}\u{9b}31m \u{202e}exe.txt\nchannelz-tui: all good";
    let server = Hostile {
        top_error: Some(evil.into()),
        ..Default::default()
    }
    .start()
    .await;
    let addr = server.addr().to_owned();
    let run = testkit::bin::in_process(move |out, err| {
        channelz_tui::run_cli(["channelz-tui", &addr, "--json"], out, err).code()
    })
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.lines().len(), 1, "one line: {:?}", run.stderr);
    for c in ['\u{1b}', '\u{7}', '\u{0}', '\u{7f}', '\u{9b}', '\u{202e}'] {
        assert!(!run.stderr.contains(c), "{c:?} in {:?}", run.stderr);
    }
    assert!(run.stderr.contains("\\x1b]0;pwned"), "{}", run.stderr);
    assert!(run.stderr.contains("\\u{202e}exe.txt"), "{}", run.stderr);
}
