//! What a snapshot left out, and why: the typed account every caller gets
//! beside the partial data. A dashboard shows it in its footer and JSON,
//! an exporter turns it into a series; both read the same reasons.

/// One Channelz entity. Ids are shared across kinds in every implementation
/// we know, but keeping the kind in the key costs nothing and makes the
/// maps self-describing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityId {
    /// A top or nested channel.
    Channel(i64),
    /// A subchannel.
    Subchannel(i64),
    /// A socket (connection or listener).
    Socket(i64),
    /// A server.
    Server(i64),
}

impl EntityId {
    /// `channel 5`, `subchannel 7`, `socket 9`, `server 3`.
    pub fn label(self) -> String {
        match self {
            EntityId::Channel(n) => format!("channel {n}"),
            EntityId::Subchannel(n) => format!("subchannel {n}"),
            EntityId::Socket(n) => format!("socket {n}"),
            EntityId::Server(n) => format!("server {n}"),
        }
    }

    /// The RPC that fetches this entity.
    pub fn method(self) -> &'static str {
        match self {
            EntityId::Channel(_) => "GetChannel",
            EntityId::Subchannel(_) => "GetSubchannel",
            EntityId::Socket(_) => "GetSocket",
            EntityId::Server(_) => "GetServer",
        }
    }
}

/// Why part of what the server has is not shown. Only what the server
/// withheld or a bound cut: a level a caller chose to fetch later (a
/// dashboard's detail screen fetches one level at a time) is not a cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CutReason {
    /// The entity refers back to one of its ancestors; it is shown once.
    Cycle,
    /// Deeper than the walk's depth bound allows.
    Depth,
    /// The page or entity bound ([`Limits`](crate::Limits)) was reached.
    Limit,
    /// The server listed it, then answered NOT_FOUND for it.
    NotFound,
    /// The server answers UNIMPLEMENTED for the method that fetches it.
    Unimplemented,
    /// Any other failure: an RPC error, or pages that do not advance.
    Error,
}

impl CutReason {
    /// Every reason, in order.
    pub const ALL: [CutReason; 6] = [
        CutReason::Cycle,
        CutReason::Depth,
        CutReason::Limit,
        CutReason::NotFound,
        CutReason::Unimplemented,
        CutReason::Error,
    ];

    /// The name in JSON (`"reason"`), on screen and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            CutReason::Cycle => "cycle",
            CutReason::Depth => "depth",
            CutReason::Limit => "limit",
            CutReason::NotFound => "not_found",
            CutReason::Unimplemented => "unimplemented",
            CutReason::Error => "error",
        }
    }
}

/// One place where a snapshot is not the whole truth.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Incomplete {
    /// What was cut: one entity (`channel 5`, `subchannel 7`, `socket 9`,
    /// `server 3`), or an RPC (`GetServers`, `GetSubchannel`) when a whole
    /// list or method is affected.
    pub entity: String,
    /// Why.
    pub reason: CutReason,
    /// The particulars, in one line: the error, how many were left out.
    pub detail: String,
}

impl Incomplete {
    /// An entry for `entity`.
    pub fn new(entity: impl Into<String>, reason: CutReason, detail: impl Into<String>) -> Self {
        Incomplete {
            entity: entity.into(),
            reason,
            detail: detail.into(),
        }
    }

    /// The Channelz method this entry is about, from a fixed set (so it can
    /// be a metric label): the RPC it names, or the one that fetches the
    /// entity it names; `other` for anything else.
    pub fn method(&self) -> &'static str {
        const METHODS: [&str; 7] = [
            "GetTopChannels",
            "GetServers",
            "GetServerSockets",
            "GetServer",
            "GetChannel",
            "GetSubchannel",
            "GetSocket",
        ];
        let head = self.entity.split(['(', ' ']).next().unwrap_or_default();
        if let Some(m) = METHODS.iter().find(|m| **m == head) {
            return m;
        }
        match head {
            "channel" => "GetChannel",
            "subchannel" => "GetSubchannel",
            "socket" => "GetSocket",
            // A server's own entries are about listing its sockets.
            "server" => "GetServerSockets",
            _ => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_of_an_entry_is_from_a_fixed_set() {
        let of = |entity: &str| Incomplete::new(entity, CutReason::Error, "").method();
        assert_eq!(of("GetServers"), "GetServers");
        assert_eq!(of("GetServerSockets(server=3)"), "GetServerSockets");
        assert_eq!(of("subchannel 7"), "GetSubchannel");
        assert_eq!(of("server 3"), "GetServerSockets");
        assert_eq!(of("\u{1b}[31m evil\n"), "other");
    }
}
