//! The batch processor: a bounded queue that ending a span pushes to without blocking on I/O,
//! and (on native targets) one export thread that drains it in batches.
//!
//! The SDK's `BatchSpanProcessor` keeps its drop count private and spawns a thread (which
//! panics on wasm32); this one counts every drop in health, reports export errors, and on
//! wasm32 is a plain queue that the host's event loop drains with [`BatchProcessor::drain`].

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{ExporterFactory, Outcome};
use crate::config::TracingConfig;
use crate::error::Result;
use crate::health::{Counters, QueueCounts};
use crate::record::{Batch, SpanRecord};

/// What `shutdown` achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Spans not yet exported when the timeout ran out, queued or being exported: all counted
    /// as failed in health (`shutdown_timeout`) by the time `shutdown` returns; the outcome of an
    /// export still in progress is not counted.
    pub unsent: u64,
    /// Whether the timeout ran out.
    pub timed_out: bool,
}

#[derive(Debug, Default)]
struct State {
    spans: VecDeque<SpanRecord>,
    /// Spans taken for export and not yet reported.
    in_flight: usize,
    /// Spans ended (pushed), counted here under the lock the push takes anyway.
    ended: u64,
    /// Spans dropped because the queue was full.
    dropped_queue_full: u64,
    /// Callers of `force_flush` waiting for the queue to be empty.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    flush_waiters: Vec<std::sync::mpsc::Sender<()>>,
    stop: bool,
    /// Set when shutdown gave up waiting: the worker discards what is left.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    abandon: bool,
    /// Set in a forked child: what the queue holds is the parent's, and the export thread is
    /// not in this process. The next use of the queue starts afresh ([`BatchProcessor::lock`]).
    forked: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
    batch_size: usize,
    counters: Arc<Counters>,
}

/// What starting an export thread takes (again, in a forked child).
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
struct Spawn {
    factory: ExporterFactory,
    delay: Duration,
    export_timeout: Duration,
}

#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
impl std::fmt::Debug for Spawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawn")
            .field("delay", &self.delay)
            .field("export_timeout", &self.export_timeout)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome of exporting `spans` spans that were taken from the queue. An
    /// exporter that accounts for fewer spans than it was given loses none silently: the rest
    /// are counted as failed (`unreported`); counts past `spans` are not counted.
    fn finish(&self, spans: usize, outcome: Outcome) {
        {
            let mut st = self.lock();
            // Counted as failed when shutdown timed out (natively; elsewhere no export is in
            // progress when shutdown returns).
            #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
            if st.abandon {
                return;
            }
            st.in_flight -= spans;
        }
        let mut left = spans as u64;
        let exported = outcome.exported.min(left);
        left -= exported;
        if exported > 0 {
            self.counters.export_succeeded(exported);
        }
        for f in outcome.failures {
            let n = f.spans.min(left);
            left -= n;
            if n > 0 {
                self.counters.export_failed(n, &f.kind, &f.message);
            } else if f.spans == 0 && !f.message.is_empty() {
                // A warning that lost no span (an OTLP partial success rejecting none).
                self.counters.record_error(&f.kind, &f.message);
            }
        }
        if left > 0 {
            self.unreported(spans as u64, left);
        }
    }

    #[cold]
    fn unreported(&self, spans: u64, left: u64) {
        self.counters.export_failed(
            left,
            "unreported",
            &format!(
                "the exporter said what became of {} of the {spans} spans it was given; the \
                 other {left} are counted as failed",
                spans - left
            ),
        );
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct BatchProcessor {
    shared: Arc<Shared>,
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    worker: Mutex<Option<worker::Handle>>,
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    spawn: Spawn,
    /// Run in a forked child at the first use of the queue, after its export thread started:
    /// what else the pipeline runs on a thread of its own starts again there.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    child_hook: std::sync::OnceLock<ChildHook>,
}

/// See [`BatchProcessor::on_child`].
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
struct ChildHook(Box<dyn Fn() + Send + Sync>);

#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
impl std::fmt::Debug for ChildHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChildHook")
    }
}

/// The processor's locks, held by the thread that forks from just before `fork()` until
/// just after (see [`crate::platform::fork`]): no span is being queued and no batch taken while the
/// process is copied, so the child's copy of the queue is whole.
#[cfg(unix)]
pub(crate) struct ForkHold<'a> {
    state: MutexGuard<'a, State>,
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    _worker: MutexGuard<'a, Option<worker::Handle>>,
}

