//! SIGINT and SIGTERM (Ctrl-C and Ctrl-Break on Windows) as one future, for every mode that runs until told
//! to stop (the dashboards, `--json --watch`, the demo server).
//!
//! The handlers are installed when [`termination`] is called, not when its
//! future is first polled: tokio registers a signal lazily, so a future
//! created early but first polled late (a `select!` whose other branch was
//! ready) would miss a SIGTERM sent in between, and the process would die
//! of it instead of ending cleanly.

use std::future::Future;

/// Resolves on the first SIGINT or SIGTERM after this call.
pub fn termination() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::interrupt())
            .ok()
            .zip(signal(SignalKind::terminate()).ok())
    };
    // Windows has no SIGTERM; Ctrl-C (and Ctrl-Break, which consoles send
    // where Ctrl-C is disabled) are its "stop" keys, registered here for the
    // same reason as above.
    #[cfg(windows)]
    let signals = {
        use tokio::signal::windows::{ctrl_break, ctrl_c};
        ctrl_c().ok().zip(ctrl_break().ok())
    };
    async move {
        #[cfg(unix)]
        if let Some((mut interrupt, mut terminate)) = signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        #[cfg(windows)]
        if let Some((mut interrupt, mut brk)) = signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = brk.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
