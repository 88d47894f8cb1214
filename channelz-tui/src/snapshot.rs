//! The one data model of a complete Channelz walk: [`Snapshot`] holds every
//! entity one poll found, [`Counters`] the cumulative call counters that the
//! next poll's rates are derived from.
//!
//! It is plain data, apart from whoever fills or reads it: `json` takes and
//! writes it, `record` stores and rebuilds it, `fleet` keeps one per
//! member. Its own module, so that none of those imports the others to reach
//! it.

use std::collections::HashMap;
use std::time::SystemTime;

use grpc_toolkit_proto::channelz::v1::{Channel, Server, Socket, Subchannel};

use crate::model::{EntityId, Incomplete};
use crate::xds::XdsPoll;

/// Everything one snapshot found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When the snapshot completed.
    pub at: Option<SystemTime>,
    /// Top channels in id order.
    pub channels: Vec<Channel>,
    /// Servers in id order.
    pub servers: Vec<Server>,
    /// Nested channels by id.
    pub nested: HashMap<i64, Channel>,
    /// Subchannels by id.
    pub subchannels: HashMap<i64, Subchannel>,
    /// Sockets by id.
    pub sockets: HashMap<i64, Socket>,
    /// Every socket id of each server (all `GetServerSockets` pages).
    pub server_sockets: HashMap<i64, Vec<i64>>,
    /// What the fetches could not get (the document adds what writing it
    /// cut: cycles and depth).
    pub incomplete: Vec<Incomplete>,
    /// What CSDS said in the same poll; `None` when it was not asked.
    pub xds: Option<XdsPoll>,
}

/// Cumulative counters of each entity in a snapshot, to derive rates from
/// the next one.
pub type Counters = HashMap<EntityId, CallCounts>;

/// One entity's cumulative call (or, for sockets, stream) counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallCounts {
    /// When the snapshot that read them completed.
    pub at: SystemTime,
    /// Calls (streams) started.
    pub started: i64,
    /// Calls (streams) failed.
    pub failed: i64,
}

impl Snapshot {
    /// The counters of every entity, for the next snapshot's rates.
    pub fn counters(&self) -> Counters {
        let at = self.at.unwrap_or(SystemTime::UNIX_EPOCH);
        let mut out = Counters::new();
        for c in self.channels.iter().chain(self.nested.values()) {
            if let (Some(r), Some(d)) = (&c.r#ref, &c.data) {
                out.insert(
                    EntityId::Channel(r.channel_id),
                    CallCounts {
                        at,
                        started: d.calls_started,
                        failed: d.calls_failed,
                    },
                );
            }
        }
        for s in self.subchannels.values() {
            if let (Some(r), Some(d)) = (&s.r#ref, &s.data) {
                out.insert(
                    EntityId::Subchannel(r.subchannel_id),
                    CallCounts {
                        at,
                        started: d.calls_started,
                        failed: d.calls_failed,
                    },
                );
            }
        }
        for s in &self.servers {
            if let (Some(r), Some(d)) = (&s.r#ref, &s.data) {
                out.insert(
                    EntityId::Server(r.server_id),
                    CallCounts {
                        at,
                        started: d.calls_started,
                        failed: d.calls_failed,
                    },
                );
            }
        }
        for s in self.sockets.values() {
            if let (Some(r), Some(d)) = (&s.r#ref, &s.data) {
                out.insert(
                    EntityId::Socket(r.socket_id),
                    CallCounts {
                        at,
                        started: d.streams_started,
                        failed: d.streams_failed,
                    },
                );
            }
        }
        out
    }
}
