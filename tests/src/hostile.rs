//! A gRPC server that breaks the protocol on purpose, written on `h2`
//! directly so every frame is ours to choose: two messages for a unary
//! call, a content-type that is not gRPC, GOAWAY before the answer, a
//! refused stream, a status with any bytes in its message, a plain HTTP
//! answer (an ingress or proxy whose backend is down). Each
//! connection gets the same [`Reply`] to every request, on `127.0.0.1:0`
//! or on `[::1]:0`.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use grpc_toolkit_proto::health::v1::HealthCheckResponse;
use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use h2::Reason;
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the server answers to every request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response with these headers' content-type, these messages, and
    /// then trailers with this `grpc-status` (and `grpc-message`, raw
    /// bytes, percent-encoded as the spec says).
    Answer {
        /// The response's `content-type`.
        content_type: &'static str,
        /// Each one a length-prefixed message in the body.
        messages: Vec<Bytes>,
        /// The trailers' `grpc-status`.
        status: u32,
        /// The trailers' `grpc-message`, before percent-encoding.
        message: Vec<u8>,
    },
    /// GOAWAY with NO_ERROR and a last stream id of 0 once the request
    /// arrived, as a server that has begun shutting down sends it: the
    /// request will not be answered. The connection stays open (written
    /// frame by frame, so no race with a close decides the client's error).
    GoawayBeforeAnswer,
    /// RST_STREAM with REFUSED_STREAM for the request; the connection
    /// stays up.
    RefusedStream,
    /// Not gRPC at all: a proxy's own answer, with this `:status`, this
    /// `content-type` (none when `None`) and, when `body` is `None`, END_STREAM
    /// on the headers (a trailers-only response without `grpc-status`);
    /// otherwise the body as raw bytes and no trailers.
    Http {
        /// `:status`.
        status: u16,
        /// `content-type`, if any.
        content_type: Option<&'static str>,
        /// The raw body; `None` ends the stream with the headers.
        body: Option<Bytes>,
    },
}

impl Reply {
    /// A well-formed answer with these messages and a status of OK.
    pub fn messages(messages: Vec<Bytes>) -> Reply {
        Reply::Answer {
            content_type: "application/grpc",
            messages,
            status: 0,
            message: Vec::new(),
        }
    }

    /// A well-formed failed call: no message, this status and message.
    pub fn status(status: u32, message: impl Into<Vec<u8>>) -> Reply {
        Reply::Answer {
            content_type: "application/grpc",
            messages: Vec::new(),
            status,
            message: message.into(),
        }
    }
}

/// A `grpc.health.v1.HealthCheckResponse` with `status`, encoded.
pub fn health_response(status: ServingStatus) -> Bytes {
    HealthCheckResponse {
        status: status as i32,
    }
    .encode_to_vec()
    .into()
}

/// A `grpc.health.v1.HealthListResponse` with these services, encoded.
pub fn list_response(services: &[(&str, ServingStatus)]) -> Bytes {
    grpc_toolkit_proto::health::v1::HealthListResponse {
        statuses: services
            .iter()
            .map(|(name, status)| {
                (
                    (*name).to_owned(),
                    HealthCheckResponse {
                        status: *status as i32,
                    },
                )
            })
            .collect(),
    }
    .encode_to_vec()
    .into()
}

/// A running hostile server; stops (with its connections) when dropped.
#[derive(Debug)]
pub struct HostileServer {
    addr: String,
    task: JoinHandle<()>,
}

impl HostileServer {
    /// Listens on `127.0.0.1:0`; panics if it cannot.
    pub async fn start(reply: Reply) -> HostileServer {
        Self::start_on("127.0.0.1:0", reply)
            .await
            .expect("cannot start the hostile server")
    }

    /// Listens on `bind` (e.g. `[::1]:0`).
    pub async fn start_on(bind: &str, reply: Reply) -> io::Result<HostileServer> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?.to_string();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                if matches!(reply, Reply::GoawayBeforeAnswer) {
                    tokio::spawn(goaway_before_answer(stream));
                } else {
                    tokio::spawn(serve(stream, reply.clone()));
                }
            }
        });
        Ok(HostileServer { addr, task })
    }

    /// `127.0.0.1:PORT` (or `[::1]:PORT`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The port alone.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
    out.freeze()
}

/// The spec's percent-encoding of `grpc-message`: bytes outside
/// 0x20..=0x7e, and `%`, as `%XX`.
fn percent_encode(message: &[u8]) -> String {
    let mut out = String::new();
    for &b in message {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// See [`Reply::GoawayBeforeAnswer`].
async fn goaway_before_answer(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
    const SETTINGS_ACK: [u8; 9] = [0, 0, 0, 4, 1, 0, 0, 0, 0];
    const HEADERS: u8 = 1;
    // Length 8, type GOAWAY, stream 0; last stream id 0, NO_ERROR.
    const GOAWAY: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut preface = [0u8; 24];
    if stream.read_exact(&mut preface).await.is_err() || stream.write_all(&SETTINGS).await.is_err()
    {
        return;
    }
    loop {
        let mut head = [0u8; 9];
        if stream.read_exact(&mut head).await.is_err() {
            return;
        }
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; length];
        if stream.read_exact(&mut payload).await.is_err() {
            return;
        }
        let reply: &[u8] = match head[3] {
            4 if head[4] & 1 == 0 => &SETTINGS_ACK,
            HEADERS => &GOAWAY,
            _ => &[],
        };
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

async fn serve(stream: tokio::net::TcpStream, reply: Reply) {
    let Ok(mut connection) = h2::server::handshake(stream).await else {
        return;
    };
    // Requests left unanswered on purpose: dropping one would reset it.
    let mut unanswered = Vec::new();
    while let Some(Ok((_request, mut respond))) = connection.accept().await {
        match &reply {
            Reply::Answer {
                content_type,
                messages,
                status,
                message,
            } => {
                let response = http::Response::builder()
                    .status(200)
                    .header("content-type", *content_type)
                    .body(())
                    .expect("a valid response head");
                let Ok(mut send) = respond.send_response(response, false) else {
                    continue;
                };
                for message in messages {
                    let _ = send.send_data(frame(message), false);
                }
                let mut trailers = http::HeaderMap::new();
                trailers.insert(
                    "grpc-status",
                    status
                        .to_string()
                        .parse()
                        .expect("digits are a header value"),
                );
                if let (false, Ok(value)) = (message.is_empty(), percent_encode(message).parse()) {
                    trailers.insert("grpc-message", value);
                }
                let _ = send.send_trailers(trailers);
            }
            Reply::Http {
                status,
                content_type,
                body,
            } => {
                let mut response = http::Response::builder().status(*status);
                if let Some(content_type) = content_type {
                    response = response.header("content-type", *content_type);
                }
                let Ok(response) = response.body(()) else {
                    continue;
                };
                let Ok(mut send) = respond.send_response(response, body.is_none()) else {
                    continue;
                };
                if let Some(body) = body {
                    let _ = send.send_data(body.clone(), true);
                }
            }
            // Served by `goaway_before_answer`.
            Reply::GoawayBeforeAnswer => unanswered.push(respond),
            Reply::RefusedStream => respond.send_reset(Reason::REFUSED_STREAM),
        }
    }
}
