//! The recording's bytes: the file preamble, the frame layout with its two
//! checksums, the header, and the protobuf messages a poll frame holds.
//!
//! ```text
//! file   = magic "CZTUIREC" (8 bytes), format version (u16 LE), frame*
//! frame  = length u32 LE | kind u8 | time i64 LE (Unix ns) | payload crc32 u32 LE
//!          | head crc32 u32 LE (of the 17 bytes before it) | payload (length bytes)
//! kind   = 0 header (payload: JSON, uncompressed, first frame only)
//!          1 keyframe, 2 delta (payload: raw DEFLATE of a protobuf PollRecord)
//! ```
//!
//! The head has its own checksum so that a damaged length is reported as
//! damage, not mistaken for a file cut short; only a frame whose head or
//! payload runs past the end of the file counts as cut off. The poll
//! messages are hand-written prost structs: the schema is this file.

use serde::{Deserialize, Serialize};

/// The first bytes of every recording.
pub const MAGIC: &[u8; 8] = b"CZTUIREC";
/// The format this build writes and the newest it reads.
pub const VERSION: u16 = 1;
/// Magic and version.
pub const PREAMBLE_LEN: u64 = 10;
/// Bytes of a frame head.
pub const HEAD_LEN: usize = 21;
/// A keyframe at least every this many polls: a seek or a truncated file
/// replays at most `KEYFRAME_EVERY - 1` deltas.
pub const KEYFRAME_EVERY: usize = 60;
/// The largest frame payload read (compressed), so that a damaged length
/// cannot make the reader allocate gigabytes.
pub const MAX_FRAME: u32 = 64 << 20;
/// The most bytes one frame may inflate to.
pub const MAX_INFLATED: u64 = 512 << 20;
/// The largest header frame.
pub const MAX_HEADER: u32 = 1 << 20;
/// The most entities one member's state may hold while replaying.
pub const MAX_ENTITIES: usize = 2_000_000;
/// The largest encoded entity.
pub const MAX_ENTITY_BYTES: usize = 16 << 20;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The recording's header (JSON).
    Header,
    /// A poll stored in full.
    Keyframe,
    /// A poll stored as what changed since the previous poll.
    Delta,
}

impl FrameKind {
    /// The byte in the frame head.
    pub fn byte(self) -> u8 {
        match self {
            FrameKind::Header => 0,
            FrameKind::Keyframe => 1,
            FrameKind::Delta => 2,
        }
    }

    /// The kind of a head byte; `None` for a kind this build does not know.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(FrameKind::Header),
            1 => Some(FrameKind::Keyframe),
            2 => Some(FrameKind::Delta),
            _ => None,
        }
    }
}

/// A frame head, as read from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Payload bytes.
    pub len: u32,
    /// The kind byte (unknown kinds are reported by the reader).
    pub kind: u8,
    /// The poll's time (the header's: when recording started), Unix ns.
    pub time: i64,
    /// CRC-32 of the payload.
    pub crc: u32,
}

impl Head {
    /// The 21 bytes of the head, its own checksum last.
    pub fn encode(&self) -> [u8; HEAD_LEN] {
        let mut out = [0u8; HEAD_LEN];
        out[0..4].copy_from_slice(&self.len.to_le_bytes());
        out[4] = self.kind;
        out[5..13].copy_from_slice(&self.time.to_le_bytes());
        out[13..17].copy_from_slice(&self.crc.to_le_bytes());
        let check = crc32fast::hash(&out[..17]);
        out[17..21].copy_from_slice(&check.to_le_bytes());
        out
    }

    /// The head in `bytes`, or `None` when its checksum does not match.
    pub fn decode(bytes: &[u8; HEAD_LEN]) -> Option<Head> {
        let word = |r: std::ops::Range<usize>| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[r]);
            u32::from_le_bytes(b)
        };
        if crc32fast::hash(&bytes[..17]) != word(17..21) {
            return None;
        }
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[5..13]);
        Some(Head {
            len: word(0..4),
            kind: bytes[4],
            time: i64::from_le_bytes(time),
            crc: word(13..17),
        })
    }
}

