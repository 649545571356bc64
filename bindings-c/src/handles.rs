//! Opaque handles and the thread's context stack.

use std::cell::{RefCell, UnsafeCell};
use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crosstrace::binding::GlobalCopy;
use crosstrace::{ContextGuard, Correlation, SpanContext, Tracing};

use crate::ffi::{FfiError, Reclaim};

/// Configuration: settings by environment variable name. Not synchronised: one thread at a time
/// sets a given config (configs of different threads are independent).
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
        // SAFETY: a context this library boxed and did not hand out (the trait's contract):
        // freed once, here.
        unsafe { crate::context::ct_context_free(self) };
    }
}

/// A span handle. Thread-safe: calls on one span from several threads are serialised.
///
/// Not a pointer: a number (a slot of the library's span table and that slot's generation),
/// never dereferenced, so a freed or stale handle is refused (on 32-bit targets, unless its
/// slot has since been reused exactly 65,535 times), and so is any other value unless it
/// happens to equal a live handle. It may use all the bits of a pointer: keep it as it is (a
/// host whose garbage collector scans pointers, Go with cgo say, should hold it as uintptr_t),
/// never tag it.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ct_span {
    _opaque: [u8; 0],
}

// What the mutex a slot's lock word replaced made the compiler check: the state moves between
// the threads that call in (and is dropped on whichever frees the handle), so it must be `Send`.
const _: () = {
    const fn send<T: Send>() {}
    send::<crosstrace::Span>();
};

// A handle is `generation << INDEX_BITS | index`. A slot's generation moves on each time its
// span is freed, so a handle of a freed span names an old generation: detected on every later
// call. Generations start at 1, so no handle is
// NULL. On 64-bit targets a slot whose generation would wrap (after 2^40 - 1 spans in that
// one slot) is retired instead of reused, so no old handle ever validates again. On 32-bit
// targets generations wrap after 2^16 - 1 (retiring would use the slots up): a handle freed
// exactly that many reuses of its slot ago would validate. On 64-bit targets handles use all
// the bits of a pointer: they are not pointers, and must not be tagged or NaN-boxed. At most
// 2^24 spans live at once (2^16 on 32-bit targets; 2^12 under miri, whose aliasing checks
// visit every chunk pointer of the slab each time a reference to it is made: 2^14 of them made
// its test of the slab take a minute).
const INDEX_BITS: u32 = if cfg!(miri) {
    12
} else if usize::BITS >= 64 {
    24
} else {
    16
};
const GENERATION_BITS: u32 = if usize::BITS >= 64 { 40 } else { 16 };
const RETIRE_AT_WRAP: bool = usize::BITS >= 64;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: u64 = (1 << GENERATION_BITS) - 1;
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = 1 << (INDEX_BITS - CHUNK_BITS);

// A slot's word: its generation and one of these, so that validity and the lock are one
// compare-and-swap (a mutex on top of a validity check cost three atomic read-modify-writes).
const FREE: u64 = 0;
const LIVE: u64 = 1;
/// Live, and a call is using it (see [`SpanRef::lock`]).
const BUSY: u64 = 2;

fn word(generation: u64, status: u64) -> u64 {
    generation << 2 | status
}

struct Slot {
    word: AtomicU64,
    /// The span while the slot is LIVE or BUSY; nothing while it is FREE. This and `ended` are
    /// touched only by the call that moved `word` to BUSY, or by the owner of a FREE slot (the
    /// thread that took it from a free list, or that is freeing it).
    span: UnsafeCell<MaybeUninit<crosstrace::Span>>,
    /// Whether the span has ended.
    ended: UnsafeCell<bool>,
}

/// The span slab: chunks of slots, allocated as the number of live spans grows and kept. A
/// freed slot goes to its thread's free list and is reused first, while it is still in the
/// cache.
struct Slab {
    chunks: [AtomicPtr<Slot>; CHUNKS],
    /// Slots ever handed out; those below it are in a chunk.
    next: AtomicUsize,
    chunk_lock: Mutex<()>,
    /// Free slots of threads that freed more than they started, or exited.
    free: Mutex<Vec<usize>>,
}

