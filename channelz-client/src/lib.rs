//! A Channelz client for dashboards and exporters that must survive the
//! server they read: listing (`GetTopChannels`, `GetServers`,
//! `GetServerSockets`), paging and fetching (`GetChannel`, `GetSubchannel`,
//! `GetSocket`, `GetServer`) within [`Limits`], with a typed account of
//! what was cut and why ([`Incomplete`]) beside the partial data.
//!
//! The rules every caller inherits: pages and entities per snapshot are
//! bounded; a page that ends at id 2^63-1 without `end`, or that does not
//! move forward, stops paging; ids are fetched once however many parents
//! list them (cycles end); a method answering UNIMPLEMENTED is asked once,
//! NOT_FOUND for a listed child is a note, not a failure; every RPC has a
//! deadline. It knows nothing of terminals or HTTP: `channelz-tui` and
//! `grpc-exporter` turn what it returns into screens and series.

mod budget;
mod client;
pub mod csds;
mod cut;
pub mod paging;
mod walk;

pub use budget::{Budget, DEFAULT_MAX_ENTITIES, DEFAULT_MAX_PAGES, Limits};
pub use client::{Client, DEFAULT_PAGE_SIZE, Error, ServerSocketsPage, is_connection_loss};
pub use cut::{CutReason, EntityId, Incomplete};
pub use walk::{Beyond, DETAIL_CONCURRENCY, ServerSocketIds, Sink, Walk, children, count_kinds};