/// The header frame's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The format version (repeats the preamble's, for readers of the JSON).
    pub format: u16,
    /// The program that wrote it, e.g. `channelz-tui 0.1.0`.
    pub tool: String,
    /// The ADDRs given on the command line.
    pub targets: Vec<String>,
    /// The poll interval, as a Go duration.
    pub interval: String,
}

/// One poll: every member's state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PollRecord {
    /// The members, in the order the poller listed them.
    #[prost(message, repeated, tag = "1")]
    pub members: Vec<MemberRecord>,
}

/// One member of a poll: a target (or one address of a `--fleet` target)
/// with its snapshot or the error that stood for it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MemberRecord {
    /// The member's address.
    #[prost(string, tag = "1")]
    pub member: String,
    /// The ADDR it came from.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Why there is no snapshot (exactly the live `"error"` text).
    #[prost(string, optional, tag = "3")]
    pub error: Option<String>,
    /// The snapshot, as a change of the member's previous one.
    #[prost(message, optional, tag = "4")]
    pub snapshot: Option<SnapshotDelta>,
    /// The health service's answers (the dashboard records them; JSON
    /// mode does not ask).
    #[prost(message, optional, tag = "5")]
    pub health: Option<HealthRecord>,
}

/// A snapshot as what changed since the member's previous one (or since
/// nothing, when `fresh`). Absent lists are unchanged.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotDelta {
    /// The base is empty (a keyframe, a new member, or one whose previous
    /// poll failed), not the previous snapshot.
    #[prost(bool, tag = "1")]
    pub fresh: bool,
    /// When the snapshot completed, Unix ns; absent when it has no time.
    #[prost(sint64, optional, tag = "2")]
    pub at: Option<i64>,
    /// The top channels' ids in order, when changed.
    #[prost(message, optional, tag = "3")]
    pub channels: Option<IdList>,
    /// The servers' ids in order, when changed.
    #[prost(message, optional, tag = "4")]
    pub servers: Option<IdList>,
    /// Entities added, changed or removed.
    #[prost(message, repeated, tag = "5")]
    pub entities: Vec<EntityChange>,
    /// Servers whose socket list changed, with the new list.
    #[prost(message, repeated, tag = "6")]
    pub server_sockets: Vec<ServerSockets>,
    /// Servers whose socket list is gone.
    #[prost(sint64, repeated, tag = "7")]
    pub server_sockets_removed: Vec<i64>,
    /// The `incomplete` list, when changed.
    #[prost(message, optional, tag = "8")]
    pub incomplete: Option<IncompleteList>,
    /// The poll's CSDS read, when changed (in a fresh delta: absent when
    /// not asked). Recordings made before CSDS was read have none, and
    /// replay without an `xds` section; builds that predate it skip the
    /// field, as protobuf skips unknown fields.
    #[prost(message, optional, tag = "9")]
    pub xds: Option<XdsRecord>,
}

/// What [`XdsRecord::kind`] says the read gave.
pub mod xds_kind {
    /// Not asked (a change back to no CSDS read).
    pub const NOT_ASKED: u32 = 0;
    /// The decoded status: `scopes` and `dropped`.
    pub const STATUS: u32 = 1;
    /// The server serves no CSDS.
    pub const UNSUPPORTED: u32 = 2;
    /// The read failed: `error`.
    pub const FAILED: u32 = 3;
}

/// One CSDS read (`crate::xds::XdsPoll`), as decoded and bounded by the
/// CSDS client: the recording keeps what the screens and the JSON read,
/// not the raw response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XdsRecord {
    /// One of [`xds_kind`].
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// The error's line, for [`xds_kind::FAILED`].
    #[prost(string, tag = "2")]
    pub error: String,
    /// The client scopes, in the server's order.
    #[prost(message, repeated, tag = "3")]
    pub scopes: Vec<XdsScopeRecord>,
    /// Resources the reader left out (`MAX_RESOURCES`).
    #[prost(uint64, tag = "4")]
    pub dropped: u64,
}

