//! Fleet benchmark: the dashboard watching 20 members with 1,000 top
//! channels each, at a 1 s interval.
//!
//! Run: `cargo bench -p channelz-tui --features bench --bench fleet` (`FLEET_SECONDS`
//! changes how long it measures; 30 by default).
//!
//! The 20 synthetic Channelz servers run in a child process (this same
//! executable, started with `FLEET_BENCH_SERVE=1`), so the figures are the
//! dashboard's alone: the fleet coordinator and member tasks polling every
//! member's overview and `Check("")` each second, `update` folding every
//! report into the fleet model, and a 200×50 frame drawn after each message
//! as the terminal loop does. Prints the dashboard's CPU as a share of one
//! core, frame times, and its peak RSS.

#![allow(missing_docs, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use channelz_tui::fleet::model::FleetModel;
use channelz_tui::fleet::tui::Coordinator;
use channelz_tui::fleet::update::update;
use channelz_tui::fleet::view::view;
use channelz_tui::fleet::{FleetConfig, FleetName, Resolver};
use channelz_tui::poll::Limits;
use grpc_toolkit_conn::{ConnectOptions, Target};
use grpc_toolkit_proto::channelz::v1::channelz_server::{Channelz, ChannelzServer};
use grpc_toolkit_proto::channelz::v1::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tonic::{Request, Response, Status};

const MEMBERS: usize = 20;
const CHANNELS: i64 = 1_000;

/// One member: 1,000 top channels whose call counters grow with time, and
/// one server.
#[derive(Clone)]
struct Member {
    started: Instant,
}

impl Member {
    fn calls(&self) -> i64 {
        (self.started.elapsed().as_millis() / 10) as i64
    }

    fn channel(&self, i: i64) -> Channel {
        let calls = self.calls();
        Channel {
            r#ref: Some(ChannelRef {
                channel_id: i,
                name: String::new(),
            }),
            data: Some(ChannelData {
                state: Some(ChannelConnectivityState {
                    state: if i % 17 == 0 { 4 } else { 3 },
                }),
                target: format!("dns:///backend-{i}.example:443"),
                trace: None,
                calls_started: calls + i,
                calls_succeeded: calls,
                calls_failed: i,
                last_call_started_timestamp: None,
                max_connections_per_subchannel: 0,
            }),
            channel_ref: vec![],
            subchannel_ref: vec![SubchannelRef {
                subchannel_id: CHANNELS + i,
                name: String::new(),
            }],
            socket_ref: vec![],
        }
    }
}

#[tonic::async_trait]
impl Channelz for Member {
    async fn get_top_channels(
        &self,
        r: Request<GetTopChannelsRequest>,
    ) -> Result<Response<GetTopChannelsResponse>, Status> {
        let r = r.into_inner();
        let max = if r.max_results <= 0 {
            100
        } else {
            r.max_results.min(1000)
        };
        let first = r.start_channel_id.max(1);
        let last = (first + max - 1).min(CHANNELS);
        Ok(Response::new(GetTopChannelsResponse {
            channel: (first..=last).map(|i| self.channel(i)).collect(),
            end: last >= CHANNELS,
        }))
    }
    async fn get_servers(
        &self,
        _: Request<GetServersRequest>,
    ) -> Result<Response<GetServersResponse>, Status> {
        let calls = self.calls();
        Ok(Response::new(GetServersResponse {
            server: vec![Server {
                r#ref: Some(ServerRef {
                    server_id: 3 * CHANNELS,
                    name: String::new(),
                }),
                data: Some(ServerData {
                    trace: None,
                    calls_started: calls,
                    calls_succeeded: calls - calls / 50,
                    calls_failed: calls / 50,
                    last_call_started_timestamp: None,
                }),
                listen_socket: vec![],
            }],
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
            socket_ref: (1..=20)
                .map(|i| SocketRef {
                    socket_id: 4 * CHANNELS + i,
                    name: String::new(),
                })
                .collect(),
            end: true,
        }))
    }
    async fn get_channel(
        &self,
        _: Request<GetChannelRequest>,
    ) -> Result<Response<GetChannelResponse>, Status> {
        Err(Status::not_found("no such channel"))
    }
    async fn get_subchannel(
        &self,
        _: Request<GetSubchannelRequest>,
    ) -> Result<Response<GetSubchannelResponse>, Status> {
        Err(Status::not_found("no such subchannel"))
    }
    async fn get_socket(
        &self,
        _: Request<GetSocketRequest>,
    ) -> Result<Response<GetSocketResponse>, Status> {
        Err(Status::not_found("no such socket"))
    }
}

