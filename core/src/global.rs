//! The process-wide instance: [`init`] installs it, [`global`] and [`with_global`] find it,
//! [`GlobalCopy`] keeps a thread's copy of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::config::TracingConfig;
use crate::error::Result;
use crate::platform::fork::Rank;
use crate::tracing::Tracing;

static GLOBAL: RwLock<Option<Tracing>> = RwLock::new(None);
/// Bumped by every [`init`]: how a thread's cached instance knows it is stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// One thread's copy of the process-wide instance ([`global`]) and the [`init`] generation it
/// is of: refreshed when `init` installs another, so a binding that starts a span per call
/// finds the instance without the lock and the reference count of [`global`]. Keep it in a
/// thread-local ([`with_global`] has its own; a binding may keep one beside other per-thread
/// state, to read one thread-local per call). The instance it holds stays alive until the
/// thread calls again after an `init`, or exits.
#[derive(Debug, Default)]
pub struct GlobalCopy(std::cell::RefCell<Option<(u64, Tracing)>>);

impl GlobalCopy {
    /// An empty copy (filled on first use).
    pub const fn new() -> GlobalCopy {
        GlobalCopy(std::cell::RefCell::new(None))
    }

    /// Runs `f` with the instance, refreshed first if [`init`] installed another since. (A
    /// call from inside `f` on the same copy, when stale, runs with a fresh clone it does not
    /// keep.)
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&Tracing) -> R) -> R {
        let generation = GENERATION.load(Ordering::Acquire);
        if let Ok(c) = self.0.try_borrow() {
            if let Some((g, t)) = &*c {
                if *g == generation {
                    return f(t);
                }
            }
        }
        // Read after `generation`: at worst a newer instance under an older number, replaced
        // again on the next call.
        let t = global();
        // The replaced copy is dropped after `f` (dropping the last clone of an instance
        // flushes it).
        let old = self
            .0
            .try_borrow_mut()
            .ok()
            .map(|mut c| c.replace((generation, t.clone())));
        let r = f(&t);
        drop(old);
        r
    }

    /// Lets go of the instance held (unless the copy is in use further up the stack).
    pub fn clear(&self) {
        let old = self.0.try_borrow_mut().ok().and_then(|mut c| c.take());
        drop(old);
    }
}

thread_local! {
    /// This thread's copy of the process-wide instance, for [`with_global`].
    static CACHED: GlobalCopy = const { GlobalCopy::new() };
}

/// Builds tracing from `config` and installs it as the process-wide instance used by
/// [`global`] and the bindings. Replaces (without shutting down) any previous one.
pub fn init(config: TracingConfig) -> Result<Tracing> {
    let t = Tracing::new(config)?;
    fork_safe();
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    *g = Some(t.clone());
    GENERATION.fetch_add(1, Ordering::Release);
    Ok(t)
}

/// The number [`init`] bumps each time it installs an instance: a binding that keeps its own
/// per-thread copy of [`global`] (beside other per-thread state) checks it against this. Read
/// it before [`global`]: at worst a newer instance is kept under an older number, and replaced
/// again.
pub fn global_generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Runs `f` with the process-wide instance (a disabled one before [`init`]), without the
/// lock and the reference counting of [`global`]: through this thread's [`GlobalCopy`]. For
/// bindings, which find the instance on every span.
pub fn with_global<R>(f: impl FnOnce(&Tracing) -> R) -> R {
    match CACHED.try_with(|c| c as *const GlobalCopy) {
        // SAFETY: this thread's copy, which lives until the thread's thread-locals are torn
        // down; that does not start during this call. (A pointer rather than a closure for
        // `try_with`: `f` need not be kept aside for the case below.)
        Ok(c) => unsafe { &*c }.with(f),
        // The thread's thread-locals are torn down: the instance by its lock.
        Err(_) => f(&global()),
    }
}

/// Registers the instance's lock with the fork handlers before its first use (see
/// [`crate::platform::fork`]): a thread that was reading it when the process forked would leave
/// it locked in the child, where `init` then waits forever. First of the locks held.
fn fork_safe() {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::platform::fork::register_static(&REGISTERED, Rank::Global, || {
        Box::new(GLOBAL.write().unwrap_or_else(|e| e.into_inner()))
    });
}

/// The process-wide instance, or a disabled one before [`init`].
pub fn global() -> Tracing {
    fork_safe();
    GLOBAL
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(Tracing::disabled)
}