/// One client scope.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XdsScopeRecord {
    /// `client_scope`.
    #[prost(string, tag = "1")]
    pub client_scope: String,
    /// The node id.
    #[prost(string, tag = "2")]
    pub node_id: String,
    /// Its resources.
    #[prost(message, repeated, tag = "3")]
    pub resources: Vec<XdsResourceRecord>,
}

/// One resource.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XdsResourceRecord {
    /// The type URL.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The `ClientResourceStatus` number.
    #[prost(int32, tag = "3")]
    pub status: i32,
    /// The accepted version.
    #[prost(string, tag = "4")]
    pub version: String,
    /// When it was accepted, seconds since the epoch.
    #[prost(sint64, optional, tag = "5")]
    pub last_updated: Option<i64>,
    /// The last rejected update.
    #[prost(message, optional, tag = "6")]
    pub failure: Option<XdsFailureRecord>,
    /// The decoded config; absent for none.
    #[prost(message, optional, tag = "7")]
    pub summary: Option<XdsSummaryRecord>,
}

/// A rejected update.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XdsFailureRecord {
    /// The rejected version.
    #[prost(string, tag = "1")]
    pub version: String,
    /// The reason.
    #[prost(string, tag = "2")]
    pub details: String,
    /// When, seconds since the epoch.
    #[prost(sint64, optional, tag = "3")]
    pub at: Option<i64>,
}

/// What [`XdsSummaryRecord::kind`] says the payload decoded as, and which
/// fields it uses.
pub mod summary_kind {
    /// A listener: `text` the RDS name, `flag` inline routes.
    pub const LISTENER: u32 = 1;
    /// A route configuration: `count` virtual hosts, `names` clusters.
    pub const ROUTE: u32 = 2;
    /// A cluster: `text` its discovery type, `text2` the EDS service name.
    pub const CLUSTER: u32 = 3;
    /// Endpoints: `count` in all, `count2` healthy.
    pub const ENDPOINTS: u32 = 4;
    /// Not decoded: `text` the type URL, `count` its size.
    pub const OTHER: u32 = 5;
}

/// A decoded config (`csds::Summary`), one message for every variant.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XdsSummaryRecord {
    /// One of [`summary_kind`].
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// See [`summary_kind`].
    #[prost(string, tag = "2")]
    pub text: String,
    /// See [`summary_kind`].
    #[prost(string, tag = "3")]
    pub text2: String,
    /// See [`summary_kind`].
    #[prost(bool, tag = "4")]
    pub flag: bool,
    /// See [`summary_kind`].
    #[prost(uint64, tag = "5")]
    pub count: u64,
    /// See [`summary_kind`].
    #[prost(uint64, tag = "6")]
    pub count2: u64,
    /// See [`summary_kind`].
    #[prost(string, repeated, tag = "7")]
    pub names: Vec<String>,
}

/// Ids, each stored as its difference from the one before (sorted ids
/// make small numbers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IdList {
    /// The first id, then differences.
    #[prost(sint64, repeated, tag = "1")]
    pub deltas: Vec<i64>,
}

impl IdList {
    /// The list of `ids`.
    pub fn of(ids: &[i64]) -> IdList {
        let mut last = 0i64;
        IdList {
            deltas: ids
                .iter()
                .map(|&id| {
                    let d = id.wrapping_sub(last);
                    last = id;
                    d
                })
                .collect(),
        }
    }

    /// The ids.
    pub fn ids(&self) -> Vec<i64> {
        let mut last = 0i64;
        self.deltas
            .iter()
            .map(|&d| {
                last = last.wrapping_add(d);
                last
            })
            .collect()
    }
}