/// The child process: 20 members, each printing `PORT n`, then serving
/// until stdin closes (the parent is gone).
fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..MEMBERS {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("PORT {}", listener.local_addr().unwrap().port());
            let member = Member {
                started: Instant::now(),
            };
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(ChannelzServer::new(member))
                    .serve_with_incoming(tokio_stream::StreamExt::map(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        |s| s.and_then(|s| s.set_nodelay(true).map(|()| s)),
                    )),
            );
        }
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await
        .unwrap();
    });
}

/// User + system CPU time of this process (clock ticks of 10 ms, the Linux
/// default `CLK_TCK` of 100).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the `(comm)`, which may contain spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Mean, 99th percentile and maximum (sorts `values`).
fn spread(values: &mut [Duration]) -> (Duration, Duration, Duration) {
    values.sort();
    let Some(&max) = values.last() else {
        return Default::default();
    };
    let mean = values.iter().sum::<Duration>() / values.len() as u32;
    (mean, values[values.len() * 99 / 100], max)
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`: nanoseconds,
/// where `/proc/self/stat`'s ticks are 10 ms, longer than a frame).
#[allow(unsafe_code)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the whole call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn main() {
    if std::env::var_os("FLEET_BENCH_SERVE").is_some() {
        serve();
        return;
    }
    let seconds: u64 = std::env::var("FLEET_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("FLEET_BENCH_SERVE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let names: Vec<FleetName> = (0..MEMBERS)
        .map(|_| {
            let line = lines.next().unwrap().unwrap();
            let port: u16 = line.strip_prefix("PORT ").unwrap().parse().unwrap();
            let target = Target::Tcp {
                host: "127.0.0.1".into(),
                port,
            };
            FleetName {
                name: format!("127.0.0.1:{port}"),
                options: ConnectOptions::plaintext(target, "fleet-bench"),
            }
        })
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let interval = Duration::from_secs(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    rt.spawn(
        Coordinator {
            fleet: FleetConfig {
                names,
                resolve: false,
                concurrency: channelz_tui::fleet::DEFAULT_CONCURRENCY,
                title: "bench".into(),
                interval,
                rpc_timeout: Duration::from_secs(5),
                limits: Limits::default(),
                json: None,
            },
            resolver: Resolver::system(),
            recorder: None,
        }
        .run(tx, Arc::new(tokio::sync::Notify::new()), Default::default()),
    );
    let mut model = FleetModel::new("bench", interval, SystemTime::now());
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let mut frames: Vec<Duration> = Vec::new();
    // Wall time of a frame includes any time the OS ran something else (the
    // synthetic servers share the two cores); the thread's CPU time is the
    // drawing's own work.
    let mut frame_cpu: Vec<Duration> = Vec::new();
    let warm_up = Duration::from_secs(3);
    let began = Instant::now();
    let mut measured_from: Option<(Instant, Duration)> = None;
    rt.block_on(async {
        loop {
            let msg = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
            if let Ok(Some(msg)) = msg {
                update(&mut model, msg);
            }
            update(
                &mut model,
                channelz_tui::fleet::update::FleetMsg::Tick(SystemTime::now()),
            );
            let (t, cpu_t) = (Instant::now(), thread_cpu_time());
            terminal.draw(|f| view(&model, f)).unwrap();
            let (took, cpu_took) = (t.elapsed(), thread_cpu_time() - cpu_t);
            match measured_from {
                None if began.elapsed() >= warm_up => {
                    measured_from = Some((Instant::now(), cpu_time()));
                }
                None => {}
                Some((from, _)) => {
                    frames.push(took);
                    frame_cpu.push(cpu_took);
                    if from.elapsed() >= Duration::from_secs(seconds) {
                        break;
                    }
                }
            }
        }
    });
    let (from, cpu_before) = measured_from.unwrap();
    let wall = from.elapsed();
    let cpu = cpu_time() - cpu_before;
    let (mean, p99, max) = spread(&mut frames);
    let (cpu_mean, cpu_p99, cpu_max) = spread(&mut frame_cpu);
    let answering = model.answering();
    let channels: usize = model
        .rows
        .values()
        .filter_map(|r| r.last.map(|s| s.channels()))
        .sum();
    println!(
        "fleet of {MEMBERS} members x {CHANNELS} channels, 1 s interval, {} s measured",
        wall.as_secs()
    );
    println!("members answering at the end: {answering}, channels seen: {channels}");
    println!(
        "dashboard CPU: {:.1}% of one core ({:.2} s CPU in {:.1} s)",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        wall.as_secs_f64()
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "frame (200x50), wall: mean {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} frames",
        ms(mean),
        ms(p99),
        ms(max),
        frames.len()
    );
    println!(
        "frame (200x50), the drawing thread's CPU: mean {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(cpu_mean),
        ms(cpu_p99),
        ms(cpu_max)
    );
    println!("peak RSS (VmHWM): {:.1} MiB", peak_rss_mib());
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}
