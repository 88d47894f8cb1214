//! The built-in demo: an in-process tonic server with health, Channelz and traffic.