// SAFETY: a slot's span is reached only as described on `Slot::span`.
unsafe impl Sync for Slot {}

static SLAB: Slab = Slab {
    chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS],
    next: AtomicUsize::new(0),
    chunk_lock: Mutex::new(()),
    free: Mutex::new(Vec::new()),
};

/// What a thread keeps for starting and freeing spans: one thread-local, read once per start.
struct Local {
    /// Free slots (most recently freed last, reused first).
    free: RefCell<Vec<usize>>,
    /// The thread's copy of the process-wide instance (`crosstrace::binding::with_global` keeps one
    /// too; this one sits beside the free slots: one thread-local per start instead of two,
    /// and the new span is written into its slot without moving through `with_global`'s
    /// result).
    tracing: GlobalCopy,
}

impl Drop for Local {
    fn drop(&mut self) {
        let mut free = SLAB.free.lock().unwrap_or_else(|e| e.into_inner());
        free.append(self.free.get_mut());
    }
}

/// Free slots a thread keeps; past this, half go to the shared list. (Small under miri, so
/// that its short test of the slab moves slots through the shared list too.)
const LOCAL_FREE_MAX: usize = if cfg!(miri) { 8 } else { 256 };

thread_local! {
    static LOCAL: Local = const {
        Local {
            free: RefCell::new(Vec::new()),
            tracing: GlobalCopy::new(),
        }
    };
    /// The thread's context stack (`ct_span_enter`, `ct_correlation_begin`); the context of
    /// its top entry is the thread's current one.
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// An entry of the thread's context stack.
struct Entry {
    /// Restores the context of the entry below when dropped.
    guard: ContextGuard,
    /// Pushed by `ct_correlation_begin` (it opened a correlation), not `ct_span_enter`.
    opens_correlation: bool,
}

impl Slab {
    fn slot(&self, index: usize) -> Option<&Slot> {
        let chunk = self.chunks[index >> CHUNK_BITS].load(Ordering::Acquire);
        // SAFETY: a chunk, once published, holds CHUNK slots and is never freed.
        (!chunk.is_null()).then(|| unsafe { &*chunk.add(index & (CHUNK - 1)) })
    }

    /// A FREE slot the caller now owns, from `local` (the calling thread's, `None` while it
    /// exits) or else the shared list or a new one.
    #[inline(always)]
    fn take(&self, local: Option<&Local>) -> Result<usize, FfiError> {
        match local.and_then(|l| l.free.borrow_mut().pop()) {
            Some(i) => Ok(i),
            None => self.take_shared(local),
        }
    }

    /// [`Slab::take`] when the thread has no free slot of its own.
    #[inline(never)]
    fn take_shared(&self, local: Option<&Local>) -> Result<usize, FfiError> {
        let shared = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            let i = free.pop();
            // Take a few more for this thread while the lock is held (none on a thread that is
            // exiting: they stay in the shared list).
            let keep = free.len().saturating_sub(LOCAL_FREE_MAX / 4);
            if let Some(l) = local {
                l.free.borrow_mut().extend(free.drain(keep..));
            }
            i
        };
        if let Some(i) = shared {
            return Ok(i);
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i > INDEX_MASK {
            self.next.fetch_sub(1, Ordering::Relaxed);
            return Err(crate::ffi::invalid(
                "span handles",
                &i.to_string(),
                "fewer live spans at once (span handles exhausted: free spans with ct_span_free)",
            ));
        }
        if self.chunks[i >> CHUNK_BITS]
            .load(Ordering::Acquire)
            .is_null()
        {
            let _g = self.chunk_lock.lock().unwrap_or_else(|e| e.into_inner());
            let c = &self.chunks[i >> CHUNK_BITS];
            if c.load(Ordering::Acquire).is_null() {
                let slots: Box<[Slot]> = (0..CHUNK)
                    .map(|_| Slot {
                        word: AtomicU64::new(word(1, FREE)),
                        span: UnsafeCell::new(MaybeUninit::uninit()),
                        ended: UnsafeCell::new(false),
                    })
                    .collect();
                c.store(Box::leak(slots).as_mut_ptr(), Ordering::Release);
            }
        }
        Ok(i)
    }

    /// Returns a slot the caller moved to FREE.
    #[inline(always)]
    fn give_back(&self, index: usize) {
        let kept = LOCAL.try_with(|l| {
            let mut f = l.free.borrow_mut();
            (f.len() < LOCAL_FREE_MAX).then(|| f.push(index)).is_some()
        });
        if kept != Ok(true) {
            self.give_back_shared(index);
        }
    }

    /// [`Slab::give_back`] when the thread's list is full (half of it, with `index`, goes to
    /// the shared list) or gone (the thread is exiting: `index` goes there).
    #[inline(never)]
    fn give_back_shared(&self, index: usize) {
        let batch = LOCAL.try_with(|l| {
            let mut f = l.free.borrow_mut();
            f.push(index);
            f.drain(..LOCAL_FREE_MAX / 2).collect::<Vec<_>>()
        });
        let mut shared = self.free.lock().unwrap_or_else(|e| e.into_inner());
        match batch {
            Ok(batch) => shared.extend(batch),
            Err(_) => shared.push(index),
        }
    }
}

impl Reclaim for *mut ct_span {
    unsafe fn reclaim(self) {
        // SAFETY: a span handle this library made and did not hand out (the trait's contract).
        unsafe { crate::span::ct_span_free(self) };
    }
}

/// A handle checked to name a slot; [`SpanRef::lock`] checks that its span is still there.
pub(crate) struct SpanRef {
    slot: &'static Slot,
    generation: u64,
}

/// A call's exclusive use of a span; released when dropped (also when unwinding from a panic,
/// which the boundary then reports).
struct Locked<'a> {
    slot: &'a Slot,
    generation: u64,
}

