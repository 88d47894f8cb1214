//! [`Client`]: the Channelz RPCs on one connection, each with a deadline
//! (the per-RPC timeout, shortened to what is left of an overall deadline
//! when the caller has one, as a scrape does), and the list RPCs paged
//! through [`paging::list`](crate::paging::list). What a whole call cannot
//! survive is an [`Error`]; what it can is an [`Incomplete`] entry.

use std::time::Duration;

use grpc_toolkit_conn::GrpcChannel as Transport;
use grpc_toolkit_conn::{Connection, RpcError, call};
use grpc_toolkit_proto::channelz::v1::{
    Channel, GetChannelRequest, GetServerRequest, GetServerSocketsRequest, GetServersRequest,
    GetSocketRequest, GetSubchannelRequest, GetTopChannelsRequest, Server, Socket, SocketRef,
    Subchannel, channelz_client::ChannelzClient,
};

use crate::budget::{Budget, Limits};
use crate::cut::{CutReason, EntityId, Incomplete};
use crate::paging::list;

/// The page size asked for by default. Servers may ignore it (grpc-java
/// and C-core send larger pages); paging is correct either way.
pub const DEFAULT_PAGE_SIZE: i64 = 500;

/// Why a whole call failed. Failures of single entities or methods do not
/// end up here: they become [`Incomplete`] entries beside what the server
/// did answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server does not implement `grpc.channelz.v1.Channelz`
    /// (`GetTopChannels` answered UNIMPLEMENTED).
    #[error("this server has no Channelz service (UNIMPLEMENTED)")]
    NoChannelz,
    /// An RPC failed.
    #[error("{what}: {source}")]
    Rpc {
        /// Which RPC, with its arguments.
        what: String,
        /// The failure.
        source: RpcError,
    },
}

impl Error {
    /// True when the connection itself is gone, so the caller must redial.
    pub fn is_connection_loss(&self) -> bool {
        match self {
            Error::Rpc { source, .. } => is_connection_loss(source),
            Error::NoChannelz => false,
        }
    }

    /// The failed RPC's error, if an RPC failed.
    pub fn rpc_error(&self) -> Option<&RpcError> {
        match self {
            Error::Rpc { source, .. } => Some(source),
            Error::NoChannelz => None,
        }
    }
}

/// True for the codes a broken connection shows up as.
pub fn is_connection_loss(e: &RpcError) -> bool {
    matches!(
        e.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    )
}

pub(crate) fn rpc_error(what: impl Into<String>, source: RpcError) -> Error {
    Error::Rpc {
        what: what.into(),
        source,
    }
}

/// One page of a server's sockets, as `GetServerSockets` returned it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSocketsPage {
    /// The `start_socket_id` this page was asked with.
    pub start: i64,
    /// The refs on the page, in id order, each once.
    pub refs: Vec<SocketRef>,
    /// Whether the server said this is the last page.
    pub end: bool,
}

/// The Channelz client of one connection.
#[derive(Debug, Clone)]
pub struct Client {
    conn: Connection,
    channelz: ChannelzClient<Transport>,
    timeout: Duration,
    deadline: Option<tokio::time::Instant>,
    /// `max_results` for list RPCs.
    pub page_size: i64,
    /// The bounds of each snapshot.
    pub limits: Limits,
}

impl Client {
    /// A client on `conn`; every RPC gets `rpc_timeout` as its deadline.
    pub fn new(conn: Connection, rpc_timeout: Duration) -> Self {
        Client {
            channelz: conn.channelz_client(),
            conn,
            timeout: rpc_timeout,
            deadline: None,
            page_size: DEFAULT_PAGE_SIZE,
            limits: Limits::default(),
        }
    }

