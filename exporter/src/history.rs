//! The recent probes (`--history.limit` of them) for `/` and `/logs?id=`,
//! as blackbox_exporter keeps them: failed probes are kept in preference,
//! so a burst of successes does not push the one failure out.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::config::Module;
use crate::log::ProbeLog;

/// One recorded probe.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Sequence number, the `id` of `/logs?id=`.
    pub id: u64,
    /// Module name.
    pub module: String,
    /// Target as given.
    pub target: String,
    /// `probe_success`.
    pub success: bool,
    /// What the debug output is made of (rendered on demand).
    pub debug: ProbeDebug,
    /// When it finished.
    pub at: SystemTime,
}

/// A probe's debug output, kept as its parts: the page is rendered only
/// when `/logs?id=` or `debug=true` asks for it, not for every probe.
#[derive(Debug, Clone)]
pub struct ProbeDebug {
    /// The probe's log, formatted only when the page is rendered.
    pub log: ProbeLog,
    /// The series it returned, in the classic text format.
    pub metrics: String,
    /// Its module (rendered with secrets masked).
    pub module: Module,
}

impl ProbeDebug {
    /// The debug page, as blackbox_exporter words it.
    pub fn render(&self) -> String {
        format!(
            "Logs for the probe:\n{}\n\n\nMetrics that would have been returned:\n{}\n\n\nModule configuration:\n{}",
            self.log.text(),
            self.metrics,
            self.module.masked_yaml()
        )
    }
}

/// Bounded history.
#[derive(Debug)]
pub struct History {
    limit: usize,
    inner: Mutex<(u64, VecDeque<Entry>)>,
}

impl History {
    /// A history keeping `limit` entries.
    pub fn new(limit: usize) -> History {
        History {
            limit,
            inner: Mutex::new((0, VecDeque::new())),
        }
    }

    /// Records a probe; returns its id.
    pub fn add(&self, module: &str, target: &str, success: bool, debug: ProbeDebug) -> u64 {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (next, entries) = &mut *guard;
        let id = *next;
        *next += 1;
        if self.limit == 0 {
            return id;
        }
        if entries.len() >= self.limit {
            // Drop the oldest success if there is one, else the oldest.
            let victim = entries.iter().position(|e| e.success).unwrap_or(0);
            entries.remove(victim);
        }
        entries.push_back(Entry {
            id,
            module: module.to_owned(),
            target: target.to_owned(),
            success,
            debug,
            at: SystemTime::now(),
        });
        id
    }

    /// The entries, newest first.
    pub fn list(&self) -> Vec<Entry> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.iter().rev().cloned().collect()
    }

    /// One entry's debug output.
    pub fn get(&self, id: u64) -> Option<String> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.debug.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debug(msg: &str) -> ProbeDebug {
        let mut log = ProbeLog::new("m", "t");
        log.line(crate::log::Level::Info, msg, &[]);
        ProbeDebug {
            log,
            metrics: "probe_success 0\n".to_owned(),
            module: Module {
                prober: "grpc".to_owned(),
                timeout: std::time::Duration::ZERO,
                grpc: None,
            },
        }
    }

    #[test]
    fn failures_outlive_successes() {
        let h = History::new(2);
        let failed = h.add("m", "t", false, debug("bad"));
        h.add("m", "t", true, debug("ok"));
        h.add("m", "t", true, debug("ok2"));
        let page = h.get(failed).expect("kept");
        assert!(page.starts_with("Logs for the probe:\ntime="), "{page}");
        assert!(
            page.contains(" level=info msg=bad module=m target=t\n"),
            "{page}"
        );
        assert!(
            page.contains("Metrics that would have been returned:\nprobe_success 0\n"),
            "{page}"
        );
        assert!(
            page.contains("Module configuration:\nprober: grpc\n"),
            "{page}"
        );
        assert_eq!(h.list().len(), 2);
    }
}
