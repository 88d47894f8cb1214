//! Writing a recording: [`Recorder`] takes one poll at a time (every
//! member's snapshot or error), stores it as a change of the previous poll
//! with a keyframe every [`KEYFRAME_EVERY`] polls, compresses it and
//! appends it as one frame, flushed, so that a recorder killed at any
//! moment leaves every poll but the one being written.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use grpc_toolkit_conn::format_go_duration;
use prost::Message;

use super::delta::{MemberState, nanos_of};
use super::format::{
    FrameKind, Head, Header, KEYFRAME_EVERY, MAGIC, MemberRecord, PollRecord, VERSION,
};
use crate::model::HealthReport;
use crate::snapshot::Snapshot;

/// What one member was at one poll: its address, its name (the ADDR it
/// came from), and its snapshot or the error that stood for it.
pub type MemberPoll<'a> = (&'a str, &'a str, Result<&'a Snapshot, &'a str>);

/// A [`MemberPoll`] with the member's health answers, when asked.
pub type MemberPollWithHealth<'a> = (
    &'a str,
    &'a str,
    Result<&'a Snapshot, &'a str>,
    Option<&'a HealthReport>,
);

/// Appends polls to a recording.
pub struct Recorder {
    out: Box<dyn Write + Send>,
    /// Each member's state at the previous poll (members whose poll
    /// failed have none).
    previous: HashMap<String, MemberState>,
    polls: usize,
    /// Bytes written so far.
    written: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("polls", &self.polls)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// The tool name written in headers.
pub const TOOL: &str = concat!("channelz-tui ", env!("CARGO_PKG_VERSION"));

impl Recorder {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path, targets: &[String], interval: Duration) -> io::Result<Recorder> {
        let file = File::create(path)?;
        Recorder::new(Box::new(file), targets, interval)
    }

    /// A recorder writing to `out` (a file, or memory in tests and the
    /// benchmark).
    pub fn new(
        out: Box<dyn Write + Send>,
        targets: &[String],
        interval: Duration,
    ) -> io::Result<Recorder> {
        let mut recorder = Recorder {
            out,
            previous: HashMap::new(),
            polls: 0,
            written: 0,
        };
        let header = Header {
            format: VERSION,
            tool: TOOL.to_string(),
            targets: targets.to_vec(),
            interval: format_go_duration(interval),
        };
        let json = serde_json::to_vec(&header).map_err(io::Error::other)?;
        let mut start = Vec::with_capacity(10);
        start.extend_from_slice(MAGIC);
        start.extend_from_slice(&VERSION.to_le_bytes());
        recorder.out.write_all(&start)?;
        recorder.written += start.len() as u64;
        recorder.frame(FrameKind::Header, nanos_of(SystemTime::now()), &json)?;
        Ok(recorder)
    }

    /// Polls written so far.
    pub fn polls(&self) -> usize {
        self.polls
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.written
    }

    /// Appends one poll taken at `time`: each member's address, name and
    /// snapshot (or the error that stood for it).
    pub fn write_poll(&mut self, time: SystemTime, members: &[MemberPoll<'_>]) -> io::Result<()> {
        let with_health: Vec<_> = members.iter().map(|m| (m.0, m.1, m.2, None)).collect();
        self.write_poll_with_health(time, &with_health)
    }

    /// [`Recorder::write_poll`] with each member's health answers (the
    /// dashboard shows them; JSON mode does not ask).
    pub fn write_poll_with_health(
        &mut self,
        time: SystemTime,
        members: &[MemberPollWithHealth<'_>],
    ) -> io::Result<()> {
        let keyframe = self.polls.is_multiple_of(KEYFRAME_EVERY);
        let mut next = HashMap::new();
        let mut record = PollRecord::default();
        for (member, name, result, health) in members {
            let mut m = MemberRecord {
                member: member.to_string(),
                name: name.to_string(),
                health: health.map(super::replay::health_record),
                ..MemberRecord::default()
            };
            match result {
                Ok(snap) => {
                    let state = MemberState::of(snap);
                    let base = if keyframe {
                        None
                    } else {
                        self.previous.get(*member)
                    };
                    m.snapshot = Some(state.delta_from(base));
                    next.insert(member.to_string(), state);
                }
                Err(e) => m.error = Some(e.to_string()),
            }
            record.members.push(m);
        }
        let mut deflate = DeflateEncoder::new(Vec::new(), Compression::default());
        deflate.write_all(&record.encode_to_vec())?;
        let payload = deflate.finish()?;
        let kind = if keyframe {
            FrameKind::Keyframe
        } else {
            FrameKind::Delta
        };
        self.frame(kind, nanos_of(time), &payload)?;
        self.previous = next;
        self.polls += 1;
        Ok(())
    }

    fn frame(&mut self, kind: FrameKind, time: i64, payload: &[u8]) -> io::Result<()> {
        let head = Head {
            len: u32::try_from(payload.len())
                .map_err(|_| io::Error::other("a poll too large to record"))?,
            kind: kind.byte(),
            time,
            crc: crc32fast::hash(payload),
        };
        // One write of the whole frame, then a flush: a reader (or a crash)
        // sees whole frames or a cut-off last one, nothing else.
        let mut buf = BufWriter::with_capacity(payload.len() + 32, &mut self.out);
        buf.write_all(&head.encode())?;
        buf.write_all(payload)?;
        buf.flush()?;
        drop(buf);
        self.out.flush()?;
        self.written += (head.encode().len() + payload.len()) as u64;
        Ok(())
    }
}

/// The fleet screen records its rounds through this (see
/// [`crate::fleet::tui::RoundRecorder`] for why it is a trait).
impl crate::fleet::tui::RoundRecorder for Recorder {
    fn record_round(
        &mut self,
        time: SystemTime,
        members: &[crate::fleet::tui::RoundMember<'_>],
    ) -> io::Result<()> {
        self.write_poll_with_health(time, members)
    }
}
