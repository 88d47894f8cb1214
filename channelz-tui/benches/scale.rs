//! Scale benchmark: a synthetic Channelz server with 10,000 top channels,
//! 10,000 subchannels and 10,000 sockets on loopback.
//!
//! Run: `cargo bench -p channelz-tui --features bench --bench scale`
//!
//! Measures an overview refresh (every GetTopChannels / GetServers page),
//! a complete `--json` snapshot of all 30,000 entities (fetch, proto3 JSON,
//! serialise), and one frame of the overview and one of the tree rendered
//! from a model holding all 10,000 channels; prints the process's peak RSS
//! at the end.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use channelz_tui::model::Model;
use channelz_tui::msg::Msg;
use channelz_tui::poll::{self, Api};
use channelz_tui::update::update;
use channelz_tui::{json, view};
use criterion::{Criterion, criterion_group};
use grpc_toolkit_conn::{ConnectOptions, Target, connect};
use grpc_toolkit_proto::channelz::v1::channelz_server::{Channelz, ChannelzServer};
use grpc_toolkit_proto::channelz::v1::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tonic::{Request, Response, Status};

const N: i64 = 10_000;
const SERVER_ID: i64 = 3 * N + 1;
const LISTEN_ID: i64 = 3 * N + 2;

fn ts() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    })
}

fn data(target: String, i: i64) -> ChannelData {
    ChannelData {
        state: Some(ChannelConnectivityState {
            state: if i % 17 == 0 { 4 } else { 3 },
        }),
        target,
        trace: Some(ChannelTrace {
            num_events_logged: 2,
            creation_timestamp: ts(),
            events: vec![
                ChannelTraceEvent {
                    description: "Channel created".into(),
                    severity: 1,
                    timestamp: ts(),
                    child_ref: None,
                },
                ChannelTraceEvent {
                    description: "state changed to READY".into(),
                    severity: 1,
                    timestamp: ts(),
                    child_ref: None,
                },
            ],
        }),
        calls_started: 1000 + i,
        calls_succeeded: 990 + i,
        calls_failed: 10,
        last_call_started_timestamp: ts(),
        max_connections_per_subchannel: 0,
    }
}

/// Channel i (1..=N) owns subchannel N+i, which owns socket 2N+i.
struct Synthetic;

impl Synthetic {
    fn channel(i: i64) -> Channel {
        Channel {
            r#ref: Some(ChannelRef {
                channel_id: i,
                name: String::new(),
            }),
            data: Some(data(format!("dns:///backend-{i}.example:443"), i)),
            channel_ref: vec![],
            subchannel_ref: vec![SubchannelRef {
                subchannel_id: N + i,
                name: String::new(),
            }],
            socket_ref: vec![],
        }
    }
}

fn page(start: i64, max: i64, lo: i64, hi: i64) -> (std::ops::RangeInclusive<i64>, bool) {
    // Like grpc-go: 0 means the default page, and the page is capped.
    let max = if max <= 0 { 100 } else { max.min(1000) };
    let first = start.max(lo);
    let last = (first + max - 1).min(hi);
    (first..=last, last >= hi)
}

