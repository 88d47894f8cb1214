//! [`GrpcChannel`]: tonic's channel with gRPC's rule for an answer that is
//! not gRPC (grpc/grpc `doc/http-grpc-status-mapping.md`). An ingress or a
//! proxy whose backend is down answers with its own HTTP response (`:status
//! 503`, `content-type: text/plain`, maybe a page of text, no
//! `grpc-status`). tonic alone reads such a body as gRPC frames (INTERNAL,
//! "invalid compression flag") or, for a 200 page, passes it on; grpc-go,
//! and so grpc_health_probe and blackbox_exporter, take the code from the
//! HTTP status: 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
//! 404 UNIMPLEMENTED, 429 / 502 / 503 / 504 UNAVAILABLE, anything else
//! UNKNOWN, with a message naming the HTTP status and the content type.
//!
//! The check runs on the response head, before tonic sees it: a response
//! that fails it is replaced by a trailers-only gRPC answer carrying that
//! status (so every client on the channel, unary or streaming, fails the
//! same way), and its body is dropped unread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::transport::Channel;
use tonic::transport::channel::ResponseFuture;

/// A [`Channel`] whose responses are held to gRPC's content type, and
/// whose non-gRPC answers get their code from the HTTP status (see the
/// module doc).
#[derive(Debug, Clone)]
pub struct GrpcChannel(Channel);

impl GrpcChannel {
    /// Wraps `channel`.
    pub fn new(channel: Channel) -> GrpcChannel {
        GrpcChannel(channel)
    }
}

impl tower::Service<http::Request<Body>> for GrpcChannel {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = Checked;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Checked(self.0.call(request))
    }
}

/// The response of a [`GrpcChannel`] call, checked when it arrives.
#[derive(Debug)]
pub struct Checked(ResponseFuture);

impl Future for Checked {
    type Output = Result<http::Response<Body>, tonic::transport::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map_ok(|mut response| {
            if let Some((code, message)) = not_grpc(response.status(), response.headers()) {
                make_trailers_only(&mut response, code, &message);
            }
            response
        })
    }
}

/// Turns `response` into a gRPC trailers-only answer with this status:
/// its body dropped unread, the gRPC headers set (tonic reads
/// `grpc-status` first). In place and by hand rather than
/// `tonic::Status::into_http`, which carries metadata and details this
/// never has: the probe binary pays for every byte.
fn make_trailers_only(response: &mut http::Response<Body>, code: tonic::Code, message: &str) {
    // Built at compile time: at run time `from_static` validates, and
    // `HeaderName`'s looks its name up among the standard ones.
    const GRPC_TYPE: http::HeaderValue = http::HeaderValue::from_static("application/grpc");
    const GRPC_MESSAGE: http::HeaderName = http::HeaderName::from_static("grpc-message");
    // The codes the mapping gives: 2, 7, 12, 13, 14 and 16.
    const CODES: [http::HeaderValue; 17] = {
        use http::HeaderValue as V;
        [
            V::from_static("0"),
            V::from_static("1"),
            V::from_static("2"),
            V::from_static("3"),
            V::from_static("4"),
            V::from_static("5"),
            V::from_static("6"),
            V::from_static("7"),
            V::from_static("8"),
            V::from_static("9"),
            V::from_static("10"),
            V::from_static("11"),
            V::from_static("12"),
            V::from_static("13"),
            V::from_static("14"),
            V::from_static("15"),
            V::from_static("16"),
        ]
    };
    *response.body_mut() = Body::empty();
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, GRPC_TYPE);
    headers.insert(GRPC_STATUS, CODES[(code as usize) % CODES.len()].clone());
    // `message` is printable ASCII with any `%` already written `%25`
    // (see `not_grpc`): the spec's percent-encoding of grpc-message.
    if let Ok(value) = http::HeaderValue::from_str(message) {
        headers.insert(GRPC_MESSAGE, value);
    }
}

/// `grpc-status`, made at compile time.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// `application/grpc`, alone or followed by `+format` or `;parameters`
/// (grpc-go's test).
fn is_grpc_type(value: &[u8]) -> bool {
    match value.strip_prefix(b"application/grpc") {
        Some(rest) => rest.is_empty() || rest.starts_with(b"+") || rest.starts_with(b";"),
        None => false,
    }
}

