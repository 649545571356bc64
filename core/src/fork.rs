//! Fork safety (Unix): what a process that forks, and its child, need from crosstrace.
//!
//! `fork()` copies the calling thread and the memory of every thread, in whatever state it
//! was. Three `pthread_atfork` handlers (installed once, when the first random id is drawn or
//! the first pipeline built) make the copy sound:
//! - **prepare** (in the parent, just before): the forking thread takes every crosstrace lock
//!   another thread could be holding — the process-wide instance, the intern set, the metrics
//!   registry, the scope registry, the resource's process facts, and each live pipeline's queue, export-thread slot, counters and metrics table
//!   — so the parent's export thread and span ends pause and nothing is half-written when the
//!   memory is copied;
//! - **parent** (just after, in the parent): lets them go, and the parent carries on;
//! - **child** (just after, in the child): moves the fork epoch on (every thread's id
//!   generator reseeds from the OS at its next draw: no id repeats across processes), marks
//!   each queue as the parent's and sets each pipeline's counters to zero, then lets the locks
//!   go. Nothing is flushed or exported from the handler, and no thread is started there: the
//!   first use of a queue in the child lets the parent's spans go (the parent sends them) and
//!   starts the child's own export thread with a new exporter.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, Weak};

use crate::pipeline::{Pipeline, PipelineHold};

/// Moved on in every forked child.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Every pipeline built (dead ones pruned when one is added).
static PIPELINES: Mutex<Vec<Weak<Pipeline>>> = Mutex::new(Vec::new());

/// How many forks this process has come out of as the child (0 in the first process).
#[inline]
pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// Installs the handlers, once per process (a child inherits them).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handlers are `extern "C"` functions that catch every panic.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            crate::diag::log(
                crate::diag::LogLevel::Warn,
                "cannot install the fork handlers: a forked child may repeat its parent's ids",
            );
        }
    });
}

/// Adds a pipeline to those the handlers hold across a fork.
pub(crate) fn register(p: &Arc<Pipeline>) {
    install();
    let mut all = lock(&PIPELINES);
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(p));
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the forking thread holds from `prepare` until `parent` or `child`. Fields drop in
/// order: each pipeline's locks before the pipeline they borrow from, the statics last.
struct Held {
    pipelines: Vec<PipelineHold<'static>>,
    _kept: Vec<Arc<Pipeline>>,
    _registry: MutexGuard<'static, Vec<Weak<Pipeline>>>,
    _statics: Vec<Box<dyn std::any::Any>>,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

extern "C" fn prepare() {
    let _ = catch_unwind(|| {
        // The same order as everywhere else: the instance (whose replacement drops a pipeline)
        // before a pipeline's locks; the others are never held with another.
        let mut statics: Vec<Box<dyn std::any::Any>> = vec![
            Box::new(crate::global::hold_for_fork()),
            Box::new(crate::intern::hold_for_fork()),
            Box::new(crate::metrics::hold_registry_for_fork()),
            Box::new(crate::scope::hold_for_fork()),
        ];
        statics.extend(crate::resource::hold_for_fork());
        let registry = lock(&PIPELINES);
        let kept: Vec<Arc<Pipeline>> = registry.iter().filter_map(Weak::upgrade).collect();
        let pipelines = kept
            .iter()
            .map(|p| {
                // SAFETY: `Held` keeps `kept` (so every pipeline) alive until after it drops
                // `pipelines` (its first field): the guards never outlive what they lock.
                unsafe {
                    std::mem::transmute::<PipelineHold<'_>, PipelineHold<'static>>(
                        p.hold_for_fork(),
                    )
                }
            })
            .collect();
        let held = Held {
            pipelines,
            _kept: kept,
            _registry: registry,
            _statics: statics,
        };
        let _ = HELD.try_with(|h| *h.borrow_mut() = Some(held));
    });
}

fn take_held() -> Option<Held> {
    HELD.try_with(|h| h.borrow_mut().take()).ok().flatten()
}

extern "C" fn parent() {
    let _ = catch_unwind(|| drop(take_held()));
}

extern "C" fn child() {
    EPOCH.fetch_add(1, Ordering::Relaxed);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Some(mut held) = take_held() {
            for p in &mut held.pipelines {
                p.in_child();
            }
        }
    }));
}
