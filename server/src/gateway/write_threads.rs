//! The hub's write threads, one per core: each runs the [`WriteJob`]s it is handed, which
//! write queued frames straight to sockets whose tasks are idle.
//!
//! Plain threads rather than tokio tasks: a message to a large room is a long run of
//! `write`s, which tokio's cooperative budget would cut short after 128 of them per task
//! poll, and splitting that run over one thread per core puts both cores to work on it
//! while the runtime's workers go on reading (docs/benchmarks.md, fourth round).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    mpsc,
};

use super::mailbox::{DirectWrite, WriteJob};

pub(crate) struct SocketWriteThreads<W> {
    threads: Vec<mpsc::Sender<Vec<WriteJob<W>>>>,
    /// Where the next submission starts, so that single jobs take turns.
    next: AtomicUsize,
}

impl<W: DirectWrite> SocketWriteThreads<W> {
    /// One write thread per core this process may use.
    pub(crate) fn for_this_machine() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// `threads` write threads (at least one). They end when these are dropped.
    ///
    /// # Panics
    /// When the OS refuses to start a thread (as at start-up, with nothing to fall back on).
    pub(crate) fn new(threads: usize) -> Self {
        let threads = (0..threads.max(1))
            .map(|index| {
                let (jobs, queue) = mpsc::channel::<Vec<WriteJob<W>>>();
                std::thread::Builder::new()
                    .name(format!("knock-write-{index}"))
                    .spawn(move || {
                        for batch in queue {
                            batch.into_iter().for_each(WriteJob::run);
                        }
                    })
                    .expect("the OS refused to start a write thread");
                jobs
            })
            .collect();
        Self {
            threads,
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `jobs`, split evenly over the write threads.
    pub(crate) fn submit(&self, mut jobs: Vec<WriteJob<W>>) {
        let threads = self.threads.len();
        let share = jobs.len().div_ceil(threads);
        let mut turn = self.next.fetch_add(1, Ordering::Relaxed);
        while !jobs.is_empty() {
            let chunk = jobs.split_off(jobs.len().saturating_sub(share));
            if let Err(mpsc::SendError(chunk)) = self.threads[turn % threads].send(chunk) {
                // The thread is gone (it panicked): write from here rather than strand
                // the sockets.
                tracing::error!("a write thread has stopped; writing from the caller");
                chunk.into_iter().for_each(WriteJob::run);
            }
            turn = turn.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc, time::Duration};

    use super::*;
    use crate::gateway::fake_sink::FakeSink;
    use crate::gateway::{frames::Outbound, mailbox::mailbox};

    #[tokio::test]
    async fn every_job_runs_once_on_some_write_thread() {
        let threads = SocketWriteThreads::new(2);
        let (flush_sender, flushes) = mpsc::channel();
        let mailboxes: Vec<_> = (0..5)
            .map(|id| {
                let (sender, queue, close) = mailbox(4, usize::MAX);
                let mut half = FakeSink::new();
                half.on_flush = Some((id, flush_sender.clone()));
                queue.park(half).map_err(|_| "parked").unwrap();
                (sender, queue, close)
            })
            .collect();
        let jobs = mailboxes
            .iter()
            .filter_map(|(sender, ..)| sender.try_send(Outbound::Frame("hello".into())).unwrap())
            .collect();
        threads.submit(jobs);
        let mut seen: Vec<usize> = (0..5)
            .map(|_| flushes.recv_timeout(Duration::from_secs(30)).unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        for (_, queue, _) in &mailboxes {
            assert_eq!(queue.take_write_half().await.unwrap().written, ["hello"]);
        }
    }
}