#[tonic::async_trait]
impl Channelz for Synthetic {
    async fn get_top_channels(
        &self,
        r: Request<GetTopChannelsRequest>,
    ) -> Result<Response<GetTopChannelsResponse>, Status> {
        let r = r.into_inner();
        let (ids, end) = page(r.start_channel_id, r.max_results, 1, N);
        Ok(Response::new(GetTopChannelsResponse {
            channel: ids.map(Synthetic::channel).collect(),
            end,
        }))
    }
    async fn get_servers(
        &self,
        r: Request<GetServersRequest>,
    ) -> Result<Response<GetServersResponse>, Status> {
        let r = r.into_inner();
        let server = Server {
            r#ref: Some(ServerRef {
                server_id: SERVER_ID,
                name: String::new(),
            }),
            data: Some(ServerData {
                trace: None,
                calls_started: 5,
                calls_succeeded: 5,
                calls_failed: 0,
                last_call_started_timestamp: ts(),
            }),
            listen_socket: vec![SocketRef {
                socket_id: LISTEN_ID,
                name: "[::]:443".into(),
            }],
        };
        let servers = if r.start_server_id <= SERVER_ID {
            vec![server]
        } else {
            vec![]
        };
        Ok(Response::new(GetServersResponse {
            server: servers,
            end: true,
        }))
    }
    async fn get_server(
        &self,
        _: Request<GetServerRequest>,
    ) -> Result<Response<GetServerResponse>, Status> {
        Err(Status::not_found("no such server"))
    }
    async fn get_server_sockets(
        &self,
        _: Request<GetServerSocketsRequest>,
    ) -> Result<Response<GetServerSocketsResponse>, Status> {
        Ok(Response::new(GetServerSocketsResponse {
            socket_ref: vec![],
            end: true,
        }))
    }
    async fn get_channel(
        &self,
        r: Request<GetChannelRequest>,
    ) -> Result<Response<GetChannelResponse>, Status> {
        let id = r.into_inner().channel_id;
        if !(1..=N).contains(&id) {
            return Err(Status::not_found("no such channel"));
        }
        Ok(Response::new(GetChannelResponse {
            channel: Some(Synthetic::channel(id)),
        }))
    }
    async fn get_subchannel(
        &self,
        r: Request<GetSubchannelRequest>,
    ) -> Result<Response<GetSubchannelResponse>, Status> {
        let id = r.into_inner().subchannel_id;
        if !(N + 1..=2 * N).contains(&id) {
            return Err(Status::not_found("no such subchannel"));
        }
        Ok(Response::new(GetSubchannelResponse {
            subchannel: Some(Subchannel {
                r#ref: Some(SubchannelRef {
                    subchannel_id: id,
                    name: String::new(),
                }),
                data: Some(data(
                    format!("10.0.{}.{}:443", (id / 250) % 250, id % 250),
                    id,
                )),
                channel_ref: vec![],
                subchannel_ref: vec![],
                socket_ref: vec![SocketRef {
                    socket_id: id + N,
                    name: String::new(),
                }],
            }),
        }))
    }
    async fn get_socket(
        &self,
        r: Request<GetSocketRequest>,
    ) -> Result<Response<GetSocketResponse>, Status> {
        let id = r.into_inner().socket_id;
        if !(2 * N + 1..=3 * N).contains(&id) && id != LISTEN_ID {
            return Err(Status::not_found("no such socket"));
        }
        let addr = |port| Address {
            address: Some(address::Address::TcpipAddress(address::TcpIpAddress {
                ip_address: vec![10, 0, 0, 1],
                port,
            })),
        };
        Ok(Response::new(GetSocketResponse {
            socket: Some(Socket {
                r#ref: Some(SocketRef {
                    socket_id: id,
                    name: String::new(),
                }),
                data: Some(SocketData {
                    streams_started: id,
                    streams_succeeded: id,
                    messages_sent: id,
                    messages_received: id,
                    last_message_sent_timestamp: ts(),
                    ..Default::default()
                }),
                local: Some(addr(40_000)),
                remote: Some(addr(443)),
                security: None,
                remote_name: String::new(),
            }),
        }))
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak RSS so far. It includes the synthetic server, which runs in the
/// same process, so it overstates what channelz-tui alone needs.
fn report_rss(when: &str) {
    if let Some(kib) = peak_rss_kib() {
        eprintln!("peak RSS (VmHWM) {when}: {:.1} MiB", kib as f64 / 1024.0);
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(ChannelzServer::new(Synthetic).max_encoding_message_size(64 * 1024 * 1024))
            // Every real gRPC server sets TCP_NODELAY; without it Nagle and
            // delayed ACKs add ~40 ms to each page and measure the kernel.
            .serve_with_incoming(tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |s| s.and_then(|s| s.set_nodelay(true).map(|()| s)),
            )),
    );
    let options = ConnectOptions::plaintext(
        Target::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        "bench",
    );
    let api =
        Arc::new(rt.block_on(async {
            Api::new(connect(&options).await.unwrap(), Duration::from_secs(30))
        }));

    let mut group = c.benchmark_group("channelz-tui at 10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("overview refresh (all pages)", |b| {
        b.iter(|| {
            let msg = rt.block_on(poll::overview(&api)).unwrap();
            assert!(matches!(&msg, Msg::Overview { channels, .. } if channels.len() == N as usize));
        })
    });
    // A model that has seen two polls, so rates and sparklines are live.
    let mut model = Model::new("bench", Duration::from_secs(1), SystemTime::now());
    for _ in 0..2 {
        let msg = rt.block_on(poll::overview(&api)).unwrap();
        if let Msg::Overview {
            channels,
            servers,
            server_socket_counts,
            at,
            incomplete,
        } = msg
        {
            update(
                &mut model,
                Msg::Overview {
                    at: at + Duration::from_secs(1),
                    channels,
                    servers,
                    server_socket_counts,
                    incomplete,
                },
            );
        }
        std::thread::sleep(Duration::from_millis(600));
    }
    model
        .cursors
        .entry(channelz_tui::model::Screen::Overview)
        .or_default()
        .row = 5_000;
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    group.bench_function("overview frame render (200x50)", |b| {
        b.iter(|| terminal.draw(|f| view::view(&model, f)).unwrap().area)
    });
    // The tree lists all 10,000 top channels (each with its subchannel,
    // 20,000 rows) and draws the window around the selection.
    let mut tree = model.clone();
    update(&mut tree, Msg::Resize(view::panel_heights(50)));
    update(&mut tree, Msg::Action(channelz_tui::msg::Action::Tree));
    group.bench_function("tree frame render (200x50)", |b| {
        b.iter(|| terminal.draw(|f| view::view(&tree, f)).unwrap().area)
    });
    report_rss("after the overview and frame benchmarks (dashboard with 10k channels)");
    group.bench_function("full --json snapshot (30k entities)", |b| {
        b.iter(|| {
            let snap = rt.block_on(json::take(&api)).unwrap();
            assert_eq!(snap.sockets.len(), N as usize + 1);
            let mut out = std::io::BufWriter::new(std::io::sink());
            snap.write_json("bench", None, &mut out).unwrap()
        })
    });
    group.finish();
    report_rss("after the --json snapshot benchmark");
    wide_channel(&rt);
}

