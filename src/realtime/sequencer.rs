//! The sequencer: in-order, exactly-once delivery of one user's numbered
//! events, in whatever order and however often they arrive (the stream, a
//! poll, another tab's relay). Pure logic without I/O, compiled on both
//! sides so that its rules are unit-tested on the host; the browser's
//! connection drives it and does what it answers.
//!
//! Before the snapshot's cursor is known, and while a gap is being filled
//! from the store, arrivals are held (by number, so a repeat is held once)
//! and released in order afterwards.

use std::collections::BTreeMap;

/// What the driver does next: apply `apply` in this order, then, when
/// `fill_after` is set, fetch the events after it from the store, hand each
/// page to [`Sequencer::fill_page`] and call [`Sequencer::fill_done`].
/// Whatever arrives during a fill is held.
#[derive(Debug, PartialEq)]
pub struct Next<T> {
    pub apply: Vec<(i64, T)>,
    pub fill_after: Option<i64>,
}

impl<T> Next<T> {
    fn nothing() -> Self {
        Self {
            apply: Vec::new(),
            fill_after: None,
        }
    }
}

/// In-order, exactly-once delivery of numbered events.
#[derive(Debug)]
pub struct Sequencer<T> {
    /// The last number applied; `None` until a snapshot's cursor is known.
    last: Option<i64>,
    filling: bool,
    held: BTreeMap<i64, T>,
}

impl<T> Default for Sequencer<T> {
    fn default() -> Self {
        Self {
            last: None,
            filling: false,
            held: BTreeMap::new(),
        }
    }
}

impl<T> Sequencer<T> {
    /// The last number applied, if a snapshot was taken.
    pub fn last(&self) -> Option<i64> {
        self.last
    }

    /// The first event held back, if any.
    pub fn first_held(&self) -> Option<&T> {
        self.held.values().next()
    }

    /// The state snapshot was taken at `cursor`: what came after it and
    /// waited can now be applied.
    pub fn start(&mut self, cursor: i64) -> Next<T> {
        self.last = Some(cursor);
        self.release()
    }

    /// An event arrived.
    pub fn offer(&mut self, seq: i64, event: T) -> Next<T> {
        let Some(last) = self.last else {
            self.held.insert(seq, event);
            return Next::nothing();
        };
        if seq <= last {
            return Next::nothing();
        }
        if self.filling {
            self.held.insert(seq, event);
            return Next::nothing();
        }
        if seq == last + 1 {
            self.last = Some(seq);
            return Next {
                apply: vec![(seq, event)],
                fill_after: None,
            };
        }
        self.held.insert(seq, event);
        self.filling = true;
        Next {
            apply: Vec::new(),
            fill_after: Some(last),
        }
    }

    /// A page of the store's events during a fill: the ones that come
    /// next, in order, to apply now.
    pub fn fill_page(&mut self, events: impl IntoIterator<Item = (i64, T)>) -> Vec<(i64, T)> {
        let mut apply = Vec::new();
        for (seq, event) in events {
            if self.last.is_none_or(|last| seq == last + 1) {
                self.last = Some(seq);
                apply.push((seq, event));
            }
        }
        apply
    }

    /// The fill ended (the store had nothing more, or answered with a
    /// reset): release what was held.
    pub fn fill_done(&mut self) -> Next<T> {
        self.filling = false;
        self.release()
    }

    /// The server cannot replay from here: count from `cursor` again (the
    /// lists refetch); held events up to it are dropped.
    pub fn reset(&mut self, cursor: i64) {
        self.last = Some(cursor);
        self.held.retain(|seq, _| *seq > cursor);
    }

