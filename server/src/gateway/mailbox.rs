//! A socket's bounded queue, close signal and parked write half, in one small allocation.
//!
//! tokio's bounded channel allocates a block of 32 slots when it is made (1.3 KiB of
//! `Outbound`) and a watch channel brings its own allocation with nine `Notify`s: most
//! of what an idle socket's queue cost, for a queue that is empty nearly all the time.
//! Here the items sit in a `VecDeque`, which allocates only when something is queued and
//! is given back when a large burst has drained.
//!
//! While the socket's task has nothing to wait for, its write half is *parked* here, and
//! the hub's write threads ([`super::write_threads`]) write queued items straight to the
//! socket without waking the task: a message to 1,000 idle sockets costs 1,000 `write`s
//! spread over the cores, not 1,000 task wake-ups as well. What cannot be written without
//! waiting (a full socket buffer, a gap to fill from storage, a catch-up) is left to the
//! task, which takes the write half back, does it, and parks it again. Whoever writes
//! holds the write half, and items leave the queue in order, so a socket's frames keep
//! their order either way.

use std::{
    collections::VecDeque,
    pin::pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::Notify;

use super::frames::{CloseReason, Outbound};

/// A drained queue keeps at most this many slots; a larger one is freed.
const KEEP_SLOTS: usize = 32;

/// A socket's write half, as the write threads use it while it is parked.
pub(crate) trait DirectWrite: Send + 'static {
    /// Takes `item` into the outgoing buffer (or drops it as already sent) if that needs
    /// no waiting and no storage; false leaves it, untouched, to the socket's task.
    fn try_feed(&mut self, item: &Outbound) -> bool;
    /// Hands what is buffered to the kernel if that needs no waiting; false leaves the
    /// rest to the socket's task.
    fn try_flush(&mut self) -> bool;
}

/// Why an item was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The queue holds its capacity already.
    Full,
    /// The socket's write task is gone.
    Closed,
}

struct Shared<W> {
    state: Mutex<State<W>>,
    /// Wakes the socket's task: work only it can do, or the hub let go of the socket.
    ready: Notify,
    /// Wakes everyone waiting in [`CloseSignal::changed`].
    closing: Notify,
}

/// Where a socket's write half is.
enum WriteHalf<W> {
    /// With the socket's task (or gone with it).
    WithTask,
    /// Parked: a write thread may take it.
    Parked(W),
    /// A write thread is writing with it, outside the lock (so that the hub queueing the
    /// next message never waits for a socket write); `task_waits` when the task wants it
    /// back as soon as the thread is done.
    Writing { task_waits: bool },
}

#[allow(clippy::struct_excessive_bools)] // four independent facts, each read under the lock
struct State<W> {
    items: VecDeque<Outbound>,
    capacity: usize,
    /// Bytes of the frames queued or being written by a write thread ([`Outbound::weight`]),
    /// and how many may be: a client that asks for history pages and reads nothing holds
    /// no more than that.
    bytes: usize,
    max_bytes: usize,
    close: Option<CloseReason>,
    /// The hub dropped its [`Sender`]: nothing more will be queued.
    sender_gone: bool,
    /// The [`Queue`] was dropped: nobody will read what is queued.
    queue_gone: bool,
    /// A [`WriteJob`] for this mailbox is on its way to a write thread, or running.
    scheduled: bool,
    write_half: WriteHalf<W>,
    /// A write thread left work to the socket's task.
    task_needed: bool,
}

