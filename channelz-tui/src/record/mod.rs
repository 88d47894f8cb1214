//! Record and replay: `--record FILE` writes every poll of a watch (the
//! dashboard or `--json --watch`) to a file, and `--replay FILE` opens the
//! same screens, or the same JSON, from it, offline.
//!
//! A recording is a preamble (magic, format version), a JSON header
//! (tool, targets, interval) and one checksummed, DEFLATE-compressed frame
//! per poll; each poll lists its members (one per target) with the
//! member's full snapshot stored as what changed since its previous poll,
//! and every `format::KEYFRAME_EVERY`th poll stored whole. channelz-tui/README.md's
//! "Recording format" section is the specification; `format` is its
//! code.
//!
//! - `format`: bytes on disk, frame heads, the poll messages.
//! - `delta`: member states, the change between two, applying one.
//! - `writer`: [`Recorder`], one poll at a time.
//! - `reader`: [`Recording`], the index, rebuilding any poll.
//! - `replay`: `--replay --json`, and the messages a poll gives `update`.
//! - `live`: the dashboard's poller when it records.
//! - [`timeline`]: the dashboard over a recording, with its timeline.
//! - [`fleet`](mod@fleet): the fleet screen over a recording of several members.
//! - [`synthetic`]: a synthetic server, for the benchmark and tests.
//! - `xds`: a poll's CSDS read as stored, and read back within bounds.

mod delta;
pub mod fleet;
mod format;
pub(crate) mod live;
mod reader;
pub(crate) mod replay;
pub mod synthetic;
pub mod timeline;
mod writer;
mod xds;

pub use reader::{ReadError, Recording};
pub use writer::Recorder;

use std::io::Write;
use std::path::Path;

use grpc_toolkit_conn::escape::escape;

use crate::exit::ExitStatus;

/// `channelz-tui --replay FILE`: the screens over the recording, the
/// fleet screen for a recording of several members. The choice is made
/// here, so that [`timeline`] (the loop) and [`fleet`](mod@fleet) (the fleet's
/// player, which uses the timeline) do not import each other.
pub async fn replay_screens(path: &Path, err: &mut dyn Write) -> ExitStatus {
    let opened = match fleet::is_fleet(path) {
        Ok(true) => {
            fleet::FleetPlayer::open(path).map(|p| Box::new(p) as Box<dyn timeline::Replay>)
        }
        Ok(false) => timeline::Player::open(path).map(|p| Box::new(p) as Box<dyn timeline::Replay>),
        Err(e) => Err(e),
    };
    match opened {
        Ok(player) => timeline::run(player, err).await,
        Err(e) => {
            let _ = writeln!(err, "channelz-tui: {}", escape(&e.to_string()));
            ExitStatus::Usage
        }
    }
}

#[cfg(test)]
mod tests;