    /// Applies held events while they come next; a hole before the next
    /// held one starts a fill.
    fn release(&mut self) -> Next<T> {
        let Some(mut last) = self.last else {
            return Next::nothing();
        };
        self.held.retain(|seq, _| *seq > last);
        let mut apply = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != last + 1 {
                break;
            }
            let (seq, event) = entry.remove_entry();
            last = seq;
            apply.push((seq, event));
        }
        self.last = Some(last);
        // Whatever is still held lies beyond a hole.
        self.filling = !self.held.is_empty();
        Next {
            apply,
            fill_after: self.filling.then_some(last),
        }
    }

    /// Whether a fill is under way (arrivals are held).
    pub fn filling(&self) -> bool {
        self.filling
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers to apply, when no fill is asked for.
    fn applied(next: Next<&'static str>) -> Vec<i64> {
        assert_eq!(next.fill_after, None, "a fill was asked for");
        next.apply.into_iter().map(|(seq, _)| seq).collect()
    }

    /// A fill after this number, with nothing to apply first.
    fn fill(after: i64) -> Next<&'static str> {
        Next {
            apply: Vec::new(),
            fill_after: Some(after),
        }
    }

    #[test]
    fn holds_everything_until_the_snapshot_then_applies_what_follows_it() {
        let mut s = Sequencer::default();
        assert_eq!(applied(s.offer(12, "c")), Vec::<i64>::new());
        assert_eq!(applied(s.offer(11, "b")), Vec::<i64>::new());
        assert_eq!(applied(s.offer(9, "old")), Vec::<i64>::new());
        // The snapshot already contains 9 and 10.
        assert_eq!(applied(s.start(10)), vec![11, 12]);
        assert_eq!(s.last(), Some(12));
    }

    #[test]
    fn applies_in_order_and_drops_repeats() {
        let mut s = Sequencer::default();
        s.start(0);
        assert_eq!(applied(s.offer(1, "a")), vec![1]);
        assert_eq!(applied(s.offer(1, "a again")), Vec::<i64>::new());
        assert_eq!(applied(s.offer(2, "b")), vec![2]);
        assert_eq!(applied(s.offer(0, "older")), Vec::<i64>::new());
        assert_eq!(s.last(), Some(2));
    }

    #[test]
    fn a_gap_is_filled_from_the_store_and_what_waited_follows() {
        let mut s = Sequencer::default();
        s.start(3);
        assert_eq!(s.offer(6, "f"), fill(3));
        assert!(s.filling());
        // Arrivals during the fill wait, once each.
        assert_eq!(applied(s.offer(7, "g")), Vec::<i64>::new());
        assert_eq!(applied(s.offer(7, "g again")), Vec::<i64>::new());
        let page: Vec<i64> = s
            .fill_page([(4, "d"), (5, "e"), (6, "f from the store")])
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        assert_eq!(page, vec![4, 5, 6]);
        // 6 came from the store; the held copy is dropped, 7 applies.
        assert_eq!(applied(s.fill_done()), vec![7]);
        assert!(!s.filling());
        assert_eq!(s.last(), Some(7));
    }

    #[test]
    fn a_fill_page_skips_what_is_not_next() {
        let mut s = Sequencer::default();
        s.start(1);
        assert_eq!(s.offer(5, "e"), fill(1));
        let page: Vec<i64> = s
            .fill_page([(1, "a"), (2, "b"), (4, "d")])
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        assert_eq!(page, vec![2]);
        // 3 is still missing: the fill goes on from 2.
        assert_eq!(s.fill_done(), fill(2));
    }

    #[test]
    fn a_reset_counts_from_its_cursor_and_drops_what_it_covers() {
        let mut s = Sequencer::default();
        s.start(2);
        assert_eq!(s.offer(9, "i"), fill(2));
        s.offer(20, "t");
        s.reset(10);
        assert_eq!(s.last(), Some(10));
        // 9 is covered by the reset, 20 is still ahead with a hole.
        assert_eq!(s.fill_done(), fill(10));
        assert_eq!(s.fill_page([(11, "k")]).len(), 1);
    }

    #[test]
    fn held_events_after_a_hole_ask_for_another_fill() {
        let mut s = Sequencer::default();
        s.offer(3, "c");
        s.offer(5, "e");
        // The snapshot is at 2: 3 applies, then 4 is missing before 5.
        let next = s.start(2);
        assert_eq!(next.apply, vec![(3, "c")]);
        assert_eq!(next.fill_after, Some(3));
        assert!(s.filling(), "5 waits for the fill");
        assert_eq!(s.first_held(), Some(&"e"));
        assert_eq!(s.fill_page([(4, "d"), (5, "e")]).len(), 2);
        assert_eq!(applied(s.fill_done()), Vec::<i64>::new());
    }
}
