//! Deltas: a member's snapshot as stored state (each entity's protobuf
//! encoding keyed by kind and id, the order lists, `incomplete`, the CSDS
//! read), the
//! change from one state to the next, and applying a change. The writer
//! computes changes; the reader applies them and trusts nothing: every
//! splice is checked against the bytes it edits and every size is bounded.
//!
//! Entities are diffed as bytes. A busy channel's encoding differs from
//! the last poll's in a few counters and a timestamp, a few bytes here and
//! there whose varints sometimes change length; [`splices`] finds those
//! runs and re-synchronises after a length change, so a change costs tens
//! of bytes before compression, not the whole entity.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grpc_toolkit_proto::channelz::v1::{Channel, Server, Socket, Subchannel};
use prost::Message;

use super::format::{
    EntityChange, IdList, IncompleteList, IncompleteRecord, MAX_ENTITIES, MAX_ENTITY_BYTES,
    ServerSockets, SnapshotDelta, Splice, kind, op,
};
use super::xds::{poll_of, record_of};
use crate::model::{CutReason, Incomplete};
use crate::snapshot::Snapshot;
use crate::xds::XdsPoll;

/// An entity's key in a state: one of [`kind`] and its id.
pub type Key = (u32, i64);

/// One member's snapshot, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberState {
    /// When the snapshot completed, Unix ns.
    pub at: Option<i64>,
    /// Top channel ids, in order.
    pub channels: Vec<i64>,
    /// Server ids, in order.
    pub servers: Vec<i64>,
    /// Every entity's encoding.
    pub entities: BTreeMap<Key, Vec<u8>>,
    /// Each server's socket ids.
    pub server_sockets: BTreeMap<i64, Vec<i64>>,
    /// The `incomplete` list.
    pub incomplete: Vec<Incomplete>,
    /// The poll's CSDS read; `None` when not asked.
    pub xds: Option<XdsPoll>,
}

