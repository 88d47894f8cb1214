//! How much one snapshot may fetch ([`Limits`]) and what is left of it
//! while the fetches run ([`Budget`]), so that a server whose pages never
//! end cannot make a caller run, or grow, forever.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default page bound: list pages (`GetTopChannels`, `GetServers`,
/// `GetServerSockets`) one snapshot may request. A 10,000-channel server
/// pages in 20 to 100 pages per list.
pub const DEFAULT_MAX_PAGES: usize = 2_000;

/// The default entity bound: entities one snapshot may hold. A
/// 10,000-channel server with a subchannel and a socket per channel has
/// 30,000; a channel with 100,000 subchannels fits too.
pub const DEFAULT_MAX_ENTITIES: usize = 250_000;

/// How much one snapshot may fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// List pages per snapshot.
    pub max_pages: usize,
    /// Entities per snapshot.
    pub max_entities: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pages: DEFAULT_MAX_PAGES,
            max_entities: DEFAULT_MAX_ENTITIES,
        }
    }
}

/// What is left of the [`Limits`] during one snapshot; shared by the
/// fetches that run at once.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    pages: AtomicUsize,
    entities: AtomicUsize,
}

impl Budget {
    /// A full budget.
    pub fn new(limits: Limits) -> Self {
        Budget {
            limits,
            pages: AtomicUsize::new(0),
            entities: AtomicUsize::new(0),
        }
    }

    /// The limits this budget started from.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes one page; false when none is left.
    pub(crate) fn take_page(&self) -> bool {
        take(&self.pages, 1) < self.limits.max_pages
    }

    /// How many of `n` more entities fit.
    pub(crate) fn take_entities(&self, n: usize) -> usize {
        let before = take(&self.entities, n);
        self.limits.max_entities.saturating_sub(before).min(n)
    }
}

/// Adds `n` to `count`, saturating (a plain `fetch_add` wraps, and a
/// wrapped count would hand out the budget again); returns the count before.
fn take(count: &AtomicUsize, n: usize) -> usize {
    count
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
            Some(c.saturating_add(n))
        })
        .unwrap_or_else(|c| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_runs_out_and_stays_out() {
        let b = Budget::new(Limits {
            max_pages: 2,
            max_entities: 5,
        });
        assert!(b.take_page() && b.take_page() && !b.take_page() && !b.take_page());
        assert_eq!(b.take_entities(3), 3);
        assert_eq!(b.take_entities(3), 2);
        assert_eq!(b.take_entities(usize::MAX), 0);
        assert_eq!(b.take_entities(1), 0);
    }
}
