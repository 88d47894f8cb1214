//! Socket-level failures in words: dialing (refused, reset, DNS), reads
//! before the server's SETTINGS, tonic's handshake errors, the first frame
//! that is not SETTINGS, and what a failure before SETTINGS most likely
//! means for a plaintext client talking to a TLS server.

use std::io;

use super::tls::{
    ClientAuthFacts, blame_client_auth, client_cert_alert, handshake_detail, is_client_cert_alert,
    rustls_error,
};
use super::{ConnectError, io_text};

/// What a failure before the server's SETTINGS most likely means.
pub(crate) fn explain(
    err: ConnectError,
    client_auth: Option<ClientAuthFacts>,
    plaintext: bool,
) -> ConnectError {
    // TLS servers (grpc-go's among them) close without a word when a
    // plaintext client shows up: the likeliest cause. When bytes we sent
    // are still unread (an RPC sent early, see `Opening`), their kernel
    // turns that close into a reset.
    const TLS_HINT: &str = "before sending HTTP/2 SETTINGS (if it serves TLS, use -tls)";
    match err {
        ConnectError::Closed { .. } if plaintext => ConnectError::Closed {
            stage_text: TLS_HINT,
        },
        ConnectError::Reset { .. } if plaintext => ConnectError::Reset {
            stage_text: TLS_HINT,
        },
        err => blame_client_auth(err, client_auth),
    }
}

pub(crate) fn dns_detail(err: &io::Error) -> String {
    // The resolver's text is "failed to lookup address information: Name
    // or service not known"; the prefix only repeats what we already say.
    let text = err.to_string();
    text.strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text)
        .to_ascii_lowercase()
}

pub(crate) fn dial_error(err: &io::Error, addr: &str) -> ConnectError {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => ConnectError::Refused {
            addr: addr.to_owned(),
        },
        // A listener closing with our connection still in its backlog.
        io::ErrorKind::ConnectionReset => ConnectError::Reset {
            stage_text: "while opening the connection",
        },
        _ => ConnectError::Io {
            detail: format!("cannot connect to {addr}: {}", io_text(err)),
        },
    }
}

pub(crate) fn io_error(err: &io::Error) -> ConnectError {
    ConnectError::Io {
        detail: io_text(err),
    }
}

/// An error reading before SETTINGS arrived.
pub(crate) fn classify_read_error(err: &io::Error) -> ConnectError {
    const STAGE: &str = "before sending HTTP/2 SETTINGS";
    if let Some(tls_err) = rustls_error(err) {
        // TLS 1.3 servers judge the client certificate after the client has
        // finished its handshake, so the rejection is our first read.
        return match tls_err {
            rustls::Error::AlertReceived(alert) if is_client_cert_alert(alert) => {
                client_cert_alert(alert)
            }
            other => ConnectError::Tls {
                detail: handshake_detail(other),
            },
        };
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => ConnectError::Closed { stage_text: STAGE },
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            ConnectError::Reset { stage_text: STAGE }
        }
        _ => io_error(err),
    }
}

/// Classifies a failure tonic reported while handshaking (writing the
/// preface), by the io::Error at the bottom of its chain.
pub(crate) fn classify_handshake_error(err: &tonic::transport::Error) -> ConnectError {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(io_err) = e.downcast_ref::<io::Error>() {
            return classify_read_error(io_err);
        }
        if let Some(own) = e.downcast_ref::<ConnectError>() {
            return ConnectError::Io {
                detail: own.to_string(),
            };
        }
        next = e.source();
    }
    ConnectError::Io {
        detail: crate::error::one_line(err),
    }
}

const FRAME_TYPES: [&str; 10] = [
    "DATA",
    "HEADERS",
    "PRIORITY",
    "RST_STREAM",
    "SETTINGS",
    "PUSH_PROMISE",
    "PING",
    "GOAWAY",
    "WINDOW_UPDATE",
    "CONTINUATION",
];

const SETTINGS: u8 = 4;

const ACK: u8 = 1;

pub(crate) fn judge_first_frame(head: &[u8; 9]) -> Result<(), ConnectError> {
    if head.starts_with(b"HTTP/") {
        return Err(ConnectError::NotHttp2 {
            detail: format!(
                "it answered with an HTTP/1 response (\"{}...\")",
                head.escape_ascii()
            ),
        });
    }
    // A TLS record (alert 0x15 or handshake 0x16, version 3.x): the server
    // speaks TLS and we did not.
    if matches!(head[0], 0x15 | 0x16) && head[1] == 0x03 && head[2] <= 0x04 {
        return Err(ConnectError::NotHttp2 {
            detail: "it answered with TLS (connect with -tls)".to_owned(),
        });
    }
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let kind = head[3];
    let flags = head[4];
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let plausible_frame = length <= 16_384 * 4 && (kind as usize) < FRAME_TYPES.len();
    if kind == SETTINGS && flags & ACK == 0 && stream == 0 && length.is_multiple_of(6) {
        return Ok(());
    }
    let detail = if plausible_frame {
        format!(
            "its first frame was {}{} on stream {stream}, not SETTINGS",
            FRAME_TYPES[kind as usize],
            if kind == SETTINGS && flags & ACK != 0 {
                " (ACK)"
            } else {
                ""
            }
        )
    } else {
        format!(
            "it sent bytes that are not an HTTP/2 frame (\"{}...\")",
            head.escape_ascii()
        )
    };
    Err(ConnectError::NotHttp2 { detail })
}