/// How many subchannel refs the wide channel has.
const WIDE: i64 = 100_000;

/// One top channel with [`WIDE`] subchannel refs (pick-first over a huge
/// address list, or a server that lies): every subchannel is fetched once
/// and written in a stream.
struct Wide;

#[tonic::async_trait]
impl Channelz for Wide {
    async fn get_top_channels(
        &self,
        _: Request<GetTopChannelsRequest>,
    ) -> Result<Response<GetTopChannelsResponse>, Status> {
        let mut c = Synthetic::channel(1);
        c.subchannel_ref = (0..WIDE)
            .map(|i| SubchannelRef {
                subchannel_id: 1_000 + i,
                name: String::new(),
            })
            .collect();
        Ok(Response::new(GetTopChannelsResponse {
            channel: vec![c],
            end: true,
        }))
    }
    async fn get_servers(
        &self,
        _: Request<GetServersRequest>,
    ) -> Result<Response<GetServersResponse>, Status> {
        Ok(Response::new(GetServersResponse {
            server: vec![],
            end: true,
        }))
    }
    async fn get_server(
        &self,
        _: Request<GetServerRequest>,
    ) -> Result<Response<GetServerResponse>, Status> {
        Err(Status::not_found(""))
    }
    async fn get_server_sockets(
        &self,
        _: Request<GetServerSocketsRequest>,
    ) -> Result<Response<GetServerSocketsResponse>, Status> {
        Err(Status::not_found(""))
    }
    async fn get_channel(
        &self,
        _: Request<GetChannelRequest>,
    ) -> Result<Response<GetChannelResponse>, Status> {
        Err(Status::not_found(""))
    }
    async fn get_subchannel(
        &self,
        r: Request<GetSubchannelRequest>,
    ) -> Result<Response<GetSubchannelResponse>, Status> {
        let id = r.into_inner().subchannel_id;
        Ok(Response::new(GetSubchannelResponse {
            subchannel: Some(Subchannel {
                r#ref: Some(SubchannelRef {
                    subchannel_id: id,
                    name: String::new(),
                }),
                data: Some(data(
                    format!("10.0.{}.{}:443", id / 256 % 256, id % 256),
                    id,
                )),
                channel_ref: vec![],
                subchannel_ref: vec![],
                socket_ref: vec![],
            }),
        }))
    }
    async fn get_socket(
        &self,
        _: Request<GetSocketRequest>,
    ) -> Result<Response<GetSocketResponse>, Status> {
        Err(Status::not_found(""))
    }
}

