//! Runtime-agnostic coordination: a FIFO turn lock (transactions run one at a time, in arrival
//! order) and in-flight slots (a duplicate waits for the first delivery's outcome).
//!
//! Both survive cancellation: a future dropped while waiting for its turn gives the turn up, and
//! a leader dropped mid-way wakes its waiters, who then retry as new leaders.

use parking_lot::Mutex;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    task::{Poll, Waker},
};

use event_listener::Event;

#[derive(Debug, Default)]
struct FifoState {
    next: u64,
    serving: u64,
    abandoned: BTreeSet<u64>,
    /// The waker of each ticket that waits for its turn. A turn wakes only the next ticket's:
    /// one wake-up per transaction, however long the queue (waking every waiter at every turn
    /// made the queue's CPU cost quadratic in its length).
    waiting: BTreeMap<u64, Waker>,
}

/// A ticket lock: turns are served in the order tickets were taken.
#[derive(Debug, Default)]
pub(crate) struct Fifo {
    state: Mutex<FifoState>,
}

impl Fifo {
    /// Takes the next ticket now (arrival order is fixed here, not when waiting starts).
    pub(crate) fn ticket(&self) -> Ticket<'_> {
        let mut s = self.state.lock();
        let number = s.next;
        s.next += 1;
        Ticket { fifo: self, number, held: false }
    }

    fn advance(s: &mut FifoState) {
        s.serving += 1;
        while s.abandoned.remove(&s.serving) {
            s.serving += 1;
        }
        if let Some(next) = s.waiting.remove(&s.serving) {
            next.wake();
        }
    }
}

/// A place in the queue; dropping it gives the turn up (or releases it).
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    fifo: &'a Fifo,
    number: u64,
    held: bool,
}

impl Ticket<'_> {
    /// Waits until it is this ticket's turn.
    pub(crate) async fn wait(&mut self) {
        std::future::poll_fn(|cx| {
            let mut s = self.fifo.state.lock();
            if s.serving == self.number {
                s.waiting.remove(&self.number);
                self.held = true;
                return Poll::Ready(());
            }
            match s.waiting.get_mut(&self.number) {
                Some(w) => w.clone_from(cx.waker()),
                None => {
                    s.waiting.insert(self.number, cx.waker().clone());
                }
            }
            Poll::Pending
        })
        .await;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut s = self.fifo.state.lock();
        s.waiting.remove(&self.number);
        if self.held || s.serving == self.number {
            Fifo::advance(&mut s);
        } else {
            s.abandoned.insert(self.number);
        }
    }
}

/// The outcome of a delivery, shared with duplicates that arrived while it ran.
#[derive(Clone, Debug)]
pub(crate) enum Outcome<T> {
    /// The leader finished with this result.
    Done(T),
    /// The leader was dropped before finishing; a waiter must try again.
    Abandoned,
}

/// One in-flight delivery that duplicates can wait on.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    outcome: Mutex<Option<Outcome<T>>>,
    done: Event,
}

impl<T: Clone> Slot<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self { outcome: Mutex::new(None), done: Event::new() })
    }

    /// Waits for the leader's outcome.
    pub(crate) async fn wait(&self) -> Outcome<T> {
        loop {
            if let Some(o) = self.outcome.lock().clone() {
                return o;
            }
            let listener = self.done.listen();
            if let Some(o) = self.outcome.lock().clone() {
                return o;
            }
            listener.await;
        }
    }

    /// Publishes the outcome (the first call wins).
    pub(crate) fn finish(&self, outcome: Outcome<T>) {
        let mut o = self.outcome.lock();
        if o.is_none() {
            *o = Some(outcome);
        }
        drop(o);
        self.done.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        task::{Poll, Waker},
    };

    use futures_util::task::noop_waker_ref;

    use super::*;

    fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut std::task::Context::from_waker(noop_waker_ref()))
    }

    #[test]
    fn turns_follow_ticket_order() {
        let fifo = Fifo::default();
        let mut a = fifo.ticket();
        let mut b = fifo.ticket();
        {
            let mut wb = pin!(b.wait());
            assert!(poll_once(wb.as_mut()).is_pending());
        }
        {
            let mut wa = pin!(a.wait());
            assert!(poll_once(wa.as_mut()).is_ready());
        }
        drop(a);
        let mut wb = pin!(b.wait());
        assert!(poll_once(wb.as_mut()).is_ready());
    }

    #[test]
    fn an_abandoned_ticket_is_skipped() {
        let fifo = Fifo::default();
        let mut a = fifo.ticket();
        let b = fifo.ticket();
        let mut c = fifo.ticket();
        futures_util::FutureExt::now_or_never(a.wait()).unwrap();
        drop(b); // gave up while waiting
        drop(a);
        assert!(futures_util::FutureExt::now_or_never(c.wait()).is_some());
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A turn wakes the next ticket only, not every waiter: with every waiter woken (and then
    /// polled by its executor) at every turn, 10 000 concurrent transactions cost CPU quadratic
    /// in the queue.
    #[test]
    fn a_turn_wakes_only_the_next_ticket() {
        const N: usize = 1_000;
        let fifo = Fifo::default();
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut current = fifo.ticket();
        futures_util::FutureExt::now_or_never(current.wait()).unwrap();
        let mut waiters: Vec<_> = (0..N)
            .map(|_| {
                let mut ticket = fifo.ticket();
                Box::pin(async move {
                    ticket.wait().await;
                    ticket
                })
            })
            .collect();
        for turn in 0..N {
            // Every queued waiter has been polled since the last turn (as an executor polls the
            // tasks it woke) and waits for its turn.
            for waiter in &mut waiters[turn..] {
                assert!(waiter.as_mut().poll(&mut cx).is_pending());
            }
            let before = counter.0.load(std::sync::atomic::Ordering::Relaxed);
            drop(current); // the running transaction is done
            let woken = counter.0.load(std::sync::atomic::Ordering::Relaxed) - before;
            assert!(woken <= 1, "turn {turn} woke {woken} waiters");
            let Poll::Ready(next) = waiters[turn].as_mut().poll(&mut cx) else {
                panic!("the next ticket was not served at turn {turn}");
            };
            current = next;
        }
    }

    #[test]
    fn slot_outcome_reaches_waiters() {
        let slot: Arc<Slot<u8>> = Slot::new();
        let mut w = pin!(slot.wait());
        assert!(poll_once(w.as_mut()).is_pending());
        slot.finish(Outcome::Done(7));
        slot.finish(Outcome::Abandoned);
        assert!(matches!(poll_once(w.as_mut()), Poll::Ready(Outcome::Done(7))));
    }
}
