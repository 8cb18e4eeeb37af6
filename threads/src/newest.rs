//! The hand-off between two pipeline stages where only the newest item matters.
//!
//! A one-slot mailbox: the producer never blocks, an unconsumed item is replaced (and counted),
//! the consumer waits with a timeout. Buffers travel back to the producer so that in the steady
//! state nothing is allocated: [`NewestFrame::put`] hands back either the item it displaced or a
//! buffer the consumer [`recycle`](NewestFrame::recycle)d.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Why [`NewestFrame::take`] returned without an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeError {
    /// Nothing arrived within the timeout.
    Timeout,
    /// The producer closed the hand-off and everything put was taken.
    Closed,
}

/// Spare buffers kept for the producer; more than this are dropped.
const MAX_SPARES: usize = 2;

pub struct NewestFrame<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    recycled: Condvar,
}

struct State<T> {
    newest: Option<T>,
    spares: Vec<T>,
    /// Items taken and not recycled yet (the consumer is working on them).
    lent: usize,
    replaced: u64,
    closed: bool,
}

impl<T> Default for NewestFrame<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> NewestFrame<T> {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                newest: None,
                spares: Vec::with_capacity(MAX_SPARES),
                lent: 0,
                replaced: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            recycled: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The state stays consistent even if a holder panicked, so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `item` the newest. Returns a buffer for the producer to fill next, if one is free:
    /// the displaced unconsumed item (counted as replaced) or a recycled one.
    pub fn put(&self, item: T) -> Option<T> {
        let mut state = self.lock();
        let displaced = state.newest.replace(item);
        if displaced.is_some() {
            state.replaced += 1;
        }
        let back = displaced.or_else(|| state.spares.pop());
        drop(state);
        self.ready.notify_one();
        back
    }

    /// Takes the newest item, waiting up to `timeout` for one.
    pub fn take(&self, timeout: Duration) -> Result<T, TakeError> {
        let state = self.lock();
        let (mut state, _) = self
            .ready
            .wait_timeout_while(state, timeout, |s| s.newest.is_none() && !s.closed)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match state.newest.take() {
            Some(item) => {
                state.lent += 1;
                Ok(item)
            }
            None if state.closed => Err(TakeError::Closed),
            None => Err(TakeError::Timeout),
        }
    }

    /// Gives a used buffer back for the producer's next [`put`](Self::put).
    pub fn recycle(&self, item: T) {
        let mut state = self.lock();
        state.lent = state.lent.saturating_sub(1);
        if state.spares.len() < MAX_SPARES {
            state.spares.push(item);
        }
        drop(state);
        self.recycled.notify_one();
    }

    /// A free buffer for the producer, if any was recycled.
    pub fn spare(&self) -> Option<T> {
        self.lock().spares.pop()
    }

    /// A free buffer for the producer, waiting up to `timeout` for one to be recycled when the
    /// consumer has one in hand or waiting: so a producer that is quicker than `timeout` to get
    /// its item back keeps reusing one buffer instead of allocating a second. `None` at once
    /// when nothing is out, or when the timeout passes.
    pub fn spare_within(&self, timeout: Duration) -> Option<T> {
        let state = self.lock();
        let (mut state, _) = self
            .recycled
            .wait_timeout_while(state, timeout, |s| {
                s.spares.is_empty() && (s.lent > 0 || s.newest.is_some()) && !s.closed
            })
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.spares.pop()
    }

    /// How many items were replaced before anyone took them.
    pub fn replaced(&self) -> u64 {
        self.lock().replaced
    }

    /// Ends the hand-off: a waiting or later `take` gets [`TakeError::Closed`] once it is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.recycled.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn newest_wins_and_replaced_are_counted() {
        let slot = NewestFrame::new();
        assert_eq!(slot.put(1), None);
        assert_eq!(slot.put(2), Some(1), "displaced item comes back for reuse");
        assert_eq!(slot.put(3), Some(2));
        assert_eq!(slot.take(Duration::ZERO), Ok(3));
        assert_eq!(slot.replaced(), 2);
        assert_eq!(slot.take(Duration::from_millis(1)), Err(TakeError::Timeout));
    }

    #[test]
    fn recycled_buffers_return_to_the_producer() {
        let slot = NewestFrame::new();
        slot.put(vec![0u8; 4]);
        let buf = slot.take(Duration::ZERO).unwrap();
        let ptr = buf.as_ptr();
        slot.recycle(buf);
        let back = slot.put(vec![1u8; 4]).unwrap();
        assert_eq!(back.as_ptr(), ptr);
        for _ in 0..5 {
            slot.recycle(vec![]);
        }
        assert_eq!(slot.lock().spares.len(), MAX_SPARES, "spares are bounded");
    }

    #[test]
    fn a_producer_waits_for_the_buffer_in_use_instead_of_a_new_one() {
        let slot = Arc::new(NewestFrame::new());
        assert_eq!(
            slot.spare_within(Duration::from_secs(30)),
            None,
            "nothing out: no wait"
        );
        slot.put(vec![7u8; 4]);
        let consumer = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                let item = slot.take(Duration::from_secs(30)).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                slot.recycle(item);
            })
        };
        let start = Instant::now();
        assert_eq!(
            slot.spare_within(Duration::from_secs(30)),
            Some(vec![7u8; 4])
        );
        assert!(start.elapsed() < Duration::from_secs(30));
        consumer.join().unwrap();
        slot.put(vec![1]);
        slot.take(Duration::ZERO).unwrap();
        assert_eq!(
            slot.spare_within(Duration::from_millis(1)),
            None,
            "lent, not back in time"
        );
    }

    #[test]
    fn close_wakes_a_waiting_consumer() {
        let slot = Arc::new(NewestFrame::<u32>::new());
        let waiter = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || slot.take(Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        slot.close();
        assert_eq!(waiter.join().unwrap(), Err(TakeError::Closed));
        assert!(start.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn an_item_put_before_close_is_still_taken() {
        let slot = NewestFrame::new();
        slot.put(5);
        slot.close();
        assert_eq!(slot.take(Duration::ZERO), Ok(5));
        assert_eq!(slot.take(Duration::ZERO), Err(TakeError::Closed));
    }

    #[test]
    fn a_fast_producer_never_builds_a_backlog() {
        let slot = Arc::new(NewestFrame::new());
        let producer = {
            let slot = Arc::clone(&slot);
            std::thread::spawn(move || {
                for i in 0..100_000u32 {
                    slot.put(i);
                }
                slot.close();
            })
        };
        let mut last = None;
        let mut taken = 0u64;
        loop {
            match slot.take(Duration::from_secs(5)) {
                Ok(i) => {
                    assert!(last.is_none_or(|l| i > l), "items arrive in order");
                    last = Some(i);
                    taken += 1;
                }
                Err(TakeError::Closed) => break,
                Err(TakeError::Timeout) => panic!("producer stalled"),
            }
        }
        producer.join().unwrap();
        assert_eq!(last, Some(99_999), "the very newest item is never lost");
        assert_eq!(
            taken + slot.replaced(),
            100_000,
            "every item is taken or counted"
        );
    }
}