#[cfg(unix)]
impl ForkHold<'_> {
    /// In the child: the queue is the parent's. Only marked here (an after-fork handler does
    /// as little as it can: the child may be about to `exec`); the first use of the queue
    /// in the child clears it and starts an export thread ([`BatchProcessor::lock`]).
    pub(crate) fn in_child(&mut self) {
        self.state.forked = true;
    }
}

impl BatchProcessor {
    /// Starts the processor (and, natively, its export thread, which builds the exporter).
    pub(crate) fn start(
        config: &TracingConfig,
        exporter: ExporterFactory,
        counters: Arc<Counters>,
    ) -> Result<BatchProcessor> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                spans: VecDeque::with_capacity(config.max_queue_size.min(4096)),
                ..State::default()
            }),
            wake: Condvar::new(),
            capacity: config.max_queue_size,
            batch_size: config.export_max_batch_size,
            counters,
        });
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        {
            let spawn = Spawn {
                factory: exporter,
                delay: config.schedule_delay(),
                export_timeout: config.export_timeout(),
            };
            let handle = worker::spawn(shared.clone(), &spawn)?;
            Ok(BatchProcessor {
                shared,
                worker: Mutex::new(Some(handle)),
                spawn,
                child_hook: std::sync::OnceLock::new(),
            })
        }
        #[cfg(not(all(feature = "native", not(target_arch = "wasm32"))))]
        {
            drop(exporter);
            Ok(BatchProcessor { shared })
        }
    }

    /// The queue, locked; in a forked child, first made the child's own ([`Self::renew`]).
    #[inline]
    fn lock(&self) -> MutexGuard<'_, State> {
        let st = self.shared.lock();
        if st.forked {
            return self.renew(st);
        }
        st
    }

    /// The first use of the queue in a forked child: the spans queued or in flight are the
    /// parent's (it sends them; sending them here too would duplicate them), so they are let
    /// go, with the counts; the parent's export thread does not exist here, so a new one is
    /// started, with a new exporter and connections.
    #[cold]
    fn renew<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        st.forked = false;
        st.spans = std::collections::VecDeque::new();
        st.in_flight = 0;
        st.ended = 0;
        st.dropped_queue_full = 0;
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        {
            // Parent threads wait on these; nothing here will answer them, and their channels
            // are the parent's: forgotten, not dropped.
            std::mem::forget(std::mem::take(&mut st.flush_waiters));
            st.abandon = false;
            let mut worker = self.worker.lock().unwrap_or_else(|e| e.into_inner());
            // The parent's thread: not in this process, so never joined or detached here.
            std::mem::forget(worker.take());
            if !st.stop {
                // The new thread takes the lock only after it reports ready.
                match worker::spawn(self.shared.clone(), &self.spawn) {
                    Ok(h) => *worker = Some(h),
                    Err(e) => {
                        // Spans then wait in the queue (bounded, drops counted); say why.
                        self.shared
                            .counters
                            .record_error("fork", &format!("no export thread after fork: {e}"));
                    }
                }
            }
            drop(worker);
            if let Some(hook) = self.child_hook.get() {
                (hook.0)();
            }
        }
        st
    }

    /// Sets what runs in a forked child at the first use of the queue (once).
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    pub(crate) fn on_child(&self, hook: Box<dyn Fn() + Send + Sync>) {
        let _ = self.child_hook.set(ChildHook(hook));
    }

    /// Takes the processor's locks for a fork (see [`ForkHold`]).
    #[cfg(unix)]
    pub(crate) fn hold_for_fork(&self) -> ForkHold<'_> {
        ForkHold {
            state: self.shared.lock(),
            #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
            _worker: self.worker.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Queues an ended span; if the queue is full the span is dropped and counted. The record
    /// arrives moved out of its box, which was freed on the thread that made it: a box freed on
    /// the export thread made glibc's malloc contend between the two threads (fewer
    /// instructions per span, but 45% more CPU time).
    pub(crate) fn push(&self, span: SpanRecord) {
        let s = &*self.shared;
        let mut st = self.lock();
        st.ended += 1;
        if st.stop {
            drop(st);
            s.counters.export_failed(
                1,
                "ended_after_shutdown",
                "a span ended after shutdown; it cannot be exported",
            );
            return;
        }
        if st.spans.len() >= s.capacity {
            st.dropped_queue_full += 1;
            drop(st);
            s.counters.warn_queue_full();
            return;
        }
        st.spans.push_back(span);
        let len = st.spans.len();
        drop(st);
        if len == s.batch_size {
            s.wake.notify_one();
        }
    }

    /// Takes up to one batch of queued spans (for hosts without threads, such as wasm32, which
    /// export on their own event loop). The caller reports the outcome with
    /// [`BatchProcessor::report`].
    pub fn drain(&self) -> Batch {
        let mut st = self.lock();
        let n = st.spans.len().min(self.shared.batch_size);
        st.in_flight += n;
        st.spans.drain(..n).collect()
    }

    /// The queue's counts (for health).
    pub(crate) fn counts(&self) -> QueueCounts {
        let st = self.lock();
        QueueCounts {
            ended: st.ended,
            dropped_queue_full: st.dropped_queue_full,
            depth: (st.spans.len() + st.in_flight) as u64,
        }
    }

    /// Records the outcome of exporting `spans` spans taken with `drain`.
    pub fn report(&self, spans: usize, outcome: Outcome) {
        self.shared.finish(spans, outcome);
    }

    /// Exports everything queued, waiting at most `timeout`.
    pub(crate) fn force_flush(&self, timeout: Duration) -> Result<()> {
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        {
            let failed = || {
                self.shared
                    .counters
                    .export
                    .export_failed
                    .load(std::sync::atomic::Ordering::Relaxed)
            };
            let (tx, rx) = std::sync::mpsc::channel();
            let before = {
                let mut st = self.lock();
                if st.stop {
                    return Err(crate::Error::AlreadyShutdown);
                }
                st.flush_waiters.push(tx);
                failed()
            };
            self.shared.wake.notify_one();
            rx.recv_timeout(timeout).map_err(|e| match e {
                std::sync::mpsc::RecvTimeoutError::Timeout => crate::Error::Timeout {
                    operation: "flush",
                    timeout_ms: timeout.as_millis() as u64,
                },
                // Shutdown gave up on the queue while this flush waited.
                std::sync::mpsc::RecvTimeoutError::Disconnected => crate::Error::AlreadyShutdown,
            })?;
            // Spans that failed while this flush waited: queued before it, or in flight. (A
            // failure of another thread's spans in that window is counted too: it is as lost.)
            match failed().saturating_sub(before) {
                0 => Ok(()),
                n => Err(self.flush_failed(n)),
            }
        }
        #[cfg(not(all(feature = "native", not(target_arch = "wasm32"))))]
        {
            let _ = timeout;
            Ok(())
        }
    }

    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    #[cold]
    fn flush_failed(&self, spans: u64) -> crate::Error {
        let why = self
            .shared
            .counters
            .last_loss()
            .map(|e| format!(" (the last error, {}: {})", e.kind, e.message))
            .unwrap_or_default();
        crate::Error::Export(format!(
            "{spans} span{} could not be exported while flushing{why}; health counts them in \
             spans_export_failed",
            if spans == 1 { "" } else { "s" }
        ))
    }

    /// Exports what is queued within `timeout`, then stops the worker and the exporter.
    pub(crate) fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        {
            let mut st = self.lock();
            st.stop = true;
        }
        self.shared.wake.notify_all();
        #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
        {
            let handle = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(h) = handle {
                if h.done.recv_timeout(timeout).is_ok() {
                    let _ = h.thread.join();
                    return ShutdownReport::default();
                }
                // Gave up: every span not exported yet, queued or being exported, is counted
                // as failed now (health is final when shutdown returns, and the process may
                // exit); the worker discards the rest, and the outcome of an export still in
                // progress is not counted again.
                let unsent = {
                    let mut st = self.shared.lock();
                    st.abandon = true;
                    let n = (st.spans.len() + st.in_flight) as u64;
                    st.spans.clear();
                    st.in_flight = 0;
                    n
                };
                if unsent > 0 {
                    self.shared.counters.export_failed(
                        unsent,
                        "shutdown_timeout",
                        &format!(
                            "{unsent} spans not exported when shutdown timed out after {} ms",
                            timeout.as_millis()
                        ),
                    );
                }
                self.shared.wake.notify_all();
                return ShutdownReport {
                    unsent,
                    timed_out: true,
                };
            }
            ShutdownReport::default()
        }
        #[cfg(not(all(feature = "native", not(target_arch = "wasm32"))))]
        {
            let _ = timeout;
            let unsent = {
                let mut st = self.shared.lock();
                let n = st.spans.len();
                st.spans.clear();
                n
            };
            if unsent > 0 {
                self.shared.counters.export_failed(
                    unsent as u64,
                    "shutdown",
                    "spans still queued at shutdown",
                );
            }
            ShutdownReport {
                unsent: unsent as u64,
                timed_out: false,
            }
        }
    }
}

