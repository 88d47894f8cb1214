//! channelz-tui library.
