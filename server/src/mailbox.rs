//! A socket's bounded queue and close signal, in one small allocation.
//!
//! tokio's bounded channel allocates a block of 32 slots when it is made (1.3 KiB of
//! `Outbound`) and a watch channel brings its own allocation with nine `Notify`s: most
//! of what an idle socket's queue cost, for a queue that is empty nearly all the time.
//! Here the items sit in a `VecDeque`, which allocates only when something is queued and
//! is given back when a large burst has drained.

use std::{
    collections::VecDeque,
    pin::pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::Notify;

use crate::hub::{CloseReason, Outbound};

/// A drained queue keeps at most this many slots; a larger one is freed.
const KEEP_SLOTS: usize = 32;

/// Why an item was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The queue holds its capacity already.
    Full,
    /// The socket's writer is gone.
    Closed,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: an item was queued, or the hub let go of the socket.
    ready: Notify,
    /// Wakes everyone waiting in [`CloseSignal::changed`].
    closing: Notify,
}

struct State {
    items: VecDeque<Outbound>,
    capacity: usize,
    close: Option<CloseReason>,
    /// The hub dropped its [`Sender`]: nothing more will be queued.
    sender_gone: bool,
    /// The [`Queue`] was dropped: nobody will read what is queued.
    queue_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes a mailbox for at most `capacity` queued items.
pub fn mailbox(capacity: usize) -> (Sender, Queue, CloseSignal) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity,
            close: None,
            sender_gone: false,
            queue_gone: false,
        }),
        ready: Notify::new(),
        closing: Notify::new(),
    });
    (
        Sender(shared.clone()),
        Queue(shared.clone()),
        CloseSignal(shared),
    )
}

/// The hub's end: queues items and asks for the close. Dropping it ends the queue (after
/// what is in it) and signals the close.
pub struct Sender(Arc<Shared>);

impl Sender {
    pub fn try_send(&self, item: Outbound) -> Result<(), SendError> {
        {
            let mut state = self.0.lock();
            if state.queue_gone {
                return Err(SendError::Closed);
            }
            if state.items.len() >= state.capacity {
                return Err(SendError::Full);
            }
            state.items.push_back(item);
        }
        self.0.ready.notify_one();
        Ok(())
    }

    /// Asks the socket to close with `reason` (a later reason replaces an earlier one).
    pub fn close(&self, reason: CloseReason) {
        self.0.lock().close = Some(reason);
        self.0.closing.notify_waiters();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.lock().sender_gone = true;
        self.0.ready.notify_one();
        self.0.closing.notify_waiters();
    }
}

/// The writer's end.
pub struct Queue(Arc<Shared>);

impl Queue {
    /// The next item; `None` once the sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Outbound> {
        loop {
            // `notify_one` leaves a permit when nobody waits, so an item queued between
            // the look and the wait is not missed.
            {
                let mut state = self.0.lock();
                if let Some(item) = pop(&mut state) {
                    return Some(item);
                }
                if state.sender_gone {
                    return None;
                }
            }
            self.0.ready.notified().await;
        }
    }

    /// The next item, if one is queued.
    pub fn try_recv(&mut self) -> Option<Outbound> {
        pop(&mut self.0.lock())
    }
}

fn pop(state: &mut State) -> Option<Outbound> {
    let item = state.items.pop_front()?;
    if state.items.is_empty() && state.items.capacity() > KEEP_SLOTS {
        state.items = VecDeque::new();
    }
    Some(item)
}

impl Drop for Queue {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.queue_gone = true;
        state.items = VecDeque::new();
    }
}

/// Watches for the close (for the socket's reader and writer).
#[derive(Clone)]
pub struct CloseSignal(Arc<Shared>);

impl CloseSignal {
    /// Returns once the close is asked or the hub let go of the socket.
    pub async fn changed(&self) {
        loop {
            let mut notified = pin!(self.0.closing.notified());
            // Registered before the look, so a close signalled in between wakes it.
            notified.as_mut().enable();
            {
                let state = self.0.lock();
                if state.close.is_some() || state.sender_gone {
                    return;
                }
            }
            notified.await;
        }
    }

    /// The reason the close was asked for, if it was.
    pub fn reason(&self) -> Option<CloseReason> {
        self.0.lock().close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Outbound {
        Outbound::Frame(text.to_owned().into())
    }

    #[tokio::test]
    async fn items_come_out_in_order_then_none_when_the_sender_goes() {
        let (sender, mut queue, _close) = mailbox(4);
        sender.try_send(frame("a")).unwrap();
        sender.try_send(frame("b")).unwrap();
        drop(sender);
        assert!(matches!(queue.recv().await, Some(Outbound::Frame(f)) if f.as_str() == "a"));
        assert!(matches!(queue.try_recv(), Some(Outbound::Frame(f)) if f.as_str() == "b"));
        assert!(queue.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_writer_is_woken() {
        let (sender, mut queue, _close) = mailbox(4);
        let writer = tokio::spawn(async move { queue.recv().await.is_some() });
        tokio::task::yield_now().await;
        sender.try_send(frame("a")).unwrap();
        assert!(writer.await.unwrap());
    }

    #[test]
    fn full_and_closed() {
        let (sender, queue, _close) = mailbox(2);
        sender.try_send(frame("a")).unwrap();
        sender.try_send(frame("b")).unwrap();
        assert_eq!(sender.try_send(frame("c")), Err(SendError::Full));
        drop(queue);
        assert_eq!(sender.try_send(frame("d")), Err(SendError::Closed));
    }

    #[test]
    fn a_drained_burst_gives_its_memory_back() {
        let (sender, mut queue, _close) = mailbox(512);
        for i in 0..100 {
            sender.try_send(frame(&i.to_string())).unwrap();
        }
        while queue.try_recv().is_some() {}
        assert_eq!(sender.0.lock().items.capacity(), 0);
    }

    #[tokio::test]
    async fn close_wakes_every_watcher() {
        let (sender, _queue, close) = mailbox(4);
        let watchers: Vec<_> = (0..2)
            .map(|_| {
                let close = close.clone();
                tokio::spawn(async move {
                    close.changed().await;
                    close.reason()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        sender.close(CloseReason::SIGNED_OUT);
        for watcher in watchers {
            assert_eq!(watcher.await.unwrap(), Some(CloseReason::SIGNED_OUT));
        }
        // Already closed: returns at once.
        close.changed().await;
    }

    #[tokio::test]
    async fn a_dropped_sender_counts_as_a_close_without_reason() {
        let (sender, _queue, close) = mailbox(4);
        drop(sender);
        close.changed().await;
        assert_eq!(close.reason(), None);
    }
}