impl<W> Shared<W> {
    fn lock(&self) -> MutexGuard<'_, State<W>> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes a mailbox for at most `capacity` queued items of at most `max_bytes` together
/// (one larger item is taken when nothing else is queued).
pub(crate) fn mailbox<W>(
    capacity: usize,
    max_bytes: usize,
) -> (Sender<W>, Queue<W>, CloseSignal<W>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity,
            bytes: 0,
            max_bytes,
            close: None,
            sender_gone: false,
            queue_gone: false,
            scheduled: false,
            write_half: WriteHalf::WithTask,
            task_needed: false,
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
pub(crate) struct Sender<W>(Arc<Shared<W>>);

impl<W> Sender<W> {
    /// Queues `item`. Returns the job that writes it when this mailbox has none on its way
    /// to a write thread yet: the caller must hand it to one ([`super::write_threads`]).
    pub(crate) fn try_send(&self, item: Outbound) -> Result<Option<WriteJob<W>>, SendError> {
        let mut state = self.0.lock();
        if state.queue_gone {
            return Err(SendError::Closed);
        }
        let weight = item.weight();
        if state.items.len() >= state.capacity
            || (state.bytes > 0 && state.bytes + weight > state.max_bytes)
        {
            return Err(SendError::Full);
        }
        state.bytes += weight;
        state.items.push_back(item);
        if state.scheduled {
            return Ok(None);
        }
        state.scheduled = true;
        Ok(Some(WriteJob(self.0.clone())))
    }

    /// Asks the socket to close with `reason` (a later reason replaces an earlier one).
    pub(crate) fn close(&self, reason: CloseReason) {
        self.0.lock().close = Some(reason);
        self.0.closing.notify_waiters();
    }
}

impl<W> Drop for Sender<W> {
    fn drop(&mut self) {
        self.0.lock().sender_gone = true;
        self.0.ready.notify_one();
        self.0.closing.notify_waiters();
    }
}

/// Writes what a mailbox has queued: run on a write thread.
pub(crate) struct WriteJob<W>(Arc<Shared<W>>);

impl<W: DirectWrite> WriteJob<W> {
    /// Writes the queued items straight to the parked write half, in order, as far as
    /// that goes without waiting, and what is queued meanwhile; wakes the socket's task
    /// for the rest. Does nothing while the task holds the write half: it looks at the
    /// queue before parking it.
    pub(crate) fn run(self) {
        let shared = &*self.0;
        let mut state = shared.lock();
        let mut half = match std::mem::replace(
            &mut state.write_half,
            WriteHalf::Writing { task_waits: false },
        ) {
            WriteHalf::Parked(half) => half,
            other => {
                state.write_half = other;
                state.scheduled = false;
                return;
            }
        };
        loop {
            // Written outside the lock; what is queued meanwhile lines up behind.
            let mut batch = std::mem::take(&mut state.items);
            drop(state);
            let fed = batch.iter().take_while(|item| half.try_feed(item)).count();
            // Flushed even after a refused item: what was fed before it goes out now.
            let flushed = fed == 0 || half.try_flush();
            let fed_bytes: usize = batch.drain(..fed).map(|item| item.weight()).sum();
            state = shared.lock();
            state.bytes = state.bytes.saturating_sub(fed_bytes);
            if state.queue_gone {
                return;
            }
            let refused = !batch.is_empty();
            if refused {
                // The refused item and those after it go back in front of what came since.
                batch.append(&mut state.items);
                state.items = batch;
            } else if state.items.is_empty() && batch.capacity() <= KEEP_SLOTS {
                // Its slots are kept for the next message, as `pop` keeps them.
                state.items = batch;
            }
            let task_waits = matches!(state.write_half, WriteHalf::Writing { task_waits: true });
            if !refused && flushed && !task_waits && !state.items.is_empty() {
                continue;
            }
            state.write_half = WriteHalf::Parked(half);
            state.scheduled = false;
            if refused || !flushed || task_waits {
                state.task_needed = true;
                drop(state);
                shared.ready.notify_one();
            }
            return;
        }
    }
}

/// The socket task's end.
pub struct Queue<W>(Arc<Shared<W>>);

impl<W> Queue<W> {
    /// Returns once the write threads left work to the task; false once the sender is
    /// gone and nothing is left to write. May return true with nothing to do.
    pub(crate) async fn woken(&self) -> bool {
        loop {
            // `notify_one` leaves a permit when nobody waits, so work left between the
            // look and the wait is not missed.
            {
                let state = self.0.lock();
                if state.task_needed {
                    return true;
                }
                if state.sender_gone {
                    return !state.items.is_empty();
                }
            }
            self.0.ready.notified().await;
        }
    }

    /// Takes the write half back, waiting for a write thread to finish with it (`None`
    /// if the task has it already).
    pub(crate) async fn take_write_half(&self) -> Option<W> {
        loop {
            let mut returned = pin!(self.0.ready.notified());
            // Registered before the look, so a return in between wakes it.
            returned.as_mut().enable();
            {
                let mut state = self.0.lock();
                match std::mem::replace(&mut state.write_half, WriteHalf::WithTask) {
                    WriteHalf::Parked(half) => {
                        state.task_needed = false;
                        return Some(half);
                    }
                    WriteHalf::WithTask => return None,
                    WriteHalf::Writing { .. } => {
                        state.write_half = WriteHalf::Writing { task_waits: true };
                    }
                }
            }
            returned.await;
        }
    }

    /// Parks the write half for the write threads, unless items are queued: then it comes
    /// back, for the task to write them first.
    pub(crate) fn park(&self, half: W) -> Result<(), W> {
        let mut state = self.0.lock();
        if !state.items.is_empty() || state.queue_gone {
            return Err(half);
        }
        state.write_half = WriteHalf::Parked(half);
        Ok(())
    }

    /// The next item, if one is queued.
    pub fn try_recv(&self) -> Option<Outbound> {
        pop(&mut self.0.lock())
    }
}

fn pop<W>(state: &mut State<W>) -> Option<Outbound> {
    let item = state.items.pop_front()?;
    state.bytes = state.bytes.saturating_sub(item.weight());
    if state.items.is_empty() && state.items.capacity() > KEEP_SLOTS {
        state.items = VecDeque::new();
    }
    Some(item)
}

impl<W> Drop for Queue<W> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.queue_gone = true;
        state.items = VecDeque::new();
        state.bytes = 0;
        state.write_half = WriteHalf::WithTask;
    }
}

