//! Opaque handles and the thread's context stack.

use std::cell::{RefCell, UnsafeCell};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use crosstrace::{ContextGuard, SpanContext};

use crate::ffi::{FfiError, Reclaim};

const LIVE: u64 = 0x6374_7370_616e_4c56; // "ctspanLV"
/// Live, and a call is using it (see [`ct_span::lock`]).
const BUSY: u64 = 0x6374_7370_616e_4255; // "ctspanBU"
const DEAD: u64 = 0x6374_7370_616e_4444; // "ctspanDD"
/// Freed span handles kept allocated (per thread) so that a use after free is reported instead
/// of reading freed memory; after that many later frees a handle is reused for a new span.
const QUARANTINE: usize = 1024;

/// Configuration: settings by environment variable name.
#[derive(Debug, Default)]
#[allow(non_camel_case_types)]
pub struct ct_config {
    pub(crate) vars: BTreeMap<String, String>,
}

/// A context extracted from headers (or built), to start spans under or inject.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct ct_context(pub(crate) crosstrace::Context);

impl Reclaim for *mut ct_context {
    unsafe fn reclaim(self) {
        crate::ct_context_free(self);
    }
}

#[derive(Debug)]
struct SpanState {
    span: crosstrace::Span,
    ended: bool,
}

/// A span handle. Thread-safe: calls on one span from several threads are serialised.
#[allow(non_camel_case_types)]
pub struct ct_span {
    /// [`LIVE`], [`BUSY`] or [`DEAD`]: the handle's validity and its lock in one word, so a
    /// call costs one compare-and-swap and a plain store (a mutex, on top of the validity check,
    /// cost three atomic read-modify-writes).
    magic: AtomicU64,
    /// Immutable after start: the ids, readable without locking.
    span_context: SpanContext,
    /// Only touched while `magic` is [`BUSY`] by this call, or [`DEAD`] by the freeing one.
    state: UnsafeCell<SpanState>,
}

// SAFETY: `state` is only reached through `lock` (which makes the caller the only one until its
// guard drops) or by `free_span` after it moved `magic` to `DEAD` (after which no lock succeeds).
unsafe impl Sync for ct_span {}

// What the mutex this replaced made the compiler check: the state moves between the threads that
// call in (and is dropped on whichever frees the handle), so it must be `Send`.
const _: () = {
    const fn send<T: Send>() {}
    send::<SpanState>();
};

impl std::fmt::Debug for ct_span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ct_span")
            .field("span_context", &self.span_context)
            .finish_non_exhaustive()
    }
}

/// A call's exclusive use of a span handle; released when dropped (also when unwinding from a
/// panic, which the boundary then reports).
struct Locked<'a>(&'a ct_span);

impl std::ops::Deref for Locked<'_> {
    type Target = SpanState;
    fn deref(&self) -> &SpanState {
        // SAFETY: `magic` is BUSY by this guard.
        unsafe { &*self.0.state.get() }
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut SpanState {
        // SAFETY: as above.
        unsafe { &mut *self.0.state.get() }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.0.magic.store(LIVE, Ordering::Release);
    }
}

impl Reclaim for *mut ct_span {
    unsafe fn reclaim(self) {
        crate::ct_span_free(self);
    }
}

impl ct_span {
    /// Moves `from` to `to` once no other call uses the handle; an error if it was freed.
    fn acquire(&self, from: u64, to: u64) -> Result<(), FfiError> {
        let mut spins = 0_u32;
        loop {
            match (self.magic).compare_exchange_weak(from, to, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                // Another thread's call on this span (rare, short): wait for it.
                Err(BUSY) => {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                Err(LIVE) => {} // a spurious failure of the weak exchange
                Err(_) => return Err(FfiError::InvalidHandle("span")),
            }
        }
    }

    fn lock(&self) -> Result<Locked<'_>, FfiError> {
        self.acquire(LIVE, BUSY)?;
        Ok(Locked(self))
    }

