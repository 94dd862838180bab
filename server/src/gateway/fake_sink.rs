//! A fake write half for the mailbox and write-thread tests.

/// A write half for mailbox and write-thread tests: records the frames it takes.
pub(crate) struct FakeSink {
    pub(crate) written: Vec<String>,
    /// Frames containing this are left to the socket's task.
    pub(crate) refuse: Option<&'static str>,
    /// Whether flushing completes without waiting.
    pub(crate) flushes: bool,
    /// Told this write half's `id` after each flush.
    pub(crate) on_flush: Option<(usize, std::sync::mpsc::Sender<usize>)>,
    /// Flushing says so on the first channel, then waits for the second.
    pub(crate) flush_gate: Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>,
}

impl FakeSink {
    pub(crate) fn new() -> Self {
        Self {
            written: Vec::new(),
            refuse: None,
            flushes: true,
            on_flush: None,
            flush_gate: None,
        }
    }
}

impl super::mailbox::DirectWrite for FakeSink {
    fn try_feed(&mut self, item: &super::frames::Outbound) -> bool {
        let super::frames::Outbound::Frame(frame) = item else {
            return false;
        };
        if self.refuse.is_some_and(|refused| frame.contains(refused)) {
            return false;
        }
        self.written.push(frame.to_string());
        true
    }

    fn try_flush(&mut self) -> bool {
        if let Some((id, flushed)) = &self.on_flush {
            let _ = flushed.send(*id);
        }
        if let Some((entered, release)) = &self.flush_gate {
            let _ = entered.send(());
            let _ = release.recv();
        }
        self.flushes
    }
}
