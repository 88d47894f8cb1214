//! A Channelz server that lies as it is told: cycles and shared refs,
//! children that answer NOT_FOUND, pages that never end, overflow or hang,
//! single methods answering UNIMPLEMENTED, errors full of terminal
//! controls. `channelz-tui`'s hostile-server tests (in-process, and the
//! real binary's signal tests) start it.
//!
//! Also here: [`check_entity`], the strict check that a `channelz-tui
//! --json` entity is proto3 JSON of its Channelz message.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpc_toolkit_proto::channelz::v1::channelz_server::{Channelz, ChannelzServer};
use grpc_toolkit_proto::channelz::v1::*;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage};
use serde_json::Value;
use tonic::{Request, Response, Status};

use crate::servers::TestServer;

/// How `GetTopChannels` pages misbehave.
#[derive(Clone, Copy, Default)]
pub enum Paging {
    /// One honest page.
    #[default]
    Honest,
    /// Every page holds a channel with id 2^63-1, and `end` is never true.
    Overflow,
    /// Pages of 100 that advance forever.
    Endless,
    /// The first call answers; every later one never does.
    HangAfterFirst,
    /// The same page (the honest one) for every start, never `end`.
    Repeat,
    /// One page of channels with negative ids (and i64::MIN), never `end`.
    Negative,
    /// The honest page, each answer after this long.
    Slow(std::time::Duration),
}

/// A Channelz server that answers what it is told to.
#[derive(Clone, Default)]
pub struct Hostile {
    /// Every channel by id, top or nested.
    pub channels: HashMap<i64, Channel>,
    /// The ids of the top channels, in the order `GetTopChannels` lists them.
    pub top: Vec<i64>,
    /// Subchannels by id.
    pub subchannels: HashMap<i64, Subchannel>,
    /// Sockets by id.
    pub sockets: HashMap<i64, Socket>,
    /// Servers, as `GetServers` lists them.
    pub servers: Vec<Server>,
    /// Methods that answer UNIMPLEMENTED.
    pub unimplemented: Vec<&'static str>,
    /// Methods (other than `GetTopChannels`) that never answer.
    pub hang: Vec<&'static str>,
    /// How `GetTopChannels` pages.
    pub paging: Paging,
    /// `GetTopChannels` fails with INTERNAL and this message.
    pub top_error: Option<String>,
    /// How many `GetTopChannels` calls arrived.
    pub top_calls: Arc<AtomicUsize>,
    /// Every counter of the listed top channels is divided by the number
    /// of `GetTopChannels` calls so far: counters that go down between
    /// scrapes, as after a restart that reuses ids.
    pub shrinking: bool,
}

fn channel_ref(id: i64) -> ChannelRef {
    ChannelRef {
        channel_id: id,
        name: String::new(),
    }
}

/// One honest top channel (id 1, the given target) and nothing below it.
pub fn one_channel(target: &str) -> ChannelzServer<Hostile> {
    let mut top = channel(1, &[], &[]);
    if let Some(data) = top.data.as_mut() {
        data.target = target.to_owned();
    }
    ChannelzServer::new(Hostile {
        channels: [(1, top)].into_iter().collect(),
        top: vec![1],
        ..Default::default()
    })
}

/// A server with Channelz ([`one_channel`]) and nothing else: no CSDS
/// (`FetchClientStatus` is UNIMPLEMENTED), as on a server without xDS.
pub async fn start_without_csds() -> TestServer {
    let channelz = one_channel("dns:///backend:50051");
    TestServer::builder()
        .routes(move |r| {
            r.add_service(channelz);
        })
        .start()
        .await
}

/// A channel with calls and the given children.
pub fn channel(id: i64, channels: &[i64], subchannels: &[i64]) -> Channel {
    Channel {
        r#ref: Some(channel_ref(id)),
        data: Some(ChannelData {
            target: format!("dns:///c{id}.test:443"),
            calls_started: id.saturating_add(10),
            ..Default::default()
        }),
        channel_ref: channels.iter().map(|i| channel_ref(*i)).collect(),
        subchannel_ref: subchannels
            .iter()
            .map(|i| SubchannelRef {
                subchannel_id: *i,
                name: String::new(),
            })
            .collect(),
        socket_ref: vec![],
    }
}

impl Hostile {
    /// UNIMPLEMENTED for a method in `unimplemented`; never an answer for
    /// one in `hang`.
    async fn check_in(&self, method: &str) -> Result<(), Status> {
        if self.hang.contains(&method) {
            std::future::pending::<()>().await;
        }
        if self.unimplemented.contains(&method) {
            return Err(Status::unimplemented(format!("{method} is not here")));
        }
        Ok(())
    }

    /// The top channels, in `top` order.
    fn honest_page(&self) -> Vec<Channel> {
        self.top
            .iter()
            .filter_map(|id| self.channels.get(id).cloned())
            .collect()
    }

    /// Serves it on a loopback port of its own.
    pub async fn start(self) -> TestServer {
        let service = ChannelzServer::new(self);
        TestServer::builder()
            .routes(move |r| {
                r.add_service(service);
            })
            .start()
            .await
    }
}