impl Locked<'_> {
    fn span(&mut self) -> &mut crosstrace::Span {
        // SAFETY: the slot is BUSY by this guard, and a LIVE slot holds a span.
        unsafe { (*self.slot.span.get()).assume_init_mut() }
    }

    fn ended(&mut self) -> &mut bool {
        // SAFETY: BUSY by this guard.
        unsafe { &mut *self.slot.ended.get() }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.slot
            .word
            .store(word(self.generation, LIVE), Ordering::Release);
    }
}

impl SpanRef {
    /// Moves the slot from LIVE to `to` once no other call uses it; an error if the span was
    /// freed (the slot's generation moved on).
    #[inline(always)]
    fn acquire(&self, to: u64) -> Result<(), FfiError> {
        let live = word(self.generation, LIVE);
        match self
            .slot
            .word
            .compare_exchange(live, to, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(_) => self.acquire_contended(to),
        }
    }

    /// [`SpanRef::acquire`] after a first try failed: the span was freed, or another call
    /// uses it.
    #[inline(never)]
    fn acquire_contended(&self, to: u64) -> Result<(), FfiError> {
        let (live, busy) = (word(self.generation, LIVE), word(self.generation, BUSY));
        let mut spins = 0_u32;
        loop {
            match self.slot.word.compare_exchange_weak(
                live,
                to,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                // Another thread's call on this span (rare, short): wait for it.
                Err(w) if w == busy => {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                Err(w) if w == live => {} // a spurious failure of the weak exchange
                Err(_) => return Err(FfiError::InvalidHandle("span")),
            }
        }
    }

    #[inline(always)]
    fn lock(&self) -> Result<Locked<'static>, FfiError> {
        self.acquire(word(self.generation, BUSY))?;
        Ok(Locked {
            slot: self.slot,
            generation: self.generation,
        })
    }

    /// The context children inherit (this span as parent, its baggage and correlation).
    pub(crate) fn context(&self) -> Result<crosstrace::Context, FfiError> {
        Ok(self.lock()?.span().context())
    }

    /// The span's ids (also after it ended).
    pub(crate) fn span_context(&self) -> Result<SpanContext, FfiError> {
        Ok(self.lock()?.span().span_context().clone())
    }