    /// The context children inherit (this span as parent, its baggage and correlation).
    pub(crate) fn context(&self) -> Result<crosstrace::Context, FfiError> {
        Ok(self.lock()?.span.context())
    }

    pub(crate) fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    /// Runs `f` on a span that has not ended.
    pub(crate) fn with(&self, f: impl FnOnce(&mut crosstrace::Span)) -> Result<(), FfiError> {
        let mut st = self.lock()?;
        if st.ended {
            return Err(FfiError::SpanEnded);
        }
        f(&mut st.span);
        Ok(())
    }

    /// Ends the span, now or at `at`.
    pub(crate) fn end(&self, at: Option<std::time::SystemTime>) -> Result<(), FfiError> {
        let mut st = self.lock()?;
        if st.ended {
            return Err(FfiError::SpanEnded);
        }
        st.ended = true;
        match at {
            Some(t) => st.span.end_at(t),
            None => st.span.end(),
        }
        Ok(())
    }
}

pub(crate) fn new_span(span: crosstrace::Span) -> *mut ct_span {
    let handle = ct_span {
        magic: AtomicU64::new(LIVE),
        span_context: span.span_context().clone(),
        state: UnsafeCell::new(SpanState { span, ended: false }),
    };
    // A handle that has served its time in quarantine is reused: no allocation, no free.
    let reused = FREED
        .try_with(|q| {
            let mut q = q.borrow_mut();
            if q.len() > QUARANTINE {
                q.pop_front()
            } else {
                None
            }
        })
        .ok()
        .flatten();
    match reused {
        Some(mut b) => {
            *b = handle;
            Box::into_raw(b)
        }
        None => Box::into_raw(Box::new(handle)),
    }
}

/// # Safety
/// `p` NULL or a pointer this library returned (possibly freed but still quarantined).
pub(crate) unsafe fn span_ref<'a>(p: *const ct_span) -> Result<&'a ct_span, FfiError> {
    let s = p.as_ref().ok_or(FfiError::Null("span"))?;
    match s.magic.load(Ordering::Relaxed) {
        LIVE | BUSY => Ok(s),
        _ => Err(FfiError::InvalidHandle("span")),
    }
}

thread_local! {
    static FREED: RefCell<VecDeque<Box<ct_span>>> = const { RefCell::new(VecDeque::new()) };
    static STACK: RefCell<Vec<ContextGuard>> = const { RefCell::new(Vec::new()) };
}

/// # Safety
/// `p` NULL or a pointer this library returned.
pub(crate) unsafe fn free_span(p: *mut ct_span) -> Result<(), FfiError> {
    if p.is_null() {
        return Ok(());
    }
    let s = span_ref(p)?;
    s.acquire(LIVE, DEAD)?;
    {
        // SAFETY: DEAD by this call: no other call reaches the state any more.
        let st = unsafe { &mut *s.state.get() };
        if !st.ended {
            st.ended = true;
            st.span.end();
        }
    }
    let boxed = Box::from_raw(p);
    // Quarantined until `QUARANTINE` later frees on this thread; then `new_span` reuses it
    // (or, on a thread that frees more than it starts, it is released here).
    let evicted = FREED.try_with(|q| {
        let mut q = q.borrow_mut();
        q.push_back(boxed);
        if q.len() > 2 * QUARANTINE {
            q.pop_front()
        } else {
            None
        }
    });
    drop(evicted);
    Ok(())
}

pub(crate) fn push_context(cx: crosstrace::Context) {
    let g = cx.attach();
    STACK.with(|s| s.borrow_mut().push(g));
}

pub(crate) fn pop_context() -> Result<(), FfiError> {
    let g = STACK.with(|s| s.borrow_mut().pop());
    match g {
        Some(g) => {
            drop(g);
            Ok(())
        }
        None => Err(crate::ffi::invalid(
            "context stack",
            "empty",
            "a ct_span_enter or ct_correlation_begin to undo",
        )),
    }
}

pub(crate) fn replace_top_context(cx: crosstrace::Context) -> Result<(), FfiError> {
    pop_context()?;
    push_context(cx);
    Ok(())
}
