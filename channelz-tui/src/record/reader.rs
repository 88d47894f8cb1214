//! Reading a recording. [`Recording::open`] checks the preamble, walks the
//! frames once (checking both checksums of each, reading nothing whole)
//! and builds the index of polls and keyframes; a frame cut off by the end
//! of the file ends the index and is reported, any other damage is an
//! error naming the byte. [`Recording::poll`] rebuilds any poll from its
//! keyframe and at most [`KEYFRAME_EVERY`]` - 1` deltas; [`Recording::advance`]
//! steps from one poll to the next with one delta.
//!
//! The file is untrusted: every length is bounded before anything is
//! allocated for it, inflating stops at [`MAX_INFLATED`], and protobuf
//! decoding and delta application report errors rather than panic.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::SystemTime;

use flate2::read::DeflateDecoder;
use prost::Message;

use super::delta::{MemberState, time_of_nanos};
use super::format::{
    FrameKind, HEAD_LEN, Head, Header, HealthRecord, KEYFRAME_EVERY, MAGIC, MAX_FRAME, MAX_HEADER,
    MAX_INFLATED, PREAMBLE_LEN, PollRecord, VERSION,
};

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The file is something else.
    #[error("{path} is not a channelz-tui recording (byte 0: {detail})")]
    Foreign {
        /// The file.
        path: String,
        /// What was found.
        detail: String,
    },
    /// Written by a newer channelz-tui.
    #[error(
        "{path} is recording format version {found}; this channelz-tui reads up to version {VERSION} (a newer channelz-tui wrote it)"
    )]
    Newer {
        /// The file.
        path: String,
        /// Its version.
        found: u16,
    },
    /// Damaged at a byte.
    #[error("{path} is damaged at byte {offset}: {detail}")]
    Corrupt {
        /// The file.
        path: String,
        /// Where the damaged frame starts.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A header and no complete poll.
    #[error("{path} holds no complete poll{}", if *.truncated { " (it was cut off while the first poll was written)" } else { "" })]
    Empty {
        /// The file.
        path: String,
        /// Whether the file ends in a cut-off frame.
        truncated: bool,
    },
}

/// Where one poll's frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollIndex {
    /// The frame's first byte.
    pub offset: u64,
    /// Its payload length.
    pub len: u32,
    /// Its payload checksum.
    pub crc: u32,
    /// Whether it is a keyframe.
    pub keyframe: bool,
    /// The poll's time, Unix ns.
    pub time: i64,
}

/// An open recording and its index.
#[derive(Debug)]
pub struct Recording {
    path: String,
    file: File,
    /// The header.
    pub header: Header,
    /// Every complete poll, in order.
    pub polls: Vec<PollIndex>,
    /// The byte where a cut-off last frame starts, if the file ends in one.
    pub truncated_at: Option<u64>,
    /// Deltas applied by the last [`Recording::poll`] (for tests).
    pub last_deltas: usize,
}

/// One member at one poll.
#[derive(Debug, Clone)]
pub struct PolledMember {
    /// Its address.
    pub member: String,
    /// The ADDR it came from.
    pub name: String,
    /// Its snapshot, or the error that stood for it.
    pub state: Result<MemberState, String>,
    /// Its health answers, when recorded.
    pub health: Option<HealthRecord>,
}

/// One poll, rebuilt.
#[derive(Debug, Clone)]
pub struct Poll {
    /// Its position in the recording.
    pub index: usize,
    /// When it was taken.
    pub time: SystemTime,
    /// Its members.
    pub members: Vec<PolledMember>,
}

impl Poll {
    /// An empty poll, to hold a place while the real one is moved out.
    pub fn placeholder() -> Poll {
        Poll {
            index: 0,
            time: SystemTime::UNIX_EPOCH,
            members: Vec::new(),
        }
    }
}