/// The kinds of entity a snapshot holds, as stored.
pub mod kind {
    /// A top channel (`Snapshot::channels`).
    pub const TOP_CHANNEL: u32 = 0;
    /// A nested channel (`Snapshot::nested`).
    pub const CHANNEL: u32 = 1;
    /// A subchannel.
    pub const SUBCHANNEL: u32 = 2;
    /// A socket.
    pub const SOCKET: u32 = 3;
    /// A server.
    pub const SERVER: u32 = 4;
}

/// What happens to an entity.
pub mod op {
    /// `body` is the whole protobuf encoding.
    pub const PUT: u32 = 0;
    /// `splices` turn the previous encoding into the new one.
    pub const PATCH: u32 = 1;
    /// The entity is gone.
    pub const REMOVE: u32 = 2;
}

/// One entity's change. Entities are stored as their protobuf encoding
/// (the Channelz message itself), so a replayed snapshot is the recorded
/// one bit for bit, fields without a JSON form included.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntityChange {
    /// One of [`kind`].
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// The entity's id.
    #[prost(sint64, tag = "2")]
    pub id: i64,
    /// One of [`op`].
    #[prost(uint32, tag = "3")]
    pub op: u32,
    /// The encoding, for [`op::PUT`].
    #[prost(bytes = "vec", tag = "4")]
    pub body: Vec<u8>,
    /// The edits, for [`op::PATCH`].
    #[prost(message, repeated, tag = "5")]
    pub splices: Vec<Splice>,
}

/// An edit of an encoding: keep `skip` bytes, drop `delete`, insert
/// `insert`; what follows the last splice is kept.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Splice {
    /// Bytes kept since the end of the previous splice.
    #[prost(uint32, tag = "1")]
    pub skip: u32,
    /// Bytes of the old encoding dropped.
    #[prost(uint32, tag = "2")]
    pub delete: u32,
    /// Bytes put in their place.
    #[prost(bytes = "vec", tag = "3")]
    pub insert: Vec<u8>,
}

/// A server's socket ids.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerSockets {
    /// The server id.
    #[prost(sint64, tag = "1")]
    pub server: i64,
    /// Its socket ids, in order.
    #[prost(message, optional, tag = "2")]
    pub sockets: Option<IdList>,
}

/// A snapshot's `incomplete` list.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IncompleteList {
    /// The entries, in order.
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<IncompleteRecord>,
}

/// One `incomplete` entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IncompleteRecord {
    /// What was cut.
    #[prost(string, tag = "1")]
    pub entity: String,
    /// The reason's name (`limit`, `cycle`, ...).
    #[prost(string, tag = "2")]
    pub reason: String,
    /// The particulars.
    #[prost(string, tag = "3")]
    pub detail: String,
}

/// The health service's answers at one poll.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthRecord {
    /// `Check("")`'s status.
    #[prost(int32, optional, tag = "1")]
    pub status: Option<i32>,
    /// Why `Check("")` has no status.
    #[prost(string, optional, tag = "2")]
    pub error: Option<String>,
    /// Whether `List` answered.
    #[prost(bool, tag = "3")]
    pub listed: bool,
    /// `List`'s services.
    #[prost(message, repeated, tag = "4")]
    pub services: Vec<ServiceRecord>,
}

/// One service of `List`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceRecord {
    /// Its name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its status number.
    #[prost(int32, tag = "2")]
    pub status: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_and_any_flipped_bit_is_caught() {
        let head = Head {
            len: 1234,
            kind: 2,
            time: 1_700_000_000_123_456_789,
            crc: 0xdead_beef,
        };
        let bytes = head.encode();
        assert_eq!(Head::decode(&bytes), Some(head));
        for i in 0..HEAD_LEN * 8 {
            let mut damaged = bytes;
            damaged[i / 8] ^= 1 << (i % 8);
            assert_eq!(Head::decode(&damaged), None, "bit {i}");
        }
    }

    #[test]
    fn id_lists_store_differences() {
        let ids = [3, 5, 9, 10, -4, i64::MAX, i64::MIN];
        let list = IdList::of(&ids);
        assert_eq!(list.deltas[..3], [3, 2, 4]);
        assert_eq!(list.ids(), ids);
    }
}
