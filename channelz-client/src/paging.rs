//! The one paging loop of every list RPC (`GetTopChannels`, `GetServers`,
//! `GetServerSockets`): a server's pages are followed by the highest id
//! each one holds, within the [`Budget`], and stop at the first page that
//! would make the loop endless or overflow. What stopped it is an
//! [`Incomplete`] entry beside the items gathered so far.

use std::future::Future;

use grpc_toolkit_conn::RpcError;

use crate::budget::Budget;
use crate::cut::{CutReason, Incomplete};

/// One page of a list RPC: its items and whether the server said it is the
/// last.
pub type Page<T> = (Vec<T>, bool);

/// Every page of a list RPC (`rpc` names it), in id order and each id
/// once, within `budget`. `fetch(start)` asks for the page that starts at
/// `start`. Paging stops, with an entry in `cut` saying why, at the
/// budget's end, at a page that does not move forward (empty, repeated,
/// or only ids below its start, negative ones included), and at a page
/// that ends at the largest id without saying `end` (the next start would
/// overflow). A failed RPC fails the list.
pub async fn list<T, F, Fut>(
    rpc: &str,
    budget: &Budget,
    cut: &mut Vec<Incomplete>,
    mut fetch: F,
    id_of: impl Fn(&T) -> i64,
) -> Result<Vec<T>, RpcError>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<Page<T>, RpcError>>,
{
    let mut out: Vec<T> = Vec::new();
    let mut start = 0;
    loop {
        if !budget.take_page() {
            cut.push(Incomplete::new(
                rpc,
                CutReason::Limit,
                format!(
                    "stopped after {} pages (max pages)",
                    budget.limits().max_pages
                ),
            ));
            break;
        }
        let (mut items, end) = fetch(start).await?;
        let last = items.iter().map(&id_of).max();
        let fit = budget.take_entities(items.len());
        if fit < items.len() {
            items.sort_by_key(&id_of);
            items.truncate(fit);
            out.extend(items);
            cut.push(Incomplete::new(
                rpc,
                CutReason::Limit,
                format!(
                    "stopped at {} entities (max entities)",
                    budget.limits().max_entities
                ),
            ));
            break;
        }
        out.extend(items);
        if end {
            break;
        }
        // The next page starts right after the highest id seen.
        match last {
            Some(i64::MAX) => {
                cut.push(Incomplete::new(
                    rpc,
                    CutReason::Error,
                    "a page ends at the largest id (2^63-1) without end=true; stopped paging",
                ));
                break;
            }
            Some(last) if last >= start => start = last + 1,
            _ => {
                cut.push(Incomplete::new(
                    rpc,
                    CutReason::Error,
                    "the server's pages do not advance; stopped paging",
                ));
                break;
            }
        }
    }
    Ok(dedup_sorted(out, id_of))
}

/// `items` in key order, each key once (pages may overlap on servers that
/// ignore the start id).
pub(crate) fn dedup_sorted<T>(mut items: Vec<T>, key: impl Fn(&T) -> i64) -> Vec<T> {
    items.sort_by_key(&key);
    items.dedup_by(|a, b| key(a) == key(b));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Limits;

    /// Pages a list with `server(start) -> page`, and says what was cut.
    fn run(
        limits: Limits,
        mut server: impl FnMut(i64) -> Page<i64>,
    ) -> (Vec<i64>, Vec<Incomplete>, usize) {
        let budget = Budget::new(limits);
        let mut cut = Vec::new();
        let mut calls = 0;
        let fetch = |start| {
            calls += 1;
            std::future::ready(Ok(server(start)))
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let items = rt
            .block_on(list("GetTopChannels", &budget, &mut cut, fetch, |i| *i))
            .expect("no RPC fails here");
        (items, cut, calls)
    }

    fn reasons(cut: &[Incomplete]) -> Vec<CutReason> {
        cut.iter().map(|c| c.reason).collect()
    }

    #[test]
    fn honest_pages_are_followed_to_the_end() {
        let (items, cut, calls) = run(Limits::default(), |start| {
            let ids: Vec<i64> = (start..(start + 3).min(10)).collect();
            (ids, start + 3 >= 10)
        });
        assert_eq!(items, (0..10).collect::<Vec<_>>());
        assert!(cut.is_empty(), "{cut:?}");
        assert_eq!(calls, 4);
    }

    #[test]
    fn endless_pages_stop_at_the_page_bound() {
        let limits = Limits {
            max_pages: 7,
            max_entities: 1_000_000,
        };
        let (items, cut, calls) = run(limits, |start| ((start..start + 2).collect(), false));
        assert_eq!(calls, 7);
        assert_eq!(items.len(), 14);
        assert_eq!(reasons(&cut), [CutReason::Limit]);
    }

    #[test]
    fn endless_pages_stop_at_the_entity_bound() {
        let limits = Limits {
            max_pages: 1_000_000,
            max_entities: 25,
        };
        let (items, cut, _) = run(limits, |start| ((start..start + 10).collect(), false));
        assert_eq!(items.len(), 25);
        assert_eq!(reasons(&cut), [CutReason::Limit]);
    }

    #[test]
    fn a_repeated_page_stops_paging() {
        let (items, cut, calls) = run(Limits::default(), |_| (vec![3, 1, 2, 2], false));
        assert_eq!(items, [1, 2, 3]);
        assert_eq!(calls, 2);
        assert_eq!(reasons(&cut), [CutReason::Error]);
    }

    #[test]
    fn the_largest_id_without_end_stops_paging_without_overflow() {
        let (items, cut, calls) = run(Limits::default(), |_| (vec![5, i64::MAX], false));
        assert_eq!(items, [5, i64::MAX]);
        assert_eq!(calls, 1);
        assert_eq!(reasons(&cut), [CutReason::Error]);
        assert!(cut[0].detail.contains("2^63-1"), "{cut:?}");
    }

    #[test]
    fn negative_ids_and_empty_pages_do_not_advance() {
        let (items, cut, calls) = run(Limits::default(), |_| (vec![-5, i64::MIN], false));
        assert_eq!(items, [i64::MIN, -5]);
        assert_eq!(calls, 1);
        assert_eq!(reasons(&cut), [CutReason::Error]);
        let (items, cut, calls) = run(Limits::default(), |_| (vec![], false));
        assert!(items.is_empty());
        assert_eq!(calls, 1);
        assert_eq!(reasons(&cut), [CutReason::Error]);
    }
}
