//! Record and replay: `--record FILE` writes every poll of a watch (the
//! dashboard or `--json --watch`) to a file, and `--replay FILE` opens the
//! same screens, or the same JSON, from it, offline.
//!
//! A recording is a preamble (magic, format version), a JSON header
//! (tool, targets, interval) and one checksummed, DEFLATE-compressed frame
//! per poll; each poll lists its members (one per target) with the
//! member's full snapshot stored as what changed since its previous poll,
//! and every [`format::KEYFRAME_EVERY`]th poll stored whole. The README's
//! "Recording format" section is the specification; [`format`](mod@format) is its
//! code.
//!
//! - [`format`](mod@format): bytes on disk, frame heads, the poll messages.
//! - [`delta`]: member states, the change between two, applying one.
//! - [`writer`]: [`Recorder`], one poll at a time.
//! - [`reader`]: [`Recording`], the index, rebuilding any poll.
//! - [`replay`]: `--replay --json`, and the messages a poll gives `update`.
//! - [`live`]: the dashboard's poller when it records.
//! - [`timeline`]: the dashboard over a recording, with its timeline.
//! - [`fleet`](mod@fleet): the fleet screen over a recording of several members.
//! - [`synthetic`]: a synthetic server, for the benchmark and tests.

pub mod delta;
pub mod fleet;
pub mod format;
pub mod live;
pub mod reader;
pub mod replay;
pub mod synthetic;
pub mod timeline;
pub mod writer;

pub use reader::{ReadError, Recording};
pub use writer::Recorder;

#[cfg(test)]
mod tests;