    /// Runs `f` on a span that has not ended.
    #[inline(always)]
    pub(crate) fn with(&self, f: impl FnOnce(&mut crosstrace::Span)) -> Result<(), FfiError> {
        let mut st = self.lock()?;
        if *st.ended() {
            return Err(FfiError::SpanEnded);
        }
        f(st.span());
        Ok(())
    }

    /// Ends the span, now or at `at`.
    pub(crate) fn end(&self, at: Option<std::time::SystemTime>) -> Result<(), FfiError> {
        let mut st = self.lock()?;
        if std::mem::replace(st.ended(), true) {
            return Err(FfiError::SpanEnded);
        }
        match at {
            Some(t) => st.span().end_at(t),
            None => st.span().end(),
        }
        Ok(())
    }
}

/// Starts a span with `start` in the process-wide instance and returns a handle for it (an
/// error only past 2^24 live spans, 2^16 on 32-bit targets).
pub(crate) fn new_span(
    start: impl FnOnce(&Tracing) -> crosstrace::Span,
) -> Result<*mut ct_span, FfiError> {
    match LOCAL.try_with(|l| l as *const Local) {
        Ok(l) => {
            // SAFETY: this thread's `Local`, which lives until the thread's thread-locals are
            // torn down; that does not start during this call (a pointer rather than a
            // closure for `try_with`: `start` need not be kept aside for the case below).
            let l = unsafe { &*l };
            let span = l.tracing.with(start);
            place(SLAB.take(Some(l)), span)
        }
        // This thread's thread-locals are gone (a C library starting spans from a pthread-key
        // destructor): the instance by its lock, a slot from the shared list.
        Err(_) => {
            let span = start(&crosstrace::global());
            place(SLAB.take(None), span)
        }
    }
}

/// Puts `span` in the slot `index` names (the caller owns it: FREE) and returns its handle.
#[inline(always)]
fn place(index: Result<usize, FfiError>, span: crosstrace::Span) -> Result<*mut ct_span, FfiError> {
    let index = index?;
    let slot = SLAB.slot(index).expect("a taken slot is in a chunk");
    let generation = slot.word.load(Ordering::Relaxed) >> 2;
    // SAFETY: the slot is FREE and was taken by this call: nothing else reaches it, and it
    // holds no span (a freed slot's span is dropped before it goes to a free list).
    unsafe {
        (*slot.span.get()).write(span);
        *slot.ended.get() = false;
    }
    slot.word.store(word(generation, LIVE), Ordering::Release);
    Ok(((generation as usize) << INDEX_BITS | index) as *mut ct_span)
}

/// The context of an optional parent span: `None` for NULL (the thread's current span is the
/// parent), else the live span's context.
#[inline(always)]
pub(crate) fn parent_context(p: *const ct_span) -> Result<Option<crosstrace::Context>, FfiError> {
    if p.is_null() {
        return Ok(None);
    }
    span_context_of(p).map(Some)
}

fn span_context_of(p: *const ct_span) -> Result<crosstrace::Context, FfiError> {
    span_ref(p)?.context()
}

/// The slot a handle names; an error for NULL, or a value no slot ever had.
pub(crate) fn span_ref(p: *const ct_span) -> Result<SpanRef, FfiError> {
    if p.is_null() {
        return Err(FfiError::Null("span"));
    }
    let h = p as usize;
    let generation = (h >> INDEX_BITS) as u64;
    match SLAB.slot(h & INDEX_MASK) {
        Some(slot) if generation != 0 && generation <= GENERATION_MASK => {
            Ok(SpanRef { slot, generation })
        }
        _ => Err(FfiError::InvalidHandle("span")),
    }
}