/// `payload` inflated, refusing to produce more than `limit` bytes (a
/// small frame may claim to inflate to gigabytes).
pub fn inflate(payload: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let mut inflated = Vec::new();
    let mut limited = DeflateDecoder::new(payload).take(limit + 1);
    if let Err(e) = limited.read_to_end(&mut inflated) {
        return Err(format!("the poll does not inflate: {e}"));
    }
    if inflated.len() as u64 > limit {
        return Err(format!("the poll inflates to more than {limit} bytes"));
    }
    Ok(inflated)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Recording {
    /// Opens and indexes `path`.
    pub fn open(path: &Path) -> Result<Recording, ReadError> {
        let name = path.display().to_string();
        let io_err = |source| ReadError::Io {
            path: name.clone(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let mut r = BufReader::with_capacity(1 << 16, file.try_clone().map_err(io_err)?);
        let mut preamble = [0u8; PREAMBLE_LEN as usize];
        let n = read_full(&mut r, &mut preamble).map_err(io_err)?;
        if n < MAGIC.len() || &preamble[..MAGIC.len()] != MAGIC {
            let shown: String = preamble[..n.min(8)]
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        char::from(b).to_string()
                    } else {
                        format!("\\x{b:02x}")
                    }
                })
                .collect();
            return Err(ReadError::Foreign {
                path: name,
                detail: format!("found \"{shown}\", expected \"CZTUIREC\""),
            });
        }
        if n < preamble.len() {
            return Err(ReadError::Empty {
                path: name,
                truncated: true,
            });
        }
        let version = u16::from_le_bytes([preamble[8], preamble[9]]);
        if version > VERSION {
            return Err(ReadError::Newer {
                path: name,
                found: version,
            });
        }
        if version == 0 {
            return Err(ReadError::Corrupt {
                path: name,
                offset: 8,
                detail: "format version 0 does not exist".into(),
            });
        }
        let corrupt = |offset: u64, detail: String| ReadError::Corrupt {
            path: name.clone(),
            offset,
            detail,
        };
        let mut offset = PREAMBLE_LEN;
        let mut header = None;
        let mut polls = Vec::new();
        let mut truncated_at = None;
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let mut head = [0u8; HEAD_LEN];
            let n = read_full(&mut r, &mut head).map_err(io_err)?;
            if n == 0 {
                break;
            }
            if n < HEAD_LEN {
                truncated_at = Some(offset);
                break;
            }
            let head = Head::decode(&head)
                .ok_or_else(|| corrupt(offset, "frame head checksum mismatch".into()))?;
            let kind = FrameKind::from_byte(head.kind)
                .ok_or_else(|| corrupt(offset, format!("unknown frame kind {}", head.kind)))?;
            let cap = if kind == FrameKind::Header {
                MAX_HEADER
            } else {
                MAX_FRAME
            };
            if head.len > cap {
                return Err(corrupt(
                    offset,
                    format!("a frame of {} bytes (at most {cap})", head.len),
                ));
            }
            // The payload: its checksum, and for the header its bytes.
            let mut left = head.len as usize;
            let mut hasher = crc32fast::Hasher::new();
            let mut kept = Vec::new();
            let mut cut = false;
            while left > 0 {
                let want = left.min(chunk.len());
                let got = read_full(&mut r, &mut chunk[..want]).map_err(io_err)?;
                hasher.update(&chunk[..got]);
                if kind == FrameKind::Header {
                    kept.extend_from_slice(&chunk[..got]);
                }
                left -= got;
                if got < want {
                    cut = true;
                    break;
                }
            }
            if cut {
                truncated_at = Some(offset);
                break;
            }
            if hasher.finalize() != head.crc {
                return Err(corrupt(offset, "frame checksum mismatch".into()));
            }
            match (kind, header.is_some()) {
                (FrameKind::Header, false) => {
                    let h: Header = serde_json::from_slice(&kept)
                        .map_err(|e| corrupt(offset, format!("the header is not valid: {e}")))?;
                    header = Some(h);
                }
                (FrameKind::Header, true) => {
                    return Err(corrupt(offset, "a second header".into()));
                }
                (_, false) => {
                    return Err(corrupt(offset, "a poll before the header".into()));
                }
                (kind, true) => {
                    let keyframe = kind == FrameKind::Keyframe;
                    if polls.is_empty() && !keyframe {
                        return Err(corrupt(offset, "the first poll is not a keyframe".into()));
                    }
                    let since = polls
                        .iter()
                        .rev()
                        .position(|p: &PollIndex| p.keyframe)
                        .unwrap_or(0);
                    if !keyframe && since + 1 >= KEYFRAME_EVERY {
                        return Err(corrupt(
                            offset,
                            format!("more than {KEYFRAME_EVERY} polls without a keyframe"),
                        ));
                    }
                    polls.push(PollIndex {
                        offset,
                        len: head.len,
                        crc: head.crc,
                        keyframe,
                        time: head.time,
                    });
                }
            }
            offset += (HEAD_LEN + head.len as usize) as u64;
        }
        let Some(header) = header else {
            return Err(ReadError::Empty {
                path: name,
                truncated: truncated_at.is_some(),
            });
        };
        if polls.is_empty() {
            return Err(ReadError::Empty {
                path: name,
                truncated: truncated_at.is_some(),
            });
        }
        Ok(Recording {
            path: name,
            file,
            header,
            polls,
            truncated_at,
            last_deltas: 0,
        })
    }

    /// The file's name, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How many complete polls it holds.
    pub fn len(&self) -> usize {
        self.polls.len()
    }

    /// Whether it holds no poll (never true of an opened recording).
    pub fn is_empty(&self) -> bool {
        self.polls.is_empty()
    }

    /// The time of poll `i`.
    pub fn time(&self, i: usize) -> SystemTime {
        time_of_nanos(self.polls.get(i).map_or(0, |p| p.time))
    }

    /// The last poll taken at or before `t`; `None` when all are later.
    pub fn at_or_before(&self, t: SystemTime) -> Option<usize> {
        let n = super::delta::nanos_of(t);
        self.polls.partition_point(|p| p.time <= n).checked_sub(1)
    }

    /// The keyframe poll `i` is rebuilt from.
    pub fn keyframe_of(&self, i: usize) -> usize {
        (0..=i.min(self.polls.len().saturating_sub(1)))
            .rev()
            .find(|&k| self.polls[k].keyframe)
            .unwrap_or(0)
    }

    fn corrupt(&self, offset: u64, detail: impl Into<String>) -> ReadError {
        ReadError::Corrupt {
            path: self.path.clone(),
            offset,
            detail: detail.into(),
        }
    }

    /// Poll `i`'s record, read, checked, inflated and decoded.
    pub fn record(&mut self, i: usize) -> Result<PollRecord, ReadError> {
        let Some(at) = self.polls.get(i).copied() else {
            return Err(self.corrupt(0, format!("no poll {i}")));
        };
        let io_err = |source| ReadError::Io {
            path: self.path.clone(),
            source,
        };
        self.file
            .seek(SeekFrom::Start(at.offset + HEAD_LEN as u64))
            .map_err(io_err)?;
        let mut payload = vec![0u8; at.len as usize];
        let got = read_full(&mut self.file, &mut payload).map_err(io_err)?;
        if got < payload.len() || crc32fast::hash(&payload) != at.crc {
            return Err(self.corrupt(at.offset, "the frame changed since the file was opened"));
        }
        let inflated = inflate(&payload, MAX_INFLATED).map_err(|e| self.corrupt(at.offset, e))?;
        PollRecord::decode(inflated.as_slice())
            .map_err(|e| self.corrupt(at.offset, format!("the poll does not decode: {e}")))
    }

    /// Poll `i`, rebuilt from its keyframe.
    pub fn poll(&mut self, i: usize) -> Result<Poll, ReadError> {
        let k = self.keyframe_of(i);
        let mut poll = self.first(k)?;
        self.last_deltas = 0;
        while poll.index < i {
            poll = self.advance(poll)?;
            self.last_deltas += 1;
        }
        Ok(poll)
    }

    fn first(&mut self, k: usize) -> Result<Poll, ReadError> {
        let record = self.record(k)?;
        self.build(k, record, HashMap::new())
    }

    /// Moves `poll` on to the poll after it, in place ([`Recording::advance`]).
    pub fn step(&mut self, poll: &mut Poll) -> Result<(), ReadError> {
        let current = std::mem::replace(poll, Poll::placeholder());
        *poll = self.advance(current)?;
        Ok(())
    }

    /// The poll after `poll`, by applying one delta (or reading a keyframe).
    pub fn advance(&mut self, poll: Poll) -> Result<Poll, ReadError> {
        let i = poll.index + 1;
        let record = self.record(i)?;
        let previous = if self.polls[i].keyframe {
            HashMap::new()
        } else {
            poll.members
                .into_iter()
                .filter_map(|m| m.state.ok().map(|s| (m.member, s)))
                .collect()
        };
        self.build(i, record, previous)
    }

    fn build(
        &self,
        i: usize,
        record: PollRecord,
        mut previous: HashMap<String, MemberState>,
    ) -> Result<Poll, ReadError> {
        let offset = self.polls[i].offset;
        let mut members = Vec::with_capacity(record.members.len());
        for m in record.members {
            let state = match (m.error, m.snapshot) {
                (Some(e), _) => Err(e),
                (None, Some(delta)) => {
                    let base = previous.remove(&m.member);
                    Ok(MemberState::apply(base, delta)
                        .map_err(|e| self.corrupt(offset, format!("member {:?}: {e}", m.member)))?)
                }
                (None, None) => {
                    return Err(self.corrupt(
                        offset,
                        format!("member {:?} has neither snapshot nor error", m.member),
                    ));
                }
            };
            members.push(PolledMember {
                member: m.member,
                name: m.name,
                state,
                health: m.health,
            });
        }
        Ok(Poll {
            index: i,
            time: self.time(i),
            members,
        })
    }
}
