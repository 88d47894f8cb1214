//! The recent probes (`--history.limit` of them) for `/` and `/logs?id=`,
//! as blackbox_exporter keeps them: failed probes are kept in preference,
//! so a burst of successes does not push the one failure out.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

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
    /// The debug output (log, metrics, module), secrets masked.
    pub debug: String,
    /// When it finished.
    pub at: SystemTime,
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
    pub fn add(&self, module: &str, target: &str, success: bool, debug: String) -> u64 {
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
        guard.1.iter().find(|e| e.id == id).map(|e| e.debug.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_outlive_successes() {
        let h = History::new(2);
        let failed = h.add("m", "t", false, "bad".into());
        h.add("m", "t", true, "ok".into());
        h.add("m", "t", true, "ok2".into());
        assert_eq!(h.get(failed).as_deref(), Some("bad"));
        assert_eq!(h.list().len(), 2);
    }
}