/// Ends the span if needed and frees its handle; NULL is a no-op.
pub(crate) fn free_span(p: *mut ct_span) -> Result<(), FfiError> {
    if p.is_null() {
        return Ok(());
    }
    let r = span_ref(p)?;
    r.acquire(word(r.generation, BUSY))?;
    /// Frees the slot, when dropped if ending the span panicked (the boundary reports the
    /// panic; the slot must not stay BUSY, where every later call would wait on it).
    struct Release<'a>(&'a SpanRef, usize);
    impl Release<'_> {
        #[inline(always)]
        fn release(&self) {
            // SAFETY: still BUSY by this call, so the slot holds its span: dropped here, in
            // place (also after a panic in `end`).
            unsafe { (*self.0.slot.span.get()).assume_init_drop() };
            let g = self.0.generation;
            let next = if g < GENERATION_MASK {
                g + 1
            } else if RETIRE_AT_WRAP {
                // Retired: reused, its generation would wrap to one that old handles name.
                // FREE under its last generation (every handle refused) and in no free list.
                self.0.slot.word.store(word(g, FREE), Ordering::Release);
                return;
            } else {
                1
            };
            // From here the old handle is refused, and the slot is this thread's to reuse.
            self.0.slot.word.store(word(next, FREE), Ordering::Release);
            SLAB.give_back(self.1);
        }
    }
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            self.release();
        }
    }
    let release = Release(&r, p as usize & INDEX_MASK);
    // SAFETY: BUSY by this call, so the slot holds its span.
    unsafe {
        if !std::mem::replace(&mut *r.slot.ended.get(), true) {
            (*r.slot.span.get()).assume_init_mut().end();
        }
    }
    // Released here rather than by the drop, which the compiler keeps out of line for the
    // unwinding path; disarmed first, so that a panic while releasing (nothing there panics)
    // could not drop the span or list the slot twice: the slot would stay BUSY instead.
    std::mem::ManuallyDrop::new(release).release();
    Ok(())
}

/// The error for the context stack of a thread whose thread-locals are torn down (a call from
/// a pthread-key destructor).
fn stack_gone() -> FfiError {
    crate::ffi::invalid(
        "context stack",
        "gone",
        "a thread that is not exiting (this one's thread-locals are torn down)",
    )
}

/// Makes `cx` the thread's current context, on top of its stack; `opens_correlation` when
/// `ct_correlation_begin` pushes it.
pub(crate) fn push_context(
    cx: crosstrace::Context,
    opens_correlation: bool,
) -> Result<(), FfiError> {
    STACK
        .try_with(|s| {
            s.borrow_mut().push(Entry {
                guard: cx.attach(),
                opens_correlation,
            })
        })
        .map_err(|_| stack_gone())
}

pub(crate) fn pop_context() -> Result<(), FfiError> {
    let g = STACK
        .try_with(|s| s.borrow_mut().pop())
        .map_err(|_| stack_gone())?;
    match g {
        Some(g) => {
            drop(g);
            Ok(())
        }
        None => Err(nothing_to_undo()),
    }
}

fn nothing_to_undo() -> FfiError {
    crate::ffi::invalid(
        "context stack",
        "empty",
        "a ct_span_enter or ct_correlation_begin to undo",
    )
}

