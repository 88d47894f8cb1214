//! CSDS in the dashboard: what one poll learned of the target's xDS clients
//! ([`XdsPoll`]), the one value that the xDS screen, the JSON `xds`
//! section, recordings and the fleet's per-member counts all read.
//!
//! The poller asks CSDS beside Channelz on every poll (`Api::xds`); a
//! server without CSDS is [`XdsPoll::Unsupported`], a line on the screen,
//! never an error of the poll.

use grpc_toolkit_channelz_client::csds::XdsStatus;

/// One CSDS read, as the dashboard keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum XdsPoll {
    /// The decoded, bounded client status.
    Status(XdsStatus),
    /// The server answered UNIMPLEMENTED: it serves no CSDS.
    Unsupported,
    /// The read failed (deadline, connection, a malformed answer): the
    /// error's one line, raw (renderers escape it).
    Failed(String),
}