/// The status a response head stands for when it is not a gRPC answer:
/// not `application/grpc…`, or not 200 without a `grpc-status` of its own
/// (a gRPC server's trailers-only answer keeps its status, whatever the
/// HTTP status). `None` for a gRPC answer. The message is printable
/// ASCII, with `%` percent-encoded, ready to be a `grpc-message`.
fn not_grpc(status: http::StatusCode, headers: &http::HeaderMap) -> Option<(tonic::Code, String)> {
    use tonic::Code;
    let content_type = headers.get(http::header::CONTENT_TYPE);
    let grpc = content_type.is_some_and(|v| is_grpc_type(v.as_bytes()));
    if grpc && (status == http::StatusCode::OK || headers.contains_key(GRPC_STATUS)) {
        return None;
    }
    // The reason phrases of the statuses gRPC maps (http's full table
    // would cost the probe binary a page), and of 200 and 500.
    let (code, reason) = match status.as_u16() {
        200 => (Code::Unknown, "OK: "),
        400 => (Code::Internal, "Bad Request: "),
        401 => (Code::Unauthenticated, "Unauthorized: "),
        403 => (Code::PermissionDenied, "Forbidden: "),
        404 => (Code::Unimplemented, "Not Found: "),
        429 => (Code::Unavailable, "Too Many Requests: "),
        500 => (Code::Unknown, "Internal Server Error: "),
        502 => (Code::Unavailable, "Bad Gateway: "),
        503 => (Code::Unavailable, "Service Unavailable: "),
        504 => (Code::Unavailable, "Gateway Timeout: "),
        _ => (Code::Unknown, ""),
    };
    // grpc-go's words, as grpc_health_probe prints them: `Service
    // Unavailable: HTTP status code 503; transport: received unexpected
    // content-type "text/plain"`. A 200 has nothing to say about itself.
    let mut message = String::new();
    if status != http::StatusCode::OK {
        message.push_str(reason);
        message.push_str("HTTP status code ");
        message.push_str(status.as_str());
    }
    if !grpc {
        if !message.is_empty() {
            message.push_str("; ");
        }
        match content_type {
            None => message.push_str("malformed header: missing HTTP content-type"),
            Some(value) => {
                // Printable ASCII only (`to_str`'s rule), cut at 64
                // bytes: anything else is not a content type.
                message.push_str("transport: received unexpected content-type \"");
                let text = value.to_str().unwrap_or("(not printable ASCII)");
                message.push_str(&text.get(..64).unwrap_or(text).replace('%', "%25"));
                message.push('"');
            }
        }
    }
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, content_type: Option<&str>, grpc_status: bool) -> Option<tonic::Status> {
        let (code, message) = not_grpc_head(status, content_type, grpc_status)?;
        Some(tonic::Status::new(code, message))
    }

    fn not_grpc_head(
        status: u16,
        content_type: Option<&str>,
        grpc_status: bool,
    ) -> Option<(tonic::Code, String)> {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = content_type {
            let value = http::HeaderValue::from_bytes(value.as_bytes()).expect("value");
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        if grpc_status {
            headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        }
        not_grpc(
            http::StatusCode::from_u16(status).expect("status"),
            &headers,
        )
    }

    #[test]
    fn the_http_status_gives_the_code_as_grpc_maps_it() {
        use tonic::Code;
        for (http, code) in [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (500, Code::Unknown),
            (200, Code::Unknown),
            (302, Code::Unknown),
            (599, Code::Unknown),
        ] {
            let status = head(http, Some("text/plain"), false).expect("not gRPC");
            assert_eq!(status.code(), code, "{http}");
        }
    }

    #[test]
    fn the_message_names_the_http_status_and_the_content_type() {
        let status = head(503, Some("text/plain"), false).expect("not gRPC");
        assert_eq!(
            status.message(),
            "Service Unavailable: HTTP status code 503; transport: received unexpected content-type \"text/plain\""
        );
        let status = head(200, Some("text/html"), false).expect("not gRPC");
        assert_eq!(
            status.message(),
            "transport: received unexpected content-type \"text/html\""
        );
        let status = head(404, None, false).expect("not gRPC");
        assert_eq!(
            status.message(),
            "Not Found: HTTP status code 404; malformed header: missing HTTP content-type"
        );
        let status = head(599, Some("application/grpc"), false).expect("no grpc-status");
        assert_eq!(status.message(), "HTTP status code 599");
        // A server's bytes other than printable ASCII are not shown (a bidi
        // override here), and a long value is cut.
        let status = head(502, Some("text/\u{202e}lmth"), true).expect("not gRPC");
        assert!(
            status
                .message()
                .ends_with(r#"content-type "(not printable ASCII)""#),
            "{}",
            status.message()
        );
        let long = format!("text/{}", "x".repeat(100));
        let status = head(200, Some(&long), false).expect("not gRPC");
        assert!(status.message().ends_with(&format!("\"{}\"", &long[..64])));
    }

    #[test]
    fn the_answer_reads_back_as_the_status() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/100%\"plain"),
        );
        let (code, message) = not_grpc(http::StatusCode::BAD_GATEWAY, &headers).expect("not gRPC");
        let mut response = http::Response::new(Body::empty());
        make_trailers_only(&mut response, code, &message);
        let status = tonic::Status::from_header_map(response.headers()).expect("a status");
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            status.message(),
            r#"Bad Gateway: HTTP status code 502; transport: received unexpected content-type "text/100%"plain""#
        );
    }

    #[test]
    fn grpc_answers_pass() {
        assert!(head(200, Some("application/grpc"), false).is_none());
        assert!(head(200, Some("application/grpc+proto"), false).is_none());
        assert!(head(200, Some("application/grpc;charset=utf-8"), false).is_none());
        // A trailers-only answer of a gRPC server keeps its own status.
        assert!(head(503, Some("application/grpc"), true).is_none());
        assert!(head(200, Some("application/grpcx"), false).is_some());
        assert!(head(503, Some("application/grpc"), false).is_some());
    }
}