/// Replaces the thread's current correlation with `change(current)` wherever the stack holds
/// it: on the top entry and each below it that carries the same correlation, down to the one
/// that opened it (its `ct_correlation_begin`, or the lowest of them: a span entered whose
/// context brought its own correlation). So a field set while a span is entered is the
/// correlation's: the span's entry carries it while entered, and the correlation's entry after
/// `ct_span_exit`, until `ct_correlation_end`; entries below (outer correlations) keep theirs.
/// An error (nothing changed) when the current context has no correlation.
pub(crate) fn change_correlation(
    change: impl FnOnce(&Correlation) -> Result<Correlation, FfiError>,
) -> Result<(), FfiError> {
    let no_correlation = || {
        crate::ffi::invalid(
            "correlation",
            "none",
            "an open correlation context (ct_correlation_begin)",
        )
    };
    let current = crosstrace::Context::current();
    let Some(old) = current.correlation() else {
        return Err(no_correlation());
    };
    let new = change(old)?;
    let changed = STACK
        .try_with(|s| {
            let mut s = s.borrow_mut();
            // Each entry's context is the current one while it is on top: taken, then its guard
            // dropped (restoring the one below), down to the entry that opened the correlation.
            let mut taken: Vec<(crosstrace::Context, bool)> = Vec::new();
            while let Some(entry) = s.pop() {
                let cx = crosstrace::Context::current();
                let opens = entry.opens_correlation;
                drop(entry.guard);
                taken.push((cx, opens));
                let below_carries_it =
                    !s.is_empty() && crosstrace::Context::current().correlation() == Some(old);
                if opens || !below_carries_it {
                    break;
                }
            }
            // Pushed again in order, each with the new correlation (its parent span and baggage
            // unchanged).
            for (cx, opens_correlation) in taken.into_iter().rev() {
                s.push(Entry {
                    guard: cx.with_correlation(new.clone()).attach(),
                    opens_correlation,
                });
            }
            !s.is_empty()
        })
        .map_err(|_| stack_gone())?;
    if changed {
        Ok(())
    } else {
        // A current correlation the stack does not hold (not opened through C): not changed.
        Err(no_correlation())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::{word, Local, BUSY, FREE, LOCAL, LOCAL_FREE_MAX, SLAB};

    /// Takes a slot from the slab as a span start does, and holds it: the slot must be FREE
    /// and is marked BUSY with one compare-and-swap, which fails if another thread holds it
    /// too; its cell is then written (under miri, two holders of one slot are also a data
    /// race). Returns the slot and its generation.
    fn hold(local: Option<&Local>) -> (usize, u64) {
        let i = SLAB.take(local).expect("a free slot");
        let slot = SLAB.slot(i).expect("a taken slot is in a chunk");
        let w = slot.word.load(Ordering::Relaxed);
        assert_eq!(w & 3, FREE, "slot {i} was handed out while in use");
        if let Err(now) =
            slot.word
                .compare_exchange(w, word(w >> 2, BUSY), Ordering::Acquire, Ordering::Relaxed)
        {
            panic!("slot {i} was handed out twice (its word moved to {now:#x})");
        }
        // SAFETY: BUSY by this thread alone (the exchange above), as a span's call holds it.
        unsafe { *slot.ended.get() = true };
        (i, w >> 2)
    }

    /// Gives a held slot back as freeing a span does: under the next generation, FREE, then
    /// to the thread's free list.
    fn give_back((i, generation): (usize, u64)) {
        let slot = SLAB.slot(i).expect("a held slot is in a chunk");
        // SAFETY: still held by this thread alone ([`hold`]).
        unsafe { *slot.ended.get() = false };
        slot.word
            .store(word(generation + 1, FREE), Ordering::Release);
        SLAB.give_back(i);
    }

    /// Threads take slots and give them back concurrently, in waves (an exiting thread's free
    /// slots go to the shared list, where the next wave finds them), holding more at once than
    /// a thread's free list keeps (so slots move between the thread's list and the shared
    /// one): no slot is ever held by two threads. Runs under miri (scripts/c.sh miri).
    #[test]
    fn slab_hands_each_slot_to_one_holder_at_a_time() {
        let (waves, threads, rounds) = if cfg!(miri) { (2, 3, 4) } else { (4, 8, 200) };
        for wave in 0..waves {
            std::thread::scope(|s| {
                for t in 0..threads {
                    s.spawn(move || {
                        let mut held = Vec::new();
                        for r in 0..rounds {
                            let n = 1 + (wave * 7 + t * 5 + r * 3) % (2 * LOCAL_FREE_MAX + 2);
                            LOCAL.with(|l| held.extend((0..n).map(|_| hold(Some(l)))));
                            // As a thread whose thread-locals are gone takes one.
                            held.push(hold(None));
                            // Half given back, newest first; the rest kept a round longer, the
                            // oldest of them moved to be given back next.
                            let half = held.len() / 2;
                            for h in held.drain(half..).rev() {
                                give_back(h);
                            }
                            let older = held.len() / 2;
                            held.rotate_left(older);
                        }
                        held.into_iter().for_each(give_back);
                    });
                }
            });
        }
        let mut shared = SLAB.free.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let listed = shared.len();
        shared.sort_unstable();
        shared.dedup();
        assert_eq!(
            shared.len(),
            listed,
            "a slot is in the shared free list twice"
        );
    }
}