#[tonic::async_trait]
impl Channelz for Hostile {
    async fn get_top_channels(
        &self,
        r: Request<GetTopChannelsRequest>,
    ) -> Result<Response<GetTopChannelsResponse>, Status> {
        let calls = self.top_calls.fetch_add(1, Ordering::SeqCst);
        if let Some(message) = &self.top_error {
            return Err(Status::internal(message.clone()));
        }
        let start = r.into_inner().start_channel_id;
        let (channel, end) = match self.paging {
            Paging::Honest => (self.honest_page(), true),
            Paging::Overflow => (vec![channel(i64::MAX, &[], &[])], false),
            Paging::Endless => (
                (start..start + 100).map(|i| channel(i, &[], &[])).collect(),
                false,
            ),
            Paging::HangAfterFirst => {
                if calls > 0 {
                    std::future::pending::<()>().await;
                }
                (vec![channel(1, &[], &[])], true)
            }
            Paging::Repeat => (self.honest_page(), false),
            Paging::Negative => (
                vec![channel(-5, &[], &[]), channel(i64::MIN, &[], &[])],
                false,
            ),
            Paging::Slow(wait) => {
                tokio::time::sleep(wait).await;
                (self.honest_page(), true)
            }
        };
        let mut channel = channel;
        if self.shrinking {
            let by = i64::try_from(calls).unwrap_or(i64::MAX).saturating_add(1);
            for c in &mut channel {
                if let Some(d) = c.data.as_mut() {
                    d.calls_started /= by;
                    d.calls_succeeded /= by;
                    d.calls_failed /= by;
                }
            }
        }
        Ok(Response::new(GetTopChannelsResponse { channel, end }))
    }

    async fn get_servers(
        &self,
        _: Request<GetServersRequest>,
    ) -> Result<Response<GetServersResponse>, Status> {
        self.check_in("GetServers").await?;
        Ok(Response::new(GetServersResponse {
            server: self.servers.clone(),
            end: true,
        }))
    }

    async fn get_server(
        &self,
        r: Request<GetServerRequest>,
    ) -> Result<Response<GetServerResponse>, Status> {
        self.check_in("GetServer").await?;
        let id = r.into_inner().server_id;
        let server = self
            .servers
            .iter()
            .find(|s| s.r#ref.as_ref().map(|r| r.server_id) == Some(id));
        match server {
            Some(s) => Ok(Response::new(GetServerResponse {
                server: Some(s.clone()),
            })),
            None => Err(Status::not_found("no such server")),
        }
    }

    async fn get_server_sockets(
        &self,
        _: Request<GetServerSocketsRequest>,
    ) -> Result<Response<GetServerSocketsResponse>, Status> {
        self.check_in("GetServerSockets").await?;
        Ok(Response::new(GetServerSocketsResponse {
            socket_ref: vec![],
            end: true,
        }))
    }

    async fn get_channel(
        &self,
        r: Request<GetChannelRequest>,
    ) -> Result<Response<GetChannelResponse>, Status> {
        self.check_in("GetChannel").await?;
        match self.channels.get(&r.into_inner().channel_id) {
            Some(c) => Ok(Response::new(GetChannelResponse {
                channel: Some(c.clone()),
            })),
            None => Err(Status::not_found("no such channel")),
        }
    }

    async fn get_subchannel(
        &self,
        r: Request<GetSubchannelRequest>,
    ) -> Result<Response<GetSubchannelResponse>, Status> {
        self.check_in("GetSubchannel").await?;
        match self.subchannels.get(&r.into_inner().subchannel_id) {
            Some(s) => Ok(Response::new(GetSubchannelResponse {
                subchannel: Some(s.clone()),
            })),
            None => Err(Status::not_found("no such subchannel")),
        }
    }

    async fn get_socket(
        &self,
        r: Request<GetSocketRequest>,
    ) -> Result<Response<GetSocketResponse>, Status> {
        self.check_in("GetSocket").await?;
        match self.sockets.get(&r.into_inner().socket_id) {
            Some(s) => Ok(Response::new(GetSocketResponse {
                socket: Some(s.clone()),
            })),
            None => Err(Status::not_found("no such socket")),
        }
    }
}

/// The keys `channelz-tui --json` adds to an entity's proto3 JSON.
pub const ADDED_KEYS: [&str; 6] = [
    "childChannels",
    "subchannels",
    "sockets",
    "listenSockets",
    "rates",
    "unmapped",
];

/// Parses `value` less [`ADDED_KEYS`] strictly (an unknown field is an
/// error) as the Channelz message `name` (`grpc.channelz.v1.Channel`, …),
/// a `{"ref": …}` stand-in included; then the entities of its added child
/// arrays, recursively. `visit` sees every entity, for a test's own
/// assertions. Returns how many entities were checked; panics, failing the
/// test, on the first that is not proto3 JSON.
pub fn check_entity(value: &Value, name: &str, visit: &mut dyn FnMut(&Value)) -> usize {
    let pool = DescriptorPool::decode(grpc_toolkit_proto::FILE_DESCRIPTOR_SET)
        .unwrap_or_else(|e| panic!("descriptor set: {e}"));
    check_in(&pool, value, name, visit)
}

fn check_in(
    pool: &DescriptorPool,
    value: &Value,
    name: &str,
    visit: &mut dyn FnMut(&Value),
) -> usize {
    let mut plain = value.clone();
    let Some(obj) = plain.as_object_mut() else {
        panic!("{name}: an entity is an object, not {value}");
    };
    for key in ADDED_KEYS {
        obj.remove(key);
    }
    let desc = pool
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("no message {name}"));
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let text = plain.to_string();
    let mut de = serde_json::Deserializer::from_str(&text);
    DynamicMessage::deserialize_with_options(desc, &mut de, &options)
        .unwrap_or_else(|e| panic!("{name} is not proto3 JSON: {e}\n{plain}"));
    visit(value);
    let mut n = 1;
    for (key, child) in [
        ("childChannels", "grpc.channelz.v1.Channel"),
        ("subchannels", "grpc.channelz.v1.Subchannel"),
        ("sockets", "grpc.channelz.v1.Socket"),
        ("listenSockets", "grpc.channelz.v1.Socket"),
    ] {
        for item in value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            n += check_in(pool, item, child, visit);
        }
    }
    n
}
