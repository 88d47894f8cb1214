//! What the server layer and the client layer share: reading the call's
//! outcome from `grpc-status` (in trailers, or in the headers of a
//! trailers-only response), counting gRPC messages from the length-prefixed
//! framing of body chunks, and a body wrapper that does both.
//!
//! A call is "succeeded" when its status is OK; a stream is "succeeded"
//! when it ended with end-of-stream (the spec's definition), whatever the
//! status. A body dropped before its end (cancelled call, lost connection)
//! counts as failed for both.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use crate::registry::{CallMetrics, SocketNode, SubchannelNode, now_nanos};

/// `Some(true)` for grpc-status 0, `Some(false)` for any other status,
/// `None` when the map carries no status.
pub(crate) fn grpc_status_ok(headers: &HeaderMap) -> Option<bool> {
    headers.get("grpc-status").map(|v| v.as_bytes() == b"0")
}

/// Counts complete gRPC message headers in a byte stream split into
/// arbitrary chunks. Each message is a 5-byte prefix (flag, u32 length)
/// followed by the payload; a message counts once its prefix is read.
#[derive(Debug, Default)]
pub(crate) struct MessageCounter {
    /// Payload bytes still to skip in the current message.
    skip: u64,
    /// Bytes of the current prefix read so far.
    prefix: [u8; 5],
    prefix_len: usize,
}

impl MessageCounter {
    /// Feeds one chunk and returns how many new messages began in it.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> i64 {
        let mut messages = 0;
        while !chunk.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(chunk.len());
                chunk = &chunk[n..];
                self.skip -= n as u64;
                continue;
            }
            let want = 5 - self.prefix_len;
            let n = want.min(chunk.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&chunk[..n]);
            self.prefix_len += n;
            chunk = &chunk[n..];
            if self.prefix_len == 5 {
                messages += 1;
                let len = [
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ];
                self.skip = u64::from(u32::from_be_bytes(len));
                self.prefix_len = 0;
            }
        }
        messages
    }
}

/// Whose metrics a call updates: a server, or a channel and the subchannel
/// that carried it, and the connection's socket when known.
#[derive(Debug)]
pub(crate) enum CallOwner {
    /// A call a server handled.
    Server(Arc<dyn AsCallMetrics>),
    /// A call a channel made.
    Client(Arc<dyn AsCallMetrics>, Option<Arc<SubchannelNode>>),
}

/// Lets one tracker type point at a server's or a channel's counters.
pub(crate) trait AsCallMetrics: std::fmt::Debug + Send + Sync + 'static {
    fn call_metrics(&self) -> &CallMetrics;
}

impl AsCallMetrics for crate::registry::ServerNode {
    fn call_metrics(&self) -> &CallMetrics {
        &self.calls
    }
}

impl AsCallMetrics for crate::registry::ChannelNode {
    fn call_metrics(&self) -> &CallMetrics {
        &self.calls
    }
}

/// Records the end of one call exactly once; dropping it unfinished records
/// a failure (the call was cancelled or its connection was lost).
#[derive(Debug)]
pub(crate) struct CallTracker {
    owner: CallOwner,
    socket: Option<Arc<SocketNode>>,
    done: bool,
}

impl CallTracker {
    pub(crate) fn new(owner: CallOwner, socket: Option<Arc<SocketNode>>) -> Self {
        Self {
            owner,
            socket,
            done: false,
        }
    }

    pub(crate) fn socket(&self) -> Option<&Arc<SocketNode>> {
        self.socket.as_ref()
    }

    /// Whether the call already knows the connection it went over.
    pub(crate) fn is_attached(&self) -> bool {
        self.socket.is_some()
    }

    /// Ties a client call to the subchannel and connection that carried
    /// it, counting the call and the stream there from `start`.
    pub(crate) fn attach(&mut self, sub: Arc<SubchannelNode>, socket: Arc<SocketNode>, start: i64) {
        if self.done || self.socket.is_some() {
            return;
        }
        sub.calls.start(start);
        socket.metrics.stream_started(true, start);
        if let CallOwner::Client(_, slot) = &mut self.owner {
            *slot = Some(sub);
        }
        self.socket = Some(socket);
    }

    /// `call_ok`: the status was OK. `stream_ok`: the stream ended with
    /// end-of-stream.
    pub(crate) fn finish(&mut self, call_ok: bool, stream_ok: bool) {
        if self.done {
            return;
        }
        self.done = true;
        match &self.owner {
            CallOwner::Server(server) => server.call_metrics().finish(call_ok),
            CallOwner::Client(channel, sub) => {
                channel.call_metrics().finish(call_ok);
                if let Some(sub) = sub {
                    sub.calls.finish(call_ok);
                }
            }
        }
        if let Some(socket) = &self.socket {
            socket.metrics.stream_finished(stream_ok);
        }
    }
}

impl Drop for CallTracker {
    fn drop(&mut self) {
        self.finish(false, false);
    }
}

