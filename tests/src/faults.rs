//! Misbehaving servers on demand, each on `127.0.0.1:0`: they let tests
//! prove that "connected" means the server's HTTP/2 SETTINGS frame
//! arrived, and that each way of not getting there gives its own error.
//! (A server that accepts an RPC and never answers is
//! [`SpecHealth::set_hang`](crate::health::SpecHealth::set_hang); no
//! server at all is [`refused_addr`].)

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An address where nothing listens, so connecting is refused at once:
/// `127.0.0.1:PORT` of a port bound and closed again.
pub fn refused_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    addr
}

/// A way for a server to fail a client before (or instead of) gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Accepts and never sends a byte (and never closes): only a timeout ends it.
    AcceptSilent,
    /// Replies as an HTTP/1.1 server does to the HTTP/2 preface: `400 Bad Request`.
    Http1,
    /// Sends bytes that are not HTTP/2 and keeps the connection open.
    Garbage,
    /// Accepts and resets the connection (RST, via SO_LINGER 0).
    Reset,
    /// Accepts and closes the connection at once (FIN), reading whatever
    /// the client sends so the close stays clean.
    CloseAfterAccept,
    /// A real HTTP/2 server that is not gRPC: every request gets a plain
    /// `404` with no `grpc-status`.
    Http2NotGrpc,
}

impl Fault {
    /// Every fault, for tests that run against each.
    pub const ALL: [Fault; 6] = [
        Fault::AcceptSilent,
        Fault::Http1,
        Fault::Garbage,
        Fault::Reset,
        Fault::CloseAfterAccept,
        Fault::Http2NotGrpc,
    ];

    /// Starts the faulty server; panics if it cannot listen.
    pub async fn start(self) -> FaultServer {
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("cannot start the {self:?} fault server: {e}"))
    }

    /// Starts the faulty server, or says why it could not listen.
    pub async fn try_start(self) -> io::Result<FaultServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?.to_string();
        let task = tokio::spawn(serve(self, listener));
        Ok(FaultServer {
            fault: self,
            addr,
            task,
        })
    }
}

/// A running fault server; stops (and drops its connections) when dropped.
#[derive(Debug)]
pub struct FaultServer {
    fault: Fault,
    addr: String,
    task: JoinHandle<()>,
}

impl FaultServer {
    /// The `-addr` to use: `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Which fault this server plays.
    pub fn fault(&self) -> Fault {
        self.fault
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What nginx and most HTTP/1 servers answer to `PRI * HTTP/2.0`.
const HTTP1_REPLY: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request";

/// Longer than one frame header, so a client judging the first 9 bytes
/// gets them all, and plainly not HTTP/2.
const GARBAGE: &[u8] = b"\x16garbage: this is not HTTP/2, not TLS, not anything\r\n";

async fn serve(fault: Fault, listener: TcpListener) {
    // Silent connections are kept here, so they stay open until the server
    // is dropped (the task is aborted and the Vec with it).
    let mut held = Vec::new();
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        match fault {
            Fault::AcceptSilent => held.push(stream),
            Fault::Http1 => {
                tokio::spawn(async move {
                    // Read the preface first, as a real server does, so the
                    // reply follows the request and the close is a clean FIN.
                    let mut preface = [0u8; 24];
                    let _ = stream.read_exact(&mut preface).await;
                    let _ = stream.write_all(HTTP1_REPLY).await;
                    let _ = stream.shutdown().await;
                    drain(stream).await;
                });
            }
            Fault::Garbage => {
                tokio::spawn(async move {
                    let _ = stream.write_all(GARBAGE).await;
                    drain(stream).await;
                });
            }
            Fault::Reset => {
                // SO_LINGER 0 turns the close into an RST.
                let _ = stream.set_zero_linger();
                drop(stream);
            }
            Fault::CloseAfterAccept => {
                // Send FIN at once but keep reading: closing a socket with
                // the client's preface unread would turn the FIN into an
                // RST, and this fault is about a clean close.
                tokio::spawn(async move {
                    let _ = stream.shutdown().await;
                    drain(stream).await;
                });
            }
            Fault::Http2NotGrpc => {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        let mut response =
                            http::Response::new(Full::new(Bytes::from_static(b"not found")));
                        *response.status_mut() = http::StatusCode::NOT_FOUND;
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("text/plain"),
                        );
                        Ok::<_, Infallible>(response)
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// Reads until the client goes away, so our side never closes first
/// with unread data (which would turn the close into an RST).
async fn drain(mut stream: tokio::net::TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}
