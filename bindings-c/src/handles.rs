//! Opaque handles and the thread's context stack.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crosstrace::{ContextGuard, SpanContext};

use crate::ffi::{FfiError, Reclaim};

const LIVE: u64 = 0x6374_7370_616e_4c56; // "ctspanLV"
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
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct ct_span {
    magic: AtomicU64,
    /// Immutable after start: the ids, readable without locking.
    span_context: SpanContext,
    state: Mutex<SpanState>,
}

impl Reclaim for *mut ct_span {
    unsafe fn reclaim(self) {
        crate::ct_span_free(self);
    }
}

impl ct_span {
    /// The context children inherit (this span as parent, its baggage and correlation).
    pub(crate) fn context(&self) -> crosstrace::Context {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .span
            .context()
    }

    pub(crate) fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    /// Runs `f` on a span that has not ended.
    pub(crate) fn with(&self, f: impl FnOnce(&mut crosstrace::Span)) -> Result<(), FfiError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.ended {
            return Err(FfiError::SpanEnded);
        }
        f(&mut st.span);
        Ok(())
    }

    /// Ends the span, now or at `at`.
    pub(crate) fn end(&self, at: Option<std::time::SystemTime>) -> Result<(), FfiError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
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
        state: Mutex::new(SpanState { span, ended: false }),
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
    if s.magic.load(Ordering::Acquire) != LIVE {
        return Err(FfiError::InvalidHandle("span"));
    }
    Ok(s)
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
    if s.magic
        .compare_exchange(LIVE, DEAD, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(FfiError::InvalidHandle("span"));
    }
    {
        let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
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