/// A time as Unix nanoseconds (saturating; before 1970 is negative).
pub fn nanos_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// Unix nanoseconds as a time.
pub fn time_of_nanos(n: i64) -> SystemTime {
    let d = Duration::from_nanos(n.unsigned_abs());
    if n >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

fn reason_of(name: &str) -> Option<CutReason> {
    CutReason::ALL.into_iter().find(|r| r.name() == name)
}

impl MemberState {
    /// The state of `snap`.
    pub fn of(snap: &Snapshot) -> MemberState {
        let mut entities = BTreeMap::new();
        let mut channels = Vec::with_capacity(snap.channels.len());
        for c in &snap.channels {
            let id = c.r#ref.as_ref().map_or(0, |r| r.channel_id);
            channels.push(id);
            entities.insert((kind::TOP_CHANNEL, id), c.encode_to_vec());
        }
        let mut servers = Vec::with_capacity(snap.servers.len());
        for s in &snap.servers {
            let id = s.r#ref.as_ref().map_or(0, |r| r.server_id);
            servers.push(id);
            entities.insert((kind::SERVER, id), s.encode_to_vec());
        }
        for (id, c) in &snap.nested {
            entities.insert((kind::CHANNEL, *id), c.encode_to_vec());
        }
        for (id, s) in &snap.subchannels {
            entities.insert((kind::SUBCHANNEL, *id), s.encode_to_vec());
        }
        for (id, s) in &snap.sockets {
            entities.insert((kind::SOCKET, *id), s.encode_to_vec());
        }
        MemberState {
            at: snap.at.map(nanos_of),
            channels,
            servers,
            entities,
            server_sockets: snap
                .server_sockets
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            incomplete: snap.incomplete.clone(),
            xds: snap.xds.clone(),
        }
    }

    /// The snapshot this state stores.
    pub fn snapshot(&self) -> Result<Snapshot, String> {
        self.decode(true)
    }

    /// The snapshot's top channels and servers only (with the socket
    /// lists and `incomplete`): what an overview needs, for a third of the
    /// decoding.
    pub fn overview(&self) -> Result<Snapshot, String> {
        self.decode(false)
    }

    fn decode(&self, everything: bool) -> Result<Snapshot, String> {
        fn decode<M: Message + Default>(state: &MemberState, key: Key) -> Result<M, String> {
            let bytes = state
                .entities
                .get(&key)
                .ok_or_else(|| format!("entity {key:?} is listed but not stored"))?;
            M::decode(bytes.as_slice()).map_err(|e| format!("entity {key:?} does not decode: {e}"))
        }
        let mut snap = Snapshot {
            at: self.at.map(time_of_nanos),
            incomplete: self.incomplete.clone(),
            xds: self.xds.clone(),
            server_sockets: self
                .server_sockets
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            ..Snapshot::default()
        };
        for id in &self.channels {
            snap.channels
                .push(decode::<Channel>(self, (kind::TOP_CHANNEL, *id))?);
        }
        for id in &self.servers {
            snap.servers
                .push(decode::<Server>(self, (kind::SERVER, *id))?);
        }
        let below = if everything {
            self.entities
                .range((kind::CHANNEL, i64::MIN)..(kind::SERVER, i64::MIN))
        } else {
            self.entities
                .range((kind::CHANNEL, i64::MIN)..(kind::CHANNEL, i64::MIN))
        };
        for (&(k, id), bytes) in below {
            let bad = |e: prost::DecodeError| format!("entity {:?} does not decode: {e}", (k, id));
            match k {
                kind::CHANNEL => {
                    snap.nested
                        .insert(id, Channel::decode(bytes.as_slice()).map_err(bad)?);
                }
                kind::SUBCHANNEL => {
                    snap.subchannels
                        .insert(id, Subchannel::decode(bytes.as_slice()).map_err(bad)?);
                }
                kind::SOCKET => {
                    snap.sockets
                        .insert(id, Socket::decode(bytes.as_slice()).map_err(bad)?);
                }
                _ => {}
            }
        }
        Ok(snap)
    }

    /// What turns `base` (nothing, when `None`) into `self`.
    pub fn delta_from(&self, base: Option<&MemberState>) -> SnapshotDelta {
        let empty = MemberState::default();
        let old = base.unwrap_or(&empty);
        let mut entities = Vec::new();
        for (key, bytes) in &self.entities {
            match old.entities.get(key) {
                Some(before) if before == bytes => {}
                Some(before) => {
                    let edits = splices(before, bytes);
                    let cost: usize = edits.iter().map(|s| s.insert.len() + 6).sum();
                    entities.push(if cost < bytes.len() {
                        EntityChange {
                            kind: key.0,
                            id: key.1,
                            op: op::PATCH,
                            body: Vec::new(),
                            splices: edits,
                        }
                    } else {
                        put(*key, bytes)
                    });
                }
                None => entities.push(put(*key, bytes)),
            }
        }
        for key in old.entities.keys() {
            if !self.entities.contains_key(key) {
                entities.push(EntityChange {
                    kind: key.0,
                    id: key.1,
                    op: op::REMOVE,
                    body: Vec::new(),
                    splices: Vec::new(),
                });
            }
        }
        let changed = |a: &[i64], b: &[i64], fresh: bool| (fresh || a != b).then(|| IdList::of(a));
        let fresh = base.is_none();
        SnapshotDelta {
            fresh,
            at: self.at,
            channels: changed(&self.channels, &old.channels, fresh),
            servers: changed(&self.servers, &old.servers, fresh),
            entities,
            server_sockets: self
                .server_sockets
                .iter()
                .filter(|(k, v)| old.server_sockets.get(k) != Some(v))
                .map(|(k, v)| ServerSockets {
                    server: *k,
                    sockets: Some(IdList::of(v)),
                })
                .collect(),
            server_sockets_removed: old
                .server_sockets
                .keys()
                .filter(|k| !self.server_sockets.contains_key(k))
                .copied()
                .collect(),
            incomplete: (fresh || self.incomplete != old.incomplete).then(|| IncompleteList {
                items: self
                    .incomplete
                    .iter()
                    .map(|i| IncompleteRecord {
                        entity: i.entity.clone(),
                        reason: i.reason.name().to_string(),
                        detail: i.detail.clone(),
                    })
                    .collect(),
            }),
            // Whole when changed: a read is small beside the entities, and
            // its resources change together (a new version per update).
            xds: if fresh {
                self.xds.as_ref().map(|x| record_of(Some(x)))
            } else {
                (self.xds != old.xds).then(|| record_of(self.xds.as_ref()))
            },
        }
    }

    /// `base` (nothing, when `None`) changed by `delta`. Every edit is
    /// checked: a delta that does not fit its base is an error, never a
    /// panic or a wrong state.
    pub fn apply(base: Option<MemberState>, delta: SnapshotDelta) -> Result<MemberState, String> {
        let mut state = match (delta.fresh, base) {
            (true, _) => MemberState::default(),
            (false, Some(base)) => base,
            (false, None) => return Err("a delta for a member with no previous snapshot".into()),
        };
        state.at = delta.at;
        if let Some(list) = &delta.channels {
            state.channels = list.ids();
        }
        if let Some(list) = &delta.servers {
            state.servers = list.ids();
        }
        for change in delta.entities {
            let key = (change.kind, change.id);
            if change.kind > kind::SERVER {
                return Err(format!("unknown entity kind {}", change.kind));
            }
            match change.op {
                op::PUT => {
                    state.entities.insert(key, change.body);
                }
                op::PATCH => {
                    let old = state
                        .entities
                        .get(&key)
                        .ok_or_else(|| format!("a change of entity {key:?}, which is not there"))?;
                    let new = apply_splices(old, &change.splices)
                        .ok_or_else(|| format!("a change of entity {key:?} does not fit it"))?;
                    state.entities.insert(key, new);
                }
                op::REMOVE => {
                    state.entities.remove(&key);
                }
                other => return Err(format!("unknown entity change {other}")),
            }
        }
        if state.entities.len() > MAX_ENTITIES {
            return Err(format!("more than {MAX_ENTITIES} entities"));
        }
        for s in &delta.server_sockets {
            let ids = s.sockets.as_ref().map(IdList::ids).unwrap_or_default();
            state.server_sockets.insert(s.server, ids);
        }
        for k in &delta.server_sockets_removed {
            state.server_sockets.remove(k);
        }
        if let Some(list) = &delta.incomplete {
            state.incomplete = list
                .items
                .iter()
                .map(|i| {
                    reason_of(&i.reason)
                        .map(|r| Incomplete::new(i.entity.clone(), r, i.detail.clone()))
                        .ok_or_else(|| format!("unknown incomplete reason {:?}", i.reason))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(record) = delta.xds {
            state.xds = poll_of(record)?;
        }
        for id in &state.channels {
            if !state.entities.contains_key(&(kind::TOP_CHANNEL, *id)) {
                return Err(format!("top channel {id} is listed but not stored"));
            }
        }
        for id in &state.servers {
            if !state.entities.contains_key(&(kind::SERVER, *id)) {
                return Err(format!("server {id} is listed but not stored"));
            }
        }
        Ok(state)
    }
}

fn put(key: Key, bytes: &[u8]) -> EntityChange {
    EntityChange {
        kind: key.0,
        id: key.1,
        op: op::PUT,
        body: bytes.to_vec(),
        splices: Vec::new(),
    }
}

/// Equal bytes that end a changed run: fewer, and the run goes on (two
/// splices cost more than the bytes between them).
const SYNC: usize = 8;
/// How far a length change may shift the rest of the encoding and still be
/// re-synchronised (a varint grows by at most a few bytes).
const SHIFT: usize = 6;

/// Edits that turn `old` into `new`: runs of changed bytes, re-aligned after
/// a change of length. Always correct (the last splice takes whatever
/// cannot be aligned); small when the two differ in a few places.
pub fn splices(old: &[u8], new: &[u8]) -> Vec<Splice> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0usize, 0usize);
    let mut kept_from = 0usize;
    loop {
        while i < old.len() && j < new.len() && old[i] == new[j] {
            i += 1;
            j += 1;
        }
        if i == old.len() && j == new.len() {
            break;
        }
        // A changed run starts at (i, j): find where the two agree again
        // for SYNC bytes, allowing a shift of up to SHIFT bytes.
        let mut found = None;
        'search: for q in 0.. {
            if i + q > old.len() && j + q > new.len() {
                break;
            }
            for s in 0..=SHIFT {
                for (a, b) in [(i + q, j + q + s), (i + q + s, j + q)] {
                    if a + SYNC <= old.len()
                        && b + SYNC <= new.len()
                        && old[a..a + SYNC] == new[b..b + SYNC]
                    {
                        found = Some((a, b));
                        break 'search;
                    }
                }
            }
        }
        let (a, b) = found.unwrap_or((old.len(), new.len()));
        out.push(Splice {
            skip: u32::try_from(i - kept_from).unwrap_or(u32::MAX),
            delete: u32::try_from(a - i).unwrap_or(u32::MAX),
            insert: new[j..b].to_vec(),
        });
        i = a;
        j = b;
        kept_from = a;
    }
    out
}

/// `old` edited by `edits`, or `None` when they do not fit it or the
/// result would exceed [`MAX_ENTITY_BYTES`].
pub fn apply_splices(old: &[u8], edits: &[Splice]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(old.len());
    let mut at = 0usize;
    for s in edits {
        let keep_end = at.checked_add(usize::try_from(s.skip).ok()?)?;
        let del_end = keep_end.checked_add(usize::try_from(s.delete).ok()?)?;
        if del_end > old.len() {
            return None;
        }
        out.extend_from_slice(&old[at..keep_end]);
        out.extend_from_slice(&s.insert);
        if out.len() > MAX_ENTITY_BYTES {
            return None;
        }
        at = del_end;
    }
    out.extend_from_slice(&old[at..]);
    (out.len() <= MAX_ENTITY_BYTES).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(old: &[u8], new: &[u8]) -> usize {
        let edits = splices(old, new);
        assert_eq!(
            apply_splices(old, &edits).as_deref(),
            Some(new),
            "{old:?} -> {new:?}"
        );
        edits.iter().map(|s| s.insert.len()).sum()
    }

    #[test]
    fn splices_turn_any_bytes_into_any_other() {
        check(b"", b"");
        check(b"", b"abc");
        check(b"abc", b"");
        check(b"abcdefghijklmnopqrstuvwxyz", b"abcdefghijklmnopqrstuvwxyz");
        // Pseudo-random pairs: shifts, growth, shrinkage.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let len = (next() % 200) as usize;
            let old: Vec<u8> = (0..len).map(|_| (next() % 4) as u8).collect();
            let mut new = old.clone();
            for _ in 0..(next() % 6) {
                let at = if new.is_empty() {
                    0
                } else {
                    (next() as usize) % new.len()
                };
                match next() % 3 {
                    0 => new.insert(at, next() as u8),
                    1 if !new.is_empty() => {
                        new.remove(at);
                    }
                    _ if !new.is_empty() => new[at] = next() as u8,
                    _ => {}
                }
            }
            check(&old, &new);
        }
    }

    #[test]
    fn a_changed_counter_costs_its_bytes_even_when_its_length_changes() {
        let mut old = vec![7u8; 300];
        old[100] = 0x7f;
        let mut new = old.clone();
        // A varint that grows by a byte in the middle of a long encoding.
        new.splice(100..101, [0x80, 0x01]);
        new[250] = 1;
        assert!(check(&old, &new) <= 4, "{:?}", splices(&old, &new));
    }

    #[test]
    fn splices_that_do_not_fit_are_refused() {
        let bad = [Splice {
            skip: 2,
            delete: 5,
            insert: vec![],
        }];
        assert_eq!(apply_splices(b"abc", &bad), None);
        let huge = [Splice {
            skip: u32::MAX,
            delete: u32::MAX,
            insert: vec![],
        }];
        assert_eq!(apply_splices(b"abc", &huge), None);
    }

    #[test]
    fn a_patch_without_its_entity_is_an_error() {
        let delta = SnapshotDelta {
            fresh: false,
            entities: vec![EntityChange {
                kind: kind::SOCKET,
                id: 4,
                op: op::PATCH,
                body: vec![],
                splices: vec![],
            }],
            ..SnapshotDelta::default()
        };
        assert!(MemberState::apply(Some(MemberState::default()), delta.clone()).is_err());
        assert!(MemberState::apply(None, delta).is_err());
    }
}