/// The environment variable that makes this binary the wide server alone:
/// the child process [`wide_channel`] starts, so that the client's peak
/// RSS is measured without the server's.
const WIDE_SERVER_ENV: &str = "CHANNELZ_TUI_BENCH_WIDE_SERVER";

/// Serves [`Wide`] on a loopback port, prints `listening on PORT` and runs
/// until stdin closes (the parent exiting or dropping the pipe).
fn wide_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    println!("listening on {}", listener.local_addr().unwrap().port());
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(ChannelzServer::new(Wide).max_encoding_message_size(64 * 1024 * 1024))
            .serve_with_incoming(tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |s| s.and_then(|s| s.set_nodelay(true).map(|()| s)),
            )),
    );
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
}

/// Issue 11, item 13: `--json` of a channel with 100,000 subchannel refs,
/// once, timed, with the peak RSS it adds to the client. The server runs
/// in a child process (this binary again, see [`WIDE_SERVER_ENV`]), so
/// the figure is the dashboard's own; VmHWM is reset first, so the 10k
/// benchmarks before it do not count. Budget: < 10 s, < 100 MiB.
fn wide_channel(rt: &tokio::runtime::Runtime) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(WIDE_SERVER_ENV, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .trim_start_matches("listening on ")
        .parse()
        .unwrap();
    let options = ConnectOptions::plaintext(
        Target::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        "bench",
    );
    let api =
        rt.block_on(async { Api::new(connect(&options).await.unwrap(), Duration::from_secs(30)) });
    // Writing 5 to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_kib().unwrap_or(0);
    let started = std::time::Instant::now();
    let snap = rt.block_on(json::take(&api)).unwrap();
    assert_eq!(snap.subchannels.len(), WIDE as usize);
    let after_take = peak_rss_kib().unwrap_or(0);
    let mut out = CountingSink(0);
    snap.write_json("bench", None, &mut out).unwrap();
    drop(snap);
    let elapsed = started.elapsed();
    let peak = peak_rss_kib().unwrap_or(0);
    eprintln!(
        "wide channel: client peak RSS after the fetch, before the JSON: +{:.1} MiB",
        after_take.saturating_sub(before) as f64 / 1024.0
    );
    eprintln!(
        "wide channel --json ({WIDE} subchannel refs): {:.2} s, {:.1} MiB of JSON, client peak RSS +{:.1} MiB (server in a child process)",
        elapsed.as_secs_f64(),
        out.0 as f64 / (1024.0 * 1024.0),
        peak.saturating_sub(before) as f64 / 1024.0
    );
    drop(child.stdin.take());
    let _ = child.wait();
}

/// A writer that only counts.
struct CountingSink(usize);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

criterion_group!(benches, bench);

fn main() {
    if std::env::var_os(WIDE_SERVER_ENV).is_some() {
        wide_server();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
