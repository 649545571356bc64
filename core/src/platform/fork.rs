//! Fork safety: the fork epoch and the `pthread_atfork` handlers (Unix; elsewhere the epoch is
//! always 0 and registering does nothing).
//!
//! `fork()` copies the calling thread and the memory of every thread, in whatever state it
//! was. Three handlers, installed once (when the first random id is drawn or the first lock is
//! registered), make the copy sound:
//! - **prepare** (in the parent, just before): the forking thread takes every registered lock
//!   another thread could be holding — the process-wide locks that modules register before
//!   their first use ([`register_static`], in [`Rank`] order: the instance, the intern set, the metrics registry,
//!   the scope registry, the resource's process facts), then each live registered object's (a
//!   pipeline's queue, export-thread slot, counters and metrics table: [`register`]) — so the
//!   parent's export thread and span ends pause and nothing is half-written when the memory is
//!   copied;
//! - **parent** (just after, in the parent): lets them go, and the parent carries on;
//! - **child** (just after, in the child): moves the fork epoch on (every thread's id
//!   generator reseeds from the OS at its next draw: no id repeats across processes), lets
//!   each held object prepare the child ([`Held::in_child`]: a queue marked as the parent's,
//!   counters set to zero), then lets the locks go. Nothing is flushed or exported from the
//!   handler, and no thread is started there: the first use of a queue in the child lets the
//!   parent's spans go (the parent sends them) and starts the child's own export thread with a
//!   new exporter.
//!
//! This module knows none of the modules it serves: they register with it, so it sits at the
//! bottom of the module graph with the id generator that needs its epoch.

/// How many forks this process has come out of as the child (0 in the first process, and
/// where processes cannot fork).
#[inline]
pub(crate) fn epoch() -> u64 {
    #[cfg(unix)]
    {
        imp::EPOCH.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(unix))]
    {
        0
    }
}

use std::sync::atomic::{AtomicBool, Ordering};

/// The process-wide locks the handlers hold, in the order they take them (the order they are
/// taken in everywhere else: the instance, whose replacement drops a pipeline, first; the
/// others are never held with another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// The process-wide instance (`global.rs`).
    Global,
    /// The process-wide intern set (`intern.rs`).
    Intern,
    /// The span metrics' registry (`metrics/local.rs`).
    MetricsRegistry,
    /// The instrumentation scopes (`scope.rs`).
    Scopes,
    /// The runtime's `telemetry.sdk.language` (`resource.rs`).
    Language,
    /// The host name (`resource.rs`).
    HostName,
    /// The process's `service.instance.id` (`resource.rs`).
    Instance,
}

/// Registers a process-wide lock to hold across a fork, the first time `registered` is false:
/// `hold` takes the lock and returns its guard. Call it before every taking of the lock (after
/// the first, one load). A flag, not a `Once`: a thread forked from inside a `Once` leaves it
/// running forever in the child. Two threads racing to register the same rank register it
/// once.
#[inline]
pub(crate) fn register_static(
    registered: &AtomicBool,
    rank: Rank,
    hold: fn() -> Box<dyn std::any::Any>,
) {
    if !registered.load(Ordering::Acquire) {
        #[cfg(unix)]
        imp::register_static(rank, hold);
        #[cfg(not(unix))]
        let _ = (rank, hold);
        registered.store(true, Ordering::Release);
    }
}

#[cfg(unix)]
pub(crate) use imp::{install, register, Held, Participant};

#[cfg(unix)]
mod imp {
    use std::any::Any;
    use std::cell::RefCell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, Once, Weak};

    /// Moved on in every forked child.
    pub(super) static EPOCH: AtomicU64 = AtomicU64::new(0);

    /// What an object holds across a fork (its locks' guards).
    pub(crate) trait Held {
        /// In the child, before the locks are let go.
        fn in_child(&mut self);
    }

    /// An object whose locks are held across a fork (a pipeline).
    pub(crate) trait Participant: Send + Sync {
        /// Takes the object's locks.
        fn hold_for_fork(&self) -> Box<dyn Held + '_>;
    }

    use super::Rank;

    type HoldStatic = fn() -> Box<dyn Any>;

    /// The registered process-wide locks, by rank.
    static STATICS: Mutex<Vec<(Rank, HoldStatic)>> = Mutex::new(Vec::new());

    /// Every object registered (dead ones pruned when one is added).
    static OBJECTS: Mutex<Vec<Weak<dyn Participant>>> = Mutex::new(Vec::new());

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

    pub(super) fn register_static(rank: Rank, hold: HoldStatic) {
        install();
        let mut all = lock(&STATICS);
        if !all.iter().any(|(r, _)| *r == rank) {
            all.push((rank, hold));
            crate::sort::sort_by_key(&mut all, |(r, _)| *r);
        }
    }

    /// Adds an object to those the handlers hold across a fork, for as long as it lives.
    pub(crate) fn register(p: Weak<dyn Participant>) {
        install();
        let mut all = lock(&OBJECTS);
        all.retain(|w| w.strong_count() > 0);
        all.push(p);
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the forking thread holds from `prepare` until `parent` or `child`. Fields drop in
    /// order: each object's locks before the object they borrow from, the statics' locks, then
    /// the list of statics (held so that no lock is registered, and so taken unheld, during
    /// the fork, and no registering thread leaves the list locked in the child).
    struct Holding {
        objects: Vec<Box<dyn Held>>,
        _kept: Vec<Arc<dyn Participant>>,
        _registry: MutexGuard<'static, Vec<Weak<dyn Participant>>>,
        _statics: Vec<Box<dyn Any>>,
        _static_list: MutexGuard<'static, Vec<(Rank, HoldStatic)>>,
    }

    thread_local! {
        static HOLDING: RefCell<Option<Holding>> = const { RefCell::new(None) };
    }

    extern "C" fn prepare() {
        let _ = catch_unwind(|| {
            // The list stays locked until after the fork. (No code registers a lock while
            // holding a registered one, so this waits for no thread that waits for it.)
            let static_list = lock(&STATICS);
            let statics: Vec<Box<dyn Any>> = static_list.iter().map(|(_, hold)| hold()).collect();
            let registry = lock(&OBJECTS);
            let kept: Vec<Arc<dyn Participant>> =
                registry.iter().filter_map(Weak::upgrade).collect();
            let objects = kept
                .iter()
                .map(|p| {
                    // SAFETY: `Holding` keeps `kept` (so every object) alive until after it
                    // drops `objects` (its first field): the guards never outlive what they
                    // lock.
                    unsafe {
                        std::mem::transmute::<Box<dyn Held + '_>, Box<dyn Held + 'static>>(
                            p.hold_for_fork(),
                        )
                    }
                })
                .collect();
            let holding = Holding {
                objects,
                _kept: kept,
                _registry: registry,
                _statics: statics,
                _static_list: static_list,
            };
            let _ = HOLDING.try_with(|h| *h.borrow_mut() = Some(holding));
        });
    }

    fn take_holding() -> Option<Holding> {
        HOLDING.try_with(|h| h.borrow_mut().take()).ok().flatten()
    }

    extern "C" fn parent() {
        let _ = catch_unwind(|| drop(take_holding()));
    }

    extern "C" fn child() {
        EPOCH.fetch_add(1, Ordering::Relaxed);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if let Some(mut holding) = take_holding() {
                for o in &mut holding.objects {
                    o.in_child();
                }
            }
        }));
    }
}