/// The connection a channel's calls currently go over, set by our
/// connector. Read once per call (and per body chunk only while a call does
/// not know its connection yet); the lock is per channel, never global.
#[derive(Debug, Default)]
pub(crate) struct CurrentConnection(
    std::sync::Mutex<Option<(Arc<SubchannelNode>, Arc<SocketNode>)>>,
);

impl CurrentConnection {
    pub(crate) fn get(&self) -> Option<(Arc<SubchannelNode>, Arc<SocketNode>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(&self, conn: Option<(Arc<SubchannelNode>, Arc<SocketNode>)>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = conn;
    }

    /// Clears the current connection only if it is still `socket_id`.
    pub(crate) fn clear_if(&self, socket_id: i64) -> bool {
        let mut cur = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_some_and(|(_, s)| s.id == socket_id) {
            *cur = None;
            true
        } else {
            false
        }
    }
}

/// Where a body's message counts go.
#[derive(Debug)]
pub(crate) enum SocketSource {
    /// A known connection (server side, or a client call that knew its
    /// connection when it started).
    Fixed(Arc<SocketNode>),
    /// A client call made before its connection existed: look it up when
    /// the first bytes flow, then keep it.
    Current(Arc<CurrentConnection>),
}

impl SocketSource {
    fn socket(&mut self) -> Option<&Arc<SocketNode>> {
        if let SocketSource::Current(cur) = self {
            match cur.get() {
                Some((_, socket)) => *self = SocketSource::Fixed(socket),
                None => return None,
            }
        }
        match self {
            SocketSource::Fixed(s) => Some(s),
            SocketSource::Current(_) => None,
        }
    }
}

/// A body that counts the gRPC messages passing through it on a socket and,
/// when it carries a tracker, ends the call from its trailers.
#[derive(Debug)]
pub struct ObservedBody<B> {
    inner: B,
    socket: Option<SocketSource>,
    /// True when this body's messages are sent by us (server responses,
    /// client requests).
    sent: bool,
    counter: MessageCounter,
    tracker: Option<CallTracker>,
}

impl<B> ObservedBody<B> {
    pub(crate) fn new(
        inner: B,
        socket: Option<SocketSource>,
        sent: bool,
        tracker: Option<CallTracker>,
    ) -> Self {
        Self {
            inner,
            socket,
            sent,
            counter: MessageCounter::default(),
            tracker,
        }
    }
}

/// What a call's response head (or the failure to get one) means for its
/// tracker, on either side: a failure ends the call failed; a
/// trailers-only response carries grpc-status in its headers and ends the
/// call with them; any other response hands the tracker to its body, whose
/// trailers end the call. `sent` is as in [`ObservedBody`].
pub(crate) fn observe_response<B, E>(
    res: Result<http::Response<B>, E>,
    mut tracker: CallTracker,
    sent: bool,
) -> Result<http::Response<ObservedBody<B>>, E> {
    match res {
        Ok(resp) => {
            let socket = tracker.socket().cloned().map(SocketSource::Fixed);
            let tracker = match grpc_status_ok(resp.headers()) {
                Some(ok) => {
                    tracker.finish(ok, true);
                    None
                }
                None => Some(tracker),
            };
            Ok(resp.map(|b| ObservedBody::new(b, socket, sent, tracker)))
        }
        Err(e) => {
            tracker.finish(false, false);
            Err(e)
        }
    }
}

impl<B> Body for ObservedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Some(socket) = this.socket.as_mut().and_then(SocketSource::socket) {
                        let n = this.counter.feed(data);
                        if n > 0 {
                            socket.metrics.messages(this.sent, n);
                        }
                    }
                } else if let Some(trailers) = frame.trailers_ref()
                    && let Some(tracker) = &mut this.tracker
                {
                    tracker.finish(grpc_status_ok(trailers).unwrap_or(false), true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(tracker) = &mut this.tracker {
                    tracker.finish(false, false);
                }
            }
            Poll::Ready(None) => {
                // Ended without trailers: end-of-stream was reached but no
                // status was given, which gRPC treats as a failed call.
                if let Some(tracker) = &mut this.tracker {
                    tracker.finish(false, true);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The start time of a call, taken once and shared by every counter.
pub(crate) fn call_start() -> i64 {
    now_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, len as usize));
        v
    }

    #[test]
    fn counts_messages_across_any_chunking() {
        let mut stream = Vec::new();
        for len in [0, 1, 300, 5, 70_000] {
            stream.extend(frame(len));
        }
        for chunk_size in [1, 2, 3, 5, 7, 64, 1024, stream.len()] {
            let mut counter = MessageCounter::default();
            let total: i64 = stream.chunks(chunk_size).map(|c| counter.feed(c)).sum();
            assert_eq!(total, 5, "chunk size {chunk_size}");
        }
    }

    #[test]
    fn status_is_read_from_grpc_status_only() {
        let mut h = HeaderMap::new();
        assert_eq!(grpc_status_ok(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("0"));
        assert_eq!(grpc_status_ok(&h), Some(true));
        h.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(grpc_status_ok(&h), Some(false));
    }
}