impl Drop for BatchProcessor {
    /// The last handle is gone (e.g. `init` replaced this pipeline): let the export thread send
    /// what is queued and exit, instead of leaving it waiting forever.
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
    }
}

#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
mod worker {
    use std::collections::VecDeque;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::{Shared, Spawn};
    use crate::error::{Error, Result};
    use crate::export::{Export, Outcome};

    #[derive(Debug)]
    pub(super) struct Handle {
        pub(super) thread: JoinHandle<()>,
        pub(super) done: mpsc::Receiver<()>,
    }

    pub(super) fn spawn(shared: Arc<Shared>, how: &Spawn) -> Result<Handle> {
        let (factory, delay, export_timeout) = (how.factory.clone(), how.delay, how.export_timeout);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (done_tx, done_rx) = mpsc::channel();
        let builder = std::thread::Builder::new().name("crosstrace-export".into());
        let thread = crate::platform::spawn_with_signals_blocked(|| {
            builder.spawn(move || {
                crate::platform::block_signals();
                crate::export::mark_export_thread();
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::ExporterSetup {
                            backend: "runtime".into(),
                            message: format!("cannot start the export runtime: {e}"),
                        }));
                        return;
                    }
                };
                let exporter = {
                    let _enter = rt.enter();
                    factory()
                };
                let exporter = match exporter {
                    Ok(e) => {
                        let _ = ready_tx.send(Ok(()));
                        e
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                run(&shared, &*exporter, &rt, delay, export_timeout);
                let _ = exporter.shutdown_exporter();
                let _ = done_tx.send(());
            })
        })
        .map_err(|e| Error::ExporterSetup {
            backend: "thread".into(),
            message: format!("cannot start the export thread: {e}"),
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Handle {
                thread,
                done: done_rx,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::ExporterSetup {
                    backend: "thread".into(),
                    message: "the export thread ended while building the exporter".into(),
                })
            }
        }
    }

    fn run(
        shared: &Shared,
        exporter: &dyn Export,
        rt: &tokio::runtime::Runtime,
        delay: Duration,
        export_timeout: Duration,
    ) {
        let mut deadline = Instant::now() + delay;
        // The queue is taken whole by swapping it with this (empty, already allocated) one, so
        // the lock that `push` needs is held for O(1), not for copying a batch out.
        let mut taken: VecDeque<crate::record::SpanRecord> =
            VecDeque::with_capacity(shared.batch_size.min(4096));
        loop {
            let (waiters, stop) = {
                let mut st = shared.lock();
                loop {
                    let now = Instant::now();
                    if st.stop
                        || !st.flush_waiters.is_empty()
                        || st.spans.len() >= shared.batch_size
                        || now >= deadline
                    {
                        break;
                    }
                    st = shared
                        .wake
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                if st.abandon {
                    let n = st.spans.len();
                    st.spans.clear();
                    // A flush still waiting is answered now (its channel closes: the tracing
                    // was shut down), not left to its timeout.
                    st.flush_waiters.clear();
                    drop(st);
                    if n > 0 {
                        shared.counters.export_failed(
                            n as u64,
                            "shutdown_timeout",
                            "spans still queued when shutdown timed out",
                        );
                    }
                    return;
                }
                std::mem::swap(&mut st.spans, &mut taken);
                st.in_flight += taken.len();
                (std::mem::take(&mut st.flush_waiters), st.stop)
            };
            if taken.len() < shared.batch_size {
                deadline = Instant::now() + delay;
            }
            while !taken.is_empty() {
                let n = taken.len().min(shared.batch_size);
                let batch: crate::record::Batch = taken.drain(..n).collect();
                // Exporters bound themselves by the export timeout; this is the safety net.
                let limit = export_timeout + Duration::from_secs(1);
                // An exporter that panics (one of the user's, through `with_export`) fails its
                // batch; the thread goes on exporting, and the spans are counted.
                let exported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    rt.block_on(async {
                        tokio::time::timeout(limit, exporter.export_batch(batch)).await
                    })
                }));
                let outcome = match exported {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Outcome::failed(
                        n as u64,
                        "timeout",
                        format!("export took longer than {} ms", limit.as_millis()),
                    ),
                    Err(panic) => Outcome::failed(
                        n as u64,
                        "exporter_panic",
                        format!(
                            "the exporter panicked: {}",
                            crate::diag::panic_message(&*panic)
                        ),
                    ),
                };
                shared.finish(n, outcome);
                if shared.lock().abandon && !taken.is_empty() {
                    let rest = taken.len();
                    taken.clear();
                    shared.finish(
                        rest,
                        Outcome::failed(
                            rest as u64,
                            "shutdown_timeout",
                            "spans still queued when shutdown timed out",
                        ),
                    );
                }
            }
            let stop = stop && shared.lock().spans.is_empty();
            for w in waiters {
                let _ = w.send(());
            }
            if stop {
                return;
            }
        }
    }
}