/// Watches for the close (for the socket's read and write tasks).
pub(crate) struct CloseSignal<W>(Arc<Shared<W>>);

impl<W> Clone for CloseSignal<W> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<W> CloseSignal<W> {
    /// Returns once the close is asked or the hub let go of the socket.
    pub(crate) async fn changed(&self) {
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
    pub(crate) fn reason(&self) -> Option<CloseReason> {
        self.0.lock().close
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::gateway::fake_sink::FakeSink;

    fn frame(text: &str) -> Outbound {
        Outbound::Frame(text.to_owned().into())
    }

    fn texts(queue: &Queue<FakeSink>) -> Vec<String> {
        std::iter::from_fn(|| queue.try_recv())
            .map(|item| match item {
                Outbound::Frame(frame) => frame.to_string(),
                other => panic!("expected a frame, got {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn items_come_out_in_order_then_the_end_once_the_sender_goes() {
        let (sender, queue, _close) = mailbox::<FakeSink>(4, usize::MAX);
        sender.try_send(frame("a")).unwrap();
        sender.try_send(frame("b")).unwrap();
        drop(sender);
        assert!(queue.woken().await, "queued items are still to be written");
        assert_eq!(texts(&queue), ["a", "b"]);
        assert!(!queue.woken().await);
    }

    #[test]
    fn one_write_job_at_a_time_per_mailbox() {
        let (sender, _queue, _close) = mailbox::<FakeSink>(4, usize::MAX);
        let job = sender.try_send(frame("a")).unwrap();
        assert!(job.is_some());
        assert!(
            sender.try_send(frame("b")).unwrap().is_none(),
            "already on its way"
        );
        job.unwrap().run();
        assert!(sender.try_send(frame("c")).unwrap().is_some());
    }

    #[tokio::test]
    async fn a_parked_write_half_is_written_to_in_order_without_the_task() {
        let (sender, queue, _close) = mailbox(4, usize::MAX);
        queue.park(FakeSink::new()).map_err(|_| "parked").unwrap();
        let job = sender.try_send(frame("a")).unwrap().unwrap();
        sender.try_send(frame("b")).unwrap();
        job.run();
        assert!(!sender.0.lock().task_needed, "the task was not needed");
        assert_eq!(
            sender.0.lock().bytes,
            0,
            "what was written is no longer held"
        );
        let half = queue.take_write_half().await.unwrap();
        assert_eq!(half.written, ["a", "b"]);
    }

    #[tokio::test]
    async fn what_the_write_half_refuses_is_left_to_the_task_with_what_follows() {
        let (sender, queue, _close) = mailbox(4, usize::MAX);
        let mut half = FakeSink::new();
        half.refuse = Some("gap");
        queue.park(half).map_err(|_| "parked").unwrap();
        let job = sender.try_send(frame("a")).unwrap().unwrap();
        sender.try_send(frame("gap")).unwrap();
        sender.try_send(frame("b")).unwrap();
        job.run();
        assert!(queue.woken().await);
        let half = queue.take_write_half().await.unwrap();
        assert_eq!(half.written, ["a"]);
        assert_eq!(
            sender.0.lock().bytes,
            "gapb".len(),
            "what waits is still held"
        );
        assert_eq!(texts(&queue), ["gap", "b"]);
    }

    #[tokio::test]
    async fn an_unfinished_flush_wakes_the_task() {
        let (sender, queue, _close) = mailbox(4, usize::MAX);
        let mut half = FakeSink::new();
        half.flushes = false;
        queue.park(half).map_err(|_| "parked").unwrap();
        sender.try_send(frame("a")).unwrap().unwrap().run();
        assert!(queue.woken().await);
        assert_eq!(queue.take_write_half().await.unwrap().written, ["a"]);
        assert!(
            !sender.0.lock().task_needed,
            "taking the write half back clears it"
        );
    }

    /// A write thread stopped inside its flush of "a", and the way to let it go on.
    struct CaughtThread {
        thread: std::thread::JoinHandle<()>,
        entered: std::sync::mpsc::Receiver<()>,
        release: std::sync::mpsc::Sender<()>,
    }

    fn catch_a_thread_writing_a(
        sender: &Sender<FakeSink>,
        queue: &Queue<FakeSink>,
    ) -> CaughtThread {
        let (entered_sender, entered) = std::sync::mpsc::channel();
        let (release, release_receiver) = std::sync::mpsc::channel();
        let mut half = FakeSink::new();
        half.flush_gate = Some((entered_sender, release_receiver));
        queue.park(half).map_err(|_| "parked").unwrap();
        let job = sender.try_send(frame("a")).unwrap().unwrap();
        let thread = std::thread::spawn(move || job.run());
        entered.recv().unwrap();
        CaughtThread {
            thread,
            entered,
            release,
        }
    }

    #[tokio::test]
    async fn the_task_gets_the_write_half_back_once_a_write_thread_is_done_with_it() {
        let (sender, queue, _close) = mailbox(4, usize::MAX);
        let caught = catch_a_thread_writing_a(&sender, &queue);
        // The thread writes outside the lock: queueing does not wait for it.
        assert!(
            sender.try_send(frame("b")).unwrap().is_none(),
            "it is running"
        );
        let mut taking = pin!(queue.take_write_half());
        assert!(
            taking.as_mut().now_or_never().is_none(),
            "waits for the thread"
        );
        caught.release.send(()).unwrap();
        caught.thread.join().unwrap();
        let half = taking.await.unwrap();
        assert_eq!(half.written, ["a"]);
        assert_eq!(texts(&queue), ["b"], "left to the task, which asked first");
    }

    #[tokio::test]
    async fn a_write_thread_writes_what_was_queued_while_it_wrote() {
        let (sender, queue, _close) = mailbox(4, usize::MAX);
        let caught = catch_a_thread_writing_a(&sender, &queue);
        sender.try_send(frame("b")).unwrap();
        caught.release.send(()).unwrap();
        caught.entered.recv().unwrap();
        caught.release.send(()).unwrap();
        caught.thread.join().unwrap();
        assert!(!sender.0.lock().task_needed, "the task was not needed");
        assert_eq!(queue.take_write_half().await.unwrap().written, ["a", "b"]);
    }

    #[test]
    fn while_the_task_holds_the_write_half_items_wait_for_it() {
        let (sender, queue, _close) = mailbox(4, usize::MAX);
        sender.try_send(frame("a")).unwrap().unwrap().run();
        let half = FakeSink::new();
        let half = queue.park(half).expect_err("refused: an item is queued");
        assert_eq!(texts(&queue), ["a"]);
        assert!(queue.park(half).is_ok());
    }

    #[test]
    fn full_and_closed() {
        let (sender, queue, _close) = mailbox::<FakeSink>(2, usize::MAX);
        sender.try_send(frame("a")).unwrap();
        sender.try_send(frame("b")).unwrap();
        assert!(matches!(sender.try_send(frame("c")), Err(SendError::Full)));
        drop(queue);
        assert!(matches!(
            sender.try_send(frame("d")),
            Err(SendError::Closed)
        ));
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_too() {
        let (sender, queue, _close) = mailbox::<FakeSink>(100, 10);
        // One item larger than the bound is taken when nothing else waits.
        sender.try_send(frame("twelve bytes")).unwrap();
        assert!(matches!(sender.try_send(frame("a")), Err(SendError::Full)));
        queue.try_recv().unwrap();
        sender.try_send(frame("six b.")).unwrap();
        sender.try_send(frame("four")).unwrap();
        assert!(
            matches!(sender.try_send(frame("x")), Err(SendError::Full)),
            "10 of 10"
        );
        queue.try_recv().unwrap();
        sender.try_send(frame("x")).unwrap();
    }

    #[test]
    fn a_drained_burst_gives_its_memory_back() {
        let (sender, queue, _close) = mailbox::<FakeSink>(512, usize::MAX);
        for i in 0..100 {
            sender.try_send(frame(&i.to_string())).unwrap();
        }
        while queue.try_recv().is_some() {}
        assert_eq!(sender.0.lock().items.capacity(), 0);
    }

    #[tokio::test]
    async fn close_wakes_every_watcher() {
        let (sender, _queue, close) = mailbox::<FakeSink>(4, usize::MAX);
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
        let (sender, _queue, close) = mailbox::<FakeSink>(4, usize::MAX);
        drop(sender);
        close.changed().await;
        assert_eq!(close.reason(), None);
    }
}