    /// The same client, bounding each snapshot by `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same client, with no RPC running past `deadline`: each one's
    /// timeout is what is left of it (zero once it passed, so a late call
    /// fails at once with DEADLINE_EXCEEDED rather than starting).
    pub fn with_deadline(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The connection the RPCs run on.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The timeout of the next RPC.
    pub fn rpc_timeout(&self) -> Duration {
        match self.deadline {
            Some(d) => self
                .timeout
                .min(d.saturating_duration_since(tokio::time::Instant::now())),
            None => self.timeout,
        }
    }

    /// `message` as a request with the connection's metadata and the next
    /// RPC's timeout, and that timeout.
    pub fn request<T>(&self, message: T) -> (tonic::Request<T>, Duration) {
        let timeout = self.rpc_timeout();
        (self.conn.request(message, Some(timeout)), timeout)
    }

    /// Every top channel, all pages, in id order. UNIMPLEMENTED here means
    /// the server has no Channelz service at all.
    pub async fn top_channels(
        &self,
        budget: &Budget,
        cut: &mut Vec<Incomplete>,
    ) -> Result<Vec<Channel>, Error> {
        let fetch = |start| {
            let mut client = self.channelz.clone();
            let (req, timeout) = self.request(GetTopChannelsRequest {
                start_channel_id: start,
                max_results: self.page_size,
            });
            async move {
                let r = call(Some(timeout), client.get_top_channels(req)).await?;
                let r = r.into_inner();
                Ok((r.channel, r.end))
            }
        };
        list("GetTopChannels", budget, cut, fetch, |c: &Channel| {
            c.r#ref.as_ref().map_or(0, |r| r.channel_id)
        })
        .await
        .map_err(|e| match e.code() {
            tonic::Code::Unimplemented => Error::NoChannelz,
            _ => rpc_error("GetTopChannels", e),
        })
    }

    /// Every server, all pages, in id order; none (and a note) when the
    /// server does not implement `GetServers`.
    pub async fn servers(
        &self,
        budget: &Budget,
        cut: &mut Vec<Incomplete>,
    ) -> Result<Vec<Server>, Error> {
        let fetch = |start| {
            let mut client = self.channelz.clone();
            let (req, timeout) = self.request(GetServersRequest {
                start_server_id: start,
                max_results: self.page_size,
            });
            async move {
                let r = call(Some(timeout), client.get_servers(req)).await?;
                let r = r.into_inner();
                Ok((r.server, r.end))
            }
        };
        let servers = list("GetServers", budget, cut, fetch, |s: &Server| {
            s.r#ref.as_ref().map_or(0, |r| r.server_id)
        })
        .await;
        match servers {
            Ok(servers) => Ok(servers),
            Err(e) if e.code() == tonic::Code::Unimplemented => {
                cut.push(Incomplete::new(
                    "GetServers",
                    CutReason::Unimplemented,
                    "the server does not list its servers",
                ));
                Ok(Vec::new())
            }
            Err(e) => Err(rpc_error("GetServers", e)),
        }
    }

    /// One page of a server's sockets. grpc-go answers an unknown server id
    /// with an empty last page rather than NOT_FOUND; both end up empty.
    pub async fn server_sockets_page(
        &self,
        server: i64,
        start: i64,
        max: i64,
    ) -> Result<ServerSocketsPage, RpcError> {
        let mut client = self.channelz.clone();
        let (req, timeout) = self.request(GetServerSocketsRequest {
            server_id: server,
            start_socket_id: start,
            max_results: max,
        });
        match call(Some(timeout), client.get_server_sockets(req)).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let mut refs = resp.socket_ref;
                refs.sort_by_key(|r| r.socket_id);
                refs.dedup_by_key(|r| r.socket_id);
                Ok(ServerSocketsPage {
                    start,
                    refs,
                    end: resp.end,
                })
            }
            Err(e) if e.code() == tonic::Code::NotFound => Ok(ServerSocketsPage {
                start,
                refs: Vec::new(),
                end: true,
            }),
            Err(e) => Err(e),
        }
    }

    /// Every socket id of a server, all pages, within the budget; none
    /// (and a note) when the server does not implement `GetServerSockets`.
    pub async fn all_server_sockets(
        &self,
        server: i64,
        budget: &Budget,
        cut: &mut Vec<Incomplete>,
    ) -> Result<Vec<i64>, Error> {
        let rpc = format!("GetServerSockets(server={server})");
        let fetch = |start| async move {
            let page = self
                .server_sockets_page(server, start, self.page_size)
                .await?;
            let ids: Vec<i64> = page.refs.iter().map(|r| r.socket_id).collect();
            Ok((ids, page.end))
        };
        match list(&rpc, budget, cut, fetch, |id| *id).await {
            Ok(ids) => Ok(ids),
            Err(e) if e.code() == tonic::Code::Unimplemented => {
                cut.push(Incomplete::new(
                    EntityId::Server(server).label(),
                    CutReason::Unimplemented,
                    "GetServerSockets: its sockets are not listed",
                ));
                Ok(Vec::new())
            }
            Err(e) => Err(rpc_error(rpc, e)),
        }
    }

    /// `GetServer`; `None` when the server is gone.
    pub async fn server(&self, id: i64) -> Result<Option<Server>, RpcError> {
        let mut client = self.channelz.clone();
        let (req, timeout) = self.request(GetServerRequest { server_id: id });
        call(Some(timeout), client.get_server(req))
            .await
            .map(|r| r.into_inner().server)
    }

    /// `GetChannel`.
    pub async fn channel(&self, id: i64) -> Result<Option<Channel>, RpcError> {
        let mut client = self.channelz.clone();
        let (req, timeout) = self.request(GetChannelRequest { channel_id: id });
        call(Some(timeout), client.get_channel(req))
            .await
            .map(|r| r.into_inner().channel)
    }

    /// `GetSubchannel`.
    pub async fn subchannel(&self, id: i64) -> Result<Option<Subchannel>, RpcError> {
        let mut client = self.channelz.clone();
        let (req, timeout) = self.request(GetSubchannelRequest { subchannel_id: id });
        call(Some(timeout), client.get_subchannel(req))
            .await
            .map(|r| r.into_inner().subchannel)
    }

    /// `GetSocket` (full, not summary).
    pub async fn socket(&self, id: i64) -> Result<Option<Socket>, RpcError> {
        let mut client = self.channelz.clone();
        let (req, timeout) = self.request(GetSocketRequest {
            socket_id: id,
            summary: false,
        });
        call(Some(timeout), client.get_socket(req))
            .await
            .map(|r| r.into_inner().socket)
    }
}
